"""``pixverse-async batch run`` / ``batch status`` in real subprocesses.

Most tests use ``--emulator`` (an in-process emulator that dies with the command). The
interruption tests that resume against the *same* server (SIGINT, and the issue's key test:
SIGKILL mid-run) start a separate ``pixverse-async emulator`` process and point the CLI at it
with ``--base-url``, so the emulator's ``/_emulator/stats`` can prove that nothing was
submitted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from pixverse_async import _pricing as pricing
from pixverse_async._journal import Journal, JournalError, JournalRecord, request_hash
from pixverse_async.cli import default_journal, main
from pixverse_async.emulator import make_mp4, make_png

from .._redis_server import RedisServer, free_port

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
RUN_TIMEOUT = 45.0
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
KEY = "pv-cli-batch-test-key-0042"


# -- helpers -----------------------------------------------------------------------------------


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pixverse_async", *args]


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_")}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", **extra)
    return env


async def run_cli(
    *args: str,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    argv: list[str] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> tuple[int, str, str]:
    """Run the CLI to completion: (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *(argv or command(*args)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env or child_env(),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@dataclass
class Running:
    """A CLI process being watched line by line."""

    proc: asyncio.subprocess.Process
    lines: list[str]

    async def read_until(self, done: Callable[[list[str]], bool], timeout: float) -> None:
        async def read() -> None:
            assert self.proc.stdout is not None
            while not done(self.lines):
                raw = await self.proc.stdout.readline()
                if not raw:
                    raise AssertionError("the process ended early:\n" + "\n".join(self.lines))
                self.lines.append(raw.decode().rstrip("\n"))

        await asyncio.wait_for(read(), timeout)

    async def rest(self, timeout: float = STOP_TIMEOUT) -> tuple[int, str]:
        """Wait for the exit: (exit code, every stdout line)."""
        out, _ = await asyncio.wait_for(self.proc.communicate(), timeout)
        assert self.proc.returncode is not None
        return self.proc.returncode, "\n".join(self.lines) + "\n" + out.decode()


@contextlib.asynccontextmanager
async def start(argv: list[str], *, cwd: Path, env: dict[str, str]) -> AsyncIterator[Running]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        cwd=cwd,
        env=env,
    )
    try:
        yield Running(proc, [])
    finally:
        if proc.returncode is None:
            proc.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.communicate(), STOP_TIMEOUT)


@dataclass
class Server:
    base_url: str
    origin: str

    async def stats(self) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as s,
            s.get(self.origin + "/_emulator/stats") as r,
        ):
            return dict(await r.json())

    async def set_faults(self, plan: dict[str, Any]) -> None:
        timeout = aiohttp.ClientTimeout(total=5)
        async with (
            aiohttp.ClientSession(timeout=timeout) as s,
            s.post(self.origin + "/_emulator/faults", json=plan) as r,
        ):
            assert r.status == 200, await r.text()

    async def wait_for(self, done: Callable[[dict[str, Any]], bool], timeout: float) -> None:
        async def poll() -> None:
            while True:  # the emulator is another process: polling is the only way to watch
                if done(await self.stats()):
                    return
                await asyncio.sleep(0.02)

        await asyncio.wait_for(poll(), timeout)


@contextlib.asynccontextmanager
async def emulator_process(*args: str) -> AsyncIterator[Server]:
    """A separate ``pixverse-async emulator`` (it outlives the CLI runs pointed at it)."""
    argv = command("emulator", "--port", "0", "--api-key", KEY, *args)
    async with start(argv, cwd=ROOT, env=child_env()) as emu:
        await emu.read_until(lambda lines: any(x.startswith("Stats:") for x in lines), 15)
        match = re.search(r"(http://\S+)/openapi/v2", "\n".join(emu.lines))
        assert match, emu.lines
        yield Server(match.group(0), match.group(1))


def value(out: str, label: str) -> str:
    """A row of the summary table (rich box drawing or plain text)."""
    match = re.search(rf"^\W+{re.escape(label)}[\s│|]+(\S+)", out, re.MULTILINE)
    assert match, f"no {label!r} row in:\n{out}"
    return match.group(1)


