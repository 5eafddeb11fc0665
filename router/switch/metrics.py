"""The router's figures for a monitoring system: `router run --metrics-port N` serves Prometheus text.

What a scrape reads is mostly what the switch counts already (its routing log's counts, its lines'
queues), read at the scrape: nothing is added to the work of a cable for it. Only the timings are
kept as they come: each copy's time in the switch and on its line (network seconds, from the
switch's own clock), each burst's journal commit (host seconds), each loss of the broker.

The page is served by the event loop itself (`asyncio.start_server`), not by a thread: a scrape
reads the switch's state between two of its bursts, never in the middle of one.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

from router.bus.http import REQUEST_LIMIT, read_request, reply

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.core import Metric

    from router.switch.actions import Timing
    from router.switch.service import Router

NETWORK_BUCKETS = (0.1, 1, 5, 15, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 6 * 3600, float("inf"))
"""Network seconds: a FLASH's two minutes in the switch (ACP 127's target) to ROUTINE's six hours."""
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, float("inf"))
"""Host seconds of a burst's commit: a fraction of a millisecond on a quiet disk, seconds on a sick one."""

NAMED_COUNTS = {
    "received": ("router_cables_received", "Cables taken off the intake (and off trunks) and journalled."),
    "delivered": ("router_copies_delivered", "Copies whose transmission ended at the post, sent out."),
    "intercepted": ("router_intercepts", "Addressees (or copies) set aside for the intercept position."),
    "rejected": ("router_rejects", "Cables rejected: unreadable, too large, or garbled on a trunk."),
}


class Metrics:
    """The figures of one `router run`: the switch's counts and queues, and timings as they come."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.router: Router | None = None
        """The switch of the current connection; None while the broker is away."""
        self.in_switch = Histogram(
            "router_in_switch_seconds",
            "Network seconds from a copy queued (its cable's arrival) to its transmission's end.",
            ["precedence"],
            buckets=NETWORK_BUCKETS,
            registry=self.registry,
        )
        self.transmission = Histogram(
            "router_transmission_seconds",
            "Network seconds a copy's transmission took on its line, at the line's speed.",
            ["precedence"],
            buckets=NETWORK_BUCKETS,
            registry=self.registry,
        )
        self.commit = Histogram(
            "router_journal_commit_seconds",
            "Host seconds a burst's journal rows and COMMIT took (acknowledgements wait for it).",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self.reconnects = Counter(
            "router_bus_reconnects",
            "Connections to the broker lost or refused: each is followed by a wait and another attempt.",
            registry=self.registry,
        )
        self.registry.register(_SwitchState(self))

    def burst(self, commit_seconds: float, timings: list[Timing]) -> None:
        """A burst committed: its commit time, and each copy it delivered."""
        self.commit.observe(commit_seconds)
        for precedence, in_switch, transmission in timings:
            self.in_switch.labels(precedence).observe(in_switch)
            self.transmission.labels(precedence).observe(transmission)

    def page(self, accept: str = "") -> tuple[bytes, str]:
        """Everything above in the format the scraper's Accept header asks for, and its content type.

        Prometheus text 0.0.4 unless OpenMetrics is asked for (`prometheus_client` chooses).
        """
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    async def serve(self, host: str, port: int) -> asyncio.Server:
        """Serve ``GET /metrics`` on ``host``:``port`` from the event loop until the server is closed."""
        return await asyncio.start_server(self._answer, host, port, limit=REQUEST_LIMIT)

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await read_request(reader)
        if request is None:
            pass
        elif request.method != "GET":
            await reply(writer, "405 Method Not Allowed", "text/plain", b"GET only\n")
        elif request.path == "/metrics":
            body, content_type = self.page(request.accept)
            await reply(writer, "200 OK", content_type, body)
        else:
            await reply(writer, "404 Not Found", "text/plain", b"the figures are at /metrics\n")
        writer.close()


class _SwitchState:
    """Read at each scrape: the switch's counts since the start and its lines' queues now."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        router = self._metrics.router
        counts = router.counts if router is not None else {}
        for event, (name, documentation) in NAMED_COUNTS.items():
            yield CounterMetricFamily(name, documentation, value=counts.get(event, 0))
        events = CounterMetricFamily(
            "router_events", "Routing-log events since the start, by name.", labels=["event"]
        )
        for event, count in sorted(counts.items()):
            events.add_metric([event], count)
        yield events
        depth = GaugeMetricFamily(
            "router_queue_depth",
            "Copies waiting on a post's (or trunk's) line by precedence; in_flight: sent, not receipted.",
            labels=["post", "precedence"],
        )
        for post, depths in (router.depths() if router is not None else {}).items():
            for precedence, value in depths.items():
                if type(value) is int:  # the queues; not the line's state or what it sends now
                    depth.add_metric([post, precedence], value)
        yield depth
