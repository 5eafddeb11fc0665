"""docker/ without a Docker engine: its files kept true by reading them, its broker's config by running it."""

from __future__ import annotations

import getpass
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.bus.address import BrokerAddress
from router.bus.broker import free_port, mosquitto_binary
from router.bus.mqtt import MqttBus
from router.bus.security import Keyring, post_user
from router.errors import BrokerRefusedError
from tests.helpers import receive

DOCKER = Path(__file__).resolve().parent.parent / "docker"
POSTS = {"post-department": "RUEHC", "post-paris": "RUEHFR"}


def compose() -> dict[str, Any]:
    """docker/compose.yaml, read."""
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


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
    assert published == ["${ROUTER_BROKER_BIND:-127.0.0.1}:1883:1883"]


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
    named = [secret["file"] for secret in compose()["secrets"].values()]
    named += [volume.split(":")[0] for volume in compose()["services"]["mosquitto"]["volumes"]]
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
