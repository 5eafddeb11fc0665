"""End to end: the router as its users run it, against a bare relay measured in the same run.

    python benchmarks/e2e.py [--quick] [--cables N]

It starts everything itself and stops by itself: a private Mosquitto (no persistence, unlimited
queues), `router run` as a process of its own on a table of the committed routing table's 1,949
posts with unthrottled lines, a sink subscribed to every post's topic, and a publisher sending as
fast as QoS 1 allows. Four phases:

1. throughput: generated traffic with the real fan-out (median 6 copies a cable), then the 12,985
   cables of ../shared/corpus/pool.jsonl.gz (when ../shared is there): cables/s and copies/s from
   the first publish to the last copy at the sink, latency per precedence, the router's peak RSS;
2. baseline: the same generated traffic through benchmarks/relay.py, a bare relay on gmqtt sending
   the same copies with no parsing, journal or queues; the ratio router / relay;
3. latency under load: posts on 9,600-baud lines (time scale 1) offered ROUTINE traffic at 5x their
   capacity and a FLASH every second: FLASH publish-to-post p99, against one FLASH transmission on
   that line + 50 ms, and the ROUTINE backlog;
4. memory: deliveries queued behind stalled posts (posts that never receipt, their windows full):
   the router's RSS growth for 200,000 of them (--quick: 50,000).

Every copy is counted: `lost` (expected copies that never reached the sink) must be 0. Each run
also reads the CPU time of every part (router or relay, broker, publisher, counter) and how busy
the machine was: `cpu` says what the ratio could reach if the router's work were spread over every
core, and how much CPU a cable the router may take for 0.8. The last line printed is one JSON object
with every figure and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict, deque
from contextlib import closing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

from machine import describe

from router import parse_cable
from router.bus.broker import Mosquitto, free_port
from router.bus.mqtt import BrokerAddress, MqttBus
from router.errors import CableParseError
from router.network.channel import (
    FRAMING,
    SWITCH_RI,
    duplicate_notice,
    heading,
    line_characters,
    message_part,
    read_copy,
    receipt,
)
from router.network.line import code_for, units_per_character
from router.routing.decide import decide
from router.routing.table import DEFAULT_TABLE, RoutingTable, parse_table
from router.sim.replay import replay_schedule
from router.sim.traffic import generate, load_profile

ROOT = Path(__file__).resolve().parent.parent
POOL = ROOT.parent / "shared" / "corpus" / "pool.jsonl.gz"
PUBLISH_IN_FLIGHT = 256
SAMPLED_POSTS = 8
"""Posts whose copies the benchmark times one by one (in Python); the rest are only counted."""
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
_DE = re.compile(rb"^DE (\S+) #(\S+) (\d+)", re.MULTILINE)


# --- the parts


@dataclass
class Cable:
    """One cable to publish: its topic level, bytes, message id, precedence and expected copies."""

    name: str
    raw: bytes
    message_id: str | None
    precedence: str
    posts: list[str]


def noticed(message_id: str, table: RoutingTable) -> list[str]:
    """Where the router's service message about a duplicate goes: the station its FL3 names (§428a)."""
    station = message_id.split("-", 1)[0]
    known = station in table.posts or table.relayed_station(station) is not None
    return [station] if duplicate_notice(message_id) and station != SWITCH_RI and known else []


def prepare(raws: list[tuple[str, bytes]], table: RoutingTable) -> list[Cable]:
    """What the router will do with each cable, worked out beforehand: who gets a copy."""
    cables, seen = [], set()
    for name, raw in raws:
        try:
            parsed = parse_cable(raw)
        except CableParseError:
            cables.append(Cable(name, raw, None, "-", []))
            continue
        duplicate = parsed.message_id in seen
        seen.add(parsed.message_id)
        posts = (
            noticed(parsed.message_id, table)
            if duplicate
            else [d.post for d in decide(parsed, table).deliveries]
        )
        precedence = parsed.precedence.value if parsed.precedence else "-"
        cables.append(Cable(name, raw, parsed.message_id, precedence, posts))
    return cables


