"""Relaying between switching centres: routing lines, trunk transmissions, FL2 segregation, local copies."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.cable.models import Precedence
from router.cable.parser import parse_cable
from router.errors import CableParseError
from router.network.channel import BELL, heading, identify, message_part, read_copy
from router.network.relaying import (
    Onward,
    Relayed,
    onward_transmission,
    originating_lines,
    relay,
    segregate,
)
from router.network.trunk import (
    LINE_WIDTH,
    RoutingLine,
    read_transmission,
    routing_line_text,
    write_transmission,
)
from router.routing.decide import decide
from router.routing.network import LOCAL
from router.routing.network_description import load_network
from router.routing.table import load_table
from tests.conftest import CORPUS, need

if TYPE_CHECKING:
    from router.routing.decide import Delivery
    from router.routing.network import Network
    from router.routing.table import RoutingTable

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
ORIGIN = "BELTSVILLE"
"""The centre the corpus's traffic enters by: the switch is RUEHWEB, State's relay (DOMAIN.md)."""
POST_TI = "HFR0042"
"""One transmission id for every post's copy, so that copies compare byte for byte."""
CABLES = ("07ANKARA1842", "06ISLAMABAD3705", "06PARIS7884", "08BERLIN1068")
"""Corpus cables: posts behind three centres, two precedences, 103 posts, a letter-spaced banner."""

NETWORK = load_network()
TABLE = load_table()


def _seed() -> bytes:
    return need(CORPUS / "seed-tokyo-1571.txt").read_bytes()


def _corpus(cable_id: str) -> bytes:
    return need(CORPUS / "cables" / f"{cable_id}.txt").read_bytes()


def _routed(raw: bytes, table: RoutingTable = TABLE) -> tuple[tuple[Delivery, ...], bytes]:
    """The deliveries the switch decides for ``raw``, and the message part every copy carries."""
    return decide(parse_cable(raw), table).deliveries, message_part(raw, identify(raw, 7, 1_700_000_000.0))


class _Flood:
    """A message sent from one centre through the whole network, every centre relaying on FL2 alone."""

    def __init__(self, network: Network, origin: str, lines: tuple[RoutingLine, ...], message: bytes) -> None:
        self.copies: dict[str, bytes] = {}
        """Post RI -> the copy its centre sent it."""
        self.served_at: dict[str, str] = {}
        """Post RI -> the centre that sent its copy."""
        self.hops: list[tuple[str, str, RoutingLine]] = []
        """Every trunk transmission: from, to, and its routing line."""
        self.unserved: list[str] = []
        serials = itertools.count(1)
        pending = [(origin, segregate(line, message, origin, network)) for line in lines]
        while pending:
            centre, relayed = pending.pop(0)
            self.unserved.extend(relayed.unserved)
            for onward in relayed.onward:
                if onward.path == LOCAL:
                    (post,) = onward.line.ris
                    assert post not in self.copies, f"{post} got two copies"
                    self.copies[post] = onward_transmission(POST_TI, onward)
                    self.served_at[post] = centre
                    continue
                assert len(self.hops) < 100, "the message goes round in circles"
                self.hops.append((centre, onward.path, onward.line))
                sent = onward_transmission(f"TRK{next(serials):04d}", onward)
                pending.append((onward.path, relay(sent, onward.path, network)))


def _flood(raw: bytes) -> tuple[tuple[Delivery, ...], bytes, _Flood]:
    deliveries, message = _routed(raw)
    return deliveries, message, _Flood(NETWORK, ORIGIN, originating_lines(deliveries, NETWORK), message)


def _today(raw: bytes, delivery: Delivery) -> bytes:
    """The copy the single switch sends a post today (router.switch: `heading` + `message_part`)."""
    prosign = delivery.precedence.letter * 2
    return heading(POST_TI, delivery.post, prosign) + message_part(raw, identify(raw, 7, 1_700_000_000.0))


# --- the originating centre


