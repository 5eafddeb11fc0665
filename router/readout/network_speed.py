"""Speed of service across a network's centres, from their journals: end to end, per trunk, per centre.

A message crosses the network hop by hop (issue 16): its originating centre takes it off its
intake (``centres/<NAME>/in/...``), sends one copy per path out down a trunk, and each centre on
the way journals what it receives (``trunks/<NAME>/from/<SENDER>``) and sends it on, until the
centre serving a post delivers the post's copy. Each centre keeps its own journal; this puts
them together. A trunk copy is matched to its arrival at the next centre by the message id (FL3
never changes on the way, §116, §303) and the RIs of its routing line (FL2: the journals' ``ris``,
which tell apart the transmissions of one message per precedence, §303b, and per path).

Three views, per precedence, all in the network's time:

- **end to end**: each post's copy from the message's arrival at its originating centre to the end
  of the transmission that delivered it to the post, against the same targets as the single
  switch's time in the switch; and writer to reader, from its date-time group, as a journal's
  report measures it (`router.readout.report`). A copy still on a trunk whose next centre's
  journal was given counts as undelivered (one for each RI of the trunk copy); a copy whose way
  back to its originating centre leaves the journals given is counted as ``untraced``;
- **per trunk** (sender → receiver): each trunk copy's queue wait (queued to the start of the
  transmission that delivered it: busted attempts included), transmission (its start to its end)
  and receipt (its end to the next centre's receipt);
- **per centre**: each copy a centre sent on (to a post or down a trunk), from its arrival there
  to the start and to the end of the transmission that delivered it, the second against the
  switch's own target (a FLASH out within 2 minutes in the station).

The figures come from plain rows by a pure core (`network_speed`); `read_centres` reads them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from router.cable.models import Precedence
from router.errors import JournalReadError
from router.journal import queries
from router.journal.queries import DeliveryRow
from router.readout.report import SWITCH_TARGET_S, Measure, SpeedOfService, Times, speeds, writers_times

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from router.journal.queries import ArrivalRow, OnwardRow


@dataclass(frozen=True, slots=True)
class CentreJournal:
    """What one centre's journal holds for the network's report: plain rows."""

    centre: str
    path: str
    arrivals: Sequence[ArrivalRow]
    copies: Sequence[OnwardRow]
    written: Mapping[int, float]
    """The writer's time of each cable off the centre's intake that carries one (by journal id)."""


@dataclass(frozen=True, slots=True)
class Stage:
    """One stage of a copy's way: where it was, and when it started and ended (None: not yet)."""

    sender: str
    """The centre that sent it."""
    receiver: str
    """The next centre (a trunk copy), or the post's RI (the copy's last stage)."""
    queued_at: float
    started_at: float | None
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class TracedCopy:
    """A post's copy followed back to its originating centre, each trunk hop on the way."""

    message_id: str
    post: str
    precedence: Precedence
    origin: str
    origin_id: int
    """The message's journal id at its originating centre."""
    arrived_at: float
    """When the message came in at its originating centre."""
    hops: tuple[Stage, ...]
    """The trunk copies that carried it, first hop first."""
    last: Stage | None
    """The post's copy at the centre that serves it; None while a trunk has it still."""
    delivered_at: float | None


@dataclass(frozen=True, slots=True)
class TrunkSpeed:
    """One trunk's copies of one precedence: how many, and the three stages of their times."""

    sender: str
    receiver: str
    precedence: Precedence
    copies: int
    busts: int
    queue_wait: Measure
    transmission: Measure
    receipt: Measure


@dataclass(frozen=True, slots=True)
class CentreSpeed:
    """The copies of one precedence a centre sent on: from their arrival there to their transmission."""

    centre: str
    precedence: Precedence
    copies: int
    to_start: Measure
    to_end: Measure
    """Against the switch's own target (FLASH and ECP within 2 minutes in the station)."""


