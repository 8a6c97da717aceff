"""Durable per-item job records, so a crashed or re-run batch never loses nor double-pays a job.

A batch fans out thousands of paid generations. For every item the journal records, in order:

1. ``plan``: the item exists (key, kind, a hash of its request) -> ``pending``;
2. ``begin_submit``: the ``Ai-trace-id`` about to be sent, committed *before* the submit
   leaves the process -> ``submitting``;
3. ``accepted``: the ``video_id`` the server gave -> ``accepted``;
4. ``finished``: the terminal outcome -> ``succeeded`` or ``failed``.

On a re-run the batch reads the records back: finished items are skipped; items with a
``video_id`` are re-attached to polling (never resubmitted); items with a trace id but no
``video_id`` are resubmitted with the *same* trace id, which the server deduplicates, so a
submit that did reach the server before the crash returns the original job instead of
charging again. A file that is not a journal raises :class:`JournalCorruptError`; it is never
silently restarted.

Per-item fingerprints: each record keeps :func:`request_hash` of its item (kind + request), so
an edited input file is reconciled item by item in :meth:`Journal.plan`: unchanged items keep
their state, new items are planned, changed items that never succeeded and are not running
are planned again with the new request, and a changed item that succeeded or is running is
left as it was (its record keeps the old hash, so the caller sees the difference) unless
``rerun_changed`` asks to plan it again. ``retry_failed`` plans failed items again (a new
submit, a new trace id). An optional whole-input fingerprint (``batch_fingerprint``) can
still be pinned by code that wants a journal refused for any other input
(:class:`JournalMismatchError`); the command line no longer uses it.

State transitions (anything else raises :class:`JournalError`, because it would risk a
second charge or lose an outcome)::

    plan                 (new)                          -> pending
                         failed, retry_failed           -> pending      trace id, job, outcome
                                                                        cleared (new submit)
                         pending/failed, request changed -> pending     with the new request
                         any other, request changed,
                           rerun_changed                -> pending      the same (an old job,
                                                                        if any, is forgotten)
    begin_submit         pending                        -> submitting   trace id set, attempts+1
                         submitting, same trace id      -> submitting   resubmit after a crash
    accepted             submitting                     -> accepted     video id, credits
                         accepted, same video id        -> accepted     (idempotent)
    finished             pending/submitting/accepted    -> succeeded (status 1, no error) | failed
    reset_for_resubmit   pending/submitting             -> pending      trace id cleared
    downloaded           succeeded                      -> succeeded    download path set

Storage: one SQLite file (stdlib ``sqlite3``) in WAL mode with ``synchronous=NORMAL``, one
dedicated connection. Every call runs off the event loop in a worker thread
(``anyio.to_thread.run_sync``), one call at a time (an ``anyio.Lock``), and every write is its
own committed transaction before the call returns.

Durability: in WAL mode a commit appends the transaction to the ``-wal`` file with
``write()`` before returning, so it lives in the OS page cache and survives the process
being killed at any instant (SIGKILL, OOM killer, a crash); the next open replays the WAL.
``synchronous=NORMAL`` does not ``fsync`` each commit, so an OS crash or power loss may lose
the last few transactions; surviving OS crashes is out of scope.

Exclusivity: a writing :class:`Journal` holds an exclusive ``flock`` on the journal file
until :meth:`Journal.aclose`, so a second process (or a second :class:`Journal`) opening the
same file for writing fails fast with :class:`JournalError` instead of submitting the same
pending items again. Readers are not blocked: ``Journal.open(path, read_only=True)`` (what
``pixverse-async batch status`` uses) opens the file with SQLite's ``mode=ro`` and sees every
committed write of a running batch (WAL readers never wait for the writer). Where ``fcntl``
does not exist (Windows) the writer falls back to SQLite's ``EXCLUSIVE`` locking mode, which
also keeps readers out until the run ends.

Schema versions: version 2 has the same tables as version 1; a version 1 file is migrated in
place when opened for writing (its ``default_keys`` meta becomes ``position``: items without a
key were named by their 0-based position, which the command line renames to 1-based line
numbers on its next run) and read as is when opened read-only. Version 3 (this one) adds the
timestamps a report needs (wall-clock seconds since the epoch): on ``items``,
``submitted_at`` (the last submit begun), ``accepted_at``, ``finished_at`` (when the client
saw the job end), ``server_finished_at`` (the server's ``modify_time`` of the terminal status,
when it was readable) and ``slot_limit`` (the generation-slot limit when the job was
accepted); and an ``item_events`` table with one row per submit begun (``submit``) and per
500044 refusal (``throttled``). Versions 1 and 2 are migrated to 3 when opened for writing
(the new columns stay empty for earlier items) and read as they are when opened read-only
(:meth:`Journal.timings` then reports the missing times as ``None``).

Speed: one thread hop plus one small commit per call. Measured on the development machine
(2 vCPUs, Python 3.11, SQLite 3.40): about 3,500-4,000 writes/s from one task and about
3,000/s from 4,000 concurrent tasks (calls are serialised). The thread hop dominates: the
same commits run at about 30,000/s without it. A batch whose jobs take seconds to minutes
needs a few writes per job, so this is far from being the bottleneck.

Secrets: the journal never stores the API key; no method takes one and the schema has no
column for one (tests check the schema). It does store what a batch needs to resume:
request hashes (not the requests), trace ids, job ids, result URLs, credits and error texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import anyio
import anyio.to_thread

from ._exceptions import PixVerseError
from .types.video import VideoStatus

if sys.platform != "win32":
    import fcntl

__all__ = [
    "ItemTimes",
    "Journal",
    "JournalCorruptError",
    "JournalError",
    "JournalMismatchError",
    "JournalRecord",
    "request_hash",
    "server_time",
]

T = TypeVar("T")

#: Identifies a pixverse_async journal in its ``journal_meta`` table.
JOURNAL_FORMAT = "pixverse_async.journal"
#: The schema this module writes and reads. A higher stored version is refused.
SCHEMA_VERSION = 3
#: Older schema versions this module reads (and migrates when opened for writing).
READABLE_VERSIONS = frozenset({1, 2, 3})

STATE_PENDING = "pending"
STATE_SUBMITTING = "submitting"
STATE_ACCEPTED = "accepted"
STATE_SUCCEEDED = "succeeded"
STATE_FAILED = "failed"
STATES = (STATE_PENDING, STATE_SUBMITTING, STATE_ACCEPTED, STATE_SUCCEEDED, STATE_FAILED)
FINISHED_STATES = frozenset({STATE_SUCCEEDED, STATE_FAILED})
MEDIA_TYPES = frozenset({"video", "image"})
UPLOAD_KINDS = frozenset({"image", "media"})

#: Seconds SQLite waits for a lock held elsewhere: none, so a journal in use fails fast.
LOCK_WAIT_SECONDS = 0.0
#: Seconds a writer holding the flock waits for a reader's brief lock (never another writer).
WRITE_LOCK_WAIT_SECONDS = 5.0
#: Seconds a read-only journal waits for a writer's brief lock (WAL recovery, checkpoint).
READ_LOCK_WAIT_SECONDS = 5.0

_META_FORMAT = "format"
_META_VERSION = "schema_version"
_META_FINGERPRINT = "batch_fingerprint"
#: How items without an explicit key were named: "position" (0-based, schema 1) or "line".
META_DEFAULT_KEYS = "default_keys"

#: Schema 3: submits begun and 500044 refusals, by the item's ``seq`` (stable across renames).
_EVENTS_TABLE = """CREATE TABLE item_events (
        item_seq INTEGER NOT NULL,
        at       REAL NOT NULL,
        event    TEXT NOT NULL
    )"""
#: Schema 3's columns added to ``items`` (name, SQL type), in order.
_TIMING_COLUMNS = (
    ("submitted_at", "REAL"),
    ("accepted_at", "REAL"),
    ("finished_at", "REAL"),
    ("server_finished_at", "REAL"),
    ("slot_limit", "INTEGER"),
)
EVENT_SUBMIT = "submit"
EVENT_THROTTLED = "throttled"

_SCHEMA = (
    """CREATE TABLE journal_meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE items (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        item_key      TEXT NOT NULL UNIQUE,
        kind          TEXT NOT NULL,
        request_hash  TEXT NOT NULL,
        state         TEXT NOT NULL,
        trace_id      TEXT,
        video_id      INTEGER,
        media         TEXT NOT NULL,
        status        INTEGER,
        url           TEXT,
        credits       INTEGER,
        error         TEXT,
        error_type    TEXT,
        attempts      INTEGER NOT NULL DEFAULT 0,
        created_at    REAL NOT NULL,
        updated_at    REAL NOT NULL,
        download_path TEXT,
        submitted_at  REAL,
        accepted_at   REAL,
        finished_at   REAL,
        server_finished_at REAL,
        slot_limit    INTEGER
    )""",
    _EVENTS_TABLE,
    """CREATE TABLE upload_cache (
        content_hash TEXT NOT NULL,
        kind         TEXT NOT NULL,
        upload_id    INTEGER NOT NULL,
        created_at   REAL NOT NULL,
        PRIMARY KEY (content_hash, kind)
    )""",
    """CREATE TABLE mask_cache (
        source     TEXT NOT NULL,
        keyframe   INTEGER NOT NULL,
        masks      TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (source, keyframe)
    )""",
)

#: Columns each table must have for this module to read it.
_REQUIRED_COLUMNS = {
    "journal_meta": {"name", "value"},
    "items": {
        "seq",
        "item_key",
        "kind",
        "request_hash",
        "state",
        "trace_id",
        "video_id",
        "media",
        "status",
        "url",
        "credits",
        "error",
        "error_type",
        "attempts",
        "created_at",
        "updated_at",
        "download_path",
    },
    "upload_cache": {"content_hash", "kind", "upload_id", "created_at"},
    "mask_cache": {"source", "keyframe", "masks", "created_at"},
}

_RECORD_COLUMNS = (
    "item_key, kind, request_hash, state, trace_id, video_id, media, status, url, credits, "
    "error, error_type, attempts, created_at, updated_at, download_path"
)


class JournalError(PixVerseError):
    """The journal cannot do what was asked (closed, in use, unknown key, illegal transition)."""


class JournalMismatchError(JournalError):
    """The journal was written for different input than this run's."""


