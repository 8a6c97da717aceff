"""Modify fidelity and the other points of the issue, through the SDK client.

Reference: 4.16 (Modify: ``keyframe_id`` / ``keyframe_ids``, images per subject, references,
the ``credit`` spelling), 9.2 (mask selection takes Modify's 100 MB sources), 4.7 (extend
without ``seed``), 4.1/4.2/4.4 (``play_bgm``, ``sound_mode``), 4.18 (the result's ``size``).
Each test drives ``client.video.*`` either against the emulator over real sockets, or against
a recording transport to see the exact body on the wire.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pixverse_async import AsyncPixVerse, PollPolicy, RequestValidationError, RetryPolicy
from pixverse_async import _rules as rules
from pixverse_async._transport import Request, Response
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    Fixed,
    make_mp4,
    make_png,
)
from pixverse_async.types import ModifyRequest, VideoResult, build
from tests.emulator.test_uploads import stream

pytestmark = pytest.mark.anyio

KEY = "pv-modify-fidelity-key-0001"
FAST_POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=32)
FAST_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.001, max_backoff=0.01, max_elapsed=10)
MB = rules.MB

#: the page's single-swap example (reference 4.16), verbatim
PAGE_EXAMPLE: dict[str, Any] = {
    "video_media_id": 1234,
    "prompt": "@selection0 subject is swapped with @img0",
    "img_ids": [123, 123],
    "mask_ids": ["3847593904"],
    "keyframe_ids": 1,
    "quality": "540p",
}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=100),), job_duration=Fixed(0.05), seed=3
    )
    async with Emulator(config) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=FAST_POLL, retry=FAST_RETRY) as c:
        yield c


class Recorder:
    """A transport that records each request; modify answers with the page's ``credit``."""

    def __init__(self) -> None:
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        data: dict[str, Any] = {"video_id": 2**60 + len(self.sent), "credits": 45}
        if request.path == "/video/modify/generate":
            data = {"video_id": 2**60 + len(self.sent), "credit": 80}  # as the page shows
        return Response(data=data, http_status=200, trace_id=request.trace_id)

    def download(self, url: str) -> AsyncIterator[bytes]:
        raise AssertionError("not used")

    async def aclose(self) -> None:
        return None

    @property
    def last(self) -> dict[str, Any]:
        body = self.sent[-1].json
        assert body is not None
        return dict(body)


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[AsyncPixVerse, Recorder]]:
    recorder = Recorder()
    async with AsyncPixVerse(
        "pv-recorder-key-0000",
        base_url="http://127.0.0.1:9/openapi/v2",
        transport=recorder,
        max_concurrency=None,
    ) as c:
        yield c, recorder


async def upload_clip(client: AsyncPixVerse, seconds: float = 5.0) -> int:
    media = await client.media.upload_media(make_mp4(seconds, 1280, 720), filename="clip.mp4")
    return media.media_id


async def upload_stills(client: AsyncPixVerse, n: int) -> list[int]:
    return [
        (await client.media.upload_image(make_png(64, 64), filename=f"s{i}.png")).img_id
        for i in range(n)
    ]


async def raw_post(emu: Emulator, path: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"API-KEY": KEY, "Ai-trace-id": f"fidelity-{id(body)}-{len(str(body))}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emu.base_url + path, json=body, headers=headers) as r,
    ):
        assert r.status == 200
        return dict(await r.json())


# ---------------------------------------------------------------------------------------------
# 1. keyframe_id vs keyframe_ids (reference 4.16, revised decision)


async def test_the_page_example_is_sent_with_both_keyframe_names(
    recorded: tuple[AsyncPixVerse, Recorder],
) -> None:
    client, recorder = recorded
    job = await client.video.modify(**PAGE_EXAMPLE)
    wire = recorder.last
    assert (wire["keyframe_id"], wire["keyframe_ids"]) == (1, 1)
    assert type(wire["keyframe_id"]) is int and type(wire["keyframe_ids"]) is int
    assert {k: v for k, v in wire.items() if k != "keyframe_id"} == PAGE_EXAMPLE
    assert job.credits == 80  # 5. the page's "credit" spelling is read


