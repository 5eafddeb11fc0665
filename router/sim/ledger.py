"""What a demo network was given and what became of it: every generated cable's copies, accounted for.

`plan_filing` is pure: the generated cables, each with the centre it is filed at (the one serving
its originator's RI: a cable enters the network at its originating centre, ACP 127 §303a(1)) and
the copies the routing table owes each post. `Ledger` counts what the posts showed against that;
`journal_accounts` reads from the centres' journals what they intercepted, rejected and diverted,
so that at the end every copy is either shown at its post or accounted for.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from router.cable.parser import parse_cable
from router.errors import TrafficError
from router.journal.queries import read_only
from router.routing.decide import decide

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from router.routing.network import Network
    from router.routing.table import RoutingTable
    from router.sim.post import Reading
    from router.sim.traffic import Generated


class Filed(NamedTuple):
    """One generated cable as the demo files it: when, where, and the posts owed a copy."""

    offset: float
    name: str
    raw: bytes
    centre: str
    """Its originating centre: the one serving its originator's RI (the DE line's)."""
    message_id: str
    posts: tuple[str, ...]


def plan_filing(cables: Iterable[Generated], table: RoutingTable, network: Network) -> list[Filed]:
    """Each cable with its originating centre and the posts the routing table gives a copy."""
    planned = []
    for cable in cables:
        parsed = parse_cable(cable.raw)
        # The originating station is FL3's (the DE line, §116): the centre serving it files the cable.
        ri = parsed.station_serial.originating_ri if parsed.station_serial else parsed.originator_ri or ""
        centre = network.centre_of(ri)
        if centre is None:
            raise TrafficError(
                f"{cable.name}: no centre serves its originator {ri or '(none)'}", field="posts"
            )
        posts = tuple(delivery.post for delivery in decide(parsed, table).deliveries)
        planned.append(Filed(cable.offset, cable.name, cable.raw, centre.name, parsed.message_id, posts))
    return planned


@dataclass(slots=True)
class PostTally:
    """What one simulated post saw: messages shown (in order), duplicates filed, gaps reported."""

    shown: list[str] = field(default_factory=list)
    filed: int = 0
    gaps: int = 0
    cancelled: int = 0

    def count(self, reading: Reading) -> None:
        """Account for one reading of the post's channel."""
        if reading.cable is not None:
            self.shown.append(reading.cable.message_id)
        self.filed += reading.duplicate
        self.cancelled += reading.cancelled
        self.gaps += reading.report is not None


@dataclass(slots=True)
class Ledger:
    """The copies owed to each post, and what each post has shown; ``complete`` once all are."""

    owed: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    tallies: dict[str, PostTally] = field(default_factory=dict)
    outstanding: int = 0

    def expect(self, filed: Filed) -> None:
        """A cable filed: a copy owed to each of its posts."""
        for post in filed.posts:
            if filed.message_id not in self.owed[post]:
                self.owed[post].add(filed.message_id)
                self.outstanding += 1

    def reading(self, post: str, reading: Reading) -> None:
        """A post read its channel: a copy owed and shown for the first time settles one."""
        tally = self.tallies.setdefault(post, PostTally())
        first = reading.cable is not None and reading.cable.message_id not in tally.shown
        tally.count(reading)
        if first and reading.cable is not None and reading.cable.message_id in self.owed[post]:
            self.outstanding -= 1

    @property
    def complete(self) -> bool:
        """Every copy owed has been shown at its post."""
        return self.outstanding == 0

    def missing(self) -> dict[str, set[str]]:
        """Per post, the message ids owed and not shown."""
        shown = {post: set(tally.shown) for post, tally in self.tallies.items()}
        return {post: gone for post, ids in self.owed.items() if (gone := ids - shown.get(post, set()))}


@dataclass(frozen=True, slots=True)
class Accounts:
    """What the centres' journals say of the run: copies intercepted and cables rejected, diversions."""

    intercepted: frozenset[tuple[str, str]] = frozenset()
    """(message id, RI) of each copy a centre intercepted: not lost, handed to its operator."""
    rejected: int = 0
    diversions: Mapping[str, int] = field(default_factory=dict)
    """Per centre, its ``trunk-alternate`` events: copies sent round a trunk out too long (§307)."""
    originated: Mapping[str, int] = field(default_factory=dict)
    """Per centre, cables it took off its intake (it was their originating centre)."""


def journal_accounts(journals: Mapping[str, Path]) -> Accounts:
    """Read each centre's journal (read-only): its intercepts, rejections, diversions and intake."""
    intercepted: set[tuple[str, str]] = set()
    rejected = 0
    diversions: Counter[str] = Counter()
    originated: Counter[str] = Counter()
    for centre, path in journals.items():
        if not path.exists():
            continue
        with read_only(path) as db:
            intercepted.update(
                (str(message_id), str(post or addressee))
                for message_id, post, addressee in db.execute(
                    "SELECT c.message_id, i.post, i.addressee"
                    " FROM intercepts i JOIN cables c ON c.id = i.cable_id"
                )
            )
            rejected += db.execute("SELECT count(*) FROM cables WHERE status = 'rejected'").fetchone()[0]
            diversions[centre] = db.execute(
                "SELECT count(*) FROM events WHERE event = 'trunk-alternate'"
            ).fetchone()[0]
            originated[centre] = db.execute(
                "SELECT count(*) FROM cables WHERE topic LIKE 'centres/%'"
            ).fetchone()[0]
    return Accounts(frozenset(intercepted), rejected, dict(diversions), dict(originated))


def unaccounted(ledger: Ledger, accounts: Accounts) -> dict[str, set[str]]:
    """Per post, the copies owed that were neither shown there nor intercepted: lost."""
    return {
        post: lost
        for post, gone in ledger.missing().items()
        if (lost := {message_id for message_id in gone if (message_id, post) not in accounts.intercepted})
    }
