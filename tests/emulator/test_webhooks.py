"""Webhook deliveries (reference section 7): routing, shape, signature, acknowledgement, retries.

Every test runs its own receiver (a real aiohttp server on a free loopback port) and checks
what arrives on the wire; signatures are recomputed here independently of the package.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web

from pixverse_async import _signing
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultPlan,
    Fixed,
    WebhookConfig,
)

from ..conftest import Raw

pytestmark = pytest.mark.anyio

KEY = "pv-webhook-test-key"
SECRET_1 = "secret-1"
SECRET_2 = "secret-2"
REFERENCE_SCHEDULE = (2, 10, 30, 60, 300, 900, 3600, 14400)
PAYLOAD_KEYS = ["id", "status", "url", "size", "has_audio", "credits"]
NONCE = re.compile(r"[A-Za-z0-9]{32}")
TERMINAL = (1, 6, 7, 8)

# Reference 7.3 test vector
VECTOR_SECRET = "test-secret"
VECTOR_TIMESTAMP = "1700000000"
VECTOR_NONCE = "0123456789abcdef0123456789abcdef"
VECTOR_PAYLOAD: dict[str, Any] = {
    "id": "123456789",
    "status": 1,
    "url": "https://example.com/video.mp4",
    "size": 10.5,
    "has_audio": True,
    "credits": 100,
}
VECTOR_SIGNATURE = "IVS2Jvy/kT3/xfjEI7NXqHVap/gQpXSdegcfzvYPOak="
VECTOR_SIGNATURE_SORTED = "8BZh07+sAnvPWDvhXP4yzhQThyXPr8kbzowqMsASDcQ="
VECTOR_URLENCODED = (
    "id=123456789&status=1&url=https%3A%2F%2Fexample.com%2Fvideo.mp4&size=10.5"
    "&has_audio=true&credits=100"
)


# ---------------------------------------------------------------------------
# An independent verifier (deliberately not pixverse_async._signing)


def expected_signature(
    secret: str, timestamp: str, nonce: str, raw_body: bytes, *, sort_keys: bool = False
) -> str:
    body = json.loads(raw_body)  # dicts keep the body's key order
    items = sorted(body.items()) if sort_keys else list(body.items())
    payload = urlencode([(k, v if isinstance(v, str) else json.dumps(v)) for k, v in items])
    message = f"{timestamp}\n{nonce}\n{payload}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verifies(secret: str, headers: dict[str, str], raw_body: bytes) -> bool:
    want = expected_signature(
        secret, headers["Webhook-Timestamp"], headers["Webhook-Nonce"], raw_body
    )
    return hmac.compare_digest(want, headers["Webhook-Signature"])


# ---------------------------------------------------------------------------
# The receiver


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def doc(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


Answer = Callable[[int], Awaitable[web.StreamResponse]]


async def answer_ok(n: int) -> web.StreamResponse:
    return web.Response(text="ok")


@dataclass
class Receiver:
    answer: Answer
    hits: list[Hit] = field(default_factory=list)
    origin: str = ""
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def url(self, path: str = "/hook") -> str:
        return self.origin + path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.hits.append(Hit(request.path, dict(request.headers), body, time.monotonic()))
        return await self.answer(len(self.hits))

    def on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path == path]


@contextlib.asynccontextmanager
async def receiver(answer: Answer = answer_ok) -> AsyncIterator[Receiver]:
    rec = Receiver(answer)
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        rec.origin = f"http://127.0.0.1:{runner.addresses[0][1]}"
        yield rec
    finally:
        rec.release.set()
        await runner.cleanup()


def scripted(*answers: tuple[int, str]) -> Answer:
    """Answer the n-th request with ``answers[n-1]`` (the last one repeats)."""

    async def answer(n: int) -> web.StreamResponse:
        status, text = answers[min(n, len(answers)) - 1]
        return web.Response(status=status, text=text)

    return answer


def config(url1: str, url2: str | None = None, *, hooks: bool = True, **kw: Any) -> EmulatorConfig:
    webhooks = (
        (WebhookConfig(1, url1, SECRET_1), WebhookConfig(2, url2 or url1, SECRET_2, default=True))
        if hooks
        else ()
    )
    kw.setdefault("job_duration", Fixed(0.05))
    kw.setdefault("time_scale", 20000)
    kw.setdefault("seed", 3)
    return EmulatorConfig(accounts=(AccountConfig(api_key=KEY, webhooks=webhooks),), **kw)


def t2v(prompt: str = "a lighthouse at dusk", **extra: Any) -> dict[str, Any]:
    body = {"prompt": prompt, "model": "v5", "duration": 5, "quality": "540p"}
    body["aspect_ratio"] = "16:9"
    body.update(extra)
    return body


async def until(check: Callable[[], bool], what: str, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def settle() -> None:
    """A short grace period before asserting that nothing more arrives."""
    await asyncio.sleep(0.15)


def ids_of(hits: list[Hit]) -> list[str]:
    return [h.doc["id"] for h in hits]


def free_closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------------
# Signature (7.3)


def test_signing_matches_reference_vector() -> None:
    payload = _signing.urlencoded_payload(VECTOR_PAYLOAD)
    assert payload == VECTOR_URLENCODED
    sig = _signing.signature(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_NONCE, payload)
    assert sig == VECTOR_SIGNATURE
    sorted_payload = _signing.urlencoded_payload(VECTOR_PAYLOAD, sort_keys=True)
    assert sorted_payload.startswith("credits=100&has_audio=true&id=123456789")
    sorted_sig = _signing.signature(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_NONCE, sorted_payload)
    assert sorted_sig == VECTOR_SIGNATURE_SORTED


def test_signing_rejects_wrong_inputs() -> None:
    payload = _signing.urlencoded_payload(VECTOR_PAYLOAD)
    assert _signing.signature("wrong", VECTOR_TIMESTAMP, VECTOR_NONCE, payload) != VECTOR_SIGNATURE
    assert (
        _signing.signature(VECTOR_SECRET, "1700000001", VECTOR_NONCE, payload) != VECTOR_SIGNATURE
    )
    tampered = _signing.urlencoded_payload({**VECTOR_PAYLOAD, "credits": 101})
    assert (
        _signing.signature(VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_NONCE, tampered)
        != VECTOR_SIGNATURE
    )


def test_independent_verifier_matches_reference_vector() -> None:
    raw = json.dumps(VECTOR_PAYLOAD).encode()
    args = (VECTOR_SECRET, VECTOR_TIMESTAMP, VECTOR_NONCE, raw)
    assert expected_signature(*args) == VECTOR_SIGNATURE
    assert expected_signature(*args, sort_keys=True) == VECTOR_SIGNATURE_SORTED


async def test_delivery_signature_verifies_and_negative_controls_fail(
    session: aiohttp.ClientSession,
) -> None:
    async with receiver() as rec, Emulator(config(rec.url("/one"), rec.url("/two"))) as emu:
        raw = Raw(session, emu, KEY)
        await raw.ok("/video/text/generate", t2v(webhook_id=1))
        await until(lambda: len(rec.hits) == 1, "a delivery")
        hit = rec.hits[0]
        assert hit.path == "/one"
        assert verifies(SECRET_1, hit.headers, hit.body)
        assert not verifies(SECRET_2, hit.headers, hit.body)
        tampered = json.dumps({**hit.doc, "credits": hit.doc["credits"] + 1}).encode()
        assert not verifies(SECRET_1, hit.headers, tampered)
        other_nonce = {**hit.headers, "Webhook-Nonce": "x" * 32}
        assert not verifies(SECRET_1, other_nonce, hit.body)
        # signed in the body's key order, not the sorted one
        sorted_sig = expected_signature(
            SECRET_1,
            hit.headers["Webhook-Timestamp"],
            hit.headers["Webhook-Nonce"],
            hit.body,
            sort_keys=True,
        )
        assert sorted_sig != hit.headers["Webhook-Signature"]


# ---------------------------------------------------------------------------
# Delivery shape (7.2)


def assert_flat(doc: dict[str, Any]) -> None:
    assert list(doc) == PAYLOAD_KEYS
    for key, value in doc.items():
        assert value is not None and not isinstance(value, dict | list), (key, value)
    assert isinstance(doc["id"], str) and doc["id"].isdigit()
    assert type(doc["status"]) is int and type(doc["credits"]) is int
    assert isinstance(doc["url"], str) and type(doc["has_audio"]) is bool
    assert isinstance(doc["size"], int | float) and not isinstance(doc["size"], bool)


async def test_success_delivery_shape(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url("/one"), rec.url("/two"))) as emu:
        raw = Raw(session, emu, KEY)
        trace = "trace-shape-0001"
        resp = await raw.ok("/video/text/generate", t2v(), trace=trace)
        video_id = resp["video_id"]
        await until(lambda: len(rec.hits) == 1, "a delivery")
        done = await raw.wait(video_id)
        await settle()
        assert len(rec.hits) == 1, "one delivery per terminal status"
        hit = rec.hits[0]
        assert hit.path == "/two"  # the default webhook
        assert hit.headers["Content-Type"].split(";")[0].strip() == "application/json"
        assert abs(int(hit.headers["Webhook-Timestamp"]) - time.time()) <= 5
        assert NONCE.fullmatch(hit.headers["Webhook-Nonce"])
        assert hit.headers["Ai-Trace-Id"] == trace
        assert verifies(SECRET_2, hit.headers, hit.body)
        doc = hit.doc
        assert_flat(doc)
        assert doc["id"] == str(video_id)
        assert doc["status"] == 1 == done["status"]
        assert doc["url"] == done["url"] and doc["url"]
        assert doc["size"] == done["size"] > 0
        assert doc["credits"] == resp["credits"] > 0
        assert doc["has_audio"] is done["has_audio"] is False


async def test_has_audio_follows_the_job(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url())) as emu:
        raw = Raw(session, emu, KEY)
        body = t2v(model="v5.5", generate_audio_switch=True)
        resp = await raw.ok("/video/text/generate", body)
        await until(lambda: len(rec.hits) == 1, "a delivery")
        done = await raw.wait(resp["video_id"])
        doc = rec.hits[0].doc
        assert doc["has_audio"] is True is done["has_audio"]
        assert doc["credits"] == resp["credits"]


@pytest.mark.parametrize(
    ("trigger", "status"), [("[emulator:moderate]", 7), ("[emulator:fail]", 8)]
)
async def test_failure_delivery_shape(
    session: aiohttp.ClientSession, trigger: str, status: int
) -> None:
    async with receiver() as rec, Emulator(config(rec.url())) as emu:
        raw = Raw(session, emu, KEY)
        trace = f"trace-failure-{status}"
        resp = await raw.ok("/video/text/generate", t2v(f"a cat {trigger}"), trace=trace)
        assert resp["credits"] > 0
        await until(lambda: len(rec.hits) == 1, "a delivery")
        done = await raw.wait(resp["video_id"])
        await settle()
        assert len(rec.hits) == 1
        hit = rec.hits[0]
        assert hit.headers["Ai-Trace-Id"] == trace
        assert verifies(SECRET_2, hit.headers, hit.body)
        doc = hit.doc
        assert_flat(doc)
        assert doc["id"] == str(resp["video_id"])
        assert doc["status"] == status == done["status"]
        assert (doc["url"], doc["size"], doc["credits"]) == ("", 0, 0)


# ---------------------------------------------------------------------------
# Routing (7.1)


async def test_webhook_id_selects_the_webhook(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url("/one"), rec.url("/two"))) as emu:
        raw = Raw(session, emu, KEY)
        by_id = await raw.ok("/video/text/generate", t2v(webhook_id=1))
        explicit_default = await raw.ok("/video/text/generate", t2v("a fox", webhook_id=2))
        implicit = await raw.ok("/video/text/generate", t2v("a owl"))
        await until(lambda: len(rec.hits) == 3, "three deliveries")
        assert ids_of(rec.on("/one")) == [str(by_id["video_id"])]
        assert sorted(ids_of(rec.on("/two"))) == sorted(
            [str(explicit_default["video_id"]), str(implicit["video_id"])]
        )
        for hit in rec.on("/one"):
            assert verifies(SECRET_1, hit.headers, hit.body)
        for hit in rec.on("/two"):
            assert verifies(SECRET_2, hit.headers, hit.body)
        urls = {d["video_id"]: d["url"] for d in emu.deliveries}
        assert urls[by_id["video_id"]] == rec.url("/one")
        assert urls[implicit["video_id"]] == rec.url("/two")


async def test_other_webhook_capable_endpoints_deliver(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url("/one"), rec.url("/two"))) as emu:
        raw = Raw(session, emu, KEY)
        img_id = await raw.upload_image()
        media_id = await raw.upload_video(5.0)
        i2v = await raw.ok(
            "/video/img/generate",
            {
                "img_id": img_id,
                "prompt": "waves",
                "model": "v5",
                "duration": 5,
                "quality": "540p",
                "webhook_id": 1,
            },
        )
        modify = await raw.ok(
            "/video/modify/generate",
            {"video_media_id": media_id, "prompt": "make it snow", "quality": "540p"},
        )
        await until(lambda: len(rec.hits) == 2, "two deliveries")
        assert ids_of(rec.on("/one")) == [str(i2v["video_id"])]
        assert ids_of(rec.on("/two")) == [str(modify["video_id"])]
        assert rec.on("/two")[0].doc["credits"] == modify["credits"]


async def test_unknown_webhook_id_is_rejected(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url())) as emu:
        raw = Raw(session, emu, KEY)
        before = await raw.balance()
        status, doc = await raw.post("/video/text/generate", t2v(webhook_id=3))
        assert status == 200 and doc["ErrCode"] == 400017, doc
        stats = await raw.stats()
        assert stats["jobs_created"] == 0 and stats["credits_charged"] == 0
        assert await raw.balance() == before
        await settle()
        assert rec.hits == [] and emu.deliveries == []


async def test_account_without_webhooks_gets_nothing(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url())) as emu:
        emu.upsert_account(AccountConfig(api_key="no-hooks"))
        plain = Raw(session, emu, "no-hooks")
        _, doc = await plain.post("/video/text/generate", t2v(webhook_id=1))
        assert doc["ErrCode"] == 400017, doc  # webhook 1 belongs to another account
        silent = await plain.ok("/video/text/generate", t2v())
        await plain.wait(silent["video_id"])
        control = await Raw(session, emu, KEY).ok("/video/text/generate", t2v())
        await until(lambda: len(rec.hits) == 1, "the control delivery")
        await settle()
        assert ids_of(rec.hits) == [str(control["video_id"])]
        assert {d["video_id"] for d in emu.deliveries} == {control["video_id"]}


async def test_webhooks_added_at_runtime(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url(), hooks=False)) as emu:
        raw = Raw(session, emu, KEY)
        before = await raw.ok("/video/text/generate", t2v())
        await raw.wait(before["video_id"])
        account = {
            "api_key": KEY,
            "webhooks": [
                {"webhook_id": 5, "url": rec.url("/five"), "secret": "s5", "default": True}
            ],
        }
        async with session.post(emu.origin + "/_emulator/accounts", json=account) as r:
            assert r.status == 200, await r.text()
        after = await raw.ok("/video/text/generate", t2v("a heron", webhook_id=5))
        await until(lambda: len(rec.hits) == 1, "a delivery")
        emu.upsert_account(
            AccountConfig(api_key=KEY, webhooks=(WebhookConfig(6, rec.url("/six"), "s6"),))
        )
        third = await raw.ok("/video/text/generate", t2v("a crane"))
        await until(lambda: len(rec.hits) == 2, "a second delivery")
        await settle()
        assert ids_of(rec.hits) == [str(after["video_id"]), str(third["video_id"])]
        assert [h.path for h in rec.hits] == ["/five", "/six"]
        assert verifies("s5", rec.hits[0].headers, rec.hits[0].body)
        assert verifies("s6", rec.hits[1].headers, rec.hits[1].body)


async def test_image_template_is_not_webhook_capable(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url())) as emu:
        raw = Raw(session, emu, KEY)
        img_id = await raw.upload_image()
        image = await raw.ok(
            "/image/template/generate", {"template_id": 400001, "img_ids": [img_id]}
        )
        done = await raw.wait(image["image_id"], image=True)
        assert done["status"] == 1
        control = await raw.ok("/video/text/generate", t2v())
        await until(lambda: len(rec.hits) == 1, "the control delivery")
        await settle()
        assert ids_of(rec.hits) == [str(control["video_id"])]
        assert all(d["video_id"] != image["image_id"] for d in emu.deliveries)


async def test_status_6_delivers_nothing(session: aiohttp.ClientSession) -> None:
    async with receiver() as rec, Emulator(config(rec.url())) as emu:
        raw = Raw(session, emu, KEY)
        deleted = await raw.ok("/video/text/generate", t2v("a bell [emulator:stuck]"))
        forced = await raw.ok("/video/text/generate", t2v("a drum [emulator:stuck]"))
        finished = await raw.ok("/video/text/generate", t2v("a harp"))
        await until(lambda: len(rec.hits) == 1, "the first delivery")
        for job, status in ((deleted, 6), (forced, 1), (finished, 6)):
            url = f"{emu.origin}/_emulator/jobs/{job['video_id']}"
            async with session.post(url, json={"status": status}) as r:
                assert r.status == 200 and (await r.json())["status"] == status
        await until(lambda: len(rec.hits) == 2, "the forced delivery")
        await settle()
        assert ids_of(rec.hits) == [str(finished["video_id"]), str(forced["video_id"])]
        doc = rec.hits[1].doc
        assert doc["status"] == 1 and doc["url"] and doc["size"] > 0
        assert (await raw.result(deleted["video_id"]))["status"] == 6
        assert all(d["video_id"] != deleted["video_id"] for d in emu.deliveries)


# ---------------------------------------------------------------------------
# Acknowledgement and retries (7.4)


async def control_deliveries(session: aiohttp.ClientSession, emu: Emulator) -> list[Any]:
    async with session.get(emu.origin + "/_emulator/webhooks") as r:
        assert r.status == 200
        return list((await r.json())["deliveries"])


@pytest.mark.parametrize(
    ("status", "text"),
    [(200, "OK"), (200, "ok\n"), (200, " ok"), (200, ""), (201, "ok"), (204, ""), (500, "ok")],
)
async def test_anything_but_200_ok_is_retried(
    session: aiohttp.ClientSession, status: int, text: str
) -> None:
    async with (
        receiver(scripted((status, text), (200, "ok"))) as rec,
        Emulator(config(rec.url())) as emu,
    ):
        raw = Raw(session, emu, KEY)
        await raw.ok("/video/text/generate", t2v())
        await until(lambda: len(emu.deliveries) == 2, "the retry")
        await settle()
        assert len(rec.hits) == 2
        assert [(d["attempt"], d["ok"]) for d in emu.deliveries] == [(1, False), (2, True)]
        assert emu.deliveries[0]["http_status"] == status


async def test_a_closed_port_is_retried_up_to_9_attempts(session: aiohttp.ClientSession) -> None:
    url = f"http://127.0.0.1:{free_closed_port()}/hook"
    async with Emulator(config(url, time_scale=40000)) as emu:
        raw = Raw(session, emu, KEY)
        resp = await raw.ok("/video/text/generate", t2v())
        await until(lambda: len(emu.deliveries) == 9, "nine attempts")
        await settle()
        assert [d["attempt"] for d in emu.deliveries] == list(range(1, 10))
        assert all(not d["ok"] and d["http_status"] is None for d in emu.deliveries)
        assert {d["video_id"] for d in emu.deliveries} == {resp["video_id"]}
        stats = await raw.stats()
        assert (stats["webhook_deliveries"], stats["webhook_deliveries_ok"]) == (9, 0)


async def test_a_receiver_that_times_out_is_retried(session: aiohttp.ClientSession) -> None:
    async def slow_then_ok(n: int) -> web.StreamResponse:
        if n == 1:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(rec.release.wait(), 2.0)
        return web.Response(text="ok")

    async with (
        receiver(slow_then_ok) as rec,
        Emulator(config(rec.url(), webhook_attempt_timeout=0.1)) as emu,
    ):
        raw = Raw(session, emu, KEY)
        await raw.ok("/video/text/generate", t2v())
        await until(lambda: len(emu.deliveries) == 2, "the retry")
        assert [(d["attempt"], d["ok"]) for d in emu.deliveries] == [(1, False), (2, True)]
        assert emu.deliveries[0]["http_status"] is None
        assert "Timeout" in emu.deliveries[0]["error"]
        assert len(rec.hits) == 2 and rec.hits[0].body == rec.hits[1].body


async def test_retries_follow_the_schedule_and_stop_after_9(
    session: aiohttp.ClientSession,
) -> None:
    scale = 40000
    async with (
        receiver(scripted((500, "busy"))) as rec,
        Emulator(config(rec.url(), time_scale=scale)) as emu,
    ):
        assert emu.config.webhook_retry_delays == REFERENCE_SCHEDULE
        raw = Raw(session, emu, KEY)
        trace = "trace-retries-0001"
        resp = await raw.ok("/video/text/generate", t2v(), trace=trace)
        await until(lambda: len(emu.deliveries) == 9, "nine attempts")
        await settle()
        assert len(rec.hits) == 9
        for (before, after), delay in zip(pairwise(rec.hits), REFERENCE_SCHEDULE, strict=True):
            assert after.at - before.at >= delay / scale - 0.001
        assert {h.body for h in rec.hits} == {rec.hits[0].body}
        assert {h.headers["Ai-Trace-Id"] for h in rec.hits} == {trace}
        nonces = [h.headers["Webhook-Nonce"] for h in rec.hits]
        assert len(set(nonces)) == 9 and all(NONCE.fullmatch(n) for n in nonces)
        assert len({h.headers["Webhook-Signature"] for h in rec.hits}) == 9
        for hit in rec.hits:
            assert verifies(SECRET_2, hit.headers, hit.body)
            assert abs(int(hit.headers["Webhook-Timestamp"]) - time.time()) <= 5
        assert rec.hits[0].doc["id"] == str(resp["video_id"])
        recorded = await control_deliveries(session, emu)
        assert recorded == emu.deliveries
        assert [(d["attempt"], d["ok"], d["http_status"]) for d in recorded] == [
            (n, False, 500) for n in range(1, 10)
        ]
        stats = await raw.stats()
        assert (stats["webhook_deliveries"], stats["webhook_deliveries_ok"]) == (9, 0)


async def test_explicit_retry_delays_are_measured_from_each_failure(
    session: aiohttp.ClientSession,
) -> None:
    delays = (0.05, 0.1)
    async with (
        receiver(scripted((503, "no"))) as rec,
        Emulator(config(rec.url(), time_scale=1, webhook_retry_delays=delays)) as emu,
    ):
        raw = Raw(session, emu, KEY)
        await raw.ok("/video/text/generate", t2v())
        await until(lambda: len(emu.deliveries) == 3, "three attempts")
        await asyncio.sleep(0.2)
        assert len(rec.hits) == 3 == len(emu.deliveries)
        gaps = [b.at - a.at for a, b in pairwise(rec.hits)]
        assert gaps[0] >= 0.05 - 0.001 and gaps[1] >= 0.1 - 0.001


async def test_fails_twice_then_ok_means_exactly_3_attempts(
    session: aiohttp.ClientSession,
) -> None:
    answers = scripted((500, "oops"), (200, "OK"), (200, "ok"))
    async with receiver(answers) as rec, Emulator(config(rec.url("/one"), rec.url("/two"))) as emu:
        raw = Raw(session, emu, KEY)
        trace = "trace-third-time-lucky"
        resp = await raw.ok("/video/text/generate", t2v(webhook_id=1), trace=trace)
        await until(lambda: len(emu.deliveries) == 3, "three attempts")
        await settle()
        assert len(rec.hits) == 3
        assert [(d["attempt"], d["ok"]) for d in emu.deliveries] == [
            (1, False),
            (2, False),
            (3, True),
        ]
        assert [d["http_status"] for d in emu.deliveries] == [500, 200, 200]
        assert {d["video_id"] for d in emu.deliveries} == {resp["video_id"]}
        assert await control_deliveries(session, emu) == emu.deliveries
        assert {h.body for h in rec.hits} == {rec.hits[0].body}
        assert {h.headers["Ai-Trace-Id"] for h in rec.hits} == {trace}
        assert len({h.headers["Webhook-Nonce"] for h in rec.hits}) == 3
        assert all(verifies(SECRET_1, h.headers, h.body) for h in rec.hits)
        stats = await raw.stats()
        assert (stats["webhook_deliveries"], stats["webhook_deliveries_ok"]) == (3, 1)


# ---------------------------------------------------------------------------
# Faults


async def test_drop_rate_sends_nothing(session: aiohttp.ClientSession) -> None:
    faults = FaultPlan(webhook_drop_rate=1.0)
    async with receiver() as rec, Emulator(config(rec.url(), faults=faults)) as emu:
        raw = Raw(session, emu, KEY)
        first = await raw.ok("/video/text/generate", t2v())
        second = await raw.ok("/video/text/generate", t2v("[emulator:fail] a bridge"))
        await raw.wait(first["video_id"])
        await raw.wait(second["video_id"])
        await settle()
        assert rec.hits == []
        stats = await raw.stats()
        assert stats["webhook_deliveries_dropped"] == 2
        assert stats["webhook_deliveries"] == 0 == stats["webhook_deliveries_ok"]
        assert not any(d.get("ok") for d in emu.deliveries)


async def test_duplicate_rate_delivers_the_same_body_twice(session: aiohttp.ClientSession) -> None:
    faults = FaultPlan(webhook_duplicate_rate=1.0)
    async with receiver() as rec, Emulator(config(rec.url(), faults=faults)) as emu:
        raw = Raw(session, emu, KEY)
        resp = await raw.ok("/video/text/generate", t2v())
        await until(lambda: len(rec.hits) == 2, "two deliveries")
        await settle()
        assert len(rec.hits) == 2
        first, second = rec.hits
        assert first.body == second.body
        assert (first.doc["id"], first.doc["status"]) == (str(resp["video_id"]), 1)
        assert first.headers["Webhook-Nonce"] != second.headers["Webhook-Nonce"]
        assert all(verifies(SECRET_2, h.headers, h.body) for h in rec.hits)
        stats = await raw.stats()
        assert (stats["webhook_deliveries"], stats["webhook_deliveries_ok"]) == (2, 2)
