"""The journal's statements that PostgreSQL spells otherwise, in SQLite's words.

Each is named here for the module that runs it (`router.journal.reads`, `router.journal.queries`)
and for `router.journal.postgres`, which runs PostgreSQL's spelling in its place: one text, not a
copy of it as a key that would stop matching when the statement changes.
"""

LATEST_TIME = (
    "SELECT max(at) FROM ("
    " SELECT max(received_at) AS at FROM cables"
    " UNION ALL SELECT max(max(started_at, coalesce(ended_at, started_at))) FROM transmissions"
    " UNION ALL SELECT max(sent_at) FROM services"
    " UNION ALL SELECT max(coalesce(acknowledged_at, delivered_at, queued_at)) FROM deliveries"
    " UNION ALL SELECT max(at) FROM events)"
)
"""The latest network time the journal holds: SQLite's two-argument max(), a subquery unnamed."""
TRANSMISSION_UNDER = (
    "SELECT delivery_id, outcome FROM ("
    " SELECT delivery_id, outcome, started_at AS at, 0 AS kind, id FROM transmissions"
    " WHERE post = ? AND channel = ? AND serial = ?"
    " UNION ALL SELECT 0, 'service', sent_at, 1, id FROM services"
    " WHERE post = ? AND channel = ? AND serial = ?)"
    " ORDER BY at DESC, kind, id DESC LIMIT 1"
)
"""The delivery last sent to a post under a channel serial (or a service message): a subquery unnamed."""
LAST_SERIALS = (
    "SELECT post, serial FROM ("
    " SELECT post, serial, row_number() OVER ("
    "  PARTITION BY post ORDER BY at DESC, kind, id DESC) AS latest FROM ("
    "  SELECT post, serial, started_at AS at, 0 AS kind, id FROM transmissions"
    "  UNION ALL SELECT post, serial, sent_at, 1, id FROM services))"
    " WHERE latest = 1"
)
"""Each post's last channel serial: subqueries unnamed."""
COPIES = (
    "SELECT d.id, d.cable_id, d.post, d.precedence, d.state, d.queued_at, d.delivered_at,"
    " d.acknowledged_at, d.ris, t.started_at, t.ended_at, coalesce(b.busts, 0) FROM deliveries d"
    " LEFT JOIN (SELECT delivery_id, started_at, ended_at, min(id) FROM transmissions"
    "  WHERE outcome = 'delivered' GROUP BY delivery_id) t ON t.delivery_id = d.id"
    " LEFT JOIN (SELECT delivery_id, count(*) AS busts FROM transmissions"
    "  WHERE outcome = 'busted' GROUP BY delivery_id) b ON b.delivery_id = d.id"
    " ORDER BY d.id"
)
"""Every copy with its first complete transmission and its busts: a bare column of a min() group."""
TABLE_EXISTS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
"""Whether the journal has a table: SQLite's catalogue."""
