"""`router report --journal A --journal B ...`: the centres' journals as one network's speed of service.

Besides each centre's own report (`router.readout.report`, as for one journal), the network's:
end to end per precedence, each trunk's stages and each centre's time to send a copy on
(`router.readout.network_speed` computes them). As a terminal's tables, one JSON object, or a page:
``DIR/index.html`` with the network's tables and each centre's, and each centre's own page with
its plots under ``DIR/<CENTRE>/``; inline, nothing to fetch, it opens offline.
`write_network_report` is what `router demo --network` calls.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.cable.models import Precedence
from router.readout.network_speed import network_speed, read_centres
from router.readout.plots import PAGE_STYLE, html_table, write_html
from router.readout.report import (
    NOTE,
    SWITCH_COLUMNS,
    SWITCH_TITLE,
    WRITER_COLUMNS,
    WRITER_TITLE,
    arrival_rows,
    duration,
    measure_json,
    read_report,
    render_terminal,
    switch_rows,
    text_table,
    to_json,
    writer_rows,
    writer_rows_of,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from router.readout.network_speed import CentreSpeed, NetworkSpeed, TrunkSpeed
    from router.readout.report import Measure, Report


@dataclass(frozen=True, slots=True)
class CentreReport:
    """One centre's journal and its own report, as `router report` gives it for that journal alone."""

    centre: str
    journal: str
    report: Report


@dataclass(frozen=True, slots=True)
class NetworkReport:
    """The network's figures and each centre's own report, in the order traffic first reached them."""

    network: NetworkSpeed
    centres: tuple[CentreReport, ...]


def read_network_report(journals: Sequence[Path]) -> NetworkReport:
    """The report of the centres' journals (`JournalReadError` names a journal that cannot be read)."""
    read = read_centres(journals)
    network = network_speed(read)
    paths = {centre.centre: centre.path for centre in read}
    return NetworkReport(
        network, tuple(CentreReport(c, paths[c], read_report(paths[c])) for c in network.centres)
    )


def write_network_report(journals: Sequence[Path], out: Path) -> Path:
    """Read the centres' journals and write ``out/index.html`` (and each centre's): the page's path."""
    return write_network_html(read_network_report(journals), out)


# --- the tables, as text rows: the terminal and the page share them

END_TO_END_TITLE = "End to end: arrival at the originating centre to delivery at the post"
END_TO_END_COLUMNS = (*SWITCH_COLUMNS, "untraced")
WRITER_END_TO_END_TITLE = (
    "End to end, writer to reader: date-time group (or filing time) to delivery at the post"
)
TRUNK_TITLE = (
    "Per hop, each trunk: queued to transmission start, start to end, end to the next centre's receipt"
)
TRUNK_COLUMNS = ("trunk", "precedence", "copies", "busts", "stage", "count", "p50", "p99", "max")
CENTRE_TITLE = "Per centre: a copy's arrival to the start and to the end of its onward transmission"
CENTRE_COLUMNS = (
    "centre",
    "precedence",
    "copies",
    "from arrival to",
    "count",
    "p50",
    "p99",
    "max",
    "target",
    "within target",
)
NETWORK_NOTE = (
    "Across the centres' journals, matched by message id (FL3) and each trunk copy's routing line"
    " (FL2). End to end is held to the switch's target as one switch's time is; a copy still on a"
    " trunk counts as undelivered, one whose way back to its originating centre leaves the journals"
    " given as untraced. A trunk's count is of the copies through that stage; busts are of its"
    " transmissions. "
) + NOTE
EMPTY = "no deliveries in the journals"


def end_to_end_rows(network: NetworkSpeed) -> list[tuple[str, ...]]:
    """End to end as text, one row per precedence, with the copies that could not be traced."""
    untraced = dict(network.untraced)
    rows = [
        (*row, str(untraced.pop(s.precedence, 0)))
        for s, row in zip(network.end_to_end, arrival_rows(network.end_to_end), strict=True)
    ]
    blank = ("0", *["-"] * (len(SWITCH_COLUMNS) - 3))
    rows += [(precedence.value, *blank, "0", str(count)) for precedence, count in untraced.items()]
    return sorted(rows, key=lambda row: Precedence(row[0]), reverse=True)


def _stage(measure: Measure) -> tuple[str, ...]:
    return (str(measure.count), *(duration(t) for t in (measure.p50_s, measure.p99_s, measure.max_s)))


def trunk_rows(network: NetworkSpeed) -> list[tuple[str, ...]]:
    """Each trunk's stages as text: three rows per trunk and precedence."""
    rows = []
    for trunk in network.trunks:
        stages = (
            ("queue wait", trunk.queue_wait),
            ("transmission", trunk.transmission),
            ("receipt", trunk.receipt),
        )
        for number, (stage, measure) in enumerate(stages):
            head = (
                f"{trunk.sender} → {trunk.receiver}",
                trunk.precedence.value,
                str(trunk.copies),
                str(trunk.busts),
            )
            rows.append((*(head if number == 0 else [""] * len(head)), stage, *_stage(measure)))
    return rows


