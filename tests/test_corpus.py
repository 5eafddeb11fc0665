"""The parser over the 2,974 real cables: every one parses, and the corpus-wide figures hold."""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

import pytest

from router import Cable, Precedence, parse_cable
from router.cable.addressee import looks_collective


@pytest.fixture(scope="module")
def corpus(corpus_dir: Path) -> dict[str, Cable]:
    """Every cable of the corpus, parsed, by cable id (a parse error fails the fixture)."""
    return {path.stem: parse_cable(path.read_bytes()) for path in sorted(corpus_dir.glob("*.txt"))}


def share(part: int, whole: int) -> float:
    return 100 * part / whole


def test_every_corpus_cable_parses(corpus: dict[str, Cable]) -> None:
    """All 2,974 files parse without error."""
    assert len(corpus) == 2974


def test_parsed_cables_are_valid_models(corpus: dict[str, Cable]) -> None:
    """What the parser builds, unvalidated (`read_as`), passes strict validation and survives JSON.

    Strict: each field of its exact type (no string for a number, no list for a tuple); and each
    value's fields in its model's order, as validation would have made them.
    """
    for cable in corpus.values():
        assert Cable.model_validate(cable.model_dump(), strict=True) == cable
        assert Cable.model_validate_json(cable.model_dump_json()) == cable
        for value in (cable, cable.station_serial, *cable.to, *cable.info, *cable.xmt):
            if value is not None:
                assert list(vars(value)) == list(type(value).model_fields)
                assert value.model_fields_set == set(type(value).model_fields)


def test_header_families_match_the_corpus_readme(corpus: dict[str, Cable]) -> None:
    """ACP 127 1,123 (+7 mail exports that carry a full header), ACP 126 1,262, the rest partial."""
    families = Counter(cable.family for cable in corpus.values())
    # The README counts 8 mail-client exports apart; 7 of them hold a complete ACP 127
    # header under the mail client's lines (05DUBAI126), which the parser reads as such.
    assert families["acp127"] == pytest.approx(1123 + 7, abs=3)
    assert families["acp126"] == pytest.approx(1262, abs=3)
    assert families["partial"] == pytest.approx(581 + 8 - 7, abs=3)


def test_dtg_precedence_shares_match_the_corpus_readme(corpus: dict[str, Cable]) -> None:
    """IMMEDIATE 36.7 %, ROUTINE 30.0 %, PRIORITY 29.7 %, FLASH 2, and 81 dual precedences."""
    with_header = [c for c in corpus.values() if c.family != "partial"]
    single = Counter(c.precedence for c in with_header if c.precedence and c.info_precedence == c.precedence)
    dual = sum(1 for c in with_header if c.precedence and c.info_precedence != c.precedence)
    assert share(single[Precedence.IMMEDIATE], len(with_header)) == pytest.approx(36.7, abs=0.5)
    assert share(single[Precedence.ROUTINE], len(with_header)) == pytest.approx(30.0, abs=0.5)
    assert share(single[Precedence.PRIORITY], len(with_header)) == pytest.approx(29.7, abs=0.5)
    assert single[Precedence.FLASH] == 2
    assert dual == 81


def test_addressee_counts_match_the_corpus_readme(corpus: dict[str, Cable]) -> None:
    """TO median 1 (max 65), INFO median 4 (max 41), total median 6, p90 14."""
    with_header = [c for c in corpus.values() if c.family != "partial"]
    to = [len(c.to) for c in with_header]
    info = [len(c.info) for c in with_header]
    total = sorted(a + b for a, b in zip(to, info, strict=True))
    assert (statistics.median(to), max(to)) == (1, 65)
    assert (statistics.median(info), max(info)) == (4, 41)
    assert statistics.median(total) == 6
    assert total[int(0.9 * len(total))] == 14


