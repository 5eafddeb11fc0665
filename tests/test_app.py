"""The private broker `router run` starts when none is configured: Mosquitto, else amqtt in-process."""

from __future__ import annotations

import asyncio

import pytest

from router.bus import broker
from router.bus.broker import free_port
from router.bus.mqtt import MqttBus
from router.settings import Settings
from router.switch import serve as app


@pytest.mark.parametrize("mosquitto_installed", [True, False], ids=["mosquitto", "amqtt"])
async def test_a_private_broker_carries_messages(
    mosquitto_installed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no broker configured, the private one (either kind) takes a publish and delivers it."""
    if not mosquitto_installed:
        monkeypatch.setattr(app, "mosquitto_binary", lambda: None)
    elif broker.mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    async with app.broker_for(Settings(broker=None, embedded_port=free_port())) as (address, mqtt5):
        assert mqtt5 is mosquitto_installed
        async with MqttBus(address, mqtt5=mqtt5) as subscriber, MqttBus(address, mqtt5=mqtt5) as publisher:
            await subscriber.subscribe("cables/out/RUEHC")
            await publisher.publish("cables/out/RUEHC", b"copy")
            async with asyncio.timeout(5):
                message = await anext(aiter(subscriber.messages()))
    assert message.payload == b"copy"
