"""What travels on a channel: single-call copies, cancellations, and the receiver's continuity check.

A store-and-forward switch sends each station its own copy (ACP 127 §303): FL1 rewritten with the
channel's designator and next serial, FL2 cut down to that station's RI, the message itself (from
FL3, its identity, on) unchanged. A cable that came without FL1 and FL2 (ACP 126, partial records)
gets both in front of it. The receiving end checks every serial: a gap is reported with ZFX, a
serial seen twice marks a suspected duplicate, and a busted transmission's serial is accounted for
by its cancellation, so it is never reported missing.

Pure: no I/O. The router (`router.switch.service`) and the simulated post (`router.sim.post`) both use it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from router.cable.models import Classification, Precedence
from router.cable.parser import parse_cable
from router.errors import CableParseError, NotACopyError
from router.network.line import SERIAL_MODULUS, LineCode, following

_FL1 = re.compile(rb"^VZCZC([A-Z]{3})(\d{4})[ \t]*$")
_FL2 = re.compile(rb"^[A-Z]{1,2}[ \t]+[A-Z]")
_DE = re.compile(rb"^[ \t]*DE[ \t]")
_FL4 = re.compile(rb"^ZN[RY] ([A-Z])\1{4}\b")
_FL5 = re.compile(rb"^(?:[ZOPRY](?: [ZOPRY])? )?\d{6}Z\b")
_ZFD_PILOT = re.compile(rb"^ZFD\b", re.MULTILINE)
_PILOT_SEARCH = 512
"""Bytes searched for a pilot: it sits right after FL2, in the cable's first lines."""
_TRANSMISSION_ID = re.compile(r"\b([A-Z]{3})(\d{4})\b")
_RECEIPT = re.compile(r"R [A-Z] ([A-Z]{3})(\d{4})")
_TRANSMISSION_ID_WIDTH = 7
"""A channel designator and its serial in four digits (``HFR0042``)."""
_HEADER_LINES = 12
_ROUTING_LINES_AT_MOST = 102
"""Lines a routing line and its pilots may take on a trunk (`router.network.trunk`: 100 of RIs)."""
"""FL1 is looked for this far down: junk lines may precede it in real traffic."""

SWITCH_RI = "RUEHWEB"
"""The switch's own routing indicator: the relay every cable of the corpus calls in its FL2
(``OO RUEHWEB``). Messages it prepares for the tape network, and its service messages, go
``DE RUEHWEB`` (§133: DE, "prepared for transmission in tape form by the station whose designation
follows")."""
BELL = b"\a" * 5
"""The bell signal ahead of a FLASH's ZZ in FL2 (§151b, §137e(1)): ITA2's (FIGS)JJJJJSSSSS(LTRS) rings
five bells on either kind of machine; in ASCII it is five BEL characters."""
CANCEL = b"E E E E E E E E AR"
"""What ends a busted transmission (ACP 127 §424a): disregard it; its serial is used, not open."""
BREAK = b"BT"
"""FL13, the break after the text (Annex B)."""
EOM = b"NNNN"
"""FL16, the end-of-message indicator (§114a): the last thing of every transmission."""
ZFD = "ZFD"
"""The suspected-duplicate pilot (§427): this copy may have reached the post before."""
ZFG = "ZFG"
"""The message instruction in FL5 of a retransmission answering a tracer (§438b): always delivered."""
ZFR = "ZFR"
"""The operating signal cancelling a transmission by service message (§424d: ``ZFR FPA035``)."""
ZFX = "ZFX"
"""The operating signal reporting channel serials never received (§433: ``ZFX HPA063``)."""
ZFQ = "ZFQ"
"""Two different messages under one channel number (§429b: ``ZFQ RUCDSQ 149A RUEAFF 167C WFA145``)."""
ZFU = "ZFU"
"""One message under two consecutive numbers (§430c: ``ZFU FPA116 FPA117 RXFBDY 107 23/1745Z``)."""
ZFT = "ZFT"
"""A message received without a channel number (§432b: ``ZFT RBDAC 148C 17/1712Z DPA125``)."""
ZID = "ZID"
"""The number comparison (§412b: ``ZID PPA113``, the last number; §413b: the day's last, ``AWAITING``)."""
ZIC = "ZIC"
"""The answer to a number comparison that finds all well (§412c: ``ZIC PPA113``)."""