def copy_key(payload: bytes) -> str | None:
    """The message id a copy carries, read off its DE line without parsing the cable."""
    match = _DE.search(payload, 0, 600)
    if match is None:
        return None
    ri, ssn, filed = (part.decode() for part in match.groups())
    return f"{ri}-{ssn}-{filed}"


def unthrottled_table(window: int) -> str:
    """The committed routing table with every line unthrottled and the given window."""
    text = DEFAULT_TABLE.read_text(encoding="utf-8")
    text = re.sub(r"^baud = \d+$", "baud = 0", text, count=1, flags=re.MULTILINE)
    return re.sub(r"^window = \d+$", f"window = {window}", text, count=1, flags=re.MULTILINE)


def rss_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process, in kB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_and_total() -> tuple[int, int]:
    """The machine's idle and total CPU time so far, in ticks, from /proc/stat."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)


@dataclass
class CpuMeter:
    """The CPU time each part of a run takes, per cable: where the machine's two cores go.

    The worker (router or relay) and the broker by their process ids; this process (publisher and
    sampler) by its own clock; the counter (`mosquitto_sub`) once it has stopped.
    """

    worker: int
    broker: int
    _start: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        idle, total = idle_and_total()
        return {
            "worker": cpu_seconds(self.worker),
            "broker": cpu_seconds(self.broker),
            "publisher": time.process_time(),
            "idle": idle,
            "total": total,
        }

    def begin(self) -> None:
        """Read every clock at the first publish."""
        self._start = self._read()

    def end(self, cables: int, counter_seconds: float) -> dict[str, Any]:
        """Milliseconds of CPU a cable for each part, and the share of the machine in use."""
        spent = {clock: value - self._start[clock] for clock, value in self._read().items()}
        used = {part: spent[part] for part in ("worker", "broker", "publisher")} | {
            "counter": counter_seconds
        }
        return {
            "cpu_ms_per_cable": {part: round(1000 * s / cables, 3) for part, s in used.items()},
            "machine_busy": round(1 - spent["idle"] / max(1, spent["total"]), 3),
        }


class Router:
    """`router run` in a process of its own: ``with Router(...) as router``."""

    def __init__(  # noqa: PLR0913 (keyword-only options)
        self,
        broker: str,
        table: Path,
        work: Path,
        *,
        time_scale: float = 1.0,
        options: tuple[str, ...] = (),
        client_id: str | None = "",
        build: Path | None = None,
    ) -> None:
        """``options``: more of `router run`'s (``--centre NAME``).

        ``client_id``: "" a new one each run; None the router's own default (a centre's ``router-NAME``).
        ``build``: a folder holding another build of the package (the compiled one:
        benchmarks/compiled.py), run instead of this checkout's.
        """
        self.journal = work / "journal.sqlite"
        self.client_id = f"router-{time.monotonic_ns()}" if client_id == "" else client_id
        self.build = build
        self.command = [
            sys.executable,
            # -P: not the working folder (this checkout) first on the path, but the build's.
            *(["-P"] if build is not None else []),
            "-m",
            "router",
            "run",
            "--broker",
            broker,
            "--routing",
            str(table),
            "--journal",
            str(self.journal),
            "--time-scale",
            str(time_scale),
            *options,
        ]
        self.log = work / "router.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        env = {**os.environ, "ROUTER_LOG_FILE": str(self.log)}
        env.pop("ROUTER_CLIENT_ID", None)
        if self.build is not None:
            env["PYTHONPATH"] = str(self.build)
        if self.client_id is not None:
            env["ROUTER_CLIENT_ID"] = self.client_id
        self.process = subprocess.Popen(self.command, env=env, cwd=ROOT)  # noqa: S603
        deadline = time.monotonic() + 30
        while not (self.log.exists() and b'"listening"' in self.log.read_bytes()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"the router did not start; see {self.log}")
            time.sleep(0.05)
        return self

    def __exit__(self, *_: object) -> None:
        """Stop the router (SIGTERM) and wait for it."""
        assert self.process is not None
        self.process.terminate()
        self.process.wait(30)

    @property
    def pid(self) -> int:
        """The router's process id."""
        assert self.process is not None
        return self.process.pid


