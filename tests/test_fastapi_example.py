"""examples/fastapi_service.py served by uvicorn (a real process on a loopback port).

The emulator runs in the test; its webhooks go to the service, which awaits each remix's
result. Concurrent ``POST /remix`` calls all return URLs, and the service shuts down cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import anyio
import pytest

from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Uniform, WebhookConfig

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(120)]

ROOT = Path(__file__).parent.parent
CLIP = ROOT / "examples" / "media" / "beach.mp4"
KEY = "pv-fastapi-example-key-01"
SECRET = "whsec-fastapi-example"
REMIXES = 12


@contextmanager
def loopback_socket() -> Iterator[socket.socket]:
    """A bound loopback socket handed to uvicorn (``--fd``): no race for the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.set_inheritable(True)
    try:
        yield sock
    finally:
        sock.close()


@contextmanager
def service(
    sock: socket.socket, base_url: str, *, secret: str | None
) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "PIXVERSE_API_KEY": KEY,
        "PIXVERSE_BASE_URL": base_url,
        "REMIX_POLL_INTERVAL": "0.05",
        "REMIX_TIMEOUT": "30",
        "PYTHONWARNINGS": "default",  # show ResourceWarnings (unclosed sessions) on stderr
    }
    env.pop("PIXVERSE_WEBHOOK_SECRET", None)
    if secret:
        env["PIXVERSE_WEBHOOK_SECRET"] = secret
    fd = sock.fileno()
    command = [sys.executable, "-m", "uvicorn", "examples.fastapi_service:app", "--fd", str(fd)]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        pass_fds=(fd,),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


async def until_ready(http: aiohttp.ClientSession, origin: str) -> None:
    for _ in range(300):
        try:
            async with http.get(origin + "/openapi.json") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("the service did not start")


def stop(process: subprocess.Popen[str]) -> str:
    """Ctrl-C the service; return its stderr after checking it exited cleanly."""
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Application shutdown complete" in stderr, stderr
    for bad in ("Unclosed", "unclosed", "Traceback", "Task was destroyed"):
        assert bad not in stderr, stderr
    return stderr


async def remix_upload(http: aiohttp.ClientSession, origin: str, prompt: str) -> dict[str, object]:
    form = aiohttp.FormData()
    form.add_field("prompt", prompt)
    form.add_field("video", CLIP.read_bytes(), filename=CLIP.name, content_type="video/mp4")
    async with http.post(origin + "/remix", data=form) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def remix_id(http: aiohttp.ClientSession, origin: str, video_id: int) -> dict[str, object]:
    form = aiohttp.FormData()
    form.add_field("prompt", f"restyle video {video_id} as claymation")
    form.add_field("video_id", str(video_id))
    async with http.post(origin + "/remix", data=form) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_concurrent_remixes_over_http(mode: str) -> None:
    with loopback_socket() as sock:
        origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        hooks = (WebhookConfig(1, origin + "/pixverse/webhook", SECRET, default=True),)
        account = AccountConfig(
            api_key=KEY,
            concurrency=4,
            credit_package=10**7,
            webhooks=hooks if mode == "webhook" else (),
        )
        config = EmulatorConfig(accounts=(account,), job_duration=Uniform(0.2, 0.5), seed=3)
        async with Emulator(config) as emu, aiohttp.ClientSession() as http:
            secret = SECRET if mode == "webhook" else None
            with service(sock, emu.base_url, secret=secret) as process:
                await exercise(http, origin, emu, mode)
                await anyio.to_thread.run_sync(stop, process)


async def exercise(http: aiohttp.ClientSession, origin: str, emu: Emulator, mode: str) -> None:
    await until_ready(http, origin)
    first = await remix_upload(http, origin, "turn it into a watercolor painting")
    assert first["status"] == "succeeded" and str(first["url"]).startswith("http")

    # more remixes than generation slots: the service's one client queues them
    uploads = [remix_upload(http, origin, f"take {i}") for i in range(REMIXES // 2)]
    edits = [remix_id(http, origin, int(str(first["video_id"]))) for _ in uploads]
    answers = await asyncio.gather(*uploads, *edits)
    ids = {a["video_id"] for a in answers}
    assert len(ids) == REMIXES and all(str(a["url"]).startswith("http") for a in answers)

    async with http.get(f"{origin}/jobs/{first['video_id']}") as response:
        assert response.status == 200
        job = await response.json()
    assert job == {
        "video_id": first["video_id"],
        "status": "succeeded",
        "url": first["url"],
    }

    # bad input is refused before anything reaches PixVerse
    before = emu.stats()["requests_total"]
    async with http.post(origin + "/remix", data={"prompt": "no video"}) as response:
        assert response.status == 422
    async with http.get(origin + "/jobs/999999999") as response:
        assert response.status == 404
    assert emu.stats()["requests_total"] == before + 1  # only the GET of job 999999999

    stats = emu.stats()
    assert stats["jobs_created"] == REMIXES + 1
    assert max(stats["max_concurrent_observed"].values()) <= 4
    if mode == "webhook":  # results came by webhook; the few polls are the two GETs
        # above and the slot limiter's re-poll of held jobs when it meets a 500044
        assert stats["status_polls"] <= REMIXES // 2, stats["status_polls"]
    else:
        assert stats["status_polls"] >= REMIXES
