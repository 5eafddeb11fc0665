"""The router against the flow a user would wire by hand (Node-RED) and a bare relay, in the same run.

    python benchmarks/peers.py [--quick] [--cables N] [--rounds N] [--pure]

It starts everything itself and stops by itself: one private Mosquitto on a free loopback port,
then, in turn and in alternating order each round, the relaying processes on the same work:

- the router compiled ("mypyc"), as the Docker image and `ROUTER_MYPYC=1 pip install .` build it
  (setup.py): `router run` on the committed routing table with unthrottled lines (journal, parse,
  decide, queues, lines; copies on `cables/out/<RI>`), built once for each state of the sources
  into a cache folder (benchmarks/compiled.py: a C compiler, mypy and setuptools 77 or newer
  here); left out with ``--pure``, or when it cannot be built, which it says;
- the same router as pure Python ("pure"), the build of an editable install: the fallback;
- Node-RED 4 running `../shared/peers/nodered/flows.json`: a regular expression on the TO/INFO
  lines, one copy per RI on `peer/out/<RI>`, no journal, no queues (installed with npm into a cache
  folder, `~/.cache/router-benchmarks/node-red-4`, the first time, which it says);
- `benchmarks/relay.py`: a bare relay on the router's own MQTT client, no parsing at all.

Only one of them runs at a time: all three take `cables/in/#`. The work is the same for each: N
distinct ACP 127 cables to 7 RIs, the seed cable (`../shared/corpus/seed-tokyo-1571.txt`) with its DE
serial and filing time changed per copy, published at QoS 1 (256 PUBACKs outstanding) by this
process, every copy counted by `mosquitto_sub` (C: a Python counter would take the core it
measures). Each round's cables are new, so the router's duplicate check passes them all. Figures
per relaying process: cables/s and copies/s from the first publish to the last copy counted, its
own CPU milliseconds a cable, the broker's, and all the processes' together (the relaying process,
the broker, the publisher and the counter: on two cores the throughput follows their sum), copies
lost; the best round of each, and the ratios. The router of the ratios and of the JSON's
``router_*`` keys is the compiled build when there is one (``router_build`` says which), the pure
one's beside it (``pure_*``); ``rounds_router_ahead`` counts the rounds in which the router relayed
faster than the Node-RED round next to it. Then the 12,985
real cables of `../shared/corpus/pool.jsonl.gz` through the router and through Node-RED, which
cannot route their plain-name addressees: how many copies each made.

The broker here lets anonymous clients in: it is this measurement's own, on loopback, and the
Node-RED flow as shipped has no credentials. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compiled import compiled_build
from e2e import (
    MOSQUITTO_SUB,
    Cable,
    CopyCounter,
    CpuMeter,
    Router,
    pool_cables,
    prepare,
    publish_all,
    unthrottled_table,
)
from machine import describe

from router.bus.broker import free_port
from router.bus.mqtt import BrokerAddress, MqttBus
from router.routing.table import parse_table

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
SEED = SHARED / "corpus" / "seed-tokyo-1571.txt"
NODERED_FLOW = SHARED / "peers" / "nodered"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "router-benchmarks"
NODERED_HOME = CACHE / "node-red-4"
NODERED_JS = NODERED_HOME / "node_modules" / "node-red" / "red.js"
FANOUT = 7
"""RIs the seed cable names (TO the Department, INFO six more)."""
_SERIAL = re.compile(rb"^DE RUEHKO #1571 1610901$", re.MULTILINE)
_RI = re.compile(rb"([A-Z]{4,7})/")
BROKER_CONFIG = """\
# benchmarks/peers.py: this measurement's own broker, on loopback, for its processes only.
listener {port} 127.0.0.1
user {user}
allow_anonymous true
persistence false
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 256
set_tcp_nodelay true
log_dest file {directory}/mosquitto.log
"""


class _Child:
    """A process the benchmark starts: stopped (SIGTERM, then waited for) at the end of its block."""

    stop_within = 10.0
    """Seconds the process has to end after SIGTERM."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def __exit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(self.stop_within)

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid


