"""One line on a hand-driven clock: order, transmission time, pre-emption, outages, serials, window."""

from __future__ import annotations

import pytest

from router import Precedence
from router.errors import TableError
from router.network.channel import line_characters
from router.network.line import CANCELLATION, Consignment, Line, LineRules
from router.routing.table import LineProfile, parse_table

R, P, IMMEDIATE, Z, Y = (
    Precedence.ROUTINE,
    Precedence.PRIORITY,
    Precedence.IMMEDIATE,
    Precedence.FLASH,
    Precedence.ECP,
)


def line(baud: int = 75, window: int = 100, **rules: float) -> Line:
    """Paris at ``baud``, in the code of its speed: at 75 baud ITA2, 7.5 units, 10 characters a second."""
    return Line("RUEHFR", baud, window, LineRules(**rules))  # type: ignore[arg-type]


def drain(subject: Line, now: float = 0.0) -> list[tuple[int, int, float]]:
    """Run the line until it is empty: (delivery id, serial, end) of every transmission in order."""
    sent = []
    while (transmission := subject.start(now)) is not None:
        now = transmission.ends
        assert subject.finish(now) == transmission
        subject.acknowledged(transmission.queued.delivery_id)
        sent.append((transmission.queued.delivery_id, transmission.serial, transmission.ends))
    return sent


def test_precedence_first_then_arrival_on_one_line() -> None:
    """FLASH before IMMEDIATE before ROUTINE; within a precedence, first come first served."""
    paris = line()
    for delivery, precedence in enumerate([R, R, IMMEDIATE, Z, IMMEDIATE, P]):
        paris.put(Consignment(delivery, delivery, precedence), 10, now=0.0)
    assert [delivery for delivery, _, _ in drain(paris)] == [3, 2, 4, 5, 0, 1]


def test_a_transmission_takes_its_characters_time_at_the_line_speed() -> None:
    """1,000 characters at 75 baud and 7.5 units: 100 s; at 10 units (ASCII): 133 s; unthrottled: 0."""
    assert line(75).duration(1000) == pytest.approx(100.0)
    assert line(75, units_per_character=10).duration(1000) == pytest.approx(1000 * 10 / 75)
    assert line(0).duration(10**6) == 0.0
    paris = line(75)
    paris.put(Consignment(1, 1, R), 1000, now=50.0)
    transmission = paris.start(now=50.0)
    assert transmission is not None
    assert transmission.started == 50.0
    assert transmission.ends == pytest.approx(150.0)
    assert paris.finish(149.9) is None, "not before its last character"
    assert paris.finish(150.0) == transmission


def test_a_flash_busts_a_routine_in_progress_which_goes_again_whole_under_a_new_serial() -> None:
    """The ROUTINE's serial is used up; the FLASH goes at once; the ROUTINE follows, whole, as serial 3."""
    paris = line()
    paris.put(Consignment(1, 1, R), 3000, now=0.0)
    routine = paris.start(now=0.0)
    assert routine is not None
    assert routine.serial == 1
    busted = paris.put(Consignment(2, 2, Z), 200, now=120.0)
    assert busted == routine
    assert paris.current is None
    flash = paris.start(now=120.0)
    assert flash is not None
    assert (flash.queued.delivery_id, flash.serial) == (2, 2)
    assert flash.ends == pytest.approx(140.0)
    paris.finish(140.0)
    again = paris.start(now=140.0)
    assert again is not None
    assert (again.queued.delivery_id, again.serial, again.queued.cause) == (1, 3, "bust")
    assert again.ends - again.started == pytest.approx(300.0), "the whole cable again, not the rest of it"


def test_ecp_busts_a_flash_but_a_flash_does_not_bust_a_flash() -> None:
    """Emergency command precedence pre-empts FLASH; equal precedence never interrupts."""
    paris = line()
    paris.put(Consignment(1, 1, Z), 1000, now=0.0)
    paris.start(now=0.0)
    assert paris.put(Consignment(2, 2, Z), 100, now=1.0) is None
    assert paris.put(Consignment(3, 3, Y), 100, now=2.0) is not None


