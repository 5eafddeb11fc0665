"""What the switch's core reads and what it decides: journal reads in; writes, sends and log entries out.

The core never writes, publishes or logs: each decision is a value appended to `Actions`, and the
edge (`router.switch.service`) performs them: the writes right after each decision, inside the
burst's transaction; the log entries to the process's log; the sends once the burst is committed.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, NamedTuple, Protocol

from router.bus import topics
from router.journal.writes import Logged, Write

if TYPE_CHECKING:
    from router.journal.reads import Consigned

Send = tuple[str, bytes, int, bool, bytes]
"""A publish: topic, payload, QoS, retain, MQTT 5 properties (a plain tuple: one per copy, made by
the thousand)."""

_ENTRY_JSON = json.JSONEncoder(default=str).encode
"""An entry's JSON, values JSON lacks as text; one encoder for all (`json.dumps` makes one a call)."""
DETAIL_EVENTS = frozenset({"received", "queued", "delivered", "acknowledged"})
"""A cable's arrival and each copy's own events: many a cable, and their facts are in the journal's
tables, so written as events, printed and published only when `log_copies` is set."""


class JournalReads(Protocol):
    """What the core may ask the journal: reading is input, not doing."""

    def cable(self, cable_id: int) -> tuple[bytes, str | None]:
        """The cable as received, and the message id it was routed under."""

    def identification(self, cable_id: int) -> tuple[bytes, str] | None:
        """The FL3/FL4 lines and message id the switch gave a cable without FL3 (§116)."""

    def kept_properties(self, cable_id: int) -> bytes:
        """The MQTT 5 properties a cable's copies carry on (none: empty)."""

    def is_duplicate(self, message_id: str) -> int | None:
        """The journal id of a cable already routed under ``message_id``."""

    def transmission(self, post: str, channel: str, serial: int) -> tuple[int, str] | None:
        """The delivery last sent to ``post`` under a channel serial, and how it ended."""

    def is_open(self, delivery_id: int) -> bool:
        """Whether a delivery still waits for its post's receipt."""

    def consignment(self, delivery_id: int) -> Consigned:
        """A delivery's cable and precedence."""

    def given_up(self, delivery_id: int) -> bool:
        """Whether the switch gave up on a delivery for want of a receipt (intercepted, no-receipt)."""

    def copy_of(self, message_id: str, post: str) -> int | None:
        """The delivery that carried ``message_id`` to ``post``."""

    def waiting(self, post: str, besides: set[int], limit: int) -> list[tuple[Consigned, float]]:
        """Up to ``limit`` deliveries queued for ``post`` besides those given, best first."""

    def received_before(self, topic: str, raw: bytes) -> int | None:
        """The journal id of a cable received before on ``topic`` with exactly these bytes."""


class Timing(NamedTuple):
    """A copy delivered: its precedence, and network seconds from queued and from its transmission's start."""

    precedence: str
    in_switch: float
    transmission: float


class Actions:
    """What the core has decided and the edge has not done yet, and the routing log's counts."""

    __slots__ = ("centre", "counts", "log_copies", "logs", "publish_log", "sends", "timings", "writes")

    def __init__(
        self, *, log_copies: bool, publish_log: bool, centre: str | None = None, timings: bool = False
    ) -> None:
        self.centre = centre
        """The centre of a network this switch is (`router run --centre`): named in every log entry,
        as the centres share `router/log`; None for the single switch, whose entries are as before."""
        self.log_copies = log_copies
        """Also log and publish each copy's events (queued, delivered, acknowledged)."""
        self.publish_log = publish_log
        self.counts: Counter[str] = Counter()
        """Routing-log events since the start, by name: what the status reports rates from."""
        self.writes: list[Write] = []
        """For the journal, in order: applied right after the decision that made them."""
        self.sends: list[Send] = []
        """For the broker, in order: published once the burst is committed."""
        self.logs: list[tuple[str, dict[str, object], str]] = []
        """For the process's log: each entry's name, fields and JSON."""
        self.timings: list[Timing] | None = [] if timings else None
        """Each copy delivered, timed, for the metrics (`router run --metrics-port`); None: not kept."""

    def send(self, topic: str, payload: bytes, properties: bytes = b"") -> None:
        """Publish ``payload`` on ``topic`` (QoS 1, not retained) once the burst is committed.

        ``properties``: MQTT 5 properties, encoded (a copy's: `router.bus.properties`).
        """
        self.sends.append((topic, payload, 1, False, properties))

    def clear_retained(self, topic: str) -> None:
        """Clear the retained message on ``topic`` (an empty retained payload) once the burst is committed."""
        self.sends.append((topic, b"", 1, True, b""))

    def event(self, event: str, **fields: object) -> None:
        """One entry of the routing log: the journal's events, the log and `router/log`.

        Each copy's own events (queued, delivered, acknowledged) are only counted unless
        `log_copies` is set: at thousands a second they would cost more than the switching, and
        the journal's deliveries and transmissions tables record each copy's times anyway.
        """
        self.counts[event] += 1
        if event in DETAIL_EVENTS and not self.log_copies:
            return  # the journal's cables, deliveries and transmissions hold these facts already
        # One JSON text for the journal's events and `router/log` alike (the name in it as well).
        if self.centre is not None:
            fields = {"centre": self.centre, **fields}
        entry = _ENTRY_JSON({"event": event, **fields})
        self.writes.append(Logged(event, entry))
        self.logs.append((event, fields, entry))
        if self.publish_log:
            self.sends.append((topics.LOG, entry.encode(), 0, False, b""))
