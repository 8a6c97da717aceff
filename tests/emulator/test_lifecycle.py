"""Request pipeline, idempotency, concurrency, credits and job lifecycles of the emulator.

Reference sections 1.4 (trace-id idempotency), 1.6/1.8 (auth and check order), 5 (statuses and
the 10 min / 2 h timers), 6 (concurrency) and 11 (credits).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultPlan,
    Fixed,
    LogNormal,
    Uniform,
    make_png,
    parse_distribution,
)

from ..conftest import Raw

pytestmark = pytest.mark.anyio

T2V = "/video/text/generate"
T2V_CREDITS = 45  # reference 11.1: v5, 540p, 5 s
KEY = "pv-test-lifecycle-key"


def t2v(prompt: str = "a red fox in the snow", **extra: Any) -> dict[str, Any]:
    return {
        "prompt": prompt,
        "model": "v5",
        "duration": 5,
        "quality": "540p",
        "aspect_ratio": "16:9",
        **extra,
    }


def trace() -> str:
    return str(uuid.uuid4())


@contextlib.asynccontextmanager
async def emulator(session: aiohttp.ClientSession, **config: Any) -> AsyncIterator[Raw]:
    """An emulator with 50 ms jobs and seed 7 unless ``config`` says otherwise."""
    config.setdefault("job_duration", Fixed(0.05))
    config.setdefault("seed", 7)
    async with Emulator(EmulatorConfig(**config)) as e:
        yield Raw(session, e, e.api_key)


def one_account(**kw: Any) -> tuple[AccountConfig, ...]:
    return (AccountConfig(api_key=KEY, **kw),)


async def submit(raw: Raw, prompt: str = "a red fox in the snow", **kw: Any) -> int:
    return int((await raw.ok(T2V, t2v(prompt), **kw))["video_id"])


async def status_of(raw: Raw, video_id: int) -> int:
    return int((await raw.result(video_id))["status"])


# ---------------------------------------------------------------------------------------------
# check order (1.6, 1.8)


async def test_rate_cap_answers_before_the_key_check(session: aiohttp.ClientSession) -> None:
    async with emulator(session, faults=FaultPlan(rate_limit_rps=1)) as raw:
        status, doc = await raw.get("/account/balance", headers={})
        assert (status, doc["ErrCode"]) == (200, 400012)  # the one token: auth runs
        status, doc = await raw.get("/account/balance", headers={})
        assert status == 429 and doc["ErrCode"] == 500069


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_key_is_checked_before_the_trace_id(raw: Raw, method: str) -> None:
    async def call(headers: dict[str, str]) -> int:
        if method == "GET":
            status, doc = await raw.get("/account/balance", headers=headers)
        else:
            status, doc = await raw.post(T2V, t2v(), headers=headers)
        assert status == 200
        return int(doc["ErrCode"])

    assert await call({}) == 400012
    assert await call({"API-KEY": "not-a-known-key"}) == 400012
    assert await call({"API-KEY": "", "Ai-trace-id": trace()}) == 400012
    assert await call({"API-KEY": raw.api_key}) == 400011
    assert await call({"API-KEY": raw.api_key, "Ai-trace-id": ""}) == 400011
    assert await call({"API-KEY": raw.api_key, "Ai-trace-id": "   "}) == 400011
    assert (await raw.stats())["jobs_created"] == 0


@pytest.mark.parametrize(
    ("key_header", "trace_header"),
    [("api-key", "ai-trace-id"), ("API-KEY", "AI-TRACE-ID"), ("Api-Key", "Ai-Trace-Id")],
)
async def test_header_names_are_case_insensitive(
    raw: Raw, key_header: str, trace_header: str
) -> None:
    t = "pai-1700000000000000000"  # any non-empty string is a valid trace id (1.4)
    headers = {key_header: raw.api_key, trace_header: t}
    status, first = await raw.post(T2V, t2v(), headers=headers)
    assert status == 200 and first["ErrCode"] == 0, first
    # the canonical spelling names the same (key, trace) pair: a replay
    _, again = await raw.post(T2V, t2v("other"), trace=t)
    assert again == first
    status, doc = await raw.get("/account/balance", headers=headers)
    assert doc["ErrCode"] == 0 and "credit_monthly" in doc["Resp"]


async def test_replay_happens_before_body_parsing(raw: Raw) -> None:
    t = trace()
    status, first = await raw.post(T2V, t2v(), trace=t)
    assert first["ErrCode"] == 0
    status, again = await raw.post(T2V, data=b"{not json at all", trace=t)
    assert status == 200 and again == first
    stats = await raw.stats()
    assert stats["jobs_created"] == 1 and stats["dedup_hits"] == 1


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"[1, 2, 3]",
        b'"a string"',
        b"",
        json.dumps({**t2v(), "duration": "5"}).encode(),
    ],
    ids=["garbage", "array", "string", "empty", "wrong-type"],
)
async def test_invalid_body_is_400013_and_creates_nothing(raw: Raw, data: bytes) -> None:
    before = await raw.balance()
    t = trace()
    status, doc = await raw.post(T2V, data=data, trace=t)
    assert (status, doc["ErrCode"], doc["Resp"]) == (200, 400013, None)
    assert await raw.balance() == before
    stats = await raw.stats()
    assert stats["jobs_created"] == 0 and stats["credits_charged"] == 0
    # not remembered: the same trace id with a valid body is a fresh request
    assert (await raw.ok(T2V, t2v(), trace=t))["credits"] == T2V_CREDITS
    assert (await raw.stats())["dedup_hits"] == 0


async def test_quoted_id_is_400013(raw: Raw) -> None:
    media_id = await raw.upload_video(5.0)
    body = {"video_media_id": str(media_id), "prompt": "snow", "quality": "540p"}
    _, doc = await raw.post("/video/modify/generate", body)
    assert doc["ErrCode"] == 400013
    assert (await raw.stats())["jobs_created"] == 0


async def test_field_rules_run_before_concurrency_and_concurrency_before_credits(
    session: aiohttp.ClientSession,
) -> None:
    accounts = one_account(concurrency=1, credit_monthly=50, credit_package=0)
    async with emulator(session, accounts=accounts, job_duration=Fixed(5.0)) as raw:
        await submit(raw)  # 45 of 50 credits, the only slot
        _, doc = await raw.post(T2V, {**t2v(), "model": "v1"})
        assert doc["ErrCode"] == 400017  # field rules (6) before concurrency (7)
        _, doc = await raw.post(T2V, t2v())
        assert doc["ErrCode"] == 500044  # concurrency (7) before credits (8)
        assert await raw.balance() == (5, 0)


# ---------------------------------------------------------------------------------------------
# trace-id idempotency (1.4)


async def test_replay_comes_before_concurrency_and_credits(session: aiohttp.ClientSession) -> None:
    accounts = one_account(concurrency=1, credit_monthly=50, credit_package=0)
    async with emulator(session, accounts=accounts, job_duration=Fixed(5.0)) as raw:
        t = trace()
        _, first = await raw.post(T2V, t2v(), trace=t)
        assert first["ErrCode"] == 0
        # the slot is taken and 5 credits are left: a new request would get 500044 / 500090
        _, again = await raw.post(T2V, t2v(), trace=t)
        assert again == first
        assert (await raw.stats())["rejected_500044"] == 0


async def test_same_trace_returns_the_first_envelope_even_with_another_body(raw: Raw) -> None:
    t = trace()
    status, first = await raw.post(T2V, t2v("a red fox"), trace=t)
    assert first["ErrCode"] == 0
    balance = await raw.balance()
    different = t2v("a blue whale", duration=8, quality="720p")  # would cost 120
    status, again = await raw.post(T2V, different, trace=t)
    assert status == 200 and again == first
    assert await raw.balance() == balance
    job = await raw.result(first["Resp"]["video_id"])
    assert job["prompt"] == "a red fox"
    stats = await raw.stats()
    assert stats["jobs_created"] == 1 and stats["credits_charged"] == T2V_CREDITS
    assert stats["dedup_hits"] == 1 and stats["duplicate_generations"] == 0


async def test_uploads_and_mask_selection_are_replayed_too(raw: Raw) -> None:
    t = trace()
    ids = []  # Raw.upload_image() draws its own trace id: send the form by hand
    for _ in range(2):
        form = aiohttp.FormData()
        form.add_field("image", make_png(64, 64), filename="a.png", content_type="image/png")
        ids.append((await raw.ok("/image/upload", data=form, trace=t))["img_id"])
    assert ids[0] == ids[1]
    media_id = await raw.upload_video(5.0)
    mt = trace()
    masks = [
        await raw.ok("/video/mask/selection", {"video_media_id": media_id}, trace=mt)
        for _ in range(2)
    ]
    assert masks[0] == masks[1]
    stats = await raw.stats()
    assert stats["uploads"] == 2 and stats["masks"] == len(masks[0]["mask_info"])
    assert stats["credits_charged"] == 2  # one mask selection charged (11.5)
    assert stats["dedup_hits"] == 2


@pytest.mark.parametrize(
    ("bad", "code"),
    [({"model": "v1"}, 400017), ({"prompt": "x" * 2049}, 400018), ({"seed": "1"}, 400013)],
)
async def test_rejected_post_is_not_remembered(raw: Raw, bad: dict[str, Any], code: int) -> None:
    t = trace()
    _, doc = await raw.post(T2V, {**t2v(), **bad}, trace=t)
    assert doc["ErrCode"] == code
    resp = await raw.ok(T2V, t2v(), trace=t)
    assert resp["credits"] == T2V_CREDITS
    stats = await raw.stats()
    assert stats["jobs_created"] == 1 and stats["dedup_hits"] == 0


async def test_500044_is_not_remembered(session: aiohttp.ClientSession) -> None:
    accounts = one_account(concurrency=1)
    async with emulator(session, accounts=accounts, job_duration=Fixed(0.2)) as raw:
        first = await submit(raw)
        t = trace()
        _, doc = await raw.post(T2V, t2v("second"), trace=t)
        assert doc["ErrCode"] == 500044
        assert (await raw.wait(first))["status"] == 1
        second = await submit(raw, "second", trace=t)
        assert second != first
        stats = await raw.stats()
        assert stats["jobs_created"] == 2 and stats["dedup_hits"] == 0


async def test_gets_are_never_deduplicated(session: aiohttp.ClientSession) -> None:
    async with emulator(session, job_duration=Fixed(0.15)) as raw:
        t = trace()
        video_id = await submit(raw, trace=t)
        _, running = await raw.get(f"/video/result/{video_id}", trace=t)
        assert running["Resp"]["status"] == 5
        await asyncio.sleep(0.2)
        _, done = await raw.get(f"/video/result/{video_id}", trace=t)
        assert done["Resp"]["status"] == 1
        # a GET under the POST's trace id is answered, not replayed
        _, balance = await raw.get("/account/balance", trace=t)
        assert "credit_monthly" in balance["Resp"]
        stats = await raw.stats()
        assert stats["dedup_hits"] == 0 and stats["status_polls"] == 2


async def test_same_trace_under_two_keys_is_independent(session: aiohttp.ClientSession) -> None:
    accounts = (AccountConfig(api_key="key-one-aaaa"), AccountConfig(api_key="key-two-bbbb"))
    async with emulator(session, accounts=accounts) as raw:
        t = trace()
        one = await raw.ok(T2V, t2v(), trace=t, key="key-one-aaaa")
        two = await raw.ok(T2V, t2v(), trace=t, key="key-two-bbbb")
        assert one["video_id"] != two["video_id"]
        _, doc = await raw.get(f"/video/result/{two['video_id']}", key="key-one-aaaa")
        assert doc["ErrCode"] == 500008  # jobs belong to their account
        stats = await raw.stats()
        assert stats["jobs_created"] == 2 and stats["dedup_hits"] == 0
        assert stats["credits_charged"] == 2 * T2V_CREDITS


async def test_trace_ttl_expires(session: aiohttp.ClientSession) -> None:
    async with emulator(session, trace_ttl=0.1) as raw:
        t = trace()
        first = await submit(raw, trace=t)
        assert await submit(raw, trace=t) == first
        await asyncio.sleep(0.15)
        assert await submit(raw, trace=t) != first
        stats = await raw.stats()
        assert stats["jobs_created"] == 2 and stats["dedup_hits"] == 1


# ---------------------------------------------------------------------------------------------
# concurrency (6)


async def test_submit_beyond_the_limit_gets_500044(session: aiohttp.ClientSession) -> None:
    accounts = one_account(concurrency=2)
    async with emulator(session, accounts=accounts, job_duration=Fixed(0.3)) as raw:
        jobs = [await submit(raw, f"job {i}") for i in range(2)]
        before = await raw.balance()
        status, doc = await raw.post(T2V, t2v("one too many"))
        assert (status, doc["ErrCode"], doc["Resp"]) == (200, 500044, None)
        assert await raw.balance() == before
        stats = await raw.stats()
        assert stats["rejected_500044"] == 1 and stats["jobs_created"] == 2
        assert stats["credits_charged"] == 2 * T2V_CREDITS
        for job in jobs:
            assert (await raw.wait(job))["status"] == 1
        # finished jobs free their slots
        await submit(raw, "a")
        await submit(raw, "b")
        stats = await raw.stats()
        assert stats["jobs_created"] == 4 and stats["rejected_500044"] == 1
        assert list(stats["max_concurrent_observed"].values()) == [2]


async def test_max_concurrent_observed_is_per_account(session: aiohttp.ClientSession) -> None:
    accounts = (AccountConfig(api_key="key-one-aaaa"), AccountConfig(api_key="key-two-bbbb"))
    async with emulator(session, accounts=accounts, job_duration=Fixed(1.0)) as raw:
        for i in range(3):
            await raw.ok(T2V, t2v(f"one {i}"), key="key-one-aaaa")
        await raw.ok(T2V, t2v("two"), key="key-two-bbbb")
        ids = []
        for key in ("key-one-aaaa", "key-two-bbbb"):
            _, doc = await raw.get("/account/balance", key=key)
            ids.append(str(doc["Resp"]["account_id"]))
        observed = (await raw.stats())["max_concurrent_observed"]
        assert observed == {ids[0]: 3, ids[1]: 1}


async def test_mask_selection_does_not_take_a_slot(session: aiohttp.ClientSession) -> None:
    accounts = one_account(concurrency=1)
    async with emulator(session, accounts=accounts, job_duration=Fixed(5.0)) as raw:
        media_id = await raw.upload_video(5.0)
        running = await raw.ok(T2V, t2v())
        resp = await raw.ok("/video/mask/selection", {"video_media_id": media_id})
        assert resp["credits"] == 2 and resp["mask_info"]
        _, doc = await raw.post(T2V, t2v("second"))
        assert doc["ErrCode"] == 500044
        assert await status_of(raw, running["video_id"]) == 5


async def test_image_template_jobs_take_a_slot(session: aiohttp.ClientSession) -> None:
    accounts = one_account(concurrency=1)
    async with emulator(session, accounts=accounts, job_duration=Fixed(0.3)) as raw:
        img = await raw.upload_image()
        resp = await raw.ok("/image/template/generate", {"template_id": 400_001, "img_ids": [img]})
        assert resp["credits"] == 10
        _, doc = await raw.post(T2V, t2v())
        assert doc["ErrCode"] == 500044
        assert (await raw.wait(resp["image_id"], image=True))["status"] == 1
        await submit(raw)


async def test_stuck_job_releases_its_slot_after_the_scaled_10_minutes(
    session: aiohttp.ClientSession,
) -> None:
    # 10 min / 6000 = 0.1 s; 2 h / 6000 = 1.2 s
    accounts = one_account(concurrency=1)
    async with emulator(session, accounts=accounts, time_scale=6000) as raw:
        stuck = await submit(raw, "[emulator:stuck] a frozen clock")
        _, doc = await raw.post(T2V, t2v("waiting"))
        assert doc["ErrCode"] == 500044
        await asyncio.sleep(0.15)
        assert await status_of(raw, stuck) == 5  # still generating, but no longer counted
        other = await submit(raw, "after the release")
        assert (await raw.wait(other))["status"] == 1
        assert await status_of(raw, stuck) == 5
        stats = await raw.stats()
        assert stats["credits_refunded"] == 0 and stats["rejected_500044"] == 1


@pytest.mark.parametrize("how", ["prompt", "stuck_rate"])
async def test_stuck_job_fails_and_is_refunded_after_the_scaled_2_hours(
    session: aiohttp.ClientSession, how: str
) -> None:
    # 2 h / 36000 = 0.2 s
    faults = FaultPlan(stuck_rate=1.0) if how == "stuck_rate" else FaultPlan()
    accounts = one_account(credit_monthly=100, credit_package=0)
    async with emulator(session, accounts=accounts, time_scale=36000, faults=faults) as raw:
        prompt = "[emulator:stuck] frozen" if how == "prompt" else "plain"
        start = time.monotonic()
        stuck = await submit(raw, prompt)
        assert await status_of(raw, stuck) == 5
        assert await raw.balance() == (100 - T2V_CREDITS, 0)
        done = await raw.wait(stuck, timeout=2.0)
        assert time.monotonic() - start >= 0.2
        assert done["status"] == 8 and done["url"] == ""
        assert await raw.balance() == (100, 0)
        stats = await raw.stats()
        assert stats["credits_refunded"] == T2V_CREDITS
        assert stats["jobs_by_status"] == {"8": 1}


# ---------------------------------------------------------------------------------------------
# credits (11)


async def _modify_80(raw: Raw, prompt: str = "make it snow") -> int:
    media_id = await raw.upload_video(7.2)
    body = {"video_media_id": media_id, "prompt": prompt, "quality": "540p"}
    resp = await raw.ok("/video/modify/generate", body)
    assert resp["credits"] == 80  # ceil(7.2) = 8 s x 10 (11.7)
    return int(resp["video_id"])


async def test_worked_example_monthly_first_then_package_refund_to_same_pools(
    session: aiohttp.ClientSession,
) -> None:
    accounts = one_account(credit_monthly=50, credit_package=100)
    async with emulator(session, accounts=accounts, job_duration=Fixed(5.0)) as raw:
        video_id = await _modify_80(raw)
        assert await raw.balance() == (0, 70)
        async with session.post(
            f"{raw.emu.origin}/_emulator/jobs/{video_id}", json={"status": 8}
        ) as r:
            assert r.status == 200 and (await r.json())["status"] == 8
        assert await raw.balance() == (50, 100)
        stats = await raw.stats()
        assert stats["credits_charged"] == 80 and stats["credits_refunded"] == 80


async def test_refund_of_a_failed_job_returns_to_the_same_pools(
    session: aiohttp.ClientSession,
) -> None:
    accounts = one_account(credit_monthly=50, credit_package=100)
    async with emulator(session, accounts=accounts) as raw:
        video_id = await _modify_80(raw, "make it snow [emulator:fail]")
        assert await raw.balance() == (0, 70)
        assert (await raw.wait(video_id))["status"] == 8
        assert await raw.balance() == (50, 100)


async def test_insufficient_credits_is_500090_and_charges_nothing(
    session: aiohttp.ClientSession,
) -> None:
    accounts = one_account(credit_monthly=10, credit_package=30)  # 40 < 45
    async with emulator(session, accounts=accounts) as raw:
        t = trace()
        status, doc = await raw.post(T2V, t2v(), trace=t)
        assert (status, doc["ErrCode"], doc["Resp"]) == (200, 500090, None)
        assert await raw.balance() == (10, 30)
        stats = await raw.stats()
        assert stats["jobs_created"] == 0 and stats["credits_charged"] == 0
        # 360p 5 s on v5 also costs 45; a 10-credit image template fits
        img = await raw.upload_image()
        await raw.ok("/image/template/generate", {"template_id": 400_001, "img_ids": [img]})
        assert await raw.balance() == (0, 30)


async def test_exact_balance_spans_both_pools(session: aiohttp.ClientSession) -> None:
    accounts = one_account(credit_monthly=20, credit_package=25)
    async with emulator(session, accounts=accounts) as raw:
        await submit(raw)
        assert await raw.balance() == (0, 0)
        _, doc = await raw.post(T2V, t2v("again"))
        assert doc["ErrCode"] == 500090


@pytest.mark.parametrize(
    ("prompt", "faults", "final"),
    [
        ("x [emulator:fail]", FaultPlan(), 8),
        ("x [emulator:moderate]", FaultPlan(), 7),
        ("plain", FaultPlan(failure_rate=1.0), 8),
        ("plain", FaultPlan(moderation_rate=1.0), 7),
    ],
    ids=["fail-trigger", "moderate-trigger", "failure_rate", "moderation_rate"],
)
async def test_failed_and_moderated_jobs_are_refunded(
    session: aiohttp.ClientSession, prompt: str, faults: FaultPlan, final: int
) -> None:
    async with emulator(session, faults=faults) as raw:
        before = await raw.balance()
        video_id = await submit(raw, prompt)
        assert sum(await raw.balance()) == sum(before) - T2V_CREDITS
        done = await raw.wait(video_id)
        assert done["status"] == final and done["url"] == "" and done["size"] == 0
        assert await raw.balance() == before
        stats = await raw.stats()
        assert stats["credits_charged"] == T2V_CREDITS
        assert stats["credits_refunded"] == T2V_CREDITS
        assert stats["jobs_by_status"] == {str(final): 1}


async def test_successful_job_keeps_its_credits(raw: Raw) -> None:
    before = await raw.balance()
    video_id = await submit(raw)
    done = await raw.wait(video_id)
    assert done["status"] == 1 and done["url"]
    assert await raw.balance() == (before[0] - T2V_CREDITS, before[1])
    stats = await raw.stats()
    assert stats["credits_refunded"] == 0 and stats["jobs_by_status"] == {"1": 1}


# ---------------------------------------------------------------------------------------------
# job durations, reproducibility, unknown statuses


@pytest.mark.parametrize(
    ("dist", "low"),
    [(Fixed(0.2), 0.2), (Uniform(0.15, 0.25), 0.15), (LogNormal(0.2, 0.05), 0.14)],
    ids=["fixed", "uniform", "lognormal"],
)
async def test_job_duration_distribution_is_honoured(
    session: aiohttp.ClientSession, dist: Any, low: float
) -> None:
    async with emulator(session, job_duration=dist) as raw:
        start = time.monotonic()
        video_id = await submit(raw)
        assert await status_of(raw, video_id) == 5
        done = await raw.wait(video_id)
        assert done["status"] == 1
        assert time.monotonic() - start >= low


async def test_job_duration_by_kind_overrides_the_default(session: aiohttp.ClientSession) -> None:
    config = {"job_duration": Fixed(10.0), "job_duration_by_kind": {"modify": Fixed(0.05)}}
    async with emulator(session, **config) as raw:
        text_job = await submit(raw)
        media_id = await raw.upload_video(5.0)
        modify = await raw.ok(
            "/video/modify/generate",
            {"video_media_id": media_id, "prompt": "snow", "quality": "360p"},
        )
        assert (await raw.wait(modify["video_id"]))["status"] == 1
        assert await status_of(raw, text_job) == 5


async def _scripted_run(session: aiohttp.ClientSession, seed: int) -> list[tuple[int, int]]:
    faults = FaultPlan(failure_rate=0.3, moderation_rate=0.3)
    async with emulator(session, seed=seed, faults=faults, job_duration=Fixed(0.02)) as raw:
        ids = [await submit(raw, f"job {i}") for i in range(5)]
        _, doc = await raw.get("/account/balance")
        account_id = int(doc["Resp"]["account_id"])
        outcomes = [(await raw.wait(i))["status"] for i in ids]
        return [(account_id, 0), *zip(ids, outcomes, strict=True)]


async def test_same_seed_gives_the_same_ids_and_outcomes(session: aiohttp.ClientSession) -> None:
    first = await _scripted_run(session, 11)
    second = await _scripted_run(session, 11)
    assert first == second
    outcomes = {status for _, status in first[1:]}
    assert outcomes <= {1, 7, 8}
    other = await _scripted_run(session, 12)
    assert [i for i, _ in other] != [i for i, _ in first]
    assert all(2**53 < i < 2**63 for i, _ in first)


async def test_unknown_statuses_while_running_then_success(
    session: aiohttp.ClientSession,
) -> None:
    faults = FaultPlan(unknown_status_rate=1.0)
    async with emulator(session, faults=faults, job_duration=Fixed(0.3)) as raw:
        jobs = [await submit(raw, f"job {i}") for i in range(4)]
        seen = {await status_of(raw, j) for j in jobs}
        assert seen and seen <= {2, 3, 9, 10}
        for job in jobs:
            done = await raw.wait(job)
            assert done["status"] == 1 and done["url"]


def test_parse_distribution_accepts_the_three_forms() -> None:
    assert parse_distribution("0.5") == Fixed(0.5)
    assert parse_distribution(" 2 ") == Fixed(2.0)
    assert parse_distribution("0.2-0.8") == Uniform(0.2, 0.8)
    assert parse_distribution("lognormal:0.5,0.4") == LogNormal(0.5, 0.4)
    assert parse_distribution("lognormal:0.5") == LogNormal(0.5, 0.5)


@pytest.mark.parametrize(
    "text",
    ["", "fast", "0.2-", "1-2-3", "lognormal:", "lognormal:x,1", "-1", "nan", "inf", "lognormal:0"],
)
def test_parse_distribution_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        parse_distribution(text)


async def test_type_errors_come_before_field_rules(raw: Raw) -> None:
    """Reference 1.8: body types (400013) are checked before field rules (400017)."""
    status, doc = await raw.post("/video/text/generate", {"prompt": 5, "model": "v5"})
    assert (status, doc["ErrCode"]) == (200, 400013)
    assert "prompt" in doc["ErrMsg"]
    status, doc = await raw.post(
        "/video/multi_transition/generate",
        {"model": "v5", "multi_transition": [{"img_id": 1, "duration": "5"}]},
    )
    assert doc["ErrCode"] == 400013
    assert "multi_transition[0].duration" in doc["ErrMsg"]
    assert (await raw.stats())["jobs_created"] == 0
