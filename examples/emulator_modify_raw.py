"""A modify job against the built-in emulator, with plain aiohttp (no SDK client).

Starts an emulator in-process, uploads a generated 6 s clip, asks for its masks, swaps the
person for an uploaded image, polls until done and downloads the result.

    python3 examples/emulator_modify_raw.py
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from pixverse_async.emulator import Emulator, EmulatorConfig, Fixed, make_mp4, make_png


async def main() -> None:
    async with (
        Emulator(EmulatorConfig(job_duration=Fixed(0.3))) as emu,
        aiohttp.ClientSession() as http,
    ):

        def headers() -> dict[str, str]:
            # a fresh Ai-trace-id per logical request; reuse it only to retry that request
            return {"API-KEY": emu.api_key, "Ai-trace-id": str(uuid.uuid4())}

        async def call(method: str, path: str, **kwargs: Any) -> Any:
            async with http.request(method, emu.base_url + path, headers=headers(), **kwargs) as r:
                doc = await r.json(content_type=None)
            if doc.get("ErrCode", doc.get("err_code")) != 0:
                raise RuntimeError(f"{path}: {doc}")
            return doc["Resp"]

        video = aiohttp.FormData()
        video.add_field(
            "file", make_mp4(6.0, 1280, 720), filename="clip.mp4", content_type="video/mp4"
        )
        media_id = (await call("POST", "/media/upload", data=video))["media_id"]

        image = aiohttp.FormData()
        image.add_field("image", make_png(512, 512), filename="hero.png", content_type="image/png")
        img_id = (await call("POST", "/image/upload", data=image))["img_id"]

        masks = await call("POST", "/video/mask/selection", json={"video_media_id": media_id})
        person = next(m for m in masks["mask_info"] if m["mask_name"] == "person")

        job = await call(
            "POST",
            "/video/modify/generate",
            json={
                "video_media_id": media_id,
                "prompt": "@selection0 is swapped with @img0",
                "mask_ids": [person["mask_id"]],
                "img_ids": [img_id],
                "keyframe_id": masks["keyframe_id"],
                "quality": "540p",
            },
        )
        print(f"submitted video {job['video_id']} for {job['credits']} credits")

        for _ in range(100):  # poll every 0.1 s, for 10 s at most
            result = await call("GET", f"/video/result/{job['video_id']}")
            if result["status"] != 5:
                break
            await asyncio.sleep(0.1)
        print(f"status {result['status']}: {result['url']} ({result['size']:,} bytes)")

        async with http.get(result["url"]) as r:
            data = await r.read()
        print(f"downloaded {len(data):,} bytes; balance: {await call('GET', '/account/balance')}")


if __name__ == "__main__":
    asyncio.run(main())