def test_a_cable_to_posts_behind_three_centres_leaves_the_originating_centre_once_per_path() -> None:
    """§303a(1), (4): the Tokyo cable leaves once for DETRICK, for the four posts there and beyond."""
    deliveries, _, flood = _flood(_seed())
    centres = {NETWORK.centre_of(d.post).name for d in deliveries}  # type: ignore[union-attr]
    assert centres == {"BELTSVILLE", "DETRICK", "WAHIAWA"}
    leaving = [(to, line.ris) for start, to, line in flood.hops if start == ORIGIN]
    assert leaving == [("DETRICK", ("RHHMUNA", "RUEAIIA", "RHEHAAA", "RHMFISS"))]
    # DETRICK keeps its three and sends WAHIAWA's one on: one trunk copy there too (§303a(3)-(4)).
    assert [(start, to, line.ris) for start, to, line in flood.hops[1:]] == [
        ("DETRICK", "WAHIAWA", ("RHHMUNA",))
    ]
    assert flood.served_at == {d.post: NETWORK.centre_of(d.post).name for d in deliveries}  # type: ignore[union-attr]


def test_a_cable_of_one_precedence_leaves_as_a_single_transmission() -> None:
    """§303a(1): every RI on one routing line, at the cable's precedence, each post's RI once (§204c)."""
    deliveries, _ = _routed(_seed())
    assert originating_lines(deliveries) == (
        RoutingLine(Precedence.IMMEDIATE, tuple(d.post for d in deliveries)),
    )


def test_a_dual_precedence_cable_leaves_at_each_precedence_higher_first() -> None:
    """§152c-e, §303b: action posts on an OO line, information posts on a PP line; no RI on both."""
    deliveries, _ = _routed((SAMPLES / "dual-precedence.txt").read_bytes())
    lines = originating_lines(deliveries)
    assert [line.prosign for line in lines] == ["OO", "PP"]
    assert lines[0].ris == tuple(d.post for d in deliveries if d.role == "action")
    assert lines[1].ris == tuple(d.post for d in deliveries if d.role == "info")


def test_a_flash_with_lower_addressees_is_two_transmissions_and_the_flash_goes_first() -> None:
    """§152e: the FLASH posts get a ZZ transmission of their own, ahead of the OO one for the rest."""
    deliveries, _ = _routed((SAMPLES / "flash-collective.txt").read_bytes())
    flash, immediate = originating_lines(deliveries, NETWORK)
    assert (flash.precedence, immediate.precedence) == (Precedence.FLASH, Precedence.IMMEDIATE)
    assert set(flash.ris) == {d.post for d in deliveries if d.precedence is Precedence.FLASH}
    assert set(flash.ris).isdisjoint(immediate.ris)


def test_a_post_given_twice_stands_once_at_its_higher_precedence() -> None:
    """§204c, §222: one RI once in all the routing lines, on the line of its highest precedence."""
    deliveries, _ = _routed(_seed())
    again = deliveries[1]._replace(precedence=Precedence.FLASH)
    flash, immediate = originating_lines((*deliveries, again))
    assert flash == RoutingLine(Precedence.FLASH, (again.post,))
    assert immediate.ris == tuple(d.post for d in deliveries if d.post != again.post)


def test_with_the_network_the_ris_of_one_centre_stand_together() -> None:
    """§204b: the RIs one relay station serves are grouped in FL2, not intermingled; unserved ones last."""
    deliveries, _ = _routed(_seed())
    by_post = {d.post: d for d in deliveries}
    order = ["RUEAIIA", "RUEHC", "RHHMUNA", "RHEHAAA", "RUEHBJ", "RHMFISS", "RUEHUL"]
    mixed = [by_post[ri] for ri in order]
    mixed.insert(3, deliveries[0]._replace(post="RSAAAA"))
    (line,) = originating_lines(mixed, NETWORK)
    assert line.ris == ("RUEAIIA", "RHEHAAA", "RHMFISS", "RUEHC", "RUEHBJ", "RUEHUL", "RHHMUNA", "RSAAAA")
    assert originating_lines(mixed)[0].ris == tuple(d.post for d in mixed)


