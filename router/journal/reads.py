"""What the switch reads back from the journal: cables for their copies, deliveries, transmissions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from router.cable.models import Precedence
from router.errors import JournalError
from router.journal.database import Database
from router.journal.statements import LAST_SERIALS, LATEST_TIME, TRANSMISSION_UNDER

if TYPE_CHECKING:
    from collections.abc import Iterator


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


class Consigned(NamedTuple):
    """A delivery's cable and precedence: what queueing it (again) on its post's line needs."""

    delivery_id: int
    cable_id: int
    precedence: Precedence
    niact: bool


class Reads(Database):
    """The switch's reads. Each first writes the rows held back, so that it sees them."""

    def last_ids(self) -> tuple[int, int]:
        """The last cable id and the last delivery id: the switch numbers the next ones from there."""
        self._write_pending()
        cable = self._db.execute("SELECT coalesce(max(id), 0) FROM cables").fetchone()[0]
        delivery = self._db.execute("SELECT coalesce(max(id), 0) FROM deliveries").fetchone()[0]
        return int(cable), int(delivery)

    def latest_time(self) -> float | None:
        """The latest network time the journal holds (None when it holds none): where a restart resumes."""
        self._write_pending()
        row = self._db.execute(LATEST_TIME).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def is_duplicate(self, message_id: str) -> int | None:
        """The journal id of a cable already routed under ``message_id`` off the intake, if there is one."""
        row = self._db.execute(
            "SELECT id FROM cables WHERE message_id = ? AND status = 'routed' AND ris IS NULL", (message_id,)
        ).fetchone()
        return int(row[0]) if row else None

    def relayed_before(self, message_id: str, received: str) -> int | None:
        """At a switching centre: the cable that brought ``message_id`` off a trunk for the same RIs.

        ``received``: the routing line received, its RIs space-separated; the same message for
        other RIs (dual precedence, another path) is not a duplicate (`router.switch.centre`).
        """
        row = self._db.execute(
            "SELECT id FROM cables WHERE message_id = ? AND status = 'routed' AND ris = ?",
            (message_id, received),
        ).fetchone()
        return int(row[0]) if row else None

    def trunk_ris(self, delivery_id: int) -> tuple[str, ...]:
        """The RIs of a trunk copy's FL2 (a centre's delivery to a neighbour); none for a post's copy."""
        self._write_pending()
        row = self._db.execute("SELECT ris FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return tuple(str(row[0]).split()) if row is not None and row[0] else ()

    def transmission(self, post: str, channel: str, serial: int) -> tuple[int, str] | None:
        """The delivery last sent to ``post`` under a channel serial, and how that transmission ended.

        A service message of the switch's under that serial, if it came later, is ``(0, "service")``:
        no delivery.
        """
        self._write_pending()
        row = self._db.execute(
            TRANSMISSION_UNDER,
            (post, channel, serial, post, channel, serial),
        ).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    def last_serials(self) -> dict[str, int]:
        """Each post's last channel serial, a copy's or a service message's: a restart carries on from there.

        A service message goes between transmissions: one sent as a transmission starts came before it.
        """
        self._write_pending()
        rows = self._db.execute(LAST_SERIALS)
        return {str(post): int(serial) for post, serial in rows}

    def open_deliveries(self) -> Iterator[OpenDelivery]:
        """Every delivery not acknowledged yet nor given up, oldest first: the queues after a restart."""
        self._write_pending()
        for row in self._db.execute(
            "SELECT id, cable_id, post, precedence, niact, queued_at, state FROM deliveries"
            " WHERE state != 'acknowledged' AND state != 'intercepted' ORDER BY id"
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

    def waiting(self, post: str, besides: set[int], limit: int) -> list[tuple[Consigned, float]]:
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
            (Consigned(int(row[0]), int(row[1]), Precedence(row[2]), bool(row[3])), float(row[4]))
            for row in rows
            if row[0] not in besides
        ]
        return found[:limit]

    def received_before(self, topic: str, raw: bytes) -> int | None:
        """The journal id of a cable received before on ``topic`` with exactly these bytes.

        Asked only of retained intake (at a subscription, so after each start): no index serves
        it, the cables table is scanned, newest first.
        """
        self._write_pending()
        row = self._db.execute(
            "SELECT id FROM cables WHERE topic = ? AND raw = ? ORDER BY id DESC LIMIT 1", (topic, raw)
        ).fetchone()
        return int(row[0]) if row else None

    def unfinished(self) -> list[tuple[int, str, bytes]]:
        """Cables received but neither routed, rejected nor filed as duplicates, oldest first."""
        rows = self._db.execute("SELECT id, topic, raw FROM cables WHERE status = 'received' ORDER BY id")
        return [(int(row[0]), str(row[1]), bytes(row[2])) for row in rows]

    def is_open(self, delivery_id: int) -> bool:
        """Whether a delivery still waits for its post's acknowledgement (not given up: intercepted)."""
        self._write_pending()
        row = self._db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return row is not None and row[0] not in {"acknowledged", "intercepted"}

    def given_up(self, delivery_id: int) -> bool:
        """Whether the switch gave up on a delivery for want of a receipt (it is ``intercepted``)."""
        self._write_pending()
        row = self._db.execute("SELECT state FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
        return row is not None and row[0] == "intercepted"

    def copy_of(self, message_id: str, post: str) -> int | None:
        """The delivery that carried ``message_id`` to ``post``, if the message was routed there."""
        self._write_pending()
        # By the id it was routed under, or by the one the switch gave it (§116): both are quoted.
        row = self._db.execute(
            "SELECT d.id FROM deliveries d JOIN cables c ON c.id = d.cable_id"
            " WHERE c.message_id = ? AND c.status = 'routed' AND d.post = ?"
            " UNION ALL SELECT d.id FROM deliveries d JOIN identities i ON i.cable_id = d.cable_id"
            " WHERE i.message_id = ? AND d.post = ? LIMIT 1",
            (message_id, post, message_id, post),
        ).fetchone()
        return int(row[0]) if row else None

    def consignment(self, delivery_id: int) -> Consigned:
        """A delivery's cable and precedence: what queueing it again needs."""
        self._write_pending()
        row = self._db.execute(
            "SELECT cable_id, precedence, niact FROM deliveries WHERE id = ?", (delivery_id,)
        ).fetchone()
        if row is None:
            raise JournalError(f"no delivery {delivery_id} in {self.path}")
        return Consigned(delivery_id, int(row[0]), Precedence(row[1]), bool(row[2]))

    def raw(self, cable_id: int) -> bytes:
        """The cable as it was received."""
        return self.cable(cable_id)[0]

    def cable(self, cable_id: int) -> tuple[bytes, str | None]:
        """The cable as it was received, and the message id it was routed under (if it was)."""
        row = self._db.execute("SELECT raw, message_id FROM cables WHERE id = ?", (cable_id,)).fetchone()
        if row is None:
            raise JournalError(f"no cable {cable_id} in {self.path}")
        return bytes(row[0]), row[1]

    def kept_properties(self, cable_id: int) -> bytes:
        """The MQTT 5 properties a cable's copies carry on (none: empty)."""
        row = self._db.execute("SELECT kept FROM properties WHERE cable_id = ?", (cable_id,)).fetchone()
        return bytes(row[0]) if row else b""

    def identification(self, cable_id: int) -> tuple[bytes, str] | None:
        """The FL3/FL4 lines and message id the switch gave a cable without FL3, if it gave it one.

        Identities are written as they come (`Writes.apply`), never held back with the burst's
        other rows: those are not written first here, as they are for the reads that need them,
        which at every cable without FL3 would break a burst's rows into a statement a cable.
        """
        row = self._db.execute(
            "SELECT heading, message_id FROM identities WHERE cable_id = ?", (cable_id,)
        ).fetchone()
        return (bytes(row[0]), str(row[1])) if row else None

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