def single_call(raw: bytes, transmission_id: str, post: str, prosign: str) -> bytes:
    """The copy of ``raw`` for one post: its FL1 and FL2 in place of the cable's own (or in front).

    For tools and tests: a cable without FL3 is identified as the switch's cable 1, filed at the
    epoch (the switch itself identifies each by its journal number and arrival, `identify`).
    """
    return heading(transmission_id, post, prosign) + message_part(raw, identify(raw, 1, 0.0))


def copy_size(post: str, precedence: Precedence, part: bytes, *, suspect: bool = False) -> int:
    """Bytes of a post's copy on the bus: its heading (as `heading` makes it) and ``part``.

    No heading is built: its width is fixed, the transmission id being three letters and four
    digits whatever the serial, the prosign the precedence letter twice (after the bell for a
    FLASH or ECP), and a suspect copy's pilot line ``ZFD RUEHWEB``.
    """
    pilot = len(ZFD) + 1 + len(SWITCH_RI) + 1 if suspect else 0
    bell = len(BELL) if precedence >= Precedence.FLASH else 0
    prosign = 2 * len(precedence.letter)
    return len("VZCZC\n \n") + _TRANSMISSION_ID_WIDTH + bell + prosign + len(post) + pilot + len(part)


FRAMING = 5 + 7 + 12
"""What a transmission sends besides its lines: the five spaces after the TI (§138a), the seven line
feeds more than a line end's one before NNNN (§138d: 2CR 8LF), and the twelve LTRS after it."""
_FIGURES = b"0123456789-?:().,'=/+\a"
"""ITA2's figures case (§140): digits, the punctuation, the bell."""
_CASES = bytes(ord("F") if byte in _FIGURES else ord("L") for byte in range(256))
"""Each byte's ITA2 case: figures (F) or letters (L); space and the line-end functions are in both."""


def line_characters(text: bytes, code: LineCode) -> int:
    """Characters a line sends for ``text``: what it prints, and what it does not.

    Each line end is two carriage returns and a line feed (§138b); on an ITA2 line a shift
    (FIGS or LTRS, §137a, §138g) goes wherever the text passes between letters and figures,
    the machine starting in letters case (the LTRS that end the transmission before).
    """
    sent = len(text) + 2 * text.count(b"\n")
    if code == "ita2":
        cases = text.translate(_CASES, b" \r\n\t")
        sent += cases.count(b"LF") + cases.count(b"FL") + cases.startswith(b"F")
    return sent


def heading(transmission_id: str, post: str, prosign: str, *, suspect: bool = False) -> bytes:
    """FL1 and FL2 of a single-call copy, each ended by its line feed; then the ZFD pilot if ``suspect``.

    A FLASH (and the ECP above it) is preceded in FL2 by the bell signal (§151b). A copy that may
    have reached the post before (sent again for want of a receipt, after a restart or an
    outage) carries the suspected-duplicate pilot (§427a: the repeated prosign and the post's RI,
    which FL2 gives, then ZFD and the RI of the station forwarding it) ahead of the message,
    which the switch never alters (§303).
    """
    pilot = f"{ZFD} {SWITCH_RI}\n" if suspect else ""
    bell = BELL if prosign[:1] in {"Z", "Y"} else b""
    return f"VZCZC{transmission_id}\n".encode() + bell + f"{prosign} {post}\n{pilot}".encode()


def identify(raw: bytes, cable_id: int, filed: float) -> bytes:
    """The FL3 (and FL4) the switch gives a cable that came without FL3; empty if it has one.

    ACP 126 cables and partial records have no message identification: the switch, which prepares
    them for the tape network, gives them one as an originating station would (§116): its RI, a
    station serial number (the journal's number for the cable, in sequence, §129) and the filing
    time, when the switch received it (§115, Julian day and time); then the security warning of
    the classification the parser read (§203), none if it read none (§203b(2)).
    """
    try:
        cable = parse_cable(raw, text_fields=False)
    except CableParseError:
        cable = None
    if cable is not None and cable.station_serial is not None:
        return b""
    return identification(cable_id, filed, cable.classification if cable else None)


