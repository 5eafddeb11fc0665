"""The fault campaign: the router as its users run it, hit by the faults a switch meets in service.

    python benchmarks/faults.py [--quick] [--seed N]

It starts everything itself and stops by itself: for each scenario a private Mosquitto with the
shipped persistence (`router.bus.broker.Mosquitto`, on a loopback port of its own), `router run`
as a process of its own on a five-post table of unthrottled lines, the posts as real MQTT clients
with persistent sessions (`router.sim.post.post_connection` and `serve_post`: each checks serials,
files suspected duplicates and receipts every copy), and a publisher of generated cables
(`router.sim.traffic.generate`, FLASH mixed in). Every copy a post shows (does not file as a
duplicate) is counted by message id; what each post should get is worked out beforehand
(`router.routing.decide`, as benchmarks/e2e.py does) and checked against the journal at the end.

1. router kills: SIGKILL of the router at seeded random moments of the stream, started again on
   the same journal each time; at the end each cable routed once in the journal, no copy lost,
   none shown twice;
2. broker restarts: the broker stopped with SIGTERM (it saves its database) mid-stream and started
   again on it, then the same with SIGKILL: cables the broker acknowledged to the publisher but the
   router never journalled (`broker_sigterm_lost` must be 0; `broker_sigkill_lost` is the figure);
3. a post offline for an hour of network time (time scale 3600: an hour in a host second): its
   client gone and its line marked down (`router line down`), mixed-precedence traffic for it
   meanwhile; on its return (line up, client back) each copy once, in precedence order; then the
   same outage with no line down (the client alone away), where the router's receipt timeouts
   decide: what arrived and what went to the intercept position;
4. journal faults: another connection holds the journal's write lock (BEGIN EXCLUSIVE) for some
   seconds mid-stream (longer than SQLite's busy timeouts); then a full disk: where the campaign
   may mount a filesystem (root), the journal lives on a tmpfs of its own, filled to the last byte
   by a file (ENOSPC) for some seconds, then freed; elsewhere the kernel refuses to grow the
   journal's files (RLIMIT_FSIZE on the router process, `prlimit`: EFBIG, SQLite's "disk I/O
   error"). The router should not exit (one that does is started again, as a supervisor would,
   and counted), intake pauses and resumes (its log's journal-unwritable and journal-writable),
   nothing lost;
5. hostile traffic: a good stream alone, then the same amount again with a hostile publisher at
   the same time, in turn (alone first and last; the medians compared). The hostile
   publisher sends forged ZFX gap reports for the posts and for made-up RIs, line commands,
   receipts and retransmit requests for made-up RIs, garbage cables, and 10 MB payloads the
   broker must refuse. Good cables/s with and without (`hostile_slowdown`, at most 0.2), the
   router's peak RSS.

Every loop is bounded in count and time; every process started is stopped at the end (on error
too). The exit status is 0 when the campaign ran, whatever its figures: a failed expectation is
printed as such. The last line printed is one JSON object with every figure and the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import logging
import os
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e import Cable, prepare, rss_kb
from machine import describe

from router import parse_cable
from router.bus.broker import Mosquitto, free_port
from router.bus.mqtt import BrokerAddress, MqttBus
from router.errors import BusError
from router.network.channel import zfx
from router.routing.decide import decide
from router.routing.table import RoutingTable, parse_table
from router.sim.post import PostStation, Reading, post_connection, serve_post
from router.sim.traffic import generate

ROOT = Path(__file__).resolve().parent.parent
POSTS = ("RUEHC", "RUEHFR", "RUEHKO", "RUEHLO", "RUEHRO")
WINDOW = 50
RANK = {"FLASH": 4, "IMMEDIATE": 3, "PRIORITY": 2, "ROUTINE": 1}
START = datetime(2011, 3, 1, tzinfo=UTC)
MB = 1024 * 1024
FS_MB = 128
"""The journal's own filesystem in the full-disk fault (a tmpfs, where this may mount one)."""


def table_text(windows: dict[str, int] | None = None) -> str:
    """Five posts on unthrottled lines; ``windows``: a post's own window, if not the default."""
    windows = windows or {}
    posts = "".join(
        f'[[posts]]\nri = "{ri}"\nnames = ["POST {ri}"]\n'
        + (f"window = {windows[ri]}\n" if ri in windows else "")
        + "\n"
        for ri in POSTS
    )
    return f"[defaults]\nbaud = 0\nwindow = {WINDOW}\n\n{posts}"


def cables_of(
    table: RoutingTable, count: int, seed: int, prefix: str, *, flash_every: int = 20
) -> list[Cable]:
    """``count`` generated cables to the five posts, one in ``flash_every`` a FLASH."""
    generated = generate(
        table, count=count, seed=seed, start=START, posts=POSTS, flash_at=range(0, count, flash_every)
    )
    return prepare([(f"{prefix}-{g.name}", g.raw) for g in generated], table)


# --- the parts


