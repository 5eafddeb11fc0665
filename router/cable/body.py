"""Fields read from a cable's text: TAGS, SUBJECT, the E.O. declassification line and REF."""

from __future__ import annotations

import html
import re
from datetime import date
from functools import lru_cache

from router.cable.models import MONTH_NAMES, MONTHS, Declassification
from router.cable.tags import tags
from router.cable.textfields import (
    CONTINUATION_LINES,
    FIELD_START,
    LETTER_SPACED,
    MARKING,
    find_fields,
    lines_after,
    rest_of_line,
    tag_vocabulary,
)

__all__ = ["declassification", "references", "subject", "tags"]

_REF_BLOCK = 1200  # REF blocks of the corpus end their last reference by 800 characters
_REF_LINES = 40  # REF lines, bullets included; the corpus's longest REF block has 31

# --- SUBJECT

# Inline ends of a subject that ran on into the next field: REF, Classified By, an SBU caption.
_SUBJECT_TAIL = re.compile(
    r"(?<![A-Za-z])(?i:REF(?:S|TELS?|\(S\))?)[ \t]*:|(?<=[A-Z])REF:"
    r"|(?i:CLASSIFIED[ \t]+BY\b)|(?i:SENSITIVE[ \t]+BUT\b)"
)
_LEADING_MARKING = re.compile(r"[ \t]*" + MARKING + r"[ \t]*", re.IGNORECASE)


def subject(text: str, *, clean: bool = True) -> str | None:
    """The SUBJECT line, wrapped lines joined; ``clean`` drops a leading ``(C)``-style marking."""
    fields = find_fields(text)
    head, start = fields.head, fields.subject
    if start is None:
        return None
    written = rest_of_line(head, start).strip()
    following = lines_after(head, start)
    if not written:
        # SUBJECT: alone on its line, the subject after a blank line or two.
        written = next((line for line in following if line.strip()), "").strip()
        if not written or FIELD_START.match(written):
            return None
    capitals = written == written.upper()
    for count, line in enumerate(following):
        if _has_tail(written) or count == CONTINUATION_LINES:
            break
        if not line.strip() or FIELD_START.match(line):
            break
        # An all-capitals subject does not run on into a sentence (This is an action request).
        if capitals and line != line.upper():
            break
        joiner = "" if written.endswith("-") and not written.endswith(" -") else " "
        written += joiner + line.strip()
    tail = _SUBJECT_TAIL.search(written) if _has_tail(written) else None
    if tail:
        written = written[: tail.start()]
    if clean:
        marking = _LEADING_MARKING.match(written)
        written = written[marking.end() :] if marking else written
    if "&" in written:
        written = html.unescape(written)
    return " ".join(written.split()) or None


def _has_tail(written: str) -> bool:
    upper = written.upper()
    return ("REF" in upper or "CLASSIFIED" in upper or "SENSITIVE" in upper) and bool(
        _SUBJECT_TAIL.search(written)
    )


# --- E.O. declassification line

_EO_END = re.compile(r"\b(?:TAGS?|TAS|TGS|AGS|SUBJECT|SUBJ)\b[ \t]*[:;]?", re.IGNORECASE)
_DECL_WORD = re.compile(r"[ \t]*(?:DECL\w*|DEC)\b[ \t]*(?:ON\b)?[ \t.:;]*", re.IGNORECASE)
_DATE = re.compile(
    r"(?<!\d)(?P<m>0?\d{1,2})[/-](?P<d>\d{1,2})[/-](?P<y>\d{4}|\d{2})(?!\d)"
    r"|(?<!\d)(?P<y2>\d{4})[/-](?P<m2>\d{1,2})[/-](?P<d2>\d{1,2})(?!\d)"
    r"|\b(?P<mon>" + "|".join(MONTHS) + r")[A-Z]*\.?[ \t]+(?P<d3>\d{1,2}),?[ \t]+(?P<y3>\d{4})\b",
    re.IGNORECASE,
)


