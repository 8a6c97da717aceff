"""AsyncPixVerse against the emulator over real sockets: lifecycle, endpoints, waiting, safety."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pixverse_async import (
    AsyncPixVerse,
    ClientClosedError,
    ConcurrencyLimitError,
    ConfigurationError,
    InsufficientCreditsError,
    InvalidRequestError,
    JobFailedError,
    JobModeratedError,
    JobTimeoutError,
    NotFoundError,
    PollPolicy,
    RequestValidationError,
    RetryPolicy,
)
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
    make_mp4,
    make_png,
    make_wav,
)

pytestmark = pytest.mark.anyio

KEY = "pv-client-test-secret-key-42"
FAST_POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=32)
FAST_RETRY = RetryPolicy(max_retries=4, initial_backoff=0.001, max_backoff=0.01, max_elapsed=10)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=2000),), job_duration=Fixed(0.05), seed=5
    )
    async with Emulator(config) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=FAST_POLL, retry=FAST_RETRY) as c:
        yield c


async def upload_clip(client: AsyncPixVerse, seconds: float = 5.0) -> int:
    media = await client.media.upload_media(make_mp4(seconds, 1280, 720), filename="clip.mp4")
    return media.media_id


async def upload_still(client: AsyncPixVerse, name: str = "still.png") -> int:
    return (await client.media.upload_image(make_png(320, 180), filename=name)).img_id


# -- construction and lifecycle ---------------------------------------------------------------


def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXVERSE_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="PIXVERSE_API_KEY"):
        AsyncPixVerse()


def test_key_and_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXVERSE_API_KEY", KEY)
    monkeypatch.setenv("PIXVERSE_BASE_URL", "http://127.0.0.1:1/openapi/v2")
    client = AsyncPixVerse()
    assert client.base_url == "http://127.0.0.1:1/openapi/v2"
    assert KEY not in repr(client)


def test_regions() -> None:
    assert AsyncPixVerse(KEY).base_url == "https://app-api.pixverse.ai/openapi/v2"
    assert AsyncPixVerse(KEY, region="cn").base_url == "https://app-api.pixverseai.cn/openapi/v2"
    with pytest.raises(ConfigurationError):
        AsyncPixVerse(KEY, region="eu")  # type: ignore[arg-type]


async def test_use_after_close(emu: Emulator) -> None:
    client = AsyncPixVerse(KEY, base_url=emu.base_url)
    assert (await client.account.balance()).credit_monthly > 0
    await client.aclose()
    await client.aclose()  # idempotent
    with pytest.raises(ClientClosedError):
        await client.account.balance()


async def test_borrowed_session_is_not_closed(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with AsyncPixVerse(KEY, base_url=emu.base_url, session=session) as client:
            await client.account.balance()
        assert not session.closed


async def test_one_session_for_many_requests(client: AsyncPixVerse) -> None:
    await asyncio.gather(*(client.account.balance() for _ in range(50)))
    session = client._transport.session  # type: ignore[attr-defined]
    await client.account.balance()
    assert client._transport.session is session  # type: ignore[attr-defined]


# -- endpoints ---------------------------------------------------------------------------------


async def test_modify_round_trip_and_download(client: AsyncPixVerse, tmp_path: Path) -> None:
    media_id = await upload_clip(client, 7.2)
    img_id = await upload_still(client)
    masks = await client.video.mask_selection(video_media_id=media_id)
    person = next(m for m in masks.mask_info if m.mask_name == "person")
    job = await client.video.modify(
        video_media_id=media_id,
        prompt="@selection0 is swapped with @img0",
        mask_ids=[person.mask_id],
        img_ids=[img_id],
        keyframe_id=masks.keyframe_id,
        quality="540p",
    )
    assert job.credits == 80 and job.kind == "modify" and job.trace_id
    result = await job.wait(timeout=5)
    assert result.status == 1 and result.url
    path = await client.download(result, tmp_path / "out" / "remix.mp4")
    assert path.stat().st_size == result.size
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind


async def test_every_generation_endpoint(client: AsyncPixVerse, emu: Emulator) -> None:
    media_id = await upload_clip(client)
    img_a, img_b = await upload_still(client), await upload_still(client)
    audio = await client.media.upload_media(make_wav(2.0), filename="voice.wav")
    assert audio.media_type == "audio"
    masks = await client.video.mask_selection(video_media_id=media_id, keyframe_id=2)
    speakers = await client.video.tts_speakers(page_size=20)
    effects = await client.video.restyle_effects()
    assert speakers.total == 15 and effects
    video = client.video
    jobs = [
        await video.text_to_video(
            prompt="a fox",
            model="v6",
            duration=3,
            quality="720p",
            aspect_ratio="21:9",
            generate_audio_switch=True,
        ),
        await video.image_to_video(
            prompt="wave", model="v5", duration=5, quality="540p", img_id=img_a
        ),
        await video.template(template_id=300_001, quality="540p", img_id=img_a),
        await video.template(template_id=300_005, quality="360p"),
        await video.transition(
            prompt="morph",
            model="v4.5",
            duration=5,
            quality="360p",
            first_frame_img=img_a,
            last_frame_img=img_b,
        ),
        await video.multi_transition(
            model="v5",
            quality="540p",
            multi_transition=[{"img_id": img_a, "duration": 3}, {"img_id": img_b}],
        ),
        await video.fusion(
            image_references=[{"type": "subject", "img_id": img_a, "ref_name": "dog"}],
            prompt="@dog runs",
            model="v5",
            duration=5,
            quality="540p",
            aspect_ratio="16:9",
        ),
        await video.extend(
            video_media_id=media_id, prompt="continue", model="v5", duration=5, quality="540p"
        ),
        await video.lip_sync(video_media_id=media_id, audio_media_id=audio.media_id),
        await video.lip_sync(
            video_media_id=media_id,
            lip_sync_tts_speaker_id=speakers.data[0].speaker_id,
            lip_sync_tts_content="hello there",
        ),
        await video.sound_effect(video_media_id=media_id, sound_effect_content="rain"),
        await video.restyle(video_media_id=media_id, restyle_id=effects[0].restyle_id),
        await video.restyle(video_media_id=media_id, restyle_prompt="watercolor"),
        await video.swap(
            video_media_id=media_id,
            keyframe_id=2,
            mask_id=masks.mask_info[0].mask_id,
            img_id=img_a,
            quality="360p",
        ),
        await video.mimic(video_media_id=media_id, img_id=img_a, quality="540p"),
        await video.upscale(video_media_id=media_id),
    ]
    results = await client.wait_all(jobs, timeout=10)
    assert [r.status for r in results] == [1] * len(jobs)
    image_job = await client.image.template(template_id=400_001, img_ids=[img_a])
    image = await image_job.wait(timeout=5)
    assert image.status == 1 and image.url
    stats = emu.stats()
    assert stats["jobs_created"] == len(jobs) + 1
    assert stats["duplicate_generations"] == 0


async def test_source_video_id_from_a_finished_job(client: AsyncPixVerse) -> None:
    first = await client.video.text_to_video(
        prompt="a", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
    )
    await first.wait(timeout=5)
    second = await client.video.upscale(source_video_id=first.id)
    assert (await second.wait(timeout=5)).status == 1


# -- errors -----------------------------------------------------------------------------------


async def test_invalid_input_raises_before_any_io(client: AsyncPixVerse, emu: Emulator) -> None:
    before = emu.stats()["requests_total"]
    with pytest.raises(RequestValidationError) as info:
        await client.video.modify(
            video_media_id=1, prompt="@selection1 goes", mask_ids=["9"], quality="540p"
        )
    assert info.value.field and "selection" in str(info.value)
    with pytest.raises(RequestValidationError, match="quality"):
        await client.video.modify(video_media_id=1, prompt="x", quality="1080p")
    with pytest.raises(RequestValidationError):
        await client.video.modify(source_video_id=1, video_media_id=2, prompt="x", quality="540p")
    with pytest.raises(RequestValidationError, match="image_url"):
        await client.media.upload_image("https://example.com/a.png")
    with pytest.raises(RequestValidationError, match="format"):
        await client.media.upload_image(b"GIF89a....", filename="a.gif")
    with pytest.raises(RequestValidationError):
        await client.video.result(0)
    assert emu.stats()["requests_total"] == before


async def test_server_errors_are_typed(client: AsyncPixVerse, emu: Emulator) -> None:
    with pytest.raises(NotFoundError) as info:
        await client.video.result(2**60)
    assert info.value.code == 500008 and info.value.trace_id
    with pytest.raises(InvalidRequestError) as bad:
        await client.video.upscale(video_media_id=2**60)
    assert bad.value.code == 400017
    emu.upsert_account(
        AccountConfig(api_key=KEY, credit_monthly=10, credit_package=0, concurrency=1)
    )
    media_id = await upload_clip(client)
    with pytest.raises(InsufficientCreditsError):
        await client.video.upscale(video_media_id=media_id)  # 25 credits > 10
    emu.upsert_account(AccountConfig(api_key=KEY, concurrency=1))
    async with AsyncPixVerse(KEY, base_url=emu.base_url, max_concurrency=None) as unlimited:
        await unlimited.video.upscale(video_media_id=media_id)
        with pytest.raises(ConcurrencyLimitError) as limit:  # no limiter: 500044 raises
            await unlimited.video.upscale(video_media_id=media_id)
    assert limit.value.code == 500044


async def test_job_outcomes(client: AsyncPixVerse) -> None:
    failed = await client.video.text_to_video(
        prompt="[emulator:fail]", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
    )
    moderated = await client.video.text_to_video(
        prompt="[emulator:moderate]", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
    )
    with pytest.raises(JobFailedError) as f:
        await failed.wait(timeout=5)
    assert f.value.status == 8 and f.value.snapshot is not None
    with pytest.raises(JobModeratedError):
        await moderated.wait(timeout=5)
    outcomes = await client.wait_all([failed, moderated], return_exceptions=True)
    assert [type(o) for o in outcomes] == [JobFailedError, JobModeratedError]


async def test_accepted_then_lost_submit_is_paid_once(client: AsyncPixVerse, emu: Emulator) -> None:
    media_id = await upload_clip(client)
    emu.set_faults(
        FaultPlan(
            rules=(FaultRule(FaultKind.ACCEPTED_THEN_LOST, count=1, path="/video/modify/generate"),)
        )
    )
    job = await client.video.modify(video_media_id=media_id, prompt="snow", quality="540p")
    await job.wait(timeout=5)
    stats = emu.stats()
    assert stats["jobs_created"] == 1
    assert stats["duplicate_generations"] == 0
    assert stats["dedup_hits"] >= 1
    assert stats["credits_charged"] == 50  # 5 s source at 540p, charged once


# -- waiting ----------------------------------------------------------------------------------


async def test_thousand_waits_share_one_scheduler(emu: Emulator) -> None:
    poll = PollPolicy(interval=0.05, jitter=0.0, max_rps=None, max_concurrency=64)
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=poll) as client:
        jobs = []
        for i in range(1000):
            jobs.append(
                await client.video.text_to_video(
                    prompt=f"take {i}", model="v5", duration=5, quality="360p", aspect_ratio="16:9"
                )
            )
        waits = [job.wait(timeout=20) for job in jobs] + [jobs[0].wait(timeout=20)]  # 2 waiters
        results = await asyncio.gather(*waits)
        polls = emu.stats()["status_polls"]
        stats = client.poll_statistics()
    assert all(r.status == 1 for r in results)
    # jobs are watched from submission (their slots are held until they end). A 50 ms job
    # polled every 50 ms from 50 ms after its submit needs one or two polls, whatever the
    # number of waiters: the scheduler sent every one of them, and no more.
    assert 1000 <= polls <= 2000
    assert stats.polls_sent == polls and stats.waiters == 0


async def test_deadline_raises_with_snapshot_and_job_goes_on(client: AsyncPixVerse) -> None:
    job = await client.video.text_to_video(
        prompt="[emulator:stuck]", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
    )
    with pytest.raises(JobTimeoutError) as info:
        await job.wait(timeout=0.15)
    assert isinstance(info.value, TimeoutError)
    assert info.value.job_id == job.id and info.value.status == 5
    assert (await job.status()).status == 5  # nothing was cancelled server-side


async def test_cancelling_one_waiter_leaves_the_others(client: AsyncPixVerse) -> None:
    job = await client.video.text_to_video(
        prompt="a", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
    )
    doomed = asyncio.ensure_future(job.wait())
    survivor = asyncio.ensure_future(job.wait(timeout=5))
    await asyncio.sleep(0)
    doomed.cancel()
    assert (await survivor).status == 1
    assert doomed.cancelled()


async def test_close_wakes_waiters(emu: Emulator) -> None:
    client = AsyncPixVerse(KEY, base_url=emu.base_url, poll=FAST_POLL)
    job = await client.video.text_to_video(
        prompt="[emulator:stuck]", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
    )
    waiter = asyncio.ensure_future(job.wait())
    await asyncio.sleep(0.05)
    await client.aclose()
    with pytest.raises(ClientClosedError):
        await waiter


async def test_reattach_from_stored_id(client: AsyncPixVerse) -> None:
    job = await client.video.text_to_video(
        prompt="a", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
    )
    again = client.video_job(job.id)
    assert again == job
    assert (await again.wait(timeout=5)).id == job.id


async def test_as_completed_yields_every_job(client: AsyncPixVerse) -> None:
    jobs = [
        await client.video.text_to_video(
            prompt=p, model="v5", duration=5, quality="540p", aspect_ratio="16:9"
        )
        for p in ("a", "[emulator:fail]", "c")
    ]
    seen = [job async for job in client.as_completed(jobs, timeout=5)]
    assert sorted(j.id for j in seen) == sorted(j.id for j in jobs)
    assert sum(1 for j in seen if j.exception() is not None) == 1


# -- secrets ----------------------------------------------------------------------------------


async def test_key_never_in_logs_reprs_or_errors(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.HTTP_503, count=2),)))
    errors: list[Any] = []
    async with AsyncPixVerse(
        KEY, base_url=emu.base_url, poll=FAST_POLL, retry=FAST_RETRY
    ) as client:
        job = await client.video.text_to_video(
            prompt="a", model="v5", duration=5, quality="540p", aspect_ratio="16:9"
        )
        await job.wait(timeout=5)
        for call in (client.video.result(2**60), client.video.upscale(video_media_id=2**60)):
            try:
                await call
            except Exception as exc:
                errors.append(exc)
        texts = [repr(client), repr(job), repr(client._transport)]  # type: ignore[attr-defined]
    wrong = AsyncPixVerse("pv-other-secret-key-777", base_url=emu.base_url)
    try:
        await wrong.account.balance()
    except Exception as exc:
        errors.append(exc)
    finally:
        await wrong.aclose()
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [r.getMessage() for r in caplog.records]
    assert len(errors) == 3 and any("HTTP" in r.getMessage() for r in caplog.records)
    for text in texts:
        assert KEY not in text and "pv-other-secret-key-777" not in text
    assert os.environ.get("PIXVERSE_API_KEY") != KEY
