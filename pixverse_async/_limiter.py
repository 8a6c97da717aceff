"""The generation-slot limiter: respects the account's concurrent-generation limit.

PixVerse lets an account have at most N jobs generating at once and answers ErrCode 500044
beyond it, without saying N. A slot is taken before a generation submit and held until that
job reaches a terminal status (or the server's 10-minute stuck-slot release), not just for the
HTTP call. One limiter is shared by everything on a client: batches, single calls, services.

``max_concurrency="auto"`` learns N:

- Slow start: until the first 500044, one submit more than the jobs running is allowed, so the
  limit is found after about N submits, with one rejection. A submit still unanswered after
  ``stall_after`` seconds (a slow or hung request) stops counting against that allowance, so
  one stuck answer cannot hold back every other submit until its read timeout.
- Learning: on a 500044 the limiter pauses, re-polls the jobs that hold slots (a job that has
  just ended on the server may not have been seen yet, and would be counted), and takes the
  jobs still running as the limit (a submit still waiting for its answer is not counted).
  That count is a lower bound of the real limit (those jobs ran at once); a job that ends
  during the re-poll is not counted, so with jobs not much longer than a status round trip
  the limit can be learned low. Every later 500044 gives a new lower
  bound, and the estimate only grows from them (and from probes).
- Learned: once ``probe_interval`` seconds have passed since the last probe, while work is
  waiting, the next time slots are handed out (a job ends, a submit is accepted) one extra
  submit probes upward; if it is accepted and the re-polled jobs confirm it, the limit grows
  (a plan upgrade is noticed). No timer fires a probe on its own: a probe the account refuses
  costs a 500044, so probes ride on the batch's own turnover.
- Squeeze: a 500044 below the learned limit means someone else uses the same key. It is not a
  new limit: new submits pause until one of our jobs ends (or ``squeeze_pause`` seconds).

A 500044 is never a sleep-and-retry: the rejected job goes back to wait for a slot, and is
resubmitted with a fresh trace id (nothing was created). With a fixed ``max_concurrency``, a
500044 is always treated as a squeeze.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from ._constants import (
    LIMIT_PROBE_INTERVAL,
    SLOT_RELEASE_SECONDS,
    SQUEEZE_PAUSE,
    SUBMIT_STALL_SECONDS,
)


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
        rejected_500044: concurrency-limit refusals (ErrCode 500044) seen.
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
    #: shared limiters (Redis): the figures above are the fleet's; this process's share
    shared: bool = False
    local_in_flight: int | None = None
    local_waiting: int | None = None
    #: shared limiters: whether the shared store is reachable now (no submit goes out while not)
    connected: bool = True


@dataclass(frozen=True)
class Verdict:
    """What a 500044 teaches (see :func:`judge_500044`)."""

    learned: bool
    estimate: int
    squeeze: bool = False
    #: a probe found no room: count the probe interval again from now
    probe_refused: bool = False
    #: the limit was learned or raised now (restart the probe interval)
    changed: bool = False


def judge_500044(
    *, fixed: bool, learned: bool, estimate: int, held: int, running: int, probe: bool
) -> Verdict:
    """The learning policy on a 500044, shared by the in-process and the Redis limiter.

    Args:
        fixed: the limit is given, not learned (a 500044 is then always a squeeze).
        learned: auto mode has learned a limit already.
        estimate: the learned limit.
        held: slots still held after the rejected one was given back (submits in the air
            included), counted after the jobs holding slots were re-polled.
        running: jobs accepted and still running after that re-poll: they ran at once, so
            they bound the limit from below (a submit still waiting for its answer is not
            counted).
        probe: the rejected submit was a probe above the learned limit.
    """
    if fixed:
        return Verdict(learned, estimate, squeeze=True)
    if not learned:
        return Verdict(True, max(1, running), changed=True)
    if running > estimate:
        return Verdict(True, running, changed=False)  # more of ours ran at once: a better bound
    if probe and held >= estimate:
        return Verdict(True, estimate, probe_refused=True)  # the probe found no room
    if held < estimate:
        return Verdict(True, estimate, squeeze=True)  # someone else uses the key
    return Verdict(True, estimate)


class Timer(Protocol):
    """A scheduled callback that can be called off."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """Time as a limiter sees it: injectable, so its policy is testable without real time."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` after ``delay`` seconds."""
        ...


