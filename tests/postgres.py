"""A private PostgreSQL for the journal's tests: `initdb` into a temporary folder, `pg_ctl` on a free port.

Never the machine's own server: the cluster is made for the session (trust authentication, on
127.0.0.1 and a socket in its own folder) and stopped at the end. Each test gets a schema of its
own, named in its URL, so that journals of different tests never meet.

Missing binaries skip the PostgreSQL half of the tests, saying so; under CI (``CI=true``) they fail
instead, since there the tests must run (``.ci/run`` installs the Debian package).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

BINARIES = Path(os.environ.get("ROUTER_PG_BIN", "/usr/lib/postgresql/15/bin"))
"""Where initdb, pg_ctl and postgres are: Debian's PostgreSQL 15 unless ROUTER_PG_BIN says."""
START_SECONDS = 30
"""How long pg_ctl waits for the server to accept connections before the fixture gives up."""
BACKENDS = ("sqlite", "postgresql")
"""What the journal tests run on, each of them."""


def in_ci() -> bool:
    """CI sets CI=true: there missing PostgreSQL binaries are a failure, since the tests must run."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def binary(name: str) -> Path | None:
    """A PostgreSQL program, from `BINARIES`, Debian's newest other version, or the PATH."""
    for found in (BINARIES / name, *sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)):
        if found.exists():
            return found
    on_path = shutil.which(name)
    return Path(on_path) if on_path else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Postgres:
    """A PostgreSQL cluster of the tests' own: made, started, and stopped with its folder."""

    def __init__(self, initdb: Path, pg_ctl: Path) -> None:
        self._initdb = initdb
        self._pg_ctl = pg_ctl
        # initdb and the server refuse to run as root: then they run as the postgres user, in a
        # folder of its own (pytest's temporary folders are private to root).
        self._user = "postgres" if os.geteuid() == 0 else None
        self.folder = Path(tempfile.mkdtemp(prefix="router-pg-"))
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.data = self.folder / "data"
        self.port = free_port()
        self._schemas = itertools.count(1)

    def _run(self, *command: str | Path) -> None:
        done = subprocess.run(  # noqa: S603 (the cluster's own programs, paths found above)
            [str(part) for part in command],
            user=self._user,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.folder,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed: {done.stderr.strip() or done.stdout.strip()}"
            )

    def start(self) -> None:
        """initdb, then pg_ctl start on 127.0.0.1:`port`, waiting until it takes connections."""
        self._run(self._initdb, "-D", self.data, "-U", "router", "-A", "trust", "--no-sync", "-E", "UTF8")
        # fsync off: the tests kill routers, never this server; a commit still ends in the server.
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=50 -c shared_buffers=16MB"
        )
        self._run(
            self._pg_ctl, "start", "-D", self.data, "-w", "-t", str(START_SECONDS), "-o", options,
            "-l", self.folder / "server.log",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once (its connections are cut) and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            self._run(self._pg_ctl, "stop", "-D", self.data, "-m", "immediate", "-w")
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def url(self) -> str:
        """The cluster's database, as the router is given it."""
        return f"postgresql://router@127.0.0.1:{self.port}/postgres"

    def new_schema(self) -> str:
        """A URL whose journal lives in a fresh schema: a journal of its own for one test."""
        import psycopg  # noqa: PLC0415 (only where PostgreSQL is asked for)

        name = f"journal_{next(self._schemas)}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f"CREATE SCHEMA {name}")
        return f"{self.url}?options=-csearch_path%3D{name}"


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A private PostgreSQL for the whole session; skipped (failed under CI) without its binaries."""
    initdb, pg_ctl = binary("initdb"), binary("pg_ctl")
    if initdb is None or pg_ctl is None:
        reason = f"PostgreSQL's initdb and pg_ctl are not in {BINARIES} nor on the PATH (Debian: postgresql)"
        if in_ci():
            pytest.fail(f"{reason}: CI must run the PostgreSQL journal tests")
        pytest.skip(reason)
    server = Postgres(initdb, pg_ctl)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=BACKENDS)
def journal_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A journal of the test's own, once in SQLite (a path) and once in the private PostgreSQL (a URL)."""
    if request.param == "sqlite":
        return str(tmp_path / "journal.sqlite")
    server: Postgres = request.getfixturevalue("postgres")
    return server.new_schema()