# --- a relay: FL2 segregation


def test_a_relay_sends_one_copy_per_path_and_every_post_its_own() -> None:
    """§303a(3)-(5): DETRICK sends the Tokyo cable on once per path, a single call to each of its posts."""
    deliveries, message = _routed(_seed())
    (line,) = originating_lines(deliveries)
    received = write_transmission("DBA0001", line, message)
    relayed = relay(received, "DETRICK", NETWORK)
    assert [(o.path, o.line.ris) for o in relayed.onward] == [
        ("BELTSVILLE", ("RUEHC", "RUEHBJ", "RUEHUL")),
        ("WAHIAWA", ("RHHMUNA",)),
        (LOCAL, ("RUEAIIA",)),
        (LOCAL, ("RHEHAAA",)),
        (LOCAL, ("RHMFISS",)),
    ]
    assert {o.line.precedence for o in relayed.onward} == {Precedence.IMMEDIATE}
    assert relayed.unserved == ()


_RIS = st.lists(st.sampled_from(sorted(TABLE.posts)), min_size=1, max_size=40)


@settings(deadline=None, max_examples=60)
@given(
    ris=_RIS,
    unknown=st.lists(st.from_regex(r"\AQ[A-Z]{4,6}\Z"), max_size=3),
    centre=st.sampled_from(sorted(NETWORK.centres)),
)
def test_segregation_puts_each_ri_in_exactly_one_copy_and_leaves_the_message_alone(
    ris: list[str], unknown: list[str], centre: str
) -> None:
    """§303a(4), §303: the copies' RIs and the unserved ones partition FL2; FL3 to the end, byte for byte."""
    _, message = _routed(_seed())
    line = RoutingLine(Precedence.PRIORITY, tuple(dict.fromkeys([*ris, *unknown])))
    received = write_transmission("DBA0007", line, message)
    relayed = relay(received, centre, NETWORK)
    called = [ri for onward in relayed.onward for ri in onward.line.ris]
    assert sorted(called + list(relayed.unserved)) == sorted(line.ris)
    assert len(called) == len(set(called))
    assert set(relayed.unserved) == set(unknown)
    assert len({o.path for o in relayed.onward if o.path != LOCAL}) == sum(
        o.path != LOCAL for o in relayed.onward
    )
    for onward in relayed.onward:
        assert onward.message == received[received.index(b"\nDE ") + 1 :] == message
        assert onward.line.precedence is Precedence.PRIORITY
        sent = onward_transmission("TRK0001", onward)
        assert sent.endswith(message)


def test_ris_no_centre_serves_come_back_unserved() -> None:
    """DOMAIN.md, unroutable traffic: not dropped, not sent; returned apart for the intercept position."""
    line = RoutingLine(Precedence.ROUTINE, ("RSAAAA", "RUEHC", "QXYZAB"))
    message = b"DE RUEHKO #1 1610901\nBT\nNNNN\n"
    relayed = segregate(line, message, ORIGIN, NETWORK)
    local = Onward(LOCAL, RoutingLine(Precedence.ROUTINE, ("RUEHC",)), message)
    assert relayed == Relayed((local,), ("RSAAAA", "QXYZAB"))


def test_a_trunk_out_too_long_sends_its_ris_by_the_alternate() -> None:
    """§307, §308c(1): with the trunk to DETRICK out too long, the cable goes by TINKER, without a pilot."""
    deliveries, message = _routed(_seed())
    (line,) = originating_lines(deliveries, NETWORK)
    out = NETWORK.trunk(ORIGIN, "DETRICK")
    assert out is not None
    relayed = segregate(line, message, ORIGIN, NETWORK, {out})
    trunks = [(o.path, o.line.ris, o.pilot) for o in relayed.onward if o.path != LOCAL]
    assert trunks == [("TINKER", ("RHHMUNA", "RUEAIIA", "RHEHAAA", "RHMFISS"), None)]


