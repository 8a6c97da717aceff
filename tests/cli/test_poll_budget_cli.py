"""``--max-polls-per-second`` and the summary rows that say when status polling held a batch
back (a ceiling that binds, a server that answers HTTP 429)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .test_batch_cli import KEY, emulator_process, run_cli, t2v, write_jobs

pytestmark = pytest.mark.anyio


async def test_a_binding_ceiling_is_named_in_the_summary(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, [t2v(f"job-{i}", f"take {i}") for i in range(8)])
    code, out, err = await run_cli(
        "batch",
        "run",
        str(jobs),
        "--emulator",
        "--poll-interval",
        "0.05",
        "--max-polls-per-second",
        "4",
        cwd=tmp_path,
    )
    assert code == 0, out + err
    assert "status polls sent over an interval late" in out, out
    assert "raise --max-polls-per-second" in out, out
    assert "rate-limit answers" not in out, out


async def test_without_a_ceiling_nothing_about_polls_is_shown(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, [t2v(f"job-{i}", f"take {i}") for i in range(8)])
    code, out, err = await run_cli(
        "batch", "run", str(jobs), "--emulator", "--poll-interval", "0.05", cwd=tmp_path
    )
    assert code == 0, out + err
    assert "status polls sent over an interval late" not in out, out
    assert "rate-limit answers" not in out, out


async def test_a_rate_limited_server_is_named_in_the_summary(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, [t2v(f"job-{i}", f"take {i}") for i in range(12)])
    async with emulator_process(
        "--job-seconds", "0.3", "--rate-limit", "6", "--retry-after", "0.05"
    ) as server:
        code, out, err = await run_cli(
            "batch",
            "run",
            str(jobs),
            "--base-url",
            server.base_url,
            "--api-key",
            KEY,
            "--poll-interval",
            "0.05",
            cwd=tmp_path,
        )
        refused = (await server.stats())["rate_limited"]
    assert code == 0, out + err
    assert refused > 0
    seen = re.search(r"rate-limit answers \(HTTP 429 / 500069\)\W+(\d+)", out)
    assert seen is not None, out
    assert 0 < int(seen.group(1)) <= refused, (seen.group(1), refused)
