"""Fields read from a cable's text: TAGS, SUBJECT, the E.O. declassification line and REF."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING

from router.models import Declassification

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["declassification", "references", "subject", "tags"]

# The fields sit right after the banner: in the corpus 99.9 % of TAGS, SUBJECT and E.O. lines
# start within 1.3 KB of it, so a 4 KB head bounds the work on any input, however long.
_HEAD = 4096
_REF_BLOCK = 1200  # REF blocks of the corpus end their last reference by 800 characters
_CONTINUATION_LINES = 8
_REF_LINES = 40  # REF lines, bullets included; the corpus's longest REF block has 31

# --- the vocabulary: router/data/tags.txt, built from the corpus by scripts/build_tag_vocabulary.py


@dataclass(frozen=True, slots=True)
class _Vocabulary:
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


def _load_vocabulary() -> _Vocabulary:
    try:
        data = resources.files("router").joinpath("data/tags.txt").read_text(encoding="utf-8")
    except OSError:  # a checkout without the generated file still reads cables, less well
        return _Vocabulary()
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
    return _Vocabulary(
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


_VOCABULARY = _load_vocabulary()

# --- finding a field; lines that end one

# Print-format page headings (``UNCLASSIFIED  PAGE 02  VATICA 00283 01 OF 05 241033Z``) and the
# newer ``PRETORIA 00000954 001.2 OF 004`` ones interrupt a field wherever the page broke.
_PAGE_HEADING = re.compile(
    r"(?:\b(?:UNCLASSIFIED|UNCLAS|CONFIDENTIAL|SECRET|LIMITED OFFICIAL USE)[ \t]+)?"
    r"\bPAGE[ \t]+\d{1,3}[ \t]+[A-Z]|\b[A-Z][A-Z ]{0,20}[ \t]\d{8}[ \t]+\d{3}\.\d[ \t]+OF[ \t]"
)
_LETTER_SPACED = r"[A-Z](?:[ ]{1,3}[A-Z]){5}"  # C O N F I D E N T I A L, C O R R E C T E D
_MARKING = r"\((?:U|C|S|TS|SBU|LOU|FOUO)(?:[ ]?/{1,2}[ ]?[A-Z]{1,10})*\)"
# Lines that start another field or the body: a wrapped field ends before them.
_FIELD_START = re.compile(
    r"[ \t]*(?:SUBJ(?:ECT)?\b|UBJECT:|REF(?:S|TELS?|\(S\))?(?![A-Z])|CLASSI\w*[ \t]+BY\b"
    r"|E\.?[ ]?[O0]\.?[ \t]*\d|TAGS?\b|SIPDIS|NOFORN|SENSITIVE\b|SUMMARY[ \t]*(?:[:.-]|$)"
    r"|¶|\d{1,2}[ \t]*\.(?!\d)|"
    + _MARKING
    + r"|PAGE[ \t]+\d|[-=*_]{3}|"
    + _LETTER_SPACED
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
class _Fields:
    """Where the text of each field starts, right after its name (None: no such field)."""

    head: str
    tags: int | None
    subject: int | None
    eo: int | None
    order: str | None
    """The executive order's number on the E.O. line."""
    ref: int | None


# The four fields of a cable are read in turn from the same text: the last one found is kept.
_LAST: list[tuple[str, _Fields]] = []


def _fields(text: str) -> _Fields:
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
    for kind, (words, needles, pattern) in _KINDS.items():
        end = body if kind == "ref" else size  # REF comes before the first paragraph or never
        found = usual.get(kind)
        if found is None or found.start() >= end:
            found = _written_otherwise(head, end, words, needles, pattern)
        if found is not None:
            starts[kind] = found.end(kind) if found.re is _USUAL else found.end()
            if kind == "eo":
                order = found.group("order" if found.re is _USUAL else 1)
    fields = _Fields(
        head, starts.get("tags"), starts.get("subject"), starts.get("eo"), order, starts.get("ref")
    )
    _LAST[:] = [(text, fields)]
    return fields


def _written_otherwise(
    head: str, end: int, words: tuple[str, ...], needles: re.Pattern[str], field: re.Pattern[str]
) -> re.Match[str] | None:
    """A field written otherwise (Tags:, E.O. after SIPDIS on one line, TAS:), before ``end``."""
    prefix = head[:end]
    upper = prefix.upper()
    if len(upper) != len(prefix):  # a letter whose capital is longer (ß): read it all
        return field.search(head, 0, end)
    if not any(word in upper for word in words):
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


