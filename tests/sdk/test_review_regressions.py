"""Regressions found in review: uploads, poll scheduler, lifecycle under cancellation, secrets."""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pixverse_async import (
    APIConnectionError,
    APIError,
    AsyncPixVerse,
    ModerationError,
    PollPolicy,
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
    make_png,
)
from pixverse_async.webhooks import WebhookEvent

pytestmark = pytest.mark.anyio

KEY = "pv-review-regression-secret-key-31"
FAST_POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=32)
FAST_RETRY = RetryPolicy(max_retries=4, initial_backoff=0.001, max_backoff=0.01, max_elapsed=10)
T2V: dict[str, Any] = {"model": "v5", "duration": 5, "quality": "540p", "aspect_ratio": "16:9"}


def emulator(job_seconds: float) -> Emulator:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=2000),),
        job_duration=Fixed(job_seconds),
        seed=11,
    )
    return Emulator(config)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator(0.05) as e:
        yield e


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=FAST_POLL, retry=FAST_RETRY) as c:
        yield c


# -- uploads ----------------------------------------------------------------------------------


async def test_file_object_upload_is_retried_and_left_open(
    client: AsyncPixVerse, emu: Emulator, tmp_path: Path
) -> None:
    # aiohttp closes the file payloads it sends: the caller's file was closed after the first
    # attempt, so the retry failed with "ValueError: seek of closed file"
    path = tmp_path / "still.png"
    path.write_bytes(make_png(64, 48))
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.HTTP_503, count=1, path="/image/upload"),)))
    with path.open("rb") as f:
        uploaded = await client.media.upload_image(f)
        assert not f.closed  # the caller's file is theirs to close
    assert uploaded.img_id > 0
    assert emu.stats()["requests_total"] == 2  # one 503, one retry with the whole file


async def test_borrowed_session_raise_for_status_does_not_hide_errors(emu: Emulator) -> None:
    # a borrowed session with raise_for_status=True turned the HTTP 500 moderation envelope
    # into a connection error that was retried
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        AsyncPixVerse(KEY, base_url=emu.base_url, session=session, retry=FAST_RETRY) as client,
    ):
        before = emu.stats()["requests_total"]
        with pytest.raises(ModerationError) as info:
            await client.media.upload_image(make_png(32, 32), filename="emulator-moderate.png")
    assert info.value.code == 500052
    assert emu.stats()["requests_total"] - before == 1


# -- the poll scheduler -----------------------------------------------------------------------


async def test_poll_rate_below_one_per_second_still_polls(emu: Emulator) -> None:
    # the token bucket held at most max_rps tokens: below 1 it never had a whole one
    poll = PollPolicy(interval=0.02, jitter=0.0, first_poll=0.3, max_rps=0.5)
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=poll, retry=FAST_RETRY) as client:
        job = await client.video.text_to_video(prompt="slow poller", **T2V)
        result = await job.wait(timeout=3)
    assert result.status == 1


async def test_as_completed_stopping_early_does_not_strand_another() -> None:
    # both iterations shared one future per job handle; the one that stopped early cancelled
    # it, and the other never saw those jobs end
    async with (
        emulator(0.3) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=FAST_POLL, retry=FAST_RETRY) as client,
    ):
        jobs = [await client.video.text_to_video(prompt=f"p{i}", **T2V) for i in range(2)]

        async def impatient() -> None:
            with anyio.move_on_after(0.05):
                async for _ in client.as_completed(jobs):
                    pass

        async def patient() -> list[Any]:
            return [job async for job in client.as_completed(jobs, timeout=5)]

        _, seen = await asyncio.gather(impatient(), patient())
    assert sorted(job.id for job in seen) == sorted(job.id for job in jobs)
    assert all(job.result().status == 1 for job in seen)


async def test_as_completed_closed_early_tolerates_late_arrivals(client: AsyncPixVerse) -> None:
    # a job ending after the iteration closed, before its callback ran, sent into a closed
    # stream: "Exception in callback ... ClosedResourceError"
    loop = asyncio.get_running_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _, context: errors.append(context))
    try:
        jobs = [
            await client.video.text_to_video(prompt=f"[emulator:stuck] {i}", **T2V)
            for i in range(2)
        ]
        iteration = client.as_completed(jobs, timeout=5)
        first = asyncio.ensure_future(iteration.__anext__())
        await asyncio.sleep(0.01)  # both jobs are watched
        client.resolve_webhook(WebhookEvent(id=jobs[0].id, status=1))
        assert await first == jobs[0]
        client.resolve_webhook(
            WebhookEvent(id=jobs[1].id, status=1)
        )  # its callback is scheduled...
        await iteration.aclose()  # ...and runs after the iteration closed
        await asyncio.sleep(0.01)
    finally:
        loop.set_exception_handler(None)
    assert errors == []


async def test_finished_jobs_are_not_kept_by_the_scheduler(
    client: AsyncPixVerse, emu: Emulator
) -> None:
    # every job ever watched stayed in the scheduler (with its last snapshot) for the client's
    # lifetime
    jobs = [await client.video.text_to_video(prompt=f"job {i}", **T2V) for i in range(20)]
    results = await client.wait_all(jobs, timeout=5)
    assert all(r.status == 1 for r in results)
    assert client._poller._watches == {}  # white box: ended watches are forgotten
    polls = emu.stats()["status_polls"]
    again = await jobs[0].wait(timeout=1)  # the handle remembers its outcome
    assert again.id == jobs[0].id and emu.stats()["status_polls"] == polls


# -- lifecycle under cancellation -------------------------------------------------------------


async def test_closing_through_a_cancelled_scope_still_closes_the_session(emu: Emulator) -> None:
    # aclose() was interrupted while stopping the poll scheduler, so the session stayed open
    with anyio.move_on_after(0.3):
        async with AsyncPixVerse(
            KEY, base_url=emu.base_url, poll=FAST_POLL, retry=FAST_RETRY
        ) as client:
            session = client._transport.session  # type: ignore[attr-defined]
            job = await client.video.text_to_video(prompt="[emulator:stuck]", **T2V)
            await job.wait()
    assert client.closed
    assert session.closed


async def test_cancelled_download_leaves_no_temp_file(tmp_path: Path) -> None:
    # the cleanup in ``finally`` awaited in a cancelled scope and was itself cancelled
    async def slow_file(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"x" * 100)
        await asyncio.sleep(10)
        return response

    app = web.Application()
    app.router.add_get("/file.mp4", slow_file)
    async with (
        TestServer(app) as server,
        AsyncPixVerse(KEY, base_url=str(server.make_url("/openapi/v2"))) as client,
    ):
        with anyio.move_on_after(0.2) as scope:
            await client.download(str(server.make_url("/file.mp4")), tmp_path / "out.mp4")
    assert scope.cancelled_caught
    assert [p async for p in anyio.Path(tmp_path).iterdir()] == []


# -- the API key ------------------------------------------------------------------------------


async def test_api_key_not_in_traceback_locals() -> None:
    # the failed request's headers are a local of the frame that raised: a traceback with
    # locals (pytest --showlocals, rich, error reporters) printed the key
    client = AsyncPixVerse(
        KEY, base_url="http://127.0.0.1:9/openapi/v2", retry=RetryPolicy(max_retries=0)
    )
    try:
        with pytest.raises(APIConnectionError) as info:
            await client.account.balance()
    finally:
        await client.aclose()
    shown = traceback.TracebackException.from_exception(info.value, capture_locals=True)
    text = "".join(shown.format())
    assert "headers" in text and KEY not in text
    assert KEY not in repr(vars(client)) and KEY not in repr(vars(client._transport))  # type: ignore[attr-defined]


async def test_redirects_are_not_followed_with_the_key() -> None:
    # aiohttp followed redirects and forwarded API-KEY to whatever host they named
    seen: list[str | None] = []

    async def elsewhere(request: web.Request) -> web.Response:
        seen.append(request.headers.get("API-KEY"))
        return web.json_response({"ErrCode": 0, "ErrMsg": "success", "Resp": {}})

    other = web.Application()
    other.router.add_route("*", "/{tail:.*}", elsewhere)
    async with TestServer(other, host="127.0.0.1") as other_server:
        target = str(other_server.make_url("/steal")).replace("127.0.0.1", "localhost")

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(target)

        api = web.Application()
        api.router.add_route("*", "/{tail:.*}", redirect)
        async with TestServer(api, host="127.0.0.1") as api_server:
            base_url = str(api_server.make_url("/openapi/v2"))
            async with AsyncPixVerse(KEY, base_url=base_url, retry=FAST_RETRY) as client:
                with pytest.raises(APIError) as info:
                    await client.account.balance()
    assert info.value.http_status == 302
    assert seen == []


def test_500041_is_not_retried() -> None:
    """Reference 10.2 lists 500069/500100/99999 as retryable, not 500041 (URL fetch failed)."""
    from pixverse_async._exceptions import ServerError
    from pixverse_async._retry import is_retryable

    assert not is_retryable(ServerError("fetch failed", code=500041))
    assert is_retryable(ServerError("db", code=500100))


def test_job_ids_must_be_ints() -> None:
    from pixverse_async import AsyncPixVerse, RequestValidationError

    client = AsyncPixVerse("pv-some-key-for-this-test")
    with pytest.raises(RequestValidationError, match="video_id"):
        client.video_job(9007199254740993.0)  # type: ignore[arg-type]
    assert client.video_job(9007199254740993).id == 9007199254740993


def test_created_job_without_an_id_is_a_clear_server_error() -> None:
    from pixverse_async._exceptions import ServerError
    from pixverse_async._submit import created_id

    with pytest.raises(ServerError) as info:
        created_id({"credits": 5}, "video_id", "trace-42")
    assert info.value.trace_id == "trace-42" and "video_id" in str(info.value)
