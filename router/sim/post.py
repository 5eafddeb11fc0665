"""A simulated addressee post: it reads its channel, checks every serial, files duplicates, receipts.

What a receiving station does (ACP 127 §412-§433): each transmission's serial is checked against
the last; serials skipped are reported at once with ZFX on `cables/svc/<RI>`; a message already
received is filed, not shown again; every copy is receipted on `cables/ack/<RI>` (``R Z HFR0042``),
which FLASH and NIACT traffic requires and which frees the post's window at the switch. It answers
the switch's channel check (ZIC, §412c), compares a day's last number when a new series begins
(ZID, §413b), reports two messages under one number (ZFQ, §429), one under two (ZFU, §430) and one
without (ZFT, §432), takes for relay what comes by its line for another station (§307-308), and
checks each originator's MCN series to it (5 FAH-2 H-321.7).

`PostStation.read` is pure; `serve_post` is its I/O on a bus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

from router.bus import topics
from router.cable.models import Precedence
from router.cable.parser import parse_cable
from router.errors import CableParseError, NotACopyError
from router.network.channel import (
    BELL,
    ZFT,
    ZFU,
    ZIC,
    ZID,
    Continuity,
    duplicate_notice,
    duplicate_report,
    end_of_series,
    post_service,
    read_copy,
    read_signal,
    receipt,
    zfx,
)
from router.sim.numbers import McnSeries, NumberLog

if TYPE_CHECKING:
    from collections.abc import Callable

    from router.bus.mqtt import BrokerAddress, MqttBus
    from router.bus.protocol import Bus
    from router.cable.models import Cable
    from router.network.channel import Copy


class Reading(NamedTuple):
    """What the post makes of one payload on its channel, and what it sends back."""

    transmission_id: str | None
    cable: Cable | None
    """The message, when it is new to the post: what an operator would see."""
    duplicate: bool
    """A message the post already had: filed, not shown."""
    cancelled: bool
    """A busted transmission's cancellation: its serial is accounted for, nothing to read."""
    receipt: bytes | None
    report: bytes | None
    """A ZFX service message, when serials were skipped."""
    problem: str | None
    """Why the payload could not be read, if it could not."""
    precedence: Precedence | None = None
    """The copy's own precedence, its FL2 prosign as sent to this post: what it is receipted and shown at."""
    bell: bool = False
    """The copy came with the bell signal (a FLASH, §151b): rung, not printed."""
    notice: bytes | None = None
    """A service message to the switch: an exact duplicate, not piloted, received and filed (§428a),
    the answer to a channel check (ZIC, §412c), or a discrepancy in numbering (ZFQ, ZFU, ZFT)."""
    service: str | None = None
    """A service message from the switch (``UNCLAS SVC ZFR HFR0002``): for the operator, not a cable."""
    summary: bytes | None = None
    """The end-of-day comparison sent when a new series of numbers begins (§413b): ``ZID HFR0164``."""
    mcn_gaps: tuple[str, ...] = ()
    """MCNs this message shows missing from its originator's series to this post (5 FAH-2
    H-321.7): ``RUEHKO 4886``. Logged by the post for its operator, not sent anywhere."""
    relayed_for: str | None = None
    """The station FL2 calls, when it is not this post: a copy sent by this post's line as that
    station's alternative route (§307-308), taken and receipted for relay, not shown as its own."""


_HEADING_LINES = 4
"""FL2 is looked for this far into a copy (FL1, a bell signal before a FLASH's FL2, FL2)."""


def _unreadable(tid: str | None, problem: str, report: bytes | None = None) -> Reading:
    return Reading(tid, None, duplicate=False, cancelled=False, receipt=None, report=report, problem=problem)


