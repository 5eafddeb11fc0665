"""docker/ without a Docker engine: its files kept true by reading them, its broker's config by running it."""

from __future__ import annotations

import getpass
import json
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from typer.testing import CliRunner

from router.bus.address import BrokerAddress
from router.bus.broker import free_port, mosquitto_binary
from router.bus.mqtt import MqttBus
from router.bus.security import Keyring, post_user
from router.cli import app
from router.errors import BrokerRefusedError
from router.routing.network_description import DEFAULT_NETWORK, load_network
from tests.helpers import receive

if TYPE_CHECKING:
    from collections.abc import Callable

DOCKER = Path(__file__).resolve().parent.parent / "docker"
POSTS = {"post-department": "RUEHC", "post-paris": "RUEHFR"}


def compose() -> dict[str, Any]:
    """docker/compose.yaml, read."""
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def files_read(chosen: Callable[[dict[str, Any]], bool]) -> list[str]:
    """The host files the ``chosen`` services read: their secrets' and their volumes' sources."""
    services, secrets = compose()["services"], compose()["secrets"]
    files = []
    for service in (service for service in services.values() if chosen(service)):
        files += [secrets[name]["file"] for name in service.get("secrets", [])]
        files += [volume.split(":")[0] for volume in service.get("volumes", [])]
    return files


def broker_settings() -> dict[str, str]:
    """docker/mosquitto.conf's settings, one a line (the last of a name wins)."""
    lines = (DOCKER / "mosquitto.conf").read_text().splitlines()
    return dict(line.split(None, 1) for line in lines if line and not line.startswith("#"))


def test_the_shipped_broker_wants_a_user_and_checks_its_topics() -> None:
    """No anonymous clients; the password file and the ACL are where compose puts them."""
    settings = broker_settings()
    assert settings["allow_anonymous"] == "false"
    assert settings["password_file"] == "/mosquitto/config/passwd"
    assert settings["acl_file"] == "/mosquitto/config/acl"
    broker = compose()["services"]["mosquitto"]
    assert "/credentials/passwd /credentials/acl /mosquitto/config/" in " ".join(broker["entrypoint"])
    assert "./credentials/passwd:/credentials/passwd:ro" in broker["volumes"]
    assert "./credentials/acl:/credentials/acl:ro" in broker["volumes"]


def test_the_compose_broker_is_published_on_loopback_unless_told() -> None:
    """Every port compose publishes binds the host's 127.0.0.1 by default (ROUTER_BROKER_BIND to change)."""
    published = [port for service in compose()["services"].values() for port in service.get("ports", [])]
    assert published == [
        "${ROUTER_BROKER_BIND:-127.0.0.1}:1883:1883",  # Mosquitto
        "${ROUTER_BROKER_BIND:-127.0.0.1}:1885:1883",  # the cluster's three NATS nodes' MQTT
        "${ROUTER_BROKER_BIND:-127.0.0.1}:1886:1883",
        "${ROUTER_BROKER_BIND:-127.0.0.1}:1887:1883",
    ]


def test_each_compose_post_logs_in_as_itself_with_its_own_password_only() -> None:
    """A post's service runs `router post RI` with post-RI's password file, and is given no other secret."""
    services, secrets = compose()["services"], compose()["secrets"]
    for name, ri in POSTS.items():
        command = services[name]["command"]
        assert command[:2] == ["post", ri]
        assert command[command.index("--password-file") + 1] == f"/run/secrets/post-{ri}"
        assert services[name]["secrets"] == [f"post-{ri}"]
        assert secrets[f"post-{ri}"] == {"file": f"./credentials/post-{ri}.password"}
    router = services["router"]
    assert router["secrets"] == ["router"]
    assert router["environment"] == {
        "ROUTER_USERNAME": "router",
        "ROUTER_PASSWORD_FILE": "/run/secrets/router",
    }


