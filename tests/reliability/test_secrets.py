"""Secrets: with DEBUG logging on through a whole batch, the API key shows up nowhere.

A batch of about 30 jobs runs against the emulator with every logger at DEBUG and faults on
every error path: connection resets, answers lost after the job was accepted, HTTP 500 / 502,
ErrCode 500069, HTTP 429, failed, moderated and stuck jobs, refused uploads and prompts, an
unknown mask name, an invalid item, and a second client whose key the server refuses. Then
the key (and its URL-quoted, Base64 and hex forms, and fragments of it) is searched for in:

* every log record: message, ``msg``, ``args``, exception text, extra fields, formatted line;
* ``repr()``/``str()`` of the client, its transport, the limiter statistics, the batch
  summary, every outcome, every progress event, the emulator and its stats;
* every exception raised or captured: message, ``repr``, attributes, pickled form, formatted
  traceback and the ``repr`` of every local of every frame in it (what ``--showlocals`` or an
  error reporter prints), along ``__cause__`` / ``__context__``;
* the journal's SQLite bytes, ``-wal`` and ``-shm`` included, during and after the run;
* the ``pixverse-async batch`` command line's stdout and stderr (the key passed with
  ``--api-key`` and through ``PIXVERSE_API_KEY``; DEBUG logging and asyncio debug mode on;
  the live progress bar forced on), and the ``pixverse-async emulator`` command's output.

Every search is first shown to find the key where it is (the emulator's account, the
transport's header value, synthetic records and errors), so none can pass vacuously.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import os
import pickle
import re
import signal
import sys
import traceback
import types
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import aiohttp
import anyio
import pytest

from pixverse_async import (
    AsyncPixVerse,
    AuthenticationError,
    BatchEvent,
    BatchItem,
    BatchValidationError,
    ConfigurationError,
    InvalidInputError,
    JobFailedError,
    JobModeratedError,
    JobTimeoutError,
    ModerationError,
    PollPolicy,
    RateLimitError,
    RequestValidationError,
    RetryPolicy,
)
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
    make_wav,
)

pytestmark = pytest.mark.anyio

#: the account's key: "/", "+" and "=" make its URL-quoted forms differ from it
KEY = "pv-SECRET-7f3a9c1e/5b2d+4a6f=8e0c"
#: a key the server refuses (it must not show up either)
WRONG_KEY = "pv-SECRET-WRONG-0d9e8f7a/6b5c+4d3e=2f1a"
#: distinctive pieces: a truncated or partly masked key still counts as a leak
FRAGMENTS = ("SECRET-7f3a9c1e", "7f3a9c1e/5b2d", "5b2d+4a6f", "WRONG-0d9e8f7a", "6b5c+4d3e")


def _forms(key: str) -> tuple[str, ...]:
    return (
        key,
        quote(key, safe=""),
        quote_plus(key),
        base64.b64encode(key.encode()).decode(),
        key.encode().hex(),
    )


NEEDLES: tuple[str, ...] = (*_forms(KEY), *_forms(WRONG_KEY), *FRAGMENTS)
BYTE_NEEDLES: tuple[bytes, ...] = tuple(
    {n.encode(codec) for n in NEEDLES for codec in ("utf-8", "utf-16-le", "utf-16-be")}
)

POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=64)
RETRY = RetryPolicy(max_retries=8, initial_backoff=0.001, max_backoff=0.02, max_elapsed=20)
ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 45.0


def leaks(*texts: str | bytes) -> list[str]:
    """Which forms of the keys occur in ``texts`` (empty: none)."""
    found: list[str] = []
    for text in texts:
        if isinstance(text, bytes):
            found += [repr(n) for n in BYTE_NEEDLES if n in text]
        else:
            found += [n for n in NEEDLES if n in text]
    return found


def safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # a repr that fails shows nothing (reported separately)
        return f"<repr failed: {exc!r}>"


# ---------------------------------------------------------------------------------------------
# What a user, a log file or a crash reporter sees


FORMATTER = logging.Formatter(
    "%(asctime)s %(levelname)s %(name)s %(threadName)s %(funcName)s: %(message)s"
)


def record_texts(record: logging.LogRecord) -> list[str]:
    """Everything a log handler could write for one record."""
    texts = [record.getMessage(), str(record.msg), safe_repr(record.msg), safe_repr(record.args)]
    texts.append(FORMATTER.format(record))  # message, exception text and stack info
    texts.append(safe_repr(vars(record)))  # extra fields
    if record.exc_info and record.exc_info[1] is not None:
        texts += exception_texts(record.exc_info[1])
    return texts


def frame_locals(tb: types.TracebackType | None) -> Iterator[str]:
    """``name=repr`` of every local of every frame of a traceback (this module's own test
    frames aside: they hold the texts being searched)."""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename != __file__ or frame.f_code.co_name == "fails":
            for name, value in list(frame.f_locals.items()):
                yield f"{frame.f_code.co_name}.{name}={safe_repr(value)}"
        tb = tb.tb_next


def exception_texts(
    exc: BaseException, seen: set[int] | None = None, *, with_locals: bool = True
) -> list[str]:
    """What an exception shows: message, repr, attributes, pickle, traceback with locals.

    Follows ``__cause__``, ``__context__`` and exception groups. A context hidden with
    ``raise ... from None`` is not printed by tracebacks: only its message and repr count.
    """
    seen = set() if seen is None else seen
    if id(exc) in seen:
        return []
    seen.add(id(exc))
    texts = [str(exc), safe_repr(exc), safe_repr(exc.args)]
    texts.append(safe_repr(getattr(exc, "__dict__", {})))
    texts += traceback.format_exception(type(exc), exc, exc.__traceback__)
    if with_locals:
        texts += frame_locals(exc.__traceback__)
    with contextlib.suppress(Exception):
        texts.append(pickle.dumps(exc).decode("latin-1"))
    for inner in (exc.__cause__, *getattr(exc, "exceptions", ())):
        if inner is not None:
            texts += exception_texts(inner, seen, with_locals=with_locals)
    context = exc.__context__
    if context is not None and id(context) not in seen:
        if exc.__suppress_context__:
            seen.add(id(context))
            texts += [str(context), safe_repr(context)]
        else:
            texts += exception_texts(context, seen, with_locals=with_locals)
    return texts


def file_bytes(paths: Iterable[Path]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            out[path.name] = path.read_bytes()
    return out


def journal_files(journal: Path) -> list[Path]:
    return [journal, *(journal.with_name(journal.name + s) for s in ("-wal", "-shm", "-journal"))]


@contextlib.contextmanager
def all_loggers_at_debug(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Root at DEBUG into caplog, plus any logger that does not propagate to the root."""
    caplog.set_level(logging.DEBUG)
    loners = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loners:
        logger.addHandler(caplog.handler)
    try:
        yield
    finally:
        for logger in loners:
            logger.removeHandler(caplog.handler)


