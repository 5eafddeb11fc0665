"""The report's page: the speed-of-service table and three plots, drawn here as inline SVG.

The page needs no script and fetches nothing, so it opens from a file anywhere, offline.
"""

from __future__ import annotations

import html
import math
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from router.cable.models import Precedence
from router.readout.report import (
    LATENCY_BINS_S,
    NOTE,
    SWITCH_COLUMNS,
    SWITCH_TARGET_S,
    SWITCH_TITLE,
    WRITER_COLUMNS,
    WRITER_TITLE,
    switch_rows,
    writer_rows,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from router.readout.report import Report


def write_html(report: Report, out_dir: Path) -> Path:
    """Write ``out_dir/index.html``: the tables and three plots as inline SVG, with nothing to fetch."""
    out_dir.mkdir(parents=True, exist_ok=True)
    totals = "".join(
        f"<tr><th>{_e(k.replace('_', ' '))}</th><td>{v}</td></tr>" for k, v in asdict(report.totals).items()
    )
    page = _PAGE.format(
        style=PAGE_STYLE,
        note=_e(NOTE),
        switch=html_table("in-switch", SWITCH_TITLE, SWITCH_COLUMNS, switch_rows(report)),
        writer=html_table("writer-to-reader", WRITER_TITLE, WRITER_COLUMNS, writer_rows(report)),
        totals=totals,
        plots="\n".join((_latency_svg(report), _queue_depth_svg(report), _busts_svg(report))),
    )
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def html_table(
    table_id: str,
    title: str,
    columns: Sequence[str],
    rows: list[tuple[str, ...]],
    *,
    empty: str = "no deliveries in the journal",
) -> str:
    """A table of text rows under its title, all escaped; a row saying ``empty`` when there are none."""
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    body = body or f'<tr><td colspan="{len(columns)}">{_e(empty)}</td></tr>'
    table = f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    return f"<h2>{_e(title)}</h2>\n{table}"


PAGE_STYLE = """<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
td { text-align: right; white-space: nowrap; }
td:first-child, th { text-align: left; }
svg.plot { display: block; margin: 1em 0; background: #fff; border: 1px solid #ddd; }
</style>"""
"""The pages' style, inline: a page fetches nothing."""
_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Speed of service</title>
{style}
</head>
<body>
<h1>Speed of service</h1>
<p>{note}</p>
{switch}
{writer}
<h2>Totals</h2>
<table id="totals"><tbody>{totals}</tbody></table>
<h2>Plots</h2>
{plots}
</body>
</html>
"""


# The plots: inline SVG drawn here, so the page needs no script and fetches nothing.
_WIDTH, _HEIGHT = 780, 340
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 620, 40, 280
"""The plot area; the legend goes right of it."""
_PRECEDENCE_COLOURS = {
    Precedence.ECP: "#6a1b9a",
    Precedence.FLASH: "#c62828",
    Precedence.IMMEDIATE: "#ef6c00",
    Precedence.PRIORITY: "#1565c0",
    Precedence.ROUTINE: "#2e7d32",
}
_POST_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
_Ticks = list[tuple[float, str]]
_Legend = list[tuple[str, str]]
"""(colour, name) of each legend entry."""


@dataclass(frozen=True, slots=True)
class _Scale:
    """Data to pixels: x from 0 to ``x_max`` across the plot area, y from 0 to ``y_max`` up it."""

    x_max: float
    y_max: float

    def x(self, value: float) -> float:
        return round(_LEFT + (_RIGHT - _LEFT) * value / self.x_max, 2)

    def y(self, value: float) -> float:
        return round(_BOTTOM - (_BOTTOM - _TOP) * value / self.y_max, 2)


def _latency_svg(report: Report) -> str:
    """Copies per bin of time in the switch, per precedence, and a last column for those never delivered."""
    title = "Time in the switch per precedence: arrival to delivery at the post"
    labels = ("time, simulated (bin lower bounds); last: not delivered", "copies")
    histogram = report.latency
    if not histogram.counts:
        return _no_data("latency", title, labels, "no copy in the journal")
    bins = len(histogram.edges_s)
    undelivered = dict(histogram.undelivered)
    x_ticks = [(float(i), _short(edge)) for i, edge in enumerate(histogram.edges_s)]
    x_ticks += [(float(bins), "more"), (bins + 0.5, "not delivered")]
    highest = max(max((*c, undelivered.get(p, 0))) for p, c in histogram.counts)
    y_ticks = _nice_ticks(highest, whole=True)
    scale = _Scale(bins + 1, y_ticks[-1][0])
    width = 0.8 / len(histogram.counts)
    marks = [
        _bar(
            scale,
            (i + 0.1 + j * width, width),
            count,
            _PRECEDENCE_COLOURS[p],
            f"{p.value} {_short(edge)}: {count}",
        )
        for j, (p, counts) in enumerate(histogram.counts)
        for i, (edge, count) in enumerate(zip(histogram.edges_s, counts, strict=True))
        if count
    ]
    # Copies never delivered are not left out: a run with a backlog must not look healthier than it was.
    marks += [
        _bar(
            scale,
            (bins + 0.1 + j * width, width),
            undelivered[p],
            _PRECEDENCE_COLOURS[p],
            f"{p.value} not delivered: {undelivered[p]}",
        )
        for j, (p, _) in enumerate(histogram.counts)
        if undelivered.get(p)
    ]
    targets: defaultdict[float, list[str]] = defaultdict(list)
    for precedence, _ in histogram.counts:
        if precedence in SWITCH_TARGET_S:
            targets[SWITCH_TARGET_S[precedence]].append(precedence.value)
    for target, names in targets.items():
        x = scale.x(LATENCY_BINS_S.index(int(target)))
        marks.append(
            f'<line class="objective" x1="{x}" y1="{_TOP}" x2="{x}" y2="{_BOTTOM}" stroke="#555"'
            f' stroke-dasharray="4 3"/><text font-size="10" transform="translate({x + 3} {_TOP + 4})'
            f' rotate(90)">{_e("/".join(names))} switch target</text>'
        )
    legend = [(_PRECEDENCE_COLOURS[p], p.value) for p, _ in histogram.counts]
    return _svg("latency", title, labels, _axes(scale, x_ticks, y_ticks) + marks, legend)


def _queue_depth_svg(report: Report) -> str:
    span = report.end - report.start
    unit, unit_name = _time_unit(span)
    title, labels = (
        "Copies waiting per post",
        (f"simulated time since the first cable ({unit_name})", "copies"),
    )
    waiting = sorted((q for q in report.queue_depth if q.peak), key=lambda q: (-q.peak, q.post))
    if not waiting:
        return _no_data("queue-depth", title, labels, "no copy waited")
    x_ticks = _nice_ticks(span / unit)
    y_ticks = _nice_ticks(waiting[0].peak, whole=True)
    scale = _Scale(x_ticks[-1][0], y_ticks[-1][0])
    shown = waiting[: len(_POST_COLOURS)]
    marks = [
        f'<path class="mark" d="{_step_path(scale, q.steps, report.start, unit, span)}" fill="none"'
        f' stroke="{colour}" stroke-width="1.5"><title>{_e(q.post)}: at most {q.peak}</title></path>'
        for q, colour in zip(shown, _POST_COLOURS, strict=False)
    ]
    legend = [(colour, q.post) for q, colour in zip(shown, _POST_COLOURS, strict=False)]
    if len(waiting) > len(shown):
        legend.append(("none", f"{len(waiting) - len(shown)} more posts not drawn"))
    return _svg("queue-depth", title, labels, _axes(scale, x_ticks, y_ticks) + marks, legend)


def _step_path(
    scale: _Scale, steps: Sequence[tuple[float, int]], start: float, unit: float, span: float
) -> str:
    path = [f"M{scale.x((steps[0][0] - start) / unit)} {scale.y(0)}"]
    for at, depth in _thin(steps, start, span):
        path.append(f"H{scale.x((at - start) / unit)} V{scale.y(depth)}")
    path.append(f"H{scale.x(span / unit)}")
    return " ".join(path)


def _thin(steps: Sequence[tuple[float, int]], start: float, span: float) -> Sequence[tuple[float, int]]:
    """At most two steps per pixel column, its highest and its last: no peak is lost from the drawing."""
    columns = _RIGHT - _LEFT
    if len(steps) <= 2 * columns or span <= 0:
        return steps
    by_column: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for at, depth in steps:
        by_column[int((at - start) / span * (columns - 1))].append((at, depth))
    thinned = []
    for column in sorted(by_column):
        in_column = by_column[column]
        highest = max(in_column, key=lambda step: step[1])
        thinned += [highest] if highest == in_column[-1] else [highest, in_column[-1]]
    return thinned


def _busts_svg(report: Report) -> str:
    busts = report.busts
    unit, unit_name = _time_unit(report.end - report.start)
    title, labels = (
        "Busts (pre-empted transmissions)",
        (f"simulated time since the first cable ({unit_name})", "busts"),
    )
    if not busts.counts:
        return _no_data("busts", title, labels, "no transmission busted")
    x_ticks = _nice_ticks(len(busts.counts) * busts.bucket_s / unit)
    y_ticks = _nice_ticks(max(busts.counts), whole=True)
    scale = _Scale(x_ticks[-1][0], y_ticks[-1][0])
    width = busts.bucket_s / unit
    marks = [
        _bar(scale, (i * width, width), count, "#c62828", f"from {_short(i * busts.bucket_s)}: {count}")
        for i, count in enumerate(busts.counts)
        if count
    ]
    legend = [("#c62828", f"busts per {_short(busts.bucket_s)}")]
    return _svg("busts", title, labels, _axes(scale, x_ticks, y_ticks) + marks, legend)


def _bar(scale: _Scale, where: tuple[float, float], height: float, colour: str, tip: str) -> str:
    """A bar from ``where`` = (x, width) in data units, up to ``height``, with its figure as a tooltip."""
    x, width = where
    left, top = scale.x(x), scale.y(height)
    pixels = max(1.0, round(scale.x(x + width) - left - 1, 2))
    return (
        f'<rect class="mark" x="{left}" y="{top}" width="{pixels}" height="{round(_BOTTOM - top, 2)}"'
        f' fill="{colour}"><title>{_e(tip)}</title></rect>'
    )


def _svg(plot_id: str, title: str, labels: tuple[str, str], body: list[str], legend: _Legend) -> str:
    x_label, y_label = (_e(label) for label in labels)
    middle_x, middle_y = (_LEFT + _RIGHT) / 2, (_TOP + _BOTTOM) / 2
    parts = [
        (
            f'<svg id="{plot_id}" class="plot" xmlns="http://www.w3.org/2000/svg" width="{_WIDTH}"'
            f' height="{_HEIGHT}" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img"'
            f' aria-labelledby="{plot_id}-title" font-family="sans-serif" font-size="12">'
        ),
        f'<title id="{plot_id}-title">{_e(title)}</title>',
        f'<text x="{middle_x}" y="22" text-anchor="middle" font-weight="bold">{_e(title)}</text>',
        *body,
        f'<path class="axis" d="M{_LEFT} {_TOP} V{_BOTTOM} H{_RIGHT}" fill="none" stroke="#444"/>',
        f'<text class="axis-label" x="{middle_x}" y="{_HEIGHT - 14}" text-anchor="middle">{x_label}</text>',
        (
            f'<text class="axis-label" text-anchor="middle" transform="translate(18 {middle_y}) rotate(-90)">'
            f"{y_label}</text>"
        ),
        '<g class="legend">',
    ]
    for i, (colour, name) in enumerate(legend):
        y = _TOP + 18 * i
        parts.append(f'<rect x="{_RIGHT + 16}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{_RIGHT + 34}" y="{y + 10}">{_e(name)}</text>')
    return "\n".join([*parts, "</g>", "</svg>"])


def _no_data(plot_id: str, title: str, labels: tuple[str, str], reason: str) -> str:
    text = (
        f'<text class="no-data" x="{(_LEFT + _RIGHT) / 2}" y="{(_TOP + _BOTTOM) / 2}" text-anchor="middle"'
        f' fill="#777">no data: {_e(reason)}</text>'
    )
    return _svg(plot_id, title, labels, [text], [])


def _axes(scale: _Scale, x_ticks: _Ticks, y_ticks: _Ticks) -> list[str]:
    parts = ['<g class="ticks" font-size="11" fill="#444">']
    for value, label in y_ticks:
        y = scale.y(value)
        parts.append(f'<line x1="{_LEFT}" y1="{y}" x2="{_RIGHT}" y2="{y}" stroke="#eee"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{y + 4}" text-anchor="end">{_e(label)}</text>')
    for value, label in x_ticks:
        x = scale.x(value)
        parts.append(f'<line x1="{x}" y1="{_BOTTOM}" x2="{x}" y2="{_BOTTOM + 4}" stroke="#444"/>')
        parts.append(f'<text x="{x}" y="{_BOTTOM + 17}" text-anchor="middle">{_e(label)}</text>')
    return [*parts, "</g>"]


def _nice_ticks(high: float, *, whole: bool = False) -> _Ticks:
    """About five ticks from 0 past ``high`` at a 1-2-5 step; ``whole`` for counts (no half copies)."""
    high = high if high > 0 else 1.0
    raw = high / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(1.0, step) if whole else step
    count = max(1, math.ceil(high / step - 1e-9))
    return [(i * step, f"{i * step:g}") for i in range(count + 1)]


def _time_unit(span: float) -> tuple[float, str]:
    """Seconds, minutes or hours, whichever keeps the time axis's numbers short."""
    if span <= 180:
        return 1.0, "s"
    if span <= 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def _short(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 60:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s" if seconds else "0"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
