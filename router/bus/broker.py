"""A private Mosquitto: generated config, free port, started and stopped by the router or its tests."""

from __future__ import annotations

import ctypes
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

from router.bus.address import BrokerAddress
from router.bus.security import OWNER, OWNER_GRANTS, Keyring, Users
from router.cable.parser import MAX_CABLE_BYTES
from router.errors import BrokerError

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.bus.tls import TlsFiles

HEADROOM_BYTES = 64 * 1024
"""What the broker's message size limit allows above the router's cable limit: a copy is the cable
with its own heading (FL1, FL2: some 30 bytes), and the router's status and log are messages too."""

# Mosquitto's defaults drop messages silently (max_queued_messages 1000 per client): a switch
# must not lose traffic at the broker, so every config the project writes says what it needs.
# Persistence is a snapshot of the broker's memory (sessions, queued and retained messages);
# `autosave_on_changes true` counts changes (each message queued for an absent client, each
# subscription, each retained message), not seconds: 100 by default (`broker_autosave_changes`),
# which keeps thousands of cables a second; 1 saves every one and carries some 150 a second.
# Nobody gets in without a password, and each user reads and writes only its topics (the ACL is
# checked at each delivery too: a subscription beyond a user's topics receives nothing).
CONFIG = """\
# Written by router.bus.broker for a private Mosquitto; not for editing.
listener {port} 127.0.0.1
{tls}user {user}
allow_anonymous false
password_file {directory}/passwd
acl_file {directory}/acl
persistence {persistence}
persistence_location {directory}/
autosave_on_changes {autosave_on_changes}
autosave_interval {autosave_interval}
message_size_limit {message_size_limit}
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


def message_size_limit(max_cable_bytes: int = MAX_CABLE_BYTES) -> int:
    """The broker's `message_size_limit` for a router taking cables of up to ``max_cable_bytes``.

    A larger message is not passed on: Mosquitto 2.0.11 disconnects its publisher, an MQTT 5 one
    before its PUBACK (the publish fails), a 3.1.1 one after it.
    """
    return max_cable_bytes + HEADROOM_BYTES


def claim_port(port: int) -> None:
    """``BrokerError`` unless a broker of ours could listen on 127.0.0.1:``port`` now.

    What answers on a taken port is another process's broker, not ours. Probed as Mosquitto binds
    (``SO_REUSEADDR``): connections of a stopped broker still closing (TIME_WAIT) do not make the
    port look taken; a listener on it, on any address, does.
    """
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise BrokerError(
                f"port {port} is taken by another process: the private broker needs it free "
                "(set embedded_port, or --broker to use what listens there)"
            ) from None


def _dies_with_us() -> Callable[[], None] | None:
    """For `Popen`'s ``preexec_fn``: the child gets SIGTERM when we die, even by SIGKILL (Linux only).

    ``prctl(PR_SET_PDEATHSIG)`` ties the child to the thread that starts it, here the main thread;
    a parent already gone before the call (a race at start) makes the child exit at once.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: nothing is loaded after the fork
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def tls_lines(files: TlsFiles | None, *, client_certificates: bool = False) -> str:
    """A listener's TLS options: its certificate and key, and the CA a client certificate must be from.

    With ``client_certificates`` every client must also present a certificate signed by ``cafile``
    (beside its password); without, Mosquitto asks for none and the password is the login.
    """
    if files is None:
        return ""
    required = "require_certificate true\n" if client_certificates else ""
    return f"cafile {files.cafile}\ncertfile {files.certfile}\nkeyfile {files.keyfile}\n{required}"


def mosquitto_binary() -> str | None:
    """The mosquitto executable on PATH or in /usr/sbin (Debian installs it there)."""
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Mosquitto:
    """A Mosquitto process of our own on a free loopback port: ``with Mosquitto(dir) as broker``.

    Nobody gets in anonymously: ``users`` are who may (the roles of `router.bus.security`); without
    them the broker has one user, `OWNER`, who may do anything, and `url` carries its login (tests
    and benchmarks connect so). With ``tls`` it speaks MQTT over TLS only.
    """

    def __init__(  # noqa: PLR0913 (keyword-only: one broker's options)
        self,
        directory: Path,
        *,
        port: int | None = None,
        persistence: bool = False,
        max_cable_bytes: int = MAX_CABLE_BYTES,
        autosave: tuple[bool, int] = (True, 100),
        users: Users | None = None,
        tls: TlsFiles | None = None,
        client_certificates: bool = False,
    ) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.persistence = persistence
        self.autosave = autosave
        """`autosave_on_changes` and `autosave_interval`: a save after 100 changes, unless told."""
        self.message_size_limit = message_size_limit(max_cable_bytes)
        self.owned = users is None
        """Whether the broker's only user is `OWNER` (no roles given)."""
        # The owner's password is kept in the broker's folder: a broker restarted there takes it again.
        self.users = users or Users(Keyring(directory / "credentials").ensure([OWNER]), OWNER_GRANTS)
        self.tls = tls
        self.client_certificates = client_certificates
        """With ``tls``: every client must present a certificate from the same CA."""
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The broker's address, ``mqtt://127.0.0.1:PORT`` (``mqtts``: TLS), with `OWNER`'s login if owned."""
        scheme = "mqtts" if self.tls else "mqtt"
        login = f"{OWNER}:{self.users.passwords[OWNER]}@" if self.owned else ""
        return f"{scheme}://{login}127.0.0.1:{self.port}"

    def address(self, user: str | None = None) -> BrokerAddress:
        """How ``user`` (else `OWNER`) connects to this broker: its login, and the CA with TLS."""
        user = user or OWNER
        address = BrokerAddress("127.0.0.1", self.port, tls=self.tls is not None)
        address = address.logged_in(user, self.users.passwords.get(user))
        return address.with_files(self.tls.cafile if self.tls else None, None, None)

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (what a benchmark reads its CPU time by)."""
        return self._process.pid if self._process is not None else None

    def start(self, *, within: float = 10.0) -> None:
        """Write the config, start the broker, and return once it accepts connections.

        ``BrokerError`` if the port is taken: what answers there would be another process's broker.
        The broker dies with this process (`_dies_with_us`), a SIGKILL of it included.
        """
        binary = mosquitto_binary()
        if binary is None:
            raise BrokerError("mosquitto is not installed (Debian package mosquitto)")
        claim_port(self.port)
        self.users.write_broker_files(self.directory)  # the password hashes and the ACL: 0700, 0600
        config = self.directory / "mosquitto.conf"
        config.write_text(
            CONFIG.format(
                port=self.port,
                tls=tls_lines(self.tls, client_certificates=self.client_certificates),
                directory=self.directory,
                persistence=str(self.persistence).lower(),
                message_size_limit=self.message_size_limit,
                autosave_on_changes=str(self.autosave[0]).lower(),
                autosave_interval=self.autosave[1],
                # Started as root, Mosquitto turns itself into user `mosquitto`, which cannot write
                # our directory: it stays who started it.
                user=getpass.getuser(),
            )
        )
        self._process = subprocess.Popen(  # noqa: S603 (our own binary and config)
            [binary, "-c", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_dies_with_us(),  # noqa: PLW1509 (no threads of ours run at start-up)
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