def declassification(text: str) -> Declassification | None:
    """The E.O. line: the executive order, and the declassification date or rule (OADR, N/A)."""
    fields = find_fields(text)
    head, start = fields.head, fields.eo
    if start is None:
        return None
    rest = rest_of_line(head, start)
    upper = rest.upper()
    if "TAG" in upper or "AGS" in upper or "TAS" in upper or "TGS" in upper or "SUBJ" in upper:
        end = _EO_END.search(rest)
        rest = rest[: end.start()] if end else rest
    # DNG: a downgrade date is no declassification date.
    downgrade = upper.lstrip().startswith("DNG")
    decl = _DECL_WORD.match(rest)
    rest = rest[decl.end() :] if decl else rest
    found = None if downgrade or not any(c.isdigit() for c in rest) else _DATE.search(rest)
    deadline = _date(found) if found else None
    if deadline is not None and found is not None:
        rest = rest[: found.start()] + rest[found.end() :]
    rule = " ".join(rest.split()).strip(" .,;:") or None
    return Declassification(executive_order=fields.order, deadline=deadline, rule=rule)


def _date(found: re.Match[str]) -> date | None:
    if found.group("mon"):
        year, day = found.group("y3"), found.group("d3")
        month = MONTHS.index(found.group("mon").upper()) + 1
    elif found.group("y2"):
        year, month, day = found.group("y2"), int(found.group("m2")), found.group("d2")
    else:
        year, month, day = found.group("y"), int(found.group("m")), found.group("d")
    full_year = int(year)
    if len(year) == 2:  # DECL dates lie ahead of 1950-2049 cables by at most 50 years.
        full_year += 2000 if full_year < 50 else 1900
    try:
        return date(full_year, month, int(day))
    except ValueError:
        return None


# --- REF

_REF_BLOCK_END = re.compile(
    r"[ \t]*¶?[ \t]*(?:\d{1,2}[ \t]*\.(?!\d)|CLASSI\w*[ \t]+BY\b|SUMMARY\b|SENSITIVE\b"
    r"|E\.?[ ]?O\.?[ \t]*\d|TAGS?\b"
    # (A), (B), (C) are bullets here: only markings that no bullet looks like end the block.
    r"|\((?:U|TS|SBU|LOU|FOUO|[CS][ ]?/{1,2}[ ]?[A-Z]+)\)|" + LETTER_SPACED + r")",
    re.IGNORECASE,
)
# After a blank line a REF block goes on with another bullet or reference, or the rest of an
# item the page broke: ``B. TALLINN 347``, ``HANOI 2323``, ``Collenette)``, ``... 2001, (C) ...``.
_REF_GOES_ON = re.compile(
    r"^[-¶ \t]*(?:\(?[A-Z0-9]{1,2}[.):\]]|[(\d']|[A-Z][A-Z'-]*(?:[ ][A-Z][A-Z'-]*){0,3}[ ]\d)"
    r"|[\s,;]\(?[A-Z]\)[ ]|\)$",
    re.IGNORECASE,
)
_REF_STOP = re.compile(r"CLASSI\w*[ ]BY\b|SENSITIVE[ ]BUT\b")
# The whole print-format heading, dropped from a block: PAGE 02 ROME 01196 01 OF 02 082030Z.
_PAGE_HEADING_FULL = re.compile(r"\bPAGE \d{1,3} [A-Z][A-Z ]{0,20}? \d{3,8}(?: \d\d OF \d\d)? \d{6}Z")
_STATION_WORD = r"(?:[A-Z']|0(?=[A-Z]))(?:[A-Z'-]|0(?![0-9]))*+"
# [year] STATION serial [(year)]: 06 TBILISI 2601, '08 BUENOS AIRES 1491, 09CAIRO0561,
# ASUNCION 701 (08), (99) ROME 2196, O4 CHENNAI 0944; serials run to 7 digits, page headings 8.
# Possessive words: the serial follows the last of them, so giving one back never helps and
# would make prose cost hundreds of nanoseconds a character.
_CITATION = re.compile(
    r"(?<![A-Z0-9])(?:\(?(?P<year>'?(?:19|20)?\d\d|0\d\d|O\d)\)?[ -]?)?"
    rf"(?P<station>{_STATION_WORD}(?:[ ]{_STATION_WORD}){{0,3}}+)[ ]?[:-]?[ ]?"
    r"(?P<serial>\d{1,7}+)(?![\dA-Z/])(?:[ ]?\((?P<after>\d\d)\))?"
)
# Words before a number in a REF block that name no station: dates, paragraphs, pages.
_NOT_STATIONS = frozenset(
    {"AND", "PARA", "PARAS", "PARAGRAPH", "PAGE", "NO", "OF", "SECTION", "NOTAL", "SEPT"}
    | set(MONTHS)
    | set(MONTH_NAMES)
)
_NOT_LETTERS = str.maketrans("0", "O", "'-")
_A_DIGIT = re.compile(r"\d")


