"""Shared fixtures: where the shared corpus and peer cases are, skipping cleanly when they are absent."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from router.bus.broker import Mosquitto, mosquitto_binary

pytest_plugins = ("tests.postgres",)  # the private PostgreSQL and `journal_url`, for the journal's tests

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("ROUTER_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
PEER_CASES = SHARED / "peer-cases" / "cablemap-cases.json"


def need(path: Path) -> Path:
    """Return ``path``, or skip the test with the reason when it is not there (a fresh clone)."""
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared corpus is not beside this checkout (set ROUTER_SHARED)")
    return path


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The directory of real cables, one per file."""
    return need(CORPUS / "cables")


@pytest.fixture(scope="session")
def peer_cases_file() -> Path:
    """The test expectations of cablemap, as extracted into shared/peer-cases."""
    return need(PEER_CASES)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """A private Mosquitto on a free port with the project's config, for the whole session."""
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed (.ci/run installs the Debian package)")
    with Mosquitto(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker
