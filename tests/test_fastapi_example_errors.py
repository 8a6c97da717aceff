"""(Issue 12, part 4) examples/fastapi_service.py answers each error with the HTTP status its
type means: an unknown video is a 404 and bad input a 422, never a 502 (a PixVerse failure).

The service runs under uvicorn on a loopback port against an emulator in the test (polling:
no webhooks needed), as in tests/test_fastapi_example.py.
"""

from __future__ import annotations

import aiohttp
import anyio
import pytest

from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed

from .test_fastapi_example import KEY, loopback_socket, remix_upload, service, stop, until_ready

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

UNKNOWN = 999_999_999
BEYOND_INT64 = 2**70


async def remix_video_id(
    http: aiohttp.ClientSession, origin: str, video_id: object
) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("prompt", "restyle it as claymation")
    form.add_field("video_id", str(video_id))
    async with http.post(origin + "/remix", data=form) as response:
        return response.status, await response.text()


async def job(http: aiohttp.ClientSession, origin: str, video_id: object) -> tuple[int, str]:
    async with http.get(f"{origin}/jobs/{video_id}") as response:
        return response.status, await response.text()


async def test_unknown_and_invalid_video_ids_are_404_and_422() -> None:
    account = AccountConfig(api_key=KEY, concurrency=4, credit_package=10**6)
    config = EmulatorConfig(accounts=(account,), job_duration=Fixed(0.05), seed=12)
    with loopback_socket() as sock:
        origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        async with Emulator(config) as emu, aiohttp.ClientSession() as http:
            with service(sock, emu.base_url, secret=None) as process:
                await until_ready(http, origin)

                # an edit of a video PixVerse does not know: 404, and nothing is charged
                status, body = await remix_video_id(http, origin, UNKNOWN)
                assert status == 404, body
                assert f"no video {UNKNOWN}" in body
                assert emu.stats()["jobs_created"] == 0
                assert (await job(http, origin, UNKNOWN))[0] == 404

                # ids no video can have: refused before anything reaches PixVerse
                before = emu.stats()["requests_total"]
                for bad in (0, -3):
                    status, body = await remix_video_id(http, origin, bad)
                    assert status == 422, body
                    status, body = await job(http, origin, bad)
                    assert status == 422, body
                # beyond PixVerse's 64-bit ids: the SDK's request model refuses it
                status, body = await remix_video_id(http, origin, BEYOND_INT64)
                assert status == 422, body
                assert emu.stats()["requests_total"] == before

                # a real video still edits (the look-up runs only on the error path)
                first = await remix_upload(http, origin, "turn it into a watercolor painting")
                status, body = await remix_video_id(http, origin, first["video_id"])
                assert status == 200, body
                assert emu.stats()["jobs_created"] == 2
                await anyio.to_thread.run_sync(stop, process)