def _lines_after(head: str, end: int) -> Iterator[str]:
    """The lines after the one that holds ``end``, trailing escape backslashes removed."""
    start = head.find("\n", end)
    while start >= 0:
        stop = head.find("\n", start + 1)
        yield head[start + 1 : stop if stop >= 0 else len(head)].rstrip().removesuffix("\\")
        start = stop


def _rest_of_line(head: str, start: int) -> str:
    end = head.find("\n", start)
    return (head[start:] if end < 0 else head[start:end]).rstrip().removesuffix("\\")


# --- TAGS

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
_TAGS_END = re.compile(r"\b(?:SUBJECT|SUBJ)[ \t]*:|\bE\.[ ]?O\.")
_MARKDOWN_LINK = re.compile(r"\[([^\[\]\n]{0,80})\]\([^()\n]{0,80}\)")
_SEPARATORS = re.compile(r"[\s,]+")
_WORD_EDGE = ":;"
# Distribution captions get fused into the TAGS line; they are no tags (5 FAH-2 H-442).
_CAPTIONS = frozenset({"SIPDIS", "NOFORN", "NODIS", "EXDIS", "LIMDIS"})
_ALPHA = re.compile(r"[A-Z]+")
_CODE_SHAPE = re.compile(r"[A-Z]{2,4}")
_NAMES_IN_PARENTHESES = re.compile(r"([^()]*)\(([^()]*)\)\s*")
_NAME = re.compile(r"[A-Z][A-Z.' -]*")


def tags(text: str, *, canonicalize: bool = True) -> tuple[str, ...]:
    """The TAGS line: subject, country and keyword tags, upper-cased, each once, in order.

    ``canonicalize=False`` returns the words as written (split at commas and blanks); the
    default also splits run-together codes (``PHUMBA``), groups keywords and names, and fixes
    one-letter typos of known tags, all by the vocabulary of the corpus's own TAGS lines.
    """
    fields = _fields(text)
    head, start = fields.head, fields.tags
    if start is None:
        return ()
    parts = [_unlink(_rest_of_line(head, start))]
    for count, line in enumerate(_lines_after(head, start)):
        if count == _CONTINUATION_LINES or not _continues_tags(" ".join(parts), _unlink(line)):
            break
        parts.append(_unlink(line))
    written = " ".join(parts).upper()
    if "SUBJ" in written or "E." in written:
        stop = _TAGS_END.search(written)
        written = written[: stop.start()] if stop else written
    if "PAGE" in written or " OF " in written:
        stop = _PAGE_HEADING.search(written)
        written = written[: stop.start()] if stop else written
    words = _SEPARATORS.split(written.strip(" \t,"))
    if canonicalize and _VOCABULARY.codes.issuperset(words):
        return tuple(dict.fromkeys(words))  # the usual line: codes only, nothing to work out
    if not canonicalize:
        found = [word.strip(_WORD_EDGE) for word in words]
    else:
        found = _plain_items(written) or _canonical_tags(written, head)
    return tuple(dict.fromkeys(tag for tag in found if tag and tag not in _CAPTIONS))


def _unlink(line: str) -> str:
    """Markdown links as the web release rendered tags: ``[PREL](#)`` is PREL."""
    return _MARKDOWN_LINK.sub(r"\1", line) if "](" in line else line


def _continues_tags(previous: str, line: str) -> bool:
    """Whether ``line`` carries on a TAGS field that ``previous`` wrapped (no field of its own)."""
    if not line.strip() or _FIELD_START.match(line):
        return False
    if previous.rstrip().endswith(",") or previous.count("(") > previous.count(")"):
        return True
    line = line.upper()
    stop = _TAGS_END.search(line) if "SUBJ" in line or "E." in line else None
    words = [w.strip(_WORD_EDGE) for w in _SEPARATORS.split(line[: stop.start() if stop else None])]
    words = [w for w in words if w]
    vocabulary = _VOCABULARY
    known = sum(w in vocabulary.codes or w in vocabulary.words for w in words)
    if words and 2 * known >= len(words) and all(_CODE_SHAPE.fullmatch(w) for w in words):
        return True
    # A keyword wrapped over the line end: COUNTRY / CLEARANCE.
    before, after = previous.upper().split()[-3:], line.split()[:3]
    return any(
        _phrase_key(" ".join(before[i:] + after[:j])) in vocabulary.phrases
        for i in range(len(before))
        for j in range(1, len(after) + 1)
    )


