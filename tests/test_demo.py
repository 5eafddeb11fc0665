"""The simulated network end to end on a real Mosquitto: `router.sim.demo` and the `router demo` command."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from collections import defaultdict
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from router.readout.report import read_report, to_json
from router.routing.table import parse_table
from router.settings import load_settings
from router.sim.demo import DemoOptions, fixed_settings, run_demo
from router.sim.scenario import Scenario

if TYPE_CHECKING:
    from router.bus.broker import Mosquitto

SLOW_BAUD = 75
UNITS = 7.5
TABLE = f"""
[defaults]
window = 8

[[posts]]
ri = "RUEHC"
names = ["SECSTATE WASHDC"]
baud = 2400

[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]
baud = 1200

[[posts]]
ri = "RUEHNR"
names = ["AMEMBASSY NAIROBI"]
baud = {SLOW_BAUD}
"""
HOUR = 3600.0


async def test_three_times_a_slow_line_s_capacity_for_an_hour_arrives_once_each_flash_in_time(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """An hour of generated traffic at 3x Nairobi's 75-baud line, then drained, on Mosquitto.

    Every post sees every cable addressed to it exactly once (after its duplicate filtering), the
    FLASH meets its 10 minutes though Nairobi's backlog is hours long, and the report is written.
    """
    scenario = Scenario(
        network="inline", duration=HOUR, rate=27 / 60, seed=5, posts=("RUEHC", "RUEHFR", "RUEHNR")
    )
    options = DemoOptions(
        journal=tmp_path / "journal.sqlite",
        out=tmp_path / "report",
        scenario=scenario,
        table=parse_table(TABLE),
        time_scale=2000,
        drain=True,
        broker=mosquitto.url,
    )
    result = await asyncio.wait_for(run_demo(options, asyncio.Event()), 120)

    with closing(sqlite3.connect(options.journal)) as db:
        addressed: defaultdict[str, set[str]] = defaultdict(set)
        for post, message_id in db.execute(
            "SELECT d.post, c.message_id FROM deliveries d JOIN cables c ON c.id = d.cable_id"
        ):
            addressed[post].add(message_id)
        states = dict(db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
        slow_bytes, first_hour = db.execute(
            "SELECT sum(t.bytes), min(c.received_at) + ? FROM transmissions t"
            " JOIN deliveries d ON d.id = t.delivery_id JOIN cables c ON c.id = d.cable_id"
            " WHERE t.post = 'RUEHNR' AND t.outcome = 'delivered' AND t.cause = 'first'",
            (HOUR,),
        ).fetchone()
    offered = slow_bytes * UNITS / SLOW_BAUD / HOUR
    assert offered >= 3, f"the slow line was offered {offered:.1f}x its capacity, not 3x"
    assert first_hour is not None
    assert result.published == 27
    assert states == {"acknowledged": sum(len(ids) for ids in addressed.values())}
    for post, tally in result.tallies.items():
        assert len(tally.shown) == len(set(tally.shown)), f"{post} was shown a cable twice"
        assert set(tally.shown) == addressed[post], f"{post} missed or got a cable not addressed to it"
    figures = to_json(read_report(options.journal))
    flash = figures["precedence"]["FLASH"]
    assert flash["count"] >= 1
    assert flash["unmeasured"] == 0, "generated traffic is dated on the network's clock"
    assert flash["writer_to_reader"]["within_target"] == 1.0, flash
    assert flash["writer_to_reader"]["max_s"] <= 600
    assert figures["totals"]["busts"] >= 1, "the FLASH busted the backlog's transmission"
    page = (options.out / "index.html").read_text(encoding="utf-8")
    assert page.count('class="plot"') == 3


def test_router_demo_headless_writes_the_journal_and_the_report(tmp_path: Path) -> None:
    """`router demo --headless`: its own broker, exit 0, the journal and the report where asked."""
    journal = tmp_path / "run" / "journal.sqlite"
    command = [sys.executable, "-m", "router", "demo", "--headless", "--duration", "600"]
    done = subprocess.run(  # noqa: S603
        [*command, "--time-scale", "600", "--journal", str(journal)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"report:  {(tmp_path / 'run' / 'report' / 'index.html').resolve()}" in done.stdout
    assert "RUEHNR" in done.stdout
    assert (tmp_path / "run" / "report" / "index.html").exists()
    report = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "router", "report", "--json", "--journal", str(journal)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    figures = json.loads(report.stdout)
    assert figures["totals"]["cables_received"] == 20
    again = subprocess.run(  # noqa: S603
        [*command, "--journal", str(journal)], capture_output=True, text=True, timeout=60, check=False
    )
    assert again.returncode == 2
    assert (
        again.stderr.strip()
        == f"router demo: {journal} exists; give a new --journal (each run writes its own)"
    )


def test_the_demo_s_own_settings_win_and_the_rest_come_from_the_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's broker, client id, status period and copy events are its own; the rest are the layers'."""
    monkeypatch.setenv("ROUTER_BROKER", "mqtt://elsewhere:1883")
    monkeypatch.setenv("ROUTER_CLIENT_ID", "someone-else")
    monkeypatch.setenv("ROUTER_ACK_TIMEOUT", "42")
    options = DemoOptions(
        journal=tmp_path / "journal.sqlite",
        out=tmp_path / "report",
        scenario=Scenario(network="inline", duration=60, rate=1, seed=1),
        table=parse_table(TABLE),
        time_scale=120,
    )
    settings = load_settings(fixed=fixed_settings(options))
    assert (settings.broker, settings.client_id, settings.status_every) == (None, "demo-router", 0.5)
    assert (settings.log_copies, settings.time_scale, settings.journal) == (True, 120, options.journal)
    assert settings.log_file == tmp_path / "journal.log"
    assert settings.ack_timeout == 42