def test_the_searches_find_the_key_where_it_is() -> None:
    """Each search below is shown to work, so a clean result means something."""
    for needle in NEEDLES:
        assert needle in leaks(f"... {needle} ...")
    assert leaks(f"header: {quote(KEY, safe='')}") and leaks(KEY.encode("utf-16-le"))
    assert leaks(KEY[:18]), "a truncated key counts"
    assert not leaks("pv-…8e0c"), "the redacted form is allowed"

    def record(**kw: Any) -> logging.LogRecord:
        base: dict[str, Any] = {
            "name": "x",
            "level": logging.DEBUG,
            "pathname": __file__,
            "lineno": 1,
            "msg": "m %s",
            "args": ("a",),
            "exc_info": None,
        }
        return logging.LogRecord(**{**base, **kw})

    try:
        raise RuntimeError("boom") from ValueError(f"key {KEY}")
    except RuntimeError as exc:
        chained = exc
    assert leaks(*record_texts(record(args=(KEY,))))
    assert leaks(*record_texts(record(msg=f"key={KEY}", args=())))
    assert leaks(*record_texts(record(exc_info=(RuntimeError, chained, chained.__traceback__))))
    extra = record()
    extra.api_key = KEY
    assert leaks(*record_texts(extra))

    def fails(secret: str) -> None:
        raise RuntimeError("no key in the message")

    try:
        fails(KEY)
    except RuntimeError as exc:
        assert leaks(*exception_texts(exc)), "a frame local holding the key is found"


