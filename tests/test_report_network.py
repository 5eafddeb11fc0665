"""`router report` across the centres' journals: end to end, per trunk and per centre, from real journals.

Three centres of the committed network (its trunks at their own speeds) run on the in-memory bus
and one network clock; PIRMASENS takes a ROUTINE, then a FLASH that busts it on the trunk to
DETRICK (§151b, §424), both for posts behind all three centres (two hops to TINKER's); then, with
DETRICK's trunk to TINKER down, an IMMEDIATE that waits there. Their posts receipt every copy.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from contextlib import closing, suppress
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from router.bus import topics
from router.bus.memory import MemoryBroker
from router.cable.models import Precedence
from router.cli import app
from router.errors import JournalReadError
from router.journal.queries import ArrivalRow, OnwardRow
from router.network.clock import ManualClock, settle
from router.readout.network_report import end_to_end_rows, read_network_report, write_network_report
from router.readout.network_speed import CentreJournal, network_speed, read_centres
from router.readout.report import read_report, to_json
from router.routing.network_description import DEFAULT_NETWORK, load_network
from tests import helpers
from tests.test_centres import FAR, MIDDLE, ORIGIN, POSTS, cable, centres, watching

if TYPE_CHECKING:
    from pathlib import Path

    from router.bus.memory import MemoryBus
    from router.readout.network_speed import NetworkSpeed, Stage

NAMES = (ORIGIN, MIDDLE, FAR)
ON_THE_CLOCK = b"090146Z SEP 01"
"""A date-time group on the tests' network clock (`ManualClock` starts at 2001-09-09 01:46:40Z)."""
MESSAGES = {
    "RUFGNAA-0001-0011200": "ROUTINE",
    "RUFGNAA-0002-0011200": "FLASH",
    "RUFGNAA-0003-0011200": "IMMEDIATE",
}
HELD = ("RUWDQAA", "RHWSAAA")
"""TINKER's posts: the IMMEDIATE waits for them at DETRICK, its trunk to TINKER down."""


def filed(serial: int, precedence: str) -> bytes:
    """A cable filed at PIRMASENS for posts behind the three centres, written on the network's clock."""
    return cable(serial, precedence).replace(b"011200Z JAN 09", ON_THE_CLOCK)


async def receipting(bus: MemoryBus) -> None:
    """The posts: each receipts every copy it receives, as `router post` does."""
    async for message in bus.messages():
        await bus.publish(topics.receipts(message.topic.rsplit("/", 1)[-1]), helpers.receipt_for(message))


async def run_network(directory: Path) -> None:
    """The three centres' journals in ``directory``: the traffic of this module's docstring."""
    broker, clock = MemoryBroker(), ManualClock()
    posts = await watching(broker, "cables/out/#")
    async with centres(broker, NAMES, load_network(DEFAULT_NETWORK), clock, directory):
        receipts = asyncio.create_task(receipting(posts), name="posts-receipting")
        operator = broker.connect()
        await operator.publish(topics.centre_intake(ORIGIN, "routine"), filed(1, "R"))
        await clock.advance(0.2)  # the ROUTINE is on the 2400-baud trunk to DETRICK
        await operator.publish(topics.centre_intake(ORIGIN, "flash"), filed(2, "Z"))
        for _ in range(60):
            await clock.advance(0.5)
        await operator.publish(topics.trunk_control(MIDDLE, FAR), b"down")
        await settle(200)
        await operator.publish(topics.centre_intake(ORIGIN, "immediate"), filed(3, "O"))
        for _ in range(60):
            await clock.advance(0.5)
        await settle(200)
        receipts.cancel()
        with suppress(asyncio.CancelledError):
            await receipts


