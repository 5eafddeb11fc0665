"""The journal: cables, deliveries and their states survive the process, duplicates are known.

Every test runs twice: on an SQLite journal and on one in a private PostgreSQL (`tests.postgres`).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from router import Precedence
from router.errors import JournalError
from router.journal import queries
from router.journal.dialect import PAGE_SIZE, is_url
from router.journal.store import Journal
from router.journal.writes import Acknowledged, Identified, SentAtOnce, Transmitting
from router.network.line import Consignment, Line
from router.routing.decide import Delivery, Intercept
from router.switch.lines import journal_row


def _acknowledged_at(path: str, delivery_id: int) -> float:
    """When the journal at ``path`` says a delivery was acknowledged, as another reader sees it."""
    with queries.read_only(path) as db:
        return float(
            db.execute("SELECT acknowledged_at FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()[0]
        )


def delivery(post: str, precedence: Precedence = Precedence.ROUTINE) -> Delivery:
    return Delivery(post, precedence, "action", niact=False, via="direct", lines=(3,))


def test_a_received_cable_is_committed_at_once(journal_url: str) -> None:
    """Once `receive` returns, another connection sees the cable: it is on disk, not in a buffer."""
    journal = Journal(journal_url)
    cable_id = journal.receive("cables/in/x", b"RAW CABLE")
    with queries.read_only(journal_url) as other:
        row = other.execute("SELECT raw, status FROM cables WHERE id = ?", (cable_id,)).fetchone()
        assert (bytes(row[0]), row[1]) == (b"RAW CABLE", "received")
    if not is_url(journal_url):
        with closing(sqlite3.connect(journal_url)) as other:
            assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    journal.close()


def test_a_new_journal_has_large_pages_and_an_old_one_keeps_its_own(tmp_path: Path) -> None:
    """A cable fits a 16 KiB page (`PAGE_SIZE`); a journal made with SQLite's 4 KiB pages is used as it is."""
    new = Journal(str(tmp_path / "new.sqlite"))
    new.receive("cables/in/x", b"X" * 12_000)
    new.close()
    with closing(sqlite3.connect(tmp_path / "new.sqlite")) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (PAGE_SIZE,)
        # No overflow page: the cable is one page of the table (its root), beside the schema's.
        assert db.execute("SELECT count(*) FROM dbstat WHERE name = 'cables'").fetchone() == (1,)
    with closing(sqlite3.connect(tmp_path / "old.sqlite")) as db:
        db.execute("PRAGMA page_size=4096")
        db.execute("PRAGMA journal_mode=WAL")
    old = Journal(str(tmp_path / "old.sqlite"))
    old.receive("cables/in/x", b"X" * 12_000)
    old.close()
    with closing(sqlite3.connect(tmp_path / "old.sqlite")) as db:
        assert db.execute("PRAGMA page_size").fetchone() == (4096,)
        assert bytes(db.execute("SELECT raw FROM cables").fetchone()[0]) == b"X" * 12_000


def test_open_deliveries_survive_a_reopen_in_order(journal_url: str) -> None:
    """Deliveries not acknowledged come back after the journal is reopened, oldest first."""
    path = journal_url
    journal = Journal(path)
    cable_id = journal.receive("cables/in/x", b"RAW")
    ids = journal.route(
        cable_id,
        "RUEHKO-1571-1610901",
        (delivery("RUEHC", Precedence.FLASH), delivery("RUEHBJ"), delivery("RUEHUL")),
        (Intercept("AMEMBASSY NOWHERE", "unknown-addressee", (9,)),),
    )
    assert ids is not None
    line = Line("RUEHC", baud=0, window=1)
    line.put(Consignment(*journal.consignment(ids[0])), 100, now=0.0)
    transmission = line.start(now=0.0)
    assert transmission is not None
    journal.apply([journal_row(Transmitting, "RUEHC", transmission)])
    journal.transmitted("RUEHC", transmission.serial, ids[0], "delivered", ended=5.0)
    assert journal.transmission("RUEHC", "EHC", 1) == (ids[0], "delivered")
    assert journal.last_serials() == {"RUEHC": 1}
    assert journal.consignment(ids[0]).precedence is Precedence.FLASH
    journal.apply([Acknowledged(ids[0], "RUEHC")])
    assert not journal.is_open(ids[0])
    first = _acknowledged_at(path, ids[0])
    journal.apply([Acknowledged(ids[0], "RUEHC")])
    assert _acknowledged_at(path, ids[0]) == first, "a second acknowledgement changes nothing"
    journal.apply([Acknowledged(ids[1], "RUEHC")])
    assert journal.is_open(ids[1]), "only the post a delivery is for may acknowledge it"
    journal.close()
    reopened = Journal(path)
    assert [(d.id, d.post, d.precedence) for d in reopened.open_deliveries()] == [
        (ids[1], "RUEHBJ", Precedence.ROUTINE),
        (ids[2], "RUEHUL", Precedence.ROUTINE),
    ]
    assert reopened.raw(cable_id) == b"RAW"
    assert reopened.counts() == {
        "cables_routed": 1,
        "deliveries_acknowledged": 1,
        "deliveries_queued": 2,
        "intercepts": 1,
    }