# ---------------------------------------------------------------------------------------------
# The batch, in process


def write_media(folder: Path) -> None:
    media = folder / "media"
    media.mkdir()
    (media / "clip.mp4").write_bytes(make_mp4(5.0, 640, 360, size=20_000))
    (media / "face.png").write_bytes(make_png(64, 64))
    (media / "voice.wav").write_bytes(make_wav(2.0))
    # distinct contents: the batch uploads each distinct content once, whatever its name
    (media / "emulator-moderate.png").write_bytes(make_png(31, 31))  # upload refused (500052)
    (media / "emulator-flagged.png").write_bytes(make_png(32, 32))  # refused when used (500054)
    (media / "emulator-nosubject.png").write_bytes(make_png(33, 33))  # mimic 701002


def t2v(key: str, prompt: str, **extra: Any) -> BatchItem:
    params = {"prompt": prompt, "model": "v5", "duration": 5, "quality": "540p"}
    return BatchItem("text_to_video", {**params, "aspect_ratio": "16:9", **extra}, key=key)


CLIP, FACE = "media/clip.mp4", "media/face.png"


def batch_items() -> list[BatchItem]:
    swap = "@selection0 is swapped with @img0"
    modify = [
        BatchItem(
            "modify",
            {
                "video_media_id": CLIP,
                "mask_names": ["person"],
                "img_ids": [FACE],
                "prompt": f"{swap}, take {i}{suffix}",
                "quality": "540p",
            },
            key=f"remix-{i}",
        )
        for i, suffix in enumerate(["", "", "", "", "", " [emulator:fail]", " [emulator:moderate]"])
    ]
    return [
        *modify,
        BatchItem(  # no such mask on this clip: a validation error while preparing
            "modify",
            {"video_media_id": CLIP, "mask_names": ["unicorn"], "prompt": swap, "quality": "540p"},
            key="no-unicorn",
        ),
        *(t2v(f"t2v-{i}", f"a lighthouse, take {i}") for i in range(6)),
        t2v("t2v-fail", "a fox [emulator:fail]"),
        t2v("t2v-moderated", "a fox [emulator:moderate]"),
        t2v("t2v-rejected", "a fox [emulator:reject]"),  # 500063 at submit
        t2v("t2v-stuck", "a fox [emulator:stuck]"),  # JobTimeoutError
        t2v("t2v-invalid", "a fox", quality="4k"),  # RequestValidationError (lazy input)
        t2v("t2v-no-template", "", template_id=999_999),  # 400017 from the server
        *(BatchItem("upscale", {"video_media_id": CLIP}, key=f"up-{i}") for i in range(3)),
        BatchItem(
            "image_to_video",
            {"prompt": "wave", "model": "v5", "duration": 5, "quality": "540p", "img_id": FACE},
            key="i2v",
        ),
        BatchItem(
            "image_to_video",
            {
                "prompt": "wave",
                "model": "v5",
                "duration": 5,
                "quality": "540p",
                "img_id": "media/emulator-moderate.png",
            },
            key="i2v-upload-refused",
        ),
        BatchItem(
            "mimic",
            {"video_media_id": CLIP, "img_id": "media/emulator-flagged.png", "quality": "540p"},
            key="mimic-flagged",
        ),
        BatchItem(
            "mimic",
            {"video_media_id": CLIP, "img_id": "media/emulator-nosubject.png", "quality": "540p"},
            key="mimic-no-subject",
        ),
        BatchItem("image_template", {"template_id": 400_001, "img_ids": [FACE]}, key="img-tpl"),
        BatchItem(
            "lip_sync",
            {
                "video_media_id": CLIP,
                "lip_sync_tts_speaker_id": "1",
                "lip_sync_tts_content": "hello there",
            },
            key="lip-tts",
        ),
        BatchItem(
            "lip_sync", {"video_media_id": CLIP, "audio_media_id": "media/voice.wav"}, key="lip"
        ),
        BatchItem("restyle", {"video_media_id": CLIP, "restyle_id": 1001}, key="restyle"),
        BatchItem(
            "swap",
            {
                "video_media_id": CLIP,
                "mask_name": "person",
                "img_id": FACE,
                "quality": "540p",
            },
            key="swap",
        ),
    ]


