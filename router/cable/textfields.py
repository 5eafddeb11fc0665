"""Where the fields of a cable's text are: the shared finding behind TAGS, SUBJECT, E.O. and REF."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

# The fields sit right after the banner: in the corpus 99.9 % of TAGS, SUBJECT and E.O. lines
# start within 1.3 KB of it, so a 4 KB head bounds the work on any input, however long.
_HEAD = 4096
CONTINUATION_LINES = 8

# --- the vocabulary: router/data/tags.txt, built from the corpus by scripts/build_tag_vocabulary.py


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What the corpus's TAGS lines and REF blocks are made of: codes, keywords, names and stations."""

    codes: frozenset[str] = frozenset()
    """2- and 4-letter tags: subject (PREL), country (JA) and a few organisation tags (NATO)."""
    words: frozenset[str] = frozenset()
    """One-word keywords that are not codes (UNESCO, COUNTERTERRORISM)."""
    phrases: frozenset[str] = frozenset()
    """Multi-word keywords, by their words (``ISRAELI PALESTINIAN AFFAIRS``)."""
    persons: dict[str, str] = field(default_factory=dict)
    """``LAST|FIRST`` to the name as a tag writes it (``STEINBERG, JAMES B.``)."""
    plain: frozenset[str] = frozenset()
    """English words that look like codes run together or like a typo of a tag (PREFER)."""
    stations: dict[str, str] = field(default_factory=dict)
    """Station names and aliases, letters only, to the spelling a cable id uses."""
    prefixes: dict[str, str] = field(default_factory=dict)
    """Abbreviations that start one station only (VAT, UNVIE)."""
    near: dict[str, str] = field(default_factory=dict)
    """Station aliases with one letter dropped, to their station (typos such as SAO PAUO)."""
    longest_phrase: int = 0


@cache
def tag_vocabulary() -> Vocabulary:
    """router/data/tags.txt, read on first use: not at import, so that `import router` stays cheap."""
    try:
        data = resources.files("router").joinpath("data/tags.txt").read_text(encoding="utf-8")
    except OSError:  # a checkout without the generated file still reads cables, less well
        return Vocabulary()
    tables: dict[str, dict[str, str]] = {}
    for line in data.splitlines():
        kind, _, rest = line.partition("\t")
        value, _, extra = rest.partition("\t")
        if value and not kind.startswith("#"):
            tables.setdefault(kind, {})[value] = extra
    persons = {}
    for name in tables.get("person", {}):
        last, _, given = name.partition(", ")
        if given:
            persons[f"{last}|{given.split()[0]}"] = name
    stations = tables.get("station", {})
    near: dict[str, str] = {}
    for key, station in stations.items():
        for i in range(len(key) if len(key) >= 5 else 0):
            shorter = key[:i] + key[i + 1 :]
            near[shorter] = station if near.get(shorter, station) == station else ""
    phrases = frozenset(tables.get("phrase", {}))
    return Vocabulary(
        codes=frozenset(tables.get("code", {})),
        words=frozenset(tables.get("word", {})),
        phrases=phrases,
        persons=persons,
        plain=frozenset(tables.get("plain", {})),
        stations=stations,
        prefixes=tables.get("prefix", {}),
        near={key: station for key, station in near.items() if station},
        longest_phrase=max((p.count(" ") + 1 for p in phrases), default=0),
    )


# --- finding a field; lines that end one

