"""Webhook faults: a 200-job modify batch in webhook mode survives dropped, duplicated and
forged deliveries, with every item terminal, the journal consistent, nothing paid twice, and
credits matching the successful items.

The emulator posts its deliveries to a receiver on a loopback port served by the test; the
forger posts deliveries for the batch's real job ids ("status 8", "status 1" with a planted
URL) signed with the wrong secret, stale, unsigned or replayed, while the jobs are waiting.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pixverse_async import AsyncPixVerse, PollPolicy
from pixverse_async._batch import BatchEvent
from pixverse_async._journal import Journal
from pixverse_async._signing import signature, urlencoded_payload
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultPlan,
    LogNormal,
    WebhookConfig,
    make_mp4,
)
from pixverse_async.webhooks import WebhookReceiver, webhook_app
from tests._servers import serve

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

KEY = "pv-webhook-faults-key-0001"
SECRET = "whsec-webhook-faults"
ITEMS = 200
LIMIT = 20
POLL = PollPolicy(interval=0.05, jitter=0.1, max_rps=None, max_concurrency=64, webhook_fallback=1.0)


def sign(secret: str, timestamp: str, nonce: str, body: dict[str, Any]) -> str:
    return signature(secret, timestamp, nonce, urlencoded_payload(body))


async def forge(http: aiohttp.ClientSession, url: str, job_ids: list[int]) -> dict[int, int]:
    """Post forged deliveries for known job ids until cancelled; count answers by status."""
    answers: dict[int, int] = {}
    replay: tuple[dict[str, str], bytes] | None = None
    n = 0
    while True:
        await asyncio.sleep(0.005)
        if not job_ids:
            continue
        n += 1
        job = job_ids[n % len(job_ids)]
        body = {"id": str(job), "status": 8 if n % 2 else 1, "url": "https://evil.example/x.mp4"}
        body.update({"size": 1, "has_audio": False, "credits": 0})
        now = str(int(time.time()))
        nonce = secrets.token_hex(16)
        variant = n % 4
        if variant == 0:  # signed with the wrong secret
            headers = {
                "Webhook-Signature": signature(
                    "not-the-secret", now, nonce, urlencoded_payload(body)
                )
            }
        elif variant == 1:  # a genuine-looking signature, but an hour old
            old = str(int(time.time()) - 3600)
            headers = {"Webhook-Signature": sign(SECRET, old, nonce, body)}
            now = old
        elif variant == 2:  # no signature at all
            headers = {}
        else:  # replaying an earlier forged request byte for byte
            if replay is None:
                headers = {"Webhook-Signature": sign("guess", now, nonce, body)}
            else:
                headers, raw = replay
                async with http.post(url, data=raw, headers=headers) as response:
                    answers[response.status] = answers.get(response.status, 0) + 1
                continue
        headers |= {"Webhook-Timestamp": now, "Webhook-Nonce": nonce}
        headers["Content-Type"] = "application/json"
        raw = json.dumps(body).encode()
        replay = (headers, raw)
        async with http.post(url, data=raw, headers=headers) as response:
            answers[response.status] = answers.get(response.status, 0) + 1


FAULTS = {
    "dropped": FaultPlan(webhook_drop_rate=0.3),
    "duplicated": FaultPlan(webhook_duplicate_rate=0.5),
    "forged": FaultPlan(),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_webhook_batch_survives(fault: str, tmp_path: Path) -> None:
    receiver = WebhookReceiver(SECRET)
    journal_path = tmp_path / "run.db"
    job_ids: list[int] = []

    def on_event(event: BatchEvent) -> None:
        if event.type == "accepted" and event.job_id is not None:
            job_ids.append(event.job_id)

    async with serve(webhook_app(receiver, path="/hook")) as origin:
        hooks = (WebhookConfig(1, origin + "/hook", SECRET, default=True),)
        account = AccountConfig(
            api_key=KEY, concurrency=LIMIT, credit_monthly=0, credit_package=10**8, webhooks=hooks
        )
        config = EmulatorConfig(
            accounts=(account,),
            job_duration=LogNormal(0.15, 0.5),
            faults=FAULTS[fault],
            seed=17,
            time_scale=100,
        )
        async with (
            Emulator(config) as emu,
            aiohttp.ClientSession() as http,
            AsyncPixVerse(
                KEY, base_url=emu.base_url, poll=POLL, max_concurrency=LIMIT, webhooks=True
            ) as client,
        ):
            receiver.client = client
            clip = make_mp4(5.0, 640, 360, size=20_000)
            source = await client.media.upload_media(clip, filename="clip.mp4")
            items = [
                {
                    "key": f"item-{i:03d}",
                    "kind": "modify",
                    "params": {
                        "video_media_id": source.media_id,
                        "prompt": f"remix {uuid.UUID(int=i)}",
                        "quality": "360p",
                    },
                }
                for i in range(ITEMS)
            ]
            forger = None
            if fault == "forged":
                forger = asyncio.ensure_future(forge(http, origin + "/hook", job_ids))
            try:
                outcomes = await asyncio.wait_for(
                    client.run_batch(items, journal=journal_path, on_event=on_event), 90
                )
            finally:
                if forger is not None:
                    forger.cancel()
            forged = await asyncio.gather(forger, return_exceptions=True) if forger else []
            stats = emu.stats()
            poller = client.poll_statistics()

    # every item succeeded with the emulator's own URL: no forged delivery ended a job
    assert len(outcomes) == ITEMS
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    assert all(o.url and o.url.startswith(emu.origin) for o in outcomes)
    ids = [o.job_id for o in outcomes]
    assert len(set(ids)) == ITEMS and stats["jobs_created"] == ITEMS
    assert stats["duplicate_generations"] == 0
    spent = stats["credits_charged"] - stats["credits_refunded"]
    assert spent == sum(o.credits or 0 for o in outcomes)

    async with await Journal.open(journal_path) as journal:
        records = {r.key: r for r in await journal.records()}
    assert set(records) == {o.key for o in outcomes}
    for o in outcomes:
        r = records[o.key]
        assert (r.state, r.video_id, r.url, r.credits) == ("succeeded", o.job_id, o.url, o.credits)

    received = receiver.statistics()
    if fault == "dropped":  # the lost deliveries were caught by the slow fallback polls
        assert poller.resolved_by_poll >= ITEMS // 10
        assert poller.resolved_externally >= ITEMS // 2
    if fault == "duplicated":
        assert received.duplicates >= ITEMS // 4
        assert received.accepted == ITEMS
    if fault == "forged":
        rejected = received.rejected
        assert sum(rejected.values()) >= 40, rejected
        assert {"bad_signature", "stale", "missing_header"} <= set(rejected), rejected
        assert received.accepted == ITEMS  # only the emulator's deliveries got through
        assert isinstance(forged[0], asyncio.CancelledError)