def _plain_items(written: str) -> list[str] | None:
    """The tags when every comma item is a known code, word or keyword as it stands, else None."""
    vocabulary = _VOCABULARY
    if "(" in written:
        return None
    found: list[str] = []
    for item in written.split(","):
        words = item.split()
        if all(word in vocabulary.codes for word in words):
            found.extend(words)
        elif len(words) == 1 and words[0] in vocabulary.words and not _split_fused(words[0]):
            found.append(words[0])
        elif (
            _phrase_key(item) in vocabulary.phrases
            and "".join(words) not in vocabulary.words
            and not any(word in vocabulary.codes or _split_fused(word) for word in words)
        ):
            found.append(" ".join(words))
        else:
            return None
    return found


def _split_items(written: str) -> list[str]:
    """Comma-separated items; commas inside parentheses stay (``OVIP (CLINTON, HILLARY)``)."""
    if "(" not in written:
        return [item for item in written.split(",") if item.strip()]
    items, depth, start = [], 0, 0
    for i, char in enumerate(written):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            items.append(written[start:i])
            start = i + 1
    items.append(written[start:])
    return [item for item in items if item.strip()]


def _canonical_tags(written: str, head: str) -> list[str]:
    found: list[str] = []
    for item in _split_items(written):
        if "(" in item or ")" in item:
            found.extend(_parenthesized(item))
        else:
            found.extend(_item_tags(_words(item), head))
    return found


def _words(item: str) -> list[str]:
    return [word for word in (w.strip(_WORD_EDGE) for w in item.split()) if word]


def _parenthesized(item: str) -> list[str]:
    """An item with a parenthesized list of names (``OVIP (STEINBERG, JAMES B.)``), else as is."""
    match = _NAMES_IN_PARENTHESES.fullmatch(item)
    names = _name_list(match.group(2)) if match else []
    if not match or not names:
        return [" ".join(item.split())]
    return _item_tags(_words(match.group(1)), "") + names


def _name_list(group: str) -> list[str]:
    pieces = [" ".join(p.split()) for p in group.split(",") if p.strip()]
    if len(pieces) < 2 or not all(_NAME.fullmatch(p) for p in pieces):
        return []
    if len(pieces) == 2:
        return [f"{pieces[0]}, {pieces[1]}"]
    words = " ".join(pieces).split()
    if len(words) % 2:
        return []
    return [f"{words[i]}, {words[i + 1]}" for i in range(0, len(words), 2)]


def _item_tags(words: list[str], head: str) -> list[str]:
    """Tags of one item: codes stand alone, the free words between them form keywords."""
    codes = _VOCABULARY.codes
    anchors = [w in codes or _split_fused(w) is not None for w in words]
    # A country code between two free words is an English word inside a keyword (TIP IN TURKEY).
    written = anchors.copy()
    for i in range(1, len(words) - 1):
        if written[i] and len(words[i]) == 2 and not written[i - 1] and not written[i + 1]:
            anchors[i] = False
    found: list[str] = []
    i = 0
    while i < len(words):
        if anchors[i]:
            found.extend(_split_fused(words[i]) or [words[i]])
            i += 1
            continue
        j = i
        while j < len(words) and not anchors[j]:
            j += 1
        run = words[i:j]
        # OVIP (official visit) is followed by the visitor's name: last name, first name.
        if found and found[-1] == "OVIP" and len(run) >= 2 and _ALPHA.fullmatch(run[1]):
            found.append(_person(run[0], run[1], head))
            run = run[2:]
        found.extend(_free_run(run))
        i = j
    return found


@lru_cache(maxsize=4096)
def _split_fused(word: str) -> tuple[str, ...] | None:
    """The codes a run-together word is made of (``PHUMBA`` -> PHUM, BA), else None.

    Only words of five letters or more that are no code or plain word themselves, and only
    when one of the parts is a 4-letter subject code: pairs of country codes spell English.
    """
    codes = _VOCABULARY.codes
    if len(word) < 5 or word in codes or word in _VOCABULARY.plain or not _ALPHA.fullmatch(word):
        return None
    # best[i]: the fewest codes that spell word[:i], and whether one is a subject code.
    best: dict[int, tuple[int, bool, tuple[str, ...]]] = {0: (0, False, ())}
    for i in range(len(word)):
        if i not in best:
            continue
        count, subject_code, parts = best[i]
        for size in (4, 2):
            piece = word[i : i + size]
            if len(piece) == size and piece in codes:
                candidate = (count + 1, subject_code or size == 4, (*parts, piece))
                if i + size not in best or candidate[0] < best[i + size][0]:
                    best[i + size] = candidate
    result = best.get(len(word))
    return result[2] if result and result[1] and result[0] >= 2 else None


