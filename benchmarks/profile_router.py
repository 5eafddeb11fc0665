"""Where `router run` spends its time under the end-to-end benchmark's throughput load: a py-spy profile.

    pip install -e '.[bench]'      # py-spy
    python benchmarks/profile_router.py [--cables N] [--raw FILE] [--seed] [--all-samples] [--compiled]

It starts what benchmarks/e2e.py starts for one throughput round (a private Mosquitto, the router
on the committed table with unthrottled lines, the publisher and the counter), attaches
`py-spy record --gil` to the router and sends N generated cables (default 8,000; `--seed`: the
work of benchmarks/peers.py, the seed cable to 7 RIs). Only samples where the router holds the
interpreter count: its Python work, not its waits, nor SQLite's own work, which lets the
interpreter go (`--all-samples`: every sample of the router's thread that is not idle, SQLite's
time included, under the journal). Only the switch's thread counts: not the journal's checkpoints
(`router.journal.checkpoints`) nor a big cable's reading, which have threads of their own. Each
sample goes to
the first part of the switch on its stack, in this order: parsing, the routing decision, the
routing log, the journal, MQTT reading packets (cables and PUBACKs), handing copies to the MQTT
client (which writes them), the lines, the rest of the switch, the rest. ``--compiled``: the
router built with mypyc (benchmarks/compiled.py's build), its C functions seen with py-spy's
``--native`` (use it with ``--all-samples``: compiled code holding the interpreter is not told apart).
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compiled import compiled_build
from e2e import CpuMeter, Router, prepare, push, unthrottled_table
from machine import describe
from peers import seed_cables

from router.bus.broker import Mosquitto, free_port
from router.routing.table import parse_table
from router.sim.traffic import generate, load_profile

COMPILED_SWITCH = ("core", "intake", "outlet", "receipts", "cables", "view", "service", "trunks")
"""The switch's modules the compiled build compiles besides its lines and actions."""
PARTS = (
    ("parsing", ("parse_cable (router/cable/parser.py", "CPyDef_parser___parse_cable")),
    ("routing decision", ("decide (router/routing/decide.py", "CPyDef_decide___decide")),
    # The core makes each entry (Actions.event), the edge logs it (structlog, in Router._perform).
    (
        "routing log",
        ("Actions.event (router/switch/actions.py", "CPyDef_actions___Actions___event", "(structlog/"),
    ),
    ("journal", ("router/journal/",)),
    # The adapter cuts each read into packets (cables and PUBACKs, up to its inbox) as it arrives
    # (`_Reader`, over gmqtt's protocol); it hands each copy to the transport inside MqttBus.send.
    ("MQTT reading packets", ("_Reader.", "_read_loop (gmqtt/", "data_received (gmqtt/")),
    ("handing copies to the MQTT adapter", ("MqttBus.send (router/bus/mqtt.py",)),
    # The switch's lines (queueing, transmissions, receipt deadlines) and each post's line itself.
    ("lines", ("router/switch/lines.py", "router/network/line.py", "CPyDef_lines___", "CPyDef_line___")),
    ("rest of the switch", ("router/switch/", *(f"CPyDef_{module}___" for module in COMPILED_SWITCH))),
)
"""Each part and the frames that mark it; a sample counts for the first part its stack shows. The
compiled build's functions are C (py-spy ``--native``): mypyc names them ``CPyDef_<module>___<name>``."""


_LINE = re.compile(r":\d+\)$")
"""A frame's line number, left out so that a function's samples count together."""
OTHER_THREAD = "Thread._bootstrap (threading.py"
"""What starts the stack of a thread other than the switch's (py-spy records every thread)."""


