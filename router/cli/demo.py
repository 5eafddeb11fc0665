"""`router demo`: a scenario's network by itself, from a private broker to the speed-of-service report.

`router demo --network`: the same for a network of switching centres, one `router run --centre`
process a centre (`router.sim.network_demo`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from router.cli.common import FAILED, USAGE, fail, folder_or_exit, settings_or_exit, until_signalled
from router.errors import RouterError

if TYPE_CHECKING:
    from router.settings import Settings
    from router.sim.demo import DemoOptions, DemoResult
    from router.sim.network_demo import NetworkDemoOptions, NetworkDemoResult


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
        Path | None,
        typer.Option(
            help="Directory for the report (index.html); with --network, the run's: DIR/NAME/ a centre.",
            show_default=False,
        ),
    ] = None,
    network: Annotated[
        bool,
        typer.Option(
            "--network",
            help="A network of switching centres, one `router run --centre` process each.",
            show_default=False,
        ),
    ] = False,
    centres: Annotated[
        Path | None,
        typer.Option(
            help="With --network: the network of centres (TOML), else the scenario's.", show_default=False
        ),
    ] = None,
) -> None:
    """Run a network by itself: broker, router, posts, traffic with a FLASH, faults, then the report."""
    from router.log import configure_logging  # noqa: PLC0415
    from router.sim.demo import fixed_settings  # noqa: PLC0415

    given = {"duration": duration, "rate": rate, "seed": seed}
    if network:
        if journal is not None:
            fail(
                "router demo: --journal is the single switch's; with --network each centre's is in --out",
                USAGE,
            )
        _network_demo(_network_options(scenario, given, centres, out, time_scale), headless=headless)
        return
    if centres is not None:
        fail("router demo: --centres needs --network", USAGE)
    options = _options(scenario, given, journal, out, time_scale)
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
    folder_or_exit("demo", out)  # before the run, not at its end
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


def _network_options(
    scenario: Path | None,
    given: dict[str, float | None],
    centres: Path | None,
    out: Path | None,
    time_scale: float,
) -> NetworkDemoOptions:
    """The network run the options ask for: the network scenario with the flags over it, a fresh folder."""
    from router.routing.network_description import load_network  # noqa: PLC0415
    from router.sim.demo import default_paths  # noqa: PLC0415
    from router.sim.network_demo import NetworkDemoOptions  # noqa: PLC0415
    from router.sim.scenario import NETWORK_SCENARIO, load_network_scenario  # noqa: PLC0415

    path = scenario or NETWORK_SCENARIO
    try:
        plan, table, network = load_network_scenario(path)
        network_path = centres or path.parent / str(plan.centres)
        network = load_network(centres) if centres is not None else network
    except RouterError as exc:
        fail(f"router demo: {exc}", USAGE)
    plan = plan.model_copy(update={name: value for name, value in given.items() if value is not None})
    default = default_paths()[0].parent  # demo-runs/<UTC time>
    run = out or default.with_name(default.name + "-network")
    if any(folder_or_exit("demo", run).iterdir()):
        fail(f"router demo: {run} is not empty; give a new --out (each run writes its own)", USAGE)
    return NetworkDemoOptions(
        run=run,
        out=run,
        scenario=plan,
        table=table,
        network=network,
        routing_path=path.parent / plan.network,
        network_path=network_path,
        time_scale=time_scale,
    )


def _network_demo(options: NetworkDemoOptions, *, headless: bool) -> None:
    """Run the network demo, the live view of every centre unless ``headless``; print where it all is."""
    from router.log import configure_logging  # noqa: PLC0415
    from router.sim.network_demo import network_settings, run_network_demo  # noqa: PLC0415

    settings = settings_or_exit(fixed=network_settings(options))
    options.run.mkdir(parents=True, exist_ok=True)
    configure_logging(settings.log_file)
    plan = options.scenario
    typer.echo(
        f"router demo --network: {len(options.network.centres)} centres, {len(options.posts)} posts, "
        f"{plan.duration:g} network seconds of traffic at {settings.time_scale:g}x "
        f"({plan.duration / settings.time_scale:.0f} s here), {plan.cable_count()} cables; run {options.run}"
    )

    async def main(stop: asyncio.Event) -> None:
        if headless:
            result = await run_network_demo(options, stop, settings=settings)
        else:
            from router.readout.watch import live_view  # noqa: PLC0415

            with live_view() as show:
                result = await run_network_demo(options, stop, on_event=show, settings=settings)
        _print_network(result)

    try:
        asyncio.run(until_signalled(main))
    except RouterError as exc:
        fail(f"router demo: {exc}", FAILED)


def _print_network(result: NetworkDemoResult) -> None:
    """Each centre, each post, the copies accounted for; where the journals and the reports are."""
    from router.sim.ledger import unaccounted  # noqa: PLC0415

    accounts = result.accounts
    for name, journal in result.journals.items():
        typer.echo(
            f"  {name:<10} {accounts.originated.get(name, 0):>4} cables originated  "
            f"{accounts.diversions.get(name, 0):>3} copies sent round a trunk out (trunk-alternate)  "
            f"exit {result.exits.get(name, '?')}  journal {journal}"
        )
    ledger = result.ledger
    for post, tally in sorted(ledger.tallies.items()):
        typer.echo(
            f"  {post:<8} {len(tally.shown):>4} shown  {tally.filed:>3} duplicates filed  "
            f"{tally.gaps:>3} gaps reported  {tally.cancelled:>3} busts seen"
        )
    owed = sum(len(ids) for ids in ledger.owed.values())
    not_shown = sum(len(ids) for ids in ledger.missing().values())
    lost = unaccounted(ledger, accounts)
    missing = sum(len(ids) for ids in lost.values())
    ended = "stopped early" if result.stopped_early else "done"
    flash = " ".join(result.flash) or "not filed yet"
    typer.echo(f"router demo --network: {ended}; {result.published} cables filed, FLASH {flash}")
    typer.echo(
        f"copies: {owed} owed, {owed - not_shown} shown at their posts, {len(accounts.intercepted)} "
        f"intercepted, {accounts.rejected} cables rejected, {missing} unaccounted"
    )
    for name, page in result.reports.items():
        typer.echo(f"report {name}: {page.resolve()}")
    journals = " ".join(f"--journal {path}" for path in result.journals.values())
    typer.echo(f"trace a cable through the centres: router trace MESSAGE-ID {journals}")
    failed = {name: status for name, status in result.exits.items() if status != 0}
    if failed:
        fail(f"router demo: centres did not stop cleanly: {failed}", FAILED)
    if missing and not result.stopped_early:
        fail(
            f"router demo: {missing} copies neither shown nor intercepted: {dict(sorted(lost.items()))}",
            FAILED,
        )
