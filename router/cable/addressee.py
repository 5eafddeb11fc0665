"""One address line, ``[ZEN/][RI/]NAME[//OFFICE//] [POUCH] [NIACT] [PRECEDENCE] [MCN]``, and its slips."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from router.cable.models import Precedence
from router.cable.names import one_slip_apart

# An RI is 4-7 letters, R (worldwide) or Q (theatre) first (ACP 117); a leading slash is a typo.
_PREFIX = re.compile(r"/*(ZEN/)?/*(?:([RQ][A-Z]{3,6})/(?!/))?")
# The last word of a line, letters or digits; `/` and blanks separate words in tails.
_TAIL_TOKEN = re.compile(r"(?:^|(?<=[\s/]))([A-Z0-9-]+)[\s/]*$")
# State's MCN (5 FAH-2 H-321.7): four digits, or a range of them (08STATE103511: 2276-2279).
_MCN_TOKEN = re.compile(r"(\d{3,5})(-\d{0,5})?")
_PLAIN_TAIL = re.compile(
    r"([A-Z][A-Z0-9.'&()-]*(?: [A-Z0-9.'&()-]+)*?)"
    r"(?: (NIACT))?(?: (FLASH|IMMEDIATE|PRIORITY|ROUTINE))?(?: (\d{4}(?:-\d{4})?))?"
)
_DIGIT = re.compile(r"\d")
_PRECEDENCE_HALVES = re.compile(r"FLA|ASH|IMME|DIATE|PRIO|RITY|ROUT|TINE|NIACT")
_FUSED_MCN = re.compile(r"([A-Z]{5,})(\d{3,5}(?:-\d{0,5})?)")
_PRECEDENCE_WORDS = {
    "FLASH": Precedence.FLASH,
    "IMMEDIATE": Precedence.IMMEDIATE,
    "PRIORITY": Precedence.PRIORITY,
    "ROUTINE": Precedence.ROUTINE,
}
_WHITESPACE = re.compile(r"\s+")
CACHED_LINE_MAX = 256
"""Address lines up to this long are remembered; on the wire a line holds 69 characters."""
# The tail (`NIACT IMMEDIATE 1234`, slips and repeats included) is read in the line's last
# characters only, from a word boundary: reading it word by word from the end of a megabyte
# line (`IMMEDIATE IMMEDIATE ...`) would cost the line's length at each word.
_TAIL_WINDOW = 128
_WORD_BOUNDARY = re.compile(r"[\s/]")
_LONGEST_PRECEDENCE_WORD = len("IMMEDIATE") + 1
"""A precedence word with one letter added: no longer word can be one (`one_slip_apart`)."""
# An address indicating group written as an address: `AIG 205` (ACP 127 §222a).
_AIG_ADDRESS = re.compile(r"AIG ?(\d{1,5})(?![\w-])")
# `ZEN/` written after the post's title instead of before it: `AMCONSUL ZEN/CHENGDU` (03BEIJING16342).
_ZEN_INSIDE = re.compile(r"(?<=\s)ZEN/(?=[A-Z])")
# A post that gets its copy by diplomatic pouch, not over the network: `AMCONSUL BELFAST POUCH`,
# `AMEMBASSY ULAANBAATAR POUCH)` (its opening parenthesis lost in the archive), `(POUCH)`.
_POUCH_MARKS = ("(POUCH)", "POUCH)", "POUCH")
# How a collective reads in real traffic: `EUROPEAN POLITICAL COLLECTIVE`, `ALL DIPLOMATIC AND
# CONSULAR POSTS`, address indicating groups `AIG 1234`, the `SPECIAL EMBASSY PROGRAM`.
_COLLECTIVE = re.compile(r"\bCOLLECTIVE\b|^ALL\s|^AIG\s|\bPOSTS\b|^SPECIAL EMBASSY PROGRAM$")


class AddresseeLine(NamedTuple):
    """What one address line says, before the cable's DTG gives it an effective precedence."""

    name: str
    ri: str | None = None
    office: str | None = None
    precedence: Precedence | None = None
    niact: bool = False
    mcn: str | None = None
    zen: bool = False
    pouch: bool = False

    @property
    def display_name(self) -> str:
        """The plain-language address, as an originator is named."""
        return self.name


