"""The journal's read queries: the SQL that the report and the trace read the journal with, beside it.

Every function takes an open connection and returns plain values (named tuples). `read_only` opens a
journal for them without writing to it: the router may be writing it at the same time (WAL). A
``postgresql://`` URL is read the same way, its SQL translated (`router.journal.postgres`).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from router.journal.dialect import ERRORS, Connection, is_url
from router.journal.statements import COPIES, TABLE_EXISTS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


__all__ = ["ERRORS", "read_only"]

UNREADABLE: tuple[type[Exception], ...] = (*ERRORS, ValueError)
"""What reading a journal may raise: its database's errors, or a value this router never writes."""


def read_only(journal: Path | str) -> closing[Connection]:
    """The journal opened read-only, closed at the end of a ``with`` block."""
    if is_url(journal):
        from router.journal.postgres import read_only as postgres_read_only  # noqa: PLC0415 (psycopg)

        return closing(postgres_read_only(str(journal)))
    uri = Path(journal).resolve().as_uri() + "?mode=ro"
    db: Connection = sqlite3.connect(uri, uri=True)
    return closing(db)


# --- the whole journal: speed of service


class DeliveryRow(NamedTuple):
    """One delivery joined to its cable: what its speed of service is made of."""

    post: str
    precedence: str
    state: str
    received_at: float
    """When the cable reached the switch (cables.received_at): the writer's end."""
    queued_at: float
    delivered_at: float | None
    """When a transmission of it completed on the post's line: the reader's end."""
    acknowledged_at: float | None
    cable_id: int = 0
    """The cable's journal id: where its writer's time is found."""


class TransmissionRow(NamedTuple):
    """One attempt to send a delivery down its post's line."""

    post: str
    cause: str
    outcome: str
    started_at: float
    ended_at: float | None


class EventRow(NamedTuple):
    """One entry of the routing log, its JSON fields decoded."""

    event: str
    fields: Mapping[str, object]


def deliveries(db: Connection) -> list[DeliveryRow]:
    """Every delivery with its cable's arrival, in the order they were made."""
    rows = db.execute(
        "SELECT d.post, d.precedence, d.state, c.received_at, d.queued_at, d.delivered_at, d.acknowledged_at,"
        " d.cable_id FROM deliveries d JOIN cables c ON c.id = d.cable_id ORDER BY d.id"
    )
    return list(map(DeliveryRow._make, rows.fetchall()))


def delivered_cables(db: Connection) -> Iterator[tuple[int, bytes, float]]:
    """Each cable with copies: journal id, raw bytes and arrival, one at a time (a journal may be large)."""
    rows = db.execute(
        "SELECT c.id, c.raw, c.received_at FROM cables c"
        " WHERE EXISTS (SELECT 1 FROM deliveries d WHERE d.cable_id = c.id) ORDER BY c.id"
    )
    for cable_id, raw, received_at in rows:
        yield int(cable_id), bytes(raw), float(received_at)


def transmissions(db: Connection) -> list[TransmissionRow]:
    """Every transmission of every delivery."""
    rows = db.execute("SELECT post, cause, outcome, started_at, ended_at FROM transmissions")
    return list(map(TransmissionRow._make, rows.fetchall()))


def reported_events(db: Connection) -> list[EventRow]:
    """The routing log's entries a report counts: copies a post filed as duplicates, and gaps."""
    rows = db.execute(
        "SELECT event, fields FROM events WHERE event IN ('duplicate-filed', 'gap', 'gap-cancelled')"
    )
    return [EventRow(str(event), _json_object(text)) for event, text in rows.fetchall()]


def cables_by_status(db: Connection) -> dict[str, int]:
    """How many cables have each status: routed, duplicate, rejected, received."""
    rows = db.execute("SELECT status, count(*) FROM cables GROUP BY status")
    return {str(status): int(number) for status, number in rows.fetchall()}


def intercept_count(db: Connection) -> int:
    """How many addressees were held for an operator."""
    return int(db.execute("SELECT count(*) FROM intercepts").fetchone()[0])


def _json_object(text: str) -> Mapping[str, object]:
    """An event's fields: a JSON object, else nothing (a field the router never writes)."""
    try:
        fields = json.loads(text)
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}


# --- a network's centres: what their journals hold of each hop


class ArrivalRow(NamedTuple):
    """One arrival at a centre: off its intake (its originating centre) or off a trunk."""

    id: int
    topic: str
    """``centres/<NAME>/in/...`` off the intake; ``trunks/<NAME>/from/<SENDER>`` off a trunk."""
    received_at: float
    message_id: str | None
    status: str
    ris: str | None
    """Off a trunk: the routing line (FL2) received, its RIs space-separated; None off the intake."""


class OnwardRow(NamedTuple):
    """One copy a centre sent on, to a post or down a trunk, with the transmission that delivered it."""

    id: int
    cable_id: int
    post: str
    """The post's RI; for a trunk copy, the neighbouring centre's name."""
    precedence: str
    state: str
    queued_at: float
    delivered_at: float | None
    acknowledged_at: float | None
    ris: str | None
    """A trunk copy's FL2 RIs, space-separated; None for a post's copy."""
    started_at: float | None
    """The first transmission that delivered it: when it started and ended (None: none did yet)."""
    ended_at: float | None
    busts: int
    """Its transmissions busted by higher precedence traffic (§424)."""