class Router:
    """`router run` in a process of its own, started again on the same journal as often as asked."""

    def __init__(
        self,
        url: str,
        work: Path,
        *,
        time_scale: float,
        env: dict[str, str] | None = None,
        journal: Path | None = None,
    ) -> None:
        self.journal = journal or work / "journal.sqlite"
        self.command = [
            sys.executable,
            "-m",
            "router",
            "run",
            "--broker",
            url,
            "--routing",
            str(work / "table.toml"),
            "--journal",
            str(self.journal),
            "--time-scale",
            str(time_scale),
        ]
        self.log = work / "router.log"
        # One client id over every start: the persistent session keeps what came while it was down.
        self.env = {
            **os.environ,
            "ROUTER_CLIENT_ID": "router-faults",
            "ROUTER_RECONNECT_MAX": "0.5",
            "ROUTER_STATUS_EVERY": "0.5",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.exits: list[int] = []
        """Exit codes of the router's processes that ended other than by our signal."""
        self._listening = 0
        self._lock = threading.Lock()
        self._readers: list[threading.Thread] = []

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        # The routing log through a pipe into our file: a file the router wrote itself would be
        # subject to the RLIMIT_FSIZE of the full-disk fault.
        assert process.stderr is not None
        with self.log.open("ab") as log:
            for line in process.stderr:
                log.write(line)
                if b'"listening"' in line:
                    with self._lock:
                        self._listening += 1

    async def start(self, *, within: float = 30.0) -> None:
        """Start the router and return once it listens."""
        before = self._listening
        self.process = subprocess.Popen(  # noqa: S603, ASYNC220 (our own command; Popen does not wait)
            self.command, env=self.env, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
        )
        self.starts += 1
        reader = threading.Thread(target=self._read, args=(self.process,), daemon=True)
        reader.start()
        self._readers.append(reader)
        deadline = time.monotonic() + within
        while self._listening == before:
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the router did not start; see {self.log}")
            await asyncio.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL, and wait for it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def alive(self) -> bool:
        """Whether the router runs; an exit not of our doing is recorded."""
        if self.process is None:
            return False
        code = self.process.poll()
        if code is None:
            return True
        self.exits.append(code)
        self.process = None
        return False

    def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL after 30 s): its exit code."""
        if self.process is None:
            return None
        self.process.terminate()
        try:
            code = self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(10)
        self.process = None
        for reader in self._readers:
            reader.join(5)
        return code

    @property
    def pid(self) -> int:
        """The running router's process id."""
        assert self.process is not None
        return self.process.pid

    def events(self, name: str) -> list[dict[str, Any]]:
        """The routing log's events called ``name``, over every start."""
        found: list[dict[str, Any]] = []
        if not self.log.exists():
            return found
        for line in self.log.read_bytes().splitlines():
            if f'"{name}"'.encode() not in line:
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and record.get("event") == name:
                    found.append(record)
        return found


@dataclass(slots=True)
class CountedStation(PostStation):
    """A post station that tells of each reading as it makes it.

    Counted at the reading, not in `serve_post`'s ``on_reading``: that is called only after the
    receipt is published and the copy acknowledged, and a connection lost in between (a broker
    restart) leaves the message held by the station but never handed on: its copy again is then
    filed as a duplicate, and the message never shown (see the campaign's report).
    """

    seen: Callable[[str, Reading], None] | None = None

    def read(self, payload: bytes) -> Reading:
        """The station's reading, told first."""
        reading = PostStation.read(self, payload)
        if self.seen is not None:
            self.seen(self.ri, reading)
        return reading


@dataclass
class Posts:
    """The posts as MQTT clients with persistent sessions: each copy shown or filed, counted."""

    address: BrokerAddress
    stations: dict[str, PostStation] = field(default_factory=dict)
    shown: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(post, message id): copies shown (not filed as duplicates)."""
    order: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """Per post, (message id, precedence) of each copy shown, in arrival order."""
    filed: int = 0
    filed_ids: list[tuple[str, str]] = field(default_factory=list)
    """(post, transmission id) of each copy filed as a duplicate."""
    reports: int = 0
    connections: int = 0
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def start(self, ri: str) -> None:
        """The post's client, connected (and reconnected) until stopped."""
        station = self.stations.setdefault(ri, CountedStation(ri, seen=self._seen))
        self.order.setdefault(ri, [])
        self.tasks[ri] = asyncio.create_task(self._serve(station))

    def _seen(self, ri: str, reading: Reading) -> None:
        if reading.report is not None:
            self.reports += 1
        if reading.duplicate:
            self.filed += 1
            if reading.transmission_id is not None:
                self.filed_ids.append((ri, reading.transmission_id))
        elif reading.cable is not None:
            message_id = reading.cable.message_id
            self.shown[ri, message_id] += 1
            precedence = reading.cable.precedence.value if reading.cable.precedence else "-"
            self.order[ri].append((message_id, precedence))

    async def _serve(self, station: PostStation) -> None:
        while True:
            try:
                async with post_connection(self.address, station.ri, session_expiry=86_400) as bus:
                    self.connections += 1
                    await serve_post(bus, station, lambda _: None)
            except BusError:
                await asyncio.sleep(0.2)

    async def stop(self, ri: str) -> None:
        """The post's client goes away (its session stays at the broker)."""
        task = self.tasks.pop(ri)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, BusError):
            await task

    async def stop_all(self) -> None:
        """Every post's client goes."""
        for ri in list(self.tasks):
            await self.stop(ri)

    def missing(self, cables: list[Cable]) -> int:
        """Expected copies no post has shown yet."""
        return sum(
            1 for c in cables if c.message_id for post in c.posts if not self.shown[post, c.message_id]
        )

    async def wait_for(self, cables: list[Cable], *, within: float) -> float:
        """Wait until every copy of ``cables`` has been shown (or ``within`` s): the host time it did."""
        deadline = time.monotonic() + within
        while self.missing(cables) and time.monotonic() < deadline:  # noqa: ASYNC110 (counted, not signalled)
            await asyncio.sleep(0.1)
        return time.time()


