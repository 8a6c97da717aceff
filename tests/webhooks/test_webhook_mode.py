"""Webhook mode against the emulator: deliveries to a loopback receiver resolve the jobs.

The emulator posts signed deliveries to an aiohttp receiver this test serves on 127.0.0.1;
the receiver hands them to the client's poll scheduler, which then stops polling those jobs.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pixverse_async import AsyncPixVerse, PollPolicy
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultPlan,
    Uniform,
    WebhookConfig,
    make_mp4,
)
from pixverse_async.webhooks import WebhookReceiver, webhook_app
from tests._servers import serve

pytestmark = pytest.mark.anyio

POLLING_KEY = "pv-webhook-mode-polling-01"
WEBHOOK_KEY = "pv-webhook-mode-webhook-01"
SECRET = "whsec-webhook-mode-test"
JOBS = 60
LIMIT = 10
# polling mode at a 50 ms interval; webhook mode polls a job only 1 s after its expected end
POLL = PollPolicy(interval=0.05, jitter=0.1, max_rps=None, max_concurrency=64)
WEBHOOK_POLL = PollPolicy(
    interval=0.05, jitter=0.1, max_rps=None, max_concurrency=64, webhook_fallback=1.0
)


def config(receiver_url: str, *, drop_rate: float = 0.0) -> EmulatorConfig:
    accounts = (
        AccountConfig(api_key=POLLING_KEY, concurrency=LIMIT, credit_package=10**9),
        AccountConfig(
            api_key=WEBHOOK_KEY,
            concurrency=LIMIT,
            credit_package=10**9,
            webhooks=(WebhookConfig(1, receiver_url, SECRET, default=True),),
        ),
    )
    return EmulatorConfig(
        accounts=accounts,
        job_duration=Uniform(0.1, 0.3),
        faults=FaultPlan(webhook_drop_rate=drop_rate),
        seed=5,
        # the emulator retries a failed delivery after 2 s, 10 s... scaled to 20 ms, 100 ms...
        time_scale=100,
    )


async def modify_batch(client: AsyncPixVerse, emu: Emulator) -> tuple[list[Any], int]:
    """Run JOBS modify jobs; return the outcomes and the status polls they cost."""
    source = await client.media.upload_media(
        make_mp4(5.0, 640, 360, size=20_000), filename="source.mp4"
    )
    items = [
        {
            "key": f"take-{i}",
            "kind": "modify",
            "params": {
                "video_media_id": source.media_id,
                "prompt": f"remix take {i}",
                "quality": "360p",
            },
        }
        for i in range(JOBS)
    ]
    before = emu.stats()["status_polls"]
    outcomes = await asyncio.wait_for(client.run_batch(items), 60)
    return outcomes, emu.stats()["status_polls"] - before


async def test_webhook_mode_needs_a_tenth_of_the_polls() -> None:
    receiver = WebhookReceiver(SECRET)
    async with (
        serve(webhook_app(receiver, path="/hook")) as origin,
        Emulator(config(origin + "/hook")) as emu,
    ):
        async with AsyncPixVerse(
            POLLING_KEY, base_url=emu.base_url, poll=POLL, max_concurrency=LIMIT
        ) as polling:
            polled, polls = await modify_batch(polling, emu)
        async with AsyncPixVerse(
            WEBHOOK_KEY,
            base_url=emu.base_url,
            poll=WEBHOOK_POLL,
            max_concurrency=LIMIT,
            webhooks=True,
        ) as client:
            receiver.client = client
            pushed, webhook_polls = await modify_batch(client, emu)
            resolved = client.poll_statistics().resolved_externally
    assert all(o.ok for o in polled) and all(o.ok for o in pushed)
    assert all(o.result is not None and o.result.url for o in pushed)
    assert polls >= JOBS  # polling mode polls every job at least once
    assert webhook_polls <= 0.1 * polls, (webhook_polls, polls)
    assert resolved >= 0.9 * JOBS
    stats = receiver.statistics()
    assert stats.accepted >= JOBS and not stats.rejected


async def test_dropped_deliveries_are_caught_by_fallback_polling() -> None:
    receiver = WebhookReceiver(SECRET)
    async with (
        serve(webhook_app(receiver, path="/hook")) as origin,
        Emulator(config(origin + "/hook", drop_rate=0.3)) as emu,
        AsyncPixVerse(
            WEBHOOK_KEY,
            base_url=emu.base_url,
            poll=WEBHOOK_POLL,
            max_concurrency=LIMIT,
            webhooks=True,
        ) as client,
    ):
        receiver.client = client
        outcomes, polls = await modify_batch(client, emu)
        poller = client.poll_statistics()
    assert len(outcomes) == JOBS and all(o.ok for o in outcomes)
    # some jobs ended by delivery, the dropped ones by a fallback poll
    assert poller.resolved_externally >= JOBS // 3
    assert poller.resolved_by_poll >= 1 and polls >= poller.resolved_by_poll
    assert emu.stats()["duplicate_generations"] == 0


async def test_a_delivery_before_the_wait_resolves_it_at_once() -> None:
    receiver = WebhookReceiver(SECRET)
    async with (
        serve(webhook_app(receiver, path="/hook")) as origin,
        Emulator(config(origin + "/hook")) as emu,
        AsyncPixVerse(
            WEBHOOK_KEY,
            base_url=emu.base_url,
            poll=WEBHOOK_POLL,
            max_concurrency=None,
            webhooks=True,
        ) as client,
    ):
        receiver.client = client
        job = await client.video.text_to_video(
            prompt="a lighthouse", model="v5", duration=5, quality="360p", aspect_ratio="16:9"
        )
        # nobody waits yet (no limiter, so nothing watches it): the delivery is kept
        for _ in range(200):
            if receiver.statistics().accepted:
                break
            await asyncio.sleep(0.01)
        polls = emu.stats()["status_polls"]
        result = await asyncio.wait_for(job.wait(), 1)
        assert result.status == 1 and result.url
        assert emu.stats()["status_polls"] == polls  # no status request was needed