@dataclass(frozen=True, slots=True)
class NetworkSpeed:
    """The network's report: end to end per precedence, each trunk's and each centre's times."""

    centres: tuple[str, ...]
    """The centres whose journals were read, in the order traffic first reached them."""
    end_to_end: tuple[SpeedOfService, ...]
    """Highest precedence first; ``in_switch`` is from the arrival at the originating centre."""
    untraced: tuple[tuple[Precedence, int], ...]
    """Post copies per precedence whose way back to their originating centre leaves the journals."""
    trunks: tuple[TrunkSpeed, ...]
    in_centre: tuple[CentreSpeed, ...]
    copies: tuple[TracedCopy, ...]
    """Every post copy traced, with its hops: what `end_to_end` is made of."""


class _Key(NamedTuple):
    """What a trunk copy is known by at both ends: FL3's message id and FL2's RIs (§116, §303)."""

    sender: str
    receiver: str
    message_id: str
    ris: str


class _Network:
    """The journals, indexed to follow a copy from centre to centre."""

    def __init__(self, journals: Sequence[CentreJournal]) -> None:
        self.journals = {journal.centre: journal for journal in journals}
        self.arrivals = {
            journal.centre: {arrival.id: arrival for arrival in journal.arrivals} for journal in journals
        }
        self.sent: dict[_Key, tuple[str, OnwardRow]] = {}
        self.received: set[_Key] = set()
        for journal in journals:
            for copy in journal.copies:
                message_id = self.arrivals[journal.centre][copy.cable_id].message_id
                if copy.ris and message_id:  # the first one made, if a message went twice (it is not)
                    self.sent.setdefault(
                        _Key(journal.centre, copy.post, message_id, copy.ris), (journal.centre, copy)
                    )
            for arrival in journal.arrivals:
                sender = _sender(arrival.topic)
                if sender and arrival.message_id and arrival.ris and arrival.status == "routed":
                    self.received.add(_Key(sender, journal.centre, arrival.message_id, arrival.ris))

    def way_back(self, centre: str, arrival: ArrivalRow) -> tuple[str, ArrivalRow, list[Stage]] | None:
        """The originating centre, its arrival and the trunk hops from it to ``arrival``; None if untraced."""
        hops: list[Stage] = []
        for _ in range(len(self.journals)):  # bounded: a way back through every centre at most
            sender = _sender(arrival.topic)
            if sender is None:
                return centre, arrival, hops[::-1]
            found = self.sent.get(_Key(sender, centre, arrival.message_id or "", arrival.ris or ""))
            if found is None:
                return None  # the sender's journal was not given
            centre, copy = found
            hops.append(_stage(centre, copy))
            arrival = self.arrivals[centre][copy.cable_id]
        return None


def _sender(topic: str) -> str | None:
    """The sending centre of an arrival off a trunk (``trunks/<ME>/from/<SENDER>``); None off the intake."""
    parts = topic.split("/")
    return parts[3] if len(parts) == 4 and parts[0] == "trunks" and parts[2] == "from" else None


def _stage(centre: str, copy: OnwardRow) -> Stage:
    return Stage(centre, copy.post, copy.queued_at, copy.started_at, copy.ended_at)


def _delivered_at(copy: OnwardRow) -> float | None:
    """When the copy reached its post (a receipt without a delivery time proves that much by then)."""
    if copy.ended_at is not None:
        return copy.ended_at
    return copy.delivered_at if copy.delivered_at is not None else copy.acknowledged_at


