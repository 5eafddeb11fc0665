"""The simulated network's commands: `router line`, `retransmit`, `report`, `trace`, `generate`, `replay`."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from router.bus import topics
from router.cli.common import (
    USAGE,
    BrokerOption,
    CaFile,
    CertFile,
    KeyFile,
    PasswordFile,
    RoutingPath,
    Username,
    broker_or_exit,
    fail,
    folder_or_exit,
    login_flags,
    run_client,
    settings_or_exit,
    table_or_exit,
)
from router.errors import RouterError
from router.journal.dialect import is_url, shown

REPORT_WIDTH = 120
"""Columns of `router report`'s table when it is not printed on a terminal."""

if TYPE_CHECKING:
    from collections.abc import Sequence

    from router.bus.protocol import Bus
    from router.sim.replay import Scheduled
    from router.sim.traffic import Generated


def line(  # noqa: PLR0913 (the line, where and as whom)
    state: Annotated[str, typer.Argument(help="down or up.", show_default=False)],
    ri: Annotated[str, typer.Argument(help="The post's routing indicator.", show_default=False)],
    *,
    routing: RoutingPath = None,
    broker: BrokerOption = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """Take a post's line down (an outage: traffic waits in precedence order) or bring it up."""
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.bus.security import OPERATOR  # noqa: PLC0415

    if state not in {"down", "up"}:
        fail(f"router line: the state is 'down' or 'up', not {state!r}", USAGE)
    _posts_or_exit("line", [ri], routing)
    address = broker_or_exit(
        OPERATOR, login_flags(broker, username, password_file, cafile, certfile, keyfile)
    )

    async def main() -> None:
        async with MqttBus(address) as bus:
            await bus.publish(topics.line_control(ri), state.encode(), qos=1)
            typer.echo(f"line {ri} {state}")

    run_client("line", main())


def _posts_or_exit(command: str, posts: list[str], routing: Path | None) -> None:
    """End the command (status 2) unless every one of ``posts`` is a post of the routing table.

    A well-formed RI the table does not know would be published and ignored by the router: the
    operator would be told it was done when nothing was.
    """
    from router.routing.table import is_routing_indicator  # noqa: PLC0415

    if bad := [ri for ri in posts if not is_routing_indicator(ri)]:
        fail(f"router {command}: not a routing indicator: {bad[0]!r}", USAGE)
    settings = settings_or_exit(routing=routing)
    known = table_or_exit(settings.routing).posts
    if unknown := [ri for ri in posts if ri not in known]:
        fail(f"router {command}: {unknown[0]} is not a post of the routing table {settings.routing}", USAGE)


def retransmit(  # noqa: PLR0913 (the message, the posts, where and as whom)
    message_id: Annotated[
        str, typer.Argument(help="The message id (RUEHKO-1571-1610901).", show_default=False)
    ],
    posts: Annotated[list[str], typer.Argument(help="The posts' routing indicators.", show_default=False)],
    *,
    wait: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for the router's answer for each post.")
    ] = 5.0,
    routing: RoutingPath = None,
    broker: BrokerOption = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """Send a message again to posts it was routed to, from the router's journal (as the operator).

    The router answers on its routing log; the command waits for it and says what the router did,
    and exits 1 when the router did not find the copy, refused the request, or did not answer.
    """
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.bus.security import OPERATOR  # noqa: PLC0415

    _posts_or_exit("retransmit", posts, routing)
    address = broker_or_exit(
        OPERATOR, login_flags(broker, username, password_file, cafile, certfile, keyfile)
    )
    failures: list[str] = []

    async def main() -> None:
        async with MqttBus(address) as bus:
            await bus.subscribe(topics.LOG)  # before asking, so that no answer comes unheard
            for ri in posts:
                await bus.publish(topics.retransmit(ri), message_id.encode(), qos=1)
            answers = await _retransmit_answers(bus, message_id, set(posts), wait)
        for ri in posts:
            said = answers.get(ri) or f"no answer from the router within {wait:g} s (is it running?)"
            if ri not in answers or not said.startswith("sent"):
                failures.append(ri)
            typer.echo(f"{message_id} to {ri}: {said}")

    run_client("retransmit", main())
    if failures:
        fail(f"router retransmit: not sent again to {' '.join(failures)}")


async def _retransmit_answers(bus: Bus, message_id: str, posts: set[str], wait: float) -> dict[str, str]:
    """The router's answer to each post's retransmit request, read off its routing log.

    ``retransmitted`` (cause ``request``) names the message and the post; a request for a copy the
    journal does not hold is ``bad-retransmit-request`` (its id cut to 40 characters); one over the
    post's request rate is ``rate-limited``. Waits at most ``wait`` seconds in all.
    """
    answers: dict[str, str] = {}
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait):
            async for message in bus.messages():
                entry = _log_entry(message.payload)
                post = entry.get("post")
                if post not in posts or post in answers:
                    continue
                event = entry.get("event")
                named = str(entry.get("message_id", ""))
                if event == "retransmitted" and named == message_id:
                    answers[post] = f"sent again (delivery {entry.get('delivery')})"
                elif event == "bad-retransmit-request" and message_id.startswith(named):
                    answers[post] = "the router's journal holds no copy of it for this post"
                elif event == "rate-limited" and entry.get("request") == "retransmit":
                    answers[post] = "refused: the post's requests are over their rate"
                if len(answers) == len(posts):
                    break
    return answers


