"""Speed of service from the journal: the figures, a terminal table, one JSON object and an HTML page.

Two measures of each copy, as a network's staff measured them:

- in the switch: from the cable's arrival at the switch to the end of the transmission that
  delivered it to the post, against the switch's own target (a FLASH within 2 minutes in the
  station; the other precedences had none of their own);
- writer to reader: from the time the writer released the cable (its date-time group, else the
  filing time of its DE line, §116) to its delivery at the post, against the speed-of-service
  objectives. Those objectives (FLASH 10 minutes, IMMEDIATE 30, PRIORITY 3 hours, ROUTINE 6) are
  ACP 121's and the US services' manuals', not ACP 127's. Measured only where the writer's time is
  on the network's clock (replayed traffic from 1966 is not: its copies are counted as unmeasured).

A copy not delivered is not left out: it counts against its target once it is older than it, and
the latency plot has a bar for it. The figures are computed by a pure core from plain rows
(`speed_of_service`), so they can be checked by hand; `read_report` only reads the rows, through
`router.journal.queries`, and the writers' times off each cable's head. Every time is the
router's clock: simulated seconds.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from router.cable.models import Precedence
from router.cable.parser import parse_cable
from router.errors import CableParseError, JournalReadError
from router.journal import queries

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from rich.console import Console

    from router.cable.models import Cable
    from router.journal.queries import DeliveryRow, EventRow, TransmissionRow

OBJECTIVE_S = {
    Precedence.ECP: 600.0,
    Precedence.FLASH: 600.0,
    Precedence.IMMEDIATE: 1800.0,
    Precedence.PRIORITY: 10800.0,
    Precedence.ROUTINE: 21600.0,
}
"""Speed-of-service objectives, writer to reader (ACP 121 and the US services' manuals). None is set
for ECP, which goes ahead of FLASH: it is held to FLASH's 10 minutes, the strictest there is."""
SWITCH_TARGET_S = {Precedence.ECP: 120.0, Precedence.FLASH: 120.0}
"""A switch's own target, arrival to delivery: FLASH out of the station within 2 minutes (ECP held to
it too). The other precedences had none of their own in the station."""
WRITER_CLOCK_S = 86400.0
"""A writer's time more than a day before the cable's arrival is not on the network's clock (replayed
traffic keeps its historical dates): its copies are not measured writer to reader."""
WRITER_AHEAD_S = 60.0
"""... nor one more than a minute after the arrival (a date-time group is to the minute)."""

LATENCY_BINS_S = (0, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400)
"""Lower bounds of the latency histogram's bins (the last is open-ended): roughly logarithmic, and
every objective is a bound, so a bar is either wholly within its objective or wholly past it."""

_BUCKET_LADDER_S = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400)
_MOST_BUST_BUCKETS = 40
_RETRANSMISSION_CAUSES = frozenset({"zfx", "ack-timeout", "request"})


@dataclass(frozen=True, slots=True)
class Measure:
    """One measure of the copies of one precedence (in the switch, or writer to reader)."""

    target_s: float | None
    """What each copy is held to; None where there is none (the switch's target for ROUTINE)."""
    count: int
    """Copies delivered and measured."""
    overdue: int
    """Copies not delivered that were already older than the target at the journal's end."""
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    within_target: float | None
    """Share (0 to 1) of the copies decided so far that met the target: delivered within it, out of
    those measured and those overdue. A copy still waiting and not yet late is not counted."""


@dataclass(frozen=True, slots=True)
class SpeedOfService:
    """The copies of one precedence: how many arrived, and the two measures of their times."""

    precedence: Precedence
    count: int
    """Copies delivered."""
    undelivered: int
    in_switch: Measure
    """From the cable's arrival at the switch to its delivery at the post."""
    writer_to_reader: Measure
    """From the cable's date-time group (or filing time) to its delivery at the post."""
    unmeasured: int
    """Copies whose cable carries no writer's time on the network's clock: not in `writer_to_reader`."""


