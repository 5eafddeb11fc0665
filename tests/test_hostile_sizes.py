"""Hostile sizes: work per cable grows with its size, not its square; what is unknown is intercepted."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from itertools import islice
from typing import TYPE_CHECKING, Any

import pytest

from router.bus.memory import MemoryBroker
from router.cable import parser
from router.cable.addressee import CACHED_LINE_MAX, looks_collective, parse_addressee_line
from router.cable.parser import MAX_CABLE_BYTES, parse_cable
from router.journal.store import Journal
from router.journal.writes import Routed
from router.network.channel import message_part
from router.network.line import Consignment, LineRules
from router.routing import table as table_module
from router.routing.decide import RoutingDecision, decide
from router.routing.table import ADDRESSEE_NAME_MAX, RoutingTable, load_table
from router.settings import Settings
from router.switch.actions import Actions
from router.switch.cables import RECENT_BYTES, RecentCables
from router.switch.core import Limits, Switch
from router.switch.intake import (
    COPY_HEADING_MAX,
    MAX_FANOUT_BYTES,
    MAX_FANOUT_TOTAL,
    OVERSIZE_HEAD,
    Intake,
)
from tests.helpers import receive, running
from tests.hostile_cables import EXEMPTED, HEAD, ORIGIN, TEXT, long_info_name, megabyte_mix, to_and_xmt

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from router.cable.models import Cable

# Each case took seconds to minutes before; each takes a fraction of a second now. The bound is
# far above that, for a busy machine: these tests assert behaviour and counted work, not time.
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def table() -> RoutingTable:
    """A table of its own for each test, its memories empty."""
    return load_table()


def route(text: str, table: RoutingTable) -> tuple[Cable, RoutingDecision]:
    cable = parse_cable(text.encode(), text_fields=False)
    return cable, decide(cable, table)


def counting(calls: list[str], function: Callable[[str], Any]) -> Callable[[str], Any]:
    """``function``, noting each argument it is called with in ``calls``."""

    def counted(argument: str) -> Any:
        calls.append(argument)
        return function(argument)

    return counted


def every_line_accounted(cable: Cable, decision: RoutingDecision) -> None:
    assert decision.accounted_lines() == {a.line for a in cable.addressees}


def test_a_160_kb_info_name_is_intercepted_as_unknown_without_slip_matching(
    table: RoutingTable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 160 KB addressee name is intercepted as unknown, and no one-letter deletion of it is made."""
    deletions: list[str] = []
    monkeypatch.setattr(table_module, "_deletions", counting(deletions, table_module._deletions))
    cable, decision = route(long_info_name(160 * 1024), table)
    assert [d.post for d in decision.deliveries] == ["RUEHC"]
    [intercept] = decision.intercepts
    assert intercept.reason == "unknown-addressee"
    assert intercept.lines == (cable.info[0].line,)
    assert deletions == []
    every_line_accounted(cable, decision)


def test_a_name_just_longer_than_any_station_is_not_remembered(table: RoutingTable) -> None:
    """Names over the limit are unknown and leave nothing in the table's memories."""
    name = "AMEMBASSY " + "X" * ADDRESSEE_NAME_MAX
    assert table.resolve(None, name) is None
    assert table.post_named(name) is None
    assert table.collective_named(name) is None
    assert not any(key[1] == name for key in table._resolved)
    assert name not in table._near_memo


def test_a_slip_is_still_forgiven_in_a_name_of_ordinary_length(table: RoutingTable) -> None:
    """The bound leaves real names alone: a one-letter slip in a station's name still finds it."""
    post = table.post_named("AMEMBASSY PAIRS")
    assert post is not None
    assert post.ri == "RUEHFR"


def test_2500_to_and_2499_xmt_lines_exempt_from_the_collective_above(table: RoutingTable) -> None:
    """Thousands of TO and XMT lines: XMT exempts from the collective, the unknown are intercepted."""
    cable, decision = route(to_and_xmt(2_500), table)
    assert len(cable.to) == 2_500
    assert len(cable.xmt) == 2_499
    assert {x.collective for x in cable.xmt} == {"EUROPEAN POLITICAL COLLECTIVE"}
    exempted = {table.post_named(name).ri for name in EXEMPTED}  # type: ignore[union-attr]
    assert set(decision.exempted) == exempted | {ORIGIN}
    members = set(table.collective_with_ri("RUEHZL").members)  # type: ignore[union-attr]
    assert {d.post for d in decision.deliveries} == members - exempted - {ORIGIN}
    assert len(decision.intercepts) == 2_499
    assert {i.reason for i in decision.intercepts} == {"unknown-addressee"}
    every_line_accounted(cable, decision)


