"""What travels on a trunk between switching centres: FL1, a routing line of many RIs, the message.

A trunk carries multiple-call messages (ACP 127 §303a(1)): FL1 with the trunk's channel designator
and serial (§112, §131), FL2 with the repeated precedence prosign (§151a) and every RI the far centre
must deliver to or relay for, then the message from FL3 on, which no station alters (§116, §303).
FL2 runs over as many lines as its RIs need, none longer than 69 characters (§138f), a line after
the first holding RIs alone (§222c: ``RR RUWSKTD RCWNC RXFBAR RUFDAE`` continued by ``RBDIC``). A
FLASH or ECP rings the bell ahead of its prosign (§151b, §137e(1)), and a message forwarded as a
suspected duplicate carries the pilot ``ZFD`` and the forwarding station's RI after FL2 (§427a).

Pure: no I/O. `router.network.relaying` decides what goes on which trunk.
"""

from __future__ import annotations

import re
from typing import NamedTuple, NoReturn

from router.cable.models import Precedence
from router.errors import CableParseError
from router.network.channel import BELL, ZFD

LINE_WIDTH = 69
"""ACP 127 §138f: "No line shall exceed 69 characters, including spaces." The bell does not count:
it rings, it does not print (§137e)."""
MAX_ROUTING_LINES = 100
"""Lines of FL2 read before a transmission is refused: far above any real routing line (a line holds
eight RIs of seven letters, and AUTODIN's limit was some hundreds of RIs), far below a hostile one.
The trunk topics are anyone's to publish on."""

_TI = re.compile(rb"VZCZC([A-Z]{3})(\d{4})(?:[ \t]+(?:UU|HH))?[ \t]*")
"""FL1 (§131, §202c(1)): V, ZCZC, the channel designator and its serial (four digits, as the
project's channels number), and the security warning prosign a network may put after it (§203c)."""
_PROSIGN = re.compile(rb"([ZOPRY])\1")
"""The repeated precedence prosign (§151a: "In the routing line(s), the precedence prosign will
always be repeated")."""
_RI = re.compile(rb"[A-Z]{4,7}")
"""A routing indicator (§123): four to seven letters, as the cable parser reads FL2."""
_WORD = re.compile(rb"[^ \t]+")


class RoutingLine(NamedTuple):
    """FL2 of one transmission: its precedence and the RIs it calls, in order, each once (§204c)."""

    precedence: Precedence
    ris: tuple[str, ...]

    @property
    def prosign(self) -> str:
        """``OO``: the precedence letter repeated, as FL2 writes it (§151a)."""
        return self.precedence.letter * 2


class TrunkTransmission(NamedTuple):
    """A transmission as read off a trunk: its channel number, its routing line, the message."""

    channel: str
    serial: int
    line: RoutingLine
    message: bytes
    """The message from its DE line (FL3) on, byte for byte as received."""
    bell: bool = False
    """FL2 began with the bell signal (§151b): heard, not part of the routing line."""
    pilot: str | None = None
    """The RI after ``ZFD``: the station that forwarded the message as a suspected duplicate (§427a)."""

    @property
    def transmission_id(self) -> str:
        """``DBA0042``: the channel designator and serial, as a receipt or a ZFX quotes them."""
        return f"{self.channel}{self.serial:04d}"


def routing_line_text(line: RoutingLine, width: int = LINE_WIDTH) -> bytes:
    """FL2 as sent: the prosign and the RIs, continued over lines of at most ``width`` characters.

    Each line ends with its line feed; RIs are never split, and a continuation line holds RIs alone
    (§222c). The bell signal goes ahead of a FLASH's ZZ (§151b) and of the ECP above it, as
    `router.network.channel.heading` rings it for a post's copy.
    """
    if not line.ris:
        reason = "a routing line calls at least one routing indicator"
        raise ValueError(reason)
    lines = [line.prosign]
    for ri in line.ris:
        if len(lines[-1]) + 1 + len(ri) <= width:
            lines[-1] += " " + ri
        else:
            lines.append(ri)
    bell = BELL if line.precedence >= Precedence.FLASH else b""
    return bell + "".join(text + "\n" for text in lines).encode("ascii")


