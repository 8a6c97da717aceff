"""The poll budget: it follows the work, backs off on 429 / 500069, grows back, and serves the
polls that free generation slots first. Policy tests pass time in; none asserts a duration."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from pixverse_async import AsyncPixVerse, PollPolicy, RateLimitError
from pixverse_async import _polling as polling
from pixverse_async._constants import (
    POLL_BUDGET_BACKOFF,
    POLL_BUDGET_FLOOR,
    POLL_BUDGET_HEADROOM,
    POLL_BUDGET_MIN,
    POLL_BUDGET_RECOVERY,
)
from pixverse_async._polling import PollBudget, PollScheduler
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultPlan,
    Fixed,
)

KEY = "pv-poll-budget-test-key-0001"


def drain(budget: PollBudget, now: float, demand: float = 1_000.0) -> None:
    """Spend every token at ``now``: the last request waits (the budget binds)."""
    while budget.take(now, demand) == 0.0:
        pass


def sent(budget: PollBudget, start: float, count: int, rate: float) -> float:
    """Send ``count`` requests at ``rate`` per second from ``start``; the time after the last."""
    now = start
    for _ in range(count):
        assert budget.take(now, demand=1_000.0) == 0.0
        now += 1 / rate
    return now


# -- the policy, with time passed in ---------------------------------------------------------


def test_the_budget_follows_the_work() -> None:
    budget = PollBudget(None, now=0.0)
    assert budget.rate(0.0) == POLL_BUDGET_FLOOR  # a few jobs still get prompt polls
    assert budget.rate(1_000.0) == POLL_BUDGET_HEADROOM * 1_000.0
    assert budget.bound_by(1_000.0) == "demand"
    # a hard ceiling stays a ceiling
    capped = PollBudget(50.0, now=0.0)
    assert capped.rate(1_000.0) == 50.0 and capped.bound_by(1_000.0) == "max_rps"
    assert capped.rate(0.0) == POLL_BUDGET_FLOOR


def test_a_429_cuts_the_recent_rate_and_empties_the_bucket() -> None:
    budget = PollBudget(None, now=0.0)
    now = sent(budget, 0.0, 400, rate=400.0)  # one second at 400/s
    budget.throttled(now, sent=now - 0.01, demand=1_000.0)
    assert budget.cap == pytest.approx(POLL_BUDGET_BACKOFF * 400.0, rel=0.01)
    assert budget.bound_by(1_000.0) == "server"
    # the next request waits for a token at the new rate
    assert budget.take(now, 1_000.0) == pytest.approx(1 / budget.cap)
    assert budget.take(now + 1.001 / budget.cap, 1_000.0) == 0.0
    assert budget.throttled_answers == 1


def test_answers_to_requests_sent_before_the_drop_do_not_drop_it_again() -> None:
    budget = PollBudget(None, now=0.0)
    now = sent(budget, 0.0, 400, rate=400.0)
    budget.throttled(now, sent=now - 0.01, demand=1_000.0)
    cap = budget.cap
    for late in range(15):  # the rest of the requests that were in flight
        budget.throttled(now + 0.001 * late, sent=now - 0.005, demand=1_000.0)
    assert budget.cap == cap
    assert budget.throttled_answers == 16
    # a refusal of a request sent after the drop is a new event
    budget.throttled(now + 0.1, sent=now + 0.05, demand=1_000.0)
    assert budget.cap is not None and cap is not None and budget.cap < cap


def test_a_binding_cap_climbs_back_to_the_refused_rate_then_probes_and_an_idle_one_does_not() -> (
    None
):
    budget = PollBudget(None, now=0.0)
    now = sent(budget, 0.0, 400, rate=400.0)
    budget.throttled(now, sent=now, demand=1_000.0)
    assert budget.cap == pytest.approx(POLL_BUDGET_BACKOFF * 400.0, rel=0.01)
    caps = []

    def bind(start: float, seconds: float) -> None:
        # the cap binds (a request waits for a token) and answers keep coming
        for step in range(1, round(seconds * 100) + 1):
            t = start + 0.01 * step
            drain(budget, t)
            budget.answered(t, demand=1_000.0)
            caps.append(budget.cap)

    bind(now, POLL_BUDGET_RECOVERY)
    # concave: most of the way back early, at the refused rate after the recovery time
    assert (
        caps[len(caps) // 4] > POLL_BUDGET_BACKOFF * 400.0 + 0.5 * (1 - POLL_BUDGET_BACKOFF) * 400.0
    )
    assert budget.cap == pytest.approx(400.0, rel=0.02)
    bind(now + POLL_BUDGET_RECOVERY, POLL_BUDGET_RECOVERY)
    # then convex probing above it
    assert budget.cap == pytest.approx(400.0 * (2 - POLL_BUDGET_BACKOFF), rel=0.02)
    assert caps == sorted(caps)
    grown = budget.cap
    # answers while nothing waits for a token leave the cap alone
    later = now + 2 * POLL_BUDGET_RECOVERY
    for step in range(1, 41):
        budget.answered(later + 0.1 * step, demand=1_000.0)
    assert budget.cap == grown


def test_a_cap_never_grows_past_what_the_work_needs() -> None:
    budget = PollBudget(None, now=0.0)
    budget.throttled(0.0, sent=0.0, demand=10.0)
    for step in range(1, 2_000):
        t = 0.1 * step
        drain(budget, t, demand=10.0)
        budget.answered(t, demand=10.0)
    assert budget.cap == pytest.approx(max(POLL_BUDGET_FLOOR, POLL_BUDGET_HEADROOM * 10.0))


def test_other_requests_count_in_the_cap_and_grow_it_back_without_polls() -> None:
    # submits, uploads and account calls share the budget once the server pushed back: the
    # cap must make room for them (not the polls' floor) and grow back on their answers
    budget = PollBudget(None, now=0.0)
    now = 0.0
    for _ in range(60):  # one second of other requests at 60/s, nothing polled
        budget.note_sent(now)
        now += 1 / 60
    budget.throttled(now, sent=now, demand=0.0)
    assert budget.cap == pytest.approx(POLL_BUDGET_BACKOFF * 60, rel=0.05)
    assert budget.rate(0.0) == budget.cap
    start = now
    while now < start + POLL_BUDGET_RECOVERY:  # the callers always want more: it binds
        wait = budget.take(now, 0.0, other=True)
        if wait:
            now += wait + 1e-6
            continue
        budget.answered(now, demand=0.0)
    assert budget.cap == pytest.approx(60, rel=0.1)


def test_busy_answers_slow_polls_down_to_the_floor_only() -> None:
    # 500069 says the server is loaded, not that this client is over a rate: back off, but
    # keep the floor (a 429 may go lower)
    budget = PollBudget(None, now=0.0)
    now = sent(budget, 0.0, 20, rate=20.0)
    budget.throttled(now, sent=now, demand=1_000.0, floor=POLL_BUDGET_FLOOR)
    assert budget.cap == POLL_BUDGET_FLOOR
    limited = PollBudget(None, now=0.0)
    now = sent(limited, 0.0, 3, rate=3.0)
    limited.throttled(now, sent=now, demand=1_000.0)
    assert limited.cap == POLL_BUDGET_BACKOFF * 3
    lowest = PollBudget(None, now=0.0)
    lowest.throttled(0.0, sent=0.0, demand=1_000.0)
    assert lowest.cap == POLL_BUDGET_MIN


# -- the scheduler ---------------------------------------------------------------------------


class Running:
    status = 5


class Done:
    status = 1


def test_the_budget_scales_with_the_interval_and_the_jobs_watched() -> None:
    async def main() -> tuple[float, float]:
        async def never(media: str, job_id: int) -> Any:
            raise AssertionError("no poll expected")

        budgets = []
        for interval in (4.0, 0.05):
            poller: PollScheduler[Any] = PollScheduler(
                never, PollPolicy(interval=interval, first_poll=3600.0)
            )
            futures = [poller.future("video", i, "modify") for i in range(1_000)]
            budgets.append(poller.statistics().budget)
            for future in futures:
                future.cancel()
            await poller.aclose()
        return budgets[0], budgets[1]

    slow, fast = asyncio.run(main())
    assert slow == POLL_BUDGET_HEADROOM * 1_000 / 4.0
    assert fast / slow == pytest.approx(80.0)


@pytest.mark.anyio
async def test_slot_holders_are_polled_first_when_the_budget_binds(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(polling, "POLL_BACKLOG_WARN", 0.0)  # warn on the first late polls
    order: list[int] = []
    enough = asyncio.Event()
    bulk, slots = 400, range(10_000, 10_005)

    async def fetch(media: str, job_id: int) -> Any:
        order.append(job_id)
        if len(order) >= 160:
            enough.set()
        return Done() if job_id in slots else Running()

    # a bulk re-attach of 400 jobs (no slots), all due at once, on a budget of 100/s
    policy = PollPolicy(interval=0.05, jitter=0.0, first_poll=0.0, max_rps=100.0)
    poller: PollScheduler[Any] = PollScheduler(fetch, policy)
    try:
        waits = [poller.future("video", i, "modify") for i in range(bulk)]
        await asyncio.wait_for(enough.wait(), 30)
        stats = poller.statistics()
        assert stats.budget_bound_by == "max_rps" and stats.backlog > 0
        # live jobs holding generation slots fall due: they jump the backlog
        marker = len(order)
        held = []
        for job_id in slots:
            held.append(poller.future("video", job_id, "modify"))
            poller.hold("video", job_id)
        await asyncio.wait_for(asyncio.gather(*held), 30)
        served = [order.index(job_id) for job_id in slots]
        # (polls already handed to the pool when they fell due may go first: a few at most)
        assert max(served) < marker + len(slots) + policy.max_concurrency, (marker, served)
        assert poller.statistics().backlog > 200  # the bulk is still waiting its turn
        assert poller.statistics().late_polls > 0
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "PollPolicy.max_rps" in warnings[0].getMessage()
        for future in waits:
            future.cancel()
    finally:
        await poller.aclose()


@pytest.mark.anyio
async def test_a_refused_poll_waits_for_its_retry_after_and_the_others_go_on() -> None:
    polls: dict[int, int] = {1: 0, 2: 0}
    enough = asyncio.Event()

    async def fetch(media: str, job_id: int) -> Any:
        polls[job_id] += 1
        if job_id == 1:
            raise RateLimitError("slow down", code=500069, http_status=429, retry_after=60.0)
        if polls[2] >= 20:
            enough.set()
        return Running()

    poller: PollScheduler[Any] = PollScheduler(
        fetch, PollPolicy(interval=0.01, jitter=0.0, first_poll=0.0)
    )
    try:
        waits = [poller.future("video", job_id, "modify") for job_id in (1, 2)]
        await asyncio.wait_for(enough.wait(), 30)
        stats = poller.statistics()
        assert polls[1] == 1  # asked again only after its Retry-After (a minute)
        assert stats.throttled == 1 and stats.server_cap is not None
        for future in waits:
            future.cancel()
    finally:
        await poller.aclose()


# -- against the emulator --------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_rate_limited_server_gets_few_429s_and_every_job_ends() -> None:
    """The emulator caps the account at 40 requests/s and asks for Retry-After 0.2 s.

    A client that ignored Retry-After or kept its rate would draw hundreds of 429s (polls at
    0.02 s for 30 jobs ask for 1,500/s); backing off keeps them to a few per congestion event.
    """
    account = AccountConfig(api_key=KEY, concurrency=30, credit_package=10**9)
    config = EmulatorConfig(accounts=(account,), job_duration=Fixed(0.6), seed=5)
    poll = PollPolicy(interval=0.02, jitter=0.0)
    async with (
        Emulator(config) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=poll, max_concurrency=30) as client,
    ):
        jobs = [
            await client.video.text_to_video(
                prompt=f"clip {i}", model="v5", duration=5, quality="360p", aspect_ratio="16:9"
            )
            for i in range(30)
        ]
        emu.set_faults(FaultPlan(rate_limit_rps=40, retry_after=0.2))
        results = await asyncio.wait_for(asyncio.gather(*(job.wait() for job in jobs)), 60)
        stats = client.poll_statistics()
        refused = emu.stats()["rate_limited"]
    assert [r.status for r in results] == [1] * 30
    assert stats.throttled == refused > 0
    assert stats.server_cap is not None
    assert refused < 0.25 * stats.polls_sent, (refused, stats.polls_sent)


@pytest.mark.anyio
async def test_account_calls_alone_keep_their_rate_after_a_429() -> None:
    """No job is polled: the budget the server taught must still leave room for the other
    requests, about the server's rate, not the polls' floor."""
    account = AccountConfig(api_key=KEY, concurrency=2, credit_package=10**9)
    config = EmulatorConfig(accounts=(account,), job_duration=Fixed(0.5), seed=6)
    async with (
        Emulator(config) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, max_concurrency=None) as client,
    ):
        emu.set_faults(FaultPlan(rate_limit_rps=120, retry_after=0.01))
        stop = asyncio.get_running_loop().time() + 1.5

        async def worker() -> int:
            calls = 0
            while asyncio.get_running_loop().time() < stop:
                await client.account.balance()
                calls += 1
            return calls

        calls = sum(await asyncio.gather(*(worker() for _ in range(20))))
        stats = client.poll_statistics()
    assert stats.throttled > 0 and stats.server_cap is not None
    # a cap held at the polls' floor (20/s) would have allowed some 30 calls after the 429
    assert stats.server_cap > 2 * POLL_BUDGET_FLOOR, stats
    assert calls > 120, calls
