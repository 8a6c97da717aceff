"""The modify round trip a user runs first: upload, submit, poll, download."""

from __future__ import annotations

import pytest

from pixverse_async.emulator import Emulator

from ..conftest import Raw

pytestmark = pytest.mark.anyio


async def test_modify_round_trip(raw: Raw, emu: Emulator) -> None:
    media_id = await raw.upload_video(7.2, 1280, 720)
    resp = await raw.ok(
        "/video/modify/generate",
        {"video_media_id": media_id, "prompt": "make it snow", "quality": "540p"},
    )
    assert resp["credits"] == 80  # reference 11.7: ceil(7.2) s x 10
    assert 2**53 < resp["video_id"] < 2**63
    done = await raw.wait(resp["video_id"])
    assert done["status"] == 1
    assert (done["outputWidth"], done["outputHeight"]) == (960, 540)
    async with raw.session.get(done["url"]) as r:
        body = await r.read()
    assert r.status == 200 and len(body) == done["size"]
    assert body[4:8] == b"ftyp"
    stats = await raw.stats()
    assert stats["jobs_created"] == 1 and stats["credits_charged"] == 80
    assert stats["duplicate_generations"] == 0
