"""TLS on a real Mosquitto: the router's own CA and certificates, the seed's fan-out over TLS, refusals."""

from __future__ import annotations

import ipaddress
import stat
import subprocess
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509

from router.bus import topics
from router.bus.broker import Mosquitto, free_port, mosquitto_binary
from router.bus.mqtt import MqttBus
from router.bus.security import PUBLISHER, ROUTER, Keyring, post_user
from router.bus.tls import TlsFiles, broker_files, issue
from router.journal.store import Journal
from router.network.clock import ScaledClock
from router.routing.table import load_table
from router.settings import Settings
from router.switch.core import Limits
from router.switch.serve import broker_for
from tests.helpers import opened, receive, running

if TYPE_CHECKING:
    from collections.abc import Iterator

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "flash-collective.txt"
SEED_POSTS = ("RUEHC", "RUEHBJ", "RUEHUL", "RHHMUNA", "RUEAIIA", "RHEHAAA", "RHMFISS")
FAST = 1_000_000.0
"""Network seconds per host second: the committed table's 75-baud lines deliver at once."""


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A Mosquitto speaking TLS only, with the router's roles and the seed's posts."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (.ci/run installs the Debian package)")
    folder = tmp_path_factory.mktemp("tls")
    keyring = Keyring(folder / "credentials")
    files = broker_files(keyring.folder)
    with Mosquitto(folder / "broker", users=keyring.users(SEED_POSTS), tls=files) as broker:
        yield broker


def test_the_broker_certificate_names_loopback_and_the_hosts_asked_for(tmp_path: Path) -> None:
    """broker.crt is signed by ca.crt and names 127.0.0.1, localhost and the given host; keys are 0600."""
    files = issue(tmp_path, "broker", hosts=["mosquitto"])
    certificate = x509.load_pem_x509_certificate(files.certfile.read_bytes())
    authority = x509.load_pem_x509_certificate(files.cafile.read_bytes())
    certificate.verify_directly_issued_by(authority)
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost", "mosquitto"]
    assert {stat.S_IMODE((tmp_path / key).stat().st_mode) for key in ("ca.key", "broker.key")} == {0o600}


async def test_the_seed_fans_out_over_tls_each_post_as_its_own_user(
    tls_broker: Mosquitto, tmp_path: Path, corpus_dir: Path
) -> None:
    """The Tokyo cable, published over TLS, reaches each of its seven posts over TLS, on its own login."""
    seed = (corpus_dir.parent / "seed-tokyo-1571.txt").read_bytes()
    clock = ScaledClock(FAST)
    async with AsyncExitStack() as stack:
        bus = await stack.enter_async_context(MqttBus(tls_broker.address(ROUTER), manual_ack=True))
        journal = Journal(tmp_path / "journal.sqlite", clock=clock.now)
        await stack.enter_async_context(
            running(
                bus, journal, load_table(), clock=clock, ack_timeout=FAST, limits=Limits(receipt_timeout=FAST)
            )
        )
        posts = {}
        for ri in SEED_POSTS:
            posts[ri] = await stack.enter_async_context(MqttBus(tls_broker.address(post_user(ri))))
            await posts[ri].subscribe(topics.copies(ri))
        publisher = await stack.enter_async_context(MqttBus(tls_broker.address(PUBLISHER)))
        await publisher.publish(topics.intake("tokyo"), seed)
        for ri, post in posts.items():
            (copy,) = await receive(post, 1)
            assert copy.topic == topics.copies(ri)
            assert opened(copy)[1].message_id == "RUEHKO-1571-1610901"


