"""One cable's way through the switch, from the journal: `router trace MESSAGE-ID`.

AUTODIN switches kept a journal copy of every message, indexed by addressee, so that any message
could be traced (DOMAIN). This reads the router's journal the same way: each time the cable came in
(a duplicate is a second arrival), what became of it, and for each addressee post its copy's
transmissions (channel serial, why it was sent, how it ended) and its receipt; then the addressees
held for an operator (intercepts) and those the network does not deliver to (ZEN, POUCH, XMT).
Read-only: the router may be writing the journal meanwhile.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from router.errors import JournalReadError
from router.journal import queries

if TYPE_CHECKING:
    from router.journal.dialect import Connection


@dataclass(frozen=True, slots=True)
class TransmissionTrace:
    """One transmission of a copy down its post's line."""

    transmission: str
    """Channel designator and serial, as FL1 carries them: ``HFR0042``."""
    cause: str
    outcome: str
    started_at: float
    ended_at: float | None
    characters: int
    via: str | None = None
    """The post whose line carried it when not the copy's own: its alternative route (§307)."""


@dataclass(frozen=True, slots=True)
class CopyTrace:
    """One addressee post's copy: its precedence, its state, and every transmission of it."""

    post: str
    precedence: str
    role: str
    niact: bool
    via: str
    state: str
    queued_at: float
    delivered_at: float | None
    acknowledged_at: float | None
    transmissions: tuple[TransmissionTrace, ...]


@dataclass(frozen=True, slots=True)
class InterceptTrace:
    """An addressee held for an operator, and why."""

    addressee: str
    reason: str
    post: str | None


@dataclass(frozen=True, slots=True)
class SetAsideTrace:
    """An addressee the network does not deliver to: zen, pouch, exempted or originator."""

    addressee: str
    reason: str


@dataclass(frozen=True, slots=True)
class CableTrace:
    """One arrival of the cable at the switch and what became of it."""

    journal_id: int
    message_id: str | None
    topic: str
    received_at: float
    status: str
    """routed, duplicate, rejected, or received (not yet routed)."""
    detail: dict[str, Any] | None
    """Why it was rejected (line, column, field, reason), or which arrival it duplicates."""
    copies: tuple[CopyTrace, ...]
    intercepts: tuple[InterceptTrace, ...]
    set_aside: tuple[SetAsideTrace, ...]
    identified_as: str | None = None
    """The message identification the switch gave a cable without FL3, which its copies carry (§116)."""
    journal: str = ""
    """The journal it was read from: a centre's, where the cable is traced through several (a hop each)."""


def read_trace(journal: Path | str, key: str) -> list[CableTrace]:
    """Every arrival of the cable ``key`` names: a message id, or a journal id (digits)."""
    try:
        with queries.read_only(journal) as db:
            return [
                replace(_cable(db, cable_id), journal=str(journal)) for cable_id in queries.cable_ids(db, key)
            ]
    except queries.ERRORS as exc:
        raise JournalReadError(str(journal), str(exc)) from exc


def _cable(db: Connection, cable_id: int) -> CableTrace:
    cable = queries.cable(db, cable_id)
    copies = queries.copies(db, cable_id)
    intercepts = queries.intercepts(db, cable_id)
    set_aside = queries.set_aside(db, cable_id)
    return CableTrace(
        journal_id=cable_id,
        message_id=cable.message_id,
        topic=cable.topic,
        received_at=cable.received_at,
        status=cable.status,
        detail=cable.detail,
        copies=tuple(_copy(db, copy) for copy in copies),
        intercepts=tuple(InterceptTrace(*row) for row in intercepts),
        set_aside=tuple(SetAsideTrace(*row) for row in set_aside),
        identified_as=queries.identification(db, cable_id),
    )


def _copy(db: Connection, copy: queries.CopyRow) -> CopyTrace:
    transmissions = tuple(
        TransmissionTrace(
            f"{s.channel}{s.serial:04d}",
            s.cause,
            s.outcome,
            s.started_at,
            s.ended_at,
            s.characters,
            s.line if s.line != copy.post else None,
        )
        for s in queries.sent(db, copy.id)
    )
    return CopyTrace(
        copy.post,
        copy.precedence,
        copy.role,
        copy.niact,
        copy.via,
        copy.state,
        copy.queued_at,
        copy.delivered_at,
        copy.acknowledged_at,
        transmissions,
    )


