"""A switching centre of a network (issue 16): the switch given a `Network` and its own centre's name.

Without a network the switch is the single switch, exactly as before. With one, it is one of the
network's centres (`router run --centre NAME`), and decides as follows:

- **Intake.** A centre takes cables on ``centres/<NAME>/in/#`` (`router.bus.topics`): it is their
  originating centre. It reads and decides each as the single switch does, then puts the routing
  lines on it (`originating_lines`: every RI it must reach, one line per precedence, §303a(1),
  §303b) and segregates them at itself (§303a(3)-(4)): each RI it serves becomes an ordinary post
  delivery, its single-call copy on ``cables/out/<RI>`` byte for byte the single switch's
  (§303a(5)); each other path out becomes ONE delivery on the trunk line to that neighbour, its
  FL2 the RIs reached that way. RIs no centre serves are intercepted (``unserved``).
- **Trunks** are lines keyed by the neighbour's name (`router.switch.trunks`): the trunk's speed,
  window and code from the network description, its own channel designator and serials, a
  FLASH busting a ROUTINE on it as on a post's line (§151c, §424). Every trunk transmission is
  receipted by the centre that takes it, ``R <prosign letter> <TI>`` on
  ``trunks/<SENDER>/ack/<ME>``, as posts receipt their copies. ACP 127 has FLASH receipted station
  to station (§151b) and the rest followed by channel numbers; the project receipts everything,
  as for posts, because the receipt frees the copy's place in the trunk's window and a lost copy
  goes again with ZFD (§427) instead of stalling the trunk.
- **Relaying.** A transmission on ``trunks/<ME>/from/<X>`` is journalled first, as a cable off the
  intake (acknowledged to the broker only after the commit: a crash loses nothing). It is then
  read and routed on FL2 alone, never on the addressee lines (§303a(3), `read_transmission` and
  `segregate`, which `relay` combines), receipted to X, and its onward copies queued: the RIs it
  serves as post deliveries, the other paths as trunk deliveries. A garbled FL1 or FL2 is
  rejected (``cables/rejected``, §402c) and not receipted: X's receipt timeout sends it again
  with ZFD, and in the end intercepts it there (``no-receipt``), where its operator sees it.
- **Duplicates.** FL3 never changes on the way (§116, §303), but a centre may rightly receive one
  message twice over a trunk: dual precedence goes as one transmission per precedence (§303b),
  and different paths may lead to one centre (an alternate route). So a centre keys what it
  relayed by the message id AND the RIs of the routing line received (the journal's
  ``cables.ris``): the same message for the same RIs again is an exact duplicate, filed and
  receipted (§428a); for other RIs it is routed. An overlap (the same RI in two different routing
  lines) is routed twice; the post files the second copy by its message id (§428a).
- **Services on trunks.** A cancellation (``E E E E E E E E AR``, §424a) and a service message
  (ZFR, ZID) from a neighbour are logged (``trunk-cancelled``, ``trunk-service``), not routed.
  Every number received on a trunk is accounted for (`router.switch.incoming`, §412a): a gap is
  reported to the sender by ZFX (§433) and a ZID answered by ZIC (§412c), on
  ``trunks/<SENDER>/svc/<ME>``; the sender answers those as it answers its posts' (the missed copy
  again under a new number from its journal, without a pilot: the neighbour never had it; a ZFR
  for a number that carried none, §424d), and sends a silent trunk its ZID as it does a post's
  line (§412b).

- **Trunk outages.** An operator takes a trunk down or up on ``trunks/<ME>/line/<NEIGHBOUR>``
  (the other end's is its own): it is cut and cancelled by ZFR when back (§424d), as a post's
  line. Down `divert_after` (an extended outage: §307, messages that "cannot be transmitted
  within a reasonable time" take an alternative route "if available"), the FLASH and IMMEDIATE
  copies take the doctrine's alternate for their RIs (`Network.paths`' ``use_alternate``; logged
  ``trunk-alternate``): those queued from then on as they are queued, and those already waiting
  on the trunk at that moment (`Centre.divert`, in network time on the switch's clock). A waiting
  copy is segregated again (§303a(4)): one copy per new path, its FL2 that path's RIs, the message
  from FL3 on unchanged; the delivery is moved in the journal (`Rerouted`) in the same
  transaction, so a restart neither loses it nor sends it twice. It goes without a pilot (§308c(1)),
  in order of precedence and receipt with the alternate's own traffic (§308d). PRIORITY and
  ROUTINE wait for the trunk. The arrangement is the doctrine's, made beforehand: no ZOE goes on
  the wire (§308a, §313).

Not yet: copies of a trunk left in the journal for want of memory (a backlog of more than
`router.network.line.HELD` copies) and copies sent and awaiting their receipt when the outage
becomes extended wait for the trunk (the first are hardly FLASH; the second go again by it when it
is back, with ZFD). NIACT
is known at the originating centre only (FL2 does not carry it): a relaying centre's copy of a
NIACT IMMEDIATE waits `receipt_timeout` for its receipt, not `ack_timeout`. A message received
with the suspected-duplicate pilot and not received before goes on with it (§427c(2),
`router.switch.trunks`); which cables came so is not journalled apart: the pilot of a copy still
waiting when the centre restarts is lost.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from router.bus import topics
from router.bus.topics import Kind, read_centre_topic
from router.cable.models import Precedence
from router.cable.parser import parse_cable
from router.errors import CableParseError
from router.journal.writes import Duplicate, Rerouted, Routed
from router.network.channel import CANCEL, SWITCH_RI, receipt
from router.network.relaying import originating_lines, segregate
from router.network.trunk import read_transmission
from router.routing.decide import Delivery, Intercept, RoutingDecision
from router.routing.network import LOCAL
from router.switch.incoming import IncomingTrunks

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Protocol

    from router.network.line import Queued
    from router.network.relaying import Relayed
    from router.network.trunk import TrunkTransmission
    from router.routing.decide import Role
    from router.routing.network import Network, Trunk
    from router.switch.actions import Actions, JournalReads
    from router.switch.cables import RecentCables
    from router.switch.intake import Intake
    from router.switch.lines import Lines
    from router.switch.trunks import TrunkOutlet

    class CentreReads(JournalReads, Protocol):
        """What a centre asks the journal beyond the single switch (`router.switch.view.JournalView`)."""

        def relayed_before(self, message_id: str, received: str) -> int | None:
            """The cable that brought ``message_id`` off a trunk for the same RIs."""

        def trunk_ris(self, delivery_id: int) -> tuple[str, ...]:
            """The RIs of a trunk copy's FL2."""