def arrivals(db: Connection) -> list[ArrivalRow]:
    """Every cable the centre received, without its bytes, in the order received."""
    rows = db.execute("SELECT id, topic, received_at, message_id, status, ris FROM cables ORDER BY id")
    return list(map(ArrivalRow._make, rows.fetchall()))


def onward_copies(db: Connection) -> list[OnwardRow]:
    """Every copy with its first delivering transmission and its busts, in the order they were made.

    The transmissions are grouped once each (no index on ``delivery_id``: a subquery per copy
    would scan them per copy); SQLite takes a bare column of a ``min()`` group from its row.
    """
    rows = db.execute(COPIES)
    return list(map(OnwardRow._make, rows.fetchall()))


def intake_cables(db: Connection) -> Iterator[tuple[int, bytes, float]]:
    """Each cable off the intake with copies (journal id, raw bytes, arrival): where writers' times are."""
    rows = db.execute(
        "SELECT c.id, c.raw, c.received_at FROM cables c WHERE c.ris IS NULL"
        " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.cable_id = c.id) ORDER BY c.id"
    )
    for cable_id, raw, received_at in rows:
        yield int(cable_id), bytes(raw), float(received_at)


# --- one cable: its trace


class CableRow(NamedTuple):
    """One arrival of a cable at the switch, as the journal filed it."""

    message_id: str | None
    topic: str
    received_at: float
    status: str
    detail: dict[str, Any] | None
    """Why it was rejected (line, column, field, reason), or which arrival it duplicates."""


class CopyRow(NamedTuple):
    """One delivery of a cable: a post's copy."""

    id: int
    post: str
    precedence: str
    role: str
    niact: bool
    via: str
    state: str
    queued_at: float
    delivered_at: float | None
    acknowledged_at: float | None


class SentRow(NamedTuple):
    """One transmission of a copy down its post's line."""

    channel: str
    serial: int
    cause: str
    outcome: str
    started_at: float
    ended_at: float | None
    characters: int
    line: str = ""
    """The post whose line carried it: the copy's own, or its alternate's (an alternative route, §307)."""


def cable_ids(db: Connection, key: str) -> list[int]:
    """The journal ids of the arrivals ``key`` names: a journal id (digits), else a message id."""
    if key.isdigit():
        rows = db.execute("SELECT id FROM cables WHERE id = ?", (int(key),))
    elif _has_table(db, "identities"):
        # A message id, or the identification the switch gave a cable that had none (§116).
        rows = db.execute(
            "SELECT id FROM cables WHERE message_id = ?"
            " UNION SELECT cable_id FROM identities WHERE message_id = ? ORDER BY 1",
            (key, key),
        )
    else:
        rows = db.execute("SELECT id FROM cables WHERE message_id = ? ORDER BY id", (key,))
    return [int(cable_id) for (cable_id,) in rows]


def identification(db: Connection, cable_id: int) -> str | None:
    """The message identification the switch gave the cable (it had no FL3, §116), if it gave one."""
    if not _has_table(db, "identities"):  # a journal written before the table was
        return None
    row = db.execute("SELECT message_id FROM identities WHERE cable_id = ?", (cable_id,)).fetchone()
    return str(row[0]) if row else None


def cable(db: Connection, cable_id: int) -> CableRow:
    """The arrival filed as ``cable_id``."""
    message_id, topic, received_at, status, detail = db.execute(
        "SELECT message_id, topic, received_at, status, detail FROM cables WHERE id = ?", (cable_id,)
    ).fetchone()
    return CableRow(message_id, topic, received_at, status, json.loads(detail) if detail else None)


def copies(db: Connection, cable_id: int) -> list[CopyRow]:
    """The cable's copies, highest precedence first, then by post."""
    rows = db.execute(
        "SELECT id, post, precedence, role, niact, via, state, queued_at, delivered_at, acknowledged_at"
        " FROM deliveries WHERE cable_id = ? ORDER BY rank DESC, post",
        (cable_id,),
    ).fetchall()
    return [
        CopyRow(delivery_id, post, precedence, role, bool(niact), via, state, queued, delivered, acknowledged)
        for delivery_id, post, precedence, role, niact, via, state, queued, delivered, acknowledged in rows
    ]


def sent(db: Connection, delivery_id: int) -> list[SentRow]:
    """The transmissions of one copy, in the order they started."""
    rows = db.execute(
        "SELECT channel, serial, cause, outcome, started_at, ended_at, bytes, post FROM transmissions"
        " WHERE delivery_id = ? ORDER BY id",
        (delivery_id,),
    )
    return list(map(SentRow._make, rows))


def intercepts(db: Connection, cable_id: int) -> list[tuple[str, str, str | None]]:
    """The cable's intercepts: (addressee, reason, post), in the order they were made."""
    rows = db.execute(
        "SELECT addressee, reason, post FROM intercepts WHERE cable_id = ? ORDER BY id", (cable_id,)
    )
    return [(addressee, reason, post) for addressee, reason, post in rows]


def set_aside(db: Connection, cable_id: int) -> list[tuple[str, str]]:
    """The cable's addressees the network does not deliver to: (addressee, reason)."""
    if not _has_table(db, "set_aside"):  # a journal written before the table was
        return []
    rows = db.execute("SELECT addressee, reason FROM set_aside WHERE cable_id = ? ORDER BY id", (cable_id,))
    return [(addressee, reason) for addressee, reason in rows]


def _has_table(db: Connection, name: str) -> bool:
    found = db.execute(TABLE_EXISTS, (name,))
    return found.fetchone() is not None
