"""A private Mosquitto: generated config, free port, started and stopped by the router or its tests."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Self

from router.errors import BrokerError

# Mosquitto's defaults drop messages silently (max_queued_messages 1000 per client): a switch
# must not lose traffic at the broker, so every config the project writes says what it needs.
CONFIG = """\
# Written by router.bus.broker for a private Mosquitto; not for editing.
listener {port} 127.0.0.1
user {user}
allow_anonymous true
persistence {persistence}
persistence_location {directory}/
max_queued_messages 0
max_queued_bytes 0
max_inflight_messages 256
max_keepalive 3600
set_tcp_nodelay true
persistent_client_expiration 1d
log_dest file {directory}/mosquitto.log
log_type error
log_type warning
log_type notice
"""


def mosquitto_binary() -> str | None:
    """The mosquitto executable on PATH or in /usr/sbin (Debian installs it there)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """A Mosquitto process of our own on a free loopback port: ``with Mosquitto(dir) as broker``."""

    def __init__(self, directory: Path, *, port: int | None = None, persistence: bool = False) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.persistence = persistence
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker's address, ``mqtt://127.0.0.1:PORT``."""
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (what a benchmark reads its CPU time by)."""
        return self._process.pid if self._process is not None else None

    def start(self, *, within: float = 10.0) -> None:
        """Write the config, start the broker, and return once it accepts connections."""
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerError("mosquitto is not installed (Debian package mosquitto)")
        self.directory.mkdir(parents=True, exist_ok=True)
        config = self.directory / "mosquitto.conf"
        config.write_text(
            CONFIG.format(
                port=self.port,
                directory=self.directory,
                persistence=str(self.persistence).lower(),
                # Started as root, Mosquitto turns itself into user `mosquitto`, which cannot write
                # our directory: it stays who started it.
                user=getpass.getuser(),
            )
        )
        self._process = subprocess.Popen(  # noqa: S603 (our own binary and config)
            [binary, "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                error = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise BrokerError(f"mosquitto exited at start: {error.strip() or 'no reason given'}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
            except OSError:
                time.sleep(0.02)  # a process we do not control: polling its port is all there is
            else:
                return
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {within} s")

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after 5 s)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
