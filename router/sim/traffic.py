"""Synthetic traffic for the switch: cables in the real corpus's mix (replays of real ones: sim.replay).

Generation is pure (values in, cables out); `router.sim.replay.publish_schedule` puts them on the bus,
and `router.sim.traffic_network` says which stations and collectives a cable may address.
The mix comes from router/data/traffic.json, measured over the real corpus by
scripts/measure_traffic.py: generated traffic has the precedence, addressee and size distributions
the switch meets in real cables, so queues, pre-emption and speed of service are exercised as real
traffic would exercise them.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from router.cable.models import MONTHS, Classification, Precedence
from router.errors import TrafficError
from router.sim.traffic_mix import PROFILE, Mix, TrafficProfile, draw_text_bytes, load_profile, mix_of
from router.sim.traffic_network import CollectiveAddress, Network, Pool, Station, network_of

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from router.routing.table import RoutingTable

__all__ = ["PROFILE", "Generated", "TrafficProfile", "generate", "load_profile"]


# --- one cable


_RELAY_RI = "RUEHWEB"
"""FL2's relay RI as the State cables of the corpus carry it; the switch cuts FL2 down per channel anyway."""
_CHANNEL = "XYZ"
"""FL1's channel designator, as in the corpus: the switch gives each copy its own channel's FL1."""
_SERIALS = 9999
"""Station serials and MCNs have four digits: 0001-9999, then round again."""
_SECURITY_WARNINGS = {
    Classification.UNCLASSIFIED: "ZNR UUUUU ZZH",
    Classification.CONFIDENTIAL: "ZNY CCCCC ZZH",
    Classification.SECRET: "ZNY SSSSS ZZH",
    Classification.TOP_SECRET: "ZNY TTTTT ZZH",
}
_BANNERS = {
    Classification.UNCLASSIFIED: "UNCLAS",
    Classification.CONFIDENTIAL: "C O N F I D E N T I A L",
    Classification.SECRET: "S E C R E T",
    Classification.TOP_SECRET: "T O P S E C R E T",
}
_CAPTIONS = ("NOFORN", "SIPDIS")
"""Caveats written on lines of their own below the banner, in this order."""
_PARAGRAPH_MARKINGS = {
    Classification.UNCLASSIFIED: "(U)",
    Classification.CONFIDENTIAL: "(C)",
    Classification.SECRET: "(S)",
    Classification.TOP_SECRET: "(TS)",
}
# Title words before a post's place in its plain-language address; the banner names the place alone.
_TITLES = frozenset({"AMEMBASSY", "AMCONSUL", "AMCONGEN", "USMISSION", "USINT", "USOFFICE", "USLO"})
_EO_13526 = date(2010, 6, 27)
"""E.O. 13526 replaced E.O. 12958 on the E.O. line from its effective date."""
_DECLASSIFY_AFTER = 10
"""Years until the DECL date: State's usual ten."""
_FLASH_LINES = (2, 4)
"""A FLASH text is short: one paragraph of a few lines."""
_PARAGRAPH_LINES = (2, 8)
_SUBJECT_WORDS = (3, 7)
_TAG_COUNT = (1, 4)
_MAX_LINE = 69
"""ACP 127: a line of text is at most 69 characters."""