@pytest.mark.parametrize(
    ("given", "frame"),
    [
        ({"keyframe_id": 7}, 7),
        ({"keyframe_ids": 7}, 7),
        ({"keyframe_ids": [7]}, 7),
        ({"keyframe_ids": (7,)}, 7),
        ({"keyframe_id": 7, "keyframe_ids": [7]}, 7),
        ({"keyframe_id": 0, "keyframe_ids": 0}, 0),
    ],
)
async def test_keyframe_is_sent_under_both_names(
    recorded: tuple[AsyncPixVerse, Recorder], given: dict[str, Any], frame: int
) -> None:
    client, recorder = recorded
    await client.video.modify(video_media_id=5, prompt="make it snow", quality="540p", **given)
    wire = recorder.last
    assert (wire["keyframe_id"], wire["keyframe_ids"]) == (frame, frame)
    model = build(ModifyRequest, video_media_id=5, prompt="p", quality="540p", **given)
    assert (model.keyframe_id, model.keyframe_ids) == (frame, frame)
    assert ModifyRequest.model_validate(model.to_body()) == model


async def test_no_keyframe_sends_neither_name(recorded: tuple[AsyncPixVerse, Recorder]) -> None:
    client, recorder = recorded
    await client.video.modify(video_media_id=5, prompt="make it snow", quality="540p")
    assert "keyframe_id" not in recorder.last and "keyframe_ids" not in recorder.last


@pytest.mark.parametrize(
    ("given", "text"),
    [
        ({"keyframe_id": 1, "keyframe_ids": 2}, "differ"),
        ({"keyframe_id": 1, "keyframe_ids": [2]}, "differ"),
        ({"keyframe_ids": [1, 2]}, "one"),
        ({"keyframe_ids": []}, "one"),
        ({"keyframe_ids": "1"}, "int"),
        ({"keyframe_ids": [True]}, "int"),
    ],
)
async def test_bad_keyframe_ids_are_refused_naming_the_field(
    recorded: tuple[AsyncPixVerse, Recorder], given: dict[str, Any], text: str
) -> None:
    client, recorder = recorded
    with pytest.raises(RequestValidationError) as info:
        await client.video.modify(video_media_id=5, prompt="make it snow", quality="540p", **given)
    assert info.value.field is not None and info.value.field.startswith("keyframe_ids")
    assert text in str(info.value)
    assert recorder.sent == []


async def test_both_keyframe_names_reach_the_emulator(client: AsyncPixVerse, emu: Emulator) -> None:
    media = await upload_clip(client)
    masks = await client.video.mask_selection(video_media_id=media, keyframe_id=2)
    (img,) = await upload_stills(client, 1)
    job = await client.video.modify(
        video_media_id=media,
        prompt="@selection0 subject is swapped with @img0",
        img_ids=[img],
        mask_ids=[masks.mask_info[0].mask_id],
        keyframe_ids=[2],
        quality="540p",
    )
    assert emu.state.jobs[job.id].keyframe_fields == ("keyframe_id", "keyframe_ids")
    assert emu.stats()["modify_keyframe_fields"] == {"keyframe_id": 1, "keyframe_ids": 1}
    assert (await job.wait(timeout=10)).status == 1


# ---------------------------------------------------------------------------------------------
# 2. up to 3 images per subject (reference 4.16)


@pytest.mark.parametrize(
    ("masks", "images"),
    [(1, 3), (2, 6), (3, 9), (0, 9), (0, 1)],
)
async def test_up_to_three_images_per_selection_are_sent(
    recorded: tuple[AsyncPixVerse, Recorder], masks: int, images: int
) -> None:
    client, recorder = recorded
    urls = [f"https://masks.example/{i}.png" for i in range(masks)] or None
    refs = " ".join(f"@img{i}" for i in range(images))
    await client.video.modify(
        video_media_id=5,
        prompt=f"swap in {refs}",
        img_ids=list(range(100, 100 + images)),
        mask_urls=urls,
        quality="720p",
    )
    assert recorder.last["img_ids"] == list(range(100, 100 + images))


@pytest.mark.parametrize(("masks", "images"), [(1, 4), (2, 7), (3, 10), (0, 10)])
async def test_more_than_three_images_per_selection_are_refused(
    recorded: tuple[AsyncPixVerse, Recorder], masks: int, images: int
) -> None:
    client, recorder = recorded
    urls = [f"https://masks.example/{i}.png" for i in range(masks)] or None
    with pytest.raises(RequestValidationError) as info:
        await client.video.modify(
            video_media_id=5,
            prompt="make it snow",
            img_ids=list(range(images)),
            mask_urls=urls,
            quality="720p",
        )
    assert info.value.field == "img_ids"
    assert str(images) in str(info.value)
    assert recorder.sent == []


