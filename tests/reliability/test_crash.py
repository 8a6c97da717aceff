"""Crash: five SIGKILLs of a CLI batch at random moments, each followed by a resume, end with
every item done exactly once.

The emulator runs in the test process (port 0 on 127.0.0.1), so it outlives every CLI run
pointed at it with ``--base-url``/``--api-key`` and the test can read its jobs directly. The
batch is 80 modify jobs on two local clips and two local faces (uploads cached in the journal,
the ``person`` mask by name), jobs of 0.2-0.6 s, an account limit of 8 (learned by the CLI's
``--max-concurrency auto``).

Each kill waits for a phase of the run, seen on the emulator (the running CLI holds its
journal exclusively, so the journal is read between runs only), then for a delay drawn from a
seeded ``random.Random``:

1. uploads (every upload and mask selection is slowed to 0.25 s on the server);
2. mask selection, in the run that redoes what the first one did not cache;
3. the first submits (a few jobs created);
4. re-attaching the jobs left running, submitting and polling (a dozen or more jobs created);
5. polling the last jobs (every item has a job).

Every API answer also waits 0-30 ms, so a kill can land while a request is in the air (for a
submit: created and charged on the server, the answer never read). After each kill the journal
must be consistent, and each run may re-upload (and re-run mask selection for) only what the
journal had not cached yet. Finally a sixth run completes and the emulator must hold exactly one
job per item, paid once, each the job the journal names.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import random
import re
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from pixverse_async import _pricing as pricing
from pixverse_async._journal import Journal, JournalRecord
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Uniform,
    make_mp4,
    make_png,
)

pytestmark = pytest.mark.anyio

logger = logging.getLogger(__name__)

SEED = 20_240_611
KEY = "pv-crash-test-key-0077"
N_ITEMS = 80
ACCOUNT_LIMIT = 8
JOB_SECONDS = Uniform(0.2, 0.6)
#: server-side delay of every upload and mask selection, so a kill can land in that phase
PREP_DELAY = 0.25
#: extra latency of every API answer, so kills land with requests in the air
LATENCY = Uniform(0.0, 0.03)
#: after a kill, requests the dead CLI had sent still finish on the server within this
SETTLE = PREP_DELAY + 0.15
PHASE_TIMEOUT = 30.0
FINAL_TIMEOUT = 45.0
STOP_TIMEOUT = 10.0

CLIPS = {"media/street.mp4": 5.0, "media/beach.mp4": 4.0}  # path -> seconds
FACES = {"media/face1.png": 64, "media/face2.png": 96}  # path -> side in pixels

UPLOAD_PATHS = ("/media/upload", "/image/upload")
MASK_PATH = "/video/mask/selection"
SUBMIT_PATH = "/video/modify/generate"
POLL_PATH = "/video/result/{job_id}"


# -- the batch ---------------------------------------------------------------------------------


def item(index: int) -> dict[str, Any]:
    clip = list(CLIPS)[index % 2]
    face = list(FACES)[(index // 2) % 2]
    return {
        "key": f"remix-{index:03d}",
        "kind": "modify",
        "params": {
            "video_media_id": clip,
            "mask_names": ["person"],
            "img_ids": [face],
            "prompt": f"@selection0 is swapped with @img0, take number {index:03d}",
            "quality": "540p",
        },
    }


def write_batch(folder: Path) -> list[dict[str, Any]]:
    (folder / "media").mkdir()
    for path, seconds in CLIPS.items():
        (folder / path).write_bytes(make_mp4(seconds, 640, 360, size=20_000))
    for path, side in FACES.items():
        (folder / path).write_bytes(make_png(side, side))
    items = [item(i) for i in range(N_ITEMS)]
    (folder / "jobs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in items))
    return items


def item_price(entry: dict[str, Any]) -> int:
    return pricing.modify_price("540p", CLIPS[entry["params"]["video_media_id"]])


def file_keys(folder: Path) -> dict[tuple[str, str], str]:
    """(sha256, upload kind) of every local file -> its path: the journal's upload-cache key."""
    keys = {}
    for path in CLIPS:
        keys[(hashlib.sha256((folder / path).read_bytes()).hexdigest(), "media")] = path
    for path in FACES:
        keys[(hashlib.sha256((folder / path).read_bytes()).hexdigest(), "image")] = path
    assert len(keys) == len(CLIPS) + len(FACES)  # distinct contents: one upload each
    return keys