FAULTS = FaultPlan(
    rules=(
        # the first submits: dropped, then accepted with the answer lost (reset, HTTP 500)
        FaultRule(FaultKind.RESET, count=2, path="/generate"),
        FaultRule(FaultKind.ACCEPTED_THEN_LOST, count=2, path="/generate"),
        FaultRule(FaultKind.ACCEPTED_THEN_LOST, count=2, path="/generate", then="http_500"),
        FaultRule(FaultKind.HTTP_500, count=2, path="/upload"),
        FaultRule(FaultKind.HTTP_502, count=3, method="GET"),
        FaultRule(FaultKind.BUSY, count=3, method="GET"),
        FaultRule(FaultKind.DB_ERROR, count=1, path="/mask/selection"),
        # and a little of everything at random
        FaultRule(FaultKind.RESET, rate=0.03),
        FaultRule(FaultKind.ACCEPTED_THEN_LOST, rate=0.05, path="/generate"),
        FaultRule(FaultKind.UNKNOWN_ERROR, rate=0.02),
    ),
    failure_rate=0.1,
    moderation_rate=0.1,
    unknown_status_rate=0.2,
)


#: the command line's own retry policy (0.5 s backoff) meets a few faults, each once
CLI_FAULTS = FaultPlan(
    rules=(
        FaultRule(FaultKind.RESET, count=1, path="/generate"),
        FaultRule(FaultKind.ACCEPTED_THEN_LOST, count=1, path="/generate"),
        FaultRule(FaultKind.ACCEPTED_THEN_LOST, count=1, path="/generate", then="http_500"),
        FaultRule(FaultKind.HTTP_502, count=2, method="GET"),
        FaultRule(FaultKind.BUSY, count=1, method="GET"),
        FaultRule(FaultKind.HTTP_500, count=1, path="/upload"),
    )
)


def emulator(faults: FaultPlan) -> Emulator:
    account = AccountConfig(api_key=KEY, concurrency=5)
    config = EmulatorConfig(accounts=(account,), job_duration=Fixed(0.05), faults=faults, seed=3)
    return Emulator(config)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator(FAULTS) as e:
        yield e


@pytest.fixture
async def cli_emu() -> AsyncIterator[Emulator]:
    async with emulator(CLI_FAULTS) as e:
        yield e


