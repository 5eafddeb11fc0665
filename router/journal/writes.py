"""What the switch writes to the journal: each write a plain value, applied in order by `Writes.apply`.

The switch's core decides, the edge applies: every change the core makes to the journal is one of
these records, applied in the order it was decided, inside the burst's transaction. Ids are the
core's (cables, deliveries: see `router.switch.intake`); the journal writes them as given, and a
transmission row is found again by its post and serial while it is the one being sent.
"""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import TYPE_CHECKING, Literal, NamedTuple

from router.cable.models import Precedence, needs_receipt
from router.errors import JournalError
from router.journal.database import DELIVERY_STATE, INSERT_DELIVERY, MARK_DELIVERED, Database

if TYPE_CHECKING:
    from collections.abc import Iterable

    from router.routing.decide import Delivery, Intercept

Outcome = Literal["delivered", "busted", "cut"]


class Received(NamedTuple):
    """A cable as it came off the intake, committed before anything else happens to it."""

    cable_id: int
    topic: str
    raw: bytes


class Rejected(NamedTuple):
    """A cable that could not be read, and why."""

    cable_id: int
    detail: dict[str, object]


class Duplicate(NamedTuple):
    """A cable whose message id was routed before (``original``): filed, not delivered twice."""

    cable_id: int
    message_id: str
    original: int


class Routed(NamedTuple):
    """A routing decision: the deliveries (ids from ``first_delivery`` on), intercepts and set-asides."""

    cable_id: int
    message_id: str
    first_delivery: int
    deliveries: tuple[Delivery, ...]
    intercepts: tuple[Intercept, ...]
    set_aside: tuple[tuple[str, str], ...]
    trunk_ris: tuple[tuple[str, ...], ...] = ()
    """At a switching centre: for each delivery, the RIs of its trunk copy's FL2 (none for a post's)."""
    received: str | None = None
    """At a centre: the routing line received off a trunk, its RIs space-separated (`cables.ris`)."""


class Rerouted(NamedTuple):
    """At a switching centre: a trunk copy that waited on a trunk now out goes by other paths (§307).

    The delivery itself takes the first path (its post the neighbour, its RIs that path's), each
    further path a new delivery numbered on from ``first_new``, with the same cable, precedence,
    role and time queued. Written in the burst's transaction, so a restart finds each copy where
    it went: none sent twice, none left waiting on the dead trunk.
    """

    delivery_id: int
    paths: tuple[tuple[str, tuple[str, ...]], ...]
    """(neighbour, the RIs of its FL2) for each path, the delivery's own first."""
    first_new: int


class TransmissionRow(NamedTuple):
    """A transmission's columns, delivery id to ended_at (the end as planned)."""

    delivery_id: int
    post: str
    channel: str
    serial: int
    cause: str
    size: int
    started: float
    ends: float


class Transmitting(TransmissionRow):
    """A transmission began on a post's line; it is `Transmitted` when it ends."""

    __slots__ = ()


class SentAtOnce(TransmissionRow):
    """A transmission that began and ended at once (an unthrottled line): delivered."""

    __slots__ = ()


class Transmitted(NamedTuple):
    """The transmission being sent under ``serial`` ended: delivered, busted or cut."""

    post: str
    serial: int
    delivery_id: int
    outcome: Outcome
    ended: float


class Acknowledged(NamedTuple):
    """A post's receipt for a delivery."""

    delivery_id: int
    post: str


class GivenUp(NamedTuple):
    """A copy sent again and again without a receipt: to the intercept position, with ``reason``.

    The delivery ends ``intercepted`` (no longer open: a restart does not send it again), and the
    intercepts table holds the post and the reason, as for an addressee the switch could not route.
    """

    delivery_id: int
    cable_id: int
    post: str
    reason: str


class Identified(NamedTuple):
    """The message identification the switch gave a cable without FL3 (§116), and its FL3/FL4 lines."""

    cable_id: int
    message_id: str
    heading: bytes


class PropertiesKept(NamedTuple):
    """The MQTT 5 properties a cable came with that its copies carry on (`router.bus.properties`)."""

    cable_id: int
    kept: bytes