class LoopClock:
    """The default :class:`Clock`: ``time.monotonic`` and the running event loop's timers."""

    def now(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback)


#: re-polls the jobs holding slots, so jobs that ended unseen give theirs back
Refresh = Callable[[], Awaitable[None]]


class Slot:
    """One held generation slot, a token of the limiter that handed it out.

    Released exactly once: further releases are no-ops.
    """

    __slots__ = ("_limiter", "_timer", "accepted", "probe", "released", "taken_at")

    def __init__(self, limiter: Limiter, taken_at: float) -> None:
        self._limiter = limiter
        self.accepted = False
        self.released = False
        self.probe = False
        self.taken_at = taken_at
        self._timer: Timer | None = None

    def release(self) -> None:
        self._limiter.release(self)


class Limiter(Protocol):
    """What the submitter needs from a generation-slot limiter.

    The one submit path (``_submit.py``) is the only caller, in this order: ``acquire`` a
    slot before the submit; then ``accepted`` (a job was created: the slot stays held until
    the job ends) or ``rejected`` (ErrCode 500044: nothing was created; learn, give the slot
    back, and the submitter waits for another one) or ``release`` (the submit failed
    otherwise); ``release`` again when the job ends. :class:`SlotLimiter` is the in-process
    implementation; one shared through Redis implements the same methods.
    """

    async def acquire(self) -> Slot:
        """Wait for a free slot (first come, first served). Cancelling the wait takes none."""
        ...

    async def accepted(self, slot: Slot) -> None:
        """The submit created a job; the slot is held until :meth:`release`."""
        ...

    async def rejected(self, slot: Slot) -> None:
        """The submit got ErrCode 500044: learn from it and give the slot back."""
        ...

    def release(self, slot: Slot) -> None:
        """Give a slot back (idempotent, never blocks)."""
        ...

    def bind(self, refresh: Refresh) -> None:
        """How to re-poll the jobs holding slots (set by the submitter)."""
        ...

    def statistics(self) -> LimiterStatistics:
        """A snapshot for logs, progress displays and benchmarks."""
        ...

    async def aclose(self) -> None:
        """Release whatever the limiter holds outside this process (idempotent)."""
        ...