def test_xmt_lines_cost_linear_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Four times the TO and XMT lines ask at most four times as many collective questions (it was 16)."""
    asked: list[str] = []
    monkeypatch.setattr(parser, "looks_collective", counting(asked, looks_collective))

    def questions(count: int) -> int:
        asked.clear()
        parse_cable(to_and_xmt(count), text_fields=False)
        return len(asked)

    small, large = questions(625), questions(2_500)
    assert small <= 625
    assert large <= 4 * small + 4


@pytest.mark.parametrize(
    "build",
    [lambda: to_and_xmt(2_500, width=180), megabyte_mix],
    ids=["2,500 TO + 2,499 XMT of 1 MB", "1 MB mix"],
)
def test_a_megabyte_of_hostile_addressees_is_decided(build: Callable[[], str], table: RoutingTable) -> None:
    """A 1 MB cable of long names and thousands of TO and XMT lines is decided, every line accounted."""
    text = build()
    assert 0.9 * (1 << 20) < len(text.encode()) <= 1 << 20
    cable, decision = route(text, table)
    assert {x.collective for x in cable.xmt} == {"EUROPEAN POLITICAL COLLECTIVE"}
    assert "RUEHZL" not in {d.post for d in decision.deliveries}
    assert ORIGIN in decision.exempted
    assert {i.reason for i in decision.intercepts} == {"unknown-addressee"}
    every_line_accounted(cable, decision)


def test_a_megabyte_line_of_repeated_precedence_words_is_read_from_its_end() -> None:
    """`IMMEDIATE` 100,000 times after a name: the precedence is read, from the line's last words only."""
    text = long_info_name(0).replace("INFO AMEMBASSY \n", f"INFO AMEMBASSY TOKYO {'IMMEDIATE ' * 100_000}\n")
    cable = parse_cable(text.encode(), text_fields=False)
    [info] = cable.info
    assert info.written_precedence is not None
    assert info.written_precedence.value == "IMMEDIATE"


def test_long_address_lines_are_not_remembered() -> None:
    """The parser's memory of address lines keeps ordinary lines only: a long one is read and forgotten."""
    parse_addressee_line.cache_clear()
    cable = parse_cable(long_info_name(CACHED_LINE_MAX).encode(), text_fields=False)
    assert cable.info[0].name == "AMEMBASSY " + "X" * CACHED_LINE_MAX
    assert parse_addressee_line.cache_info().currsize == 2  # FM and TO, not INFO