@dataclass(slots=True)
class PostStation:
    """One post's receiving end: continuity per channel and the message ids it holds."""

    ri: str
    channels: dict[str, Continuity] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    last_numbered: str | None = None
    """The last transmission id received: what a message without a number followed (§432b)."""
    mcns: McnSeries = field(default_factory=McnSeries)
    """Each originator's MCN series to this post (5 FAH-2 H-321.7)."""
    numbered: NumberLog = field(default_factory=NumberLog)
    """The messages each recent channel number carried (§429c)."""

    def read(self, payload: bytes) -> Reading:
        """Check a payload's serial, read its message, and say what to send back."""
        try:
            copy = read_copy(payload)
        except NotACopyError as error:
            return _unreadable(None, str(error))
        if not copy.channel:
            return self._unnumbered(copy, payload)
        continuity = self.channels.setdefault(copy.channel, Continuity())
        before = continuity.last
        check = continuity.receive(copy.serial)
        if copy.blanked is not None:
            continuity.receive(copy.blanked)  # recorded as "number only" (§430b): not open
        self.last_numbered = copy.transmission_id
        # A ZFR closes the numbers it quotes (§424b, §424d): they are cancelled, not open.
        closed = {serial for channel, serial in copy.cancels if channel == copy.channel}
        continuity.missing -= closed
        missing = [f"{copy.channel}{serial:04d}" for serial in check.missing if serial not in closed]
        report = zfx(self.ri, missing) if missing else None
        reading = self._read(copy, payload, (before, check.repeated), report)
        if copy.blanked is not None and reading.cable is not None:
            # §430: recorded under the lower number and released; the sender is told.
            blanked = f"{copy.channel}{copy.blanked:04d}"
            quoted = " ".join(reading.cable.message_id.split("-"))
            reading = reading._replace(
                notice=post_service(self.ri, f"{ZFU} {reading.transmission_id} {blanked} {quoted}")
            )
        if check.ended is not None:
            summary = post_service(self.ri, end_of_series(copy.channel, check.ended))
            return reading._replace(summary=summary)
        return reading

    def _read(
        self, copy: Copy, payload: bytes, number: tuple[int | None, bool], report: bytes | None
    ) -> Reading:
        """What the copy is, its number accounted for: a message, a service message or a cancellation.

        ``number``: the last serial received before it, and whether its own was received before.
        """
        before, repeated = number
        tid = copy.transmission_id
        if copy.cancelled or copy.service is not None:
            return Reading(
                tid,
                None,
                duplicate=False,
                cancelled=copy.cancelled,
                receipt=None,
                report=report,
                problem=None,
                service=copy.service,
                notice=self._number_comparison(copy, before),
            )
        if copy.called and self.ri not in copy.called:
            return self._relay(copy, payload, report)
        try:
            cable = parse_cable(copy.cable)
        except CableParseError as error:
            return _unreadable(tid, f"{tid}: unreadable copy: {error}", report)
        if copy.message_id is not None:
            # The identification the switch gave a message that had none (§116) names it from now on.
            cable = cable.model_copy(update={"message_id": copy.message_id})
        precedence = self.copy_precedence(payload) or cable.precedence or Precedence.ROUTINE
        # Held already, or under a number seen before: filed (§427c(1), §428a); but a message
        # bearing ZFG answers a tracer and is always delivered (§438b).
        notice = None
        if copy.channel:  # numbered (§432: a message without a number has none to compare)
            repeated, zfq = self.numbered.same_number(tid, cable.message_id, repeated=repeated)
            notice = post_service(self.ri, zfq) if zfq else None
        duplicate = (repeated or cable.message_id in self.held) and not copy.tracer
        # An exact duplicate under a new number, neither piloted ZFD nor explained (§428a): the
        # switch is told, a duplicate may mean mishandling. A number seen again is a redelivery.
        unexplained = duplicate and not (repeated or copy.suspect)
        text = duplicate_notice(cable.message_id, tid) if unexplained else None
        if text is not None:
            notice = duplicate_report(self.ri, text)
        self.held.add(cable.message_id)
        shown = None if duplicate else cable
        mcn_gaps = self.mcns.check(cable, self.ri) if shown is not None else ()
        return Reading(
            tid,
            shown,
            duplicate,
            cancelled=False,
            receipt=receipt(precedence.letter, tid),
            report=report,
            problem=None,
            precedence=precedence,
            bell=copy.bell,
            notice=notice,
            mcn_gaps=mcn_gaps,
        )

    def _unnumbered(self, copy: Copy, payload: bytes) -> Reading:
        """A message without a channel number: released if otherwise correct, and reported (§432).

        The service message names it and the numbered transmission it followed (§432b:
        ``ZFT RBDAC 148C 17/1712Z DPA125``); without a number it cannot be receipted.
        """
        reading = self._read(copy, payload, (None, False), None)
        if reading.cable is None:
            return reading
        quoted = " ".join(reading.cable.message_id.split("-"))
        text = f"{ZFT} {quoted} {self.last_numbered or 'NONE'}"
        return reading._replace(transmission_id=None, receipt=None, notice=post_service(self.ri, text))

    def _number_comparison(self, copy: Copy, before: int | None) -> bytes | None:
        """The answer to the switch's channel check ``ZID HFR0042``: ``ZIC`` and the last number received.

        §412c's answer, quoting the last number this post received before the check: the same as
        the ZID's when all is well. When it differs, the numbers between are open and the post has
        reported them by ZFX already (the ZID's own number showed them, §433).
        """
        quoted = read_signal(copy.service.encode(), ZID) if copy.service else None
        if quoted is None:
            return None
        last = f"{copy.channel}{before:04d}" if before is not None else "NONE"
        return post_service(self.ri, f"{ZIC} {last}", prosign="PP")

    def _relay(self, copy: Copy, payload: bytes, report: bytes | None) -> Reading:
        """A copy for another station, by this post's line as its alternative route (§307-308).

        The post takes it for relay onward (§308c: it came without a pilot, FL2 calling the
        station) and receipts it at its prosign's precedence; it is not this post's message, so
        it is neither shown nor held (this post may be an addressee of the same cable itself).
        The simulation ends there: the relay beyond is not simulated.
        """
        tid = copy.transmission_id
        fl2 = payload.split(b"\n", 2)[1].removeprefix(BELL)  # FL2 follows FL1 (read_copy found both)
        try:
            precedence = Precedence.from_letter(fl2[:1].decode("ascii", "replace"))
        except KeyError:
            precedence = Precedence.ROUTINE
        letter = precedence.letter
        return Reading(
            tid,
            None,
            duplicate=False,
            cancelled=False,
            receipt=receipt(letter, tid),
            report=report,
            problem=None,
            precedence=precedence,
            bell=copy.bell,
            relayed_for=" ".join(copy.called),
        )

    def copy_precedence(self, payload: bytes) -> Precedence | None:
        """The precedence of this post's copy: the prosign of the FL2 line that names this post.

        Not the cable's FL5 letter: an ``O R`` cable's info copy goes as ``RR`` (§152d), and the
        post handles, shows and receipts it as the ROUTINE it was sent as (§151, §152b-d). FL2 is
        found as the routing line calling this post, wherever the heading puts it (a FLASH's bell
        signal stands before it, §151b).
        """
        fl2 = _routing_line(self.ri)
        for line in payload.split(b"\n", _HEADING_LINES)[1:_HEADING_LINES]:
            if match := fl2.search(line):
                return Precedence.from_letter(match[1].decode())
        return None


