"""`router console`: the page in headless Chromium, fed live by a running router on a real Mosquitto.

A published cable must appear on the page as it happens (its copies queued in the routing log, the
line it waits on), and a trace look-up must find it in the journal: what an operator would do.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from router.bus.broker import free_port
from router.bus.mqtt import BrokerAddress, MqttBus
from tests.test_report_browser import chromium  # noqa: F401 (the fixture)
from tests.test_run import CABLE, ROUTER_RUN

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from selenium import webdriver

    from router.bus.broker import Mosquitto

MESSAGE_ID = "RUEHOT-0311-0421200"


@pytest.fixture
def running(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A router (each copy's events logged) and `router console` on it: the page's URL, the journal."""
    journal = tmp_path / "journal.sqlite"
    router = subprocess.Popen(  # noqa: S603
        [*ROUTER_RUN, "--broker", mosquitto.url, "--journal", str(journal), "--time-scale", "1000000"],
        stderr=subprocess.PIPE,
        env={**os.environ, "ROUTER_CLIENT_ID": "router-console", "ROUTER_LOG_COPIES": "true",
             "ROUTER_CHANNEL_CHECK_AFTER": "1e15", "ROUTER_RECEIPT_TIMEOUT": "1e15"},
    )  # fmt: skip
    assert router.stderr is not None
    for line in router.stderr:
        if json.loads(line).get("event") == "listening":
            break
    console = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "router", "console", "--port", str(free_port()), "--broker", mosquitto.url,
         "--journal", str(journal)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert console.stdout is not None
    said = console.stdout.readline()
    assert said.startswith("console: http://127.0.0.1:"), said
    try:
        yield said.split()[1], journal
    finally:
        for process in (console, router):
            process.terminate()
            process.wait(timeout=10)
        router.stderr.close()
        console.stdout.close()


async def publish(broker: Mosquitto, topic: str, payload: bytes) -> None:
    async with MqttBus(BrokerAddress.parse(broker.url), client_id="test-console-publisher") as bus:
        await bus.publish(topic, payload, qos=1)


def test_a_published_cable_appears_live_and_is_traced(
    running: tuple[str, Path],
    mosquitto: Mosquitto,
    chromium: webdriver.Chrome,  # noqa: F811 (the fixture imported above)
) -> None:
    url, _ = running
    chromium.get(url)
    wait = WebDriverWait(chromium, 20)
    wait.until(lambda driver: driver.find_element(By.ID, "connection").text == "live")
    asyncio.run(publish(mosquitto, "router/line/RUEHC", b"down"))  # RUEHC's copy will wait, on show
    asyncio.run(publish(mosquitto, "cables/in/console-test", CABLE))
    wait.until(lambda driver: MESSAGE_ID in driver.find_element(By.ID, "log").text)
    log = chromium.find_element(By.ID, "log").text
    assert f"queued         precedence=ROUTINE message_id={MESSAGE_ID} post=RUEHC" in log

    def ruehc_row(driver: webdriver.Chrome) -> list[str]:
        rows = driver.find_elements(By.CSS_SELECTOR, "tr[data-post='RUEHC'] td")
        return [cell.text for cell in rows]

    # The next status shows the copy waiting: columns line, ECP, FLASH, IMMEDIATE, PRIORITY, ROUTINE.
    cells = wait.until(lambda driver: (row := ruehc_row(driver)) and row[5] == "1" and row)
    assert cells == ["RUEHC", "", "", "", "", "1", "0", "DOWN"]
    chromium.find_element(By.ID, "trace-id").send_keys(MESSAGE_ID)
    chromium.find_element(By.CSS_SELECTOR, "#trace-form button").click()
    wait.until(lambda driver: "RUEHGA" in driver.find_element(By.ID, "trace-out").text)
    traced = chromium.find_element(By.ID, "trace-out").text
    assert traced.startswith(f"{MESSAGE_ID}  journal 1  routed")
    assert "RUEHC    ROUTINE   queued" in traced


def test_the_console_serves_only_its_page_stream_and_traces(running: tuple[str, Path]) -> None:
    url, _ = running
    with urllib.request.urlopen(url, timeout=5) as page:  # noqa: S310
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert b"<title>router console</title>" in page.read()
    with urllib.request.urlopen(f"{url}trace?id=NOPE-1", timeout=5) as answer:  # noqa: S310
        assert json.loads(answer.read()) == {"id": "NOPE-1", "traces": []}
    for path, status in (("trace", 400), ("nothing-here", 404)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}{path}", timeout=5)  # noqa: S310
        assert refused.value.code == status
        refused.value.close()
