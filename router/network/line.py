"""A post's line: its precedence queue, the transmission on it, its channel serials, pre-emption.

Pure: every method takes the time from its caller, so the same decisions come out under the
network's scaled clock, a test's hand-driven clock, or a benchmark's unthrottled lines.

- Order (ACP 127 §151): higher precedence first, then arrival; FIFO within a precedence, per line.
- A transmission takes the time its characters need: characters x units per character / baud,
  the units by the line's code (ITA2 below 110 baud, ASCII from 110, or the post's own).
- Pre-emption (§151, §424): FLASH and ECP bust a lower transmission in progress; IMMEDIATE busts
  one unless cancelling it would take longer than finishing it (§151c); PRIORITY busts only an
  extra-long ROUTINE. A busted transmission's channel serial is used up, and the cable goes again
  whole, later, under a new serial: nothing resumes mid-message.
- The window: copies sent but not yet acknowledged by the post. A post that stops acknowledging
  keeps its backlog here, where precedence still orders it, and not at the broker, which has none.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from router.cable.models import Precedence, needs_receipt

_made = tuple.__new__  # a named tuple without its Python-level constructor (`router.routing.decide`)

LineCode = Literal["ita2", "ascii"]
"""A line's character code: ITA2 (five units, start and stop: the teleprinter) or ASCII."""

Cause = Literal["first", "bust", "outage", "zfx", "ack-timeout", "restart", "request", "line-up", "alternate"]
"""Why a transmission is made: the first, or again after a bust, an outage, a gap report (ZFX), a
missing acknowledgement, a restart of the router, an operator's request, or the line coming back
up with the copy sent before it went down still not receipted; or the first by another post's line,
the addressee's own having been down too long (§307)."""
SUSPECT: frozenset[Cause] = frozenset({"ack-timeout", "restart", "line-up"})
"""Causes of a copy that may have reached the post before: it goes with the ZFD pilot (§427).
A bust or a cut was cancelled and a ZFX names a serial never received: those copies are not suspect."""

HELD = 128
"""Waiting deliveries a line keeps in memory: a backlog beyond waits in the journal, so that the
router's memory does not grow with it (200,000 queued copies would take a few hundred MB). Twice a
burst of the switch's (64 messages): a burst for one post is not spilled and read back at once."""
SERIAL_MODULUS = 10_000
"""Channel serials are four digits in FL1 (VZCZCHFR0042): 0001 to 9999, then 0001 again."""
DAY = 86_400.0
"""A day of the network's clock: channel numbers start again at 0001 at midnight UTC (§413a)."""


_FOUR_DIGITS = tuple(f"{serial:04d}" for serial in range(SERIAL_MODULUS))
"""Each serial as FL1 writes it, made once: formatting it afresh for every copy cost more."""


def transmission_id(channel: str, serial: int) -> str:
    """Channel designator + serial (1 to 9999, `following`), as FL1 carries it after VZCZC: ``HFR0042``."""
    return channel + _FOUR_DIGITS[serial]


def following(serial: int) -> int:
    """The channel serial after ``serial``: 9999 is followed by 0001 (0, none used yet, by 0001)."""
    return serial % (SERIAL_MODULUS - 1) + 1


class Consignment(NamedTuple):
    """What a line is given to send: a delivery, its cable and its precedence."""

    delivery_id: int
    cable_id: int
    precedence: Precedence
    niact: bool = False


EXTRA_LONG = 5 * 20 * 69
"""ACP 127 leaves "extra long" undefined; this is more than the five text pages of 20 lines of 69
characters that one transmission should hold (§208, §138f) before a message goes in sections."""


DIVERT_AFTER = 300.0
"""An outage is "extended" (ACP 127 §307: traffic then takes an alternative route) after five
minutes: half a FLASH's ten minutes writer to reader, and a sixth of an IMMEDIATE's thirty, are
then gone waiting for the line."""


CHECK_AFTER = 30 * 60.0
"""A channel without traffic this long is checked (§412b: 30 minutes; 60 at the relay's discretion)."""


ASCII_FROM = 110
"""Lines from 110 baud up ran ASCII; slower ones the ITA2 teleprinter (DOMAIN, line codes)."""


def code_for(baud: int) -> LineCode:
    """The code a line of ``baud`` ran: ITA2 at 45.45-75 baud, ASCII from 110 (0, unthrottled: ASCII)."""
    return "ita2" if 0 < baud < ASCII_FROM else "ascii"