@pytest.fixture(scope="module")
def journals(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The three centres' journals, made once for the module by running the network."""
    directory = tmp_path_factory.mktemp("centres")
    asyncio.run(run_network(directory))
    return [directory / f"router-{name}.sqlite" for name in NAMES]


@pytest.fixture(scope="module")
def network(journals: list[Path]) -> NetworkSpeed:
    return read_network_report(journals).network


def journal_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(sql).fetchall()


def times(stage: Stage) -> tuple[float, float, float]:
    """When a stage of a copy's way was queued, started and ended: all three, it was delivered."""
    assert stage.started_at is not None
    assert stage.ended_at is not None
    return stage.queued_at, stage.started_at, stage.ended_at


def test_each_trunk_has_a_row_per_precedence_with_its_copies_and_busts(network: NetworkSpeed) -> None:
    """One trunk copy each way a message went; the busted ROUTINE on its trunk; the IMMEDIATE waits."""
    rows = {(t.sender, t.receiver, t.precedence.value): t for t in network.trunks}
    assert sorted(rows) == sorted(
        [(ORIGIN, MIDDLE, p) for p in MESSAGES.values()] + [(MIDDLE, FAR, p) for p in MESSAGES.values()]
    ), "the two trunks the traffic took, and no other"
    assert [(t.sender, t.receiver) for t in network.trunks][:3] == [(ORIGIN, MIDDLE)] * 3, "first hop first"
    assert all(t.copies == 1 for t in network.trunks)
    assert {key: t.busts for key, t in rows.items() if t.busts} == {(ORIGIN, MIDDLE, "ROUTINE"): 1}
    held = rows[MIDDLE, FAR, "IMMEDIATE"]
    assert (held.queue_wait.count, held.transmission.count, held.receipt.count) == (0, 0, 0)
    for key, trunk in rows.items():
        if key != (MIDDLE, FAR, "IMMEDIATE"):
            assert trunk.queue_wait.count == trunk.transmission.count == trunk.receipt.count == 1, key
    routine, flash = rows[ORIGIN, MIDDLE, "ROUTINE"], rows[ORIGIN, MIDDLE, "FLASH"]
    assert routine.queue_wait.max_s is not None
    assert flash.transmission.max_s is not None
    assert routine.queue_wait.max_s >= flash.transmission.max_s, "the ROUTINE waited for the FLASH (§424)"


def test_end_to_end_counts_each_post_s_copy_once_from_its_originating_centre(network: NetworkSpeed) -> None:
    """Every post's copy of each message, traced back to PIRMASENS over as many hops as its centre is away."""
    hops = {ORIGIN: 0, MIDDLE: 1, FAR: 2}
    for message_id, precedence in MESSAGES.items():
        copies = [c for c in network.copies if c.message_id == message_id]
        assert sorted(c.post for c in copies) == sorted(POSTS), message_id
        assert {c.origin for c in copies} == {ORIGIN}
        for copy in copies:
            assert copy.precedence.value == precedence
            assert len(copy.hops) == hops[POSTS[copy.post]], copy.post
    speeds = {s.precedence.value: s for s in network.end_to_end}
    assert (speeds["FLASH"].count, speeds["FLASH"].undelivered) == (len(POSTS), 0)
    assert (speeds["ROUTINE"].count, speeds["ROUTINE"].undelivered) == (len(POSTS), 0)
    assert (speeds["IMMEDIATE"].count, speeds["IMMEDIATE"].undelivered) == (len(POSTS) - len(HELD), len(HELD))
    assert not network.untraced
    assert all(s.writer_to_reader.count == s.count and s.unmeasured == 0 for s in network.end_to_end)


def test_end_to_end_is_the_journals_own_times_from_origin_to_the_post(
    journals: list[Path], network: NetworkSpeed
) -> None:
    """Each copy's end to end is its delivery in its centre's journal less the arrival in PIRMASENS's."""
    origin = journals[0]
    arrived = dict(journal_rows(origin, "SELECT message_id, received_at FROM cables"))
    expected = {}
    for path in journals:
        for message_id, post, delivered_at in journal_rows(
            path,
            "SELECT c.message_id, d.post, d.delivered_at FROM deliveries d JOIN cables c ON c.id = d.cable_id"
            " WHERE d.ris IS NULL AND d.delivered_at IS NOT NULL",
        ):
            expected[message_id, post] = delivered_at - arrived[message_id]
    measured = {
        (c.message_id, c.post): c.delivered_at - c.arrived_at for c in network.copies if c.delivered_at
    }
    assert measured.keys() == expected.keys()
    assert all(abs(measured[key] - expected[key]) < 1e-6 for key in expected)
    for speed in network.end_to_end:
        times = [t for (m, _), t in measured.items() if MESSAGES[m] == speed.precedence.value]
        assert speed.in_switch.max_s == pytest.approx(max(times))


def test_end_to_end_is_no_shorter_than_the_sum_of_a_copy_s_hops(network: NetworkSpeed) -> None:
    """A copy's hops follow each other in time, and together take no longer than the copy end to end."""
    delivered = [c for c in network.copies if c.delivered_at is not None]
    assert len(delivered) == 3 * len(POSTS) - len(HELD)
    for copy in delivered:
        assert copy.last is not None
        assert copy.delivered_at is not None
        stages = (*copy.hops, copy.last)
        spent = sum(ended - queued for queued, _, ended in map(times, stages))
        assert copy.delivered_at - copy.arrived_at >= spent - 1e-6, (copy.message_id, copy.post)
        for before, after in itertools.pairwise(stages):
            assert before.receiver == after.sender
            assert times(before)[2] <= after.queued_at + 1e-6
    far = {c.precedence: c.delivered_at or 0.0 for c in delivered if c.post == HELD[0]}
    assert far[Precedence.FLASH] < far[Precedence.ROUTINE], "the FLASH, filed after, got there first"


def test_each_centre_s_copies_sent_on_per_precedence(network: NetworkSpeed) -> None:
    """A centre's copies sent on are its posts' and its trunk's; arrival to start is before arrival to end."""
    rows = {(s.centre, s.precedence.value): s for s in network.in_centre}
    served = {name: sum(centre == name for centre in POSTS.values()) for name in NAMES}
    for precedence in ("FLASH", "ROUTINE"):
        assert {name: rows[name, precedence].copies for name in NAMES} == {
            ORIGIN: served[ORIGIN] + 1,
            MIDDLE: served[MIDDLE] + 1,
            FAR: served[FAR],
        }
    assert (rows[MIDDLE, "IMMEDIATE"].to_end.count, rows[MIDDLE, "IMMEDIATE"].copies) == (2, 3)
    assert (FAR, "IMMEDIATE") not in rows
    for speed in network.in_centre:
        if speed.to_end.max_s is not None and speed.to_start.max_s is not None:
            assert speed.to_start.max_s <= speed.to_end.max_s
    assert network.centres == NAMES


def test_the_command_prints_each_centre_s_report_and_the_network_s_tables(journals: list[Path]) -> None:
    """`router report --journal A --journal B --journal C`: the journals' reports, then the network's."""
    result = CliRunner().invoke(app, ["report", *(f"--journal={path}" for path in journals)])
    assert result.exit_code == 0, result.output
    for name in NAMES:
        assert f"{name}: {journals[NAMES.index(name)]}" in result.output
    for title in ("End to end: arrival at the originating centre", "Per hop, each trunk", "Per centre"):
        assert title in result.output
    assert result.output.count("In the switch: arrival to delivery at the post") == len(NAMES)
    assert f"{ORIGIN} → {MIDDLE}" in result.output
    assert f"{MIDDLE} → {FAR}" in result.output


def test_the_json_is_one_object_with_the_network_s_keys_and_each_journal_s_report(
    journals: list[Path],
) -> None:
    """`--json`: end_to_end per precedence, hops per trunk, each centre's report as for its journal alone."""
    result = CliRunner().invoke(app, ["report", "--json", *(f"--journal={path}" for path in journals)])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert {"end_to_end", "hops", "centres"} <= found.keys()
    assert sorted(found["end_to_end"]) == sorted(MESSAGES.values())
    assert found["end_to_end"]["IMMEDIATE"]["undelivered"] == len(HELD)
    assert {(h["from"], h["to"]) for h in found["hops"]} == {(ORIGIN, MIDDLE), (MIDDLE, FAR)}
    assert {"queue_wait", "transmission", "receipt"} <= found["hops"][0].keys()
    assert list(found["centres"]) == list(NAMES)
    for name, path in zip(NAMES, journals, strict=True):
        assert found["centres"][name]["report"] == to_json(read_report(path)), name


def test_the_page_has_the_network_s_tables_and_each_centre_s_page(
    journals: list[Path], tmp_path: Path
) -> None:
    """`write_network_report` (`router demo --network` calls it): index.html, a page per centre, offline."""
    page = write_network_report(journals, tmp_path / "out")
    text = page.read_text(encoding="utf-8")
    assert page == tmp_path / "out" / "index.html"
    for table in ('id="end-to-end"', 'id="end-to-end-writer"', 'id="hops"', 'id="centres"'):
        assert table in text
    assert f"{ORIGIN} → {MIDDLE}" in text
    for name in NAMES:
        assert f'href="{name}/index.html"' in text
        assert (tmp_path / "out" / name / "index.html").is_file()
    for fetch in ("<script", "src=", "http"):
        assert fetch not in text, "it fetches nothing"


def test_the_command_with_out_writes_the_page(journals: list[Path], tmp_path: Path) -> None:
    """`router report --journal ... --out DIR` says where the page is."""
    result = CliRunner().invoke(
        app, ["report", *(f"--journal={p}" for p in journals), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert f"report page: {tmp_path / 'index.html'}" in result.output


def test_one_journal_given_twice_is_the_single_journal_s_report(journals: list[Path]) -> None:
    """The same journal twice is one journal: exactly what `router report --journal` prints for it."""
    once = CliRunner().invoke(app, ["report", "--json", f"--journal={journals[0]}"])
    twice = CliRunner().invoke(
        app, ["report", "--json", f"--journal={journals[0]}", f"--journal={journals[0]}"]
    )
    assert once.exit_code == twice.exit_code == 0
    assert twice.stdout == once.stdout
    assert json.loads(once.stdout).keys() == {"precedence", "totals"}


def test_copies_from_a_centre_whose_journal_is_not_given_are_untraced(journals: list[Path]) -> None:
    """Without the originating centre's journal the copies cannot be traced back: untraced, not guessed."""
    network = read_network_report(journals[1:]).network
    assert not network.end_to_end
    untraced = dict(network.untraced)
    assert (
        untraced[Precedence.FLASH] == untraced[Precedence.ROUTINE] == sum(c != ORIGIN for c in POSTS.values())
    )
    assert untraced[Precedence.IMMEDIATE] == sum(c == MIDDLE for c in POSTS.values()) + len(HELD)
    assert {(t.sender, t.receiver) for t in network.trunks} == {(MIDDLE, FAR)}
    rows = end_to_end_rows(network)  # none delivered end to end, each precedence still has its row
    assert [(row[0], row[1], row[-1]) for row in rows] == [
        (p.value, "0", str(untraced[p])) for p in (Precedence.FLASH, Precedence.IMMEDIATE, Precedence.ROUTINE)
    ]


@pytest.mark.parametrize(
    ("bad", "says"),
    [("missing.sqlite", "no journal at {path}"), ("notes.txt", "{path}: file is not a database")],
)
def test_a_bad_journal_among_several_fails_in_one_line_naming_it(
    journals: list[Path], tmp_path: Path, bad: str, says: str
) -> None:
    """A journal that is not there, or a file that is not a journal: one line naming it, exit 1."""
    path = tmp_path / bad
    if bad.endswith(".txt"):
        path.write_text("not a journal\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", f"--journal={journals[0]}", f"--journal={path}"])
    assert result.exit_code == 1
    assert result.output.strip() == "router report: " + says.format(path=path)
    assert not (tmp_path / "missing.sqlite").exists(), "a missing journal is not created"


def test_two_journals_of_one_centre_are_refused(journals: list[Path], tmp_path: Path) -> None:
    """Two different files both PIRMASENS's: which one is meant is not guessed."""
    copy = tmp_path / "router-PIRMASENS-copy.sqlite"
    copy.write_bytes(journals[0].read_bytes())
    with pytest.raises(JournalReadError, match="PIRMASENS's journal is"):
        read_centres([journals[0], copy])


def test_centres_and_trunks_are_in_hop_order_when_the_clock_gives_every_hop_one_time() -> None:
    """Unthrottled trunks give every hop one time: the order is by trunks from the origin, not by name."""
    at, ris = 1_000_000_000.0, "RUWDQAA"
    message = "RUFGNAA-0001-0011200"

    def arrival(topic: str) -> ArrivalRow:
        return ArrivalRow(1, topic, at, message, "routed", ris if topic.startswith("trunks/") else None)

    def sent(post: str, *, trunk: bool) -> OnwardRow:
        return OnwardRow(1, 1, post, "FLASH", "acknowledged", at, at, at, ris if trunk else None, at, at, 0)

    journals = [
        CentreJournal(FAR, "t", [arrival(topics.trunk(FAR, MIDDLE))], [sent(ris, trunk=False)], {}),
        CentreJournal(MIDDLE, "d", [arrival(topics.trunk(MIDDLE, ORIGIN))], [sent(FAR, trunk=True)], {}),
        CentreJournal(
            ORIGIN, "p", [arrival(topics.centre_intake(ORIGIN, "c1"))], [sent(MIDDLE, trunk=True)], {}
        ),
    ]
    network = network_speed(journals)
    assert network.centres == (ORIGIN, MIDDLE, FAR)
    assert [(t.sender, t.receiver) for t in network.trunks] == [(ORIGIN, MIDDLE), (MIDDLE, FAR)]
    (copy,) = network.copies
    assert (copy.origin, copy.post, [(h.sender, h.receiver) for h in copy.hops]) == (
        ORIGIN,
        ris,
        [(ORIGIN, MIDDLE), (MIDDLE, FAR)],
    )
    assert [(s.precedence, s.count, s.in_switch.max_s) for s in network.end_to_end] == [
        (Precedence.FLASH, 1, 0.0)
    ]