def write_transmission(
    transmission_id: str, line: RoutingLine, message: bytes, *, pilot: str | None = None
) -> bytes:
    """A whole trunk transmission: FL1 for ``transmission_id``, FL2, the pilot if any, the message.

    ``message`` is the message from FL3 on, closed by BT and NNNN
    (`router.network.channel.message_part`); it goes as it is. ``pilot``: the RI of the station
    forwarding it as a suspected duplicate (§427a), or of the one that did so before (§427c(2)).
    """
    zfd = f"{ZFD} {pilot}\n".encode() if pilot else b""
    return f"VZCZC{transmission_id}\n".encode() + routing_line_text(line) + zfd + message


def read_transmission(payload: bytes) -> TrunkTransmission:
    """Read a trunk transmission's FL1 and FL2 (with its continuation lines) and find its FL3.

    Between FL2 and the DE line may stand the ZFD pilot and blank lines (DOMAIN.md, 00ATHENS1501).
    An RI written twice is called once (§204c). Anything else is refused with a `CableParseError`
    naming the line, the column and the format line, as the cable parser does: a relay makes sure
    format lines 1 to 4 are free of garbles before it sends a message on (§402c), and a garbled
    routing line is not guessed at (DOMAIN.md: malformed FL1/FL2 is rejected with a notice).
    """
    lines = payload.split(b"\n", MAX_ROUTING_LINES + 2)
    fl1 = lines[0].rstrip(b"\r")
    ti = _TI.fullmatch(fl1)
    if ti is None:
        _fail(1, 1, "FL1", "expected the transmission identification VZCZC + 3 letters + 4 digits")
    if len(lines) < 2:
        _fail(2, 1, "FL2", "the transmission ends after FL1")
    fl2 = lines[1].rstrip(b"\r")
    bell = fl2.startswith(BELL)
    precedence, ris = _first_routing_line(fl2, len(BELL) if bell else 0)
    index, pilot = 2, None
    continued = True  # RIs alone on a line continue FL2 until the pilot or a blank line
    while True:
        if index >= len(lines):
            _fail(len(lines), 1, "FL3", "no DE line (FL3) after the routing line")
        if index >= MAX_ROUTING_LINES + 2:
            _fail(index + 1, 1, "FL2", f"the routing line runs past {MAX_ROUTING_LINES} lines")
        words = list(_WORD.finditer(lines[index].rstrip(b"\r")))
        if not words:
            continued = False
        elif words[0][0] == b"DE":
            break
        elif words[0][0] == ZFD.encode() and pilot is None:
            pilot = _pilot(words, index + 1)
            continued = False
        elif continued and _RI.fullmatch(words[0][0]):
            ris.extend(_ris(words, index + 1))
        else:
            _fail(index + 1, words[0].start() + 1, "FL3", "expected the DE line (FL3) after the routing line")
        index += 1
    message = b"\n".join(lines[index:])
    line = RoutingLine(precedence, tuple(dict.fromkeys(ris)))
    return TrunkTransmission(ti[1].decode(), int(ti[2]), line, message, bell=bell, pilot=pilot)


def _first_routing_line(fl2: bytes, offset: int) -> tuple[Precedence, list[str]]:
    """The prosign and the RIs of FL2's first line (after the bell, ``offset`` bytes long)."""
    words = list(_WORD.finditer(fl2, offset))
    if not words or not _PROSIGN.fullmatch(words[0][0]):
        column = words[0].start() + 1 if words else offset + 1
        _fail(2, column, "FL2", "expected the repeated precedence prosign (RR, PP, OO, ZZ or YY)")
    if len(words) == 1:
        _fail(2, words[0].end() + 1, "FL2", "the routing line calls no routing indicator")
    return Precedence.from_letter(chr(words[0][0][0])), _ris(words[1:], 2)


def _ris(words: list[re.Match[bytes]], line: int) -> list[str]:
    """The RIs of a line of FL2; the first word that is not one is refused where it stands."""
    for word in words:
        if not _RI.fullmatch(word[0]):
            _fail(line, word.start() + 1, "FL2", f"not a routing indicator: {word[0][:20]!r}")
    return [word[0].decode("ascii") for word in words]


def _pilot(words: list[re.Match[bytes]], line: int) -> str:
    """The forwarding station's RI of a ``ZFD RI`` pilot (§427a)."""
    if len(words) != 2 or not _RI.fullmatch(words[1][0]):
        column = words[1].start() + 1 if len(words) > 1 else words[0].end() + 1
        _fail(line, column, "pilot", "the suspected-duplicate pilot is ZFD and one routing indicator")
    return words[1][0].decode("ascii")


def _fail(line: int, column: int, field: str, reason: str) -> NoReturn:
    raise CableParseError(reason, line=line, column=column, field=field)