class ServiceSent(NamedTuple):
    """A service message of the switch's sent on a post's line under a serial of its own (§424d ZFR).

    Journalled so that its serial is accounted for: a ZFX naming it is answered, and a restarted
    switch numbers on after it.
    """

    post: str
    channel: str
    serial: int
    cause: str
    text: str
    size: int
    at: float


class Logged(NamedTuple):
    """An entry of the routing log: its name and its fields as JSON."""

    event: str
    entry: str


class ReceivedOversize(NamedTuple):
    """A cable over the size limit: journalled as rejected with its first bytes only, never whole.

    ``detail`` says why, and what the head cannot: the cable's size and its SHA-256 digest.
    """

    cable_id: int
    topic: str
    head: bytes
    detail: dict[str, object]


Write = (
    Received
    | Rejected
    | Duplicate
    | Routed
    | Transmitting
    | SentAtOnce
    | Transmitted
    | Acknowledged
    | GivenUp
    | Identified
    | PropertiesKept
    | ServiceSent
    | Logged
    | ReceivedOversize
    | Rerouted
)


_JOINED = nullcontext()
"""A transaction already open, joined (`Writes.route`)."""
_WORDS = {precedence: precedence.value for precedence in Precedence}
"""Each precedence's word as the deliveries table holds it: looked up, not an enum's property, a copy each."""


def _delivery_rows(
    cable_id: int,
    deliveries: tuple[Delivery, ...],
    first: int | None,
    now: float,
    trunk_ris: tuple[tuple[str, ...], ...] = (),
) -> list[list[object]]:
    """The deliveries' rows (`INSERT_DELIVERY`), queued, numbered on from ``first`` (the database's: None)."""
    ris = [" ".join(line) or None for line in trunk_ris] or [None] * len(deliveries)
    return [
        [
            None if first is None else first + number,
            cable_id,
            delivery.post,
            _WORDS[delivery.precedence],
            delivery.precedence.rank,
            delivery.role,
            int(delivery.niact),
            delivery.via,
            int(needs_receipt(delivery.precedence, niact=delivery.niact)),
            now,
            "queued",
            None,
            ris[number],
        ]
        for number, delivery in enumerate(deliveries)
    ]