class Publisher:
    """A QoS 1 publisher that reconnects and publishes again what got no PUBACK (at least once)."""

    def __init__(self, address: BrokerAddress, in_flight: int = 256) -> None:
        self.address = address
        self.in_flight = in_flight
        self.acknowledged: set[int] = set()
        self.reconnections = 0

    async def publish(
        self, items: list[tuple[str, bytes]], *, rate: float | None = None, within: float
    ) -> None:
        """Publish every item (paced at ``rate`` a second, if given), again after a lost connection."""
        todo: deque[int] = deque(range(len(items)))
        window: deque[tuple[int, asyncio.Future[None]]] = deque()
        started = time.monotonic()
        deadline = started + within
        sent = 0
        while (todo or window) and time.monotonic() < deadline:
            try:
                async with MqttBus(self.address, client_id=f"publisher-{time.monotonic_ns()}") as bus:
                    while todo or window:
                        if time.monotonic() > deadline:
                            return
                        while todo and len(window) < self.in_flight:
                            if rate is not None and sent >= (time.monotonic() - started) * rate:
                                break
                            index = todo[0]
                            window.append((index, bus.send(items[index][0], items[index][1], qos=1)))
                            todo.popleft()
                            sent += 1
                        if window and (window[0][1].done() or len(window) >= self.in_flight or not todo):
                            await window[0][1]
                            self.acknowledged.add(window.popleft()[0])
                        elif todo:
                            await asyncio.sleep(0.002)
            except BusError:
                self.reconnections += 1
                for index, future in window:
                    if future.done() and not future.cancelled() and future.exception() is None:
                        self.acknowledged.add(index)
                    else:
                        todo.appendleft(index)
                todo = deque(sorted(todo))
                window.clear()
                await asyncio.sleep(0.2)


def journal_figures(journal: Path, cables: list[Cable]) -> dict[str, int]:
    """What the journal says of ``cables``: routed once, twice, never; deliveries not acknowledged."""
    expected = {c.message_id for c in cables if c.message_id}
    with closing(sqlite3.connect(f"file:{journal}?mode=ro", uri=True)) as db:
        rows = db.execute(
            "SELECT message_id, status, count(*) FROM cables GROUP BY message_id, status"
        ).fetchall()
        open_deliveries = db.execute(
            "SELECT count(*) FROM deliveries d JOIN cables c ON c.id = d.cable_id "
            "WHERE d.state NOT IN ('acknowledged')"
        ).fetchone()[0]
        states = dict(db.execute("SELECT state, count(*) FROM deliveries GROUP BY state").fetchall())
    routed: Counter[str] = Counter()
    again = 0
    for message_id, status, count in rows:
        if message_id in expected and status == "routed":
            routed[message_id] += count
        if message_id in expected and status == "duplicate":
            again += count
    return {
        "journalled_twice": sum(1 for n in routed.values() if n > 1),
        "never_journalled": len(expected - set(routed)),
        "received_again_filed_as_duplicate": again,
        "deliveries_not_acknowledged": int(open_deliveries),
        "deliveries_intercepted": int(states.get("intercepted", 0)),
    }


def copy_figures(posts: Posts, cables: list[Cable]) -> dict[str, int]:
    """Copies expected, lost (never shown) and shown twice, by the posts' own count."""
    expected = [(post, c.message_id) for c in cables if c.message_id for post in c.posts]
    return {
        "copies": len(expected),
        "lost": sum(1 for key in expected if posts.shown[key] == 0),
        "shown_twice": sum(1 for key in expected if posts.shown[key] > 1),
        "duplicates_filed": posts.filed,
    }


@contextlib.asynccontextmanager
async def network(
    work: Path,
    *,
    time_scale: float,
    env: dict[str, str] | None = None,
    journal: Path | None = None,
    text: str | None = None,
) -> Any:
    """A broker with the shipped persistence, the router and the five posts; all stopped at the end."""
    work.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (set-up, before anything runs)
    (work / "table.toml").write_text(text or table_text(), encoding="utf-8")
    broker = Mosquitto(work / "broker", port=free_port(), persistence=True)
    broker.start()
    router = Router(broker.url, work, time_scale=time_scale, env=env, journal=journal)
    posts = Posts(BrokerAddress.parse(broker.url))
    try:
        await router.start()
        for ri in POSTS:
            posts.start(ri)
        await asyncio.sleep(0.5)  # the posts subscribed
        yield broker, router, posts
    finally:
        await posts.stop_all()
        router.stop()
        broker.stop()


# --- the scenarios


