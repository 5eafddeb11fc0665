"""The measured traffic mix: what real cables look like in numbers, read from router/data/traffic.json.

scripts/measure_traffic.py writes the file from the shared corpus; `router.sim.traffic` draws synthetic
cables from it. Kept apart so that the generator reads as the making of one cable.
"""

from __future__ import annotations

import bisect
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from router.cable.models import Classification, Precedence

if TYPE_CHECKING:
    from collections.abc import Iterable

PROFILE = Path(__file__).resolve().parents[1] / "data" / "traffic.json"
"""The measured traffic mix, written by scripts/measure_traffic.py."""

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class TrafficProfile:
    """The traffic mix of real cables: weights of each value, and shares of each feature.

    Weights are the corpus's counts; shares are of the population the measurement names in
    traffic.json (cables with a precedence, addressed cables, addressee lines).
    """

    precedence: tuple[tuple[Precedence, int], ...]
    """Action precedence (the DTG's first letter) and how many cables have it."""
    dual_pairs: tuple[tuple[Precedence, Precedence, int], ...]
    """(action, info, cables) of dual-precedence DTG lines such as ``O P`` (ACP 127 §152)."""
    classification: tuple[tuple[Classification, int], ...]
    addressee_counts: tuple[tuple[int, int, int], ...]
    """(TO lines, INFO lines, cables): the two counts together, as a cable has them (a cable with
    many action addressees has fewer info ones); the cap counts every cable at or above it."""
    text_bytes: tuple[tuple[float, int], ...]
    """Quantiles of the text's size in bytes: (0.0, smallest) ... (1.0, largest)."""
    subject_tags: tuple[tuple[str, int], ...]
    line_with_ri: float
    """Share of addressee lines written ``RI/NAME`` rather than by name alone."""
    line_collective: float
    post_line_with_mcn: float
    post_line_to_state_post: float
    """Share of lines to single stations that go to State posts (RIs under the RUEH relay)."""
    niact_immediate_cable: float
    """Share of IMMEDIATE cables with at least one NIACT action addressee."""
    niact_action_line_in_niact_cable: float
    xmt_cable_with_collective: float
    sipdis_cable: float
    noforn_classified_cable: float
    source: str
    """What was measured, from how many cables, when."""


def load_profile(path: Path = PROFILE) -> TrafficProfile:
    """Read the measured traffic mix (router/data/traffic.json unless another file is given)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    shares = {name: float(entry["share"]) for name, entry in data["shares"].items()}
    source = data["source"]
    return TrafficProfile(
        precedence=tuple((Precedence(p), int(n)) for p, n in sorted(data["precedence"]["counts"].items())),
        dual_pairs=tuple(_dual_pair(pair, n) for pair, n in sorted(data["dual_precedence_pairs"].items())),
        classification=tuple(
            (Classification(c), int(n)) for c, n in sorted(data["classification"]["counts"].items())
        ),
        addressee_counts=tuple(
            (int(to), int(info), int(n)) for to, info, n in data["addressee_counts"]["pairs"]
        ),
        text_bytes=tuple((float(q), int(n)) for q, n in sorted(data["text_bytes"]["quantiles"].items())),
        subject_tags=tuple((tag, int(n)) for tag, n in sorted(data["subject_tags"]["counts"].items())),
        line_with_ri=shares["line_with_ri"],
        line_collective=shares["line_collective"],
        post_line_with_mcn=shares["post_line_with_mcn"],
        post_line_to_state_post=shares["post_line_to_state_post"],
        niact_immediate_cable=shares["niact_immediate_cable"],
        niact_action_line_in_niact_cable=shares["niact_action_line_in_niact_cable"],
        xmt_cable_with_collective=shares["xmt_cable_with_collective"],
        sipdis_cable=shares["sipdis_cable"],
        noforn_classified_cable=shares["noforn_classified_cable"],
        source=(
            f"{source['what']}: {source['cables']} cables of {source['corpus']}, "
            f"measured {source['measured']}"
        ),
    )


def _dual_pair(pair: str, count: Any) -> tuple[Precedence, Precedence, int]:
    action, info = pair.split(" ")
    return Precedence(action), Precedence(info), int(count)


@dataclass(frozen=True, slots=True)
class Weighted(Generic[_T]):
    """Values drawn in proportion to their weights (zero weights are never drawn)."""

    values: tuple[_T, ...]
    cumulative: tuple[int, ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[_T, int]]) -> Weighted[_T]:
        """The table of (value, weight) pairs."""
        values, weights = zip(*pairs, strict=True)
        return cls(values, tuple(accumulate(weights)))

    def draw(self, rng: random.Random) -> _T:
        """One value, drawn with ``rng``."""
        return self.values[bisect.bisect_right(self.cumulative, rng.random() * self.cumulative[-1])]


@dataclass(frozen=True, slots=True)
class Mix:
    """The profile compiled for drawing: one weighted table per distribution."""

    profile: TrafficProfile
    precedence: Weighted[Precedence]
    dual: dict[Precedence, tuple[float, Weighted[Precedence]]]
    """Per action precedence: the chance of a lower info precedence, and which one."""
    classification: Weighted[Classification]
    addressee_counts: Weighted[tuple[int, int]]
    """(TO lines, INFO lines) of a cable."""
    tags: Weighted[str]


@lru_cache(maxsize=8)
def mix_of(profile: TrafficProfile) -> Mix:
    """The profile compiled for drawing (once per profile)."""
    counts = dict(profile.precedence)
    dual: dict[Precedence, tuple[float, Weighted[Precedence]]] = {}
    for action, cables in counts.items():
        pairs = [(info, n) for a, info, n in profile.dual_pairs if a is action and n]
        if pairs and cables:
            dual[action] = (sum(n for _, n in pairs) / cables, Weighted.of(pairs))
    return Mix(
        profile,
        Weighted.of(profile.precedence),
        dual,
        Weighted.of(profile.classification),
        Weighted.of(((to, info), n) for to, info, n in profile.addressee_counts),
        Weighted.of(profile.subject_tags),
    )


def draw_text_bytes(rng: random.Random, quantiles: tuple[tuple[float, int], ...]) -> int:
    """A text size drawn from the measured quantiles, linear between them (inverse transform)."""
    u = rng.random()
    i = max(1, bisect.bisect_right([q for q, _ in quantiles], u))
    if i >= len(quantiles):
        return quantiles[-1][1]
    (q0, n0), (q1, n1) = quantiles[i - 1], quantiles[i]
    return round(n0 + (n1 - n0) * (u - q0) / (q1 - q0)) if q1 > q0 else n1