class Broker(_Child):
    """A private Mosquitto for the run: ``with Broker(folder) as broker``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"mqtt://127.0.0.1:{self.port}"
        super().__init__()

    def __enter__(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "mosquitto.conf"
        user = getpass.getuser()  # as itself: Mosquitto started as root would become `mosquitto`
        config.write_text(
            BROKER_CONFIG.format(port=self.port, user=user, directory=self.directory), encoding="utf-8"
        )
        mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        output = (self.directory / "mosquitto.out").open("wb")  # its warnings (run as root, ...)
        self.process = subprocess.Popen([mosquitto, "-c", str(config)], stdout=output, stderr=output)  # noqa: S603
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"mosquitto did not start; see {self.directory / 'mosquitto.log'}")
            time.sleep(0.05)
        return self


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# --- the work


def seed_cables(count: int, first: int) -> list[tuple[str, bytes]]:
    """``count`` copies of the seed cable, each with its own message id (DE serial, filing time)."""
    seed = SEED.read_bytes().lstrip()
    assert _SERIAL.search(seed), "the seed's DE line is as the benchmark expects"
    cables = []
    for number in range(first, first + count):
        day, serial = divmod(number, 10_000)
        filed = f"{1 + day % 366:03d}{(number // 60) % 24:02d}{number % 60:02d}"
        raw = _SERIAL.sub(f"DE RUEHKO #{serial:04d} {filed}".encode(), seed, count=1)
        cables.append((f"seed-{number}", raw))
    return cables


def nodered_copies(raw: bytes) -> int:
    """Copies the Node-RED flow makes of a cable, by its own rule (`flows.json`, the function node).

    From the first TO or INFO line to the next blank one, one copy per distinct RI written before a
    slash at the start of a line.
    """
    ris: set[bytes] = set()
    in_addresses = False
    for line in raw.split(b"\n"):
        address = line
        if line.startswith(b"TO "):
            in_addresses, address = True, line[3:]
        elif line.startswith(b"INFO "):
            in_addresses, address = True, line[5:]
        elif not in_addresses:
            continue
        elif not line.strip():
            break
        if match := _RI.match(address.strip()):
            ris.add(match[1])
    return len(ris)


# --- the relaying processes


class NodeRed(_Child):
    """Node-RED 4 running the peer's flow on ``url``: ``with NodeRed(url, folder) as flow``."""

    stop_within = 30.0

    def __init__(self, url: str, work: Path) -> None:
        super().__init__()
        self.url = url
        self.work = work

    def __enter__(self) -> Self:
        port = BrokerAddress.parse(self.url).port
        self.work.mkdir(parents=True, exist_ok=True)
        flows = (NODERED_FLOW / "flows.json").read_text(encoding="utf-8").replace("__PORT__", str(port))
        (self.work / "flows.json").write_text(flows, encoding="utf-8")
        settings = (NODERED_FLOW / "settings.js").read_text(encoding="utf-8")
        settings = settings.replace("uiPort: 18880", f"uiPort: {free_port()}")
        (self.work / "settings.js").write_text(settings, encoding="utf-8")
        command = ["node", str(NODERED_JS), "--settings", str(self.work / "settings.js")]
        command += ["--userDir", str(self.work), str(self.work / "flows.json")]
        log = (self.work / "node-red.log").open("wb")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        if not _relays(self.url, "peer/out/+", within=60):
            raise SystemExit(f"Node-RED did not start relaying; see {self.work / 'node-red.log'}")
        return self


class Relay(_Child):
    """`benchmarks/relay.py` with the copies the router would make: ``with Relay(url, cables, folder)``."""

    def __init__(self, url: str, cables: list[Cable], work: Path) -> None:
        self.url = url
        work.mkdir(parents=True, exist_ok=True)
        self.fanout = work / "fanout.json"
        self.fanout.write_text(json.dumps({c.name: c.posts for c in cables}), encoding="utf-8")
        super().__init__()

    def __enter__(self) -> Self:
        command = [sys.executable, str(ROOT / "benchmarks" / "relay.py"), self.url, str(self.fanout)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE)  # noqa: S603
        assert self.process.stdout is not None
        self.process.stdout.readline()  # "listening"
        return self


