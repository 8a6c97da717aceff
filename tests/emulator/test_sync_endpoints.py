"""Synchronous endpoints, result GETs and the files the emulator serves.

Reference 4.9 (TTS list), 4.12 (restyle list), 4.13 (mask selection), 4.18 / 4.20 (results),
4.23 (balance), 1.5 (404 / 405) and the emulator's file serving (Range support).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest

from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    Fixed,
    RestyleConfig,
    make_mp4,
)
from pixverse_async.emulator._media import Mp4Scanner

from ..conftest import Raw
from .test_uploads import MB, stream

pytestmark = pytest.mark.anyio

MASK = "/video/mask/selection"
T2V = "/video/text/generate"
T2V_BODY = {
    "prompt": "a red fox in the snow",
    "model": "v6",
    "duration": 3,
    "quality": "360p",
    "aspect_ratio": "16:9",
}
T2V_CREDITS = 15  # v6 360p silent: 3 s x 5 (reference 11.4)
KEY_ONE, KEY_TWO = "key-one-aaaa", "key-two-bbbb"
SPEAKERS = [
    ("1", "Emily"),
    ("2", "James"),
    ("3", "Isabella"),
    ("4", "Liam"),
    ("5", "Chloe"),
    ("6", "Adrian"),
    ("7", "Harper"),
    ("8", "Ava"),
    ("9", "Sophia"),
    ("10", "Julia"),
    ("11", "Mason"),
    ("12", "Jack"),
    ("13", "Oliver"),
    ("14", "Ethan"),
    ("Auto", "Auto"),
]
VIDEO_FIELDS = {
    "id",
    "status",
    "url",
    "prompt",
    "negative_prompt",
    "style",
    "seed",
    "resolution_ratio",
    "outputWidth",
    "outputHeight",
    "size",
    "create_time",
    "modify_time",
    "has_audio",
}
IMAGE_FIELDS = {
    "image_id",
    "status",
    "url",
    "prompt",
    "prompt_translate",
    "seed",
    "template_id",
    "create_time",
    "modify_time",
    "outputWidth",
    "outputHeight",
    "credits",
    "customer_paths",
}


def code(reply: tuple[int, dict[str, Any]]) -> int:
    status, doc = reply
    assert status == 200, reply
    return int(doc["ErrCode"])


def iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


async def download(
    raw: Raw, url: str, headers: dict[str, str] | None = None
) -> tuple[int, Any, bytes]:
    async with raw.session.get(url, headers=headers or {}) as r:
        return r.status, r.headers, await r.read()


async def finished_video(raw: Raw, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = await raw.ok(T2V, body or T2V_BODY)
    done = await raw.wait(resp["video_id"])
    assert done["status"] == 1
    return done


async def force(raw: Raw, job_id: int, status: int) -> None:
    async with raw.session.post(
        f"{raw.emu.origin}/_emulator/jobs/{job_id}", json={"status": status}
    ) as r:
        assert r.status == 200, await r.text()


@pytest.fixture
async def slow(session: aiohttp.ClientSession) -> AsyncIterator[Raw]:
    """Jobs that stay in status 5 until a test forces them (no timing races)."""
    async with Emulator(EmulatorConfig(job_duration=Fixed(600), seed=11)) as emu:
        yield Raw(session, emu, emu.api_key)


@pytest.fixture
async def two(session: aiohttp.ClientSession) -> AsyncIterator[tuple[Raw, Raw]]:
    accounts = (AccountConfig(api_key=KEY_ONE), AccountConfig(api_key=KEY_TWO))
    config = EmulatorConfig(job_duration=Fixed(0.05), seed=5, accounts=accounts)
    async with Emulator(config) as emu:
        yield Raw(session, emu, KEY_ONE), Raw(session, emu, KEY_TWO)


# ---------------------------------------------------------------------------
# Mask selection (4.13)


async def test_mask_selection_response_and_charge(raw: Raw) -> None:
    media_id = await raw.upload_video(5.0)
    before = await raw.balance()
    resp = await raw.ok(MASK, {"video_media_id": media_id})
    assert set(resp) >= {"keyframe_id", "keyframe_url", "credits", "mask_info"}
    assert resp["keyframe_id"] == 1 and resp["credits"] == 2
    assert await raw.balance() == (before[0] - 2, before[1])  # monthly pool first
    assert sorted(m["mask_name"] for m in resp["mask_info"]) == ["background", "object", "person"]
    ids = [m["mask_id"] for m in resp["mask_info"]]
    assert all(isinstance(i, str) and i.isdigit() and int(i) > 2**53 for i in ids)
    assert len(set(ids)) == 3
    for url in [resp["keyframe_url"]] + [m["mask_url"] for m in resp["mask_info"]]:
        status, _, body = await download(raw, url)
        assert status == 200 and body.startswith(b"\x89PNG"), url
    stats = await raw.stats()
    assert stats["credits_charged"] == 2 and stats["masks"] == 3 and stats["jobs_created"] == 0


async def test_mask_selection_each_call_is_charged(raw: Raw) -> None:
    media_id = await raw.upload_video(5.0)
    first = await raw.ok(MASK, {"video_media_id": media_id, "keyframe_id": 10})
    second = await raw.ok(MASK, {"video_media_id": media_id, "keyframe_id": 10})
    assert first["keyframe_id"] == second["keyframe_id"] == 10
    assert {m["mask_id"] for m in first["mask_info"]}.isdisjoint(
        m["mask_id"] for m in second["mask_info"]
    )
    assert (await raw.stats())["credits_charged"] == 4


@pytest.mark.parametrize(
    ("seconds", "last"),
    [(5.0, 120), (7.2, 173), (1.0, 24), (30.0, 720)],  # ceil(seconds x 24)
)
async def test_mask_selection_keyframe_range(raw: Raw, seconds: float, last: int) -> None:
    media_id = await raw.upload_video(seconds)
    assert (await raw.ok(MASK, {"video_media_id": media_id, "keyframe_id": last}))[
        "keyframe_id"
    ] == last
    for bad in (0, -1, last + 1, 10**6):
        reply = await raw.post(MASK, {"video_media_id": media_id, "keyframe_id": bad})
        assert code(reply) == 400017, bad
    assert (await raw.stats())["credits_charged"] == 2


async def test_mask_selection_on_a_generated_video(raw: Raw) -> None:
    done = await finished_video(raw)  # 3 s: 72 frames
    resp = await raw.ok(MASK, {"source_video_id": done["id"], "keyframe_id": 72})
    assert resp["keyframe_id"] == 72
    assert code(await raw.post(MASK, {"source_video_id": done["id"], "keyframe_id": 73})) == 400017


async def test_mask_selection_needs_a_finished_source(slow: Raw) -> None:
    running = (await slow.ok(T2V, T2V_BODY))["video_id"]
    assert code(await slow.post(MASK, {"source_video_id": running})) == 400017
    for status, want in ((8, 400017), (7, 400017)):
        failed = (await slow.ok(T2V, T2V_BODY))["video_id"]
        await force(slow, failed, status)
        assert code(await slow.post(MASK, {"source_video_id": failed})) == want
    await force(slow, running, 1)
    assert (await slow.ok(MASK, {"source_video_id": running}))["credits"] == 2
    await force(slow, running, 6)  # deleted (reference 2.1)
    assert code(await slow.post(MASK, {"source_video_id": running})) == 500064
    assert (await slow.stats())["masks"] == 3


async def test_mask_selection_source_rules(raw: Raw) -> None:
    media_id = await raw.upload_video(5.0)
    done = await finished_video(raw)
    audio = await raw.upload_audio(2.0)
    img = await raw.upload_image()
    bad_bodies: list[dict[str, Any]] = [
        {},
        {"keyframe_id": 1},
        {"video_media_id": media_id, "source_video_id": done["id"]},
        {"video_media_id": 2**60},
        {"source_video_id": 2**60},
        {"video_media_id": audio},
        {"video_media_id": img},
        {"source_video_id": media_id},
    ]
    for body in bad_bodies:
        assert code(await raw.post(MASK, body)) == 400017, body
    for body in (
        {"video_media_id": str(media_id)},
        {"video_media_id": float(media_id)},
        {"video_media_id": media_id, "keyframe_id": "1"},
        {"video_media_id": media_id, "keyframe_id": 1.5},
    ):
        assert code(await raw.post(MASK, body)) == 400013, body
    stats = await raw.stats()
    assert stats["credits_charged"] == T2V_CREDITS and stats["masks"] == 0


async def test_mask_selection_needs_two_credits(session: aiohttp.ClientSession) -> None:
    accounts = (
        AccountConfig(api_key="poor-key-1", credit_monthly=1, credit_package=0),
        AccountConfig(api_key="just-key-2", credit_monthly=1, credit_package=1),
    )
    async with Emulator(EmulatorConfig(job_duration=Fixed(0.05), accounts=accounts)) as emu:
        poor, just = Raw(session, emu, "poor-key-1"), Raw(session, emu, "just-key-2")
        media_id = await poor.upload_video(5.0)
        assert code(await poor.post(MASK, {"video_media_id": media_id})) == 500090
        # field rules come before credits (reference 1.8)
        body = {"video_media_id": media_id, "keyframe_id": 0}
        assert code(await poor.post(MASK, body)) == 400017
        assert await poor.balance() == (1, 0)
        other = await just.upload_video(5.0)
        assert (await just.ok(MASK, {"video_media_id": other}))["credits"] == 2
        assert await just.balance() == (0, 0)  # 1 monthly, then 1 package
        assert code(await just.post(MASK, {"video_media_id": other})) == 500090
        stats = await poor.stats()
        assert stats["credits_charged"] == 2 and stats["masks"] == 3


async def test_mask_selection_replay_charges_once(raw: Raw) -> None:
    media_id = await raw.upload_video(5.0)
    t = str(uuid.uuid4())
    one = await raw.ok(MASK, {"video_media_id": media_id}, trace=t)
    two = await raw.ok(MASK, {"video_media_id": media_id, "keyframe_id": 50}, trace=t)
    assert one == two and two["keyframe_id"] == 1
    assert sum(await raw.balance()) == 1_015_000 - 2
    stats = await raw.stats()
    assert stats["masks"] == 3 and stats["dedup_hits"] == 1


async def test_mask_selection_takes_an_upload_over_50_mb(raw: Raw) -> None:
    """Mask selection takes Modify's 100 MB sources (reference 9.2: the Modify page's flow runs
    mask selection on its own sources), not the 50 MB of lip sync, restyle, swap, extend."""
    f = aiohttp.FormData()
    data = stream(make_mp4(2.0, 640, 360), 50 * MB + 1)  # streamed, never one 50 MB object
    f.add_field("file", data, filename="a.mp4", content_type="video/mp4")
    media_id = (await raw.ok("/media/upload", data=f))["media_id"]
    resp = await raw.ok(MASK, {"video_media_id": media_id})
    assert resp["credits"] == 2 and len(resp["mask_info"]) == 3
    assert (await raw.stats())["credits_charged"] == 2


# ---------------------------------------------------------------------------
# TTS speaker list (4.9) and restyle list (4.12)

TTS_PATHS = ["/video/lip_sync/tts_list", "/video/tts_speaker"]


def speakers(resp: dict[str, Any]) -> list[tuple[str, str]]:
    return [(d["speaker_id"], d["name"]) for d in resp["data"]]


@pytest.mark.parametrize("path", TTS_PATHS)
async def test_tts_list_default_page(raw: Raw, path: str) -> None:
    status, doc = await raw.get(path)
    assert status == 200 and doc["ErrCode"] == 0
    assert doc["Resp"]["total"] == 15
    assert speakers(doc["Resp"]) == SPEAKERS  # default page_size 20 holds the whole catalog
    assert all(isinstance(d["speaker_id"], str) for d in doc["Resp"]["data"])


@pytest.mark.parametrize("path", TTS_PATHS)
@pytest.mark.parametrize(
    ("page_num", "page_size", "want"),
    [
        (1, 10, SPEAKERS[:10]),
        (2, 10, SPEAKERS[10:]),
        (3, 10, []),
        (4, 4, SPEAKERS[12:]),
        (15, 1, [("Auto", "Auto")]),
        (1, 100, SPEAKERS),
        (2, 100, []),
    ],
)
async def test_tts_list_paging_by_query(
    raw: Raw, path: str, page_num: int, page_size: int, want: list[tuple[str, str]]
) -> None:
    _, doc = await raw.get(path, params={"page_num": page_num, "page_size": page_size})
    assert doc["ErrCode"] == 0, doc
    assert doc["Resp"]["total"] == 15 and speakers(doc["Resp"]) == want


@pytest.mark.parametrize("path", TTS_PATHS)
async def test_tts_list_paging_from_a_json_body(raw: Raw, path: str) -> None:
    async with raw.session.get(
        raw.base + path, headers=raw.headers(), json={"page_num": 2, "page_size": 5}
    ) as r:
        doc = await r.json()
    assert doc["ErrCode"] == 0 and speakers(doc["Resp"]) == SPEAKERS[5:10]
    async with raw.session.get(raw.base + path, headers=raw.headers(), json={"page_size": 0}) as r:
        assert (await r.json())["ErrCode"] == 400017
    async with raw.session.get(
        raw.base + path, headers=raw.headers(), json={"page_num": "two"}
    ) as r:
        assert (await r.json())["ErrCode"] == 400013


async def test_tts_speaker_ignores_speaker_type(raw: Raw) -> None:
    params = {"speaker_type": "custom", "page_num": 1, "page_size": 3}
    _, doc = await raw.get("/video/tts_speaker", params=params)
    assert speakers(doc["Resp"]) == SPEAKERS[:3]


LIST_PATHS = [*TTS_PATHS, "/video/restyle/list"]


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize(
    ("params", "want"),
    [
        ({"page_size": 0}, 400017),
        ({"page_size": 101}, 400017),
        ({"page_size": -3}, 400017),  # an integer out of range, as in a JSON body
        ({"page_num": 0}, 400017),
        ({"page_num": 0, "page_size": 10}, 400017),
        ({"page_num": "abc"}, 400013),
        ({"page_size": "1.5"}, 400013),
        ({"page_num": "1e2"}, 400013),
        ({"page_size": ""}, 400013),
        ({"page_size": "\u00b2"}, 400013),  # "²": str.isdigit() but not an integer
        ({"page_num": "\u0661"}, 400013),  # Arabic-Indic one
    ],
)
async def test_list_paging_errors(raw: Raw, path: str, params: dict[str, Any], want: int) -> None:
    assert code(await raw.get(path, params=params)) == want


async def test_restyle_list(raw: Raw) -> None:
    status, doc = await raw.get("/video/restyle/list")
    assert status == 200 and doc["ErrCode"] == 0
    items = doc["Resp"]
    assert isinstance(items, list) and len(items) == 5  # the default catalog, one page
    for item in items:
        assert set(item) == {"restyle_id", "restyle_name", "restyle_prompt", "cover_url"}
        assert type(item["restyle_id"]) is int
        assert isinstance(item["restyle_name"], str) and item["restyle_name"]
        assert isinstance(item["restyle_prompt"], str) and item["restyle_prompt"]
        st, _, body = await download(raw, item["cover_url"])
        assert st == 200 and body.startswith(b"\x89PNG")
    ids = [item["restyle_id"] for item in items]
    _, page2 = await raw.get("/video/restyle/list", params={"page_num": 2, "page_size": 2})
    assert [i["restyle_id"] for i in page2["Resp"]] == ids[2:4]
    _, page9 = await raw.get("/video/restyle/list", params={"page_num": 9, "page_size": 2})
    assert page9["Resp"] == []
    # the list's ids are the ones restyle accepts
    media_id = await raw.upload_video(4.0)
    body = {"video_media_id": media_id, "restyle_id": ids[-1]}
    assert (await raw.ok("/video/restyle/generate", body))["credits"] == 40


async def test_restyle_list_configured_catalog(session: aiohttp.ClientSession) -> None:
    catalog = tuple(RestyleConfig(7000 + i, f"Style {i}", f"prompt {i}") for i in range(25))
    catalog += (RestyleConfig(9, "Ink", "ink wash", cover_url="https://cdn.example/ink.png"),)
    async with Emulator(EmulatorConfig(restyles=catalog)) as emu:
        raw = Raw(session, emu, emu.api_key)
        _, doc = await raw.get("/video/restyle/list")
        assert [i["restyle_id"] for i in doc["Resp"]] == [7000 + i for i in range(20)]
        _, doc = await raw.get("/video/restyle/list", params={"page_num": 2, "page_size": 20})
        tail = doc["Resp"]
        assert [i["restyle_id"] for i in tail] == [*range(7020, 7025), 9]
        assert tail[-1] == {
            "restyle_id": 9,
            "restyle_name": "Ink",
            "restyle_prompt": "ink wash",
            "cover_url": "https://cdn.example/ink.png",
        }


# ---------------------------------------------------------------------------
# Balance (4.23)


async def test_balance_shape(raw: Raw) -> None:
    status, doc = await raw.get("/account/balance")
    assert status == 200 and doc["ErrCode"] == 0
    resp = doc["Resp"]
    assert set(resp) == {"account_id", "credit_monthly", "credit_package"}
    assert all(type(v) is int for v in resp.values())
    assert (resp["credit_monthly"], resp["credit_package"]) == (15_000, 1_000_000)
    assert resp["account_id"] > 0


async def test_balance_follows_spending(session: aiohttp.ClientSession) -> None:
    account = AccountConfig(api_key="k-1234", account_id=123452341, credit_monthly=10)
    async with Emulator(EmulatorConfig(job_duration=Fixed(0.05), accounts=(account,))) as emu:
        raw = Raw(session, emu, "k-1234")
        _, doc = await raw.get("/account/balance")
        assert doc["Resp"] == {
            "account_id": 123452341,
            "credit_monthly": 10,
            "credit_package": 1_000_000,
        }
        await raw.ok(T2V, T2V_BODY)  # 15 credits: 10 monthly, 5 package
        assert await raw.balance() == (0, 999_995)


async def test_balance_is_per_account(two: tuple[Raw, Raw]) -> None:
    one, other = two
    await one.ok(T2V, T2V_BODY)
    assert sum(await one.balance()) == 1_015_000 - T2V_CREDITS
    assert sum(await other.balance()) == 1_015_000
    _, a = await one.get("/account/balance")
    _, b = await other.get("/account/balance")
    assert a["Resp"]["account_id"] != b["Resp"]["account_id"]


# ---------------------------------------------------------------------------
# Results (4.18, 4.20)


async def test_video_result_while_running_and_after(slow: Raw) -> None:
    body = {
        **T2V_BODY,
        "model": "v3.5",
        "duration": 5,
        "quality": "720p",
        "aspect_ratio": "9:16",
        "negative_prompt": "blurry",
        "style": "anime",
        "seed": 42,
    }
    submit = await slow.ok(T2V, body)
    video_id = submit["video_id"]
    assert type(video_id) is int and 2**53 < video_id < 2**63
    t = str(uuid.uuid4())  # the same trace id on both GETs: GETs are never replayed (1.4)
    _, doc = await slow.get(f"/video/result/{video_id}", trace=t)
    running = doc["Resp"]
    assert set(running) >= VIDEO_FIELDS
    assert running["id"] == video_id and running["status"] == 5
    assert running["url"] == "" and running["size"] == 0
    assert running["prompt"] == body["prompt"]
    assert running["negative_prompt"] == "blurry" and running["style"] == "anime"
    assert running["seed"] == 42 and running["resolution_ratio"] == 720
    assert (running["outputWidth"], running["outputHeight"]) == (720, 1280)
    assert running["has_audio"] is False
    created = iso(running["create_time"])
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 60
    await force(slow, video_id, 1)
    _, doc = await slow.get(f"/video/result/{video_id}", trace=t)
    done = doc["Resp"]
    assert set(done) >= VIDEO_FIELDS and done["status"] == 1
    assert done["url"].startswith("http") and done["size"] == 160_000 * 5
    assert done["create_time"] == running["create_time"]
    assert iso(done["modify_time"]) >= created
    assert {k: done[k] for k in ("prompt", "seed", "outputWidth", "outputHeight")} == {
        k: running[k] for k in ("prompt", "seed", "outputWidth", "outputHeight")
    }


async def test_video_result_defaults(raw: Raw) -> None:
    done = await finished_video(raw)
    assert done["negative_prompt"] == "" and done["style"] == ""
    assert type(done["seed"]) is int and 0 <= done["seed"] <= 2_147_483_647
    assert (done["outputWidth"], done["outputHeight"]) == (640, 360)
    assert done["resolution_ratio"] == 360


@pytest.mark.parametrize("status", [7, 8])
async def test_video_result_failed_has_no_url(slow: Raw, status: int) -> None:
    video_id = (await slow.ok(T2V, T2V_BODY))["video_id"]
    await force(slow, video_id, status)
    job = await slow.result(video_id)
    assert job["status"] == status and job["url"] == "" and job["size"] == 0


async def test_image_result_while_running_and_after(slow: Raw) -> None:
    img_id = await slow.upload_image(800, 600)
    submit = await slow.ok(
        "/image/template/generate", {"template_id": 400_001, "img_ids": [img_id]}
    )
    assert set(submit) >= {"image_id", "credits"} and submit["credits"] == 10
    image_id = submit["image_id"]
    assert 2**53 < image_id < 2**63
    running = await slow.result(image_id, image=True)
    assert set(running) >= IMAGE_FIELDS
    assert running["image_id"] == image_id and running["status"] == 5 and running["url"] == ""
    assert running["template_id"] == 400_001 and running["credits"] == 10
    assert running["customer_paths"] == {}
    assert isinstance(running["prompt"], str) and isinstance(running["prompt_translate"], str)
    assert type(running["seed"]) is int
    assert (running["outputWidth"], running["outputHeight"]) == (800, 600)
    assert iso(running["modify_time"]) >= iso(running["create_time"])
    await force(slow, image_id, 1)
    done = await slow.result(image_id, image=True)
    assert done["status"] == 1 and done["url"].startswith("http")
    status, headers, body = await download(slow, done["url"])
    assert status == 200 and body.startswith(b"\x89PNG") and headers["Content-Type"] == "image/png"


async def test_result_not_found(raw: Raw) -> None:
    done = await finished_video(raw)
    img_id = await raw.upload_image()
    image_id = (
        await raw.ok("/image/template/generate", {"template_id": 400_001, "img_ids": [img_id]})
    )["image_id"]
    await raw.wait(image_id, image=True)
    for path in (
        "/video/result/1234",
        f"/video/result/{done['id'] + 1}",
        f"/video/result/{2**63 + 5}",
        "/video/result/99999999999999999999999999",
        f"/video/result/{image_id}",  # an image id on the video path
        f"/image/result/{done['id']}",  # and the reverse
        f"/video/result/{img_id}",  # an upload is no job
        f"/image/result/{img_id}",
    ):
        assert code(await raw.get(path)) == 500008, path
    assert (await raw.result(done["id"]))["status"] == 1
    assert (await raw.result(image_id, image=True))["status"] == 1


@pytest.mark.parametrize(
    "job_id", ["abc", "12x", "-5", "1.5", "1e9", "0x1F", "%20", "\u00b2", "\u0661\u0662", "+7"]
)
@pytest.mark.parametrize("kind", ["video", "image"])
async def test_result_id_must_be_numeric(raw: Raw, kind: str, job_id: str) -> None:
    assert code(await raw.get(f"/{kind}/result/{job_id}")) == 400013


async def test_result_of_another_account(two: tuple[Raw, Raw]) -> None:
    one, other = two
    video_id = (await one.ok(T2V, T2V_BODY))["video_id"]
    img_id = await one.upload_image()
    image_id = (
        await one.ok("/image/template/generate", {"template_id": 400_001, "img_ids": [img_id]})
    )["image_id"]
    assert code(await other.get(f"/video/result/{video_id}")) == 500008
    assert code(await other.get(f"/image/result/{image_id}")) == 500008
    assert (await one.result(video_id))["id"] == video_id
    assert (await one.result(image_id, image=True))["image_id"] == image_id


async def test_ids_are_integer_literals_above_2_53(raw: Raw) -> None:
    """Ids travel as bare JSON integers (reference 1.3), never quoted or as floats."""
    headers = raw.headers()
    async with raw.session.post(raw.base + T2V, json=T2V_BODY, headers=headers) as r:
        submit = await r.text()
    m = re.search(r'"video_id":\s*(\d+)\s*[,}]', submit)
    assert m is not None, submit
    video_id = int(m.group(1))
    assert 2**53 < video_id < 2**63
    async with raw.session.get(f"{raw.base}/video/result/{video_id}", headers=headers) as r:
        result = await r.text()
    assert re.search(rf'"id":\s*{video_id}\s*[,}}]', result), result


# ---------------------------------------------------------------------------
# Served files


async def test_result_file_download(raw: Raw) -> None:
    body = {**T2V_BODY, "duration": 4, "quality": "540p", "aspect_ratio": "4:3"}
    done = await finished_video(raw, body)
    status, headers, data = await download(raw, done["url"])
    assert status == 200 and headers["Content-Type"] == "video/mp4"
    assert len(data) == done["size"] == 4 * 80_000
    assert int(headers["Content-Length"]) == done["size"]
    assert headers.get("Accept-Ranges") == "bytes"
    assert data[4:8] == b"ftyp"
    scanner = Mp4Scanner()
    scanner.feed(data)
    assert scanner.info.seconds == pytest.approx(4.0)
    assert (scanner.info.width, scanner.info.height) == (done["outputWidth"], done["outputHeight"])
    assert (done["outputWidth"], done["outputHeight"]) == (720, 540)
    _, _, again = await download(raw, done["url"])
    assert again == data


async def test_result_file_ranges(raw: Raw) -> None:
    done = await finished_video(raw)
    url, size = done["url"], done["size"]
    _, _, whole = await download(raw, url)
    cases = [
        ("bytes=0-99", 0, 99),
        ("bytes=-100", size - 100, size - 1),
        ("bytes=100-", 100, size - 1),
        ("bytes=5000-70000", 5000, 70000),  # across the 64 KiB chunks
        (f"bytes={size - 1}-", size - 1, size - 1),
        (f"bytes=10-{size + 1000}", 10, size - 1),  # end clamped
        (f"bytes=-{size + 50}", 0, size - 1),  # suffix longer than the file
    ]
    for header, start, end in cases:
        status, headers, body = await download(raw, url, {"Range": header})
        assert status == 206, header
        assert headers["Content-Range"] == f"bytes {start}-{end}/{size}", header
        assert body == whole[start : end + 1], header
        assert int(headers["Content-Length"]) == end - start + 1
    for header in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=50-10"):
        status, headers, _ = await download(raw, url, {"Range": header})
        assert status == 416, header
        assert headers["Content-Range"] == f"bytes */{size}"


async def test_result_file_head(raw: Raw) -> None:
    done = await finished_video(raw)
    async with raw.session.head(done["url"]) as r:
        assert r.status == 200 and int(r.headers["Content-Length"]) == done["size"]
        assert await r.read() == b""


async def test_files_of_running_or_unknown_jobs_are_404(slow: Raw) -> None:
    running = (await slow.ok(T2V, T2V_BODY))["video_id"]
    finished = (await slow.ok(T2V, T2V_BODY))["video_id"]
    await force(slow, finished, 1)
    url = (await slow.result(finished))["url"]
    assert url.endswith(f"/{finished}.mp4")
    status, _, _ = await download(slow, url)
    assert status == 200
    for other in (running, running + 10**6):
        status, _, _ = await download(slow, url.replace(str(finished), str(other)))
        assert status == 404
    failed = (await slow.ok(T2V, T2V_BODY))["video_id"]
    await force(slow, failed, 8)
    assert (await download(slow, url.replace(str(finished), str(failed))))[0] == 404
    assert (await download(slow, f"{slow.emu.origin}/_emulator/files/nothing.bin"))[0] == 404


async def test_upload_files_are_served(raw: Raw) -> None:
    f = aiohttp.FormData()
    data = make_mp4(6.5, 640, 480, size=54_321)
    f.add_field("file", data, filename="a.mp4", content_type="video/mp4")
    resp = await raw.ok("/media/upload", data=f)
    status, _, data = await download(raw, resp["url"])
    assert status == 200 and len(data) == 54_321 and data[4:8] == b"ftyp"
    scanner = Mp4Scanner()
    scanner.feed(data)
    assert scanner.info.seconds == pytest.approx(6.5)
    assert (scanner.info.width, scanner.info.height) == (640, 480)
    status, _, body = await download(raw, resp["url"], {"Range": "bytes=-10"})
    assert status == 206 and body == data[-10:]


# ---------------------------------------------------------------------------
# Routing (1.5)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/video/nothing"),
        ("POST", "/video/nothing/generate"),
        ("GET", "/video/result"),
        ("GET", "/video/result/1/extra"),
        ("POST", "/video/avatar/generate"),  # out of scope (reference 3)
        ("GET", "/video/effects/templates/list"),
    ],
)
async def test_unknown_path_is_404(raw: Raw, method: str, path: str) -> None:
    async with raw.session.request(method, raw.base + path, headers=raw.headers(), json={}) as r:
        assert r.status == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/video/modify/generate"),
        ("GET", "/video/text/generate"),
        ("GET", "/image/upload"),
        ("GET", "/video/mask/selection"),
        ("POST", "/account/balance"),
        ("POST", "/video/result/12345"),
        ("POST", "/video/restyle/list"),
        ("DELETE", "/media/upload"),
        ("PUT", "/video/lip_sync/tts_list"),
    ],
)
async def test_wrong_method_is_405(raw: Raw, method: str, path: str) -> None:
    async with raw.session.request(method, raw.base + path, headers=raw.headers(), json={}) as r:
        assert r.status == 405
    stats = await raw.stats()
    assert stats["credits_charged"] == 0 and stats["jobs_created"] == 0
