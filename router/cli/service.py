"""The service and its clients: `router run`, `router post`, `router watch`, `router config`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from router.bus import topics
from router.bus.address import without_password
from router.cli.common import (
    USAGE,
    BrokerOption,
    CaFile,
    CertFile,
    KeyFile,
    PasswordFile,
    RunBrokerOption,
    TimeScale,
    Username,
    broker_or_exit,
    fail,
    login_flags,
    run_client,
    run_fast,
    say_lost,
    settings_or_exit,
    until_signalled,
)
from router.errors import RouterError
from router.settings import Settings, config_file_said, for_centre, given_flags, sources

NetworkPath = Annotated[
    Path | None,
    typer.Option(
        "--network", help="The network of centres (TOML); default config/network.toml.", show_default=False
    ),
]
MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve Prometheus metrics on http://127.0.0.1:N/metrics. \\[env var: ROUTER_METRICS_PORT]",
        show_default=False,
    ),
]


WaitForLease = Annotated[
    float | None,
    typer.Option(
        "--wait-for-lease",
        min=0,
        metavar="SECONDS",
        help="Another router holds the journal's lease: wait this long for it to end (a standby), "
        "instead of refusing at once. \\[env var: ROUTER_JOURNAL_LEASE_WAIT]",
        show_default=False,
    ),
]
"""`router run --wait-for-lease`: how long a standby waits for the journal's holder to go."""


ClockOrigin = Annotated[
    float | None,
    typer.Option(
        "--clock-origin",
        metavar="UNIX_TIME",
        help="The host's time at which the network's clock read the same, running --time-scale "
        "times faster since: the centres of one network given the same keep one network time "
        "(unset: the start). \\[env var: ROUTER_CLOCK_ORIGIN]",
        show_default=False,
    ),
]
"""`router run --clock-origin`: where the network's clock starts (`router.network.clock.ScaledClock`)."""


def run(  # noqa: PLR0913 (the service's options, and how it logs in to a broker of its own)
    *,
    broker: RunBrokerOption = None,
    routing: Annotated[
        Path | None, typer.Option("--routing", help="Routing table (TOML).", show_default=False)
    ] = None,
    journal: Annotated[
        str | None,
        typer.Option(
            "--journal", help="The journal: an SQLite file, or a postgresql:// URL.", show_default=False
        ),
    ] = None,
    time_scale: TimeScale = None,
    clock_origin: ClockOrigin = None,
    wait_for_lease: WaitForLease = None,
    tls: Annotated[
        bool | None,
        typer.Option(
            "--tls/--no-tls",
            help="The private broker speaks TLS only (mqtts://), with a CA of its own. "
            "\\[env var: ROUTER_EMBEDDED_TLS]",
            show_default=False,
        ),
    ] = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
    centre: Annotated[
        str | None,
        typer.Option(
            "--centre",
            help="Run as this switching centre of the network (one process a centre, on a shared "
            "--broker); its journal router-NAME.sqlite unless --journal. \\[env var: ROUTER_CENTRE]",
            show_default=False,
        ),
    ] = None,
    network: NetworkPath = None,
    metrics_port: MetricsPort = None,
) -> None:
    """Run the routing service until SIGINT or SIGTERM (then stop intake, persist, exit 0).

    Without --broker it starts a private broker: its users' passwords (the router, a publisher, an
    observer, an operator, each post, each centre) are made in its credentials folder, where the
    other commands find them. With --centre it is that centre of a network (its cables on
    centres/NAME/in/#, its trunks on trunks/...), logged in as centre-NAME, and needs --broker:
    the centres share one.
    """
    from router.journal.lease import JournalLeaseError  # noqa: PLC0415
    from router.log import configure_logging  # noqa: PLC0415
    from router.switch.serve import serve  # noqa: PLC0415 (the service's imports are not needed by check)

    login = login_flags(broker, username, password_file, cafile, certfile, keyfile)
    settings = for_centre(
        settings_or_exit(
            routing=routing,
            journal=journal,
            journal_lease_wait=wait_for_lease,
            time_scale=time_scale,
            clock_origin=clock_origin,
            embedded_tls=tls,
            centre=centre,
            network=network,
            metrics_port=metrics_port,
            **login,
        )
    )
    if settings.centre is not None and not settings.broker:
        fail("router run: --centre needs --broker: the centres of a network share one broker", USAGE)
    settings, user = _as_whom(settings)
    broker_or_exit(user, login)  # a bad address or password file: one line, before anything starts
    configure_logging(settings.log_file)
    try:
        run_fast(until_signalled(lambda stop: serve(settings, stop)))
    except JournalLeaseError as exc:  # not a usage error: another router is doing the work
        fail(f"router run: {exc}")
    except RouterError as exc:
        fail(f"router: {exc}", USAGE)