def _relays(url: str, topic: str, *, within: float) -> bool:
    """Whether a probe cable published on the intake comes out on ``topic`` within ``within`` seconds."""
    address = BrokerAddress.parse(url)
    deadline = time.monotonic() + within
    ((name, probe),) = seed_cables(1, 9_999_999)
    while time.monotonic() < deadline:
        listen = [
            MOSQUITTO_SUB,
            "-h",
            address.host,
            "-p",
            str(address.port),
            "-t",
            topic,
            "-C",
            "1",
            "-W",
            "2",
        ]
        with subprocess.Popen(listen, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as listener:  # noqa: S603
            time.sleep(0.3)
            asyncio.run(_publish_one(url, f"cables/in/{name}", probe))
            if listener.wait() == 0:
                return True
    return False


async def _publish_one(url: str, topic: str, payload: bytes) -> None:
    async with MqttBus(BrokerAddress.parse(url), client_id=f"probe-{time.monotonic_ns()}") as bus:
        await bus.publish(topic, payload, qos=1)


# --- one run of one process


def push(
    url: str, cables: list[Cable], pids: tuple[int, int], *, topic: str, expected: int | None
) -> dict[str, Any]:
    """Publish ``cables`` and count the copies on ``topic``: the figures of one run.

    ``expected``: the copies to wait for; None for a relay whose number of copies is not known
    beforehand (Node-RED on the pool), counted until 3 s pass with none more.
    """
    meter = CpuMeter(*pids)
    counter = CopyCounter(url, sys.maxsize if expected is None else expected, topic)

    async def publish() -> float:
        address = BrokerAddress.parse(url)
        async with MqttBus(address, client_id=f"publisher-{time.monotonic_ns()}") as publisher:
            meter.begin()
            first = await publish_all(publisher, cables, {})
            if expected is not None:
                await asyncio.to_thread(counter.done.wait, 120)
            return first

    try:
        first = asyncio.run(publish())
        seen = -1
        while expected is None and seen != counter.count:
            seen = counter.count
            time.sleep(3)
    finally:
        counter_seconds = counter.stop()
    elapsed = max(counter.last - first, 1e-9)
    cpu = meter.end(len(cables), counter_seconds)
    figures: dict[str, Any] = {"cables": len(cables), "copies": counter.count}
    if expected is not None:
        figures |= {"expected_copies": expected, "lost": max(0, expected - counter.count)}
    return figures | {
        "seconds": round(elapsed, 3),
        "cables_per_s": round(len(cables) / elapsed),
        "copies_per_s": round(counter.count / elapsed),
        "cpu_ms_per_cable": cpu["cpu_ms_per_cable"]["worker"],
        "broker_cpu_ms_per_cable": cpu["cpu_ms_per_cable"]["broker"],
        # Every process of the run: on two cores, the throughput follows their sum.
        "all_cpu_ms_per_cable": round(sum(cpu["cpu_ms_per_cable"].values()), 3),
        "machine_busy": cpu["machine_busy"],
    }


# --- the run


def install_nodered() -> bool:
    """Node-RED 4 in the cache folder, installed with npm the first time; False when npm is missing."""
    if NODERED_JS.exists():
        return True
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("node or npm not found: Node-RED is left out of this run")
        return False
    print(f"installing Node-RED 4 with npm into {NODERED_HOME} (once; some 20 s)", flush=True)
    NODERED_HOME.mkdir(parents=True, exist_ok=True)
    install = [npm, "install", "--prefix", str(NODERED_HOME), "node-red@4", "--no-audit", "--no-fund"]
    subprocess.run([*install, "--loglevel=error"], check=True)  # noqa: S603
    return NODERED_JS.exists()


class Bench:
    """The run's broker, folder and table, and one round of each relaying process."""

    def __init__(self, broker: Broker, work: Path) -> None:
        self.broker = broker
        self.work = work
        self.table_path = work / "table.toml"
        self.table_path.write_text(unthrottled_table(window=10_000), encoding="utf-8")
        self.table = parse_table(self.table_path.read_text(encoding="utf-8"))
        self.runs = 0

    def folder(self, name: str) -> Path:
        """A new folder for one run of one process."""
        self.runs += 1
        folder = self.work / f"{self.runs:02d}-{name}"
        folder.mkdir()
        return folder

    def router(self, cables: list[Cable], build: Path | None = None) -> dict[str, Any]:
        """The cables through `router run` (``build``: the compiled one): the copies its decisions make."""
        expected = sum(len(c.posts) for c in cables)
        folder = self.folder("router" if build is None else "mypyc")
        with Router(self.broker.url, self.table_path, folder, build=build) as router:
            return push(
                self.broker.url,
                cables,
                (router.pid, self.broker.pid),
                topic="cables/out/+",
                expected=expected,
            )

    def nodered(self, cables: list[Cable]) -> dict[str, Any]:
        """The cables through the Node-RED flow: one copy per RI written."""
        expected = sum(nodered_copies(c.raw) for c in cables)
        with NodeRed(self.broker.url, self.folder("nodered")) as flow:
            return push(
                self.broker.url, cables, (flow.pid, self.broker.pid), topic="peer/out/+", expected=expected
            )

    def relay(self, cables: list[Cable]) -> dict[str, Any]:
        """The cables through the bare relay: the router's copies, no work."""
        expected = sum(len(c.posts) for c in cables)
        with Relay(self.broker.url, cables, self.folder("relay")) as relay:
            return push(
                self.broker.url, cables, (relay.pid, self.broker.pid), topic="cables/out/+", expected=expected
            )


def compiled_or_none() -> Path | None:
    """The compiled build (built the first time, which it says), or None when it cannot be, saying why."""
    try:
        return compiled_build()
    except SystemExit as exc:
        print(f"{exc}: the compiled router is left out of this run", flush=True)
        return None


def best(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the most cables a second, with the copies lost over every round."""
    if not runs:
        return {}
    top = dict(max(runs, key=lambda figures: int(figures["cables_per_s"])))
    top["lost"] = sum(int(figures["lost"]) for figures in runs)
    top["cpu_ms_per_cable_rounds"] = [figures["cpu_ms_per_cable"] for figures in runs]
    return top


def main() -> None:
    """Rounds of each on the seed work, then the pool; the figures, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--quick", action="store_true", help="a smaller run, under two minutes")
    options.add_argument("--cables", type=int, help="seed cables a round (default 5,000; --quick 2,000)")
    options.add_argument("--rounds", type=int, help="rounds of each, in turn (default 2)")
    options.add_argument("--pure", action="store_true", help="leave the compiled router out")
    args = options.parse_args()
    count = args.cables or (2_000 if args.quick else 5_000)
    rounds = args.rounds or 2
    with_nodered = install_nodered()
    build = None if args.pure else compiled_or_none()
    results: dict[str, Any] = {"benchmark": "peers", "quick": args.quick, "cables": count, "fanout": FANOUT}
    with (
        tempfile.TemporaryDirectory(prefix="router-peers-") as directory,
        Broker(Path(directory) / "broker") as broker,
    ):
        bench = Bench(broker, Path(directory))
        contestants = {
            "pure": bench.router,
            "mypyc": lambda cables: bench.router(cables, build),
            "nodered": bench.nodered,
            "relay": bench.relay,
        }
        order = [
            who for who in contestants if (who != "mypyc" or build) and (who != "nodered" or with_nodered)
        ]
        runs: dict[str, list[dict[str, Any]]] = {who: [] for who in contestants}
        for round_number in range(rounds):
            for who in order[round_number % len(order) :] + order[: round_number % len(order)]:
                raws = seed_cables(count, (round_number * len(order) + order.index(who)) * count)
                cables = prepare(raws, bench.table)
                figures = contestants[who](cables)
                runs[who].append(figures)
                print(f"round {round_number + 1} {who:8} {json.dumps(figures)}", flush=True)
        pure, mypyc, nodered, relay = (best(runs[who]) for who in contestants)
        pool = pool_cables(bench.table)
        if args.quick:
            pool = pool[::3]  # a third, across the years (the pool is in date order)
        if pool:
            real = {"router": bench.router(pool, build)}  # the compiled one when there is one
            print(f"pool     {'mypyc' if build else 'pure':8} {json.dumps(real['router'])}", flush=True)
            if with_nodered:
                with NodeRed(broker.url, bench.folder("nodered-pool")) as flow:
                    real["nodered"] = push(
                        broker.url, pool, (flow.pid, broker.pid), topic="peer/out/+", expected=None
                    )
                real["nodered"]["cables_with_no_copy"] = sum(1 for c in pool if not nodered_copies(c.raw))
                print(f"pool     nodered  {json.dumps(real['nodered'])}", flush=True)
            results["pool"] = real
    # The router is the compiled build when there is one (the Docker image's, `ROUTER_MYPYC=1 pip
    # install .`'s), the pure fallback beside it; the pure one alone with --pure or no compiler.
    router = mypyc or pure
    results.update(
        router_build="mypyc" if mypyc else "pure",
        router_cables_per_s=router["cables_per_s"],
        router_copies_per_s=router["copies_per_s"],
        nodered_cables_per_s=nodered.get("cables_per_s"),
        nodered_copies_per_s=nodered.get("copies_per_s"),
        relay_cables_per_s=relay["cables_per_s"],
        ratio_router_nodered=round(router["cables_per_s"] / nodered["cables_per_s"], 3) if nodered else None,
        ratio_router_relay=round(router["cables_per_s"] / relay["cables_per_s"], 3),
        rounds_router_ahead=sum(
            int(ours["cables_per_s"]) > int(theirs["cables_per_s"])
            for ours, theirs in zip(runs["mypyc" if mypyc else "pure"], runs["nodered"], strict=False)
        ),
        router_cpu_ms_per_cable=router["cpu_ms_per_cable"],
        nodered_cpu_ms_per_cable=nodered.get("cpu_ms_per_cable"),
        relay_cpu_ms_per_cable=relay["cpu_ms_per_cable"],
        pure_cables_per_s=pure["cables_per_s"],
        ratio_pure_nodered=round(pure["cables_per_s"] / nodered["cables_per_s"], 3) if nodered else None,
        pure_cpu_ms_per_cable=pure["cpu_ms_per_cable"],
        lost=sum(int(figures.get("lost", 0)) for figures in (pure, mypyc, nodered, relay)),
        rounds=rounds,
        router=router,
        pure=pure,
        nodered=nodered,
        relay=relay,
        machine=describe(),
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