async def router_kills(  # noqa: PLR0913 (keyword-only sizes)
    work: Path, table: RoutingTable, *, count: int, kills: int, seconds: float, seed: int
) -> dict[str, Any]:
    """SIGKILLs of the router at random moments of a paced stream; each time started again."""
    cables = cables_of(table, count, seed, "kill")
    rng = random.Random(seed)  # noqa: S311 (seeded: the same run again)
    moments = sorted(rng.uniform(0.5, seconds) for _ in range(kills))
    done_kills = 0
    async with network(work, time_scale=10) as (broker, router, posts):
        publisher = Publisher(BrokerAddress.parse(broker.url))

        async def killer() -> None:
            nonlocal done_kills
            began = time.monotonic()
            for moment in moments:
                await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
                router.kill()
                done_kills += 1
                await router.start()

        started = time.monotonic()
        await asyncio.gather(
            publisher.publish(
                [(f"cables/in/{c.name}", c.raw) for c in cables], rate=count / seconds, within=seconds * 3
            ),
            killer(),
        )
        await posts.wait_for(cables, within=120)
        elapsed = time.monotonic() - started
        alive = router.alive()
        exit_code = router.stop()
        return {
            "router_kills": done_kills,
            "cables": count,
            "published_acknowledged": len(publisher.acknowledged),
            **copy_figures(posts, cables),
            **journal_figures(router.journal, cables),
            "router_exits_unasked": len(router.exits) + (0 if alive else 1),
            "clean_stop_code": exit_code,
            "seconds": round(elapsed, 1),
        }


async def broker_restarts(  # noqa: PLR0913 (keyword-only sizes)
    work: Path,
    table: RoutingTable,
    *,
    how: signal.Signals,
    count: int,
    restarts: int,
    seconds: float,
    seed: int,
) -> dict[str, Any]:
    """The broker stopped (``how``) at random moments mid-stream and started again on its database."""
    cables = cables_of(table, count, seed, f"broker-{how.name}")
    rng = random.Random(seed)  # noqa: S311 (seeded: the same run again)
    moments = sorted(rng.uniform(0.5, seconds) for _ in range(restarts))
    done = 0
    # Copies the killed broker lost on their way to a post come again after the receipt timeout
    # (600 network s, 300 for FLASH): 10 s and 5 s here.
    async with network(work, time_scale=60) as (broker, router, posts):
        publisher = Publisher(BrokerAddress.parse(broker.url))

        async def restarter() -> None:
            nonlocal done, broker
            began = time.monotonic()
            for moment in moments:
                await asyncio.sleep(max(0.0, began + moment - time.monotonic()))
                assert broker.pid is not None
                os.kill(broker.pid, how)
                broker.stop()  # waits for it; a SIGTERM lets it save its database first
                broker.start()  # same directory, same port: its database read back
                done += 1

        started = time.monotonic()
        await asyncio.gather(
            publisher.publish(
                [(f"cables/in/{c.name}", c.raw) for c in cables], rate=count / seconds, within=seconds * 4
            ),
            restarter(),
        )
        await posts.wait_for(cables, within=90)
        elapsed = time.monotonic() - started
        alive = router.alive()
        router.stop()
        acknowledged = [cables[i] for i in publisher.acknowledged]
        journal = journal_figures(router.journal, acknowledged)
        return {
            "broker_restarts": done,
            "signal": how.name,
            "cables": count,
            "published_acknowledged": len(acknowledged),
            "publisher_reconnections": publisher.reconnections,
            "cables_lost": journal["never_journalled"],
            **copy_figures(posts, acknowledged),
            "journalled_twice": journal["journalled_twice"],
            "deliveries_not_acknowledged": journal["deliveries_not_acknowledged"],
            "deliveries_intercepted": journal["deliveries_intercepted"],
            "router_exits_unasked": len(router.exits) + (0 if alive else 1),
            "seconds": round(elapsed, 1),
        }


def outage_cables(table: RoutingTable, seed: int, prefix: str, count: int) -> list[Cable]:
    """Cables for Paris (and others), every precedence, mixed: FLASH one in five."""
    chosen = [c for c in cables_of(table, count * 4, seed, prefix, flash_every=5) if "RUEHFR" in c.posts]
    return chosen[:count]


def copy_precedence(cable: Cable, post: str, table: RoutingTable) -> str:
    """The precedence of ``cable``'s copy for ``post``."""
    for delivery in decide(parse_cable(cable.raw), table).deliveries:
        if delivery.post == post:
            return delivery.precedence.value
    return "-"


OUTAGE_MODES = {
    "line-down": "the line marked down while the post is away (router line down / up)",
    "away": "the post's client away, the line up; receipt timeouts longer than the outage (2 h)",
    "away-default-timeouts": "the post's client away, the line up, the shipped receipt timeouts",
}
AWAY_WINDOW = 8
"""Paris's window in the outage: what may go out to the broker's session before the line holds the rest."""


