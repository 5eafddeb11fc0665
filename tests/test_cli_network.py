"""The simulation's commands: generate, replay, line and report, with their one-line errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from typer.testing import CliRunner

from router import parse_cable
from router.bus.mqtt import BrokerAddress, MqttBus
from router.cli import app
from tests.helpers import receive

if TYPE_CHECKING:
    from router.bus.broker import Mosquitto

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
runner = CliRunner()


def test_generate_writes_cables_that_parse_and_the_same_seed_writes_the_same(tmp_path: Path) -> None:
    """`router generate --out DIR`: real-format cables, identical for one seed and start.

    Without ``--start`` the cables are dated from now: two runs a minute apart differ in their DTGs.
    """
    for name in ("a", "b"):
        result = runner.invoke(
            app,
            [
                "generate",
                "--count",
                "5",
                "--seed",
                "3",
                "--start",
                "2009-01-01T12:00",
                "--out",
                str(tmp_path / name),
            ],
        )
        assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "a").glob("*.txt"))
    assert [path.name for path in written] == [f"gen-{n:06d}.txt" for n in range(1, 6)]
    assert all(parse_cable(path.read_bytes()).to for path in written)
    assert [p.read_bytes() for p in written] == [
        p.read_bytes() for p in sorted((tmp_path / "b").glob("*.txt"))
    ]


async def test_replay_publishes_real_cables_in_dtg_order(mosquitto: Mosquitto) -> None:
    """`router replay samples/`: every sample on the intake, oldest DTG first."""
    address = BrokerAddress.parse(mosquitto.url)
    async with MqttBus(address, client_id="replay-watcher") as watcher:
        await watcher.subscribe("cables/in/#")
        result = await asyncio.to_thread(
            runner.invoke, app, ["replay", str(SAMPLES), "--broker", mosquitto.url]
        )
        assert result.exit_code == 0, result.output
        got = await receive(watcher, 4)
    dtgs = [parse_cable(message.payload).dtg for message in got]
    dated = [dtg for dtg in dtgs if dtg is not None]
    assert dated == sorted(dated)
    assert "published 4 cables" in result.output


async def test_line_down_tells_the_router_on_its_control_topic(mosquitto: Mosquitto) -> None:
    """`router line down RUEHFR` publishes 'down' on router/line/RUEHFR."""
    address = BrokerAddress.parse(mosquitto.url)
    async with MqttBus(address, client_id="line-watcher") as watcher:
        await watcher.subscribe("router/line/+")
        result = await asyncio.to_thread(
            runner.invoke, app, ["line", "down", "RUEHFR", "--broker", mosquitto.url]
        )
        assert result.exit_code == 0, result.output
        (message,) = await receive(watcher, 1)
    assert (message.topic, message.payload) == ("router/line/RUEHFR", b"down")


def test_line_refuses_anything_but_down_or_up_and_an_ri() -> None:
    result = runner.invoke(app, ["line", "sideways", "RUEHFR"])
    assert result.exit_code == 2
    assert result.output.strip() == "router line: expected 'down RI' or 'up RI', not 'sideways' 'RUEHFR'"


async def test_retransmit_asks_the_router_for_each_post(mosquitto: Mosquitto) -> None:
    """`router retransmit ID RUEHFR RUEHRO` publishes the message id on router/retransmit/<RI> for each."""
    address = BrokerAddress.parse(mosquitto.url)
    async with MqttBus(address, client_id="retransmit-watcher") as watcher:
        await watcher.subscribe("router/retransmit/+")
        result = await asyncio.to_thread(
            runner.invoke,
            app,
            ["retransmit", "RUEHKO-1571-1610901", "RUEHFR", "RUEHRO", "--broker", mosquitto.url],
        )
        assert result.exit_code == 0, result.output
        got = await receive(watcher, 2)
    assert [(m.topic, m.payload) for m in got] == [
        ("router/retransmit/RUEHFR", b"RUEHKO-1571-1610901"),
        ("router/retransmit/RUEHRO", b"RUEHKO-1571-1610901"),
    ]


def test_retransmit_refuses_what_is_not_a_routing_indicator() -> None:
    result = runner.invoke(app, ["retransmit", "RUEHKO-1571-1610901", "paris"])
    assert result.exit_code == 2
    assert result.output.strip() == "router retransmit: not a routing indicator: 'paris'"


def test_report_without_a_journal_fails_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--journal", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1
    assert result.output.strip() == f"router report: no journal at {tmp_path / 'none.sqlite'}"