# Print-format page headings (``UNCLASSIFIED  PAGE 02  VATICA 00283 01 OF 05 241033Z``) and the
# newer ``PRETORIA 00000954 001.2 OF 004`` ones interrupt a field wherever the page broke.
PAGE_HEADING = re.compile(
    r"(?:\b(?:UNCLASSIFIED|UNCLAS|CONFIDENTIAL|SECRET|LIMITED OFFICIAL USE)[ \t]+)?"
    r"\bPAGE[ \t]+\d{1,3}[ \t]+[A-Z]|\b[A-Z][A-Z ]{0,20}[ \t]\d{8}[ \t]+\d{3}\.\d[ \t]+OF[ \t]"
)
LETTER_SPACED = r"[A-Z](?:[ ]{1,3}[A-Z]){5}"  # C O N F I D E N T I A L, C O R R E C T E D
MARKING = r"\((?:U|C|S|TS|SBU|LOU|FOUO)(?:[ ]?/{1,2}[ ]?[A-Z]{1,10})*\)"
# Lines that start another field or the body: a wrapped field ends before them.
FIELD_START = re.compile(
    r"[ \t]*(?:SUBJ(?:ECT)?\b|UBJECT:|REF(?:S|TELS?|\(S\))?(?![A-Z])|CLASSI\w*[ \t]+BY\b"
    r"|E\.?[ ]?[O0]\.?[ \t]*\d|TAGS?\b|SIPDIS|NOFORN|SENSITIVE\b|SUMMARY[ \t]*(?:[:.-]|$)"
    r"|¶|\d{1,2}[ \t]*\.(?!\d)|"
    + MARKING
    + r"|PAGE[ \t]+\d|[-=*_]{3}|"
    + LETTER_SPACED
    + r"|[A-Z][A-Z ]{0,20}[ \t]\d{8}[ \t]+\d{3}\.\d)",
    re.IGNORECASE,
)


# The usual spelling of each field, at a line start in capitals, and the first paragraph: one
# literal-led regex finds them all far faster than case-insensitive ones reading every character.
_USUAL = re.compile(
    r"\n[ \t]*(?:(?P<tags>TAGS?(?:[ \t]*[:;,]|(?=[ \t]+[A-Z])))|(?P<subject>SUBJECT[ \t]*:)"
    r"|(?P<eo>(?:E\.[ ]?O\.?|EO)[ \t]*(?P<order>\d{3,6})[ \t]*[:;,.]?)|(?P<ref>REF[ \t]*:)"
    r"|(?P<body>¶?[ \t]*1[ \t]*\.(?!\d)))"
)


@dataclass(frozen=True, slots=True)
class Fields:
    """Where the text of each field starts, right after its name (None: no such field)."""

    head: str
    tags: int | None
    subject: int | None
    eo: int | None
    order: str | None
    """The executive order's number on the E.O. line."""
    ref: int | None


# The four fields of a cable are read in turn from the same text: the last one found is kept.
_LAST: list[tuple[str, Fields]] = []


def find_fields(text: str) -> Fields:
    """Find the four fields of ``text``, or return them if ``text`` is the one read last."""
    last = _LAST[0] if _LAST else None
    if last is not None and last[0] is text:
        return last[1]
    head = text[:_HEAD]
    usual: dict[str, re.Match[str]] = {}
    body = size = len(head)
    for name in _USUAL.finditer(head):
        kind = name.lastgroup or ""
        if kind == "body":
            body = name.start() if body == size else body
        elif kind not in usual:
            usual[kind] = name
        # Past the first paragraph only a missing TAGS, SUBJECT or E.O. is worth looking for.
        if len(usual) == 4 or (body < size and len(usual) - ("ref" in usual) == 3):
            break
    starts: dict[str, int] = {}
    order = None
    upper: str | None = None  # the head in capitals, made once if a field is written otherwise
    for kind, spelling in _KINDS.items():
        end = body if kind == "ref" else size  # REF comes before the first paragraph or never
        found = usual.get(kind)
        if found is None or found.start() >= end:
            upper = head.upper() if upper is None else upper
            found = _written_otherwise(head, upper, end, spelling)
        if found is not None:
            starts[kind] = found.end(kind) if found.re is _USUAL else found.end()
            if kind == "eo":
                order = found.group("order" if found.re is _USUAL else 1)
    fields = Fields(
        head, starts.get("tags"), starts.get("subject"), starts.get("eo"), order, starts.get("ref")
    )
    _LAST[:] = [(text, fields)]
    return fields


def _written_otherwise(
    head: str, upper: str, end: int, spelling: tuple[tuple[str, ...], re.Pattern[str], re.Pattern[str]]
) -> re.Match[str] | None:
    """A field written otherwise (Tags:, E.O. after SIPDIS on one line, TAS:), before ``end``."""
    words, needles, field = spelling
    if len(upper) != len(head):  # a letter whose capital is longer (ß): read it all
        return field.search(head, 0, end)
    if not any(upper.find(word, 0, end) >= 0 for word in words):
        return None
    return _first(head, upper, needles, field, end)


