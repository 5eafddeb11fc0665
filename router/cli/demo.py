"""`router demo`: a scenario's network by itself, from a private broker to the speed-of-service report."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from router.cli.common import FAILED, USAGE, fail, settings_or_exit, until_signalled
from router.errors import RouterError

if TYPE_CHECKING:
    from router.settings import Settings
    from router.sim.demo import DemoOptions, DemoResult


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
    from router.sim.demo import fixed_settings  # noqa: PLC0415

    options = _options(scenario, {"duration": duration, "rate": rate, "seed": seed}, journal, out, time_scale)
    settings = settings_or_exit(fixed=fixed_settings(options))
    options.journal.parent.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log_file)
    plan = options.scenario
    typer.echo(
        f"router demo: {plan.duration:g} network seconds of traffic at {settings.time_scale:g}x "
        f"({plan.duration / settings.time_scale:.0f} s here), {plan.cable_count()} cables to "
        f"{len(options.posts)} posts; journal {options.journal}"
    )

    async def main(stop: asyncio.Event) -> None:
        _print(await (_headless if headless else _live)(options, settings, stop))

    try:
        asyncio.run(until_signalled(main))
    except RouterError as exc:
        fail(f"router demo: {exc}", FAILED)


def _options(
    scenario: Path | None,
    given: dict[str, float | None],
    journal: Path | None,
    out: Path | None,
    time_scale: float,
) -> DemoOptions:
    """The run the options ask for: the scenario with the flags over it, and a journal of its own."""
    from router.sim.demo import DemoOptions, default_paths  # noqa: PLC0415
    from router.sim.scenario import DEFAULT_SCENARIO, load_scenario  # noqa: PLC0415

    try:
        plan, table = load_scenario(scenario or DEFAULT_SCENARIO)
    except RouterError as exc:
        fail(f"router demo: {exc}", USAGE)
    plan = plan.model_copy(update={name: value for name, value in given.items() if value is not None})
    default_journal, default_out = default_paths()
    journal = journal or default_journal
    out = out or (journal.parent / "report" if journal != default_journal else default_out)
    if journal.exists():
        fail(f"router demo: {journal} exists; give a new --journal (each run writes its own)", USAGE)
    return DemoOptions(journal=journal, out=out, scenario=plan, table=table, time_scale=time_scale)


async def _headless(options: DemoOptions, settings: Settings, stop: asyncio.Event) -> DemoResult:
    from router.sim.demo import run_demo  # noqa: PLC0415

    return await run_demo(options, stop, settings=settings)


async def _live(options: DemoOptions, settings: Settings, stop: asyncio.Event) -> DemoResult:
    """The demo with the live view of `router watch` in the terminal."""
    from router.readout.watch import live_view  # noqa: PLC0415
    from router.sim.demo import run_demo  # noqa: PLC0415

    with live_view() as show:
        return await run_demo(options, stop, on_event=show, settings=settings)


def _print(result: DemoResult) -> None:
    """What each post saw, and where the journal and the report are."""
    for post, tally in result.tallies.items():
        typer.echo(
            f"  {post:<8} {len(tally.shown):>4} shown  {tally.filed:>3} duplicates filed  "
            f"{tally.gaps:>3} gaps reported  {tally.cancelled:>3} busts seen"
        )
    ended = "stopped early" if result.stopped_early else "done"
    typer.echo(f"router demo: {ended}; {result.published} cables published")
    typer.echo(f"report:  {result.report.resolve()}")
    typer.echo(f"journal: {result.journal}  (router report --journal {result.journal})")