def test_a_suspected_duplicate_goes_on_as_one_and_its_post_reads_it_so() -> None:
    """§427c(2): a transmission piloted ZFD goes on with its pilot; the post's copy carries ZFD (§427a)."""
    deliveries, message = _routed(_seed())
    (line,) = originating_lines(deliveries)
    received = write_transmission("DBA0002", line, message, pilot="RUEHWEB")
    assert read_transmission(received).pilot == "RUEHWEB"
    relayed = relay(received, "DETRICK", NETWORK)
    assert {o.pilot for o in relayed.onward} == {"RUEHWEB"}
    trunk = next(o for o in relayed.onward if o.path == "WAHIAWA")
    assert b"\nZFD RUEHWEB\nDE RUEHKO " in onward_transmission("DWA0001", trunk)
    local = next(o for o in relayed.onward if o.path == LOCAL)
    assert read_copy(onward_transmission(POST_TI, local)).suspect


# --- what a trunk transmission looks like


def test_a_flash_keeps_its_bell_from_the_originating_centre_to_the_post() -> None:
    """§151b, §137e(1): ZZ is preceded by the bell on every trunk FL2 and on the post's copy; OO is not."""
    deliveries, message = _routed((SAMPLES / "flash-collective.txt").read_bytes())
    flash, immediate = originating_lines(deliveries, NETWORK)
    sent = write_transmission("DBA0003", flash, message)
    assert sent.split(b"\n")[1].startswith(BELL + b"ZZ ")
    assert BELL not in write_transmission("DBA0004", immediate, message)
    read = read_transmission(sent)
    assert (read.bell, read.line) == (True, flash)
    for onward in relay(sent, ORIGIN, NETWORK).onward:
        copy = onward_transmission("TRK0009", onward)
        assert copy.split(b"\n")[1].startswith(BELL + b"ZZ ")
        if onward.path == LOCAL:
            assert read_copy(copy).bell
        else:
            assert read_transmission(copy).bell


def test_a_long_routing_line_wraps_at_69_characters_and_reads_back_whole() -> None:
    """§138f: no line over 69 characters; FL2 goes on over lines of RIs alone (§222c), none split."""
    deliveries, message = _routed(_corpus("06PARIS7884"))
    (line,) = originating_lines(deliveries, NETWORK)
    assert len(line.ris) > 100
    sent = write_transmission("DBA0005", line, message)
    fl2 = sent[: sent.index(b"\nDE ")].split(b"\n")[1:]
    assert len(fl2) > 10
    assert all(len(text) <= LINE_WIDTH for text in fl2)
    assert all(len(fl2[n]) + 1 + len(fl2[n + 1].split()[0]) > LINE_WIDTH for n in range(len(fl2) - 1))
    assert [ri for text in fl2 for ri in text.decode().split()] == ["PP", *line.ris]
    assert read_transmission(sent).line == line
    # the parser reads the continued routing line as the same RIs
    assert tuple(parse_cable(sent).relay_ris) == line.ris


_RI = st.from_regex(r"\A[A-Z]{4,7}\Z")


@settings(deadline=None)
@given(
    precedence=st.sampled_from(list(Precedence)),
    ris=st.lists(_RI, min_size=1, max_size=60),
    serial=st.integers(0, 9999),
    pilot=st.none() | _RI,
    blank=st.booleans(),
)
def test_a_transmission_reads_back_as_it_was_written(
    precedence: Precedence, ris: list[str], serial: int, pilot: str | None, blank: bool
) -> None:
    """Round trip: FL1's channel and serial, the prosign, the RIs in order, pilot, bell and message."""
    message = b"DE RUEHKO #1571 1610901\nZNR UUUUU\nBT\nUNCLAS DE RI\nBT\nNNNN\n"
    line = RoutingLine(precedence, tuple(dict.fromkeys(ris)))
    sent = write_transmission(f"DBA{serial:04d}", line, message, pilot=pilot)
    if blank:  # a blank line may stand before FL3 (DOMAIN.md, 00ATHENS1501)
        sent = sent.replace(b"\nDE ", b"\n\nDE ", 1)
    read = read_transmission(sent)
    assert (read.channel, read.serial, read.transmission_id) == ("DBA", serial, f"DBA{serial:04d}")
    assert (read.line, read.pilot, read.message) == (line, pilot, message)
    assert read.bell == (precedence >= Precedence.FLASH)
    assert all(len(text.removeprefix(BELL)) <= LINE_WIDTH for text in routing_line_text(line).split(b"\n"))


