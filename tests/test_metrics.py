"""`router run --metrics-port N`: Prometheus text scraped from a running router on a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.bus.broker import free_port
from router.bus.mqtt import BrokerAddress, MqttBus
from tests.test_run import CABLE, ROUTER_RUN, first_copy

if TYPE_CHECKING:
    from pathlib import Path

    from router.bus.broker import Mosquitto


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the page, by name and labels."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as page:
        assert page.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = page.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def line_down(broker: Mosquitto, post: str) -> None:
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-operator") as bus:
        await bus.publish(f"router/line/{post}", b"down", qos=1)


def test_a_scrape_during_a_run_counts_cables_copies_queues_and_timings(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    """One cable to eight posts, RUEHC's line down: seven copies out and timed, one waiting, counted."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603
        [*ROUTER_RUN, "--broker", mosquitto.url, "--journal", str(tmp_path / "journal.sqlite"),
         "--time-scale", "1000000", "--metrics-port", str(port)],
        stderr=subprocess.PIPE,
        # No post runs to receipt: at this time scale a copy would go again within a millisecond.
        env={**os.environ, "ROUTER_CLIENT_ID": "router-metrics", "ROUTER_CHANNEL_CHECK_AFTER": "1e15",
             "ROUTER_RECEIPT_TIMEOUT": "1e15"},
    )  # fmt: skip
    assert process.stderr is not None
    try:
        for line in process.stderr:
            if json.loads(line).get("event") == "listening":
                break
        before = scrape(port)
        assert before[("router_cables_received_total", ())] == 0
        asyncio.run(line_down(mosquitto, "RUEHC"))
        asyncio.run(first_copy(mosquitto, "RUEHGA", publish=CABLE))
        after = scrape(port)
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stderr.close()
    assert after[("router_cables_received_total", ())] == 1
    assert after[("router_copies_delivered_total", ())] == 7
    assert after[("router_queue_depth", (("post", "RUEHC"), ("precedence", "ROUTINE")))] == 1
    assert after[("router_in_switch_seconds_count", (("precedence", "ROUTINE"),))] == 7
    assert after[("router_transmission_seconds_count", (("precedence", "ROUTINE"),))] == 7
    assert after[("router_journal_commit_seconds_count", ())] >= 1
    assert after[("router_bus_reconnects_total", ())] == 0
    assert after[("router_events_total", (("event", "line-down"),))] == 1


def test_metrics_answer_only_get_metrics_and_a_taken_port_is_one_line(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    port = free_port()
    env = {**os.environ, "ROUTER_CLIENT_ID": "router-metrics-2"}
    args = [*ROUTER_RUN, "--broker", mosquitto.url, "--metrics-port", str(port)]
    first = subprocess.Popen(  # noqa: S603
        [*args, "--journal", str(tmp_path / "a.sqlite")], stderr=subprocess.PIPE, env=env
    )
    assert first.stderr is not None
    try:
        for line in first.stderr:
            if json.loads(line).get("event") == "listening":
                break
        with pytest.raises(urllib.error.HTTPError, match="404"):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
        second = subprocess.run(  # noqa: S603
            [*args, "--journal", str(tmp_path / "b.sqlite")],
            capture_output=True, text=True, env={**env, "ROUTER_CLIENT_ID": "router-metrics-3"}, timeout=30,
            check=False,
        )  # fmt: skip
    finally:
        first.terminate()
        first.wait(timeout=10)
        first.stderr.close()
    assert second.returncode == 2
    said = second.stderr.strip().splitlines()[-1]
    assert said.startswith(f"router: setting metrics_port: cannot serve metrics on 127.0.0.1:{port}: ")