async def test_six_images_for_two_masks_run_on_the_emulator(client: AsyncPixVerse) -> None:
    media = await upload_clip(client)
    masks = await client.video.mask_selection(video_media_id=media)
    a, b = await upload_stills(client, 2)
    job = await client.video.modify(
        video_media_id=media,
        prompt="@selection0 becomes @img0 @img1 @img2, @selection1 becomes @img3 @img4 @img5",
        img_ids=[a, a, a, b, b, b],
        mask_ids=[m.mask_id for m in masks.mask_info[:2]],
        quality="360p",
    )
    assert job.credits == 40  # 5 s x 8
    assert (await job.wait(timeout=10)).status == 1


# ---------------------------------------------------------------------------------------------
# 3. references to masks or images that were not given: the SDK refuses (a safety rule), the
#    emulator accepts (the page: the result "may not match your expectations")


@pytest.mark.parametrize(
    ("prompt", "extra", "token"),
    [
        ("@selection1 glows", {"mask_urls": ["https://masks.example/0.png"]}, "@selection1"),
        ("@selection0 glows", {}, "@selection0"),
        ("add @img1", {"img_ids": [1]}, "@img1"),
        ("add @img9", {"img_ids": list(range(9))}, "@img9"),
    ],
)
async def test_the_sdk_refuses_a_reference_the_emulator_accepts(
    client: AsyncPixVerse, emu: Emulator, prompt: str, extra: dict[str, Any], token: str
) -> None:
    media = await upload_clip(client)
    body: dict[str, Any] = {"video_media_id": media, "prompt": prompt, "quality": "540p"}
    if "img_ids" in extra:
        (img,) = await upload_stills(client, 1)
        extra = {"img_ids": [img] * len(extra["img_ids"])}
    body.update(extra)
    before = emu.stats()["requests_total"]
    with pytest.raises(RequestValidationError) as info:
        await client.video.modify(**body)
    assert info.value.field == "prompt" and token in str(info.value)
    assert emu.stats()["requests_total"] == before  # refused before any I/O
    doc = await raw_post(emu, "/video/modify/generate", body)
    assert doc["ErrCode"] == 0, doc  # the emulator follows the page: accepted


# ---------------------------------------------------------------------------------------------
# 4. mask selection takes Modify's 100 MB sources (reference 9.2)


def test_mask_selection_uses_the_modify_source_limit() -> None:
    assert rules.SOURCE_MAX_BYTES["mask_selection"] == rules.SOURCE_MAX_BYTES["modify"]
    assert rules.SOURCE_MAX_BYTES["modify"] == 100 * MB


async def test_mask_selection_on_a_source_over_50_mb(client: AsyncPixVerse, emu: Emulator) -> None:
    form = aiohttp.FormData()
    data = stream(make_mp4(4.0, 1280, 720), 50 * MB + 1)
    form.add_field("file", data, filename="mid.mp4", content_type="video/mp4")
    headers = {"API-KEY": KEY, "Ai-trace-id": "fidelity-upload-50mb"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(emu.base_url + "/media/upload", data=form, headers=headers) as r,
    ):
        media = int((await r.json())["Resp"]["media_id"])
    masks = await client.video.mask_selection(video_media_id=media)
    assert masks.credits == 2 and len(masks.mask_info) == 3
    job = await client.video.modify(
        video_media_id=media,
        prompt="remove @selection0",
        mask_ids=[masks.mask_info[0].mask_id],
        keyframe_id=masks.keyframe_id,
        quality="540p",
    )
    assert job.credits == 40  # 4 s x 10


# ---------------------------------------------------------------------------------------------
# 5. the Modify answer carries "credit" (reference 4.16); the SDK reads both spellings


async def test_the_emulator_modify_answer_carries_credit(
    client: AsyncPixVerse, emu: Emulator
) -> None:
    media = await upload_clip(client, 7.2)
    body = {"video_media_id": media, "prompt": "make it snow", "quality": "540p"}
    doc = await raw_post(emu, "/video/modify/generate", body)
    assert doc["ErrCode"] == 0
    assert doc["Resp"]["credit"] == doc["Resp"]["credits"] == 80  # 11.7
    job = await client.video.modify(**body)
    assert job.credits == 80


# ---------------------------------------------------------------------------------------------
# 6 and 9. the result's size: a number, never a reason to fail a complete download (4.18)


