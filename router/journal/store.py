"""The journal: every cable received and every delivery with each change of its state, in SQLite (WAL).

A switch keeps a journal copy of everything it relays (DOMAIN: AUTODIN): a cable is committed
here before the broker is told it arrived, and the delivery queues are rebuilt from here after
a restart, so that nothing is lost between the two.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from router.cable.models import Precedence, needs_receipt
from router.network.line import Consignment

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from router.network.line import Transmission
    from router.routing.decide import Delivery, Intercept

CableStatus = Literal["received", "routed", "rejected", "duplicate"]
DeliveryState = Literal["queued", "delivered", "acknowledged"]
Outcome = Literal["delivered", "busted", "cut"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cables (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    topic TEXT NOT NULL,
    raw BLOB NOT NULL,
    message_id TEXT,
    status TEXT NOT NULL,
    detail TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS cables_routed_message
    ON cables (message_id) WHERE status = 'routed';
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    post TEXT NOT NULL,
    precedence TEXT NOT NULL,
    rank INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL,
    niact INTEGER NOT NULL,
    via TEXT NOT NULL,
    needs_ack INTEGER NOT NULL,
    state TEXT NOT NULL,
    queued_at REAL NOT NULL,
    delivered_at REAL,
    acknowledged_at REAL
);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (state) WHERE state != 'acknowledged';
CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (post, rank DESC, id) WHERE state = 'queued';
CREATE TABLE IF NOT EXISTS transmissions (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    post TEXT NOT NULL,
    channel TEXT NOT NULL,
    serial INTEGER NOT NULL,
    cause TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transmissions_serial ON transmissions (post, serial);
CREATE TABLE IF NOT EXISTS intercepts (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    addressee TEXT NOT NULL,
    reason TEXT NOT NULL,
    post TEXT
);
CREATE TABLE IF NOT EXISTS set_aside (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    addressee TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    fields TEXT NOT NULL
);
"""
"""The journal's tables. Every time is the router's clock: simulated seconds (UNIX time scaled by the
time factor), so that speed of service is measured in the network's time, not the host's.

- cables: each cable as received; status received | routed | rejected | duplicate.
- deliveries: one copy for one post; state queued -> delivered (a transmission completed on the
  post's line) -> acknowledged (the post's receipt). needs_ack: FLASH, ECP or NIACT, which the
  post must acknowledge and which go again when it does not.
- transmissions: each attempt to send a delivery down its line, under the line's channel
  designator and next channel serial. cause: first | bust (sent again after a bust) | outage (after
  the line went down mid-transmission) | zfx (the post reported the serial missing) | ack-timeout |
  restart | request (an operator asked for it again: `router retransmit`). outcome: sending |
  delivered | busted | cut (line down).
- set_aside: addressees the network does not deliver to, and why: zen (already delivered by
  other means), pouch (sent them by diplomatic pouch), exempted (an XMT line takes the post out of
  a collective), originator (a collective does not send the cable back to the station that filed
  it).
- events: the routing log (received, routed, queued, busted, delivered, acknowledged, line-down,
  line-up, gap, retransmitted, duplicate-filed, ...), each with its fields as JSON.
"""


@dataclass(frozen=True, slots=True)
class OpenDelivery:
    """A delivery not yet acknowledged by its post: what a restart puts back in the queues."""

    id: int
    cable_id: int
    post: str
    precedence: Precedence
    niact: bool
    queued_at: float
    delivered: bool
    """Delivered before the restart: the post may have acknowledged it while the router was down."""


def _transmission_row(post: str, transmission: Transmission) -> tuple[object, ...]:
    """A transmission's columns, delivery id to ended_at (the end as planned)."""
    queued = transmission.queued
    return (
        queued.delivery_id,
        post,
        transmission.channel,
        transmission.serial,
        queued.cause,
        queued.size,
        transmission.started,
        transmission.ends,
    )


