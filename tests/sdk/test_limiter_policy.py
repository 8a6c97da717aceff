"""The generation-slot limiter's policy, on a manual clock: no test here sleeps in real time.

:class:`SlotLimiter` is driven directly, as the submitter drives it (``acquire``, then
``accepted`` / ``rejected`` / ``release``). Time is a :class:`~tests._clock.ManualClock`, and
the re-poll of the jobs holding slots is a fake :class:`Jobs` ``refresh``: a job can be marked
as having ended on the server without the client having seen it yet, and the re-poll then gives
its slot back, as the client's real re-poll does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect

import pytest

from pixverse_async._limiter import Limiter, LimiterStatistics, Slot, SlotLimiter
from tests._clock import ManualClock, settle

pytestmark = pytest.mark.anyio

PROBE = 60.0
SQUEEZE = 5.0
STALL = 5.0
RELEASE = 600.0


def make(
    max_concurrency: int | str = "auto", **kwargs: float
) -> tuple[SlotLimiter, ManualClock, Jobs]:
    """A limiter on a manual clock, bound to a fake re-poll."""
    clock = ManualClock()
    options: dict[str, float] = {
        "probe_interval": PROBE,
        "squeeze_pause": SQUEEZE,
        "slot_release": RELEASE,
        "stall_after": STALL,
    }
    options.update(kwargs)
    limiter = SlotLimiter(max_concurrency, clock=clock, **options)  # type: ignore[arg-type]
    jobs = Jobs(limiter)
    limiter.bind(jobs.refresh)
    return limiter, clock, jobs


class Jobs:
    """The server's side of the jobs holding slots, as far as a re-poll can see it."""

    def __init__(self, limiter: SlotLimiter) -> None:
        self.limiter = limiter
        self.ended_unseen: list[Slot] = []
        self.refreshes = 0
        self.gate: asyncio.Event | None = None  # when set, a re-poll waits for it
        self.seen_in_flight: list[int] = []  # in_flight when each re-poll finished

    def end_unseen(self, slot: Slot) -> None:
        """The job ended on the server; the client has not polled it since."""
        self.ended_unseen.append(slot)

    async def refresh(self) -> None:
        self.refreshes += 1
        if self.gate is not None:
            await self.gate.wait()
        for slot in self.ended_unseen:
            slot.release()
        self.ended_unseen.clear()
        self.seen_in_flight.append(self.limiter.statistics().in_flight)


def ask(limiter: SlotLimiter) -> asyncio.Task[Slot]:
    """Start waiting for a slot (a submitter about to submit)."""
    return asyncio.ensure_future(limiter.acquire())


async def ask_in_order(limiter: SlotLimiter, n: int) -> list[asyncio.Task[Slot]]:
    """``n`` waiters, queued in this order."""
    tasks = []
    for _ in range(n):
        tasks.append(ask(limiter))
        await settle(1)  # each one reaches the queue before the next starts
    await settle()
    return tasks


async def run(limiter: SlotLimiter) -> Slot:
    """A submit that is answered at once with a created job (the slot stays held)."""
    slot = await asyncio.wait_for(limiter.acquire(), 1)
    await limiter.accepted(slot)
    return slot


async def learn(
    limiter: SlotLimiter, n: int, clock: ManualClock | None = None, took: float = 0.0
) -> list[Slot]:
    """Slow start up to ``n`` running jobs (``took`` seconds), then one 500044: learns ``n``."""
    running = [await run(limiter) for _ in range(n)]
    if clock is not None:
        clock.advance(took)
    over = await asyncio.wait_for(limiter.acquire(), 1)
    await limiter.rejected(over)
    assert limiter.limit == n
    return running


def granted(tasks: list[asyncio.Task[Slot]]) -> list[bool]:
    return [t.done() and not t.cancelled() for t in tasks]


def stats(limiter: SlotLimiter) -> LimiterStatistics:
    return limiter.statistics()


# -- the Limiter protocol -------------------------------------------------------------------


def test_slot_limiter_implements_the_limiter_protocol() -> None:
    limiter: Limiter = SlotLimiter(1)  # the static check (mypy, pyright)
    # and at run time: every protocol member, sync or async as the protocol declares it,
    # with the protocol's parameters
    members = ["acquire", "accepted", "rejected", "release", "bind", "statistics", "aclose"]
    for name in members:
        declared = getattr(Limiter, name)
        implemented = getattr(type(limiter), name)
        assert inspect.iscoroutinefunction(implemented) == inspect.iscoroutinefunction(declared), (
            name
        )
        assert list(inspect.signature(implemented).parameters) == list(
            inspect.signature(declared).parameters
        ), name
    assert [m for m in members if inspect.iscoroutinefunction(getattr(Limiter, m))] == [
        "acquire",
        "accepted",
        "rejected",
        "aclose",
    ]