def _first(
    head: str, upper: str, needles: re.Pattern[str], field: re.Pattern[str], end: int
) -> re.Match[str] | None:
    """The first ``field`` before ``end`` on a line where one of the ``needles`` occurs."""
    for needle in needles.finditer(upper, 0, end):
        hit = needle.start()
        match = field.match(head, upper.rfind("\n", 0, hit) + 1) or field.match(head, hit)
        if match and match.start() < end:
            return match
    return None


def lines_after(head: str, end: int) -> Iterator[str]:
    """The lines after the one that holds ``end``, trailing escape backslashes removed."""
    start = head.find("\n", end)
    while start >= 0:
        stop = head.find("\n", start + 1)
        yield head[start + 1 : stop if stop >= 0 else len(head)].rstrip().removesuffix("\\")
        start = stop


def rest_of_line(head: str, start: int) -> str:
    """The rest of the line from ``start``, a trailing escape backslash removed."""
    end = head.find("\n", start)
    return (head[start:] if end < 0 else head[start:end]).rstrip().removesuffix("\\")


_TAGS_NAMES = r"(?:TAGS|TAGES|TABS|TAG|TGS|TAS|AGS)"
_TAGS_FIELD = re.compile(
    # At a line start any separator will do (TAGS: / TAGS; / TAGS, / TAGS PREL); later in a
    # line only a colon, or an upper-case TAGS after the E.O. line's date or N/A.
    rf"^[ \t]*{_TAGS_NAMES}(?![A-Z0-9])[ \t]*[:;,]?"
    rf"|(?<=[ \t]){_TAGS_NAMES}[ \t]*[:;]"
    r"|(?:(?<=\d[ \t])|(?<=N/A[ \t]))(?-i:TAGS?)[ \t]+(?=[A-Z]{2,4}\b)",
    re.IGNORECASE | re.MULTILINE,
)
_TAGS_NEEDLES = re.compile(r"TA[GSB]|TGS|AGS")

_SUBJECT_FIELD = re.compile(
    r"^[ \t]*(?:SUBJECT|SUBJ|UBJECT)(?![A-Z0-9])[ \t]*[:.]?|(?<=[ \t])(?:SUBJECT|SUBJ)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_SUBJECT_NEEDLES = re.compile(r"SUBJ|UBJECT")
_EO_LINE = re.compile(
    r"(?<![A-Z0-9])(?:E\.[ ]?[O0]\.?|E[ ]?O\.|EO(?=[ \t]*\d))[ \t]*[:;]?[ \t]*(\d{3,6})?[ \t]*[:;,.]?"
    r"|(?<![A-Z])(?=DECL\b)",
    re.IGNORECASE,
)
_EO_NEEDLES = re.compile(r"E\.[ ]?[O0]|E[ ]?O\.|EO[ \t]*\d|DECL")
_REF_FIELD = re.compile(
    r"^[ \t]*(?:¶[ \t]*)?REF(?:S|TELS?|\(S\))?(?![A-Z0-9])[ \t]*[:.]?"
    r"|(?<![A-Za-z])REF(?:S|TELS?|\(S\))?[ \t]*:|(?-i:(?<=[A-Z])REF:)",
    re.IGNORECASE | re.MULTILINE,
)
_REF_NEEDLES = re.compile(r"REF")
# What each field is called, where to look for it, and how it reads (used by find_fields).
_KINDS = {
    "tags": (("TAG", "TAS", "TGS", "TAB", "AGS"), _TAGS_NEEDLES, _TAGS_FIELD),
    "subject": (("SUBJ", "UBJECT"), _SUBJECT_NEEDLES, _SUBJECT_FIELD),
    # Executive orders are numbered from 10000 up: EO 12958, E.O. 12356, E.O. 11652.
    "eo": (("E.O", "E. O", "E.0", "EO.", "E O.", "EO1", "EO 1", "DECL"), _EO_NEEDLES, _EO_LINE),
    "ref": (("REF",), _REF_NEEDLES, _REF_FIELD),
}
