"""Regenerate router/data/tags.txt, the TAGS and station vocabulary, from the shared cable corpus."""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from router.cable.models import MONTH_NAMES, MONTHS

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ROUTER_SHARED", ROOT.parent / "shared"))
OUTPUT = ROOT / "router" / "data" / "tags.txt"

# Only the start of a text holds the TAGS line; 8 KB covers every cable of the corpus.
_HEAD = 8000
_TAGS_LINE = re.compile(
    r"^[ \t]*(?:TAGS?|TAS|TGS|TABS|TAGES)\b[ \t]*[:;,]?(.*)$", re.MULTILINE | re.IGNORECASE
)
_PAGE_HEADING = re.compile(r"\bPAGE\s+\d+\s+[A-Z]")
_WORD = re.compile(r"[A-Z]+")
_LOWER_WORD = re.compile(r"\b[a-z]{2,}\b")
_PARENS = re.compile(r"\(([^()]*)\)")
_NAME_WORD = re.compile(r"[A-Z][A-Z.'-]*")
# A cable id: two-digit year, station, serial (Cablegate's form: 08TOKYO1571).
_CABLE_ID = re.compile(r"\d\d([A-Z]+?)\d+")
# FL6-FL8 addressee lines: [RI/]PREFIX NAME [PRECEDENCE] [MCN]; State posts carry these prefixes.
_POST = re.compile(
    r"^(?:FM |TO |INFO )?(?:[A-Z0-9]{4,7}/)?"
    r"(?:AMEMBASSY|AMCONSUL|USMISSION|USINT|USOFFICE|AMCONGEN)[ ]+([A-Z][A-Z .'-]*?)"
    r"[ ]*(?:\b(?:IMMEDIATE|PRIORITY|ROUTINE|NIACT|FLASH)\b|\d|//|$)",
    re.MULTILINE,
)
# A Washington originator (SECSTATE WASHDC, SECDEF WASHDC) numbers its own telegrams too.
_WASHINGTON = re.compile(r"^(?:FM |TO |INFO )?(?:[A-Z0-9]{4,7}/)?([A-Z]{3,})[ ]+WASHDC\b", re.MULTILINE)
_ORIGINATOR = re.compile(
    r"^FM (?:AMEMBASSY|AMCONSUL|USMISSION|USINT|USOFFICE|AMCONGEN)?[ ]*([A-Z][A-Z .'-]*?)"
    r"[ ]*(?:WASHDC)?[ ]*$",
    re.MULTILINE,
)
# Words that make an addressee line an instruction, not a post's name.
_NOT_A_NAME = {"FOR", "ALSO", "PASS", "PLEASE", "POUCH", "INFO", "AND", "TO", "ATTN"}
_MONTHS = {*MONTHS, "SEPT", *MONTH_NAMES}


