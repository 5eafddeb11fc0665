"""Scenarios: the committed demo loads, and a mistake is reported as file, line and field."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.errors import ScenarioError
from router.sim.scenario import DEFAULT_SCENARIO, load_scenario

if TYPE_CHECKING:
    from pathlib import Path

NETWORK = """
[[posts]]
ri = "RUEHFR"
names = ["AMEMBASSY PARIS"]
baud = 75

[[posts]]
ri = "RUEHC"
names = ["SECSTATE WASHDC"]
"""


def write(tmp_path: Path, scenario: str) -> Path:
    (tmp_path / "network.toml").write_text(NETWORK, encoding="utf-8")
    path = tmp_path / "scenario.toml"
    path.write_text(scenario, encoding="utf-8")
    return path


def test_the_demo_scenario_has_five_posts_a_flash_and_an_outage_that_ends() -> None:
    scenario, table = load_scenario(DEFAULT_SCENARIO)
    assert len(table.posts) == 5
    assert scenario.flash_at == (0.5,)
    assert [(f.line, f.state) for f in scenario.faults] == [("RUEHLO", "down"), ("RUEHLO", "up")]
    assert min(post.line.baud for post in table.posts.values()) == 75
    assert scenario.cable_count() == 60


def test_a_bad_state_names_its_file_line_and_field(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'network = "network.toml"\n\n[[faults]]\nat = 10\nline = "RUEHFR"\nstate = "sideways"\n'
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == f"{path}:6: faults.0.state: Input should be 'down' or 'up'"


def test_a_fault_on_a_line_the_network_does_not_have_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'network = "network.toml"\n\n[[faults]]\nat = 10\nline = "RUEHLO"\nstate = "down"\n'
    )
    with pytest.raises(ScenarioError, match=r"scenario\.toml:5: faults\.0\.line: RUEHLO is not a post of"):
        load_scenario(path)


def test_faults_out_of_order_are_refused(tmp_path: Path) -> None:
    faults = (
        '[[faults]]\nat = 10\nline = "RUEHFR"\nstate = "down"\n\n'
        '[[faults]]\nat = 5\nline = "RUEHFR"\nstate = "up"\n'
    )
    path = write(tmp_path, f'network = "network.toml"\n\n{faults}')
    with pytest.raises(
        ScenarioError, match=r"scenario\.toml:9: faults\.1\.at: faults must be in the order of their times$"
    ):
        load_scenario(path)
