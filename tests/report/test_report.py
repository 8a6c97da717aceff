"""``pixverse-async batch report``: the model, the page, the journal's timestamps, the errors."""

from __future__ import annotations

import html
import re
import sqlite3
import time
from pathlib import Path

import pytest

from pixverse_async._journal import ItemTimes, Journal, request_hash
from pixverse_async._report import build_report, concurrency_steps, load_report, render_html
from pixverse_async.emulator import Emulator

from ._support import CLIENT_LIMIT, JOBS, SECTIONS, run_batch

pytestmark = pytest.mark.anyio


async def test_a_batch_with_failures_has_every_section_and_one_bar_per_job(
    emu: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "run.db"
    await run_batch(emu, journal)
    stats = emu.stats()
    model = await load_report(journal)

    assert len(model.rows) == JOBS
    assert len(model.bars) == JOBS  # every job was submitted: one bar each
    assert sorted(row.key for row in model.bars) == [f"job-{i:02d}" for i in range(JOBS)]
    for row in model.bars:
        assert row.start is not None and row.end is not None and 0 <= row.start <= row.end
        assert row.duration is not None and row.detection_delay is not None
    failed = model.failed
    assert {row.outcome for row in failed} >= {"failed", "moderated"}
    assert len(failed) >= JOBS // 5  # the triggers alone fail 8
    assert len(failed) + model.counts["succeeded"] == JOBS
    # every 500044 the server answered is on the timeline, and nothing ran past the client's
    # limit; the limit recorded at each accept is the client's
    assert stats["rejected_500044"] > 0
    assert model.throttled_total == stats["rejected_500044"]
    assert 0 < model.max_concurrency <= CLIENT_LIMIT
    assert {limit for _, limit in model.limits} == {CLIENT_LIMIT}
    # credits: charged for every job, refunded for the failed and moderated ones
    charged, net = model.credits[-1][1:]
    assert charged == stats["credits_charged"]
    assert net == stats["credits_charged"] - stats["credits_refunded"]
    assert 0 < net < charged
    assert model.server_whole_seconds  # the emulator's modify_time has whole seconds

    page = render_html(model)
    for section in SECTIONS:
        assert f'<section id="{section}">' in page
    for heading in ("Generation slots", "Concurrency", "Job durations", "Detection delay"):
        assert f"<h2>{heading}</h2>" in page
    assert f"<h2>Failed jobs ({len(failed)})</h2>" in page
    assert f'data-bars="{JOBS}"' in page
    table = page.split('<table class="failed">', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(job-\d\d)</td>", table)
    assert rows == [row.key for row in failed]
    assert page.count("data:image/png;base64,") == 5  # self-contained: every chart inline
    assert 'src="http' not in page
    assert "whole seconds" in page


def item(key: str, **kw: object) -> ItemTimes:
    fields: dict[str, object] = {
        "key": key,
        "kind": "modify",
        "state": "succeeded",
        "status": 1,
        "credits": 10,
        "error": None,
        "error_type": None,
        "attempts": 1,
        "created_at": 1000.0,
        "updated_at": 1010.0,
        "submitted_at": 1001.0,
        "accepted_at": 1001.5,
        "finished_at": 1010.0,
        "server_finished_at": None,
        "slot_limit": 2,
    }
    fields.update(kw)
    return ItemTimes(**fields)  # type: ignore[arg-type]


def test_the_model_marks_refusals_resubmits_refunds_and_running_jobs() -> None:
    model = build_report(
        [
            item("a", submits=(1000.0, 1001.0), throttled=(1000.5,), attempts=2),
            item("b", attempts=3, submitted_at=1004.0, accepted_at=1004.2, finished_at=1008.0),
            item("c", state="failed", status=8, error="boom", error_type="JobFailedError"),
            item("d", state="accepted", status=None, finished_at=None, updated_at=1012.0),
            item("e", state="pending", status=None, submitted_at=None, accepted_at=None),
        ],
        journal="x.db",
    )
    a, b, c, d, e = model.rows
    assert a.throttled == (0.5,) and a.first_submit == 0.0 and a.start == 1.0 and not a.retried
    assert b.retried and b.duration == pytest.approx(4.0)
    assert c.outcome == "failed" and c.duration == pytest.approx(9.0)
    assert d.outcome == "running" and d.end is None and d.duration is None
    assert e.outcome == "pending" and not e.has_bar
    assert len(model.bars) == 4
    assert model.as_of == pytest.approx(12.0)  # the last record: the running job's bar ends here
    assert model.max_concurrency == 4  # a, c and d from 1.0 on, b from 4.0 to 8.0
    assert model.credits[-1][1:] == (40, 30)  # c's 10 credits refunded
    assert model.detection_delays() == {}  # no server end times: the chart says so


def test_concurrency_steps_reuse_a_freed_slot_at_the_same_instant() -> None:
    assert concurrency_steps([]) == []
    assert concurrency_steps([(0, 2), (1, 3), (2, 4)]) == [(0, 1), (1, 2), (2, 2), (3, 1), (4, 0)]


def test_errors_are_html_escaped() -> None:
    evil = '<script>alert("x")</script> & <b>'
    model = build_report(
        [item("<k>", state="failed", status=None, error=evil, error_type="APIError")],
        journal="j&<x>.db",
    )
    page = render_html(model)
    assert "<script>" not in page and "<b>" not in page
    assert html.escape(evil) in page
    assert "<td>&lt;k&gt;</td>" in page


async def test_an_old_journal_reads_without_timestamps_and_migrates_on_write(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    async with await Journal.open(path) as journal:
        await journal.plan("k", kind="modify", request_hash=request_hash("modify", {}))
        await journal.begin_submit("k", "trace-1")
    conn = sqlite3.connect(path)  # make it what schema 2 wrote
    for column in ("submitted_at", "accepted_at", "finished_at", "server_finished_at"):
        conn.execute(f"ALTER TABLE items DROP COLUMN {column}")
    conn.execute("ALTER TABLE items DROP COLUMN slot_limit")
    conn.execute("DROP TABLE item_events")
    conn.execute("UPDATE journal_meta SET value = '2' WHERE name = 'schema_version'")
    conn.commit()
    conn.close()

    model = await load_report(path)  # read-only: nothing migrated
    assert model.t0 is None and model.rows[0].state == "submitting" and model.bars == []
    assert "No timestamps" in render_html(model)

    async with await Journal.open(path) as journal:  # a writer migrates it to 3
        await journal.accepted("k", video_id=7, credits=5, slot_limit=4)
        assert await journal.get_meta("schema_version") == "3"
        (times,) = await journal.timings()
    assert times.accepted_at is not None and times.slot_limit == 4
    assert times.submitted_at is None  # recorded before the migration: unknown


async def test_the_journal_records_the_times_a_report_needs(tmp_path: Path) -> None:
    async with await Journal.open(tmp_path / "j.db") as journal:
        await journal.plan("k", kind="modify", request_hash="h")
        before = time.time()
        await journal.begin_submit("k", "t1")
        await journal.reset_for_resubmit("k", throttled=True)
        await journal.begin_submit("k", "t2")
        await journal.accepted("k", video_id=1, credits=3, slot_limit=5)
        await journal.finished("k", status=1, url="u", server_finished_at=before)
        (times,) = await journal.timings()
    assert len(times.submits) == 2 and len(times.throttled) == 1
    assert times.submits[0] <= times.throttled[0] <= times.submits[1] == times.submitted_at
    assert before <= times.submitted_at <= times.accepted_at <= times.finished_at  # type: ignore[operator]
    assert times.server_finished_at == before and times.slot_limit == 5 and times.attempts == 2


async def synthetic_journal(path: Path, n: int) -> None:
    """A finished journal of ``n`` jobs written straight into SQLite (schema 3): 1 in 50
    failed, 1 in 20 refused once with 500044."""
    async with await Journal.open(path):
        pass  # creates the schema
    conn = sqlite3.connect(path)
    items, events = [], []
    for i in range(n):
        start = 1000.0 + i * 0.05
        end = start + 20 + (i % 17)
        failed = i % 50 == 0
        kind = ("modify", "upscale", "text_to_video")[i % 3]
        state, status = ("failed", 8) if failed else ("succeeded", 1)
        url, error = (None, "boom") if failed else ("u", None)
        items.append(
            (
                *(i + 1, f"k{i}", kind, "h", state, f"t{i}", i, "video", status, url, 10, error),
                *(None, 1, start - 2, end),  # error_type, attempts, created_at, updated_at
                *(start, start + 0.1, end, float(int(end - 1)), 50),  # schema 3's columns
            )
        )
        events.append((i + 1, start, "submit"))
        if i % 20 == 0:
            events += [(i + 1, start - 1.5, "submit"), (i + 1, start - 1, "throttled")]
    conn.executemany(
        "INSERT INTO items (seq, item_key, kind, request_hash, state, trace_id, video_id, media, "
        "status, url, credits, error, error_type, attempts, created_at, updated_at, "
        "submitted_at, accepted_at, finished_at, server_finished_at, slot_limit) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        items,
    )
    conn.executemany("INSERT INTO item_events (item_seq, at, event) VALUES (?, ?, ?)", events)
    conn.commit()
    conn.close()


async def test_a_large_journal_is_reported_in_seconds(tmp_path: Path) -> None:
    """10,000 jobs: measured and printed (`pytest -s`), not asserted (timing belongs in
    benchmarks)."""
    n = 10_000
    path = tmp_path / "big.db"
    await synthetic_journal(path, n)
    began = time.perf_counter()
    model = await load_report(path)
    built = time.perf_counter()
    page = render_html(model)
    done = time.perf_counter()
    print(f"10,000-job report: journal + model {built - began:.2f} s, page {done - built:.2f} s")  # noqa: T201
    assert len(model.bars) == n and f'data-bars="{n}"' in page
    assert model.throttled_total == n // 20 and model.retried_total == 0
    assert page.count("<tr><td>k") == n // 50  # every failed job in the table