async def test_a_whole_batch_at_debug_never_shows_the_key(
    emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_media(tmp_path)
    journal = tmp_path / "run.journal.db"
    events: list[BatchEvent] = []
    snapshots: list[dict[str, bytes]] = []  # the journal's files while the batch runs

    def on_event(event: BatchEvent) -> None:
        events.append(event)
        if event.type in ("accepted", "failed", "succeeded"):
            snapshots.append(file_bytes(journal_files(journal)))

    errors: list[BaseException] = []
    with all_loggers_at_debug(caplog):
        # the emulator holds the key: the searches below would find it there
        assert leaks(emu.config.accounts[0].api_key)
        assert leaks(safe_repr(dataclasses.asdict(emu.config.accounts[0])))
        assert leaks(safe_repr(list(emu.state.accounts)))

        client = AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL, retry=RETRY)
        async with client:
            transport = client._transport
            assert leaks(str(getattr(transport, "_api_key", ""))), "the header value is the key"
            outcomes = await client.run_batch(
                iter(batch_items()),  # lazily validated: the invalid item fails on its own
                journal=journal,
                base_dir=tmp_path,
                download_dir=tmp_path / "out",
                on_event=on_event,
                job_timeout=2.5,
            )
            # a finite input is validated first: BatchValidationError, nothing submitted
            with pytest.raises(BatchValidationError) as invalid:
                await client.run_batch(batch_items(), base_dir=tmp_path)
            errors.append(invalid.value)
            # then a burst over a tight rate cap: HTTP 429, retried after Retry-After (429s
            # do not use up the retries: these wait their turn), and the same burst from a
            # client that does not retry, which gives up (RateLimitError)
            emu.set_faults(FaultPlan(rate_limit_rps=5, retry_after=0.01))
            burst = await asyncio.gather(
                *(client.account.balance() for _ in range(20)), return_exceptions=True
            )
            strict = AsyncPixVerse(
                KEY, base_url=emu.base_url, poll=POLL, retry=RetryPolicy(max_retries=0)
            )
            async with strict:
                burst += await asyncio.gather(
                    *(strict.account.balance() for _ in range(20)), return_exceptions=True
                )
            errors += [b for b in burst if isinstance(b, BaseException)]
            emu.set_faults(FaultPlan())
            looks = [
                repr(client),
                str(client),
                repr(transport),
                safe_repr(vars(client)),
                safe_repr(vars(transport)),
                repr(client.limiter.statistics() if client.limiter else None),
                safe_repr(client.retry),
                safe_repr(client.poll),
            ]
        looks.append(repr(client))  # closed

        # a key the server refuses: AuthenticationError, the batch stops
        async with AsyncPixVerse(WRONG_KEY, base_url=emu.base_url, retry=RETRY) as wrong:
            looks += [repr(wrong), safe_repr(vars(wrong))]
            with pytest.raises(AuthenticationError) as refused:
                await wrong.account.balance()
            errors.append(refused.value)
            refused_outcomes = await wrong.run_batch([t2v("a", "x"), t2v("b", "y")])
        # options the client refuses (the locals of these tracebacks: a known gap, below)
        config_errors: list[BaseException] = []
        for options in ({"region": "mars"}, {"base_url": "ftp://x"}, {"max_concurrency": 0}):
            with pytest.raises(ConfigurationError) as config_error:
                AsyncPixVerse(KEY, **options)
            config_errors.append(config_error.value)
        async with aiohttp.ClientSession() as session:
            for path in ("/_emulator/stats", "/_emulator/faults"):
                async with session.get(emu.origin + path) as r:
                    looks.append(await r.text())

    # the batch went down every path it was meant to
    by_key = {o.key: o for o in outcomes}
    assert len(outcomes) == len(batch_items())
    expected_errors = {
        "remix-5": JobFailedError,
        "remix-6": JobModeratedError,
        "t2v-fail": JobFailedError,
        "t2v-moderated": JobModeratedError,
        "t2v-rejected": ModerationError,
        "t2v-stuck": JobTimeoutError,
        "t2v-invalid": RequestValidationError,
        "no-unicorn": RequestValidationError,
        "i2v-upload-refused": ModerationError,
        "mimic-flagged": ModerationError,
        "mimic-no-subject": InvalidInputError,
    }
    for key, error_type in expected_errors.items():
        assert isinstance(by_key[key].error, error_type), (key, by_key[key].error)
    assert sum(o.ok for o in outcomes) >= 10, [(o.key, o.error) for o in outcomes]
    assert all(o.error is not None for o in refused_outcomes)
    assert isinstance(refused_outcomes[0].error, AuthenticationError), refused_outcomes
    stats = emu.stats()
    assert stats["rate_limited"] > 0 and stats["faults_injected"], stats
    assert any(isinstance(e, RateLimitError) for e in errors), errors
    assert {"accepted", "failed", "succeeded", "downloaded", "submitted"} <= {
        e.type for e in events
    }
    messages = [r.getMessage() for r in caplog.records]
    assert any("-> HTTP 200" in m for m in messages), "DEBUG request lines were captured"
    assert any(m.startswith("retrying ") for m in messages), "retries were logged"
    assert any("failed" in m for m in messages)

    # ... and the key shows up nowhere
    texts: list[str] = []
    for record in caplog.records:
        texts += record_texts(record)
    texts.append(caplog.text)
    for outcome in [*outcomes, *refused_outcomes]:
        texts += [repr(outcome), str(outcome), safe_repr(vars(outcome.result or outcome))]
        if outcome.error is not None:
            errors.append(outcome.error)
    for error in errors:
        texts += exception_texts(error)
    for error in config_errors:
        texts += exception_texts(error, with_locals=False)
    texts += [repr(e) for e in events]
    texts += [repr(emu), json.dumps(emu.stats()), safe_repr(emu.deliveries)]
    texts += looks
    found = leaks(*texts)
    assert not found, _where(found, texts)
    # the locals searched include the transport's request headers, which hold the key itself
    # (shown by its ApiKey repr): the search looked right at it
    assert any(t.startswith("send.headers=") and "'<API key>'" in t for t in texts)

    trace_ids = [e.detail for e in events if e.type == "submitted"]
    assert trace_ids
    after = file_bytes(journal_files(journal))
    assert after and any(t.encode() in b"".join(after.values()) for t in trace_ids), (
        "the journal files were read (they hold the trace ids)"
    )
    wal = [s["run.journal.db-wal"] for s in snapshots if s.get("run.journal.db-wal")]
    assert wal, "the write-ahead log was read while the batch ran"
    for files in [*snapshots, after]:
        for name, data in files.items():
            assert not leaks(data), f"the key is in {name}"


