"""The command line: a thin typer layer that reads options, calls the core and sets the exit code."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from router.bus import topics
from router.cable.models import Addressee, Cable
from router.cable.parser import MAX_CABLE_BYTES, parse_cable
from router.errors import CableParseError, RouterError
from router.routing.decide import RoutingDecision, decide
from router.routing.table import DEFAULT_TABLE, RoutingTable, TableError, load_table
from router.settings import Settings

if TYPE_CHECKING:
    from router.bus.mqtt import BrokerAddress
    from router.sim.post import Reading

app = typer.Typer(
    name="router",
    help="A store-and-forward cable switch (AUTODIN, the State telegram network) on MQTT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Paths = Annotated[
    list[Path],
    typer.Argument(help="Cable files, or directories searched for *.txt cables.", show_default=False),
]
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per input on stdout (JSON Lines).")]
MaxBytes = Annotated[
    int,
    typer.Option(
        "--max-bytes", envvar="ROUTER_MAX_CABLE_BYTES", min=1, help="Reject a cable larger than this."
    ),
]
TimeScale = Annotated[
    float | None,
    typer.Option(
        "--time-scale", help="Network seconds per host second (60: a minute in a second).", show_default=False
    ),
]
RoutingPath = Annotated[
    Path | None,
    typer.Option("--routing", envvar="ROUTER_ROUTING", help="Routing table (TOML).", show_default=False),
]


@app.callback()
def main() -> None:
    """Read, route and deliver diplomatic cables the way a tape-relay switch did."""


@app.command()
def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Cable files, or directories searched for *.txt cables.", show_default=False),
    ] = None,
    *,
    as_json: AsJson = False,
    max_bytes: MaxBytes = MAX_CABLE_BYTES,
    routing: RoutingPath = None,
) -> None:
    """Parse cables and show what each says; exit 1 when any of them (or the table) does not parse.

    With --routing, the routing table is validated too.
    """
    failures = 0
    if routing is not None:
        table = _table_or_exit(routing)
        if not paths:
            typer.echo(
                f"{routing}: {len(table.posts)} posts, {len(table.collectives)} collectives, "
                f"{len(table.relays)} relays"
            )
    for path, cable in _parsed(paths or [], max_bytes=max_bytes, as_json=as_json):
        if cable is None:
            failures += 1
        elif as_json:
            record = {"file": str(path), "ok": True, "cable": cable.model_dump(mode="json")}
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            typer.echo(summary(path, cable))
    raise typer.Exit(1 if failures else 0)


@app.command()
def route(
    paths: Paths,
    *,
    as_json: AsJson = False,
    max_bytes: MaxBytes = MAX_CABLE_BYTES,
    routing: RoutingPath = None,
) -> None:
    """Decide who gets each cable: deliveries per post and intercepts with their reasons."""
    table = _table_or_exit(routing or DEFAULT_TABLE)
    failures = 0
    for path, cable in _parsed(paths, max_bytes=max_bytes, as_json=as_json):
        if cable is None:
            failures += 1
            continue
        decision = decide(cable, table)
        if as_json:
            typer.echo(json.dumps(decision_record(path, cable, decision), ensure_ascii=False))
        else:
            typer.echo(decision_summary(path, cable, decision))
    raise typer.Exit(1 if failures else 0)


def _table_or_exit(path: Path) -> RoutingTable:
    try:
        return load_table(path)
    except TableError as exc:
        typer.echo(f"routing table: {exc}", err=True)
        raise typer.Exit(2) from None


def _parsed(paths: list[Path], *, max_bytes: int, as_json: bool) -> Iterator[tuple[Path, Cable | None]]:
    """Each file with its cable, or with None once its error has been reported."""
    for path in _cable_files(paths):
        try:
            yield path, parse_cable(path.read_bytes(), max_bytes=max_bytes)
        except CableParseError as exc:
            _report_error(path, exc, as_json=as_json)
            yield path, None
        except OSError as exc:
            _report_error(path, CableParseError(f"cannot read: {exc.strerror}"), as_json=as_json)
            yield path, None


def decision_record(path: Path, cable: Cable, decision: RoutingDecision) -> dict[str, object]:
    """A routing decision as the JSON object `router route --json` prints."""
    return {
        "file": str(path),
        "message_id": cable.message_id,
        "deliveries": [
            {"post": d.post, "precedence": d.precedence.value, "role": d.role, "niact": d.niact, "via": d.via}
            for d in decision.deliveries
        ],
        "intercepts": [
            {"addressee": i.addressee, "reason": i.reason} | ({"post": i.post} if i.post else {})
            for i in decision.intercepts
        ],
        "zen": [a.name for a in decision.zen],
        "pouch": [a.name for a in decision.pouched],
        "exempted": list(decision.exempted),
    }


def decision_summary(path: Path, cable: Cable, decision: RoutingDecision) -> str:
    """A routing decision in a few lines: one per delivery and per intercept."""
    counts = f"{len(decision.deliveries)} deliveries, {len(decision.intercepts)} intercepts"
    lines = [f"{path}  {cable.message_id}  {counts}"]
    for d in sorted(decision.deliveries, key=lambda d: (-d.precedence.rank, d.post)):
        niact = " NIACT" if d.niact else ""
        lines.append(f"  -> {d.post:<8} {d.precedence.value:<9} {d.role:<6}{niact}  via {d.via}")
    lines.extend(f"  !! {i.addressee or '(no addressees)'}: {i.reason}" for i in decision.intercepts)
    lines.extend(f"  ZEN {a.name} (delivered by other means)" for a in decision.zen)
    lines.extend(f"  POUCH {a.name} (by diplomatic pouch, not over the network)" for a in decision.pouched)
    return "\n".join(lines)


def _cable_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.txt") if p.is_file())
        else:
            yield path


def _report_error(path: Path, error: CableParseError, *, as_json: bool) -> None:
    if as_json:
        detail = {"line": error.line, "column": error.column, "reason": error.reason}
        if error.field:
            detail["field"] = error.field
        typer.echo(json.dumps({"file": str(path), "ok": False, "error": detail}))
    else:
        field = f" {error.field}:" if error.field else ""
        typer.echo(f"{path}:{error.line}:{error.column}:{field} {error.reason}", err=True)


def summary(path: Path, cable: Cable) -> str:
    """A cable in a few lines: identity and precedence, originator, and each addressee."""
    precedence = cable.precedence.value if cable.precedence else "-"
    if cable.info_precedence and cable.info_precedence != cable.precedence:
        precedence += f"/{cable.info_precedence.value}"
    security = cable.classification.value if cable.classification else "UNMARKED"
    if cable.caveats:
        security += "//" + "/".join(cable.caveats)
    dtg = cable.dtg.strftime("%d%H%MZ %b %y").upper() if cable.dtg else "no DTG"
    lines = [
        f"{path}  {cable.family}  {precedence}  {dtg}  {security}",
        f"  id {cable.message_id}" + (f"  ref {cable.reference}" if cable.reference else ""),
    ]
    if cable.originator:
        ri = f" ({cable.originator_ri})" if cable.originator_ri else ""
        lines.append(f"  FM   {cable.originator}{ri}")
    lines.extend(_addressee_line("TO", a) for a in cable.to)
    lines.extend(_addressee_line("INFO", a) for a in cable.info)
    lines.extend(f"  XMT  {x.name}" for x in cable.xmt)
    if cable.subject:
        lines.append(f"  SUBJECT {cable.subject}")
    return "\n".join(lines)


def _addressee_line(role: str, addressee: Addressee) -> str:
    marks = [addressee.precedence.value]
    if addressee.niact:
        marks.insert(0, "NIACT")
    if addressee.mcn:
        marks.append(f"MCN {addressee.mcn}")
    if addressee.zen:
        marks.append("ZEN (delivered by other means)")
    if addressee.pouch:
        marks.append("POUCH (by diplomatic pouch)")
    ri = addressee.ri or "-"
    return f"  {role:<4} {ri:<8} {addressee.name:<40} {' '.join(marks)}"


BrokerOption = Annotated[
    str | None,
    typer.Option("--broker", envvar="ROUTER_BROKER", help="mqtt://host:port", show_default=False),
]


@app.command()
def run(
    broker: Annotated[
        str | None,
        typer.Option("--broker", help="mqtt://host:port; none starts a private broker", show_default=False),
    ] = None,
    routing: Annotated[
        Path | None, typer.Option("--routing", help="Routing table (TOML).", show_default=False)
    ] = None,
    journal: Annotated[
        Path | None, typer.Option("--journal", help="SQLite journal.", show_default=False)
    ] = None,
    time_scale: TimeScale = None,
) -> None:
    """Run the routing service until SIGINT or SIGTERM (then stop intake, persist, exit 0)."""
    from router.log import configure_logging  # noqa: PLC0415
    from router.switch.serve import serve  # noqa: PLC0415 (the service's imports are not needed by check)

    settings = _settings(broker=broker, routing=routing, journal=journal, time_scale=time_scale)
    configure_logging(settings.log_file)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await serve(settings, stop)

    try:
        _run_fast(main())
    except RouterError as exc:
        typer.echo(f"router: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def config(
    broker: BrokerOption = None,
) -> None:
    """Print the effective settings and where each comes from (file, ROUTER_* variable, flag, default)."""
    from router.settings import sources  # noqa: PLC0415

    flags = {"broker": broker} if broker else {}
    settings = _settings(**flags)
    origin = sources(flags)
    for name, value in settings.model_dump().items():
        typer.echo(f"{name} = {value!s}  # {origin[name]}")


@app.command()
def publish(
    paths: Annotated[
        list[str], typer.Argument(help="Cable files, or - for standard input.", show_default=False)
    ],
    broker: BrokerOption = None,
) -> None:
    """Publish cable files (or stdin) to the intake, cables/in/<file name>, at QoS 1."""
    from router.bus.mqtt import MqttBus  # noqa: PLC0415

    try:
        cables = [
            ("stdin", sys.stdin.buffer.read()) if name == "-" else (Path(name).stem, Path(name).read_bytes())
            for name in paths
        ]
    except OSError as exc:
        typer.echo(f"router publish: cannot read {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None

    async def main() -> None:
        async with MqttBus(_broker(broker)) as bus:
            for name, data in cables:
                topic = topics.intake(name)
                await bus.publish(topic, data, qos=1)
                typer.echo(f"published {topic} ({len(data)} bytes)")

    _run_client("publish", main())


@app.command()
def post(
    ri: Annotated[str, typer.Argument(help="The post's routing indicator, e.g. RUEHFR.", show_default=False)],
    broker: BrokerOption = None,
) -> None:
    """A simulated addressee post: check each copy's serial, report gaps, file duplicates, receipt."""
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.routing.table import is_routing_indicator  # noqa: PLC0415
    from router.sim.post import PostStation, serve_post  # noqa: PLC0415

    if not is_routing_indicator(ri):
        typer.echo(f"router post: {ri!r} is not a routing indicator (4 to 7 capital letters)", err=True)
        raise typer.Exit(2)

    async def main() -> None:
        station = PostStation(ri)
        async with MqttBus(_broker(broker), client_id=f"post-{ri}", persistent=True, manual_ack=True) as bus:
            typer.echo(f"post {ri} listening on cables/out/{ri}")
            await serve_post(bus, station, lambda reading: typer.echo(reading_line(reading)))

    _run_client("post", main())


