"""Measure the real corpus's traffic mix into router/data/traffic.json, the synthetic generator's profile.

Every figure is taken from the cables as the router itself reads them (``router.parse_cable``), so the
generator reproduces what the switch sees, not what a regex over the files would count. Each share is
written with its count and its population (``of``), so that a reader can tell what it is a share of:

- precedence mix, dual precedence and classification: the cables whose DTG line (or security marks)
  give one;
- TO/INFO counts, NIACT and XMT per cable: the *addressed* cables (at least one TO or INFO line; a
  partial record has none, and generated traffic always has some);
- per-line shares: the TO and INFO lines of every cable.

The output is deterministic: sorted keys, and the date from ``--date`` or ``SOURCE_DATE_EPOCH`` when
either is given (else today, UTC).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from router import CableParseError, Classification, Precedence, parse_cable
from router.cable.addressee import looks_collective
from router.routing.table import load_table

if TYPE_CHECKING:
    from router import Addressee, Cable
    from router.routing.table import RoutingTable

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ROUTER_SHARED", ROOT.parent / "shared"))
OUTPUT = ROOT / "router" / "data" / "traffic.json"

COUNT_CAP = 30
"""TO and INFO counts above this are folded into it: the corpus's long tail (65 TO) is a few cables."""
QUANTILES = (0.0, 0.01, 0.05, *(q / 20 for q in range(2, 19)), 0.95, 0.99, 1.0)
"""Where the text-size distribution is cut: every 5 %, and the tails at 1 % and 99 %."""
SUBJECT_TAGS = 25
"""How many of the most frequent subject tags (four-letter TAGS codes) to keep."""
STATE_RELAY = "RUEH"
"""The State relay's prefix (Beltsville): an RI under it is a State post."""


@dataclass(slots=True)
class Tally:
    """Counts gathered cable by cable; `profile` turns them into the JSON document."""

    cables: int = 0
    unreadable: list[str] = field(default_factory=list)
    precedence: Counter[str] = field(default_factory=Counter)
    dual_pairs: Counter[str] = field(default_factory=Counter)
    classification: Counter[str] = field(default_factory=Counter)
    addressed: int = 0
    addressee_counts: Counter[tuple[int, int]] = field(default_factory=Counter)
    """Cables by (TO lines, INFO lines): drawn together, since the two are not independent."""
    lines: int = 0
    lines_with_ri: int = 0
    collective_lines: int = 0
    post_lines: int = 0
    post_lines_with_mcn: int = 0
    resolved_post_lines: int = 0
    state_post_lines: int = 0
    niact_lines: int = 0
    niact_cables: int = 0
    immediate_addressed: int = 0
    niact_immediate_cables: int = 0
    action_lines_in_niact_cables: int = 0
    niact_action_lines: int = 0
    xmt_cables: int = 0
    collective_cables: int = 0
    sipdis_cables: int = 0
    classified_cables: int = 0
    noforn_classified_cables: int = 0
    text_bytes: list[int] = field(default_factory=list)
    tagged_cables: int = 0
    subject_tags: Counter[str] = field(default_factory=Counter)


def read_cables(directory: Path) -> list[tuple[str, bytes]]:
    """Every cable file of the directory, by name: (cable id, raw bytes)."""
    return [(path.stem, path.read_bytes()) for path in sorted(directory.glob("*.txt"))]


def measure(cables: list[tuple[str, bytes]], table: RoutingTable) -> Tally:
    """Parse every cable with the project's parser and count what the generator needs."""
    tally = Tally()
    for cable_id, raw in cables:
        tally.cables += 1
        try:
            cable = parse_cable(raw)
        except CableParseError:
            tally.unreadable.append(cable_id)
            continue
        count_precedence(tally, cable)
        count_security(tally, cable)
        tally.text_bytes.append(text_bytes(raw, cable))
        count_tags(tally, cable)
        if cable.addressees:
            count_addressees(tally, cable, table)
    return tally


def count_precedence(tally: Tally, cable: Cable) -> None:
    """Action precedence, and the action/info pair of a dual-precedence DTG line (ACP 127 §152)."""
    if cable.precedence is None:
        return
    tally.precedence[cable.precedence.value] += 1
    if cable.info_precedence is not None and cable.info_precedence != cable.precedence:
        tally.dual_pairs[f"{cable.precedence.value} {cable.info_precedence.value}"] += 1


def count_security(tally: Tally, cable: Cable) -> None:
    """Classification mix; SIPDIS over all cables, NOFORN over the classified ones (it bars posts)."""
    tally.sipdis_cables += "SIPDIS" in cable.caveats
    if cable.classification is None:
        return
    tally.classification[cable.classification.value] += 1
    if cable.classification > Classification.UNCLASSIFIED:
        tally.classified_cables += 1
        tally.noforn_classified_cables += "NOFORN" in cable.caveats


def text_bytes(raw: bytes, cable: Cable) -> int:
    """The size in bytes of the text: everything below the routing header."""
    lines = raw.decode("utf-8").split("\n")
    return len("\n".join(lines[cable.header_lines :]).encode())


def count_tags(tally: Tally, cable: Cable) -> None:
    """Subject tags (four letters: PREL, ECON); two-letter country tags depend on the originator."""
    if not cable.tags:
        return
    tally.tagged_cables += 1
    tally.subject_tags.update(tag for tag in cable.tags if len(tag) == 4 and tag.isalpha())


