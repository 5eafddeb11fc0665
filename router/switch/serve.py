"""Running the service: the broker (given, or a private one), reconnection with backoff, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import tempfile
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from router.bus.broker import Mosquitto, mosquitto_binary
from router.bus.mqtt import BrokerAddress, MqttBus
from router.bus.protocol import BusError
from router.journal.store import Journal
from router.network.clock import ScaledClock
from router.routing.table import load_table
from router.switch.service import Router

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from router.settings import Settings

log = structlog.get_logger("router")


@asynccontextmanager
async def broker_for(settings: Settings) -> AsyncIterator[tuple[BrokerAddress, bool]]:
    """The broker to use and whether it speaks MQTT 5: the configured one, else a private one.

    A private broker is the mosquitto binary when it is installed (generated config, free port),
    else amqtt in this process (MQTT 3.1.1 only).
    """
    if settings.broker:
        yield BrokerAddress.parse(settings.broker), True
        return
    with tempfile.TemporaryDirectory(prefix="router-broker-") as directory:
        if mosquitto_binary() is not None:
            with Mosquitto(Path(directory), port=settings.embedded_port) as mosquitto:
                log.info("broker-started", kind="mosquitto", url=mosquitto.url)
                yield BrokerAddress.parse(mosquitto.url), True
            return
        from amqtt.broker import Broker  # noqa: PLC0415 (only when mosquitto is absent)

        port = settings.embedded_port
        broker = Broker(
            {
                "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
                # Only anonymous access: no $SYS reporting (its plugin is deprecated upstream).
                "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
            }
        )
        await broker.start()
        log.info("broker-started", kind="amqtt", url=f"mqtt://127.0.0.1:{port}")
        try:
            yield BrokerAddress("127.0.0.1", port), False
        finally:
            await broker.shutdown()


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run the router until ``stop``: reconnect with backoff whenever the broker goes away."""
    table = load_table(settings.routing)
    # The table and the parser's indexes live as long as the process: out of the collector's
    # sight, and a higher first threshold, since a burst makes thousands of short-lived objects.
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    clock = ScaledClock(settings.time_scale)
    journal = Journal(settings.journal, clock=clock.now)
    delay = 0.5
    async with AsyncExitStack() as stack:
        stack.callback(journal.close)
        address, mqtt5 = await stack.enter_async_context(broker_for(settings))
        log.info("router-started", broker=str(address), journal=str(settings.journal), posts=len(table.posts))
        while not stop.is_set():
            try:
                async with MqttBus(
                    address,
                    client_id=settings.client_id,
                    persistent=True,
                    session_expiry=settings.session_expiry,
                    manual_ack=True,
                    # MQTT 5 only when asked (and the broker speaks it): under 3.1.1 the session
                    # lasts as the broker's persistent_client_expiration says, not session_expiry.
                    mqtt5=mqtt5 and settings.mqtt_version == "5",
                ) as bus:
                    delay = 0.5
                    log.info("connected", broker=str(address))
                    router = Router(
                        bus,
                        journal,
                        table,
                        clock=clock,
                        rules=settings.rules,
                        max_bytes=settings.max_cable_bytes,
                        ack_timeout=settings.ack_timeout,
                        log_copies=settings.log_copies,
                    )
                    await router.run(stop)
            except* BusError as group:
                log.warning("broker-lost", reason=str(group.exceptions[0]), retry_in_s=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                delay = min(delay * 2, settings.reconnect_max)
    log.info("router-stopped")
