"""The journal's tables, in SQLite's dialect (`router.journal.postgres` translates them)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS cables (
    id INTEGER PRIMARY KEY,
    received_at REAL NOT NULL,
    topic TEXT NOT NULL,
    raw BLOB NOT NULL,
    message_id TEXT,
    status TEXT NOT NULL,
    detail TEXT,
    ris TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS cables_routed_message
    ON cables (message_id, coalesce(ris, '')) WHERE status = 'routed';
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    post TEXT NOT NULL,
    precedence TEXT NOT NULL,
    rank INTEGER NOT NULL DEFAULT 0,
    role TEXT NOT NULL,
    niact INTEGER NOT NULL,
    via TEXT NOT NULL,
    needs_ack INTEGER NOT NULL,
    state TEXT NOT NULL,
    queued_at REAL NOT NULL,
    delivered_at REAL,
    acknowledged_at REAL,
    ris TEXT
);
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries (state) WHERE state != 'acknowledged';
CREATE INDEX IF NOT EXISTS deliveries_waiting ON deliveries (post, rank DESC, id) WHERE state = 'queued';
CREATE TABLE IF NOT EXISTS transmissions (
    id INTEGER PRIMARY KEY,
    delivery_id INTEGER NOT NULL REFERENCES deliveries (id),
    post TEXT NOT NULL,
    channel TEXT NOT NULL,
    serial INTEGER NOT NULL,
    cause TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    outcome TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transmissions_serial ON transmissions (post, serial);
CREATE TABLE IF NOT EXISTS intercepts (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    addressee TEXT NOT NULL,
    reason TEXT NOT NULL,
    post TEXT
);
CREATE TABLE IF NOT EXISTS set_aside (
    id INTEGER PRIMARY KEY,
    cable_id INTEGER NOT NULL REFERENCES cables (id),
    addressee TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    id INTEGER PRIMARY KEY,
    post TEXT NOT NULL,
    channel TEXT NOT NULL,
    serial INTEGER NOT NULL,
    cause TEXT NOT NULL,
    text TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    sent_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS services_serial ON services (post, serial);
CREATE TABLE IF NOT EXISTS identities (
    cable_id INTEGER PRIMARY KEY REFERENCES cables (id),
    message_id TEXT NOT NULL,
    heading BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS identities_message ON identities (message_id);
CREATE TABLE IF NOT EXISTS properties (
    cable_id INTEGER PRIMARY KEY REFERENCES cables (id),
    kept BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    event TEXT NOT NULL,
    fields TEXT NOT NULL
);
"""
"""The journal's tables. Every time is the router's clock: simulated seconds (UNIX time scaled by the
time factor), so that speed of service is measured in the network's time, not the host's.

- cables: each cable as received; status received | routed | rejected | duplicate. ris: at a
  switching centre, the routing line (FL2) of a transmission received off a trunk, its RIs
  space-separated; with the message id, what a duplicate is known by there (`router.switch.centre`);
  NULL for a cable off the intake.
- deliveries: one copy for one post; state queued -> delivered (a transmission completed on the
  post's line) -> acknowledged (the post's receipt). needs_ack: FLASH, ECP or NIACT, which the
  post must acknowledge and which go again when it does not. ris: for a copy on a centre's trunk
  (post: the neighbouring centre), the RIs of its FL2, space-separated; NULL for a post's copy.
- transmissions: each attempt to send a delivery down its line, under the line's channel
  designator and next channel serial. cause: first | bust (sent again after a bust) | outage (after
  the line went down mid-transmission) | zfx (the post reported the serial missing) | ack-timeout |
  restart | request (an operator asked for it again: `router retransmit`) | alternate (the first,
  by another post's line: an alternative route, §307; its post is that line's). outcome: sending |
  delivered | busted | cut (line down).
- services: the switch's service messages on a post's line, each under a channel serial of its
  own: zfr (cancelling a cut or open number, §424d), duplicate (an exact duplicate received and
  filed, §428a), zid (a channel check of a silent line, §412b); their text.
- set_aside: addressees the network does not deliver to, and why: zen (already delivered by
  other means), pouch (sent them by diplomatic pouch), exempted (an XMT line takes the post out of
  a collective), originator (a collective does not send the cable back to the station that filed
  it).
- identities: the message identification the switch gave a cable that had none (ACP 126 cables,
  partial records: §116), and the FL3 and FL4 lines its copies carry; quotable in `router trace`
  and `router retransmit`.
- properties: the MQTT 5 properties a cable came with that its copies carry on (user properties,
  message expiry: `router.bus.properties`), encoded; only for a cable that had any.
- events: the routing log (received, routed, queued, busted, delivered, acknowledged, line-down,
  line-up, gap, retransmitted, duplicate-filed, ...), each with its fields as JSON.
"""