@dataclass(frozen=True, slots=True)
class Totals:
    """What happened to the traffic as a whole."""

    cables_received: int
    rejections: int
    intercepts: int
    duplicates_filed: int
    """Copies a post filed as already held (ZFD) plus cables the switch itself knew as duplicates."""
    deliveries: int
    delivered: int
    acknowledged: int
    busts: int
    retransmissions: int
    """Transmissions a post asked for (ZFX) or failed to acknowledge; resends after a bust are busts'."""
    gaps_reported: int
    """Channel serials posts reported missing."""
    gaps_repaired: int
    """Reported serials answered: the message again (a ZFX retransmission that reached the post), or
    the cancellation of a busted or cut transmission, which carried no message."""


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Copies per bin of time in the switch (`LATENCY_BINS_S`), and those never delivered, per precedence."""

    edges_s: tuple[float, ...]
    counts: tuple[tuple[Precedence, tuple[int, ...]], ...]
    undelivered: tuple[tuple[Precedence, int], ...] = ()
    """Copies of each precedence not delivered by the journal's end: a bar of their own."""


@dataclass(frozen=True, slots=True)
class QueueDepth:
    """Copies of one post waiting (queued, not yet delivered), as a step function of time."""

    post: str
    steps: tuple[tuple[float, int], ...]
    """(time, depth from then on) at each time the depth changes; zero before the first."""
    peak: int


@dataclass(frozen=True, slots=True)
class BustSeries:
    """Busted transmissions per time bucket, the first bucket starting at ``start``."""

    start: float
    bucket_s: float
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Report:
    """A speed-of-service report: figures per precedence, totals and the series the plots draw."""

    precedences: tuple[SpeedOfService, ...]
    """Highest precedence first; only those with at least one delivery."""
    totals: Totals
    latency: LatencyHistogram
    queue_depth: tuple[QueueDepth, ...]
    busts: BustSeries
    start: float
    """Earliest time in the journal's traffic: where the plots' time axes begin."""
    end: float


