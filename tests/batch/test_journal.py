"""The journal: lifecycle, resume, refusal of foreign files, durability against SIGKILL,
concurrency, and that it never blocks the event loop."""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.lowlevel
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream

from pixverse_async._exceptions import PixVerseError
from pixverse_async._journal import (
    SCHEMA_VERSION,
    Journal,
    JournalCorruptError,
    JournalError,
    JournalMismatchError,
    JournalRecord,
    request_hash,
)

pytestmark = pytest.mark.anyio

REPO_ROOT = Path(__file__).resolve().parents[2]
SUBPROCESS_TIMEOUT = 30.0
HASH = request_hash("modify", {"prompt": "a cat", "video_media_id": 1})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "run.journal"


async def planned(journal: Journal, *keys: str) -> None:
    for key in keys:
        await journal.plan(key, kind="modify", request_hash=HASH)


# -- lifecycle ------------------------------------------------------------------------------


async def test_full_lifecycle(path: Path) -> None:
    async with await Journal.open(path, batch_fingerprint="fp") as journal:
        record = await journal.plan("a", kind="modify", request_hash=HASH)
        assert (record.key, record.kind, record.request_hash) == ("a", "modify", HASH)
        assert (record.state, record.trace_id, record.video_id, record.attempts) == (
            "pending",
            None,
            None,
            0,
        )
        assert record.media == "video" and not record.finished
        assert record.created_at == record.updated_at > 0

        await journal.begin_submit("a", "trace-1")
        record = await get(journal, "a")
        assert (record.state, record.trace_id, record.attempts) == ("submitting", "trace-1", 1)

        await journal.accepted("a", video_id=42, credits=35)
        record = await get(journal, "a")
        assert (record.state, record.video_id, record.credits) == ("accepted", 42, 35)

        await journal.finished("a", status=1, url="https://cdn.example/a.mp4")
        record = await get(journal, "a")
        assert (record.state, record.status, record.url) == (
            "succeeded",
            1,
            "https://cdn.example/a.mp4",
        )
        assert record.credits == 35  # kept from accepted() when finished() gives none
        assert record.finished and record.error is None
        assert record.updated_at >= record.created_at

        await journal.downloaded("a", "/out/a.mp4")
        assert (await get(journal, "a")).download_path == "/out/a.mp4"

        assert await journal.summary() == {
            "pending": 0,
            "submitting": 0,
            "accepted": 0,
            "succeeded": 1,
            "failed": 0,
            "total": 1,
            "credits": 35,
            "credits_running": 0,
        }
    assert journal.closed


async def get(journal: Journal, key: str) -> JournalRecord:
    record = await journal.get(key)
    assert record is not None
    return record


