"""Synthetic traffic, replay schedules and paced publishing: real-format cables in the measured mix."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import itertools
import json
import random
import statistics
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from router import Cable, Classification, Precedence, parse_cable
from router.bus.memory import MemoryBroker
from router.cable.addressee import looks_collective
from router.errors import ReplayError, TrafficError
from router.routing.decide import RoutingDecision, decide
from router.routing.table import RoutingTable, load_table, parse_table
from router.sim.replay import Scheduled, publish_schedule, replay_schedule
from router.sim.traffic import Generated, Serials, TrafficProfile, generate, load_profile
from tests.helpers import receive

if TYPE_CHECKING:
    from pathlib import Path

START = datetime(2008, 6, 9, 9, 1, tzinfo=UTC)
DEMO_POSTS = ("RUEHC", "RUEHKO", "RUEHBJ", "RUEHUL", "RUEHFR")


@pytest.fixture(scope="module")
def table() -> RoutingTable:
    return load_table()


@pytest.fixture(scope="module")
def profile() -> TrafficProfile:
    return load_profile()


def text_of(raw: bytes, cable: Cable) -> list[str]:
    """The lines below the routing header (from BT on)."""
    return raw.decode().split("\n")[cable.header_lines :]


def assert_routes_as_written(cable: Cable, decision: RoutingDecision) -> None:
    """Delivered somewhere, intercepted nowhere, each copy at the precedence its role was written with."""
    assert decision.deliveries, cable.message_id
    assert decision.intercepts == (), cable.message_id
    for delivery in decision.deliveries:
        expected = cable.precedence if delivery.role == "action" else cable.info_precedence
        assert delivery.precedence is expected, (cable.message_id, delivery)


# --- determinism


def test_a_seed_gives_the_same_cables_byte_for_byte(table: RoutingTable) -> None:
    """Two runs with one seed are identical; another seed gives other cables."""
    first = list(generate(table, count=200, seed=11, start=START))
    again = list(generate(table, count=200, seed=11, start=START))
    other = list(generate(table, count=200, seed=12, start=START))
    assert first == again
    assert [c.raw for c in first] != [c.raw for c in other]
    assert sum(a.raw == b.raw for a, b in zip(first, other, strict=True)) == 0


def test_offsets_names_and_dtgs_follow_the_rate(table: RoutingTable) -> None:
    """Cable i is offset i / rate seconds, named gen-00000i+1, and dated start + offset."""
    cables = list(generate(table, count=5, seed=1, start=START, rate=0.01))
    assert [c.offset for c in cables] == [0.0, 100.0, 200.0, 300.0, 400.0]
    assert [c.name for c in cables] == [f"gen-{i:06d}" for i in range(1, 6)]
    dtgs = [parse_cable(c.raw).dtg for c in cables]
    assert dtgs == [datetime(2008, 6, 9, 9, minute, tzinfo=UTC) for minute in (1, 2, 4, 6, 7)]


# --- every cable is a real cable


def test_generated_cables_parse_and_route_on_the_committed_table(table: RoutingTable) -> None:
    """Every cable parses as ACP 127 and routes to at least one post, at the precedence written."""
    for generated in generate(table, count=400, seed=3, start=START, rate=5):
        cable = parse_cable(generated.raw)
        assert cable.family == "acp127"
        assert cable.station_serial is not None
        assert cable.originator is not None
        assert cable.classification is not None
        assert not cable.classification_conflict
        assert cable.subject
        assert cable.tags
        assert_routes_as_written(cable, decide(cable, table))


def test_a_post_subset_keeps_every_station_within_it(table: RoutingTable) -> None:
    """With five posts given, the originator and every delivery are among them."""
    for generated in generate(table, count=300, seed=4, start=START, posts=DEMO_POSTS):
        cable = parse_cable(generated.raw)
        decision = decide(cable, table)
        assert_routes_as_written(cable, decision)
        assert cable.station_serial is not None
        assert cable.station_serial.originating_ri in DEMO_POSTS
        assert {d.post for d in decision.deliveries} <= set(DEMO_POSTS)
        assert len(cable.addressees) <= len(DEMO_POSTS) - 1


def test_two_posts_make_one_addressee_each(table: RoutingTable) -> None:
    """Counts are capped by the posts there are: two posts leave exactly one addressee per cable."""
    for generated in generate(table, count=100, seed=5, start=START, posts=("RUEHKO", "RUEHBJ")):
        cable = parse_cable(generated.raw)
        assert len(cable.addressees) == 1
        assert_routes_as_written(cable, decide(cable, table))


def test_the_text_is_in_the_teletype_format(table: RoutingTable) -> None:
    """The text opens with BT (FL11), keeps to 69 characters a line, and closes BT, NNNN (§114, Annex B)."""
    for generated in generate(table, count=100, seed=6, start=START):
        cable = parse_cable(generated.raw)
        text = text_of(generated.raw, cable)
        assert text[0] == "BT"
        assert max(len(line) for line in text) <= 69
        assert text[-3:] == ["BT", "NNNN", ""]
        assert text[-4].isalpha()  # the signer's last name
        assert text == [line.upper() for line in text]
        assert cable.station_serial is not None
        assert cable.reference is not None
        assert cable.reference.endswith(str(cable.station_serial.ssn))


def test_message_identities_are_unique(table: RoutingTable) -> None:
    """RI + SSN + filing time names one cable only, even at a thousand cables a second (ACP 127 §116)."""
    cables = [
        parse_cable(c.raw)
        for c in generate(table, count=3000, seed=8, start=START, rate=1000, posts=DEMO_POSTS)
    ]
    assert len({c.message_id for c in cables}) == len(cables)


def test_a_station_filing_more_than_9999_cables_a_minute_moves_to_the_next_minute() -> None:
    """Four-digit serials cannot name 10,000 cables of one minute: the filing time moves on instead."""
    serials = Serials(random.Random(0))
    identities = [serials.station_serial("RUEHKO", 1000) for _ in range(25_000)]
    assert len(set(identities)) == len(identities)
    assert {minute for _, minute in identities} == {1000, 1001, 1002}


def test_mcns_run_on_per_originator_and_addressee(table: RoutingTable) -> None:
    """An originating station's MCNs to one addressee are consecutive, cable to cable (5 FAH-2 H-321.7)."""
    seen: dict[tuple[str, str], list[int]] = {}
    for generated in generate(table, count=300, seed=9, start=START, posts=DEMO_POSTS):
        cable = parse_cable(generated.raw)
        originator = cable.message_id.split("-")[0]
        for addressee in cable.addressees:
            post = table.posts.get(addressee.ri or "") or table.post_named(addressee.name)
            if addressee.mcn is not None and post is not None:
                seen.setdefault((originator, post.ri), []).append(int(addressee.mcn))
    assert len(seen) > len({post for _, post in seen}), "several originators write to one post"
    for numbers in seen.values():
        assert all(b == a % 9999 + 1 for a, b in itertools.pairwise(numbers))