async def test_an_oversized_cable_is_rejected_before_its_body_is_journalled(tmp_path: Path) -> None:
    """Over the size limit: rejected with a one-line reason, journalled as its head, size and digest."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    watcher, publisher = broker.connect(), broker.connect()
    await watcher.subscribe("cables/rejected")
    oversized = to_and_xmt(400).encode()
    async with running(broker.connect(), journal, load_table(), max_bytes=10_000):
        await publisher.publish("cables/in/big", oversized)
        (rejected,) = await receive(watcher, 1)
    record = json.loads(rejected.payload)
    assert record["reason"] == f"cable of {len(oversized)} bytes is over the limit of 10000"
    assert record["size"] == len(oversized)
    assert record["sha256"] == hashlib.sha256(oversized).hexdigest()
    assert journal.raw(record["journal_id"]) == oversized[:OVERSIZE_HEAD]
    assert journal.counts()["cables_rejected"] == 1
    with sqlite3.connect(tmp_path / "journal.sqlite") as db:
        status, detail = db.execute("SELECT status, detail FROM cables").fetchone()
    assert status == "rejected"
    assert json.loads(detail) == record
    assert journal.unfinished() == []


async def test_a_cable_at_the_size_limit_is_journalled_whole_and_routed(tmp_path: Path) -> None:
    """At the limit exactly, nothing changes: the cable is journalled whole and routed."""
    broker = MemoryBroker()
    journal = Journal(tmp_path / "journal.sqlite")
    watcher, publisher = broker.connect(), broker.connect()
    await watcher.subscribe("cables/intercept")
    data = long_info_name(100).encode()
    async with running(broker.connect(), journal, load_table(), max_bytes=len(data)):
        await publisher.publish("cables/in/ok", data)
        (intercepted,) = await receive(watcher, 1)  # the INFO line: unknown
    assert json.loads(intercepted.payload)["reason"] == "unknown-addressee"
    assert journal.raw(1) == data
    assert "cables_rejected" not in journal.counts()


class _Journal:
    """A journal that has routed nothing and serves the cables it is given."""

    def __init__(self) -> None:
        self.cables: dict[int, bytes] = {}
        self.reads = 0

    def is_duplicate(self, message_id: str) -> int | None:  # noqa: ARG002 (a protocol's method)
        return None

    def cable(self, cable_id: int) -> tuple[bytes, str | None]:
        self.reads += 1
        return self.cables[cable_id], None

    def identification(self, cable_id: int) -> tuple[bytes, str] | None:  # noqa: ARG002 (a protocol's method)
        return None

    def kept_properties(self, cable_id: int) -> bytes:  # noqa: ARG002 (a protocol's method)
        return b""


class _Lines:
    """Lines that only note what is queued on them."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, Consignment]] = []

    def queue(self, post: str, consignment: Consignment, now: float) -> None:  # noqa: ARG002
        self.queued.append((post, consignment))


def intake(table: RoutingTable, *, recent: RecentCables | None = None, **budgets: int) -> Intake:
    journal = _Journal()
    return Intake(
        table,
        journal,  # type: ignore[arg-type]
        recent or RecentCables(journal),  # type: ignore[arg-type]
        _Lines(),  # type: ignore[arg-type]
        Actions(log_copies=False, publish_log=False),
        max_bytes=MAX_CABLE_BYTES,
        last_ids=(0, 0),
        **budgets,
    )


def relayed(count: int, table: RoutingTable) -> list[str]:
    """``count`` well-formed RIs under the State relay that are no post of the table."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    ris = (f"RUEH{a}{b}{c}" for a in letters for b in letters for c in letters)
    return list(islice((ri for ri in ris if ri not in table.posts), count))


def to_relayed(ris: list[str], text_bytes: int) -> bytes:
    addressees = "".join(f"TO {ri}/AMEMBASSY SOMEWHERE\n" for ri in ris)
    return f"{HEAD}{addressees}{TEXT}{'LOREM IPSUM ' * (text_bytes // 12)}\n".encode()


def routed(switch: Intake) -> Routed:
    [decision] = [w for w in switch._actions.writes if isinstance(w, Routed)]
    return decision


def test_a_cable_to_4990_relayed_ris_is_held_to_its_fanout_budget(table: RoutingTable) -> None:
    """80 KB to 4,990 relayed RIs: copies within the cable's budget go, the rest are intercepted."""
    switch = intake(table)
    raw = to_relayed(relayed(4_990, table), 80_000)
    switch.receive("cables/in/big", raw, 0.0)
    decision = routed(switch)
    copy_bytes = len(message_part(raw)) + COPY_HEADING_MAX
    assert len(decision.deliveries) * copy_bytes <= MAX_FANOUT_BYTES
    assert len(decision.deliveries) == MAX_FANOUT_BYTES // copy_bytes
    over = [i for i in decision.intercepts if i.reason == "fanout-budget"]
    assert len(decision.deliveries) + len(over) == 4_990
    assert {i.post for i in over}.isdisjoint(d.post for d in decision.deliveries)
    assert len(switch._lines.queued) == len(decision.deliveries)  # type: ignore[attr-defined]
    assert switch._actions.counts["fanout-budget"] == 1