class CopyCounter:
    """Every copy, counted by `mosquitto_sub` (C: a Python sink would take the core it measures)."""

    def __init__(self, url: str, expected: int, topic: str = "cables/out/+") -> None:
        address = BrokerAddress.parse(url)
        self.expected = expected
        self.count = 0
        self.last = 0.0
        self.done = threading.Event()
        if expected <= 0:
            self.done.set()  # nothing to wait for (the pool's oldest cables reach no post of the table)
        self.process = subprocess.Popen(  # noqa: S603
            [
                MOSQUITTO_SUB,
                *(
                    "-h",
                    address.host,
                    "-p",
                    str(address.port),
                    "-q",
                    "1",
                    "-i",
                    f"counter-{time.monotonic_ns()}",
                    # the broker's owner (our Mosquitto's url carries it): it may read every copy
                    *(("-u", address.username, "-P", address.password or "") if address.username else ()),
                ),
                *("-t", topic, "-F", "%U"),
            ],
            stdout=subprocess.PIPE,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        time.sleep(0.3)  # subscribed before anything is published

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.count += 1
            self.last = float(line)
            if self.count >= self.expected:
                self.done.set()

    def stop(self) -> float:
        """Stop counting; return the CPU seconds `mosquitto_sub` used."""
        used = cpu_seconds(self.process.pid)
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:  # still draining a flood into its pipe: no need to wait
            self.process.kill()
            self.process.wait(10)
        return used


@dataclass
class Sampler:
    """Copies to a few busy posts, timed one by one: the latency per precedence."""

    published_at: dict[str, float]
    precedence: dict[str, str]
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    receipts: bool = False

    async def run(self, bus: MqttBus) -> None:
        """Time (and receipt, if asked) every copy that arrives."""
        async for message in bus.messages():
            now = time.time()
            key = copy_key(message.payload)
            if key is not None and key in self.published_at:
                self.latency[self.precedence.get(key, "-")].append(now - self.published_at[key])
            if self.receipts and (answer := receipt_of(message.payload)) is not None:
                await bus.publish(message.topic.replace("/out/", "/ack/"), answer)


def receipt_of(payload: bytes) -> bytes | None:
    """A post's receipt for a copy on cables/out/<RI>; None for a service message or a cancellation.

    ``R``, FL2's prosign letter (after a FLASH's bell signal) and the copy's channel serial (§151b).
    """
    copy = read_copy(payload)
    if copy.service is not None or copy.cancelled:
        return None
    letter = payload.split(b"\n", 2)[1].lstrip(b"\a")[:1].decode()
    return receipt(letter, copy.transmission_id)


async def publish_all(bus: MqttBus, cables: list[Cable], published_at: dict[str, float]) -> float:
    """Publish every cable at QoS 1, PUBACKs awaited together; return the (wall) time of the first."""
    first = time.time()
    pending: deque[asyncio.Future[None]] = deque()
    for cable in cables:
        if cable.message_id is not None:
            published_at.setdefault(cable.message_id, time.time())
        pending.append(bus.send(f"cables/in/{cable.name}", cable.raw, qos=1))
        if len(pending) > PUBLISH_IN_FLIGHT:
            await pending.popleft()
    await asyncio.gather(*pending)
    return first


def busiest(cables: list[Cable], count: int) -> list[str]:
    """The posts that get the most copies: where a sample of latencies is largest for its cost."""
    copies: defaultdict[str, int] = defaultdict(int)
    for cable in cables:
        for post in cable.posts:
            copies[post] += 1
    return sorted(copies, key=copies.__getitem__, reverse=True)[:count]


async def push(
    url: str, cables: list[Cable], *, within: float, meter: CpuMeter, receipts: bool = False
) -> dict[str, Any]:
    """Publish ``cables`` and wait for every copy they should make: the figures of one run."""
    address = BrokerAddress.parse(url)
    expected = sum(len(cable.posts) for cable in cables)
    published_at: dict[str, float] = {}
    sampler = Sampler(
        published_at, {c.message_id: c.precedence for c in cables if c.message_id}, receipts=receipts
    )
    counter = CopyCounter(url, expected)
    try:
        async with (
            MqttBus(address, client_id=f"sampler-{time.monotonic_ns()}") as sample_bus,
            MqttBus(address, client_id=f"publisher-{time.monotonic_ns()}") as publisher,
        ):
            for post in busiest(cables, SAMPLED_POSTS):
                await sample_bus.subscribe(f"cables/out/{post}", qos=1)
            sampling = asyncio.create_task(sampler.run(sample_bus))
            meter.begin()
            first = await publish_all(publisher, cables, published_at)
            await asyncio.to_thread(counter.done.wait, within)
            sampling.cancel()
    finally:
        counter_seconds = counter.stop()
    elapsed = max(counter.last - first, 1e-9)
    return {
        **meter.end(len(cables), counter_seconds),
        "cables": len(cables),
        "copies": counter.count,
        "expected_copies": expected,
        "lost": max(0, expected - counter.count),
        "seconds": round(elapsed, 3),
        "cables_per_s": round(len(cables) / elapsed),
        "deliveries_per_s": round(counter.count / elapsed),
        "latency_ms": {
            precedence: {"p50": _ms(times, 50), "p99": _ms(times, 99), "n": len(times)}
            for precedence, times in sorted(sampler.latency.items())
        },
    }


def _ms(times: list[float], percent: int) -> float:
    ordered = sorted(times)
    return round(1000 * ordered[max(0, -(-percent * len(ordered) // 100) - 1)], 1)


# --- the phases


def throughput(
    broker: Mosquitto, work: Path, cables: list[Cable], name: str, *, timeout: float
) -> dict[str, Any]:
    """One router, fresh journal, the cables through it."""
    url = broker.url
    table = work / f"{name}-table.toml"
    table.write_text(unthrottled_table(window=10_000), encoding="utf-8")
    run = work / name
    run.mkdir()
    with Router(url, table, run) as router:
        before, _ = rss_kb(router.pid)
        meter = CpuMeter(router.pid, _pid(broker))
        figures = asyncio.run(push(url, cables, within=timeout, meter=meter))
        _, peak = rss_kb(router.pid)
    figures["router_rss_mb"] = round(before / 1024, 1)
    figures["router_peak_rss_mb"] = round(peak / 1024, 1)
    return figures


def baseline(broker: Mosquitto, work: Path, cables: list[Cable], *, timeout: float) -> dict[str, Any]:
    """The same cables through the bare relay."""
    url = broker.url
    fanout = work / "fanout.json"
    fanout.write_text(json.dumps({c.name: c.posts for c in cables}), encoding="utf-8")
    relay = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "benchmarks" / "relay.py"), url, str(fanout)],
        stdout=subprocess.PIPE,
    )
    assert relay.stdout is not None
    relay.stdout.readline()  # "listening"
    try:
        return asyncio.run(push(url, cables, within=timeout, meter=CpuMeter(relay.pid, _pid(broker))))
    finally:
        relay.terminate()
        relay.wait(10)


def _pid(broker: Mosquitto) -> int:
    assert broker.pid is not None, "the broker runs for the whole benchmark"
    return broker.pid


SLOW_POSTS = ("RUEHFR", "RUEHKO", "RUEHLO", "RUEHRO")
SLOW_BAUD = 9600


def line_seconds(raw: bytes, prosign: str) -> float:
    """Seconds a copy of ``raw`` takes on a slow line, as the router times it.

    What the line sends (line ends, framing) in the code of its speed: ASCII at 9,600 baud, 10 units.
    """
    code = code_for(SLOW_BAUD)
    copy = heading("HFR0000", SLOW_POSTS[0], prosign) + message_part(raw)
    return (line_characters(copy, code) + FRAMING) * units_per_character(SLOW_BAUD, code) / SLOW_BAUD


def slow_table() -> str:
    """Four posts on 9,600-baud lines (time scale 1: network seconds are seconds)."""
    posts = "".join(f'[[posts]]\nri = "{ri}"\nnames = ["POST {ri}"]\n\n' for ri in SLOW_POSTS)
    return f"[defaults]\nbaud = {SLOW_BAUD}\nwindow = 8\n\n{posts}"


async def overload(url: str, routine: list[Cable], flashes: list[Cable], seconds: float) -> dict[str, Any]:
    """ROUTINE at 5x the lines' capacity and a FLASH a second; the posts receipt every copy."""
    address = BrokerAddress.parse(url)
    published_at: dict[str, float] = {}
    precedence = {c.message_id: c.precedence for c in routine + flashes if c.message_id}
    sampler = Sampler(published_at, precedence, receipts=True)
    seconds_of = {c.message_id: line_seconds(c.raw, "ZZ") for c in flashes if c.message_id}
    capacity = 1 / statistics.mean(
        line_seconds(c.raw, "RR") for c in routine
    )  # cables a second a line carries
    copies_per_cable = statistics.mean(len(c.posts) for c in routine)
    rate = 5 * capacity * len(SLOW_POSTS) / copies_per_cable
    async with (
        MqttBus(address, client_id=f"posts-{time.monotonic_ns()}") as posts,
        MqttBus(address, client_id=f"load-{time.monotonic_ns()}") as publisher,
    ):
        for post in SLOW_POSTS:
            await posts.subscribe(f"cables/out/{post}", qos=1)
        receiving = asyncio.create_task(sampler.run(posts))
        start = time.time()
        next_flash, sent_routine, sent_flash = start, 0, 0
        while time.time() - start < seconds:
            now = time.time()
            if now >= next_flash and sent_flash < len(flashes):
                cable = flashes[sent_flash]
                published_at[str(cable.message_id)] = time.time()
                await publisher.publish(f"cables/in/{cable.name}", cable.raw)
                sent_flash += 1
                next_flash += 1.0
            due = int((now - start) * rate)
            while sent_routine < min(due, len(routine)):
                cable = routine[sent_routine]
                published_at[str(cable.message_id)] = time.time()
                publisher.send(f"cables/in/{cable.name}", cable.raw)
                sent_routine += 1
            await asyncio.sleep(0.005)
        await asyncio.sleep(3 * max(seconds_of.values()) + 1)
        receiving.cancel()
        status = await retained(address, "router/status")
    flash_ms = sorted(1000 * t for t in sampler.latency.get("FLASH", []))
    transmission_ms = max(seconds_of.values()) * 1000
    backlog = sum(int(depths.get("ROUTINE", 0)) for depths in status.get("queues", {}).values())
    backlog += int(status.get("other_lines", {}).get("waiting", {}).get("ROUTINE", 0))  # past status_lines
    return {
        "lines": f"{len(SLOW_POSTS)} posts at {SLOW_BAUD} baud",
        "routine_offered_x_capacity": 5,
        "routine_cables_per_s": round(rate, 2),
        "flash_cables": sent_flash,
        "flash_copies_timed": len(flash_ms),
        "flash_p50_ms": round(statistics.median(flash_ms), 1) if flash_ms else None,
        "flash_p99_ms": _ms([t / 1000 for t in flash_ms], 99) if flash_ms else None,
        "flash_transmission_ms": round(transmission_ms, 1),
        "flash_bound_ms": round(transmission_ms + 50, 1),
        "routine_backlog": backlog,
    }


async def retained(address: BrokerAddress, topic: str) -> dict[str, Any]:
    """The retained message on ``topic``, as JSON."""
    async with MqttBus(address, client_id=f"reader-{time.monotonic_ns()}") as reader:
        await reader.subscribe(topic, qos=0)
        async with asyncio.timeout(5):
            message = await anext(aiter(reader.messages()))
    return dict(json.loads(message.payload))


def latency_under_load(url: str, work: Path, *, seconds: float) -> dict[str, Any]:
    """The FLASH's way through a backlog of ROUTINE on slow lines."""
    table_text = slow_table()
    table = parse_table(table_text)
    start = datetime(2009, 1, 1, tzinfo=UTC)
    mix = generate(table, count=4000, seed=2, start=start, posts=SLOW_POSTS, rate=1000)
    routine = [c for c in prepare([(g.name, g.raw) for g in mix], table) if c.precedence == "ROUTINE"]
    count = int(seconds) + 5
    flash = generate(table, count=count, seed=3, start=start, posts=SLOW_POSTS, flash_at=range(count))
    flashes = prepare([(f"flash-{g.name}", g.raw) for g in flash], table)
    path = work / "slow.toml"
    path.write_text(table_text, encoding="utf-8")
    run = work / "overload"
    run.mkdir()
    with Router(url, path, run):
        return asyncio.run(overload(url, routine, flashes, seconds))


def memory(url: str, work: Path, *, deliveries: int) -> dict[str, Any]:
    """Deliveries queued behind stalled posts (they never receipt; their windows fill): RSS growth."""
    table_text = unthrottled_table(window=1)
    parsed = parse_table(table_text)
    profile = replace(load_profile(), line_collective=0.0)
    start = datetime(2010, 1, 1, tzinfo=UTC)
    count = deliveries // 5
    generated = generate(parsed, count=count, seed=4, start=start, profile=profile, rate=1000)
    cables = prepare([(f"stall-{g.name}", g.raw) for g in generated], parsed)
    chosen, total = [], 0
    for cable in cables:
        if total >= deliveries:
            break
        chosen.append(cable)
        total += len(cable.posts)
    table = work / "memory-table.toml"
    table.write_text(table_text, encoding="utf-8")
    run = work / "memory"
    run.mkdir()
    with Router(url, table, run) as router:
        before, _ = rss_kb(router.pid)
        asyncio.run(publish_and_wait(url, chosen))
        after, peak = rss_kb(router.pid)
        queued = _queued(run / "journal.sqlite")
    return {
        "deliveries": total,
        "queued_in_journal": queued,
        "rss_before_mb": round(before / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
        "rss_growth_mb": round((after - before) / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
    }


async def publish_and_wait(url: str, cables: list[Cable]) -> None:
    """Publish, then wait until the router has routed every cable (its retained status says so)."""
    address = BrokerAddress.parse(url)
    async with MqttBus(address, client_id=f"stalled-{time.monotonic_ns()}") as publisher:
        await publish_all(publisher, cables, {})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        totals = (await retained(address, "router/status")).get("totals", {})
        if int(totals.get("routed", 0)) + int(totals.get("rejected", 0)) + int(
            totals.get("duplicate", 0)
        ) >= len(cables):
            return
        await asyncio.sleep(0.5)


def _queued(journal: Path) -> int:
    with closing(sqlite3.connect(journal)) as db:
        return int(db.execute("SELECT count(*) FROM deliveries WHERE state != 'acknowledged'").fetchone()[0])


def cpu_budget(router: dict[str, Any], relay: dict[str, Any], *, floor: float = 0.8) -> dict[str, Any]:
    """What the ratio can reach on this machine: the CPU a cable costs, against the cores there are.

    The broker, the publisher and the counter cost the same whoever relays (their CPU per cable
    from the relay's run). If the router's own CPU were spread over every core as fully as the
    relay's run used the machine, it could carry ``cores x busy / (router + the rest)`` cables a
    second: the ceiling of the ratio for any number of router processes. The budget is the router
    CPU a cable may take for the ratio to reach ``floor``.
    """
    cores = os.cpu_count() or 1
    relay_cpu = relay["cpu_ms_per_cable"]
    rest = relay_cpu["broker"] + relay_cpu["publisher"] + relay_cpu["counter"]
    busy = float(relay["machine_busy"])
    router_ms = float(router["cpu_ms_per_cable"]["worker"])
    ceiling = 1000 * cores * busy / (router_ms + rest)
    budget = 1000 * cores * busy / (floor * int(relay["cables_per_s"])) - rest
    return {
        "router_cpu_ms_per_cable": router_ms,
        "relay_cpu_ms_per_cable": relay_cpu["worker"],
        "broker_publisher_counter_cpu_ms_per_cable": round(rest, 3),
        "relay_run_machine_busy": busy,
        "ratio_ceiling_on_all_cores": round(ceiling / int(relay["cables_per_s"]), 3),
        "ratio_floor": floor,
        "router_cpu_budget_ms_per_cable": round(budget, 3),
    }


def pool_cables(table: RoutingTable) -> list[Cable]:
    """The 12,985 cables of the corpus's pool, when ../shared is there."""
    if not POOL.exists():
        return []
    return prepare([(s.name, s.raw) for s in replay_schedule([POOL], speedup=None)], table)


def main() -> None:
    """Run the phases and print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="a smaller run, under a minute")
    options.add_argument("--cables", type=int, help="generated cables (default 10,000; --quick 2,000)")
    options.add_argument("--rounds", type=int, help="router and relay runs, in turn (default 3; --quick 1)")
    args = options.parse_args()
    args.rounds = args.rounds or (1 if args.quick else 3)
    count = args.cables or (2_000 if args.quick else 10_000)
    table = parse_table(unthrottled_table(window=10_000))
    # Addressee lines as the corpus has them, each to one post: the corpus's median of 6 copies a
    # cable (collectives, which the committed table expands to their full membership, left out).
    profile = replace(load_profile(), line_collective=0.0)
    start = datetime(2009, 1, 1, tzinfo=UTC)
    generated = [(g.name, g.raw) for g in generate(table, count=count, seed=1, start=start, profile=profile)]
    cables = prepare(generated, table)
    fanouts = [len(c.posts) for c in cables]
    print(f"generated {count} cables, {sum(fanouts)} copies, median fan-out {statistics.median(fanouts)}")
    results: dict[str, Any] = {"machine": describe(), "quick": args.quick, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="router-e2e-") as directory:
        work = Path(directory)
        with Mosquitto(work / "broker", port=free_port()) as broker:
            # Router and relay in turn, best round of each: this machine's speed wanders by tens of
            # per cent over a minute, and alternating keeps both under the same conditions.
            routers, relays = [], []
            for round_number in range(args.rounds):
                routers.append(throughput(broker, work, cables, f"generated-{round_number}", timeout=120))
                print(f"router, generated: {json.dumps(routers[-1])}")
                relays.append(baseline(broker, work, cables, timeout=120))
                print(f"relay,  generated: {json.dumps(relays[-1])}")
            router = max(routers, key=lambda figures: int(figures["cables_per_s"]))
            relay = max(relays, key=lambda figures: int(figures["cables_per_s"]))
            router["lost"] = sum(int(figures["lost"]) for figures in routers)
            relay["lost"] = sum(int(figures["lost"]) for figures in relays)
            pool = pool_cables(table)
            if pool:
                real = throughput(broker, work, pool, "pool", timeout=180)
                print(f"router, pool:      {json.dumps(real)}")
                results["pool"] = real
            loaded = latency_under_load(broker.url, work, seconds=8 if args.quick else 30)
            print(f"latency under load: {json.dumps(loaded)}")
            stalled = memory(broker.url, work, deliveries=50_000 if args.quick else 200_000)
            print(f"memory: {json.dumps(stalled)}")
            results.update(
                flash_p99_ms=loaded["flash_p99_ms"],
                flash_bound_ms=loaded["flash_bound_ms"],
                routine_backlog=loaded["routine_backlog"],
                rss_growth_mb=stalled["rss_growth_mb"],
                queued_deliveries=stalled["deliveries"],
                latency_under_load=loaded,
                memory=stalled,
            )
            results.update(
                cables_per_s=router["cables_per_s"],
                deliveries_per_s=router["deliveries_per_s"],
                baseline_cables_per_s=relay["cables_per_s"],
                baseline_deliveries_per_s=relay["deliveries_per_s"],
                ratio=round(int(router["cables_per_s"]) / max(1, int(relay["cables_per_s"])), 3),
                cpu=cpu_budget(router, relay),
                lost=int(router["lost"]) + int(relay["lost"]),
                router=router,
                baseline=relay,
            )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
