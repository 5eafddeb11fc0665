"""What every command shares: its options, its settings, and running its work with a one-line error.

A command reads its options into `Settings` (config/router.toml, then ROUTER_* variables, then the
flags given) with `settings_or_exit`, and runs its async work with `run_client` (or `run_fast`):
an error the router raises on purpose ends the command with one line on stderr and an exit status,
never a traceback. The service and the demo run theirs `until_signalled` (SIGINT, SIGTERM).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from router.cable.parser import MAX_CABLE_BYTES
from router.errors import RouterError, SettingsError, TableError
from router.routing.table import RoutingTable, load_table
from router.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from router.bus.address import BrokerAddress

USAGE = 2
"""Exit status of a command that cannot start: a bad setting, flag or routing table."""
FAILED = 1
"""Exit status of a command that started and failed: a cable that does not parse, a broker away."""
INTERRUPTED = 130
"""Exit status of a command stopped by Ctrl-C (SIGINT), as shells give one: 128 + the signal."""

# The settings read the ROUTER_* variables themselves, under the flags (typer's envvar= would make a
# variable look like a flag to `router config`); the help says which variable, as typer would.
AsJson = Annotated[bool, typer.Option("--json", help="One JSON object per input on stdout (JSON Lines).")]
BrokerOption = Annotated[
    list[str] | None,
    typer.Option(
        "--broker",
        metavar="URL",
        help="mqtt\\[s]://\\[user@]host:port; several nodes of one broker: repeat it, or a comma list "
        "(tried in order, the next when one goes). \\[env var: ROUTER_BROKER]",
        show_default=False,
    ),
]
RunBrokerOption = Annotated[
    list[str] | None,
    typer.Option(
        "--broker",
        metavar="URL",
        help="mqtt\\[s]://\\[user@]host:port, repeated or a comma list for the nodes of a cluster; "
        "none starts a private broker",
        show_default=False,
    ),
]
"""`router run`'s ``--broker``: as `BrokerOption`, but none is a broker of its own."""
Username = Annotated[
    str | None,
    typer.Option(
        "--username",
        help="MQTT user (default: the command's role, e.g. post-RI). \\[env var: ROUTER_USERNAME]",
        show_default=False,
    ),
]
PasswordFile = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="File whose first line is the password (or ROUTER_PASSWORD; default: the private broker's "
        "credentials folder). \\[env var: ROUTER_PASSWORD_FILE]",
        show_default=False,
    ),
]
CaFile = Annotated[
    Path | None,
    typer.Option(
        "--cafile", help="CA certificate for mqtts://. \\[env var: ROUTER_CAFILE]", show_default=False
    ),
]
CertFile = Annotated[
    Path | None,
    typer.Option(
        "--certfile", help="Client certificate (PEM). \\[env var: ROUTER_CERTFILE]", show_default=False
    ),
]
KeyFile = Annotated[
    Path | None,
    typer.Option(
        "--keyfile",
        help="The client certificate's key (PEM). \\[env var: ROUTER_KEYFILE]",
        show_default=False,
    ),
]
MaxBytes = Annotated[
    int | None,
    typer.Option(
        "--max-bytes",
        min=1,
        help="Reject a cable larger than this. \\[env var: ROUTER_MAX_CABLE_BYTES]",
        show_default=str(MAX_CABLE_BYTES),
    ),
]
RoutingPath = Annotated[
    Path | None,
    typer.Option("--routing", help="Routing table (TOML). \\[env var: ROUTER_ROUTING]", show_default=False),
]
TimeScale = Annotated[
    float | None,
    typer.Option(
        "--time-scale", help="Network seconds per host second (60: a minute in a second).", show_default=False
    ),
]


def fail(message: str, status: int = FAILED) -> NoReturn:
    """End the command: ``message`` as one line on stderr, then exit with ``status``."""
    typer.echo(message, err=True)
    raise typer.Exit(status)