class _Line(NamedTuple):
    """One TO or INFO line to write: the address, and the station whose MCN it carries (if any)."""

    address: str
    mcn_ri: str | None
    niact: bool


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything drawn for one cable, before serial numbers are given and the text is written."""

    precedence: Precedence
    info_precedence: Precedence
    classification: Classification
    caveats: frozenset[str]
    originator: Station
    to: tuple[_Line, ...]
    info: tuple[_Line, ...]
    xmt: str | None
    text_bytes: int
    tags: tuple[str, ...]
    flash: bool


@dataclass(slots=True)
class Serials:
    """Numbers that run on from cable to cable: station serials per originator, MCNs per pair.

    Where a station's numbers start is drawn from a stream of their own, in the order stations are
    first used: a cable whose text changes (one forced to FLASH) leaves every later number as it was.
    """

    starts: random.Random
    ssn: dict[str, int] = field(default_factory=dict)
    filing: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Per originator: the filing minute of its last cable, and how many cables it filed in it."""
    mcn: dict[tuple[str, str], int] = field(default_factory=dict)
    """The last MCN per originating station and addressee."""

    def station_serial(self, ri: str, minute: int) -> tuple[int, int]:
        """The next SSN of ``ri`` and its filing minute, so that RI + SSN + filing time is unique (§116).

        Serials of one station run on (first one drawn), and at most 9,999 of its cables share a
        filing minute: past that the filing time moves to the next minute, never back.
        """
        last, used = self.filing.get(ri, (minute, 0))
        if minute > last:
            last, used = minute, 0
        if used == _SERIALS:
            last, used = last + 1, 0
        self.filing[ri] = (last, used + 1)
        ssn = self.ssn[ri] % _SERIALS + 1 if ri in self.ssn else self.starts.randint(1, _SERIALS)
        self.ssn[ri] = ssn
        return ssn, last

    def next_mcn(self, originator: str, ri: str) -> int:
        """State's message continuity number (5 FAH-2 H-321.7): consecutive per originator and addressee.

        Each series is the originating station's to one addressee, so that the addressee can tell
        a cable of it lost: the number after its last from that station (see `router.sim.post`).
        """
        series = (originator, ri)
        last = self.mcn.get(series)
        mcn = last % _SERIALS + 1 if last is not None else self.starts.randint(1, _SERIALS)
        self.mcn[series] = mcn
        return mcn


def _plan(rng: random.Random, mix: Mix, network: Network, *, flash: bool, with_ri_chance: float) -> _Plan:
    """Draw one cable's precedence, security, originator, addressees and size from the mix."""
    profile = mix.profile
    precedence = mix.precedence.draw(rng)
    info_precedence = _info_precedence(rng, mix, precedence)
    classification = mix.classification.draw(rng)
    caveats = _caveats(rng, profile, classification)
    pool = network.pool(classification, caveats)
    if pool.size < 2:
        # Too few posts cleared (a small subset): the cable goes out unclassified, which every post may hold.
        classification, caveats = Classification.UNCLASSIFIED, frozenset()
        pool = network.pool(classification, caveats)
    originator = rng.choice(pool.originators)
    addressees = _addressees(rng, mix, pool, originator)
    lines = _written_lines(rng, profile, addressees.entries, with_ri_chance)
    to, info = tuple(lines[: addressees.to_count]), tuple(lines[addressees.to_count :])
    xmt = _exemption(rng, profile, network, addressees, originator)
    text_bytes = draw_text_bytes(rng, profile.text_bytes)
    tags = tuple(dict.fromkeys(mix.tags.draw(rng) for _ in range(rng.randint(*_TAG_COUNT))))
    if flash:
        precedence = info_precedence = Precedence.FLASH
    to = _with_niact(rng, profile, to) if precedence is Precedence.IMMEDIATE else to
    return _Plan(
        precedence,
        info_precedence,
        classification,
        caveats,
        originator,
        to,
        info,
        xmt,
        text_bytes,
        tags,
        flash=precedence is Precedence.FLASH,
    )


def _info_precedence(rng: random.Random, mix: Mix, precedence: Precedence) -> Precedence:
    """ACP 127 §152: info addressees may get a lower precedence, in the measured share of cables."""
    chance, infos = mix.dual.get(precedence, (0.0, None))
    return infos.draw(rng) if infos is not None and rng.random() < chance else precedence


def _caveats(rng: random.Random, profile: TrafficProfile, classification: Classification) -> frozenset[str]:
    """SIPDIS on any cable, NOFORN on classified ones only, in the measured shares."""
    caveats = set()
    if rng.random() < profile.sipdis_cable:
        caveats.add("SIPDIS")
    if classification > Classification.UNCLASSIFIED and rng.random() < profile.noforn_classified_cable:
        caveats.add("NOFORN")
    return frozenset(caveats)


class _Addressees(NamedTuple):
    """A cable's addressees in the order written, the first ``to_count`` of them action addressees."""

    entries: list[Station | CollectiveAddress]
    to_count: int
    collectives: list[CollectiveAddress]