async def records(journal: Path) -> list[JournalRecord]:
    async with await Journal.open(journal) as j:
        return await j.records()


def write_media(folder: Path) -> None:
    (folder / "media").mkdir(exist_ok=True)
    (folder / "media" / "clip.mp4").write_bytes(make_mp4(5.0, 640, 360, size=20_000))
    (folder / "media" / "face.png").write_bytes(make_png(64, 64))


def modify(key: str, prompt: str) -> dict[str, Any]:
    return {
        "key": key,
        "kind": "modify",
        "params": {
            "video_media_id": "media/clip.mp4",
            "mask_names": ["person"],
            "img_ids": ["media/face.png"],
            "prompt": f"@selection0 is swapped with @img0, {prompt}",
            "quality": "540p",
        },
    }


def t2v(key: str, prompt: str, quality: str = "540p") -> dict[str, Any]:
    return {
        "key": key,
        "kind": "text_to_video",
        "params": {
            "prompt": prompt,
            "model": "v5",
            "duration": 5,
            "quality": quality,
            "aspect_ratio": "16:9",
        },
    }


def write_jobs(folder: Path, jobs: Iterable[dict[str, Any]], name: str = "jobs.jsonl") -> Path:
    write_media(folder)
    path = folder / name
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs))
    return path


def mixed_jobs(n_modify: int = 5) -> list[dict[str, Any]]:
    """Modify jobs on a local clip and face (mask by name), text-to-video, an upscale."""
    jobs = [modify(f"remix-{i}", f"style number {i}") for i in range(n_modify)]
    jobs += [t2v("t2v-0", "a lighthouse at dawn"), t2v("t2v-1", "a fox in the snow")]
    jobs.append({"key": "up", "kind": "upscale", "params": {"video_media_id": "media/clip.mp4"}})
    return jobs


def resume_argv(out: str) -> list[str]:
    """The command printed after "Resume with:", as an argv for this interpreter."""
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("Interrupted. Resume with:"))
    argv = shlex.split(lines[at + 1])
    assert argv[:3] == ["pixverse-async", "batch", "run"], argv
    return command(*argv[1:])


# -- batch run ---------------------------------------------------------------------------------


async def test_run_succeeds_writes_the_journal_and_downloads_then_a_rerun_skips_everything(
    tmp_path: Path,
) -> None:
    jobs = write_jobs(tmp_path, mixed_jobs())
    out_dir = tmp_path / "out"
    # run from another folder: local files are read relative to the JSONL, the journal lands
    # beside it
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator", "--out", str(out_dir))
    assert code == 0, out + err
    assert "Batch summary" in out and "All 8 jobs succeeded." in out
    assert value(out, "jobs") == "8" and value(out, "succeeded") == "8"
    assert value(out, "failed") == "0" and value(out, "skipped (done in the journal)") == "0"
    assert int(value(out, "credits spent")) > 0
    for key in ("remix-0", "remix-4", "t2v-1", "up"):
        assert re.search(rf"^ok\s+{key}\s", out, re.MULTILINE), out  # one line per item
    journal = tmp_path / "jobs.journal.db"
    assert default_journal(jobs) == journal and journal.is_file()
    first = await records(journal)
    assert {r.key for r in first} == {j["key"] for j in mixed_jobs()}
    assert all(r.state == "succeeded" and r.attempts >= 1 and r.video_id for r in first)
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(f"{r.key}.mp4" for r in first)

    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator", "--out", str(out_dir))
    assert code == 0, out + err
    assert "8 job(s) finished in an earlier run are skipped" in out
    assert value(out, "skipped (done in the journal)") == "8"
    assert value(out, "succeeded") == "8" and value(out, "credits spent") == "0"
    assert value(out, "concurrency-limit refusals (500044)") == "0"
    assert "500044 answers" not in out
    assert not re.search(r"^ok\s", out, re.MULTILINE)  # nothing ran again
    assert await records(journal) == first  # no new submit, attempt or update

    code, out, err = await run_cli("batch", "status", str(journal))
    assert code == 0, err
    assert value(out, "succeeded") == "8" and value(out, "pending") == "0"
    assert value(out, "total") == "8" and "Failed items" not in out


