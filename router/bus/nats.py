"""A NATS server's config for a node of an MQTT cluster: its listeners, JetStream, routes and users.

NATS (2.9) speaks MQTT 3.1.1 beside its own protocol, each MQTT topic a NATS subject: ``/`` is
``.``, ``+`` is ``*``, ``#`` is ``>``. Its users and permissions are NATS's, on subjects: the
grants of `router.bus.security` (Mosquitto's ACL) are written here as the same rights on the same
topics, so that nobody reads or writes a topic that is not theirs on NATS either.

Pure: text in, text out. Starting the servers is the caller's (tests/nats.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from router.bus.security import Grant, Users

MQTT_DELIVERIES = "$MQTT.sub.>"
"""Where NATS delivers a QoS 1 subscription's messages (a JetStream durable's delivery subject):
an MQTT user with any permissions needs to subscribe to it, or receives nothing at QoS 1."""
READS = {"read", "readwrite"}
WRITES = {"write", "readwrite"}


def subject(topic_filter: str) -> str:
    """The NATS subject of an MQTT topic or filter: ``cables/out/+`` is ``cables.out.*``.

    The project's topics have no empty level and no ``.``: NATS's escapes for those (``/.``,
    ``//``) are not needed here.
    """
    return ".".join({"+": "*", "#": ">"}.get(level, level) for level in topic_filter.split("/"))


def subjects(topic_filter: str) -> list[str]:
    """The subjects a right on ``topic_filter`` needs: ``a/#`` is ``a.>`` and ``a`` itself.

    MQTT's ``a/#`` matches ``a`` too, NATS's ``a.>`` does not: NATS subscribes an MQTT ``a/#`` to
    both, and a right on ``a/#`` is a right on both.
    """
    if topic_filter.endswith("/#"):
        return [subject(topic_filter), subject(topic_filter.removesuffix("/#"))]
    return [subject(topic_filter)]


def permissions(grants: Sequence[Grant]) -> dict[str, list[str]]:
    """A user's NATS permissions from its grants: what it may publish to, and subscribe to."""
    publish = [name for access, topic in grants if access in WRITES for name in subjects(topic)]
    subscribe = [name for access, topic in grants if access in READS for name in subjects(topic)]
    return {"publish": publish, "subscribe": [*subscribe, MQTT_DELIVERIES]}


def authorization(users: Users) -> str:
    """The ``authorization`` block: each user, its password, its permissions; MQTT connections only.

    NATS takes a password in clear or as a bcrypt hash; the standard library has no bcrypt, so the
    password is in clear and the config file is its owner's only (0600, like Mosquitto's).
    """
    entries = [
        {
            "user": user,
            "password": users.passwords[user],
            "permissions": permissions(grants),
            "allowed_connection_types": ["MQTT"],
        }
        for user, grants in sorted(users.grants.items())
    ]
    # NATS's config reads JSON values: each entry written as JSON is valid there.
    return "authorization {\n  users: " + json.dumps(entries, indent=2) + "\n}\n"


@dataclass(frozen=True, slots=True)
class NodePorts:
    """The loopback ports one node listens on."""

    client: int
    """NATS's own protocol: nobody logs in there (every user is MQTT only)."""
    cluster: int
    """The routes between the nodes."""
    mqtt: int
    monitor: int
    """HTTP monitoring: ``/jsz`` says whether JetStream has a meta leader."""


def node_config(  # noqa: PLR0913 (keyword-only: one node's parts)
    *,
    name: str,
    cluster: str,
    ports: NodePorts,
    routes: Sequence[int],
    store: Path,
    users: Users,
    replicas: int = 3,
    ack_wait: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """One node's config: ``server_name`` (MQTT needs it), JetStream in ``store``, routes to ``routes``.

    ``replicas``: how many nodes hold each MQTT stream (sessions, QoS 1 messages, retained ones).
    Left to itself NATS 2.9 picks it from the nodes it knows when the first MQTT client comes
    (2 seen here, in a cluster of three still forming): a stream on two nodes has no majority
    when either goes, so a node lost would take the sessions with it. Three of three survive one.

    ``ack_wait``: how long NATS waits for a QoS 1 message's PUBACK before it sends the message
    again on the same connection (``"30s"``, its default, when None); Mosquitto sends again only
    on a new connection. ``extra``: further top-level settings (``name: value``), as NATS spells them.
    """
    return _config(
        name=name,
        cluster=cluster,
        host="127.0.0.1",
        ports=ports,
        routes=[f"nats-route://127.0.0.1:{port}" for port in routes],
        store=str(store),
        users=users,
        mqtt_extra=f", stream_replicas: {replicas}"
        + (f", ack_wait: {json.dumps(ack_wait)}" if ack_wait else ""),
        extra=extra,
    )


MAX_ACK_PENDING = 16
"""QoS 1 messages NATS sends a subscription before its PUBACKs (1,024 by its default). A session's
subscriptions may not have more than 65,535 together, the MQTT packet ids (NATS refuses the next
with 0x80, and a filter ending in # counts twice): at 1,024, 64 subscriptions. A centre logged in
as itself subscribes to each of its posts' four topics (DETRICK of the committed network: 826
posts), which 16 allows (4,095); the switch takes its intake in bursts of that order anyway."""
COMPOSE_PORTS = NodePorts(client=4222, cluster=6222, mqtt=1883, monitor=8222)
"""A node's ports in its own container: NATS's defaults, MQTT on 1883."""


def compose_node_config(name: str, peers: Sequence[str], users: Users) -> str:
    """One node of the compose cluster profile (`docker/compose.yaml`): ``name`` routes to ``peers``.

    Each node in a container of its own, reached by its service name; JetStream in ``/data``, each
    MQTT stream on every node (a stream on all three survives the loss of one).
    """
    return _config(
        name=name,
        cluster="router",
        host="0.0.0.0",  # noqa: S104 (its container's interfaces: compose's network, not the host's)
        ports=COMPOSE_PORTS,
        routes=[f"nats-route://{peer}:{COMPOSE_PORTS.cluster}" for peer in peers],
        store="/data/jetstream",
        users=users,
        mqtt_extra=f", stream_replicas: {len(peers) + 1}",
    )


def _config(  # noqa: PLR0913 (keyword-only: one node's parts)
    *,
    name: str,
    cluster: str,
    host: str,
    ports: NodePorts,
    routes: Sequence[str],
    store: str,
    users: Users,
    mqtt_extra: str,
    extra: Mapping[str, str] | None = None,
) -> str:
    route_urls = ", ".join(json.dumps(url) for url in routes)
    lines = [
        "# Written by router.bus.nats for a NATS node of the router's; not for editing.",
        f"server_name: {json.dumps(name)}",
        f"listen: {host}:{ports.client}",
        f"http: {host}:{ports.monitor}",
        f"jetstream {{ store_dir: {json.dumps(store)} }}",
        f"cluster {{ name: {json.dumps(cluster)}, listen: {host}:{ports.cluster},",
        f"  routes: [{route_urls}] }}",
        f"mqtt {{ listen: {host}:{ports.mqtt}, max_ack_pending: {MAX_ACK_PENDING}{mqtt_extra} }}",
        *(f"{key}: {value}" for key, value in (extra or {}).items()),
        authorization(users),
    ]
    return "\n".join(lines)
