"""A scenario: the network a simulation runs (a routing table), its traffic and its scheduled faults.

Written by hand in TOML (`config/scenarios/demo.toml`), so a mistake is reported as file, line and
field in one line. Times are network seconds from the start of the traffic.

A network scenario (`config/scenarios/network.toml`, `router demo --network`) also names a network
of switching centres (``centres``: config/network.toml's form) and may take its trunks down and up
(``trunk_faults``); `load_network_scenario` reads it.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.errors import LocatedError, ScenarioError, TableError
from router.routing.network_description import load_network
from router.routing.shipped import SHIPPED
from router.routing.table import RoutingIndicator, RoutingTable, load_table
from router.tomlfile import locate, read_validated

if TYPE_CHECKING:
    from router.routing.network import Network

DEFAULT_SCENARIO = SHIPPED / "scenarios" / "demo.toml"
"""The demo's scenario, shipped with the package."""
NETWORK_SCENARIO = SHIPPED / "scenarios" / "network.toml"
"""The scenario `router demo --network` runs: the shipped network of centres."""


class Fault(BaseModel):
    """A line going down or coming back up at a moment of the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float = Field(ge=0)
    line: RoutingIndicator
    state: Literal["down", "up"]


class TrunkFault(BaseModel):
    """A centre's trunk to a neighbour going down or coming back up at a moment of the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float = Field(ge=0)
    trunk: tuple[str, str]
    """The centre whose end is taken down, then the neighbour: ``["BELTSVILLE", "DETRICK"]``."""
    state: Literal["down", "up"]


class Scenario(BaseModel):
    """What a simulation runs: how much traffic, how fast, which FLASH, which faults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    network: str = Field(min_length=1)
    """The routing table, relative to the scenario's file."""
    duration: float = Field(default=1800.0, gt=0)
    rate: float = Field(default=2.0, gt=0)
    """Cables per network minute."""
    seed: int = 1
    flash_at: tuple[Annotated[float, Field(ge=0, le=1)], ...] = (0.5,)
    """Shares of the duration at which a cable is forced to FLASH."""
    posts: tuple[RoutingIndicator, ...] | None = None
    """The posts that originate and receive the traffic; none: every post of the network."""
    faults: tuple[Fault, ...] = ()
    centres: str | None = Field(default=None, min_length=1)
    """A network of switching centres (config/network.toml's form), relative to the scenario's file."""
    trunk_faults: tuple[TrunkFault, ...] = ()

    @model_validator(mode="after")
    def _faults_in_order(self) -> Scenario:
        for name, faults in (("faults", self.faults), ("trunk_faults", self.trunk_faults)):
            times = [fault.at for fault in faults]
            for index, (before, after) in enumerate(pairwise(times)):
                if after < before:
                    raise LocatedError((name, index + 1, "at"), f"{name} must be in the order of their times")
        if self.trunk_faults and self.centres is None:
            raise LocatedError(("trunk_faults",), "trunk_faults need a network of centres (centres = ...)")
        return self

    def cable_count(self) -> int:
        """How many cables the traffic holds."""
        return max(1, round(self.duration * self.rate / 60))


def load_scenario(path: Path = DEFAULT_SCENARIO) -> tuple[Scenario, RoutingTable]:
    """Read a scenario and its network; every line a fault names must be a post of that network."""
    scenario, text = read_validated(path, Scenario, error=ScenarioError)
    table = load_table(path.parent / scenario.network)
    for index, fault in enumerate(scenario.faults):
        if fault.line not in table.posts:
            raise ScenarioError(
                f"{fault.line} is not a post of {scenario.network}",
                path=path,
                line=locate(text, ("faults", index, "line")),
                field=f"faults.{index}.line",
            )
    for post in scenario.posts or ():
        if post not in table.posts:
            raise ScenarioError(
                f"{post} is not a post of {scenario.network}",
                path=path,
                line=locate(text, ("posts",)),
                field="posts",
            )
    return scenario, table


def load_network_scenario(path: Path = NETWORK_SCENARIO) -> tuple[Scenario, RoutingTable, Network]:
    """A scenario of a network of centres: `load_scenario`, its centres, its trunk faults checked.

    Every post the traffic may use must be some centre's tributary, and every trunk a fault names
    a trunk of the network; each mistake is one line with the scenario's file, line and field.
    """
    scenario, table = load_scenario(path)
    text = path.read_text(encoding="utf-8")
    if scenario.centres is None:
        raise ScenarioError(
            "a network demo needs a network of centres (centres = ...)", path=path, line=1, field="centres"
        )
    try:
        network = load_network(path.parent / scenario.centres)
    except TableError as exc:
        raise ScenarioError(str(exc), path=path, line=_top_line(text, "centres"), field="centres") from None
    for index, fault in enumerate(scenario.trunk_faults):
        if network.trunk(*fault.trunk) is None:
            raise ScenarioError(
                f"no trunk joins {fault.trunk[0]} and {fault.trunk[1]} in {scenario.centres}",
                path=path,
                line=locate(text, ("trunk_faults", index, "trunk")),
                field=f"trunk_faults.{index}.trunk",
            )
    unserved = sorted(ri for ri in scenario.posts or table.posts if network.centre_of(ri) is None)
    if unserved:
        raise ScenarioError(
            f"no centre of {scenario.centres} serves {', '.join(unserved[:5])}",
            path=path,
            line=_top_line(text, "network"),
            field="network",
        )
    return scenario, table, network


def _top_line(text: str, key: str) -> int | None:
    """The line of a top-level ``key = ...`` (before the first table), for an error to point at."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("["):
            return None
        if line.split("=", 1)[0].strip() == key and "=" in line:
            return number
    return None