def test_immediate_does_not_bust_a_transmission_that_finishes_sooner_than_its_cancellation() -> None:
    """§151c: IMMEDIATE interrupts unless cancelling (E E E E E E E E AR and NNNN, 4.4 s) takes longer."""
    assert CANCELLATION == 44  # 18 characters of the signal, 26 of the end-of-message functions
    paris = line()
    paris.put(Consignment(1, 1, R), 1000, now=0.0)  # 100 s
    paris.start(now=0.0)
    assert paris.put(Consignment(2, 2, IMMEDIATE), 300, now=96.0) is None, "4 s left, cancelling takes 4.4"
    assert paris.current is not None
    paris.finish(100.0)
    assert paris.start(now=100.0) is not None
    assert paris.current.queued.delivery_id == 2, "then it goes first"

    later = line()
    later.put(Consignment(1, 1, R), 1000, now=0.0)
    later.start(now=0.0)
    assert later.put(Consignment(2, 2, IMMEDIATE), 300, now=95.0) is not None, "5 s left, more than 4.4"


def test_a_long_immediate_still_busts_a_routine_with_minutes_left() -> None:
    """§151c: the IMMEDIATE's own length does not count; at 75 baud 2,000 characters bust 150 s of ROUTINE."""
    paris = line()
    paris.put(Consignment(1, 1, R), 2_000, now=0.0)  # 200 s
    paris.start(now=0.0)
    busted = paris.put(Consignment(2, 2, IMMEDIATE), 2_000, now=50.0)  # 150 s left; the IMMEDIATE needs 200
    assert busted is not None
    assert busted.queued.delivery_id == 1
    started = paris.start(now=50.0)
    assert started is not None
    assert started.queued.delivery_id == 2


def test_the_cost_of_cancelling_is_a_rule_of_the_line() -> None:
    """A slower cancellation (more characters) lets a transmission with more time left finish."""
    paris = line(cancellation=200)  # 20 s at 75 baud
    paris.put(Consignment(1, 1, R), 1000, now=0.0)
    paris.start(now=0.0)
    assert paris.put(Consignment(2, 2, IMMEDIATE), 10, now=85.0) is None, "15 s left, cancelling takes 20"


def test_priority_busts_only_an_extra_long_routine() -> None:
    """§151d: a PRIORITY waits behind an ordinary ROUTINE, and busts one longer than extra-long."""
    ordinary = line(extra_long=6900)
    ordinary.put(Consignment(1, 1, R), 5000, now=0.0)
    ordinary.start(now=0.0)
    assert ordinary.put(Consignment(2, 2, P), 100, now=1.0) is None

    long = line(extra_long=6900)
    long.put(Consignment(1, 1, R), 20_000, now=0.0)
    long.start(now=0.0)
    assert long.put(Consignment(2, 2, P), 100, now=1.0) is not None

    # §151d: the PRIORITY's own length does not count: a PRIORITY longer than what is left of the
    # extra-long ROUTINE still busts it (before, it waited when it was the longer of the two).
    longer_priority = line(extra_long=6900)
    longer_priority.put(Consignment(1, 1, R), 20_000, now=0.0)  # 2,000 s at 75 baud
    longer_priority.start(now=0.0)
    busted = longer_priority.put(Consignment(2, 2, P), 30_000, now=1.0)
    assert busted is not None
    assert busted.queued.delivery_id == 1

    # Nearly done: 4 s left, cancelling takes 4.4 s (§151c's measure, kept for §151d).
    for now, busts in [(1996.0, False), (1995.0, True)]:
        nearly_done = line(extra_long=6900)
        nearly_done.put(Consignment(1, 1, R), 20_000, now=0.0)
        nearly_done.start(now=0.0)
        assert (nearly_done.put(Consignment(2, 2, P), 100, now=now) is not None) is busts, now

    immediate_in_progress = line(extra_long=6900)
    immediate_in_progress.put(Consignment(1, 1, IMMEDIATE), 20_000, now=0.0)
    immediate_in_progress.start(now=0.0)
    assert immediate_in_progress.put(Consignment(2, 2, P), 100, now=1.0) is None


def test_an_outage_holds_traffic_and_releases_it_in_precedence_order() -> None:
    """Down: the transmission is cut and nothing starts. Up: FLASH, IMMEDIATE, then ROUTINE by arrival."""
    paris = line()
    paris.put(Consignment(1, 1, R), 500, now=0.0)
    paris.start(now=0.0)
    cut = paris.down()
    assert cut is not None
    assert cut.queued.delivery_id == 1
    for delivery, precedence in [(2, R), (3, IMMEDIATE), (4, Z)]:
        assert paris.put(Consignment(delivery, delivery, precedence), 100, now=10.0) is None
    assert paris.start(now=20.0) is None, "nothing goes on a line that is down"
    paris.up = True
    sent = drain(paris, now=600.0)
    assert [delivery for delivery, _, _ in sent] == [4, 3, 1, 2]
    assert [serial for _, serial, _ in sent] == [2, 3, 4, 5], "serial 1 was used by the cut transmission"