class JournalCorruptError(JournalError):
    """The file is not a readable journal (not SQLite, foreign tables, unknown schema)."""


@dataclass(frozen=True)
class JournalRecord:
    """One item of a batch as the journal knows it.

    Attributes:
        key: the item's key, unique in the batch.
        kind: the generation kind (e.g. ``"modify"``), as the batch names it.
        request_hash: :func:`request_hash` of the item's request.
        state: ``"pending"``, ``"submitting"``, ``"accepted"``, ``"succeeded"`` or ``"failed"``.
        trace_id: the ``Ai-trace-id`` of the (last) submit, set before it was sent.
        video_id: the job id the server gave (image jobs too; see ``media``).
        media: ``"video"`` or ``"image"``: which result endpoint the job is polled on.
        status: the last job status (1 succeeded, 6 deleted, 7 moderated, 8 failed).
        url: the result URL of a succeeded job.
        credits: credits charged for the job, when known.
        error: the error message of a failed item.
        error_type: the error's class name (e.g. ``"JobModeratedError"``).
        attempts: how many times a submit was begun for the item.
        created_at: when the item was planned (seconds since the epoch).
        updated_at: when the record last changed (seconds since the epoch).
        download_path: where the result was saved, once downloaded.
    """

    key: str
    kind: str
    request_hash: str
    state: str
    trace_id: str | None
    video_id: int | None
    media: str
    status: int | None
    url: str | None
    credits: int | None
    error: str | None
    error_type: str | None
    attempts: int
    created_at: float
    updated_at: float
    download_path: str | None

    @property
    def finished(self) -> bool:
        """Whether the item reached a terminal state (``succeeded`` or ``failed``)."""
        return self.state in FINISHED_STATES