async def test_aclose_is_idempotent_and_keeps_the_limiter_usable() -> None:
    limiter, _, _ = make(1)
    await limiter.aclose()
    await limiter.aclose()
    slot = await run(limiter)
    assert stats(limiter).running == 1
    limiter.release(slot)
    assert stats(limiter).in_flight == 0


def test_invalid_max_concurrency() -> None:
    for bad in (0, -1, 1.5, "many", None):
        with pytest.raises(ValueError, match="max_concurrency"):
            SlotLimiter(bad)  # type: ignore[arg-type]


# -- a fixed limit --------------------------------------------------------------------------


async def test_fixed_limit_never_hands_out_more_than_n() -> None:
    limiter, _, _ = make(3)
    tasks = await ask_in_order(limiter, 10)
    assert granted(tasks) == [True] * 3 + [False] * 7
    assert (stats(limiter).in_flight, stats(limiter).waiting) == (3, 7)
    most = 0
    for i in range(10):  # each job ends in turn; its slot goes to exactly one waiter
        slot = tasks[i].result()
        await limiter.accepted(slot)
        limiter.release(slot)
        await settle()
        most = max(most, stats(limiter).in_flight)
        assert sum(granted(tasks)) == min(10, i + 4)
    assert most == 3
    assert stats(limiter).in_flight == 0 and stats(limiter).max_running == 1


async def test_fixed_limit_grants_slots_first_come_first_served() -> None:
    limiter, _, _ = make(1)
    held = await run(limiter)
    tasks = await ask_in_order(limiter, 5)
    order: list[int] = []
    for i, task in enumerate(tasks):
        task.add_done_callback(functools.partial(lambda i, _: order.append(i), i))
    slot = held
    for _ in range(5):
        limiter.release(slot)
        await settle()
        assert sum(granted(tasks)) == len(order)
        slot = tasks[order[-1]].result()
    assert order == [0, 1, 2, 3, 4]


async def test_cancelled_wait_takes_no_slot() -> None:
    limiter, _, _ = make(1)
    held = await limiter.acquire()
    waiter = ask(limiter)
    await settle()
    assert stats(limiter).waiting == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert stats(limiter).waiting == 0
    held.release()
    assert stats(limiter).in_flight == 0
    again = ask(limiter)
    await settle()
    assert again.done()  # the free slot is had at once: the cancelled waiter took none
    assert stats(limiter).in_flight == 1


async def test_waiter_granted_as_it_is_cancelled_gives_the_slot_back() -> None:
    """A slot handed to a waiter whose task is cancelled before it resumes is not lost."""
    limiter, _, _ = make(1)
    held = await run(limiter)
    first, second = await ask_in_order(limiter, 2)
    limiter.release(held)  # grants `first` its slot, but its task has not run yet...
    assert stats(limiter).in_flight == 1
    first.cancel()  # ...and is cancelled before it does
    with pytest.raises(asyncio.CancelledError):
        await first
    await settle()
    assert second.done() and not second.cancelled()  # the slot went on to the next one
    assert (stats(limiter).in_flight, stats(limiter).waiting) == (1, 0)
    limiter.release(second.result())
    assert stats(limiter).in_flight == 0


async def test_release_is_idempotent() -> None:
    limiter, clock, _ = make(1)
    slot = await run(limiter)
    assert len(clock.pending()) == 1  # its 10-minute release timer
    first, second = await ask_in_order(limiter, 2)
    limiter.release(slot)
    limiter.release(slot)
    slot.release()
    await settle()
    # one release, one slot: only the first waiter got it
    assert granted([first, second]) == [True, False]
    assert (stats(limiter).in_flight, stats(limiter).running, stats(limiter).waiting) == (1, 0, 1)
    assert slot.released and clock.pending() == []  # and the release timer was called off
    await limiter.accepted(slot)  # a late answer for a released slot changes nothing
    assert (stats(limiter).in_flight, stats(limiter).running) == (1, 0)


async def test_second_answer_for_a_slot_changes_nothing() -> None:
    limiter, _, _ = make(2)
    slot = await run(limiter)
    await limiter.accepted(slot)
    assert (stats(limiter).running, stats(limiter).max_running) == (1, 1)
    limiter.release(slot)
    assert (stats(limiter).running, stats(limiter).in_flight) == (0, 0)


