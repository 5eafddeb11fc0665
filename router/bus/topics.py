"""Every topic the network uses, in one place: their names, how they are built and how they are read.

The switch subscribes to the filters; posts, publishers and operators build the topics with the
functions; nothing else spells a topic out. The last level of a per-post topic is the post's RI.

A switching centre of a network (issue 16: ``router run --centre NAME``) takes its cables on
``centres/<NAME>/in/#`` (the single switch keeps ``cables/in/#``), sends a neighbour its trunk
transmissions on ``trunks/<NEIGHBOUR>/from/<NAME>`` and hears their receipts on
``trunks/<NAME>/ack/<NEIGHBOUR>`` and the neighbour's service messages about them (a gap report,
ZFX; the answer to a channel check, ZIC) on ``trunks/<NAME>/svc/<NEIGHBOUR>``, as a post's come on
``cables/ack/<RI>`` and ``cables/svc/<RI>``; it listens on ``trunks/<NAME>/from/+`` for what its neighbours
send it, and on ``trunks/<NAME>/line/+`` for an operator's ``down`` and ``up`` of a trunk. Its
posts' topics are the single switch's (``cables/out/<RI>``, ``cables/ack/<RI>``, ...): a post does
not know which centre serves it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

INTAKE = "cables/in/#"
"""Cables for the switch, one level (or more) below ``cables/in``: ``router publish`` names it."""
RECEIPTS = "cables/ack/+"
"""Receipts from the posts (``R Z HFR0042``) on cables/ack/<RI>."""
SERVICE = "cables/svc/+"
"""Service messages from the posts: ZFX, the serials a post never received, on cables/svc/<RI>."""
LINE_CONTROL = "router/line/+"
"""Line control: ``down`` or ``up`` on router/line/<RI> (`router line down RUEHFR`)."""
RETRANSMIT = "router/retransmit/+"
"""Requests to send a post a message again: its message id on router/retransmit/<RI>."""
REJECTED = "cables/rejected"
INTERCEPTED = "cables/intercept"
LOG = "router/log"
STATUS = "router/status"

CENTRE_INTAKE = "centres/+/in/#"
"""Every centre's intake (`centre_intake`): what a centre reads its cables from."""
TRUNKS = "trunks/#"
"""Every trunk's traffic and receipts (`trunk`, `trunk_receipts`)."""
CENTRE_STATUS = "router/status/+"
"""Each centre's retained status (`status`)."""
TRUNK_CONTROL = "trunks/+/line/+"
"""Every centre's trunk control (`trunk_control`): what an operator writes."""

SUBSCRIBED = (RECEIPTS, SERVICE, LINE_CONTROL, RETRANSMIT, INTAKE)
"""What the switch listens to; the intake last, so that receipts are heard before new traffic."""


class Kind(StrEnum):
    """What a message the switch receives is, by its topic."""

    CABLE = "cables/in/"
    RECEIPT = "cables/ack/"
    SERVICE = "cables/svc/"
    LINE_CONTROL = "router/line/"
    RETRANSMIT = "router/retransmit/"
    TRUNK = "trunks/from/"
    """A transmission from a neighbouring centre, on trunks/<ME>/from/<NEIGHBOUR> (`read_centre_topic`)."""
    TRUNK_RECEIPT = "trunks/ack/"
    """A neighbour's receipt for a trunk transmission, on trunks/<ME>/ack/<NEIGHBOUR>."""
    TRUNK_CONTROL = "trunks/line/"
    """``down`` or ``up`` for the centre's trunk to a neighbour, on trunks/<ME>/line/<NEIGHBOUR>."""
    TRUNK_SERVICE = "trunks/svc/"
    """A neighbour's service message (ZFX, ZIC) about the trunk to it, on trunks/<ME>/svc/<NEIGHBOUR>."""


_POST_KINDS = (Kind.CABLE, Kind.RECEIPT, Kind.SERVICE, Kind.LINE_CONTROL, Kind.RETRANSMIT)
_PREFIXES = tuple((kind.value, kind) for kind in _POST_KINDS)
"""Each kind's prefix, as a plain string: every message the switch takes is read with them."""
_BARE_INTAKE = Kind.CABLE.value.rstrip("/")


def read_topic(topic: str) -> tuple[Kind, str] | None:
    """The kind of a topic the switch receives and its last level (the post's RI, or a cable's name).

    A cable may come on ``cables/in`` itself as well as below it: MQTT's ``cables/in/#`` matches
    both. A per-post topic has exactly one level after its kind (its ``+``). None for a topic
    that is none of the switch's.
    """
    if topic == _BARE_INTAKE:
        return Kind.CABLE, ""
    for prefix, kind in _PREFIXES:
        if topic.startswith(prefix):
            last = topic[len(prefix) :]
            if kind is not Kind.CABLE and "/" in last:
                return None
            return kind, last.rsplit("/", 1)[-1]
    return None


