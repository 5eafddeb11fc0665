"""Read a cable (ACP 127 or ACP 126 header, or a partial record) into a ``Cable``: pure, no I/O."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NoReturn, TypedDict

from router.cable import body
from router.cable.addressee import AddresseeLine, looks_collective, read_addressee_line
from router.cable.models import (
    MONTHS,
    Addressee,
    Cable,
    Classification,
    Exemption,
    Family,
    Precedence,
    StationSerial,
)
from router.cable.security import SecurityMarks, read_banner, read_security
from router.errors import CableParseError

MAX_CABLE_BYTES = 4 * 1024 * 1024
"""Default size limit; the service passes its own setting."""
MAX_ADDRESSEES = 5_000
"""Far above any real cable (the corpus maximum is 65 TO + 41 INFO), far below a hostile one."""

# How far into the input the routing header may start: print-format copies carry a
# distribution block of some 40 lines before the DTG line (00STATE228772).
_HEADER_SEARCH_LINES = 300
_BANNER_SEARCH_LINES = 80

_FL1 = re.compile(r"VZCZC([A-Z0-9]*)")
# FL2: the prosign, after the bell signal on a FLASH or ECP transmission as it goes down a line
# (§151b, §137e(1): five BEL characters in ASCII; `router.network.channel.BELL`), then the RIs.
_FL2 = re.compile(r"\a*([RPOZY])\1\s*(.*)")
_RI_LIST = re.compile(r"[A-Z]{4,7}(?:\s+[A-Z]{4,7})*\s*")
# FL3: DE, the originating RI, the station serial (State writes `#1571`, the base form `123`), its
# section, and the filing time as a Julian day and time (`1610901`) or a day/time (`04/1200Z`, §115).
# A letter after the serial says which position allotted it (§129: `DE RUECW 177C 1661529`).
_FL3 = re.compile(r"DE\s+([A-Z]{4,7})\s+(?:#\s*)?(\d{1,5})([A-Z])?(?:/(\d{1,3}))?\s+(\d{7}\b|\d{2}/\d{4}Z\b)")
_FL4 = re.compile(r"ZN[YR]\s+([A-Z])\1{4}\b")
# FL5: precedence letter(s), then DDHHMMZ MON YY. Partial records write it bare and in mixed case.
_DTG_PATTERN = (
    r"(?:([RPOZY0])[ \t]+(?:([RPOZY])[ \t]+)?)?"
    r"(\d{2})(\d{2})(\d{2})Z[ \t]+([A-Za-z]{3})[ \t]+(\d{2}|\d{4})(?!\d)"
)
_DTG = re.compile(_DTG_PATTERN)
# Under a full routing header FL5 may leave the year out (§113: it "may be added"; §222a writes
# `R 141527Z MAR`). Only there: elsewhere a DTG is what marks a header, and a year makes it one.
_FL5 = re.compile(_DTG_PATTERN.replace(r"[ \t]+(\d{2}|\d{4})(?!\d)", r"(?:[ \t]+(\d{2}|\d{4})(?!\d)|(?!\w))"))
# Where a header may start: FL1, or a DTG line (ACP 126). Searched over the text in one pass.
_HEADER_START = re.compile(r"^[ \t]*(?:(VZCZC)|" + _DTG_PATTERN + ")", re.MULTILINE)
_BARE_DTG = re.compile(r"^[ \t]*" + _DTG_PATTERN + r"[ \t]*$", re.MULTILINE)
_FM = re.compile(r"FM\s+(.*)")
_SECTION = re.compile(r"(TO|INFO|XMT)(?=$|[\s/:])[\s/:]*(.*)")
# A print-format page heading: `PAGE 02        STATE   228772  012054Z`, sometimes after a
# classification or prefixed by TO/INFO (09STATE15113, 08STATE50524).
_PAGE_HEADING = re.compile(r"(?:[A-Z ]+\s)?PAGE\s+\d{1,3}\s+\S.*\d{6}Z\s*$")
_CLASSIFICATION_ONLY = re.compile(
    r"\s*(?:UNCLASSIFIED|UNCLAS|CONFIDENTIAL|SECRET|TOP SECRET|LIMITED OFFICIAL USE)\s*$"
)
_SEPARATOR = re.compile(r"\s*-{5,}")
# The first letters of anything in an address block that is not an address: a banner (maybe
# letter-spaced) or a text field. One cheap test keeps ordinary address lines on the fast path.
_UNUSUAL = re.compile(
    r"U ?N ?C ?L|C ?O ?N ?F|S ?E ?C ?R|T ?O ?P|L ?I ?M ?I ?T|SIPDIS|E\.|EO|TAG|SUBJ|REF|BT",
    re.IGNORECASE,
)
# Lines that can only belong to the text: where they appear the header has ended.
_TEXT_START = re.compile(r"(?:SIPDIS|E\.\s?O\.|EO\s+\d|TAGS?\b|SUBJ|REF\b|BT\s*$)", re.IGNORECASE)
_TEXT_FIELD = r"[ \t]*(?:E\.[ \t]?O\.|EO[ \t]+\d|TAGS?\b|SUBJ)"
_TEXT_FIELD_FIRST = re.compile(_TEXT_FIELD, re.IGNORECASE)
# After a line feed: the search skips from line feed to line feed, not trying every position.
_TEXT_FIELD_LINE = re.compile("\n" + _TEXT_FIELD, re.IGNORECASE)
_MONTH_NUMBERS = {month: number for number, month in enumerate(MONTHS, 1)}
# Mojibake of a UTF-8 byte-order mark read as Latin-1 (04STATE137635), and the mark itself.
_BOM_PREFIXES = ("\ufeff", "\u00ef\u00bb\u00bf")


class _Serial(TypedDict):
    """FL3 as read, `StationSerial`'s fields: validated with the rest of the cable, in one pass."""

    originating_ri: str
    ssn: int
    position: str | None
    section: int | None
    filing_time: str