async def test_a_size_that_disagrees_is_logged_not_fatal(
    client: AsyncPixVerse, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = await client.video.modify(
        video_media_id=await upload_clip(client), prompt="make it snow", quality="360p"
    )
    result = await job.wait(timeout=10)
    assert type(result.size) is int and result.size > 0  # bytes, as an int
    path = await client.download(result, tmp_path / "exact.mp4")
    assert path.stat().st_size == result.size
    for size in (10.5, result.size + 1, 1):  # the webhook example's 10.5, and two wrong counts
        odd = result.model_copy(update={"size": size})
        with caplog.at_level(logging.DEBUG, logger="pixverse_async"):
            caplog.clear()
            path = await client.download(odd, tmp_path / f"v{size}.mp4")
        assert path.stat().st_size == result.size  # complete, despite the size
        records = [r for r in caplog.records if r.name == "pixverse_async"]
        assert any(r.levelno == logging.DEBUG and str(size) in r.getMessage() for r in records)
        assert all(r.levelno == logging.DEBUG for r in records)


def test_size_is_read_as_a_number() -> None:
    assert VideoResult.model_validate({"id": 1, "status": 1, "size": 12_345}).size == 12_345
    assert type(VideoResult.model_validate({"id": 1, "status": 1, "size": 12_345}).size) is int
    assert VideoResult.model_validate({"id": 1, "status": 1, "size": 10.5}).size == 10.5


# ---------------------------------------------------------------------------------------------
# 7. extend without seed (reference 4.7): the emulator accepts it; the SDK still sends one


async def test_extend_without_seed(
    client: AsyncPixVerse, emu: Emulator, recorded: tuple[AsyncPixVerse, Recorder]
) -> None:
    media = await upload_clip(client)
    body = {"video_media_id": media, "prompt": "more", "model": "v5", "duration": 5}
    doc = await raw_post(emu, "/video/extend/generate", {**body, "quality": "540p"})
    assert doc["ErrCode"] == 0, doc
    result = await client.video.result(doc["Resp"]["video_id"])
    assert rules.SEED_MIN <= (result.seed or 0) <= rules.SEED_MAX
    sdk, recorder = recorded
    await sdk.video.extend(**body, quality="540p")
    assert rules.SEED_MIN <= recorder.last["seed"] <= rules.SEED_MAX


# ---------------------------------------------------------------------------------------------
# 8. play_bgm and sound_mode on text-to-video, image-to-video and transition (4.1, 4.2, 4.4)

GENERATIONS: dict[str, dict[str, Any]] = {
    "text_to_video": {
        "prompt": "a cat",
        "model": "v5",
        "duration": 5,
        "quality": "540p",
        "aspect_ratio": "16:9",
    },
    "image_to_video": {"prompt": "a cat", "model": "v5", "duration": 5, "quality": "540p"},
    "transition": {"prompt": "a cat", "model": "v5", "duration": 5, "quality": "540p"},
}

#: image ids for the recording transport (never looked up)
FAKE_IMAGES: dict[str, dict[str, Any]] = {
    "image_to_video": {"img_id": 1},
    "transition": {"first_frame_img": 1, "last_frame_img": 2},
}


async def _images(client: AsyncPixVerse, method: str) -> dict[str, Any]:
    a, b = await upload_stills(client, 2)
    if method == "image_to_video":
        return {"img_id": a}
    if method == "transition":
        return {"first_frame_img": a, "last_frame_img": b}
    return {}


@pytest.mark.parametrize("method", sorted(GENERATIONS))
async def test_play_bgm_and_sound_mode_are_sent_and_accepted(
    client: AsyncPixVerse, recorded: tuple[AsyncPixVerse, Recorder], method: str
) -> None:
    extra = {"play_bgm": True, "sound_mode": "default_music"}
    sdk, recorder = recorded
    await getattr(sdk.video, method)(**GENERATIONS[method], **FAKE_IMAGES.get(method, {}), **extra)
    assert {k: recorder.last[k] for k in extra} == extra
    body = {**GENERATIONS[method], **await _images(client, method), **extra}
    job = await getattr(client.video, method)(**body)
    assert (await job.wait(timeout=10)).status == 1


@pytest.mark.parametrize("method", sorted(GENERATIONS))
@pytest.mark.parametrize(("field", "value"), [("play_bgm", "yes"), ("sound_mode", 5)])
async def test_play_bgm_and_sound_mode_are_type_checked(
    recorded: tuple[AsyncPixVerse, Recorder], method: str, field: str, value: Any
) -> None:
    sdk, recorder = recorded
    images = FAKE_IMAGES.get(method, {})
    with pytest.raises(RequestValidationError) as info:
        await getattr(sdk.video, method)(**GENERATIONS[method], **images, **{field: value})
    assert info.value.field == field
    assert recorder.sent == []
