"""The network's clock: a scaled host clock and the hand-driven one tests use."""

from __future__ import annotations

import asyncio
import time

import pytest

from router.errors import ClockError, RouterError
from router.network.clock import ManualClock, ScaledClock, settle


def test_a_time_scale_that_is_not_positive_is_a_clock_error() -> None:
    """ScaledClock(0) is refused with a RouterError that names the scale."""
    with pytest.raises(ClockError, match="time scale must be positive, not 0") as caught:
        ScaledClock(0)
    assert isinstance(caught.value, RouterError)
    assert caught.value.scale == 0


async def test_a_manual_clock_wakes_a_sleeper_when_advanced_past_its_deadline() -> None:
    """A sleeper of 5 s is still asleep after 4 s and awake after 5 s."""
    clock = ManualClock(start=100.0)
    woken: list[float] = []

    async def sleeper() -> None:
        await clock.sleep(5)
        woken.append(clock.now())

    task = asyncio.create_task(sleeper())
    await settle()  # the sleeper is asleep from 100.0
    await clock.advance(4)
    assert woken == []
    await clock.advance(1)
    await task
    assert woken == [105.0]


def test_a_scaled_clock_never_runs_behind_a_moment_it_is_told_of() -> None:
    """A restart resumes from the journal's last moment when its host clock would start behind it."""
    clock = ScaledClock(10)
    ahead = clock.now() + 3600
    clock.not_before(ahead)
    assert ahead <= clock.now() < ahead + 60
    clock.not_before(ahead - 7200)  # a moment already passed moves nothing
    assert ahead <= clock.now() < ahead + 60


def test_clocks_made_apart_with_one_origin_keep_one_network_time() -> None:
    """The centres of a network start at their own moments: one origin, one network time all the same.

    Without one, each clock starts at the host's time of day when made, so the later is behind by
    the time scale times the difference (here 0.2 s at 500: 100 network seconds).
    """
    origin = time.time()
    first, alone = ScaledClock(500, origin), ScaledClock(500)
    time.sleep(0.2)
    second, late = ScaledClock(500, origin), ScaledClock(500)
    assert abs(first.now() - second.now()) < 1  # network seconds: the two readings' own gap, scaled
    assert alone.now() - late.now() > 90
    assert first.origin == second.origin == origin
    host = time.time()
    assert origin + (host - origin) * 500 - 5 < second.now() < origin + (host - origin) * 500 + 5
