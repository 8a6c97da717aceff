"""Injected faults (README "Faults"; reference 1.4, 1.5, 1.7): every FaultKind, rule filters,
latency and the requests-per-second cap."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from pixverse_async.emulator import (
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
)

from ..conftest import Raw

pytestmark = pytest.mark.anyio

T2V = "/video/text/generate"
T2V_CREDITS = 45  # reference 11.1: v5, 540p, 5 s
SHORT = aiohttp.ClientTimeout(total=0.05)


def t2v(prompt: str = "a red fox in the snow") -> dict[str, Any]:
    return {
        "prompt": prompt,
        "model": "v5",
        "duration": 5,
        "quality": "540p",
        "aspect_ratio": "16:9",
    }


@contextlib.asynccontextmanager
async def emulator(
    session: aiohttp.ClientSession, *rules: FaultRule, **plan: Any
) -> AsyncIterator[Raw]:
    faults = FaultPlan(rules=rules, **plan)
    config = EmulatorConfig(job_duration=Fixed(0.05), seed=7, faults=faults)
    async with Emulator(config) as e:
        yield Raw(session, e, e.api_key)


async def send(
    raw: Raw,
    method: str,
    path: str,
    body: Any = None,
    *,
    trace: str | None = None,
    timeout: aiohttp.ClientTimeout | None = None,
) -> tuple[int, str, str]:
    """One request; returns (HTTP status, Content-Type, body text)."""
    kwargs: dict[str, Any] = {"headers": raw.headers(trace)}
    if body is not None:
        kwargs["json"] = body
    if timeout is not None:
        kwargs["timeout"] = timeout
    async with raw.session.request(method, raw.base + path, **kwargs) as r:
        return r.status, r.content_type, await r.text()


async def nothing_created(raw: Raw) -> None:
    stats = await raw.stats()
    assert stats["jobs_created"] == 0 and stats["credits_charged"] == 0


# ---------------------------------------------------------------------------------------------
# faults before processing


async def test_reset_drops_the_connection_and_creates_nothing(
    session: aiohttp.ClientSession,
) -> None:
    async with emulator(session, FaultRule(FaultKind.RESET, count=1)) as raw:
        with pytest.raises(aiohttp.ClientConnectionError):
            await raw.post(T2V, t2v())
        await nothing_created(raw)
        assert (await raw.stats())["faults_injected"] == {"reset": 1}
        await raw.ok(T2V, t2v())  # count=1: the next request goes through


@pytest.mark.parametrize(("kind", "status"), [("http_502", 502), ("http_503", 503)])
async def test_proxy_errors_are_html_pages(
    session: aiohttp.ClientSession, kind: str, status: int
) -> None:
    async with emulator(session, FaultRule(FaultKind(kind))) as raw:
        got, ctype, text = await send(raw, "POST", T2V, t2v())
        assert (got, ctype) == (status, "text/html")
        assert text.lstrip().startswith("<html>") and str(status) in text
        got, ctype, _ = await send(raw, "GET", "/account/balance")
        assert (got, ctype) == (status, "text/html")
        await nothing_created(raw)


async def test_http_500_has_the_lower_case_body(session: aiohttp.ClientSession) -> None:
    async with emulator(session, FaultRule(FaultKind.HTTP_500)) as raw:
        status, doc = await raw.post(T2V, t2v())
        assert status == 500
        assert set(doc) == {"err_code", "err_msg", "resp"}
        assert doc["err_code"] == 500100 and isinstance(doc["err_msg"], str)
        await nothing_created(raw)


@pytest.mark.parametrize(
    ("kind", "code"),
    [("busy", 500069), ("db_error", 500100), ("unknown_error", 99999), ("permission", 500020)],
)
async def test_envelope_faults_are_http_200_and_not_remembered(
    session: aiohttp.ClientSession, kind: str, code: int
) -> None:
    async with emulator(session, FaultRule(FaultKind(kind), path=T2V)) as raw:
        t = str(uuid.uuid4())
        status, doc = await raw.post(T2V, t2v(), trace=t)
        assert (status, doc["ErrCode"], doc["Resp"]) == (200, code, None)
        assert isinstance(doc["ErrMsg"], str) and doc["ErrMsg"]
        await nothing_created(raw)
        raw.emu.set_faults(FaultPlan())
        resp = await raw.ok(T2V, t2v(), trace=t)  # the same trace id is a fresh request
        assert resp["credits"] == T2V_CREDITS
        stats = await raw.stats()
        assert stats["jobs_created"] == 1 and stats["dedup_hits"] == 0


async def test_slow_answers_after_the_delay_and_can_time_out(
    session: aiohttp.ClientSession,
) -> None:
    rule = FaultRule(FaultKind.SLOW, delay=0.1, path="/account/balance", count=2)
    async with emulator(session, rule) as raw:
        with pytest.raises(asyncio.TimeoutError):
            await send(raw, "GET", "/account/balance", timeout=SHORT)
        start = time.monotonic()
        status, doc = await raw.get("/account/balance")
        assert time.monotonic() - start >= 0.1
        assert status == 200 and doc["ErrCode"] == 0  # then processed normally
        start = time.monotonic()
        await raw.balance()  # count=2 is used up
        assert time.monotonic() - start < 0.1
        assert (await raw.stats())["faults_injected"] == {"slow": 2}


async def test_slow_post_is_processed_after_the_delay(session: aiohttp.ClientSession) -> None:
    async with emulator(session, FaultRule(FaultKind.SLOW, delay=0.1, path=T2V)) as raw:
        start = time.monotonic()
        resp = await raw.ok(T2V, t2v())
        assert time.monotonic() - start >= 0.1
        assert resp["credits"] == T2V_CREDITS
        assert (await raw.stats())["jobs_created"] == 1


async def test_slow_post_retried_with_the_same_trace_creates_one_job(
    session: aiohttp.ClientSession,
) -> None:
    rule = FaultRule(FaultKind.SLOW, delay=0.1, path=T2V, count=1)
    async with emulator(session, rule) as raw:
        t = str(uuid.uuid4())
        with pytest.raises(asyncio.TimeoutError):
            await send(raw, "POST", T2V, t2v(), trace=t, timeout=SHORT)
        retry = await raw.ok(T2V, t2v(), trace=t)  # answered while the first still waits
        await asyncio.sleep(0.15)  # the first is processed now: a replay, not a second job
        stats = await raw.stats()
        assert stats["jobs_created"] == 1 and stats["credits_charged"] == T2V_CREDITS
        assert stats["dedup_hits"] == 1 and stats["duplicate_generations"] == 0
        assert (await raw.wait(retry["video_id"]))["status"] == 1


# ---------------------------------------------------------------------------------------------
# accepted, then the answer is lost


async def _lose_answer(raw: Raw, then: str, t: str) -> None:
    """The first POST: its answer never arrives intact."""
    if then == "reset":
        with pytest.raises(aiohttp.ClientConnectionError):
            await raw.post(T2V, t2v(), trace=t)
    elif then == "slow":
        with pytest.raises(asyncio.TimeoutError):
            await send(raw, "POST", T2V, t2v(), trace=t, timeout=SHORT)
    elif then == "http_502":
        status, ctype, _ = await send(raw, "POST", T2V, t2v(), trace=t)
        assert (status, ctype) == (502, "text/html")
    else:
        status, doc = await raw.post(T2V, t2v(), trace=t)
        assert status == 500 and doc["err_code"] == 500100


@pytest.mark.parametrize("then", ["reset", "http_502", "http_500", "slow"])
async def test_accepted_then_lost_retry_with_the_same_trace_is_safe(
    session: aiohttp.ClientSession, then: Any
) -> None:
    rule = FaultRule(FaultKind.ACCEPTED_THEN_LOST, then=then, delay=0.1, path=T2V, count=1)
    async with emulator(session, rule) as raw:
        before = await raw.balance()
        t = str(uuid.uuid4())
        await _lose_answer(raw, then, t)
        stats = await raw.stats()
        assert stats["jobs_created"] == 1 and stats["credits_charged"] == T2V_CREDITS
        assert sum(await raw.balance()) == sum(before) - T2V_CREDITS
        first = await raw.ok(T2V, t2v(), trace=t)
        again = await raw.ok(T2V, t2v(), trace=t)
        assert first == again and first["credits"] == T2V_CREDITS
        assert (await raw.wait(first["video_id"]))["status"] == 1
        stats = await raw.stats()
        assert stats["jobs_created"] == 1 and stats["credits_charged"] == T2V_CREDITS
        assert stats["duplicate_generations"] == 0 and stats["dedup_hits"] >= 1
        assert stats["faults_injected"] == {"accepted_then_lost": 1}


@pytest.mark.parametrize("then", ["reset", "http_502", "http_500", "slow"])
async def test_accepted_then_lost_retry_with_a_new_trace_duplicates(
    session: aiohttp.ClientSession, then: Any
) -> None:
    rule = FaultRule(FaultKind.ACCEPTED_THEN_LOST, then=then, delay=0.1, path=T2V, count=1)
    async with emulator(session, rule) as raw:
        await _lose_answer(raw, then, str(uuid.uuid4()))
        second = await raw.ok(T2V, t2v())  # a fresh trace id: a second generation
        assert second["credits"] == T2V_CREDITS
        stats = await raw.stats()
        assert stats["jobs_created"] == 2 and stats["credits_charged"] == 2 * T2V_CREDITS
        assert stats["duplicate_generations"] == 1 and stats["dedup_hits"] == 0


async def test_accepted_then_lost_applies_to_posts_only(session: aiohttp.ClientSession) -> None:
    async with emulator(session, FaultRule(FaultKind.ACCEPTED_THEN_LOST, then="http_500")) as raw:
        assert (await raw.balance())[0] > 0  # GETs are answered
        status, doc = await raw.post(T2V, {"prompt": "no model"})
        assert status == 200 and doc["ErrCode"] == 400017  # a rejected POST is answered too
        status, _ = await raw.post(T2V, t2v())
        assert status == 500
        assert (await raw.stats())["jobs_created"] == 1


# ---------------------------------------------------------------------------------------------
# rule filters


async def test_count_fires_exactly_n_times(session: aiohttp.ClientSession) -> None:
    async with emulator(session, FaultRule(FaultKind.BUSY, count=3)) as raw:
        codes = []
        for _ in range(6):
            _, doc = await raw.get("/account/balance")
            codes.append(doc["ErrCode"])
        assert codes == [500069] * 3 + [0] * 3
        assert (await raw.stats())["faults_injected"] == {"busy": 3}


async def _busy_pattern(session: aiohttp.ClientSession, seed: int) -> list[int]:
    faults = FaultPlan(rules=(FaultRule(FaultKind.BUSY, rate=0.5),))
    async with Emulator(EmulatorConfig(seed=seed, faults=faults)) as e:
        raw = Raw(session, e, e.api_key)
        codes = []
        for _ in range(40):
            _, doc = await raw.get("/account/balance")
            codes.append(doc["ErrCode"])
        return codes


async def test_rate_draws_are_seeded(session: aiohttp.ClientSession) -> None:
    first = await _busy_pattern(session, 3)
    assert set(first) == {0, 500069}
    assert 5 <= first.count(500069) <= 35
    assert await _busy_pattern(session, 3) == first
    assert await _busy_pattern(session, 4) != first


async def test_rate_zero_never_fires(session: aiohttp.ClientSession) -> None:
    async with emulator(session, FaultRule(FaultKind.RESET, rate=0.0)) as raw:
        for _ in range(5):
            await raw.balance()
        assert (await raw.stats())["faults_injected"] == {}


async def test_path_filter_is_a_substring(session: aiohttp.ClientSession) -> None:
    async with emulator(session, FaultRule(FaultKind.DB_ERROR, path="/account/")) as raw:
        _, doc = await raw.get("/account/balance")
        assert doc["ErrCode"] == 500100
        _, doc = await raw.get("/video/restyle/list")
        assert doc["ErrCode"] == 0
        await raw.ok(T2V, t2v())


@pytest.mark.parametrize("method", ["POST", "post"])
async def test_method_filter(session: aiohttp.ClientSession, method: str) -> None:
    async with emulator(session, FaultRule(FaultKind.PERMISSION, method=method)) as raw:
        _, doc = await raw.get("/account/balance")
        assert doc["ErrCode"] == 0
        _, doc = await raw.post(T2V, t2v())
        assert doc["ErrCode"] == 500020
        await nothing_created(raw)


async def test_first_matching_rule_wins(session: aiohttp.ClientSession) -> None:
    rules = (
        FaultRule(FaultKind.PERMISSION, path="/video/", count=1),
        FaultRule(FaultKind.BUSY),
    )
    async with emulator(session, *rules) as raw:
        _, doc = await raw.get("/account/balance")
        assert doc["ErrCode"] == 500069
        _, doc = await raw.post(T2V, t2v())
        assert doc["ErrCode"] == 500020
        _, doc = await raw.post(T2V, t2v())
        assert doc["ErrCode"] == 500069


# ---------------------------------------------------------------------------------------------
# latency and the rate cap


async def test_latency_delays_every_answer(session: aiohttp.ClientSession) -> None:
    async with emulator(session, latency=Fixed(0.1)) as raw:
        start = time.monotonic()
        await raw.balance()
        assert time.monotonic() - start >= 0.1
        with pytest.raises(asyncio.TimeoutError):
            await send(raw, "GET", "/account/balance", timeout=SHORT)
        async with session.get(raw.emu.origin + "/_emulator/stats", timeout=SHORT) as r:
            assert r.status == 200  # control endpoints are not delayed


async def test_rate_cap_answers_429_with_retry_after(session: aiohttp.ClientSession) -> None:
    async with emulator(session, rate_limit_rps=2) as raw:
        answers = []
        for _ in range(5):
            async with session.get(raw.base + "/account/balance", headers=raw.headers()) as r:
                answers.append((r.status, r.headers.get("Retry-After"), await r.json()))
        assert [a[0] for a in answers[:3]] == [200, 200, 429]
        limited = [a for a in answers if a[0] == 429]
        assert len(limited) >= 2
        for _, retry_after, doc in limited:
            assert retry_after is not None and int(retry_after) >= 1
            assert doc == {"ErrCode": 500069, "ErrMsg": doc["ErrMsg"], "Resp": None}
        stats = await raw.stats()
        assert stats["rate_limited"] == len(limited)


async def test_rate_cap_retry_after_override(session: aiohttp.ClientSession) -> None:
    async with emulator(session, rate_limit_rps=1, retry_after=7) as raw:
        await raw.balance()
        async with session.get(raw.base + "/account/balance", headers=raw.headers()) as r:
            assert r.status == 429 and r.headers["Retry-After"] == "7"


async def test_rate_limited_post_is_not_remembered_and_tokens_refill(
    session: aiohttp.ClientSession,
) -> None:
    async with emulator(session, rate_limit_rps=4) as raw:
        for _ in range(4):
            await raw.balance()
        t = str(uuid.uuid4())
        status, doc = await raw.post(T2V, t2v(), trace=t)
        assert status == 429 and doc["ErrCode"] == 500069
        await nothing_created(raw)
        await asyncio.sleep(0.3)  # 4 rps: more than one token back
        resp = await raw.ok(T2V, t2v(), trace=t)
        assert resp["credits"] == T2V_CREDITS
        stats = await raw.stats()
        assert stats["jobs_created"] == 1 and stats["dedup_hits"] == 0


async def test_faults_never_apply_to_control_endpoints(session: aiohttp.ClientSession) -> None:
    async with emulator(session) as raw:
        video_id = (await raw.ok(T2V, t2v()))["video_id"]
        done = await raw.wait(video_id)
        raw.emu.set_faults(
            FaultPlan(
                rules=(FaultRule(FaultKind.RESET),),
                latency=Fixed(0.2),
                rate_limit_rps=1,
            )
        )
        origin = raw.emu.origin
        for _ in range(3):
            for path in ("/_emulator/stats", "/_emulator/faults", "/_emulator/webhooks"):
                async with session.get(origin + path, timeout=SHORT) as r:
                    assert r.status == 200
            async with session.get(done["url"], timeout=SHORT) as r:
                assert r.status == 200 and len(await r.read()) == done["size"]
        async with session.post(
            f"{origin}/_emulator/jobs/{video_id}", json={"status": 6}, timeout=SHORT
        ) as r:
            assert r.status == 200
        # while the API itself is faulted: delayed, then dropped (POST: aiohttp retries an
        # idempotent GET on a dropped connection by itself), then capped
        start = time.monotonic()
        with pytest.raises(aiohttp.ClientConnectionError):
            await raw.post(T2V, t2v())
        assert time.monotonic() - start >= 0.2
        status, _, _ = await send(raw, "GET", "/account/balance")
        assert status == 429
        stats = await raw.stats()
        assert stats["faults_injected"] == {"reset": 1} and stats["rate_limited"] == 1