async def test_fixed_limit_500044_squeezes_until_one_of_our_jobs_ends() -> None:
    limiter, clock, _ = make(3)
    a = await run(limiter)
    await run(limiter)
    over = await limiter.acquire()
    await limiter.rejected(over)  # someone else on the key: 2 of ours ran, 3 are allowed
    assert (limiter.limit, stats(limiter).rejected_500044, stats(limiter).in_flight) == (3, 1, 2)
    retry = ask(limiter)
    await settle()
    clock.advance(SQUEEZE - 0.1)
    await settle()
    assert not retry.done()  # squeezed although a slot looks free
    limiter.release(a)  # one of ours ends: room may have opened
    await settle()
    assert retry.done()
    assert limiter.limit == 3


async def test_fixed_limit_squeeze_lifts_after_the_squeeze_pause() -> None:
    limiter, clock, _ = make(3)
    await run(limiter)
    await run(limiter)
    over = await limiter.acquire()
    await limiter.rejected(over)
    retry = ask(limiter)
    await settle()
    clock.advance(SQUEEZE - 0.1)
    await settle()
    assert not retry.done()
    clock.advance(0.1)
    await settle()
    assert retry.done()
    assert (limiter.limit, stats(limiter).in_flight) == (3, 3)


# -- auto mode: slow start --------------------------------------------------------------------


async def test_slow_start_allows_one_submit_more_than_the_jobs_running() -> None:
    limiter, _, _ = make()
    a = await limiter.acquire()
    b, c = await ask_in_order(limiter, 2)
    assert granted([b, c]) == [False, False]  # nothing runs yet: one submit at a time
    await limiter.accepted(a)
    await settle()
    assert granted([b, c]) == [True, False]  # 1 running: 2 allowed
    limiter.release(b.result())  # that submit failed: it never ran
    await settle()
    assert granted([b, c]) == [True, True]
    await limiter.accepted(c.result())
    more = await ask_in_order(limiter, 3)
    assert granted(more) == [True, False, False]  # 2 running: 3 allowed
    assert (limiter.limit, stats(limiter).learned, stats(limiter).in_flight) == (None, False, 3)


async def test_slow_start_stalled_submit_stops_holding_back_the_next() -> None:
    """A submit unanswered for ``stall_after`` no longer counts against the allowance."""
    limiter, clock, _ = make()
    hung = await limiter.acquire()
    nxt, after = await ask_in_order(limiter, 2)
    clock.advance(STALL - 0.1)
    await settle()
    assert granted([nxt, after]) == [False, False]
    clock.advance(0.1)  # the first submit stalls: the next one goes ahead (no event needed)
    await settle()
    assert granted([nxt, after]) == [True, False]
    clock.advance(STALL)  # and so on, one more per stalled submit
    await settle()
    assert granted([nxt, after]) == [True, True]
    assert stats(limiter).in_flight == 3 and stats(limiter).running == 0
    await limiter.accepted(hung)  # the hung one is answered at last: it runs
    assert (stats(limiter).running, limiter.limit) == (1, None)


# -- auto mode: learning from 500044 ---------------------------------------------------------


async def test_first_500044_learns_the_jobs_still_running_after_the_re_poll() -> None:
    """The re-poll runs before counting: a job that ended unseen is not counted."""
    limiter, _, jobs = make()
    a, *_ = [await run(limiter) for _ in range(4)]
    jobs.end_unseen(a)  # ended on the server; the client has not polled it yet
    over = await limiter.acquire()
    await limiter.rejected(over)
    assert jobs.refreshes == 1 and jobs.seen_in_flight == [3]
    assert a.released
    assert (limiter.limit, stats(limiter).learned, stats(limiter).in_flight) == (3, True, 3)
    assert stats(limiter).rejected_500044 == 1


async def test_no_slot_is_handed_out_while_the_jobs_are_re_polled() -> None:
    limiter, _, jobs = make()
    a = await run(limiter)
    over = await limiter.acquire()
    waiter = ask(limiter)
    await settle()
    jobs.gate = asyncio.Event()
    rejecting = asyncio.ensure_future(limiter.rejected(over))
    await settle()
    assert jobs.refreshes == 1 and not rejecting.done()
    limiter.release(a)  # our only job ends during the re-poll: slow start would allow one...
    await settle()
    assert not waiter.done()  # ...but nothing is handed out until the 500044 is learned from
    jobs.gate.set()
    await asyncio.wait_for(rejecting, 1)
    await settle()
    assert waiter.done()
    assert limiter.limit == 1