def _addressees(rng: random.Random, mix: Mix, pool: Pool, originator: Station) -> _Addressees:
    """Draw a cable's addressees: how many TO and INFO lines, which stations and collectives.

    Counts follow the measured (TO, INFO) pairs, capped by the posts there are (a collective line takes
    a post's place in the count, as it does in the corpus); a cable with neither is drawn again.
    """
    n_to = n_info = 0
    while n_to + n_info == 0:
        n_to, n_info = mix.addressee_counts.draw(rng)
    available = pool.size - 1  # not the originator
    n_to = min(n_to, available)
    n_info = min(n_info, available - n_to)
    total = n_to + n_info
    usable = pool.collectives  # each has members besides the originator (MIN_COLLECTIVE)
    wanted = sum(rng.random() < mix.profile.line_collective for _ in range(total)) if usable else 0
    collectives = rng.sample(usable, min(wanted, len(usable)))
    stations = _stations(rng, mix.profile, pool, originator, total - len(collectives))
    entries: list[Station | CollectiveAddress] = [*stations, *collectives]
    rng.shuffle(entries)
    return _Addressees(entries, n_to, collectives)


def _stations(
    rng: random.Random, profile: TrafficProfile, pool: Pool, originator: Station, count: int
) -> list[Station]:
    """``count`` distinct stations besides the originator, State posts in the measured share."""
    state_left = len(pool.state) - originator.state
    other_left = len(pool.other) - (not originator.state)
    wanted = sum(rng.random() < profile.post_line_to_state_post for _ in range(count))
    n_state = min(max(wanted, count - other_left), state_left)
    return [
        *_sample_besides(rng, pool.state, originator, n_state),
        *_sample_besides(rng, pool.other, originator, count - n_state),
    ]


def _sample_besides(
    rng: random.Random, stations: Sequence[Station], besides: Station, k: int
) -> list[Station]:
    if k <= 0:
        return []
    picked = rng.sample(stations, min(k + 1, len(stations)))
    return [s for s in picked if s is not besides][:k]


def _written_lines(
    rng: random.Random,
    profile: TrafficProfile,
    entries: list[Station | CollectiveAddress],
    with_ri_chance: float,
) -> list[_Line]:
    """How each addressee is written: with its RI in the measured share, an MCN on some station lines."""
    lines = []
    for address in entries:
        written = address.written(with_ri=rng.random() < with_ri_chance)
        if isinstance(address, Station) and rng.random() < profile.post_line_with_mcn:
            lines.append(_Line(written, address.ri, niact=False))
        else:
            lines.append(_Line(written, None, niact=False))
    return lines


def _with_niact(rng: random.Random, profile: TrafficProfile, to: tuple[_Line, ...]) -> tuple[_Line, ...]:
    """NIACT IMMEDIATE on some action addressees of some IMMEDIATE cables, as measured; at least one."""
    if not to or rng.random() >= profile.niact_immediate_cable:
        return to
    marked = [rng.random() < profile.niact_action_line_in_niact_cable for _ in to]
    if not any(marked):
        marked[0] = True
    return tuple(line._replace(niact=niact) for line, niact in zip(to, marked, strict=True))


def _exemption(
    rng: random.Random,
    profile: TrafficProfile,
    network: Network,
    addressees: _Addressees,
    originator: Station,
) -> str | None:
    """Sometimes an XMT line exempting one member of an addressed collective (ACP 127 §205).

    The exempted post is one not addressed directly (an exemption does not undo a TO or INFO
    line), written by name as the corpus's XMT lines are, or with its RI where the name is ambiguous.
    """
    if not addressees.collectives or rng.random() >= profile.xmt_cable_with_collective:
        return None
    collective = rng.choice(addressees.collectives)
    direct = {entry.ri for entry in addressees.entries if isinstance(entry, Station)}
    members = sorted(collective.members - {originator.ri} - direct)
    if len(members) < 2:  # an exemption must leave the collective someone to deliver to
        return None
    exempted = network.by_ri[rng.choice(members)]
    return exempted.plain or exempted.with_ri


# --- writing it


