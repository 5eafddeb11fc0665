"""The simulation's commands: generate, replay, line and report, with their one-line errors."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from router import parse_cable
from router.bus.mqtt import BrokerAddress, MqttBus
from router.cli import app
from tests.helpers import receive
from tests.test_run import CABLE, first_copy, router_process

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


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["sideways", "RUEHFR"], "router line: the state is 'down' or 'up', not 'sideways'"),
        (["down", "ruehfr"], "router line: not a routing indicator: 'ruehfr'"),
        (["down", "RUXXQQ"], "router line: RUXXQQ is not a post of the routing table "),
    ],
)
def test_line_refuses_a_bad_state_a_malformed_ri_and_an_ri_the_table_lacks(
    args: list[str], said: str
) -> None:
    """Each mistake named for what it is, before anything is published (nothing would be done)."""
    result = runner.invoke(app, ["line", *args])
    assert result.exit_code == 2
    assert result.output.startswith(said)
    assert len(result.output.splitlines()) == 1


async def test_retransmit_unanswered_says_so_and_fails(mosquitto: Mosquitto) -> None:
    """With no router to answer, the requests are published and the command says nothing was sent."""
    address = BrokerAddress.parse(mosquitto.url)
    async with MqttBus(address, client_id="retransmit-watcher") as watcher:
        await watcher.subscribe("router/retransmit/+")
        result = await asyncio.to_thread(
            runner.invoke,
            app,
            [
                "retransmit",
                "RUEHKO-1571-1610901",
                "RUEHFR",
                "RUEHRO",
                "--broker",
                mosquitto.url,
                "--wait",
                "0.5",
            ],
        )
        got = await receive(watcher, 2)
    assert [(m.topic, m.payload) for m in got] == [
        ("router/retransmit/RUEHFR", b"RUEHKO-1571-1610901"),
        ("router/retransmit/RUEHRO", b"RUEHKO-1571-1610901"),
    ]
    assert result.exit_code == 1
    assert "RUEHKO-1571-1610901 to RUEHFR: no answer from the router within 0.5 s" in result.output
    assert result.output.strip().endswith("router retransmit: not sent again to RUEHFR RUEHRO")


def test_retransmit_says_what_the_router_did(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """A copy the journal holds goes again (exit 0); one it does not hold is named and fails (exit 1)."""
    with router_process(mosquitto, tmp_path / "journal.sqlite"):
        # RUEHOTW: the copy sent again waits in its session, which no other test reads.
        message_id = asyncio.run(first_copy(mosquitto, "RUEHOTW", publish=CABLE))
        sent = runner.invoke(app, ["retransmit", message_id, "RUEHOTW", "--broker", mosquitto.url])
        missing = runner.invoke(app, ["retransmit", "NOPE-1", "RUEHOTW", "--broker", mosquitto.url])
    assert sent.exit_code == 0, sent.output
    assert sent.output.startswith(f"{message_id} to RUEHOTW: sent again (delivery ")
    assert missing.exit_code == 1
    assert "NOPE-1 to RUEHOTW: the router's journal holds no copy of it for this post" in missing.output


def test_retransmit_refuses_what_is_not_a_routing_indicator() -> None:
    result = runner.invoke(app, ["retransmit", "RUEHKO-1571-1610901", "paris"])
    assert result.exit_code == 2
    assert result.output.strip() == "router retransmit: not a routing indicator: 'paris'"


def test_report_without_a_journal_fails_in_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", "--journal", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1
    assert result.output.strip() == f"router report: no journal at {tmp_path / 'none.sqlite'}"


async def test_publish_files_cables_at_a_centre(mosquitto: Mosquitto) -> None:
    """`router publish --centre BELTSVILLE FILE`: on centres/BELTSVILLE/in/<file name>, its first centre."""
    address = BrokerAddress.parse(mosquitto.url)
    sample = SAMPLES / "flash-collective.txt"
    async with MqttBus(address, client_id="centre-intake-watcher") as watcher:
        await watcher.subscribe("centres/+/in/#")
        result = await asyncio.to_thread(
            runner.invoke, app, ["publish", "--centre", "BELTSVILLE", str(sample), "--broker", mosquitto.url]
        )
        assert result.exit_code == 0, result.output
        (message,) = await receive(watcher, 1)
    assert (message.topic, message.payload) == ("centres/BELTSVILLE/in/flash-collective", sample.read_bytes())
    refused = runner.invoke(app, ["publish", "--centre", "beltsville", str(sample)])
    assert refused.exit_code == 2
    assert refused.output == "router publish: not a centre's name: 'beltsville' (capitals, e.g. BELTSVILLE)\n"