def read_addressee_line(text: str) -> AddresseeLine | None:
    """Read one address line; ``None`` when no name is left once the tail is read.

    A line of the usual length is remembered (`parse_addressee_line`); a longer one, which only
    a hostile cable writes, is read each time: the cache holds short keys only.
    """
    return parse_addressee_line(text) if len(text) <= CACHED_LINE_MAX else _read_line(text)


@lru_cache(maxsize=16384)
def parse_addressee_line(text: str) -> AddresseeLine | None:
    """Read one address line, remembered: real traffic repeats the same lines from cable to cable."""
    return _read_line(text)


def _read_line(text: str) -> AddresseeLine | None:
    rest = text.strip().upper()
    prefix = _PREFIX.match(rest)
    zen = ri = None
    if prefix:
        zen, ri = prefix.group(1), prefix.group(2)
        rest = rest[prefix.end() :]
    # POUCH stands last, or before the precedence and MCN (`AMEMBASSY AMMAN POUCH PRIORITY`).
    rest, pouch_last = _without_pouch(rest)
    if rest.startswith("AIG") and (aig := _AIG_ADDRESS.match(rest)):
        # `AIG 1234` (§222a): the group's number is its name, not an MCN, whatever its digits.
        tail = _read_tail(rest[aig.end() :])
        tail = tail._replace(rest=f"AIG {int(aig.group(1))} {tail.rest}")
    else:
        tail = _read_plain_tail(rest) or _read_tail(rest)
    name, _, office = tail.rest.partition("//")
    name, pouch = _without_pouch(_WHITESPACE.sub(" ", name.strip(" /")))
    name, zen_inside = _ZEN_INSIDE.subn("", name)
    if not name:
        return None
    return AddresseeLine(
        name=name,
        ri=ri,
        office=office.strip(" /") or None,
        precedence=tail.precedence,
        niact=tail.niact,
        mcn=tail.mcn,
        zen=zen is not None or zen_inside > 0,
        pouch=pouch_last or pouch,
    )


def _without_pouch(text: str) -> tuple[str, bool]:
    """``text`` without a POUCH mark as its last word, and whether it had one."""
    for mark in _POUCH_MARKS:
        if text.endswith(mark) and text[-len(mark) - 1 : -len(mark)].isspace():
            return text[: -len(mark)].rstrip(), True
    return text, False


class _Tail(NamedTuple):
    rest: str
    precedence: Precedence | None = None
    niact: bool = False
    mcn: str | None = None


def _read_plain_tail(rest: str) -> _Tail | None:
    """The tail of a line written by the book (`AMEMBASSY PARIS NIACT IMMEDIATE 1234`), or None.

    Most lines are; they are read with one regex. Anything that might be a slip (the name's last
    word holds a digit or reads like a precedence, NIACT without its word) goes to `_read_tail`.
    """
    match = _PLAIN_TAIL.fullmatch(rest)
    if match is None:
        return None
    name, niact, word, mcn = match.groups()
    last = name[name.rfind(" ") + 1 :]
    if (niact and not word) or _DIGIT.search(last):
        return None
    # One slip leaves half of a precedence word whole (PIORITY keeps RITY, IMMEDAITE keeps IMME).
    if _PRECEDENCE_HALVES.search(last) and (last == "NIACT" or _split_precedence(last)[0]):
        return None
    return _Tail(name, _PRECEDENCE_WORDS[word] if word else None, niact is not None, mcn)