def identification(cable_id: int, filed: float, classification: Classification | None) -> bytes:
    """The FL3 and FL4 `identify` gives a cable without FL3, for a caller that has read the cable."""
    when = datetime.fromtimestamp(filed, UTC)
    fl3 = f"DE {SWITCH_RI} #{cable_id % SERIAL_MODULUS:04d} {when.timetuple().tm_yday:03d}{when:%H%M}\n"
    return fl3.encode() + _security_warning(classification)


def _security_warning(classification: Classification | None) -> bytes:
    """FL4 for a classification (§124b): ``ZNR UUUUU``, ``ZNY CCCCC`` and so on; none for none."""
    if classification is None:
        return b""
    letter = classification.value[0]
    signal = "ZNR" if classification is Classification.UNCLASSIFIED else "ZNY"
    return f"{signal} {letter * 5}\n".encode()


def _message_start(raw: bytes) -> bytes:
    """The cable from its DE line on if it has FL1; all of it if it has no FL1."""
    lines = raw.split(b"\n", _HEADER_LINES)
    for number, line in enumerate(lines[:_HEADER_LINES]):
        if _FL1.match(line.rstrip(b"\r")) or line.startswith(b"VZCZC"):
            rest = lines[number + 1 :]
            # FL2 (the RIs to deliver to, continued over lines when long) runs to the DE line.
            de = next((i for i, text in enumerate(rest[:_HEADER_LINES]) if _DE.match(text)), None)
            if de is None and rest and _FL2.match(rest[0]):
                # A routing line of more lines than a post's copy has (a trunk's, §222c): look further.
                rest = b"\n".join(rest).split(b"\n", _ROUTING_LINES_AT_MOST + 1)
                de = next(
                    (i for i, text in enumerate(rest[:_ROUTING_LINES_AT_MOST]) if _DE.match(text)), None
                )
            if de is not None:
                rest = rest[de:]
            elif rest and _FL2.match(rest[0]):
                rest = rest[1:]
            return b"\n".join(rest)
    return raw


def message_part(raw: bytes, identification: bytes = b"") -> bytes:
    """What every copy of ``raw`` carries: the message from FL3 on, then FL13 BT and FL16 NNNN.

    The message is the cable's from its DE line on, or all of it without FL1, behind the
    ``identification`` the switch gave it (`identify`) if it had none. Every transmission ends
    with the break BT after the text and the end-of-message indicator NNNN (§114, §138d, Annex B
    FL13 and FL16): real cables as archived have neither, and they are added where missing. The
    same for every post, so the switch works it out once per cable.
    """
    message = _message_start(raw).rstrip(b" \t\r\n")
    last = message.rsplit(b"\n", 1)[-1].strip()
    if last == EOM:
        message = message[: -len(EOM)].rstrip(b" \t\r\n")
        last = message.rsplit(b"\n", 1)[-1].strip()
    ending = EOM + b"\n" if last == BREAK else BREAK + b"\n" + EOM + b"\n"
    return identification + message + b"\n" + ending


class Copy(NamedTuple):
    """A copy as the post reads it off its channel."""

    channel: str
    serial: int
    cancelled: bool
    """A busted or cut transmission: the serial is accounted for, there is no message."""
    cable: bytes
    """The message to parse: the whole copy when it carries FL3, else what follows FL2."""
    suspect: bool = False
    """The copy carries the suspected-duplicate pilot ZFD (§427): the post may hold it already."""
    bell: bool = False
    """FL2 began with the bell signal: a FLASH (§151b), to be heard, not printed."""
    message_id: str | None = None
    """The identification the switch gave a message that had none (FL3 ``DE RUEHWEB``, §116)."""
    tracer: bool = False
    """ZFG in FL5: a retransmission answering a tracer, always delivered (§438b)."""
    service: str | None = None
    """The text of a service message from the switch (``UNCLAS SVC ZFR HFR0002``), not a message."""
    called: tuple[str, ...] = ()
    """The RIs FL2 calls: the stations that must deliver or relay the message (§303)."""
    blanked: int | None = None
    """A second, consecutive number of the same channel before the message (§430): "number only"."""

    @property
    def transmission_id(self) -> str:
        """``HFR0042``: what the post acknowledges and reports missing."""
        return f"{self.channel}{self.serial:04d}"

    @property
    def cancels(self) -> list[tuple[str, int]]:
        """The transmissions a ZFR service message cancels (§424d): their numbers are closed."""
        if self.service is None or f"SVC {ZFR} " not in self.service:
            return []
        quoted = self.service.split(f"SVC {ZFR} ", 1)[1]
        return [(channel, int(serial)) for channel, serial in _TRANSMISSION_ID.findall(quoted)]


