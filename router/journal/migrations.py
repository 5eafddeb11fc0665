"""What an older journal is given when it is opened: the columns and index later versions added.

The schema is written with ``CREATE ... IF NOT EXISTS``, which makes new tables but leaves an
existing table as it was; each change after a journal's making is added here, idempotently: run on
every open, it changes only what is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

ADDED_COLUMNS = (("cables", "ris", "TEXT"), ("deliveries", "ris", "TEXT"))
"""(table, column, type) added since the first schema: the routing lines of a switching centre."""
ROUTED_MESSAGE_INDEX = (
    "CREATE UNIQUE INDEX cables_routed_message ON cables (message_id, coalesce(ris, ''))"
    " WHERE status = 'routed'"
)
"""A message routed once per routing line received: at a centre, the same message may come again
for other RIs (`router.switch.centre`); off the intake (ris NULL), once, as before."""


def migrate(db: sqlite3.Connection) -> None:
    """Bring a journal's tables up to the schema: add missing columns, remake the old unique index."""
    for table, column, kind in ADDED_COLUMNS:
        have = {str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    row = db.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'cables_routed_message'"
    ).fetchone()
    if row is None or "coalesce" not in str(row[0]):
        db.execute("DROP INDEX IF EXISTS cables_routed_message")
        db.execute(ROUTED_MESSAGE_INDEX)
