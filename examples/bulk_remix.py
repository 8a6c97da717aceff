"""Bulk remix in code: one source clip, a face, many prompts, results as they finish.

Uploads the clip and the face once, asks for the ``person`` mask by name, fans out one modify
job per prompt through the generation-slot limiter, prints each outcome as it completes,
downloads every result, and resumes from its journal if run again.

    python examples/bulk_remix.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from pixverse_async import AsyncPixVerse, BatchItem, PollPolicy
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    LogNormal,
    make_mp4,
    make_png,
)

STYLES = [
    "golden hour light",
    "film noir, black and white",
    "watercolor painting",
    "cyberpunk neon",
    "claymation",
    "snowy winter morning",
    "underwater caustics",
    "80s VHS look",
]


async def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bulk-remix-"))
    (folder / "clip.mp4").write_bytes(make_mp4(6.0, 1280, 720))
    (folder / "face.png").write_bytes(make_png(512, 512))
    items = [
        BatchItem(
            "modify",
            {
                "video_media_id": "clip.mp4",  # a local file: uploaded once, by content hash
                "img_ids": ["face.png"],
                "mask_names": ["person"],  # mask selection runs once for the clip
                "prompt": f"@selection0 is swapped with @img0, {style}, take {take}",
                "quality": "540p",
            },
            key=f"{style.split(',')[0].replace(' ', '-')}-{take}",
        )
        for style in STYLES
        for take in range(5)
    ]
    account = AccountConfig(api_key="pv-example-key-000000000", concurrency=8)
    config = EmulatorConfig(accounts=(account,), job_duration=LogNormal(0.6, 0.3), seed=7)
    async with (
        Emulator(config) as emu,
        AsyncPixVerse(
            account.api_key, base_url=emu.base_url, poll=PollPolicy(interval=0.2)
        ) as client,
    ):
        started = time.monotonic()
        async with client.batch(
            items,
            base_dir=folder,
            journal=folder / "remix.journal.db",
            download_dir=folder / "out",
        ) as batch:
            async for outcome in batch:  # as each job ends
                status = (
                    f"saved {outcome.path.name}" if outcome.ok and outcome.path else outcome.error
                )
                print(f"{outcome.key:<28} {status}")
        summary = batch.summary
        limiter = client.limiter.statistics() if client.limiter else None
        print(
            f"\n{summary.succeeded} succeeded, {summary.failed} failed in "
            f"{time.monotonic() - started:.1f} s; {summary.credits} credits; "
            f"learned limit {limiter.limit if limiter else '-'}, 500044s {summary.throttled}"
        )
        print(f"outputs in {folder / 'out'}")


if __name__ == "__main__":
    asyncio.run(main())
