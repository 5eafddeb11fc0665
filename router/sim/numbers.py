"""What a post keeps of the numbers it receives: MCN series per originator, messages per channel number.

Pure: `router.sim.post.PostStation` holds one of each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.network.channel import ZFQ, Continuity

if TYPE_CHECKING:
    from router.cable.models import Cable

MCN_RANGE = 16
"""MCNs of one range on an address line that are checked: a real range spans a few sections."""
MCN_GAP = 16
"""MCNs missing at once past which a gap is a jump in the series, reported as one range."""
NUMBERED = 4096
"""Channel numbers whose messages a post remembers, to tell a repeat from two messages under one
number (§429)."""


@dataclass(slots=True)
class McnSeries:
    """Each originator's MCN series to one post (5 FAH-2 H-321.7), checked as channel numbers are."""

    series: dict[str, Continuity] = field(default_factory=dict)

    def check(self, cable: Cable, ri: str) -> tuple[str, ...]:
        """The MCNs a new cable shows missing from its originator's series to the post ``ri``.

        State numbers each originator's cables to an addressee consecutively: the number after
        the addressee (``RUEHC/SECSTATE WASHDC IMMEDIATE 4887``). A number past the next shows
        the ones between missing (``RUEHC 4886``); one of those arriving later (a higher precedence
        overtakes a lower on the way) fills its gap. The series is the FL3 station's (else the FM
        line's) to the post, found by its RI on the line: a line naming it only by name is not checked.
        """
        originator = cable.message_id.split("-")[0] if cable.station_serial else cable.originator
        gaps: list[str] = []
        for addressee in cable.addressees:
            if addressee.ri != ri or not addressee.mcn or originator is None:
                continue
            first, _, last = addressee.mcn.partition("-")  # a range (08STATE103511: 2276-2279)
            if not first.isdigit() or not (last or first).isdigit():
                continue
            series = self.series.setdefault(originator, Continuity())
            for number in range(int(first), int(last or first) + 1)[:MCN_RANGE]:
                missing = series.receive(number).missing
                if len(missing) > MCN_GAP:
                    # A jump, not a few lost cables: said as one range, and not awaited one by one.
                    series.missing.difference_update(missing)
                    gaps.append(f"{originator} {missing[0]:04d}-{missing[-1]:04d}")
                    continue
                gaps.extend(f"{originator} {serial:04d}" for serial in missing)
        return tuple(gaps)


@dataclass(slots=True)
class NumberLog:
    """The messages each of a post's last `NUMBERED` channel numbers carried (§429c: its records)."""

    numbered: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Transmission id (``HFR0042``): the message ids it carried, oldest number first."""

    def same_number(self, tid: str, message_id: str, *, repeated: bool) -> tuple[bool, str | None]:
        """Whether the copy repeats its number's message, and the ZFQ text when it is another one.

        Two different messages under one number are both released (§429a), and the station they
        came from is told (§429b: ``ZFQ RUCDSQ 149A RUEAFF 167C WFA145``, both messages by their
        originating RI and serial, then the number).
        """
        # A number new to the post (or begun again in a new series, §413a) is this message's alone.
        earlier = self.numbered.pop(tid, ()) if repeated else ()
        self.numbered[tid] = earlier if message_id in earlier else (*earlier, message_id)
        if len(self.numbered) > NUMBERED:
            del self.numbered[next(iter(self.numbered))]
        if not earlier:
            # No message came under this number before: it repeats none, whatever the numbers'
            # order says. A new series the continuity cannot see looks like that: a day's 0001
            # after another day's that carried only a service message (a channel check, §412b).
            return False, None
        if message_id in earlier:
            return repeated, None
        quoted = " ".join(" ".join(m.split("-")[:2]) for m in (earlier[0], message_id))
        return False, f"{ZFQ} {quoted} {tid}"
