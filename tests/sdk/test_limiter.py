"""The generation-slot limiter against the emulator's concurrency limit, end to end.

These run real jobs on the emulator, so they take real time. The limiter's policy on its own
(fixed limits, slow start, learning, probes, squeezes, the stuck-slot release) is tested without
real time in ``test_limiter_policy.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from pixverse_async import AsyncPixVerse, PollPolicy
from pixverse_async._limiter import SlotLimiter
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
)

pytestmark = pytest.mark.anyio

KEY = "pv-limiter-test-key-000001"
POLL = PollPolicy(interval=0.01, jitter=0.0, max_rps=None, max_concurrency=64)
T2V = {"model": "v5", "duration": 5, "quality": "360p", "aspect_ratio": "16:9"}


# Jobs several times longer than a status round trip on a loaded machine: the limit is learned
# from the jobs still running after a re-poll (see the limiter's docstring).
def emulator(limit: int, seconds: float = 0.15) -> Emulator:
    account = AccountConfig(api_key=KEY, concurrency=limit, credit_package=10**9)
    return Emulator(EmulatorConfig(accounts=(account,), job_duration=Fixed(seconds), seed=11))


@pytest.fixture
async def emu8() -> AsyncIterator[Emulator]:
    async with emulator(8) as emu:
        yield emu


async def run_batch(client: AsyncPixVerse, n: int) -> None:
    async def one(i: int) -> None:
        job = await client.video.text_to_video(prompt=f"take {i}", **T2V)  # type: ignore[arg-type]
        assert (await job.wait(timeout=30)).status == 1

    async with asyncio.timeout(60) if hasattr(asyncio, "timeout") else _nothing():
        await asyncio.gather(*(one(i) for i in range(n)))


class _nothing:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_known_limit_is_never_exceeded(emu8: Emulator) -> None:
    async with AsyncPixVerse(KEY, base_url=emu8.base_url, poll=POLL, max_concurrency=8) as client:
        await run_batch(client, 80)
        stats = client.limiter.statistics()  # type: ignore[union-attr]
    emu_stats = emu8.stats()
    assert max(emu_stats["max_concurrent_observed"].values()) == 8
    assert emu_stats["rejected_500044"] == 0 and stats.rejected_500044 == 0
    assert stats.in_flight == 0 and stats.running == 0


async def test_auto_learns_an_unknown_limit_with_few_rejections(emu8: Emulator) -> None:
    async with AsyncPixVerse(KEY, base_url=emu8.base_url, poll=POLL) as client:
        await run_batch(client, 200)
        stats = client.limiter.statistics()  # type: ignore[union-attr]
    emu_stats = emu8.stats()
    submits = emu_stats["jobs_created"] + emu_stats["rejected_500044"]
    assert emu_stats["jobs_created"] == 200
    assert stats.learned and stats.limit == 8
    assert max(emu_stats["max_concurrent_observed"].values()) == 8  # every slot was used
    assert emu_stats["rejected_500044"] / submits < 0.05
    assert emu_stats["duplicate_generations"] == 0


async def test_slot_is_held_until_the_job_ends(emu8: Emulator) -> None:
    async with (
        emulator(2, seconds=0.3) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, max_concurrency=2) as client,
    ):
        first = await client.video.text_to_video(prompt="a", **T2V)  # type: ignore[arg-type]
        await client.video.text_to_video(prompt="b", **T2V)  # type: ignore[arg-type]
        third = asyncio.ensure_future(
            client.video.text_to_video(prompt="c", **T2V)  # type: ignore[arg-type]
        )
        await asyncio.sleep(0.1)  # both HTTP calls are long done; the jobs still run
        stats = client.limiter.statistics()  # type: ignore[union-attr]
        assert not third.done() and stats.waiting == 1 and stats.in_flight == 2
        await first.wait(timeout=5)
        await asyncio.wait_for(third, 5)
        assert emu.stats()["rejected_500044"] == 0


async def test_squeeze_by_another_user_does_not_lower_the_limit(emu8: Emulator) -> None:
    async with AsyncPixVerse(KEY, base_url=emu8.base_url, poll=POLL) as client:
        await run_batch(client, 40)  # learns 8
        assert client.limiter.limit == 8  # type: ignore[union-attr]
        # someone else on the same key now runs 6 long jobs
        emu8.upsert_account(AccountConfig(api_key=KEY, concurrency=8, credit_package=10**9))
        async with AsyncPixVerse(
            KEY, base_url=emu8.base_url, poll=POLL, max_concurrency=None
        ) as other:
            others = [
                await other.video.text_to_video(prompt=f"other {i}", **T2V)  # type: ignore[arg-type]
                for i in range(6)
            ]
            await run_batch(client, 20)  # squeezed to 2 while the others run
            await other.wait_all(others, timeout=10)
        assert client.limiter.limit == 8  # type: ignore[union-attr]
    assert emu8.stats()["jobs_created"] == 66


async def test_probe_notices_a_plan_upgrade() -> None:
    async with emulator(3, seconds=0.15) as emu:
        client = AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL)
        client.limiter = SlotLimiter("auto", probe_interval=0.05)
        async with client:
            await run_batch(client, 12)
            assert client.limiter.limit == 3
            emu.upsert_account(AccountConfig(api_key=KEY, concurrency=6, credit_package=10**9))
            for _ in range(10):  # each accepted probe proves one more slot
                await run_batch(client, 24)
                if client.limiter.limit == 6:
                    break
            assert client.limiter.limit == 6
        stats = emu.stats()
        assert max(stats["max_concurrent_observed"].values()) == 6


async def test_jobs_that_ended_unseen_do_not_inflate_the_learned_limit() -> None:
    """Polls lag behind the server: a job may have ended without being seen yet.

    Counting such jobs as running let frequent probes "prove" a limit of 4, then 5... on an
    account whose limit is 3 (and every refill then met 500044).
    """
    async with emulator(3, seconds=0.15) as emu:
        client = AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL)
        client.limiter = SlotLimiter("auto", probe_interval=0.05)
        async with client:
            for _ in range(4):
                await run_batch(client, 12)
                assert client.limiter.limit == 3
        stats = emu.stats()
        # only the probes are refused: at most one per probe interval, never a flood
        assert stats["rejected_500044"] / (stats["jobs_created"] + stats["rejected_500044"]) < 0.3


async def test_a_hung_submit_does_not_hold_back_slow_start() -> None:
    """Before the limit is learned, a submit unanswered for stall_after stops blocking."""
    slow = FaultRule(FaultKind.SLOW, count=1, delay=2.0, path="/generate")
    account = AccountConfig(api_key=KEY, concurrency=8, credit_package=10**9)
    config = EmulatorConfig(
        accounts=(account,), job_duration=Fixed(5.0), faults=FaultPlan(rules=(slow,)), seed=3
    )
    async with Emulator(config) as emu:
        client = AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL)
        client.limiter = SlotLimiter("auto", stall_after=0.2)
        async with client:
            submits = [
                asyncio.ensure_future(client.video.text_to_video(prompt=f"p{i}", **T2V))  # type: ignore[arg-type]
                for i in range(4)
            ]
            await asyncio.sleep(1.0)  # the first submit is still waiting for its answer
            created = emu.stats()["jobs_created"]
            jobs = await asyncio.wait_for(asyncio.gather(*submits), 10)
    assert created >= 3, created  # the others went ahead
    assert len({job.id for job in jobs}) == 4