def settings_or_exit(*, fixed: dict[str, Any] | None = None, **flags: Any) -> Settings:
    """The effective settings with these flags (None: not given); a bad one ends the command (status 2)."""
    try:
        return load_settings(fixed=fixed, **flags)
    except SettingsError as exc:
        fail(f"router: {exc}", USAGE)


def login_flags(  # noqa: PLR0913, PLR0917 (a client command's connection options, passed on as they came)
    broker: list[str] | str | None,
    username: str | None,
    password_file: Path | None,
    cafile: Path | None,
    certfile: Path | None,
    keyfile: Path | None,
) -> dict[str, Any]:
    """A client command's connection flags, as settings (None: not given).

    ``--broker`` given more than once is one broker of several nodes: their comma list.
    """
    return {
        "broker": broker_list(broker),
        "username": username,
        "password_file": password_file,
        "cafile": cafile,
        "certfile": certfile,
        "keyfile": keyfile,
    }


def broker_list(broker: list[str] | str | None) -> str | None:
    """``--broker`` as the setting takes it: the URLs given, each maybe a comma list, as one comma list."""
    if broker is None or isinstance(broker, str):
        return broker
    return ",".join(broker) or None


def broker_or_exit(user: str, flags: dict[str, Any]) -> BrokerAddress:
    """The broker a client command talks to, logged in as ``user`` unless the flags or settings say who.

    The broker: the flag, else the settings', else the private one; the login as
    `Settings.broker_address` finds it. A bad setting ends the command (status 2).
    """
    try:
        return settings_or_exit(**flags).broker_address(user)
    except RouterError as exc:
        fail(f"router: {exc}", USAGE)


def folder_or_exit(command: str, path: Path) -> Path:
    """``path`` as a folder to write into, made if absent; one that cannot be ends the command (status 1).

    Said before any work is done, so that a long run never ends in a traceback over where to write.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        fail(f"router {command}: --out {path}: exists and is not a folder")
    except OSError as exc:
        fail(f"router {command}: --out {path}: cannot make the folder: {exc.strerror or exc}")
    if not os.access(path, os.W_OK | os.X_OK):
        fail(f"router {command}: --out {path}: the folder is not writable")
    return path


def table_or_exit(path: Path) -> RoutingTable:
    """The routing table at ``path``; one that does not load ends the command (status 2)."""
    try:
        return load_table(path)
    except TableError as exc:
        fail(f"routing table: {exc}", USAGE)


def say_lost(who: str, reason: str, delay: float) -> None:
    """One line on stderr each time a client finds the broker gone: why, and when it tries again."""
    typer.echo(f"{who}: {reason}; connecting again in {delay:g} s (Ctrl-C to stop)", err=True)


def run_client(command: str, work: Coroutine[Any, Any, None]) -> None:
    """Run a client command's work: Ctrl-C ends it quietly, a bus error in one line with status 1."""
    try:
        asyncio.run(work)
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED) from None
    except RouterError as exc:
        fail(f"router {command}: {exc}")


async def until_signalled(work: Callable[[asyncio.Event], Awaitable[Any]]) -> None:
    """Await ``work(stop)``, ``stop`` set by SIGINT or SIGTERM: the clean stop of the service and the demo.

    Either way the work ends cleanly; the exit status tells them apart: SIGTERM is a supervisor's
    asked-for stop (status 0), Ctrl-C an interruption (status 130, as a shell reports it).
    """
    stop = asyncio.Event()
    stopped_by: list[signal.Signals] = []
    loop = asyncio.get_running_loop()

    def stopping(signum: signal.Signals) -> None:
        stopped_by.append(signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping, signum)
    await work(stop)
    if stopped_by[:1] == [signal.SIGINT]:
        raise typer.Exit(INTERRUPTED)


def run_fast(work: Coroutine[Any, Any, None]) -> None:
    """Run the service on uvloop where it is installed (Linux, macOS): its event loop is in C.

    The loop is this call's own: no event loop policy is installed for the process.
    """
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        asyncio.run(work)
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(work)
