"""How the MQTT adapter moves bytes, without gmqtt: what it writes in one go, what it holds unread.

`router.bus.mqtt` is the one module that speaks to gmqtt; this one holds its plain parts: the
packets of one event-loop turn written together (`Writer`), the messages received and not yet
taken, with the socket held back past their bounds (`Inbox`), and the MQTT encodings they need.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from router.bus.topics import valid_topic
from router.errors import BusError

if TYPE_CHECKING:
    from router.bus.protocol import Message

INBOX_BYTES = 16 * 1024 * 1024
INBOX_MESSAGES = 4096
"""Bytes, or messages, received and not yet taken (`MqttBus.messages`) past which the socket is not
read: TCP holds the broker back (it keeps the rest). The broker's own limit on unacknowledged
messages is not enough: under a flood Mosquitto 2.0.11 sent the router tens of thousands past its
``max_inflight_messages`` (the router's resident memory went to 1.6 GB). Read again at half."""
TOPICS_KEPT = 1024
"""Topics whose encoding `MqttBus.send` keeps: the router's are a few a post (bounded, whatever arrives)."""


class Writer:
    """What the adapter sends: packets of one turn of the event loop, written together at its end.

    One write a turn, not one a packet: a system call costs more than encoding a PUBLISH.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        """The connection's event loop, set with its transport: asked once, not a message at a time
        (Python 3.11's `asyncio.get_running_loop` makes a system call, getpid, each time)."""
        self._headers: dict[str, bytes] = {}
        """Each topic published on, as a PUBLISH carries it (length, UTF-8): checked and encoded once."""
        self._outgoing: list[bytes] = []

    def header(self, topic: str) -> bytes:
        """The topic as a PUBLISH carries it, once checked; kept for the next message on it."""
        header = self._headers.get(topic)
        if header is not None:
            return header
        if not valid_topic(topic):
            raise BusError(f"cannot publish on {topic!r}: not a valid topic")
        encoded = topic.encode()
        header = len(encoded).to_bytes(2, "big") + encoded
        if len(self._headers) < TOPICS_KEPT:
            self._headers[topic] = header
        return header

    def write(self, *packets: bytes) -> None:
        """Hand ``packets`` over, after those handed over before: written at the end of this turn."""
        if not self._outgoing:
            (self.loop or asyncio.get_running_loop()).call_soon(self.flush)
        self._outgoing.extend(packets)

    def flush(self) -> None:
        """Write what was handed over, unless the connection is closing (then it is lost anyway)."""
        outgoing, self._outgoing = self._outgoing, []
        transport = self.transport
        if outgoing and transport is not None and not transport.is_closing():
            transport.write(b"".join(outgoing))

    def drop(self) -> None:
        """Forget what was not written: the connection is over."""
        self._outgoing = []


class Inbox:
    """The messages received and not yet taken, in arrival order; past its bounds the socket is not read.

    Past `INBOX_BYTES` or `INBOX_MESSAGES` the transport stops reading (TCP holds the broker back,
    which keeps the rest); at half, it reads again, or at once when a sender waits for PUBACKs
    behind what it holds back (`read_again`: the same stream carries them).
    """

    def __init__(self, writer: Writer) -> None:
        self._writer = writer
        self._messages: deque[Message] = deque()
        self._bytes = 0
        self.held_back = False
        self._waiter: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: Message, *, may_hold_back: bool) -> None:
        """A message arrived: kept, and whoever waits for one woken.

        Past the bounds the socket is held back if ``may_hold_back``: not while a sender waits for
        PUBACKs on it, nor for a message that came on another connection than the one it reads.
        """
        self._messages.append(message)
        self._bytes += len(message.payload)
        if may_hold_back and not self.held_back and not self._has_room():
            self._hold_back()
        self.wake()

    def take(self) -> Message | None:
        """The oldest message, if any; the socket is read again once there is room."""
        if not self._messages:
            return None
        message = self._messages.popleft()
        self._bytes -= len(message.payload)
        if self.held_back and self._has_room(2):
            self.read_again()
        return message

    async def wait(self) -> None:
        """Until a message arrives, or `wake`."""
        self._waiter = asyncio.get_running_loop().create_future()
        await self._waiter

    def wake(self) -> None:
        """Wake whoever waits (a message came, or the connection is over)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _has_room(self, fraction: int = 1) -> bool:
        """Whether the inbox holds at most ``1/fraction`` of its bounds, in bytes and in messages."""
        return self._bytes <= INBOX_BYTES // fraction and len(self._messages) <= INBOX_MESSAGES // fraction

    def _hold_back(self) -> None:
        """Stop reading the socket: the broker keeps what we do not read."""
        transport = self._writer.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()
            self.held_back = True

    def read_again(self) -> None:
        """Read the socket again: there is room, or a sender waits for PUBACKs behind what is held back."""
        self.held_back = False
        transport = self._writer.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()


def fixed_header(first: int, remaining: int) -> bytes:
    """MQTT §2.2: a packet's type and flags, then its remaining length as a variable byte integer."""
    if remaining < 0x4000:  # a copy's, nearly always: one or two bytes, no loop
        return (
            bytes((first, remaining))
            if remaining < 0x80
            else bytes((first, remaining & 0x7F | 0x80, remaining >> 7))
        )
    encoded = bytearray((first,))
    while True:
        remaining, digit = divmod(remaining, 128)
        encoded.append(digit | 0x80 if remaining else digit)
        if not remaining:
            return bytes(encoded)


def puback(mid: int) -> bytes:
    """MQTT §3.4: the PUBACK of packet ``mid``, success (MQTT 5 §3.4.2.1: no reason code means 0)."""
    return b"\x40\x02" + mid.to_bytes(2, "big")


def remaining_length(data: bytes, at: int) -> tuple[int, int]:
    """Where the body of a packet starts and its length, read at ``at``; a start of 0 if not all here.

    MQTT §2.2.3: a variable byte integer, seven bits a byte, least significant first, the top bit
    set on all but the last of at most four bytes: ``ValueError`` for a fifth (a malformed packet).
    """
    length = shift = 0
    for index in range(at, min(at + 4, len(data))):
        byte = data[index]
        length |= (byte & 0x7F) << shift
        if byte < 0x80:  # its continuation bit clear: the last byte
            return index + 1, length
        shift += 7
    if len(data) >= at + 4:
        raise ValueError("a remaining length of more than four bytes")
    return 0, 0