def _person(last: str, first: str, head: str) -> str:
    """``LAST, FIRST`` as a tag names a person, with the middle initial when it is known."""
    known = _VOCABULARY.persons.get(f"{last}|{first}")
    if known:
        return known
    # The cable itself often spells the name out: VISIT OF PRESIDENT GEORGE W. BUSH.
    initial = re.search(rf"\b{re.escape(first)}\s+([A-Z])\.\s+{re.escape(last)}\b", head, re.IGNORECASE)
    return f"{last}, {first} {initial.group(1).upper()}." if initial else f"{last}, {first}"


def _free_run(run: list[str]) -> list[str]:
    """Keywords in a run of free words: known keywords and names when they cover it all."""
    if len(run) < 2:
        return [_fix_typo(word) for word in run]
    # fewest[i]: the fewest known units (keyword, name, word) that cover run[:i].
    fewest: dict[int, list[str]] = {0: []}
    for i in range(len(run)):
        if i not in fewest:
            continue
        for j in range(i + 1, min(len(run), i + max(3, _VOCABULARY.longest_phrase)) + 1):
            unit = _unit(run[i:j])
            if unit and (j not in fewest or len(fewest[i]) + 1 < len(fewest[j])):
                fewest[j] = [*fewest[i], unit]
    return fewest.get(len(run)) or [" ".join(run)]


def _unit(span: list[str]) -> str | None:
    """A known keyword (one word or several), a known name, or a word typed with blanks."""
    vocabulary = _VOCABULARY
    if len(span) == 1:
        word = span[0]
        return word if word in vocabulary.words and not _split_fused(word) else None
    # A keyword the corpus writes as one word, typed with blanks, is that word (COUNTERTERRORISM).
    joined = "".join(span)
    if len(span) <= 3 and joined in vocabulary.words:
        return joined
    if _phrase_key(" ".join(span)) in vocabulary.phrases:
        return " ".join(span)
    return vocabulary.persons.get(" ".join(span[:-1]) + "|" + span[-1]) if len(span) <= 3 else None


def _fix_typo(word: str) -> str:
    """A word one stray letter away from a known tag (MOPPS, UNDESCO) is that tag."""
    vocabulary = _VOCABULARY
    if (
        len(word) < 5
        or word in vocabulary.codes
        or word in vocabulary.words
        or word in vocabulary.plain
        or not _ALPHA.fullmatch(word)
    ):
        return word
    for i in range(len(word)):
        shorter = word[:i] + word[i + 1 :]
        if shorter in vocabulary.codes or shorter in vocabulary.words:
            return shorter
    return word


def _phrase_key(phrase: str) -> str:
    """A keyword by its words: hyphens, ampersands and spacing do not matter."""
    return " ".join(phrase.replace("&", " ").replace("-", " ").split())


# --- SUBJECT

