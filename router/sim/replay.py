"""Replays of real traffic and paced publishing: cables from files, in DTG order, onto the intake.

`replay_schedule` is pure (files in, a schedule out); `publish_schedule` publishes a schedule, of
replayed or generated cables, each when its offset has come.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import TYPE_CHECKING, NamedTuple, Protocol

from router.bus import topics
from router.bus.topics import topic_level
from router.cable.parser import parse_cable
from router.errors import CableParseError, ReplayError, TrafficError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime
    from pathlib import Path

    from router.network.clock import Clock
    from router.sim.traffic import Generated


# --- replayed traffic


class Scheduled(NamedTuple):
    """One replayed cable: when to publish it (seconds after the start), its name, its bytes as read."""

    offset: float
    name: str
    raw: bytes


def replay_schedule(sources: Iterable[Path], *, speedup: float | None) -> list[Scheduled]:
    """Real cables in the order of their DTGs, offset by their DTG distance divided by ``speedup``.

    Sources are cable files, directories of ``*.txt`` cables (searched below too, by name), and
    ``.jsonl``/``.jsonl.gz`` files of ``{"id", "text"}`` rows (like the corpus's pool). A cable
    without a DTG, or that does not parse, has no place in time: those keep their input order and
    go first, at offset 0, and are still published (the switch rejects or intercepts them, which is
    part of what a replay exercises). ``speedup=None`` puts every cable at 0: as fast as possible.
    """
    if speedup is not None and speedup <= 0:
        raise TrafficError(f"speedup must be positive, not {speedup}", field="speedup")
    undated: list[Scheduled] = []
    dated: list[tuple[datetime, str, bytes]] = []
    for name, raw in _read_sources(sources):
        dtg = _dtg(raw)
        if dtg is None:
            undated.append(Scheduled(0.0, name, raw))
        else:
            dated.append((dtg, name, raw))
    dated.sort(key=lambda cable: cable[0])  # stable: cables with one DTG keep their input order
    if speedup is None or not dated:
        return undated + [Scheduled(0.0, name, raw) for _, name, raw in dated]
    first = dated[0][0]
    return undated + [
        Scheduled((dtg - first).total_seconds() / speedup, name, raw) for dtg, name, raw in dated
    ]


def _dtg(raw: bytes) -> datetime | None:
    try:
        return parse_cable(raw).dtg
    except CableParseError:
        return None


def _read_sources(sources: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(name, raw) for every cable of the sources, in the order given; one unreadable, a ReplayError."""
    for source in sources:
        try:
            yield from _read_source(source)
        except OSError as exc:  # absent, unreadable, not gzip: the file it was, in one line
            where = exc.filename or source
            raise ReplayError(f"cannot read: {exc.strerror or exc}", path=where) from None
        except UnicodeDecodeError as exc:
            raise ReplayError(f"not UTF-8 text: {exc.reason}", path=source) from None


def _read_source(source: Path) -> Iterator[tuple[str, bytes]]:
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*.txt") if p.is_file()):
            yield topic_level(path.stem), path.read_bytes()
    elif source.name.endswith((".jsonl", ".jsonl.gz")):
        yield from _read_rows(source)
    else:
        yield topic_level(source.stem), source.read_bytes()


def _read_rows(path: Path) -> Iterator[tuple[str, bytes]]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as rows:
        for number, row in enumerate(rows, 1):
            if not row.strip():
                continue
            try:
                record = json.loads(row)
                name, text = str(record["id"]), str(record["text"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ReplayError(f"not an {{id, text}} row: {exc}", path=path, line=number) from None
            yield topic_level(name), text.encode("utf-8")


# --- publishing


class Publisher(Protocol):
    """The one thing pacing needs of a bus (router.bus.protocol.Bus and the MQTT adapter have it)."""

    async def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> None:
        """Publish ``payload`` on ``topic``; at QoS 1 return once the broker has it."""


class _LoopClock:
    """The event loop's own monotonic clock: real time."""

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def publish_schedule(
    bus: Publisher,
    items: Iterable[Generated | Scheduled],
    *,
    clock: Clock | None = None,
) -> int:
    """Publish each cable at QoS 1 on cables/in/<name> when its offset has come; return how many.

    Offsets count from the call. Items come in offset order; those whose time has passed (behind a
    slow broker) go at once, one after the other, until the schedule is met again. ``clock``
    defaults to the event loop's (real time); a simulated clock paces in simulated seconds.
    """
    clock = clock or _LoopClock()
    started = clock.now()
    published = 0
    for item in items:
        wait = started + item.offset - clock.now()
        if wait > 0:
            await clock.sleep(wait)
        await bus.publish(topics.intake(item.name), item.raw, qos=1)
        published += 1
    return published