@dataclass(frozen=True)
class ItemTimes:
    """One item's timeline as :meth:`Journal.timings` reads it (what a batch report draws).

    Times are wall-clock seconds since the epoch, ``None`` when not (yet) known or when the
    journal predates schema 3.

    Attributes:
        key, kind, state, status, credits, error, error_type, attempts, created_at,
        updated_at: as in :class:`JournalRecord`.
        submitted_at: when the last submit was begun (the one accepted, for a job).
        accepted_at: when the server's job id was recorded.
        finished_at: when the client saw the job end (or the item failed without a job).
        server_finished_at: the server's ``modify_time`` of the terminal status, if readable.
        slot_limit: the generation-slot limit when the job was accepted (``None``: unknown,
            or auto mode before the limit was learned).
        submits: when each submit was begun, oldest first (500044 resubmits included).
        throttled: when each 500044 refusal was recorded, oldest first.
    """

    key: str
    kind: str
    state: str
    status: int | None
    credits: int | None
    error: str | None
    error_type: str | None
    attempts: int
    created_at: float
    updated_at: float
    submitted_at: float | None
    accepted_at: float | None
    finished_at: float | None
    server_finished_at: float | None
    slot_limit: int | None
    submits: tuple[float, ...] = ()
    throttled: tuple[float, ...] = ()