def read_centre_topic(centre: str, topic: str) -> tuple[Kind, str] | None:
    """`read_topic` for the centre ``centre``: its intake, its trunks, and its posts' topics.

    The single switch's intake (``cables/in/...``) is none of a centre's; a trunk topic names the
    neighbour in its last level, exactly one level after ``from/`` or ``ack/``.
    """
    own = f"centres/{centre}/in"
    if topic == own or topic.startswith(own + "/"):
        return Kind.CABLE, topic.rsplit("/", 1)[-1]
    trunk_kinds = (
        (Kind.TRUNK, "from"),
        (Kind.TRUNK_RECEIPT, "ack"),
        (Kind.TRUNK_SERVICE, "svc"),
        (Kind.TRUNK_CONTROL, "line"),
    )
    for kind, middle in trunk_kinds:
        prefix = f"trunks/{centre}/{middle}/"
        if topic.startswith(prefix):
            neighbour = topic[len(prefix) :]
            return None if not neighbour or "/" in neighbour else (kind, neighbour)
    read = read_topic(topic)
    return None if read is None or read[0] is Kind.CABLE else read


def heard_ahead(topic_filter: str) -> bool:
    """Whether the switch hears a filter ahead of the intake's backlog (`Bus.subscribe`'s ``ahead``).

    Receipts, service messages and commands are small, and each one frees or steers what the
    switch holds: they must not queue behind a flood of cables. Cables (an intake, a trunk's
    traffic) are the flood.
    """
    return not (topic_filter == INTAKE or topic_filter.startswith("centres/") or "/from/" in topic_filter)


def centre_subscriptions(centre: str) -> tuple[str, ...]:
    """What the centre ``centre`` hears: its posts', its trunks' receipts and traffic, its intake last."""
    return (
        RECEIPTS,
        SERVICE,
        LINE_CONTROL,
        RETRANSMIT,
        f"trunks/{centre}/ack/+",
        f"trunks/{centre}/svc/+",
        f"trunks/{centre}/line/+",
        f"trunks/{centre}/from/+",
        f"centres/{centre}/in/#",
    )


def one_by_one(posts: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The posts' filters a centre subscribes to in place of each wide one a broker refuses it.

    A centre is granted its own posts' topics only. Mosquitto grants ``cables/ack/+`` all the same
    and delivers only what the ACL allows; NATS refuses a filter wider than the grants (a SUBACK
    failure code). There the centre subscribes to each of its posts' topics instead: many more
    subscriptions, so only where the wide one is refused.
    """
    posts = list(posts)
    return {
        RECEIPTS: tuple(receipts(ri) for ri in posts),
        SERVICE: tuple(service(ri) for ri in posts),
        LINE_CONTROL: tuple(line_control(ri) for ri in posts),
        RETRANSMIT: tuple(retransmit(ri) for ri in posts),
    }


def centre_intake(centre: str, name: str) -> str:
    """The topic a cable named ``name`` is filed on at the centre ``centre`` (its originating centre)."""
    return f"centres/{centre}/in/{topic_level(name)}"


def trunk(to: str, sender: str) -> str:
    """Where the centre ``sender`` sends its transmissions to its neighbour ``to``."""
    return f"trunks/{to}/from/{sender}"


def trunk_control(centre: str, neighbour: str) -> str:
    """Where an operator takes ``centre``'s trunk to ``neighbour`` down or up (the other end's is its own)."""
    return f"trunks/{centre}/line/{neighbour}"


def trunk_receipts(sender: str, receiver: str) -> str:
    """Where ``receiver`` receipts the trunk transmissions the centre ``sender`` sent it."""
    return f"trunks/{sender}/ack/{receiver}"


def trunk_service(sender: str, receiver: str) -> str:
    """Where ``receiver`` sends the centre ``sender`` its service messages about their trunk (ZFX, ZIC)."""
    return f"trunks/{sender}/svc/{receiver}"


def status(centre: str | None = None) -> str:
    """Where the router's retained status goes: router/status, or router/status/<NAME> for a centre."""
    return STATUS if centre is None else f"{STATUS}/{centre}"


def intake(name: str) -> str:
    """The topic a cable named ``name`` (its file or id) is published on."""
    return Kind.CABLE.value + topic_level(name)


def copies(ri: str) -> str:
    """Where the post ``ri`` reads its copies."""
    return f"cables/out/{ri}"


def receipts(ri: str) -> str:
    """Where the post ``ri`` sends its receipts."""
    return Kind.RECEIPT.value + ri


def service(ri: str) -> str:
    """Where the post ``ri`` sends its service messages."""
    return Kind.SERVICE.value + ri


def line_control(ri: str) -> str:
    """Where an operator takes the line to ``ri`` down or up."""
    return Kind.LINE_CONTROL.value + ri


def retransmit(ri: str) -> str:
    """Where an operator asks for a message to ``ri`` again."""
    return Kind.RETRANSMIT.value + ri


def topic_level(name: str) -> str:
    """A name (a cable's file or id) as one MQTT topic level: no wildcards, separators or NUL."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "cable"


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT's matching: ``+`` is one level, ``#`` (last) the rest; ``$`` topics need a literal start."""
    if topic.startswith("$") and not topic_filter.startswith("$"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels) or (level not in ("+", topic_levels[index])):
            return False
    return len(filter_levels) == len(topic_levels)


def valid_topic(topic: str) -> bool:
    """A topic a message may be published on: no wildcards, no NUL, not empty, at most 65,535 bytes."""
    return bool(topic) and not ({"+", "#", "\x00"} & set(topic)) and len(topic.encode()) <= 65_535
