"""Messages keyed by an RI the switch does not know: rejected, no state; logged once per RI, then counted."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from router.bus.topics import Kind
    from router.switch.actions import Actions

UNKNOWN_LOGGED = 1024
"""Unknown RIs logged one by one; beyond, they are counted only: a flood of made-up RIs costs no memory."""


class Strangers:
    """The unknown RIs already logged (up to `UNKNOWN_LOGGED`)."""

    __slots__ = ("_actions", "_logged")

    def __init__(self, actions: Actions) -> None:
        self._actions = actions
        self._logged: set[str] = set()

    def __contains__(self, ri: object) -> bool:
        return ri in self._logged

    def tell(self, kind: Kind, ri: str) -> None:
        """A message keyed by an RI the table does not know: rejected, no state; logged once per RI.

        The RIs logged are remembered up to `UNKNOWN_LOGGED`; past that, the rest are only counted
        (``unknown-station`` in router/status), after one ``unknown-stations-not-logged``.
        """
        actions = self._actions
        if ri in self._logged:
            actions.counts["unknown-station"] += 1
            return
        if len(self._logged) < UNKNOWN_LOGGED:
            self._logged.add(ri)
            actions.event("unknown-station", ri=ri[:20], topic=kind.value + ri[:20])
            return
        actions.counts["unknown-station"] += 1
        if not actions.counts["unknown-stations-not-logged"]:
            actions.event("unknown-stations-not-logged", after=UNKNOWN_LOGGED)