def _render(plan: _Plan, rng: random.Random, serials: Serials, dtg: datetime, channel_serial: int) -> str:
    """The cable as it comes off the originating station's tape: FL1 to NNNN."""
    minute = int(dtg.timestamp() // 60)
    ssn, filing_minute = serials.station_serial(plan.originator.ri, minute)
    filed = datetime.fromtimestamp(filing_minute * 60, UTC)
    letters = plan.precedence.letter
    if plan.info_precedence is not plan.precedence:
        letters += " " + plan.info_precedence.letter
    header = [
        f"VZCZC{_CHANNEL}{channel_serial:04d}",
        f"{plan.precedence.letter * 2} {_RELAY_RI}",
        "",
        f"DE {plan.originator.ri} #{ssn:04d} {filed.timetuple().tm_yday:03d}{filed:%H%M}",
        _SECURITY_WARNINGS[plan.classification],
        f"{letters} {dtg:%d%H%M}Z {MONTHS[dtg.month - 1]} {dtg:%y}",
        f"FM {plan.originator.name}",
        *_address_block("TO", plan.to, plan.precedence, (serials, plan.originator.ri)),
        *_address_block("INFO", plan.info, plan.info_precedence, (serials, plan.originator.ri)),
        *([f"XMT {plan.xmt}"] if plan.xmt else []),
        "BT",
    ]
    return "\n".join([*header, *_text(plan, rng, ssn, dtg)]) + "\n"


def _address_block(
    section: str, lines: tuple[_Line, ...], precedence: Precedence, numbers: tuple[Serials, str]
) -> list[str]:
    """TO or INFO lines: ``[RI/]NAME [NIACT] [PRECEDENCE] [MCN]``; ROUTINE is never written on a line.

    ``numbers``: the serials and the originating station, whose series to each addressee the MCN runs.
    """
    serials, originator = numbers
    word = "" if precedence is Precedence.ROUTINE else f" {precedence.value}"
    written = []
    for index, line in enumerate(lines):
        tail = " NIACT IMMEDIATE" if line.niact else word
        mcn = f" {serials.next_mcn(originator, line.mcn_ri):04d}" if line.mcn_ri else ""
        prefix = f"{section} " if index == 0 else ""
        written.append(f"{prefix}{line.address}{tail}{mcn}")
    return written


def _text(plan: _Plan, rng: random.Random, ssn: int, dtg: datetime) -> list[str]:
    """FL12 (banner, captions, E.O., TAGS, SUBJECT, numbered paragraphs, the signer's name), FL13, FL16."""
    signer = _signer(plan.originator.ri)
    captions = [caveat for caveat in _CAPTIONS if caveat in plan.caveats]
    fields = [
        f"{_BANNERS[plan.classification]} {_banner_station(plan.originator)} {ssn:06d}",
        "",
        *([*captions, ""] if captions else []),
        _eo_line(plan.classification, dtg),
        f"TAGS: {', '.join(plan.tags)}",
        _subject(rng),
        "",
    ]
    if plan.classification > Classification.UNCLASSIFIED:
        fields += [f"CLASSIFIED BY: AMBASSADOR {signer}, REASONS 1.4 (B) AND (D)", ""]
    # FL13 BT after the text, then FL16 NNNN: a whole transmission (ACP 127 §114, §138d, Annex B).
    closing = ["", signer, "BT", "NNNN"]
    marking = _PARAGRAPH_MARKINGS[plan.classification]
    if plan.flash:
        body = _paragraphs(rng, marking, size=0, lines=_FLASH_LINES)
    else:
        # The measured size counts the text from the line that ends the header (BT) to the end.
        budget = plan.text_bytes - _size(["BT", *fields, *closing])
        body = _paragraphs(rng, marking, size=budget, lines=_PARAGRAPH_LINES)
    return [*fields, *body, *closing]


def _size(lines: list[str]) -> int:
    """Bytes the lines take, each with its line end."""
    return sum(len(line) + 1 for line in lines)


def _banner_station(originator: Station) -> str:
    """The place a banner names: TOKYO for AMEMBASSY TOKYO, STATE for the Department itself."""
    words = originator.name.split()
    if words[0] == "SECSTATE":
        return "STATE"
    place = [w for w in words if w not in _TITLES and w.isalpha()]
    return " ".join(place) or originator.ri


def _eo_line(classification: Classification, dtg: datetime) -> str:
    """The E.O. line: N/A for unclassified text, else a declassification date ten years on."""
    order = "13526" if dtg.date() >= _EO_13526 else "12958"
    if classification is Classification.UNCLASSIFIED:
        return f"E.O. {order}: N/A"
    when = dtg.date()
    try:
        decl = when.replace(year=when.year + _DECLASSIFY_AFTER)
    except ValueError:  # 29 February
        decl = when.replace(year=when.year + _DECLASSIFY_AFTER, day=28)
    return f"E.O. {order}: DECL: {decl:%m/%d/%Y}"


def _subject(rng: random.Random) -> str:
    """A SUBJECT line of filler words, ``TOPIC: WORDS``, on one line."""
    first, *rest = rng.sample(_FILLER_WORDS, rng.randint(*_SUBJECT_WORDS))
    subject = f"SUBJECT: {first}:"
    for word in rest:
        if len(subject) + 1 + len(word) > _MAX_LINE:
            break
        subject += f" {word}"
    return subject


def _signer(ri: str) -> str:
    """The last name that signs a post's cables: the same for a post in every run."""
    return _SURNAMES[zlib.crc32(ri.encode()) % len(_SURNAMES)]


def _paragraphs(rng: random.Random, marking: str, *, size: int, lines: tuple[int, int]) -> list[str]:
    """Numbered paragraphs of filler, ``lines`` lines each, until ``size`` bytes; one at least."""
    filler = _filler()
    at = rng.randrange(len(filler))
    out: list[str] = []
    number = written = 0
    while number == 0 or written < size:
        number += 1
        count = rng.randint(*lines)
        if size > 0:  # the last paragraph stops within a line of the size drawn
            count = min(count, max(1, -(-(size - written) // _FILLER_WIDTH)))
        paragraph = [*([""] if out else []), *(filler[(at + j) % len(filler)] for j in range(count))]
        at += count
        paragraph[-count] = f"{number}. {marking} {paragraph[-count]}"
        out.extend(paragraph)
        written += _size(paragraph)
    return out


_FILLER_WIDTH = 56
"""Filler lines leave room for a paragraph number and marking (``999. (TS) ``) within 69 characters."""
_FILLER_LINES = 2_000
_FILLER_SEED = 127
_FILLER_WORDS = (
    "AGREED", "AMBASSADOR", "ASSISTANCE", "BILATERAL", "BORDER", "BUDGET", "CABINET", "COALITION",
    "CONCERN", "CONTINUE", "COOPERATION", "COUNTERPART", "COURT", "DEBT", "DELEGATION", "DEPUTY",
    "DEVELOPMENTS", "DIRECTOR", "DISCUSSED", "DRAFT", "ECONOMIC", "ELECTIONS", "EMBASSY", "ENERGY",
    "EXPRESSED", "FOLLOW", "FOREIGN", "FURTHER", "GOVERNMENT", "INVESTMENT", "LAW", "LEADERS", "LOCAL",
    "MARKET", "MEDIA", "MEETING", "MILITARY", "MINISTER", "MINISTRY", "MONTH", "NATIONAL", "NEW",
    "NOTED", "OFFICIALS", "OPPOSITION", "PARLIAMENT", "PARTY", "PIPELINE", "POLICE", "POLITICAL",
    "PRESIDENT", "PRESS", "PROGRAM", "PROPOSAL", "PUBLIC", "REFORM", "REGIONAL", "REPORT", "SECURITY",
    "SENIOR", "STATEMENT", "STRESSED", "SUPPORT", "TALKS", "TRADE", "VISIT", "WEEK", "YEAR",
)  # fmt: skip
_FILLER_JOINERS = ("THE", "OF", "AND", "TO", "IN", "ON", "WITH", "FOR", "THAT", "WAS", "HAS", "WILL")
_SURNAMES = (
    "ADAMS", "ALLEN", "BAKER", "BROWN", "CAMPBELL", "CARTER", "CLARK", "DAVIS", "EVANS", "GREEN",
    "HARRIS", "HILL", "JACKSON", "JOHNSON", "JONES", "KING", "LEWIS", "MARTIN", "MILLER", "MITCHELL",
    "MOORE", "NELSON", "PARKER", "ROBERTS", "SCOTT", "SMITH", "TAYLOR", "THOMAS", "TURNER", "WALKER",
    "WHITE", "WILSON", "WRIGHT", "YOUNG",
)  # fmt: skip


@lru_cache(maxsize=1)
def _filler() -> tuple[str, ...]:
    """A fixed run of upper-case filler prose, wrapped; each cable's text is a slice of it.

    Built once from its own fixed seed, so every run and every seed share it; a cable's seed
    chooses where its slice starts.
    """
    rng = random.Random(_FILLER_SEED)  # noqa: S311 (filler, not secrets: the same every run)
    lines: list[str] = []
    line = ""
    while len(lines) < _FILLER_LINES:
        words = [
            rng.choice(_FILLER_JOINERS if i % 3 == 1 else _FILLER_WORDS) for i in range(rng.randint(6, 16))
        ]
        for word in (*words[:-1], words[-1] + "."):
            if line and len(line) + 1 + len(word) > _FILLER_WIDTH:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}" if line else word
    return tuple(lines)


# --- generated traffic


class Generated(NamedTuple):
    """One generated cable: when to publish it (seconds after the start), its name, its bytes."""

    offset: float
    name: str
    raw: bytes


def generate(  # noqa: PLR0913 (the knobs of a traffic run, all keyword-only)
    table: RoutingTable,
    *,
    count: int,
    seed: int,
    start: datetime,
    rate: float = 1.0,
    profile: TrafficProfile | None = None,
    posts: Sequence[str] | None = None,
    flash_at: Sequence[int] = (),
) -> Iterator[Generated]:
    """``count`` ACP 127 cables in the measured mix, ``rate`` a second from ``start`` (naive = UTC).

    The same arguments give the same bytes (everything is drawn from ``random.Random(seed)``; each
    cable from its own stream, so forcing one to FLASH changes no other). Addressees and originator
    are stations of ``table`` (of ``posts`` only, when given), cleared for the cable's classification
    and caveats: every cable parses and routes to at least one post, with no intercept. ``flash_at``
    names the cables forced to FLASH, short as FLASH texts are; the measured FLASH share (2 cables
    in 2,390) is kept for the others.
    """
    if count < 0:
        raise TrafficError(f"count must not be negative, not {count}", field="count")
    if rate <= 0:
        raise TrafficError(f"rate must be positive, not {rate}", field="rate")
    forced = frozenset(flash_at)
    if outside := sorted(i for i in forced if not 0 <= i < count):
        raise TrafficError(f"flash_at names cables outside 0-{count - 1}: {outside}", field="flash_at")
    network = network_of(table, tuple(posts) if posts is not None else None)
    begin = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    run = _Run(network, mix_of(profile or load_profile()), count, seed, begin, rate, forced)
    return run.cables()


@dataclass(frozen=True, slots=True)
class _Run:
    """One generation run, its arguments checked."""

    network: Network
    mix: Mix
    count: int
    seed: int
    begin: datetime
    rate: float
    forced: frozenset[int]

    def cables(self) -> Iterator[Generated]:
        """The cables one by one, each drawn from its own stream of the seed's generator."""
        streams = random.Random(self.seed)  # noqa: S311 (a simulation: repeatable, not secret)
        serials = Serials(random.Random(streams.getrandbits(64)))  # noqa: S311
        with_ri_chance = self.network.with_ri_chance(self.mix.profile)
        for index in range(self.count):
            rng = random.Random(streams.getrandbits(64))  # noqa: S311
            offset = index / self.rate
            plan = _plan(
                rng, self.mix, self.network, flash=index in self.forced, with_ri_chance=with_ri_chance
            )
            dtg = (self.begin + timedelta(seconds=offset)).replace(second=0, microsecond=0)
            raw = _render(plan, rng, serials, dtg, (index + 1) % 10_000)
            yield Generated(offset, f"gen-{index + 1:06d}", raw.encode())