def units_per_character(baud: int, code: LineCode) -> float:
    """Signal units a character takes on a line of ``baud`` in ``code``.

    ITA2: a start unit, five data units and the stop: 1.42 units at 45.45 baud (60 words a
    minute, 7.42 a character), 1.5 at 50 and 75 (7.5). ASCII: a start unit, seven data units, the
    parity unit and the stop: two stop units at 110 baud (11 a character), one from 150 up (10).
    """
    if code == "ita2":
        # 45.45 baud is written 45 in a table of whole bauds.
        return 7.42 if baud < 50 else 7.5
    return 11.0 if baud < 150 else 10.0


CANCELLATION = len("E E E E E E E E AR") + 2 + 8 + 4 + 12
"""What interrupting costs the line: the error signal and AR that cancel the transmission (§133,
§424a), then the end-of-message functions, 2 CR, 8 LF, NNNN and 12 LTRS (§114b, §138d): 44
characters, 4.4 s at 75 baud. The interrupted transmission's own TI went out when it began."""


@dataclass(frozen=True, slots=True)
class LineRules:
    """How every line behaves: the character code's units (unless by speed) and the pre-emption threshold."""

    units_per_character: float | None = None
    """Signal units a character takes on every line; None: each line's own, by its code and speed."""
    extra_long: int = EXTRA_LONG
    """Characters above which a ROUTINE transmission may be busted by a PRIORITY."""
    cancellation: int = CANCELLATION
    """Characters it takes to cancel a transmission in progress: what an IMMEDIATE weighs against
    the rest of the transmission it would interrupt (§151c)."""


class Queued(NamedTuple):
    """A delivery waiting for its line: a reference, the copy itself is made from the journal.

    A named tuple: the lines' heaps compare these a few times for every copy, and a tuple's
    comparison is the interpreter's own. ``order`` comes first and is never the same for two
    (an arrival number each), so it alone decides.
    """

    order: tuple[int, int]
    """(minus the precedence rank, arrival number): what the heap sorts by."""
    delivery_id: int
    cable_id: int
    precedence: Precedence
    size: int
    """Characters of the copy on the line: what its transmission time is made of."""
    cause: Cause = "first"
    since: float = 0.0
    """When it was first queued (network time)."""
    niact: bool = False
    addressee: str = ""
    """The post the copy is for when it is not the line's own: it goes by this line as that post's
    alternative route (§307-308), FL2 calling that post, for the station at the end to relay."""

    @property
    def consignment(self) -> Consignment:
        """What the line was given to send, to be given to another (an alternative route, §307)."""
        return Consignment(self.delivery_id, self.cable_id, self.precedence, self.niact)

    @property
    def needs_receipt(self) -> bool:
        """Whether the post must receipt this copy (`router.cable.models.needs_receipt`)."""
        return needs_receipt(self.precedence, niact=self.niact)


class Transmission(NamedTuple):
    """One attempt to send a delivery down the line, under one channel serial (a named tuple: one a copy)."""

    queued: Queued
    channel: str
    serial: int
    started: float
    ends: float

    @property
    def transmission_id(self) -> str:
        """Channel designator + serial, as FL1 carries it after VZCZC: ``HFR0042``."""
        return transmission_id(self.channel, self.serial)


