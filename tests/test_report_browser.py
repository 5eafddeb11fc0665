"""The report page in a real browser: headless Chromium lays out every plot with visible marks.

The page is only useful if a browser draws it, which an XML parse cannot show: a mark with a bad
coordinate parses fine and is drawn nowhere. Debian's chromium and chromium-driver are what CI installs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from router.readout.plots import write_html
from router.readout.report import read_report
from tests.test_report import traffic

if TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PLOTS = ("latency", "queue-depth", "busts")
MEASURE = """
const svg = document.getElementById(arguments[0]);
if (svg === null) { return null; }
const box = svg.getBoundingClientRect();
const drawn = Array.from(svg.querySelectorAll(".mark"))
    .map((mark) => mark.getBoundingClientRect())
    .filter((r) => r.width > 0 && r.height > 0);
return {tag: svg.tagName, width: box.width, height: box.height, marks: drawn.length};
"""
"""The plot's laid-out size and how many of its marks the browser gave a non-empty box."""


def in_ci() -> bool:
    """CI sets CI=true: there a missing browser is a failure, since the test must run."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Debian Chromium through its own chromedriver, with a fresh profile, quit afterwards."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        reason = f"{' and '.join(missing)} not installed (Debian packages chromium and chromium-driver)"
        if in_ci():
            pytest.fail(f"{reason}: CI must run the browser test")
        pytest.skip(reason)
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # The machine has no network: without these Chromium keeps trying to reach its services.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1000,1400",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(tmp_path: Path) -> Path:
    """The page of a small journal: copies of three precedences for two posts, and one bust."""
    path = tmp_path / "journal.sqlite"
    with traffic(path) as rows:
        first = rows.copy("FLASH", "RUEHC", 90, acknowledged=True)
        rows.copy("IMMEDIATE", "RUEHC", 1500)
        rows.copy("ROUTINE", "RUEHFR", 7200)
        rows.copy("ROUTINE", "RUEHFR", None)
        rows.transmission(first, "first", "busted", 60)
    return write_html(read_report(path), tmp_path / "report")


def test_every_plot_is_laid_out_with_visible_marks(chromium: webdriver.Chrome, page: Path) -> None:
    """Each of the three plots has a non-empty box in the browser and at least one mark drawn in it."""
    chromium.get(page.as_uri())
    assert chromium.title == "Speed of service"
    for plot in PLOTS:
        measured: dict[str, Any] | None = chromium.execute_script(MEASURE, plot)
        assert measured is not None, f"no element with id {plot!r}"
        assert measured["tag"].lower() == "svg"
        assert measured["width"] > 0, plot
        assert measured["height"] > 0, plot
        assert measured["marks"] >= 1, f"{plot}: no mark has a visible box"
