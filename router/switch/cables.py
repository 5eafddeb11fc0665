"""The cables just routed, kept in memory for their copies; the others are read from the journal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.bus.properties import copy_properties
from router.journal.writes import Identified
from router.network.channel import identification, identify, line_characters, message_part

if TYPE_CHECKING:
    from router.cable.models import Cable
    from router.network.line import LineCode
    from router.switch.actions import Actions, JournalReads

COPY_PROPERTIES = copy_properties(b"")
"""A copy's MQTT 5 properties when its cable had none to keep: its content type alone."""
RECENT_CABLES = 512
"""Cables kept in memory for their copies: those just routed. The rest are read from the journal."""
RECENT_BYTES = 64 * 1024 * 1024
"""Bytes of message parts kept in memory at most: 512 cables of 4 MB would be 2 GB (the corpus's
2,974 cables are 24 MB together). A cable larger than this alone is read from the journal each time."""


class RecentCables:
    """What every copy of a cable carries (its message part), and its message id, by journal id.

    Bounded by count and by bytes, the oldest going first. It also keeps, for the cables it holds,
    the bytes their copies put on the bus (their fan-out): the switch's recent amplification, which
    the intake holds to a budget (`fanout`).
    """

    __slots__ = (
        "_actions",
        "_characters",
        "_fanout",
        "_held",
        "_journal",
        "_properties",
        "_recent",
        "fanout",
        "max_bytes",
        "max_count",
        "now",
    )

    def __init__(
        self,
        journal: JournalReads,
        actions: Actions | None = None,
        *,
        max_count: int = RECENT_CABLES,
        max_bytes: int = RECENT_BYTES,
    ) -> None:
        self._journal = journal
        self._actions = actions
        self._characters: dict[tuple[int, LineCode], int] = {}
        """Characters each held cable's message part takes on a line of each code."""
        self.now = 0.0
        """The time of what the switch is handling: a cable without FL3 is filed then (§115)."""
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._recent: dict[int, tuple[bytes, str | None]] = {}
        self._properties: dict[int, bytes] = {}
        """A held cable's copies' MQTT 5 properties (`router.bus.properties.copy_properties`), if it
        came with any to keep; the others' copies carry `COPY_PROPERTIES`."""
        self._held = 0
        """Bytes of the message parts held."""
        self._fanout: dict[int, int] = {}
        self.fanout = 0
        """Bytes of the copies of the cables held, as charged (`charge`)."""

    @property
    def held(self) -> int:
        """Bytes of message parts in memory."""
        return self._held

    def get(self, cable_id: int) -> tuple[bytes, str | None]:
        """From memory if the cable was just routed, else from the journal."""
        recent = self._recent.get(cable_id)
        if recent is None:
            raw, message_id = self._journal.cable(cable_id)
            kept = self._journal.kept_properties(cable_id)
            recent = self.remember(cable_id, raw, message_id, properties=kept)
        return recent

    def properties(self, cable_id: int) -> bytes:
        """The MQTT 5 properties of the cable's copies: a content type, and what they keep of its own.

        For a cable held (`get` holds the one it reads from the journal); any other, the content type.
        """
        return self._properties.get(cable_id, COPY_PROPERTIES)

    def remember(
        self,
        cable_id: int,
        raw: bytes,
        message_id: str | None,
        cable: Cable | None = None,
        *,
        properties: bytes = b"",
    ) -> tuple[bytes, str | None]:
        """Keep a cable's message part (the oldest kept go when the count or the bytes are full).

        The message id returned is the one its copies carry: for a cable that had no FL3, the
        identification the switch gave it (`identify`), journalled the first time. ``cable``: the
        cable as the intake read it, which spares reading it again (a big one, on the switch's loop).
        ``properties``: the MQTT 5 properties its copies keep of the cable's (`kept_on_copies`).
        """
        given, message_id = self._identification(cable_id, raw, message_id, cable)
        part = message_part(raw, given)
        recent = (part, message_id)
        if len(part) > self.max_bytes or cable_id in self._recent:
            return recent
        while self._recent and (
            len(self._recent) >= self.max_count or self._held + len(part) > self.max_bytes
        ):
            self._forget(next(iter(self._recent)))
        self._recent[cable_id] = recent
        self._held += len(part)
        if properties:
            self._properties[cable_id] = copy_properties(properties)
        return recent

    def _identification(
        self, cable_id: int, raw: bytes, message_id: str | None, cable: Cable | None
    ) -> tuple[bytes, str | None]:
        """The FL3 (and FL4) the switch gives a cable without FL3, and its message id; none if it has FL3."""
        if message_id is None or not message_id.startswith("X-"):
            return b"", message_id  # identified by its FL3 (the parser's ids without one are digests)
        found = self._journal.identification(cable_id)
        if found is not None:
            return found
        if cable is not None:
            heading = identification(cable_id, self.now, cable.classification)
        else:
            heading = identify(raw, cable_id, self.now)
        ri, ssn, filed = heading.split(b"\n", 1)[0].decode().split()[1:4]
        given = f"{ri}-{ssn.lstrip('#')}-{filed}"
        if self._actions is not None:
            self._actions.writes.append(Identified(cable_id, given, heading))
        return heading, given

    def characters(self, cable_id: int, code: LineCode) -> int:
        """Characters the cable's message part takes on a line of ``code`` (`line_characters`)."""
        key = (cable_id, code)
        found = self._characters.get(key)
        if found is None:
            found = line_characters(self.get(cable_id)[0], code)
            if cable_id in self._recent:
                self._characters[key] = found
        return found

    def charge(self, cable_id: int, size: int) -> None:
        """Count ``size`` bytes of copies against a cable held; released when it leaves memory."""
        if size and cable_id in self._recent:
            self._fanout[cable_id] = self._fanout.get(cable_id, 0) + size
            self.fanout += size

    def _forget(self, cable_id: int) -> None:
        part, _ = self._recent.pop(cable_id)
        self._held -= len(part)
        self._properties.pop(cable_id, None)
        self._characters.pop((cable_id, "ita2"), None)
        self._characters.pop((cable_id, "ascii"), None)
        self.fanout -= self._fanout.pop(cable_id, 0)
