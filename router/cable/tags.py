"""The TAGS line: State's Traffic Analysis by Geography and Subject codes, keywords and names."""

from __future__ import annotations

import re
from functools import lru_cache

from router.cable.textfields import (
    CONTINUATION_LINES,
    FIELD_START,
    PAGE_HEADING,
    find_fields,
    lines_after,
    rest_of_line,
    tag_vocabulary,
)

# --- TAGS

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
    fields = find_fields(text)
    head, start = fields.head, fields.tags
    if start is None:
        return ()
    parts = [_unlink(rest_of_line(head, start))]
    for count, line in enumerate(lines_after(head, start)):
        if count == CONTINUATION_LINES or not _continues_tags(" ".join(parts), _unlink(line)):
            break
        parts.append(_unlink(line))
    written = " ".join(parts).upper()
    if "SUBJ" in written or "E." in written:
        stop = _TAGS_END.search(written)
        written = written[: stop.start()] if stop else written
    if "PAGE" in written or " OF " in written:
        stop = PAGE_HEADING.search(written)
        written = written[: stop.start()] if stop else written
    words = _SEPARATORS.split(written.strip(" \t,"))
    if canonicalize and tag_vocabulary().codes.issuperset(words):
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
    if not line.strip() or FIELD_START.match(line):
        return False
    if previous.rstrip().endswith(",") or previous.count("(") > previous.count(")"):
        return True
    line = line.upper()
    stop = _TAGS_END.search(line) if "SUBJ" in line or "E." in line else None
    words = [w.strip(_WORD_EDGE) for w in _SEPARATORS.split(line[: stop.start() if stop else None])]
    words = [w for w in words if w]
    vocabulary = tag_vocabulary()
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
    vocabulary = tag_vocabulary()
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
    codes = tag_vocabulary().codes
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
    vocabulary = tag_vocabulary()
    codes = vocabulary.codes
    if len(word) < 5 or word in codes or word in vocabulary.plain or not _ALPHA.fullmatch(word):
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
    known = tag_vocabulary().persons.get(f"{last}|{first}")
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
    longest = max(3, tag_vocabulary().longest_phrase)
    for i in range(len(run)):
        if i not in fewest:
            continue
        for j in range(i + 1, min(len(run), i + longest) + 1):
            unit = _unit(run[i:j])
            if unit and (j not in fewest or len(fewest[i]) + 1 < len(fewest[j])):
                fewest[j] = [*fewest[i], unit]
    return fewest.get(len(run)) or [" ".join(run)]


def _unit(span: list[str]) -> str | None:
    """A known keyword (one word or several), a known name, or a word typed with blanks."""
    vocabulary = tag_vocabulary()
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
    vocabulary = tag_vocabulary()
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
