"""(Issue 12, part 1) Downloaded results are created with the process's umask, like any file
the user's programs write: 0644 under the usual 022, not the 0600 of a bare temporary file.

Each case runs in a child process with its own umask, so the test process's umask (shared by
every thread of the test run) is never changed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent(
    """
    import asyncio, json, os, stat, sys
    from pathlib import Path

    from pixverse_async import AsyncPixVerse, BatchItem, PollPolicy
    from pixverse_async.emulator import Emulator, EmulatorConfig, Fixed

    async def main(folder: Path) -> dict[str, object]:
        config = EmulatorConfig(job_duration=Fixed(0.05))
        poll = PollPolicy(interval=0.02)
        async with (
            Emulator(config) as emu,
            AsyncPixVerse(emu.api_key, base_url=emu.base_url, poll=poll) as client,
        ):
            job = await client.video.text_to_video(
                prompt="a fox in the snow",
                model="v5",
                duration=5,
                quality="540p",
                aspect_ratio="16:9",
            )
            result = await job.wait(timeout=30)
            single = await client.download(result, folder / "single" / "fox.mp4")
            replaced = await client.download(result, single)  # over an existing file
            items = [
                BatchItem(
                    "text_to_video",
                    {
                        "prompt": "a cat",
                        "model": "v5",
                        "duration": 5,
                        "quality": "540p",
                        "aspect_ratio": "16:9",
                    },
                    key="cat",
                )
            ]
            # the batch engine's download_dir (the CLI's `batch run --out DIR`)
            async with client.batch(items, download_dir=folder / "out") as batch:
                outcomes = [o async for o in batch]
        assert outcomes and all(o.ok and o.path for o in outcomes), outcomes
        files = [single, replaced, *(o.path for o in outcomes)]
        return {
            "modes": [oct(stat.S_IMODE(p.stat().st_mode)) for p in files],
            "leftovers": sorted(
                str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith(".part")
            ),
        }

    os.umask(int(sys.argv[1], 8))
    print(json.dumps(asyncio.run(main(Path(sys.argv[2])))))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
@pytest.mark.parametrize(("umask", "mode"), [("022", "0o644"), ("027", "0o640"), ("002", "0o664")])
def test_downloads_get_the_umask_mode(umask: str, mode: str, tmp_path: object) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, umask, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["modes"] == [mode, mode, mode]  # client.download, overwrite, batch download_dir
    assert report["leftovers"] == []  # the write stays atomic: no temporary file left
