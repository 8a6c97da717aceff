"""Webhook verification: the reference's vector, tampering, replay, and real deliveries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from pixverse_async import AsyncPixVerse, PollPolicy
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed, WebhookConfig
from pixverse_async.webhooks import (
    MemoryNonceStore,
    NonceStore,
    WebhookEvent,
    WebhookVerificationError,
    WebhookVerifier,
)

pytestmark = pytest.mark.anyio

BODY = (
    '{"id": "123456789", "status": 1, "url": "https://example.com/video.mp4", '
    '"size": 10.5, "has_audio": true, "credits": 100}'
)
TS, NONCE = "1700000000", "0123456789abcdef0123456789abcdef"
IN_ORDER = "IVS2Jvy/kT3/xfjEI7NXqHVap/gQpXSdegcfzvYPOak="
SORTED = "8BZh07+sAnvPWDvhXP4yzhQThyXPr8kbzowqMsASDcQ="


def headers(sig: str = IN_ORDER, ts: str = TS, nonce: str = NONCE) -> dict[str, str]:
    return {"webhook-timestamp": ts, "Webhook-Nonce": nonce, "WEBHOOK-SIGNATURE": sig}


async def test_reference_vector_verifies_in_both_key_orders() -> None:
    event = await WebhookVerifier("test-secret").verify(headers(), BODY.encode(), now=1700000000)
    assert event == WebhookEvent(
        id=123456789,
        status=1,
        url="https://example.com/video.mp4",
        size=10.5,
        has_audio=True,
        credits=100,
    )
    other = await WebhookVerifier("test-secret").verify(headers(SORTED), BODY, now=1700000100)
    assert other.id == 123456789


@pytest.mark.parametrize(
    ("secret", "hdrs", "body", "now", "reason"),
    [
        ("wrong-secret", headers(), BODY, 1700000000, "bad_signature"),
        ("test-secret", headers(), BODY.replace("100}", "101}"), 1700000000, "bad_signature"),
        ("test-secret", headers(nonce="f" * 32), BODY, 1700000000, "bad_signature"),
        ("test-secret", headers(), BODY, 1700000301, "stale"),
        ("test-secret", headers(), BODY, 1699999699, "stale"),
        ("test-secret", headers(ts="soon"), BODY, 1700000000, "bad_timestamp"),
        (
            "test-secret",
            {"Webhook-Nonce": NONCE, "Webhook-Signature": IN_ORDER},
            BODY,
            1700000000,
            "missing_header",
        ),
        ("test-secret", headers(), "not json", 1700000000, "malformed"),
        ("test-secret", headers(), '{"id": "1", "status": null}', 1700000000, "malformed"),
        ("test-secret", headers(), '{"id": "1", "status": {"a": 1}}', 1700000000, "malformed"),
    ],
)
async def test_refusals(
    secret: str, hdrs: dict[str, str], body: str, now: float, reason: str
) -> None:
    with pytest.raises(WebhookVerificationError) as info:
        await WebhookVerifier(secret).verify(hdrs, body, now=now)
    assert info.value.reason == reason


async def test_a_replayed_nonce_is_refused() -> None:
    verifier = WebhookVerifier("test-secret")
    await verifier.verify(headers(), BODY, now=1700000000)
    with pytest.raises(WebhookVerificationError) as info:
        await verifier.verify(headers(), BODY, now=1700000001)
    assert info.value.reason == "replayed"


async def test_the_nonce_is_recorded_only_for_a_genuine_delivery() -> None:
    store = MemoryNonceStore()
    verifier = WebhookVerifier("test-secret", nonces=store)
    with pytest.raises(WebhookVerificationError):
        await verifier.verify(headers(IN_ORDER[::-1]), BODY, now=1700000000)
    await verifier.verify(headers(), BODY, now=1700000000)  # the forgery did not burn it


async def test_memory_nonce_store_is_async_and_forgets() -> None:
    store: NonceStore = MemoryNonceStore()
    assert await store.seen("n", expires_at=200, now=100) is False
    assert await store.seen("n", expires_at=200, now=150) is True
    assert await store.seen("n", expires_at=400, now=201) is False  # expired: new again
    await store.forget("n")
    assert await store.seen("n", expires_at=400, now=202) is False
    await store.forget("never-seen")  # nothing to forget: no error


async def test_a_custom_async_nonce_store_is_awaited() -> None:
    class Recording:
        def __init__(self) -> None:
            self.calls: list[tuple[str, float, float]] = []

        async def seen(self, nonce: str, *, expires_at: float, now: float) -> bool:
            self.calls.append((nonce, expires_at, now))
            return len(self.calls) > 1

        async def forget(self, nonce: str) -> None:
            raise AssertionError("the verifier never forgets a nonce")

    store = Recording()
    verifier = WebhookVerifier("test-secret", nonces=store)
    await verifier.verify(headers(), BODY, now=1700000010)
    assert store.calls == [(NONCE, 1700000300.0, 1700000010)]
    with pytest.raises(WebhookVerificationError) as info:
        await verifier.verify(headers(), BODY, now=1700000011)
    assert info.value.reason == "replayed"


def test_secret_never_shown() -> None:
    assert "test-secret" not in repr(WebhookVerifier("test-secret"))


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[str, list[WebhookEvent], list[str]]]:
    verifier = WebhookVerifier("hook-secret-1")
    events: list[WebhookEvent] = []
    refused: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        try:
            events.append(await verifier.verify(request.headers, await request.read()))
        except WebhookVerificationError as exc:
            refused.append(exc.reason)
            return web.Response(status=401, text="invalid signature")
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/hook", events, refused
    finally:
        await runner.cleanup()


async def test_the_emulators_real_deliveries_verify(
    receiver: tuple[str, list[WebhookEvent], list[str]],
) -> None:
    url, events, refused = receiver
    key = "pv-webhook-verify-key-0001"
    account = AccountConfig(api_key=key, webhooks=(WebhookConfig(1, url, "hook-secret-1"),))
    config = EmulatorConfig(accounts=(account,), job_duration=Fixed(0.05), seed=3)
    async with (
        Emulator(config) as emu,
        AsyncPixVerse(
            key, base_url=emu.base_url, poll=PollPolicy(interval=0.02, max_rps=None)
        ) as client,
    ):
        ok = await client.video.text_to_video(
            prompt="a", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
        )
        bad = await client.video.text_to_video(
            prompt="[emulator:fail]", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
        )
        result = await ok.wait(timeout=5)
        for _ in range(100):
            if len(events) >= 2:
                break
            await asyncio.sleep(0.02)
        deliveries = emu.deliveries
    by_id = {e.id: e for e in events}
    assert refused == [] and set(by_id) == {ok.id, bad.id}
    assert by_id[ok.id].status == 1 and by_id[ok.id].url == result.url
    assert by_id[ok.id].size == result.size and by_id[ok.id].credits == 45
    assert (by_id[bad.id].status, by_id[bad.id].url, by_id[bad.id].credits) == (8, "", 0)
    assert all(d["ok"] for d in deliveries)


async def test_a_forged_delivery_is_refused_by_the_receiver(
    receiver: tuple[str, list[WebhookEvent], list[str]],
) -> None:
    import aiohttp

    url, events, refused = receiver
    body = json.dumps(
        {"id": "1", "status": 1, "url": "x", "size": 1, "has_audio": False, "credits": 1}
    )
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url,
            data=body,
            headers={"Webhook-Timestamp": "1", "Webhook-Nonce": "n", "Webhook-Signature": "forged"},
        ) as r,
    ):
        assert r.status == 401
    assert refused == ["stale"] and events == []
