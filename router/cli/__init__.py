"""The command line: a thin typer layer that reads options into settings, calls the core, sets the exit code.

The commands live by job (`cables`: check, route, publish; `service`: run, config, post, watch;
`access`: credentials; `console`: the page in a browser; `demo`; `network`: line, retransmit,
report, trace, generate, replay), share `common`, and join the one `app` here; no command module
imports another. Importing it changes nothing in the process.
"""

from __future__ import annotations

from importlib import machinery, metadata
from pathlib import Path
from typing import Annotated

import typer

from router.cli import access, cables, console, demo, network, service
from router.cli.common import USAGE, fail
from router.errors import SettingsError
from router.settings import choose_config_file

__all__ = ["app"]

app = typer.Typer(
    name="router",
    help="A store-and-forward cable switch (AUTODIN, the State telegram network) on MQTT.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"router {version()} ({build()})")
        raise typer.Exit


@app.callback()
def main(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Settings file (TOML); default: ./config/router.toml if present. \\[env var: ROUTER_CONFIG]",
            show_default=False,
        ),
    ] = None,
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Read, route and deliver diplomatic cables the way a tape-relay switch did."""
    try:
        choose_config_file(config)
    except SettingsError as exc:
        fail(f"router: {exc}", USAGE)


def version() -> str:
    """The installed distribution's version (pyproject.toml's)."""
    try:
        return metadata.version("router")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def build() -> str:
    """Which build runs: pure Python, or with modules compiled by mypyc (`ROUTER_MYPYC=1`, setup.py)."""
    package = Path(__file__).resolve().parent.parent
    suffixes = tuple(machinery.EXTENSION_SUFFIXES)
    compiled = [path for path in package.rglob("*.*") if path.name.endswith(suffixes)]
    return f"{len(compiled)} modules compiled with mypyc" if compiled else "pure Python"


for command in (
    cables.check,
    cables.route,
    service.run,
    service.config,
    access.credentials,
    cables.publish,
    service.post,
    service.watch,
    console.console,
    demo.demo,
    network.line,
    network.retransmit,
    network.report,
    network.trace,
    network.generate,
    network.replay,
):
    app.command()(command)
