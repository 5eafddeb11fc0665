"""On by default, with no set-up: `router run` makes its users' passwords, and the client commands find them.

And the ways MQTT users expect to give a login: mqtt[s]://user[:password]@host, --username,
ROUTER_PASSWORD or --password-file, the same in config/router.toml; `router config` shows no password.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.bus.address import BrokerAddress, without_password
from router.bus.broker import free_port, mosquitto_binary
from router.bus.security import OBSERVER, post_user
from router.cli import app
from router.errors import BusError, SettingsError
from router.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
FLASH = ROOT / "samples" / "flash-collective.txt"
runner = CliRunner()


def environment(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """The variables of a run on a private broker of its own: a journal in ``tmp_path``, a free port."""
    kept = {name: value for name, value in os.environ.items() if not name.startswith("ROUTER_")}
    return kept | {
        "ROUTER_JOURNAL": str(tmp_path / "journal.sqlite"),
        "ROUTER_EMBEDDED_PORT": str(port),
        "ROUTER_TIME_SCALE": "100000",
        # A host second is a day of network time here: no silent line is checked (§412b) meanwhile,
        # or the post's first line would be its answer to a ZID, not the copy the test waits for.
        "ROUTER_CHANNEL_CHECK_AFTER": "1e15",
        **extra,
    }


def router(*arguments: str) -> list[str]:
    """A `router` command line."""
    return [sys.executable, "-m", "router", *arguments]


@contextmanager
def started(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A long-running command, stopped (SIGTERM) at the end of the block."""
    process = subprocess.Popen(  # noqa: S603 (our own command)
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=15)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def log_until(process: subprocess.Popen[str], event: str) -> list[dict[str, object]]:
    """The JSON log lines of ``process``'s stderr up to the first ``event``."""
    assert process.stderr is not None
    seen: list[dict[str, object]] = []
    for line in process.stderr:
        if line.startswith("{"):
            seen.append(json.loads(line))
            if seen[-1]["event"] == event:
                return seen
    raise AssertionError(f"exited before {event}: {seen}")