def test_addressee_line_shares_match_the_corpus_readme(corpus: dict[str, Cable]) -> None:
    """51 % of addressee lines carry an RI; 9.5 % are collectives; XMT in 19 cables."""
    lines = [a for c in corpus.values() for a in c.addressees]
    assert share(sum(1 for a in lines if a.ri), len(lines)) == pytest.approx(51, abs=1)
    assert share(sum(1 for a in lines if looks_collective(a.name)), len(lines)) == pytest.approx(9.5, abs=0.5)
    assert sum(1 for c in corpus.values() if c.xmt) == 19


def test_every_cable_with_a_header_is_classified(corpus: dict[str, Cable]) -> None:
    """FL4 or the banner gives every cable a security level."""
    assert all(c.classification is not None for c in corpus.values() if c.family != "partial")


def test_references_match_the_cable_ids(corpus: dict[str, Cable]) -> None:
    """The reference built from the banner and DTG year is the release's own id."""
    made = {cid: c.reference for cid, c in corpus.items() if c.reference}
    right = sum(1 for cid, reference in made.items() if reference == cid)
    # The misses are cables whose text is another cable's (10MEXICO614 carries an Islamabad
    # text) and ids the release extended (90STATE255195TOSEC140301).
    assert len(made) >= 2400
    assert share(right, len(made)) >= 99.4


@pytest.mark.parametrize(
    ("cable_id", "check"),
    [
        ("00ATHENS1501", lambda c: c.family == "acp127" and c.to[0].mcn == "0727"),
        ("00STATE228772", lambda c: [a.name for a in c.to][-1] == "AMEMBASSY BELGRADE"),
        ("09STATE15113", lambda c: c.to[0].name == "ALL DIPLOMATIC POSTS COLLECTIVE"),
        ("08STATE50524", lambda c: [a.name for a in c.info] == ["AMEMBASSY BAGHDAD"]),
        ("08STATE103511", lambda c: c.to[0].mcn == "2276-2279" and c.to[0].zen),
        ("85STATE196513", lambda c: c.to[3].name == "AMEMBASSY LONDON"),
        (
            "94ADANA532",
            lambda c: (c.to[0].precedence, c.to[0].mcn) == (Precedence.PRIORITY, "7899"),
        ),
        ("85BEIRUT3494", lambda c: c.to[0].precedence is Precedence.FLASH),
        ("89BEIJING14054", lambda c: c.to[0].niact and c.precedence is Precedence.ROUTINE),
        ("08STATE116943", lambda c: c.family == "acp126" and len(c.info) == 1 and len(c.xmt) == 2),
        ("90MOSCOW5204", lambda c: c.info[0].ri == "RUEHSA"),
        ("95STATE19130", lambda c: [a.name for a in c.info] == ["DOT WASHDC", "DOJ WASHDC"]),
        ("00BOGOTA3734", lambda c: c.info[-1].office == "SCJ2/SCJ5/POLAD"),
        ("91USNATO1505", lambda c: c.info[-1].name == "USDELMC BRUSSELS BE"),
        ("09STATE119085", lambda c: c.family == "acp127" and c.station_serial.section == 1),
        ("04STATE137635", lambda c: c.family == "acp126"),
        ("00STATE228220", lambda c: c.family == "acp126"),
        ("03ABUDHABI2641", lambda c: c.family == "partial" and c.classification is not None),
        ("07BAGHDAD146", lambda c: c.banner_classification is not None),
        ("08BERLIN1068", lambda c: c.reference == "08BERLIN1068"),
        ("06BELGRADE1681", lambda c: c.reference == "06BELGRADE1681"),
        ("10MEXICO614", lambda c: c.classification_conflict),
        ("78KABUL3619", lambda c: c.precedence is None and c.dtg is not None),
        (
            "79TEHRAN11260",
            lambda c: c.precedence is None and c.to[0].precedence is Precedence.IMMEDIATE,
        ),
        ("01VATICAN2955", lambda c: c.family == "partial"),
    ],
)
def test_edge_cases_of_the_corpus_readme(corpus: dict[str, Cable], cable_id: str, check: object) -> None:
    """Each edge case the corpus README lists is read as the format means it."""
    assert callable(check)
    assert check(corpus[cable_id])