def _as_whom(settings: Settings) -> tuple[Settings, str]:
    """The service's settings and its user: the router, or a centre's own (``centre-NAME``).

    A centre logs in as its own user, its password in the credentials folder as a post's is,
    unless --username, the URL or the settings name another.
    """
    from router.bus.security import ROUTER, centre_user  # noqa: PLC0415

    if settings.centre is None:
        return settings, ROUTER
    user = centre_user(settings.centre)
    if settings.username is None:
        settings = settings.model_copy(update={"username": user})
    return settings, user


def config(  # noqa: PLR0913 (the connection options, to see what they make)
    *,
    broker: BrokerOption = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """Print the effective settings and where each comes from (file, ROUTER_* variable, flag, default).

    A password is never printed: ``password = **********``.
    """
    flags = given_flags(login_flags(broker, username, password_file, cafile, certfile, keyfile))
    settings = settings_or_exit(**flags)
    origin = sources(flags)
    typer.echo(f"# {config_file_said()}")
    for name, value in settings.model_dump().items():
        # A SecretStr shows ***; a broker's or a PostgreSQL journal's URL stars its password.
        shown = without_password(value) if name in {"broker", "journal"} and isinstance(value, str) else value
        typer.echo(f"{name} = {shown!s}  # {origin[name]}")


def post(  # noqa: PLR0913 (the post, where and as whom)
    ri: Annotated[str, typer.Argument(help="The post's routing indicator, e.g. RUEHFR.", show_default=False)],
    *,
    broker: BrokerOption = None,
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """A simulated addressee post: check each copy's serial, report gaps, file duplicates, receipt.

    It logs in as post-RI unless told otherwise (--username), and may read only its own copies.

    Its session is persistent (client id post-RI): copies sent while it is away wait at the broker.
    When the broker goes away it says so and connects again, with backoff, until Ctrl-C.
    """
    from router.bus.mqtt import reconnecting  # noqa: PLC0415
    from router.bus.security import post_user  # noqa: PLC0415
    from router.cli.render import reading_line  # noqa: PLC0415
    from router.routing.table import is_routing_indicator  # noqa: PLC0415
    from router.sim.post import PostStation, post_connection, serve_post  # noqa: PLC0415

    if not is_routing_indicator(ri):
        fail(f"router post: {ri!r} is not a routing indicator (4 to 7 capital letters)", USAGE)
    settings = settings_or_exit(broker=broker)
    address = broker_or_exit(
        post_user(ri), login_flags(broker, username, password_file, cafile, certfile, keyfile)
    )
    station = PostStation(ri)  # one for the whole run: its serials carry on across reconnections

    async def main() -> None:
        await reconnecting(
            lambda: post_connection(address, ri, session_expiry=settings.session_expiry),
            lambda bus: serve_post(bus, station, lambda reading: typer.echo(reading_line(reading))),
            reconnect_max=settings.reconnect_max,
            on_connected=lambda: typer.echo(f"post {ri} listening on {topics.copies(ri)}"),
            on_lost=lambda reason, delay: say_lost(f"post {ri}", reason, delay),
        )

    run_client("post", main())


def watch(  # noqa: PLR0913 (the view's size, where and as whom)
    *,
    broker: BrokerOption = None,
    lines: Annotated[int, typer.Option(min=1, max=200)] = 15,
    centre: Annotated[
        str | None,
        typer.Option(help="One centre of a network: its status and its own log entries.", show_default=False),
    ] = None,
    post: Annotated[
        str, typer.Option("--post", help="Only the lines whose RI starts with this (RUEH: State's posts).")
    ] = "",
    state: Annotated[
        str, typer.Option("--state", help="Only the lines down, sending, waiting or in-flight.")
    ] = "",
    username: Username = None,
    password_file: PasswordFile = None,
    cafile: CaFile = None,
    certfile: CertFile = None,
    keyfile: KeyFile = None,
) -> None:
    """A live view of the routing log and the queue depths (router/log and router/status), as the observer.

    Lines with work come first, as many as the terminal has room for beside the log; the rest are
    summed in one row. A router whose status stops coming is shown stale, one gone (its Last Will)
    offline. When the broker goes away it says so and connects again, with backoff, until Ctrl-C.
    """
    from router.bus.mqtt import MqttBus, reconnecting  # noqa: PLC0415
    from router.bus.security import OBSERVER  # noqa: PLC0415
    from router.readout.watch import STATES, Only, follow, live_view  # noqa: PLC0415

    if state and state not in STATES:
        fail(f"router watch: --state is one of {', '.join(STATES)}, not {state!r}", USAGE)
    only = Only(post.upper(), state)
    settings = settings_or_exit(broker=broker)
    address = broker_or_exit(
        OBSERVER, login_flags(broker, username, password_file, cafile, certfile, keyfile)
    )

    async def main() -> None:
        with live_view(lines, status_every=settings.status_every, only=only) as show:
            await reconnecting(
                lambda: MqttBus(address),
                lambda bus: follow(bus, show, centre),
                reconnect_max=settings.reconnect_max,
                on_connected=lambda: typer.echo(f"watch: connected to {address}", err=True),
                on_lost=lambda reason, delay: say_lost("watch", reason, delay),
            )

    run_client("watch", main())