def _where(found: list[str], texts: list[str]) -> str:
    hits = [t for t in texts if any(n in t for n in found)]
    return f"leaked {sorted(set(found))} in:\n" + "\n---\n".join(h[:2000] for h in hits[:5])


# ---------------------------------------------------------------------------------------------
# The command lines, in subprocesses, with DEBUG logging

#: the CLI has no verbosity flag: this runs it with every logger at DEBUG on stderr
DEBUG_MAIN = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.DEBUG, stream=sys.stderr,\n"
    "                    format='%(levelname)s %(name)s %(threadName)s: %(message)s')\n"
    "from pixverse_async.cli import main\n"
    "raise SystemExit(main(sys.argv[1:]))\n"
)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_")}
    env.pop("FORCE_COLOR", None)
    env.update(PYTHONUNBUFFERED="1", COLUMNS="200", PYTHONPATH=str(ROOT), **extra)
    return env


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DEBUG_MAIN,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
        env=env,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), RUN_TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def jsonl(path: Path, items: Iterable[BatchItem]) -> Path:
    lines = [
        json.dumps({"key": i.key, "kind": i.kind, "params": dict(i.params)}) + "\n" for i in items
    ]
    path.write_text("".join(lines))
    return path


async def test_the_batch_command_line_at_debug_never_prints_the_key(
    cli_emu: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    emu = cli_emu
    write_media(tmp_path)
    items = [
        *(t2v(f"t2v-{i}", f"a lighthouse, take {i}") for i in range(6)),
        t2v("t2v-fail", "a fox [emulator:fail]"),
        t2v("t2v-moderated", "a fox [emulator:moderate]"),
        BatchItem(
            "modify",
            {
                "video_media_id": CLIP,
                "mask_names": ["person"],
                "img_ids": [FACE],
                "prompt": "@selection0 is swapped with @img0",
                "quality": "540p",
            },
            key="remix",
        ),
        BatchItem("upscale", {"video_media_id": CLIP}, key="up"),
    ]
    jobs = jsonl(tmp_path / "jobs.jsonl", items)
    journal = tmp_path / "jobs.journal.db"
    common = ["batch", "run", str(jobs), "--poll-interval", "0.05", "--out", str(tmp_path / "o")]
    outputs: list[tuple[str, int, str, str]] = []
    with all_loggers_at_debug(caplog):
        # 1. the key on the command line, a live progress bar, asyncio debug mode, a credit cap
        #    that stops part-way (the summary prints the command that resumes)
        env = child_env(FORCE_COLOR="1", TTY_COMPATIBLE="1", PYTHONASYNCIODEBUG="1")
        code, out, err = await run_cli(
            *common,
            "--api-key",
            KEY,
            "--base-url",
            emu.base_url,
            "--max-credits",
            "300",
            env=env,
            cwd=tmp_path,
        )
        outputs.append(("--api-key, progress bar", code, out, err))
        assert code == 1, out + err
        assert "Stopped submitting" in out and "with your API key, as before" in out, out
        # 2. the key from the environment: the resume finishes the batch
        env = child_env(PIXVERSE_API_KEY=KEY, PIXVERSE_BASE_URL=emu.base_url)
        code, out, err = await run_cli(*common, env=env, cwd=tmp_path)
        outputs.append(("PIXVERSE_API_KEY, resume", code, out, err))
        assert code == 1 and "Failed items (2)" in out, out + err
        # 3. the journal's status
        code, out, err = await run_cli("batch", "status", str(journal), env=env, cwd=tmp_path)
        outputs.append(("status", code, out, err))
        assert code == 0, out + err
        # 4. an invalid job: exit 2, nothing submitted
        bad = jsonl(tmp_path / "bad.jsonl", [*items[:2], t2v("bad", "x", quality="4k")])
        flags = ["--base-url", emu.base_url, "--journal", str(tmp_path / "bad.db")]
        code, out, err = await run_cli(
            "batch", "run", str(bad), "--api-key", KEY, *flags, env=env, cwd=tmp_path
        )
        outputs.append(("invalid job", code, out, err))
        assert code == 2 and "invalid" in err, out + err
        # 5. a key the server refuses (a valid file: validation errors would come first)
        good = jsonl(tmp_path / "ok.jsonl", items[:2])
        flags = ["--base-url", emu.base_url, "--journal", str(tmp_path / "ok.db")]
        code, out, err = await run_cli(
            "batch", "run", str(good), "--api-key", WRONG_KEY, *flags, env=child_env(), cwd=tmp_path
        )
        outputs.append(("refused key", code, out, err))
        assert code == 2 and "refused" in err, out + err

    first = outputs[0]
    assert "DEBUG pixverse_async" in first[3] and "-> HTTP 200" in first[3], first[3][-2000:]
    assert "asyncio" in first[3], "asyncio debug mode logged too"
    assert "\x1b[" in first[2], "the live progress bar was drawn"
    assert "Batch summary" in outputs[1][2]
    for name, _, out, err in outputs:
        found = leaks(out, err)
        assert not found, f"{name}: " + _where(found, [out, err])
    for record in caplog.records:  # the emulator serving these runs
        found = leaks(*record_texts(record))
        assert not found, _where(found, record_texts(record))
    for name, data in file_bytes(journal_files(journal)).items():
        assert not leaks(data), f"the key is in {name}"


async def test_the_emulator_command_line_never_prints_a_given_key(tmp_path: Path) -> None:
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    args = ["emulator", "--port", "0", "--api-key", KEY, "--job-seconds", "0.05", "--seed", "1"]
    args += ["--fault", "reset:0.1", "--fault", "http_500:0.1", "--failure-rate", "0.3"]
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            DEBUG_MAIN,
            *args,
            stdout=out,
            stderr=err,
            cwd=tmp_path,
            env=child_env(),
        )
    try:
        base_url = await _wait_for_base_url(out_path, proc)
        async with AsyncPixVerse(KEY, base_url=base_url, poll=POLL, retry=RETRY) as client:
            await client.account.balance()
            params = {"model": "v5", "duration": 5, "quality": "540p", "aspect_ratio": "16:9"}
            t2v_call = client.video.text_to_video
            jobs = [await t2v_call(prompt=f"take {i}", **params) for i in range(4)]
            await client.wait_all(jobs, timeout=20, return_exceptions=True)
        async with AsyncPixVerse(WRONG_KEY, base_url=base_url, retry=RETRY) as wrong:
            with pytest.raises(AuthenticationError):
                await wrong.account.balance()
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    printed, logged = out_path.read_text(), err_path.read_text()
    assert "API key: pv-…8e0c (the key you passed)" in printed, printed  # redacted, not hidden
    assert "emulator stopped" in printed
    assert "DEBUG asyncio" in logged, "the emulator process logged at DEBUG"
    found = leaks(printed, logged)
    assert not found, _where(found, [printed, logged])


async def _wait_for_base_url(stdout: Path, proc: asyncio.subprocess.Process) -> str:
    async def read() -> str:
        while True:  # another process: reading its output file is the only way to watch it
            text = await anyio.Path(stdout).read_text()
            match = re.search(r"(http://\S+/openapi/v2)", text)
            if match and "Stats:" in text:
                return match.group(1)
            assert proc.returncode is None, "the emulator exited early"
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(read(), 20)


# ---------------------------------------------------------------------------------------------
# Regression: a ConfigurationError's traceback with locals showed the key


def test_a_configuration_error_traceback_with_locals_does_not_show_the_key() -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncPixVerse(KEY, region="mars")  # type: ignore[arg-type]
    texts = [f"{line}" for line in frame_locals(info.value.__traceback__)]
    assert not any("<repr failed" in t for t in texts), texts
    assert not leaks(*texts)
