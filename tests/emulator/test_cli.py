"""``python -m pixverse_async emulator``: start-up output, a round trip, Ctrl-C, bad options."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from pixverse_async.cli import main
from pixverse_async.emulator import DEMO_API_KEY, make_mp4

pytestmark = pytest.mark.anyio

START_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@dataclass
class Cli:
    proc: asyncio.subprocess.Process
    lines: list[str]
    base_url: str


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pixverse_async", *args]


async def run_cli(*args: str, timeout: float = START_TIMEOUT) -> tuple[int, str, str]:
    """Run the CLI to completion; returns (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *_command(*args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@contextlib.asynccontextmanager
async def running(*args: str) -> AsyncIterator[Cli]:
    """Start ``emulator --port 0 ARGS``; wait for its start-up lines; kill it at the end."""
    proc = await asyncio.create_subprocess_exec(
        *_command("emulator", "--port", "0", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        base_url = ""

        async def read_start() -> None:
            nonlocal base_url
            while not any(line.startswith("Stats:") for line in lines):
                raw = await proc.stdout.readline()  # type: ignore[union-attr]
                if not raw:
                    raise AssertionError(f"the emulator exited early: {lines}")
                line = raw.decode().rstrip("\n")
                lines.append(line)
                m = re.search(r"(http://\S+/openapi/v2)", line)
                if m:
                    base_url = m.group(1)

        await asyncio.wait_for(read_start(), START_TIMEOUT)
        assert base_url, lines
        yield Cli(proc, lines, base_url)
    finally:
        if proc.returncode is None:
            proc.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.communicate(), STOP_TIMEOUT)


async def interrupt(cli: Cli) -> tuple[int, str]:
    """Ctrl-C: returns the exit code and the rest of stdout."""
    cli.proc.send_signal(signal.SIGINT)
    out, _ = await asyncio.wait_for(cli.proc.communicate(), STOP_TIMEOUT)
    assert cli.proc.returncode is not None
    return cli.proc.returncode, out.decode()


async def test_prints_url_and_demo_key_serves_a_modify_round_trip_and_stops_on_ctrl_c() -> None:
    async with running("--job-seconds", "0.05", "--seed", "1", "--concurrency", "2") as cli:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/openapi/v2", cli.base_url)
        assert any(line == f"API key: {DEMO_API_KEY}" for line in cli.lines), cli.lines

        def headers() -> dict[str, str]:
            return {"API-KEY": DEMO_API_KEY, "Ai-trace-id": str(uuid.uuid4())}

        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout) as s:
            form = aiohttp.FormData()
            form.add_field(
                "file", make_mp4(7.2, 1280, 720), filename="clip.mp4", content_type="video/mp4"
            )
            async with s.post(cli.base_url + "/media/upload", data=form, headers=headers()) as r:
                upload = await r.json()
            assert upload["ErrCode"] == 0, upload
            body = {
                "video_media_id": upload["Resp"]["media_id"],
                "prompt": "make it snow",
                "quality": "540p",
            }
            async with s.post(
                cli.base_url + "/video/modify/generate", json=body, headers=headers()
            ) as r:
                created = await r.json()
            assert created["ErrCode"] == 0 and created["Resp"]["credits"] == 80, created
            video_id = created["Resp"]["video_id"]
            for _ in range(200):
                async with s.get(f"{cli.base_url}/video/result/{video_id}", headers=headers()) as r:
                    result = (await r.json())["Resp"]
                if result["status"] != 5:
                    break
                await asyncio.sleep(0.01)
            assert result["status"] == 1 and result["url"]
            origin = cli.base_url.removesuffix("/openapi/v2")
            async with s.get(origin + "/_emulator/stats") as r:
                stats = await r.json()
            assert stats["jobs_created"] == 1 and stats["credits_charged"] == 80

        code, rest = await interrupt(cli)
        assert code == 0
        assert "emulator stopped" in rest


async def test_api_key_option_is_redacted_in_the_output() -> None:
    key = "sk-cli-VERYSECRET-credential-9876"
    async with running("--api-key", key) as cli:
        out = "\n".join(cli.lines)
        assert key not in out and "VERYSECRET" not in out
        assert "9876" in out  # a recognisable hint, not the key
        headers = {"API-KEY": key, "Ai-trace-id": str(uuid.uuid4())}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as s,
            s.get(cli.base_url + "/account/balance", headers=headers) as r,
        ):
            doc = await r.json()
        assert doc["ErrCode"] == 0  # the key given is the key accepted
        code, rest = await interrupt(cli)
        assert code == 0 and key not in rest


async def test_sigterm_also_stops_cleanly() -> None:
    async with running() as cli:
        cli.proc.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(cli.proc.communicate(), STOP_TIMEOUT)
        assert cli.proc.returncode == 0 and "emulator stopped" in out.decode()


async def test_bad_option_exits_2_from_a_real_process() -> None:
    code, out, err = await run_cli("emulator", "--port", "0", "--fault", "nope")
    assert code == 2
    assert "invalid fault 'nope'" in err and "usage:" in err
    for kind in ("reset", "accepted_then_lost", "http_502", "busy", "slow"):
        assert kind in err
    assert "listening" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--job-seconds", "soon"], "invalid duration 'soon'"),
        (["--job-seconds", "0.2-x"], "invalid duration '0.2-x'"),
        (["--job-seconds", "lognormal:0"], "median must be positive"),
        (["--job-seconds", "nan"], "finite"),
        (["--latency", "-1"], "must not be negative"),
        (["--fault", "nope"], "invalid fault 'nope'"),
        (["--fault", "reset:often"], "invalid fault 'reset:often'"),
        (["--port", "eighty"], "invalid int value"),
    ],
)
def test_bad_options_exit_2_with_a_clear_message(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["emulator", "--port", "0", *args])
    assert exc.value.code == 2
    out, err = capsys.readouterr()
    assert message in err and "usage:" in err
    assert out == ""


async def test_help_from_a_real_process() -> None:
    code, out, err = await run_cli("emulator", "--help")
    assert code == 0 and err == ""
    assert out.startswith("usage: pixverse-async emulator")
    for option in ("--port", "--api-key", "--job-seconds", "--fault", "--concurrency"):
        assert option in out


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "usage: pixverse-async" in out and "emulator" in out
