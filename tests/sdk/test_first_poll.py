"""The learned first-poll delay: just after steady durations, a low quantile of spread ones."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import pytest

from pixverse_async import AsyncPixVerse, PollPolicy
from pixverse_async import _polling as polling
from pixverse_async._constants import POLL_FIRST_PRECISION
from pixverse_async._polling import PollScheduler, _Watch
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed

pytestmark = pytest.mark.anyio

KEY = "pv-first-poll-test-key-0001"
INTERVAL = 0.1
STEP = INTERVAL * POLL_FIRST_PRECISION
T2V = {"model": "v5", "duration": 5, "quality": "360p", "aspect_ratio": "16:9"}


async def _never(media: str, job_id: int) -> object:
    raise AssertionError("no status request expected")


def scheduler(samples: Sequence[tuple[float | None, float]]) -> PollScheduler[Any]:
    """A scheduler that has seen jobs end with these (last running, first done) brackets."""
    poller: PollScheduler[Any] = PollScheduler(_never, PollPolicy(interval=INTERVAL, jitter=0.0))
    for job_id, (low, high) in enumerate(samples):
        watch = _Watch(("video", job_id), "modify", started=100.0)
        watch.last_running = None if low is None else 100.0 + low
        poller._learn(watch, 100.0 + high)
    return poller


def test_nothing_learned_before_a_few_jobs() -> None:
    assert scheduler([(0.4, 0.5)] * 2).expected_duration("modify") is None
    assert scheduler([(0.4, 0.5)] * 3).expected_duration("other") is None


def test_steady_durations_bisect_between_running_and_done() -> None:
    # every job was running at 0.45 s and done at 0.55 s: try the middle next
    learned = scheduler([(0.45, 0.55)] * 8).expected_duration("modify")
    assert learned == pytest.approx(0.50)
    # then done at 0.50 s (first poll), running at 0.48 s (another one): the middle again
    poller = scheduler([(0.45, 0.55)] * 4 + [(None, 0.50)] * 8 + [(0.48, 0.58)] * 8)
    assert poller.expected_duration("modify") == pytest.approx(0.49)


def test_steady_durations_once_bracketed_poll_just_after_the_end() -> None:
    samples = [(0.497, 0.597)] * 8 + [(None, 0.501)] * 20
    assert scheduler(samples).expected_duration("modify") == pytest.approx(0.501)


def test_all_found_done_at_first_poll_probes_earlier_faster_each_time() -> None:
    same = scheduler([(None, 0.5)] * 16).expected_duration("modify")
    assert same == pytest.approx(0.5 - STEP)
    # earlier probes kept finding jobs done: the step widens with the range they covered
    descending = [(None, 0.5)] * 8 + [(None, 0.49)] * 8 + [(None, 0.47)] * 8
    assert scheduler(descending).expected_duration("modify") == pytest.approx(0.47 - 0.03)


def test_spread_durations_use_a_low_quantile_of_midpoints() -> None:
    samples = [(0.1 * k, 0.1 * k + INTERVAL) for k in range(1, 11)] * 3
    learned = scheduler(samples).expected_duration("modify")
    assert learned == pytest.approx(0.15)  # the 10% quantile of midpoints 0.15 ... 1.05


async def test_fixed_jobs_are_found_done_at_their_first_poll() -> None:
    """Fixed 60 ms jobs, 20 ms interval: once learned, the first poll lands just after the end,
    so a job costs about one status request (a midpoint estimate, ~half the duration after a
    first-poll hit, made most jobs need two or three)."""
    seconds, interval, per_wave = 0.06, 0.02, 4
    account = AccountConfig(api_key=KEY, concurrency=64, credit_package=10**9)
    config = EmulatorConfig(accounts=(account,), job_duration=Fixed(seconds), seed=3)
    poll = PollPolicy(interval=interval, jitter=0.0, max_rps=None)
    async with (
        Emulator(config) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=poll, max_concurrency=None) as client,
    ):
        learning_polls = 0
        for wave in range(12):
            if wave == 6:
                learning_polls = emu.stats()["status_polls"]
            jobs = [
                await client.video.text_to_video(prompt=f"wave {wave} take {i}", **T2V)  # type: ignore[arg-type]
                for i in range(per_wave)
            ]
            await asyncio.wait_for(asyncio.gather(*(job.wait() for job in jobs)), 10)
        learned = client.poll_statistics().first_poll.get(jobs[0].kind)
        polls = emu.stats()["status_polls"] - learning_polls
    assert learned is not None and seconds - interval / 2 < learned < seconds + interval / 2
    assert polls <= 1.5 * 6 * per_wave


class _Running:
    status = 5


async def _next_due_after_a_missed_first_poll(
    samples: Sequence[tuple[float | None, float]],
) -> float:
    """Seconds from the first poll of a new job (found running) to its next due time."""

    async def fetch(media: str, job_id: int) -> object:
        return _Running()

    interval = 10.0
    poller: PollScheduler[Any] = PollScheduler(fetch, PollPolicy(interval=interval, jitter=0.0))
    for job_id, (low, high) in enumerate(samples):
        watch = _Watch(("video", job_id), "modify", started=100.0)
        watch.last_running = None if low is None else 100.0 + low
        poller._learn(watch, 100.0 + high)
    learned = poller.expected_duration("modify")
    assert learned is not None
    pushed: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    push = poller._push

    def watch_push(due: float, watch: _Watch) -> None:
        push(due, watch)
        if watch.polls == 1 and not pushed.done():
            pushed.set_result(due - time.monotonic())

    poller._push = watch_push  # type: ignore[method-assign]
    future = poller.future("video", 999, "modify", submitted_at=time.monotonic() - learned)
    try:
        return await asyncio.wait_for(pushed, 5)
    finally:
        future.cancel()
        await poller.aclose()


async def test_steady_durations_follow_a_missed_first_poll_up_soon() -> None:
    # the first poll lands at the learned end: finding the job running means it just missed
    steady = [(4.5, 5.5)] * 8 + [(None, 5.0)] * 8 + [(4.9, 5.9)] * 8
    assert await _next_due_after_a_missed_first_poll(steady) < 10.0 / 2


async def test_spread_durations_poll_a_missed_first_poll_after_an_interval() -> None:
    spread = [(1.0 * k, 1.0 * k + 1.0) for k in range(1, 11)] * 3
    assert await _next_due_after_a_missed_first_poll(spread) > 10.0 / 2


# -- before anything is learned: one probe an interval, the wave pulled forward ----------------


async def first_wave(monkeypatch: pytest.MonkeyPatch, *, spread: bool) -> tuple[int, int]:
    """16 jobs of 0.4 s of a kind nothing is known of yet, polled every 0.02 s: (status
    requests, jobs)."""
    if not spread:
        monkeypatch.setattr(polling, "POLL_PROBE_MIN", 10**6)
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=100, credit_package=10**6),),
        job_duration=Fixed(0.4),
        seed=4,
    )
    poll = PollPolicy(interval=0.02, jitter=0.1, max_rps=None)
    async with (
        Emulator(config) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=poll, max_concurrency=None) as client,
    ):
        jobs = [await client.video.text_to_video(prompt=f"wave {i}", **T2V) for i in range(16)]
        results = await asyncio.gather(*(job.wait(timeout=30) for job in jobs))
        assert all(r.status == 1 for r in results)
        polls = emu.stats()["status_polls"]
    return polls, len(jobs)


async def test_a_wave_of_unknown_jobs_is_probed_not_polled_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spread_polls, jobs = await first_wave(monkeypatch, spread=True)
    full_polls, _ = await first_wave(monkeypatch, spread=False)
    # every job polled each interval for its 0.4 s is some 20 polls a job; with one probe an
    # interval and the rest every fourth interval, well under half of that
    assert full_polls > 8 * jobs  # (fewer when a loaded machine makes polls late)
    assert spread_polls < full_polls / 2, (spread_polls, full_polls)