def _read_tail(rest: str) -> _Tail:
    """Take ``[NIACT] [PRECEDENCE] [MCN]`` off the end of a line, with the operators' slips.

    Real tails: `IMMEDIATE 4887`, `//PRIORITY7899`, `LONDONIMMEDIATE`, `PIORITY`, `IMMEDAITE`,
    `IMMEDIATE IMMEDIATE`, `7699-` (a range cut short), `PRIORITY 012` (a digit dropped).
    """
    if len(rest) > _TAIL_WINDOW and (boundary := _WORD_BOUNDARY.search(rest, len(rest) - _TAIL_WINDOW)):
        cut = boundary.start()
        tail = _read_tail(rest[cut:])
        return tail._replace(rest=rest[:cut] + tail.rest)
    mcn = None
    token = _TAIL_TOKEN.search(rest)
    if token and (fused := _FUSED_MCN.fullmatch(token.group(1))):
        # `PRIORITY7899` (94ADANA532): the MCN runs into the word before it.
        if _split_precedence(fused.group(1))[0] is not None:
            mcn = fused.group(2).rstrip("-")
            rest = rest[: token.start() + len(fused.group(1))]
            token = _TAIL_TOKEN.search(rest)
    elif token and (number := _MCN_TOKEN.fullmatch(token.group(1))):
        # Four digits (or a range) is State's MCN wherever it stands; three or five only
        # where a precedence word vouches for it, since unit names end in numbers (CTF 151).
        before = _TAIL_TOKEN.search(rest, 0, token.start())
        if (
            len(number.group(1)) == 4
            or number.group(2)
            or (before and _precedence_word(before.group(1)) is not None)
        ):
            mcn = token.group(1).rstrip("-")
            rest = rest[: token.start()]
            token = before
    precedence = None
    while token is not None:
        word = token.group(1)
        found, cut = _split_precedence(word)
        if found is None or (precedence is not None and found is not precedence):
            break
        # A repeated word (`IMMEDIATE IMMEDIATE`) is one precedence.
        precedence = found
        rest = rest[: token.start() + cut]
        if cut:
            break
        token = _TAIL_TOKEN.search(rest)
    niact = False
    if token is not None and (precedence is not None or mcn is None) and token.group(1) == "NIACT":
        niact, precedence = True, precedence or Precedence.IMMEDIATE
        rest = rest[: token.start()]
    return _Tail(rest, precedence, niact, mcn)


def _split_precedence(word: str) -> tuple[Precedence | None, int]:
    """The precedence a tail word writes, and where it starts in the word (0 unless fused)."""
    if (found := _precedence_word(word)) is not None:
        return found, 0
    for written, value in _PRECEDENCE_WORDS.items():
        # Fused to the name: `AMEMBASSY LONDONIMMEDIATE` (85STATE196513).
        if word.endswith(written) and len(word) - len(written) >= 3:
            return value, len(word) - len(written)
        # Garbled after the word: `IMMEDIATEPROI` (85BEIRUT3494).
        if word.startswith(written) and len(word) - len(written) <= 4:
            return value, 0
    return None, 0


def _precedence_word(word: str) -> Precedence | None:
    """A precedence word as written, allowing one slip (PIORITY, PRIOITY, IMMEDIAT, IMMEDAITE)."""
    return _slipped_precedence(word) if len(word) <= _LONGEST_PRECEDENCE_WORD else None


@lru_cache(maxsize=1024)
def _slipped_precedence(word: str) -> Precedence | None:
    if exact := _PRECEDENCE_WORDS.get(word):
        return exact
    if len(word) < 6:
        return None
    for written, value in _PRECEDENCE_WORDS.items():
        if len(written) >= 7 and one_slip_apart(word, written):
            return value
    return None


def looks_collective(name: str) -> bool:
    """Whether a plain-language address reads as a collective (many stations), not one station."""
    return _COLLECTIVE.search(name) is not None


_AIG = re.compile(r"AIG (\d{1,5})")


def aig_number(name: str) -> int | None:
    """The number of an address indicating group written as an address (``AIG 205``, §222a), or None."""
    match = _AIG.fullmatch(name) if name.startswith("AIG") else None
    return int(match.group(1)) if match else None
