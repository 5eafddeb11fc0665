"""The little HTTP the router serves beside MQTT: the metrics page and the console, from the event loop.

A request is its first line and headers, read within `REQUEST_WITHIN` seconds and `REQUEST_LIMIT`
bytes (one that is slower or larger is dropped, unanswered); an answer is one response, then the
connection closes. No keep-alive, no body: what a scraper or a browser asks of a read-out.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

REQUEST_LIMIT = 8192
"""Bytes of a request read at most: a request line and a few headers."""
REQUEST_WITHIN = 5.0
"""Seconds a client has to send its request before the connection is closed."""


@dataclass(frozen=True, slots=True)
class Request:
    """What the read-outs look at in a request."""

    method: str
    path: str
    query: dict[str, list[str]]
    accept: str
    """The Accept header, or nothing."""


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The request, or None if none came whole in time (the caller closes the connection)."""
    try:
        async with asyncio.timeout(REQUEST_WITHIN):
            head = await reader.readuntil(b"\r\n\r\n")
    except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    first, *headers = head.decode("latin-1").split("\r\n")
    method, _, rest = first.partition(" ")
    target = urlsplit(rest.partition(" ")[0])
    accept = next(
        (
            value.strip()
            for name, _, value in (h.partition(":") for h in headers)
            if name.strip().lower() == "accept"
        ),
        "",
    )
    return Request(method, target.path, parse_qs(target.query), accept)


async def reply(writer: asyncio.StreamWriter, status: str, kind: str, body: bytes) -> None:
    """One response with its length, the connection closing after it."""
    writer.write(
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
        "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    with suppress(ConnectionError):
        await writer.drain()
