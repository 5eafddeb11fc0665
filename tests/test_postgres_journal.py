"""A journal in PostgreSQL: its weather (locks, a lost connection), its lease, its name in messages.

What the parametrised journal tests cannot say, since SQLite has no such thing: another session's
lock, a connection cut by the server, a lease taken by a standby while the holder was cut off.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from router.cli import app
from router.errors import JournalOpenError, JournalUnwritableError, SettingsError
from router.journal.dialect import DatabaseError, is_weather, shown
from router.journal.lease import JournalLeaseError, Lease
from router.journal.store import Journal
from router.settings import load_settings
from tests.postgres import Postgres, free_port


@pytest.fixture
def url(postgres: Postgres) -> str:
    """A fresh PostgreSQL journal's URL (a schema of its own)."""
    return postgres.new_schema()


@pytest.mark.parametrize(
    ("sqlstate", "weather"),
    [
        (None, True),  # the connection went before any server said why
        ("08006", True),  # connection failure
        ("57P01", True),  # the server shut down (administrator command)
        ("53100", True),  # disk full
        ("40001", True),  # serialization failure
        ("55P03", True),  # lock not available (lock_timeout)
        ("25006", True),  # read-only transaction: a standby after a failover
        ("42P01", False),  # undefined table: a bug or the wrong database
        ("23505", False),  # unique violation: the switch's own mistake
        ("22P02", False),  # invalid text representation
    ],
)
def test_only_a_lost_connection_locks_full_disks_and_read_only_are_weather(
    sqlstate: str | None, *, weather: bool
) -> None:
    """PostgreSQL's weather by SQLSTATE, as SQLite's by result code."""
    assert is_weather(DatabaseError("as the server said", sqlstate)) is weather


def test_a_table_locked_by_another_session_is_weather_and_rolled_back(url: str) -> None:
    """Another session's lock past the lock timeout: JournalUnwritableError, nothing kept; then it goes."""
    journal = Journal(url, busy_timeout=0.05)
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("BEGIN")
        other.execute("LOCK TABLE cables IN EXCLUSIVE MODE")
        with pytest.raises(JournalUnwritableError, match="lock timeout"), journal.transaction():
            journal.receive("cables/in/rome", b"while locked")
        other.execute("ROLLBACK")
    with journal.transaction():
        journal.receive("cables/in/rome", b"once the lock is gone")
    assert journal.last_ids() == (1, 0)
    journal.close()


def terminate(url: str, journal: Journal) -> None:
    """Cut the journal's session from the server's side, as a restart or a network fault would."""
    pid = journal.connection.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_lost_connection_is_weather_and_the_next_attempt_connects_again_with_the_lease(url: str) -> None:
    """Cut off: the transaction is weather; the next connects anew and holds the lease again."""
    journal = Journal(url)
    assert Lease(journal).try_take() is None
    terminate(url, journal)
    with pytest.raises(JournalUnwritableError), journal.transaction():
        journal.receive("cables/in/rome", b"cut off")
    with journal.transaction():
        journal.receive("cables/in/rome", b"connected again")
    assert journal.last_ids() == (1, 0)
    other = Journal(url)
    assert Lease(other).try_take() is not None, "the lease is this router's again"
    other.close()
    journal.close()


def test_a_router_cut_off_while_a_standby_took_the_lease_stops_writing(url: str) -> None:
    """The server ended the holder's session; the standby took the lease; the old holder must not write."""
    journal = Journal(url)
    assert Lease(journal).try_take() is None
    terminate(url, journal)
    standby = Journal(url)
    assert Lease(standby).try_take() is None
    with pytest.raises(JournalUnwritableError), journal.transaction():
        journal.receive("cables/in/rome", b"cut off")
    with pytest.raises(JournalLeaseError, match="is held by another router"), journal.transaction():
        journal.receive("cables/in/rome", b"not mine any more")
    assert standby.last_ids() == (0, 0)
    standby.close()
    journal.close()


def test_a_server_that_is_not_there_is_one_error_without_the_password() -> None:
    """Nobody listens on the port: JournalOpenError naming the URL, its password starred."""
    url = f"postgresql://router:secret@127.0.0.1:{free_port()}/journal"
    with pytest.raises(JournalOpenError) as caught:
        Journal(url)
    assert (
        caught.value.path
        == f"postgresql://router:***@127.0.0.1:{url.rsplit(':', 1)[1].split('/', maxsplit=1)[0]}/journal"
    )
    assert "secret" not in str(caught.value)


def test_router_run_on_an_unreachable_postgresql_says_so_in_one_line() -> None:
    """`router run --journal postgresql://...` with no server there: one line, no traceback."""
    url = f"postgresql://router@127.0.0.1:{free_port()}/journal"
    run = subprocess.run(  # noqa: S603 (this interpreter, our own command)
        [sys.executable, "-m", "router", "run", "--journal", url],
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert run.returncode != 0
    (line,) = run.stderr.decode().strip().splitlines()
    assert line.startswith(f"router: {url}: ")


def test_the_journal_setting_keeps_a_url_whole_and_a_path_a_path(tmp_path: Path) -> None:
    """A URL's ``//`` survives the settings (a Path would fold it); a bare scheme is a usage error."""
    url = "postgresql://router@db.example:5433/centre"
    assert load_settings(journal=url).journal == url
    assert load_settings(journal=str(tmp_path / "j.sqlite")).journal == tmp_path / "j.sqlite"
    with pytest.raises(SettingsError, match="names a host or a database"):
        load_settings(journal="postgresql://")
    assert shown("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert shown(Path("a/b.sqlite")) == "a/b.sqlite"


def test_router_config_stars_the_password_of_a_journal_url() -> None:
    """`router config` shows the journal's URL with its password as ``***``, as a broker's."""
    shown = CliRunner().invoke(app, ["config"], env={"ROUTER_JOURNAL": "postgresql://router:pw@db/centre"})
    assert shown.exit_code == 0, shown.output
    assert "journal = postgresql://router:***@db/centre  # ROUTER_JOURNAL" in shown.output
    assert ":pw@" not in shown.output
