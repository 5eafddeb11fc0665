"""The switch's service messages on its lines, and the silent-channel check (ACP 127 §412).

A service message waits for its post's line to be up and idle, then goes ahead of any copy under a
channel serial of its own (§424d's form, `router.network.channel.service_message`). A line with no
transmission for `check_after` network seconds (30 minutes, §412b) gets a PRIORITY channel check,
``ZID HFR0042``, quoting the last number sent; the post answers ``ZIC`` with the last it received.

ACP 127 has the receiving station originate the ZID (§412b) and the sending station answer ZIC
(§412c); here the switch, the only party that keeps the network's clock, sends the number
comparison itself, as a channel check may be sent by either end of a channel (§412e-f). A post whose
last number differs reports the open numbers by ZFX (§433), which the ZID's own number shows it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

from router.bus import topics
from router.journal.writes import ServiceSent
from router.network.channel import ZFR, ZID, service_message
from router.network.line import CHECK_AFTER

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from router.network.line import Line
    from router.switch.actions import Actions


def _cause(text: str) -> str:
    """What a service message is, for the journal: zfr (§424d), zid (§412b) or duplicate (§428a)."""
    for signal, cause in ((ZFR, "zfr"), (ZID, "zid")):
        if text.startswith(signal + " "):
            return cause
    return "duplicate"


class Services:
    """Service messages waiting per post, the transmissions to cancel, and each line's silence."""

    __slots__ = ("_actions", "_topic", "check_after", "checked", "cut", "quiet", "waiting")

    def __init__(
        self, actions: Actions, check_after: float = CHECK_AFTER, topic: Callable[[str], str] = topics.copies
    ) -> None:
        self._actions = actions
        self._topic = topic
        """Where a line's traffic goes (a post's copies topic, or a trunk's)."""
        self.check_after = check_after
        self.waiting: dict[str, list[str]] = {}
        """Service messages waiting for their post's line to be up and idle: their text."""
        self.cut: dict[str, list[str]] = {}
        """Transmissions cut by a line going down, per post: cancelled by ZFR when it is back (§424d)."""
        self.quiet: OrderedDict[str, float] = OrderedDict()
        """Each line's last traffic (network time), the longest silent first."""
        self.checked: dict[str, str] = {}
        """The transmission id each post's last channel check quoted: what its ZIC should quote."""

    def add(self, post: str, text: str) -> None:
        """A service message for ``post``, to go when its line can take it."""
        self.waiting.setdefault(post, []).append(text)

    def pending(self, post: str) -> bool:
        """Whether service messages wait for the post's line."""
        return bool(self.waiting.get(post))

    def send(self, post: str, line: Line, now: float) -> None:
        """The service messages waiting for the line, each under a number of its own, before any copy.

        Sent between transmissions and taking no line time: a few dozen characters (a
        simplification of the line's timing, not of its numbering). A ZID goes PRIORITY (§412b).
        """
        waiting = self.waiting[post]
        while waiting and (tid := line.number(now)) is not None:
            text = waiting.pop(0)
            cause = _cause(text)
            prosign = "PP" if cause == "zid" else "RR"
            payload = service_message(tid, post, text, now, prosign=prosign)
            self._actions.send(self._topic(post), payload)
            self._actions.writes.append(
                ServiceSent(post, line.channel, line.serial, cause, text, len(payload), now)
            )
            self._actions.event("service-message", post=post, transmission=tid, text=text)
            self.heard(post, now)

    def heard(self, post: str, now: float) -> None:
        """The post's line carried something at ``now``: its silence starts again."""
        self.quiet.pop(post, None)
        self.quiet[post] = now

    def due(self) -> float | None:
        """When the longest silent line will have been silent `check_after`."""
        for since in self.quiet.values():
            return since + self.check_after
        return None

    def check(self, now: float, lines: Mapping[str, Line]) -> list[str]:
        """A ZID for each line silent `check_after` by ``now`` (§412b); the posts it is queued for.

        Not a line that is down (checked again `check_after` later), sending (a transmission
        longer than the silence), or that has sent nothing yet.
        """
        checked = []
        while self.quiet:
            post, since = next(iter(self.quiet.items()))
            if since + self.check_after > now:
                break
            self.heard(post, now)
            line = lines[post]
            if not line.up or line.current is not None or not line.serial:
                continue
            tid = f"{line.channel}{line.serial:04d}"
            self.checked[post] = tid
            self.add(post, f"{ZID} {tid}")
            checked.append(post)
        return checked
