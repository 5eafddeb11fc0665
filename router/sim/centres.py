"""The centres of a demo network as their users run them: one `router run --centre NAME` process each.

Each process is the real command (its own journal, its own session on the shared broker, its own
status on router/status/NAME); `centre_processes` starts them all, waits until each listens, and
at the end stops each cleanly (SIGTERM: it drains, says it is offline, closes its journal), killing
only one that has not stopped within `STOP_WITHIN`. A centre's routing log (its stderr, one JSON
object a line) is kept in its folder: ``<run>/<NAME>/router.log``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from router.errors import RouterError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping
    from pathlib import Path

READY_WITHIN = 30.0
"""Host seconds a centre has to connect and subscribe before the demo gives up on it."""
STOP_WITHIN = 10.0
"""Host seconds a centre has to stop after SIGTERM before it is killed."""
LOG_NAME = "router.log"
JOURNAL_NAME = "journal.sqlite"

_OWN_SETTINGS = (
    "BROKER",
    "USERNAME",
    "PASSWORD",
    "PASSWORD_FILE",
    "CAFILE",
    "CERTFILE",
    "KEYFILE",
    "CREDENTIALS",
    "CLIENT_ID",
    "JOURNAL",
    "LOG_FILE",
    "CENTRE",
    "NETWORK",
    "ROUTING",
    "TIME_SCALE",
    "BROKER_STATE",
)
"""ROUTER_* variables the demo sets for its centres itself: one inherited would override a flag's
default (a shared client id, another broker's login), never what the demo means."""


@dataclass(frozen=True, slots=True)
class CentreCommand:
    """What every centre of one run is started with: where the network, the table and the broker are."""

    run: Path
    """The run's folder: each centre works in ``<run>/<NAME>/``."""
    network: Path
    routing: Path
    broker: str
    credentials: Path
    """The private broker's keyring: each centre finds its password there, as `router run` does."""
    time_scale: float
    clock_origin: float
    """Where every centre's network clock starts (`ScaledClock`): one network time for them all."""
    settings: Mapping[str, str] = field(default_factory=dict)
    """Further ROUTER_* settings, the same for every centre (the status period, copy events)."""

    def journal(self, name: str) -> Path:
        """The centre's own journal."""
        return self.run / name / JOURNAL_NAME

    def argv(self, name: str) -> list[str]:
        """The command line: `router run --centre NAME`, as a user would type it."""
        return [
            sys.executable,
            "-m",
            "router",
            "run",
            "--centre",
            name,
            "--network",
            str(self.network),
            "--routing",
            str(self.routing),
            "--broker",
            self.broker,
            "--journal",
            str(self.journal(name)),
            "--time-scale",
            f"{self.time_scale:g}",
            "--clock-origin",
            repr(self.clock_origin),
        ]

    def environment(self, name: str) -> dict[str, str]:
        """The process's variables: ours, less any ROUTER_* the demo decides, plus its own."""
        inherited = {k: v for k, v in os.environ.items() if k.removeprefix("ROUTER_") not in _OWN_SETTINGS}
        own = {"ROUTER_CREDENTIALS": str(self.credentials), "ROUTER_CLIENT_ID": f"demo-centre-{name}"}
        return inherited | {f"ROUTER_{key}": value for key, value in self.settings.items()} | own


@dataclass(slots=True)
class CentreProcess:
    """One running centre: its process and the task that keeps its routing log."""

    name: str
    process: asyncio.subprocess.Process
    log: asyncio.Task[str]
    """Copies the centre's stderr to its log file; its result is the last line (why it ended)."""
    listened: asyncio.Future[float]
    """The host's monotonic time at which the centre said it listens (``listening``)."""

    async def stop(self) -> int:
        """SIGTERM, then its exit status; killed if it has not stopped within `STOP_WITHIN`.

        One whose log has ended is ending by itself (its stderr closes as it exits): it is waited
        for, not signalled, so that its status is its own.
        """
        if self.process.returncode is None and not self.log.done():
            with suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_WITHIN):
                status = await self.process.wait()
        except TimeoutError:
            with suppress(ProcessLookupError):
                self.process.kill()
            status = await self.process.wait()
        await asyncio.wait({self.log}, timeout=1)
        return status


async def _keep_log(
    name: str, stream: asyncio.StreamReader, path: Path, listened: asyncio.Future[float]
) -> str:
    """Copy a centre's routing log to ``path``; note when it says ``listening``; its last line."""
    last = ""
    with path.open("ab") as log:
        async for line in stream:
            log.write(line)
            last = line.decode("utf-8", "replace").strip() or last
            if not listened.done() and _event(line) == "listening":
                listened.set_result(time.monotonic())
    last = last[:300] or "(nothing on stderr)"
    if not listened.done():
        listened.set_exception(RouterError(f"centre {name} ended before it listened: {last}"))
    return last


def _event(line: bytes) -> str | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value.get("event") if isinstance(value, dict) else None


async def _start(command: CentreCommand, name: str) -> CentreProcess:
    (command.run / name).mkdir(parents=True, exist_ok=True)
    process = await asyncio.create_subprocess_exec(
        *command.argv(name),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=command.environment(name),
    )
    assert process.stderr is not None
    listened: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    log = asyncio.create_task(
        _keep_log(name, process.stderr, command.run / name / LOG_NAME, listened), name=f"log-{name}"
    )
    return CentreProcess(name, process, log, listened)


async def _until_ready(centre: CentreProcess) -> None:
    """Wait for the centre to listen; a centre that ends first, or takes too long, fails the run."""
    try:
        async with asyncio.timeout(READY_WITHIN):
            await asyncio.shield(centre.listened)
    except TimeoutError:
        raise RouterError(f"centre {centre.name} did not listen within {READY_WITHIN:g} s") from None


@asynccontextmanager
async def centre_processes(
    command: CentreCommand, names: Iterable[str], exits: dict[str, int]
) -> AsyncIterator[dict[str, CentreProcess]]:
    """Every centre running and listening while the block runs; stopped after it, ``exits`` filled in."""
    started: dict[str, CentreProcess] = {}
    try:
        for name in names:
            started[name] = await _start(command, name)
        for centre in started.values():
            await _until_ready(centre)
        yield started
    finally:
        statuses = await asyncio.gather(*(centre.stop() for centre in started.values()))
        exits.update(zip(started, statuses, strict=True))