def network_speed(journals: Sequence[CentreJournal]) -> NetworkSpeed:
    """The network's report of its centres' journals (one each).

    Percentiles are nearest-rank; a copy not delivered is late once older than its target at the
    latest time any journal holds, as in a journal's report.
    """
    network = _Network(journals)
    end = max((t for journal in journals for t in _times(journal)), default=0.0)
    traced, untraced = _traced(network)
    keys = {origin: number for number, origin in enumerate(sorted({(c.origin, c.origin_id) for c in traced}))}
    written = {
        keys[centre, cable_id]: at
        for centre, journal in network.journals.items()
        for cable_id, at in journal.written.items()
        if (centre, cable_id) in keys
    }
    rows = [
        DeliveryRow(
            copy.post,
            copy.precedence.value,
            "queued" if copy.delivered_at is None else "delivered",
            copy.arrived_at,
            copy.arrived_at,
            copy.delivered_at,
            None,
            keys[copy.origin, copy.origin_id],
        )
        for copy in traced
    ]
    order = _in_order(network)
    return NetworkSpeed(
        centres=tuple(order),
        end_to_end=tuple(speeds(rows, written, end)),
        untraced=tuple(sorted(untraced.items(), reverse=True)),
        trunks=tuple(_trunks(journals, order, end)),
        in_centre=tuple(_in_centre(network, order, end)),
        copies=tuple(traced),
    )


def _times(journal: CentreJournal) -> Iterator[float]:
    for arrival in journal.arrivals:
        yield arrival.received_at
    for copy in journal.copies:
        yield from (t for t in (copy.queued_at, _delivered_at(copy), copy.acknowledged_at) if t is not None)


def _traced(network: _Network) -> tuple[list[TracedCopy], Counter[Precedence]]:
    """Every post copy traced to its origin, and the copies still on a trunk into a journal given."""
    traced: list[TracedCopy] = []
    untraced: Counter[Precedence] = Counter()
    for centre, journal in network.journals.items():
        for copy in journal.copies:
            arrival = network.arrivals[centre][copy.cable_id]
            precedence = Precedence(copy.precedence)
            pending = copy.ris and copy.post in network.journals
            if copy.ris and not pending:
                continue  # on into a centre whose journal is not here: its posts' copies are not either
            key = _Key(centre, copy.post, arrival.message_id or "", copy.ris or "")
            if pending and key in network.received:
                continue  # it arrived: the next centre's copies stand for it
            way = network.way_back(centre, arrival)
            if way is None:
                untraced[precedence] += 1 if not copy.ris else len(copy.ris.split())
                continue
            origin, first, hops = way
            if pending:  # still on the trunk: one copy not yet delivered for each RI it carries
                on_trunk = (*hops, _stage(centre, copy))
                traced += [
                    TracedCopy(
                        key.message_id,
                        ri,
                        precedence,
                        origin,
                        first.id,
                        first.received_at,
                        on_trunk,
                        None,
                        None,
                    )
                    for ri in (copy.ris or "").split()
                ]
                continue
            traced.append(
                TracedCopy(
                    key.message_id,
                    copy.post,
                    precedence,
                    origin,
                    first.id,
                    first.received_at,
                    tuple(hops),
                    _stage(centre, copy),
                    _delivered_at(copy),
                )
            )
    return traced, untraced


def _in_order(network: _Network) -> list[str]:
    """The centres hop by hop: fewest trunks from an originating centre first, then by time and name.

    The network's clock may give several hops the same time (unthrottled trunks): time alone
    would not put them in order.
    """
    hops, first = {}, {}
    for centre, journal in network.journals.items():
        ways = (network.way_back(centre, arrival) for arrival in journal.arrivals)
        hops[centre] = min((len(way[2]) for way in ways if way is not None), default=len(network.journals))
        first[centre] = min((a.received_at for a in journal.arrivals), default=float("inf"))
    return sorted(hops, key=lambda centre: (hops[centre], first[centre], centre))


def _trunks(journals: Sequence[CentreJournal], order: list[str], end: float) -> Iterator[TrunkSpeed]:
    """Each trunk's figures per precedence: in the order of the centres sending, then receiving."""
    place = {centre: number for number, centre in enumerate(order)}
    stages: defaultdict[tuple[str, str, Precedence], tuple[Times, Times, Times]] = defaultdict(
        lambda: (Times(), Times(), Times())
    )
    copies: Counter[tuple[str, str, Precedence]] = Counter()
    busts: Counter[tuple[str, str, Precedence]] = Counter()
    for journal in journals:
        for copy in journal.copies:
            if not copy.ris:
                continue
            trunk = (journal.centre, copy.post, Precedence(copy.precedence))
            copies[trunk] += 1
            busts[trunk] += copy.busts
            _gather(stages[trunk], copy)
    far = len(place)  # a neighbour whose journal is not here: after those that are
    for trunk in sorted(stages, key=lambda t: (place[t[0]], place.get(t[1], far), t[1], -_rank(t[2]))):
        queue_wait, transmission, receipt = (times.measure(None, end) for times in stages[trunk])
        yield TrunkSpeed(*trunk, copies[trunk], busts[trunk], queue_wait, transmission, receipt)