@dataclass(slots=True)
class _Header:
    """What the routing header says, gathered line by line before the ``Cable`` is built."""

    family: Family = "partial"
    transmission_id: str | None = None
    relay_precedence: Precedence | None = None
    relay_ris: list[str] = field(default_factory=list)
    station_serial: _Serial | None = None
    security_warning: Classification | None = None
    security_signal: str | None = None
    precedence: Precedence | None = None
    info_precedence: Precedence | None = None
    dtg: datetime | None = None
    originator: AddresseeLine | None = None
    to: list[tuple[int, AddresseeLine]] = field(default_factory=list)
    info: list[tuple[int, AddresseeLine]] = field(default_factory=list)
    xmt: list[tuple[int, AddresseeLine, str | None]] = field(default_factory=list)
    collectives: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    """Per list (TO, INFO): how many of its lines were read for collectives, and the last one found."""
    start: int = 0
    """Index of the header's first line (FL1, or the DTG line)."""
    end: int = 0
    """Index of the first line after the header."""


def parse_cable(data: bytes | str, *, max_bytes: int = MAX_CABLE_BYTES, text_fields: bool = True) -> Cable:
    """Read one cable; raise ``CableParseError`` (with line and column) for anything unreadable.

    ``text_fields=False`` leaves SUBJECT, TAGS, REF and the E.O. line unread (empty): the switch
    routes on the header and the security marks alone, and the prose is a quarter of the work.
    """
    text = _decode(data, max_bytes)
    # Everything the header and the security marks need stands above the first E.O., TAGS or
    # SUBJECT line; below it is prose, which only the body fields read. Once that line has
    # passed, a routing header further down belongs to another section copied into a partial
    # record (01VATICAN2955), not to this cable.
    lines = text[: _text_fields_start(text)].split("\n")
    header = _read_header(text, lines)
    return _build(header, text, lines, text_fields=text_fields)


def _text_fields_start(text: str) -> int:
    """Where the first E.O., TAGS or SUBJECT line starts; the length of ``text`` if none does."""
    if _TEXT_FIELD_FIRST.match(text):
        return 0
    line = _TEXT_FIELD_LINE.search(text)
    return line.start() + 1 if line else len(text)