def read_copy(payload: bytes) -> Copy:
    """Split a payload of ``cables/out/<RI>`` into its transmission id, its pilots and its message.

    A message whose FL2 comes first, without FL1, has no channel number (§432): its channel is
    empty and its serial 0. A second TI of the same channel, the next number, right after the first
    is one message under two numbers (§430): the higher is ``blanked``.
    """
    first, _, rest = payload.partition(b"\n")
    match = _FL1.match(first.rstrip(b"\r"))
    if match is None:
        if not _FL2.match(first.removeprefix(BELL)):
            reason = f"no transmission identification: {first[:30]!r}"
            raise NotACopyError(reason)
        # The start-of-message indicator alone (§202c) heads it for the parser, which reads an
        # ACP 127 heading from FL1 on: there is no channel designator or number to give it.
        first, rest = b"VZCZC", payload
        channel, serial = "", 0
    else:
        channel, serial = match[1].decode(), int(match[2])
    second, _, after_second = rest.partition(b"\n")
    again = _FL1.match(second.rstrip(b"\r"))
    blanked = None
    if again and again[1].decode() == channel and int(again[2]) == following(serial):
        blanked, rest = int(again[2]), after_second
    return _read_rest(channel, serial, first, rest)._replace(blanked=blanked)


def _read_rest(channel: str, serial: int, first: bytes, rest: bytes) -> Copy:
    """The copy after its FL1: a cancellation, or FL2, a pilot and the message."""
    if rest.startswith(CANCEL):
        return Copy(channel, serial, cancelled=True, cable=b"")
    fl2, _, text = rest.partition(b"\n")  # FL2, which names only this post
    bell = fl2.startswith(BELL)
    fl2 = fl2.removeprefix(BELL)  # a signal to the operator, not text (§137e)
    called = tuple(fl2.decode("ascii", "replace").split()[1:])
    pilot, _, after = text.partition(b"\n")
    suspect = pilot.rstrip(b"\r").split(b" ", 1)[0] == ZFD.encode()
    if suspect:
        text = after  # the pilot is the switch's, not the message's
    body = text.lstrip(b"\n")
    own = body.startswith(f"DE {SWITCH_RI} ".encode())
    if own:
        return _switch_given(channel, serial, body, bell=bell, suspect=suspect)._replace(called=called)
    cable = first + b"\n" + fl2 + b"\n" + text if _DE.match(body) else text
    return Copy(
        channel,
        serial,
        cancelled=False,
        cable=cable,
        suspect=suspect,
        bell=bell,
        tracer=_tracer(body),
        called=called,
    )


def _switch_given(channel: str, serial: int, body: bytes, *, bell: bool, suspect: bool) -> Copy:
    """A copy whose FL3 is the switch's: a message it identified (§116), or its service message.

    The message under the switch's FL3 (and FL4) is the cable as it came, which the switch closed
    with BT and NNNN (`message_part`): the post reads it without them, as it came, under the
    identification the switch gave it.
    """
    fl3, _, message = body.partition(b"\n")
    if _FL4.match(message):
        message = message.partition(b"\n")[2]
    message = message.removesuffix(b"\n" + BREAK + b"\n" + EOM + b"\n") + b"\n"
    words = fl3.decode("ascii", "replace").split()
    if len(words) < len(("DE", "RI", "#SSN", "filing time")):
        # No station serial number: a service message between directly connected stations (§405b).
        lines = message.decode("ascii", "replace").splitlines()
        service = next((line for line in lines if " SVC " in line), "")
        return Copy(channel, serial, cancelled=False, cable=b"", suspect=suspect, bell=bell, service=service)
    return Copy(
        channel,
        serial,
        cancelled=False,
        cable=message,
        suspect=suspect,
        bell=bell,
        message_id=f"{words[1]}-{words[2].lstrip('#')}-{words[3]}",
        tracer=_tracer(message),
    )