def server_time(value: object) -> float | None:
    """A server timestamp (an ISO 8601 text with a time zone, e.g. ``modify_time``) as
    seconds since the epoch; ``None`` for anything else (the API documents no format, so a
    time without a zone is not guessed at)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def request_hash(kind: str, params: Mapping[str, Any]) -> str:
    """A stable fingerprint of one request: SHA-256 hex of canonical JSON of ``[kind, params]``.

    Canonical means sorted keys and no whitespace, so the same request always hashes the same
    whatever the order of its fields.

    Args:
        kind: the generation kind (e.g. ``"modify"``).
        params: the request's JSON-compatible fields (e.g. ``model.model_dump(mode="json")``).

    Returns:
        64 lowercase hex characters.

    Raises:
        TypeError: ``params`` holds a value JSON cannot encode.
    """
    try:
        text = json.dumps([kind, dict(params)], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"request_hash needs JSON-compatible params ({exc}); "
            "pass e.g. model.model_dump(mode='json')"
        ) from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record(row: tuple[Any, ...]) -> JournalRecord:
    return JournalRecord(*row)


def _is_busy(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name in ("SQLITE_BUSY", "SQLITE_LOCKED") or "locked" in str(exc)


def _is_cantopen(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return name == "SQLITE_CANTOPEN" or "unable to open" in str(exc)


class Journal:
    """Durable records of a batch's items, for resume without double charges.

    Open with :meth:`open` (not the constructor) and close with :meth:`aclose` or
    ``async with``::

        async with await Journal.open("run.journal") as journal:
            record = await journal.plan("item-1", kind="modify", request_hash=h)
            await journal.begin_submit("item-1", trace_id)     # durable before the submit
            ...

    Every method is safe to call from many tasks at once; calls are serialised on one
    connection in a worker thread, so the event loop never waits on disk.
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: str,
        *,
        reuse_cached_ids: bool = True,
        retry_failed: bool = False,
        rerun_changed: bool = False,
        read_only: bool = False,
        lock: _FileLock | None = None,
    ) -> None:
        """Wrap an already validated connection; use :meth:`open` instead."""
        self._conn: sqlite3.Connection | None = conn
        self._path = path
        self._reuse_cached_ids = reuse_cached_ids
        self.retry_failed = retry_failed
        self.rerun_changed = rerun_changed
        self.read_only = read_only
        self._file_lock = lock
        self._lock = anyio.Lock()

    def __repr__(self) -> str:
        return f"Journal(path={self._path!r}, closed={self.closed})"

    @property
    def path(self) -> str:
        """The journal file's path."""
        return self._path

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._conn is None

    # -- lifecycle ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        batch_fingerprint: str | None = None,
        reuse_cached_ids: bool = True,
        retry_failed: bool = False,
        rerun_changed: bool = False,
        read_only: bool = False,
    ) -> Journal:
        """Open a journal, creating the file and schema if needed.

        Args:
            path: the journal file (created if missing; its directory must exist).
            batch_fingerprint: identifies the batch's input (e.g. a hash of the input file).
                If the journal already stores a different one, the run is refused. A journal
                without one adopts it; ``None`` skips the check (e.g. to inspect a journal).
            reuse_cached_ids: read the upload and mask caches of earlier runs. Pass
                ``False`` when the server is new to this run (an emulator started afresh):
                the cached ids name uploads it never saw, so files are uploaded again (the
                caches are still written).
            retry_failed: the default of :meth:`plan`'s ``retry_failed``: failed items are
                planned again (submitted anew, with a new trace id).
            rerun_changed: the default of :meth:`plan`'s ``rerun_changed``: items whose
                request changed are planned again even if they succeeded or are running.
            read_only: open for reading only (``mode=ro``), e.g. to watch a running batch:
                nothing is created, migrated or locked; every write method raises.

        Returns:
            The open journal.

        Raises:
            JournalMismatchError: ``batch_fingerprint`` differs from the stored one.
            JournalCorruptError: the file is not SQLite, holds foreign tables, or has an
                unknown schema version.
            JournalError: the file cannot be opened (or, read-only, does not exist), or
                another writer has it open.
        """
        where = os.fspath(path)
        if read_only:
            conn = await anyio.to_thread.run_sync(_connect_read_only, where)
            return cls(conn, where, read_only=True)
        conn, lock = await anyio.to_thread.run_sync(_connect, where, batch_fingerprint)
        return cls(
            conn,
            where,
            reuse_cached_ids=reuse_cached_ids,
            retry_failed=retry_failed,
            rerun_changed=rerun_changed,
            lock=lock,
        )

    async def aclose(self) -> None:
        """Close the journal (idempotent). Waits for a call in progress to finish."""
        with anyio.CancelScope(shield=True):
            async with self._lock:
                conn, self._conn = self._conn, None
                if conn is not None:
                    await anyio.to_thread.run_sync(conn.close)
                lock, self._file_lock = self._file_lock, None
                if lock is not None:
                    lock.release()  # after the connection: the next writer finds it closed

    async def __aenter__(self) -> Journal:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` in a worker thread, one call at a time."""
        async with self._lock:
            conn = self._conn
            if conn is None:
                raise JournalError(f"the journal {self._path!r} is closed; open it again")
            try:
                return await anyio.to_thread.run_sync(fn, conn)
            except sqlite3.Error as exc:
                if self.read_only and "readonly" in str(exc).replace(" ", "").lower():
                    raise JournalError(
                        f"journal {self._path!r} is open read-only; open it without "
                        "read_only=True to change it"
                    ) from exc
                raise JournalError(
                    f"journal {self._path!r} failed: {exc} (check disk space and permissions)"
                ) from exc

    # -- items -------------------------------------------------------------------------------

    async def plan(
        self,
        key: str,
        *,
        kind: str,
        request_hash: str,
        media: str = "video",
        retry_failed: bool | None = None,
        rerun_changed: bool | None = None,
    ) -> JournalRecord:
        """Record an item as ``pending``, or reconcile it with its existing record.

        Args:
            key: the item's key, unique in the batch.
            kind: the generation kind.
            request_hash: :func:`request_hash` of the item's request (its fingerprint).
            media: ``"video"`` (default) or ``"image"``: which endpoint its job is polled on.
            retry_failed: plan a ``failed`` item again (its trace id, job and outcome are
                cleared, so the next submit is new). ``None``: the journal's default
                (see :meth:`open`).
            rerun_changed: plan an item whose request (or kind) changed again even if it
                succeeded or is running (``submitting`` / ``accepted``; its old job, if any,
                is forgotten). ``None``: the journal's default.

        Returns:
            The record to act on (check ``state``). A changed item that never succeeded and
            is not running comes back ``pending`` with the new request. A changed item that
            succeeded or is running, without ``rerun_changed``, comes back untouched: its
            ``request_hash`` (or ``kind``) then differs from the arguments, which is how a
            caller tells that the journal kept the earlier request's outcome.

        Raises:
            ValueError: ``media`` is not ``"video"`` or ``"image"``.
        """
        if media not in MEDIA_TYPES:
            raise ValueError(f"media must be 'video' or 'image', not {media!r}")
        retry = self.retry_failed if retry_failed is None else retry_failed
        rerun = self.rerun_changed if rerun_changed is None else rerun_changed

        def work(conn: sqlite3.Connection) -> JournalRecord:
            existing = _fetch(conn, key)
            if existing is not None:
                changed = existing.request_hash != request_hash or existing.kind != kind
                again = (
                    changed and (rerun or existing.state in (STATE_PENDING, STATE_FAILED))
                ) or (retry and existing.state == STATE_FAILED)
                if not again:
                    return existing
                conn.execute(
                    "UPDATE items SET kind = ?, request_hash = ?, media = ?, state = ?, "
                    "trace_id = NULL, video_id = NULL, status = NULL, url = NULL, "
                    "credits = NULL, error = NULL, error_type = NULL, download_path = NULL, "
                    "submitted_at = NULL, accepted_at = NULL, finished_at = NULL, "
                    "server_finished_at = NULL, slot_limit = NULL, "
                    "updated_at = ? WHERE item_key = ?",
                    (kind, request_hash, media, STATE_PENDING, time.time(), key),
                )
                record = _fetch(conn, key)
                assert record is not None
                return record
            now = time.time()
            conn.execute(
                "INSERT INTO items (item_key, kind, request_hash, state, media, attempts, "
                "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
                (key, kind, request_hash, STATE_PENDING, media, now, now),
            )
            record = _fetch(conn, key)
            assert record is not None
            return record

        return await self._call(work)

    async def begin_submit(self, key: str, trace_id: str) -> None:
        """Record the trace id of a submit about to be sent; committed before returning.

        Call it right before sending the submit. Resubmitting an item left ``submitting`` by
        a crash must reuse its recorded trace id (the server then returns the original job
        if it had been created); to use a fresh one, :meth:`reset_for_resubmit` first.

        Raises:
            JournalError: unknown key; the item is accepted or finished; or it is
                ``submitting`` under a different trace id (a second charge could follow).
        """

        def work(conn: sqlite3.Connection) -> None:
            record = _require(conn, key, self._path)
            if record.state == STATE_SUBMITTING and record.trace_id != trace_id:
                raise JournalError(
                    f"item {key!r} was already submitted with trace id {record.trace_id}; "
                    "resubmit with that trace id (the server deduplicates it), or call "
                    "reset_for_resubmit() if that submit was definitively rejected"
                )
            if record.state not in (STATE_PENDING, STATE_SUBMITTING):
                raise JournalError(
                    f"item {key!r} is {record.state} (video id {record.video_id}); "
                    "submitting it again would pay twice"
                )
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "UPDATE items SET state = ?, trace_id = ?, attempts = attempts + 1, "
                    "submitted_at = ?, updated_at = ? WHERE item_key = ?",
                    (STATE_SUBMITTING, trace_id, now, now, key),
                )
                _event(conn, key, now, EVENT_SUBMIT)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._call(work)

    async def accepted(
        self, key: str, *, video_id: int, credits: int | None, slot_limit: int | None = None
    ) -> None:
        """Record the job id the server gave the item's submit.

        Args:
            key: the item's key.
            video_id: the job id (``video_id``, or ``image_id`` for image jobs).
            credits: the credits the submit reported, when it did.
            slot_limit: the generation-slot limit at the time, when known (for reports).

        Raises:
            JournalError: unknown key; no submit was begun; or the item already has a
                different job id or is finished.
        """

        def work(conn: sqlite3.Connection) -> None:
            record = _require(conn, key, self._path)
            again = record.state == STATE_ACCEPTED and record.video_id == video_id
            if record.state != STATE_SUBMITTING and not again:
                raise JournalError(
                    f"item {key!r} is {record.state} (video id {record.video_id}), so it "
                    f"cannot be accepted as job {video_id}; call begin_submit() before sending"
                )
            now = time.time()
            conn.execute(
                "UPDATE items SET state = ?, video_id = ?, credits = COALESCE(?, credits), "
                "accepted_at = COALESCE(accepted_at, ?), slot_limit = COALESCE(?, slot_limit), "
                "updated_at = ? WHERE item_key = ?",
                (STATE_ACCEPTED, video_id, credits, now, slot_limit, now, key),
            )

        await self._call(work)

    async def finished(
        self,
        key: str,
        *,
        status: int | None,
        url: str | None = None,
        credits: int | None = None,
        error: str | None = None,
        error_type: str | None = None,
        server_finished_at: float | None = None,
    ) -> None:
        """Record the item's terminal outcome: ``succeeded`` if ``status`` is 1 and there is
        no ``error``, else ``failed``. The time it is recorded is the item's ``finished_at``.

        Args:
            key: the item's key.
            status: the job's last status, or ``None`` if it never got a job.
            url: the result URL.
            credits: credits charged; ``None`` keeps what :meth:`accepted` recorded.
            error: what went wrong, for a failed item.
            error_type: the error's class name.
            server_finished_at: when the server says the job ended (see :func:`server_time`).

        Raises:
            JournalError: unknown key, or the item is already finished.
        """
        succeeded = status == VideoStatus.SUCCEEDED and error is None
        state = STATE_SUCCEEDED if succeeded else STATE_FAILED

        def work(conn: sqlite3.Connection) -> None:
            record = _require(conn, key, self._path)
            if record.finished:
                raise JournalError(f"item {key!r} is already {record.state}")
            now = time.time()
            conn.execute(
                "UPDATE items SET state = ?, status = ?, url = ?, "
                "credits = COALESCE(?, credits), error = ?, error_type = ?, finished_at = ?, "
                "server_finished_at = ?, updated_at = ? WHERE item_key = ?",
                (
                    state,
                    status,
                    url,
                    credits,
                    error,
                    error_type,
                    now,
                    server_finished_at,
                    now,
                    key,
                ),
            )

        await self._call(work)

    async def reset_for_resubmit(self, key: str, *, throttled: bool = False) -> None:
        """Forget the item's trace id after a definitive rejection, so a fresh one is used.

        Use it only when the submit is known to have created nothing (e.g. ErrCode 500044,
        or another error answer before acceptance). The item goes back to ``pending``.
        ``throttled=True`` (a 500044) also records the refusal's time as an item event.

        Raises:
            JournalError: unknown key, or the item already has a job or is finished.
        """

        def work(conn: sqlite3.Connection) -> None:
            record = _require(conn, key, self._path)
            if record.state not in (STATE_PENDING, STATE_SUBMITTING):
                raise JournalError(
                    f"item {key!r} is {record.state} (video id {record.video_id}); "
                    "resetting it for resubmission could pay twice"
                )
            now = time.time()
            if not throttled:
                conn.execute(
                    "UPDATE items SET state = ?, trace_id = NULL, updated_at = ? "
                    "WHERE item_key = ?",
                    (STATE_PENDING, now, key),
                )
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "UPDATE items SET state = ?, trace_id = NULL, updated_at = ? "
                    "WHERE item_key = ?",
                    (STATE_PENDING, now, key),
                )
                _event(conn, key, now, EVENT_THROTTLED)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self._call(work)

    async def downloaded(self, key: str, path: str) -> None:
        """Record where a succeeded item's result was saved.

        Raises:
            JournalError: unknown key, or the item has not succeeded.
        """

        def work(conn: sqlite3.Connection) -> None:
            record = _require(conn, key, self._path)
            if record.state != STATE_SUCCEEDED:
                raise JournalError(f"item {key!r} is {record.state}; only results download")
            conn.execute(
                "UPDATE items SET download_path = ?, updated_at = ? WHERE item_key = ?",
                (path, time.time(), key),
            )

        await self._call(work)

    async def get(self, key: str) -> JournalRecord | None:
        """The item's record, or ``None`` if it was never planned."""
        return await self._call(lambda conn: _fetch(conn, key))

    async def records(self) -> list[JournalRecord]:
        """Every record, in the order the items were planned."""

        def work(conn: sqlite3.Connection) -> list[JournalRecord]:
            rows = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM items ORDER BY seq").fetchall()
            return [_record(row) for row in rows]

        return await self._call(work)

    async def timings(self) -> list[ItemTimes]:
        """Every item's timeline (times, submits, 500044 refusals), in planning order.

        One consistent snapshot, also of a journal a run is writing; a journal older than
        schema 3 reads with ``None`` times and no events.
        """

        def work(conn: sqlite3.Connection) -> list[ItemTimes]:
            conn.execute("BEGIN")
            try:
                present = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
                extra = ", ".join(c if c in present else "NULL" for c, _ in _TIMING_COLUMNS)
                rows = conn.execute(
                    "SELECT seq, item_key, kind, state, status, credits, error, error_type, "
                    f"attempts, created_at, updated_at, {extra} FROM items ORDER BY seq"
                ).fetchall()
                submits: dict[int, list[float]] = {}
                throttled: dict[int, list[float]] = {}
                if "item_events" in _tables(conn):
                    for seq, at, event in conn.execute(
                        "SELECT item_seq, at, event FROM item_events ORDER BY at"
                    ):
                        into = throttled if event == EVENT_THROTTLED else submits
                        into.setdefault(seq, []).append(float(at))
            finally:
                conn.execute("COMMIT")
            return [_times(row, submits.get(row[0], ()), throttled.get(row[0], ())) for row in rows]

        return await self._call(work)

    async def summary(self) -> dict[str, int]:
        """Counts per state (every state, zeros included), ``total`` items, ``credits``: the
        credits of succeeded items, and ``credits_running``: the credits charged for jobs
        still running (``accepted``; refunded if they end failed or moderated)."""

        def work(conn: sqlite3.Connection) -> dict[str, int]:
            counts = dict.fromkeys(STATES, 0)
            for state, count in conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state"):
                counts[state] = count
            credits = dict.fromkeys((STATE_SUCCEEDED, STATE_ACCEPTED), 0)
            for state, total in conn.execute(
                "SELECT state, COALESCE(SUM(credits), 0) FROM items WHERE state IN (?, ?) "
                "GROUP BY state",
                (STATE_SUCCEEDED, STATE_ACCEPTED),
            ):
                credits[state] = int(total)
            return {
                **counts,
                "total": sum(counts.values()),
                "credits": credits[STATE_SUCCEEDED],
                "credits_running": credits[STATE_ACCEPTED],
            }

        return await self._call(work)

    async def get_meta(self, name: str) -> str | None:
        """A value of the journal's ``journal_meta`` table (e.g. :data:`META_DEFAULT_KEYS`)."""

        def work(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM journal_meta WHERE name = ?", (name,)).fetchone()
            return None if row is None else str(row[0])

        return await self._call(work)

    async def set_meta(self, name: str, value: str) -> None:
        """Store a value in the journal's ``journal_meta`` table."""
        await self._call(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO journal_meta (name, value) VALUES (?, ?)", (name, value)
            )
        )

    async def rename_keys(self, renames: Mapping[str, tuple[str, str]]) -> int:
        """Rename records in one transaction: ``{old_key: (new_key, request_hash)}``.

        A record is renamed only if it exists under ``old_key`` with that ``request_hash`` (so
        only the same request moves) and ``new_key`` is not taken by a record that stays.
        Used to move a schema 1 journal's position keys to line-number keys.

        Returns:
            How many records were renamed.
        """

        def work(conn: sqlite3.Connection) -> int:
            moving = {}
            for old, (new, digest) in renames.items():
                record = _fetch(conn, old)
                if record is not None and record.request_hash == digest and old != new:
                    moving[old] = new
            keys = {key for (key,) in conn.execute("SELECT item_key FROM items")}
            while True:  # a blocked rename keeps its record in place, which may block another
                staying = keys - set(moving)
                kept = {old: new for old, new in moving.items() if new not in staying}
                if kept == moving:
                    break
                moving = kept
            if not moving:
                return 0
            conn.execute("BEGIN IMMEDIATE")
            try:
                # two steps, so "1" -> "2" while "2" -> "3" never meets the UNIQUE constraint
                for n, old in enumerate(moving):
                    conn.execute(
                        "UPDATE items SET item_key = ? WHERE item_key = ?", (f"\0rename{n}", old)
                    )
                for n, new in enumerate(moving.values()):
                    conn.execute(
                        "UPDATE items SET item_key = ? WHERE item_key = ?", (new, f"\0rename{n}")
                    )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return len(moving)

        return await self._call(work)

    # -- caches shared by the batch's items ----------------------------------------------------

    async def cached_upload(self, content_hash: str, kind: str) -> int | None:
        """The upload id of content already uploaded in this batch, if any.

        Args:
            content_hash: a hash of the uploaded bytes.
            kind: ``"image"`` (``img_id``) or ``"media"`` (``media_id``).
        """
        _check_upload_kind(kind)
        if not self._reuse_cached_ids:
            return None

        def work(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT upload_id FROM upload_cache WHERE content_hash = ? AND kind = ?",
                (content_hash, kind),
            ).fetchone()
            return None if row is None else int(row[0])

        return await self._call(work)

    async def cache_upload(self, content_hash: str, kind: str, upload_id: int) -> None:
        """Remember an upload's id so other items (and a re-run) reuse it."""
        _check_upload_kind(kind)
        await self._call(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO upload_cache (content_hash, kind, upload_id, created_at)"
                " VALUES (?, ?, ?, ?)",
                (content_hash, kind, upload_id, time.time()),
            )
        )

    async def cached_masks(self, source: str, keyframe: int) -> dict[str, str] | None:
        """Masks already detected for a source frame, as ``{mask_name: mask_id}``, if any.

        Args:
            source: what the masks were detected on, e.g. ``"media:123"``.
            keyframe: the frame they were detected on.
        """
        if not self._reuse_cached_ids:
            return None

        def work(conn: sqlite3.Connection) -> dict[str, str] | None:
            row = conn.execute(
                "SELECT masks FROM mask_cache WHERE source = ? AND keyframe = ?",
                (source, keyframe),
            ).fetchone()
            return None if row is None else dict(json.loads(row[0]))

        return await self._call(work)

    async def cache_masks(self, source: str, keyframe: int, masks: dict[str, str]) -> None:
        """Remember the masks detected for a source frame."""
        text = json.dumps(masks, sort_keys=True)
        await self._call(
            lambda conn: conn.execute(
                "INSERT OR REPLACE INTO mask_cache (source, keyframe, masks, created_at) "
                "VALUES (?, ?, ?, ?)",
                (source, keyframe, text, time.time()),
            )
        )


def _check_upload_kind(kind: str) -> None:
    if kind not in UPLOAD_KINDS:
        raise ValueError(f"upload kind must be 'image' or 'media', not {kind!r}")


def _fetch(conn: sqlite3.Connection, key: str) -> JournalRecord | None:
    row = conn.execute(f"SELECT {_RECORD_COLUMNS} FROM items WHERE item_key = ?", (key,)).fetchone()
    return None if row is None else _record(row)


def _require(conn: sqlite3.Connection, key: str, path: str) -> JournalRecord:
    record = _fetch(conn, key)
    if record is None:
        raise JournalError(f"journal {path!r} has no item {key!r}; call plan() first")
    return record


def _times(row: tuple[Any, ...], submits: Any, throttled: Any) -> ItemTimes:
    fields = dict(zip(_TIMES_FIELDS, row[1:], strict=True))
    return ItemTimes(**fields, submits=tuple(submits), throttled=tuple(throttled))


#: :class:`ItemTimes`' columns, as :meth:`Journal.timings` selects them after ``seq``.
_TIMES_FIELDS = (
    *("key", "kind", "state", "status", "credits", "error", "error_type", "attempts"),
    *("created_at", "updated_at", *(column for column, _ in _TIMING_COLUMNS)),
)


def _event(conn: sqlite3.Connection, key: str, at: float, event: str) -> None:
    conn.execute(
        "INSERT INTO item_events (item_seq, at, event) "
        "SELECT seq, ?, ? FROM items WHERE item_key = ?",
        (at, event, key),
    )


# -- opening (runs in a worker thread) -----------------------------------------------------------


class _FileLock:
    """The writer's exclusive ``flock`` on the journal file (see the module doc).

    ``flock`` locks belong to one open file description, so a second :class:`Journal` in the
    same process is refused too, and they never mix with SQLite's own POSIX locks. The files
    this process holds are also remembered, so a refused second open in the same process
    never opens (and closes) the file, which would drop the owner's POSIX locks.
    """

    _held: ClassVar[set[tuple[int, int]]] = set()

    def __init__(self, fd: int, ident: tuple[int, int]) -> None:
        self._fd: int | None = fd
        self._ident = ident

    @classmethod
    def acquire(cls, path: str) -> _FileLock | None:
        """Lock ``path`` (creating it empty if missing); ``None`` where ``flock`` does not exist.

        Raises:
            JournalError: another writer holds it, or the file cannot be opened.
        """
        if sys.platform == "win32":  # pragma: no cover (SQLite's EXCLUSIVE mode instead)
            return None
        try:
            info = os.stat(path)
        except OSError:
            pass
        else:
            if (info.st_dev, info.st_ino) in cls._held:
                raise _in_use(path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise JournalError(
                f"cannot open journal {path!r} ({exc.strerror or exc}): check that its "
                "directory exists and is writable"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise _in_use(path) from None
        info = os.fstat(fd)
        ident = (info.st_dev, info.st_ino)
        cls._held.add(ident)
        return cls(fd, ident)

    def release(self) -> None:
        """Unlock (idempotent); call after the SQLite connection is closed."""
        fd, self._fd = self._fd, None
        if fd is not None:
            self._held.discard(self._ident)
            os.close(fd)


def _in_use(path: str) -> JournalError:
    return JournalError(
        f"journal {path!r} is in use by another run (or another Journal); wait for that run "
        "to end, or use another journal file (reading it is fine: `pixverse-async batch "
        "status` opens it read-only)"
    )