async def test_learned_limit_is_at_least_one() -> None:
    """Every held job had ended unseen: nothing is still running, yet the limit is 1, not 0."""
    limiter, _, jobs = make()
    held = [await run(limiter) for _ in range(2)]
    for slot in held:
        jobs.end_unseen(slot)
    over = await limiter.acquire()
    await limiter.rejected(over)
    assert stats(limiter).in_flight == 0
    assert (limiter.limit, stats(limiter).learned) == (1, True)
    first, second = await ask_in_order(limiter, 2)
    assert granted([first, second]) == [True, False]  # work goes on, one at a time


async def test_first_500044_counts_only_jobs_known_to_run() -> None:
    """A stalled submit is not a running job: it is no evidence of the limit.

    With 1 job running and 1 submit hung, a 500044 shows the limit is at least 1; counting the
    hung submit (which will be rejected too: the account is full) learns 2, for good.
    """
    limiter, clock, _ = make()
    await run(limiter)
    hung = await limiter.acquire()
    clock.advance(STALL)  # the hung submit stops holding back the next one
    over = await asyncio.wait_for(limiter.acquire(), 1)
    await limiter.rejected(over)
    await limiter.rejected(hung)
    assert limiter.limit == 1


async def test_later_500044_with_more_jobs_running_raises_the_estimate() -> None:
    """Every 500044 is a new lower bound; the estimate grows from it (and never shrinks)."""
    limiter, clock, _ = make()
    await run(limiter)
    slow = await limiter.acquire()
    clock.advance(STALL)
    also_slow = await asyncio.wait_for(limiter.acquire(), 1)
    clock.advance(STALL)
    over = await asyncio.wait_for(limiter.acquire(), 1)
    await limiter.rejected(over)
    assert limiter.limit == 1  # one job known to run
    await limiter.accepted(slow)  # a slow submit is answered: two of ours run at once
    await limiter.rejected(also_slow)
    assert limiter.limit == 2


async def test_500044_below_the_learned_limit_is_a_squeeze() -> None:
    """Someone else uses the key: new submits pause, the learned limit stays."""
    limiter, clock, _ = make()
    running = await learn(limiter, 3)
    limiter.release(running[0])
    refill = await limiter.acquire()
    limiter.release(running[1])
    await limiter.rejected(refill)  # rejected with only 1 of ours running
    assert (limiter.limit, stats(limiter).in_flight) == (3, 1)
    retry = ask(limiter)
    await settle()
    clock.advance(SQUEEZE - 0.1)
    await settle()
    assert not retry.done()  # paused although 2 slots look free
    clock.advance(0.1)
    await settle()
    assert retry.done()
    assert limiter.limit == 3


# -- auto mode: probing upward ------------------------------------------------------------------


async def test_probe_waits_for_the_probe_interval_with_work_waiting() -> None:
    limiter, clock, _ = make()
    a, b = await learn(limiter, 2, clock, took=PROBE * 2)  # the interval counts from learning
    tasks = await ask_in_order(limiter, 4)
    clock.advance(PROBE - 1)
    limiter.release(a)  # jobs end: their slots are refilled, no more
    limiter.release(b)
    await settle()
    assert granted(tasks) == [True, True, False, False]
    await limiter.accepted(tasks[0].result())  # an event before the interval: still no probe
    await settle()
    assert (granted(tasks), stats(limiter).in_flight) == ([True, True, False, False], 2)
    clock.advance(1)  # probe_interval since the limit was learned, and work waits
    await limiter.accepted(tasks[1].result())
    await settle()
    assert granted(tasks) == [True, True, True, False]  # one probe above the limit, no more
    assert [t.result().probe for t in tasks[:3]] == [False, False, True]
    assert (stats(limiter).in_flight, limiter.limit) == (3, 2)


async def _probe(limiter: SlotLimiter, clock: ManualClock) -> tuple[list[Slot], Slot]:
    """Learn 2, then let a probe out: (the two jobs running, the probe's slot)."""
    a, b = await learn(limiter, 2)
    limiter.release(a)
    refill = await limiter.acquire()
    probe = ask(limiter)
    await settle()
    clock.advance(PROBE)
    await limiter.accepted(refill)
    await settle()
    assert probe.done() and probe.result().probe
    assert (stats(limiter).in_flight, stats(limiter).running) == (3, 2)
    return [b, refill], probe.result()


async def test_accepted_probe_raises_the_limit_to_the_jobs_verified_running() -> None:
    limiter, clock, jobs = make()
    _, probe = await _probe(limiter, clock)
    refreshes = jobs.refreshes
    await limiter.accepted(probe)
    assert jobs.refreshes == refreshes + 1  # verified by a re-poll first
    assert (limiter.limit, stats(limiter).running) == (3, 3)


