"""The private broker when Mosquitto is not installed: amqtt in this process, held to the same users and ACL.

amqtt's own plugins do not fit (its password file wants Argon2 or bcrypt; its ACL plugin reads no
receive list through its typed config), so two small plugins of ours check the same `Users` as
Mosquitto's files: a login is a user and its password (PBKDF2, as Mosquitto keeps them); a publish
needs a write grant; a subscription needs a read grant covering its whole filter (amqtt hands a new
subscription the retained messages without asking again), and each delivery a read grant.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin

from router.bus.address import BrokerAddress
from router.bus.broker import claim_port
from router.bus.security import verify
from router.bus.topics import topic_matches

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from amqtt.session import Session

    from router.bus.security import Users
    from router.bus.tls import TlsFiles

READS = {"read", "readwrite"}
WRITES = {"write", "readwrite"}


class PasswordCheck(BaseAuthPlugin):  # type: ignore[misc]  # amqtt is untyped
    """A client gets in with a user name and that user's password; nobody gets in without."""

    @dataclass
    class Config:
        """Each user's password hash, as in Mosquitto's password file."""

        hashes: dict[str, str] = field(default_factory=dict)

    async def authenticate(self, *, session: Session) -> bool:
        """Whether the session's user name and password are one of ours."""
        stored = self.context.config.hashes.get(session.username or "")
        return stored is not None and verify(session.password or "", stored)


class GrantCheck(BaseTopicPlugin):  # type: ignore[misc]
    """A client publishes where it may write, and subscribes to and receives what it may read."""

    @dataclass
    class Config:
        """Each user's grants: ``[access, topic filter]`` pairs."""

        grants: dict[str, list[list[str]]] = field(default_factory=dict)

    async def topic_filtering(
        self, *, session: Session | None = None, topic: str | None = None, action: Action | None = None
    ) -> bool:
        """Whether the session's user may do ``action`` on ``topic`` (for a subscription: a filter)."""
        grants = self.context.config.grants.get(session.username if session else "", [])
        if topic is None:
            return False
        wanted = WRITES if action == Action.PUBLISH else READS
        # A subscription's filter read as a topic: a grant covers it when it matches every level.
        return any(access in wanted and topic_matches(granted, topic) for access, granted in grants)


def config(port: int, users: Users, tls: TlsFiles | None = None) -> dict[str, Any]:
    """The amqtt configuration: a listener on 127.0.0.1:``port`` (TLS with ``tls``), ``users`` checked."""
    listener: dict[str, Any] = {"type": "tcp", "bind": f"127.0.0.1:{port}"}
    if tls is not None:
        listener |= {"ssl": True, "certfile": str(tls.certfile), "keyfile": str(tls.keyfile)}
    return {
        "listeners": {"default": listener},
        "plugins": {
            f"{__name__}.PasswordCheck": {"hashes": users.hashes()},
            f"{__name__}.GrantCheck": {
                "grants": {user: [list(grant) for grant in grants] for user, grants in users.grants.items()}
            },
        },
    }


@asynccontextmanager
async def amqtt_broker(
    port: int, users: Users, *, tls: TlsFiles | None = None
) -> AsyncIterator[BrokerAddress]:
    """The amqtt broker on 127.0.0.1:``port`` while the block runs; ``BrokerError`` if the port is taken."""
    claim_port(port)
    broker = Broker(config(port, users, tls))
    await broker.start()
    try:
        yield BrokerAddress("127.0.0.1", port, tls=tls is not None, cafile=tls.cafile if tls else None)
    finally:
        await broker.shutdown()
