"""The simulation's commands: `router demo`, `line`, `retransmit`, `report`, `trace`, `generate`, `replay`.

They join the same typer app as `router check` and the service's commands (router.cli.main imports this
module), kept apart so that each module stays small.
"""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from router.bus import topics
from router.cli.main import BrokerOption, RoutingPath, _broker, _run_client, _settings, _table_or_exit, app
from router.errors import RouterError

REPORT_WIDTH = 120
"""Columns of `router report`'s table when it is not printed on a terminal."""

if TYPE_CHECKING:
    from router.sim.demo import DemoOptions, DemoResult
    from router.sim.replay import Scheduled
    from router.sim.traffic import Generated


@app.command()
def demo(  # noqa: PLR0913, PLR0917 (the demo's knobs, all options)
    scenario: Annotated[
        Path | None,
        typer.Option(
            help="Scenario (TOML): network, traffic, faults.", show_default="config/scenarios/demo.toml"
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(min=1, help="Network seconds of traffic (else the scenario's).", show_default=False),
    ] = None,
    time_scale: Annotated[float, typer.Option(min=0.001, help="Network seconds per host second.")] = 60,
    rate: Annotated[
        float | None,
        typer.Option(min=0.0001, help="Cables per network minute (else the scenario's).", show_default=False),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the traffic (else the scenario's).", show_default=False)
    ] = None,
    headless: Annotated[bool, typer.Option("--headless", help="No live view: for scripts and CI.")] = False,
    journal: Annotated[
        Path | None, typer.Option(help="SQLite journal to write (must not exist).", show_default=False)
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Directory for the report (index.html).", show_default=False)
    ] = None,
) -> None:
    """Run a network by itself: broker, router, posts, traffic with a FLASH, faults, then the report."""
    from router.log import configure_logging  # noqa: PLC0415
    from router.sim.demo import DemoOptions, default_paths, run_demo  # noqa: PLC0415
    from router.sim.scenario import DEFAULT_SCENARIO, load_scenario  # noqa: PLC0415

    try:
        plan, table = load_scenario(scenario or DEFAULT_SCENARIO)
    except RouterError as exc:
        typer.echo(f"router demo: {exc}", err=True)
        raise typer.Exit(2) from None
    given = {"duration": duration, "rate": rate, "seed": seed}
    plan = plan.model_copy(update={name: value for name, value in given.items() if value is not None})
    default_journal, default_out = default_paths()
    journal = journal or default_journal
    out = out or (journal.parent / "report" if journal != default_journal else default_out)
    if journal.exists():
        typer.echo(f"router demo: {journal} exists; give a new --journal (each run writes its own)", err=True)
        raise typer.Exit(2)
    journal.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(journal.with_suffix(".log"))
    options = DemoOptions(journal=journal, out=out, scenario=plan, table=table, time_scale=time_scale)
    typer.echo(
        f"router demo: {plan.duration:g} network seconds of traffic at {time_scale:g}x "
        f"({plan.duration / time_scale:.0f} s here), {plan.cable_count()} cables to "
        f"{len(options.posts)} posts; journal {journal}"
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if headless:
            result = await run_demo(options, stop)
        else:
            result = await _live(options, stop)
        for post, tally in result.tallies.items():
            typer.echo(
                f"  {post:<8} {len(tally.shown):>4} shown  {tally.filed:>3} duplicates filed  "
                f"{tally.gaps:>3} gaps reported  {tally.cancelled:>3} busts seen"
            )
        ended = "stopped early" if result.stopped_early else "done"
        typer.echo(f"router demo: {ended}; {result.published} cables published")
        typer.echo(f"report:  {result.report.resolve()}")
        typer.echo(f"journal: {result.journal}  (router report --journal {result.journal})")

    try:
        asyncio.run(main())
    except RouterError as exc:
        typer.echo(f"router demo: {exc}", err=True)
        raise typer.Exit(1) from None


async def _live(options: DemoOptions, stop: asyncio.Event) -> DemoResult:
    """The demo with the live view of `router watch` in the terminal."""
    from collections import deque  # noqa: PLC0415

    from rich.live import Live  # noqa: PLC0415

    from router.readout.watch import render  # noqa: PLC0415
    from router.sim.demo import run_demo  # noqa: PLC0415

    events: deque[dict[str, object]] = deque(maxlen=15)
    with Live(render(None, events), refresh_per_second=4) as live:

        def show(event: dict[str, object], status: dict[str, object] | None) -> None:
            if event:
                events.append(event)
            live.update(render(status, events))

        return await run_demo(options, stop, on_event=show)


@app.command()
def line(
    state: Annotated[str, typer.Argument(help="down or up.", show_default=False)],
    ri: Annotated[str, typer.Argument(help="The post's routing indicator.", show_default=False)],
    broker: BrokerOption = None,
) -> None:
    """Take a post's line down (an outage: traffic waits in precedence order) or bring it up."""
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.routing.table import is_routing_indicator  # noqa: PLC0415

    if state not in {"down", "up"} or not is_routing_indicator(ri):
        typer.echo(f"router line: expected 'down RI' or 'up RI', not {state!r} {ri!r}", err=True)
        raise typer.Exit(2)

    async def main() -> None:
        async with MqttBus(_broker(broker)) as bus:
            await bus.publish(topics.line_control(ri), state.encode(), qos=1)
            typer.echo(f"line {ri} {state}")

    _run_client("line", main())


@app.command()
def retransmit(
    message_id: Annotated[
        str, typer.Argument(help="The message id (RUEHKO-1571-1610901).", show_default=False)
    ],
    posts: Annotated[list[str], typer.Argument(help="The posts' routing indicators.", show_default=False)],
    broker: BrokerOption = None,
) -> None:
    """Send a message again to posts it was routed to, from the router's journal."""
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.routing.table import is_routing_indicator  # noqa: PLC0415

    if bad := [ri for ri in posts if not is_routing_indicator(ri)]:
        typer.echo(f"router retransmit: not a routing indicator: {bad[0]!r}", err=True)
        raise typer.Exit(2)

    async def main() -> None:
        async with MqttBus(_broker(broker)) as bus:
            for ri in posts:
                await bus.publish(topics.retransmit(ri), message_id.encode(), qos=1)
                typer.echo(f"asked for {message_id} again to {ri}")

    _run_client("retransmit", main())


@app.command()
def report(
    journal: Annotated[
        Path | None, typer.Option(help="The journal (default: the settings').", show_default=False)
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write DIR/index.html with the plots.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Speed of service per precedence and the network's totals, from the journal."""
    from rich.console import Console  # noqa: PLC0415

    from router.readout.plots import write_html  # noqa: PLC0415
    from router.readout.report import read_report, render_terminal, to_json  # noqa: PLC0415

    path = journal or _settings().journal
    if not path.exists():
        typer.echo(f"router report: no journal at {path}", err=True)
        raise typer.Exit(1)
    try:
        speed = read_report(path)
    except RouterError as exc:
        typer.echo(f"router report: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(to_json(speed)))
    else:
        # Piped or redirected, rich would cut to 80 columns and squeeze the figures; a file or a
        # pager gets the table whole. A terminal keeps its own width.
        console = Console()
        render_terminal(speed, console if console.is_terminal else Console(width=REPORT_WIDTH))
    if out is not None:
        page = write_html(speed, out)
        typer.echo(f"report page: {page}", err=as_json)


@app.command()
def trace(
    cable: Annotated[str, typer.Argument(help="A message id (RUEHKO-1571-1610901) or a journal id.")],
    journal: Annotated[
        Path | None, typer.Option(help="The journal (default: the settings').", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Where a cable went: each arrival, each post's copy, its transmissions and its receipt."""
    from router.readout.trace import read_trace, render_trace, trace_json  # noqa: PLC0415

    path = journal or _settings().journal
    if not path.exists():
        typer.echo(f"router trace: no journal at {path}", err=True)
        raise typer.Exit(1)
    try:
        traces = read_trace(path, cable)
    except RouterError as exc:
        typer.echo(f"router trace: {exc}", err=True)
        raise typer.Exit(1) from None
    if not traces:
        typer.echo(f"router trace: no cable {cable} in {path}", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(trace_json(traces)) if as_json else render_trace(traces))


@app.command()
def generate(  # noqa: PLR0913, PLR0917 (the generator's knobs, all options)
    count: Annotated[int, typer.Option(min=1, help="How many cables.")] = 100,
    rate: Annotated[float, typer.Option(min=0.001, help="Cables per second when publishing.")] = 10,
    seed: Annotated[int, typer.Option(help="The same seed gives the same cables.")] = 1,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the cables here (*.txt) instead of publishing.", show_default=False),
    ] = None,
    routing: RoutingPath = None,
    broker: BrokerOption = None,
) -> None:
    """Synthetic cables in the real corpus's mix, addressed to the routing table's stations."""
    from router.sim.traffic import generate as generated  # noqa: PLC0415

    table = _table_or_exit(routing or _settings().routing)
    cables = generated(table, count=count, seed=seed, start=datetime.now(UTC), rate=rate)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for cable in cables:
            (out / f"{cable.name}.txt").write_bytes(cable.raw)
        typer.echo(f"wrote {count} cables to {out}")
        return
    _publish(list(cables), broker, "generate")


@app.command()
def replay(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Cable files, directories of *.txt, or .jsonl(.gz) files.", show_default=False),
    ],
    speedup: Annotated[
        float | None,
        typer.Option(min=0.000001, help="Compress the DTG gaps by X; none: as fast as possible."),
    ] = None,
    broker: BrokerOption = None,
) -> None:
    """Publish real cables in DTG order, keeping their relative timing compressed by --speedup."""
    from router.sim.replay import replay_schedule  # noqa: PLC0415

    try:
        schedule = replay_schedule(paths, speedup=speedup)
    except RouterError as exc:
        typer.echo(f"router replay: {exc}", err=True)
        raise typer.Exit(1) from None
    _publish(schedule, broker, "replay")


def _publish(items: list[Generated] | list[Scheduled], broker: str | None, command: str) -> None:
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.sim.replay import publish_schedule  # noqa: PLC0415

    async def main() -> None:
        async with MqttBus(_broker(broker)) as bus:
            sent = await publish_schedule(bus, items)
            typer.echo(f"published {sent} cables on cables/in/")

    _run_client(command, main())