async def test_plain_output_without_rich(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, [t2v("a", "one"), t2v("b", "two [emulator:fail]")])
    script = (
        "import sys; sys.modules['rich'] = None\n"
        "from pixverse_async.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))"
    )
    argv = [sys.executable, "-c", script, "batch", "run", str(jobs), "--emulator"]
    code, out, err = await run_cli(argv=argv)
    assert code == 1, out + err
    assert "│" not in out and "┃" not in out  # no rich tables
    assert re.search(r"^ok\s+a\s+text_to_video\s+job \d+", out, re.MULTILINE), out
    assert re.search(r"^failed\s+b\s+text_to_video\s+JobFailedError", out, re.MULTILINE), out
    assert "Failed items (1)" in out and value(out, "failed") == "1"
    assert value(out, "succeeded") == "1"

    code, out, err = await run_cli(argv=[*argv[:4], "status", str(tmp_path / "jobs.journal.db")])
    assert code == 0, err
    assert value(out, "failed") == "1" and value(out, "succeeded") == "1"
    assert re.search(r"^\s+b\s+text_to_video\s+JobFailedError", out, re.MULTILINE), out


async def test_failed_items_exit_1_and_are_listed_in_the_summary_and_by_status(
    tmp_path: Path,
) -> None:
    jobs = write_jobs(
        tmp_path,
        [
            modify("fine", "fine"),
            modify("broken", "broken [emulator:fail]"),
            t2v("filtered", "filtered [emulator:moderate]"),
        ],
    )
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator", cwd=tmp_path)
    assert code == 1, out + err
    assert value(out, "succeeded") == "1" and value(out, "failed") == "2"
    table = out[out.index("Failed items (2)") : out.index("Batch summary")]
    assert "broken" in table and "JobFailedError" in table
    assert "filtered" in table and "JobModeratedError" in table
    assert "2 job(s) are failed in the journal: re-running skips them" in out

    code, out, err = await run_cli("batch", "status", "jobs.journal.db", cwd=tmp_path)
    assert code == 0, err
    assert value(out, "failed") == "2" and value(out, "succeeded") == "1"
    table = out[out.index("Failed items (2)") :]
    assert "broken" in table and "filtered" in table and "fine" not in table