def nearest_rank(ordered: Sequence[float], percent: int) -> float:
    """The nearest-rank percentile of sorted values: value number ceil(percent/100 x n), counting from 1.

    That is the smallest value with at least ``percent`` % of the values at or below it. There is no
    interpolation, so every percentile is a time some copy really took.
    """
    rank = max(1, -(-percent * len(ordered) // 100))
    return ordered[rank - 1]


def speed_of_service(  # noqa: PLR0913 (the journal's parts, by name)
    deliveries: Iterable[DeliveryRow],
    transmissions: Iterable[TransmissionRow] = (),
    events: Iterable[EventRow] = (),
    *,
    cables: Mapping[str, int] | None = None,
    intercepts: int = 0,
    written: Mapping[int, float] | None = None,
) -> Report:
    """The report of a journal's rows.

    ``cables`` counts cables by status; ``written`` gives the writer's time of each cable that has
    one (by journal id). A copy's time in the switch runs from its cable's arrival to the end of
    the transmission that delivered it; writer to reader, from its cable's writer's time to the
    same end. A copy acknowledged with no delivery time recorded counts as delivered when it was
    acknowledged (its receipt proves that much). Percentiles are nearest-rank; shares within a
    target are of copies measured and overdue ones (undelivered, and older than the target at the
    journal's last moment): a backlog that misses its target shows as such.
    """
    deliveries = list(deliveries)
    transmissions = list(transmissions)
    start, end = _span(deliveries, transmissions)
    return Report(
        precedences=tuple(speeds(deliveries, written or {}, end)),
        totals=_totals(deliveries, transmissions, list(events), cables or {}, intercepts),
        latency=_latency_histogram(deliveries),
        queue_depth=tuple(_queue_depths(deliveries)),
        busts=_busts(transmissions, start, end),
        start=start,
        end=end,
    )


def _delivered_at(row: DeliveryRow) -> float | None:
    return row.delivered_at if row.delivered_at is not None else row.acknowledged_at


def _latency(row: DeliveryRow) -> float | None:
    delivered_at = _delivered_at(row)
    return None if delivered_at is None else delivered_at - row.received_at


@dataclass
class Times:
    """What one measure gathers of one precedence's copies (or one stage's, in a network's report)."""

    taken: list[float] = field(default_factory=list)
    """Times of the copies delivered."""
    waiting_since: list[float] = field(default_factory=list)
    """Start times of the copies not delivered."""

    def measure(self, target: float | None, end: float) -> Measure:
        """The measure against ``target``: a copy still waiting at ``end`` and older than it is overdue."""
        ordered = sorted(self.taken)
        overdue = 0 if target is None else sum(end - since > target for since in self.waiting_since)
        if not ordered:
            share = (0.0 if overdue else None) if target is not None else None
            return Measure(target, 0, overdue, None, None, None, None, share)
        within = None if target is None else bisect.bisect_right(ordered, target) / (len(ordered) + overdue)
        p50, p95, p99 = (nearest_rank(ordered, percent) for percent in (50, 95, 99))
        return Measure(target, len(ordered), overdue, p50, p95, p99, ordered[-1], within)


def speeds(
    deliveries: list[DeliveryRow], written: Mapping[int, float], end: float
) -> Iterable[SpeedOfService]:
    """Each precedence's two measures of ``deliveries`` (highest first), undelivered copies late at ``end``.

    A network's report gives it copies whose arrival is the one at their originating centre.
    """
    in_switch: defaultdict[Precedence, Times] = defaultdict(Times)
    by_writer: defaultdict[Precedence, Times] = defaultdict(Times)
    unmeasured: Counter[Precedence] = Counter()
    for row in deliveries:
        precedence = Precedence(row.precedence)
        delivered_at = _delivered_at(row)
        writer = _writer_time(written.get(row.cable_id), row.received_at)
        if delivered_at is None:
            in_switch[precedence].waiting_since.append(row.received_at)
            if writer is not None:
                by_writer[precedence].waiting_since.append(writer)
            continue
        in_switch[precedence].taken.append(delivered_at - row.received_at)
        if writer is None:
            unmeasured[precedence] += 1
        else:
            by_writer[precedence].taken.append(delivered_at - writer)
    for precedence in sorted(in_switch, reverse=True):
        times = in_switch[precedence]
        yield SpeedOfService(
            precedence,
            count=len(times.taken),
            undelivered=len(times.waiting_since),
            in_switch=times.measure(SWITCH_TARGET_S.get(precedence), end),
            writer_to_reader=by_writer[precedence].measure(OBJECTIVE_S[precedence], end),
            unmeasured=unmeasured[precedence],
        )


def _writer_time(written: float | None, received_at: float) -> float | None:
    """The writer's time when it is on the network's clock: within a day before the arrival."""
    if written is None or not -WRITER_AHEAD_S <= received_at - written <= WRITER_CLOCK_S:
        return None
    return min(written, received_at)


def _totals(
    deliveries: list[DeliveryRow],
    transmissions: list[TransmissionRow],
    events: list[EventRow],
    cables: Mapping[str, int],
    intercepts: int,
) -> Totals:
    return Totals(
        cables_received=sum(cables.values()),
        rejections=cables.get("rejected", 0),
        intercepts=intercepts,
        duplicates_filed=cables.get("duplicate", 0) + sum(e.event == "duplicate-filed" for e in events),
        deliveries=len(deliveries),
        delivered=sum(_delivered_at(row) is not None for row in deliveries),
        acknowledged=sum(row.state == "acknowledged" for row in deliveries),
        busts=sum(t.outcome == "busted" for t in transmissions),
        retransmissions=sum(t.cause in _RETRANSMISSION_CAUSES for t in transmissions),
        gaps_reported=sum(_missing_serials(e.fields) for e in events if e.event == "gap"),
        gaps_repaired=sum(t.cause == "zfx" and t.outcome == "delivered" for t in transmissions)
        + sum(e.event == "gap-cancelled" for e in events),
    )


def _missing_serials(fields: Mapping[str, object]) -> int:
    """A gap event lists the serials its post reported missing; one without a list reports one gap."""
    serials = fields.get("serials")
    return len(serials) if isinstance(serials, list) else 1


def _latency_histogram(deliveries: list[DeliveryRow]) -> LatencyHistogram:
    counts: defaultdict[Precedence, list[int]] = defaultdict(lambda: [0] * len(LATENCY_BINS_S))
    undelivered: Counter[Precedence] = Counter()
    for row in deliveries:
        precedence = Precedence(row.precedence)
        latency = _latency(row)
        if latency is None:
            undelivered[precedence] += 1
            counts[precedence]  # a precedence with no copy delivered still has its row
        else:
            counts[precedence][_bin(latency)] += 1
    ordered = sorted(counts.items(), reverse=True)
    return LatencyHistogram(
        tuple(map(float, LATENCY_BINS_S)),
        tuple((p, tuple(c)) for p, c in ordered),
        tuple((p, undelivered[p]) for p, _ in ordered),
    )


def _bin(latency: float) -> int:
    return max(0, bisect.bisect_right(LATENCY_BINS_S, latency) - 1)


def _queue_depths(deliveries: list[DeliveryRow]) -> Iterable[QueueDepth]:
    """A copy waits from queued_at (included) until it is delivered (excluded)."""
    changes: defaultdict[str, Counter[float]] = defaultdict(Counter)
    for row in deliveries:
        changes[row.post][row.queued_at] += 1
        delivered_at = _delivered_at(row)
        if delivered_at is not None:
            changes[row.post][delivered_at] -= 1
    for post in sorted(changes):
        depth, steps = 0, []
        for at in sorted(changes[post]):
            if changes[post][at]:
                depth += changes[post][at]
                steps.append((at, depth))
        yield QueueDepth(post, tuple(steps), max((d for _, d in steps), default=0))


def _busts(transmissions: list[TransmissionRow], start: float, end: float) -> BustSeries:
    times = [
        t.ended_at if t.ended_at is not None else t.started_at for t in transmissions if t.outcome == "busted"
    ]
    span = end - start
    bucket = next((b for b in _BUCKET_LADDER_S if b * _MOST_BUST_BUCKETS >= span), _BUCKET_LADDER_S[-1])
    if not times:
        return BustSeries(start, float(bucket), ())
    counts = [0] * max(1, math.ceil(span / bucket))
    for at in times:
        counts[min(len(counts) - 1, max(0, int((at - start) // bucket)))] += 1
    return BustSeries(start, float(bucket), tuple(counts))


def _span(deliveries: list[DeliveryRow], transmissions: list[TransmissionRow]) -> tuple[float, float]:
    times = [t for row in deliveries for t in (row.received_at, row.queued_at, _delivered_at(row))]
    times += [t for row in transmissions for t in (row.started_at, row.ended_at)]
    known = [t for t in times if t is not None]
    return (min(known), max(known)) if known else (0.0, 0.0)


def read_report(journal: Path | str) -> Report:
    """The report of a journal, opened read-only: the router may be writing it at the same time (WAL)."""
    try:
        with queries.read_only(journal) as db:
            return speed_of_service(
                queries.deliveries(db),
                queries.transmissions(db),
                queries.reported_events(db),
                cables=queries.cables_by_status(db),
                intercepts=queries.intercept_count(db),
                written=writers_times(queries.delivered_cables(db)),
            )
    except queries.UNREADABLE as exc:  # ValueError: a precedence this router never writes
        raise JournalReadError(str(journal), str(exc)) from exc


def writers_times(cables: Iterable[tuple[int, bytes, float]]) -> dict[int, float]:
    """The writer's time of each cable (journal id, raw, arrival) that carries one."""
    written = {}
    for cable_id, raw, received_at in cables:
        at = writer_time(raw, received_at)
        if at is not None:
            written[cable_id] = at
    return written


def writer_time(raw: bytes, received_at: float) -> float | None:
    """When the writer released a cable (`written_at`); None when it cannot be read."""
    try:
        cable = parse_cable(raw, text_fields=False)
    except CableParseError:
        return None
    return written_at(cable, received_at)


def written_at(cable: Cable, received_at: float) -> float | None:
    """When the writer released a cable: its date-time group, else its DE line's filing time (§116).

    The filing time has a Julian day and no year: it is taken in the year that puts it last before
    the arrival. None when the cable has neither.
    """
    if cable.dtg is not None:
        return cable.dtg.timestamp()
    if cable.station_serial is None:
        return None
    filed = cable.station_serial.filing_time
    day, hour, minute = int(filed[:3]), int(filed[3:5]), int(filed[5:7])
    arrival = datetime.fromtimestamp(received_at, UTC)
    for year in (arrival.year, arrival.year - 1):
        at = datetime(year, 1, 1, hour, minute, tzinfo=UTC) + timedelta(days=day - 1)
        if at.timestamp() <= received_at + WRITER_AHEAD_S:
            return at.timestamp()
    return None


def measure_json(measure: Measure) -> dict[str, Any]:
    """A measure as JSON: times to the millisecond, in simulated seconds."""
    return {
        "target_s": measure.target_s,
        "count": measure.count,
        "overdue": measure.overdue,
        "p50_s": _ms(measure.p50_s),
        "p95_s": _ms(measure.p95_s),
        "p99_s": _ms(measure.p99_s),
        "max_s": _ms(measure.max_s),
        "within_target": measure.within_target,
    }


def to_json(report: Report) -> dict[str, Any]:
    """One JSON object: the figures per precedence (times in simulated seconds) and the totals."""
    return {
        "precedence": {
            s.precedence.value: {
                "count": s.count,
                "undelivered": s.undelivered,
                "in_switch": measure_json(s.in_switch),
                "writer_to_reader": measure_json(s.writer_to_reader),
                "unmeasured": s.unmeasured,
            }
            for s in report.precedences
        },
        "totals": asdict(report.totals),
    }


def _ms(seconds: float | None) -> float | None:
    """To the millisecond: a difference of two epoch times carries float noise below that."""
    return None if seconds is None else round(seconds, 3)


def duration(seconds: float | None) -> str:
    """A time as a person reads it in the table: seconds, minutes or hours."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.2f} h"


SWITCH_COLUMNS = (
    "precedence",
    "delivered",
    "p50",
    "p95",
    "p99",
    "max",
    "target",
    "within target",
    "undelivered",
)
WRITER_COLUMNS = (
    "precedence",
    "measured",
    "p50",
    "p95",
    "p99",
    "max",
    "objective",
    "within objective",
    "unmeasured",
)
LEFT_COLUMNS = frozenset({"precedence", "trunk", "centre", "stage", "from arrival to"})
"""Columns of names, not figures: set left in a table."""
SWITCH_TITLE = "In the switch: arrival to delivery at the post"
WRITER_TITLE = "Writer to reader: date-time group (or filing time) to delivery at the post"
NOTE = (
    "Simulated time; nearest-rank percentiles. The switch's target: FLASH (and ECP) within 2 min of"
    " arrival. The objectives, writer to reader, are ACP 121's and the US services' manuals' (ECP held"
    " to FLASH's); measured where the cable's date-time group or filing time is on the network's"
    " clock (replayed history is not: unmeasured). A copy not delivered and older than its target"
    " counts as missing it (late)."
)


def _within(measure: Measure) -> str:
    return "-" if measure.within_target is None else f"{100 * measure.within_target:.1f} %"


def _times(measure: Measure) -> tuple[str, ...]:
    return tuple(duration(t) for t in (measure.p50_s, measure.p95_s, measure.p99_s, measure.max_s))


def switch_rows(report: Report) -> list[tuple[str, ...]]:
    """The in-switch table as text, one row per precedence: the terminal and the page share it."""
    return arrival_rows(report.precedences)


def arrival_rows(precedences: Iterable[SpeedOfService]) -> list[tuple[str, ...]]:
    """Arrival to delivery as text, one row per precedence (a network's: at the originating centre)."""
    rows = []
    for s in precedences:
        measure = s.in_switch
        late = f"{s.undelivered} ({measure.overdue} late)" if measure.overdue else str(s.undelivered)
        rows.append(
            (
                s.precedence.value,
                str(s.count),
                *_times(measure),
                duration(measure.target_s),
                _within(measure),
                late,
            )
        )
    return rows


def writer_rows(report: Report) -> list[tuple[str, ...]]:
    """The writer-to-reader table as text, one row per precedence."""
    return writer_rows_of(report.precedences)


def writer_rows_of(precedences: Iterable[SpeedOfService]) -> list[tuple[str, ...]]:
    """Writer to reader as text, one row per precedence: a journal's, or a network's end to end."""
    rows = []
    for s in precedences:
        measure = s.writer_to_reader
        measured = f"{measure.count} ({measure.overdue} late)" if measure.overdue else str(measure.count)
        rows.append(
            (
                s.precedence.value,
                measured,
                *_times(measure),
                duration(measure.target_s),
                _within(measure),
                str(s.unmeasured),
            )
        )
    return rows


def text_table(
    title: str,
    columns: tuple[str, ...],
    rows: list[tuple[str, ...]],
    caption: str | None = None,
    *,
    empty: str = "no deliveries in the journal",
) -> Table:
    """A rich table of text rows, names left and figures right; a row saying ``empty`` when there are none."""
    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column, justify="left" if column in LEFT_COLUMNS else "right")
    for row in rows:
        table.add_row(*row)
    if not rows:
        table.add_row(empty, *[""] * (len(columns) - 1))
    return table


def render_terminal(report: Report, console: Console) -> None:
    """Print the two speed-of-service tables and the totals."""
    console.print(text_table(SWITCH_TITLE, SWITCH_COLUMNS, switch_rows(report)))
    console.print(text_table(WRITER_TITLE, WRITER_COLUMNS, writer_rows(report), NOTE))
    totals = Table(title="Totals", show_header=False)
    totals.add_column("what")
    totals.add_column("count", justify="right")
    for name, value in asdict(report.totals).items():
        totals.add_row(name.replace("_", " "), str(value))
    console.print(totals)