def test_the_window_holds_back_until_a_receipt() -> None:
    """With a window of 2, a third copy waits for a receipt; a receipt counts once."""
    paris = line(baud=0, window=2)
    for delivery in range(3):
        paris.put(Consignment(delivery, delivery, R), 10, now=0.0)
    for _ in range(2):
        transmission = paris.start(now=0.0)
        assert transmission is not None
        paris.finish(0.0)
    assert paris.start(now=0.0) is None
    assert paris.depths() == {"ROUTINE": 1, "in_flight": 2}
    assert paris.acknowledged(0)
    assert not paris.acknowledged(0), "a receipt counts once"
    assert paris.start(now=0.0) is not None


def test_a_receipt_s_serial_names_the_copy_in_flight_until_it_leaves_the_window() -> None:
    """§151b: a receipt quotes the channel serial; the line knows which copy in flight it was.

    A copy sent again takes a new serial; one receipted or given up names nothing in memory (the
    journal answers for it then); a serial taken by a service message no longer names the copy
    sent under it a series before.
    """
    paris = line(0)
    for delivery in (1, 2):
        paris.put(Consignment(delivery, delivery, R), 10, now=0.0)
    first = paris.start(0.0)
    assert first is not None
    assert paris.finish(0.0) == first
    second = paris.start(0.0)
    assert second is not None
    assert paris.finish(0.0) == second
    assert paris.in_flight_under("HFR", first.serial) == 1
    assert paris.in_flight_under("HFR", second.serial) == 2
    assert paris.in_flight_under("HFX", first.serial) is None, "another channel's serial"
    assert paris.acknowledged(1)
    assert paris.in_flight_under("HFR", first.serial) is None
    paris.release(2)  # no receipt in time: sent again, under the next serial
    paris.put(Consignment(2, 2, R), 10, now=1.0, cause="ack-timeout")
    again = paris.start(1.0)
    assert again is not None
    assert paris.finish(1.0) == again
    assert paris.in_flight_under("HFR", again.serial) == 2
    assert paris.in_flight_under("HFR", second.serial) is None
    assert paris.sent_under == {again.serial: 2}, "memory holds the copies in flight, no more"
    paris.serial = again.serial - 1  # the numbers come round: a service message takes that serial
    assert paris.number(2.0) == f"HFR{again.serial:04d}"
    assert paris.in_flight_under("HFR", again.serial) is None
    assert paris.in_flight.keys() == {2}, "still in flight: its receipt is the journal's to find"


def test_serials_run_from_0001_to_9999_and_round_again() -> None:
    """Four digits in FL1: after 9999 comes 0001."""
    paris = line(baud=0)
    paris.serial = 9998
    for delivery in range(3):
        paris.put(Consignment(delivery, delivery, R), 10, now=0.0)
    assert [serial for _, serial, _ in drain(paris)] == [9999, 1, 2]
    assert paris.channel == "HFR"


def test_a_backlog_beyond_what_is_held_waits_in_the_journal_and_keeps_its_order() -> None:
    """Held: the best 4. A FLASH takes a place from the worst ROUTINE; a ROUTINE after spilled ones spills."""
    paris = Line("RUEHFR", 0, window=100, held=4)
    for delivery in range(6):
        paris.put(Consignment(delivery, delivery, R), 10, now=0.0)
    assert [q.delivery_id for q in sorted(paris.waiting)] == [0, 1, 2, 3]
    assert paris.spilled == {R: 2}
    paris.put(Consignment(9, 9, Z), 10, now=0.0)
    assert [q.delivery_id for q in sorted(paris.waiting)] == [9, 0, 1, 2]
    assert paris.spilled == {R: 3}, "ROUTINE 3 went to the journal, before 4 and 5"
    assert paris.depths() == {"FLASH": 1, "ROUTINE": 6, "in_flight": 0}
    assert not paris.needs_refill()
    for _ in range(3):
        paris.start(now=0.0)
        paris.finish(0.0)
    assert paris.needs_refill()
    paris.refill([(Consignment(d, d, R), 10, 0.0) for d in (3, 4, 5)], exhausted=True)
    assert [q.delivery_id for q in sorted(paris.waiting)] == [2, 3, 4, 5]
    assert not any(paris.spilled.values())