async def post_offline(
    work: Path, table: RoutingTable, *, count: int, seed: int, mode: str
) -> dict[str, Any]:
    """Paris away for an hour of network time (a host second at 3600x), traffic for it meanwhile.

    With the line down nothing goes out, and on its return the whole backlog comes in precedence
    order. With the line up the first window's copies go out at once and wait in the post's
    session at the broker (they come first, in their own order); the rest wait on the line and come
    in precedence order. With the shipped receipt timeouts (300 and 600 network s) the router sends
    each copy again with ZFD and intercepts it (no-receipt) well within the hour: the figure.
    """
    away = "RUEHFR"
    cables = outage_cables(table, seed, f"offline-{mode}", count)
    env = {"ROUTER_RECEIPT_TIMEOUT": "7200", "ROUTER_ACK_TIMEOUT": "7200"} if mode == "away" else {}
    text = table_text({away: AWAY_WINDOW})
    async with network(work, time_scale=3600, env=env, text=text) as (broker, router, posts):
        address = BrokerAddress.parse(broker.url)
        await posts.stop(away)
        async with MqttBus(address, client_id=f"operator-{time.monotonic_ns()}") as operator:
            if mode == "line-down":
                await operator.publish(f"router/line/{away}", b"down")
            publisher = Publisher(address)
            await publisher.publish([(f"cables/in/{c.name}", c.raw) for c in cables], within=60)
            others = [
                Cable(c.name, c.raw, c.message_id, c.precedence, [p for p in c.posts if p != away])
                for c in cables
            ]
            await posts.wait_for(others, within=30)  # everything taken and routed
            await asyncio.sleep(1.0)  # an hour of network time, all taken before it ends
            posts.start(away)
            if mode == "line-down":
                await operator.publish(f"router/line/{away}", b"up")
        mine = [Cable(c.name, c.raw, c.message_id, c.precedence, [away]) for c in cables]
        await posts.wait_for(mine, within=30)
        router.stop()
        # The copy's precedence is the post's own (an info addressee's may be lower than the cable's).
        precedence = {c.message_id: copy_precedence(c, away, table) for c in cables}
        arrived = [(mid, precedence[mid]) for mid, _ in posts.order[away] if mid in precedence]
        # Line up: the window's first copies went out before the return, and the session has them.
        from_session = 0 if mode == "line-down" else AWAY_WINDOW
        ranks = [RANK.get(prec, 0) for _, prec in arrived[from_session:]]
        journal = journal_figures(router.journal, mine)
        return {
            "mode": OUTAGE_MODES[mode],
            "cables": len(cables),
            "precedences": dict(Counter(precedence.values())),
            "arrived": len(arrived),
            "arrival_order": "".join(prec[0] for _, prec in arrived),
            "from_the_broker_session_first": from_session,
            "in_precedence_order": ranks == sorted(ranks, reverse=True),
            **copy_figures(posts, mine),
            "deliveries_intercepted": journal["deliveries_intercepted"],
        }


def mount_tmpfs(where: Path, size_mb: int) -> bool:
    """A tmpfs of ``size_mb`` at ``where``, if we may mount one (root, and the kernel lets us)."""
    mount = shutil.which("mount")
    if os.geteuid() != 0 or mount is None:
        return False
    where.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(  # noqa: S603 (the system's mount, a tmpfs of our own)
        [mount, "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
        timeout=10,
    )
    return run.returncode == 0


def unmount(where: Path) -> None:
    """Unmount what `mount_tmpfs` mounted (lazily if something still holds it)."""
    umount = shutil.which("umount") or "umount"
    run = subprocess.run([umount, str(where)], capture_output=True, check=False, timeout=10)  # noqa: S603
    if run.returncode != 0:
        subprocess.run([umount, "-l", str(where)], capture_output=True, check=False, timeout=10)  # noqa: S603


def fill(filler: Path, limit_mb: int) -> int:
    """Write ``filler`` until its filesystem is full (ENOSPC), ``limit_mb`` MiB at most: bytes written."""
    chunk = b"\0" * MB
    written = 0
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for _ in range(limit_mb):
            try:
                written += os.write(descriptor, chunk)
            except OSError:
                break
        # What is left is smaller than a chunk: fill it byte-wise in halving pieces.
        piece = MB // 2
        while piece >= 512:
            try:
                written += os.write(descriptor, chunk[:piece])
            except OSError:
                piece //= 2
    finally:
        os.close(descriptor)
    return written


async def journal_faults(  # noqa: PLR0913 (keyword-only sizes)
    work: Path, table: RoutingTable, *, count: int, seconds: float, hold: float, seed: int
) -> dict[str, Any]:
    """A held write lock on the journal, then a full disk, mid-stream.

    The full disk is real where this may mount a filesystem (root): the journal on a tmpfs of its
    own, filled by a file to the last byte (ENOSPC: SQLite's "database or disk is full"), the file
    removed after ``hold`` s. Elsewhere the kernel refuses to grow the journal's files
    (RLIMIT_FSIZE on the router process, `prlimit`: EFBIG, SQLite's "disk I/O error").
    """
    cables = cables_of(table, count, seed, "journal")
    fault_log: list[str] = []
    filesystem = work / "journal-fs"
    mounted = mount_tmpfs(filesystem, FS_MB)
    journal = filesystem / "journal.sqlite" if mounted else None
    try:
        async with network(work, time_scale=10, env={"ROUTER_JOURNAL_RETRY_MAX": "0.2"}, journal=journal) as (
            broker,
            router,
            posts,
        ):
            publisher = Publisher(BrokerAddress.parse(broker.url))

            async def watch() -> None:
                # A router that exits is started again (as a supervisor would), and again if it
                # cannot start yet; the scenario's own time limit bounds this.
                while True:
                    if not router.alive():
                        code = router.exits[-1] if router.exits else "?"
                        fault_log.append(f"router exited (status {code}); started again")
                        try:
                            await router.start()
                        except RuntimeError:
                            fault_log.append("router could not start")
                            router.alive()
                    await asyncio.sleep(0.1)

            async def lock() -> None:
                other = sqlite3.connect(
                    router.journal, timeout=10, isolation_level=None, check_same_thread=False
                )
                try:
                    await asyncio.to_thread(other.execute, "BEGIN EXCLUSIVE")
                    fault_log.append(f"journal locked (BEGIN EXCLUSIVE) for {hold} s")
                    await asyncio.sleep(hold)
                    other.execute("ROLLBACK")
                finally:
                    other.close()

            async def full_disk() -> None:
                if mounted:
                    filler = filesystem / "filler"
                    written = await asyncio.to_thread(fill, filler, FS_MB)
                    fault_log.append(f"journal's tmpfs filled ({written // MB} MiB of filler) for {hold} s")
                    await asyncio.sleep(hold)
                    filler.unlink()
                    return
                pid = router.pid
                files = [router.journal, router.journal.with_name(router.journal.name + "-wal")]
                limit = max(1, max((f.stat().st_size for f in files if f.exists()), default=1))
                soft, hard = resource.prlimit(pid, resource.RLIMIT_FSIZE)
                resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, hard))
                fault_log.append(f"journal files held to {limit} bytes for {hold} s (RLIMIT_FSIZE)")
                await asyncio.sleep(hold)
                with contextlib.suppress(ProcessLookupError):
                    resource.prlimit(pid, resource.RLIMIT_FSIZE, (soft, hard))

            async def faults() -> None:
                await asyncio.sleep(seconds * 0.2)
                await lock()
                await asyncio.sleep(seconds * 0.1)
                await full_disk()

            watcher = asyncio.create_task(watch())
            try:
                await asyncio.gather(
                    publisher.publish(
                        [(f"cables/in/{c.name}", c.raw) for c in cables],
                        rate=count / seconds,
                        within=seconds * 4,
                    ),
                    faults(),
                )
                await posts.wait_for(cables, within=90)
            finally:
                watcher.cancel()
            router.stop()
            unwritable = router.events("journal-unwritable")
            with closing(sqlite3.connect(f"file:{router.journal}?mode=ro", uri=True)) as db:
                committed = dict(
                    db.execute(
                        "SELECT event, count(*) FROM events"
                        " WHERE event LIKE 'journal-%writable' GROUP BY event"
                    ).fetchall()
                )
            return {
                "cables": count,
                "full_disk": "tmpfs filled (ENOSPC)" if mounted else "RLIMIT_FSIZE (EFBIG)",
                "faults": fault_log,
                "router_exits": len(router.exits),
                "journal_unwritable_events": len(unwritable),
                "journal_unwritable_reasons": sorted({str(e.get("reason")) for e in unwritable}),
                # The process log has an entry for each attempt that got as far as deciding (the
                # journal's events table only for the one that committed).
                "journal_writable_events": len(router.events("journal-writable")),
                "journal_writable_in_journal": int(committed.get("journal-writable", 0)),
                "paused_s": [e.get("unwritable_s") for e in router.events("journal-writable")][-3:],
                **copy_figures(posts, cables),
                **journal_figures(router.journal, cables),
            }
    finally:
        if mounted:
            unmount(filesystem)