def _connect(path: str, fingerprint: str | None) -> tuple[sqlite3.Connection, _FileLock | None]:
    lock = _FileLock.acquire(path)
    try:
        try:
            conn = sqlite3.connect(
                path, timeout=LOCK_WAIT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _open_error(path, exc) from exc
        try:
            _prepare(conn, path, fingerprint, exclusive=lock is None)
            if lock is not None:
                # the flock keeps other writers out: readers' brief locks are worth a wait
                conn.execute(f"PRAGMA busy_timeout = {int(WRITE_LOCK_WAIT_SECONDS * 1000)}")
        except BaseException:
            conn.close()
            raise
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return conn, lock


def _connect_read_only(path: str) -> sqlite3.Connection:
    if not os.path.isfile(path):
        raise JournalError(f"no journal at {path!r}")
    uri = "file:" + urllib.parse.quote(os.path.abspath(path)) + "?mode=ro"
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=READ_LOCK_WAIT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise _open_error(path, exc, read_only=True) from exc
    try:
        try:
            tables = _tables(conn)
        except sqlite3.Error as exc:
            raise _open_error(path, exc, read_only=True) from exc
        if not tables:
            raise JournalError(f"{path!r} holds no journal yet (no batch has written to it)")
        _validate(conn, path, tables)
    except BaseException:
        conn.close()
        raise
    return conn


def _prepare(
    conn: sqlite3.Connection, path: str, fingerprint: str | None, *, exclusive: bool
) -> None:
    try:
        if exclusive:
            # no flock on this platform: SQLite's exclusive lock, taken before the first read
            # and held until close, keeps other writers (and readers) out
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        tables = _tables(conn)
    except sqlite3.Error as exc:
        raise _open_error(path, exc) from exc
    if tables:
        # Read-only check first: a file that is not a journal is refused before anything
        # (even its journal mode) is changed.
        _validate(conn, path, tables)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.Error as exc:
        raise _open_error(path, exc) from exc
    try:
        _ensure_schema(conn, path, fingerprint)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    return {name for (name,) in rows}


def _open_error(path: str, exc: sqlite3.Error, *, read_only: bool = False) -> JournalError:
    if _is_busy(exc):
        if read_only:
            return JournalError(
                f"journal {path!r} is locked by the run writing it ({exc}); try again in a "
                "moment (on platforms without flock it can only be read after the run ends)"
            )
        return _in_use(path)
    if _is_cantopen(exc):
        if read_only:
            return JournalError(f"cannot open journal {path!r} for reading ({exc})")
        return JournalError(
            f"cannot open journal {path!r} ({exc}): check that its directory exists and is writable"
        )
    return JournalCorruptError(
        f"{path!r} is not a readable pixverse_async journal ({exc}); use another journal "
        "file, or restore the original one"
    )


def _ensure_schema(conn: sqlite3.Connection, path: str, fingerprint: str | None) -> None:
    tables = _tables(conn)
    if not tables:
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT INTO journal_meta (name, value) VALUES (?, ?)",
            [(_META_FORMAT, JOURNAL_FORMAT), (_META_VERSION, str(SCHEMA_VERSION))],
        )
    else:
        _validate(conn, path, tables)
        version = conn.execute(
            "SELECT value FROM journal_meta WHERE name = ?", (_META_VERSION,)
        ).fetchone()[0]
        if int(version) < 2:  # 1 -> 2: same tables; keys were positions
            conn.execute(
                "INSERT OR REPLACE INTO journal_meta (name, value) VALUES (?, ?)",
                (META_DEFAULT_KEYS, "position"),
            )
        if int(version) < 3:  # 2 -> 3: timestamps and item events (empty for earlier items)
            present = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
            for column, sql_type in _TIMING_COLUMNS:
                if column not in present:
                    conn.execute(f"ALTER TABLE items ADD COLUMN {column} {sql_type}")
            if "item_events" not in tables:
                conn.execute(_EVENTS_TABLE)
        if int(version) < SCHEMA_VERSION:
            conn.execute(
                "UPDATE journal_meta SET value = ? WHERE name = ?",
                (str(SCHEMA_VERSION), _META_VERSION),
            )
    if fingerprint is None:
        return
    row = conn.execute(
        "SELECT value FROM journal_meta WHERE name = ?", (_META_FINGERPRINT,)
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO journal_meta (name, value) VALUES (?, ?)",
            (_META_FINGERPRINT, fingerprint),
        )
    elif row[0] != fingerprint:
        raise JournalMismatchError(
            f"journal {path!r} belongs to a different batch input (fingerprint "
            f"{row[0][:16]}…, this input {fingerprint[:16]}…); rerun with the original input "
            "to resume it, or use another journal file to start a fresh batch"
        )