def _decode(data: bytes | str, max_bytes: int) -> str:
    if isinstance(data, bytes):
        if len(data) > max_bytes:
            raise CableParseError(f"cable of {len(data)} bytes is over the limit of {max_bytes}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _position(data[: exc.start].decode("utf-8", "replace"))
            raise CableParseError(
                f"not UTF-8: byte 0x{data[exc.start]:02x} cannot start a character",
                line=line,
                column=column,
            ) from None
    elif len(text := data) > max_bytes:  # characters: at least as many bytes
        raise CableParseError(f"cable is over the limit of {max_bytes} bytes")
    nul = text.find("\x00")
    if nul >= 0:
        line, column = _position(text[:nul])
        raise CableParseError("binary data: NUL character", line=line, column=column)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for prefix in _BOM_PREFIXES:
        text = text.removeprefix(prefix)
    if not text or text.isspace():  # not `strip`: a copy of the whole text to test it
        raise CableParseError("empty cable")
    return text


def _position(prefix: str) -> tuple[int, int]:
    """1-based line and column of the character that follows ``prefix``."""
    line = prefix.count("\n") + 1
    return line, len(prefix) - (prefix.rfind("\n") + 1) + 1


def _read_header(text: str, lines: list[str]) -> _Header:
    """Find the routing header (FL1-FL9) and read it; a cable without one is a partial record."""
    header = _Header()
    limit = len("\n".join(lines[:_HEADER_SEARCH_LINES]))
    for match in _HEADER_START.finditer(text, 0, limit):
        i = header.start = text.count("\n", 0, match.start())
        if match.group(1):
            header.family = "acp127"
            _read_fl1_to_fl4(lines, i, header)
            return header
        if _starts_acp126(lines, i):
            header.family = "acp126"
            _read_fl5_on(lines, i, header)
            return header
    header.start = 0
    # A partial record: its DTG may still stand alone on a line (`201247Z Jan 04`).
    if bare := _BARE_DTG.search(text, 0, limit):
        i = text.count("\n", 0, bare.start())
        if dtg := _DTG.search(lines[i]):
            _read_dtg(dtg, lines[i], i, header)
    return header


def _starts_acp126(lines: list[str], i: int) -> bool:
    """A DTG line followed by an FM line: the header of an ACP 126 (pre-AUTODIN) cable."""
    if not _DTG.match(lines[i].strip()):
        return False
    following = _next_nonblank(lines, i + 1, 2)
    return following is not None and lines[following].lstrip().startswith("FM ")


def _next_nonblank(lines: list[str], start: int, within: int) -> int | None:
    for j in range(start, min(len(lines), start + within)):
        if lines[j].strip():
            return j
    return None


def _read_fl1_to_fl4(lines: list[str], start: int, header: _Header) -> None:
    """FL1 transmission id, FL2 precedence and relay RIs, FL3 DE line, FL4 security warning."""
    fl1 = lines[start].strip()
    header.transmission_id = fl1.split()[0]
    if not _FL1.fullmatch(header.transmission_id):
        _fail(lines, start, "FL1", "transmission id must be VZCZC + channel designator + serial")
    i = start + 1
    n = len(lines)
    # FL2: the precedence prosign, then RIs, continued on following lines until DE.
    while i < n and not lines[i].strip():
        i += 1
    if i < n and (fl2 := _FL2.fullmatch(lines[i].strip())):
        header.relay_precedence = Precedence.from_letter(fl2.group(1))
        header.relay_ris.extend(fl2.group(2).split())
        i += 1
        while i < n and _RI_LIST.fullmatch(lines[i].strip()) and not lines[i].startswith("DE "):
            header.relay_ris.extend(lines[i].split())
            i += 1
    else:
        _fail(
            lines,
            min(i, n - 1),
            "FL2",
            "expected the precedence prosign and relay RIs (OO RUEHWEB)",
        )
    # A blank line may stand between FL2 and FL3 (00ATHENS1501).
    while i < n and not lines[i].strip():
        i += 1
    fl3 = _FL3.match(lines[i].strip()) if i < n else None
    if fl3 is None:
        _fail(lines, min(i, n - 1), "FL3", "expected DE + originating RI + SSN + filing time")
    header.station_serial = {
        "originating_ri": fl3.group(1),
        "ssn": int(fl3.group(2)),
        "position": fl3.group(3),
        "section": int(fl3.group(4)) if fl3.group(4) else None,
        "filing_time": fl3.group(5),
    }
    i = _read_fl4(lines, i + 1, header)
    while i < n and not lines[i].strip():
        i += 1
    if i >= n or not _FL5.match(lines[i].strip()):
        _fail(lines, min(i, n - 1), "FL5", "expected the precedence and date-time group")
    _read_fl5_on(lines, i, header)


def _read_fl4(lines: list[str], i: int, header: _Header) -> int:
    """FL4, the security warning, if there is one; the index of the line after it.

    FL4 may be absent (§203b(2)): the message then goes over approved channels only and is handled
    as the classification in its text says (`security_warning` stays None). A line that is
    neither FL4 nor FL5 is an FL4 error.
    """
    line = lines[i].strip() if i < len(lines) else ""
    fl4 = _FL4.match(line)
    if fl4 is None:
        if _FL5.match(line):
            return i
        _fail(lines, min(i, len(lines) - 1), "FL4", "expected the security warning ZNY/ZNR with 5 letters")
    header.security_signal = fl4.group(1)
    header.security_warning = _SECURITY_SIGNALS.get(fl4.group(1))
    if header.security_warning is None:
        _fail(lines, i, "FL4", f"unknown security letter {fl4.group(1)!r}")
    return i + 1


# FL4 (ACP 127 §124b, §203a): the repeated letter says the security level; E = EFTO (unclassified).
_SECURITY_SIGNALS = {
    "U": Classification.UNCLASSIFIED,
    "E": Classification.UNCLASSIFIED,
    "R": Classification.RESTRICTED,
    "C": Classification.CONFIDENTIAL,
    "S": Classification.SECRET,
    "T": Classification.TOP_SECRET,
}


def _read_fl5_on(lines: list[str], start: int, header: _Header) -> None:
    """FL5 DTG, FL6 FM, then the address lines FL7-FL9 until the text begins."""
    line = lines[start]
    match = _FL5.match(line.strip())
    assert match is not None  # the caller found it
    _read_dtg(match, line, start, header)
    i = start + 1
    n = len(lines)
    while i < n and not lines[i].strip():
        i += 1
    fm = _FM.match(lines[i].strip()) if i < n else None
    if fm is None:
        # FL6 is left out when an AIG denotes the originator and all addressees (§205c(1)(b),
        # §222a: `TO AIG 205` right after FL5); only under a full routing header, which has FL3.
        if header.family == "acp127" and i < n and lines[i].lstrip().startswith("TO "):
            header.end = _read_addresses(lines, i, header)
            return
        _fail(lines, min(i, n - 1), "FL6", "expected FM + originator")
    header.originator = read_addressee_line(fm.group(1))
    header.end = _read_addresses(lines, i + 1, header)


def _read_dtg(match: re.Match[str], line: str, index: int, header: _Header) -> None:
    action, info, day, hour, minute, month, year = match.groups()
    column = line.find(match.group(0)) + 1
    # A zero where the letter O belongs (79TEHRAN11260) is no precedence letter: the
    # addressees' own words decide for that cable.
    if action and action != "0":
        header.precedence = Precedence.from_letter(action)
        header.info_precedence = Precedence.from_letter(info) if info else header.precedence
    elif header.relay_precedence is not None:
        # A DTG without its letter (78KABUL3619): FL2's prosign is the next best witness.
        header.precedence = header.info_precedence = header.relay_precedence
    month_number = _MONTH_NUMBERS.get(month.upper())
    if month_number is None:
        raise CableParseError(
            f"unknown month {month!r} in the date-time group",
            line=index + 1,
            column=column,
            field="DTG",
        )
    try:
        # Without a year (§113) the time is checked in a leap year, and the cable has no DTG as a date.
        when = datetime(
            _full_year(year or "2000"), month_number, int(day), int(hour), int(minute), tzinfo=UTC
        )
        header.dtg = when if year else None
    except ValueError as exc:
        raise CableParseError(
            f"date-time group {match.group(0).strip()!r} is not a real time: {exc}",
            line=index + 1,
            column=column,
            field="DTG",
        ) from None


def _full_year(year: str) -> int:
    """Two-digit DTG years: 50-99 are 19xx, 00-49 are 20xx (the cables run from 1966 to 2010)."""
    value = int(year)
    if len(year) == 4:
        return value
    return 1900 + value if value >= 50 else 2000 + value


def _read_addresses(lines: list[str], start: int, header: _Header) -> int:
    """Read TO/INFO/XMT lines from ``start``; return the index of the first line of the text."""
    section: str | None = None
    i = start
    n = len(lines)
    count = 0
    while i < n:
        line = lines[i].strip()
        if not line:
            if not _header_resumes(lines, i + 1):
                return i
            i += 1
            continue
        if line[0] in "TIX" and (keyword := _SECTION.fullmatch(line)):
            section, line = keyword.group(1), keyword.group(2).strip()
            # `INFO XMT FOOBAR`: an empty INFO list, then an exemption.
            nested = _SECTION.fullmatch(line)
            if nested and nested.group(1) == "XMT":
                section, line = "XMT", nested.group(2).strip()
            # `TO PAGE 02 ...` (09STATE15113): the list goes on below the page heading.
            if not line or _is_page_heading(line):
                i += 1
                continue
        elif _is_page_heading(line) or _SEPARATOR.match(line):
            i += 1
            continue
        elif _UNUSUAL.match(line):
            if _CLASSIFICATION_ONLY.fullmatch(line) and _page_heading_follows(lines, i + 1):
                i += 1
                continue
            if _TEXT_START.match(line) or read_banner(line) is not None:
                return i
        if section is None:
            # Lines between FM and the first TO are not addressees; the text has begun.
            return i
        count += 1
        if count > MAX_ADDRESSEES:
            _fail(lines, i, section, f"more than {MAX_ADDRESSEES} addressee lines")
        addressee = read_addressee_line(line)
        if addressee is None:
            _fail(lines, i, section, f"cannot read {line[:40]!r} as an addressee")
        if section == "XMT":
            header.xmt.append((i, addressee, _collective_above(header)))
        else:
            (header.to if section == "TO" else header.info).append((i, addressee))
        i += 1
    return i


def _collective_above(header: _Header) -> str | None:
    """The collective an XMT line exempts from: the one named above it (ACP 127 §205).

    INFO's last collective, else TO's (the lists read upwards, INFO first); where no addressee
    above reads as a collective, the nearest addressee is the best witness.
    """
    collective = _last_collective(header, "INFO", header.info) or _last_collective(header, "TO", header.to)
    if collective is not None:
        return collective
    above = header.info or header.to
    return above[-1][1].name if above else None


def _last_collective(
    header: _Header, section: str, addressees: list[tuple[int, AddresseeLine]]
) -> str | None:
    """The last collective of a list, reading only the lines added since the last XMT line asked.

    Thousands of XMT lines under thousands of addressees would make a search from the top at
    each XMT line quadratic; this reads each addressee line once.
    """
    read, last = header.collectives.get(section, (0, None))
    for _, addressee in addressees[read:]:
        if looks_collective(addressee.name):
            last = addressee.name
    header.collectives[section] = (len(addressees), last)
    return last


def _header_resumes(lines: list[str], start: int) -> bool:
    """After a blank line: does the address list go on (INFO after a gap, a page break)."""
    j = _next_nonblank(lines, start, 3)
    if j is None:
        return False
    line = lines[j].strip()
    if _SECTION.fullmatch(line) or _is_page_heading(line):
        return True
    return bool(_CLASSIFICATION_ONLY.fullmatch(line) and _page_heading_follows(lines, j + 1))


def _page_heading_follows(lines: list[str], start: int) -> bool:
    j = _next_nonblank(lines, start, 3)
    return j is not None and _is_page_heading(lines[j].strip())


def _is_page_heading(line: str) -> bool:
    return "PAGE" in line and _PAGE_HEADING.match(line) is not None


def _fail(lines: list[str], index: int, field_name: str, reason: str) -> NoReturn:
    line = lines[index] if 0 <= index < len(lines) else ""
    column = len(line) - len(line.lstrip()) + 1
    raise CableParseError(reason, line=index + 1, column=column, field=field_name)


def _build(header: _Header, whole: str, lines: list[str], *, text_fields: bool) -> Cable:
    # The text below the header, copied only where it is read: the body fields, and the digest
    # that identifies a cable without FL3 (a big cable's copy costs its size).
    text = _text_below(header, whole, lines) if text_fields or header.station_serial is None else ""
    marks: SecurityMarks = read_security(lines[header.end : header.end + _BANNER_SEARCH_LINES])
    if marks.classification is None and header.start:
        # The banner printed above the header (09STATE119085) when the text lacks one.
        marks = read_security(lines[: header.start])
    warning = header.security_warning
    candidates = [c for c in (warning, marks.classification) if c is not None]
    caveats = list(marks.caveats)
    if header.security_signal == "E" and "EFTO" not in caveats:
        caveats.insert(0, "EFTO")
    if header.family == "partial" and not candidates and header.dtg is None:
        raise CableParseError("no routing header, no date-time group and no classification banner")
    dtg_year = header.dtg.year if header.dtg else None
    reference = (
        f"{dtg_year % 100:02d}{marks.station}{marks.serial}"
        if (dtg_year is not None and marks.station and marks.serial is not None)
        else None
    )
    originator = header.originator
    # Every field made here, of its exact type and in the model's order: not validated again
    # (`read_as`); tests/test_corpus.py holds the result equal to its validation.
    serial = header.station_serial
    return Cable.read_as(
        {
            "family": header.family,
            "message_id": _message_id(header, text),
            "transmission_id": header.transmission_id,
            "relay_precedence": header.relay_precedence,
            "relay_ris": tuple(header.relay_ris),
            "station_serial": StationSerial.read_as(dict(serial)) if serial is not None else None,
            "precedence": header.precedence,
            "info_precedence": header.info_precedence,
            "dtg": header.dtg,
            "originator": originator.display_name if originator else None,
            "originator_ri": originator.ri if originator else None,
            "to": tuple(_addressee(i, a, header.precedence) for i, a in header.to),
            "info": tuple(_addressee(i, a, header.info_precedence) for i, a in header.info),
            "xmt": tuple(
                Exemption.read_as({"name": a.name, "ri": a.ri, "collective": collective, "line": i + 1})
                for i, a, collective in header.xmt
            ),
            "classification": max(candidates) if candidates else None,
            "security_warning": warning,
            "banner_classification": marks.classification,
            "classification_conflict": len(set(candidates)) > 1,
            "caveats": tuple(caveats),
            "reference": reference,
            "subject": body.subject(text) if text_fields else None,
            "tags": body.tags(text) if text_fields else (),
            "references": body.references(text, year=dtg_year, reference_id=reference) if text_fields else (),
            "declassification": body.declassification(text) if text_fields else None,
            "header_lines": header.end,
        }
    )


def _text_below(header: _Header, whole: str, lines: list[str]) -> str:
    return whole[len("\n".join(lines[: header.end])) + 1 :] if header.end else whole


def _addressee(index: int, line: AddresseeLine, default: Precedence | None) -> Addressee:
    # ACP 127 §152: an addressee's own word rules; otherwise the DTG letter for its role.
    # A cable with no precedence at all is handled as ROUTINE, the lowest.
    return Addressee.read_as(
        {
            "name": line.name,
            "ri": line.ri,
            "office": line.office,
            "precedence": line.precedence or default or Precedence.ROUTINE,
            "written_precedence": line.precedence,
            "niact": line.niact,
            "mcn": line.mcn,
            "zen": line.zen,
            "pouch": line.pouch,
            "line": index + 1,
        }
    )


def _message_id(header: _Header, text: str) -> str:
    """ACP 127 §116: RI + SSN + filing time identify a message; without FL3, a digest stands in."""
    serial = header.station_serial
    if serial is not None:
        section = f"/{serial['section']:02d}" if serial["section"] is not None else ""
        position = serial["position"] or ""
        return f"{serial['originating_ri']}-{serial['ssn']:04d}{position}{section}-{serial['filing_time']}"
    # Blanks, tabs and line ends are left out of the digest: a copy padded, trimmed or folded at
    # another width in transit (or by another archive) keeps its identity; its words do not change.
    originator = header.originator.display_name if header.originator else ""
    dtg = header.dtg.isoformat() if header.dtg else ""
    words = text.encode().translate(None, b" \t\n")
    # SHA-1 for speed (processors hash it in hardware), not for secrecy: 80 of its bits name a cable.
    digest = hashlib.sha1(f"{originator}\x1f{dtg}\x1f".encode() + words, usedforsecurity=False)
    return f"X-{digest.hexdigest()[:20].upper()}"
