"""One generation pipeline: resources and the batch share the endpoint table and the submitter.

Regression tests for bugs that came from two submit paths:

- a job's ``kind`` differed by entry point (``"text"`` from ``client.video.text_to_video``,
  ``"text_to_video"`` from a batch), so the poll scheduler learned the two apart;
- without a limiter, ``job.done()`` stayed False (and ``job.result()`` raised) after
  ``await job.wait()`` had returned;
- the CLI stopped a batch by writing into its summary (now :meth:`Batch.stop`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

import pixverse_async
from pixverse_async import (
    AsyncPixVerse,
    BatchItem,
    BatchStoppedError,
    ClientClosedError,
    JobDeletedError,
    JobError,
    JobFailedError,
    JobModeratedError,
    PollPolicy,
)
from pixverse_async._endpoints import ENDPOINTS, KINDS
from pixverse_async._journal import Journal
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    Fixed,
    make_mp4,
    make_png,
    make_wav,
)
from pixverse_async.webhooks import WebhookEvent

pytestmark = pytest.mark.anyio

KEY = "pv-pipeline-test-key-00001"
POLL = PollPolicy(interval=0.02, jitter=0.0, max_rps=None, max_concurrency=64)
T2V = {"model": "v5", "duration": 5, "quality": "360p", "aspect_ratio": "16:9"}
PACKAGE = Path(pixverse_async.__file__).parent


def emulator(seconds: float = 0.05, *, limit: int = 8) -> Emulator:
    account = AccountConfig(api_key=KEY, concurrency=limit, credit_package=10**9)
    return Emulator(EmulatorConfig(accounts=(account,), job_duration=Fixed(seconds), seed=5))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator() as e:
        yield e


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "clip.mp4").write_bytes(make_mp4(5.0, 1280, 720))
    (tmp_path / "face.png").write_bytes(make_png(64, 64))
    (tmp_path / "voice.wav").write_bytes(make_wav(3.0))
    return tmp_path


async def params_by_kind(client: AsyncPixVerse, files: Path) -> dict[str, dict[str, Any]]:
    """Valid parameters for every kind, with ids uploaded to (and masks found by) the emulator."""
    video = (await client.media.upload_media(files / "clip.mp4")).media_id
    audio = (await client.media.upload_media(files / "voice.wav")).media_id
    image = (await client.media.upload_image(files / "face.png")).img_id
    other = (await client.media.upload_image(files / "face.png")).img_id
    masks = await client.video.mask_selection(video_media_id=video, keyframe_id=1)
    mask = masks.mask_info[0].mask_id
    gen = {"prompt": "a fox", "model": "v5", "duration": 5, "quality": "360p"}
    return {
        "text_to_video": {**gen, "aspect_ratio": "16:9"},
        "image_to_video": {**gen, "img_id": image},
        "template": {"template_id": 300_005, "quality": "360p"},
        "transition": {**gen, "first_frame_img": image, "last_frame_img": other},
        "multi_transition": {
            "multi_transition": [{"img_id": image, "duration": 3}, {"img_id": other}],
            "model": "v5",
            "quality": "360p",
        },
        "fusion": {
            **gen,
            "prompt": "@cat runs",
            "aspect_ratio": "16:9",
            "image_references": [{"type": "subject", "img_id": image, "ref_name": "cat"}],
        },
        "extend": {**gen, "video_media_id": video},
        "lip_sync": {"video_media_id": video, "audio_media_id": audio},
        "sound_effect": {"video_media_id": video, "sound_effect_content": "rain"},
        "restyle": {"video_media_id": video, "restyle_id": 1001},
        "swap": {
            "video_media_id": video,
            "keyframe_id": 1,
            "mask_id": mask,
            "img_id": image,
            "quality": "540p",
        },
        "mimic": {"video_media_id": video, "img_id": image, "quality": "540p"},
        "modify": {
            "video_media_id": video,
            "prompt": "@selection0 is swapped with @img0",
            "mask_ids": [mask],
            "img_ids": [image],
            "keyframe_id": 1,
            "quality": "540p",
        },
        "upscale": {"video_media_id": video},
        "image_template": {"template_id": 400_001, "img_ids": [image]},
    }


async def test_job_kind_is_the_same_through_resources_and_the_batch(
    emu: Emulator, files: Path
) -> None:
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL) as client:
        params = await params_by_kind(client, files)
        assert sorted(params) == sorted(KINDS)  # every kind is covered
        methods = {
            "text_to_video": client.video.text_to_video,
            "image_to_video": client.video.image_to_video,
            "template": client.video.template,
            "transition": client.video.transition,
            "multi_transition": client.video.multi_transition,
            "fusion": client.video.fusion,
            "extend": client.video.extend,
            "lip_sync": client.video.lip_sync,
            "sound_effect": client.video.sound_effect,
            "restyle": client.video.restyle,
            "swap": client.video.swap,
            "mimic": client.video.mimic,
            "modify": client.video.modify,
            "upscale": client.video.upscale,
            "image_template": client.image.template,
        }
        direct = {kind: await method(**params[kind]) for kind, method in methods.items()}
        items = [BatchItem(kind, params[kind], key=kind) for kind in KINDS]
        outcomes = await client.run_batch(items)
        for job in direct.values():
            await job.wait(timeout=30)
    for outcome in outcomes:
        assert outcome.ok, outcome.error
        assert outcome.kind == outcome.key == direct[outcome.key].kind
    assert {kind: job.kind for kind, job in direct.items()} == {k: k for k in KINDS}


ENDS = {1: None, 6: JobDeletedError, 7: JobModeratedError, 8: JobFailedError}


async def force_status(emu: Emulator, job_id: int, status: int) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{emu.origin}/_emulator/jobs/{job_id}", json={"status": status}) as r,
    ):
        assert r.status == 200, await r.text()


@pytest.mark.parametrize("status", sorted(ENDS))
@pytest.mark.parametrize("limit", [4, None], ids=["limiter", "no-limiter"])
@pytest.mark.parametrize("ender", ["wait", "as_completed", "wait_all", "webhook"])
async def test_done_and_result_agree_with_how_the_job_ended(
    status: int, limit: int | None, ender: str
) -> None:
    """Whichever call saw the job end, and with or without a limiter, the handle has one state."""
    async with (
        emulator(seconds=60.0) as emu,
        AsyncPixVerse(
            KEY,
            base_url=emu.base_url,
            poll=POLL,
            max_concurrency=limit,
            webhooks=ender == "webhook",
        ) as client,
    ):
        job = await client.video.text_to_video(prompt="a fox", **T2V)  # type: ignore[arg-type]
        assert not job.done()
        with pytest.raises(RuntimeError, match="not ended"):
            job.result()
        seen: Any = None
        error: BaseException | None = None
        if ender == "webhook":
            url = f"https://media.example/{job.id}.mp4" if status == 1 else ""
            client.resolve_webhook(WebhookEvent(id=job.id, status=status, url=url))
        else:
            await force_status(emu, job.id, status)
        if ender in ("wait", "webhook"):
            try:
                seen = await job.wait(timeout=10)
            except JobError as exc:
                error = exc
        elif ender == "as_completed":
            ended = [j async for j in client.as_completed([job], timeout=10)]
            assert ended == [job]
        else:
            [seen] = await client.wait_all([job], timeout=10, return_exceptions=True)
            if isinstance(seen, BaseException):
                seen, error = None, seen
        assert job.done()
        expected = ENDS[status]
        if expected is None:
            assert job.exception() is None
            assert job.result().status == 1
            if seen is not None:
                assert job.result() is seen
        else:
            assert isinstance(job.exception(), expected)
            with pytest.raises(expected):
                job.result()
            if error is not None:
                assert job.exception() is error
        # a later wait agrees and sends nothing more
        polls = client.poll_statistics().polls_sent
        if expected is None:
            assert (await job.wait(timeout=1)).status == 1
        else:
            with pytest.raises(expected):
                await job.wait(timeout=1)
        assert client.poll_statistics().polls_sent == polls


async def test_a_webhook_ends_an_unwatched_handle_at_once() -> None:
    """Without a limiter nothing watches a job; a delivery still makes its handle done."""
    async with (
        emulator(seconds=60.0) as emu,
        AsyncPixVerse(
            KEY, base_url=emu.base_url, poll=POLL, max_concurrency=None, webhooks=True
        ) as client,
    ):
        job = await client.video.text_to_video(prompt="a fox", **T2V)  # type: ignore[arg-type]
        assert not job.done()
        client.resolve_webhook(WebhookEvent(id=job.id, status=8))
        assert job.done() and isinstance(job.exception(), JobFailedError)
        assert client.poll_statistics().polls_sent == 0


async def test_a_closed_client_does_not_make_a_handle_done() -> None:
    """A wait ended by closing the client says nothing about the job."""
    async with emulator(seconds=60.0) as emu:
        client = AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, max_concurrency=None)
        async with client:
            job = await client.video.text_to_video(prompt="a fox", **T2V)  # type: ignore[arg-type]
            waiting = asyncio.ensure_future(job.wait(timeout=30))
            await asyncio.sleep(0.05)  # the wait is registered with the scheduler
        with pytest.raises(ClientClosedError):
            await waiting
        assert not job.done()


async def test_stop_submits_nothing_more_and_lets_running_jobs_end(tmp_path: Path) -> None:
    async with (
        emulator(seconds=0.3, limit=2) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, max_concurrency=2) as client,
    ):
        items = [
            BatchItem("text_to_video", {**T2V, "prompt": f"p{i}"}, key=f"k{i}") for i in range(10)
        ]
        journal = tmp_path / "run.db"
        async with client.batch(items, journal=journal, workers=10) as batch:
            outcomes = []
            async for outcome in batch:
                outcomes.append(outcome)
                batch.stop("enough")
                batch.stop("ignored: the first reason stays")
        created = emu.stats()["jobs_created"]
        assert batch.summary.stopped == "enough"
        done = [o for o in outcomes if o.ok]
        stopped = [o for o in outcomes if isinstance(o.error, BatchStoppedError)]
        assert len(outcomes) == 10 and len(done) + len(stopped) == 10
        assert len(done) == created and 2 <= created < 10  # the two running jobs ended
        # a resume submits exactly the items the stop held back
        again = await client.run_batch(items, journal=journal)
    assert all(o.ok for o in again)
    assert emu.stats()["jobs_created"] == 10


async def test_journal_can_ignore_cached_ids_of_an_earlier_server(tmp_path: Path) -> None:
    journal = await Journal.open(tmp_path / "j.db")
    await journal.cache_upload("abc", "image", 7)
    await journal.cache_masks("media:1", 1, {"person": "9"})
    await journal.aclose()
    fresh = await Journal.open(tmp_path / "j.db", reuse_cached_ids=False)
    try:
        assert await fresh.cached_upload("abc", "image") is None
        assert await fresh.cached_masks("media:1", 1) is None
    finally:
        await fresh.aclose()
    reused = await Journal.open(tmp_path / "j.db")
    try:
        assert await reused.cached_upload("abc", "image") == 7
    finally:
        await reused.aclose()


def test_batch_and_jobs_use_no_private_client_members() -> None:
    for name in ("_batch.py", "_jobs.py"):
        source = (PACKAGE / name).read_text()
        assert not re.findall(r"client\._", source), name


def test_each_generation_path_is_written_once_outside_the_emulator() -> None:
    sources = [
        p.read_text()
        for p in PACKAGE.rglob("*.py")
        if "emulator" not in p.relative_to(PACKAGE).parts
    ]
    written = re.findall(r"/(?:video|image)/[a-z_]+/generate", "\n".join(sources))
    assert written, "the check must see the table's paths"
    twice = {path for path in written if written.count(path) > 1}
    assert not twice
    assert len(set(written)) == len({e.path for e in ENDPOINTS.values()})
