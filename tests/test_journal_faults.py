"""Journal faults are weather: a locked journal, a full disk; and a journal that cannot be opened at all."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import pytest

from router.bus.memory import MemoryBroker
from router.errors import JournalOpenError, JournalUnwritableError
from router.journal.database import is_weather
from router.journal.store import Journal
from router.journal.writes import Received, Write
from router.routing.table import RoutingTable, parse_table
from router.switch.service import Router
from tests.helpers import receipt_for, receive, running

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    from router.bus.memory import MemoryBus
    from router.bus.protocol import Bus, Message

TABLE = """
[defaults]
window = 20
baud = 0

[[posts]]
ri = "RUEHC"
names = ["SECSTATE WASHDC"]
"""
FAST: dict[str, Any] = {"journal_retry_max": 0.02, "log_copies": True}
"""A router that tries a faulty journal again every 20 ms at most, and logs every copy's events."""


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal that gives up on another process's lock after 50 ms."""
    opened = Journal(tmp_path / "journal.sqlite", busy_timeout=0.05)
    yield opened
    opened.close()


def hold_lock(path: str) -> sqlite3.Connection:
    """Another process's connection holding the journal's write lock until it rolls back."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    return other


def test_a_journal_in_a_missing_directory_is_one_error_with_its_path(tmp_path: Path) -> None:
    """Opening a journal where there is no directory is a JournalOpenError naming the path."""
    path = tmp_path / "absent" / "journal.sqlite"
    with pytest.raises(JournalOpenError) as caught:
        Journal(path)
    assert caught.value.path == str(path)
    assert str(caught.value) == f"{path}: unable to open database file"


def test_a_file_that_is_not_a_database_is_one_error_with_its_path(tmp_path: Path) -> None:
    """Opening a text file as the journal is a JournalOpenError: file is not a database."""
    path = tmp_path / "notes.txt"
    path.write_text("not a database\n" * 200)
    with pytest.raises(JournalOpenError, match="file is not a database"):
        Journal(path)


def test_router_run_on_a_bad_journal_says_so_in_one_line(tmp_path: Path) -> None:
    """`router run --journal` to a directory that is not there: one line with the path, no traceback."""
    path = tmp_path / "absent" / "journal.sqlite"
    run = subprocess.run(  # noqa: S603 (this interpreter, our own command)
        [sys.executable, "-m", "router", "run", "--journal", str(path)],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert run.returncode != 0
    assert run.stderr.decode().strip() == f"router: {path}: unable to open database file"


def test_a_locked_journal_fails_at_the_start_of_the_transaction(journal: Journal) -> None:
    """With another process holding the lock, the transaction raises before its body runs."""
    other = hold_lock(journal.path)
    ran = False
    with pytest.raises(JournalUnwritableError, match="database is locked"), journal.transaction():
        ran = True
    assert not ran
    other.execute("ROLLBACK")
    with journal.transaction():
        journal.receive("cables/in/rome", b"once the lock is gone")
    assert journal.last_ids() == (1, 0)


def test_a_full_disk_rolls_the_whole_transaction_back(journal: Journal) -> None:
    """SQLITE_FULL inside a transaction: JournalUnwritableError, nothing of it kept, the next one works."""
    pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
    journal._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full at the next page

    def fill() -> None:
        with journal.transaction():
            for number in range(200):
                journal.receive("cables/in/rome", b"x" * 1000 + str(number).encode())

    with pytest.raises(JournalUnwritableError, match="full"):
        fill()
    assert journal.last_ids() == (0, 0)
    journal._db.execute("PRAGMA max_page_count = 1073741823")
    with journal.transaction():
        journal.receive("cables/in/rome", b"room again")
    assert journal.last_ids() == (1, 0)


@pytest.mark.parametrize(
    ("error", "weather"),
    [
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("attempt to write a readonly database"), True),
        (sqlite3.OperationalError("disk I/O error"), True),
        (sqlite3.OperationalError("no such table: cables"), False),
        (sqlite3.DatabaseError("database disk image is malformed"), False),
    ],
)
def test_only_locks_full_disks_io_and_read_only_are_weather(error: sqlite3.Error, *, weather: bool) -> None:
    """A lock, a full disk, an I/O error or a read-only file is weather; a bug or a corrupt file is not."""
    assert is_weather(error) is weather


def cable(serial: int, padding: int = 0) -> bytes:
    """A ROUTINE cable from Rome to the Department, ``padding`` characters of text longer."""
    return (
        f"VZCZCXYZ{serial:04d}\nRR RUEHWEB\nDE RUEHRO #{serial:04d} 0011200\nZNR UUUUU ZZH\n"
        f"R 011200Z JAN 09\nFM AMEMBASSY ROME\nTO RUEHC/SECSTATE WASHDC\n\nUNCLAS ROME {serial:06d}\n\n"
        f"SUBJECT: CABLE {serial}\n{'X' * padding}\n"
    ).encode()


@pytest.fixture
def table() -> RoutingTable:
    """One post, on an unthrottled line with room for twenty copies not yet receipted."""
    return parse_table(TABLE)


class RecordingBus:
    """The in-memory bus, noting each acknowledgement and whether the journal had committed the cable then."""

    def __init__(self, bus: MemoryBus, journal: Path) -> None:
        self.bus = bus
        self.acked: list[bytes] = []
        self.acked_uncommitted: list[bytes] = []
        # Another connection sees only what is committed (WAL: it reads while another holds the lock).
        self._reader = sqlite3.connect(journal)

    async def publish(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> None:
        """As the in-memory bus."""
        await self.bus.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def send(
        self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False, properties: bytes = b""
    ) -> asyncio.Future[None]:
        """As the in-memory bus."""
        return self.bus.send(topic, payload, qos=qos, retain=retain, properties=properties)

    async def subscribe(self, topic_filter: str, *, qos: int = 1, ahead: bool = False) -> None:
        """As the in-memory bus."""
        await self.bus.subscribe(topic_filter, qos=qos, ahead=ahead)

    def messages(self) -> AsyncIterator[Message]:
        """As the in-memory bus."""
        return self.bus.messages()

    async def ack(self, message: Message) -> None:
        """Note the acknowledgement, and whether a cable's journal row was committed before it."""
        if message.topic.startswith("cables/in/"):
            self.acked.append(message.payload)
            query = "SELECT count(*) FROM cables WHERE raw = ?"
            if self._reader.execute(query, (message.payload,)).fetchone()[0] != 1:
                self.acked_uncommitted.append(message.payload)

    def close(self) -> None:
        """Close the reading connection."""
        self._reader.close()