def count_addressees(tally: Tally, cable: Cable, table: RoutingTable) -> None:
    """Per-cable counts and per-line shares of an addressed cable."""
    tally.addressed += 1
    tally.addressee_counts[min(len(cable.to), COUNT_CAP), min(len(cable.info), COUNT_CAP)] += 1
    niact = [a for a in cable.to if a.niact]
    any_niact = any(a.niact for a in cable.addressees)
    tally.niact_cables += any_niact
    if cable.precedence is Precedence.IMMEDIATE:
        tally.immediate_addressed += 1
        tally.niact_immediate_cables += any_niact
    if any_niact:
        tally.action_lines_in_niact_cables += len(cable.to)
        tally.niact_action_lines += len(niact)
    tally.xmt_cables += bool(cable.xmt)
    collective = False
    for addressee in cable.addressees:
        collective |= count_line(tally, addressee, table)
    tally.collective_cables += collective


def count_line(tally: Tally, addressee: Addressee, table: RoutingTable) -> bool:
    """Count one TO/INFO line; return whether it reads as a collective."""
    tally.lines += 1
    tally.lines_with_ri += addressee.ri is not None
    tally.niact_lines += addressee.niact
    if looks_collective(addressee.name):
        tally.collective_lines += 1
        return True
    tally.post_lines += 1
    tally.post_lines_with_mcn += addressee.mcn is not None
    post = table.posts.get(addressee.ri) if addressee.ri else None
    post = post or table.post_named(addressee.name)
    if post is not None:
        tally.resolved_post_lines += 1
        tally.state_post_lines += post.ri.startswith(STATE_RELAY)
    return False


def share(count: int, of: int) -> dict[str, float | int]:
    """A share written with what it counts and what it is a share of."""
    return {"count": count, "of": of, "share": round(count / of, 6) if of else 0.0}


def quantiles(values: list[int]) -> dict[str, int]:
    """Nearest-rank quantiles of ``values``, keyed by the quantile written with two decimals."""
    ordered = sorted(values)
    last = len(ordered) - 1
    return {f"{q:.2f}": ordered[round(q * last)] for q in QUANTILES}


def profile(tally: Tally, *, measured: date, corpus: str) -> dict[str, object]:
    """The JSON document: the source, the distributions, and the shares with their populations."""
    with_precedence = sum(tally.precedence.values())
    return {
        "source": {
            "what": "the traffic mix of real State Department cables, as router.parse_cable reads them",
            "corpus": corpus,
            "cables": tally.cables,
            "unreadable": len(tally.unreadable),
            "addressed_cables": tally.addressed,
            "measured": measured.isoformat(),
            "script": "scripts/measure_traffic.py",
            "routing_table": "config/routing.toml (to tell State posts, RIs under RUEH, from others)",
        },
        "precedence": {"of": with_precedence, "counts": dict(tally.precedence)},
        "dual_precedence_pairs": dict(tally.dual_pairs),
        "classification": {"of": sum(tally.classification.values()), "counts": dict(tally.classification)},
        "addressee_counts": {
            "cap": COUNT_CAP,
            "of": tally.addressed,
            "pairs": [[to, info, n] for (to, info), n in sorted(tally.addressee_counts.items())],
        },
        "text_bytes": {"of": len(tally.text_bytes), "quantiles": quantiles(tally.text_bytes)},
        "subject_tags": {
            "of": tally.tagged_cables,
            "counts": dict(tally.subject_tags.most_common(SUBJECT_TAGS)),
        },
        "shares": {
            "dual_precedence": share(sum(tally.dual_pairs.values()), with_precedence),
            "flash": share(tally.precedence[Precedence.FLASH.value], with_precedence),
            "line_with_ri": share(tally.lines_with_ri, tally.lines),
            "line_collective": share(tally.collective_lines, tally.lines),
            "line_niact": share(tally.niact_lines, tally.lines),
            "post_line_with_mcn": share(tally.post_lines_with_mcn, tally.post_lines),
            "post_line_to_state_post": share(tally.state_post_lines, tally.resolved_post_lines),
            "niact_cable": share(tally.niact_cables, tally.addressed),
            "niact_immediate_cable": share(tally.niact_immediate_cables, tally.immediate_addressed),
            "niact_action_line_in_niact_cable": share(
                tally.niact_action_lines, tally.action_lines_in_niact_cables
            ),
            "xmt_cable": share(tally.xmt_cables, tally.addressed),
            "xmt_cable_with_collective": share(tally.xmt_cables, tally.collective_cables),
            "collective_cable": share(tally.collective_cables, tally.addressed),
            "sipdis_cable": share(tally.sipdis_cables, tally.cables),
            "noforn_classified_cable": share(tally.noforn_classified_cables, tally.classified_cables),
        },
    }


def measurement_date(written: str | None) -> date:
    """The date to record: as given, else SOURCE_DATE_EPOCH (reproducible builds), else today (UTC)."""
    if written:
        return date.fromisoformat(written)
    if epoch := os.environ.get("SOURCE_DATE_EPOCH"):
        return datetime.fromtimestamp(int(epoch), UTC).date()
    return datetime.now(UTC).date()


def main(argv: list[str] | None = None) -> int:
    """Measure the corpus and write the profile; the corpus, output and date can be overridden."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--corpus", type=Path, default=SHARED / "corpus")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--date", help="the measurement date to record, YYYY-MM-DD")
    args = parser.parse_args(argv)
    cables_dir = args.corpus / "cables"
    if not cables_dir.is_dir():
        print(f"no corpus at {args.corpus}", file=sys.stderr)
        return 1
    tally = measure(read_cables(cables_dir), load_table())
    document = profile(tally, measured=measurement_date(args.date), corpus="shared/corpus/cables")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"measured {tally.cables} cables ({len(tally.unreadable)} unreadable) into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