def references(text: str, *, year: int | None, reference_id: str | None = None) -> tuple[str, ...]:
    """Cables named on the REF line, as Cablegate-style ids (``TBILISI 1605`` -> 07TBILISI1605).

    ``year`` is the citing cable's year, which a reference without one shares; ``reference_id``
    is the citing cable's own id, never a reference of itself (page headings repeat it).
    """
    start = find_fields(text).ref
    if start is None:
        return ()
    default_year = None
    if year is not None:
        default_year = year % 100
    elif reference_id and reference_id[:2].isdigit():
        default_year = int(reference_id[:2])
    found: list[str] = []
    block = _ref_block(text, start)
    last: tuple[int | None, str] | None = None
    position = last_end = 0
    while citation := _CITATION.search(block, position):
        before, words, serial, after = citation.groups()
        station = _station(words)
        cited_year = _year(after or before)
        if station is None and words == "AND" and last and not block[last_end : citation.start()].strip():
            cited_year, station = last  # STATE 41252 AND 44603
        if station is None:
            position = citation.start("serial")  # that number may be the next one's year
            continue
        position = last_end = citation.end()
        last = (cited_year, station)
        cable_year = cited_year if cited_year is not None else default_year
        if cable_year is not None and int(serial):
            found.append(f"{cable_year:02d}{station}{int(serial)}")
    own = reference_id.upper() if reference_id else None
    return tuple(ref for ref in dict.fromkeys(found) if ref != own)


def _ref_block(text: str, start: int) -> str:
    """The REF field from ``start`` to the line that starts the next field, upper-cased."""
    lines = text[start : start + _REF_BLOCK].split("\n", _REF_LINES)[:_REF_LINES]
    end, blank = len(lines), False
    for i, line in enumerate(lines[1:], 1):
        bare = line.strip(" \t\\")
        if not bare:
            blank = True
            continue
        # After a blank line only another bullet or reference carries the block on; a long line
        # without a digit is a paragraph of the text.
        prose = bare.count(" ") >= 7 and _A_DIGIT.search(bare) is None
        if prose or _REF_BLOCK_END.match(line) or (blank and not _REF_GOES_ON.search(bare)):
            end = i
            break
        blank = False
    # Dumps of the release escape line ends as a literal backslash-n (or end lines with one).
    block = " ".join(" ".join(lines[:end]).replace("\\n", " ").replace("\\", " ").split()).upper()
    if "CLASSI" in block or "SENSITIVE" in block:
        stop = _REF_STOP.search(block)
        block = block[: stop.start()] if stop else block
    return _PAGE_HEADING_FULL.sub(" ", block) if "PAGE " in block else block


def _year(written: str | None) -> int | None:
    if not written:
        return None
    digits = written.lstrip("'").replace("O", "0")[-2:]
    return int(digits) if digits.isdigit() else None


@lru_cache(maxsize=4096)
def _station(written: str) -> str | None:
    """The station the words before a serial name, by its cable-id spelling (or None)."""
    vocabulary = tag_vocabulary()
    if written in vocabulary.stations and written not in _NOT_STATIONS:
        return vocabulary.stations[written]  # the usual case: one word, spelt as in the ids
    words = written.split()
    # The last word alone is no station when it is a month or PARA (JUNE 15, PARA 2, AND 44603);
    # RIO DE JAN 138 still is Rio de Janeiro.
    starts = range(len(words) - (words[-1] in _NOT_STATIONS))
    keys = ["".join(words[i:]).translate(_NOT_LETTERS) for i in starts]
    for key in keys:  # the longest name first: IRPO DUBAI is RPODUBAI, not DUBAI
        station = vocabulary.stations.get(key) or vocabulary.prefixes.get(key) or _near_station(key)
        if station:
            return station
    return None


def _near_station(key: str) -> str | None:
    """The one station a letter dropped, added or changed away (SAO PAUO, TRIPOLII, BISHTEK)."""
    vocabulary = tag_vocabulary()
    if len(key) < 5:
        return None
    candidates = {vocabulary.near.get(key)}
    for i in range(len(key)):
        shorter = key[:i] + key[i + 1 :]
        candidates.add(vocabulary.stations.get(shorter))
        candidates.add(vocabulary.near.get(shorter))
    candidates.discard(None)
    return candidates.pop() if len(candidates) == 1 else None
