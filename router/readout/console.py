"""`router console`: the switch live in a browser, fed as it happens (server-sent events).

One page (``router/data/console.html``) shows what `router watch` shows, in a browser: each line
with its copies waiting by precedence, those in flight and the transmission on it now, the
routing log as it comes, and a trace look-up in the journal. The console reads what the router
publishes, as the observer (``router/status``, ``router/status/+``, ``router/log``), and the
journals read-only for a trace; it changes nothing.

It is served by the event loop (`asyncio.start_server`), on 127.0.0.1 unless told otherwise:
``GET /`` the page, ``GET /events`` the stream (the latest status of each router and the last
`LOG_KEPT` log entries first, then each as it comes), ``GET /trace?id=ID`` one cable's trace as
JSON. Nothing read off the bus is trusted: the page puts every value in as text, never as markup,
and a stream whose reader falls behind by `BEHIND_AT_MOST` events is closed, not buffered without
end.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from importlib import resources
from typing import TYPE_CHECKING, Any

from router.bus import topics
from router.bus.http import REQUEST_LIMIT, read_request, reply
from router.errors import RouterError
from router.readout.trace import in_hop_order, read_trace, trace_json
from router.readout.watch import RETAINED, read_object

if TYPE_CHECKING:
    from pathlib import Path

    from router.bus.protocol import Bus

LOG_KEPT = 200
"""Routing-log entries a new page is given at once (the latest)."""
BEHIND_AT_MOST = 1000
"""Events a page's stream may be behind before it is closed (the browser reconnects by itself)."""
KEEPALIVE_EVERY = 15.0
"""Seconds between two comments on a quiet stream, so that proxies and browsers keep it open."""
MAX_ID = 80
"""Characters of a trace look-up's id at most: a message id is about 25."""


class Console:
    """What the page shows, kept as it comes off the bus, and the pages' streams fed from it."""

    def __init__(self, journals: list[Path]) -> None:
        self.journals = journals
        self.statuses: dict[str, dict[str, Any]] = {}
        """The latest status of each router, by its topic (`router/status`, `router/status/NAME`)."""
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_KEPT)
        self._streams: set[asyncio.Queue[bytes | None]] = set()
        self._page = resources.files("router").joinpath("data/console.html").read_bytes()

    async def follow(self, bus: Bus) -> None:
        """Keep every status and log entry the routers publish, and pass each to the open pages."""
        for topic in (topics.STATUS, topics.CENTRE_STATUS, topics.LOG):
            await bus.subscribe(topic, qos=0)
        async for message in bus.messages():
            value = read_object(message)
            if message.topic == topics.LOG or value.get("event") == "unreadable":
                self.log.append(value)
                self._tell("log", value)
            else:
                status = value | {RETAINED: True} if message.retain else value
                self.statuses[message.topic] = status
                self._tell("status", {"topic": message.topic, "status": status})

    def _tell(self, kind: str, value: object) -> None:
        event = _event(kind, value)
        for stream in list(self._streams):
            if stream.qsize() >= BEHIND_AT_MOST:
                self._streams.discard(stream)
                stream.put_nowait(None)  # the page's reader is gone or stuck: end its stream
            else:
                stream.put_nowait(event)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Serve the page, its stream and trace look-ups on ``host``:``port`` until the server is closed."""
        return await asyncio.start_server(self._answer, host, port, limit=REQUEST_LIMIT)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        try:
            if request is None:
                pass
            elif request.method != "GET":
                await reply(writer, "405 Method Not Allowed", "text/plain", b"GET only\n")
            elif request.path == "/":
                await reply(writer, "200 OK", "text/html; charset=utf-8", self._page)
            elif request.path == "/events":
                await self._stream(writer)
            elif request.path == "/trace":
                await self._trace(writer, request.query.get("id", [""])[0])
            else:
                await reply(writer, "404 Not Found", "text/plain", b"not here: /, /events, /trace?id=ID\n")
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _stream(self, writer: asyncio.StreamWriter) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Connection: keep-alive\r\n\r\n"
        )
        for topic, status in sorted(self.statuses.items()):
            writer.write(_event("status", {"topic": topic, "status": status}))
        for entry in self.log:
            writer.write(_event("log", entry))
        stream: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._streams.add(stream)
        try:
            await writer.drain()
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_EVERY):
                        event = await stream.get()
                except TimeoutError:
                    event = b": still here\n\n"
                if event is None:
                    return
                writer.write(event)
                await writer.drain()
        finally:
            self._streams.discard(stream)

    async def _trace(self, writer: asyncio.StreamWriter, key: str) -> None:
        if not key or len(key) > MAX_ID:
            await reply(
                writer, "400 Bad Request", "application/json", _json({"error": "give ?id=MESSAGE-ID"})
            )
            return
        try:
            traces = await asyncio.to_thread(self._read_traces, key)
        except RouterError as exc:
            await reply(writer, "200 OK", "application/json", _json({"error": str(exc)}))
            return
        await reply(writer, "200 OK", "application/json", _json({"id": key, "traces": trace_json(traces)}))

    def _read_traces(self, key: str) -> list[Any]:
        present = [path for path in self.journals if path.exists()]
        return in_hop_order([trace for path in present for trace in read_trace(path, key)])


def _event(kind: str, value: object) -> bytes:
    """One server-sent event: its kind, and its value as one line of JSON."""
    return f"event: {kind}\ndata: {json.dumps(value, default=str)}\n\n".encode()


def _json(value: object) -> bytes:
    return json.dumps(value, default=str).encode()
