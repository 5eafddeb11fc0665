"""The service and its clients: `router run`, `router post`, `router watch`, `router config`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router.bus import topics
from router.cli.common import (
    USAGE,
    BrokerOption,
    TimeScale,
    broker_or_exit,
    fail,
    run_client,
    run_fast,
    settings_or_exit,
    until_signalled,
)
from router.errors import RouterError
from router.settings import given_flags, sources


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

    settings = settings_or_exit(broker=broker, routing=routing, journal=journal, time_scale=time_scale)
    configure_logging(settings.log_file)
    try:
        run_fast(until_signalled(lambda stop: serve(settings, stop)))
    except RouterError as exc:
        fail(f"router: {exc}", USAGE)


def config(broker: BrokerOption = None) -> None:
    """Print the effective settings and where each comes from (file, ROUTER_* variable, flag, default)."""
    flags = given_flags({"broker": broker})
    settings = settings_or_exit(**flags)
    origin = sources(flags)
    for name, value in settings.model_dump().items():
        typer.echo(f"{name} = {value!s}  # {origin[name]}")


def post(
    ri: Annotated[str, typer.Argument(help="The post's routing indicator, e.g. RUEHFR.", show_default=False)],
    broker: BrokerOption = None,
) -> None:
    """A simulated addressee post: check each copy's serial, report gaps, file duplicates, receipt."""
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.cli.render import reading_line  # noqa: PLC0415
    from router.routing.table import is_routing_indicator  # noqa: PLC0415
    from router.sim.post import PostStation, serve_post  # noqa: PLC0415

    if not is_routing_indicator(ri):
        fail(f"router post: {ri!r} is not a routing indicator (4 to 7 capital letters)", USAGE)
    address = broker_or_exit(broker)

    async def main() -> None:
        station = PostStation(ri)
        async with MqttBus(address, client_id=f"post-{ri}", persistent=True, manual_ack=True) as bus:
            typer.echo(f"post {ri} listening on {topics.copies(ri)}")
            await serve_post(bus, station, lambda reading: typer.echo(reading_line(reading)))

    run_client("post", main())


def watch(broker: BrokerOption = None, lines: Annotated[int, typer.Option(min=1, max=200)] = 15) -> None:
    """A live view of the routing log and the queue depths (router/log and router/status)."""
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.readout.watch import follow, live_view  # noqa: PLC0415

    address = broker_or_exit(broker)

    async def main() -> None:
        async with MqttBus(address) as bus:
            with live_view(lines) as show:
                await follow(bus, show)

    run_client("watch", main())