class Writes(Database):
    """The switch's writes: one method per record, and `apply` for a list of them."""

    def apply(self, writes: Iterable[Write]) -> None:
        """Apply the records in order (hot ones first: a copy sent, a log entry)."""
        for write in writes:
            match write:
                case SentAtOnce():
                    self.sent_at_once(write)
                case Logged(event, entry):
                    self.log(event, entry)
                case Received(cable_id, topic, raw):
                    self.receive(topic, raw, cable_id)
                case Routed():
                    self._routed(write)
                case Transmitting():
                    self.transmitting(write)
                case Transmitted(post, serial, delivery_id, outcome, ended):
                    self.transmitted(post, serial, delivery_id, outcome, ended)
                case Acknowledged(delivery_id, post):
                    # Thousands a second, as the copies: written together like them.
                    now = self._now()
                    self._receipted.append((now, now, delivery_id, post))
                    if not self._depth:
                        self._write_pending()
                case Rejected(cable_id, detail):
                    self.reject(cable_id, detail)
                case Duplicate(cable_id, message_id, original):
                    self.mark_duplicate(cable_id, message_id, original)
                case GivenUp(delivery_id, cable_id, post, reason):
                    self.give_up(delivery_id, cable_id, post, reason)
                case ReceivedOversize(cable_id, topic, head, detail):
                    self.receive_oversize(cable_id, topic, head, detail)
                case Identified(cable_id, message_id, heading):
                    self._db.execute(
                        "INSERT OR IGNORE INTO identities (cable_id, message_id, heading) VALUES (?, ?, ?)",
                        (cable_id, message_id, heading),
                    )
                case PropertiesKept(cable_id, kept):
                    self._db.execute(
                        "INSERT OR IGNORE INTO properties (cable_id, kept) VALUES (?, ?)", (cable_id, kept)
                    )
                case Rerouted():
                    self._rerouted(write)
                case ServiceSent(post, channel, serial, cause, text, size, at):
                    self._db.execute(
                        "INSERT INTO services (post, channel, serial, cause, text, bytes, sent_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (post, channel, serial, cause, text, size, at),
                    )

    def _routed(self, write: Routed) -> None:
        """A routing decision, written as given; a message id routed before is a bug of the core's."""
        ids = self.route(
            write.cable_id,
            write.message_id,
            write.deliveries,
            write.intercepts,
            set_aside=write.set_aside,
            first_delivery=write.first_delivery,
            trunk_ris=write.trunk_ris,
            received=write.received,
        )
        if ids is None:
            raise JournalError(f"message {write.message_id} was routed before")

    def _rerouted(self, write: Rerouted) -> None:
        """A waiting trunk copy sent by other paths (`Rerouted`): the delivery moved, new ones for more."""
        self._write_pending()  # the delivery may have been decided in this very transaction
        (post, ris), *others = write.paths
        self._db.execute(
            "UPDATE deliveries SET post = ?, ris = ?, via = ? WHERE id = ?",
            (post, " ".join(ris), f"trunk {post}", write.delivery_id),
        )
        self._db.executemany(
            "INSERT INTO deliveries (id, cable_id, post, precedence, rank, role, niact, via, needs_ack,"
            " queued_at, state, delivered_at, ris) SELECT ?, cable_id, ?, precedence, rank, role, niact,"
            " ?, needs_ack, queued_at, 'queued', NULL, ? FROM deliveries WHERE id = ?",
            [
                (write.first_new + number, post, f"trunk {post}", " ".join(ris), write.delivery_id)
                for number, (post, ris) in enumerate(others)
            ],
        )

    def receive(self, topic: str, raw: bytes, cable_id: int | None = None) -> int:
        """Commit a cable as received, before anything else happens to it; return its journal id."""
        if cable_id is None:  # not the switch's (it numbers its cables): the next, as SQLite would
            cable_id = self._next_id("cables")
        self._db.execute(
            "INSERT INTO cables (id, received_at, topic, raw, status) VALUES (?, ?, ?, ?, 'received')",
            (cable_id, self._now(), topic, raw),
        )
        return cable_id

    def receive_oversize(self, cable_id: int, topic: str, head: bytes, detail: dict[str, object]) -> None:
        """Commit a cable over the size limit as received and rejected at once: its head, not its body."""
        self._db.execute(
            "INSERT INTO cables (id, received_at, topic, raw, status, detail)"
            " VALUES (?, ?, ?, ?, 'rejected', ?)",
            (cable_id, self._now(), topic, head, json.dumps(detail)),
        )

    def reject(self, cable_id: int, error: dict[str, object]) -> None:
        """Record why a cable could not be read."""
        self._db.execute(
            "UPDATE cables SET status = 'rejected', detail = ? WHERE id = ?", (json.dumps(error), cable_id)
        )

    def mark_duplicate(self, cable_id: int, message_id: str, original: int) -> None:
        """Record a cable as a duplicate of one already routed (not delivered twice)."""
        self._db.execute(
            "UPDATE cables SET status = 'duplicate', message_id = ?, detail = ? WHERE id = ?",
            (message_id, json.dumps({"original": original}), cable_id),
        )

    def route(  # noqa: PLR0913 (the decision's parts, two by name)
        self,
        cable_id: int,
        message_id: str,
        deliveries: tuple[Delivery, ...],
        intercepts: tuple[Intercept, ...],
        *,
        set_aside: tuple[tuple[str, str], ...] = (),
        first_delivery: int | None = None,
        trunk_ris: tuple[tuple[str, ...], ...] = (),
        received: str | None = None,
    ) -> list[int] | None:
        """Record a routing decision in one transaction; return the new deliveries' ids in order.

        ``set_aside`` names the addressees not delivered to and why (zen, pouch, exempted, originator).
        ``first_delivery``: the id of the first delivery, the others following it; the database's
        next ids when not given. ``trunk_ris`` and ``received``: a centre's (`Routed`).

        None when ``message_id`` was routed before (a duplicate): nothing is recorded then.
        """
        now = self._now()
        ids: list[int] = []
        # Inside the switch's burst a transaction is open already: joined without making another.
        with _JOINED if self._depth else self.transaction():
            try:
                self._db.execute(
                    "UPDATE cables SET status = 'routed', message_id = ?, ris = ? WHERE id = ?",
                    (message_id, received, cable_id),
                )
            except self.dialect.integrity:  # the unique index of routed message ids
                return None
            if first_delivery is not None:
                # Numbered by the switch: written with the transaction's other rows (`_write_pending`).
                ids = list(range(first_delivery, first_delivery + len(deliveries)))
                rows = _delivery_rows(cable_id, deliveries, first_delivery, now, trunk_ris)
                self._queued.update(zip(ids, rows, strict=True))
            elif deliveries:
                # One writer, one transaction: numbered on from the last, written at once.
                first = self._next_id("deliveries")
                ids = list(range(first, first + len(deliveries)))
                self._db.executemany(
                    INSERT_DELIVERY, _delivery_rows(cable_id, deliveries, first, now, trunk_ris)
                )
            if intercepts:
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

    def transmitting(self, row: TransmissionRow) -> None:
        """A transmission began on the post's line."""
        self._write_pending()  # its delivery first
        self._db.execute(
            "INSERT INTO transmissions (delivery_id, post, channel, serial, cause, bytes, started_at,"
            " ended_at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 'sending')",
            row[:-1],
        )

    def sent_at_once(self, row: TransmissionRow) -> None:
        """A transmission that began and ended at once (an unthrottled line): delivered.

        Thousands a second on unthrottled lines: inside a transaction they are written together,
        and a delivery decided in the same transaction is written as delivered in the first place.
        """
        delivery_id, ended = row.delivery_id, row.ends
        queued = self._queued.get(delivery_id)
        if queued is None:
            self._delivered.append((ended, delivery_id))
        elif queued[DELIVERY_STATE] == "queued":  # the first complete transmission is the delivery
            queued[DELIVERY_STATE : DELIVERY_STATE + 2] = ("delivered", ended)
        self._sent.append(row)
        if not self._depth:
            self._write_pending()

    def transmitted(self, post: str, serial: int, delivery_id: int, outcome: Outcome, ended: float) -> None:
        """The transmission being sent to ``post`` under ``serial`` ended: delivered, busted or cut."""
        self._write_pending()
        with self.transaction():
            # A line sends one transmission at a time: the one 'sending' under its serial.
            self._db.execute(
                "UPDATE transmissions SET outcome = ?, ended_at = ?"
                " WHERE post = ? AND serial = ? AND outcome = 'sending'",
                (outcome, ended, post, serial),
            )
            if outcome == "delivered":
                # The first complete transmission is the delivery; a repeat (ZFX, timeout) keeps it.
                self._db.execute(MARK_DELIVERED, (ended, delivery_id))

    def interrupted(self) -> list[tuple[str, str]]:
        """Transmissions in progress when the router stopped: cut, since the line went with it.

        Returns each one's post and transmission id (``HFR0042``): what the switch cancels by ZFR.
        """
        self._write_pending()
        cut = [
            (str(post), f"{channel}{int(serial):04d}")
            for post, channel, serial in self._db.execute(
                "SELECT post, channel, serial FROM transmissions WHERE outcome = 'sending' ORDER BY id"
            )
        ]
        self._db.execute(
            "UPDATE transmissions SET outcome = 'cut', ended_at = started_at WHERE outcome = 'sending'"
        )
        return cut

    def give_up(self, delivery_id: int, cable_id: int, post: str, reason: str) -> None:
        """A delivery the switch gives up sending: ``intercepted``, and a row of the intercepts table."""
        self._write_pending()
        with self.transaction():
            self._db.execute(
                "UPDATE deliveries SET state = 'intercepted' WHERE id = ? AND state != 'acknowledged'",
                (delivery_id,),
            )
            self._db.execute(
                "INSERT INTO intercepts (cable_id, addressee, reason, post) VALUES (?, ?, ?, ?)",
                (cable_id, post, reason, post),
            )

    def log(self, event: str, fields: dict[str, object] | str) -> None:
        """Append an event of the routing log (its fields, or their JSON already made)."""
        text = fields if isinstance(fields, str) else json.dumps(fields, default=str)
        self._logged.append((self._now(), event, text))
        if not self._depth:
            self._write_pending()