async def test_an_invalid_item_exits_2_lists_it_and_submits_nothing(tmp_path: Path) -> None:
    bad_quality = t2v("bad-quality", "x", quality="4k")
    no_file = {**modify("no-file", "x"), "params": {"video_media_id": "media/nope.mp4"}}
    no_file["params"].update(prompt="make it snow", quality="540p")
    jobs = write_jobs(tmp_path, [t2v("ok", "fine"), bad_quality, no_file])
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator")
    assert code == 2, out + err
    assert "2 line(s) are invalid jobs" in err and "nothing was submitted" in err
    assert "line 2 (key 'bad-quality'): quality must be one of" in err
    assert "line 3 (key 'no-file'): file not found" in err and "nope.mp4" in err
    assert "ok" not in re.findall(r"key '([^']+)'", err)
    assert not (tmp_path / "jobs.journal.db").exists()  # nothing recorded either
    assert "Batch summary" not in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"key": "a", "kind": "modify", "params": {}}\nnot json\n', "line 2: not JSON"),
        ('["a", "b"]\n', "line 1: expected a JSON object"),
        ('{"key": "a", "kind": "modify", "parms": {}}\n', "parms (did you mean 'params'?)"),
        ('{"key": "a", "kind": "modfy", "params": {}}\n', "did you mean 'modify'?"),
        ('{"key": "a", "params": {}}\n', '"kind" must be a string'),
        ('{"key": "a", "kind": "modify", "params": []}\n', '"params" must be a JSON object'),
        ("\n\n", "has no jobs"),
    ],
)
def test_malformed_jsonl_exits_2_naming_the_line(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(content)
    assert main(["batch", "run", str(jobs), "--emulator"]) == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""
    assert not default_journal(jobs).exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-concurrency", "0"], "expected 'auto' or a positive integer"),
        (["--max-concurrency", "many"], "expected 'auto' or a positive integer"),
        (["--poll-interval", "-1"], "expected a positive number of seconds"),
        (["--max-credits", "lots"], "expected a number of credits"),
    ],
)
def test_bad_options_exit_2(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["batch", "run", str(tmp_path / "jobs.jsonl"), *args])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_usage_errors_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = write_jobs(tmp_path, [t2v("a", "x")])
    assert main(["batch", "run", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    args = ["batch", "run", str(jobs), "--emulator", "--base-url", "http://127.0.0.1:9/x"]
    assert main(args) == 2
    assert "--emulator runs its own API" in capsys.readouterr().err
    monkeypatch.delenv("PIXVERSE_API_KEY", raising=False)
    monkeypatch.delenv("PIXVERSE_BASE_URL", raising=False)
    assert main(["batch", "run", str(jobs)]) == 2
    assert "no API key: pass --api-key or set $PIXVERSE_API_KEY" in capsys.readouterr().err
    assert not default_journal(jobs).exists()


async def test_a_refused_api_key_exits_2_before_any_journal(tmp_path: Path) -> None:
    jobs = write_jobs(tmp_path, [t2v("a", "x")])
    async with emulator_process() as server:
        code, out, err = await run_cli(
            "batch", "run", str(jobs), "--base-url", server.base_url,
            env=child_env(PIXVERSE_API_KEY="pv-not-the-right-key-1234"),
        )  # fmt: skip
        assert code == 2, out + err
        assert "API key was refused" in err and "pv-not-the-right-key-1234" not in out + err
        assert (await server.stats())["jobs_created"] == 0
    assert not default_journal(jobs).exists()


async def test_an_edited_file_runs_new_and_fixed_lines_and_reports_changed_successes(
    tmp_path: Path,
) -> None:
    jobs = write_jobs(tmp_path, [t2v("a", "first"), t2v("b", "broken [emulator:fail]")])
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator")
    assert code == 1, out + err
    before = {r.key: r for r in await records(default_journal(jobs))}
    # line 1 edited (it succeeded), line 2 fixed (it failed), line 3 new
    write_jobs(tmp_path, [t2v("a", "edited"), t2v("b", "fixed"), t2v("c", "new")])
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator")
    assert code == 0, out + err
    assert "belongs to a different batch input" not in out + err
    assert "1 job(s) changed since the journal recorded them" in out
    assert "line 1 (key 'a'): succeeded with its earlier request" in out
    assert "--rerun-changed" in out
    assert value(out, "succeeded") == "3" and value(out, "skipped (done in the journal)") == "1"
    assert value(out, "changed, kept (see --rerun-changed)") == "1"
    after = {r.key: r for r in await records(default_journal(jobs))}
    assert after["a"] == before["a"]  # left as it was
    assert after["b"].state == "succeeded" and after["b"].request_hash != before["b"].request_hash
    assert after["c"].state == "succeeded"

    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator", "--rerun-changed")
    assert code == 0, out + err
    assert "changed since the journal" not in out
    final = {r.key: r for r in await records(default_journal(jobs))}
    assert final["a"].video_id != before["a"].video_id and final["a"].state == "succeeded"
    assert final["b"] == after["b"] and final["c"] == after["c"]


async def test_retry_failed_submits_failed_jobs_again_and_leaves_the_rest(
    tmp_path: Path,
) -> None:
    jobs = write_jobs(tmp_path, [t2v("ok", "fine"), t2v("bad", "[emulator:fail] once")])
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator")
    assert code == 1, out + err
    first = {r.key: r for r in await records(default_journal(jobs))}
    assert first["bad"].state == "failed"
    assert "add --retry-failed to submit them again" in out

    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator")  # no flag
    assert code == 1 and value(out, "skipped (done in the journal)") == "2", out + err
    assert {r.key: r for r in await records(default_journal(jobs))} == first

    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator", "--retry-failed")
    assert code == 1, out + err  # the prompt fails on purpose again
    assert value(out, "skipped (done in the journal)") == "1"
    again = {r.key: r for r in await records(default_journal(jobs))}
    assert again["ok"] == first["ok"]  # untouched
    assert again["bad"].state == "failed" and again["bad"].attempts == 2
    assert again["bad"].trace_id not in (None, first["bad"].trace_id)  # a new submit


async def test_validation_lists_every_bad_line_before_any_network_access(
    tmp_path: Path,
) -> None:
    write_media(tmp_path)
    lines = [
        json.dumps(t2v("a", "fine")),
        "not json",
        json.dumps({"kind": "text_to_vid", "params": {}}),
        json.dumps({**t2v("a", "again"), "params": {**t2v("a", "x")["params"], "qualty": "1"}}),
        json.dumps(t2v("d", "bad", quality="4k")),
    ]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")  # with a BOM
    # a base URL nothing listens on and a wrong key: the validation errors come first
    argv = ["batch", "run", str(jobs), "--base-url", f"http://127.0.0.1:{free_port()}/x"]
    code, out, err = await run_cli(*argv, env=child_env(PIXVERSE_API_KEY="pv-wrong-key-00001"))
    assert code == 2, out + err
    assert "4 line(s) are invalid jobs" in err
    found = re.findall(r"^  line (\d+)", err, re.MULTILINE)
    assert found == sorted(found, key=int) and set(found) == {"2", "3", "4", "5"}
    assert not re.search(r"^  line 1\b", err, re.MULTILINE)  # the BOM did not spoil line 1
    assert "line 2: not JSON" in err
    assert "line 3 (key '3'): unknown kind 'text_to_vid' (did you mean 'text_to_video'?)" in err
    assert "line 4 (key 'a'): duplicate key 'a' (first on line 1)" in err
    assert "'qualty' (did you mean 'quality'?)" in err  # the duplicate's own error too
    assert "line 5 (key 'd'): quality must be one of" in err
    assert "cannot reach" not in err and "refused" not in err
    assert not default_journal(jobs).exists()


async def test_default_keys_are_line_numbers_and_an_old_journal_is_migrated(
    tmp_path: Path,
) -> None:
    write_media(tmp_path)
    keyless = [{k: v for k, v in t2v("x", f"prompt {i}").items() if k != "key"} for i in range(2)]
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("\n" + "".join(json.dumps(j) + "\n" for j in keyless))  # jobs on lines 2, 3
    # a schema 1 journal from before: keys were 0-based positions, both jobs done
    journal = default_journal(jobs)
    async with await Journal.open(journal) as j:
        for position, job in enumerate(keyless):
            key = str(position)
            await j.plan(
                key, kind="text_to_video", request_hash=request_hash("text_to_video", job["params"])
            )
            await j.begin_submit(key, f"trace-{key}")
            await j.accepted(key, video_id=100 + position, credits=45)
            await j.finished(key, status=1, url=f"https://x/{key}.mp4")
    with sqlite3.connect(journal) as conn:
        conn.execute("UPDATE journal_meta SET value = '1' WHERE name = 'schema_version'")
    conn.close()
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator")
    assert code == 0, out + err
    assert value(out, "skipped (done in the journal)") == "2"  # migrated, not rerun
    assert [(r.key, r.video_id) for r in await records(journal)] == [("2", 100), ("3", 101)]

    fresh = tmp_path / "fresh.jsonl"
    fresh.write_text("".join(json.dumps(j) + "\n" for j in keyless))
    code, out, err = await run_cli("batch", "run", str(fresh), "--emulator")
    assert code == 0, out + err
    assert [r.key for r in await records(default_journal(fresh))] == ["1", "2"]


async def test_dry_run_projects_credits_and_sends_nothing(tmp_path: Path) -> None:
    jobs = write_jobs(
        tmp_path,
        [
            modify("m1", "one"),
            modify("m2", "two"),
            t2v("t1", "a fox"),
            {"key": "up", "kind": "upscale", "params": {"video_media_id": "media/clip.mp4"}},
            {"key": "by-id", "kind": "upscale", "params": {"source_video_id": 12345}},
        ],
    )
    # no API key and nothing listening: a dry run needs neither
    argv = [
        "batch",
        "run",
        str(jobs),
        "--dry-run",
        "--base-url",
        f"http://127.0.0.1:{free_port()}/x",
    ]
    code, out, err = await run_cli(*argv)
    assert code == 0, out + err
    modify_each = pricing.modify_price("540p", 5.0)  # media/clip.mp4 is 5 s long
    expected = {
        "modify": 2 * modify_each,
        "text_to_video": pricing.model_price("v5", "540p", 5),
        "upscale": pricing.upscale_price(5.0),
    }
    for kind, credits in expected.items():
        assert re.search(rf"^\W*{kind}\W+\d+\W+{credits}\W", out, re.MULTILINE), out
    masks = pricing.MASK_SELECTION_CREDITS  # one video, one keyframe: one lookup
    assert value(out, "total") == "5"
    assert re.search(rf"^\W*total\W+5\W+{sum(expected.values()) + masks}\W+1\W", out, re.M), out
    assert "line 5 (key 'by-id'): unknown until submit" in out
    assert "nothing was sent" in out
    assert not default_journal(jobs).exists()


async def test_max_credits_below_the_cost_exits_1_reporting_items_not_submitted(
    tmp_path: Path,
) -> None:
    price = pricing.model_price("v5", "540p", 5)
    jobs = write_jobs(tmp_path, [t2v(f"job-{i}", f"prompt {i}") for i in range(6)])
    limit = 2 * price + price // 2
    code, out, err = await run_cli(
        "batch", "run", str(jobs), "--emulator", "--max-credits", str(limit)
    )
    assert code == 1, out + err
    assert value(out, "succeeded") == "2" and value(out, "not submitted (budget)") == "4"
    assert value(out, "failed") == "0" and value(out, "credits spent") == str(2 * price)
    # not failures: no failed lines, no table of them, no BatchStoppedError
    assert "BatchStoppedError" not in out and "Failed" not in out
    assert not re.search(r"^failed\s", out, re.MULTILINE)
    spent, committed = re.search(
        rf"Stopped submitting: max_credits {limit} would be exceeded: (\d+) spent \+ (\d+) "
        rf"committed to running jobs \+ {price} for the next item = (\d+)",
        out,
    ).groups()[:2]  # type: ignore[union-attr]
    total = int(re.search(r"for the next item = (\d+)", out).group(1))  # type: ignore[union-attr]
    assert int(spent) + int(committed) + price == total > limit  # the numbers add up
    states = [r.state for r in await records(default_journal(jobs))]
    assert sorted(states) == ["pending"] * 4 + ["succeeded"] * 2
    # the rest goes through on a re-run with room in the budget
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator")
    assert code == 0, out + err
    assert value(out, "succeeded") == "6" and value(out, "skipped (done in the journal)") == "2"


# -- batch status ------------------------------------------------------------------------------


async def test_status_of_a_missing_or_foreign_file_is_a_clear_error(tmp_path: Path) -> None:
    code, _, err = await run_cli("batch", "status", str(tmp_path / "nope.db"))
    assert code == 2 and "no journal at" in err and "nope.db" in err
    assert "--journal PATH" not in err  # status has no such option
    assert not (tmp_path / "nope.db").exists()
    not_a_journal = tmp_path / "notes.db"
    not_a_journal.write_bytes(b"hello, not SQLite" * 100)
    code, _, err = await run_cli("batch", "status", str(not_a_journal))
    assert code == 2 and "not a readable pixverse_async journal" in err, err
    assert "--journal" not in err


async def test_status_reads_a_journal_while_a_run_holds_it(tmp_path: Path) -> None:
    busy = tmp_path / "busy.db"
    async with await Journal.open(busy) as journal:
        await journal.plan("a", kind="modify", request_hash="h1")
        await journal.plan("b", kind="modify", request_hash="h2")
        await journal.begin_submit("a", "trace-a")
        await journal.accepted("a", video_id=7, credits=50)
        code, out, err = await run_cli("batch", "status", str(busy))
        assert code == 0, err
        assert value(out, "accepted") == "1" and value(out, "pending") == "1"
        assert value(out, "credits spent") == "50"
        assert value(out, "of which on running jobs") == "50"
        await journal.finished("a", status=1, url="u")  # the writer is unaffected
        with pytest.raises(JournalError, match="in use"):  # a second writer is still refused
            await Journal.open(busy)
    code, out, err = await run_cli("batch", "status", str(busy))
    assert code == 0 and value(out, "succeeded") == "1", err


# -- interruptions -----------------------------------------------------------------------------


async def test_sigint_stops_exits_130_prints_the_resume_command_which_completes_the_batch(
    tmp_path: Path,
) -> None:
    write_jobs(tmp_path, [modify(f"k{i:02d}", f"prompt {i}") for i in range(16)])
    env = child_env(PIXVERSE_API_KEY=KEY)
    async with emulator_process("--concurrency", "2", "--job-seconds", "0.3", "--seed", "3") as srv:
        argv = command(
            "batch", "run", "jobs.jsonl", "--base-url", srv.base_url, "--poll-interval", "0.05"
        )
        async with start(argv, cwd=tmp_path, env=env) as cli:
            await cli.read_until(lambda ls: sum(x.startswith("ok ") for x in ls) >= 2, 30)
            cli.proc.send_signal(signal.SIGINT)
            code, out = await cli.rest()
        assert code == 130, out
        assert "Interrupted. Resume with:" in out and value(out, "jobs") == "16"
        unfinished = [r for r in await records(tmp_path / "jobs.journal.db") if not r.finished]
        assert unfinished  # stopped mid-run: the resume has work to do
        assert all(r.state in ("pending", "submitting", "accepted") for r in unfinished)
        # the summary's credits are the journal's: succeeded plus charged to running jobs
        code, status, err = await run_cli("batch", "status", "jobs.journal.db", cwd=tmp_path)
        assert code == 0, err
        assert value(status, "credits spent") == value(out, "credits spent")

        again = resume_argv(out)
        assert again[again.index("--base-url") + 1] == srv.base_url
        code, out, err = await run_cli(argv=again, cwd=tmp_path, env=env)
        assert code == 0, out + err
        assert value(out, "succeeded") == "16"
        final = await records(tmp_path / "jobs.journal.db")
        assert [r.state for r in final] == ["succeeded"] * 16
        stats = await srv.stats()
        assert stats["jobs_created"] == 16 and stats["duplicate_generations"] == 0


async def test_sigint_with_the_in_process_emulator_drains_and_the_resume_completes(
    tmp_path: Path,
) -> None:
    jobs = write_jobs(tmp_path, mixed_jobs(20))
    async with start(
        command("batch", "run", "jobs.jsonl", "--emulator"), cwd=tmp_path, env=child_env()
    ) as cli:
        await cli.read_until(lambda ls: sum(x.startswith("ok ") for x in ls) >= 3, 30)
        cli.proc.send_signal(signal.SIGINT)
        code, out = await cli.rest(timeout=20)
    assert code == 130, out
    assert "Ctrl-C: submitting nothing more" in out
    assert int(value(out, "not submitted (Ctrl-C)")) > 0
    records_after_stop = await records(default_journal(jobs))
    # the emulator died with the command, so nothing may be left running on it
    assert {r.state for r in records_after_stop} <= {"pending", "succeeded"}

    code, out, err = await run_cli(argv=resume_argv(out), cwd=tmp_path)
    assert code == 0, out + err
    assert value(out, "succeeded") == "23"
    assert int(value(out, "skipped (done in the journal)")) >= 3
    assert {r.state for r in await records(default_journal(jobs))} == {"succeeded"}


async def test_sigkill_mid_run_then_rerun_completes_every_item_without_double_submits(
    tmp_path: Path,
) -> None:
    """Issue 4: a CLI batch killed with SIGKILL mid-run, then re-run with the same journal,
    completes every item with duplicate_generations == 0 and no item submitted twice.

    The kill comes when some items are done, some jobs are running, some items are not yet
    submitted, and (deterministically, by a fault) two submits were created and charged by the
    server but their answers had not arrived: the worst case for paying twice.
    """
    n = 40
    jobs = [modify(f"m{i:02d}", f"distinct prompt {i}") for i in range(n - 4)]
    jobs += [t2v(f"t{i}", f"distinct text prompt {i}") for i in range(4)]
    write_jobs(tmp_path, jobs)
    env = child_env(PIXVERSE_API_KEY=KEY)
    emu_args = ("--concurrency", "4", "--job-seconds", "0.3", "--seed", "1")
    lost = {"kind": "accepted_then_lost", "then": "slow", "delay": 60, "path": "/generate"}
    async with emulator_process(*emu_args) as srv:
        argv = command(
            "batch", "run", "jobs.jsonl", "--journal", "run.db",
            "--base-url", srv.base_url, "--poll-interval", "0.05",
        )  # fmt: skip
        async with start(argv, cwd=tmp_path, env=env) as cli:
            await cli.read_until(lambda ls: sum(x.startswith("ok ") for x in ls) >= 6, 30)
            await srv.set_faults({"rules": [{**lost, "rate": 1.0, "count": 2}]})
            await srv.wait_for(lambda s: s["faults_injected"].get(lost["kind"]) == 2, 15)
            cli.proc.send_signal(signal.SIGKILL)
            code, out = await cli.rest()
        assert code == -signal.SIGKILL
        assert "Batch summary" not in out  # killed, not finished
        await srv.set_faults({"rules": []})

        killed = {r.key: r for r in await records(tmp_path / "run.db")}
        states = [r.state for r in killed.values()]
        assert states.count("succeeded") >= 6 and "pending" in states
        in_the_air = [r for r in killed.values() if r.state == "submitting"]
        assert len(in_the_air) >= 2 and all(r.trace_id for r in in_the_air)
        before = await srv.stats()
        assert before["jobs_created"] < n and before["duplicate_generations"] == 0

        code, out, err = await run_cli(argv=argv, cwd=tmp_path, env=env)
        assert code == 0, out + err
        assert value(out, "succeeded") == str(n) and value(out, "failed") == "0"

        final = await records(tmp_path / "run.db")
        assert [r.state for r in final] == ["succeeded"] * n
        assert len({r.video_id for r in final}) == n  # one job per item
        for record in final:
            earlier = killed.get(record.key)
            if earlier is not None and earlier.video_id is not None:
                assert record.video_id == earlier.video_id, record.key  # re-attached
            if earlier is not None and earlier.state == "submitting":
                assert record.trace_id == earlier.trace_id, record.key  # resent, same trace id
        stats = await srv.stats()
        assert stats["jobs_created"] == n
        assert stats["duplicate_generations"] == 0
        assert stats["dedup_hits"] >= len(in_the_air)  # the lost answers were replayed


# -- the README's main command -----------------------------------------------------------------


async def test_the_readme_main_command_runs_the_example_batch(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "remix_jobs.jsonl", tmp_path)
    shutil.copytree(EXAMPLES / "media", tmp_path / "media")
    lines = (tmp_path / "remix_jobs.jsonl").read_text().splitlines()
    kinds = {json.loads(line)["kind"] for line in lines}
    assert {"modify", "text_to_video", "upscale"} <= kinds
    assert sum(p.stat().st_size for p in (EXAMPLES / "media").iterdir()) < 300_000
    code, out, err = await run_cli(
        "batch", "run", "remix_jobs.jsonl", "--emulator", cwd=tmp_path, timeout=60
    )
    assert code == 0, out + err
    assert f"All {len(lines)} jobs succeeded." in out
    assert value(out, "failed") == "0"


async def test_redis_option_shares_the_account_through_a_real_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    jobs = write_jobs(tmp_path, [t2v("a", "one"), t2v("b", "two")])
    code, out, err = await run_cli(
        "batch", "run", str(jobs), "--emulator", "--redis", redis_server.url
    )
    assert code == 0, out + err
    assert value(out, "succeeded") == "2"
    connection = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        keys = await connection.keys("*")
    finally:
        await connection.aclose()
    assert any(k.endswith(":limit") for k in keys), keys  # the limiter lived in Redis


async def test_an_unreachable_redis_exits_2_naming_it_without_the_password(
    tmp_path: Path,
) -> None:
    jobs = write_jobs(tmp_path, [t2v("a", "one")])
    url = f"redis://:very-secret-pw@127.0.0.1:{free_port()}/0"
    code, out, err = await run_cli("batch", "run", str(jobs), "--emulator", "--redis", url)
    assert code == 2, out + err
    assert "cannot reach Redis at redis://:***@127.0.0.1" in out + err
    assert "very-secret-pw" not in out + err
    assert not (tmp_path / "jobs.journal.db").exists()  # nothing written before it
