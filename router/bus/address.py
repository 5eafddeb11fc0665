"""Where a broker is and how to log in to it: ``mqtt[s]://[user[:password]@]host[:port]``, files for TLS.

A clustered broker has several nodes: a comma list of URLs (``mqtt://a:1883,mqtt://b:1883``) is
one address whose `Cluster` the adapter tries in order, and moves along when a node goes.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Self
from urllib.parse import unquote, urlsplit

from router.errors import BusError

PORTS = {"mqtt": 1883, "mqtts": 8883}
"""The registered ports, when a URL leaves its port out."""


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """A broker's host and port, whether it speaks TLS, and the login and files a client presents.

    Neither the login nor the files are part of what is printed (`__str__`); the password is not
    in its ``repr`` either.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: Path | None = None
    """The CA that signed the broker's certificate; none: the system's trusted CAs."""
    certfile: Path | None = None
    """A client certificate to present (with ``keyfile``), for a broker that asks for one."""
    keyfile: Path | None = None
    cluster: Cluster | None = field(default=None, compare=False, repr=False)
    """The nodes of a clustered broker, this one first; None: a single broker."""

    @classmethod
    def parse(cls, url: str) -> Self:
        """Read ``mqtt[s]://[user[:password]@]host[:port]``, or a comma list of them; ``BusError`` else.

        In a list every node logs in as the first one does: a later URL may leave its login out,
        and may not give another.
        """
        urls = [part.strip() for part in url.split(",")]
        if len(urls) == 1:
            return cls._parse_one(url)
        if not all(urls):
            raise BusError(f"broker addresses {without_password(url)!r}: an empty address in the list")
        first, *others = (cls._parse_one(part) for part in urls)
        for other in others:
            if other.username is not None and (other.username, other.password) != (
                first.username,
                first.password,
            ):
                raise BusError(
                    f"broker addresses {without_password(url)!r}: every node logs in as the first "
                    "(leave the login out of the others)"
                )
        nodes = tuple(Node(address.host, address.port, address.tls) for address in (first, *others))
        return replace(first, cluster=Cluster(nodes))

    @classmethod
    def _parse_one(cls, url: str) -> Self:
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        if parts.scheme not in PORTS or not parts.hostname:
            raise BusError(
                f"broker address {without_password(url)!r} is not mqtt://host:port or mqtts://host:port"
            )
        try:
            port = parts.port or PORTS[parts.scheme]
        except ValueError:
            raise BusError(f"broker address {without_password(url)!r} has no valid port") from None
        return cls(
            parts.hostname,
            port,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def logged_in(self, username: str | None, password: str | None) -> Self:
        """The same broker with this login."""
        return replace(self, username=username, password=password)

    def with_files(self, cafile: Path | None, certfile: Path | None, keyfile: Path | None) -> Self:
        """The same broker with these TLS files (a client certificate needs its key)."""
        return replace(self, cafile=cafile, certfile=certfile, keyfile=keyfile)

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every node of the broker, in the order given: this one alone if it is not a cluster."""
        return self.cluster.nodes if self.cluster else (Node(self.host, self.port, self.tls),)

    def at(self, node: Node) -> Self:
        """The address of one ``node`` of this broker, with the same login and files; no cluster."""
        return replace(self, host=node.host, port=node.port, tls=node.tls, cluster=None)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of a connection to this broker (None without TLS); ``BusError`` for a bad file.

        The broker's certificate must be signed by ``cafile`` (else a CA the system trusts) and name
        the host connected to: no option turns the check off.
        """
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.cafile)
            if self.certfile is not None:
                context.load_cert_chain(self.certfile, self.keyfile)
                # Under TLS 1.3 a broker refuses a client's certificate after the client's handshake
                # is over: the refusal would look like a lost connection. Under 1.2 it is a refusal.
                context.maximum_version = ssl.TLSVersion.TLSv1_2
        except FileNotFoundError as exc:
            raise BusError(f"TLS file {exc.filename}: not found") from None
        except (ssl.SSLError, OSError) as exc:
            which = "cafile" if self.certfile is None else "cafile, certfile or keyfile"
            raise BusError(f"TLS files ({which}) cannot be used: {exc}") from None
        return context

    def __str__(self) -> str:
        return ",".join(str(node) for node in self.nodes)


@dataclass(frozen=True, slots=True)
class Node:
    """One node of a broker: where it listens, and whether with TLS."""

    host: str
    port: int
    tls: bool = False

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class Cluster:
    """The nodes of a clustered broker, and which to try first: learnt from the connections made.

    Shared by every copy of the address (`BrokerAddress.logged_in` keeps it), so the reconnections
    of one client start where its last connection ended: after the node it lost, not at the first.
    """

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self.nodes = nodes
        self.first = 0
        """The node the next round of attempts starts with."""
        self.current: int | None = None
        """The node of the connection made last; None before the first."""

    def order(self) -> list[int]:
        """One round of attempts: every node once, from `first` on, round the list."""
        count = len(self.nodes)
        return [(self.first + step) % count for step in range(count)]

    def connected(self, index: int) -> int | None:
        """A connection is made to node ``index``: the next round starts there. The node before, if any."""
        before, self.current, self.first = self.current, index, index
        return before

    def lost(self, index: int) -> None:
        """The connection to node ``index`` was lost: the next round starts with the node after it."""
        if self.first == index:
            self.first = (index + 1) % len(self.nodes)


def without_password(url: str) -> str:
    """``url`` (each URL of a comma list) with any password as ``***``: a message is no place for one."""
    if "," in url:
        return ",".join(without_password(part) for part in url.split(","))
    schemed = "://" in url
    parts = urlsplit(url if schemed else f"mqtt://{url}")
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    hidden = parts._replace(netloc=netloc).geturl()
    return hidden if schemed else hidden.removeprefix("mqtt://")