def _gather(stages: tuple[Times, Times, Times], copy: OnwardRow) -> None:
    """A trunk copy's queue wait, transmission and receipt, as far as it has gone."""
    queue_wait, transmission, receipt = stages
    if copy.started_at is None:
        queue_wait.waiting_since.append(copy.queued_at)
        return
    queue_wait.taken.append(copy.started_at - copy.queued_at)
    if copy.ended_at is None:
        return
    transmission.taken.append(copy.ended_at - copy.started_at)
    if copy.acknowledged_at is None:
        receipt.waiting_since.append(copy.ended_at)
    else:
        receipt.taken.append(copy.acknowledged_at - copy.ended_at)


def _rank(precedence: Precedence) -> int:
    return list(Precedence).index(precedence)


def _in_centre(network: _Network, order: Iterable[str], end: float) -> Iterator[CentreSpeed]:
    for centre in order:
        to_start: defaultdict[Precedence, Times] = defaultdict(Times)
        to_end: defaultdict[Precedence, Times] = defaultdict(Times)
        for copy in network.journals[centre].copies:
            precedence = Precedence(copy.precedence)
            arrived = network.arrivals[centre][copy.cable_id].received_at
            delivered = _delivered_at(copy)
            if copy.started_at is None:
                to_start[precedence].waiting_since.append(arrived)
            else:
                to_start[precedence].taken.append(copy.started_at - arrived)
            if delivered is None:
                to_end[precedence].waiting_since.append(arrived)
            else:
                to_end[precedence].taken.append(delivered - arrived)
        for precedence in sorted(to_end, reverse=True):
            ended = to_end[precedence]
            yield CentreSpeed(
                centre,
                precedence,
                len(ended.taken) + len(ended.waiting_since),
                to_start[precedence].measure(None, end),
                ended.measure(SWITCH_TARGET_S.get(precedence), end),
            )


def centre_of(path: Path, arrivals: Iterable[ArrivalRow]) -> str:
    """The centre whose journal this is, by the topics it received on; else by its name, ``router-NAME``."""
    for arrival in arrivals:
        parts = arrival.topic.split("/")
        if len(parts) >= 3 and (parts[0], parts[2]) in {("trunks", "from"), ("centres", "in")}:
            return parts[1]
    return path.stem.removeprefix("router-")


def read_centre(journal: Path) -> CentreJournal:
    """One centre's journal, opened read-only (its centre may still be writing it)."""
    try:
        with queries.read_only(journal) as db:
            arrivals = queries.arrivals(db)
            copies = queries.onward_copies(db)
            written = writers_times(queries.intake_cables(db))
        for copy in copies:
            Precedence(copy.precedence)  # a precedence this router never writes is the journal's fault
    except queries.UNREADABLE as exc:
        raise JournalReadError(str(journal), str(exc)) from exc
    return CentreJournal(centre_of(journal, arrivals), str(journal), arrivals, copies, written)


def read_centres(journals: Sequence[Path]) -> list[CentreJournal]:
    """The centres' journals, each read once (a path given twice is one); two of one centre's is an error."""
    read: dict[str, CentreJournal] = {}
    for path in dict.fromkeys(Path(journal) for journal in journals):
        centre = read_centre(path)
        if centre.centre in read:
            raise JournalReadError(str(path), f"{centre.centre}'s journal is {read[centre.centre].path} too")
        read[centre.centre] = centre
    return list(read.values())