@app.command()
def watch(broker: BrokerOption = None, lines: Annotated[int, typer.Option(min=1, max=200)] = 15) -> None:
    """A live view of the routing log and the queue depths (router/log and router/status)."""
    from collections import deque  # noqa: PLC0415

    from rich.live import Live  # noqa: PLC0415

    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.readout.watch import render  # noqa: PLC0415

    async def main() -> None:
        events: deque[dict[str, object]] = deque(maxlen=lines)
        status: dict[str, object] | None = None
        async with MqttBus(_broker(broker)) as bus:
            await bus.subscribe(topics.STATUS, qos=0)
            await bus.subscribe(topics.LOG, qos=0)
            with Live(render(status, events), refresh_per_second=4) as live:
                async for message in bus.messages():
                    if message.topic == topics.STATUS:
                        status = json.loads(message.payload)
                    else:
                        events.append(json.loads(message.payload))
                    live.update(render(status, events))

    _run_client("watch", main())


def reading_line(reading: Reading) -> str:
    """One line a copy, as the post's operator sees it."""
    tid = reading.transmission_id or "-"
    if reading.problem is not None:
        line = f"{tid}  {reading.problem}"
    elif reading.cancelled:
        line = f"{tid}  cancelled (busted): serial used, message follows again"
    elif reading.cable is None:
        line = f"{tid}  duplicate, filed"
    else:
        cable = reading.cable
        precedence = cable.precedence.value if cable.precedence else "-"
        line = f"{precedence:<9} {tid}  {cable.message_id}  {cable.subject or ''}"
    if reading.report is not None:
        missing = reading.report.decode().split("ZFX ", 1)[1].split("\n", 1)[0]
        line += f"\n{'':9} gap: ZFX {missing} sent"
    return line


