"""`router demo --network`: the network of centres by itself on its own Mosquitto, and its scenario."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from router.cable.parser import parse_cable
from router.errors import RouterError, ScenarioError
from router.network.channel import single_call
from router.readout.report import read_report, to_json
from router.routing.decide import decide
from router.sim.centres import CentreCommand, centre_processes
from router.sim.ledger import Ledger, plan_filing
from router.sim.post import PostStation
from router.sim.scenario import NETWORK_SCENARIO, load_network_scenario
from router.sim.traffic import generate

if TYPE_CHECKING:
    from pathlib import Path

DEMO = [sys.executable, "-m", "router", "demo", "--network", "--headless"]


def _rows(journal: Path, query: str) -> list[tuple[Any, ...]]:
    """The rows of a query on a centre's journal, opened read-only."""
    with closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        return db.execute(query).fetchall()


def test_the_network_demo_delivers_every_copy_diverts_round_the_outage_and_writes_the_reports(
    tmp_path: Path,
) -> None:
    """`router demo --network --headless`: five centre processes, every copy at its post, exit 0.

    Checked from the centres' journals, not from what the demo says: every post the routing table
    owes a copy of each cable filed has receipted one (or its centre intercepted it), the FLASH
    among them; BELTSVILLE sent FLASH and IMMEDIATE copies for DETRICK's and WAHIAWA's posts by
    TINKER while its trunk to DETRICK was out (ACP 127 §307, `trunk-alternate`); a report per centre.
    """
    _, table, network = load_network_scenario()
    run = tmp_path / "run"
    done = subprocess.run(  # noqa: S603
        [*DEMO, "--time-scale", "150", "--out", str(run)],
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    journals = {name: run / name / "journal.sqlite" for name in network.centres}
    assert all(journal.exists() for journal in journals.values())
    filed = _rows(journals["BELTSVILLE"], "SELECT raw FROM cables WHERE topic LIKE 'centres/BELTSVILLE/in/%'")
    assert len(filed) == 40  # every cable of the scenario, each filed at its originating centre
    owed = set()
    for (raw,) in filed:
        cable = parse_cable(raw)
        owed |= {(cable.message_id, delivery.post) for delivery in decide(cable, table).deliveries}
    receipted, intercepted = set(), set()
    for journal in journals.values():
        receipted |= set(
            _rows(
                journal,
                "SELECT c.message_id, d.post FROM deliveries d JOIN cables c ON c.id = d.cable_id"
                " WHERE d.state = 'acknowledged' AND d.ris IS NULL",  # a post's copy, not a trunk's
            )
        )
        intercepted |= set(
            _rows(journal, "SELECT c.message_id, i.post FROM intercepts i JOIN cables c ON c.id = i.cable_id")
        )
    assert owed - receipted <= intercepted, "a copy neither receipted nor intercepted: lost"
    assert receipted <= owed, "a copy no one was owed"
    flash = re.search(r"FLASH (\S+)", done.stdout)
    assert flash is not None, done.stdout
    assert {post for message_id, post in owed if message_id == flash[1]} == {
        post for message_id, post in receipted if message_id == flash[1]
    }
    # Round the outage: BELTSVILLE's copies for DETRICK's and WAHIAWA's posts went by TINKER.
    diverted = _rows(journals["BELTSVILLE"], "SELECT count(*) FROM events WHERE event = 'trunk-alternate'")
    assert diverted[0][0] >= 1
    by_tinker = _rows(journals["BELTSVILLE"], "SELECT precedence, ris FROM deliveries WHERE post = 'TINKER'")
    round_about = [
        precedence
        for precedence, ris in by_tinker
        if any(network.centre_of(ri).name in {"DETRICK", "WAHIAWA"} for ri in ris.split())  # type: ignore[union-attr]
    ]
    assert round_about
    assert set(round_about) <= {"FLASH", "IMMEDIATE"}  # PRIORITY and ROUTINE waited for the trunk
    for name, journal in journals.items():
        # Each cable is dated on the network's clock as the centres keep it: measured writer to reader,
        # a FLASH off a trunk too (read with the bell signal ahead of its FL2, §151b).
        figures = to_json(read_report(journal))["precedence"]
        unmeasured = {p: m["unmeasured"] for p, m in figures.items() if m["unmeasured"]}
        assert not unmeasured, (name, unmeasured)
        assert (run / name / "index.html").exists()
        assert f"report {name}: {(run / name / 'index.html').resolve()}" in done.stdout
    assert "0 unaccounted" in done.stdout
    # The network's page: end to end and per hop across the centres' journals, the trunk round the
    # outage among its hops.
    assert f"report network: {(run / 'index.html').resolve()}" in done.stdout
    network_page = (run / "index.html").read_text()
    assert "End to end: arrival at the originating centre to delivery at the post" in network_page
    assert "BELTSVILLE → TINKER" in network_page


def test_a_cable_is_filed_at_the_centre_serving_its_originating_station() -> None:
    """`plan_filing`: FL3's originating RI names the centre (§116, §303a(1)); the table says who is owed."""
    scenario, table, network = load_network_scenario()
    cables = list(generate(table, count=30, seed=scenario.seed, start=datetime(2026, 12, 4, tzinfo=UTC)))
    planned = plan_filing(cables, table, network)
    for filed in planned:
        cable = parse_cable(filed.raw)
        assert cable.station_serial is not None
        centre = network.centre_of(cable.station_serial.originating_ri)
        assert centre is not None
        assert filed.centre == centre.name
        assert filed.posts == tuple(delivery.post for delivery in decide(cable, table).deliveries)
    ledger = Ledger()
    for filed in planned:
        ledger.expect(filed)
    owed = sum(len(filed.posts) for filed in planned)
    assert ledger.outstanding == owed
    first = planned[0]
    station = PostStation(first.posts[0])
    prosign = first.raw.split(b"\n")[1].split(b" ")[0].decode()
    copy = single_call(first.raw, f"{first.posts[0][-3:]}0001", first.posts[0], prosign)
    ledger.reading(first.posts[0], station.read(copy))
    assert ledger.outstanding == owed - 1
    assert first.message_id not in ledger.missing().get(first.posts[0], set())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ('trunk = ["BELTSVILLE", "DETRICK"]', 'trunk = ["BELTSVILLE", "WAHIAWA"]', 1),
            ":20: trunk_faults.0.trunk: no trunk joins BELTSVILLE and WAHIAWA",
        ),
        (('centres = "../network.toml"', 'centres = "missing.toml"', 1), ":7: centres: "),
        (("at = 780", "at = 100", 1), ":24: trunk_faults.1.at: trunk_faults must be in the order"),
        (('state = "up"', 'state = "sideways"', 1), ":26: trunk_faults.1.state: Input should be"),
    ],
)
def test_a_mistake_in_a_network_scenario_is_one_line_with_its_file_and_line(
    tmp_path: Path, change: tuple[str, str, int], expected: str
) -> None:
    """A trunk the network lacks, a missing network, faults out of order: file:line: field: reason."""
    for name in ("network-posts.toml",):
        (tmp_path / name).write_text(
            (NETWORK_SCENARIO.parent / name).read_text(encoding="utf-8"), encoding="utf-8"
        )
    (tmp_path.parent / "network.toml").write_text(
        (NETWORK_SCENARIO.parent.parent / "network.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    scenario = tmp_path / "network.toml"
    scenario.write_text(NETWORK_SCENARIO.read_text(encoding="utf-8").replace(*change), encoding="utf-8")
    with pytest.raises(ScenarioError) as error:
        load_network_scenario(scenario)
    assert f"{scenario}{expected}" in str(error.value)
    done = subprocess.run(  # noqa: S603
        [*DEMO, "--scenario", str(scenario), "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"router demo: {scenario}{expected}")
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--network", "--journal", "j.sqlite"],
            "router demo: --journal is the single switch's; with --network each centre's",
        ),
        (
            ["--network", "--scenario", str(NETWORK_SCENARIO.with_name("demo.toml"))],
            "a network demo needs a network of centres",
        ),
        (["--centres", str(NETWORK_SCENARIO.parent.parent / "network.toml")], "--centres needs --network"),
    ],
)
def test_the_network_demo_refuses_what_it_cannot_run(tmp_path: Path, flags: list[str], message: str) -> None:
    """A single switch's journal or a scenario without centres with --network, --centres without: exit 2."""
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-m", "router", "demo", "--headless", *flags, "--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("router demo: ")
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


async def test_a_centre_that_cannot_start_fails_the_run_with_its_own_last_word(tmp_path: Path) -> None:
    """A centre whose `router run` ends before it listens: one error naming it and why, none left running."""
    exits: dict[str, int] = {}
    command = CentreCommand(
        run=tmp_path,
        network=NETWORK_SCENARIO.parent.parent / "network.toml",
        routing=tmp_path / "no-such-table.toml",  # `router run` refuses to start without its table
        broker="mqtt://127.0.0.1:9",
        credentials=tmp_path / "keys",
        time_scale=60,
        clock_origin=time.time(),
    )
    with pytest.raises(RouterError, match=r"^centre DETRICK ended before it listened: .*no-such-table\.toml"):
        async with centre_processes(command, ["DETRICK"], exits):
            pytest.fail("the block runs only once every centre listens")
    assert exits == {"DETRICK": 2}  # a usage error (the routing table), one line on its stderr
    assert "no-such-table.toml" in (tmp_path / "DETRICK" / "router.log").read_text(encoding="utf-8")