@dataclass(slots=True)
class Line:
    """The line from the switch to one post."""

    post: str
    baud: int
    """Line speed; 0 is an unthrottled line (a transmission takes no time)."""
    window: int
    rules: LineRules = field(default_factory=LineRules)
    serial: int = 0
    """The last channel serial used."""
    up: bool = True
    waiting: list[Queued] = field(default_factory=list)
    in_flight: dict[int, int] = field(default_factory=dict)
    """Deliveries on the line or sent and not yet acknowledged, each with its last transmission's serial."""
    sent_under: dict[int, int] = field(default_factory=dict)
    """The other way round: the delivery in flight last sent under each serial. A receipt names
    the serial (§151b): its copy is found here, without asking the journal; one not here (sent
    before a restart, receipted or given up meanwhile) is the journal's to find."""
    current: Transmission | None = None
    arrivals: itertools.count[int] = field(default_factory=itertools.count)
    held: int = HELD
    """Waiting deliveries kept in memory; the rest wait in the journal only (`spilled`)."""
    spilled: Counter[Precedence] = field(default_factory=Counter)
    """Waiting deliveries left in the journal, by precedence: newer than those held of theirs."""
    code: LineCode | None = None
    """The line's character code; None: by its speed (`code_for`)."""
    series_day: int | None = None
    """The day (UTC, of the network's clock) the serials in use were begun on; None: not known
    (a line just made, or taken up from the journal after a restart): the series runs on."""
    last_of_series: int = 0
    """The last serial of the series before this (0: none): the end-of-day comparison quotes it (§413b)."""
    designator: str = ""
    """The channel designator when it is not the post's (a trunk's: `router.switch.trunks`)."""
    channel: str = field(init=False)
    """The channel designator every FL1 carries: three letters of the RI (RUEHFR -> HFR), or the trunk's."""

    def __post_init__(self) -> None:
        self.channel = self.designator or self.post[-3:].rjust(3, "X")

    @property
    def line_code(self) -> LineCode:
        """The code the line runs: its own, else the one its speed ran."""
        return self.code or code_for(self.baud)

    @property
    def units(self) -> float:
        """Signal units a character takes on this line: the rules' for every line, else its code's."""
        if self.rules.units_per_character is not None:
            return self.rules.units_per_character
        return units_per_character(self.baud, self.line_code)

    def duration(self, size: int) -> float:
        """Seconds a copy of ``size`` characters takes on this line."""
        return size * self.units / self.baud if self.baud else 0.0

    def put(
        self, consignment: Consignment, size: int, now: float, cause: Cause = "first", addressee: str = ""
    ) -> Transmission | None:
        """Queue a delivery; return the transmission it busts, if it pre-empts the one in progress.

        ``addressee``: the post the copy is for, when this line is its alternative route (§307).
        """
        delivery_id, cable_id, precedence, niact = consignment
        order = (-precedence.rank, next(self.arrivals))
        queued = _made(Queued, (order, delivery_id, cable_id, precedence, size, cause, now, niact, addressee))
        self._hold(queued)
        current = self.current
        if current is None or not self._interrupts(queued, current, now):
            return None
        self._abandon(current, "bust")
        return current

    def _hold(self, queued: Queued) -> None:
        """Keep a waiting delivery in memory, or leave it to the journal (a backlog's tail).

        What is held is always the best of what waits: a delivery joins the spilled ones when
        older ones of its precedence are spilled (first come, first served), or when memory is
        full and it is the worst; a better one takes the place of the worst held.
        """
        if queued.cause != "first":
            # A retransmission: its delivery is no longer queued in the journal, so it stays here.
            heapq.heappush(self.waiting, queued)
            return
        if self.spilled.get(queued.precedence) or (
            len(self.waiting) >= self.held and not self._evict_for(queued)
        ):
            self.spilled[queued.precedence] += 1
            return
        heapq.heappush(self.waiting, queued)

    def _evict_for(self, queued: Queued) -> bool:
        """Make room for ``queued`` by spilling the worst first-time delivery held, if it is worse."""
        candidates = [q for q in self.waiting if q.cause == "first"]
        if not candidates:
            return True  # only retransmissions held: they stay, memory holds one more
        worst = max(candidates)
        if worst < queued:
            return False
        self.waiting.remove(worst)
        heapq.heapify(self.waiting)
        self.spilled[worst.precedence] += 1
        return True

    def take(self, lowest: Precedence) -> list[Queued]:
        """Take the held waiting deliveries of ``lowest`` precedence and above off the line, best first.

        For a line down too long: its FLASH and IMMEDIATE traffic goes by an alternative route
        (§307), the rest waits here. Deliveries left in the journal (`spilled`) are not taken.
        """
        taken = sorted(q for q in self.waiting if q.precedence >= lowest)
        if taken:
            self.waiting = [q for q in self.waiting if q.precedence < lowest]
            heapq.heapify(self.waiting)
        return taken

    def needs_refill(self) -> bool:
        """Whether deliveries wait in the journal and memory has room for them."""
        return bool(self.spilled) and len(self.waiting) < self.held // 2 and any(self.spilled.values())

    def refill(self, consignments: list[tuple[Consignment, int, float]], *, exhausted: bool) -> None:
        """Take back deliveries from the journal, best first: (consignment, size, queued at).

        ``exhausted``: the journal had no more; whatever the counts said, nothing is spilled now.
        """
        if exhausted:
            self.spilled.clear()
        for consignment, size, since in consignments:
            delivery_id, cable_id, precedence, niact = consignment
            order = (-precedence.rank, next(self.arrivals))
            queued = Queued(order, delivery_id, cable_id, precedence, size, "first", since, niact)
            if self.spilled[precedence]:
                self.spilled[precedence] -= 1
            heapq.heappush(self.waiting, queued)

    def start(self, now: float) -> Transmission | None:
        """Begin the best waiting delivery if the line is up, idle and the window has room."""
        if self.current is not None or not self.up or not self.waiting or len(self.in_flight) >= self.window:
            return None
        queued = heapq.heappop(self.waiting)
        self._next_serial(now)
        self.current = Transmission(queued, self.channel, self.serial, now, now + self.duration(queued.size))
        if (delivery_id := queued.delivery_id) in self.in_flight:
            self._leave(delivery_id)  # sent before (a resend): the new serial names it now
        self.in_flight[delivery_id] = self.serial
        self.sent_under[self.serial] = delivery_id
        return self.current

    def number(self, now: float) -> str | None:
        """The next channel serial for a service message, if the line is up and idle; else None.

        A service message goes between transmissions, never inside one, and takes a number of
        its own: a number is never used twice (§424b).
        """
        if self.current is not None or not self.up:
            return None
        self._next_serial(now)
        self._forget_serial(self.serial)  # a copy sent under it a series ago is not what it names now
        return transmission_id(self.channel, self.serial)

    def _next_serial(self, now: float) -> None:
        """Take the next serial: 0001 again on a new day (the daily number change, §413a)."""
        day = int(now // DAY)
        if self.series_day is not None and day > self.series_day and self.serial:
            self.last_of_series, self.serial = self.serial, 0
        self.series_day = day
        self.serial = following(self.serial)

    def finish(self, now: float) -> Transmission | None:
        """The transmission in progress, if its last character has gone by ``now``."""
        current = self.current
        if current is None or current.ends > now:
            return None
        self.current = None
        return current

    def due(self) -> float | None:
        """When the transmission in progress ends: the line's next moment of interest."""
        return self.current.ends if self.current is not None else None

    def down(self) -> Transmission | None:
        """Take the line down; the transmission it cuts, if any, goes again when it is back."""
        self.up = False
        current = self.current
        if current is not None:
            self._abandon(current, "outage")
        return current

    def acknowledged(self, delivery_id: int) -> bool:
        """The post acknowledged a copy: its place in the window is free. False if not in flight."""
        return self._leave(delivery_id)

    def in_flight_under(self, channel: str, serial: int) -> int | None:
        """The delivery in flight last sent under ``channel`` + ``serial``; None: ask the journal."""
        return self.sent_under.get(serial) if channel == self.channel else None

    def _leave(self, delivery_id: int) -> bool:
        """The delivery is no longer in flight (whether it was)."""
        serial = self.in_flight.pop(delivery_id, None)
        if serial is None:
            return False
        self._forget_serial(serial, delivery_id)
        return True

    def _forget_serial(self, serial: int, delivery_id: int | None = None) -> None:
        """``serial`` names no delivery in flight (or not ``delivery_id`` any more, if given)."""
        if delivery_id is None or self.sent_under.get(serial) == delivery_id:
            self.sent_under.pop(serial, None)

    def holds(self, delivery_id: int) -> bool:
        """Whether the delivery waits on this line or is on it now (sent again already, say after a ZFX)."""
        current = self.current
        if current is not None and current.queued.delivery_id == delivery_id:
            return True
        return any(queued.delivery_id == delivery_id for queued in self.waiting)

    def release(self, delivery_id: int) -> None:
        """A copy given up on (no receipt in time): its place in the window is free for what comes next."""
        self._leave(delivery_id)

    def unreceipted(self) -> list[int]:
        """Copies sent and not receipted, none on the line now: what a line coming back up sends again."""
        sending = self.current.queued.delivery_id if self.current is not None else None
        return sorted(d for d in self.in_flight if d != sending)

    def depths(self) -> dict[str, int]:
        """Waiting deliveries by precedence (held and spilled), and how many are in flight."""
        waiting = Counter(q.precedence.value for q in self.waiting)
        waiting.update({p.value: n for p, n in self.spilled.items() if n})
        return {**waiting, "in_flight": len(self.in_flight)}

    def _interrupts(self, arriving: Queued, current: Transmission, now: float) -> bool:
        held = current.queued.precedence
        if arriving.precedence <= held:
            return False
        if arriving.precedence >= Precedence.FLASH:
            return True
        # Interrupting is worth it only while cancelling takes less than finishing (§151c: the cost
        # is the cancellation, not the arriving message's own length; at equal times nothing is gained).
        worth_it = current.ends - now > self.duration(self.rules.cancellation)
        if arriving.precedence is Precedence.IMMEDIATE:
            return worth_it
        # §151d: PRIORITY interrupts lower traffic in progress "only if extra long", whatever the
        # PRIORITY's own length; and, as for IMMEDIATE, not when the end is nearer than the cancellation.
        return held is Precedence.ROUTINE and current.queued.size > self.rules.extra_long and worth_it

    def _abandon(self, transmission: Transmission, cause: Cause) -> None:
        """Stop a transmission: its serial stays used, its delivery waits again in its old place."""
        self.current = None
        self._leave(transmission.queued.delivery_id)
        heapq.heappush(self.waiting, transmission.queued._replace(cause=cause))