def test_a_retransmission_is_always_held() -> None:
    """A ZFX or timeout resend is no longer queued in the journal: it never spills."""
    paris = Line("RUEHFR", 0, window=100, held=1)
    paris.put(Consignment(1, 1, R), 10, now=0.0)
    paris.put(Consignment(2, 2, R), 10, now=0.0, cause="zfx")
    assert {q.delivery_id for q in paris.waiting} == {1, 2}


@pytest.mark.parametrize(
    ("baud", "units"),
    [(45, 7.42), (50, 7.5), (75, 7.5), (110, 11.0), (150, 10.0), (1200, 10.0), (2400, 10.0)],
)
def test_each_line_runs_the_code_of_its_speed(baud: int, units: float) -> None:
    """ITA2 7.42-7.5 units at 45.45-75 baud; ASCII 11 at 110 (two stop units), 10 from 150 (DOMAIN)."""
    subject = line(baud)
    assert subject.units == units
    assert subject.line_code == ("ita2" if baud < 110 else "ascii")
    assert subject.duration(1000) == pytest.approx(1000 * units / baud)


def test_a_post_s_own_code_and_a_setting_for_every_line_override_the_speed() -> None:
    """A 1,200-baud line set to ITA2 in the table takes 7.5 units; `units_per_character` rules all lines."""
    assert Line("RUEHFR", 1200, 4, LineRules(), code="ita2").units == 7.5
    assert Line("RUEHFR", 75, 4, LineRules(), code="ascii").units == 11.0
    assert Line("RUEHFR", 2400, 4, LineRules(units_per_character=7.5)).units == 7.5


def test_a_line_counts_what_it_sends_not_what_it_prints() -> None:
    """2CR 1LF a line end (§138b); on ITA2 a FIGS or LTRS at each change of case (§137a, §138g)."""
    assert line_characters(b"VZCZCHFR0042\n", "ascii") == 12 + 3
    assert line_characters(b"VZCZCHFR0042\n", "ita2") == 12 + 3 + 1  # FIGS before 0042
    assert line_characters(b"DE RUEHKO 1571 1610901\n", "ita2") == 22 + 3 + 1  # FIGS once, before 1571
    assert line_characters(b"A1B2\n", "ita2") == 4 + 3 + 3
    assert line_characters(b"123", "ita2") == 3 + 1, "a transmission starts in letters case"


def test_a_post_s_line_code_is_read_from_the_routing_table() -> None:
    """``code`` per post (or in the defaults) is kept on its line profile; any other value is refused."""
    table = parse_table(
        '[defaults]\ncode = "ascii"\n[[posts]]\nri = "RUEHFR"\nnames = ["AMEMBASSY PARIS"]\nbaud = 1200\n'
        'code = "ita2"\n[[posts]]\nri = "RUEHC"\nnames = ["SECSTATE WASHDC"]\n'
    )
    assert table.posts["RUEHFR"].line == LineProfile(baud=1200, window=4, code="ita2")
    assert table.posts["RUEHC"].line.code == "ascii"
    with pytest.raises(TableError, match="code"):
        parse_table('[[posts]]\nri = "RUEHFR"\nnames = ["AMEMBASSY PARIS"]\ncode = "morse"\n')


def test_channel_numbers_start_again_at_0001_on_a_new_day() -> None:
    """§413a: the first number after midnight UTC (network clock) is 0001; the day's last is kept."""
    paris = line(baud=0)
    before_midnight = 86_400.0 * 11_000 - 10
    for delivery in (1, 2):
        paris.put(Consignment(delivery, delivery, R), 100, now=before_midnight)
    assert [serial for _, serial, _ in drain(paris, now=before_midnight)] == [1, 2]
    assert paris.number(before_midnight + 5) == "HFR0003", "a service message takes the day's next"
    paris.put(Consignment(3, 3, R), 100, now=before_midnight + 20)
    assert [serial for _, serial, _ in drain(paris, now=before_midnight + 20)] == [1]
    assert paris.last_of_series == 3
