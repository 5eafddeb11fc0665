"""The speed-of-service report: figures worked out by hand from a journal, its JSON, terminal and page."""

from __future__ import annotations

import io
import json
import math
import re
import sqlite3
import xml.etree.ElementTree as ET
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from rich.console import Console
from typer.testing import CliRunner

from router.cable.models import Precedence
from router.cable.parser import parse_cable
from router.cli import app
from router.errors import JournalReadError
from router.journal.queries import DeliveryRow, TransmissionRow
from router.journal.store import Journal
from router.readout.plots import write_html
from router.readout.report import (
    BustSeries,
    QueueDepth,
    nearest_rank,
    read_report,
    render_terminal,
    speed_of_service,
    to_json,
    writer_time,
    written_at,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

T0 = 1_700_000_000.0
"""Every cable of the hand-worked journal reaches the switch at this simulated instant."""
SVG = "{http://www.w3.org/2000/svg}"
FLASH_S = (30, 60, 90, 120, 150, 180, 240, 300, 480, 900)
IMMEDIATE_S = tuple(90 * i for i in range(1, 21))
EXPECTED_TOTALS = {
    "cables_received": 38,
    "rejections": 2,
    "intercepts": 2,
    "duplicates_filed": 3,
    "deliveries": 34,
    "delivered": 33,
    "acknowledged": 10,
    "busts": 3,
    "retransmissions": 3,
    "gaps_reported": 2,
    "gaps_repaired": 2,
}


class Traffic:
    """Rows written straight into a journal's tables, as the service would have left them."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def cable(self, status: str = "routed", received_at: float = T0) -> int:
        """A cable as the switch left it, with no deliveries."""
        cursor = self.db.execute(
            "INSERT INTO cables (received_at, topic, raw, status) VALUES (?, 'cables/in/test', x'00', ?)",
            (received_at, status),
        )
        return int(cursor.lastrowid or 0)

    def copy(self, precedence: str, post: str, latency: float | None, *, acknowledged: bool = False) -> int:
        """A cable received at T0 and its one copy, queued 5 s later and delivered ``latency`` after T0."""
        delivered_at = None if latency is None else T0 + latency
        acknowledged_at = delivered_at + 10 if acknowledged and delivered_at is not None else None
        state = "acknowledged" if acknowledged_at else "delivered" if delivered_at else "queued"
        cursor = self.db.execute(
            "INSERT INTO deliveries (cable_id, post, precedence, role, niact, via, needs_ack, state,"
            " queued_at, delivered_at, acknowledged_at)"
            " VALUES (?, ?, ?, 'action', 0, 'direct', ?, ?, ?, ?, ?)",
            (self.cable(), post, precedence, int(acknowledged), state, T0 + 5, delivered_at, acknowledged_at),
        )
        return int(cursor.lastrowid or 0)

    def raw(self, delivery_id: int, text: str) -> None:
        """The cable of a delivery, as its writer released it."""
        self.db.execute(
            "UPDATE cables SET raw = ? WHERE id = (SELECT cable_id FROM deliveries WHERE id = ?)",
            (text.encode(), delivery_id),
        )

    def transmission(self, delivery_id: int, cause: str, outcome: str, ended_after: float) -> None:
        """A one-second transmission of a delivery that ended ``ended_after`` seconds after T0."""
        self.db.execute(
            "INSERT INTO transmissions (delivery_id, post, channel, serial, cause, bytes, started_at,"
            " ended_at, outcome) VALUES (?, 'RUEHC', 'HCA', 1, ?, 900, ?, ?, ?)",
            (delivery_id, cause, T0 + ended_after - 1, T0 + ended_after, outcome),
        )

    def event(self, event: str, fields: dict[str, object]) -> None:
        """An entry of the routing log."""
        self.db.execute(
            "INSERT INTO events (at, event, fields) VALUES (?, ?, ?)", (T0, event, json.dumps(fields))
        )


@contextmanager
def traffic(path: Path) -> Iterator[Traffic]:
    """A journal with the router's own schema, and a connection to fill it, committed at the end."""
    Journal(path).close()
    with closing(sqlite3.connect(path)) as db, db:
        yield Traffic(db)


@pytest.fixture
def known_journal(tmp_path: Path) -> Path:
    """The hand-worked journal: every expected figure in this module follows from these rows."""
    path = tmp_path / "journal.sqlite"
    with traffic(path) as rows:
        flash = [rows.copy("FLASH", "RUEHC", s, acknowledged=True) for s in FLASH_S]
        for seconds in IMMEDIATE_S:
            rows.copy("IMMEDIATE", "RUEHFR", seconds)
        rows.copy("ECP", "RUEHKO", 700)
        for routine_s in (3600, 25200, None):
            rows.copy("ROUTINE", "RUEHKO", routine_s)
        for status in ("rejected", "rejected", "duplicate", "received"):
            rows.cable(status)
        rows.db.executemany(
            "INSERT INTO intercepts (cable_id, addressee, reason, post)"
            " VALUES (?, ?, 'unknown-addressee', NULL)",
            [(1, "AMEMBASSY NOWHERE"), (1, "AMCONSUL ATLANTIS")],
        )
        for cause, outcome, ended_after in (
            ("first", "busted", 100),
            ("bust", "busted", 200),
            ("first", "busted", 5000),
            ("bust", "delivered", 300),
            ("zfx", "delivered", 400),
            ("zfx", "cut", 500),
            ("ack-timeout", "delivered", 600),
            ("outage", "delivered", 700),
        ):
            rows.transmission(flash[0], cause, outcome, ended_after)
        rows.event("duplicate-filed", {"post": "RUEHC", "serial": 7})
        rows.event("duplicate-filed", {"post": "RUEHFR", "serial": 2})
        rows.event("gap", {"post": "RUEHC", "serials": [4, 5]})
        rows.event("gap-cancelled", {"post": "RUEHC", "transmission": "HCA0005"})
        rows.event("routed", {"cable_id": 1})
    return path


def test_nearest_rank_takes_a_real_value_without_interpolating() -> None:
    """The p-th percentile is value number ceil(p/100 x n): the median of 1..4 is 2, not 2.5."""
    assert nearest_rank([1, 2, 3, 4], 50) == 2
    assert nearest_rank([10, 20, 30], 50) == 20
    assert nearest_rank([1, 2, 3, 4, 5], 50) == 3, (
        "rank ceil(2.5) = 3: a rank is rounded up, never to nearest"
    )
    assert nearest_rank([float(i) for i in range(1, 31)], 95) == 29, "rank ceil(28.5) = 29"
    hundred = [float(i) for i in range(1, 101)]
    assert (nearest_rank(hundred, 95), nearest_rank(hundred, 99), nearest_rank(hundred, 100)) == (95, 99, 100)
    assert nearest_rank([7.5], 99) == 7.5


def _unmeasured(objective: float) -> dict[str, object]:
    """Writer to reader of copies whose cables carry no writer's time (the journal's raw is x'00')."""
    return {
        "target_s": objective,
        "count": 0,
        "overdue": 0,
        "p50_s": None,
        "p95_s": None,
        "p99_s": None,
        "max_s": None,
        "within_target": None,
    }


def test_figures_per_precedence_match_the_hand_worked_journal(known_journal: Path) -> None:
    """Counts, nearest-rank percentiles, shares within the switch's target and undelivered copies."""
    figures = to_json(read_report(known_journal))["precedence"]
    assert list(figures) == ["ECP", "FLASH", "IMMEDIATE", "ROUTINE"], "PRIORITY has no copy, so no row"
    assert figures["ECP"] == {
        "count": 1,
        "undelivered": 0,
        "in_switch": {
            "target_s": 120.0,
            "count": 1,
            "overdue": 0,
            "p50_s": 700.0,
            "p95_s": 700.0,
            "p99_s": 700.0,
            "max_s": 700.0,
            "within_target": 0.0,
        },
        "writer_to_reader": _unmeasured(600.0),
        "unmeasured": 1,
    }, "ECP is held to FLASH's targets"
    assert figures["FLASH"]["in_switch"] == {
        "target_s": 120.0,
        "count": 10,
        "overdue": 0,
        "p50_s": 150.0,
        "p95_s": 900.0,
        "p99_s": 900.0,
        "max_s": 900.0,
        "within_target": 0.4,
    }, "30, 60, 90 and 120 s are within the switch's 2 minutes; exactly the target is within it"
    assert figures["IMMEDIATE"]["in_switch"] == {
        "target_s": None,
        "count": 20,
        "overdue": 0,
        "p50_s": 900.0,
        "p95_s": 1710.0,
        "p99_s": 1800.0,
        "max_s": 1800.0,
        "within_target": None,
    }, "a switch had no target of its own below FLASH"
    assert figures["ROUTINE"] == {
        "count": 2,
        "undelivered": 1,
        "in_switch": {
            "target_s": None,
            "count": 2,
            "overdue": 0,
            "p50_s": 3600.0,
            "p95_s": 25200.0,
            "p99_s": 25200.0,
            "max_s": 25200.0,
            "within_target": None,
        },
        "writer_to_reader": _unmeasured(21600.0),
        "unmeasured": 2,
    }


TOKYO = (
    "VZCZCXYZ0000\nOO RUEHWEB\nDE RUEHKO #1571 3182210\nZNY CCCCC ZZH\nO {dtg}\nFM AMEMBASSY TOKYO\n"
    "TO RUEHC/SECSTATE WASHDC IMMEDIATE 4887\nBT\nC O N F I D E N T I A L TOKYO 001571\n\nSUBJECT: A TEST\n"
)
"""A cable whose date-time group the test sets: its writer's time."""


def test_writer_to_reader_runs_from_the_date_time_group_to_delivery(tmp_path: Path) -> None:
    """Written 22:10Z, at the switch 200 s later: delivered 300 s after arrival is 500 s writer to reader.

    The objectives are ACP 121's (FLASH 10 min, IMMEDIATE 30 min): 500 s meets FLASH's; a copy of a
    cable written 29 min before arrival and still queued 2 min after it is late against IMMEDIATE's.
    A cable dated 2008 arriving in 2023 is replayed history: its copy is not measured writer to reader.
    """
    path = tmp_path / "journal.sqlite"
    with traffic(path) as rows:
        on_time = rows.copy("FLASH", "RUEHC", 300)
        waiting = rows.copy("IMMEDIATE", "RUEHC", None)
        replayed = rows.copy("FLASH", "RUEHFR", 60)
        rows.copy("ROUTINE", "RUEHFR", 120)  # its cable's raw is x'00': no writer's time
        rows.raw(on_time, TOKYO.format(dtg="142210Z NOV 23"))
        rows.raw(waiting, TOKYO.format(dtg="142144Z NOV 23").replace("#1571", "#1572"))
        rows.raw(replayed, TOKYO.format(dtg="090901Z JUN 08").replace("#1571", "#1573"))
    figures = to_json(read_report(path))["precedence"]
    assert figures["FLASH"]["writer_to_reader"] == {
        "target_s": 600.0,
        "count": 1,
        "overdue": 0,
        "p50_s": 500.0,
        "p95_s": 500.0,
        "p99_s": 500.0,
        "max_s": 500.0,
        "within_target": 1.0,
    }
    assert figures["FLASH"]["unmeasured"] == 1, "the cable of 2008 is not on this clock"
    assert figures["FLASH"]["in_switch"]["count"] == 2
    immediate = figures["IMMEDIATE"]["writer_to_reader"]
    assert (immediate["count"], immediate["overdue"], immediate["within_target"]) == (0, 1, 0.0)
    assert figures["ROUTINE"]["unmeasured"] == 1


def test_a_filing_time_is_the_writer_s_time_when_there_is_no_date_time_group() -> None:
    """The DE line's filing time (§116: Julian day and zulu time) is taken in the year before the arrival."""
    seed = parse_cable(TOKYO.format(dtg="142210Z NOV 23").replace("3182210", "3652359").encode())
    assert seed.dtg is not None
    assert written_at(seed, T0) == seed.dtg.timestamp(), "the date-time group comes first"
    undated = seed.model_copy(update={"dtg": None})
    arrival = datetime(2024, 1, 2, 12, 0, tzinfo=UTC).timestamp()
    assert written_at(undated, arrival) == datetime(2023, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert written_at(undated.model_copy(update={"station_serial": None}), arrival) is None
    assert writer_time(b"\x00", arrival) is None, "a cable that cannot be read has no writer's time"


def test_latency_histogram_bins_each_delivered_copy_once(known_journal: Path) -> None:
    """FLASH's ten times fall in the 30 s, 1 m, 2 m, 5 m and 10 m bins as 1, 2, 4, 2 and 1."""
    histogram = dict(read_report(known_journal).latency.counts)
    assert list(histogram) == [Precedence.ECP, Precedence.FLASH, Precedence.IMMEDIATE, Precedence.ROUTINE]
    assert histogram[Precedence.FLASH] == (0, 0, 0, 0, 1, 2, 4, 2, 1, 0, 0, 0, 0, 0, 0)
    assert histogram[Precedence.IMMEDIATE] == (0, 0, 0, 0, 0, 1, 2, 3, 13, 1, 0, 0, 0, 0, 0)
    assert histogram[Precedence.ROUTINE] == (0,) * 10 + (1, 0, 1, 0, 0)
    assert dict(read_report(known_journal).latency.undelivered)[Precedence.ROUTINE] == 1, (
        "the copy never delivered has a bar of its own, not left out"
    )


def test_busts_are_bucketed_over_the_journal_span(known_journal: Path) -> None:
    """Over 7 h (25,200 s) 40 buckets of 10 min fall short: 14 of 30 min, busts at 100, 200 and 5,000 s."""
    report = read_report(known_journal)
    assert (report.start, report.end) == (T0, T0 + 25200)
    assert report.busts == BustSeries(start=T0, bucket_s=1800.0, counts=(2, 0, 1) + (0,) * 11)


def test_queue_depth_counts_copies_queued_and_not_yet_delivered() -> None:
    """A copy waits from its queued_at (included) to its delivery (excluded); equal changes cancel out."""
    rows = [
        DeliveryRow("RUEHC", "ROUTINE", "delivered", 0.0, 0.0, 10.0, None),
        DeliveryRow("RUEHC", "ROUTINE", "delivered", 0.0, 5.0, 20.0, None),
        DeliveryRow("RUEHC", "ROUTINE", "queued", 0.0, 10.0, None, None),
        DeliveryRow("RUEHFR", "FLASH", "delivered", 0.0, 3.0, 3.0, None),
    ]
    assert speed_of_service(rows).queue_depth == (
        QueueDepth("RUEHC", ((0.0, 1), (5.0, 2), (20.0, 1)), peak=2),
        QueueDepth("RUEHFR", (), peak=0),
    )


def test_a_copy_acknowledged_without_a_delivery_time_counts_as_delivered_then() -> None:
    """The post's receipt proves the copy arrived: its time counts from the cable's arrival to the receipt."""
    rows = [DeliveryRow("RUEHC", "FLASH", "acknowledged", 100.0, 101.0, None, 400.0)]
    report = speed_of_service(rows)
    assert (report.totals.delivered, report.totals.acknowledged) == (1, 1)
    assert report.precedences[0].in_switch.max_s == 300.0


def test_busts_use_the_end_of_the_busted_transmission() -> None:
    """A bust is placed when its transmission stopped, or when it started if no end was recorded."""
    deliveries = [DeliveryRow("RUEHC", "ROUTINE", "delivered", 0.0, 0.0, 390.0, None)]
    transmissions = [
        TransmissionRow("RUEHC", "first", "busted", 10.0, 50.0),
        TransmissionRow("RUEHC", "first", "busted", 70.0, None),
        TransmissionRow("RUEHC", "bust", "delivered", 80.0, 390.0),
    ]
    busts = speed_of_service(deliveries, transmissions).busts
    assert busts == BustSeries(start=0.0, bucket_s=10.0, counts=(0, 0, 0, 0, 0, 1, 0, 1) + (0,) * 31)
    assert math.isclose(len(busts.counts) * busts.bucket_s, 390)


def test_the_terminal_table_shows_times_as_people_read_them(known_journal: Path) -> None:
    """The in-switch FLASH row: 10 delivered, p50 2.5 min, p95 15 min, target 2 min, 40 % within."""
    out = io.StringIO()
    render_terminal(read_report(known_journal), Console(file=out, width=160))
    text = out.getvalue()
    flash = next(line for line in text.splitlines() if "FLASH" in line)
    assert re.findall(r"[\d.]+ (?:min|s|h|%)|\b\d+\b", flash) == [
        "10",
        "2.5 min",
        "15.0 min",
        "15.0 min",
        "15.0 min",
        "2.0 min",
        "40.0 %",
        "0",
    ]
    assert "ACP 121" in text
    assert "nearest-rank" in text
    assert re.search(r"busts\s*│\s*3\b", text)


def plots(page: str) -> dict[str, ET.Element]:
    """Every inline SVG of a page by its id, parsed as XML (which fails on anything left unescaped)."""
    # S314: the page is this test's own output, not untrusted input.
    return {
        svg.attrib["id"]: svg
        for svg in (ET.fromstring(text) for text in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL))  # noqa: S314
    }


def marks(svg: ET.Element) -> list[ET.Element]:
    return [element for element in svg.iter() if element.attrib.get("class") == "mark"]


def test_the_page_draws_three_plots_with_axes_legends_and_marks(known_journal: Path, tmp_path: Path) -> None:
    """Latency bars per precedence and bin, a queue line per post that waited, bars for buckets with busts."""
    page = write_html(read_report(known_journal), tmp_path / "out").read_text(encoding="utf-8")
    svgs = plots(page)
    assert list(svgs) == ["latency", "queue-depth", "busts"]
    for svg in svgs.values():
        assert svg.attrib["class"] == "plot"
        labels = [t.text or "" for t in svg.iter(f"{SVG}text") if t.attrib.get("class") == "axis-label"]
        assert len(labels) == 2
        legend = next(g for g in svg.iter(f"{SVG}g") if g.attrib.get("class") == "legend")
        assert legend.findall(f"{SVG}text")
    assert "simulated" in page
    assert len(marks(svgs["latency"])) == 5 + 5 + 2 + 1 + 1, (
        "FLASH 5 bins, IMMEDIATE 5, ROUTINE 2 and 1 undelivered, ECP 1"
    )
    assert [m.tag for m in marks(svgs["queue-depth"])] == [f"{SVG}path"] * 3, "RUEHC, RUEHFR, RUEHKO"
    assert len(marks(svgs["busts"])) == 2, "two buckets hold busts"
    for rect in marks(svgs["latency"]) + marks(svgs["busts"]):
        assert float(rect.attrib["width"]) > 0
        assert float(rect.attrib["height"]) > 0
    assert "<td>FLASH</td><td>10</td><td>2.5 min</td>" in page
    assert 'id="writer-to-reader"' in page


def test_the_page_is_self_contained_and_escapes_what_the_journal_says(tmp_path: Path) -> None:
    """A post name with markup in it is shown as text; the page has no script and loads nothing."""
    path = tmp_path / "journal.sqlite"
    with traffic(path) as rows:
        rows.copy("FLASH", "RU<script>&", 60)
        rows.copy("FLASH", "RU<script>&", 90)
    page = write_html(read_report(path), tmp_path / "out").read_text(encoding="utf-8")
    assert "RU&lt;script&gt;&amp;" in page
    assert "<script" not in page
    assert not re.search(r"\b(?:src|href)=", page)
    assert len(plots(page)) == 3


def test_an_empty_journal_gives_zero_counts_and_plots_saying_no_data(tmp_path: Path) -> None:
    """A journal with no traffic still gives a report and a valid page: every count zero, no marks."""
    path = tmp_path / "journal.sqlite"
    Journal(path).close()
    report = read_report(path)
    assert to_json(report) == {"precedence": {}, "totals": dict.fromkeys(EXPECTED_TOTALS, 0)}
    page = write_html(report, tmp_path / "out").read_text(encoding="utf-8")
    svgs = plots(page)
    assert list(svgs) == ["latency", "queue-depth", "busts"]
    for svg in svgs.values():
        assert not marks(svg)
        assert any((t.text or "").startswith("no data") for t in svg.iter(f"{SVG}text"))
    out = io.StringIO()
    render_terminal(report, Console(file=out, width=160))
    assert "no deliveries in the journal" in out.getvalue()


def test_the_journal_is_read_while_the_router_holds_it_open(known_journal: Path) -> None:
    """Read-only access beside a live writer (WAL): the report sees what the writer has committed."""
    writer = Journal(known_journal)
    try:
        writer.receive("cables/in/test", b"RAW")
        assert read_report(known_journal).totals.cables_received == 39
    finally:
        writer.close()


def test_a_precedence_the_router_never_writes_is_a_journal_error(tmp_path: Path) -> None:
    """A row that no router journal holds is reported as an unreadable journal, with its path."""
    path = tmp_path / "journal.sqlite"
    with traffic(path) as rows:
        rows.copy("URGENT", "RUEHC", 60)
    with pytest.raises(JournalReadError, match="URGENT"):
        read_report(path)


def test_a_missing_journal_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    """Read-only means a mistyped path is reported, not answered with a new empty journal."""
    path = tmp_path / "nowhere.sqlite"
    with pytest.raises(JournalReadError) as caught:
        read_report(path)
    assert caught.value.path == str(path)
    assert not path.exists()


def test_the_report_command_piped_prints_the_table_whole(known_journal: Path) -> None:
    """Not on a terminal, `router report` keeps every header and figure whole (rich would cut to 80)."""
    result = CliRunner().invoke(app, ["report", "--journal", str(known_journal)])
    assert result.exit_code == 0, result.output
    assert "within objective" in result.output
    flash = next(line for line in result.output.splitlines() if "FLASH" in line)
    assert "…" not in flash
    assert "2.5 min" in flash