async def test_failed_outcomes_and_summary(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await planned(journal, "ok", "moderated", "errored", "never-sent", "waiting")
        for key, video_id in (("ok", 1), ("moderated", 2), ("errored", 3)):
            await journal.begin_submit(key, f"t-{key}")
            await journal.accepted(key, video_id=video_id, credits=10)
        await journal.finished("ok", status=1, url="u", credits=12)
        await journal.finished(
            "moderated", status=7, error="output moderated", error_type="JobModeratedError"
        )
        await journal.finished("errored", status=1, error="download broke", error_type="OSError")
        await journal.finished(
            "never-sent", status=None, error="no credits", error_type="InsufficientCreditsError"
        )

        states = {r.key: r.state for r in await journal.records()}
        assert states == {
            "ok": "succeeded",
            "moderated": "failed",
            "errored": "failed",
            "never-sent": "failed",
            "waiting": "pending",
        }
        moderated = await get(journal, "moderated")
        assert (moderated.status, moderated.error, moderated.error_type) == (
            7,
            "output moderated",
            "JobModeratedError",
        )
        summary = await journal.summary()
        assert (summary["succeeded"], summary["failed"], summary["pending"]) == (1, 3, 1)
        assert summary["total"] == 5
        assert summary["credits"] == 12  # only succeeded items, with finished()'s figure


async def test_resubmit_reuses_trace_id_and_reset_allows_a_fresh_one(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await planned(journal, "a")
        await journal.begin_submit("a", "trace-1")
        await journal.begin_submit("a", "trace-1")  # a resumed run resubmits with the same id
        assert (await get(journal, "a")).attempts == 2

        with pytest.raises(JournalError, match="trace-1"):
            await journal.begin_submit("a", "trace-2")  # a new id could be charged again

        await journal.reset_for_resubmit("a")  # e.g. after ErrCode 500044
        record = await get(journal, "a")
        assert (record.state, record.trace_id, record.attempts) == ("pending", None, 2)
        await journal.begin_submit("a", "trace-2")
        record = await get(journal, "a")
        assert (record.state, record.trace_id, record.attempts) == ("submitting", "trace-2", 3)


async def test_transitions_that_could_pay_twice_or_lose_outcomes_are_refused(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await planned(journal, "a", "b")
        with pytest.raises(JournalError, match="begin_submit"):
            await journal.accepted("a", video_id=1, credits=None)  # trace id never journaled

        await journal.begin_submit("a", "t")
        await journal.accepted("a", video_id=1, credits=None)
        await journal.accepted("a", video_id=1, credits=5)  # repeating it is harmless
        assert (await get(journal, "a")).credits == 5
        with pytest.raises(JournalError):
            await journal.accepted("a", video_id=2, credits=None)
        with pytest.raises(JournalError, match="pay twice"):
            await journal.begin_submit("a", "t")
        with pytest.raises(JournalError, match="pay twice"):
            await journal.reset_for_resubmit("a")

        with pytest.raises(JournalError, match="only results"):
            await journal.downloaded("a", "/x")
        await journal.finished("a", status=8, error="failed")
        with pytest.raises(JournalError, match="already failed"):
            await journal.finished("a", status=1)
        with pytest.raises(JournalError):
            await journal.downloaded("a", "/x")
        with pytest.raises(JournalError):
            await journal.begin_submit("a", "t")

        await journal.reset_for_resubmit("b")  # pending: nothing to forget, no error
        assert (await get(journal, "b")).state == "pending"

        with pytest.raises(JournalError, match="plan"):
            await journal.begin_submit("nope", "t")
        for call in (
            journal.accepted("nope", video_id=1, credits=None),
            journal.finished("nope", status=1),
            journal.reset_for_resubmit("nope"),
            journal.downloaded("nope", "/x"),
        ):
            with pytest.raises(JournalError, match="'nope'"):
                await call
        assert await journal.get("nope") is None

        with pytest.raises(ValueError, match="media"):
            await journal.plan("c", kind="modify", request_hash=HASH, media="audio")

        final = await get(journal, "a")
        assert (final.state, final.video_id, final.credits) == ("failed", 1, 5)


async def test_errors_are_pixverse_errors() -> None:
    assert issubclass(JournalMismatchError, JournalError)
    assert issubclass(JournalCorruptError, JournalError)
    assert issubclass(JournalError, PixVerseError)


async def test_use_after_close_raises_and_aclose_is_idempotent(path: Path) -> None:
    journal = await Journal.open(path)
    await journal.aclose()
    await journal.aclose()
    assert journal.closed and "closed=True" in repr(journal)
    with pytest.raises(JournalError, match="closed"):
        await journal.get("a")


# -- resume ---------------------------------------------------------------------------------


async def test_reopen_shows_the_same_records_and_caches(path: Path) -> None:
    async with await Journal.open(path, batch_fingerprint="fp") as journal:
        await planned(journal, "done", "running", "sent", "todo")
        await journal.plan("still", kind="image_gen", request_hash="h2", media="image")
        for key in ("done", "running", "sent"):
            await journal.begin_submit(key, f"trace-{key}")
        await journal.accepted("done", video_id=1, credits=10)
        await journal.accepted("running", video_id=2, credits=20)
        await journal.finished("done", status=1, url="u1")
        await journal.cache_upload("sha-img", "image", 501)
        await journal.cache_upload("sha-vid", "media", 601)
        await journal.cache_masks("media:601", 0, {"person": "m-1", "sky": "m-2"})
        before = await journal.records()
        summary = await journal.summary()

    async with await Journal.open(path, batch_fingerprint="fp") as journal:
        assert await journal.records() == before
        assert await journal.summary() == summary
        by_key = {r.key: r for r in before}
        assert by_key["done"].finished  # skipped on resume
        assert (by_key["running"].state, by_key["running"].video_id) == ("accepted", 2)  # re-attach
        assert (by_key["sent"].state, by_key["sent"].trace_id) == ("submitting", "trace-sent")
        assert by_key["still"].media == "image"
        # planning again returns the stored record instead of starting over
        assert await journal.plan("sent", kind="modify", request_hash=HASH) == by_key["sent"]
        assert await journal.cached_upload("sha-img", "image") == 501
        assert await journal.cached_upload("sha-vid", "media") == 601
        assert await journal.cached_masks("media:601", 0) == {"person": "m-1", "sky": "m-2"}


async def test_caches(path: Path) -> None:
    async with await Journal.open(path) as journal:
        assert await journal.cached_upload("sha", "image") is None
        await journal.cache_upload("sha", "image", 7)
        assert await journal.cached_upload("sha", "image") == 7
        assert await journal.cached_upload("sha", "media") is None  # kinds are separate
        await journal.cache_upload("sha", "image", 8)  # a re-upload replaces the id
        assert await journal.cached_upload("sha", "image") == 8
        with pytest.raises(ValueError, match="upload kind"):
            await journal.cached_upload("sha", "video")
        with pytest.raises(ValueError, match="upload kind"):
            await journal.cache_upload("sha", "video", 1)

        assert await journal.cached_masks("media:1", 0) is None
        await journal.cache_masks("media:1", 0, {"a": "1"})
        assert await journal.cached_masks("media:1", 0) == {"a": "1"}
        assert await journal.cached_masks("media:1", 5) is None  # per keyframe


async def test_records_keep_insertion_order(path: Path) -> None:
    keys = ["k9", "k1", "k5", "a", "zz", "k3"]
    async with await Journal.open(path) as journal:
        await planned(journal, *keys)
        # updates (and re-planning) must not reorder anything
        await journal.begin_submit("k5", "t")
        await journal.plan("k9", kind="modify", request_hash=HASH)
        assert [r.key for r in await journal.records()] == keys
    async with await Journal.open(path) as journal:
        await planned(journal, "new")
        assert [r.key for r in await journal.records()] == [*keys, "new"]


# -- refusing the wrong file ----------------------------------------------------------------


async def test_different_fingerprint_is_a_mismatch(path: Path) -> None:
    async with await Journal.open(path, batch_fingerprint="input-A") as journal:
        await planned(journal, "a")
    with pytest.raises(JournalMismatchError, match="another journal file") as info:
        await Journal.open(path, batch_fingerprint="input-B")
    assert "original input" in str(info.value) and "--journal" not in str(info.value)
    # the same input resumes; no fingerprint (inspection) skips the check
    async with await Journal.open(path, batch_fingerprint="input-A") as journal:
        assert [r.key for r in await journal.records()] == ["a"]
    async with await Journal.open(path) as journal:
        assert await journal.get("a") is not None


async def test_journal_without_fingerprint_adopts_the_first_one(path: Path) -> None:
    async with await Journal.open(path):
        pass
    async with await Journal.open(path, batch_fingerprint="input-A"):
        pass
    with pytest.raises(JournalMismatchError):
        await Journal.open(path, batch_fingerprint="input-B")


OTHER = request_hash("modify", {"prompt": "a dog", "video_media_id": 1})


async def settle(journal: Journal, key: str, state: str) -> None:
    """Drive a planned item to ``state``."""
    if state == "pending":
        return
    await journal.begin_submit(key, f"trace-{key}")
    if state == "submitting":
        return
    await journal.accepted(key, video_id=abs(hash(key)) % 10**6, credits=10)
    if state == "accepted":
        return
    if state == "succeeded":
        await journal.finished(key, status=1, url="u")
    else:
        await journal.finished(key, status=8, error="boom", error_type="JobFailedError")


STATES_ = ("pending", "submitting", "accepted", "succeeded", "failed")


async def test_a_changed_request_is_replanned_unless_it_succeeded_or_is_running(
    path: Path,
) -> None:
    """Per-item fingerprints: an edited item is planned again only when that pays nothing
    twice; one that succeeded or is running keeps its record (the hash tells the caller)."""
    async with await Journal.open(path) as journal:
        for state in STATES_:
            await planned(journal, state)
            await settle(journal, state, state)
        for state in STATES_:
            record = await journal.plan(state, kind="modify", request_hash=OTHER)
            if state in ("pending", "failed"):
                assert (record.state, record.request_hash) == ("pending", OTHER), state
                assert (record.trace_id, record.video_id, record.error) == (None, None, None)
            else:
                assert (record.state, record.request_hash) == (state, HASH), state
        # a changed kind counts as a change too
        record = await journal.plan("succeeded", kind="extend", request_hash=HASH)
        assert (record.kind, record.state) == ("modify", "succeeded")


async def test_rerun_changed_replans_even_succeeded_and_running_items(path: Path) -> None:
    async with await Journal.open(path, rerun_changed=True) as journal:
        for state in STATES_:
            await planned(journal, state)
            await settle(journal, state, state)
        for state in STATES_:
            record = await journal.plan(state, kind="modify", request_hash=OTHER)
            assert (record.state, record.request_hash, record.video_id) == ("pending", OTHER, None)
        # unchanged items are never replanned by rerun_changed
        await settle(journal, "pending", "succeeded")
        record = await journal.plan("pending", kind="modify", request_hash=OTHER)
        assert record.state == "succeeded"


async def test_retry_failed_replans_only_failed_items(path: Path) -> None:
    async with await Journal.open(path) as journal:
        for state in STATES_:
            await planned(journal, state)
            await settle(journal, state, state)
        assert (await journal.plan("failed", kind="modify", request_hash=HASH)).state == "failed"
        for state in STATES_:
            record = await journal.plan(state, kind="modify", request_hash=HASH, retry_failed=True)
            if state == "failed":
                assert (record.state, record.trace_id, record.video_id) == ("pending", None, None)
                assert (record.error, record.error_type, record.status) == (None, None, None)
                assert record.attempts == 1  # history kept; the next submit is a new one
                await journal.begin_submit(state, "a-new-trace")  # accepted as a fresh submit
            else:
                assert record.state == state and record.trace_id == (
                    None if state == "pending" else f"trace-{state}"
                )


async def test_a_schema_1_journal_is_migrated_and_keys_can_be_renamed(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await planned(journal, "0", "1", "2")
        await settle(journal, "0", "succeeded")
        assert await journal.get_meta("default_keys") is None
    edit_journal("UPDATE journal_meta SET value = '1' WHERE name = 'schema_version'")(path)
    async with await Journal.open(path, read_only=True) as reader:  # read as is
        assert [r.key for r in await reader.records()] == ["0", "1", "2"]
    async with await Journal.open(path) as journal:
        assert await journal.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert await journal.get_meta("default_keys") == "position"
        moved = await journal.rename_keys(
            {"0": ("1", HASH), "1": ("2", HASH), "2": ("3", OTHER)}  # "2" is not that request
        )
        assert moved == 0  # "2" stays, so "1" cannot move, so "0" cannot either
        moved = await journal.rename_keys({"0": ("10", HASH), "1": ("0", HASH)})
        assert moved == 2  # a swap-like chain is fine
        keys = {r.key: r.state for r in await journal.records()}
        assert keys == {"10": "succeeded", "0": "pending", "2": "pending"}


async def test_read_only_journal_watches_a_running_writer(path: Path) -> None:
    async with await Journal.open(path) as writer:
        await planned(writer, "a", "b")
        async with await Journal.open(path, read_only=True) as reader:
            assert (await reader.summary())["pending"] == 2
            await settle(writer, "a", "accepted")  # the writer keeps going meanwhile
            summary = await reader.summary()
            assert (summary["accepted"], summary["credits_running"]) == (1, 10)
            with pytest.raises(JournalError, match="read-only"):
                await reader.plan("c", kind="modify", request_hash=HASH)
        await settle(writer, "b", "succeeded")
    assert [r.state for r in await read_records(path)] == ["accepted", "succeeded"]


async def read_records(path: Path) -> list[JournalRecord]:
    async with await Journal.open(path, read_only=True) as journal:
        return await journal.records()


async def test_read_only_open_of_a_missing_file_creates_nothing(path: Path) -> None:
    with pytest.raises(JournalError, match="no journal"):
        await Journal.open(path, read_only=True)
    assert not await anyio.Path(path).exists()


def random_bytes(path: Path) -> None:
    path.write_bytes(b"definitely not SQLite\n" + os.urandom(8192))


def unrelated_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('Ada')")
    conn.close()


def edit_journal(sql: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            conn.execute(sql)
            conn.commit()
        finally:
            conn.close()

    return build


newer_schema = edit_journal(
    f"UPDATE journal_meta SET value = '{SCHEMA_VERSION + 1}' WHERE name = 'schema_version'"
)
missing_table = edit_journal("DROP TABLE items")
foreign_meta = edit_journal("UPDATE journal_meta SET value = 'someone-else' WHERE name = 'format'")


@pytest.mark.parametrize(
    ("damage", "needs_journal", "message"),
    [
        (random_bytes, False, "not a readable"),
        (unrelated_sqlite, False, "customers"),
        (newer_schema, True, "newer"),
        (missing_table, True, "items"),
        (foreign_meta, True, "format"),
    ],
    ids=["random-bytes", "unrelated-sqlite", "newer-schema", "missing-table", "foreign-meta"],
)
async def test_a_file_that_is_not_a_usable_journal_is_corrupt(
    path: Path, damage: Callable[[Path], None], needs_journal: bool, message: str
) -> None:
    if needs_journal:
        async with await Journal.open(path) as journal:
            await planned(journal, "a")
    damage(path)
    before = await anyio.Path(path).read_bytes()
    with pytest.raises(JournalCorruptError, match=message) as info:
        await Journal.open(path, batch_fingerprint="fp")
    assert str(path) in str(info.value)
    assert await anyio.Path(path).read_bytes() == before  # refused without writing anything


async def test_an_unrelated_database_is_left_untouched(path: Path) -> None:
    unrelated_sqlite(path)
    with pytest.raises(JournalCorruptError):
        await Journal.open(path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        assert tables == [("customers",)]
    finally:
        conn.close()


async def test_an_empty_file_becomes_a_new_journal(path: Path) -> None:
    await anyio.Path(path).touch()
    async with await Journal.open(path) as journal:
        await planned(journal, "a")
        assert [r.key for r in await journal.records()] == ["a"]


async def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="directory") as info:
        await Journal.open(tmp_path / "no" / "such" / "dir" / "run.journal")
    assert not isinstance(info.value, JournalCorruptError)


async def test_a_journal_in_use_is_refused_not_shared(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await planned(journal, "a")
        with pytest.raises(JournalError, match="in use") as info:
            await Journal.open(path)
        assert not isinstance(info.value, JournalCorruptError)
        assert (await get(journal, "a")).state == "pending"  # the owner is unaffected
    async with await Journal.open(path) as journal:  # free again once closed
        assert await journal.get("a") is not None


async def test_the_schema_has_no_place_for_an_api_key(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await planned(journal, "a")
    conn = sqlite3.connect(path)
    try:
        query = "SELECT name FROM sqlite_master WHERE type = 'table'"
        tables = [row[0] for row in conn.execute(query)]
        columns = {
            f"{table}.{row[1]}".lower()
            for table in tables
            if not table.startswith("sqlite_")
            for row in conn.execute(f"PRAGMA table_info({table})")
        }
        meta = {row[0] for row in conn.execute("SELECT name FROM journal_meta")}
    finally:
        conn.close()
    assert "items.item_key" in columns  # the item's key in the batch, not a credential
    suspicious = ("api", "secret", "token", "auth", "password", "credential")
    assert not [c for c in columns if any(word in c for word in suspicious)]
    assert sorted(c for c in columns if "key" in c) == ["items.item_key", "mask_cache.keyframe"]
    assert meta == {"format", "schema_version"}


# -- durability -----------------------------------------------------------------------------

WRITER = """
import sys
import anyio
from pixverse_async._journal import Journal

async def main(path):
    journal = await Journal.open(path, batch_fingerprint="fp")
    for i in range(100_000):
        key = f"item-{i}"
        await journal.plan(key, kind="modify", request_hash="h")
        await journal.begin_submit(key, f"trace-{i}")
        print(key, flush=True)  # only after begin_submit returned
        if i == 20:
            print("ready", flush=True)
    await anyio.sleep_forever()

anyio.run(main, sys.argv[1])
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
async def test_begin_submit_survives_sigkill(path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), *sys.path])}
    reported: list[str] = []
    with anyio.fail_after(SUBPROCESS_TIMEOUT):
        process = await anyio.open_process(
            [sys.executable, "-c", WRITER, str(path)], env=env, stderr=None
        )
        try:
            assert process.stdout is not None
            lines = BufferedByteReceiveStream(process.stdout)
            while (line := (await lines.receive_until(b"\n", 1024)).decode()) != "ready":
                reported.append(line)
            # kill while it is still writing: no close, no checkpoint, no atexit
            process.send_signal(signal.SIGKILL)
            await process.wait()
            try:
                while True:
                    line = (await lines.receive_until(b"\n", 1024)).decode()
                    if line != "ready":
                        reported.append(line)
            except (anyio.IncompleteRead, anyio.EndOfStream):
                pass  # EOF, possibly in the middle of a line (not counted)
        finally:
            if process.returncode is None:
                process.kill()
                with anyio.CancelScope(shield=True):
                    await process.wait()
            await process.aclose()
    assert process.returncode == -signal.SIGKILL
    assert len(reported) > 20

    async with await Journal.open(path, batch_fingerprint="fp") as journal:
        for key in reported:
            record = await get(journal, key)
            index = key.removeprefix("item-")
            assert (record.state, record.trace_id) == ("submitting", f"trace-{index}")


# -- concurrency and the event loop ---------------------------------------------------------


async def test_concurrent_calls_from_many_tasks_all_land(path: Path) -> None:
    count = 500

    async def one(i: int) -> None:
        key = f"item-{i}"
        await journal.plan(key, kind="modify", request_hash=HASH)
        await journal.begin_submit(key, f"trace-{i}")
        await journal.accepted(key, video_id=10_000 + i, credits=i % 7)
        await journal.finished(key, status=1, url=f"https://cdn.example/{i}.mp4")

    async def plan_shared() -> None:
        await journal.plan("shared", kind="modify", request_hash=HASH)

    async with await Journal.open(path) as journal:
        async with anyio.create_task_group() as tg:
            for i in range(count):
                tg.start_soon(one, i)
                tg.start_soon(plan_shared)
        records = await journal.records()
        summary = await journal.summary()

    by_key = {r.key: r for r in records}
    assert len(records) == count + 1 and by_key["shared"].state == "pending"
    for i in range(count):
        record = by_key[f"item-{i}"]
        assert (record.state, record.trace_id, record.video_id, record.attempts) == (
            "succeeded",
            f"trace-{i}",
            10_000 + i,
            1,
        )
        assert record.url == f"https://cdn.example/{i}.mp4"
    assert summary["succeeded"] == count and summary["pending"] == 1
    assert summary["credits"] == sum(i % 7 for i in range(count))


async def test_the_event_loop_keeps_running_during_writes(path: Path) -> None:
    ticks = 0
    threads: set[int] = set()

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await anyio.sleep(0.001)

    async with await Journal.open(path) as journal:
        conn = journal._conn
        assert conn is not None
        conn.set_trace_callback(lambda _sql: threads.add(threading.get_ident()))
        async with anyio.create_task_group() as tg:
            tg.start_soon(heartbeat)
            await anyio.lowlevel.checkpoint()
            start = ticks
            for i in range(1_000):  # 2,000 writes from one task, back to back
                await journal.plan(f"k{i}", kind="modify", request_hash=HASH)
                await journal.begin_submit(f"k{i}", f"t{i}")
            during = ticks - start
            tg.cancel_scope.cancel()
        conn.set_trace_callback(None)
        assert (await journal.summary())["submitting"] == 1_000

    # A blocking implementation would starve the heartbeat until the writes were over.
    assert during >= 10
    assert threads and threading.get_ident() not in threads  # SQLite never ran on the loop


async def test_cancelled_callers_leave_a_consistent_usable_journal(path: Path) -> None:
    async with await Journal.open(path) as journal:
        await planned(journal, *(f"k{i}" for i in range(200)))

        done = 0

        async def submit(i: int) -> None:
            nonlocal done
            await journal.begin_submit(f"k{i}", f"t{i}")
            done += 1
            if done == 5:
                tg.cancel_scope.cancel()  # the other callers are queued or mid-write

        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(submit, i)

        records = await journal.records()
        submitted = [r for r in records if r.state == "submitting"]
        for record in records:
            if record.state == "submitting":
                assert (record.trace_id, record.attempts) == (f"t{record.key[1:]}", 1)
            else:
                assert (record.state, record.trace_id, record.attempts) == ("pending", None, 0)
        assert len(submitted) < len(records)  # the cancellation did cut the work short
        await journal.begin_submit("k199", "t199")  # the lock was released
        assert (await get(journal, "k199")).state == "submitting"


# -- request_hash ---------------------------------------------------------------------------


async def test_request_hash_is_canonical() -> None:
    a = request_hash("modify", {"prompt": "x", "quality": "540p", "nested": {"b": 1, "a": 2}})
    b = request_hash("modify", {"nested": {"a": 2, "b": 1}, "quality": "540p", "prompt": "x"})
    assert a == b and len(a) == 64 and int(a, 16) >= 0
    assert request_hash("extend", {"prompt": "x"}) != request_hash("modify", {"prompt": "x"})
    assert request_hash("modify", {"prompt": "x"}) != request_hash("modify", {"prompt": "y"})
    with pytest.raises(TypeError, match="model_dump"):
        request_hash("modify", {"when": object()})
