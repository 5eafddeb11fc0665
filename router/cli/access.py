"""Who may use the broker: `router credentials` writes the users, their passwords and the broker's files."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from router.cli.common import USAGE, RoutingPath, fail, settings_or_exit, table_or_exit
from router.errors import RouterError, TableError

if TYPE_CHECKING:
    from router.bus.security import Keyring, Users


ClusterFiles = Annotated[
    bool,
    typer.Option(
        "--cluster",
        help="Also the files of docker/compose.yaml's cluster profile: three NATS nodes' configs "
        "(nats-1.conf...) and the journals' PostgreSQL password (postgres.password, pgpass).",
    ),
]


def credentials(  # noqa: PLR0913 (the folder, who, the network, and the TLS files to make)
    *,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder to write (made 0700). Default: the private broker's credentials folder.",
            show_default=False,
        ),
    ] = None,
    routing: RoutingPath = None,
    posts: Annotated[
        list[str] | None,
        typer.Option(
            "--post", help="A post to make a user for (repeat); default: every post of the routing table."
        ),
    ] = None,
    tls: Annotated[
        bool, typer.Option("--tls", help="Also a CA (ca.crt) and the broker's certificate and key.")
    ] = False,
    hosts: Annotated[
        list[str] | None,
        typer.Option("--host", help="A name the broker is reached by (repeat), for its certificate."),
    ] = None,
    client_certificates: Annotated[
        list[str] | None,
        typer.Option(
            "--client-cert",
            help="A user to make a client certificate for (repeat): <user>.crt and <user>.key, same CA.",
        ),
    ] = None,
    network: Annotated[
        Path | None,
        typer.Option(
            "--network",
            help="The network of centres (TOML), a user for each centre; default config/network.toml.",
            show_default=False,
        ),
    ] = None,
    cluster: ClusterFiles = False,
) -> None:
    """Write the broker's users: each one's password file, Mosquitto's passwd and acl, TLS files if asked.

    Each role (router, publisher, observer, operator), each post (post-RI) and each switching centre
    of the network (centre-NAME) gets a password in <user>.password (0600); one already there is
    kept, so this adds posts. A Mosquitto of your own takes `passwd` and `acl`; each client is
    given its own password file (--password-file).
    """
    from router.bus.security import Keyring  # noqa: PLC0415
    from router.routing.network_description import load_network  # noqa: PLC0415
    from router.routing.table import is_routing_indicator  # noqa: PLC0415

    settings = settings_or_exit(routing=routing, credentials=out, network=network)
    if bad := [ri for ri in posts or [] if not is_routing_indicator(ri)]:
        fail(f"router credentials: not a routing indicator: {bad[0]!r}", USAGE)
    stations = posts or list(table_or_exit(settings.routing).posts)
    try:
        centres = load_network(settings.network)
    except TableError as exc:
        fail(f"network description: {exc}", USAGE)
    keyring = Keyring(out) if out is not None else settings.keyring
    tls = tls or bool(hosts) or bool(client_certificates)  # either asks for the CA and its certificates
    try:
        users = keyring.users(stations, centres)
        passwd, acl = users.write_broker_files(keyring.folder)
        made = _tls_files(keyring.folder, hosts or [], client_certificates or []) if tls else []
        made += _cluster_files(keyring, users) if cluster else []
    except (RouterError, OSError) as exc:
        fail(f"router credentials: {exc}")
    typer.echo(
        f"credentials in {keyring.folder}: {len(users.passwords)} users (router, publisher, observer, "
        f"operator, {len(stations)} post{'s' if len(stations) != 1 else ''}, "
        f"{len(centres.centres)} centre{'s' if len(centres.centres) != 1 else ''}), each in <user>.password"
    )
    typer.echo(f"broker: password_file {passwd}, acl_file {acl}")
    for line in made:
        typer.echo(line)


def _tls_files(folder: Path, hosts: list[str], clients: list[str]) -> list[str]:
    """The CA, the broker's certificate (for ``hosts`` too) and the clients' in ``folder``: what was made."""
    from router.bus.tls import broker_files, issue  # noqa: PLC0415 (cryptography only when asked)

    files = broker_files(folder, hosts=hosts)
    made = [f"TLS: cafile {files.cafile}, certfile {files.certfile}, keyfile {files.keyfile}"]
    for user in clients:
        client = issue(folder, user, server=False)
        made.append(f"client certificate: --certfile {client.certfile} --keyfile {client.keyfile}")
    return made


CLUSTER_NODES = ("nats-1", "nats-2", "nats-3")
"""The NATS nodes of docker/compose.yaml's cluster profile, by service name."""
JOURNALS_HOST = "postgres"
"""The PostgreSQL service of that profile, which keeps the centres' journals."""


def _cluster_files(keyring: Keyring, users: Users) -> list[str]:
    """Each NATS node's config (the users and their grants, as on Mosquitto), PostgreSQL's password."""
    from router.bus.nats import compose_node_config  # noqa: PLC0415
    from router.bus.security import write_private  # noqa: PLC0415

    for node in CLUSTER_NODES:
        peers = [peer for peer in CLUSTER_NODES if peer != node]
        write_private(keyring.folder / f"{node}.conf", compose_node_config(node, peers, users))
    password = keyring.ensure(["postgres"])["postgres"]
    # libpq's password file (PGPASSFILE): the centres' journal URLs carry no password.
    write_private(keyring.folder / "pgpass", f"{JOURNALS_HOST}:5432:*:router:{password}\n")
    nodes = ", ".join(f"{node}.conf" for node in CLUSTER_NODES)
    return [f"cluster: NATS nodes {nodes}; PostgreSQL postgres.password, pgpass"]