class Journal:
    """The router's SQLite journal. One writer (the service); readers may watch it live (WAL)."""

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = str(path)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives a crash of the process (SIGKILL), and may be
        # lost only if the machine itself loses power before the next checkpoint.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._now = clock
        self._depth = 0
        self._sent: list[tuple[object, ...]] = []
        self._logged: list[tuple[float, str, str]] = []
        """Rows written in one go at the end of the transaction (or before anything is read)."""

    def close(self) -> None:
        """Checkpoint and close."""
        self._db.close()

    def receive(self, topic: str, raw: bytes) -> int:
        """Commit a cable as received, before anything else happens to it; return its journal id."""
        cursor = self._db.execute(
            "INSERT INTO cables (received_at, topic, raw, status) VALUES (?, ?, ?, 'received')",
            (self._now(), topic, raw),
        )
        return int(cursor.lastrowid or 0)

    def reject(self, cable_id: int, error: dict[str, object]) -> None:
        """Record why a cable could not be read."""
        self._db.execute(
            "UPDATE cables SET status = 'rejected', detail = ? WHERE id = ?", (json.dumps(error), cable_id)
        )

    def is_duplicate(self, message_id: str) -> int | None:
        """The journal id of a cable already routed under ``message_id``, if there is one."""
        row = self._db.execute(
            "SELECT id FROM cables WHERE message_id = ? AND status = 'routed'", (message_id,)
        ).fetchone()
        return int(row[0]) if row else None

    def mark_duplicate(self, cable_id: int, message_id: str, original: int) -> None:
        """Record a cable as a duplicate of one already routed (not delivered twice)."""
        self._db.execute(
            "UPDATE cables SET status = 'duplicate', message_id = ?, detail = ? WHERE id = ?",
            (message_id, json.dumps({"original": original}), cable_id),
        )

    def route(
        self,
        cable_id: int,
        message_id: str,
        deliveries: tuple[Delivery, ...],
        intercepts: tuple[Intercept, ...],
        set_aside: tuple[tuple[str, str], ...] = (),
    ) -> list[int] | None:
        """Record a routing decision in one transaction; return the new deliveries' ids in order.

        ``set_aside`` names the addressees not delivered to and why (zen, pouch, exempted, originator).

        None when ``message_id`` was routed before (a duplicate): nothing is recorded then.
        """
        now = self._now()
        ids: list[int] = []
        with self.transaction():
            try:
                self._db.execute(
                    "UPDATE cables SET status = 'routed', message_id = ? WHERE id = ?", (message_id, cable_id)
                )
            except sqlite3.IntegrityError:  # the unique index of routed message ids
                return None
            self._db.executemany(
                "INSERT INTO deliveries (cable_id, post, precedence, rank, role, niact, via, needs_ack,"
                " state, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                [
                    (
                        cable_id,
                        delivery.post,
                        delivery.precedence.value,
                        delivery.precedence.rank,
                        delivery.role,
                        int(delivery.niact),
                        delivery.via,
                        int(needs_receipt(delivery.precedence, niact=delivery.niact)),
                        now,
                    )
                    for delivery in deliveries
                ],
            )
            if deliveries:
                # One writer, one transaction: the rows just inserted have consecutive ids.
                last = int(self._db.execute("SELECT last_insert_rowid()").fetchone()[0])
                ids = list(range(last - len(deliveries) + 1, last + 1))
            self._db.executemany(
                "INSERT INTO intercepts (cable_id, addressee, reason, post) VALUES (?, ?, ?, ?)",
                [(cable_id, i.addressee, i.reason, i.post) for i in intercepts],
            )
            if set_aside:
                self._db.executemany(
                    "INSERT INTO set_aside (cable_id, addressee, reason) VALUES (?, ?, ?)",
                    [(cable_id, addressee, reason) for addressee, reason in set_aside],
                )
        return ids

    def transmitting(self, post: str, transmission: Transmission) -> int:
        """A transmission began on the post's line; return its journal id."""
        cursor = self._db.execute(
            "INSERT INTO transmissions (delivery_id, post, channel, serial, cause, bytes, started_at,"
            " ended_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'sending')",
            _transmission_row(post, transmission)[:-1],
        )
        return int(cursor.lastrowid or 0)

    def sent_at_once(self, post: str, transmission: Transmission) -> None:
        """A transmission that began and ended at once (an unthrottled line): delivered.

        Thousands a second on unthrottled lines: inside a transaction they are written together.
        """
        self._sent.append(_transmission_row(post, transmission))
        if not self._depth:
            self._write_pending()

    def _write_pending(self) -> None:
        if self._sent:
            self._db.executemany(
                "INSERT INTO transmissions (delivery_id, post, channel, serial, cause, bytes, started_at,"
                " ended_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'delivered')",
                self._sent,
            )
            self._db.executemany(
                "UPDATE deliveries SET state = 'delivered', delivered_at = ?"
                " WHERE id = ? AND state = 'queued'",
                [(row[7], row[0]) for row in self._sent],
            )
            self._sent.clear()
        if self._logged:
            self._db.executemany("INSERT INTO events (at, event, fields) VALUES (?, ?, ?)", self._logged)
            self._logged.clear()

    def transmitted(self, transmission_id: int, delivery_id: int, outcome: Outcome, ended: float) -> None:
        """A transmission ended: delivered (its last character reached the post), busted or cut."""
        self._write_pending()
        with self.transaction():
            self._db.execute(
                "UPDATE transmissions SET outcome = ?, ended_at = ? WHERE id = ?",
                (outcome, ended, transmission_id),
            )
            if outcome == "delivered":
                # The first complete transmission is the delivery; a repeat (ZFX, timeout) keeps it.
                self._db.execute(
                    "UPDATE deliveries SET state = 'delivered', delivered_at = ?"
                    " WHERE id = ? AND state = 'queued'",
                    (ended, delivery_id),
                )

    def transmission(self, post: str, channel: str, serial: int) -> tuple[int, str] | None:
        """The delivery last sent to ``post`` under a channel serial, and how that transmission ended."""
        self._write_pending()
        row = self._db.execute(
            "SELECT delivery_id, outcome FROM transmissions WHERE post = ? AND channel = ? AND serial = ?"
            " ORDER BY id DESC LIMIT 1",
            (post, channel, serial),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def last_serials(self) -> dict[str, int]:
        """Each post's last channel serial: a restarted router carries on from there."""
        self._write_pending()
        rows = self._db.execute(
            "SELECT post, serial FROM transmissions"
            " WHERE id IN (SELECT max(id) FROM transmissions GROUP BY post)"
        )
        return {str(post): int(serial) for post, serial in rows}

    def interrupted(self) -> int:
        """Transmissions in progress when the router stopped: cut, since the line went with it."""
        self._write_pending()
        cursor = self._db.execute(
            "UPDATE transmissions SET outcome = 'cut', ended_at = started_at WHERE outcome = 'sending'"
        )
        return cursor.rowcount

    def acknowledged(self, delivery_id: int, post: str) -> bool:
        """The post acknowledged a delivery; False when the id is not an open delivery of that post."""
        self._write_pending()
        cursor = self._db.execute(
            "UPDATE deliveries SET state = 'acknowledged', acknowledged_at = ?,"
            " delivered_at = coalesce(delivered_at, ?) WHERE id = ? AND post = ? AND state != 'acknowledged'",
            (self._now(), self._now(), delivery_id, post),
        )
        return cursor.rowcount == 1

    def open_deliveries(self) -> Iterator[OpenDelivery]:
        """Every delivery not acknowledged yet, oldest first: the queues after a restart."""
        self._write_pending()
        for row in self._db.execute(
            "SELECT id, cable_id, post, precedence, niact, queued_at, state FROM deliveries"
            " WHERE state != 'acknowledged' ORDER BY id"
        ):
            yield OpenDelivery(
                int(row[0]),
                int(row[1]),
                row[2],
                Precedence(row[3]),
                bool(row[4]),
                float(row[5]),
                row[6] == "delivered",
            )

    def backlog(self) -> dict[tuple[str, Precedence], int]:
        """How many deliveries wait (never delivered), per post and precedence: a restart's queues.

        Counted, not loaded: each line takes its best ones back from the journal as it goes.
        """
        self._write_pending()
        rows = self._db.execute(
            "SELECT post, precedence, count(*) FROM deliveries WHERE state = 'queued'"
            " GROUP BY post, precedence"
        )
        return {(str(post), Precedence(precedence)): int(count) for post, precedence, count in rows}

    def waiting(self, post: str, besides: set[int], limit: int) -> list[tuple[Consignment, float]]:
        """Up to ``limit`` deliveries queued for ``post`` besides those given, best first.

        Best: by precedence, then age; each with the time it was queued. What a line takes back.
        """
        self._write_pending()
        rows = self._db.execute(
            "SELECT id, cable_id, precedence, niact, queued_at FROM deliveries"
            " WHERE post = ? AND state = 'queued' ORDER BY rank DESC, id LIMIT ?",
            (post, limit + len(besides)),
        )
        found = [
            (Consignment(int(row[0]), int(row[1]), Precedence(row[2]), bool(row[3])), float(row[4]))
            for row in rows
            if row[0] not in besides
        ]
        return found[:limit]

    def unfinished(self) -> list[tuple[int, str, bytes]]:
        """Cables received but neither routed, rejected nor filed as duplicates, oldest first."""
        rows = self._db.execute("SELECT id, topic, raw FROM cables WHERE status = 'received' ORDER BY id")
        return [(int(row[0]), str(row[1]), bytes(row[2])) for row in rows]

    def is_open(self, delivery_id: int) -> bool:
        """Whether a delivery still waits for its post's acknowledgement."""
        self._write_pending()
        row = self._db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return row is not None and row[0] != "acknowledged"

    def copy_of(self, message_id: str, post: str) -> int | None:
        """The delivery that carried ``message_id`` to ``post``, if the message was routed there."""
        self._write_pending()
        row = self._db.execute(
            "SELECT d.id FROM deliveries d JOIN cables c ON c.id = d.cable_id"
            " WHERE c.message_id = ? AND c.status = 'routed' AND d.post = ?",
            (message_id, post),
        ).fetchone()
        return int(row[0]) if row else None

    def consignment(self, delivery_id: int) -> Consignment:
        """A delivery's cable and precedence: what queueing it again needs."""
        row = self._db.execute(
            "SELECT cable_id, precedence, niact FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        if row is None:
            raise KeyError(delivery_id)
        return Consignment(delivery_id, int(row[0]), Precedence(row[1]), bool(row[2]))

    def raw(self, cable_id: int) -> bytes:
        """The cable as it was received."""
        return self.cable(cable_id)[0]

    def cable(self, cable_id: int) -> tuple[bytes, str | None]:
        """The cable as it was received, and the message id it was routed under (if it was)."""
        row = self._db.execute("SELECT raw, message_id FROM cables WHERE id = ?", (cable_id,)).fetchone()
        if row is None:
            raise KeyError(cable_id)
        return bytes(row[0]), row[1]

    def log(self, event: str, fields: dict[str, object] | str) -> None:
        """Append an event of the routing log (its fields, or their JSON already made)."""
        text = fields if isinstance(fields, str) else json.dumps(fields, default=str)
        self._logged.append((self._now(), event, text))
        if not self._depth:
            self._write_pending()

    def counts(self) -> dict[str, int]:
        """Cables by status and deliveries by state: what `router report` starts from."""
        self._write_pending()
        counts: dict[str, int] = {}
        for status, number in self._db.execute("SELECT status, count(*) FROM cables GROUP BY status"):
            counts[f"cables_{status}"] = int(number)
        for state, number in self._db.execute("SELECT state, count(*) FROM deliveries GROUP BY state"):
            counts[f"deliveries_{state}"] = int(number)
        counts["intercepts"] = int(self._db.execute("SELECT count(*) FROM intercepts").fetchone()[0])
        return counts

    def now(self) -> float:
        """The journal's clock: the network's time."""
        return self._now()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One commit for everything inside: the router writes a burst of work at once (group commit).

        Nested uses join the outermost one; an error rolls the whole of it back.
        """
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN")
        self._depth = 1
        try:
            yield
            self._write_pending()
        except BaseException:
            self._sent.clear()
            self._logged.clear()
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0