def test_an_ri_written_twice_is_called_once_and_crlf_line_ends_are_read() -> None:
    """§204c: a station's RI appears once in FL2; a transmission with CR LF line ends reads the same."""
    sent = b"VZCZCDBA0011     UU\r\nRR RUEHC RUEHBJ\r\nRUEHC RUEHUL\r\nDE RUEHKO #1 1610901\r\nBT\r\nNNNN\r\n"
    read = read_transmission(sent)
    assert read.line == RoutingLine(Precedence.ROUTINE, ("RUEHC", "RUEHBJ", "RUEHUL"))
    assert read.message == b"DE RUEHKO #1 1610901\r\nBT\r\nNNNN\r\n"


def test_an_empty_routing_line_is_not_written() -> None:
    """A transmission calls at least one station: an empty routing line is the caller's mistake."""
    with pytest.raises(ValueError, match="at least one"):
        routing_line_text(RoutingLine(Precedence.ROUTINE, ()))


@pytest.mark.parametrize(
    ("payload", "line", "column", "field", "reason"),
    [
        (b"", 1, 1, "FL1", "transmission identification"),
        (b"OO RUEHC\nDE RUEHKO #1 1610901\n", 1, 1, "FL1", "transmission identification"),
        (b"VZCZCDB0001\nOO RUEHC\nDE RUEHKO #1 1610901\n", 1, 1, "FL1", "3 letters"),
        (b"VZCZCDBA0001", 2, 1, "FL2", "ends after FL1"),
        (b"VZCZCDBA0001\nOP RUEHC\nDE RUEHKO #1 1610901\n", 2, 1, "FL2", "repeated precedence prosign"),
        (b"VZCZCDBA0001\n" + BELL + b"Z RUEHC\nDE RUEHKO #1 1610901\n", 2, 6, "FL2", "repeated precedence"),
        (b"VZCZCDBA0001\nRR\nDE RUEHKO #1 1610901\n", 2, 3, "FL2", "calls no routing indicator"),
        (b"VZCZCDBA0001\nRR RUEHC RU3HBJ\nDE RUEHKO #1 1610901\n", 2, 10, "FL2", "not a routing indicator"),
        (b"VZCZCDBA0001\nRR RUEHC\nRUEHBJ ruehul\nDE RUEHKO #1 1610901\n", 3, 8, "FL2", "not a routing"),
        (b"VZCZCDBA0001\nRR RUEHC\nZNR UUUUU\nBT\n", 3, 1, "FL3", "expected the DE line"),
        (b"VZCZCDBA0001\nRR RUEHC\n\nRUEHBJ\nDE RUEHKO #1 1610901\n", 4, 1, "FL3", "expected the DE line"),
        (b"VZCZCDBA0001\nRR RUEHC\n", 3, 1, "FL3", "no DE line"),
        (b"VZCZCDBA0001\nRR RUEHC\nZFD\nDE RUEHKO #1 1610901\n", 3, 4, "pilot", "ZFD and one routing"),
        (b"VZCZCDBA0001\nRR RUEHC\n" + b"RUEHBJ\n" * 200 + b"DE RUEHKO #1 1\n", 103, 1, "FL2", "runs past"),
    ],
)
def test_a_malformed_fl1_or_fl2_is_refused_with_where_and_why(
    payload: bytes, line: int, column: int, field: str, reason: str
) -> None:
    """§402c: a garbled FL1 or FL2 is refused, not relayed; the error says line, column and field."""
    with pytest.raises(CableParseError) as caught:
        read_transmission(payload)
    error = caught.value
    assert (error.line, error.column, error.field) == (line, column, field)
    assert reason in error.reason