# --- the mix


def test_the_mix_follows_the_measured_profile(table: RoutingTable, profile: TrafficProfile) -> None:
    """Over 2,000 cables, precedence, classification, counts and line shares match traffic.json.

    Tolerances are about four standard errors: 4 points for cable shares, 2.5 for line shares,
    10 % for mean counts and 15 % for the median text size.
    """
    generated = list(generate(table, count=2000, seed=10, start=START))
    cables = [parse_cable(c.raw) for c in generated]
    lines = [a for c in cables for a in c.addressees]

    def shares(counts: Counter[str]) -> dict[str, float]:
        total = sum(counts.values())
        return {key: n / total for key, n in counts.items()}

    expected = shares(Counter({p.value: n for p, n in profile.precedence}))
    got = shares(Counter(c.precedence.value for c in cables if c.precedence))
    for level in ("IMMEDIATE", "PRIORITY", "ROUTINE"):
        assert got[level] == pytest.approx(expected[level], abs=0.04), level
    expected = shares(Counter({c.value: n for c, n in profile.classification}))
    got = shares(Counter(c.classification.value for c in cables if c.classification))
    for level in expected:
        assert got.get(level, 0) == pytest.approx(expected[level], abs=0.04), level

    pairs = profile.addressee_counts
    addressed = sum(n for _, _, n in pairs)
    mean_to = sum(to * n for to, _, n in pairs) / addressed
    mean_info = sum(info * n for _, info, n in pairs) / addressed
    assert statistics.mean(len(c.to) for c in cables) == pytest.approx(mean_to, rel=0.1)
    assert statistics.mean(len(c.info) for c in cables) == pytest.approx(mean_info, rel=0.1)
    one_to = sum(n for to, _, n in pairs if to == 1) / addressed
    assert sum(len(c.to) == 1 for c in cables) / len(cables) == pytest.approx(one_to, abs=0.04)
    # The total, what the fan-out follows: the corpus has half its cables at 5 lines or fewer.
    few = sum(n for to, info, n in pairs if to + info <= 5) / addressed
    assert sum(len(c.to) + len(c.info) <= 5 for c in cables) / len(cables) == pytest.approx(few, abs=0.04)

    collective = sum(looks_collective(a.name) for a in lines) / len(lines)
    assert collective == pytest.approx(profile.line_collective, abs=0.025)
    with_ri = sum(a.ri is not None for a in lines) / len(lines)
    assert with_ri == pytest.approx(profile.line_with_ri, abs=0.025)
    dual = sum(c.info_precedence is not c.precedence for c in cables) / len(cables)
    measured = sum(n for _, _, n in profile.dual_pairs) / sum(n for _, n in profile.precedence)
    assert dual == pytest.approx(measured, abs=0.02)
    assert any(a.niact for a in lines)
    assert any(c.xmt for c in cables)

    median = statistics.median(
        len("\n".join(text_of(g.raw, c)).encode()) for g, c in zip(generated, cables, strict=True)
    )
    assert median == pytest.approx(dict(profile.text_bytes)[0.5], rel=0.15)


