"""Commands on cable files: `router check` (parse), `router route` (decide), `router publish` (send)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from router.bus import topics
from router.cable.parser import parse_cable
from router.cli.common import (
    FAILED,
    USAGE,
    AsJson,
    BrokerOption,
    CaFile,
    CertFile,
    KeyFile,
    MaxBytes,
    PasswordFile,
    RoutingPath,
    Username,
    broker_or_exit,
    fail,
    login_flags,
    run_client,
    settings_or_exit,
    table_or_exit,
)
from router.cli.render import decision_record, decision_summary, summary
from router.errors import CableParseError
from router.routing.decide import decide
from router.routing.network_description import CENTRE_NAME_PATTERN
from router.settings import sources

if TYPE_CHECKING:
    from collections.abc import Iterator

    from router.cable.models import Cable


def check(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Cable files, or directories searched for *.txt cables.", show_default=False),
    ] = None,
    *,
    as_json: AsJson = False,
    max_bytes: MaxBytes = None,
    routing: RoutingPath = None,
) -> None:
    """Parse cables and show what each says; exit 1 when any of them (or the table) does not parse.

    With --routing, the routing table is validated too.
    """
    flags: dict[str, Any] = {"max_cable_bytes": max_bytes, "routing": routing}
    settings = settings_or_exit(**flags)
    # A table named anywhere (the flag, ROUTER_ROUTING, config/router.toml) is validated; none, none.
    named_table = sources(flags)["routing"] != "default"
    if not paths and not named_table:
        fail("router check: nothing to check: give cable files or folders (or --routing PATH)", USAGE)
    if named_table:
        table = table_or_exit(settings.routing)
        if not paths:
            typer.echo(
                f"{settings.routing}: {len(table.posts)} posts, {len(table.collectives)} collectives, "
                f"{len(table.relays)} relays"
            )
    failures = 0
    for path, cable in _parsed(paths or [], max_bytes=settings.max_cable_bytes, as_json=as_json):
        if cable is None:
            failures += 1
        elif as_json:
            record = {"file": str(path), "ok": True, "cable": cable.model_dump(mode="json")}
            typer.echo(json.dumps(record, ensure_ascii=False))
        else:
            typer.echo(summary(path, cable))
    raise typer.Exit(FAILED if failures else 0)


def route(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Cable files, or directories searched for *.txt cables.", show_default=False),
    ],
    *,
    as_json: AsJson = False,
    max_bytes: MaxBytes = None,
    routing: RoutingPath = None,
) -> None:
    """Decide who gets each cable: deliveries per post and intercepts with their reasons."""
    settings = settings_or_exit(max_cable_bytes=max_bytes, routing=routing)
    table = table_or_exit(settings.routing)
    failures = 0
    for path, cable in _parsed(paths, max_bytes=settings.max_cable_bytes, as_json=as_json):
        if cable is None:
            failures += 1
            continue
        decision = decide(cable, table)
        if as_json:
            typer.echo(json.dumps(decision_record(path, cable, decision), ensure_ascii=False))
        else:
            typer.echo(decision_summary(path, cable, decision))
    raise typer.Exit(FAILED if failures else 0)


def publish(  # noqa: PLR0913 (the files, then where and as whom)
    paths: Annotated[
        list[str], typer.Argument(help="Cable files, or - for standard input.", show_default=False)
    ],
    *,
    centre: Annotated[
        str | None,
        typer.Option(
            "--centre",
            help="File them at this switching centre of a network (centres/NAME/in/<file name>).",
            show_default=False,
        ),
    ] = None,
    broker: BrokerOption = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """Publish cable files (or stdin) to the intake, cables/in/<file name>, at QoS 1, as the publisher.

    With --centre NAME, to that centre's intake: it is their originating centre.
    """
    from router.bus.mqtt import MqttBus  # noqa: PLC0415 (the MQTT client is not needed by check)
    from router.bus.security import PUBLISHER  # noqa: PLC0415

    try:
        cables = [
            ("stdin", sys.stdin.buffer.read()) if name == "-" else (Path(name).stem, Path(name).read_bytes())
            for name in paths
        ]
    except OSError as exc:
        fail(f"router publish: cannot read {exc.filename}: {exc.strerror}")
    if centre is not None and not re.fullmatch(CENTRE_NAME_PATTERN, centre):
        fail(f"router publish: not a centre's name: {centre!r} (capitals, e.g. BELTSVILLE)", USAGE)
    address = broker_or_exit(
        PUBLISHER, login_flags(broker, username, password_file, cafile, certfile, keyfile)
    )

    async def main() -> None:
        async with MqttBus(address) as bus:
            for name, data in cables:
                topic = topics.intake(name) if centre is None else topics.centre_intake(centre, name)
                await bus.publish(topic, data, qos=1)
                typer.echo(f"published {topic} ({len(data)} bytes)")

    run_client("publish", main())


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


def _cable_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*.txt") if p.is_file())
        else:
            yield path


def _report_error(path: Path, error: CableParseError, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"file": str(path), "ok": False, "error": error.detail()}))
    else:
        field = f" {error.field}:" if error.field else ""
        typer.echo(f"{path}:{error.line}:{error.column}:{field} {error.reason}", err=True)
