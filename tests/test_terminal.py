"""What reaches the operator's terminal: text off the bus with its control characters made visible."""

from __future__ import annotations

from pathlib import Path

from router.cable.parser import parse_cable
from router.cli.render import reading_line
from router.readout.terminal import visible
from router.sim.post import Reading

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_control_characters_are_shown_not_sent() -> None:
    """ESC, carriage return, bell, DEL and C1's CSI become printable marks; other text stays as it is."""
    assert visible("A\x1b[2JB\rC\x07D\x7fE\x9bF é") == "A^[[2JB^MC^GD^?E\\x9bF é"


def test_a_post_shows_an_escape_in_a_subject_as_text() -> None:
    """A subject carrying a terminal escape sequence is printed with the escape made visible."""
    text = (SAMPLES / "dual-precedence.txt").read_text()
    text = text.replace("SUBJECT: SAMPLE:", "SUBJECT: \x1b]0;PWNED\x07\x1b[2JSAMPLE:")
    cable = parse_cable(text.encode())
    reading = Reading(
        "EHC0001", cable, duplicate=False, cancelled=False, receipt=None, report=None, problem=None
    )
    line = reading_line(reading)
    assert "\x1b" not in line
    assert "\x07" not in line
    assert "^[]0;PWNED^G^[[2JSAMPLE:" in line


def test_a_flash_rings_the_bell_once_and_prints_none_of_it() -> None:
    """§151b's bell reaches the terminal as one BEL ahead of the line, never as text in it."""
    from router.network.channel import single_call  # noqa: PLC0415 (only this test)
    from router.sim.post import PostStation  # noqa: PLC0415

    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    line = reading_line(PostStation("RUEHFR").read(single_call(raw, "HFR0001", "RUEHFR", "ZZ")))
    assert line.startswith("\x07FLASH     HFR0001  RUEHRO-0877/01-3130915")
    assert line.count("\x07") == 1
    assert "^G" not in line


def test_a_service_message_from_the_switch_is_shown_as_one() -> None:
    """A ZFR cancelling a number is shown for what it is, not as a filed duplicate."""
    from router.network.channel import service_message  # noqa: PLC0415 (only this test)
    from router.sim.post import PostStation  # noqa: PLC0415

    reading = PostStation("RUEHFR").read(service_message("HFR0003", "RUEHFR", "ZFR HFR0002", 0.0))
    assert reading_line(reading) == "HFR0003  service message: UNCLAS SVC ZFR HFR0002"


def test_what_a_post_tells_the_switch_and_what_it_relays_are_shown() -> None:
    """A ZID's ZIC answer is printed under it (§412c); a copy for another station is shown as relayed."""
    from router.network.channel import service_message, single_call  # noqa: PLC0415 (only this test)
    from router.sim.post import PostStation  # noqa: PLC0415

    paris = PostStation("RUEHFR")
    raw = (SAMPLES / "flash-collective.txt").read_bytes()
    paris.read(single_call(raw, "HFR0001", "RUEHFR", "ZZ"))
    check = paris.read(service_message("HFR0002", "RUEHFR", "ZID HFR0001", 0.0, prosign="PP"))
    assert reading_line(check).splitlines() == [
        "HFR0002  service message: UNCLAS SVC ZID HFR0001",
        "          sent: ZIC HFR0001",
    ]
    relayed = paris.read(single_call(raw, "HFR0003", "RUEHLO", "OO"))
    assert reading_line(relayed) == "HFR0003  for RUEHLO: taken for relay (alternative route)"