def _tracer(message: bytes) -> bool:
    """Whether FL5, the first DTG line of the message's heading, carries ZFG (§438b)."""
    for line in message.split(b"\n", _HEADER_LINES)[:_HEADER_LINES]:
        if _FL5.match(line):
            return line.rstrip().endswith(b" " + ZFG.encode())
    return False


def with_tracer_instruction(part: bytes) -> bytes:
    """The message part with ZFG at the end of FL5 (§438b), or ahead of the message without one.

    A retransmission answering a tracer goes as a duplicate marked so in FL5, and every station
    delivers it: the person who asked for it sees it, though the post holds the message already.
    """
    lines = part.split(b"\n", _HEADER_LINES)
    for number, line in enumerate(lines[:_HEADER_LINES]):
        if _FL5.match(line):
            lines[number] = line.rstrip() + b" " + ZFG.encode()
            return b"\n".join(lines)
    return ZFG.encode() + b"\n" + part


def suspected_duplicate(raw: bytes) -> bool:
    """Whether a cable carries the suspected-duplicate pilot (§427a: a ``ZFD`` line in its heading)."""
    return _ZFD_PILOT.search(raw, 0, _PILOT_SEARCH) is not None


DUPLICATE_RECEIVED = "EXACT DUPLICATE RECEIVED AND FILED"


def duplicate_notice(message_id: str, transmission_id: str = "") -> str | None:
    """The service message's text telling a station its message came again (§428a); None without FL3.

    It quotes the message identification as §116 writes it (``RUEHRO 0877/01 3130915``), after
    the transmission it came under when a post tells the switch: a digest names no station.
    """
    parts = message_id.split("-")
    if len(parts) != len(("RI", "SSN", "filing time")) or message_id.startswith("X-"):
        return None
    quoted = f"{transmission_id} " if transmission_id else ""
    return f"{quoted}{' '.join(parts)} {DUPLICATE_RECEIVED}"


def duplicate_report(post: str, text: str) -> bytes:
    """A post's service message to the switch, the station its copies come from (§428a, §405b)."""
    return f"RR {SWITCH_RI}\nDE {post}\nZNR UUUUU\nBT\nUNCLAS SVC {text}\nBT\nNNNN\n".encode()


def cancellation(transmission_id: str) -> bytes:
    """The notice that ends a busted transmission: FL1, the cancel signal, end of message (§424a)."""
    return b"VZCZC" + transmission_id.encode() + b"\n" + CANCEL + b"\n" + EOM + b"\n"


def service_message(
    transmission_id: str, post: str, text: str, filed: float, *, prosign: str = "RR"
) -> bytes:
    """A service message of the switch's to one post, in the form of §424d's example.

    Abbreviated PLAINDRESS between directly connected stations (§405b: FL3 without a station
    serial number), with the BT lines and ``UNCLAS SVC`` of a relayed one (§405c), so that it is a
    whole transmission like any other (§114). ROUTINE, unless ``prosign`` says (a ZID is ``PP``).
    """
    when = datetime.fromtimestamp(filed, UTC)
    fl3 = f"DE {SWITCH_RI} {when.timetuple().tm_yday:03d}{when:%H%M}"
    heading = f"VZCZC{transmission_id}\n{prosign} {post}\n{fl3}\nZNR UUUUU\n"
    return f"{heading}BT\nUNCLAS SVC {text}\nBT\nNNNN\n".encode()


def zfx(post: str, missing: list[str]) -> bytes:
    """A post's service message reporting transmissions it never received (§433, §405b)."""
    return f"OO RUEH\nDE {post}\nZNR UUUUU\n{ZFX} {' '.join(missing)}\nNNNN\n".encode()