@lru_cache(maxsize=64)
def _routing_line(ri: str) -> re.Pattern[bytes]:
    """FL2 calling ``ri`` alone: the prosign (the bell signal may stand right before it), the RI."""
    return re.compile(rb"(?<![A-Z])([RPOZY])\1[ \t]+" + re.escape(ri.encode()) + rb"[ \t\r]*$")


def post_connection(address: BrokerAddress, ri: str, *, session_expiry: int) -> MqttBus:
    """The post's connection: one client id a post (``post-<RI>``) and a persistent session.

    While the post is away the broker keeps its subscription and queues its copies (QoS 1), for
    ``session_expiry`` seconds (MQTT 5; under 3.1.1 the broker's `persistent_client_expiration`)
    and within the broker's queue limits (`max_queued_messages`, `max_queued_bytes`): the
    shipped configs set no queue limit. Each copy is acknowledged only once receipted.
    """
    from router.bus.mqtt import MqttBus  # noqa: PLC0415 (the MQTT client only for a post on a real broker)

    return MqttBus(
        address, client_id=f"post-{ri}", persistent=True, session_expiry=session_expiry, manual_ack=True
    )


async def serve_post(bus: Bus, station: PostStation, on_reading: Callable[[Reading], None]) -> None:
    """Take the post's copies off the bus until cancelled: receipt each, report gaps."""
    await bus.subscribe(topics.copies(station.ri), qos=1)
    async for message in bus.messages():
        reading = station.read(message.payload)
        # Shown before it is receipted: the station holds the message from now on, and a copy
        # redelivered after a lost connection is filed as the duplicate it is, not a first sight.
        on_reading(reading)
        for service in (reading.report, reading.notice, reading.summary):
            if service is not None:
                await bus.publish(topics.service(station.ri), service, qos=1)
        if reading.receipt is not None:
            await bus.publish(topics.receipts(station.ri), reading.receipt, qos=1)
        await bus.ack(message)