def test_the_profile_says_what_was_measured(profile: TrafficProfile) -> None:
    """traffic.json names its source and keeps the corpus's rare FLASH traffic: 2 cables."""
    assert "2974 cables" in profile.source
    assert dict(profile.precedence)[Precedence.FLASH] == 2
    assert sum(n for _, n in profile.precedence) == 2390
    assert 0 < profile.line_collective < profile.line_with_ri < 1
    assert [q for q, _ in profile.text_bytes] == sorted(q for q, _ in profile.text_bytes)


# --- FLASH


def test_flash_at_forces_short_flash_cables_and_changes_no_other(table: RoutingTable) -> None:
    """The cables named are FLASH (ZZ, Z, FLASH on every line) with a short text; the rest are unchanged."""
    plain = list(generate(table, count=30, seed=13, start=START))
    forced = list(generate(table, count=30, seed=13, start=START, flash_at=(3, 17)))
    for index, (before, after) in enumerate(zip(plain, forced, strict=True)):
        if index not in (3, 17):
            assert after == before
            continue
        cable = parse_cable(after.raw)
        assert cable.precedence is cable.info_precedence is Precedence.FLASH
        assert cable.relay_precedence is Precedence.FLASH
        assert all(a.precedence is Precedence.FLASH for a in cable.addressees)
        assert len(text_of(after.raw, cable)) < 25
        assert_routes_as_written(cable, decide(cable, table))


def test_bad_arguments_are_refused(table: RoutingTable) -> None:
    """A rate of zero, a FLASH index outside the run, an unknown post or a lone post: TrafficError."""
    with pytest.raises(TrafficError, match="rate"):
        generate(table, count=1, seed=1, start=START, rate=0)
    with pytest.raises(TrafficError, match="flash_at"):
        generate(table, count=3, seed=1, start=START, flash_at=(3,))
    with pytest.raises(TrafficError, match="RUXXX"):
        generate(table, count=3, seed=1, start=START, posts=("RUEHC", "RUXXX"))
    with pytest.raises(TrafficError, match="two usable posts"):
        generate(table, count=3, seed=1, start=START, posts=("RUEHC",))


# --- a table of our own: clearances, caveats, collectives and XMT

SMALL_TABLE = """
[[posts]]
ri = "RUEHC"
names = ["SECSTATE WASHDC"]

[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]

[[posts]]
ri = "RUEHRO"
names = ["AMEMBASSY ROME"]

[[posts]]
ri = "RUEHMD"
names = ["AMEMBASSY MADRID"]
clearance = "UNCLASSIFIED"

[[posts]]
ri = "RFHHAAA"
names = ["ALLIED LIAISON PARIS"]
barred_caveats = ["NOFORN"]

[[collectives]]
name = "EUROPEAN POLITICAL COLLECTIVE"
ri = "RUEHZL"
members = ["RUEHFR", "RUEHRO", "RUEHMD"]
"""