# -- the CLI -----------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_")}
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200")
    return env


@dataclass
class Cli:
    proc: asyncio.subprocess.Process
    output: asyncio.Future[tuple[bytes, bytes]]
    started: float

    async def finish(self, timeout: float) -> tuple[int, str]:
        """Wait for the exit: (exit code, stdout and stderr)."""
        out, err = await asyncio.wait_for(asyncio.shield(self.output), timeout)
        assert self.proc.returncode is not None
        return self.proc.returncode, out.decode() + err.decode()


@contextlib.asynccontextmanager
async def cli(*args: str, cwd: Path) -> AsyncIterator[Cli]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pixverse_async",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=child_env(),
    )
    output = asyncio.ensure_future(proc.communicate())
    try:
        yield Cli(proc, output, time.monotonic())
    finally:
        if proc.returncode is None:
            proc.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(output, STOP_TIMEOUT)


def value(out: str, label: str) -> str:
    """A row of a summary table (rich box drawing or plain text)."""
    match = re.search(rf"^\W+{re.escape(label)}[\s│|]+(\S+)", out, re.MULTILINE)
    assert match, f"no {label!r} row in:\n{out}"
    return match.group(1)


# -- what the emulator and the journal say -----------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Emulator counters since a run started."""

    base: dict[str, Any]
    now: dict[str, Any]

    def requests(self, *paths: str) -> int:
        now, base = self.now["requests_by_endpoint"], self.base["requests_by_endpoint"]
        return sum(now.get(p, 0) - base.get(p, 0) for p in paths)

    @property
    def created(self) -> int:
        return int(self.now["jobs_created"] - self.base["jobs_created"])

    @property
    def total_created(self) -> int:
        return int(self.now["jobs_created"])

    def describe(self) -> str:
        return (
            f"uploads {self.requests(*UPLOAD_PATHS)}, mask selections {self.requests(MASK_PATH)}, "
            f"submits {self.requests(SUBMIT_PATH)}, jobs created {self.created} "
            f"(total {self.total_created}), polls {self.requests(POLL_PATH)}, "
            f"replays {self.now['dedup_hits'] - self.base['dedup_hits']}, "
            f"500044 {self.now['rejected_500044'] - self.base['rejected_500044']}"
        )


