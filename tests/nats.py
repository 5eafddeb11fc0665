"""A private three-node NATS cluster speaking MQTT, for the tests: free ports, own config and data.

Like the Mosquitto fixture (tests/conftest.py) it never uses a broker already running: each node
gets free loopback ports (NATS, routes, MQTT, monitoring), its own config and JetStream folder
under the test's temporary folder, and the project's users and grants (`router.bus.nats`).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

from router.bus.address import BrokerAddress
from router.bus.broker import _dies_with_us, free_port
from router.bus.flow import fixed_header
from router.bus.nats import NodePorts, node_config
from router.bus.security import OWNER, OWNER_GRANTS, Keyring, Users, grants_for, write_private
from router.errors import BrokerError

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from router.routing.network import Network

CLUSTER = "router-bus"
START_ATTEMPTS = 3
"""Starts of the cluster at most when a node's port was taken meanwhile (`NatsCluster.start`)."""
READY_WITHIN = 30.0
"""Seconds the cluster may take to elect its JetStream meta leader and open its MQTT ports."""


def _meta_cluster(node: Node) -> dict[str, Any]:
    """What ``node`` says of JetStream's meta group (its leader; the leader lists its peers), or {}."""
    try:
        url = f"http://127.0.0.1:{node.ports.monitor}/jsz"
        with urllib.request.urlopen(url, timeout=1) as answer:
            meta = json.load(answer).get("meta_cluster", {})
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _connect_packet(client_id: str, user: str, password: str) -> bytes:
    """An MQTT 3.1.1 CONNECT (§3.1): clean session, a login, keep-alive 60 s."""

    def field(text: str) -> bytes:
        data = text.encode()
        return len(data).to_bytes(2, "big") + data

    # Protocol name and level 4 (3.1.1); flags: user name, password, clean session.
    body = (
        field("MQTT")
        + b"\x04\xc2"
        + (60).to_bytes(2, "big")
        + field(client_id)
        + field(user)
        + field(password)
    )
    return fixed_header(0x10, len(body)) + body


def nats_binary() -> str | None:
    """The nats-server executable on PATH or in /usr/sbin (Debian installs it there)."""
    return shutil.which("nats-server") or shutil.which("nats-server", path="/usr/sbin:/usr/local/sbin")


@dataclass
class Node:
    """One node: its name, ports, folder and, while it runs, its process."""

    name: str
    ports: NodePorts
    folder: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        """Whether its process runs."""
        return self.process is not None and self.process.poll() is None


