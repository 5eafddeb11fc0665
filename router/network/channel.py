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
from typing import NamedTuple

from router.cable.models import Precedence
from router.errors import NotACopyError
from router.network.line import SERIAL_MODULUS, following

_FL1 = re.compile(rb"^VZCZC([A-Z]{3})(\d{4})[ \t]*$")
_FL2 = re.compile(rb"^[A-Z]{1,2}[ \t]+[A-Z]")
_DE = re.compile(rb"^[ \t]*DE[ \t]")
_TRANSMISSION_ID = re.compile(r"\b([A-Z]{3})(\d{4})\b")
_RECEIPT = re.compile(r"R [A-Z] ([A-Z]{3})(\d{4})")
_TRANSMISSION_ID_WIDTH = 7
"""A channel designator and its serial in four digits (``HFR0042``)."""
_HEADING_FRAME = len("VZCZC\n \n")
"""What `heading` adds around the transmission id, the prosign and the post."""
_HEADER_LINES = 12
"""FL1 is looked for this far down: junk lines may precede it in real traffic."""

CANCEL = b"E E E E E E E E AR"
"""What ends a busted transmission (ACP 127 §424a): disregard it; its serial is used, not open."""
ZFD = "ZFD"
"""The suspected-duplicate pilot (§427): this copy may have reached the post before."""
ZFX = "ZFX"
"""The operating signal reporting channel serials never received (§433: ``ZFX HPA063``)."""


def single_call(raw: bytes, transmission_id: str, post: str, prosign: str) -> bytes:
    """The copy of ``raw`` for one post: its FL1 and FL2 in place of the cable's own (or in front)."""
    return heading(transmission_id, post, prosign) + message_part(raw)


def copy_size(post: str, precedence: Precedence, part: bytes, *, suspect: bool = False) -> int:
    """Characters of a post's copy on the line: its heading (as `heading` makes it) and ``part``.

    No heading is built: its width is fixed, the transmission id being three letters and four
    digits whatever the serial, the prosign the precedence letter twice, and a suspect copy's
    pilot line ``ZFD``.
    """
    pilot = len(ZFD) + 1 if suspect else 0
    return (
        _HEADING_FRAME + _TRANSMISSION_ID_WIDTH + 2 * len(precedence.letter) + len(post) + pilot + len(part)
    )


def heading(transmission_id: str, post: str, prosign: str, *, suspect: bool = False) -> bytes:
    """FL1 and FL2 of a single-call copy, each ended by its line feed; then ``ZFD`` if ``suspect``.

    A copy that may have reached the post before (sent again for want of a receipt, after a
    restart or an outage) carries the suspected-duplicate pilot (ACP 127 §427) on its own line
    ahead of the message, which the switch never alters (§303).
    """
    pilot = f"{ZFD}\n" if suspect else ""
    return f"VZCZC{transmission_id}\n{prosign} {post}\n{pilot}".encode()


def message_part(raw: bytes) -> bytes:
    """What every copy of ``raw`` carries unchanged: from FL3 (DE) on, or all of it without FL1.

    The same for every post, so the switch works it out once per cable.
    """
    lines = raw.split(b"\n", _HEADER_LINES)
    for number, line in enumerate(lines[:_HEADER_LINES]):
        if _FL1.match(line.rstrip(b"\r")) or line.startswith(b"VZCZC"):
            rest = lines[number + 1 :]
            # FL2 (the RIs to deliver to, continued over lines when long) runs to the DE line.
            de = next((i for i, text in enumerate(rest[:_HEADER_LINES]) if _DE.match(text)), None)
            if de is not None:
                rest = rest[de:]
            elif rest and _FL2.match(rest[0]):
                rest = rest[1:]
            return b"\n".join(rest)
    return raw


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

    @property
    def transmission_id(self) -> str:
        """``HFR0042``: what the post acknowledges and reports missing."""
        return f"{self.channel}{self.serial:04d}"


def read_copy(payload: bytes) -> Copy:
    """Split a payload of ``cables/out/<RI>`` into its transmission id and its message."""
    first, _, rest = payload.partition(b"\n")
    match = _FL1.match(first.rstrip(b"\r"))
    if match is None:
        reason = f"no transmission identification: {first[:30]!r}"
        raise NotACopyError(reason)
    channel, serial = match[1].decode(), int(match[2])
    if rest.startswith(CANCEL):
        return Copy(channel, serial, cancelled=True, cable=b"")
    fl2, _, text = rest.partition(b"\n")  # FL2, which names only this post
    pilot, _, after = text.partition(b"\n")
    suspect = pilot.rstrip(b"\r") == ZFD.encode()
    if suspect:
        text = after  # the pilot is the switch's, not the message's
    body = text.lstrip(b"\n")
    cable = first + b"\n" + fl2 + b"\n" + text if _DE.match(body) else text
    return Copy(channel, serial, cancelled=False, cable=cable, suspect=suspect)


def cancellation(transmission_id: str) -> bytes:
    """The notice that ends a busted (or cut) transmission: FL1, the cancel signal, end of message."""
    return b"VZCZC" + transmission_id.encode() + b"\n" + CANCEL + b"\nNNNN\n"


def zfx(post: str, missing: list[str]) -> bytes:
    """A post's service message reporting transmissions it never received (§433, §405b)."""
    return f"OO RUEH\nDE {post}\nZNR UUUUU\n{ZFX} {' '.join(missing)}\nNNNN\n".encode()


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


@dataclass(slots=True)
class Continuity:
    """The receiving end's check of one channel's serials."""

    last: int | None = None
    missing: set[int] = field(default_factory=set)
    """Serials reported missing and not received since."""

    def receive(self, serial: int) -> Receipt:
        """Account for ``serial``; say which serials it shows missing, or that it is a repeat."""
        if serial in self.missing:
            self.missing.discard(serial)
            return Receipt([], repeated=False)
        if self.last is None:
            self.last = serial
            return Receipt([], repeated=False)
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