def centre_rows(network: NetworkSpeed) -> list[tuple[str, ...]]:
    """Each centre's time to send a copy on, as text: two rows per centre and precedence."""
    rows = []
    for speed in network.in_centre:
        head = (speed.centre, speed.precedence.value, str(speed.copies))
        rows.append((*head, "start", *_stage(speed.to_start), "-", "-"))
        within = "-" if speed.to_end.within_target is None else f"{100 * speed.to_end.within_target:.1f} %"
        rows.append(("", "", "", "end", *_stage(speed.to_end), duration(speed.to_end.target_s), within))
    return rows


def render_network_terminal(report: NetworkReport, console: Console) -> None:
    """Each centre's report as for its journal alone, then the network's four tables."""
    for centre in report.centres:
        console.rule(f"{centre.centre}: {centre.journal}")
        render_terminal(centre.report, console)
    console.rule("The network")
    network = report.network
    console.print(text_table(END_TO_END_TITLE, END_TO_END_COLUMNS, end_to_end_rows(network), empty=EMPTY))
    writer = writer_rows_of(network.end_to_end)
    console.print(text_table(WRITER_END_TO_END_TITLE, WRITER_COLUMNS, writer, empty=EMPTY))
    console.print(text_table(TRUNK_TITLE, TRUNK_COLUMNS, trunk_rows(network), empty="no trunk copies"))
    console.print(text_table(CENTRE_TITLE, CENTRE_COLUMNS, centre_rows(network), NETWORK_NOTE, empty=EMPTY))


# --- one JSON object


def network_json(report: NetworkReport) -> dict[str, Any]:
    """One JSON object: ``end_to_end`` per precedence, ``hops`` per trunk and precedence, ``centres``."""
    network = report.network
    untraced = dict(network.untraced)
    end_to_end = {
        s.precedence.value: {
            "count": s.count,
            "undelivered": s.undelivered,
            "in_network": measure_json(s.in_switch),
            "writer_to_reader": measure_json(s.writer_to_reader),
            "unmeasured": s.unmeasured,
            "untraced": untraced.get(s.precedence, 0),
        }
        for s in network.end_to_end
    }
    return {
        "end_to_end": end_to_end,
        "untraced": {precedence.value: count for precedence, count in network.untraced},
        "hops": [_trunk_json(trunk) for trunk in network.trunks],
        "centres": {
            centre.centre: {
                "journal": centre.journal,
                "onward": {
                    speed.precedence.value: _centre_json(speed)
                    for speed in network.in_centre
                    if speed.centre == centre.centre
                },
                "report": to_json(centre.report),
            }
            for centre in report.centres
        },
    }


def _trunk_json(trunk: TrunkSpeed) -> dict[str, Any]:
    return {
        "from": trunk.sender,
        "to": trunk.receiver,
        "precedence": trunk.precedence.value,
        "copies": trunk.copies,
        "busts": trunk.busts,
        "queue_wait": measure_json(trunk.queue_wait),
        "transmission": measure_json(trunk.transmission),
        "receipt": measure_json(trunk.receipt),
    }


def _centre_json(speed: CentreSpeed) -> dict[str, Any]:
    return {
        "copies": speed.copies,
        "to_start": measure_json(speed.to_start),
        "to_end": measure_json(speed.to_end),
    }


# --- the page


def write_network_html(report: NetworkReport, out_dir: Path) -> Path:
    """Write ``out_dir/index.html`` and each centre's own page (its plots) under ``out_dir/<CENTRE>/``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    network = report.network
    sections = [
        html_table("end-to-end", END_TO_END_TITLE, END_TO_END_COLUMNS, end_to_end_rows(network), empty=EMPTY),
        html_table(
            "end-to-end-writer",
            WRITER_END_TO_END_TITLE,
            WRITER_COLUMNS,
            writer_rows_of(network.end_to_end),
            empty=EMPTY,
        ),
        html_table("hops", TRUNK_TITLE, TRUNK_COLUMNS, trunk_rows(network), empty="no trunk copies"),
        html_table("centres", CENTRE_TITLE, CENTRE_COLUMNS, centre_rows(network), empty=EMPTY),
    ]
    for number, centre in enumerate(report.centres):
        folder = page_folder(centre.centre)
        write_html(centre.report, out_dir / folder)
        sections.append(
            f'<h2 id="centre-{number}">{_e(centre.centre)}: <a href="{_e(folder)}/index.html">its page, with'
            f" the plots</a> ({_e(centre.journal)})</h2>"
        )
        sections.append(
            html_table(f"in-switch-{number}", SWITCH_TITLE, SWITCH_COLUMNS, switch_rows(centre.report))
        )
        sections.append(
            html_table(f"writer-to-reader-{number}", WRITER_TITLE, WRITER_COLUMNS, writer_rows(centre.report))
        )
    page = _PAGE.format(style=PAGE_STYLE, note=_e(NETWORK_NOTE), sections="\n".join(sections))
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def page_folder(centre: str) -> str:
    """Where a centre's own page goes under the report's folder: its name, as a safe folder name.

    By the centre, not the journal's file name: two centres' journals may share one (each in its
    own folder); `read_centres` refuses two journals of one centre.
    """
    return re.sub(r"[^A-Za-z0-9_-]", "_", centre) or "_"


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Speed of service across the network</title>
{style}
</head>
<body>
<h1>Speed of service across the network</h1>
<p>{note}</p>
{sections}
</body>
</html>
"""


def _e(text: str) -> str:
    return html.escape(text, quote=True)
