"""The private broker `router run` starts when none is configured: Mosquitto, else amqtt in-process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from dataclasses import fields
from typing import TYPE_CHECKING

import pytest

from router.bus import broker
from router.bus.broker import free_port
from router.bus.memory import MemoryBroker
from router.bus.mqtt import MqttBus
from router.bus.security import post_user
from router.journal.store import Journal
from router.network.clock import ScaledClock
from router.routing.table import load_table
from router.settings import Settings
from router.switch import serve as app
from router.switch.core import Limits

if TYPE_CHECKING:
    from pathlib import Path

DEFAULT_ROUTING = load_table(Settings().routing)


@pytest.mark.parametrize("mosquitto_installed", [True, False], ids=["mosquitto", "amqtt"])
async def test_a_private_broker_carries_messages(
    mosquitto_installed: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With no broker configured, the private one (either kind) takes the router's copy to its post."""
    if not mosquitto_installed:
        monkeypatch.setattr(app, "mosquitto_binary", lambda: None)
    elif broker.mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    settings = Settings(broker=None, embedded_port=free_port(), journal=tmp_path / "journal.sqlite")
    async with app.broker_for(settings, ["RUEHC"]) as (address, mqtt5):
        assert mqtt5 is mosquitto_installed
        post = settings.broker_address(post_user("RUEHC"))
        async with MqttBus(post, mqtt5=mqtt5) as subscriber, MqttBus(address, mqtt5=mqtt5) as publisher:
            await subscriber.subscribe("cables/out/RUEHC")
            await publisher.publish("cables/out/RUEHC", b"copy")
            async with asyncio.timeout(5):
                message = await anext(aiter(subscriber.messages()))
    assert message.payload == b"copy"


def test_the_switch_is_wired_from_every_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`switch_for` hands the Router each of its options from the settings, none left at its default."""
    wired: list[dict[str, object]] = []
    monkeypatch.setattr(app, "Router", lambda *_, **options: wired.append(options))
    settings = Settings(
        max_cable_bytes=1000,
        ack_timeout=30.0,
        log_copies=True,
        status_every=0.5,
        resend_after=0.1,
        publish_log=False,
        units_per_character=10,
        receipt_timeout=60.0,
        max_resends=5,
        max_gap_serials=8,
        requests_burst=4,
        requests_per_minute=2.0,
        status_lines=9,
        journal_retry_max=1.5,
        divert_after=120.0,
        channel_check_after=900.0,
    )
    clock = ScaledClock(60)
    journal = Journal(tmp_path / "journal.sqlite")
    try:
        app.switch_for(MemoryBroker().connect(), settings, journal, DEFAULT_ROUTING, clock)
    finally:
        journal.close()
    assert wired == [
        {
            "clock": clock,
            "rules": settings.rules,
            "max_bytes": 1000,
            "ack_timeout": 30.0,
            "log_copies": True,
            "status_every": 0.5,
            "resend_after": 0.1,
            "publish_log": False,
            "limits": Limits(
                receipt_timeout=60.0,
                max_resends=5,
                max_gap_serials=8,
                requests_burst=4,
                requests_per_minute=2.0,
                status_lines=9,
                divert_after=120.0,
                channel_check_after=900.0,
            ),
            "journal_retry_max": 1.5,
            "figures": None,  # the metrics' listener: given by serve when --metrics-port asks
        }
    ]


def test_serve_tunes_the_process_and_importing_does_not() -> None:
    """Importing the router or its command line leaves the collector alone; `tune_process` changes it."""
    script = (
        "import gc\n"
        "before = gc.get_threshold(), gc.get_freeze_count()\n"
        "import router, router.cli, router.switch.serve\n"
        "assert (gc.get_threshold(), gc.get_freeze_count()) == before, 'an import changed the collector'\n"
        "router.switch.serve.tune_process()\n"
        "assert gc.get_threshold() == (50_000, 50, 100) and gc.get_freeze_count() > 0\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)  # noqa: S603


def test_the_switchs_limits_default_to_the_settings_defaults() -> None:
    """Each of the switch's `Limits` is a setting of the same name and default (written twice: layers)."""
    defaults = Settings.model_fields
    for limit in fields(Limits):
        assert defaults[limit.name].default == limit.default, limit.name