TRUNK_KINDS = frozenset({Kind.TRUNK_RECEIPT, Kind.TRUNK_SERVICE, Kind.TRUNK_CONTROL})
"""Messages keyed by a neighbouring centre's name, not an RI: its receipts, services and trunk control."""


class Place(NamedTuple):
    """Which centre a switch is, in which network: what makes a `Switch` a centre's."""

    name: str
    network: Network


Shaped = tuple[RoutingDecision, tuple[tuple[str, ...], ...]]
"""A decision as a centre sends it, and each delivery's trunk RIs (none for a post's delivery)."""


def message_id_of(message: bytes, max_bytes: int) -> str:
    """The message id of a message from FL3 on, as the cable parser reads it from FL3 (§116).

    The parser reads FL3 after an FL1 and FL2 of the single-call form: a neutral pair is put
    ahead of the message for it (neither is the message's; a relay reads FL2 itself).
    """
    framed = f"VZCZCXXX0000\nRR {SWITCH_RI}\n".encode() + message
    return parse_cable(framed, max_bytes=max_bytes + len(framed), text_fields=False).message_id


def _trunk_delivery(neighbour: str, precedence: Precedence, carried: Iterable[Delivery]) -> Delivery:
    """One delivery on the trunk to ``neighbour`` for the posts ``carried``: their lines, their NIACT."""
    posts = list(carried)
    lines = tuple(sorted({line for post in posts for line in post.lines}))
    role: Role = "action" if any(post.role == "action" for post in posts) else "info"
    niact = any(post.niact for post in posts)
    return Delivery(neighbour, precedence, role, niact, f"trunk {neighbour}", lines)