async def hostile_traffic(
    address: BrokerAddress, stop: asyncio.Event, rng: random.Random, sent: Counter[str]
) -> None:
    """Forged gap reports, made-up control topics, garbage cables and 10 MB payloads, until ``stop``."""
    huge = b"X" * (10 * MB)
    made_up = [f"RUEHZ{chr(65 + i)}{chr(65 + j)}" for i in range(10) for j in range(10)]
    async with MqttBus(address, client_id=f"hostile-{time.monotonic_ns()}") as bus:
        tick = 0
        while not stop.is_set() and tick < 100_000:
            tick += 1
            ri = rng.choice(POSTS)
            serials = [f"{ri[-3:]}{rng.randint(1, 9999):04d}" for _ in range(40)]
            bus.send(f"cables/svc/{ri}", zfx(ri, serials), qos=0)
            fake = rng.choice(made_up)
            bus.send(f"cables/svc/{fake}", zfx(fake, [f"{fake[-3:]}{n:04d}" for n in range(1, 41)]), qos=0)
            bus.send(f"router/line/{fake}", rng.choice([b"down", b"up", b"\x00garbage"]), qos=0)
            bus.send(f"cables/ack/{fake}", b"R Z ZAA0001", qos=0)
            bus.send(f"router/retransmit/{fake}", b"RUEHXX-0001-0011200", qos=0)
            bus.send(f"cables/in/garbage-{tick}", rng.randbytes(rng.randint(1, 4000)), qos=0)
            sent["forged_zfx"] += 2
            sent["control"] += 3
            sent["garbage"] += 1
            if tick % 50 == 0:
                # 10 MB on the intake, on a connection of its own: the broker refuses it (its
                # message_size_limit) and drops the publisher.
                try:
                    async with MqttBus(address, client_id=f"huge-{time.monotonic_ns()}") as big:
                        await big.publish(f"cables/in/huge-{tick}", huge)
                    sent["huge_accepted"] += 1
                except BusError:
                    sent["huge_refused"] += 1
            await asyncio.sleep(0.02)


