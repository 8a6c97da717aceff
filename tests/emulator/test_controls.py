"""The emulator's control endpoints under ``/_emulator`` and its statistics document."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
    WebhookConfig,
)

from ..conftest import Raw

pytestmark = pytest.mark.anyio

T2V = "/video/text/generate"
T2V_CREDITS = 45  # reference 11.1: v5, 540p, 5 s
SECRET_KEY = "sk-live-Zq8TOPSECRET-do-not-print-4417"
SECRET_HOOK = "whsec-also-very-secret-9321"


def t2v(prompt: str = "a red fox in the snow") -> dict[str, Any]:
    return {
        "prompt": prompt,
        "model": "v5",
        "duration": 5,
        "quality": "540p",
        "aspect_ratio": "16:9",
    }


@contextlib.asynccontextmanager
async def emulator(session: aiohttp.ClientSession, **config: Any) -> AsyncIterator[Raw]:
    config.setdefault("job_duration", Fixed(0.05))
    config.setdefault("seed", 7)
    async with Emulator(EmulatorConfig(**config)) as e:
        yield Raw(session, e, e.api_key)


async def control(
    raw: Raw, method: str, path: str, body: Any = None, *, data: bytes | None = None
) -> tuple[int, Any]:
    kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
    async with raw.session.request(method, raw.emu.origin + path, **kwargs) as r:
        return r.status, await r.json()


async def submit(raw: Raw, prompt: str = "a red fox in the snow", **kw: Any) -> int:
    return int((await raw.ok(T2V, t2v(prompt), **kw))["video_id"])


# ---------------------------------------------------------------------------------------------
# /_emulator/faults


async def test_faults_round_trip(raw: Raw) -> None:
    status, plan = await control(raw, "GET", "/_emulator/faults")
    assert status == 200 and plan["rules"] == [] and plan["failure_rate"] == 0.0
    sent = {
        "rules": [
            {"kind": "busy", "count": 1, "path": "/account/balance"},
            {"kind": "accepted_then_lost", "rate": 0.5, "then": "http_502", "method": "POST"},
        ],
        "latency": {"kind": "uniform", "low": 0.0, "high": 0.001},
        "failure_rate": 0.25,
        "retry_after": 3,
    }
    status, echoed = await control(raw, "POST", "/_emulator/faults", sent)
    assert status == 200
    _, read = await control(raw, "GET", "/_emulator/faults")
    assert read == echoed
    assert read["rules"][0] | {"kind": "busy"} == {
        "kind": "busy",
        "rate": 1.0,
        "count": 1,
        "path": "/account/balance",
        "method": None,
        "then": "reset",
        "delay": 30.0,
    }
    assert read["rules"][1]["then"] == "http_502" and read["rules"][1]["rate"] == 0.5
    assert read["latency"] == {"kind": "uniform", "low": 0.0, "high": 0.001}
    assert read["failure_rate"] == 0.25 and read["retry_after"] == 3
    # posting the document back gives the same plan
    _, again = await control(raw, "POST", "/_emulator/faults", read)
    assert again == read
    # and the plan is live
    _, doc = await raw.get("/account/balance")
    assert doc["ErrCode"] == 500069
    _, doc = await raw.get("/account/balance")
    assert doc["ErrCode"] == 0
    assert raw.emu.state.faults.rules[0] == FaultRule(
        FaultKind.BUSY, count=1, path="/account/balance"
    )


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"rules": [{"kind": "nope"}]}).encode(),
        json.dumps({"rules": [{"rate": 0.5}]}).encode(),
        json.dumps({"failure_rate": "often"}).encode(),
        json.dumps({"rules": [{"kind": "accepted_then_lost", "then": "http_418"}]}).encode(),
    ],
    ids=["not-json", "array", "unknown-kind", "no-kind", "bad-rate", "bad-then"],
)
async def test_invalid_fault_plan_is_400_and_changes_nothing(raw: Raw, data: bytes) -> None:
    raw.emu.set_faults(FaultPlan(failure_rate=0.5))
    status, doc = await control(raw, "POST", "/_emulator/faults", data=data)
    assert status == 400 and doc["error"]
    _, plan = await control(raw, "GET", "/_emulator/faults")
    assert plan["failure_rate"] == 0.5 and plan["rules"] == []


# ---------------------------------------------------------------------------------------------
# /_emulator/reset


async def test_reset_forgets_everything(session: aiohttp.ClientSession) -> None:
    accounts = (AccountConfig(api_key="key-one-aaaa", credit_monthly=100, credit_package=50),)
    faults = FaultPlan(moderation_rate=1.0)
    async with emulator(session, accounts=accounts, faults=faults) as demo:
        raw = Raw(session, demo.emu, "key-one-aaaa")
        await raw.upload_image()
        video_id = await submit(raw)
        t = str(uuid.uuid4())
        await submit(raw, "remembered", trace=t)
        await control(raw, "POST", "/_emulator/accounts", {"api_key": "key-two-bbbb"})
        await control(raw, "POST", "/_emulator/faults", {"failure_rate": 1.0})
        assert (await raw.stats())["jobs_created"] == 2
        status, doc = await control(raw, "POST", "/_emulator/reset")
        assert status == 200 and doc == {"reset": True}
        stats = await raw.stats()
        assert stats["jobs_created"] == 0 and stats["requests_total"] == 0
        assert stats["uploads"] == 0 and stats["jobs_by_status"] == {}
        assert stats["credits_charged"] == 0 and stats["dedup_hits"] == 0
        assert await raw.balance() == (100, 50)  # accounts restored
        _, doc = await raw.get("/account/balance", key="key-two-bbbb")
        assert doc["ErrCode"] == 400012  # runtime account gone
        _, doc = await raw.get(f"/video/result/{video_id}")
        assert doc["ErrCode"] == 500008  # jobs gone
        _, plan = await control(raw, "GET", "/_emulator/faults")
        assert plan["moderation_rate"] == 1.0 and plan["failure_rate"] == 0.0  # configured plan
        again = await submit(raw, "remembered", trace=t)  # replay memory gone
        assert (await raw.stats())["jobs_created"] == 1 and again


# ---------------------------------------------------------------------------------------------
# /_emulator/accounts


async def test_add_a_second_account(raw: Raw) -> None:
    body = {"api_key": "key-two-bbbb", "credit_monthly": 10, "credit_package": 90}
    status, doc = await control(raw, "POST", "/_emulator/accounts", body)
    assert status == 200 and isinstance(doc["account_id"], int)
    _, bal = await raw.get("/account/balance", key="key-two-bbbb")
    expected = {"account_id": doc["account_id"], "credit_monthly": 10, "credit_package": 90}
    assert bal["Resp"] == expected
    resp = await raw.ok(T2V, t2v(), key="key-two-bbbb")
    _, bal = await raw.get("/account/balance", key="key-two-bbbb")
    assert (bal["Resp"]["credit_monthly"], bal["Resp"]["credit_package"]) == (0, 55)
    _, doc = await raw.get(f"/video/result/{resp['video_id']}")
    assert doc["ErrCode"] == 500008  # not the demo account's job
    assert len((await raw.stats())["accounts"]) == 2


async def test_update_concurrency_at_runtime(session: aiohttp.ClientSession) -> None:
    accounts = (AccountConfig(api_key="key-one-aaaa", concurrency=1),)
    async with emulator(session, accounts=accounts, job_duration=Fixed(5.0)) as demo:
        raw = Raw(session, demo.emu, "key-one-aaaa")
        await submit(raw)
        _, doc = await raw.post(T2V, t2v("second"))
        assert doc["ErrCode"] == 500044
        status, _ = await control(
            raw, "POST", "/_emulator/accounts", {"api_key": "key-one-aaaa", "concurrency": 2}
        )
        assert status == 200
        await submit(raw, "second")  # the running job keeps its slot; one more fits
        _, doc = await raw.post(T2V, t2v("third"))
        assert doc["ErrCode"] == 500044
        stats = await raw.stats()
        (account,) = stats["accounts"].values()
        assert account["concurrency_limit"] == 2 and account["in_flight"] == 2


@pytest.mark.parametrize(
    "data",
    [b"not json", b"{}", json.dumps({"api_key": "k", "concurrency": "many"}).encode()],
    ids=["not-json", "no-key", "bad-type"],
)
async def test_invalid_account_is_400(raw: Raw, data: bytes) -> None:
    status, doc = await control(raw, "POST", "/_emulator/accounts", data=data)
    assert status == 400 and doc["error"]
    assert len((await raw.stats())["accounts"]) == 1


# ---------------------------------------------------------------------------------------------
# /_emulator/jobs/{id}


@pytest.mark.parametrize(("forced", "refunded"), [(1, False), (6, False), (7, True), (8, True)])
async def test_force_a_status(session: aiohttp.ClientSession, forced: int, refunded: bool) -> None:
    accounts = (AccountConfig(api_key="key-one-aaaa", concurrency=1),)
    async with emulator(session, accounts=accounts, job_duration=Fixed(5.0)) as demo:
        raw = Raw(session, demo.emu, "key-one-aaaa")
        before = await raw.balance()
        video_id = await submit(raw)
        assert (await raw.result(video_id))["status"] == 5
        status, doc = await control(raw, "POST", f"/_emulator/jobs/{video_id}", {"status": forced})
        assert status == 200 and doc == {"id": video_id, "status": forced}
        job = await raw.result(video_id)
        assert job["status"] == forced
        assert bool(job["url"]) == (forced == 1)
        spent = 0 if refunded else T2V_CREDITS
        assert await raw.balance() == (before[0] - spent, before[1])
        stats = await raw.stats()
        assert stats["credits_refunded"] == (T2V_CREDITS if refunded else 0)
        assert stats["jobs_by_status"] == {str(forced): 1}
        await submit(raw, "the slot is free again")


async def test_force_deleted_on_a_finished_job(raw: Raw) -> None:
    video_id = await submit(raw)
    assert (await raw.wait(video_id))["status"] == 1
    status, doc = await control(raw, "POST", f"/_emulator/jobs/{video_id}", {"status": 6})
    assert status == 200 and doc["status"] == 6
    body = {"source_video_id": video_id}
    _, answer = await raw.post("/video/upscale/generate", body)
    assert answer["ErrCode"] == 500064  # a deleted source (reference 2.1)
    assert (await raw.stats())["credits_refunded"] == 0


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/_emulator/jobs/123", {"status": 1}, 404),
        ("/_emulator/jobs/abc", {"status": 1}, 404),
        ("{job}", {"status": 4}, 400),
        ("{job}", {"status": 5}, 400),
        ("{job}", {"state": 1}, 400),
        ("{job}", None, 400),
    ],
)
async def test_force_status_errors(raw: Raw, path: str, body: Any, code: int) -> None:
    video_id = await submit(raw)
    path = path.replace("{job}", f"/_emulator/jobs/{video_id}")
    status, doc = await control(raw, "POST", path, body)
    assert status == code and doc["error"]
    assert (await raw.wait(video_id))["status"] == 1


# ---------------------------------------------------------------------------------------------
# /_emulator/stats


async def test_stats_after_a_scripted_sequence(session: aiohttp.ClientSession) -> None:
    accounts = (AccountConfig(api_key="key-one-aaaa", concurrency=1),)
    async with emulator(session, accounts=accounts, job_duration=Fixed(0.2)) as demo:
        raw = Raw(session, demo.emu, "key-one-aaaa")
        requests = polls = 0

        async def wait(video_id: int) -> int:
            nonlocal requests, polls
            while True:
                requests += 1
                polls += 1
                status = (await raw.result(video_id))["status"]
                if status in (1, 6, 7, 8):
                    return int(status)

        t = str(uuid.uuid4())
        first = await submit(raw, trace=t)  # 1: charged 45
        _, doc = await raw.post(T2V, t2v("busy"))  # 2: 500044
        assert doc["ErrCode"] == 500044
        assert await submit(raw, "other body", trace=t) == first  # 3: replay
        requests += 3
        assert await wait(first) == 1
        failing = await submit(raw, "[emulator:fail]")  # charged 45, refunded 45
        requests += 1
        assert await wait(failing) == 8
        _, doc = await raw.get("/video/result/12345")  # 500008, still a status poll
        await raw.balance()
        requests += 2
        polls += 1

        stats = await raw.stats()
        _, doc = await raw.get("/account/balance")
        account_id = str(doc["Resp"]["account_id"])
        assert stats["requests_total"] == requests
        assert stats["status_polls"] == polls
        assert stats["jobs_created"] == 2
        assert stats["jobs_by_status"] == {"1": 1, "8": 1}
        assert stats["rejected_500044"] == 1
        assert stats["dedup_hits"] == 1
        assert stats["max_concurrent_observed"] == {account_id: 1}
        assert stats["credits_charged"] == 2 * T2V_CREDITS
        assert stats["credits_refunded"] == T2V_CREDITS
        assert stats["duplicate_generations"] == 0
        assert stats["webhook_deliveries"] == 0
        assert stats["errors_by_code"] == {"500044": 1, "500008": 1}


async def test_duplicate_generations_counts_same_body_new_trace(raw: Raw) -> None:
    await submit(raw, "same")
    await submit(raw, "same")
    await submit(raw, "different")
    stats = await raw.stats()
    assert stats["jobs_created"] == 3 and stats["duplicate_generations"] == 1


async def test_api_keys_never_appear_in_stats_or_reprs(session: aiohttp.ClientSession) -> None:
    hook = WebhookConfig(1, "http://127.0.0.1:9/hook", SECRET_HOOK, default=True)
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=SECRET_KEY, webhooks=(hook,)),),
        job_duration=Fixed(0.02),
        seed=7,
        webhook_retry_delays=(),
    )
    async with Emulator(config) as e:
        raw = Raw(session, e, SECRET_KEY)
        await raw.wait(await submit(raw))
        _, doc = await raw.post(T2V, t2v(), key=SECRET_KEY + "-wrong")
        assert doc["ErrCode"] == 400012
        texts = []
        for path in ("/_emulator/stats", "/_emulator/faults", "/_emulator/webhooks"):
            async with session.get(e.origin + path) as r:
                texts.append(await r.text())
        async with session.post(
            e.origin + "/_emulator/accounts", json={"api_key": SECRET_KEY}
        ) as r:
            texts.append(await r.text())
        texts += [json.dumps(e.stats()), repr(e), str(e), repr(config), str(config)]
        texts += [repr(config.accounts[0]), repr(hook)]
        assert '"jobs_created": 1' in texts[0]
        for text in texts:
            assert SECRET_KEY not in text and SECRET_KEY[:12] not in text
            assert SECRET_HOOK not in text
