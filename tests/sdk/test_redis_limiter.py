"""The Redis-shared limiter and coordinator against a real redis-server (several clients).

Clients here share one event loop, which is enough for the coordination logic (every step
goes through Redis); tests/fleet/ runs real OS processes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from pixverse_async import (
    AsyncPixVerse,
    ConfigurationError,
    CoordinationError,
    PollPolicy,
    RedisLimiter,
    RedisPolicy,
)
from pixverse_async._limiter import Slot
from pixverse_async._redis import namespace, redact_url
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed

from .._redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio

KEY = "pv-redis-limiter-key-000001"
POLL = PollPolicy(interval=0.02, jitter=0.0, max_rps=None)
T2V = {"model": "v5", "duration": 5, "quality": "360p", "aspect_ratio": "16:9"}
FAST = RedisPolicy(lease=30.0, recheck=0.2)


def emulator(limit: int = 4, seconds: float = 0.15) -> Emulator:
    account = AccountConfig(api_key=KEY, concurrency=limit, credit_package=10**9)
    return Emulator(EmulatorConfig(accounts=(account,), job_duration=Fixed(seconds), seed=3))


def client(
    redis_url: str, *, limit: int | str = 1, policy: RedisPolicy = FAST, base_url: str = ""
) -> AsyncPixVerse:
    return AsyncPixVerse(
        KEY,
        base_url=base_url or "http://127.0.0.1:9/openapi/v2",
        poll=POLL,
        max_concurrency=limit,  # type: ignore[arg-type]
        redis_url=redis_url,
        redis_policy=policy,
    )


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[Any]:
    connection = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield connection
    finally:
        await connection.aclose()


def limiter_of(c: AsyncPixVerse) -> RedisLimiter:
    assert isinstance(c.limiter, RedisLimiter)
    return c.limiter


async def test_unreachable_redis_at_start_is_a_clear_error_without_the_password() -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    c = client(url)
    assert "hunter2" not in repr(c)
    with pytest.raises(CoordinationError) as info:
        async with c:
            pass
    message = str(info.value)
    assert "127.0.0.1" in message and "***" in message and "hunter2" not in message


def test_a_redis_url_of_another_scheme_is_refused_naming_the_fix() -> None:
    with pytest.raises(ConfigurationError, match="redis://, rediss://"):
        client("http://user:pw@127.0.0.1:6379")


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("rediss://app:pw@cache:6380/2") == "rediss://app:***@cache:6380/2"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


async def test_keys_are_namespaced_by_a_hash_of_the_api_key(
    redis_server: RedisServer, raw: Any
) -> None:
    async with client(redis_server.url, limit=2) as c:
        slot = await limiter_of(c).acquire()
        keys = await raw.keys("*")
        limiter_of(c).release(slot)
    assert keys and all(k.startswith(namespace(KEY)) for k in keys)
    assert not any(KEY in k for k in keys)


async def test_waiters_of_several_clients_are_served_first_come_first_served(
    redis_server: RedisServer,
) -> None:
    async with client(redis_server.url) as a, client(redis_server.url) as b:
        holder = await limiter_of(a).acquire()
        order: list[str] = []
        granted: list[Slot] = []

        async def wait(name: str, who: AsyncPixVerse) -> None:
            slot = await limiter_of(who).acquire()
            order.append(name)
            granted.append(slot)

        tasks = []
        for name, who in (("a1", a), ("b1", b), ("a2", a), ("b2", b), ("b3", b)):
            tasks.append(asyncio.ensure_future(wait(name, who)))
            await asyncio.sleep(0.05)  # each is queued before the next arrives
        limiter_of(a).release(holder)
        for count in range(1, 6):  # one slot: each grant is released before the next
            await asyncio.wait_for(_until(lambda n=count: len(granted) >= n), 5)
            granted[count - 1].release()
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
    assert order == ["a1", "b1", "a2", "b2", "b3"]


async def _until(condition: Any) -> None:
    # a test watching state it does not own (grants in other tasks): no event to wait on
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


async def test_a_cancelled_wait_leaves_the_queue_and_takes_no_slot(
    redis_server: RedisServer, raw: Any
) -> None:
    async with client(redis_server.url) as a, client(redis_server.url) as b:
        holder = await limiter_of(a).acquire()
        waiting = asyncio.ensure_future(limiter_of(b).acquire())
        await asyncio.sleep(0.1)
        assert await raw.zcard(namespace(KEY) + "queue") == 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(_until_async(lambda: raw.zcard(namespace(KEY) + "queue"), 0), 5)
        limiter_of(a).release(holder)
        again = await asyncio.wait_for(limiter_of(a).acquire(), 5)
        assert await raw.zcard(namespace(KEY) + "slots") == 1
        limiter_of(a).release(again)


async def _until_async(read: Any, expected: Any) -> None:
    while await read() != expected:  # noqa: ASYNC110 (Redis state: nothing to wait on)
        await asyncio.sleep(0.02)


async def test_slots_of_a_client_that_stopped_renewing_come_free_after_the_lease(
    redis_server: RedisServer,
) -> None:
    short = RedisPolicy(lease=0.6, recheck=0.1)
    dead = client(redis_server.url, policy=short)
    async with dead:
        await limiter_of(dead).acquire()  # held, never released
    # ``dead`` is closed: nobody renews its lease (as after a SIGKILL)
    async with client(redis_server.url, policy=short) as alive:
        slot = await asyncio.wait_for(limiter_of(alive).acquire(), 5)
        limiter_of(alive).release(slot)


async def test_no_slot_is_granted_while_redis_is_away(redis_server: RedisServer) -> None:
    async with client(redis_server.url, limit=2) as c:
        first = await limiter_of(c).acquire()
        redis_server.stop()
        pending = asyncio.ensure_future(limiter_of(c).acquire())
        await asyncio.sleep(0.5)
        assert not pending.done()  # never on a local guess
        assert not limiter_of(c).statistics().connected
        redis_server.start()
        second = await asyncio.wait_for(pending, 10)
        stats = await limiter_of(c).refresh_statistics()
        assert stats.connected and stats.shared
        # the held lease was re-registered after the restart emptied Redis
        assert stats.in_flight == 2 and stats.local_in_flight == 2
        limiter_of(c).release(first)
        limiter_of(c).release(second)


async def test_clients_learn_one_limit_for_the_account(redis_server: RedisServer) -> None:
    async with emulator(limit=4) as emu:
        a = client(redis_server.url, limit="auto", base_url=emu.base_url)
        b = client(redis_server.url, limit="auto", base_url=emu.base_url)
        async with a, b:

            async def one(c: AsyncPixVerse, i: int) -> None:
                job = await c.video.text_to_video(prompt=f"p{i}", **T2V)  # type: ignore[arg-type]
                await job.wait(timeout=30)

            await asyncio.wait_for(
                asyncio.gather(*(one(a if i % 2 else b, i) for i in range(48))), 60
            )
            sa = await limiter_of(a).refresh_statistics()
            sb = await limiter_of(b).refresh_statistics()
        stats = emu.stats()
    assert sa.limit == sb.limit == 4 and sa.learned
    assert max(stats["max_concurrent_observed"].values()) <= 4
    assert stats["rejected_500044"] <= 3
    assert stats["jobs_created"] == 48 and stats["duplicate_generations"] == 0
