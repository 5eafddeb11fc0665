"""The switch's core: its state (lines, receipt deadlines, recent cables, counts) and its decisions.

Given a message or the time, it decides and returns what to do (`Actions`): journal writes,
publishes and log entries. It reads the journal through `JournalReads` and does no I/O: the edge,
`router.switch.service`, applies the writes right after each call and publishes after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from router.bus.topics import Kind, read_topic
from router.cable.models import Precedence
from router.journal.writes import Duplicate
from router.network.channel import SWITCH_RI, ZFR, duplicate_notice, suspected_duplicate
from router.network.line import CHECK_AFTER, DIVERT_AFTER, Consignment
from router.switch.cables import RECENT_BYTES, RecentCables
from router.switch.centre import TRUNK_KINDS, Centre
from router.switch.depths import busiest, lines_depths
from router.switch.intake import MAX_FANOUT_BYTES, MAX_FANOUT_TOTAL, Intake
from router.switch.lines import Lines
from router.switch.outlet import Outlet
from router.switch.posts import Posts
from router.switch.strangers import UNKNOWN_LOGGED, Strangers
from router.switch.trunks import TrunkOutlet

if TYPE_CHECKING:
    from collections.abc import Sequence

    from router.journal.reads import OpenDelivery
    from router.network.line import Line, LineRules
    from router.routing.table import RoutingTable
    from router.switch.actions import Actions, JournalReads
    from router.switch.centre import CentreReads, Place
    from router.switch.intake import Prepared

__all__ = ["UNKNOWN_LOGGED", "Limits", "Switch"]

Again = Literal["retained", "redelivered"]
"""Why the broker may send a cable the switch has journalled already: kept, or sent again (MQTT's DUP)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what the posts (or anyone publishing as them) can make the switch do."""

    receipt_timeout: float = 600.0
    """Network seconds a copy other than FLASH, ECP or NIACT waits for its receipt before it goes again."""
    max_resends: int = 3
    """Resends without a receipt before the copy goes to the intercept position (``no-receipt``)."""
    max_gap_serials: int = 16
    """Serials one ZFX is answered for."""
    requests_burst: int = 20
    """Gap reports and retransmit requests a post may make at once."""
    requests_per_minute: float = 30.0
    """... and per network minute after that."""
    status_lines: int = 50
    """Lines shown one by one in router/status, the busiest; the others are summed."""
    recent_cable_bytes: int = RECENT_BYTES
    """Bytes of the cables just routed kept in memory for their copies."""
    max_fanout_bytes: int = MAX_FANOUT_BYTES
    """Bytes the copies of one cable may put on the bus; past them its addressees are intercepted."""
    max_fanout_total_bytes: int = MAX_FANOUT_TOTAL
    """Bytes the copies of the cables just routed may put on the bus together."""
    channel_check_after: float = CHECK_AFTER
    """Network seconds without traffic after which a line gets a channel check, ZID (§412b)."""
    divert_after: float = DIVERT_AFTER
    """Network seconds a post's line is down before its FLASH and IMMEDIATE go by its alternate (§307)."""


class Switch:
    """One switch's decisions; each method returns the `Actions` it added to (the same object)."""

    def __init__(  # noqa: PLR0913 (keyword-only options)
        self,
        table: RoutingTable,
        journal: JournalReads,
        actions: Actions,
        *,
        rules: LineRules,
        max_bytes: int,
        ack_timeout: float,
        serials: dict[str, int],
        last_ids: tuple[int, int],
        limits: Limits | None = None,
        centre: Place | None = None,
    ) -> None:
        """``centre``: the switch is that centre of a network (`router.switch.centre`); None: one switch."""
        self.actions = actions
        self.table = table
        limits = limits or Limits()
        self.limits = limits
        self.cables = cables = RecentCables(journal, actions, max_bytes=limits.recent_cable_bytes)
        self._journal = journal
        reads = cast("CentreReads", journal)  # the edge's `JournalView` reads what a centre asks too
        outlet = Outlet(table) if centre is None else TrunkOutlet(table, centre.name, centre.network, reads)
        self.lines = Lines(
            table,
            journal,
            cables,
            actions,
            rules=rules,
            serials=serials,
            ack_timeout=ack_timeout,
            receipt_timeout=limits.receipt_timeout,
            max_resends=limits.max_resends,
            divert_after=limits.divert_after,
            check_after=limits.channel_check_after,
            outlet=outlet,
        )
        self.intake = Intake(
            table,
            journal,
            cables,
            self.lines,
            self.actions,
            max_bytes=max_bytes,
            last_ids=last_ids,
            max_fanout_bytes=limits.max_fanout_bytes,
            max_fanout_total=limits.max_fanout_total_bytes,
        )
        self.posts = Posts(
            journal,
            self.lines,
            self.actions,
            max_gap_serials=limits.max_gap_serials,
            requests_burst=limits.requests_burst,
            requests_per_minute=limits.requests_per_minute,
        )
        self._unknown = Strangers(actions)
        self.centre = None
        if isinstance(outlet, TrunkOutlet) and centre is not None:
            self.centre = Centre(centre, reads, cables, self.intake, actions, outlet, self.lines)

    @property
    def by_post(self) -> dict[str, Line]:
        """Every post's line that has been used."""
        return self.lines.lines

    def restore(
        self,
        backlog: dict[tuple[str, Precedence], int],
        delivered: list[OpenDelivery],
        cut: Sequence[tuple[str, str]] = (),
    ) -> Actions:
        """Count a journal's backlog on each line; say what was delivered but not receipted.

        The never delivered are only counted per line, as a backlog left in the journal: each line
        takes its best ones back as it goes, however long the backlog. Transmissions ``cut`` by the
        stop (post, transmission id) are cancelled by ZFR first, the lines being back (§424d).
        """
        for post, tid in cut:
            self.lines.service(post, f"{ZFR} {tid}")
        queued = 0
        for (post, precedence), count in backlog.items():
            self.lines.line(post).spilled[precedence] += count
            self.lines.active.add(post)
            queued += count
        if queued or delivered:
            self.actions.event("restored", queued=queued, delivered_unacknowledged=len(delivered))
        return self.actions

    def resume(self, cable_id: int, topic: str, raw: bytes, now: float) -> Actions:
        """A cable journalled but not routed when the router stopped: routed now."""
        self.actions.event("resumed", journal_id=cable_id, topic=topic)
        self.cables.now = now
        if self.centre is not None and self.centre.is_trunk(topic):
            self.centre.process(cable_id, topic, raw, now)
        else:
            self.intake.process(cable_id, topic, raw, now)
        return self.actions

    def resend(self, delivered: list[OpenDelivery], now: float) -> Actions:
        """After a restart, the copies delivered before it and still not receipted go again."""
        again = [d for d in delivered if self._journal.is_open(d.id)]
        for delivery in again:
            consignment = Consignment(delivery.id, delivery.cable_id, delivery.precedence, delivery.niact)
            self.lines.queue(delivery.post, consignment, now, "restart")
        self.actions.event(
            "resending", deliveries=len(again), acknowledged_meanwhile=len(delivered) - len(again)
        )
        return self.actions

    def handle(  # noqa: PLR0913 (a message as it came, and what the edge knows of it)
        self,
        topic: str,
        payload: bytes,
        now: float,
        *,
        retained: bool = False,
        prepared: Prepared | None = None,
        properties: bytes = b"",
        redelivered: bool = False,
    ) -> Actions:
        """A message off the bus: a cable, a receipt, a service message, line control or a request.

        Whatever it is, it ends journalled, rejected or logged: the broker hears of it only after.
        ``retained``: the broker kept it and sent it on our subscription (see `_intake`);
        ``redelivered``: the broker sends it again, MQTT's DUP (see `_intake`);
        ``prepared``: a cable the edge has already read and decided (`router.switch.intake.prepare`);
        ``properties``: its MQTT 5 properties, of which a cable's copies carry some on.
        """
        self.cables.now = now
        read = read_topic(topic) if self.centre is None else self.centre.read(topic)
        if read is None:
            # Not a topic of the switch's, though the broker matched a subscription: logged.
            self.actions.event("unplaced-message", topic=topic[:80], size=len(payload))
            return self.actions
        kind, post = read
        if kind is Kind.CABLE:
            again: Again | None = "retained" if retained else "redelivered" if redelivered else None
            self._intake(topic, payload, now, again=again, prepared=prepared, properties=properties)
        elif kind is Kind.TRUNK and self.centre is not None:
            self.centre.relay_in(topic, post, payload, now)
        elif self.centre is not None and self.centre.elsewhere(kind, post):
            self.actions.counts["other-centres-station"] += 1  # the posts' topics are every centre's
        elif not self._knows(kind, post):
            self._unknown.tell(kind, post)
        elif kind is Kind.RECEIPT or kind is Kind.TRUNK_RECEIPT:  # a neighbour receipts as a post does
            self.posts.receipt(post, payload)
        elif kind is Kind.SERVICE or kind is Kind.TRUNK_SERVICE:  # a neighbour's ZFX, ZIC as a post's
            self.posts.service_message(post, payload, now)
        elif kind is Kind.LINE_CONTROL or kind is Kind.TRUNK_CONTROL:  # a trunk goes down as a line does
            self.posts.line_control(post, payload, now)
        else:
            self.posts.retransmit(post, payload, now)
        return self.actions

    def _intake(  # noqa: PLR0913 (the message, as it came)
        self,
        topic: str,
        payload: bytes,
        now: float,
        *,
        again: Again | None,
        prepared: Prepared | None,
        properties: bytes,
    ) -> None:
        """A cable off the intake; one the broker sends ``again`` may be one already journalled.

        A cable published retained comes again on every subscription, so after every restart: the
        switch takes it once (journalled, or found journalled already) and then clears it (an empty
        retained payload, sent after the commit), as an operator takes a tape off the reader.
        The empty payload that clearing sends round (or anyone's) is no cable: logged, not journalled.

        ACP 127 §428a: a duplicate not piloted as a suspected duplicate (ZFD) is filed, and a
        service message goes to the station from which it was received, since a duplicate may mean
        mishandling elsewhere. That station is the one its FL3 names, when it is on a line of ours.
        Not so one the broker sent again (MQTT's DUP) with the very bytes of the first: the router
        went before the broker heard its PUBACK. Filed all the same, logged `redelivered`.
        """
        if not payload:
            self.actions.event("empty-intake", topic=topic[:80], retained=again == "retained")
            return
        if again == "retained" and (before := self._journal.received_before(topic, payload)) is not None:
            self.actions.event("retained-again", topic=topic[:80], journal_id=before)
            self.actions.clear_retained(topic)
            return
        since = len(self.actions.writes)
        self.intake.receive(topic, payload, now, prepared, properties)
        for write in self.actions.writes[since:]:
            if not isinstance(write, Duplicate) or suspected_duplicate(payload):
                continue
            if again == "redelivered" and self._journal.cable(write.original)[0] == payload:
                self.actions.event("redelivered", message_id=write.message_id, original=write.original)
                continue
            notice = duplicate_notice(write.message_id)
            station = write.message_id.split("-", 1)[0]
            if notice is not None and station != SWITCH_RI and self._knows(Kind.SERVICE, station):
                self.lines.service(station, notice)
                self.actions.event("duplicate-reported", station=station, message_id=write.message_id)
        if again == "retained":
            self.actions.clear_retained(topic)

    def _knows(self, kind: Kind, ri: str) -> bool:
        """Whether ``ri`` is a station the routing table knows, as `Lines.line` finds its profile.

        A post of the table, or a station behind a relay of it; for line control a relayed station
        must also have a line already (traffic went to it), so that commands make no new lines.
        """
        if self.centre is not None and not self.centre.knows(kind, ri):
            return False  # another centre's station (its posts' topics are shared), or no neighbour
        if ri in self.table.posts or kind in TRUNK_KINDS:
            return True
        if kind is Kind.LINE_CONTROL and ri not in self.lines.lines:
            return False
        return self.table.relayed_station(ri) is not None

    def tick(self, now: float) -> Actions:
        """The time is ``now``: copies not receipted in time go again, every busy line runs."""
        self.cables.now = now
        self.lines.check_receipts(now)
        divert_waiting(self.lines, self.actions, now)
        if self.centre is not None:
            self.centre.divert(now)  # trunks just down `divert_after`: their waiting urgent copies (§307)
        # Lines silent 30 minutes get a PRIORITY ZID quoting the last number sent (§412b).
        self.lines.active.update(self.lines.services.check(now, self.lines.lines))
        self.lines.run(now)
        return self.actions

    def due(self) -> float | None:
        """The next moment the switch has something to do unprompted: a line, or a receipt's deadline."""
        return self.lines.due()

    def depths(self) -> dict[str, dict[str, object]]:
        """Per post with traffic: waiting by precedence, in flight, the line's state and serial."""
        return lines_depths(self.lines.lines)

    def status_queues(self) -> dict[str, object]:
        """The status's lines: the `status_lines` busiest (``queues``), the rest summed (``other_lines``)."""
        return busiest(self.lines.lines, self.limits.status_lines)


def divert_waiting(lines: Lines, actions: Actions, now: float) -> None:
    """Lines down `divert_after` or more: their waiting FLASH and IMMEDIATE go by the alternate (§307).

    Each goes round if it can (`Lines.queue`), else back to wait for its line, as PRIORITY and
    ROUTINE do: the alternate's own line may be down too (``usable`` false in the log).
    """
    diversions = lines.diversions
    for post, down in diversions.begin(now):
        via = diversions.alternate(post)
        usable = via is not None and lines.line(via).up
        actions.event("alternate-route", post=post, via=via, down_s=down, usable=usable)
        for queued in lines.line(post).take(Precedence.IMMEDIATE):
            lines.queue(post, queued.consignment, now, queued.cause)
