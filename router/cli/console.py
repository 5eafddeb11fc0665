"""`router console`: the switch live in a browser (lines, queues, transmissions, the log, traces)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router.cli.common import (
    USAGE,
    BrokerOption,
    CaFile,
    CertFile,
    KeyFile,
    PasswordFile,
    Username,
    broker_or_exit,
    fail,
    login_flags,
    run_client,
    say_lost,
    settings_or_exit,
)


def console(  # noqa: PLR0913 (where to serve, what to read, where and as whom)
    *,
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port of the page (0: any free one).")] = 8470,
    host: Annotated[str, typer.Option(help="Address to serve on (0.0.0.0: every interface).")] = "127.0.0.1",
    journal: Annotated[
        list[Path] | None,
        typer.Option(
            help="Journal for trace look-ups (default: the settings'); once for each centre's.",
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
    """Serve a live page of the switch: its lines and queues, the routing log as it happens, traces.

    It reads router/status, router/status/+ and router/log as the observer, and the journals
    read-only; it changes nothing. When the broker goes away it connects again, until Ctrl-C.
    """
    from router.bus.mqtt import MqttBus, reconnecting  # noqa: PLC0415
    from router.bus.security import OBSERVER  # noqa: PLC0415
    from router.readout.console import Console  # noqa: PLC0415

    settings = settings_or_exit(broker=broker)
    address = broker_or_exit(
        OBSERVER, login_flags(broker, username, password_file, cafile, certfile, keyfile)
    )
    if not journal and not isinstance(settings.journal, Path):
        fail("router console: the console reads SQLite journals: give --journal FILE", USAGE)
    page = Console(journal or [Path(settings.journal)])

    async def main() -> None:
        try:
            server = await page.serve(host, port)
        except OSError as exc:
            fail(f"router console: cannot serve on {host}:{port}: {exc.strerror}")
        bound = server.sockets[0].getsockname()[1]
        typer.echo(f"console: http://{host}:{bound}/ (Ctrl-C to stop)")
        async with server:
            await reconnecting(
                lambda: MqttBus(address),
                page.follow,
                reconnect_max=settings.reconnect_max,
                on_connected=lambda: typer.echo(f"console: reading the router at {address}", err=True),
                on_lost=lambda reason, delay: say_lost("console", reason, delay),
            )

    run_client("console", main())