@dataclass(frozen=True)
class JournalView:
    records: dict[str, JournalRecord]
    uploads: dict[tuple[str, str], int]  # (sha256, kind) -> upload id
    masks: set[str]  # mask-cache sources, e.g. "media:123"

    def states(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in self.records.values():
            counts[record.state] = counts.get(record.state, 0) + 1
        return dict(sorted(counts.items()))


def _caches(path: Path) -> tuple[dict[tuple[str, str], int], set[str]]:
    conn = sqlite3.connect(path)
    try:
        uploads = {
            (h, k): int(i)
            for h, k, i in conn.execute("SELECT content_hash, kind, upload_id FROM upload_cache")
        }
        masks = {s for (s,) in conn.execute("SELECT source FROM mask_cache WHERE keyframe = 1")}
    finally:
        conn.close()
    return uploads, masks


async def read_journal(path: Path) -> JournalView:
    if not await anyio.Path(path).exists():  # killed before the journal was created
        return JournalView({}, {}, set())
    async with await Journal.open(path) as journal:  # replays the dead run's WAL
        records = {r.key: r for r in await journal.records()}
    uploads, masks = await anyio.to_thread.run_sync(_caches, path)
    return JournalView(records, uploads, masks)


def prep_needed(view: JournalView, keys: dict[tuple[str, str], str]) -> tuple[int, int]:
    """Uploads and mask selections a run may make: whatever the journal has not cached."""
    uploads = sum(1 for key in keys if key not in view.uploads)
    masks = 0
    for key, path in keys.items():
        if path in CLIPS:
            media_id = view.uploads.get(key)
            masks += media_id is None or f"media:{media_id}" not in view.masks
    return uploads, masks


# -- the kills ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    phase: str
    ready: Callable[[Window], bool]
    delay: float  # seconds after ``ready``


def kill_plan(rng: random.Random) -> list[Kill]:
    first_submits = rng.randint(1, 5)
    mid_run = rng.randint(12, 24)
    return [
        Kill(
            "uploads",
            lambda w: w.requests(*UPLOAD_PATHS) >= 1,
            rng.uniform(0.0, 2 * PREP_DELAY - 0.05),
        ),
        Kill(
            "mask selection",  # (if the first run got the masks cached: the first submit)
            lambda w: w.requests(MASK_PATH) >= 1 or w.created >= 1,
            rng.uniform(0.0, PREP_DELAY - 0.05),
        ),
        Kill(
            f"first submits ({first_submits} jobs created)",
            lambda w: w.created >= first_submits,
            rng.uniform(0.0, 0.04),
        ),
        Kill(
            f"re-attached jobs, submitting and polling ({mid_run} jobs created)",
            lambda w: w.created >= mid_run,
            rng.uniform(0.05, 0.3),
        ),
        Kill(
            "polling the last jobs (every item has a job)",
            lambda w: w.total_created >= N_ITEMS,
            rng.uniform(0.0, 0.1),
        ),
    ]


async def wait_until(
    emu: Emulator, base: dict[str, Any], run: Cli, ready: Callable[[Window], bool]
) -> Window:
    deadline = time.monotonic() + PHASE_TIMEOUT
    while True:
        window = Window(base, emu.stats())
        if ready(window):
            return window
        if run.proc.returncode is not None or time.monotonic() > deadline:
            code, out = await run.finish(STOP_TIMEOUT)
            raise AssertionError(f"the phase never came (exit {code}):\n{window.describe()}\n{out}")
        await asyncio.sleep(0.005)


def check_consistent(
    emu: Emulator, view: JournalView, prompts: dict[str, str]
) -> tuple[dict[str, int], int]:
    """Every journal record agrees with the emulator; returns, for items left ``submitting``
    whose submit reached the server, key -> that job, and how many submits never arrived."""
    by_trace = {job.trace_id: job for job in emu.state.jobs.values()}
    lost: dict[str, int] = {}
    not_sent = 0
    for key, record in view.records.items():
        if record.state == "pending":
            assert record.video_id is None, record
        elif record.state == "submitting":
            assert record.trace_id and record.video_id is None, record
            job = by_trace.get(record.trace_id)
            if job is None:
                not_sent += 1
            else:  # created and charged, its answer never read: the resume must adopt it
                assert job.prompt == prompts[key], (record, job.prompt)
                lost[key] = job.id
        else:
            assert record.video_id is not None, record
            job = emu.state.jobs[record.video_id]
            assert job.prompt == prompts[key] and job.trace_id == record.trace_id, record
            assert record.state != "failed", record
    return lost, not_sent


# -- the test ----------------------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_five_sigkills_then_a_resume_do_every_item_exactly_once(tmp_path: Path) -> None:
    items = write_batch(tmp_path)
    keys = file_keys(tmp_path)
    prompts = {x["key"]: x["params"]["prompt"] for x in items}
    journal = tmp_path / "run.db"
    rng = random.Random(SEED)
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=ACCOUNT_LIMIT),),
        job_duration=JOB_SECONDS,
        seed=SEED,
        faults=FaultPlan(
            rules=(
                FaultRule(FaultKind.SLOW, path="/upload", delay=PREP_DELAY),
                FaultRule(FaultKind.SLOW, path="/mask/selection", delay=PREP_DELAY),
            ),
            latency=LATENCY,
        ),
    )
    started = time.monotonic()
    async with Emulator(config) as emu:
        argv = (
            "batch", "run", "jobs.jsonl", "--journal", journal.name,
            "--base-url", emu.base_url, "--api-key", KEY, "--poll-interval", "0.05",
        )  # fmt: skip
        lost_answers: dict[str, int] = {}
        report = []
        view = await read_journal(journal)
        for number, kill in enumerate(kill_plan(rng), 1):
            base = emu.stats()
            may_upload, may_mask = prep_needed(view, keys)
            async with cli(*argv, cwd=tmp_path) as run:
                await wait_until(emu, base, run, kill.ready)
                await asyncio.sleep(kill.delay)
                assert run.proc.returncode is None, "the run ended before its kill"
                at = Window(base, emu.stats())
                after = time.monotonic() - run.started
                run.proc.send_signal(signal.SIGKILL)
                code, out = await run.finish(STOP_TIMEOUT)
            assert code == -signal.SIGKILL, out
            assert "Batch summary" not in out  # killed, not finished
            await asyncio.sleep(SETTLE)  # what the dead run had sent ends on the server
            window = Window(base, emu.stats())
            # a run uploads (and selects masks for) only what the journal had not cached
            assert window.requests(*UPLOAD_PATHS) <= may_upload, window.describe()
            assert window.requests(MASK_PATH) <= may_mask, window.describe()
            view = await read_journal(journal)
            lost, not_sent = check_consistent(emu, view, prompts)
            for key, job_id in lost.items():
                assert lost_answers.setdefault(key, job_id) == job_id
            line = (
                f"kill {number} [{kill.phase}] {after:.2f} s after start: {at.describe()}; "
                f"journal {view.states()}, submits in the air: {len(lost)} created on the "
                f"server (answer lost), {not_sent} without a job; "
                f"uploads cached {len(view.uploads)}/{len(keys)}, masks cached {len(view.masks)}"
            )
            report.append(line)
            logger.info(line)

        base = emu.stats()
        may_upload, may_mask = prep_needed(view, keys)
        async with cli(*argv, cwd=tmp_path) as run:
            code, out = await run.finish(FINAL_TIMEOUT)
        window = Window(base, emu.stats())
        report.append(f"final run: exit {code}; {window.describe()}")
        logger.info(report[-1])
        assert code == 0, "\n".join([*report, out])
        assert value(out, "succeeded") == str(N_ITEMS) and value(out, "failed") == "0"
        assert f"All {N_ITEMS} jobs succeeded" in out
        assert window.requests(*UPLOAD_PATHS) <= may_upload, window.describe()
        assert window.requests(MASK_PATH) <= may_mask, window.describe()

        # every item done exactly once: one job per item, paid once, the one the journal names
        final = await read_journal(journal)
        assert sorted(final.records) == sorted(prompts)
        assert {r.state for r in final.records.values()} == {"succeeded"}
        video_ids = [r.video_id for r in final.records.values()]
        assert len(set(video_ids)) == N_ITEMS
        jobs = emu.state.jobs
        assert len(jobs) == N_ITEMS
        assert sorted(job.prompt for job in jobs.values()) == sorted(prompts.values())
        for key, record in final.records.items():
            assert record.video_id is not None
            job = jobs[record.video_id]
            assert job.prompt == prompts[key] and job.status == 1, key
            assert record.trace_id == job.trace_id and record.credits == job.credits, key
            assert record.url and str(record.video_id) in record.url, key
        for key, job_id in lost_answers.items():  # resent with its trace id: adopted, not paid
            assert final.records[key].video_id == job_id, key

        stats = emu.stats()
        prices = sum(item_price(x) for x in items)
        selections = stats["masks"] // 3  # each selection makes person, object, background
        assert stats["jobs_created"] == N_ITEMS
        assert stats["duplicate_generations"] == 0
        assert sum(job.credits for job in jobs.values()) == prices
        assert stats["credits_charged"] == prices + pricing.MASK_SELECTION_CREDITS * selections
        assert stats["credits_refunded"] == 0
        assert stats["dedup_hits"] >= len(lost_answers)
        assert stats["uploads"] >= len(keys) and selections >= len(CLIPS)
        report.append(
            f"totals: {stats['uploads']} uploads for {len(keys)} files, {selections} mask "
            f"selections for {len(CLIPS)} clips, {stats['dedup_hits']} trace-id replays, "
            f"{len(lost_answers)} lost answers adopted, {stats['rejected_500044']} x 500044, "
            f"{time.monotonic() - started:.1f} s"
        )
        logger.info(report[-1])

    async with cli("batch", "status", journal.name, cwd=tmp_path) as status:
        code, out = await status.finish(STOP_TIMEOUT)
    assert code == 0, out
    assert value(out, "succeeded") == str(N_ITEMS) and value(out, "total") == str(N_ITEMS)
    for state in ("pending", "submitting", "accepted", "failed"):
        assert value(out, state) == "0", out
    assert value(out, "credits (succeeded)") == str(prices)
    assert "Failed items" not in out