def _validate(conn: sqlite3.Connection, path: str, tables: set[str]) -> None:
    def corrupt(why: str) -> JournalCorruptError:
        return JournalCorruptError(
            f"{path!r} is not a pixverse_async journal: {why}; use another journal file (or "
            "the right one)"
        )

    if "journal_meta" not in tables:
        raise corrupt(f"it holds other tables ({', '.join(sorted(tables))})")
    meta = dict(conn.execute("SELECT name, value FROM journal_meta").fetchall())
    if meta.get(_META_FORMAT) != JOURNAL_FORMAT:
        raise corrupt("its journal_meta table does not name the journal format")
    version = meta.get(_META_VERSION, "")
    if not str(version).isdigit():
        raise corrupt(f"unreadable schema version {version!r}")
    if int(version) > SCHEMA_VERSION:
        raise JournalCorruptError(
            f"journal {path!r} has schema version {version}, newer than this pixverse_async "
            f"understands ({SCHEMA_VERSION}); upgrade pixverse_async to resume it"
        )
    if int(version) not in READABLE_VERSIONS:
        raise corrupt(f"unknown schema version {version}")
    for table, columns in _REQUIRED_COLUMNS.items():
        if table not in tables:
            raise corrupt(f"table {table!r} is missing")
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        missing = columns - present
        if missing:
            raise corrupt(f"table {table!r} lacks columns {', '.join(sorted(missing))}")
    if int(version) >= 3:
        if "item_events" not in tables:
            raise corrupt("table 'item_events' is missing")
        present = {row[1] for row in conn.execute("PRAGMA table_info(items)")}
        missing = {column for column, _ in _TIMING_COLUMNS} - present
        if missing:
            raise corrupt(f"table 'items' lacks columns {', '.join(sorted(missing))}")
