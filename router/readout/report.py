"""Speed of service from the journal: the figures, a terminal table, one JSON object and an HTML page.

The figures are computed by a pure core from plain rows (`speed_of_service`), so they can be checked
by hand; `read_report` only reads the rows, through `router.journal.queries`. Every time is the
router's clock: simulated seconds.
"""

from __future__ import annotations

import bisect
import math
import sqlite3
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from router.cable.models import Precedence
from router.errors import JournalReadError
from router.journal import queries

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from rich.console import Console

    from router.journal.queries import DeliveryRow, EventRow, TransmissionRow

OBJECTIVE_S = {
    Precedence.ECP: 600.0,
    Precedence.FLASH: 600.0,
    Precedence.IMMEDIATE: 1800.0,
    Precedence.PRIORITY: 10800.0,
    Precedence.ROUTINE: 21600.0,
}
"""Speed-of-service objectives, writer to reader. ACP 127 sets none for ECP, which goes ahead of FLASH:
it is held to FLASH's 10 minutes, the strictest one there is."""

LATENCY_BINS_S = (0, 1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400)
"""Lower bounds of the latency histogram's bins (the last is open-ended): roughly logarithmic, and
every objective is a bound, so a bar is either wholly within its objective or wholly past it."""

_BUCKET_LADDER_S = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400)
_MOST_BUST_BUCKETS = 40
_RETRANSMISSION_CAUSES = frozenset({"zfx", "ack-timeout", "request"})


@dataclass(frozen=True, slots=True)
class SpeedOfService:
    """Writer-to-reader times of the delivered copies of one precedence (None when none arrived)."""

    precedence: Precedence
    objective_s: float
    count: int
    """Copies delivered."""
    undelivered: int
    overdue: int
    """Undelivered copies that had already waited longer than the objective at the journal's end."""
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    within_objective: float | None
    """Share (0 to 1) of the copies decided so far that met the objective: delivered within it, out
    of those delivered and those overdue. A copy still waiting and not yet late is not counted."""


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
    """Delivered copies per latency bin (`LATENCY_BINS_S`), per precedence."""

    edges_s: tuple[float, ...]
    counts: tuple[tuple[Precedence, tuple[int, ...]], ...]


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


def speed_of_service(
    deliveries: Iterable[DeliveryRow],
    transmissions: Iterable[TransmissionRow] = (),
    events: Iterable[EventRow] = (),
    *,
    cables: Mapping[str, int] | None = None,
    intercepts: int = 0,
) -> Report:
    """The report of a journal's rows. ``cables`` counts cables by status.

    A copy's writer-to-reader time runs from its cable's arrival to the end of the transmission that
    delivered it; a copy acknowledged with no delivery time recorded counts as delivered when it was
    acknowledged (its receipt proves that much). Percentiles are nearest-rank; shares within objective
    are of delivered copies and overdue ones (undelivered, and older than the objective at the
    journal's last moment): a backlog that misses its objective shows as such.
    """
    deliveries = list(deliveries)
    transmissions = list(transmissions)
    start, end = _span(deliveries, transmissions)
    return Report(
        precedences=tuple(_speeds(deliveries, end)),
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


def _speeds(deliveries: list[DeliveryRow], end: float) -> Iterable[SpeedOfService]:
    times: defaultdict[Precedence, list[float]] = defaultdict(list)
    undelivered: Counter[Precedence] = Counter()
    overdue: Counter[Precedence] = Counter()
    for row in deliveries:
        precedence = Precedence(row.precedence)
        latency = _latency(row)
        if latency is None:
            undelivered[precedence] += 1
            overdue[precedence] += end - row.received_at > OBJECTIVE_S[precedence]
        else:
            times[precedence].append(latency)
    for precedence in sorted(times.keys() | undelivered.keys(), reverse=True):
        yield _speed(precedence, sorted(times[precedence]), undelivered[precedence], overdue[precedence])


def _speed(precedence: Precedence, ordered: list[float], undelivered: int, overdue: int) -> SpeedOfService:
    objective = OBJECTIVE_S[precedence]
    if not ordered:
        share = 0.0 if overdue else None
        return SpeedOfService(precedence, objective, 0, undelivered, overdue, None, None, None, None, share)
    return SpeedOfService(
        precedence,
        objective,
        count=len(ordered),
        undelivered=undelivered,
        overdue=overdue,
        p50_s=nearest_rank(ordered, 50),
        p95_s=nearest_rank(ordered, 95),
        p99_s=nearest_rank(ordered, 99),
        max_s=ordered[-1],
        within_objective=bisect.bisect_right(ordered, objective) / (len(ordered) + overdue),
    )


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
    for row in deliveries:
        latency = _latency(row)
        if latency is not None:
            counts[Precedence(row.precedence)][_bin(latency)] += 1
    ordered = sorted(counts.items(), reverse=True)
    return LatencyHistogram(tuple(map(float, LATENCY_BINS_S)), tuple((p, tuple(c)) for p, c in ordered))


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
            )
    except (sqlite3.Error, ValueError) as exc:  # ValueError: a precedence this router never writes
        raise JournalReadError(str(journal), str(exc)) from exc


def to_json(report: Report) -> dict[str, Any]:
    """One JSON object: the figures per precedence (times in simulated seconds) and the totals."""
    return {
        "precedence": {
            s.precedence.value: {
                "count": s.count,
                "p50_s": _ms(s.p50_s),
                "p95_s": _ms(s.p95_s),
                "p99_s": _ms(s.p99_s),
                "max_s": _ms(s.max_s),
                "within_objective": s.within_objective,
                "objective_s": s.objective_s,
                "undelivered": s.undelivered,
                "overdue": s.overdue,
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


TABLE_COLUMNS = (
    "precedence",
    "objective",
    "delivered",
    "p50",
    "p95",
    "p99",
    "max",
    "within objective",
    "undelivered",
)
NOTE = (
    "Simulated time, writer to reader; nearest-rank percentiles; ECP is held to FLASH's objective;"
    " a copy still undelivered past its objective (late) counts as missing it."
)


def table_rows(report: Report) -> list[tuple[str, ...]]:
    """The speed-of-service table as text, one row per precedence: the terminal and the page share it."""
    return [
        (
            s.precedence.value,
            duration(s.objective_s),
            str(s.count),
            *(duration(t) for t in (s.p50_s, s.p95_s, s.p99_s, s.max_s)),
            "-" if s.within_objective is None else f"{100 * s.within_objective:.1f} %",
            f"{s.undelivered} ({s.overdue} late)" if s.overdue else str(s.undelivered),
        )
        for s in report.precedences
    ]


def render_terminal(report: Report, console: Console) -> None:
    """Print the speed-of-service table and the totals."""
    table = Table(title="Speed of service", caption=NOTE)
    for column in TABLE_COLUMNS:
        table.add_column(column, justify="left" if column == "precedence" else "right")
    for row in table_rows(report):
        table.add_row(*row)
    if not report.precedences:
        table.add_row("no deliveries in the journal", *[""] * (len(TABLE_COLUMNS) - 1))
    totals = Table(title="Totals", show_header=False)
    totals.add_column("what")
    totals.add_column("count", justify="right")
    for name, value in asdict(report.totals).items():
        totals.add_row(name.replace("_", " "), str(value))
    console.print(table)
    console.print(totals)
