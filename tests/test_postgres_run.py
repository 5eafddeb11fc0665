"""`router run` on a journal in PostgreSQL, and the lease a router holds on its journal (issue 17).

Real processes on the real Mosquitto fixture and the private PostgreSQL (`tests.postgres`); the lease
tests run on both journals, SQLite's (a lock file) and PostgreSQL's (an advisory lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from router.bus.mqtt import BrokerAddress, MqttBus
from router.errors import RouterError
from router.journal import queries
from tests.helpers import opened
from tests.test_run import CABLE, publish_only, subscribe_only

if TYPE_CHECKING:
    from collections.abc import Iterator

    from router.bus.broker import Mosquitto

ROUTER = [sys.executable, "-m", "router"]
SECOND_CABLE = CABLE.replace(b"DE RUEHOT #0311 0421200", b"DE RUEHOT #0312 0421200")
"""The same ROUTINE to RUEHC under another message id (FL3's station serial number, §318)."""


def router_env(journal: str) -> dict[str, str]:
    """A broker session of its own per journal, the one a restarted router resumes (as tests.test_run)."""
    return {
        **os.environ,
        "ROUTER_CLIENT_ID": f"router-{zlib.crc32(journal.encode()):08x}",
        "ROUTER_CHANNEL_CHECK_AFTER": "1e15",
    }


def start_router(broker: Mosquitto, journal: str, *extra: str) -> subprocess.Popen[bytes]:
    """`python -m router run` on ``broker`` with ``journal`` (a file or a URL)."""
    return subprocess.Popen(  # noqa: S603
        [*ROUTER, "run", "--broker", broker.url, "--journal", journal, "--time-scale", "1000000", *extra],
        stderr=subprocess.PIPE,
        env=router_env(journal),
    )


def wait_listening(process: subprocess.Popen[bytes]) -> None:
    """Read the routing log until the router listens (it may first wait for the lease)."""
    assert process.stderr is not None
    for line in process.stderr:
        if json.loads(line).get("event") == "listening":
            return
    raise AssertionError("router exited before it listened")


@contextmanager
def router_process(broker: Mosquitto, journal: str, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """A listening router; killed if left running at the end."""
    process = start_router(broker, journal, *extra)
    try:
        wait_listening(process)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stderr is not None
        process.stderr.close()


async def copy_of(broker: Mosquitto, post: str, message_id: str) -> None:
    """Wait until ``post``'s persistent session gets a copy of ``message_id`` (others pass by).

    A ROUTINE to RUEHC wants a receipt here: at this time scale its copy goes again on each
    ack-timeout, so the post may see it more than once; what is sent once is the first (journal).
    """
    address = BrokerAddress.parse(broker.url)
    async with MqttBus(address, client_id=f"test-post-{post}", persistent=True) as bus:
        await bus.subscribe(f"cables/out/{post}")
        async with asyncio.timeout(20):
            async for message in bus.messages():
                with contextlib.suppress(RouterError):  # a service message of the line's, not a copy
                    if opened(message)[1].message_id == message_id:
                        return


def test_router_run_on_postgresql_delivers_and_router_trace_finds_the_cable(
    mosquitto: Mosquitto, journal_url: str
) -> None:
    """End to end on either journal: a cable in, its copy at RUEHC, `router trace --journal` reads it."""
    asyncio.run(subscribe_only(mosquitto, "RUEHC"))
    with router_process(mosquitto, journal_url) as router:
        asyncio.run(publish_only(mosquitto, CABLE))
        asyncio.run(copy_of(mosquitto, "RUEHC", "RUEHOT-0311-0421200"))
        router.terminate()
        assert router.wait(timeout=20) == 0
    traced = subprocess.run(  # noqa: S603
        [*ROUTER, "trace", "RUEHOT-0311-0421200", "--journal", journal_url, "--json"],
        capture_output=True,
        check=False,
    )
    assert traced.returncode == 0, traced.stderr
    (arrival,) = json.loads(traced.stdout)
    assert arrival["status"] == "routed"
    assert "RUEHC" in {copy["post"] for copy in arrival["copies"]}
    reported = subprocess.run(  # noqa: S603
        [*ROUTER, "report", "--journal", journal_url, "--json"], capture_output=True, check=False
    )
    assert reported.returncode == 0, reported.stderr
    assert json.loads(reported.stdout)["totals"]["cables_received"] == 1


def test_a_second_router_for_the_same_journal_refuses_in_one_line(
    mosquitto: Mosquitto, journal_url: str
) -> None:
    """The lease is held: a second `router run` on the journal says who holds it, and exits 1."""
    with router_process(mosquitto, journal_url) as first:
        second = subprocess.run(  # noqa: S603
            [*ROUTER, "run", "--broker", mosquitto.url, "--journal", journal_url],
            capture_output=True,
            check=False,
            env={**router_env(journal_url), "ROUTER_CLIENT_ID": "router-second"},
            timeout=60,
        )
        assert first.poll() is None, "the holder runs on"
    assert second.returncode == 1
    (line,) = second.stderr.decode().strip().splitlines()
    assert line.startswith("router run: the journal ")
    assert f"is held by another router (router pid {first.pid} on " in line


def test_when_the_holder_is_killed_a_waiting_router_takes_over_and_loses_nothing(
    mosquitto: Mosquitto, journal_url: str
) -> None:
    """SIGKILL the holder: a standby waiting for the lease takes it and resumes from the journal.

    The cable published while no router listened is delivered once, the one before it not again.
    """
    asyncio.run(subscribe_only(mosquitto, "RUEHC"))
    first = start_router(mosquitto, journal_url)
    started = [first]
    try:
        wait_listening(first)
        standby = start_router(mosquitto, journal_url, "--wait-for-lease", "60")
        started.append(standby)
        asyncio.run(publish_only(mosquitto, CABLE))
        asyncio.run(copy_of(mosquitto, "RUEHC", "RUEHOT-0311-0421200"))
        assert standby.poll() is None, "the standby waits while the holder lives"
        first.kill()  # SIGKILL: its session (PostgreSQL) or its lock file's lock (SQLite) ends with it
        first.wait()
        asyncio.run(publish_only(mosquitto, SECOND_CABLE))
        wait_listening(standby)
        asyncio.run(copy_of(mosquitto, "RUEHC", "RUEHOT-0312-0421200"))
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
            process.wait()
            assert process.stderr is not None
            process.stderr.close()
    with queries.read_only(journal_url) as db:
        cables = db.execute("SELECT message_id, status FROM cables ORDER BY id").fetchall()
        firsts = db.execute(
            "SELECT c.message_id, count(DISTINCT d.id), count(*) FROM transmissions t"
            " JOIN deliveries d ON d.id = t.delivery_id JOIN cables c ON c.id = d.cable_id"
            " WHERE d.post = 'RUEHC' AND t.cause = 'first' GROUP BY c.message_id ORDER BY c.message_id"
        ).fetchall()
    assert [tuple(row) for row in cables] == [
        ("RUEHOT-0311-0421200", "routed"),
        ("RUEHOT-0312-0421200", "routed"),
    ], "each cable journalled and routed once: the one before the kill not again"
    assert [tuple(row) for row in firsts] == [
        ("RUEHOT-0311-0421200", 1, 1),
        ("RUEHOT-0312-0421200", 1, 1),
    ], "one copy for RUEHC of each, sent first once"


def test_the_lease_file_of_an_sqlite_journal_says_who_holds_it(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """SQLite's lease is a lock file beside the journal; it names the holder's pid and host."""
    journal = tmp_path / "journal.sqlite"
    with router_process(mosquitto, str(journal)) as router:
        said = Path(f"{journal}.lease").read_text()
        router.terminate()
        router.wait(timeout=20)
    assert said.startswith(f"router pid {router.pid} on ")


def wait_for_event(process: subprocess.Popen[bytes], name: str) -> dict[str, object]:
    """Read the routing log until the event ``name``; return it."""
    assert process.stderr is not None
    for line in process.stderr:
        if (event := json.loads(line)).get("event") == name:
            return dict(event)
    raise AssertionError(f"router exited before {name}")


def test_a_standby_gives_up_after_its_wait_or_stops_cleanly_when_told(
    mosquitto: Mosquitto, journal_url: str
) -> None:
    """Past --wait-for-lease a standby refuses in the one line, status 1; SIGTERM while waiting: status 0."""
    with router_process(mosquitto, journal_url):
        impatient = subprocess.run(  # noqa: S603
            [*ROUTER, "run", "--broker", mosquitto.url, "--journal", journal_url, "--wait-for-lease", "1.5"],
            capture_output=True,
            check=False,
            env=router_env(journal_url),
            timeout=60,
        )
        patient = start_router(mosquitto, journal_url, "--wait-for-lease", "600")
        try:
            waiting = wait_for_event(patient, "lease-waiting")
            patient.terminate()
            assert patient.wait(timeout=20) == 0
        finally:
            if patient.poll() is None:
                patient.kill()
                patient.wait()
            assert patient.stderr is not None
            patient.stderr.close()
    assert impatient.returncode == 1
    assert impatient.stderr.decode().strip().splitlines()[-1].startswith("router run: the journal ")
    assert str(waiting["holder"]).startswith("router pid "), "the standby says whom it waits for"
