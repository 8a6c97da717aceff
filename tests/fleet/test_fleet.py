"""Many workers, one account: real OS processes sharing a PixVerse account through real Redis.

Each worker (``_worker.py``) is its own Python process with its own client; they meet only in
Redis (``redis_url``) and at the emulator, which runs in the test process on loopback. Every
worker uploads one clip and runs prompt-only modify jobs with distinct prompts, so the
emulator's ``duplicate_generations`` counts jobs paid twice.

The emulator refuses any submit beyond the account's limit (500044), so its
``max_concurrent_observed`` can never exceed the account limit: where the claim is "the fleet
never submits beyond its limit" the account allows more than ``max_concurrency`` (the
overshoot would be visible), or the 500044 count is what is checked.

Makespans are logged (``--log-cli-level=INFO``), never asserted: the benchmarks measure them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis

from pixverse_async import AsyncPixVerse
from pixverse_async._redis import namespace
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed

from .._redis_server import RedisServer
from ._fleet import fleet, makespan, processes, worker_args

pytestmark = pytest.mark.anyio

logger = logging.getLogger(__name__)

KEY = "pv-fleet-test-key-000001"
RUN_TIMEOUT = 60.0  # seconds a whole worker run may take (a hang fails, never blocks)
POLL = 0.02


def emulator(limit: int, seconds: float) -> Emulator:
    account = AccountConfig(api_key=KEY, concurrency=limit, credit_package=10**9)
    return Emulator(EmulatorConfig(accounts=(account,), job_duration=Fixed(seconds), seed=5))


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Any]:
    connection = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield connection
    finally:
        await connection.aclose()


def check_all_ok(results: Sequence[dict[str, Any]], jobs: int) -> None:
    for r in results:
        assert (r["ok"], r["failed"]) == (jobs, 0), r
        assert len(set(r["jobs"])) == jobs, r


def report(name: str, results: Sequence[dict[str, Any]], stats: dict[str, Any]) -> None:
    logger.info(
        "%s: makespan %.2f s, jobs %s, 500044 %s, max concurrent %s, polls %s",
        name,
        makespan(results),
        stats["jobs_created"],
        stats["rejected_500044"],
        stats["max_concurrent_observed"],
        stats["status_polls"],
    )


async def run_fleet(
    emu: Emulator, redis_url: str, workers: int, jobs: int, limit: int | str
) -> list[dict[str, Any]]:
    args = worker_args(emu.base_url, KEY, redis_url, jobs, limit, POLL, 30.0)
    async with fleet(workers, args) as procs:
        return list(await asyncio.gather(*(p.finish(RUN_TIMEOUT) for p in procs)))


@pytest.mark.timeout(120)
async def test_four_processes_share_a_fixed_limit(redis_server: RedisServer) -> None:
    async with emulator(4, 0.3) as emu:
        results = await run_fleet(emu, redis_server.url, 4, 25, 4)
        stats = emu.stats()
    report("fixed", results, stats)
    check_all_ok(results, 25)
    assert stats["jobs_created"] == 100
    assert stats["duplicate_generations"] == 0
    assert max(stats["max_concurrent_observed"].values()) <= 4
    submits = stats["jobs_created"] + stats["rejected_500044"]
    assert stats["rejected_500044"] < 0.01 * submits, stats["rejected_500044"]
    for r in results:  # the fleet's figures, read after each worker's last job
        assert r["stats"]["shared"] and r["stats"]["connected"], r["stats"]
        assert r["stats"]["local_in_flight"] == 0, r["stats"]


@pytest.mark.timeout(120)
async def test_four_processes_learn_one_limit(redis_server: RedisServer) -> None:
    async with emulator(4, 0.3) as emu:
        results = await run_fleet(emu, redis_server.url, 4, 25, "auto")
        stats = emu.stats()
    report("auto", results, stats)
    check_all_ok(results, 25)
    assert stats["jobs_created"] == 100
    assert stats["duplicate_generations"] == 0
    assert max(stats["max_concurrent_observed"].values()) <= 4
    submits = stats["jobs_created"] + stats["rejected_500044"]
    assert stats["rejected_500044"] < 0.05 * submits, stats["rejected_500044"]
    learned = [r["stats"] for r in results]  # one limit for the account, at most the real one
    assert all(s["learned"] and 1 <= s["limit"] <= 4 for s in learned), learned


@pytest.mark.timeout(120)
async def test_a_killed_worker_s_slots_come_back(redis_server: RedisServer, raw: Any) -> None:
    # Worker 0 starts first and takes every slot; the other three start while it holds them,
    # then it is SIGKILLed. Its leases are never released: the survivors get slots only when
    # those leases expire (its jobs still run on the server meanwhile, up to 1 s: a 500044
    # then is a squeeze, allowed).
    lease = 2.0
    jobs = 6
    slots = namespace(KEY) + "slots"
    async with emulator(4, 1.0) as emu, processes() as group:
        url = redis_server.url
        victim = await group.spawn("w0", worker_args(emu.base_url, KEY, url, 40, 4, POLL, lease))
        await victim.until(lambda w: len(w.accepted) >= 2, 30.0)
        args = worker_args(emu.base_url, KEY, url, jobs, 4, POLL, lease)
        survivors = [await group.spawn(f"w{i}", args) for i in (1, 2, 3)]
        for worker in survivors:
            await worker.until(lambda w: w.client_id, 30.0)
        dead = f"{victim.client_id}:"
        await victim.kill()
        killed_at = time.monotonic()
        assert victim.proc.returncode == -9, victim.describe()
        held = await raw.zrange(slots, 0, -1)
        assert any(token.startswith(dead) for token in held), held  # it died holding leases
        finished = asyncio.gather(*(w.finish(RUN_TIMEOUT) for w in survivors))

        # one lease after the kill (on Redis's clock: its last renewal came before the kill),
        # while the survivors still run, none of its leases is live any more
        try:
            await asyncio.sleep(max(0.0, killed_at + lease + 0.5 - time.monotonic()))
            seconds, micros = await raw.time()
            now_ms = int(seconds) * 1000 + int(micros) // 1000
            live = await raw.zrangebyscore(slots, now_ms, "+inf")
            assert not any(token.startswith(dead) for token in live), live
        finally:
            results = await finished
        # the fleet's figures (read by a client, which drops expired leases): nothing held
        async with AsyncPixVerse(
            KEY, base_url=emu.base_url, redis_url=url, max_concurrency=4
        ) as observer:
            fleet_stats = await observer.limiter.refresh_statistics()  # type: ignore[union-attr]
        assert (fleet_stats.in_flight, fleet_stats.waiting) == (0, 0), fleet_stats
        assert not any(token.startswith(dead) for token in await raw.zrange(slots, 0, -1))
        stats = emu.stats()
        all_jobs = set(emu.state.jobs)
    report("kill", results, stats)
    check_all_ok(results, jobs)
    assert stats["duplicate_generations"] == 0
    survivor_jobs = {j for r in results for j in r["jobs"]}
    victim_jobs = all_jobs - survivor_jobs
    assert set(victim.accepted) <= victim_jobs, (victim.accepted, victim_jobs)
    assert stats["jobs_created"] == len(survivor_jobs) + len(victim_jobs)


@pytest.mark.timeout(120)
async def test_redis_restart_mid_run(redis_server: RedisServer) -> None:
    # The account allows 8 and the fleet is told 4, so an overshoot shows in
    # max_concurrent_observed. Jobs (2 s) outlast the outage (1 s): Redis comes back empty
    # while about half of the jobs it forgot still run, and their leases must be re-registered
    # (by their holders' renewal) before anyone is granted their slots.
    jobs = 8
    async with emulator(8, 2.0) as emu:
        args = worker_args(emu.base_url, KEY, redis_server.url, jobs, 4, POLL, 30.0)
        async with fleet(2, args) as procs:
            await procs[0].until(lambda _: emu.stats()["jobs_created"] >= 5, 30.0)
            redis_server.stop()
            await asyncio.sleep(0.5)  # a submit granted just before the stop may still land
            during = emu.stats()["jobs_created"]
            await asyncio.sleep(0.5)
            after = emu.stats()["jobs_created"]
            running = emu.stats()["accounts"]
            redis_server.start()
            results = await asyncio.gather(*(p.finish(RUN_TIMEOUT) for p in procs))
        stats = emu.stats()
    report("restart", results, stats)
    logger.info(
        "jobs created: %s after Redis stopped, %s at the restart; %s", during, after, running
    )
    check_all_ok(results, jobs)
    assert during < 2 * jobs  # the restart came mid-run
    assert after == during  # no submit went out while Redis was away
    assert stats["jobs_created"] == 2 * jobs
    assert stats["duplicate_generations"] == 0
    assert max(stats["max_concurrent_observed"].values()) <= 4, stats["max_concurrent_observed"]
    for r in results:
        assert r["stats"]["connected"], r["stats"]
