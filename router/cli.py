"""The command line: a thin typer layer that reads options, calls the core and sets the exit code."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from router.errors import CableParseError
from router.models import Addressee, Cable
from router.parser import MAX_CABLE_BYTES, parse_cable
from router.routing import RoutingDecision, decide
from router.table import DEFAULT_TABLE, RoutingTable, TableError, load_table

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
    ri = addressee.ri or "-"
    return f"  {role:<4} {ri:<8} {addressee.name:<40} {' '.join(marks)}"
