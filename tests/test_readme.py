"""(Issue 12, part 3) The README's emulator recipes run as written, on a fresh machine.

A fresh machine has Python (the README installs the package with it) but may lack
``uuidgen``: the curl recipe makes its ``Ai-trace-id`` values with ``python3``. The recipe is
read from README.md itself, so an edit that breaks it fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import uuid
from pathlib import Path

import anyio
import pytest

from pixverse_async.emulator import Emulator, EmulatorConfig, Fixed

pytestmark = pytest.mark.anyio

README = Path(__file__).parent.parent / "README.md"
#: where the README's recipes expect the emulator (``pixverse-async emulator --port 8080``)
RECIPE_ORIGIN = "http://127.0.0.1:8080"
FAULTS_ORIGIN = "localhost:8080"
BASH = shutil.which("bash")
CURL = shutil.which("curl")


def shell_blocks() -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```", README.read_text(), re.DOTALL | re.MULTILINE)


def curl_recipe() -> tuple[list[str], list[str]]:
    """The modify round trip with curl: (set-up lines, curl commands with continuations joined)."""
    (block,) = [b for b in shell_blocks() if "/media/upload" in b and "Ai-trace-id" in b]
    lines = block.replace("\\\n", " ").splitlines()
    setup = [line for line in lines if not line.startswith("curl ")]
    return setup, [line for line in lines if line.startswith("curl ")]


def python_only_path(folder: Path) -> Path:
    """A folder whose only command is ``python3`` (this test run's interpreter)."""
    folder.mkdir()
    python3 = folder / "python3"
    python3.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python3.chmod(0o755)
    return folder


async def bash(script: str, *, path: str, cwd: Path) -> str:
    assert BASH is not None
    done = await anyio.run_process(
        [BASH, "-c", "set -eu -o pipefail\n" + script],
        cwd=cwd,
        env={"PATH": path, "HOME": str(cwd)},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert not done.stderr, done.stderr.decode()  # e.g. "uuidgen: command not found"
    return done.stdout.decode()


@pytest.mark.skipif(BASH is None, reason="the recipes are bash")
async def test_curl_recipe_trace_ids_need_nothing_but_python(tmp_path: Path) -> None:
    setup, commands = curl_recipe()
    traces = {m for c in commands for m in re.findall(r'"Ai-trace-id: (\$\(.*?\))"', c)}
    assert len(traces) == 1, traces  # every request makes its trace id the same way
    (trace,) = traces
    only_python = python_only_path(tmp_path / "bin")
    out = await bash(
        "\n".join([*setup, f'echo "{trace}"', f'echo "{trace}"']),
        path=str(only_python),
        cwd=tmp_path,
    )
    first, second = out.split()
    assert uuid.UUID(first) != uuid.UUID(second)  # a fresh, well-formed id each time
    assert (tmp_path / "clip.mp4").stat().st_size > 0  # the set-up's clip, made by python3


@pytest.mark.skipif(BASH is None or CURL is None, reason="the recipe is bash and curl")
async def test_curl_recipe_round_trip_against_the_emulator(tmp_path: Path) -> None:
    setup, commands = curl_recipe()
    upload, generate, result = commands
    assert RECIPE_ORIGIN in setup[0]
    assert CURL is not None
    path = f"{python_only_path(tmp_path / 'bin')}:{Path(CURL).parent}"
    config = EmulatorConfig(job_duration=Fixed(0.05))
    async with Emulator(config) as emu:
        prelude = "\n".join(setup).replace(RECIPE_ORIGIN, emu.origin)

        async def call(command: str) -> dict[str, object]:
            doc = json.loads(await bash(f"{prelude}\n{command}", path=path, cwd=tmp_path))
            assert doc["ErrCode"] == 0, doc
            response = doc["Resp"]
            assert isinstance(response, dict)
            return response

        media_id = (await call(upload))["media_id"]
        video_id = (await call(generate.replace("MEDIA_ID", str(media_id))))["video_id"]
        assert emu.stats()["jobs_created"] == 1
        status = None
        for _ in range(200):  # the job takes 0.05 s
            status = (await call(result.replace("VIDEO_ID", str(video_id))))["status"]
            if status != 5:
                break
            await anyio.sleep(0.02)
        assert status == 1

        # the faults recipe, against the same emulator
        (faults,) = [b for b in shell_blocks() if "/_emulator/faults" in b]
        plan = json.loads(
            await bash(faults.replace(FAULTS_ORIGIN, emu.origin), path=path, cwd=tmp_path)
        )
        assert plan["failure_rate"] == 0.05
        assert [rule["kind"] for rule in plan["rules"]] == ["accepted_then_lost"]