def test_router_credentials_writes_every_file_compose_reads(tmp_path: Path) -> None:
    """`router credentials --out DIR --post RUEHC --post RUEHFR` writes each file compose reads from it."""
    out = tmp_path / "credentials"
    done = subprocess.run(  # noqa: S603 (our own command)
        [
            sys.executable,
            "-m",
            "router",
            "credentials",
            "--out",
            str(out),
            "--post",
            "RUEHC",
            "--post",
            "RUEHFR",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.startswith(f"credentials in {out}: 11 users")  # and the network's five centres
    named = files_read(lambda service: "profiles" not in service)
    for path in (name for name in named if name.startswith("./credentials/")):
        assert (out / path.removeprefix("./credentials/")).is_file(), path


@pytest.fixture
def shipped_broker(tmp_path: Path) -> Any:
    """docker/mosquitto.conf run here: its paths moved into ``tmp_path``, its port free, on loopback."""
    binary = mosquitto_binary()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    keyring = Keyring(tmp_path / "config")
    users = keyring.users(POSTS.values())
    users.write_broker_files(keyring.folder)
    port = free_port()
    text = (DOCKER / "mosquitto.conf").read_text()
    text = text.replace("listener 1883 0.0.0.0", f"listener {port} 127.0.0.1")
    text = text.replace("/mosquitto/config/", f"{keyring.folder}/").replace(
        "/mosquitto/data/", f"{tmp_path}/"
    )
    config = tmp_path / "mosquitto.conf"
    config.write_text(text + f"user {getpass.getuser()}\n")  # run by whoever runs the tests
    process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.02)  # a process we do not control: polling its port is all there is
    try:
        yield BrokerAddress("127.0.0.1", port), keyring
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


async def test_the_shipped_config_refuses_strangers_and_holds_posts_to_their_topics(
    shipped_broker: tuple[BrokerAddress, Keyring],
) -> None:
    """With the generated files: anonymous refused; RUEHFR gets nothing of RUEHC's; RUEHC gets its copy."""
    address, keyring = shipped_broker

    def login(user: str) -> BrokerAddress:
        return address.logged_in(user, keyring.password(user))

    with pytest.raises(BrokerRefusedError):
        async with MqttBus(address):
            pass
    async with (
        MqttBus(login("router")) as router,
        MqttBus(login(post_user("RUEHC"))) as ruehc,
        MqttBus(login(post_user("RUEHFR"))) as ruehfr,
    ):
        await ruehc.subscribe("cables/out/RUEHC")
        await ruehfr.subscribe("cables/out/#")
        await router.publish("cables/out/RUEHC", b"FOR THE DEPARTMENT")
        await router.publish("cables/out/RUEHFR", b"FOR PARIS")
        ((copy,), (first,)) = (await receive(ruehc, 1), await receive(ruehfr, 1))
    assert (copy.payload, first.payload) == (b"FOR THE DEPARTMENT", b"FOR PARIS")


CLUSTER_NODES = ["nats-1", "nats-2", "nats-3"]


def cli_accepts(args: list[str]) -> None:
    """``router ARGS`` as the command line would take it: the command exists, every option is its own.

    With ``--help`` last, the command line reads every option given before it and stops there,
    doing nothing: a name it does not know is a usage error (status 2).
    """
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, (args, result.output)
    assert f"Usage: router {args[0]} " in result.output


def test_every_compose_command_is_one_the_command_line_takes() -> None:
    """The image runs `router` with each service's command (or the Dockerfile's CMD): each must parse."""
    image_default = yaml.safe_load("[" + (DOCKER / "Dockerfile").read_text().split("CMD [", 1)[1])
    built = [service for service in compose()["services"].values() if "build" in service]
    assert len(built) == 8  # the router, two posts, five centres
    for service in built:
        cli_accepts(service.get("command", image_default))


def image_stages() -> list[list[str]]:
    """docker/Dockerfile's stages, each its instructions (a line each, continuations joined)."""
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[str]] = []
    for line in text.splitlines():
        if line.startswith("FROM "):
            stages.append([])
        if line and not line.startswith("#") and stages:
            stages[-1].append(line)
    return stages


def test_the_image_copies_every_file_the_build_reads() -> None:
    """pyproject.toml names a readme and licence files, and setup.py reads pyproject.toml: all copied."""
    project = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text())["project"]
    build, _ = image_stages()
    copied = {name for line in build if line.startswith("COPY ") for name in line.split()[1:-1]}
    assert {"pyproject.toml", "setup.py", project["readme"], *project["license-files"]} <= copied
    assert {"router", "config"} <= copied  # the package, and config/ its router/config links to