def py_spy() -> str:
    """The py-spy binary: beside this Python (a virtual environment), else on the PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if found is None:
        raise SystemExit("profile_router: py-spy is not installed (pip install -e '.[bench]')")
    return found


LEAVES = 8
"""Functions printed among those most samples end in."""


def shares(raw: Path) -> tuple[int, dict[str, float], dict[str, float]]:
    """Samples in all, each part's share of them, and the shares of the functions most end in.

    From py-spy's raw (collapsed stacks) output. The function a sample ends in is its innermost
    frame without the line number: what the router was running (a named tuple's constructor is
    ``<lambda> (<string>)``), not what it was running it for.
    """
    parts: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        if OTHER_THREAD in stack:
            continue  # the journal's checkpoints, a big cable's reading: not the switch's loop
        samples = int(count)
        total += samples
        part = next((name for name, marks in PARTS if any(mark in stack for mark in marks)), "other")
        parts[part] += samples
        leaves[_LINE.sub(")", stack.rpartition(";")[2])] += samples
    order = [name for name, _ in PARTS] + ["other"]
    ends = {name: round(100 * count / max(1, total), 1) for name, count in leaves.most_common(LEAVES)}
    return total, {name: round(100 * parts[name] / max(1, total), 1) for name in order}, ends


def main() -> None:
    """Profile one throughput round and print the shares, the last line as JSON."""
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--cables", type=int, default=8_000, help="generated cables to send")
    options.add_argument("--raw", type=Path, help="keep py-spy's raw output here")
    options.add_argument(
        "--seed", action="store_true", help="peers.py's work: the seed cable, 7 RIs, its serial changed"
    )
    options.add_argument(
        "--all-samples",
        action="store_true",
        help="every sample of the router's thread, SQLite's own time included (not only --gil's)",
    )
    options.add_argument(
        "--compiled",
        action="store_true",
        help="the router built with mypyc (benchmarks/compiled.py), profiled with py-spy --native",
    )
    args = options.parse_args()
    spy = py_spy()
    build = compiled_build() if args.compiled else None
    table = parse_table(unthrottled_table(window=10_000))
    if args.seed:
        generated = seed_cables(args.cables, 0)
    else:
        profile = replace(load_profile(), line_collective=0.0)
        start = datetime(2009, 1, 1, tzinfo=UTC)
        generated = [
            (g.name, g.raw) for g in generate(table, count=args.cables, seed=1, start=start, profile=profile)
        ]
    cables = prepare(generated, table)
    with tempfile.TemporaryDirectory(prefix="router-profile-") as directory:
        work = Path(directory)
        raw = args.raw or work / "profile.txt"
        table_file = work / "table.toml"
        table_file.write_text(unthrottled_table(window=10_000), encoding="utf-8")
        (work / "run").mkdir()
        with (
            Mosquitto(work / "broker", port=free_port()) as broker,
            Router(broker.url, table_file, work / "run", build=build) as router,
        ):
            assert broker.pid is not None
            recorder = subprocess.Popen(  # noqa: S603 (py-spy, found above)
                [
                    spy,
                    "record",
                    *(() if args.all_samples else ("--gil",)),
                    *(("--native",) if args.compiled else ()),
                    "--rate",
                    "250",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--pid",
                    str(router.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)  # attached before the first cable
            figures = asyncio.run(
                push(broker.url, cables, within=120, meter=CpuMeter(router.pid, broker.pid))
            )
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
        total, parts, ends = shares(raw)
    speed = figures["cables_per_s"]
    held = "of the router's thread" if args.all_samples else "with the interpreter held"
    kind = "seed cables" if args.seed else "cables"
    print(f"{args.cables} {kind}, {speed} cables/s, {total} samples {held}:")
    for name, share in parts.items():
        print(f"  {share:5.1f} %  {name}")
    print("the functions most samples end in:")
    for name, share in ends.items():
        print(f"  {share:5.1f} %  {name}")
    print(
        json.dumps(
            {
                "cables": args.cables,
                "work": "seed" if args.seed else "generated",
                "all_samples": args.all_samples,
                "build": "mypyc" if build else "pure",
                "cables_per_s": figures["cables_per_s"],
                "router_cpu_ms_per_cable": figures["cpu_ms_per_cable"]["worker"],
                "samples": total,
                "shares_percent": parts,
                "ends_percent": ends,
                "machine": describe(),
            }
        )
    )


if __name__ == "__main__":
    main()
