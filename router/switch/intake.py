"""Cables off the intake: journalled, then rejected, filed as duplicates, or routed and queued.

The ids are the switch's own: one writer per journal, so the next cable and the next deliveries
are numbered on from the journal's last ids when the switch starts (`Intake.last_cable`,
`Intake.last_delivery`), and the journal writes them as given. The core knows a delivery's id
the moment it decides it, without waiting for the database to hand one back.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from router.bus import topics
from router.bus.properties import kept_on_copies
from router.cable.models import Precedence
from router.cable.parser import parse_cable
from router.errors import CableParseError
from router.journal.writes import Duplicate, PropertiesKept, Received, ReceivedOversize, Rejected, Routed
from router.network.channel import ZFG, copy_size
from router.network.line import Consignment
from router.routing.decide import Intercept, RoutingDecision, decide

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from router.cable.models import Cable
    from router.routing.table import RoutingTable
    from router.switch.actions import Actions, JournalReads
    from router.switch.cables import RecentCables
    from router.switch.lines import Lines

_made = tuple.__new__  # a named tuple without its Python-level constructor (`router.routing.decide`)

OVERSIZE_HEAD = 512
"""Bytes of a cable over the size limit that the journal keeps: its header, to tell what it was."""
MAX_FANOUT_BYTES = 64 * 1024 * 1024
"""Bytes the copies of one cable may put on the bus: 2.7 times the corpus's most (00STATE228772,
267 posts x 90 KB = 24 MB); an 80 KB cable to 4,990 relayed RIs would put 400 MB."""
MAX_FANOUT_TOTAL = 256 * 1024 * 1024
"""Bytes the copies of the cables just routed (those in `RecentCables`) may put on the bus together."""
INTERCEPTS_TOLD = 128
"""Intercepts of one cable told one by one (`Intake._tell_intercepts`): more than any real cable has
(the corpus's most addressee lines, 106)."""
COPY_HEADING_MAX = copy_size("RUEHABC", Precedence.ECP, b"", suspect=True) + len(f" {ZFG}")
"""The most a copy adds to its message part: FL1, the bell and FL2 of an ECP to a seven-letter RI,
the ZFD pilot, and ZFG at the end of FL5 (`router.network.channel.copy_size`)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A cable read, and decided when it could be, ahead of the switch: the pure part of its handling.

    The edge prepares big cables on a thread of their own (`router.switch.service`), so that the
    switch goes on with the traffic behind them meanwhile: a FLASH does not wait for a megabyte of
    addressee lines to be read.
    """

    read: Cable | CableParseError
    """The cable, or why it could not be read."""
    decision: RoutingDecision | None = None
    """Who gets it, decided with the routing table (before the fan-out budgets, which are the switch's)."""


def read(raw: bytes, *, max_bytes: int) -> Cable | CableParseError:
    """The cable, as the switch reads it (no text fields), or why it cannot be read."""
    try:
        return parse_cable(raw, max_bytes=max_bytes, text_fields=False)
    except CableParseError as error:
        return error


def prepare(raw: bytes, table: RoutingTable, *, max_bytes: int) -> Prepared:
    """Read and decide a cable: pure, so that it can be done on any thread, before the switch takes it."""
    cable = read(raw, max_bytes=max_bytes)
    if isinstance(cable, CableParseError):
        return Prepared(cable)
    return Prepared(cable, decide(cable, table))


class Intake:
    """The switch's handling of each cable, from its arrival to its copies queued on the lines."""

    def __init__(  # noqa: PLR0913 (the switch's parts)
        self,
        table: RoutingTable,
        journal: JournalReads,
        cables: RecentCables,
        lines: Lines,
        actions: Actions,
        *,
        max_bytes: int,
        last_ids: tuple[int, int],
        max_fanout_bytes: int = MAX_FANOUT_BYTES,
        max_fanout_total: int = MAX_FANOUT_TOTAL,
    ) -> None:
        self.table = table
        self.max_bytes = max_bytes
        self.max_fanout_bytes = max_fanout_bytes
        """Bytes of copies one cable may have: past them its other addressees are intercepted."""
        self.max_fanout_total = max_fanout_total
        """Bytes of copies the cables just routed may have together (`RecentCables.fanout`)."""
        self.last_cable, self.last_delivery = last_ids
        """The last journal ids given to a cable and to a delivery."""
        self._journal = journal
        self._cables = cables
        self._lines = lines
        self._actions = actions
        self.originate: (
            Callable[[RoutingDecision], tuple[RoutingDecision, tuple[tuple[str, ...], ...]]] | None
        )
        self.originate = None
        """At a switching centre: the decision as the originating centre sends it, one delivery per
        path out and each trunk delivery's RIs (`router.switch.centre.Centre.originate`)."""

    def receive(
        self, topic: str, raw: bytes, now: float, prepared: Prepared | None = None, properties: bytes = b""
    ) -> None:
        """A cable off the intake: journalled first, then parsed and routed (``prepared``: already read).

        ``properties``: its MQTT 5 properties; those its copies carry on are journalled with it.
        """
        cable_id = self.journal_first(topic, raw)
        if cable_id is not None:
            kept = kept_on_copies(properties) if properties else b""
            if kept:
                self._actions.writes.append(PropertiesKept(cable_id, kept))
            self.process(cable_id, topic, raw, now, prepared, kept=kept)

    def journal_first(self, topic: str, raw: bytes) -> int | None:
        """Journal what came (a cable, or a centre's trunk transmission) before anything; its journal id.

        The broker hears of it after the commit: a crash in between makes the broker deliver it
        again, and the duplicate check keeps it from going twice. None: over the size limit, rejected.
        """
        self.last_cable += 1
        cable_id = self.last_cable
        if len(raw) > self.max_bytes:
            self._reject_oversize(cable_id, topic, raw)
            return None
        self._actions.writes.append(Received(cable_id, topic, raw))
        self._actions.event("received", journal_id=cable_id, topic=topic, size=len(raw))
        return cable_id

    def _reject_oversize(self, cable_id: int, topic: str, raw: bytes) -> None:
        """A cable over the size limit, rejected before its body is journalled: its head and digest are.

        Journalled whole, every oversized cable would cost the journal its size (a 10 MB one, 10 MB)
        for nothing the switch can use; the head names it, the digest identifies it.
        """
        reason = f"cable of {len(raw)} bytes is over the limit of {self.max_bytes}"
        detail = {
            **CableParseError(reason).detail(),
            "size": len(raw),
            "limit": self.max_bytes,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "head": min(len(raw), OVERSIZE_HEAD),
            "journal_id": cable_id,
        }
        self._actions.writes.append(ReceivedOversize(cable_id, topic, raw[:OVERSIZE_HEAD], detail))
        self._actions.event("received", journal_id=cable_id, topic=topic, size=len(raw))
        self._rejected(topic, detail)

    def process(  # noqa: PLR0913 (the cable, as it came)
        self,
        cable_id: int,
        topic: str,
        raw: bytes,
        now: float,
        prepared: Prepared | None = None,
        *,
        kept: bytes = b"",
    ) -> None:
        """Read a cable (unless ``prepared``), then reject it, file it as a duplicate, or route it.

        ``kept``: the MQTT 5 properties its copies carry on (`router.bus.properties`).
        """
        if prepared is None:
            prepared = Prepared(read(raw, max_bytes=self.max_bytes))
        if isinstance(prepared.read, CableParseError):
            self.reject(cable_id, topic, prepared.read)
            return
        self._route(cable_id, prepared.read, raw, now, prepared.decision, kept=kept)

    def reject(self, cable_id: int, topic: str, error: CableParseError) -> None:
        """What came cannot be read: journalled as rejected, and told with the line, column and field."""
        detail = {**error.detail(), "journal_id": cable_id}
        self._actions.writes.append(Rejected(cable_id, detail))
        self._rejected(topic, detail)

    def _within_budget(self, cable_id: int, decision: RoutingDecision, copy_bytes: int) -> RoutingDecision:
        """The decision with its copies held to the fan-out budgets; those past them are intercepted.

        A cable's copies may put at most `max_fanout_bytes` on the bus, and the cables just routed
        at most `max_fanout_total` together: past that a cable is not amplified. The deliveries come
        best first (highest precedence, action before info, as written), so those within the budget
        are kept, and the rest become intercepts (`fanout-budget`) for an operator, like any copy
        the switch cannot send: the addressees the budget allows still get the cable at once.
        """
        cables = self._cables
        room = max(0, min(self.max_fanout_bytes, self.max_fanout_total - cables.fanout))
        allowed = room // copy_bytes
        deliveries = decision.deliveries
        if len(deliveries) <= allowed:
            cables.charge(cable_id, len(deliveries) * copy_bytes)
            return decision
        cables.charge(cable_id, allowed * copy_bytes)
        over = tuple(Intercept(d.post, "fanout-budget", d.lines, d.post) for d in deliveries[allowed:])
        self._actions.event(
            "fanout-budget",
            journal_id=cable_id,
            copies=len(deliveries),
            allowed=allowed,
            copy_bytes=copy_bytes,
            budget=self.max_fanout_bytes,
            held=cables.fanout,
        )
        return replace(decision, deliveries=deliveries[:allowed], intercepts=(*decision.intercepts, *over))

    def _tell_intercepts(self, cable_id: int, message_id: str, intercepts: tuple[Intercept, ...]) -> None:
        """Each intercept on `cables/intercept` and in the log, up to `INTERCEPTS_TOLD`; the rest summed.

        The journal keeps every one (`Routed`); the bus and the log are told of the first, and of
        how many more for each reason in one ``intercepts-more``: a cable with thousands of made-up
        addressees costs the operator's position one message more, not thousands.
        """
        actions = self._actions
        for intercept in intercepts[:INTERCEPTS_TOLD]:
            record = {
                "message_id": message_id,
                "journal_id": cable_id,
                "addressee": intercept.addressee,
                "reason": intercept.reason,
                "post": intercept.post,
            }
            actions.send(topics.INTERCEPTED, json.dumps(record).encode())
            actions.event("intercepted", **record)
        rest = intercepts[INTERCEPTS_TOLD:]
        if rest:
            reasons = Counter(intercept.reason for intercept in rest)
            more = {
                "message_id": message_id,
                "journal_id": cable_id,
                "more": len(rest),
                "reasons": dict(reasons),
            }
            actions.send(topics.INTERCEPTED, json.dumps(more).encode())
            actions.event("intercepts-more", **more)

    def _rejected(self, topic: str, detail: Mapping[str, object]) -> None:
        """Tell of a rejection: on `cables/rejected` and in the routing log."""
        self._actions.send(topics.REJECTED, json.dumps(detail).encode())
        self._actions.event("rejected", topic=topic, **detail)

    def _route(  # noqa: PLR0913 (the cable, as read)
        self,
        cable_id: int,
        cable: Cable,
        raw: bytes,
        now: float,
        decided: RoutingDecision | None,
        *,
        kept: bytes = b"",
    ) -> None:
        actions = self._actions
        original = self._journal.is_duplicate(cable.message_id)
        if original is not None:
            # A message id already routed: filed as a duplicate, not sent twice.
            actions.writes.append(Duplicate(cable_id, cable.message_id, original))
            actions.event("duplicate", message_id=cable.message_id, journal_id=cable_id, original=original)
            return
        part, _ = self._cables.remember(cable_id, raw, cable.message_id, cable, properties=kept)
        # Decided after the duplicate check, which spares a duplicate the work, unless decided already.
        decision = decided or decide(cable, self.table)
        trunk_ris: tuple[tuple[str, ...], ...] = ()
        if self.originate is not None:  # a switching centre: one copy per path, not per post (§303a)
            decision, trunk_ris = self.originate(decision)
        decision = self._within_budget(cable_id, decision, len(part) + COPY_HEADING_MAX)
        routed = Routed(
            cable_id,
            cable.message_id,
            self.last_delivery + 1,
            decision.deliveries,
            decision.intercepts,
            decision.set_aside(),
            trunk_ris[: len(decision.deliveries)],
        )
        self.consign(routed, cable.precedence, now)

    def consign(self, routed: Routed, precedence: Precedence | None, now: float) -> None:
        """Journal a routing decision, tell its intercepts, and queue each delivery on its line.

        ``routed`` numbers its deliveries from the next id; at a switching centre its ``trunk_ris``
        are each trunk copy's FL2 (`router.switch.centre`), given to the lines' outlet to write.
        """
        actions = self._actions
        cable_id, message_id, first = routed.cable_id, routed.message_id, routed.first_delivery
        deliveries = routed.deliveries
        self.last_delivery += len(deliveries)
        actions.writes.append(routed)
        actions.event(
            "routed",
            message_id=message_id,
            precedence=precedence.value if precedence else None,
            deliveries=len(deliveries),
            intercepts=len(routed.intercepts),
        )
        self._tell_intercepts(cable_id, message_id, routed.intercepts)
        queue = self._lines.queue
        for delivery_id, ris in enumerate(routed.trunk_ris, start=first):
            if ris:  # a trunk copy's FL2, for its transmission (the single switch has none)
                self._lines.outlet.carry(delivery_id, ris)
        for delivery_id, delivery in enumerate(deliveries, start=first):
            consignment = _made(Consignment, (delivery_id, cable_id, delivery.precedence, delivery.niact))
            queue(delivery.post, consignment, now)
            if actions.log_copies:
                actions.event(
                    "queued",
                    message_id=message_id,
                    post=delivery.post,
                    precedence=delivery.precedence.value,
                    delivery=delivery_id,
                )
        if not actions.log_copies:
            actions.counts["queued"] += len(deliveries)  # the deliveries table has each one
