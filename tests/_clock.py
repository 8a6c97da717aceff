"""A manual clock for testing time-based policy without real time.

:class:`ManualClock` implements the limiter's ``Clock`` protocol (``now`` and ``call_later``):
time only moves when a test calls :meth:`ManualClock.advance`, which runs the timers that came
due, in order. Nothing here sleeps; :func:`settle` lets futures and tasks that are already
ready run (zero-length sleeps only).
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(order=True)
class ManualTimer:
    """A callback scheduled on a :class:`ManualClock`; ``cancel()`` calls it off."""

    due: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)
    fired: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """Time that only moves when told to.

    Args:
        start: the initial reading of :meth:`now` (any float: only differences matter).
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._seq = 0
        self._heap: list[ManualTimer] = []

    def now(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> ManualTimer:
        self._seq += 1
        timer = ManualTimer(self._now + max(0.0, delay), self._seq, callback)
        heapq.heappush(self._heap, timer)
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward, running each due, uncancelled callback at its own time.

        Callbacks run in (due time, scheduling order); one scheduled by a callback runs in the
        same call if it comes due within the window.
        """
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + seconds
        while self._heap and self._heap[0].due <= target:
            timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, timer.due)
            timer.fired = True
            timer.callback()
        self._now = target

    def pending(self) -> list[ManualTimer]:
        """The timers not yet run nor cancelled, soonest first."""
        return sorted(t for t in self._heap if not t.cancelled)


async def settle(rounds: int = 5) -> None:
    """Let ready callbacks, futures and tasks run (no real time passes)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
