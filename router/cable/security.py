"""The text's security marks: classification banner, handling caveats, and the banner's station serial."""

from __future__ import annotations

import re
from typing import NamedTuple

from router.cable.models import Classification
from router.cable.names import one_slip_apart

# Letter-spaced banners (`C O N F I D E N T I A L`, `N O F O R N`) are collapsed before reading.
_LETTER_SPACED = re.compile(r"\b[A-Z](?: [A-Z]\b){2,}")
# The first letters of a level, letter-spaced or not: a cheap test before the full reading.
_BANNER_HINT = re.compile(r"\s*(?:U ?N ?C ?L|C ?O ?N ?F|S ?E ?C ?R|T ?O ?P|L ?I ?M ?I ?T)", re.IGNORECASE)
# Longest first, so that UNCLASSIFIED is tried before UNCLAS and TOP SECRET before SECRET.
_BANNER_LEVELS: dict[str, tuple[Classification, tuple[str, ...]]] = {
    "LIMITEDOFFICIALUSE": (Classification.UNCLASSIFIED, ("LOU",)),
    "UNCLASSIFIED": (Classification.UNCLASSIFIED, ()),
    "CONFIDENTIAL": (Classification.CONFIDENTIAL, ()),
    "TOPSECRET": (Classification.TOP_SECRET, ()),
    "UNCLAS": (Classification.UNCLASSIFIED, ()),
    "SECRET": (Classification.SECRET, ()),
}
# Each level with an optional blank between its letters (`C O N F I D E N T I A L`, `CO N F`,
# `C ONFIDENTIAL`): the strict reading in one regex; the group's name is the level.
_STRICT_LEVEL = re.compile(
    "(?:" + "|".join(f"(?P<{word}>{' ?'.join(word)})" for word in _BANNER_LEVELS) + r")(?![A-Z])"
)
# After the level: caveats (`//NOFORN`, `EFTO`), SECTION nn OF nn, then the station and serial.
_STATION_SERIAL = re.compile(
    r"[\s/:,-]*(?:(?:EFTO|SENSITIVE|SBU|NOFORN|SIPDIS|EXDIS|NODIS|LIMDIS|STADIS)[\s/]+)*"
    r"(?:SECTION\s+\d{1,3}\s+OF\s+\d{1,3}\s+)?"
    r"(?P<station>[A-Z][A-Z .'-]{1,40}?)\s+0*(?P<serial>\d{1,7})(?![\w-])"
)
_CAVEAT_WORDS = {
    "SIPDIS": "SIPDIS",
    "NOFORN": "NOFORN",
    "NF": "NOFORN",
    "EFTO": "EFTO",
    "SBU": "SBU",
    "SENSITIVE": "SBU",
    "FOUO": "FOUO",
    "FOR OFFICIAL USE ONLY": "FOUO",
    "LIMITED OFFICIAL USE": "LOU",
    "EXDIS": "EXDIS",
    "NODIS": "NODIS",
    "LIMDIS": "LIMDIS",
    "STADIS": "STADIS",
    "ORCON": "ORCON",
    "PROPIN": "PROPIN",
    "NOCONTRACT": "NOCONTRACT",
    "ROGER": "ROGER",
    "CHEROKEE": "CHEROKEE",
}
US_ONLY_CAVEATS = frozenset({"NOFORN", "NODIS", "EXDIS", "LIMDIS", "STADIS"})
"""Caveats that keep a cable among US officials: never for a foreign station. NOFORN says it in so
many words; State's distribution captions (NODIS, EXDIS, LIMDIS, STADIS) limit distribution within
the Department and its posts (5 FAH-2 H-440), which a foreign station is not."""
_CAVEATS = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, _CAVEAT_WORDS), key=len, reverse=True)) + r")\b"
)
# The caveats stand between the banner and the E.O./TAGS/SUBJECT lines; below those is prose.
_FIELDS_START = re.compile(r"^[ \t]*(?:E\.?\s?O\.?\s*\d|TAGS?\b|SUBJ)", re.IGNORECASE | re.MULTILINE)
_CAVEAT_LINES = 16
_CAPITALS = re.compile(r"\s*[A-Z](?: ?[A-Z]){4}")
_GARBLE_LINES = 3


class Banner(NamedTuple):
    """The classification line that opens the text (FL12): level, caveats, station and serial."""

    classification: Classification
    caveats: tuple[str, ...] = ()
    station: str | None = None
    serial: int | None = None


