"""The network description (``config/network.toml``): read, validated with file:line errors, indexed.

Written by hand like the routing table, and refused the same way (`router.tomlfile`): a mistake
names the file, the line and the field. Beyond the types, it checks that the network can route:

- every centre named (by a trunk or the doctrine) is described, and once;
- a prefix is served by one centre only. Prefixes may nest (``RUE`` at one centre, ``RUEH`` at
  another): an RI belongs to the longest prefix of it, as AUTODIN homed stations, so "every
  station belongs to exactly one centre" holds as long as no prefix is given twice;
- no trunk joins a centre to itself, and no two trunks join the same two centres;
- each centre has doctrine for every prefix it does not serve, and none for those it does;
  primary and alternate are neighbours by a trunk, and differ (§302);
- the doctrine does not loop: following primaries from any centre reaches the serving centre,
  and so it does when any one trunk is out and the centres at its ends take their alternates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.errors import LocatedError, TableError
from router.routing.network import Centre, Network, Route, Trunk, trunk_between
from router.routing.shipped import SHIPPED
from router.routing.table import LineCodeName, LineProfile
from router.tomlfile import validated

DEFAULT_NETWORK = SHIPPED / "network.toml"
"""The committed network of five centres, shipped with the package."""

CENTRE_NAME_PATTERN = r"^[A-Z][A-Z-]{1,23}$"
"""A centre's short name, upper case (``BELTSVILLE``): safe in a topic, and never `LOCAL`. Not an
RI: a centre is no addressee, and its name never appears in a routing line."""
PREFIX_PATTERN = r"^[A-Z]{1,7}$"
"""An RI prefix, from a nation (``RC``) down to one whole RI."""

CentreName = Annotated[str, Field(pattern=CENTRE_NAME_PATTERN)]
Prefix = Annotated[str, Field(pattern=PREFIX_PATTERN)]
_Where = tuple[str | int, ...]


class _Schema(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Centre(_Schema):
    name: CentreName
    title: str = Field(default="", max_length=120)
    serves: list[Prefix] = Field(min_length=1)


class _Trunk(_Schema):
    between: list[CentreName] = Field(min_length=2, max_length=2)
    baud: int = Field(ge=0, le=1_000_000)
    """Signalling speed; 0 is unthrottled (tests, benchmarks)."""
    window: int = Field(default=4, ge=1, le=10_000)
    """Copies in flight unacknowledged; 4, as the routing table's default line."""
    code: LineCodeName | None = None


class _Doctrine(_Schema):
    centre: CentreName
    prefixes: list[Prefix] = Field(min_length=1)
    primary: CentreName
    alternate: CentreName


class _Network(_Schema):
    centres: list[_Centre] = Field(min_length=1)
    trunks: list[_Trunk] = []
    doctrine: list[_Doctrine] = []

    @model_validator(mode="after")
    def _routable(self) -> _Network:
        server = _check_centres(self.centres)
        _check_trunks(self)
        _check_doctrine(self, server)
        _check_loops(self, _to_network(self))
        return self


