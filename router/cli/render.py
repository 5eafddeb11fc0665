"""What the commands print: a cable, a routing decision, a post's reading; pure functions of values."""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.readout.terminal import visible

if TYPE_CHECKING:
    from pathlib import Path

    from router.cable.models import Addressee, Cable
    from router.routing.decide import RoutingDecision
    from router.sim.post import Reading


def summary(path: Path, cable: Cable) -> str:
    """A cable in a few lines: identity and precedence, originator, and each addressee."""
    precedence = cable.precedence.value if cable.precedence else "-"
    if cable.info_precedence and cable.info_precedence != cable.precedence:
        precedence += f"/{cable.info_precedence.value}"
    security = cable.classification.value if cable.classification else "UNMARKED"
    if cable.caveats:
        security += "//" + "/".join(cable.caveats)
    dtg = cable.dtg.strftime("%d%H%MZ %b %y").upper() if cable.dtg else "no DTG"
    lines = [
        f"{path}  {cable.family}  {precedence}  {dtg}  {security}",
        f"  id {cable.message_id}" + (f"  ref {cable.reference}" if cable.reference else ""),
    ]
    if cable.originator:
        ri = f" ({cable.originator_ri})" if cable.originator_ri else ""
        lines.append(f"  FM   {cable.originator}{ri}")
    lines.extend(_addressee_line("TO", a) for a in cable.to)
    lines.extend(_addressee_line("INFO", a) for a in cable.info)
    lines.extend(f"  XMT  {x.name}" for x in cable.xmt)
    if cable.subject:
        lines.append(f"  SUBJECT {cable.subject}")
    return "\n".join(lines)


def _addressee_line(role: str, addressee: Addressee) -> str:
    marks = [addressee.precedence.value]
    if addressee.niact:
        marks.insert(0, "NIACT")
    if addressee.mcn:
        marks.append(f"MCN {addressee.mcn}")
    if addressee.zen:
        marks.append("ZEN (delivered by other means)")
    if addressee.pouch:
        marks.append("POUCH (by diplomatic pouch)")
    ri = addressee.ri or "-"
    return f"  {role:<4} {ri:<8} {addressee.name:<40} {' '.join(marks)}"


def decision_record(path: Path, cable: Cable, decision: RoutingDecision) -> dict[str, object]:
    """A routing decision as the JSON object `router route --json` prints."""
    return {
        "file": str(path),
        "message_id": cable.message_id,
        "deliveries": [
            {"post": d.post, "precedence": d.precedence.value, "role": d.role, "niact": d.niact, "via": d.via}
            for d in decision.deliveries
        ],
        "intercepts": [
            {"addressee": i.addressee, "reason": i.reason} | ({"post": i.post} if i.post else {})
            for i in decision.intercepts
        ],
        "zen": [a.name for a in decision.zen],
        "pouch": [a.name for a in decision.pouched],
        "exempted": list(decision.exempted),
    }


def decision_summary(path: Path, cable: Cable, decision: RoutingDecision) -> str:
    """A routing decision in a few lines: one per delivery and per intercept."""
    counts = f"{len(decision.deliveries)} deliveries, {len(decision.intercepts)} intercepts"
    lines = [f"{path}  {cable.message_id}  {counts}"]
    for d in sorted(decision.deliveries, key=lambda d: (-d.precedence.rank, d.post)):
        niact = " NIACT" if d.niact else ""
        lines.append(f"  -> {d.post:<8} {d.precedence.value:<9} {d.role:<6}{niact}  via {d.via}")
    lines.extend(f"  !! {i.addressee or '(no addressees)'}: {i.reason}" for i in decision.intercepts)
    lines.extend(f"  ZEN {a.name} (delivered by other means)" for a in decision.zen)
    lines.extend(f"  POUCH {a.name} (by diplomatic pouch, not over the network)" for a in decision.pouched)
    return "\n".join(lines)


_FRAME = frozenset({"BT", "NNNN"})
"""Lines of a service message that frame its text."""


def reading_line(reading: Reading) -> str:
    """One line a copy, as the post's operator sees it; the copy's control characters made visible."""
    tid = reading.transmission_id or "-"
    if reading.problem is not None:
        line = f"{tid}  {reading.problem}"
    elif reading.cancelled:
        line = f"{tid}  cancelled (busted): serial used, message follows again"
    elif reading.service is not None:
        line = f"{tid}  service message: {reading.service}"
    elif reading.relayed_for is not None:
        line = f"{tid}  for {reading.relayed_for}: taken for relay (alternative route)"
    elif reading.cable is None:
        line = f"{tid}  duplicate, filed"
    else:
        cable = reading.cable
        # The copy's own precedence (its FL2), not the cable's FL5 letter (§152d).
        shown = reading.precedence or cable.precedence
        precedence = shown.value if shown else "-"
        line = f"{precedence:<9} {tid}  {cable.message_id}  {cable.subject or ''}"
    line = visible(line)  # a cable's subject is the writer's text: an escape in it must not reach the screen
    if reading.bell:
        line = "\a" + line  # the FLASH bell (ACP 127 §151b) rings the operator's terminal, it is not text
    if reading.report is not None:
        missing = reading.report.decode().split("ZFX ", 1)[1].split("\n", 1)[0]
        line += f"\n{'':9} gap: ZFX {visible(missing)} sent"
    for sent in (reading.notice, reading.summary):
        if sent is not None:
            # The service message's signal line: what the post told the switch (ZIC, ZFQ, ZID, ...).
            said = [text for text in sent.decode("ascii", "replace").splitlines() if text not in _FRAME]
            line += f"\n{'':9} sent: {visible(said[-1] if said else '')}"
    if reading.mcn_gaps:
        line += f"\n{'':9} MCN gap: {visible(', '.join(reading.mcn_gaps))} not received (not reported)"
    return line