class NatsCluster:
    """Three (or ``size``) NATS nodes routed to each other: ``with NatsCluster(folder) as cluster``.

    Its users: `OWNER`, who may do anything (as on `Mosquitto` without roles), and the project's
    roles and ``posts`` (`router.bus.security.grants_for`), each with only its own topics.
    """

    def __init__(
        self,
        folder: Path,
        *,
        size: int = 3,
        posts: Iterable[str] = (),
        ack_wait: str | None = None,
        network: Network | None = None,
    ) -> None:
        """``network``: also a user for each of its centres (``centre-NAME``), its grants its own."""
        self.folder = folder
        self.ack_wait = ack_wait
        """NATS's wait for a PUBACK before it sends a QoS 1 message again (`node_config`)."""
        grants = OWNER_GRANTS | grants_for(posts, network)
        self.users = Users(Keyring(folder / "credentials").ensure(grants), grants)
        self.nodes = [
            Node(
                f"n{index + 1}",
                NodePorts(free_port(), free_port(), free_port(), free_port()),
                folder / f"n{index + 1}",
            )
            for index in range(size)
        ]

    def password_file(self, user: str) -> Path:
        """The file holding ``user``'s password (``--password-file``)."""
        return Keyring(self.folder / "credentials").path(user)

    def url(self, *indexes: int, user: str | None = OWNER) -> str:
        """The comma list of the nodes' MQTT URLs (all, or those at ``indexes``), logged in as ``user``.

        ``user`` None: no login in the URLs (given apart: ``--username``, ``--password-file``).
        """
        login = f"{user}:{self.users.passwords[user]}@" if user else ""
        chosen = indexes or tuple(range(len(self.nodes)))
        return ",".join(f"mqtt://{login}127.0.0.1:{self.nodes[index].ports.mqtt}" for index in chosen)

    def address(self, *indexes: int, user: str = OWNER) -> BrokerAddress:
        """How ``user`` connects to the nodes at ``indexes`` (all by default), in that order."""
        return BrokerAddress.parse(self.url(*indexes, user=user))

    def start(self) -> None:
        """Write each node's config and start it; return once JetStream has a leader and MQTT listens.

        A free port found for a node may be taken by another process before the node binds it (the
        machine's other tests start brokers too): a node that exits saying so is started again,
        with the whole cluster on new ports, at most `START_ATTEMPTS` times.
        """
        binary = nats_binary()
        if binary is None:
            raise BrokerError("nats-server is not installed (Debian package nats-server)")
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._start(binary)
            except BrokerError:
                taken = any(
                    "address already in use" in (node.folder / "nats.log").read_text(errors="replace")
                    for node in self.nodes
                    if (node.folder / "nats.log").exists()
                )
                self.stop()
                if not taken or attempt == START_ATTEMPTS:
                    raise
                for node in self.nodes:  # the same folders, fresh ports and a fresh start
                    shutil.rmtree(node.folder, ignore_errors=True)
                    node.ports = NodePorts(free_port(), free_port(), free_port(), free_port())
            else:
                return

    def _start(self, binary: str) -> None:
        for node in self.nodes:
            node.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            routes = [other.ports.cluster for other in self.nodes if other is not node]
            config = node_config(
                name=node.name,
                cluster=CLUSTER,
                ports=node.ports,
                routes=routes,
                store=node.folder / "jetstream",
                users=self.users,
                ack_wait=self.ack_wait,
            )
            write_private(node.folder / "nats.conf", config)  # passwords in it: owner only
        for node in self.nodes:
            self.start_node(node, binary)
        self.wait_ready()
        # NATS makes its MQTT streams (sessions, messages, retained) at the first MQTT connection,
        # on `stream_replicas` nodes: made now, while all are up, not by a test with one killed.
        for node in self.nodes:
            self._first_connection(node)

    def _first_connection(self, node: Node, within: float = READY_WITHIN) -> None:
        """An MQTT 3.1.1 CONNECT as `OWNER` to ``node`` until its CONNACK accepts (0), then DISCONNECT."""
        password = self.users.passwords[OWNER]
        deadline = time.monotonic() + within
        while True:
            try:
                with socket.create_connection(("127.0.0.1", node.ports.mqtt), timeout=within) as sock:
                    sock.sendall(_connect_packet(f"ready-{node.name}", OWNER, password))
                    connack = sock.recv(4)
                    sock.sendall(b"\xe0\x00")  # DISCONNECT
            except OSError:
                connack = b""
            if connack[:2] == b"\x20\x02" and connack[3:] == b"\x00":
                return
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"nats-server {node.name} took no MQTT connection within {within:g} s")
            time.sleep(0.2)  # the streams still being made: NATS closes the connection meanwhile

    def start_node(self, node: Node, binary: str | None = None) -> None:
        """Start ``node`` (again), its log in its folder."""
        with (node.folder / "nats.log").open("ab") as log:
            node.process = subprocess.Popen(  # noqa: S603 (our own binary and config)
                [binary or nats_binary() or "nats-server", "-c", str(node.folder / "nats.conf")],
                stdout=log,
                stderr=log,
                preexec_fn=_dies_with_us(),  # noqa: PLW1509 (no threads of ours run at start-up)
            )

    def wait_ready(self, within: float = READY_WITHIN) -> None:
        """Wait until the running nodes agree on a JetStream meta leader that sees all of them current.

        Only then are MQTT's streams made with all their replicas (see `node_config`).
        """
        deadline = time.monotonic() + within
        while not self._ready():
            for node in self.nodes:
                if node.process is not None and not node.running:
                    raise BrokerError(f"nats-server {node.name} exited: see {node.folder / 'nats.log'}")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"NATS cluster not ready within {within:g} s (see {self.folder})")
            time.sleep(0.1)  # processes we do not control: polling them is all there is

    def _ready(self) -> bool:
        running = [node for node in self.nodes if node.running]
        reports = {node.name: _meta_cluster(node) for node in running}
        leaders = {report.get("leader") for report in reports.values()}
        if len(leaders) != 1 or None in leaders:
            return False
        peers = reports.get(str(leaders.pop()), {}).get("replicas") or []
        current = [peer for peer in peers if peer.get("current")]
        return len(current) >= len(running) - 1

    def kill(self, index: int) -> None:
        """Kill node ``index`` at once (SIGKILL): a node lost, not stopped."""
        process = self.nodes[index].process
        if process is not None:
            process.kill()
            process.wait()
            self.nodes[index].process = None

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 5 s)."""
        for node in self.nodes:
            if node.process is not None:
                node.process.terminate()
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
            node.process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