def test_a_message_id_routed_once_is_a_duplicate_after(journal_url: str) -> None:
    """The second cable with a routed message id is recognised and recorded as a duplicate."""
    journal = Journal(journal_url)
    first = journal.receive("cables/in/x", b"A")
    assert journal.is_duplicate("RUEHKO-1571-1610901") is None
    journal.route(first, "RUEHKO-1571-1610901", (delivery("RUEHC"),), ())
    second = journal.receive("cables/in/x", b"A again")
    assert journal.is_duplicate("RUEHKO-1571-1610901") == first
    assert journal.route(second, "RUEHKO-1571-1610901", (delivery("RUEHC"),), ()) is None, "routed once only"
    journal.mark_duplicate(second, "RUEHKO-1571-1610901", first)
    assert journal.counts()["cables_duplicate"] == 1


def test_a_rejected_cable_keeps_its_raw_bytes_and_reason(journal_url: str) -> None:
    """Nothing is lost: an unreadable cable stays in the journal with why it was rejected."""
    journal = Journal(journal_url)
    cable_id = journal.receive("cables/in/x", b"\x00garbage")
    journal.reject(cable_id, {"line": 1, "column": 1, "reason": "binary data: NUL character"})
    assert journal.raw(cable_id) == b"\x00garbage"
    assert journal.counts()["cables_rejected"] == 1


def test_a_transmission_in_progress_at_a_stop_is_cut(journal_url: str) -> None:
    """A router that stops mid-transmission finds it cut on its next start: the delivery is still open."""
    journal = Journal(journal_url, clock=lambda: 100.0)
    cable_id = journal.receive("cables/in/x", b"RAW")
    routed = journal.route(cable_id, "RUEHKO-1571-1610901", (delivery("RUEHFR"),), ())
    assert routed is not None
    (delivery_id,) = routed
    line = Line("RUEHFR", baud=50, window=4)
    line.put(Consignment(*journal.consignment(delivery_id)), 1000, now=100.0)
    transmission = line.start(now=100.0)
    assert transmission is not None
    journal.apply([journal_row(Transmitting, "RUEHFR", transmission)])
    assert journal.interrupted() == [("RUEHFR", "HFR0001")]
    assert journal.transmission("RUEHFR", "HFR", 1) == (delivery_id, "cut")
    assert [d.id for d in journal.open_deliveries()] == [delivery_id]


def test_a_cable_or_delivery_the_journal_does_not_hold_is_a_journal_error(journal_url: str) -> None:
    """Asking for a record that is not there is the journal's own error, not a bare KeyError."""
    journal = Journal(journal_url)
    with pytest.raises(JournalError, match="no cable 7"):
        journal.cable(7)
    with pytest.raises(JournalError, match="no delivery 9"):
        journal.consignment(9)


def test_the_latest_time_is_the_last_moment_the_journal_holds(journal_url: str) -> None:
    """Where a restarted router's clock resumes: the latest arrival, transmission, service or event."""
    moments = iter([100.0, 5000.0, 300.0])
    journal = Journal(journal_url, clock=lambda: next(moments))
    assert journal.latest_time() is None
    journal.receive("cables/in/a", b"RAW")
    journal.receive("cables/in/b", b"RAW")
    journal.receive("cables/in/c", b"RAW")
    assert journal.latest_time() == 5000.0, "not the last written: the latest in network time"
    journal.close()