async def event(log: Bus, name: str) -> dict[str, object]:
    """The next event called ``name`` on `router/log`."""
    async with asyncio.timeout(5):
        async for message in log.messages():
            entry: dict[str, object] = json.loads(message.payload)
            if entry["event"] == name:
                return entry
    raise AssertionError(name)  # pragma: no cover (the bus's messages never end)


async def status_until(status: Bus, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The journal's part of the first `router/status` that is ``wanted``."""
    async with asyncio.timeout(5):
        async for message in status.messages():
            journal: dict[str, Any] = json.loads(message.payload)["journal"]
            if wanted(journal):
                return journal
    raise AssertionError(status)  # pragma: no cover (the bus's messages never end)


def journalled(path: Path) -> dict[str, int]:
    """What the journal holds: cables routed, deliveries, transmissions delivered."""
    with sqlite3.connect(path) as reader:
        return {
            table: reader.execute(query).fetchone()[0]
            for table, query in {
                "routed": "SELECT count(*) FROM cables WHERE status = 'routed'",
                "all_cables": "SELECT count(*) FROM cables",
                "deliveries": "SELECT count(*) FROM deliveries",
                "delivered": "SELECT count(*) FROM transmissions WHERE outcome = 'delivered'",
            }.items()
        }


async def test_a_locked_journal_holds_intake_back_then_everything_goes_once(
    tmp_path: Path, table: RoutingTable
) -> None:
    """Another process holds the lock past the busy timeout: no crash, ack or copy; then all of it, once."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, busy_timeout=0.02)
    broker = MemoryBroker()
    bus = RecordingBus(broker.connect(), path)
    post, publisher, log, status = broker.connect(), broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/#")
    await log.subscribe("router/log")
    await status.subscribe("router/status")
    async with running(bus, journal, table, status_every=0.02, **FAST) as router:
        other = hold_lock(journal.path)
        for serial in range(1, 6):
            await publisher.publish("cables/in/rome", cable(serial))
        unwritable = await event(log, "journal-unwritable")
        assert unwritable == {
            "event": "journal-unwritable",
            "path": str(path),
            "reason": "database is locked",
        }
        journal_status = await status_until(status, lambda journal: journal.get("attempts_failed", 0) >= 3)
        assert journal_status["writable"] is False
        assert journal_status["reason"] == "database is locked"
        assert bus.acked == []
        assert post.queue.empty()
        other.execute("ROLLBACK")
        copies = await receive(post, 5)
        writable = await event(log, "journal-writable")
        assert writable["attempts_failed"] == router.counts["journal-attempts-failed"] >= 3
        assert router.fault is None
    bus.close()
    assert sorted(bus.acked) == sorted(cable(serial) for serial in range(1, 6))
    assert bus.acked_uncommitted == []
    assert len({m.payload for m in copies}) == 5
    assert post.queue.empty(), "no copy went twice"
    assert journalled(path) == {"routed": 5, "all_cables": 5, "deliveries": 5, "delivered": 5}


async def test_a_full_disk_mid_burst_is_rolled_back_retried_and_nothing_goes_twice(
    tmp_path: Path, table: RoutingTable
) -> None:
    """SQLITE_FULL inside a burst: nothing acked or sent, the core rebuilt from the journal; each once."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    broker = MemoryBroker()
    bus = RecordingBus(broker.connect(), path)
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/#")
    await log.subscribe("router/log")
    async with running(bus, journal, table, **FAST):
        await publisher.publish("cables/in/rome", cable(1))
        (first,) = await receive(post, 1)
        await publisher.publish("cables/ack/RUEHC", receipt_for(first))
        await event(log, "acknowledged")
        pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
        journal._db.execute(f"PRAGMA max_page_count = {pages}")  # no page more: the disk is full
        for serial in range(2, 5):
            await publisher.publish("cables/in/rome", cable(serial, padding=20_000))  # each more than a page
        unwritable = await event(log, "journal-unwritable")
        assert unwritable["reason"] == "database or disk is full"
        assert bus.acked == [cable(1)]
        assert post.queue.empty()
        journal._db.execute("PRAGMA max_page_count = 1073741823")  # room again
        copies = await receive(post, 3)
        await event(log, "journal-writable")
    bus.close()
    assert sorted(bus.acked) == sorted(
        cable(serial, padding=20_000 if serial > 1 else 0) for serial in range(1, 5)
    )
    assert bus.acked_uncommitted == []
    assert len({m.payload for m in copies}) == 3
    assert post.queue.empty(), "no copy went twice"
    assert journalled(path) == {"routed": 4, "all_cables": 4, "deliveries": 4, "delivered": 4}


async def test_a_journal_locked_at_the_start_is_waited_for(tmp_path: Path, table: RoutingTable) -> None:
    """Locked when the router starts: it waits, unwritable once, and listens once the lock is gone."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, busy_timeout=0.02)
    broker = MemoryBroker()
    log = broker.connect()
    await log.subscribe("router/log")
    router = Router(broker.connect(), journal, table, **FAST)
    stop = asyncio.Event()
    other = hold_lock(journal.path)
    task = asyncio.create_task(router.run(stop))
    await event(log, "journal-unwritable")
    assert not router.ready.is_set()
    other.execute("ROLLBACK")
    await event(log, "journal-writable")
    await asyncio.wait_for(router.ready.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_a_router_told_to_stop_while_the_journal_is_locked_stops(
    tmp_path: Path, table: RoutingTable
) -> None:
    """Stop while the journal cannot be written: the router stops at once, the cable left unacknowledged."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, busy_timeout=0.02)
    broker = MemoryBroker()
    bus = RecordingBus(broker.connect(), path)
    publisher, log = broker.connect(), broker.connect()
    await log.subscribe("router/log")
    async with running(bus, journal, table, **FAST):
        other = hold_lock(journal.path)
        await publisher.publish("cables/in/rome", cable(1))
        await event(log, "journal-unwritable")
    other.execute("ROLLBACK")
    bus.close()
    assert bus.acked == []
    assert journalled(path)["all_cables"] == 0


async def test_every_failed_attempt_is_counted_and_the_outage_logged_once(
    tmp_path: Path, table: RoutingTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three writes fail as on a full disk: three attempts counted, one event each way, then all once."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    failures = 3
    apply = Journal.apply

    def failing_apply(self: Journal, writes: list[Write]) -> None:
        nonlocal failures
        if failures and any(isinstance(write, Received) for write in writes):
            failures -= 1
            raise sqlite3.OperationalError("database or disk is full")
        apply(self, writes)

    monkeypatch.setattr(Journal, "apply", failing_apply)
    broker = MemoryBroker()
    bus = RecordingBus(broker.connect(), path)
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/#")
    await log.subscribe("router/log")
    async with running(bus, journal, table, **FAST) as router:
        for serial in (1, 2):
            await publisher.publish("cables/in/rome", cable(serial))
        await receive(post, 2)
        assert router.counts["journal-attempts-failed"] == 3
    bus.close()
    logged = [json.loads(log.queue.get_nowait().payload) for _ in range(log.queue.qsize())]
    assert [e["event"] for e in logged if e["event"].startswith("journal-")] == [
        "journal-unwritable",
        "journal-writable",
    ]
    assert next(e for e in logged if e["event"] == "journal-writable")["attempts_failed"] == 3
    assert bus.acked_uncommitted == []
    assert post.queue.empty(), "no copy went twice"
    assert journalled(path) == {"routed": 2, "all_cables": 2, "deliveries": 2, "delivered": 2}


async def test_after_a_rebuild_a_copy_receipted_meanwhile_does_not_go_again(
    tmp_path: Path, table: RoutingTable
) -> None:
    """A copy out before a mid-burst fault, receipted during it: the rebuilt core does not send it again."""
    path = tmp_path / "journal.sqlite"
    journal = Journal(path)
    broker = MemoryBroker()
    post, publisher, log = broker.connect(), broker.connect(), broker.connect()
    await post.subscribe("cables/out/#")
    await log.subscribe("router/log")
    async with running(broker.connect(), journal, table, resend_after=0.5, **FAST):
        await publisher.publish("cables/in/rome", cable(1))
        (first,) = await receive(post, 1)
        pages = journal._db.execute("PRAGMA page_count").fetchone()[0]
        journal._db.execute(f"PRAGMA max_page_count = {pages}")
        await publisher.publish("cables/in/rome", cable(2, padding=20_000))
        await event(log, "journal-unwritable")
        await publisher.publish("cables/ack/RUEHC", receipt_for(first))  # waits in the inbox
        journal._db.execute("PRAGMA max_page_count = 1073741823")
        (second,) = await receive(post, 1)
        restored = await event(log, "restored")
        resending = await event(log, "resending")
    assert restored["delivered_unacknowledged"] == 1
    assert resending["deliveries"] == 0
    assert resending["acknowledged_meanwhile"] == 1
    assert b"SUBJECT: CABLE 2" in second.payload
    assert post.queue.empty(), "the receipted copy did not go again"
    assert journalled(path) == {"routed": 2, "all_cables": 2, "deliveries": 2, "delivered": 2}