@settings(deadline=None)
@given(st.binary(max_size=300) | st.builds(lambda tail: b"VZCZCDBA0001\nRR " + tail, st.binary(max_size=200)))
def test_any_payload_is_read_or_refused_with_a_cable_parse_error(payload: bytes) -> None:
    """The trunk topics are anyone's to publish on: whatever comes, a transmission or a CableParseError."""
    try:
        read = read_transmission(payload)
    except CableParseError as error:
        assert error.line >= 1
        assert error.column >= 1
        assert error.field in {"FL1", "FL2", "FL3", "pilot"}
    else:
        assert re.match(rb"[ \t]*DE\b", read.message)
        assert read.line.ris


# --- the post at the end: today's copy, unchanged


@pytest.mark.parametrize("sample", ["flash-collective", "dual-precedence", "routine-unclassified"])
def test_a_post_s_copy_through_the_network_is_today_s_copy(sample: str) -> None:
    """§303a(5): every post gets one single-call copy at its own centre, byte for byte the single switch's."""
    raw = (SAMPLES / f"{sample}.txt").read_bytes()
    deliveries, _, flood = _flood(raw)
    assert flood.unserved == []
    assert set(flood.copies) == {d.post for d in deliveries}
    for delivery in deliveries:
        copy = flood.copies[delivery.post]
        assert copy == _today(raw, delivery)
        assert read_copy(copy) == read_copy(_today(raw, delivery))
        assert read_copy(copy).called == (delivery.post,)


@pytest.mark.corpus
@pytest.mark.parametrize("cable_id", ["seed", *CABLES])
def test_a_corpus_cable_reaches_each_post_once_through_the_network_as_today(cable_id: str) -> None:
    """The seed cable and corpus cables: each post reached once, from its own centre, with today's copy."""
    raw = _seed() if cable_id == "seed" else _corpus(cable_id)
    deliveries, message, flood = _flood(raw)
    assert deliveries
    assert set(flood.copies) == {d.post for d in deliveries}
    for delivery in deliveries:
        assert flood.served_at[delivery.post] == NETWORK.centre_of(delivery.post).name  # type: ignore[union-attr]
        assert flood.copies[delivery.post] == _today(raw, delivery)
        read = read_copy(flood.copies[delivery.post])
        assert (
            parse_cable(read.cable).message_id
            == parse_cable(read_copy(_today(raw, delivery)).cable).message_id
        )
    # each trunk carries the message at most once per routing line, and never changes it
    per_line = [(start, to, line.precedence) for start, to, line in flood.hops]
    assert len(per_line) == len(set(per_line))
    assert len(flood.hops) <= len(originating_lines(deliveries)) * len(NETWORK.trunks) * 2
    assert message.startswith(b"DE ")


@pytest.mark.corpus
def test_across_the_corpus_every_routed_post_is_reached_once_from_its_own_centre(corpus_dir: Path) -> None:
    """Every fifth corpus cable: the network delivers exactly the decision's posts, each once (§303a)."""
    flooded = 0
    for path in sorted(corpus_dir.glob("*.txt"))[::5]:
        raw = path.read_bytes()
        try:
            deliveries, _, flood = _flood(raw)
        except CableParseError:
            continue
        assert flood.unserved == [], path.name
        assert set(flood.copies) == {d.post for d in deliveries}, path.name
        for delivery in deliveries:
            assert flood.copies[delivery.post].split(b"\n")[1].endswith(f" {delivery.post}".encode())
        flooded += bool(deliveries)
    assert flooded > 200