async def test_router_run_tls_serves_mqtts_with_its_own_ca_and_the_clients_find_it(tmp_path: Path) -> None:
    """`embedded_tls`: the private broker speaks TLS only; a post finds ca.crt with its password."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    settings = Settings(journal=tmp_path / "j.sqlite", embedded_port=free_port(), embedded_tls=True)
    async with broker_for(settings, ["RUEHC"]) as (router_address, _):
        assert router_address.tls
        post = settings.broker_address(post_user("RUEHC"))
        assert (post.tls, post.cafile) == (True, settings.keyring.folder / "ca.crt")
        async with MqttBus(router_address) as router, MqttBus(post) as ruehc:
            await ruehc.subscribe(topics.copies("RUEHC"))
            await router.publish(topics.copies("RUEHC"), b"OVER TLS")
            (copy,) = await receive(ruehc, 1)
    assert copy.payload == b"OVER TLS"


def publish(broker: Mosquitto, *options: str) -> subprocess.CompletedProcess[str]:
    """`router publish` of a sample to ``broker`` as the publisher, with these options."""
    password = broker.directory / "publisher.password"
    password.write_text(broker.users.passwords[PUBLISHER] + "\n")
    return subprocess.run(  # noqa: S603 (our own command)
        [
            sys.executable,
            "-m",
            "router",
            "publish",
            "--broker",
            f"mqtts://127.0.0.1:{broker.port}",
            "--password-file",
            str(password),
            *options,
            str(SAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_broker_certificate_from_another_ca_is_refused_in_one_line(
    tls_broker: Mosquitto, tmp_path: Path
) -> None:
    """A client trusting another CA will not talk to the broker: exit 1, one line, no traceback."""
    other = issue(tmp_path / "other", "broker")
    done = publish(tls_broker, "--cafile", str(other.cafile))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        (
            f"router publish: TLS handshake with the broker at mqtts://127.0.0.1:{tls_broker.port} failed: "
            f"self-signed certificate in certificate chain (its certificate checked against the CA in "
            f"{other.cafile})"
        )
    ]


def test_a_wrong_password_is_refused_in_one_line(tls_broker: Mosquitto, tmp_path: Path) -> None:
    """`router publish` with a wrong password: exit 1, one line naming the user, no traceback."""
    assert tls_broker.tls is not None
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-it\n")
    done = publish(tls_broker, "--cafile", str(tls_broker.tls.cafile), "--password-file", str(wrong))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        (
            f"router publish: the broker at mqtts://127.0.0.1:{tls_broker.port} refused user 'publisher': "
            "not authorized (a wrong password, or a user it does not know)"
        )
    ]


@pytest.fixture(scope="module")
def certificate_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mosquitto, TlsFiles]]:
    """A Mosquitto that asks every client for a certificate from its CA, and one such client certificate."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    folder = tmp_path_factory.mktemp("client-certificates")
    keyring = Keyring(folder / "credentials")
    files = broker_files(keyring.folder)
    client = issue(keyring.folder, "publisher", server=False)
    users = keyring.users([])
    with Mosquitto(folder / "broker", users=users, tls=files, client_certificates=True) as broker:
        yield broker, client


def test_a_client_certificate_from_the_brokers_ca_is_taken(
    certificate_broker: tuple[Mosquitto, TlsFiles],
) -> None:
    """--certfile/--keyfile present the client's certificate; signed by the broker's CA, it gets in."""
    broker, client = certificate_broker
    done = publish(
        broker,
        *("--cafile", str(client.cafile), "--certfile", str(client.certfile)),
        *("--keyfile", str(client.keyfile)),
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("published cables/in/flash-collective")


def test_a_client_certificate_from_another_ca_is_refused_in_one_line(
    certificate_broker: tuple[Mosquitto, TlsFiles], tmp_path: Path
) -> None:
    """A client certificate the broker's CA did not sign: exit 1, one line naming the certificate."""
    broker, client = certificate_broker
    stranger = issue(tmp_path, "stranger", server=False)
    done = publish(
        broker,
        *("--cafile", str(client.cafile), "--certfile", str(stranger.certfile)),
        *("--keyfile", str(stranger.keyfile)),
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        (
            f"router publish: the broker at mqtts://127.0.0.1:{broker.port} refused the client certificate "
            f"{stranger.certfile}: TLSV1_ALERT_UNKNOWN_CA"
        )
    ]


def test_router_credentials_makes_a_ca_the_brokers_certificate_and_a_clients(tmp_path: Path) -> None:
    """`--tls --host --client-cert`: ca.crt signs broker.crt (for the host) and USER.crt; keys 0600."""
    out = tmp_path / "credentials"
    done = subprocess.run(  # noqa: S603 (our own command)
        [
            *(sys.executable, "-m", "router", "credentials", "--out", str(out), "--post", "RUEHC"),
            *("--tls", "--host", "broker.example", "--client-cert", "post-RUEHC"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines()[-1] == (
        f"client certificate: --certfile {out}/post-RUEHC.crt --keyfile {out}/post-RUEHC.key"
    )
    authority = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    for name in ("broker", "post-RUEHC"):
        x509.load_pem_x509_certificate((out / f"{name}.crt").read_bytes()).verify_directly_issued_by(
            authority
        )
        assert stat.S_IMODE((out / f"{name}.key").stat().st_mode) == 0o600
    broker = x509.load_pem_x509_certificate((out / "broker.crt").read_bytes())
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "broker.example" in names.get_values_for_type(x509.DNSName)