def test_router_run_makes_the_credentials_and_every_client_command_finds_them(tmp_path: Path) -> None:
    """No set-up: run makes owner-only credentials and says where; post, publish, watch and line log in."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    env = environment(tmp_path, port)
    with started(router("run"), env) as service:
        events = {entry["event"]: entry for entry in log_until(service, "connected")}
        folder = tmp_path / "journal.sqlite.broker" / "credentials"
        assert events["broker-started"]["credentials"] == str(folder)
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
        private = [path for path in folder.parent.rglob("*") if path.is_file() and path.suffix != ".conf"]
        assert {stat.S_IMODE(path.stat().st_mode) for path in private} == {0o600}
        assert (folder / "post-RUEHC.password").exists()
        # and each centre of the committed network: `router run --centre` on this broker logs in
        assert {path.name for path in folder.glob("centre-*.password")} == {
            f"centre-{name}.password" for name in ("BELTSVILLE", "DETRICK", "PIRMASENS", "TINKER", "WAHIAWA")
        }
        assert "user centre-DETRICK\n" in (tmp_path / "journal.sqlite.broker" / "acl").read_text()
        with started(router("post", "RUEHC"), env) as post:
            assert post.stdout is not None
            assert post.stdout.readline() == "post RUEHC listening on cables/out/RUEHC\n"
            published = subprocess.run(  # noqa: S603
                router("publish", str(FLASH)), env=env, cwd=ROOT, capture_output=True, text=True, check=False
            )
            assert (published.returncode, published.stderr) == (0, "")
            # (a FLASH line may start with the bell: what it shows is the post's to decide)
            assert "FLASH     EHC0001  RUEHRO-0877/01-3130915" in post.stdout.readline()
        line = subprocess.run(  # noqa: S603
            router("line", "down", "RUEHLO"), env=env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert (line.returncode, line.stdout) == (0, "line RUEHLO down\n")
        with started(router("watch"), env) as watch:
            assert watch.stderr is not None
            assert watch.stderr.readline() == f"watch: connected to mqtt://127.0.0.1:{port}\n"


def test_router_run_tls_and_its_clients_on_mqtts_with_nothing_else_given(tmp_path: Path) -> None:
    """`router run --tls`: post and publish on mqtts:// find the CA and their passwords by themselves."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    port = free_port()
    env = environment(tmp_path, port)
    with started(router("run", "--tls"), env) as service:
        events = {entry["event"]: entry for entry in log_until(service, "connected")}
        assert events["connected"]["broker"] == f"mqtts://127.0.0.1:{port}"
        tls = env | {"ROUTER_BROKER": f"mqtts://127.0.0.1:{port}"}
        with started(router("post", "RUEHC"), tls) as post:
            assert post.stdout is not None
            assert post.stdout.readline() == "post RUEHC listening on cables/out/RUEHC\n"
            published = subprocess.run(  # noqa: S603
                router("publish", str(FLASH)), env=tls, cwd=ROOT, capture_output=True, text=True, check=False
            )
            assert (published.returncode, published.stderr) == (0, "")
            # (a FLASH line may start with the bell: what it shows is the post's to decide)
            assert "FLASH     EHC0001  RUEHRO-0877/01-3130915" in post.stdout.readline()
        plain = subprocess.run(  # noqa: S603
            router("publish", str(FLASH)), env=env, cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert plain.returncode == 1, "the TLS broker does not speak plain MQTT"
        assert len(plain.stderr.splitlines()) == 1, plain.stderr


def test_a_client_without_a_password_is_refused_in_one_line(tmp_path: Path) -> None:
    """A broker that wants a login, no password anywhere: exit 1, one line saying who was refused."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    from router.bus.broker import Mosquitto  # noqa: PLC0415
    from router.bus.security import Keyring  # noqa: PLC0415

    with Mosquitto(tmp_path / "broker", users=Keyring(tmp_path / "theirs").users([])) as broker:
        env = environment(tmp_path, free_port(), ROUTER_BROKER=f"mqtt://127.0.0.1:{broker.port}")
        done = subprocess.run(  # noqa: S603
            router("publish", str(FLASH)), env=env, cwd=ROOT, capture_output=True, text=True, check=False
        )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        (
            f"router publish: the broker at mqtt://127.0.0.1:{broker.port} refused user 'publisher': "
            "not authorized (a wrong password, or a user it does not know)"
        )
    ]


def test_a_url_carries_the_scheme_the_user_and_the_password() -> None:
    """mqtts:// means TLS on 8883 unless told; user and password are read, percent-decoded."""
    assert BrokerAddress.parse("mqtts://broker.example") == BrokerAddress("broker.example", 8883, tls=True)
    address = BrokerAddress.parse("mqtt://post-RUEHC:p%40ss@10.0.0.5:1884")
    assert (address.host, address.port, address.tls) == ("10.0.0.5", 1884, False)
    assert (address.username, address.password) == ("post-RUEHC", "p@ss")
    assert "p@ss" not in repr(address)
    assert str(address) == "mqtt://10.0.0.5:1884"
    with pytest.raises(BusError, match=r"^broker address 'ws://u:\*\*\*@h' is not mqtt://"):
        BrokerAddress.parse("ws://u:secret@h")
    assert without_password("u:secret@h:1883") == "u:***@h:1883"


def test_the_login_comes_from_the_url_then_the_settings_then_the_role(tmp_path: Path) -> None:
    """User: URL, else --username, else the command's role; password: URL, file, ROUTER_PASSWORD, keyring."""
    keyring = tmp_path / "keys"
    keyring.mkdir()
    (keyring / "observer.password").write_text("from-the-keyring\n")
    (tmp_path / "password").write_text("from-the-file\nsecond line ignored\n")
    base = Settings(credentials=keyring, broker="mqtt://h")
    own = base.broker_address(OBSERVER)
    assert (own.username, own.password) == ("observer", "from-the-keyring")
    filed = base.model_copy(update={"username": "alice", "password_file": tmp_path / "password"})
    assert (filed.broker_address(OBSERVER).username, filed.broker_address(OBSERVER).password) == (
        "alice",
        "from-the-file",
    )
    given = Settings(broker="mqtt://bob:from-the-url@h", password="from-the-variable")
    assert (given.broker_address(post_user("RUEHC")).username, given.broker_address("x").password) == (
        "bob",
        "from-the-url",
    )
    variable = Settings(broker="mqtt://h", password="from-the-variable")
    assert variable.broker_address(OBSERVER).password == "from-the-variable"
    both = variable.model_copy(update={"password_file": tmp_path / "password"})
    assert both.broker_address(OBSERVER).password == "from-the-file"


def test_a_password_file_that_cannot_be_read_stops_a_command_in_one_line(tmp_path: Path) -> None:
    """`router publish --password-file missing`: exit 2, one line naming the setting and the file."""
    missing = tmp_path / "missing.password"
    done = runner.invoke(app, ["publish", "--password-file", str(missing), str(FLASH)])
    assert done.exit_code == 2
    assert done.output.splitlines() == [
        f"router: setting password_file: cannot read {missing}: No such file or directory"
    ]
    with pytest.raises(SettingsError, match="keyfile: a key needs its certificate"):
        Settings(keyfile=tmp_path / "key.pem").broker_address(OBSERVER)


def test_router_config_never_prints_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """ROUTER_PASSWORD and a password in the broker's URL are shown as stars, never in clear."""
    monkeypatch.setenv("ROUTER_PASSWORD", "variable-secret")
    done = runner.invoke(app, ["config", "--broker", "mqtts://alice:url-secret@broker.example"])
    assert done.exit_code == 0
    assert "secret" not in done.output
    assert "broker = mqtts://alice:***@broker.example  # command line" in done.output
    assert "password = **********  # ROUTER_PASSWORD" in done.output


def test_the_login_settings_come_from_the_file_and_the_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """username, password_file and the TLS files are settings like any other: file, ROUTER_*, flags."""
    config = tmp_path / "router.toml"
    config.write_text('username = "alice"\npassword_file = "/run/secrets/alice"\ncafile = "ca.crt"\n')
    monkeypatch.setattr(Settings, "config_file", config)
    monkeypatch.setenv("ROUTER_CERTFILE", "alice.crt")
    monkeypatch.setenv("ROUTER_KEYFILE", "alice.key")
    settings = load_settings()
    assert (settings.username, settings.password_file) == ("alice", Path("/run/secrets/alice"))
    assert (settings.cafile, settings.certfile, settings.keyfile) == (
        Path("ca.crt"),
        Path("alice.crt"),
        Path("alice.key"),
    )


def test_a_password_in_the_config_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config/router.toml is read by anyone who reads the project: a password there stops every command."""
    config = tmp_path / "router.toml"
    config.write_text('password = "in-the-open"\n')
    monkeypatch.setattr(Settings, "config_file", config)
    with pytest.raises(SettingsError, match="a password does not belong in the config file"):
        load_settings()


@pytest.mark.parametrize(
    ("command", "status"), [(["post", "RUEHC"], 1), (["watch"], 1), (["run", "--time-scale", "1000"], 2)]
)
def test_a_refused_login_ends_a_reconnecting_command_at_once_in_one_line(
    tmp_path: Path, command: list[str], status: int
) -> None:
    """post, watch and run try again when the broker is away, not when it refuses them: one line, an exit."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    from router.bus.broker import Mosquitto  # noqa: PLC0415
    from router.bus.security import Keyring  # noqa: PLC0415

    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-it\n")
    with Mosquitto(tmp_path / "broker", users=Keyring(tmp_path / "theirs").users(["RUEHC"])) as broker:
        env = environment(tmp_path, free_port(), ROUTER_BROKER=f"mqtt://127.0.0.1:{broker.port}")
        done = subprocess.run(  # noqa: S603
            router(*command, "--password-file", str(wrong)),
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == status
    last = done.stderr.splitlines()[-1]
    assert last.endswith(
        f"the broker at mqtt://127.0.0.1:{broker.port} refused user "
        f"'{ {'post': 'post-RUEHC', 'watch': 'observer', 'run': 'router'}[command[0]] }': "
        "not authorized (a wrong password, or a user it does not know)"
    )
    assert "Traceback" not in done.stderr


def test_router_credentials_makes_a_user_per_centre_of_the_network(tmp_path: Path) -> None:
    """`router credentials --network`: a password and an ACL block per centre; a bad network: one line, 2."""
    out = tmp_path / "keys"
    done = runner.invoke(app, ["credentials", "--out", str(out), "--post", "RUEKJCS", "--post", "RUFGBON"])
    assert done.exit_code == 0, done.output
    assert "2 posts, 5 centres" in done.output
    assert (out / "centre-DETRICK.password").exists()
    block = (out / "acl").read_text().split("user centre-DETRICK\n", 1)[1].split("\n\n", 1)[0]
    assert "topic write cables/out/RUEKJCS" in block.splitlines()  # DETRICK's post
    assert "topic write cables/out/RUFGBON" not in block  # PIRMASENS's
    assert "topic write trunks/PIRMASENS/from/DETRICK" in block.splitlines()
    missing = tmp_path / "nowhere.toml"
    bad = runner.invoke(app, ["credentials", "--out", str(out), "--network", str(missing)])
    assert bad.exit_code == 2
    assert bad.output.count("\n") == 1
    assert "nowhere.toml" in bad.output
