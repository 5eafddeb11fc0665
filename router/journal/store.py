"""The journal: every cable received and every delivery with each change of its state.

In SQLite (WAL), or in PostgreSQL for a ``postgresql://`` URL (`router.journal.dialect`).

A switch keeps a journal copy of everything it relays (DOMAIN: AUTODIN): a cable is committed
here before the broker is told it arrived, and the delivery queues are rebuilt from here after
a restart, so that nothing is lost between the two. The tables are in `router.journal.schema`,
the switch's writes in `router.journal.writes`, its reads in `router.journal.reads`.
"""

from __future__ import annotations

from typing import Literal

from router.journal.reads import Consigned, OpenDelivery, Reads
from router.journal.writes import Outcome, Writes

__all__ = ["CableStatus", "Consigned", "DeliveryState", "Journal", "OpenDelivery", "Outcome"]

CableStatus = Literal["received", "routed", "rejected", "duplicate"]
DeliveryState = Literal["queued", "delivered", "acknowledged"]


class Journal(Writes, Reads):
    """The router's journal. One writer (the switch, holding the lease); readers may watch it live."""