async def hostile(work: Path, table: RoutingTable, *, count: int, rounds: int, seed: int) -> dict[str, Any]:
    """Good cables/s alone and with hostile traffic at the same time, in turn; the router's RSS.

    Runs alone and attacked alternate (alone first and last: ``rounds`` attacked runs between
    ``rounds + 1`` alone), each with cables of its own; this machine's speed wanders by tens of per
    cent from one run to the next, so the slowdown compares the medians.
    """
    batches = [cables_of(table, count, seed + n, f"good-{n}") for n in range(2 * rounds + 1)]
    peak_rss = 0
    sent: Counter[str] = Counter()
    alone: list[float] = []
    attacked: list[float] = []
    # Time scale 1, as in service: a post's gap reports are rate-limited in network time (30 a
    # minute after a burst of 20), which a faster clock would let through that much faster.
    async with network(work, time_scale=1) as (broker, router, posts):
        address = BrokerAddress.parse(broker.url)

        async def sample_rss() -> None:
            nonlocal peak_rss
            while True:
                with contextlib.suppress(OSError, KeyError):
                    peak_rss = max(peak_rss, rss_kb(router.pid)[0])
                await asyncio.sleep(0.1)

        async def run(cables: list[Cable]) -> float:
            publisher = Publisher(address)
            first = time.time()
            await publisher.publish([(f"cables/in/{c.name}", c.raw) for c in cables], within=120)
            last = await posts.wait_for(cables, within=120)
            return float(len(cables) / max(1e-9, last - first))

        async def attack(cables: list[Cable]) -> float:
            # The hostile publisher is a process of its own: its work is not the posts' (ours).
            attacker = subprocess.Popen(  # noqa: S603, ASYNC220 (this interpreter, this script)
                [sys.executable, __file__, "--hostile-publisher", broker.url, "--seed", str(seed)],
                stdout=subprocess.PIPE,
            )
            try:
                await asyncio.sleep(0.5)
                rate = await run(cables)
            finally:
                attacker.terminate()
                out, _ = attacker.communicate(timeout=30)
            sent.update(json.loads(out.decode().strip().splitlines()[-1]) if out.strip() else {})
            await asyncio.sleep(2.0)  # what the attacker left at the broker is taken first
            return rate

        sampler = asyncio.create_task(sample_rss())
        try:
            rss_before = rss_kb(router.pid)[0]
            for number, cables in enumerate(batches):
                if number % 2:
                    attacked.append(await attack(cables))
                else:
                    alone.append(await run(cables))
            rss_after = rss_kb(router.pid)[0]
        finally:
            sampler.cancel()
        alive = router.alive()
        router.stop()
        return {
            "cables_each_run": count,
            "good_cables_per_s_alone": [round(r) for r in alone],
            "good_cables_per_s_with_hostile": [round(r) for r in attacked],
            "hostile_slowdown": round(1 - statistics.median(attacked) / statistics.median(alone), 3),
            "hostile_sent": dict(sent),
            "rss_mb_before": round(rss_before / 1024, 1),
            "rss_mb_after": round(rss_after / 1024, 1),
            "rss_mb": round(peak_rss / 1024, 1),
            "router_exits_unasked": 0 if alive else 1,
            **copy_figures(posts, [c for batch in batches for c in batch]),
        }


# --- the campaign


@dataclass
class Plan:
    """How big each scenario is."""

    cables: int
    kills: int
    kill_seconds: float
    broker_cables: int
    restarts: int
    broker_seconds: float
    offline_cables: int
    journal_cables: int
    journal_seconds: float
    hold: float
    hostile_cables: int
    hostile_rounds: int


QUICK = Plan(2_000, 10, 12, 1_000, 3, 10, 40, 1_000, 16, 6, 1_000, 2)
FULL = Plan(10_000, 50, 60, 3_000, 10, 40, 120, 3_000, 40, 10, 4_000, 3)


def expectations(results: dict[str, Any]) -> Iterator[str]:
    """Each expectation the figures fail."""
    kills = results["router_kills"]
    for name in ("journalled_twice", "never_journalled", "lost", "shown_twice"):
        if kills[name]:
            yield f"router kills: {name} = {kills[name]}, expected 0"
    if results["broker_sigterm"]["cables_lost"] or results["broker_sigterm"]["lost"]:
        yield "broker SIGTERM restarts: cables or copies lost"
    offline = results["post_offline"]
    if not offline["in_precedence_order"] or offline["lost"] or offline["shown_twice"]:
        yield "post offline (line down): backlog not once each in precedence order"
    line_up = results["post_offline_line_up"]
    if not line_up["in_precedence_order"] or line_up["lost"] or line_up["shown_twice"]:
        yield "post offline (line up): backlog past the session's not once each in precedence order"
    faults = results["journal_faults"]
    if faults["router_exits"] or faults["lost"] or faults["never_journalled"] or faults["shown_twice"]:
        yield "journal faults: the router exited, or something was lost or shown twice"
    if not faults["journal_unwritable_events"] or not faults["journal_writable_in_journal"]:
        yield "journal faults: the router never logged journal-unwritable, or never journal-writable after it"
    host = results["hostile"]
    if host["hostile_slowdown"] > 0.2:
        yield f"hostile: good traffic slowed by {host['hostile_slowdown']:.0%}, more than 20 %"
    if host["lost"] or host["shown_twice"] or host["router_exits_unasked"]:
        yield "hostile: good copies lost or shown twice, or the router exited"


def hostile_publisher(url: str, seed: int) -> None:
    """The hostile publisher's own process: until SIGTERM (or 10 minutes), then its counts as JSON."""
    sent: Counter[str] = Counter()

    async def attack() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.set_exception_handler(quiet)
        rng = random.Random(seed)  # noqa: S311 (seeded: the same run again)
        with contextlib.suppress(TimeoutError, BusError):
            async with asyncio.timeout(600):
                await hostile_traffic(BrokerAddress.parse(url), stop, rng, sent)

    asyncio.run(attack())
    print(json.dumps(dict(sent)), flush=True)