def test_the_image_runs_the_compiled_build_and_carries_no_compiler() -> None:
    """The first stage compiles the wheel (ROUTER_MYPYC=1 unless told); the second installs it, no gcc."""
    build, run = image_stages()
    assert "ARG ROUTER_MYPYC=1" in build
    assert any("gcc" in line for line in build if line.startswith("RUN apt-get"))
    (wheel,) = [line for line in build if "pip wheel" in line]
    assert "ROUTER_MYPYC=$ROUTER_MYPYC" in wheel
    assert "--no-deps" in wheel
    wheels = wheel.split("--wheel-dir ")[1].split()[0]
    assert f"COPY --from=build {wheels} {wheels}" in run
    (install,) = [line for line in run if "pip install" in line]
    assert f"{wheels}/router-" in install
    assert "[postgres]" in install  # the cluster profile's journals
    assert not any("gcc" in line for line in run)


def test_the_cluster_profile_runs_every_centre_on_the_nats_cluster_and_postgresql() -> None:
    """One service a centre of config/network.toml, its own user and password only, every node's URL.

    Its journal is a database of the profile's PostgreSQL, made by the profile's init script.
    """
    services, secrets = compose()["services"], compose()["secrets"]
    centres = list(load_network(DEFAULT_NETWORK).centres)
    made = (DOCKER / "postgres-init.sql").read_text()
    for centre in centres:
        service = services[f"centre-{centre.lower()}"]
        assert service["profiles"] == ["cluster"]
        command = service["command"]
        assert command[:3] == ["run", "--centre", centre]
        assert command[command.index("--broker") + 1] == ",".join(f"mqtt://{n}:1883" for n in CLUSTER_NODES)
        journal = command[command.index("--journal") + 1]
        assert journal == f"postgresql://router@postgres:5432/{centre.lower()}"
        assert f"CREATE DATABASE {centre.lower()} OWNER router;" in made
        assert command[command.index("--password-file") + 1] == f"/run/secrets/centre-{centre}"
        assert service["secrets"] == [f"centre-{centre}", "pgpass"]
        # Real time: centres started and restarted at their own moments keep one network time.
        assert service["environment"] == {"PGPASSFILE": "/run/secrets/pgpass", "ROUTER_TIME_SCALE": "1"}
        assert secrets[f"centre-{centre}"] == {"file": f"./credentials/centre-{centre}.password"}
    for node in CLUSTER_NODES:
        assert f"./credentials/{node}.conf:/etc/nats/nats.conf:ro" in services[node]["volumes"]


def test_router_credentials_cluster_writes_the_nats_nodes_and_the_journals_password(tmp_path: Path) -> None:
    """`router credentials --cluster`: each node's config routes to the other two, with every user.

    Every file the cluster profile reads from ./credentials is there.
    """
    out = tmp_path / "credentials"
    subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, "-m", "router", "credentials", "--out", str(out), "--post", "RUEHC", "--cluster"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    for node in CLUSTER_NODES:
        config = (out / f"{node}.conf").read_text()
        assert f'server_name: "{node}"' in config
        others = [peer for peer in CLUSTER_NODES if peer != node]
        assert f"routes: [{', '.join(json.dumps(f'nats-route://{peer}:6222') for peer in others)}]" in config
        assert "mqtt { listen: 0.0.0.0:1883, max_ack_pending: 16, stream_replicas: 3 }" in config
        assert '"user": "centre-BELTSVILLE"' in config
        assert (out / f"{node}.conf").stat().st_mode & 0o777 == 0o600
    password = (out / "postgres.password").read_text().strip()
    assert (out / "pgpass").read_text() == f"postgres:5432:*:router:{password}\n"
    named = files_read(lambda service: "cluster" in service.get("profiles", []))
    assert "./credentials/pgpass" in named
    for path in (name for name in named if name.startswith("./credentials/")):
        assert (out / path.removeprefix("./credentials/")).is_file(), path
