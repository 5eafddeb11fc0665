"""`router trace`: one cable's arrivals, copies, transmissions and receipts, read back from the journal."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from router.bus.memory import MemoryBroker
from router.cli import app
from router.journal.store import Journal
from router.network.clock import ManualClock, settle
from router.readout.trace import read_trace, render_trace
from router.routing.table import load_table
from router.switch.core import Limits
from tests.helpers import receipt_for, running
from tests.test_simulation import START, cable, network, network_on

runner = CliRunner()
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ROUTINE, FLASH = "RUEHRO-0001-0011200", "RUEHRO-0002-0011200"


async def busted_and_receipted(location: Path | str) -> Path | str:
    """A long ROUTINE to Paris busted by a FLASH, the FLASH receipted and sent twice, a bad cable.

    ``location``: a test's folder (the journal made in it), or a journal's PostgreSQL URL; returned
    is the journal's path or URL.
    """
    journal = location / "journal.sqlite" if isinstance(location, Path) else location
    async with network_on(journal) as net:
        await net.publish(cable(1, "R", text=3000))
        await net.clock.advance(60)
        await net.publish(cable(2, "Z"))
        await net.clock.advance(40)
        received = net.received()
        await net.publisher.publish("cables/ack/RUEHFR", receipt_for(received[1]))
        await net.publish(cable(2, "Z"), b"not a cable at all\n")
        await net.clock.advance(400)
    net.journal.close()  # read back read-only; a PostgreSQL connection is not left open
    return journal


async def test_a_busted_copy_shows_both_transmissions_and_its_delivery(tmp_path: Path) -> None:
    """The ROUTINE's copy went out twice: HFR0001 busted, HFR0003 (cause bust) delivered whole."""
    journal = await busted_and_receipted(tmp_path)
    (arrival,) = read_trace(journal, ROUTINE)
    assert arrival.status == "routed"
    (copy,) = arrival.copies
    assert (copy.post, copy.precedence, copy.state) == ("RUEHFR", "ROUTINE", "delivered")
    sent = [(t.transmission, t.cause, t.outcome) for t in copy.transmissions]
    assert sent == [("HFR0001", "first", "busted"), ("HFR0003", "bust", "delivered")]
    assert copy.delivered_at == copy.transmissions[-1].ended_at


async def test_a_second_arrival_is_traced_as_the_duplicate_it_is(tmp_path: Path) -> None:
    """The FLASH came twice: the first arrival was delivered and receipted, the second filed."""
    journal = await busted_and_receipted(tmp_path)
    first, second = read_trace(journal, FLASH)
    (copy,) = first.copies
    assert copy.state == "acknowledged"
    assert copy.acknowledged_at is not None
    assert [t.transmission for t in copy.transmissions] == ["HFR0002"]
    assert second.status == "duplicate"
    assert second.detail == {"original": first.journal_id}
    assert second.copies == ()
    text = render_trace([first, second])
    assert "receipted" in text
    assert f"duplicate of journal {first.journal_id}" in text


async def test_the_command_traces_by_journal_id_and_fails_in_one_line(tmp_path: Path) -> None:
    """A rejected cable has no message id: its journal id finds it; an unknown id is one line, exit 1."""
    journal = await busted_and_receipted(tmp_path)
    result = runner.invoke(app, ["trace", "4", "--journal", str(journal), "--json"])
    assert result.exit_code == 0, result.output
    (rejected,) = json.loads(result.output)
    assert rejected["status"] == "rejected"
    assert rejected["detail"]["line"] == 1
    missing = runner.invoke(app, ["trace", "RUEHXX-0001-0000000", "--journal", str(journal)])
    assert missing.exit_code == 1
    assert missing.output.strip() == f"router trace: no cable RUEHXX-0001-0000000 in {journal}"


async def test_addressees_not_delivered_to_are_kept_with_the_reason(tmp_path: Path) -> None:
    """The FLASH sample sets aside Naples (ZEN), Valletta (XMT) and Rome, which filed it."""
    broker, clock = MemoryBroker(), ManualClock(START)
    journal = Journal(tmp_path / "journal.sqlite", clock=clock.now)
    async with running(broker.connect(), journal, load_table(), clock=clock):
        await broker.connect().publish("cables/in/flash", (SAMPLES / "flash-collective.txt").read_bytes())
        await settle()
    journal.close()
    (arrival,) = read_trace(tmp_path / "journal.sqlite", "RUEHRO-0877/01-3130915")
    assert {(a.addressee, a.reason) for a in arrival.set_aside} == {
        ("AMCONSUL NAPLES", "zen"),
        ("RUEHVT", "exempted"),
        ("RUEHRO", "originator"),
    }
    assert "  -- AMCONSUL NAPLES: ZEN, delivered by other means" in render_trace([arrival])


async def test_a_copy_given_up_on_is_traced_as_intercepted(tmp_path: Path) -> None:
    """A copy never receipted and intercepted (no-receipt) says so, with its transmissions counted."""
    async with network(tmp_path, limits=Limits(receipt_timeout=100, max_resends=2)) as net:
        await net.publish(cable(1, "R"))
        for _ in range(12):
            await net.clock.advance(60)
    (arrival,) = read_trace(tmp_path / "journal.sqlite", ROUTINE)
    (copy,) = arrival.copies
    assert copy.state == "intercepted"
    assert "intercepted: no receipt after 3 transmissions" in render_trace([arrival])


async def test_a_cable_without_fl3_is_traced_by_the_identification_the_switch_gave_it(tmp_path: Path) -> None:
    """§116: an ACP 126 cable is found by ``RUEHWEB-0001-…`` as by its digest, and the trace names both."""
    acp126 = (
        b"R 011200Z JAN 09\nFM AMEMBASSY ROME\nTO AMEMBASSY PARIS\n\nUNCLAS ROME 000001\n\nSUBJECT: OLD\n"
    )
    async with network(tmp_path) as net:
        await net.publish(acp126)
        await net.clock.advance(60)
    journal = tmp_path / "journal.sqlite"
    (by_wire,) = read_trace(journal, "RUEHWEB-0001-2520146")
    assert by_wire.message_id is not None
    assert by_wire.message_id.startswith("X-")
    assert by_wire.identified_as == "RUEHWEB-0001-2520146"
    assert read_trace(journal, by_wire.message_id) == [by_wire]
    assert render_trace([by_wire]).startswith(
        f"{by_wire.message_id}  on the wire RUEHWEB-0001-2520146  journal 1"
    )
