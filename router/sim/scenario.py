"""A scenario: the network a simulation runs (a routing table), its traffic and its scheduled faults.

Written by hand in TOML (`config/scenarios/demo.toml`), so a mistake is reported as file, line and
field in one line. Times are network seconds from the start of the traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from router.errors import LocatedError, ScenarioError
from router.routing.shipped import SHIPPED
from router.routing.table import RoutingIndicator, RoutingTable, load_table
from router.tomlfile import locate, read_validated

DEFAULT_SCENARIO = SHIPPED / "scenarios" / "demo.toml"
"""The demo's scenario, shipped with the package."""


class Fault(BaseModel):
    """A line going down or coming back up at a moment of the run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float = Field(ge=0)
    line: RoutingIndicator
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

    @model_validator(mode="after")
    def _faults_in_order(self) -> Scenario:
        for index, (before, after) in enumerate(zip(self.faults, self.faults[1:], strict=False)):
            if after.at < before.at:
                raise LocatedError(("faults", index + 1, "at"), "faults must be in the order of their times")
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
