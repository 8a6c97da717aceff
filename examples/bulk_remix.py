"""Bulk remix in code: one source clip, a face, many prompts, results as they finish.

Uploads the clip and the face once, asks for the ``person`` mask by name, fans out one modify
job per prompt through the generation-slot limiter, prints each outcome as it completes, and
downloads every result.

Run it again and it resumes from its journal: every job that finished is skipped (nothing is
submitted twice) and its result is kept. The journal and the results stay in one folder per
user, ``<temp dir>/pixverse-bulk-remix-<user>`` (``$BULK_REMIX_DIR`` moves it), which the
example prints at start; delete that folder to start over. Nothing else is left behind: the
generated clip and face live in a temporary folder removed at the end.

    python3 examples/bulk_remix.py
"""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
import tempfile
import time
from pathlib import Path

from pixverse_async import AsyncPixVerse, BatchItem, Journal, PollPolicy
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


def state_folder() -> Path:
    """The folder kept between runs (the journal and the results), created if missing."""
    if os.environ.get("BULK_REMIX_DIR"):
        folder = Path(os.environ["BULK_REMIX_DIR"])
    else:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no user name (e.g. a container without a passwd entry)
            user = str(os.getuid()) if hasattr(os, "getuid") else "user"
        folder = Path(tempfile.gettempdir()) / f"pixverse-bulk-remix-{user}"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    # the system temp dir is shared: never use (or trust a journal in) another user's folder
    if hasattr(os, "getuid") and folder.stat().st_uid != os.getuid():
        sys.exit(f"{folder} belongs to another user: set BULK_REMIX_DIR to a folder of yours")
    return folder


async def main() -> None:
    folder = state_folder()
    print(f"journal {folder / 'remix.journal.db'}; results in {folder / 'out'}")
    with tempfile.TemporaryDirectory(prefix="bulk-remix-media-") as media:
        await remix(folder, Path(media))


async def remix(folder: Path, media: Path) -> None:
    (media / "clip.mp4").write_bytes(make_mp4(6.0, 1280, 720))
    (media / "face.png").write_bytes(make_png(512, 512))
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
    # this run's emulator starts empty: upload and mask ids an earlier run cached name
    # nothing on it, so files are uploaded again (against the real API, keep the default)
    journal = await Journal.open(folder / "remix.journal.db", reuse_cached_ids=False)
    async with (
        journal,
        Emulator(config) as emu,
        AsyncPixVerse(
            account.api_key, base_url=emu.base_url, poll=PollPolicy(interval=0.2)
        ) as client,
    ):
        running = (await journal.summary())["accepted"]
        if running:  # an interrupted run: its jobs ran on that run's emulator, now gone
            sys.exit(
                f"{running} job(s) in {folder / 'remix.journal.db'} were still running when an "
                f"earlier run stopped, on its own emulator: delete {folder} to start over"
            )
        started = time.monotonic()
        async with client.batch(
            items, base_dir=media, journal=journal, download_dir=folder / "out"
        ) as batch:
            async for outcome in batch:  # as each job ends
                if outcome.ok and outcome.path:
                    status = f"saved {outcome.path.name}"
                else:
                    status = str(outcome.error)
                earlier = " (finished in an earlier run)" if outcome.resumed else ""
                print(f"{outcome.key:<28} {status}{earlier}")
        summary = batch.summary
        limiter = client.limiter.statistics() if client.limiter else None
        print(
            f"\n{summary.succeeded} succeeded ({summary.skipped} from the journal), "
            f"{summary.failed} failed in {time.monotonic() - started:.1f} s; "
            f"{emu.stats()['jobs_created']} jobs submitted, {summary.credits} credits; "
            f"learned limit {limiter.limit if limiter else '-'}, "
            f"concurrency-limit refusals (500044) {summary.throttled}"
        )
        print(f"outputs in {folder / 'out'}")


if __name__ == "__main__":
    asyncio.run(main())