class SlotLimiter:
    """See the module docstring.

    Args:
        max_concurrency: a fixed number of slots, or ``"auto"`` to learn the account's limit.
        probe_interval: seconds between upward probes of a learned limit.
        squeeze_pause: seconds new submits pause after a 500044 below the limit (or until a
            job ends, whichever comes first).
        slot_release: seconds after which a still-generating job no longer holds a slot (the
            server stops counting it after 10 minutes).
        stall_after: auto mode, before the limit is learned: seconds after which an
            unanswered submit no longer holds back the next one.
        clock: time and timers (default: ``time.monotonic`` and the running loop); tests
            inject a manual clock.
    """

    def __init__(
        self,
        max_concurrency: int | Literal["auto"] = "auto",
        *,
        probe_interval: float = LIMIT_PROBE_INTERVAL,
        squeeze_pause: float = SQUEEZE_PAUSE,
        slot_release: float = SLOT_RELEASE_SECONDS,
        stall_after: float = SUBMIT_STALL_SECONDS,
        clock: Clock | None = None,
    ) -> None:
        if max_concurrency != "auto" and (
            not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            raise ValueError(
                f"max_concurrency must be a positive int or 'auto', not {max_concurrency!r}"
            )
        self.mode = "auto" if max_concurrency == "auto" else "fixed"
        self._clock: Clock = clock or LoopClock()
        self._fixed = None if max_concurrency == "auto" else int(max_concurrency)
        self.probe_interval = probe_interval
        self.squeeze_pause = squeeze_pause
        self.slot_release = slot_release
        self.stall_after = stall_after
        self._unanswered: set[Slot] = set()  # submits in the air (auto mode, slow start)
        self._held = 0
        self._running = 0
        self._max_running = 0
        self._estimate = 0  # the learned limit (auto mode, once learned)
        self._learned = False
        self._paused = 0  # rejections being learned from: hand out no slot meanwhile
        self._refresh: Refresh | None = None
        self._rejections = 0
        self._last_probe = self._clock.now()
        self._squeezed_until = 0.0
        self._waiters: deque[asyncio.Future[Slot]] = deque()
        self._squeeze_timer: Timer | None = None

    def bind(self, refresh: Refresh) -> None:
        """Set how to re-poll the jobs holding slots (the submitter does)."""
        self._refresh = refresh

    async def aclose(self) -> None:
        """Nothing to give back outside this process."""

    # -- policy ----------------------------------------------------------------------------

    @property
    def limit(self) -> int | None:
        """Slots allowed now (``None`` while auto mode is still growing)."""
        if self._fixed is not None:
            return self._fixed
        if not self._learned:
            return None
        return self._estimate

    def _allowed(self) -> int:
        if self._fixed is not None:
            return self._fixed
        if not self._learned:
            now = self._clock.now()
            stalled = sum(1 for s in self._unanswered if now - s.taken_at >= self.stall_after)
            return self._running + 1 + stalled
        allowed = self._estimate
        if self._waiters and self._clock.now() - self._last_probe >= self.probe_interval:
            allowed += 1  # one probe above the learned limit
        return allowed

    def _can_take(self) -> bool:
        if self._paused or self._clock.now() < self._squeezed_until:  # learning, or squeezed
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
            # a granted future was already popped by _wake; only a cancelled wait is still
            # queued (skipping the scan keeps a grant O(1) with thousands waiting)
            if not future.done() or future.cancelled():
                with contextlib.suppress(ValueError):
                    self._waiters.remove(future)

    def _take(self) -> Slot:
        self._held += 1
        slot = Slot(self, self._clock.now())
        if self._fixed is None and not self._learned:
            self._unanswered.add(slot)
            # re-check the waiters once this submit counts as stalled
            self._clock.call_later(self.stall_after, self._wake)
        if self._learned and self._fixed is None and self._held > self._estimate:
            slot.probe = True
            self._last_probe = slot.taken_at
        return slot

    def _wake(self) -> None:
        while self._waiters and self._can_take():
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(self._take())

    # -- outcomes of a submit --------------------------------------------------------------

    async def accepted(self, slot: Slot) -> None:
        """The submit created a job: the slot is held until the job ends (or 10 minutes).

        A probe above the learned limit that is accepted raises the limit to what is
        verified: an acceptance alone proves little (a job counted as running may have ended
        unseen), so the jobs holding slots are re-polled first, and the limit becomes the
        number still running, if that is more.
        """
        if slot.released or slot.accepted:
            return
        slot.accepted = True
        self._unanswered.discard(slot)
        self._running += 1
        if self._running > self._max_running:
            self._max_running = self._running
        slot._timer = self._clock.call_later(self.slot_release, slot.release)
        self._wake()
        if not slot.probe:
            return
        if self._refresh is not None:
            await self._refresh()
        if self._running > self._estimate:
            self._estimate = self._running
            self._wake()

    async def rejected(self, slot: Slot) -> None:
        """The submit got 500044: learn from it and give the slot back (nothing was created).

        Hands out no slot meanwhile: it first re-polls the jobs holding slots (see
        :meth:`bind`), so jobs that ended unseen do not count as running.
        """
        if slot.released:
            return
        self._rejections += 1
        self._paused += 1
        try:
            self.release(slot)
            if self._refresh is not None:
                await self._refresh()
        finally:
            self._paused -= 1
        verdict = judge_500044(
            fixed=self._fixed is not None,
            learned=self._learned,
            estimate=self._estimate,
            held=self._held,
            running=self._running,
            probe=slot.probe,
        )
        if self._fixed is None:
            self._learned, self._estimate = verdict.learned, verdict.estimate
        if verdict.changed or verdict.probe_refused:
            self._last_probe = self._clock.now()
        if verdict.squeeze:
            self._squeeze()
        self._wake()

    def _squeeze(self) -> None:
        self._squeezed_until = self._clock.now() + self.squeeze_pause
        if self._squeeze_timer is not None:
            self._squeeze_timer.cancel()
        self._squeeze_timer = self._clock.call_later(self.squeeze_pause, self._wake)

    def release(self, slot: Slot) -> None:
        """Give a slot back: the submit failed, or its job ended. Idempotent."""
        if slot.released:
            return
        slot.released = True
        self._unanswered.discard(slot)
        if slot._timer is not None:
            slot._timer.cancel()
        self._held -= 1
        if slot.accepted:
            self._running -= 1
            self._squeezed_until = 0.0  # one of ours ended: room may have opened
        self._wake()

    def statistics(self) -> LimiterStatistics:
        """A snapshot of the limiter's state."""
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
