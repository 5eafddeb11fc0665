"""A private three-node NATS cluster speaking MQTT, for the tests: free ports, own config and data.

Like the Mosquitto fixture (tests/conftest.py) it never uses a broker already running: each node
gets free loopback ports (NATS, routes, MQTT, monitoring), its own config and JetStream folder
under the test's temporary folder, and the project's users and grants (`router.bus.nats`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

from router.bus.address import BrokerAddress
from router.bus.broker import _dies_with_us, free_port
from router.bus.nats import NodePorts, node_config
from router.bus.security import OWNER, OWNER_GRANTS, Keyring, Users, write_private
from router.errors import BrokerError

if TYPE_CHECKING:
    from pathlib import Path

CLUSTER = "router-bus"
READY_WITHIN = 30.0
"""Seconds the cluster may take to elect its JetStream meta leader and open its MQTT ports."""


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

    Without ``users`` the only user is `OWNER`, who may do anything (as with `Mosquitto`).
    """

    def __init__(self, folder: Path, *, size: int = 3, users: Users | None = None) -> None:
        self.folder = folder
        self.users = users or Users(Keyring(folder / "credentials").ensure([OWNER]), OWNER_GRANTS)
        self.nodes = [
            Node(
                f"n{index + 1}",
                NodePorts(free_port(), free_port(), free_port(), free_port()),
                folder / f"n{index + 1}",
            )
            for index in range(size)
        ]

    def url(self, *indexes: int, user: str = OWNER) -> str:
        """The comma list of the nodes' MQTT URLs (all, or those at ``indexes``), logged in as ``user``."""
        login = f"{user}:{self.users.passwords[user]}@"
        chosen = indexes or tuple(range(len(self.nodes)))
        return ",".join(f"mqtt://{login}127.0.0.1:{self.nodes[index].ports.mqtt}" for index in chosen)

    def address(self, *indexes: int, user: str = OWNER) -> BrokerAddress:
        """How ``user`` connects to the nodes at ``indexes`` (all by default), in that order."""
        return BrokerAddress.parse(self.url(*indexes, user=user))

    def start(self) -> None:
        """Write each node's config and start it; return once JetStream has a leader and MQTT listens."""
        binary = nats_binary()
        if binary is None:
            raise BrokerError("nats-server is not installed (Debian package nats-server)")
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
            )
            write_private(node.folder / "nats.conf", config)  # passwords in it: owner only
        for node in self.nodes:
            self.start_node(node, binary)
        self.wait_ready()

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
        """Wait until every running node reports a JetStream meta leader and takes MQTT connections."""
        deadline = time.monotonic() + within
        for node in self.nodes:
            if node.process is None:
                continue
            while not self._ready(node):
                if not node.running:
                    raise BrokerError(f"nats-server {node.name} exited: see {node.folder / 'nats.log'}")
                if time.monotonic() > deadline:
                    self.stop()
                    raise BrokerError(f"NATS cluster not ready within {within:g} s (see {self.folder})")
                time.sleep(0.1)  # processes we do not control: polling them is all there is

    def _ready(self, node: Node) -> bool:
        try:
            url = f"http://127.0.0.1:{node.ports.monitor}/jsz"
            with urllib.request.urlopen(url, timeout=1) as answer:
                report = json.load(answer)
        except (OSError, ValueError):
            return False
        return bool(report.get("meta_cluster", {}).get("leader"))

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
