"""An SQLite journal's checkpoints, made on a thread of their own instead of in the switch's commits.

In WAL mode every commit appends pages to the write-ahead log, and a checkpoint copies them back
into the database file and syncs it (`fdatasync`). SQLite makes one itself after the commit that
takes the log past 1,000 pages, in the committing thread: the switch's, which then waits on the
disk with every post's traffic behind it (2.3 % of the compiled router's busy samples in
`benchmarks/profile_router.py --seed --all-samples --compiled`, most of them the sync). Here a
thread with a connection of its own makes them instead; SQLite lets the interpreter go while it
copies and syncs, so the work goes to the other core and the switch's loop never waits on the disk
for it.

The log is made to start again from its beginning only by a write that finds every page in it
copied back; a thread copying beside a busy writer always finds a few more, so when the log is
long it checkpoints again at once, a bounded number of times, until none are left. The switch's
own connection keeps a checkpoint of its own as a backstop (`BACKSTOP_PAGES`): if this thread
falls behind or gives up, the log still stops growing there.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from collections.abc import Iterator

    from router.journal.database import Database

log = structlog.get_logger("router")

EVERY = 0.5
"""Seconds between two looks at the log."""
SQLITE_THRESHOLD = 1000
"""Pages past which SQLite checkpoints in the commit by default (`PRAGMA wal_autocheckpoint`), and
past which this thread copies the log back until none are left."""
PASSES = 8
"""Checkpoints one after the other at most, to catch up with the writer once the log is long."""
BACKSTOP_PAGES = 4000
"""Pages past which the switch's own commit checkpoints (`PRAGMA wal_autocheckpoint`): 64 MB of
16 KiB pages, only when this thread is behind or has given up."""
FAILURES = 5
"""Failed checkpoints in a row after which the thread gives up (the backstop takes over)."""


class Checkpointer:
    """The thread that checkpoints one SQLite journal: `start`, then `close` when the switch stops."""

    def __init__(self, path: str, *, every: float = EVERY) -> None:
        self.path = path
        self.every = every
        self.looks = 0
        """Looks at the log finished so far (`looked` is told of each)."""
        self.looked = threading.Condition()
        self.given_up: str | None = None
        """Why the thread stopped before it was told to, if it did."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="journal-checkpoints", daemon=True)

    def start(self) -> None:
        """Start looking at the log every `every` seconds."""
        self._thread.start()

    def close(self) -> None:
        """Stop the thread and wait for the checkpoint it is making, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            self._give_up(str(exc))
            return
        failures = 0
        try:
            while not self._stop.wait(self.every):
                try:
                    self._catch_up(db)
                    failures = 0
                except sqlite3.Error as exc:  # a full disk, an I/O error: the next look tries again
                    failures += 1
                    if failures >= FAILURES:
                        self._give_up(str(exc))
                        return
                with self.looked:
                    self.looks += 1
                    self.looked.notify_all()
        finally:
            db.close()

    def _catch_up(self, db: sqlite3.Connection) -> None:
        for _ in range(PASSES):
            # PASSIVE: never waits for the writer nor holds it up; copies what no reader still needs.
            _, pages, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if pages < SQLITE_THRESHOLD or copied >= pages or self._stop.is_set():
                return

    def _give_up(self, reason: str) -> None:
        self.given_up = reason
        log.warning(
            "journal-checkpoints-given-up",
            reason=reason,
            failures=FAILURES,
            then=f"the switch checkpoints itself past {BACKSTOP_PAGES} pages",
        )


@contextmanager
def checkpoints_aside(journal: Database, *, every: float = EVERY) -> Iterator[Checkpointer | None]:
    """While inside, ``journal``'s checkpoints are made by a `Checkpointer` (an SQLite file only)."""
    if journal.dialect.name != "sqlite" or journal.location in ("", ":memory:"):
        yield None
        return
    connection = journal.connection
    connection.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    checkpointer = Checkpointer(journal.location, every=every)
    checkpointer.start()
    try:
        yield checkpointer
    finally:
        checkpointer.close()
        with suppress(sqlite3.Error):  # a journal already closed: nothing left to set
            connection.execute(f"PRAGMA wal_autocheckpoint={SQLITE_THRESHOLD}")