def _broker(flag: str | None) -> BrokerAddress:
    """The broker a client command talks to: the flag, else the settings, else the private one."""
    from router.bus.mqtt import BrokerAddress  # noqa: PLC0415

    try:
        return BrokerAddress.parse(flag or _settings().broker_url)
    except RouterError as exc:
        typer.echo(f"router: {exc}", err=True)
        raise typer.Exit(2) from None


def _run_fast(work: Coroutine[Any, Any, None]) -> None:
    """Run the service on uvloop where it is installed (Linux, macOS): its event loop is in C."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(work)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(work)


def _run_client(command: str, work: Coroutine[Any, Any, None]) -> None:
    """Run a client command's work: Ctrl-C ends it quietly, a bus error in one line with status 1."""
    try:
        asyncio.run(work)
    except KeyboardInterrupt:
        pass
    except RouterError as exc:
        typer.echo(f"router {command}: {exc}", err=True)
        raise typer.Exit(1) from None


def _settings(**flags: object) -> Settings:
    from router.settings import load_settings  # noqa: PLC0415

    try:
        return load_settings(**flags)
    except RouterError as exc:
        typer.echo(f"router: {exc}", err=True)
        raise typer.Exit(2) from None


# The simulation's commands join the app from their own module (which imports this one).
from router.cli import network as cli_network  # noqa: E402, F401