def test_the_cables_just_routed_share_a_total_fanout_budget(table: RoutingTable) -> None:
    """Past the total budget a cable is intercepted; once the heavy cables leave memory, cables go again."""
    journal = _Journal()
    recent = RecentCables(journal, max_count=4)  # type: ignore[arg-type]
    ris = relayed(100, table)
    raw = to_relayed(ris, 10_000)
    copy_bytes = len(message_part(raw)) + COPY_HEADING_MAX
    switch = intake(table, recent=recent, max_fanout_total=150 * copy_bytes)
    for serial in range(1, 5):
        switch.receive("cables/in/x", raw.replace(b"#0877", f"#{serial:04d}".encode()), 0.0)
    decisions = [w for w in switch._actions.writes if isinstance(w, Routed)]
    assert [len(d.deliveries) for d in decisions] == [100, 50, 0, 0]
    assert {i.reason for d in decisions for i in d.intercepts} == {"fanout-budget"}
    assert recent.fanout <= 150 * copy_bytes
    # Three small cables later, the heavy ones have left memory, and their fan-out with them.
    for serial in range(5, 9):
        switch.receive("cables/in/x", long_info_name(10).replace("#0877", f"#{serial:04d}").encode(), 0.0)
    switch.receive("cables/in/x", raw.replace(b"#0877", b"#0009"), 0.0)
    assert len([w for w in switch._actions.writes if isinstance(w, Routed)][-1].deliveries) == 100


def test_the_recent_cable_cache_is_bounded_in_bytes() -> None:
    """Many large cables: the cache keeps what fits its bytes, oldest out first, and reads the rest back."""
    journal = _Journal()
    recent = RecentCables(journal, max_bytes=10_000_000)  # type: ignore[arg-type]
    big = b"X" * 3_500_000
    framed = message_part(big)  # what its copies carry: the message, then BT and NNNN (§114)
    for cable_id in range(1, 121):
        journal.cables[cable_id] = big
        recent.remember(cable_id, big, None)
        assert recent.held <= 10_000_000
    assert recent.held == 2 * len(framed)
    assert recent.get(120)[0] == framed
    assert journal.reads == 0
    assert recent.get(1)[0] == framed
    assert journal.reads == 1
    assert recent.held <= 10_000_000


def test_a_cable_larger_than_the_cache_is_read_from_the_journal_each_time() -> None:
    """A cable bigger than the cache's bytes is not kept: it would push out everything else."""
    journal = _Journal()
    recent = RecentCables(journal, max_bytes=1_000)  # type: ignore[arg-type]
    journal.cables[1] = b"Y" * 2_000
    assert recent.get(1)[0] == message_part(journal.cables[1])
    assert recent.get(1)[0] == message_part(journal.cables[1])
    assert (journal.reads, recent.held) == (2, 0)


def test_real_traffic_never_meets_the_fanout_budgets(corpus_dir: Path, table: RoutingTable) -> None:
    """The corpus, in order, through one intake: no copy of a real cable is intercepted for its fan-out."""
    switch = intake(table)
    for path in sorted(corpus_dir.glob("*.txt")):
        switch.receive("cables/in/corpus", path.read_bytes(), 0.0)
    assert switch._actions.counts["fanout-budget"] == 0
    assert switch._actions.counts["routed"] > 2_000


def test_the_budget_settings_default_to_the_switch_s_own() -> None:
    """The settings' defaults for the budgets are the switch's own: a switch made without them agrees."""
    settings = Settings()
    assert settings.recent_cable_bytes == RECENT_BYTES
    assert settings.max_fanout_bytes == MAX_FANOUT_BYTES
    assert settings.max_fanout_total_bytes == MAX_FANOUT_TOTAL


def test_the_budgets_a_switch_is_given_are_those_its_intake_keeps(table: RoutingTable) -> None:
    """`Limits` carries the three budgets to the intake and the recent-cable cache."""
    limits = Limits(recent_cable_bytes=1_000, max_fanout_bytes=2_000, max_fanout_total_bytes=3_000)
    switch = Switch(
        table,
        _Journal(),  # type: ignore[arg-type]
        Actions(log_copies=False, publish_log=False),
        rules=LineRules(),
        max_bytes=10_000,
        ack_timeout=300.0,
        serials={},
        last_ids=(0, 0),
        limits=limits,
    )
    assert (switch.intake.max_fanout_bytes, switch.intake.max_fanout_total) == (2_000, 3_000)
    assert switch.cables.max_bytes == 1_000
    default = Limits()
    assert (default.recent_cable_bytes, default.max_fanout_bytes, default.max_fanout_total_bytes) == (
        RECENT_BYTES,
        MAX_FANOUT_BYTES,
        MAX_FANOUT_TOTAL,
    )