def test_collectives_xmt_and_clearances_on_a_small_table(profile: TrafficProfile) -> None:
    """Collectives and XMT lines appear and route; no post gets what it is not cleared for."""
    small = parse_table(SMALL_TABLE)
    busy = dataclasses.replace(profile, line_collective=0.6, xmt_cable_with_collective=1.0)
    cables = [parse_cable(c.raw) for c in generate(small, count=300, seed=14, start=START, profile=busy)]
    assert any(looks_collective(a.name) for c in cables for a in c.addressees)
    assert any(c.xmt for c in cables)
    for cable in cables:
        decision = decide(cable, small)
        assert_routes_as_written(cable, decision)
        posts = {d.post for d in decision.deliveries}
        if cable.classification is not Classification.UNCLASSIFIED:
            assert "RUEHMD" not in posts
        if "NOFORN" in cable.caveats:
            assert "RFHHAAA" not in posts
        if cable.xmt:
            assert decision.exempted


def test_a_collective_with_a_member_outside_the_subset_is_never_used() -> None:
    """Given posts that leave out a member of the collective, the collective is not addressed."""
    small = parse_table(SMALL_TABLE)
    posts = ("RUEHC", "RUEHFR", "RUEHRO")
    for generated in generate(small, count=200, seed=15, start=START, posts=posts):
        cable = parse_cable(generated.raw)
        assert not any(looks_collective(a.name) for a in cable.addressees)
        assert {d.post for d in decide(cable, small).deliveries} <= set(posts)


# --- replay

CABLE = """VZCZCXYZ0000
RR RUEHWEB

DE RUEHKO #{ssn:04d} 1610901
ZNR UUUUU ZZH
R {dtg}
FM AMEMBASSY TOKYO
TO RUEHC/SECSTATE WASHDC 0001
BT
UNCLAS TOKYO {ssn:06d}

E.O. 12958: N/A
TAGS: PREL
SUBJECT: REPLAY TEST

1. (U) TEXT.
NNNN
"""


def write_cable(path: Path, ssn: int, dtg: str) -> bytes:
    raw = CABLE.format(ssn=ssn, dtg=dtg).encode()
    path.write_bytes(raw)
    return raw


def test_replay_orders_by_dtg_and_spaces_by_speedup(tmp_path: Path) -> None:
    """Cables go in DTG order, offset by their DTG distance / speedup; undated and unreadable go first."""
    cables = tmp_path / "cables"
    cables.mkdir()
    write_cable(cables / "b.txt", 2, "090910Z JUN 08")
    write_cable(cables / "a.txt", 1, "090900Z JUN 08")
    write_cable(cables / "c.txt", 3, "090900Z JUN 08")  # same DTG as a: input order kept
    (cables / "junk.txt").write_bytes(b"nothing a switch could read\n")
    single = tmp_path / "late.cable"
    write_cable(single, 4, "091000Z JUN 08")

    schedule = replay_schedule([single, cables], speedup=60)
    assert [s.name for s in schedule] == ["junk", "a", "c", "b", "late"]
    assert [s.offset for s in schedule] == [0.0, 0.0, 0.0, 10.0, 60.0]
    assert schedule[1].raw == (cables / "a.txt").read_bytes()
    assert all(s.offset == 0.0 for s in replay_schedule([single, cables], speedup=None))


def test_replay_reads_jsonl_rows_plain_and_gzipped(tmp_path: Path) -> None:
    """``{"id", "text"}`` rows are cables too, named by their id (made safe as a topic level)."""
    rows = [
        {"id": "08TOKYO2", "text": CABLE.format(ssn=2, dtg="101200Z JUN 08")},
        {"id": "08TOKYO/1", "text": CABLE.format(ssn=1, dtg="091200Z JUN 08")},
    ]
    body = "\n".join(json.dumps(row) for row in rows) + "\n\n"
    (tmp_path / "pool.jsonl").write_text(body, encoding="utf-8")
    with gzip.open(tmp_path / "pool.jsonl.gz", "wt", encoding="utf-8") as out:
        out.write(body)
    for name in ("pool.jsonl", "pool.jsonl.gz"):
        schedule = replay_schedule([tmp_path / name], speedup=3600)
        assert [(s.name, s.offset) for s in schedule] == [("08TOKYO_1", 0.0), ("08TOKYO2", 24.0)]
        assert schedule[0].raw == rows[1]["text"].encode()


