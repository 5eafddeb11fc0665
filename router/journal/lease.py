"""A centre's lease on its journal: one router at a time writes it, another takes over when it dies.

AUTODIN's switching centres ran a standby processor beside the one on line, ready to take the
traffic from the journal when the other failed (DOMAIN: AUTODIN); here the standby is a second
``router run`` for the same journal, on this machine or another.

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) held on the journal's own
  connection, keyed by the journal's database and schema. The server ends the session of a
  process that dies (SIGKILL, a host gone: its socket closes), and the lock goes with it.
- SQLite: the journal is a file of one machine, and SQLite lets one process write at a time
  already (``BEGIN IMMEDIATE``); but two routers taking turns would both deliver. So an exclusive
  ``flock`` on ``<journal>.lease`` beside it, which the kernel lets go when the process dies.

Either way the holder's pid and host are readable by the one refused (``router pid 4242 on
centre-a``), for its one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from typing import TYPE_CHECKING

from router.errors import JournalOpenError
from router.journal.backend import JournalLeaseError
from router.journal.postgres import PostgresConnection, holder_name

if TYPE_CHECKING:
    from router.journal.database import Database

__all__ = ["JournalLeaseError", "Lease", "take_lease"]

LEASE_SUFFIX = ".lease"
POLL_SECONDS = 1.0
"""How often a router waiting for the lease (``--wait-for-lease``) asks again."""


class Lease:
    """This process's hold on a journal's lease, once taken; let go by `release` or by dying."""

    def __init__(self, journal: Database) -> None:
        self._journal = journal
        self._file: int | None = None

    def try_take(self) -> str | None:
        """Take the lease if it is free: None once held, else who holds it."""
        db = self._journal.connection
        if isinstance(db, PostgresConnection):
            return db.try_lease()
        return self._take_file()

    def _take_file(self) -> str | None:
        path = self._journal.location + LEASE_SUFFIX
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:  # a folder the router may read but not write
            raise JournalOpenError(path, f"cannot open the journal's lease file: {exc.strerror}") from exc
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(descriptor, 200).decode(errors="replace").strip()
            os.close(descriptor)
            return holder or "a router that has not said who"
        os.ftruncate(descriptor, 0)
        os.write(descriptor, holder_name().encode())
        self._file = descriptor
        return None

    def release(self) -> None:
        """Let go of the lease (PostgreSQL's goes with the journal's connection, closed after this)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            os.close(self._file)
            self._file = None


async def take_lease(journal: Database, wait: float, stop: asyncio.Event | None = None) -> Lease:
    """The journal's lease for this router, waiting up to ``wait`` seconds for its holder to let go.

    `JournalLeaseError` names the holder when the lease is not had in time (at once with no wait), or
    when ``stop`` is set meanwhile.
    """
    lease = Lease(journal)
    deadline = time.monotonic() + wait
    while (holder := lease.try_take()) is not None:
        left = deadline - time.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            raise JournalLeaseError(journal.path, holder)
        await asyncio.sleep(min(POLL_SECONDS, left))
    return lease