def in_hop_order(traces: list[CableTrace]) -> list[CableTrace]:
    """The arrivals in the order the cable reached them: by time, then hop by hop along the trunks.

    An arrival off a trunk (``trunks/<CENTRE>/from/<SENDER>``) is one hop after the sender's own
    arrival; an intake's is the first. The network's clock may give several hops the same time.
    """
    senders = {}
    for trace in traces:
        parts = trace.topic.split("/")
        if len(parts) == 4 and parts[0] == "trunks" and parts[2] == "from":
            senders[parts[1]] = parts[3]

    def hops(topic: str) -> int:
        centre, count = topic.split("/")[1] if topic.startswith("trunks/") else "", 0
        while centre in senders and count < len(senders):  # bounded: a loop in the data ends here
            centre, count = senders[centre], count + 1
        return count

    return sorted(traces, key=lambda trace: (trace.received_at, hops(trace.topic)))


def trace_json(traces: list[CableTrace]) -> list[dict[str, Any]]:
    """The traces as JSON-ready dicts (times are the network's, UNIX seconds)."""
    return [asdict(trace) for trace in traces]


def render_trace(traces: list[CableTrace]) -> str:
    """The traces as text: a line for each arrival, copy, transmission and intercept."""
    lines: list[str] = []
    hops = len({trace.journal for trace in traces}) > 1
    for trace in traces:
        if hops:  # through several centres' journals, in the order it reached them
            lines.append(f"at {Path(trace.journal).name}:")
        identified = f"  on the wire {trace.identified_as}" if trace.identified_as else ""
        lines.append(
            f"{trace.message_id or '(no message id)'}{identified}  journal {trace.journal_id}"
            f"  {_status(trace)}  received {_at(trace.received_at)} on {trace.topic}"
        )
        for copy in trace.copies:
            lines.append(_copy_line(trace, copy))
            lines.extend(_transmission_line(sent) for sent in copy.transmissions)
        lines.extend(
            f"  !! {i.addressee or '(no addressees)'}: {i.reason}" + (f" ({i.post})" if i.post else "")
            for i in trace.intercepts
        )
        lines.extend(f"  -- {a.addressee}: {_SET_ASIDE[a.reason]}" for a in trace.set_aside)
    return "\n".join(lines)


_SET_ASIDE = {
    "zen": "ZEN, delivered by other means",
    "pouch": "POUCH, sent by diplomatic pouch",
    "exempted": "exempted from its collective (XMT)",
    "originator": "filed the cable: left out of its collective",
}


def _copy_line(trace: CableTrace, copy: CopyTrace) -> str:
    niact = " NIACT" if copy.niact else ""
    where = f"{copy.post:<8} {copy.precedence:<9} {copy.role:<6}{niact} via {copy.via}"
    return f"  {where}: {_outcome(trace, copy)}"


def _transmission_line(sent: TransmissionTrace) -> str:
    ended = _at(sent.ended_at) if sent.ended_at is not None else "..."
    via = f"  by {sent.via}'s line (alternative route)" if sent.via else ""
    return (
        f"      {sent.transmission}  {sent.cause:<11} {sent.outcome:<9}"
        f" {_at(sent.started_at)} -> {ended}  {sent.characters} characters{via}"
    )


def _status(trace: CableTrace) -> str:
    detail = trace.detail or {}
    if trace.status == "duplicate":
        return f"duplicate of journal {detail.get('original')}: not delivered again"
    if trace.status == "rejected":
        where = f"line {detail.get('line')}, column {detail.get('column')}"
        field = f" {detail['field']}:" if detail.get("field") else ""
        return f"rejected at {where}:{field} {detail.get('reason')}"
    if trace.status == "routed":
        return f"routed to {len(trace.copies)} posts, {len(trace.intercepts)} intercepts"
    return trace.status


def _outcome(trace: CableTrace, copy: CopyTrace) -> str:
    if copy.state == "intercepted":
        # Given up on: no receipt after every resend the switch allows (the intercepts say no-receipt).
        return f"intercepted: no receipt after {len(copy.transmissions)} transmissions"
    if copy.acknowledged_at is not None:
        return f"receipted {_after(trace, copy.acknowledged_at)}"
    if copy.delivered_at is not None:
        return f"delivered {_after(trace, copy.delivered_at)}, no receipt yet"
    return "queued, not yet delivered"


def _after(trace: CableTrace, at: float) -> str:
    return f"{at - trace.received_at:.1f} s after arrival"


def _at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")