class Centre:
    """The centre's part of the switch: its topics, what it originates, what it relays."""

    def __init__(  # noqa: PLR0913, PLR0917 (the switch's parts)
        self,
        place: Place,
        journal: CentreReads,
        cables: RecentCables,
        intake: Intake,
        actions: Actions,
        outlet: TrunkOutlet,
        lines: Lines,
    ) -> None:
        self.name, self.network = place
        self.outlet = outlet
        self._lines = lines
        self._diversions = lines.diversions
        self._diversions.trunks = frozenset(outlet.trunks)
        self._incoming = IncomingTrunks(self.name, actions)
        self._journal = journal
        self._cables = cables
        self._intake = intake
        self._actions = actions
        intake.originate = self.originate

    def read(self, topic: str) -> tuple[Kind, str] | None:
        """The kind of a topic the centre hears, and its last level (a post's RI, a neighbour)."""
        return read_centre_topic(self.name, topic)

    def knows(self, kind: Kind, name: str) -> bool:
        """A neighbour, for its receipts; else whether the RI is one of this centre's stations."""
        if kind in TRUNK_KINDS:
            return name in self.outlet.trunks
        centre = self.network.centre_of(name)
        return centre is not None and centre.name == self.name

    def elsewhere(self, kind: Kind, ri: str) -> bool:
        """Whether ``ri`` is a station another centre serves: its receipts and requests are that centre's.

        Every centre hears every post's topics (`router.bus.topics`): another centre's is counted
        (``other-centres-station``), not logged as unknown.
        """
        centre = self.network.centre_of(ri)
        return kind not in TRUNK_KINDS and centre is not None and centre.name != self.name

    def is_trunk(self, topic: str) -> bool:
        """Whether ``topic`` is a transmission from a neighbour (a journalled one is routed as such)."""
        read = self.read(topic)
        return read is not None and read[0] is Kind.TRUNK

    def originate(self, decision: RoutingDecision) -> Shaped:
        """The decision of the originating centre: a delivery per path out, not per post (§303a).

        Its posts keep their own deliveries (role, NIACT, lines); each neighbour gets one per
        routing line (so per precedence, §303b), for the RIs reached through it.
        """
        by_post = {delivery.post: delivery for delivery in decision.deliveries}
        lines = originating_lines(decision.deliveries, self.network)
        shaped = [segregate(line, b"", self.name, self.network, self._out(line.precedence)) for line in lines]
        return self._shape(shaped, by_post, decision)

    def _shape(
        self, relayed: Iterable[Relayed], by_post: Mapping[str, Delivery], decision: RoutingDecision
    ) -> Shaped:
        deliveries: list[Delivery] = []
        ris: list[tuple[str, ...]] = []
        intercepts = list(decision.intercepts)
        for copies, unserved in relayed:
            for onward in copies:
                if onward.path == LOCAL:
                    deliveries.append(by_post[onward.line.ris[0]])
                    ris.append(())
                    continue
                carried = (by_post[ri] for ri in onward.line.ris)
                deliveries.append(_trunk_delivery(onward.path, onward.line.precedence, carried))
                ris.append(onward.line.ris)
            intercepts.extend(Intercept(ri, "unserved", by_post[ri].lines, ri) for ri in unserved)
        return replace(decision, deliveries=tuple(deliveries), intercepts=tuple(intercepts)), tuple(ris)

    def _out(self, precedence: Precedence) -> frozenset[Trunk]:
        """The trunks a copy of ``precedence`` goes round (§307): down `divert_after`, for FLASH, IMMEDIATE.

        Its RIs then take the doctrine's alternate (`Network.paths`); PRIORITY and ROUTINE wait for
        the trunk, as on a post's line. Decided as each copy is queued; the copies already waiting
        on the trunk when its outage becomes extended go round then (`divert`).
        """
        if precedence < Precedence.IMMEDIATE:
            return frozenset()
        out = self._trunks_out()
        if out:
            names = sorted(trunk.far_end(self.name) for trunk in out)
            self._actions.event("trunk-alternate", precedence=precedence.value, trunks_out=names)
        return out

    def _trunks_out(self) -> frozenset[Trunk]:
        """The trunks down `divert_after` or more by the switch's clock: an extended outage (§307)."""
        now, after = self._cables.now, self._diversions.divert_after
        return frozenset(
            trunk
            for neighbour, since in self._diversions.down_since.items()
            if since + after <= now and (trunk := self.outlet.trunks.get(neighbour)) is not None
        )

    def divert(self, now: float) -> None:
        """Trunks just down `divert_after`: the FLASH and IMMEDIATE waiting on them go round now (§307).

        The moment is the switch's clock passing the outage's start plus `divert_after` (the switch
        wakes for it: `Diversions.due`). PRIORITY and ROUTINE stay on the trunk.
        """
        for neighbour, down in self._diversions.extend(now):
            waiting = self._lines.line(neighbour).take(Precedence.IMMEDIATE)
            self._actions.event("trunk-outage-extended", trunk=neighbour, down_s=down, waiting=len(waiting))
            out = self._trunks_out()
            for queued in waiting:
                self._reroute(neighbour, queued, out, now)

    def _reroute(self, neighbour: str, queued: Queued, out: frozenset[Trunk], now: float) -> None:
        """A copy waiting on the trunk to ``neighbour``, segregated again with ``out`` avoided (§303a(4)).

        One copy per path its RIs now take: the delivery itself the first, a new delivery each
        further path, journalled together (`Rerouted`). With no other way (the alternate's trunk
        out too, §307 "if available") it goes back to wait for its trunk, unchanged.
        """
        consignment = queued.consignment
        ris = self.outlet.ris_of(consignment.delivery_id)
        paths = self.network.paths(self.name, ris, out)
        hops = tuple(paths.hops.items())
        if paths.unserved or not hops or [path for path, _ in hops] == [neighbour]:
            self._lines.queue(neighbour, consignment, now, queued.cause)
            return
        first_new = self._intake.last_delivery + 1
        self._intake.last_delivery += len(hops) - 1
        self._actions.writes.append(Rerouted(consignment.delivery_id, hops, first_new))
        ids = (consignment.delivery_id, *range(first_new, first_new + len(hops) - 1))
        # The first sending of a copy by another path is "alternate" (no pilot, §308c(1)); a copy
        # that was going again (a resend, a ZFX's answer) keeps its cause, and its pilot if it had one.
        cause = "alternate" if queued.cause == "first" else queued.cause
        for delivery_id, (path, path_ris) in zip(ids, hops, strict=True):
            self.outlet.carry(delivery_id, path_ris)
            self._lines.queue(path, consignment._replace(delivery_id=delivery_id), now, cause)
        self._actions.event(
            "trunk-alternate",
            precedence=consignment.precedence.value,
            trunks_out=[neighbour],
            delivery=consignment.delivery_id,
            via=[path for path, _ in hops],
            deliveries=list(ids),
        )

    # --- relaying: what comes off a trunk

    def relay_in(self, topic: str, neighbour: str, payload: bytes, now: float) -> None:
        """A transmission from ``neighbour``: journalled first, then read on FL2 and relayed."""
        if not payload:
            self._actions.event("empty-intake", topic=topic[:80], retained=False)
            return
        if neighbour not in self.outlet.trunks:
            self._actions.event("unknown-station", ri=neighbour[:24], topic=topic[:80])
            return
        self._incoming.heard(neighbour, payload)  # its number first, whatever it carries (§412a)
        if self._service(neighbour, payload):
            return
        cable_id = self._intake.journal_first(topic, payload)
        if cable_id is not None:
            self.process(cable_id, topic, payload, now)

    def _service(self, neighbour: str, payload: bytes) -> bool:
        """A cancellation or a service message from the neighbour: logged, not routed (§424, §412)."""
        lines = payload.split(b"\n", 6)
        tid = lines[0][5:].decode("ascii", "replace")[:12]
        if len(lines) > 1 and lines[1].rstrip(b"\r") == CANCEL:
            self._actions.event("trunk-cancelled", centre=neighbour, transmission=tid)
            return True
        if len(lines) > 5 and lines[4] == b"BT" and lines[5].startswith(b"UNCLAS SVC "):
            text = lines[5][len(b"UNCLAS SVC ") :].decode("ascii", "replace")[:120]
            self._actions.event("trunk-service", centre=neighbour, transmission=tid, text=text)
            return True
        return False

    def process(self, cable_id: int, topic: str, payload: bytes, now: float) -> None:
        """Route a journalled trunk transmission on its FL2 (§303a(3)); receipt it once taken."""
        neighbour = topic.rsplit("/", 1)[-1]
        try:
            received = read_transmission(payload)
            message_id = message_id_of(received.message, self._intake.max_bytes)
        except CableParseError as error:
            self._intake.reject(cable_id, topic, error)  # §402c: not guessed at, not receipted
            return
        self._receipt(neighbour, received)
        key = " ".join(received.line.ris)
        original = self._journal.relayed_before(message_id, key)
        if original is not None:
            # The same message for the same RIs: an exact duplicate, filed (§428a).
            self._actions.writes.append(Duplicate(cable_id, message_id, original))
            self._actions.event("duplicate", message_id=message_id, journal_id=cable_id, original=original)
            return
        self._cables.remember(cable_id, received.message, message_id)
        if received.pilot is not None:
            # Not received before (that was filed above): on as a suspected duplicate (§427c(2)).
            self.outlet.piloted(cable_id, received.pilot)
        out = self._out(received.line.precedence)
        relayed = segregate(received.line, received.message, self.name, self.network, out)
        precedence = received.line.precedence
        # FL2 is all a relay reads (§303a(3)): each RI's delivery is the routing line's.
        by_post = {
            ri: Delivery(ri, precedence, "action", niact=False, via=f"trunk {neighbour}", lines=())
            for ri in received.line.ris
        }
        nothing = RoutingDecision((), (), (), (), ())
        decision, trunk_ris = self._shape((relayed,), by_post, nothing)
        routed = Routed(
            cable_id,
            message_id,
            self._intake.last_delivery + 1,
            decision.deliveries,
            decision.intercepts,
            (),
            trunk_ris,
            received=key,
        )
        self._intake.consign(routed, precedence, now)

    def _receipt(self, neighbour: str, received: TrunkTransmission) -> None:
        """``R Z BDE0042`` to the sending centre, sent after the commit like every send."""
        letter = received.line.precedence.letter
        self._actions.send(
            topics.trunk_receipts(neighbour, self.name), receipt(letter, received.transmission_id)
        )
