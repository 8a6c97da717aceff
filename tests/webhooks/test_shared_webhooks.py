"""Webhook receivers of several workers sharing one account through a real Redis.

Two clients on the same emulator account and the same Redis (two "workers"), each with its own
aiohttp receiver on its own loopback port. What one worker verifies counts for all: a delivery
received by one ends the wait in the other, a nonce seen by one is a replay to the other, and
an (id, status) accepted by one is a duplicate to the other (but one whose ``on_event`` failed
is processed when it is delivered again, to either). With Redis stopped, a receiver still
verifies with its own memory and resolves the jobs of its own process.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from fastapi import FastAPI

from pixverse_async import AsyncPixVerse, CoordinationError, JobFailedError, PollPolicy, VideoJob
from pixverse_async._constants import (
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_REDIS_URL,
    WEBHOOK_DELIVERY_MEMORY,
    WEBHOOK_SHARED_RETRY,
)
from pixverse_async._redis import RedisNonceStore, namespace
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed, WebhookConfig
from pixverse_async.fastapi import STATE_CLIENT, STATE_RECEIVER, pixverse_lifespan
from pixverse_async.webhooks import WebhookReceiver, webhook_app
from tests._redis_server import RedisServer, free_port
from tests.webhooks.test_receivers import Recorder, event, loopback_socket, post, signed, until

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SECRET = "whsec-receivers-test-0001"  # the one ``signed`` uses
KEY = "pv-shared-webhooks-key-0001"
PATH = "/hooks/pixverse"
# webhook mode; a job's first fallback poll would come 30 s after its expected end, so every
# wait that ends within these tests is ended by a delivery
POLL = PollPolicy(interval=0.05, jitter=0.1, max_rps=None, webhook_fallback=30.0)
UNREACHABLE = "http://127.0.0.1:9/openapi/v2"  # for clients that never call the API


@dataclass
class Worker:
    url: str
    receiver: WebhookReceiver
    client: AsyncPixVerse


def make_client(redis_url: str, base_url: str = UNREACHABLE) -> AsyncPixVerse:
    return AsyncPixVerse(KEY, base_url=base_url, webhooks=True, redis_url=redis_url, poll=POLL)


@asynccontextmanager
async def worker(
    client: AsyncPixVerse, *, on_event: Recorder | None = None, sock: socket.socket | None = None
) -> AsyncIterator[Worker]:
    """Open ``client`` (connecting to Redis) and serve its receiver on a loopback port."""
    sock = sock or loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
    try:
        async with client:
            receiver = WebhookReceiver(SECRET, client=client, on_event=on_event)
            runner = web.AppRunner(webhook_app(receiver, path=PATH), access_log=None)
            await runner.setup()
            await web.SockSite(runner, sock).start()
            try:
                yield Worker(url, receiver, client)
            finally:
                await runner.cleanup()
    finally:
        sock.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


def emulator_config(url: str, *, job_seconds: float) -> EmulatorConfig:
    account = AccountConfig(
        api_key=KEY,
        concurrency=10,
        credit_package=10**6,
        webhooks=(WebhookConfig(1, url, SECRET, default=True),),
    )
    return EmulatorConfig(
        accounts=(account,), job_duration=Fixed(job_seconds), seed=17, time_scale=100
    )


async def submit(client: AsyncPixVerse, prompt: str) -> VideoJob:
    return await client.video.text_to_video(
        prompt=prompt, model="v5", duration=5, quality="360p", aspect_ratio="16:9"
    )


async def test_the_receivers_default_to_the_clients_redis(redis_server: RedisServer) -> None:
    async with (
        worker(make_client(redis_server.url)) as a,
        AsyncPixVerse(KEY, base_url=UNREACHABLE, redis_url="") as alone,
    ):
        local = WebhookReceiver(SECRET, client=alone)
        assert isinstance(a.receiver.nonces, RedisNonceStore)
        assert isinstance(a.receiver.deliveries, RedisNonceStore)
        assert local.deliveries is None and not isinstance(local.nonces, RedisNonceStore)
        # assigning the client later (as the single-process examples do) picks them up too
        late = WebhookReceiver(SECRET)
        assert late.deliveries is None
        late.client = a.client
        assert isinstance(late.nonces, RedisNonceStore)
        assert isinstance(late.deliveries, RedisNonceStore)


async def test_fastapi_lifespan_takes_the_redis_url_from_the_environment(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_API_KEY, KEY)
    monkeypatch.setenv(ENV_BASE_URL, UNREACHABLE)
    monkeypatch.setenv(ENV_REDIS_URL, redis_server.url)
    app = FastAPI()
    async with pixverse_lifespan(webhook_secret=SECRET)(app):
        client = getattr(app.state, STATE_CLIENT)
        receiver = getattr(app.state, STATE_RECEIVER)
        assert client.fleet is not None and client.fleet.connected  # connected at start-up
        assert isinstance(receiver.nonces, RedisNonceStore)
        assert isinstance(receiver.deliveries, RedisNonceStore)
    assert client.closed

    # nothing listens there: the start-up fails, naming the URL without its password
    monkeypatch.setenv(ENV_REDIS_URL, f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    with pytest.raises(CoordinationError) as info:
        async with pixverse_lifespan(webhook_secret=SECRET)(app):
            pytest.fail("the lifespan started without Redis")
    assert "127.0.0.1" in str(info.value) and "hunter2" not in str(info.value)
    assert getattr(app.state, STATE_CLIENT) is None


async def test_a_delivery_to_another_worker_ends_the_wait_promptly(
    redis_server: RedisServer,
) -> None:
    sock_b = loopback_socket()
    url_b = f"http://127.0.0.1:{sock_b.getsockname()[1]}{PATH}"
    async with (
        # the account's webhook points at worker B only
        Emulator(emulator_config(url_b, job_seconds=0.2)) as emu,
        worker(make_client(redis_server.url, emu.base_url)) as a,
        worker(make_client(redis_server.url, emu.base_url), sock=sock_b) as b,
    ):
        jobs = [await submit(a.client, f"take {i}") for i in range(3)]
        failing = await submit(a.client, "[emulator:fail] take 3")
        started = time.monotonic()
        outcomes = await asyncio.wait_for(
            asyncio.gather(*(job.wait() for job in [*jobs, failing]), return_exceptions=True), 10
        )
        elapsed = time.monotonic() - started
        polls = emu.stats()["status_polls"]
        await until(lambda: emu.stats()["webhook_deliveries_ok"] == 4)
        deliveries = list(emu.deliveries)
        resolved_a = a.client.poll_statistics().resolved_externally
        stats_a, stats_b = a.receiver.statistics(), b.receiver.statistics()

    *results, failed = outcomes
    assert all(not isinstance(r, BaseException) and r.status == 1 and r.url for r in results)
    assert isinstance(failed, JobFailedError), failed
    assert elapsed < 5, elapsed  # the fallback poll would come after 30 s
    assert polls == 0
    assert resolved_a == 4
    assert stats_a.received == 0  # every delivery went to B
    assert (stats_b.accepted, stats_b.resolved, stats_b.rejected) == (4, 4, {})
    assert all(d["ok"] and d["http_status"] == 200 for d in deliveries)


async def test_replays_and_duplicates_are_refused_across_workers(
    redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    on_a, on_b = Recorder(), Recorder()
    async with (
        worker(make_client(redis_server.url), on_event=on_a) as a,
        worker(make_client(redis_server.url), on_event=on_b) as b,
    ):
        # a nonce accepted by A, replayed to B (the very same request)
        headers, body = signed(event(101, 1))
        assert await post(http, a.url, headers, body) == (200, b"ok")
        assert await post(http, b.url, headers, body) == (401, b"replayed")
        # the same nonce on another correctly signed delivery
        other = signed(event(102, 1), nonce=headers["Webhook-Nonce"])
        assert await post(http, b.url, *other) == (401, b"replayed")

        # the same (id, status) with a fresh nonce: a duplicate, answered ok, not dispatched
        for _ in range(2):
            assert await post(http, b.url, *signed(event(101, 1))) == (200, b"ok")
        # another status of that job is a different event
        assert await post(http, b.url, *signed(event(101, 8))) == (200, b"ok")

        # the same event delivered to both workers at once: dispatched exactly once
        replies = await asyncio.gather(
            *(post(http, w.url, *signed(event(303, 1))) for w in [a, b, a, b, a, b])
        )
        assert replies == [(200, b"ok")] * 6

        stats_a, stats_b = a.receiver.statistics(), b.receiver.statistics()
        redis = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
        try:
            prefix = namespace(KEY)
            nonce_ttl = await redis.pttl(f"{prefix}nonce:{headers['Webhook-Nonce']}")
            delivery_ttl = await redis.pttl(f"{prefix}delivery:101:1")
            keys = await redis.keys("*")
        finally:
            await redis.aclose()

    calls = [(e.id, e.status) for e in on_a.calls + on_b.calls]
    assert sorted(calls) == [(101, 1), (101, 8), (303, 1)]
    assert (on_a.calls[0].id, on_a.calls[0].status) == (101, 1)
    assert stats_b.rejected == {"replayed": 2} and stats_a.rejected == {}
    assert stats_a.duplicates + stats_b.duplicates == 2 + 5
    assert stats_a.local_checks == stats_b.local_checks == 0
    # the nonce lives for the tolerance window, the (id, status) for a day; keys are
    # namespaced by a hash of the API key, never the key
    assert 0 < nonce_ttl <= 300_000
    assert WEBHOOK_DELIVERY_MEMORY * 1000 - 60_000 < delivery_ttl <= WEBHOOK_DELIVERY_MEMORY * 1000
    assert keys and not any(KEY in k for k in keys)


async def test_an_event_whose_on_event_failed_is_processed_by_another_worker(
    redis_server: RedisServer, http: aiohttp.ClientSession
) -> None:
    on_a, on_b = Recorder(failures=1), Recorder()
    async with (
        worker(make_client(redis_server.url), on_event=on_a) as a,
        worker(make_client(redis_server.url), on_event=on_b) as b,
    ):
        status, text = await post(http, a.url, *signed(event(202, 1)))
        assert status == 500 and text != b"ok"
        # PixVerse delivers again (fresh nonce), this time to B: processed there
        assert await post(http, b.url, *signed(event(202, 1))) == (200, b"ok")
        # now it is a duplicate everywhere
        assert await post(http, a.url, *signed(event(202, 1))) == (200, b"ok")
        assert await post(http, b.url, *signed(event(202, 1))) == (200, b"ok")
        stats_a, stats_b = a.receiver.statistics(), b.receiver.statistics()
    assert [e.id for e in on_a.calls] == [202] and on_a.done == []
    assert [e.id for e in on_b.done] == [202] and len(on_b.calls) == 1
    assert (stats_a.errors, stats_a.accepted, stats_a.duplicates) == (1, 0, 1)
    assert (stats_b.errors, stats_b.accepted, stats_b.duplicates) == (0, 1, 1)


async def test_with_redis_down_a_delivery_resolves_the_job_in_its_own_process(
    redis_server: RedisServer, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pixverse_async.webhooks")
    sock = loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
    async with (
        # jobs run 30 s unless finished through the emulator's control endpoint
        Emulator(emulator_config(url, job_seconds=30)) as emu,
        worker(make_client(redis_server.url, emu.base_url), sock=sock) as a,
    ):
        job = await submit(a.client, "a lighthouse")
        wait = asyncio.create_task(job.wait(timeout=15))
        await asyncio.sleep(0.05)
        redis_server.stop()
        job_id = job.id
        async with http.post(f"{emu.origin}/_emulator/jobs/{job_id}", json={"status": 1}) as r:
            assert r.status == 200
        result = await asyncio.wait_for(wait, 5)
        await until(lambda: emu.stats()["webhook_deliveries_ok"] == 1)
        delivered = list(emu.deliveries)
        polls = emu.stats()["status_polls"]

        # still down: replays are refused and duplicates ignored from this process's memory
        headers, body = signed(event(job_id, 1))
        assert await post(http, url, headers, body) == (200, b"ok")  # a duplicate
        assert await post(http, url, headers, body) == (401, b"replayed")
        fresh = signed(event(4040, 1))
        assert await post(http, url, *fresh) == (200, b"ok")
        down_stats = a.receiver.statistics()

        # Redis is back (empty): the receiver uses it again after a short pause
        redis_server.start()
        await asyncio.sleep(WEBHOOK_SHARED_RETRY + 0.1)
        assert await post(http, url, *fresh) == (401, b"replayed")  # remembered here
        assert await post(http, url, *signed(event(5050, 1))) == (200, b"ok")
        up_stats = a.receiver.statistics()

    assert result.status == 1 and result.url
    assert polls == 0
    assert [(d["http_status"], d["ok"]) for d in delivered] == [(200, True)]
    assert (down_stats.accepted, down_stats.duplicates, down_stats.errors) == (2, 1, 0)
    assert down_stats.rejected == {"replayed": 1}
    assert down_stats.local_checks >= 5
    assert up_stats.local_checks == down_stats.local_checks  # Redis answered again
    mine = [r for r in caplog.records if r.name == "pixverse_async.webhooks"]
    outage = [r for r in mine if "unreachable" in r.getMessage()]
    assert len(outage) == 1 and outage[0].levelno == logging.WARNING  # once per outage
    assert any("reachable again" in r.getMessage() for r in mine)
