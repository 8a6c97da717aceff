"""The batch engine against the emulator: fan-out, outcomes, files, masks, budget, resume."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pixverse_async import AsyncPixVerse, PollPolicy, RetryPolicy
from pixverse_async import _pricing as pricing
from pixverse_async._batch import (
    BatchEvent,
    BatchItem,
    BatchStoppedError,
    BatchValidationError,
    estimate_item,
    validate_items,
)
from pixverse_async._exceptions import JobFailedError, JobModeratedError
from pixverse_async._journal import Journal, JournalError
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
    make_mp4,
    make_png,
)

pytestmark = pytest.mark.anyio

KEY = "pv-batch-test-key-0000001"
POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=64)
T2V = {"model": "v5", "duration": 5, "quality": "360p", "aspect_ratio": "16:9"}
RETRY = RetryPolicy(max_retries=6, initial_backoff=0.001, max_backoff=0.01, max_elapsed=20)


def emulator(limit: int = 5, *, credits: int = 10**9, seed: int = 21) -> Emulator:
    account = AccountConfig(
        api_key=KEY, concurrency=limit, credit_monthly=0, credit_package=credits
    )
    return Emulator(EmulatorConfig(accounts=(account,), job_duration=Fixed(0.05), seed=seed))


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator() as e:
        yield e


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, retry=RETRY) as c:
        yield c


@pytest.fixture
def media(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(make_mp4(5.0, 1280, 720))
    (folder / "b.mp4").write_bytes(make_mp4(3.0, 720, 1280))
    (folder / "face.png").write_bytes(make_png(64, 64))
    return folder


def remix_items(n: int, *, prompt: str = "@selection0 is swapped with @img0") -> list[BatchItem]:
    return [
        BatchItem(
            "modify",
            {
                "video_media_id": "a.mp4" if i % 2 == 0 else "b.mp4",
                "prompt": prompt,
                "mask_names": ["person"],
                "img_ids": ["face.png"],
                "quality": "540p",
            },
            key=f"remix-{i:03d}",
        )
        for i in range(n)
    ]


async def test_bulk_remix_uploads_once_selects_masks_once_and_downloads(
    client: AsyncPixVerse, emu: Emulator, media: Path, tmp_path: Path
) -> None:
    events: list[BatchEvent] = []
    outcomes = await client.run_batch(
        remix_items(20), base_dir=media, download_dir=tmp_path / "out", on_event=events.append
    )
    assert [o.key for o in outcomes] == [f"remix-{i:03d}" for i in range(20)]  # input order
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    stats = emu.stats()
    assert stats["uploads"] == 3  # a.mp4, b.mp4, face.png: each once
    assert stats["requests_by_endpoint"]["/video/mask/selection"] == 2  # one per video
    assert stats["jobs_created"] == 20 and stats["duplicate_generations"] == 20 - 2
    # (20 identical bodies over 2 videos: the emulator counts equal bodies; the job count is exact)
    for outcome in outcomes:
        assert outcome.path is not None and outcome.path.stat().st_size == outcome.result.size
    # 10 jobs on the 5 s clip at 540p (50 credits), 10 on the 3 s clip (30), 2 mask selections
    assert stats["credits_charged"] == 10 * 50 + 10 * 30 + 2 * 2
    kinds = {e.type for e in events}
    assert {"submitted", "accepted", "succeeded", "downloaded"} <= kinds


async def test_as_completed_and_mixed_outcomes(client: AsyncPixVerse, emu: Emulator) -> None:
    prompts = ["fine", "[emulator:fail]", "fine too", "[emulator:moderate]", "also fine"]
    items = [
        {
            "key": f"k{i}",
            "kind": "text_to_video",
            "params": {
                "prompt": p,
                "model": "v5",
                "duration": 5,
                "quality": "540p",
                "aspect_ratio": "16:9",
            },
        }
        for i, p in enumerate(prompts)
    ]
    seen = {}
    async with client.batch(items) as batch:
        async for outcome in batch:
            seen[outcome.key] = outcome
    assert set(seen) == {f"k{i}" for i in range(5)}
    assert isinstance(seen["k1"].error, JobFailedError)
    assert isinstance(seen["k3"].error, JobModeratedError)
    assert [seen[k].ok for k in ("k0", "k2", "k4")] == [True] * 3
    assert batch.summary.succeeded == 3 and batch.summary.failed == 2
    assert batch.summary.credits == 3 * 45  # the failed two were refunded


async def test_invalid_items_are_refused_before_any_request(
    client: AsyncPixVerse, emu: Emulator, media: Path
) -> None:
    items: list[Any] = remix_items(3)
    items.append(
        BatchItem(
            "modify",
            {"video_media_id": "a.mp4", "prompt": "@img2", "quality": "540p"},
            key="bad-ref",
        )
    )
    items.append({"key": "bad-kind", "kind": "teleport", "params": {}})
    items.append(
        BatchItem(
            "modify",
            {"video_media_id": "missing.mp4", "prompt": "x", "quality": "540p"},
            key="no-file",
        )
    )
    with pytest.raises(BatchValidationError) as info:
        await client.run_batch(items, base_dir=media)
    assert [key for key, _ in info.value.errors] == ["bad-ref", "bad-kind", "no-file"]
    assert "img2" in str(info.value) or "@img" in str(info.value)
    assert emu.stats()["requests_total"] == 0


async def test_max_credits_stops_submitting(client: AsyncPixVerse, emu: Emulator) -> None:
    items = [
        BatchItem(
            "text_to_video",
            {
                "prompt": f"p{i}",
                "model": "v5",
                "duration": 5,
                "quality": "720p",
                "aspect_ratio": "16:9",
            },
        )
        for i in range(10)
    ]
    async with client.batch(items, max_credits=250, workers=1) as batch:  # 60 each: 4 fit
        outcomes = await batch.run()
    done = [o for o in outcomes if o.ok]
    stopped = [o for o in outcomes if isinstance(o.error, BatchStoppedError)]
    assert len(done) == 4 and len(stopped) == 6
    assert emu.stats()["credits_charged"] == 240 <= 250
    assert "max_credits" in str(stopped[0].error)
    # not submitted is not a failure: counted apart, with the reason
    assert all(o.not_submitted and not o.ok for o in stopped)
    assert {o.error.reason for o in stopped if isinstance(o.error, BatchStoppedError)} == {"budget"}
    summary = batch.summary
    assert (summary.failed, summary.not_submitted, summary.succeeded) == (0, 6, 4)
    assert summary.stop_reason == "budget"
    # the numbers add up: spent + committed to running jobs + the next item > the budget
    assert summary.stopped == (
        "max_credits 250 would be exceeded: 240 spent + 0 committed to running jobs "
        "+ 60 for the next item = 300"
    )


async def test_insufficient_credits_stops_submitting() -> None:
    async with (
        emulator(credits=100) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, retry=RETRY) as client,
    ):
        items = [
            BatchItem(
                "text_to_video",
                {
                    "prompt": f"p{i}",
                    "model": "v5",
                    "duration": 5,
                    "quality": "540p",
                    "aspect_ratio": "16:9",
                },
            )
            for i in range(6)
        ]
        outcomes = await client.run_batch(items, workers=1)
    assert [o.ok for o in outcomes[:2]] == [True, True]  # 2 x 45 of 100
    assert "500090" in str(outcomes[2].error) or "Insufficient" in str(outcomes[2].error)
    assert all(isinstance(o.error, BatchStoppedError) for o in outcomes[3:])
    assert emu.stats()["jobs_created"] == 2


async def test_faults_end_with_every_item_terminal_and_nothing_paid_twice(
    tmp_path: Path,
) -> None:
    async with (
        emulator(limit=4) as emu,
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, retry=RETRY) as client,
    ):
        emu.set_faults(
            FaultPlan(
                rules=(
                    FaultRule(FaultKind.ACCEPTED_THEN_LOST, rate=0.2, path="/generate"),
                    FaultRule(FaultKind.RESET, rate=0.05, method="POST"),
                    FaultRule(FaultKind.HTTP_503, rate=0.05),
                    FaultRule(FaultKind.HTTP_500, rate=0.05, method="GET"),
                )
            )
        )
        items = [
            BatchItem(
                "text_to_video",
                {
                    "prompt": f"take {i}",
                    "model": "v5",
                    "duration": 5,
                    "quality": "360p",
                    "aspect_ratio": "16:9",
                },
                key=f"t{i}",
            )
            for i in range(60)
        ]
        outcomes = await client.run_batch(items, journal=tmp_path / "run.db")
        stats = emu.stats()
    assert all(o.ok for o in outcomes), [str(o.error) for o in outcomes if not o.ok]
    assert stats["jobs_created"] == 60
    assert stats["duplicate_generations"] == 0
    assert stats["dedup_hits"] >= 1
    assert max(stats["max_concurrent_observed"].values()) <= 4


async def test_rerun_with_the_journal_skips_finished_items(
    client: AsyncPixVerse, emu: Emulator, media: Path, tmp_path: Path
) -> None:
    journal = tmp_path / "run.db"
    first = await client.run_batch(remix_items(6), base_dir=media, journal=journal)
    assert all(o.ok for o in first)
    before = emu.stats()
    again = await client.run_batch(remix_items(6), base_dir=media, journal=journal)
    after = emu.stats()
    assert all(o.ok and o.resumed for o in again)
    assert [o.url for o in again] == [o.url for o in first]
    assert after["jobs_created"] == before["jobs_created"]  # nothing submitted again
    assert after["uploads"] == before["uploads"]  # uploads and masks came from the journal
    assert after["requests_by_endpoint"].get("/video/mask/selection") == before[
        "requests_by_endpoint"
    ].get("/video/mask/selection")


async def test_interrupted_batch_resumes_without_paying_twice(
    emu: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "run.db"
    items = [
        BatchItem(
            "text_to_video",
            {
                "prompt": f"take {i}",
                "model": "v5",
                "duration": 5,
                "quality": "360p",
                "aspect_ratio": "16:9",
            },
            key=f"t{i}",
        )
        for i in range(30)
    ]
    async with (
        AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, retry=RETRY) as client,
        client.batch(items, journal=journal) as batch,
    ):
        async for _ in batch:
            if batch.summary.succeeded >= 5:
                break  # stop early: running and unsubmitted items stay in the journal
    async with await Journal.open(journal) as j:
        states = {r.state for r in await j.records()}
    assert "succeeded" in states and states != {"succeeded"}
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, retry=RETRY) as client:
        outcomes = await client.run_batch(items, journal=journal)
    assert all(o.ok for o in outcomes)
    stats = emu.stats()
    assert stats["jobs_created"] == 30
    assert stats["duplicate_generations"] == 0


async def test_an_edited_input_is_reconciled_item_by_item(
    client: AsyncPixVerse, emu: Emulator, tmp_path: Path
) -> None:
    """Per-item fingerprints: unchanged items keep their state, new ones run, a changed item
    that failed runs with its new request, a changed item that succeeded is kept (and listed)
    unless rerun_changed."""
    journal = tmp_path / "run.db"

    def t2v(key: str, prompt: str) -> dict[str, Any]:
        return {"key": key, "kind": "text_to_video", "params": {**T2V, "prompt": prompt}}

    first = await client.run_batch(
        [t2v("same", "a"), t2v("done", "b"), t2v("broken", "c [emulator:fail]")],
        journal=journal,
    )
    assert [o.ok for o in first] == [True, True, False]
    edited = [
        t2v("same", "a"),
        t2v("done", "b, edited"),
        t2v("broken", "c, fixed"),
        t2v("new", "d"),
    ]
    async with client.batch(edited, journal=journal) as batch:
        assert batch.changed == [(1, "done", "succeeded")]  # known before anything is sent
        outcomes = {o.key: o for o in await batch.run()}
    assert emu.stats()["jobs_created"] == 3 + 2  # "broken" with its new request, and "new"
    assert outcomes["same"].resumed and not outcomes["same"].changed
    assert outcomes["done"].ok and outcomes["done"].changed and outcomes["done"].resumed
    assert outcomes["done"].job_id == first[1].job_id  # kept as it was
    assert outcomes["broken"].ok and not outcomes["broken"].resumed
    assert outcomes["new"].ok and batch.summary.changed == 1

    # the code equivalent of --rerun-changed: a journal opened with rerun_changed=True
    # (or Batch(..., rerun_changed=True))
    async with (
        await Journal.open(journal, rerun_changed=True) as rerun,
        client.batch(edited, journal=rerun) as batch,
    ):
        assert batch.changed == []
        outcomes = {o.key: o for o in await batch.run()}
    assert emu.stats()["jobs_created"] == 5 + 1  # only "done" ran again
    assert outcomes["done"].ok and outcomes["done"].job_id != first[1].job_id
    async with await Journal.open(journal, read_only=True) as j:
        assert {r.state for r in await j.records()} == {"succeeded"}


async def test_retry_failed_resubmits_failed_items_with_new_trace_ids(
    client: AsyncPixVerse, emu: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "run.db"
    items = [
        {"key": "ok", "kind": "text_to_video", "params": {**T2V, "prompt": "fine"}},
        {"key": "flaky", "kind": "text_to_video", "params": {**T2V, "prompt": "[emulator:fail]"}},
    ]
    await client.run_batch(items, journal=path)
    async with await Journal.open(path, read_only=True) as j:
        failed = await j.get("flaky")
    assert failed is not None and failed.state == "failed" and failed.trace_id

    again = await client.run_batch(items, journal=path)  # without the flag: still failed
    assert not again[1].ok and again[1].resumed
    assert emu.stats()["jobs_created"] == 2

    async with await Journal.open(path, retry_failed=True) as journal:
        retried = await client.run_batch(items, journal=journal)
        record = await journal.get("flaky")
        kept = await journal.get("ok")
    assert retried[0].ok and retried[0].resumed  # the succeeded one is untouched
    assert not retried[1].ok and not retried[1].resumed  # submitted again (and failed again)
    assert emu.stats()["jobs_created"] == 3
    assert record is not None and record.trace_id not in (None, failed.trace_id)
    assert record.video_id != failed.video_id and record.attempts == 2
    assert kept is not None and kept.attempts == 1


async def test_validation_reports_every_problem_at_once_with_suggestions(
    client: AsyncPixVerse, emu: Emulator, media: Path
) -> None:
    items: list[Any] = [
        {"key": "a", "kind": "text_to_video", "params": {**T2V, "prompt": "x"}},
        {"key": "b", "kind": "text_to_vdeo", "params": {}},
        {"key": "c", "kind": "text_to_video", "params": {**T2V, "promt": "x", "sed": 1}},
        {"key": "a", "kind": "text_to_video", "params": {**T2V, "prompt": "x", "quality": "4k"}},
    ]
    errors = validate_items(items, base_dir=media)
    assert [(e.index, e.key) for e in errors] == [(1, "b"), (2, "c"), (3, "a"), (3, "a")]
    assert "did you mean 'text_to_video'?" in str(errors[0].error)
    assert "'promt' (did you mean 'prompt'?)" in str(errors[1].error)
    assert "'sed' (did you mean 'seed'?)" in str(errors[1].error)
    duplicate, own = errors[2].error, errors[3].error
    assert errors[2].duplicate_of == 0 and "duplicate key 'a'" in str(duplicate)
    assert "quality" in str(own)  # the duplicate's own error is not hidden
    with pytest.raises(BatchValidationError) as info:
        await client.run_batch(items, base_dir=media)
    assert len(info.value.items) == 4 and len(info.value.errors) == 4
    assert emu.stats()["requests_total"] == 0


def test_estimate_item_prices_local_sources_and_says_when_it_cannot(media: Path) -> None:
    (media / "clip.webm").write_bytes(b"\x1a\x45\xdf\xa3" + bytes(100))
    modify = {"video_media_id": "a.mp4", "prompt": "x", "quality": "540p"}
    estimate = estimate_item(BatchItem("modify", modify), base_dir=media)
    assert estimate.credits == pricing.modify_price("540p", 5.0)  # the 5 s file's length
    upscale = estimate_item(BatchItem("upscale", {"video_media_id": "b.mp4"}), base_dir=media)
    assert upscale.credits == pricing.upscale_price(3.0)
    t2v = estimate_item(BatchItem("text_to_video", {**T2V, "prompt": "x"}), base_dir=media)
    assert t2v.credits == pricing.model_price("v5", "360p", 5)
    by_id = estimate_item(BatchItem("upscale", {"source_video_id": 7}), base_dir=media)
    assert by_id.credits is None and "unknown until submit" in by_id.why
    webm = estimate_item(BatchItem("upscale", {"video_media_id": "clip.webm"}), base_dir=media)
    assert webm.credits is None and "unknown until upload" in webm.why
    masks = estimate_item(BatchItem("modify", {**modify, "mask_names": ["person"]}), base_dir=media)
    assert masks.masks == (("a.mp4", 1),)


async def test_lazy_input_is_consumed_as_workers_free_up(client: AsyncPixVerse) -> None:
    pulled = 0

    async def generate() -> AsyncIterator[dict[str, Any]]:
        nonlocal pulled
        for i in range(40):
            pulled += 1
            yield {
                "key": f"g{i}",
                "kind": "image_template",
                "params": {"template_id": 400_001, "img_ids": [img_id]},
            }

    img_id = (await client.media.upload_image(make_png(32, 32), filename="x.png")).img_id
    first_seen_at = None
    async with client.batch(generate(), workers=4) as batch:
        async for _ in batch:
            if first_seen_at is None:
                first_seen_at = pulled
    assert first_seen_at is not None and first_seen_at <= 4 + 4 + 1  # workers + buffer
    assert batch.summary.succeeded == 40


async def test_journal_with_downloads_records_and_redownloads_missing_files(
    client: AsyncPixVerse, emu: Emulator, media: Path, tmp_path: Path
) -> None:
    journal, out = tmp_path / "run.db", tmp_path / "out"
    first = await client.run_batch(
        remix_items(4), base_dir=media, journal=journal, download_dir=out
    )
    assert all(o.ok and o.path is not None and o.path.is_file() for o in first)
    async with await Journal.open(journal) as j:
        records = await j.records()
    assert {r.state for r in records} == {"succeeded"}
    assert all(r.download_path for r in records)
    assert first[0].path is not None
    first[0].path.unlink()  # lost locally: the next run fetches it again, submitting nothing
    jobs = emu.stats()["jobs_created"]
    again = await client.run_batch(
        remix_items(4), base_dir=media, journal=journal, download_dir=out
    )
    assert all(o.ok and o.resumed for o in again)
    assert again[0].path is not None and again[0].path.is_file()
    assert emu.stats()["jobs_created"] == jobs


async def test_batch_stopping_errors_are_not_wrapped_in_groups(
    client: AsyncPixVerse, media: Path, tmp_path: Path
) -> None:
    async def lazy() -> AsyncIterator[BatchItem]:
        for item in remix_items(2):
            yield item

    journal = await Journal.open(tmp_path / "run.db")
    await journal.aclose()  # a journal that fails mid-run stops the batch
    with pytest.raises(JournalError, match="closed"):  # found per item, still unwrapped
        await client.run_batch(lazy(), base_dir=media, journal=journal)


async def test_refused_key_stops_the_batch_and_fails_nothing_for_good(
    emu: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "run.db"
    items = [
        BatchItem(
            "text_to_video",
            {
                "prompt": f"p{i}",
                "model": "v5",
                "duration": 5,
                "quality": "360p",
                "aspect_ratio": "16:9",
            },
            key=f"t{i}",
        )
        for i in range(12)
    ]
    async with AsyncPixVerse(
        "pv-not-this-accounts-key-0", base_url=emu.base_url, poll=POLL, retry=RETRY
    ) as wrong:
        outcomes = await wrong.run_batch(items, journal=journal, workers=4)
    assert not any(o.ok for o in outcomes)
    assert sum(isinstance(o.error, BatchStoppedError) for o in outcomes) >= 8
    async with await Journal.open(journal) as j:
        assert {r.state for r in await j.records()} == {"pending"}  # nothing marked failed
    async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, retry=RETRY) as right:
        again = await right.run_batch(items, journal=journal)
    assert all(o.ok for o in again) and emu.stats()["jobs_created"] == 12


async def test_items_waiting_for_a_slot_do_not_submit_after_a_stop() -> None:
    async with (
        emulator(limit=2, credits=200) as emu,
        AsyncPixVerse(
            KEY, base_url=emu.base_url, poll=POLL, retry=RETRY, max_concurrency=2
        ) as client,
    ):
        items = [
            BatchItem(
                "text_to_video",
                {
                    "prompt": f"p{i}",
                    "model": "v5",
                    "duration": 5,
                    "quality": "540p",
                    "aspect_ratio": "16:9",
                },
            )
            for i in range(20)
        ]
        outcomes = await client.run_batch(items, workers=20)  # all 20 wait for 2 slots at once
        stats = emu.stats()
    assert sum(o.ok for o in outcomes) == 4  # 4 x 45 of 200 credits
    assert stats["jobs_created"] == 4
    # submits already in the air (one per slot at most) may meet 500090; none of the other
    # waiters submits after that
    assert 1 <= stats["errors_by_code"].get("500090", 0) <= 2


async def test_an_unreadable_status_keeps_the_paid_job_for_resume(
    emu: Emulator, client: AsyncPixVerse, tmp_path: Path
) -> None:
    """A definitive error on a status poll (here 500020) must not lose the created job."""
    journal = tmp_path / "run.db"
    items = [{"key": "only", "kind": "text_to_video", "params": {**T2V, "prompt": "a fox"}}]
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.PERMISSION, count=1, path="/result"),)))
    [outcome] = await client.run_batch(items, journal=journal)
    assert type(outcome.error).__name__ == "PermissionDeniedError"
    assert outcome.job_id is not None and outcome.credits  # the job and its price are kept
    async with await Journal.open(journal) as j:
        record = await j.get("only")
    assert record is not None and record.state == "accepted"
    assert record.video_id == outcome.job_id

    [resumed] = await client.run_batch(items, journal=journal)  # re-attaches, submits nothing
    assert resumed.ok and resumed.job_id == outcome.job_id and resumed.resumed
    assert emu.stats()["jobs_created"] == 1


async def test_mask_names_with_the_keyframe_ids_alias(
    client: AsyncPixVerse, emu: Emulator, media: Path
) -> None:
    """The Modify page's examples send ``keyframe_ids``: a batch item may too."""
    item = remix_items(1)[0]
    items = [BatchItem("modify", {**item.params, "keyframe_ids": [2]}, key="alias")]
    [outcome] = await client.run_batch(items, base_dir=media)
    assert outcome.ok, outcome.error
    assert emu.stats()["jobs_created"] == 1
