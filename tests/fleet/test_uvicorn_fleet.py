"""(Issue "Many workers, one account", part 6) ``uvicorn examples.fastapi_service:app
--workers 4`` sharing one account through Redis (``PIXVERSE_REDIS_URL``).

Four worker processes behind one socket, each with its own client: a remix may be submitted
by one worker while the emulator's webhook for it lands on another, which shares it through
Redis with the one waiting. The same 24 concurrent remixes run twice, polling and webhook
mode; in webhook mode the service must poll far less (< 10 % of the polling run's status
requests). Wall times are logged, never asserted (the benchmarks measure them).

Both runs use the same key and Redis (each a fresh emulator): the webhook run starts with the
limit the polling run learned, as a service that has been up a while does, so its few polls
are not the re-polls a 500044 causes while the fleet learns its limit (each 500044 re-polls
every job holding a slot, which would be a noisy share of a small number).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import anyio
import pytest

from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed, WebhookConfig

from .._redis_server import RedisServer
from ._fleet import ROOT, child_env

pytestmark = [pytest.mark.anyio]

logger = logging.getLogger(__name__)

CLIP = ROOT / "examples" / "media" / "beach.mp4"
KEY = "pv-fleet-uvicorn-key-0001"
SECRET = "whsec-fleet-uvicorn"
REMIXES = 24
POLL_INTERVAL = 0.02  # seconds between status requests of a polled job
WORKERS = 4
START_TIMEOUT = 30.0  # seconds for four uvicorn workers to come up
REQUEST_TIMEOUT = 40.0  # seconds one POST /remix may take (the service waits up to 30)


@contextlib.contextmanager
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


@contextlib.contextmanager
def service(
    sock: socket.socket, key: str, base_url: str, redis_url: str, *, webhooks: bool
) -> Iterator[subprocess.Popen[bytes]]:
    env = child_env(
        PIXVERSE_API_KEY=key,
        PIXVERSE_BASE_URL=base_url,
        PIXVERSE_REDIS_URL=redis_url,
        REMIX_POLL_INTERVAL=str(POLL_INTERVAL),
        REMIX_TIMEOUT="30",
    )
    if webhooks:
        env["PIXVERSE_WEBHOOK_SECRET"] = SECRET
    fd = sock.fileno()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "examples.fastapi_service:app",
        "--fd",
        str(fd),
        "--workers",
        str(WORKERS),
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        pass_fds=(fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its workers are its process group: killed together
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.communicate(timeout=10)


async def until_ready(http: aiohttp.ClientSession, origin: str, process: Any) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, "the service exited at start-up"
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(origin + "/openapi.json") as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise AssertionError("the service did not start")


async def remix(http: aiohttp.ClientSession, origin: str, prompt: str) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("prompt", prompt)
    form.add_field("video", CLIP.read_bytes(), filename=CLIP.name, content_type="video/mp4")
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with http.post(origin + "/remix", data=form, timeout=timeout) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def one_run(redis_url: str, *, webhooks: bool) -> tuple[dict[str, Any], float]:
    """24 concurrent remixes against a fresh emulator: its stats and the wall time."""
    key = KEY
    with loopback_socket() as sock:
        origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
        hooks = (WebhookConfig(1, origin + "/pixverse/webhook", SECRET, default=True),)
        account = AccountConfig(
            api_key=key, concurrency=4, credit_package=10**9, webhooks=hooks if webhooks else ()
        )
        config = EmulatorConfig(accounts=(account,), job_duration=Fixed(1.0), seed=9)
        async with Emulator(config) as emu, aiohttp.ClientSession() as http:
            with service(sock, key, emu.base_url, redis_url, webhooks=webhooks) as process:
                await until_ready(http, origin, process)
                started = time.monotonic()
                answers = await asyncio.gather(
                    *(remix(http, origin, f"make it watercolor, take {i}") for i in range(REMIXES))
                )
                wall = time.monotonic() - started
                await anyio.to_thread.run_sync(stop, process)
            stats = emu.stats()  # after the stop: every delivery's answer is counted
    assert len({a["video_id"] for a in answers}) == REMIXES, answers
    assert all(a["status"] == "succeeded" and str(a["url"]).startswith("http") for a in answers)
    assert stats["jobs_created"] == REMIXES
    assert stats["duplicate_generations"] == 0
    assert max(stats["max_concurrent_observed"].values()) <= 4
    return stats, wall


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the service (its process group); it must exit cleanly."""
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=20)
    text = stderr.decode(errors="replace")
    assert process.returncode == 0, text
    assert "Traceback" not in text, text


@pytest.mark.timeout(120)
async def test_uvicorn_workers_share_the_account(redis_server: RedisServer) -> None:
    polled, polled_wall = await one_run(redis_server.url, webhooks=False)
    hooked, hooked_wall = await one_run(redis_server.url, webhooks=True)
    logger.info(
        "uvicorn x%d, %d remixes: polling %.2f s (%s polls, 500044 %s), webhooks %.2f s "
        "(%s polls, 500044 %s, deliveries %s)",
        WORKERS,
        REMIXES,
        polled_wall,
        polled["status_polls"],
        polled["rejected_500044"],
        hooked_wall,
        hooked["status_polls"],
        hooked["rejected_500044"],
        hooked["webhook_deliveries_ok"],
    )
    assert hooked["webhook_deliveries_ok"] >= REMIXES
    assert hooked["status_polls"] < 0.1 * polled["status_polls"], (hooked, polled)
