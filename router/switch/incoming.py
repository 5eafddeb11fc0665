"""The receiving end of a centre's trunks: the continuity of each one's channel numbers (ACP 127 §412).

The responsibility for the continuity of received numbers rests with the station receiving the
traffic (§412a). A centre checks the FL1 serial of everything that comes on each incoming trunk
(a transmission, a cancellation, a service message: each spent a number) as a post checks its
line, with the same check (`router.network.channel.Continuity`):

- a number skipped is reported to the sending centre at once by a ZFX (§433), on
  ``trunks/<SENDER>/svc/<ME>`` (`router.bus.topics.trunk_service`); the sender answers it from its
  journal as it answers a post's (`router.switch.posts.Posts.service_message`): the missed copy
  again under a new number, without a pilot as in §433b's example (the neighbour never had it),
  or a ZFR for a number that carried none (§424d, §433b);
- a ZFR from the sender closes the numbers it quotes: cancelled, not open (§424b, §424d);
- the sender's channel check of a silent trunk, ``ZID PDE0041`` (§412b), is answered ``ZIC`` and
  the last number received before it (§412c); the sender compares the two (§412d).

What is checked is the receiving end's memory only, as at a post: a restarted centre begins each
trunk's check again from the first number it hears.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from router.bus import topics
from router.network.channel import ZFR, ZFX, ZIC, ZID, Continuity, post_service, read_signal

if TYPE_CHECKING:
    from router.switch.actions import Actions

_FL1 = re.compile(rb"VZCZC([A-Z]{3})(\d{4})\b")
"""FL1 as a centre sends it (`router.network.trunk.write_transmission`, a cancellation, a service message)."""
_TID = re.compile(r"\b([A-Z]{3})(\d{4})\b")


class IncomingTrunks:
    """Each incoming trunk's numbers as received, by the neighbour that sends on it."""

    __slots__ = ("_actions", "_channels", "centre")

    def __init__(self, centre: str, actions: Actions) -> None:
        self.centre = centre
        self._actions = actions
        self._channels: dict[str, Continuity] = {}

    def heard(self, neighbour: str, payload: bytes) -> None:
        """Account for what came from ``neighbour`` under its FL1: report a gap (ZFX), answer a ZID (ZIC)."""
        fl1 = _FL1.match(payload)
        if fl1 is None:
            return  # no number to account for: what it is is the relay's to say (rejected, §402c)
        channel, serial = fl1[1].decode(), int(fl1[2])
        continuity = self._channels.setdefault(neighbour, Continuity())
        before = continuity.last
        check = continuity.receive(serial)
        cancelled = read_signal(payload, ZFR) or []
        closed = {int(s) for c, s in _TID.findall(" ".join(cancelled)) if c == channel}
        continuity.missing -= closed
        missing = [f"{channel}{number:04d}" for number in check.missing if number not in closed]
        reply = topics.trunk_service(neighbour, self.centre)
        if missing:
            # §433a: reported at once, by IMMEDIATE service message, that the numbers are open.
            report = post_service(self.centre, f"{ZFX} {' '.join(missing)}", prosign="OO")
            self._actions.send(reply, report)
            self._actions.event("trunk-gap", centre=neighbour, serials=missing)
        if read_signal(payload, ZID) is not None:
            last = f"{channel}{before:04d}" if before is not None else "NONE"
            self._actions.send(reply, post_service(self.centre, f"{ZIC} {last}", prosign="PP"))
            self._actions.event("trunk-channel-check", centre=neighbour, received=last)