def _log_entry(payload: bytes) -> dict[str, Any]:
    """A routing-log message as a dict; anything else (not JSON, not an object) as an empty one."""
    try:
        entry = json.loads(payload)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def report(
    journal: Annotated[
        list[str] | None,
        typer.Option(
            help="The journal, a file or a postgresql:// URL (default: the settings'); once for each "
            "centre's, for the network's figures.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Also write DIR/index.html with the plots.", show_default=False)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Speed of service per precedence and the network's totals, from the journal (or the centres')."""
    from rich.console import Console  # noqa: PLC0415

    from router.readout import network_report  # noqa: PLC0415
    from router.readout.plots import write_html  # noqa: PLC0415
    from router.readout.report import read_report, render_terminal, to_json  # noqa: PLC0415

    given = list(dict.fromkeys(journal or []))
    paths = given if len(given) > 1 else [settings_or_exit(journal=given[0] if given else None).journal]
    files = journal_files("router report", paths)
    if len(paths) > 1 and len(files) < len(paths):
        fail("router report: a network's report reads the centres' SQLite journals (files), not URLs", USAGE)
    if out is not None:
        folder_or_exit("report", out)  # before the tables are printed, not after
    try:  # several: the centres' journals, each one's report and the network's
        found = network_report.read_network_report(files) if len(paths) > 1 else read_report(paths[0])
    except RouterError as exc:
        fail(f"router report: {exc}")
    # Piped or redirected, rich would cut to 80 columns and squeeze the figures; a file or a
    # pager gets the table whole. A terminal keeps its own width.
    console = Console()
    console = console if console.is_terminal else Console(width=REPORT_WIDTH)
    page = None
    if isinstance(found, network_report.NetworkReport):
        if as_json:
            typer.echo(json.dumps(network_report.network_json(found)))
        else:
            network_report.render_network_terminal(found, console)
        if out is not None:
            page = network_report.write_network_html(found, out)
    else:
        if as_json:
            typer.echo(json.dumps(to_json(found)))
        else:
            render_terminal(found, console)
        if out is not None:
            page = write_html(found, out)
    if page is not None:
        typer.echo(f"report page: {page}", err=as_json)


def journal_files(command: str, journals: Sequence[Path | str]) -> list[Path]:
    """The journals that are files, each of which must be there; a URL is checked when it is read."""
    files = [Path(journal) for journal in journals if not is_url(journal)]
    for path in files:
        if not path.exists():
            fail(f"{command}: no journal at {path}")
    return files


def trace(
    cable: Annotated[str, typer.Argument(help="A message id (RUEHKO-1571-1610901) or a journal id.")],
    journal: Annotated[
        list[str] | None,
        typer.Option(
            help="The journal, a file or a postgresql:// URL (default: the settings'); once for each "
            "centre's, to follow its hops.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """Where a cable went: each arrival, each post's copy, its transmissions and its receipt."""
    from router.readout.trace import in_hop_order, read_trace, render_trace, trace_json  # noqa: PLC0415

    paths: list[Path | str] = [*journal] if journal else [settings_or_exit().journal]
    journal_files("router trace", paths)
    try:
        traces = in_hop_order([trace for path in paths for trace in read_trace(path, cable)])
    except RouterError as exc:
        fail(f"router trace: {exc}")
    if not traces:
        fail(f"router trace: no cable {cable} in {', '.join(map(shown, paths))}")
    typer.echo(json.dumps(trace_json(traces)) if as_json else render_trace(traces))


def generate(  # noqa: PLR0913 (the generator's knobs, all options)
    count: Annotated[int, typer.Option(min=1, help="How many cables.")] = 100,
    rate: Annotated[float, typer.Option(min=0.001, help="Cables per second when publishing.")] = 10,
    seed: Annotated[int, typer.Option(help="The same seed (and --start) gives the same cables.")] = 1,
    *,
    start: Annotated[
        datetime | None,
        typer.Option(
            help="The first cable's date-time group (UTC), e.g. 2009-01-01T12:00; default: now.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Write the cables here (*.txt) instead of publishing.", show_default=False),
    ] = None,
    routing: RoutingPath = None,
    broker: BrokerOption = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """Synthetic cables in the real corpus's mix, addressed to the routing table's stations."""
    from router.sim.traffic import generate as generated  # noqa: PLC0415

    table = table_or_exit(settings_or_exit(routing=routing).routing)
    if out is not None:
        folder_or_exit("generate", out)
    first = datetime.now(UTC) if start is None else start.replace(tzinfo=start.tzinfo or UTC)
    cables = generated(table, count=count, seed=seed, start=first, rate=rate)
    if out is not None:
        for cable in cables:
            (out / f"{cable.name}.txt").write_bytes(cable.raw)
        typer.echo(f"wrote {count} cables to {out}")
        return
    _publish(
        list(cables), login_flags(broker, username, password_file, cafile, certfile, keyfile), "generate"
    )


def replay(  # noqa: PLR0913 (the cables, their pace, where and as whom)
    paths: Annotated[
        list[Path],
        typer.Argument(help="Cable files, directories of *.txt, or .jsonl(.gz) files.", show_default=False),
    ],
    speedup: Annotated[
        float | None,
        typer.Option(min=0.000001, help="Compress the DTG gaps by X; none: as fast as possible."),
    ] = None,
    *,
    broker: BrokerOption = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """Publish real cables in DTG order, keeping their relative timing compressed by --speedup."""
    from router.sim.replay import replay_schedule  # noqa: PLC0415

    try:
        schedule = replay_schedule(paths, speedup=speedup)
    except RouterError as exc:
        fail(f"router replay: {exc}")
    _publish(schedule, login_flags(broker, username, password_file, cafile, certfile, keyfile), "replay")


def _publish(items: list[Generated] | list[Scheduled], login: dict[str, Any], command: str) -> None:
    from router.bus.mqtt import MqttBus  # noqa: PLC0415
    from router.bus.security import PUBLISHER  # noqa: PLC0415
    from router.sim.replay import publish_schedule  # noqa: PLC0415

    address = broker_or_exit(PUBLISHER, login)

    async def main() -> None:
        async with MqttBus(address) as bus:
            sent = await publish_schedule(bus, items)
            typer.echo(f"published {sent} cables on {topics.Kind.CABLE.value}")

    run_client(command, main())
