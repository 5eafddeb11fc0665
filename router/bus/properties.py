"""MQTT 5 properties: what of an incoming cable's the router keeps on its copies, and what it adds.

A publisher speaking MQTT 5 may put user properties (an exercise's tag, a trace id) and a message
expiry interval on a cable; when the router's connection speaks MQTT 5 too (`mqtt_version = "5"`),
each copy carries them on, as published, and a content type saying it is text. Under MQTT 3.1.1
there are no properties: nothing is kept or added. The rest of a cable's properties (a response
topic, correlation data, a topic alias, subscription identifiers) concern the hop to the router,
not the cable.

The block is read without trusting it: a property the table does not know, a length running past
the end, or a string that is not UTF-8 ends the reading, and what was read before is kept.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

MESSAGE_EXPIRY = 0x02
"""Four-byte integer: seconds the message may wait at a broker for its subscriber (MQTT 5 §3.3.2.3.3)."""
CONTENT_TYPE = 0x03
USER_PROPERTY = 0x26
COPY_CONTENT_TYPE = "text/plain"
"""What a copy is: the cable's text as the channel carries it (ACP 127, ASCII)."""


class _Kind(Enum):
    BYTE = 1
    TWO = 2
    FOUR = 4
    VARIABLE = 0
    STRING = -1
    BINARY = -2
    PAIR = -3


_PUBLISH_PROPERTIES = {
    0x01: _Kind.BYTE,  # payload format indicator
    MESSAGE_EXPIRY: _Kind.FOUR,
    CONTENT_TYPE: _Kind.STRING,
    0x08: _Kind.STRING,  # response topic
    0x09: _Kind.BINARY,  # correlation data
    0x0B: _Kind.VARIABLE,  # subscription identifier
    0x23: _Kind.TWO,  # topic alias
    USER_PROPERTY: _Kind.PAIR,
}
"""The properties a PUBLISH may carry (MQTT 5 §3.3.2.3), by identifier, with the form of their value."""
KEPT = frozenset({MESSAGE_EXPIRY, USER_PROPERTY})
"""Of an incoming cable's properties, those its copies carry on."""


def kept_on_copies(block: bytes) -> bytes:
    """The properties of an incoming PUBLISH that its copies carry (user properties, expiry), encoded."""
    return b"".join(block[start:end] for identifier, start, end in _entries(block) if identifier in KEPT)


def _entries(block: bytes) -> Iterator[tuple[int, int, int]]:
    """Each property of ``block``: its identifier, where it starts and where its value ends.

    An unknown identifier or a malformed value ends the reading: nothing after it can be read
    with confidence (a length may be anything).
    """
    at = 0
    while at < len(block):
        identifier = block[at]
        kind = _PUBLISH_PROPERTIES.get(identifier)
        end = _value_end(block, at + 1, kind) if kind is not None else None
        if end is None:
            return
        yield identifier, at, end
        at = end


def copy_properties(kept: bytes) -> bytes:
    """A copy's properties: its content type, then what it keeps of its cable's (`kept_on_copies`)."""
    return _string(CONTENT_TYPE, COPY_CONTENT_TYPE) + kept


def user_property(name: str, value: str) -> bytes:
    """One user property, encoded (MQTT 5 §3.3.2.3.7)."""
    return bytes([USER_PROPERTY]) + _utf8(name) + _utf8(value)


def message_expiry(seconds: int) -> bytes:
    """A message expiry interval, encoded (MQTT 5 §3.3.2.3.3)."""
    return bytes([MESSAGE_EXPIRY]) + seconds.to_bytes(4, "big")


def read_properties(block: bytes) -> dict[str, object]:
    """The properties a test or a subscriber cares for, decoded: expiry, content type, user properties."""
    found: dict[str, object] = {"user": []}
    for identifier, start, end in _entries(block):
        value = block[start + 1 : end]
        if identifier == MESSAGE_EXPIRY:
            found["expiry"] = int.from_bytes(value, "big")
        elif identifier == CONTENT_TYPE:
            found["content_type"] = value[2:].decode()
        elif identifier == USER_PROPERTY:
            name_end = 2 + int.from_bytes(value[:2], "big")
            user = found["user"]
            assert isinstance(user, list)
            user.append((value[2:name_end].decode(), value[name_end + 2 :].decode()))
    return found


def variable_byte_integer(value: int) -> bytes:
    """MQTT's variable byte integer (§1.5.5): seven bits a byte, the high bit saying more follow."""
    encoded = bytearray()
    while True:
        value, byte = divmod(value, 0x80)
        encoded.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(encoded)


def _value_end(block: bytes, at: int, kind: _Kind) -> int | None:
    """Where the value starting at ``at`` ends; None if it runs past the block or is not valid."""
    if kind in {_Kind.BYTE, _Kind.TWO, _Kind.FOUR}:
        end = at + kind.value
    elif kind is _Kind.VARIABLE:
        end = at
        while end < len(block) and block[end] & 0x80:
            end += 1
        end += 1
    elif kind is _Kind.PAIR:
        first = _sized_end(block, at, text=True)
        return None if first is None else _sized_end(block, first, text=True)
    else:
        return _sized_end(block, at, text=kind is _Kind.STRING)
    return end if end <= len(block) else None


def _sized_end(block: bytes, at: int, *, text: bool) -> int | None:
    """The end of a two-byte-length-prefixed value (a UTF-8 string when ``text``)."""
    if at + 2 > len(block):
        return None
    end = at + 2 + int.from_bytes(block[at : at + 2], "big")
    if end > len(block):
        return None
    if text:
        try:
            block[at + 2 : end].decode("utf-8")
        except UnicodeDecodeError:
            return None
    return end


def _utf8(text: str) -> bytes:
    encoded = text.encode("utf-8")
    return len(encoded).to_bytes(2, "big") + encoded


def _string(identifier: int, text: str) -> bytes:
    return bytes([identifier]) + _utf8(text)