def main() -> None:
    """Run the scenarios and print the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="a smaller run, under 3 minutes")
    options.add_argument("--seed", type=int, default=1)
    options.add_argument("--hostile-publisher", metavar="URL", help=argparse.SUPPRESS)
    args = options.parse_args()
    # gmqtt's warnings of connections the faults drop ("[EXC: CONN LOST]"): expected here.
    logging.getLogger("gmqtt").setLevel(logging.CRITICAL)
    if args.hostile_publisher:
        hostile_publisher(args.hostile_publisher, args.seed)
        return
    plan = QUICK if args.quick else FULL
    table = parse_table(table_text())
    results: dict[str, Any] = {"machine": describe(), "quick": args.quick, "seed": args.seed}
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="router-faults-") as directory:
        work = Path(directory)

        def scenario(name: str, run: Callable[[], Awaitable[dict[str, Any]]]) -> None:
            started = time.monotonic()
            try:
                figures = asyncio.run(bounded(run()))
            except Exception as error:  # noqa: BLE001 (a measurement: the campaign goes on)
                figures = {"error": f"{type(error).__name__}: {error}"}
            figures["wall_seconds"] = round(time.monotonic() - started, 1)
            results[name] = figures
            print(f"{name}: {json.dumps(figures)}", flush=True)

        seed = args.seed
        scenario(
            "router_kills",
            lambda: router_kills(
                work / "kills",
                table,
                count=plan.cables,
                kills=plan.kills,
                seconds=plan.kill_seconds,
                seed=seed,
            ),
        )
        for how in (signal.SIGTERM, signal.SIGKILL):
            scenario(
                f"broker_{how.name.lower()}",
                lambda how=how: broker_restarts(  # type: ignore[misc]
                    work / f"broker-{how.name}",
                    table,
                    how=how,
                    count=plan.broker_cables,
                    restarts=plan.restarts,
                    seconds=plan.broker_seconds,
                    seed=seed + 10,
                ),
            )
        for number, (mode, name) in enumerate(
            [
                ("line-down", "post_offline"),
                ("away", "post_offline_line_up"),
                ("away-default-timeouts", "post_offline_default_timeouts"),
            ]
        ):
            scenario(
                name,
                lambda mode=mode, number=number: post_offline(  # type: ignore[misc]
                    work / f"offline-{mode}",
                    table,
                    count=plan.offline_cables,
                    seed=seed + 20 + number,
                    mode=mode,
                ),
            )
        scenario(
            "journal_faults",
            lambda: journal_faults(
                work / "journal",
                table,
                count=plan.journal_cables,
                seconds=plan.journal_seconds,
                hold=plan.hold,
                seed=seed + 30,
            ),
        )
        scenario(
            "hostile",
            lambda: hostile(
                work / "hostile", table, count=plan.hostile_cables, rounds=plan.hostile_rounds, seed=seed + 40
            ),
        )
    summary = summarise(results)
    failed = (
        list(expectations(results))
        if all("error" not in v for v in results.values() if isinstance(v, dict))
        else []
    )
    errors = [f"{k}: {v['error']}" for k, v in results.items() if isinstance(v, dict) and "error" in v]
    for line in failed + errors:
        print(f"EXPECTATION FAILED: {line}")
    if not failed and not errors:
        print("every expectation met")
    summary["expectations_failed"] = failed + errors
    summary["seconds"] = round(time.monotonic() - began, 1)
    print(json.dumps(summary))


async def bounded(run: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """A scenario, given 10 minutes at most."""
    asyncio.get_running_loop().set_exception_handler(quiet)
    return await asyncio.wait_for(run, 600)


def quiet(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """The loop's handler of errors nobody retrieved: gmqtt's, of a dropped connection, are expected.

    A 10 MB payload or a broker restart drops a connection, and gmqtt may leave the failure of its
    own futures unretrieved: not worth a traceback here. Anything else is shown.
    """
    error = context.get("exception")
    if error is not None and type(error).__module__.startswith("gmqtt"):
        return
    if isinstance(error, OSError) and error.errno == errno.EBADF:
        return  # a socket closed under the loop's watch of it, by a dropped connection
    loop.default_exception_handler(context)


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The headline figures at the top of the JSON line, every scenario's figures under its name."""
    kills = results.get("router_kills", {})
    term = results.get("broker_sigterm", {})
    kill = results.get("broker_sigkill", {})
    offline = results.get("post_offline", {})
    faults = results.get("journal_faults", {})
    host = results.get("hostile", {})
    return {
        "machine": results["machine"],
        "quick": results["quick"],
        "router_kills": kills.get("router_kills"),
        "cables": kills.get("cables"),
        "journalled_twice": kills.get("journalled_twice"),
        "lost": kills.get("lost"),
        "shown_twice": kills.get("shown_twice"),
        "broker_sigterm_restarts": term.get("broker_restarts"),
        "broker_sigterm_lost": term.get("cables_lost"),
        "broker_sigkill_restarts": kill.get("broker_restarts"),
        "broker_sigkill_lost": kill.get("cables_lost"),
        "offline_post_in_order": offline.get("in_precedence_order"),
        "journal_faults_lost": faults.get("lost"),
        "hostile_slowdown": host.get("hostile_slowdown"),
        "rss_mb": host.get("rss_mb"),
        "scenarios": {k: v for k, v in results.items() if k not in {"machine", "quick"}},
    }


if __name__ == "__main__":
    main()