def read_corpus(corpus: Path) -> Iterator[tuple[str, str]]:
    """Yield (cable id, text) for every cable of the corpus, each id once."""
    seen: set[str] = set()
    for path in sorted((corpus / "cables").glob("*.txt")):
        seen.add(path.stem)
        yield path.stem, path.read_text(encoding="utf-8")
    pool = corpus / "pool.jsonl.gz"
    if pool.exists():
        with gzip.open(pool, "rt", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                if record["id"] not in seen:
                    seen.add(record["id"])
                    yield record["id"], record["text"]


def tags_text(text: str) -> str | None:
    """The TAGS field as written: its line, and the next ones while a line ends with a comma."""
    match = _TAGS_LINE.search(text, 0, _HEAD)
    if match is None:
        return None
    parts = [match.group(1)]
    end = match.end()
    while parts[-1].rstrip().endswith(",") and len(parts) < 5:
        nxt = text.find("\n", end + 1)
        line = text[end + 1 : nxt if nxt >= 0 else len(text)]
        if not line.strip():
            break
        parts.append(line)
        end = nxt if nxt >= 0 else len(text)
    joined = " ".join(parts).upper()
    heading = _PAGE_HEADING.search(joined)
    return joined[: heading.start()] if heading else joined


def split_items(field: str) -> list[str]:
    """Comma-separated items, commas inside parentheses kept (``OVIP (CLINTON, HILLARY)``)."""
    items: list[str] = []
    depth = 0
    start = 0
    for i, char in enumerate(field):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            items.append(field[start:i])
            start = i + 1
    items.append(field[start:])
    return [" ".join(item.split()) for item in items if item.strip()]


def person_names(group: str) -> list[str]:
    """Names written in parentheses after OVIP: ``STEINBERG, JAMES B.`` or pairs of last and first."""
    pieces = [" ".join(p.split()) for p in group.split(",") if p.strip()]
    # "ET AL" closes a list of defendants; an OVIP written inside the parentheses is a tag.
    pieces = [p.removesuffix(" ET AL") for p in pieces if p != "OVIP"]
    if len(pieces) < 2 or not all(_NAME_WORD.fullmatch(w) for p in pieces for w in p.split()):
        return []
    if len(pieces) == 2:
        return [f"{pieces[0]}, {pieces[1]}"]
    words = [w for p in pieces for w in p.split()]
    if len(words) % 2:
        return []
    return [f"{words[i]}, {words[i + 1]}" for i in range(0, len(words), 2)]


def phrase_key(phrase: str) -> str:
    """A multi-word keyword reduced to its words: hyphens, ampersands and spacing ignored."""
    return " ".join(w for w in re.split(r"[\s&-]+", phrase) if w)


def decomposes(word: str, codes: set[str]) -> bool:
    """True when the word is two or more known codes run together, one of them a subject code."""
    reachable: dict[int, bool] = {0: False}
    for i in range(len(word)):
        if i not in reachable:
            continue
        for size in (2, 4):
            if word[i : i + size] in codes and i + size <= len(word):
                reachable[i + size] = reachable.get(i + size, False) or reachable[i] or size == 4
    return reachable.get(len(word), False) and word not in codes


def one_letter_off(word: str, known: set[str]) -> bool:
    """True when dropping one letter of the word leaves a known tag (TRADES -> TRADE)."""
    return any(word[:i] + word[i + 1 :] in known for i in range(len(word)))


def unique_prefixes(keys: Iterable[tuple[str, str]], lower_words: set[str]) -> dict[str, str]:
    """Each prefix (three letters or more) that starts exactly one station, unless it is a word."""
    owners: defaultdict[str, set[str]] = defaultdict(set)
    for key, station in keys:
        for size in range(3, len(key)):
            owners[key[:size]].add(station)
    return {
        prefix: next(iter(stations))
        for prefix, stations in owners.items()
        if len(stations) == 1 and prefix.lower() not in lower_words and prefix not in _MONTHS
    }


class _Seen:
    """What one pass over the corpus counts: TAGS items and names, lower-case words, station names.

    A plain class, not a dataclass: tests load this script without registering it as a module.
    """

    def __init__(self) -> None:
        self.items: Counter[str] = Counter()
        self.persons: Counter[str] = Counter()
        self.spaced: list[list[str]] = []
        self.lower_words: Counter[str] = Counter()
        self.station_ids: Counter[str] = Counter()
        self.post_names: Counter[str] = Counter()
        self.originators: defaultdict[str, Counter[str]] = defaultdict(Counter)


def build(corpus: Path) -> list[str]:
    """Read the corpus and return the vocabulary file's lines."""
    seen = _read(corpus)
    # A word is English, not a tag, when at least two cables write it in lower case.
    lower = {w for w, n in seen.lower_words.items() if n >= 2}
    codes, words, phrases, plain = _tags(seen, lower)
    aliases = _station_aliases(seen)
    prefixes = unique_prefixes(aliases.items(), lower)
    items, persons = seen.items, seen.persons
    lines = [
        "# TAGS and station vocabulary of the shared cable corpus.",
        "# Generated by scripts/build_tag_vocabulary.py; do not edit by hand.",
        "# kind<TAB>value<TAB>extra: code = a 2- or 4-letter tag, word = a one-word keyword,",
        "# phrase = a multi-word keyword, person = a name tag, plain = a word that looks like",
        "# run-together codes but is written in lower case in the corpus, station = an alias",
        "# of a station and its id spelling, prefix = a unique abbreviation of a station.",
    ]
    lines += [f"code\t{w}\t{items[w]}" for w in sorted(codes)]
    lines += [f"word\t{w}\t{n}" for w, n in sorted(words.items()) if n >= 2]
    lines += [f"phrase\t{k}\t{n}" for k, n in sorted(phrases.items())]
    lines += [f"person\t{p}\t{n}" for p, n in sorted(persons.items())]
    lines += [f"plain\t{w}\t0" for w in plain]
    lines += [f"station\t{k}\t{s}" for k, s in sorted(aliases.items())]
    lines += [f"prefix\t{k}\t{s}" for k, s in sorted(prefixes.items()) if k not in aliases]
    return lines


def _read(corpus: Path) -> _Seen:
    """Count, in one pass over the corpus, what the vocabulary is made from."""
    seen = _Seen()
    items, persons, spaced = seen.items, seen.persons, seen.spaced
    lower_words, station_ids, post_names, originators = (
        seen.lower_words,
        seen.station_ids,
        seen.post_names,
        seen.originators,
    )
    for cable_id, text in read_corpus(corpus):
        lower_words.update(set(_LOWER_WORD.findall(text)))
        id_match = _CABLE_ID.fullmatch(cable_id)
        if id_match:
            station_ids[id_match.group(1)] += 1
        header = text[:_HEAD]
        post_names.update({" ".join(n.split()) for n in _POST.findall(header)})
        post_names.update({n for n in _WASHINGTON.findall(header) if len(n) > 3})
        fm = _ORIGINATOR.search(header)
        if fm and id_match:
            originators[re.sub(r"[^A-Z]", "", fm.group(1))][id_match.group(1)] += 1
        field = tags_text(text)
        if field is None:
            continue
        for group in _PARENS.findall(field):
            persons.update(person_names(group))
        # Space-separated lines mix codes with free words; only comma lines say where items end.
        if "," in field:
            items.update(set(split_items(field)))
        else:
            spaced.append(field.split())
    return seen


def _tags(seen: _Seen, lower: set[str]) -> tuple[set[str], dict[str, int], Counter[str], list[str]]:
    """The codes, one-word keywords, multi-word keywords and plain English words of the TAGS lines."""
    items, spaced = seen.items, seen.spaced
    codes = {
        w
        for w, n in items.items()
        # Every pair of letters occurs in lower case somewhere; a 4-letter word written once as a
        # tag but also as an English word (PASS, DEBT) is not taken for a code.
        if re.fullmatch(r"[A-Z]{2}", w)
        or (re.fullmatch(r"[A-Z]{4}", w) and (n >= 2 or w.lower() not in lower))
    }
    # In a space-separated line, two letters next to a code are a country code too (KPAO IC).
    for line in spaced:
        for i, w in enumerate(line):
            neighbours = line[max(0, i - 1) : i] + line[i + 1 : i + 2]
            if re.fullmatch(r"[A-Z]{2}", w) and any(n in codes for n in neighbours):
                codes.add(w)
    words = {w: n for w, n in items.items() if _WORD.fullmatch(w) and len(w) >= 3 and w not in codes}
    phrases: Counter[str] = Counter()
    for item, n in items.items():
        key = phrase_key(item)
        parts = key.split()
        if (
            2 <= len(parts) <= 6
            and "(" not in item
            and "PAGE" not in parts
            and parts[0] not in codes
            and parts[-1] not in codes
            and all(re.fullmatch(r"[A-Z][A-Z./']*|\d{1,4}", p) for p in parts)
        ):
            phrases[key] += n
    known = codes | {w for w, n in words.items() if n >= 2}
    plain = sorted(
        w.upper()
        for w in lower
        if len(w) >= 5
        and w.upper() not in known
        and (decomposes(w.upper(), codes) or one_letter_off(w.upper(), known))
    )
    return codes, words, phrases, plain


def _station_aliases(seen: _Seen) -> dict[str, str]:
    """Every way the corpus names a station, to the spelling its cable ids use."""
    station_ids, post_names, originators = seen.station_ids, seen.post_names, seen.originators
    stations = {s: s for s, n in station_ids.items() if n >= 1}
    spoken: dict[str, str] = {}
    for name, n in post_names.items():
        parts = name.split()
        # A name seen once is a post only when it is one word (BRAZZAVILLE); longer ones seen
        # once are mostly addressee lines run together (ISTANBUL TU, LA PAZ JAN MANAGUA).
        if (n < 2 and len(parts) > 1) or len(parts) > 4 or _NOT_A_NAME & set(parts):
            continue
        if parts[-1] in _MONTHS:
            continue
        key = re.sub(r"[^A-Z]", "", name)
        # USMISSION USUN is the mission whose cables have USUNNEWYORK in their ids.
        longer = [s for s in station_ids if s.startswith(key)]
        station = stations.get(key) or (longer[0] if len(longer) == 1 else key)
        stations.setdefault(key, station)
        spoken[name] = station
    for name, ids in originators.items():
        # FM SECSTATE WASHDC originates the cables whose ids say STATE.
        station, n = ids.most_common(1)[0]
        if n >= 2 and name not in station_ids:
            stations[name] = station
    aliases = dict(stations)
    initials: defaultdict[str, set[str]] = defaultdict(set)
    for name, station in spoken.items():
        # THE HAGUE is also written HAGUE; BUENOS AIRES is also written BA (its initials).
        parts = name.split()
        if parts[0] == "THE" and len(parts) > 1:
            parts = parts[1:]
            aliases.setdefault("".join(parts), station)
        if len(parts) > 1:
            initials["".join(w[0] for w in parts)].add(station)
    for key, owners in initials.items():
        if len(owners) == 1 and key not in aliases:
            aliases[key] = next(iter(owners))
    return aliases


def main(argv: list[str] | None = None) -> int:
    """Write the vocabulary file; the corpus path and output path can be overridden."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if not (args.corpus / "cables").is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 1
    lines = build(args.corpus)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines)} lines to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
