"""Per-post precedence queues: higher precedence first, then arrival; a window of copies in flight.

MQTT has no priority of its own (Mosquitto and EMQX maintainers say so), so the order that makes
precedence mean something lives here: a slow or absent post builds its backlog inside the router,
where a FLASH can still overtake the ROUTINE traffic ahead of it, not at the broker.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from dataclasses import dataclass, field

from router.models import Precedence


@dataclass(frozen=True, slots=True, order=True)
class Queued:
    """A reference to a delivery waiting for its post: the payload itself stays in the journal."""

    order: tuple[int, int]
    """(minus the precedence rank, arrival number): what heapq sorts by."""
    delivery_id: int = field(compare=False)
    cable_id: int = field(compare=False)
    precedence: Precedence = field(compare=False)
    since: float = field(compare=False, default=0.0)
    """When it was queued (monotonic seconds): the start of its queueing latency."""


@dataclass(slots=True)
class PostQueue:
    """One post's queue and its window of deliveries sent but not yet acknowledged."""

    window: int
    waiting: list[Queued] = field(default_factory=list)
    in_flight: set[int] = field(default_factory=set)

    def ready(self) -> bool:
        """Whether a delivery may go out now: one is waiting and the window has room."""
        return bool(self.waiting) and len(self.in_flight) < self.window

    def take(self) -> Queued:
        """The best waiting delivery, now counted in flight."""
        queued = heapq.heappop(self.waiting)
        self.in_flight.add(queued.delivery_id)
        return queued

    def done(self, delivery_id: int) -> bool:
        """An acknowledgement frees a place in the window; False if it was not in flight."""
        if delivery_id in self.in_flight:
            self.in_flight.remove(delivery_id)
            return True
        return False


@dataclass(slots=True)
class Queues:
    """Every post's queue, made on first use with the post's window."""

    arrivals: itertools.count[int] = field(default_factory=itertools.count)
    posts: dict[str, PostQueue] = field(default_factory=dict)

    def put(  # noqa: PLR0913, PLR0917 (one delivery's fields)
        self,
        post: str,
        window: int,
        delivery_id: int,
        cable_id: int,
        precedence: Precedence,
        since: float = 0.0,
    ) -> PostQueue:
        """Queue a delivery for ``post``; return that post's queue."""
        queue = self.posts.get(post)
        if queue is None:
            queue = self.posts[post] = PostQueue(window)
        order = (-precedence.rank, next(self.arrivals))
        heapq.heappush(queue.waiting, Queued(order, delivery_id, cable_id, precedence, since))
        return queue

    def depths(self) -> dict[str, dict[str, int]]:
        """Waiting deliveries per post and precedence, and how many are in flight."""
        depths = {}
        for post, queue in sorted(self.posts.items()):
            counts = Counter(q.precedence.value for q in queue.waiting)
            if counts or queue.in_flight:
                depths[post] = {**counts, "in_flight": len(queue.in_flight)}
        return depths