_SUBJECT_FIELD = re.compile(
    r"^[ \t]*(?:SUBJECT|SUBJ|UBJECT)(?![A-Z0-9])[ \t]*[:.]?|(?<=[ \t])(?:SUBJECT|SUBJ)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_SUBJECT_NEEDLES = re.compile(r"SUBJ|UBJECT")
# Inline ends of a subject that ran on into the next field: REF, Classified By, an SBU caption.
_SUBJECT_TAIL = re.compile(
    r"(?<![A-Za-z])(?i:REF(?:S|TELS?|\(S\))?)[ \t]*:|(?<=[A-Z])REF:"
    r"|(?i:CLASSIFIED[ \t]+BY\b)|(?i:SENSITIVE[ \t]+BUT\b)"
)
_LEADING_MARKING = re.compile(r"[ \t]*" + _MARKING + r"[ \t]*", re.IGNORECASE)


def subject(text: str, *, clean: bool = True) -> str | None:
    """The SUBJECT line, wrapped lines joined; ``clean`` drops a leading ``(C)``-style marking."""
    fields = _fields(text)
    head, start = fields.head, fields.subject
    if start is None:
        return None
    written = _rest_of_line(head, start).strip()
    following = _lines_after(head, start)
    if not written:
        # SUBJECT: alone on its line, the subject after a blank line or two.
        written = next((line for line in following if line.strip()), "").strip()
        if not written or _FIELD_START.match(written):
            return None
    capitals = written == written.upper()
    for count, line in enumerate(following):
        if _has_tail(written) or count == _CONTINUATION_LINES:
            break
        if not line.strip() or _FIELD_START.match(line):
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

_EO_LINE = re.compile(
    r"(?<![A-Z0-9])(?:E\.[ ]?[O0]\.?|E[ ]?O\.|EO(?=[ \t]*\d))[ \t]*[:;]?[ \t]*(\d{3,6})?[ \t]*[:;,.]?"
    r"|(?<![A-Z])(?=DECL\b)",
    re.IGNORECASE,
)
_EO_NEEDLES = re.compile(r"E\.[ ]?[O0]|E[ ]?O\.|EO[ \t]*\d|DECL")
_EO_END = re.compile(r"\b(?:TAGS?|TAS|TGS|AGS|SUBJECT|SUBJ)\b[ \t]*[:;]?", re.IGNORECASE)
_DECL_WORD = re.compile(r"[ \t]*(?:DECL\w*|DEC)\b[ \t]*(?:ON\b)?[ \t.:;]*", re.IGNORECASE)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DATE = re.compile(
    r"(?<!\d)(?P<m>0?\d{1,2})[/-](?P<d>\d{1,2})[/-](?P<y>\d{4}|\d{2})(?!\d)"
    r"|(?<!\d)(?P<y2>\d{4})[/-](?P<m2>\d{1,2})[/-](?P<d2>\d{1,2})(?!\d)"
    r"|\b(?P<mon>" + "|".join(_MONTHS) + r")[A-Z]*\.?[ \t]+(?P<d3>\d{1,2}),?[ \t]+(?P<y3>\d{4})\b",
    re.IGNORECASE,
)


def declassification(text: str) -> Declassification | None:
    """The E.O. line: the executive order, and the declassification date or rule (OADR, N/A)."""
    fields = _fields(text)
    head, start = fields.head, fields.eo
    if start is None:
        return None
    rest = _rest_of_line(head, start)
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
        month = _MONTHS.index(found.group("mon").upper()) + 1
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

_REF_FIELD = re.compile(
    r"^[ \t]*(?:¶[ \t]*)?REF(?:S|TELS?|\(S\))?(?![A-Z0-9])[ \t]*[:.]?"
    r"|(?<![A-Za-z])REF(?:S|TELS?|\(S\))?[ \t]*:|(?-i:(?<=[A-Z])REF:)",
    re.IGNORECASE | re.MULTILINE,
)
_REF_NEEDLES = re.compile(r"REF")
_REF_BLOCK_END = re.compile(
    r"[ \t]*¶?[ \t]*(?:\d{1,2}[ \t]*\.(?!\d)|CLASSI\w*[ \t]+BY\b|SUMMARY\b|SENSITIVE\b"
    r"|E\.?[ ]?O\.?[ \t]*\d|TAGS?\b"
    # (A), (B), (C) are bullets here: only markings that no bullet looks like end the block.
    r"|\((?:U|TS|SBU|LOU|FOUO|[CS][ ]?/{1,2}[ ]?[A-Z]+)\)|" + _LETTER_SPACED + r")",
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
    | set(_MONTHS)
    | {"JANUARY", "FEBRUARY", "MARCH", "APRIL", "JUNE", "JULY", "AUGUST", "SEPTEMBER"}
    | {"OCTOBER", "NOVEMBER", "DECEMBER"}
)
_NOT_LETTERS = str.maketrans("0", "O", "'-")
_A_DIGIT = re.compile(r"\d")


def references(text: str, *, year: int | None, reference_id: str | None = None) -> tuple[str, ...]:
    """Cables named on the REF line, as Cablegate-style ids (``TBILISI 1605`` -> 07TBILISI1605).

    ``year`` is the citing cable's year, which a reference without one shares; ``reference_id``
    is the citing cable's own id, never a reference of itself (page headings repeat it).
    """
    start = _fields(text).ref
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
    vocabulary = _VOCABULARY
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
    vocabulary = _VOCABULARY
    if len(key) < 5:
        return None
    candidates = {vocabulary.near.get(key)}
    for i in range(len(key)):
        shorter = key[:i] + key[i + 1 :]
        candidates.add(vocabulary.stations.get(shorter))
        candidates.add(vocabulary.near.get(shorter))
    candidates.discard(None)
    return candidates.pop() if len(candidates) == 1 else None


# What each field is called, where to look for it, and how it reads (used by _fields).
_KINDS = {
    "tags": (("TAG", "TAS", "TGS", "TAB", "AGS"), _TAGS_NEEDLES, _TAGS_FIELD),
    "subject": (("SUBJ", "UBJECT"), _SUBJECT_NEEDLES, _SUBJECT_FIELD),
    # Executive orders are numbered from 10000 up: EO 12958, E.O. 12356, E.O. 11652.
    "eo": (("E.O", "E. O", "E.0", "EO.", "E O.", "EO1", "EO 1", "DECL"), _EO_NEEDLES, _EO_LINE),
    "ref": (("REF",), _REF_NEEDLES, _REF_FIELD),
}