def load_network(path: Path | str = DEFAULT_NETWORK) -> Network:
    """Read, validate and index a network description; ``TableError`` says where it is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = f"cannot read the network description: {exc}"
        raise TableError(reason, path=path, line=None, field=None) from None
    return parse_network(text, source=str(path))


def parse_network(text: str, *, source: str = "<memory>") -> Network:
    """Validate and index a network description given as TOML text."""
    return _to_network(validated(text, _Network, source=source, error=TableError), source)


def _to_network(schema: _Network, source: str = "<memory>") -> Network:
    """The validated description as a `Network`."""
    return Network.of(
        (Centre(c.name, tuple(c.serves), c.title) for c in schema.centres),
        (
            trunk_between(t.between[0], t.between[1], LineProfile(t.baud, t.window, t.code))
            for t in schema.trunks
        ),
        {(d.centre, prefix): Route(d.primary, d.alternate) for d in schema.doctrine for prefix in d.prefixes},
        source,
    )


def _check_centres(centres: list[_Centre]) -> dict[str, str]:
    """Each centre once, each prefix at one centre; returns prefix -> centre."""
    names: set[str] = set()
    server: dict[str, str] = {}
    for index, centre in enumerate(centres):
        if centre.name in names:
            raise LocatedError(("centres", index, "name"), f"centre {centre.name} is described twice")
        names.add(centre.name)
        for prefix in centre.serves:
            if (other := server.get(prefix)) is not None:
                by = "twice by it" if other == centre.name else f"already by {other}"
                raise LocatedError(("centres", index, "serves"), f"prefix {prefix} is served {by}")
            server[prefix] = centre.name
    return server


def _check_trunks(schema: _Network) -> None:
    """Trunks join two described centres, not a centre to itself, and no pair twice."""
    names = {centre.name for centre in schema.centres}
    joined: set[frozenset[str]] = set()
    for index, trunk in enumerate(schema.trunks):
        where = ("trunks", index, "between")
        for name in trunk.between:
            if name not in names:
                raise LocatedError(where, f"trunk to {name}, which is no centre of the network")
        first, second = trunk.between
        if first == second:
            raise LocatedError(where, f"trunk from {first} to itself")
        if (pair := frozenset(trunk.between)) in joined:
            raise LocatedError(where, f"a second trunk between {first} and {second}")
        joined.add(pair)


def _check_doctrine(schema: _Network, server: dict[str, str]) -> None:
    """Every centre has one route for each prefix it does not serve, by its own trunks (§302)."""
    names = {centre.name for centre in schema.centres}
    trunks = {frozenset(trunk.between) for trunk in schema.trunks}
    routed: set[tuple[str, str]] = set()
    for index, entry in enumerate(schema.doctrine):
        centre = entry.centre
        for role in ("centre", "primary", "alternate"):
            if (name := getattr(entry, role)) not in names:
                raise LocatedError(("doctrine", index, role), f"{name} is no centre of the network")
        for role in ("primary", "alternate"):
            if frozenset((centre, getattr(entry, role))) not in trunks:
                reason = f"{role} {getattr(entry, role)} is not joined to {centre} by a trunk"
                raise LocatedError(("doctrine", index, role), reason)
        if entry.alternate == entry.primary:
            raise LocatedError(("doctrine", index, "alternate"), "the alternate is the primary itself")
        for prefix in entry.prefixes:
            where = ("doctrine", index, "prefixes")
            if prefix not in server:
                raise LocatedError(where, f"prefix {prefix} is served by no centre")
            if server[prefix] == centre:
                raise LocatedError(where, f"prefix {prefix} is served by {centre} itself")
            if (centre, prefix) in routed:
                raise LocatedError(where, f"{centre} has a second route for {prefix}")
            routed.add((centre, prefix))
    for index, described in enumerate(schema.centres):
        missing = [p for p, s in server.items() if s != described.name and (described.name, p) not in routed]
        if missing:
            reason = f"{described.name} has no doctrine for {', '.join(missing)}"
            raise LocatedError(("centres", index, "name"), reason)


def _check_loops(schema: _Network, network: Network) -> None:
    """From every centre, each prefix reaches its server: by primaries, and with any one trunk out."""
    entries = {(d.centre, p): i for i, d in enumerate(schema.doctrine) for p in d.prefixes}
    outages: list[tuple[Trunk | None, frozenset[Trunk]]] = [(None, frozenset())]
    outages += [(trunk, frozenset((trunk,))) for trunk in network.trunks.values()]
    for prefix in sorted(network.served_prefixes()):
        for trunk, out in outages:
            for start in network.centres:
                walk = network.walk(start, prefix, out)
                if walk[-1] == network.served_by(prefix):
                    continue
                closing = walk[-2]
                route = network.doctrine[closing, prefix]
                role = "primary" if walk[-1] == route.primary else "alternate"
                when = f" when trunk {trunk.name} is out" if trunk is not None else ""
                reason = f"the doctrine for {prefix} loops{when}: {' -> '.join(walk)}"
                raise LocatedError(("doctrine", entries[closing, prefix], role), reason)