def test_an_identification_is_read_without_writing_the_burst_s_held_rows(journal_url: str) -> None:
    """The identity given a cable without FL3 is found in its burst; the burst's rows wait for the commit.

    Reading it must not write the rows the burst holds back (a statement a cable, else).
    """
    journal = Journal(journal_url)
    cable_id = journal.receive("cables/in/x", b"RAW")
    heading = b"DE RUEHWEB #0001 3401200\n"
    with journal.transaction():
        journal.route(cable_id, "X-0123456789ABCDEF0123", (delivery("RUEHC"),), (), first_delivery=1)
        journal.apply([Identified(cable_id, "RUEHWEB-0001-3401200", heading)])
        assert journal.identification(cable_id) == (heading, "RUEHWEB-0001-3401200")
        assert journal._db.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0
    with queries.read_only(journal_url) as other:
        assert tuple(other.execute("SELECT id, post FROM deliveries").fetchone()) == (1, "RUEHC")
    journal.close()


def test_a_burst_of_199_copies_is_written_whole_and_in_order(journal_url: str) -> None:
    """A burst's deliveries and transmissions go many rows a statement (64, 64, 64, 4, 2, 1 here).

    Every row is there, each with its own values, and the transmissions' ids follow the order they
    went in, which the restart's last serials and the serial look-ups read.
    """
    journal = Journal(journal_url)
    cable_id = journal.receive("cables/in/x", b"RAW")
    posts = [f"RUEH{index:03d}" for index in range(199)]
    with journal.transaction():
        journal.route(cable_id, "RUEHKO-1-1610901", tuple(map(delivery, posts)), (), first_delivery=1)
        journal.apply(
            [
                SentAtOnce(number, post, "EHC", 200 - number, "first", number, float(number), float(number))
                for number, post in enumerate(posts, start=1)
            ]
        )
    with queries.read_only(journal_url) as other:
        deliveries = other.execute(
            "SELECT id, post, state, delivered_at FROM deliveries ORDER BY id"
        ).fetchall()
        assert [tuple(row) for row in deliveries] == [
            (number, post, "delivered", float(number)) for number, post in enumerate(posts, start=1)
        ]
        sent = other.execute(
            "SELECT delivery_id, post, serial, bytes FROM transmissions ORDER BY id"
        ).fetchall()
        assert [tuple(row) for row in sent] == [
            (number, post, 200 - number, number) for number, post in enumerate(posts, start=1)
        ]
    journal.close()


def test_a_copy_sent_in_the_transaction_that_routed_it_is_written_delivered(journal_url: str) -> None:
    """An unthrottled line sends a copy in the burst that routed it: one row, delivered, no update.

    Another line's copy sent in a later transaction is updated as before; a second transmission of
    either (a repeat) keeps the first as the delivery; the rows mean the same either way.
    """
    path = journal_url
    journal = Journal(path)
    cable_id = journal.receive("cables/in/x", b"RAW")

    def sent(delivery_id: int, post: str, serial: int, at: float) -> SentAtOnce:
        return SentAtOnce(delivery_id, post, "EHC", serial, "first", 100, at, at)

    with journal.transaction():
        journal.route(
            cable_id, "RUEHKO-1-1610901", (delivery("RUEHC"), delivery("RUEHFR")), (), first_delivery=1
        )
        journal.apply([sent(1, "RUEHC", 1, 5.0), sent(1, "RUEHC", 2, 6.0)])
    with journal.transaction():
        journal.apply([sent(2, "RUEHFR", 1, 7.0), sent(2, "RUEHFR", 2, 8.0)])
    with queries.read_only(path) as other:
        rows = other.execute("SELECT id, state, delivered_at FROM deliveries ORDER BY id").fetchall()
        assert [tuple(row) for row in rows] == [(1, "delivered", 5.0), (2, "delivered", 7.0)]
        assert tuple(other.execute("SELECT count(*) FROM transmissions").fetchone()) == (4,)
    journal.apply([Acknowledged(1, "RUEHC")])
    assert not journal.is_open(1)