class SecurityMarks(NamedTuple):
    """What the first lines of the text say about security and origin."""

    classification: Classification | None = None
    caveats: tuple[str, ...] = ()
    station: str | None = None
    serial: int | None = None


def collapse_letter_spacing(line: str) -> str:
    """``C O N F I D E N T I A L TOKYO`` -> ``CONFIDENTIAL TOKYO``."""
    return _LETTER_SPACED.sub(lambda m: m.group(0).replace(" ", ""), line)


def read_banner(line: str, *, tolerant: bool = False) -> Banner | None:
    """Read ``line`` as a classification banner; ``tolerant`` also takes garbled levels.

    Transmission garbles the letter-spaced level in many ways (`SE C R E T`, `C ONFIDENTIAL`,
    `SS E C R E T`, `E C R E T`): the level is read from the line's letters with the blanks
    taken out, and ``tolerant`` allows one dropped, doubled or changed letter.
    """
    if not tolerant and not _BANNER_HINT.match(line):
        return None
    text = line.strip().upper()
    level = _read_level(text, tolerant=tolerant)
    if level is None:
        return None
    found, end = level
    classification, implied = _BANNER_LEVELS[found]
    rest = collapse_letter_spacing(text[end:])
    caveats = [*implied, *(_CAVEAT_WORDS[m] for m in _CAVEATS.findall(rest.split("SECTION")[0]))]
    station = serial = None
    # A station written as X's was redacted at release: no reference can be made from it.
    if (match := _STATION_SERIAL.match(rest)) and match.group("station").strip("X "):
        station = match.group("station").replace(" ", "").replace(".", "")
        serial = int(match.group("serial"))
    return Banner(classification, tuple(dict.fromkeys(caveats)), station, serial)


def _read_level(text: str, *, tolerant: bool) -> tuple[str, int] | None:
    """The level a banner starts with (key of ``_BANNER_LEVELS``) and where its letters end."""
    strict = _STRICT_LEVEL.match(text)
    if strict is not None:
        return str(strict.lastgroup), strict.end()
    if not tolerant:
        return None
    return _read_garbled_level(text)


def _read_garbled_level(text: str) -> tuple[str, int] | None:
    """A level with one letter dropped, doubled or changed (`E C R E T`, `SS E C R E T`)."""
    letters: list[str] = []
    ends: list[int] = []
    for index, char in enumerate(text[:40]):
        if char.isalpha():
            letters.append(char)
            ends.append(index + 1)
        elif char != " " or (index + 1 < len(text) and text[index + 1] == " "):
            break  # a double blank or punctuation ends the level's letters
    compact = "".join(letters)
    for word in _BANNER_LEVELS:
        if len(word) < 6:
            continue
        for size in (len(word), len(word) + 1, len(word) - 1):
            fits = size <= len(compact) and one_slip_apart(compact[:size], word)
            if fits and _ends_word(text, ends[size - 1]):
                return word, ends[size - 1]
    return None


def _ends_word(text: str, end: int) -> bool:
    """The level's letters are a word of their own: `SECRET MOSCOW`, not `SECRETARY`."""
    return end >= len(text) or not text[end].isalpha() or text[end - 2] == " "


def read_security(lines: list[str]) -> SecurityMarks:
    """Classification, caveats and station serial from the first lines of the text."""
    classification: Classification | None = None
    caveats: list[str] = []
    station = serial = None
    first = None
    nonblank = 0
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        nonblank += 1
        # A garbled level is read as one only where the banner belongs, the first lines, and
        # only on a line in capitals, as banners are (`This record is a partial...` is not).
        tolerant = classification is None and nonblank <= _GARBLE_LINES and _CAPITALS.match(line) is not None
        banner = read_banner(line, tolerant=tolerant)
        if banner is None:
            continue
        if classification is None:
            classification, first = banner.classification, index
        caveats.extend(banner.caveats)
        if banner.station is not None:
            station, serial = banner.station, banner.serial
            first = index
            break
    if first is not None:
        # The caveat lines, read as one block up to the first E.O., TAGS or SUBJECT line.
        block = "\n".join(lines[first + 1 : first + 1 + _CAVEAT_LINES])
        if fields := _FIELDS_START.search(block):
            block = block[: fields.start()]
        block = collapse_letter_spacing(block.upper())
        caveats.extend(_CAVEAT_WORDS[m] for m in _CAVEATS.findall(block))
    return SecurityMarks(classification, tuple(dict.fromkeys(caveats)), station, serial)