def test_a_bad_jsonl_row_names_its_file_and_line(tmp_path: Path) -> None:
    """A row that is not {"id", "text"} stops the replay with the file and line."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"id": "a", "text": "x"}\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(ReplayError, match=r"bad\.jsonl:2"):
        replay_schedule([path], speedup=None)


def test_replay_refuses_a_speedup_of_zero(tmp_path: Path) -> None:
    """Speedup must be positive (or None for as fast as possible)."""
    with pytest.raises(TrafficError, match="speedup"):
        replay_schedule([tmp_path], speedup=0)


@pytest.mark.corpus
def test_replay_of_the_real_corpus_keeps_every_cable_in_dtg_order(corpus_dir: Path) -> None:
    """All 2,974 real cables are scheduled, the undated first, the dated by DTG at a day a second."""
    schedule = replay_schedule([corpus_dir], speedup=86_400)
    assert len(schedule) == len(list(corpus_dir.glob("*.txt")))
    dated = [(s, parse_cable(s.raw).dtg) for s in schedule if s.offset > 0]
    assert len(dated) > 2000
    offsets = [s.offset for s in schedule]
    assert offsets == sorted(offsets)
    dtgs = [dtg for _, dtg in dated]
    assert dtgs == sorted(d for d in dtgs if d is not None)


# --- publishing


class SteppingClock:
    """A clock that jumps ahead by whatever is slept: pacing with no real waiting."""

    def __init__(self) -> None:
        self.time = 100.0
        self.slept: list[float] = []

    def now(self) -> float:
        """The time slept so far, from 100."""
        return self.time

    async def sleep(self, seconds: float) -> None:
        """Jump ahead at once, giving the loop one turn."""
        self.slept.append(seconds)
        self.time += seconds
        await asyncio.sleep(0)


async def test_publish_schedule_delivers_every_cable_in_order() -> None:
    """Every item goes out once, on cables/in/<name>, in the order given, and the count is returned."""
    broker = MemoryBroker()
    subscriber, publisher = broker.connect(), broker.connect()
    await subscriber.subscribe("cables/in/#")
    items = [Generated(i * 0.5, f"gen-{i:06d}", f"cable {i}".encode()) for i in range(1, 21)]
    clock = SteppingClock()
    published = await publish_schedule(publisher, items, clock=clock)
    assert published == 20
    got = await receive(subscriber, 20)
    assert [(m.topic, m.payload, m.qos) for m in got] == [
        (f"cables/in/{item.name}", item.raw, 1) for item in items
    ]
    assert clock.time == pytest.approx(100.0 + 10.0)


async def test_publish_schedule_waits_for_each_offset() -> None:
    """Each cable is published when its offset has come, never before; late ones go at once."""
    published: list[tuple[float, str, bytes, int]] = []
    clock = SteppingClock()

    class Recorder:
        """A bus that notes when each message was published."""

        async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
            """Note the time, topic, payload and QoS."""
            assert not retain
            published.append((clock.now() - 100.0, topic, payload, qos))

    items = [Scheduled(offset, f"c{i}", bytes([i])) for i, offset in enumerate((0.0, 0.0, 2.5, 2.5, 7.0))]
    assert await publish_schedule(Recorder(), items, clock=clock) == 5
    assert published == [(item.offset, f"cables/in/{item.name}", item.raw, 1) for item in items]
    assert clock.slept == [2.5, 4.5]


async def test_publish_schedule_paces_in_real_time() -> None:
    """On the event loop's clock, the last of three cables goes no sooner than its offset."""
    broker = MemoryBroker()
    subscriber, publisher = broker.connect(), broker.connect()
    await subscriber.subscribe("cables/in/#")
    loop = asyncio.get_running_loop()
    began = loop.time()
    items = [Scheduled(offset, f"c{i}", b"x") for i, offset in enumerate((0.0, 0.05, 0.1))]
    assert await publish_schedule(publisher, items) == 3
    assert 0.1 <= loop.time() - began < 5
    assert [m.topic for m in await receive(subscriber, 3)] == ["cables/in/c0", "cables/in/c1", "cables/in/c2"]


async def test_generated_traffic_publishes_straight_from_the_generator(table: RoutingTable) -> None:
    """publish_schedule takes generate's iterator as it comes, cable by cable."""
    broker = MemoryBroker()
    subscriber, publisher = broker.connect(), broker.connect()
    await subscriber.subscribe("cables/in/#")
    cables = generate(table, count=10, seed=16, start=START, rate=1000, posts=DEMO_POSTS)
    assert await publish_schedule(publisher, cables, clock=SteppingClock()) == 10
    got = await receive(subscriber, 10)
    assert [m.topic for m in got] == [f"cables/in/gen-{i:06d}" for i in range(1, 11)]
    assert all(parse_cable(m.payload).to or parse_cable(m.payload).info for m in got)
