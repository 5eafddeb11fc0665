"""Per-post queues: precedence first, then arrival; the window holds back what is not acknowledged."""

from __future__ import annotations

from router import Precedence
from router.queues import Queues


def test_higher_precedence_goes_first_then_arrival_order() -> None:
    """FLASH overtakes the ROUTINE ahead of it; within a precedence, first come first served."""
    queues = Queues()
    for number, precedence in enumerate(
        [Precedence.ROUTINE, Precedence.ROUTINE, Precedence.IMMEDIATE, Precedence.FLASH, Precedence.IMMEDIATE]
    ):
        queue = queues.put("RUEHC", 10, delivery_id=number, cable_id=number, precedence=precedence)
    assert [queue.take().delivery_id for _ in range(5)] == [3, 2, 4, 0, 1]


def test_the_window_holds_back_until_an_acknowledgement() -> None:
    """With a window of 2, a third delivery waits until one in flight is acknowledged."""
    queues = Queues()
    for number in range(3):
        queue = queues.put("RUEHC", 2, delivery_id=number, cable_id=number, precedence=Precedence.ROUTINE)
    first, second = queue.take(), queue.take()
    assert not queue.ready()
    assert queues.depths() == {"RUEHC": {"ROUTINE": 1, "in_flight": 2}}
    assert queue.done(first.delivery_id)
    assert not queue.done(first.delivery_id), "an acknowledgement counts once"
    assert queue.ready()
    assert queue.take().delivery_id == 2
    assert second.delivery_id == 1
