"""Quickstart: one modify job, from upload to download, against the built-in emulator.

    python3 examples/quickstart.py

Against the real API, drop the emulator and build the client with your key:
``AsyncPixVerse()`` reads ``PIXVERSE_API_KEY``.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from pixverse_async import AsyncPixVerse, PollPolicy
from pixverse_async.emulator import Emulator, EmulatorConfig, Fixed, make_mp4, make_png


async def main() -> None:
    # the emulator's jobs take 0.5 s, so poll faster than the real API's 3-5 s
    async with (
        Emulator(EmulatorConfig(job_duration=Fixed(0.5))) as emu,
        AsyncPixVerse(emu.api_key, base_url=emu.base_url, poll=PollPolicy(interval=0.2)) as client,
    ):
        # the generated inputs and the download live in a folder removed at the end
        with tempfile.TemporaryDirectory(prefix="pixverse-quickstart-") as tmp:
            folder = Path(tmp)
            clip, face = folder / "clip.mp4", folder / "face.png"
            clip.write_bytes(make_mp4(6.0, 1280, 720))
            face.write_bytes(make_png(512, 512))

            video = await client.media.upload_media(clip)
            image = await client.media.upload_image(face)
            masks = await client.video.mask_selection(video_media_id=video.media_id)
            person = next(m for m in masks.mask_info if m.mask_name == "person")

            job = await client.video.modify(
                video_media_id=video.media_id,
                prompt="@selection0 is swapped with @img0, golden hour light",
                mask_ids=[person.mask_id],
                img_ids=[image.img_id],
                keyframe_id=masks.keyframe_id,
                quality="540p",
            )
            print(f"submitted video {job.id} ({job.credits} credits)")
            result = await job.wait(timeout=600)
            print(f"status {result.status}: {result.url}")
            path = await client.download(result, folder / "remix.mp4")
            print(f"downloaded {path.name} ({path.stat().st_size:,} bytes; removed on exit)")
        balance = await client.account.balance()
        print(f"credits left: {balance.credit_monthly:,} monthly + {balance.credit_package:,}")


if __name__ == "__main__":
    asyncio.run(main())