async def test_accepted_probe_does_not_count_jobs_that_ended_unseen() -> None:
    """An acceptance proves little alone: a job counted as running may have ended unseen."""
    limiter, clock, jobs = make()
    running, probe = await _probe(limiter, clock)
    jobs.end_unseen(running[0])
    await limiter.accepted(probe)
    assert running[0].released
    assert (limiter.limit, stats(limiter).running) == (2, 2)


async def test_ordinary_acceptance_does_not_re_poll() -> None:
    limiter, _, jobs = make()
    a, _ = await learn(limiter, 2)
    assert jobs.refreshes == 1  # the 500044's
    limiter.release(a)
    await run(limiter)
    assert jobs.refreshes == 1


async def test_rejected_probe_at_the_limit_defers_the_next_probe() -> None:
    limiter, clock, _ = make()
    running, probe = await _probe(limiter, clock)
    clock.advance(10)
    await limiter.rejected(probe)  # no room above 2 (yet)
    assert (limiter.limit, stats(limiter).in_flight) == (2, 2)
    tasks = await ask_in_order(limiter, 3)
    clock.advance(PROBE - 1)  # more than probe_interval since the probe went out...
    limiter.release(running[0])
    limiter.release(running[1])
    await settle()
    await limiter.accepted(tasks[0].result())
    await settle()
    assert granted(tasks) == [True, True, False]  # ...but not since it was refused
    assert not any(t.result().probe for t in tasks[:2])
    clock.advance(1)
    await limiter.accepted(tasks[1].result())
    await settle()
    assert granted(tasks) == [True, True, True]
    assert tasks[2].result().probe


# -- the server's stuck-slot release ------------------------------------------------------------


async def test_stuck_job_slot_is_released_after_the_server_release_time() -> None:
    limiter, clock, _ = make(1)
    stuck = await run(limiter)
    waiter = ask(limiter)
    await settle()
    clock.advance(RELEASE - 0.1)
    await settle()
    assert not waiter.done() and not stuck.released
    clock.advance(0.1)  # the server stops counting a job generating for 10 minutes
    await settle()
    assert stuck.released and waiter.done()
    assert (stats(limiter).running, stats(limiter).in_flight) == (0, 1)
    stuck.release()  # the stuck job ends at last: nothing more is given back
    assert stats(limiter).in_flight == 1


# -- statistics -------------------------------------------------------------------------------


async def test_statistics_follow_the_limiter_through_a_scenario() -> None:
    limiter, _, jobs = make()
    expected = LimiterStatistics(
        mode="auto",
        limit=None,
        learned=False,
        in_flight=0,
        running=0,
        waiting=0,
        rejected_500044=0,
        max_running=0,
    )

    def step(**changes: object) -> None:
        nonlocal expected
        expected = dataclasses.replace(expected, **changes)  # type: ignore[arg-type]
        assert stats(limiter) == expected

    step()
    a = await limiter.acquire()
    step(in_flight=1)
    b, c = await ask_in_order(limiter, 2)
    step(waiting=2)
    await limiter.accepted(a)
    await settle()
    step(running=1, max_running=1, in_flight=2, waiting=1)
    await limiter.accepted(b.result())
    await settle()
    step(running=2, max_running=2, in_flight=3, waiting=0)
    jobs.end_unseen(a)
    await limiter.rejected(c.result())
    step(rejected_500044=1, learned=True, limit=1, in_flight=1, running=1)
    retry = ask(limiter)
    await settle()
    step(waiting=1)
    limiter.release(b.result())
    await settle()
    step(waiting=0, running=0)  # in_flight stays 1: the retry took the slot
    assert retry.done() and not retry.result().probe
    await limiter.accepted(retry.result())
    step(running=1)
    retry.result().release()
    step(running=0, in_flight=0)


async def test_statistics_of_a_fixed_limit() -> None:
    limiter, _, _ = make(2)
    assert stats(limiter) == LimiterStatistics(
        mode="fixed",
        limit=2,
        learned=True,
        in_flight=0,
        running=0,
        waiting=0,
        rejected_500044=0,
        max_running=0,
    )
    await run(limiter)
    await run(limiter)
    waiter = ask(limiter)
    await settle()
    assert dataclasses.astuple(stats(limiter))[:8] == ("fixed", 2, True, 2, 2, 1, 0, 2)
    waiter.cancel()
    assert stats(limiter).waiting == 0  # at once, though the waiter has not run since
    await settle()
    assert (stats(limiter).waiting, stats(limiter).in_flight) == (0, 2)