def end_of_series(channel: str, ended: tuple[int, list[int]]) -> str:
    """The receiving station's end-of-day comparison (§413b): the last number, and those awaited.

    ``ZID HFR0164``, or ``ZID HFR0164 AWAITING ZDK HFR0137`` when numbers are still open: a
    summary, not a new request for the reruns asked for already.
    """
    last, open_numbers = ended
    text = f"{ZID} {channel}{last:04d}"
    if open_numbers:
        text += " AWAITING ZDK " + " ".join(f"{channel}{serial:04d}" for serial in open_numbers)
    return text


def post_service(post: str, text: str, prosign: str = "RR") -> bytes:
    """A post's service message to the switch in §412c's form: FL2, DE without a serial, the signal."""
    return f"{prosign} {SWITCH_RI}\nDE {post}\nZNR UUUUU\n{text}\nNNNN\n".encode()


_SERVICE_HEAD = 4096
"""Bytes of a post's service message read for its operating signal: a real one is a few lines."""


def read_signal(payload: bytes, signal: str) -> list[str] | None:
    """The words after ``signal`` on the line of a service message that begins with it; None if none.

    Only the message's first `_SERVICE_HEAD` bytes are read: the topic is anyone's to publish on.
    """
    for line in payload[:_SERVICE_HEAD].decode("ascii", "replace").splitlines():
        words = line.removeprefix("UNCLAS SVC ").split()
        if words and words[0] == signal:
            return words[1:]
    return None


def read_zfx(payload: bytes) -> list[tuple[str, int]]:
    """The (channel, serial) pairs a ZFX service message reports; none if it is not one."""
    for line in payload.decode("ascii", "replace").splitlines():
        if line.startswith(ZFX + " "):
            return [(channel, int(serial)) for channel, serial in _TRANSMISSION_ID.findall(line[len(ZFX) :])]
    return []


def receipt(precedence_letter: str, transmission_id: str) -> bytes:
    """A post's receipt for a copy: R, the precedence letter, the channel serial (§151b: ``R Z NAA359``)."""
    return f"R {precedence_letter} {transmission_id}".encode()


def read_acknowledgement(payload: bytes) -> tuple[str, int] | None:
    """The transmission a receipt acknowledges (``R Z HFR0042``), or None if the payload is not one."""
    match = _RECEIPT.fullmatch(payload.decode("ascii", "replace").strip())
    return (match[1], int(match[2])) if match else None


def between(after: int, before: int) -> list[int]:
    """The serials strictly between two, going forward (and round past 9999)."""
    serials = []
    serial = following(after)
    while serial != before:
        serials.append(serial)
        serial = following(serial)
    return serials


class Receipt(NamedTuple):
    """What the continuity check says of one serial."""

    missing: list[int]
    """Serials skipped before this one: to be asked for with ZFX."""
    repeated: bool
    """This serial was seen before: a suspected duplicate (ZFD), filed, not shown again."""
    ended: tuple[int, list[int]] | None = None
    """When this serial (0001) begins a new series: the previous series' last number and its
    numbers still open, for the end-of-day comparison (§413b)."""


@dataclass(slots=True)
class Continuity:
    """The receiving end's check of one channel's serials."""

    last: int | None = None
    missing: set[int] = field(default_factory=set)
    """Serials reported missing and not received since."""

    def receive(self, serial: int) -> Receipt:
        """Account for ``serial``; say which serials it shows missing, or that it is a repeat.

        0001 after any other number begins a new series (§413a: daily, or when the numbers have
        run round): the previous series ends there, its open numbers with it.
        """
        if serial in self.missing:
            self.missing.discard(serial)
            return Receipt([], repeated=False)
        if self.last is None:
            self.last = serial
            return Receipt([], repeated=False)
        if serial == 1 and self.last != 1:
            ended = (self.last, sorted(self.missing))
            self.last, self.missing = serial, set()
            return Receipt([], repeated=False, ended=ended)
        if serial == self.last or self._behind(serial):
            return Receipt([], repeated=True)
        skipped = between(self.last, serial)
        self.missing.update(skipped)
        self.last = serial
        return Receipt(skipped, repeated=False)

    def _behind(self, serial: int) -> bool:
        """Whether ``serial`` lies in the half of the cycle before the last one seen."""
        assert self.last is not None
        distance = (self.last - serial) % (SERIAL_MODULUS - 1)
        return 0 < distance < (SERIAL_MODULUS - 1) // 2
