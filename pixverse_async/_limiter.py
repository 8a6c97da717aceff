"""The generation-slot limiter: respects the account's concurrent-generation limit.

PixVerse lets an account have at most N jobs generating at once and answers ErrCode 500044
beyond it, without saying N. A slot is taken before a generation submit and held until that
job reaches a terminal status (or the server's 10-minute stuck-slot release), not just for the
HTTP call. One limiter is shared by everything on a client: batches, single calls, services.

``max_concurrency="auto"`` learns N:

- Slow start: until the first 500044, one submit more than the most jobs ever seen running
  at once is allowed, so the limit is found after about N submits, with one rejection.
- Learned: the limit is the most jobs seen running at once (a proven lower bound of N; it
  rises by itself whenever more are accepted). Every ``probe_interval`` seconds, while work is
  waiting, one extra submit probes upward to notice a plan upgrade.
- Squeeze: a 500044 below the learned limit means someone else uses the same key. It is not a
  new limit: new submits pause until one of our jobs ends (or ``squeeze_pause`` seconds).

A 500044 is never a sleep-and-retry: the rejected job goes back to wait for a slot, and is
resubmitted with a fresh trace id (nothing was created). With a fixed ``max_concurrency``, a
500044 is always treated as a squeeze.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass
from typing import Literal

from ._constants import LIMIT_PROBE_INTERVAL, SLOT_RELEASE_SECONDS, SQUEEZE_PAUSE


@dataclass(frozen=True)
class LimiterStatistics:
    """A snapshot of a :class:`SlotLimiter`.

    Attributes:
        mode: ``"auto"`` or ``"fixed"``.
        limit: slots allowed now (``None``: auto mode before the first 500044, still growing).
        learned: whether auto mode has met a 500044 and so knows the limit.
        in_flight: slots held (submits in the air plus jobs generating).
        running: jobs accepted and not yet ended.
        waiting: submits waiting for a slot.
        rejected_500044: 500044 answers seen.
        max_running: the most jobs seen running at once.
    """

    mode: str
    limit: int | None
    learned: bool
    in_flight: int
    running: int
    waiting: int
    rejected_500044: int
    max_running: int


class Slot:
    """One held generation slot. Released exactly once (further releases are no-ops)."""

    __slots__ = ("_limiter", "_timer", "accepted", "released")

    def __init__(self, limiter: SlotLimiter) -> None:
        self._limiter = limiter
        self.accepted = False
        self.released = False
        self._timer: asyncio.TimerHandle | None = None

    def release(self) -> None:
        self._limiter._release(self)


class SlotLimiter:
    """See the module docstring.

    Args:
        max_concurrency: a fixed number of slots, or ``"auto"`` to learn the account's limit.
        probe_interval: seconds between upward probes of a learned limit.
        squeeze_pause: seconds new submits pause after a 500044 below the limit (or until a
            job ends, whichever comes first).
        slot_release: seconds after which a still-generating job no longer holds a slot (the
            server stops counting it after 10 minutes).
    """

    def __init__(
        self,
        max_concurrency: int | Literal["auto"] = "auto",
        *,
        probe_interval: float = LIMIT_PROBE_INTERVAL,
        squeeze_pause: float = SQUEEZE_PAUSE,
        slot_release: float = SLOT_RELEASE_SECONDS,
    ) -> None:
        if max_concurrency != "auto" and (
            not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(
                f"max_concurrency must be a positive int or 'auto', not {max_concurrency!r}"
            )
        self.mode = "auto" if max_concurrency == "auto" else "fixed"
        self._fixed = None if max_concurrency == "auto" else int(max_concurrency)
        self.probe_interval = probe_interval
        self.squeeze_pause = squeeze_pause
        self.slot_release = slot_release
        self._held = 0
        self._running = 0
        self._max_running = 0
        self._learned = False
        self._rejections = 0
        self._probing = False
        self._last_probe = time.monotonic()
        self._squeezed_until = 0.0
        self._waiters: deque[asyncio.Future[Slot]] = deque()
        self._squeeze_timer: asyncio.TimerHandle | None = None

    # -- policy ----------------------------------------------------------------------------

    @property
    def limit(self) -> int | None:
        """Slots allowed now (``None`` while auto mode is still growing)."""
        if self._fixed is not None:
            return self._fixed
        if not self._learned:
            return None
        return max(1, self._max_running)

    def _allowed(self) -> int:
        if self._fixed is not None:
            return self._fixed
        if not self._learned:
            return self._max_running + 1
        allowed = max(1, self._max_running)
        if self._waiters and time.monotonic() - self._last_probe >= self.probe_interval:
            allowed += 1  # one probe above the learned limit
        return allowed

    def _can_take(self) -> bool:
        if time.monotonic() < self._squeezed_until:
            return False
        return self._held < self._allowed()

    # -- acquiring -------------------------------------------------------------------------

    async def acquire(self) -> Slot:
        """Wait for a free slot (FIFO). Cancelling the wait takes no slot."""
        if not self._waiters and self._can_take():
            return self._take()
        future: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                future.result().release()  # granted as we were cancelled: give it back
            raise
        finally:
            if future in self._waiters:
                self._waiters.remove(future)

    def _take(self) -> Slot:
        self._held += 1
        if self._learned and self._held > max(1, self._max_running):
            self._probing = True
            self._last_probe = time.monotonic()
        return Slot(self)

    def _wake(self) -> None:
        while self._waiters and self._can_take():
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(self._take())

    # -- outcomes of a submit --------------------------------------------------------------

    def accepted(self, slot: Slot) -> None:
        """The submit created a job: the slot is held until the job ends (or 10 minutes)."""
        if slot.released or slot.accepted:
            return
        slot.accepted = True
        self._running += 1
        if self._running > self._max_running:
            self._max_running = self._running
        slot._timer = asyncio.get_running_loop().call_later(self.slot_release, slot.release)
        self._wake()

    def rejected(self, slot: Slot) -> None:
        """The submit got 500044: learn from it and give the slot back (nothing was created)."""
        if slot.released:
            return
        self._rejections += 1
        others = self._held - 1
        if self._fixed is None and not self._learned:
            self._learned = True
            self._last_probe = time.monotonic()
        elif self._probing and others >= self._max_running:
            self._last_probe = time.monotonic()  # the probe found no room: try later
        else:
            self._squeeze()
        self._probing = False
        self._release(slot)

    def _squeeze(self) -> None:
        self._squeezed_until = time.monotonic() + self.squeeze_pause
        if self._squeeze_timer is not None:
            self._squeeze_timer.cancel()
        self._squeeze_timer = asyncio.get_running_loop().call_later(self.squeeze_pause, self._wake)

    def _release(self, slot: Slot) -> None:
        if slot.released:
            return
        slot.released = True
        if slot._timer is not None:
            slot._timer.cancel()
        self._held -= 1
        if slot.accepted:
            self._running -= 1
            self._squeezed_until = 0.0  # one of ours ended: room may have opened
        self._wake()

    def statistics(self) -> LimiterStatistics:
        return LimiterStatistics(
            mode=self.mode,
            limit=self.limit,
            learned=self._learned or self._fixed is not None,
            in_flight=self._held,
            running=self._running,
            waiting=sum(1 for f in self._waiters if not f.done()),
            rejected_500044=self._rejections,
            max_running=self._max_running,
        )
