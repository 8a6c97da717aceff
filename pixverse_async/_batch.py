"""Fan-out and gather: many generation jobs, per-item outcomes, a journal, resume.

::

    items = [BatchItem("modify", {"video_media_id": "clips/a.mp4", "prompt": p,
                                  "mask_names": ["person"], "img_ids": ["face.png"],
                                  "quality": "540p"}, key=f"a-{i}") for i, p in enumerate(prompts)]
    async with client.batch(items, journal="run.db", download_dir="out") as batch:
        async for outcome in batch:           # as each job ends
            print(outcome.key, outcome.url or outcome.error)

- Input is any iterable or async iterable of :class:`BatchItem` (or ``{"key", "kind",
  "params"}`` mappings), consumed lazily by a fixed pool of workers: memory stays bounded
  whatever the input's length. The generation-slot limiter decides how many jobs run.
- Every item ends with an :class:`ItemOutcome` (a result or a typed error); one item's
  failure never fails the batch. A finite input is validated whole before the first credit
  is spent (:class:`BatchValidationError` lists every bad item).
- Local files: an id field (``video_media_id``, ``audio_media_id``, ``img_id``,
  ``img_ids``, ``first_frame_img``, ``last_frame_img``, ``image_references[].img_id``,
  ``multi_transition[].img_id``) may hold a file path instead; each distinct file is uploaded
  once (by content hash, cached in the journal).
- Masks by name: ``mask_names`` (modify) or ``mask_name`` (swap), with an optional
  ``keyframe_id`` (or ``keyframe_ids``; default 1), run mask selection once per (video,
  keyframe) and fill in ``mask_ids`` / ``mask_id`` and the keyframe.
- Journal (SQLite): the trace id is written before each submit, then the job id, then the
  outcome. Re-running with the same journal skips finished items, re-attaches accepted ones
  to polling, and resubmits the rest with their recorded trace id, so nothing is paid twice.
  ``retry_failed`` submits failed items again (new trace ids). Items are matched to their
  records by key and fingerprint (:func:`request_hash`): an edited item that never succeeded
  and is not running runs with its new request; one that succeeded or is running is kept as
  it was (its outcome has ``changed=True``; :attr:`Batch.changed` lists them up front for a
  finite input) unless ``rerun_changed`` is given.
- Budget: ``max_credits`` stops submitting before the projected spend passes it; ErrCode
  500090 stops submitting. Items not submitted end with :class:`BatchStoppedError`
  (``outcome.not_submitted``); they are counted apart from failures
  (``summary.not_submitted``) and stay unsubmitted in the journal, so a re-run submits them.
"""

from __future__ import annotations

import difflib
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
import anyio.abc

from . import _pricing as pricing
from ._constants import BATCH_DOWNLOADS, BATCH_WORKERS
from ._endpoints import KINDS, Endpoint, endpoint_for
from ._exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ClientClosedError,
    InsufficientCreditsError,
    JobError,
    JobTimeoutError,
    PixVerseError,
    RequestValidationError,
    ServerBusyError,
    ServerError,
)
from ._jobs import Job
from ._journal import Journal, JournalError, JournalRecord, request_hash, server_time
from .types._base import build
from .types.image import ImageResult
from .types.video import VideoResult

if TYPE_CHECKING:
    from ._client import AsyncPixVerse
    from ._submit import Submitter

logger = logging.getLogger("pixverse_async")

DEFAULT_WORKERS = BATCH_WORKERS
DEFAULT_DOWNLOADS = BATCH_DOWNLOADS
_AMBIGUOUS = (APIConnectionError, ServerError, ServerBusyError)


_IMAGE_FIELDS = ("img_id", "first_frame_img", "last_frame_img")
_MEDIA_FIELDS = ("video_media_id", "audio_media_id")


@dataclass(frozen=True)
class BatchItem:
    """One job of a batch.

    Args:
        kind: ``"modify"``, ``"text_to_video"``, ``"image_to_video"``, ``"template"``,
            ``"transition"``, ``"multi_transition"``, ``"fusion"``, ``"extend"``,
            ``"lip_sync"``, ``"sound_effect"``, ``"restyle"``, ``"swap"``, ``"mimic"``,
            ``"upscale"`` or ``"image_template"``.
        params: the API's fields for that kind (files and mask names allowed, see module doc).
        key: a stable identifier (default: the item's position); the journal's key.
    """

    kind: str
    params: Mapping[str, Any]
    key: str | None = None


@dataclass(frozen=True)
class ItemOutcome:
    """How one item ended.

    Attributes:
        index: position in the input. key: the item's key. kind: its kind.
        job_id: the video_id / image_id, when a job was created.
        result: the final status snapshot on success.
        error: the typed error otherwise (``None`` on success).
        credits: credits charged (``None`` if unknown or refunded).
        path: the downloaded file, when ``download_dir`` was given.
        resumed: the outcome came from (or continued) an earlier run's journal.
        url: the result URL on success.
        changed: the item differs from its journal record, which succeeded or was running
            and was kept (pass ``rerun_changed=True`` to run the new request).
    """

    index: int
    key: str
    kind: str
    job_id: int | None = None
    result: VideoResult | ImageResult | None = None
    error: BaseException | None = None
    credits: int | None = None
    path: Path | None = None
    resumed: bool = False
    url: str | None = None
    changed: bool = False

    @property
    def ok(self) -> bool:
        """Whether the item succeeded."""
        return self.error is None

    @property
    def not_submitted(self) -> bool:
        """Whether the batch stopped before submitting the item (budget, credits, key, a
        stop): not a failure; a re-run with the same journal submits it."""
        return isinstance(self.error, BatchStoppedError)


EventType = Literal[
    "submitted",
    "accepted",
    "throttled",
    "retried",
    "succeeded",
    "failed",
    "not_submitted",
    "skipped",
    "downloaded",
]


@dataclass(frozen=True)
class BatchEvent:
    """A progress event (see ``on_event``)."""

    type: EventType
    key: str
    index: int
    job_id: int | None = None
    credits: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class ItemError:
    """One problem of one item, found by :func:`validate_items`.

    Attributes:
        index: the item's position in the input (0-based).
        key: its key (the default one if it has none).
        error: what is wrong.
        duplicate_of: for a repeated key (the journal could not tell the items apart), the
            position of the first item with that key; ``None`` for other problems.
    """

    index: int
    key: str
    error: RequestValidationError
    duplicate_of: int | None = None


class BatchValidationError(RequestValidationError):
    """Items of a finite batch failed validation; nothing was submitted.

    Attributes:
        errors: ``(key, error)`` for every problem, in input order (an item may have two:
            a duplicate key and a bad parameter).
        items: the same as :class:`ItemError` objects, with each item's position.
    """

    def __init__(self, errors: list[ItemError]) -> None:
        lines = [f"  {e.key}: {e.error}" for e in errors[:20]]
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(
            f"{len(errors)} batch item problem(s); nothing was submitted:\n"
            + "\n".join(lines)
            + more
        )
        self.items = errors
        self.errors = [(e.key, e.error) for e in errors]


StopReason = Literal["budget", "credits", "key", "stopped"]


class BatchStoppedError(PixVerseError):
    """The item was not submitted: the batch stopped submitting. Not a failure of the item:
    its journal record stays unsubmitted and a re-run submits it.

    Attributes:
        reason: ``"budget"`` (``max_credits``), ``"credits"`` (ErrCode 500090), ``"key"``
            (the API key was refused) or ``"stopped"`` (:meth:`Batch.stop`, e.g. Ctrl-C).
    """

    def __init__(self, message: str, *, reason: StopReason = "stopped") -> None:
        super().__init__(message)
        self.reason: StopReason = reason


@dataclass
class BatchSummary:
    """Counters of a running batch."""

    total: int = 0
    submitted: int = 0
    succeeded: int = 0
    #: items that failed (items not submitted are counted in ``not_submitted`` instead)
    failed: int = 0
    not_submitted: int = 0
    skipped: int = 0
    #: items kept as the journal had them although they changed (see ``rerun_changed``)
    changed: int = 0
    throttled: int = 0
    #: credits charged in this run (net of refunds), running jobs' included
    credits: int = 0
    #: of ``credits``, those charged for jobs still running
    credits_running: int = 0
    running: int = 0
    stopped: str | None = None
    stop_reason: StopReason | None = None


@dataclass
class _Work:
    index: int
    key: str
    kind: str
    spec: Endpoint
    params: dict[str, Any]
    record: JournalRecord | None = None
    resumed: bool = False
    changed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


#: journal states in which a changed item is kept as it was (without rerun_changed)
_KEPT_WHEN_CHANGED = frozenset({"submitting", "accepted", "succeeded"})


def _coerce(index: int, raw: BatchItem | Mapping[str, Any]) -> BatchItem:
    if isinstance(raw, BatchItem):
        return raw
    if isinstance(raw, Mapping) and "kind" in raw:
        key = raw.get("key")
        return BatchItem(
            str(raw["kind"]), dict(raw.get("params") or {}), None if key is None else str(key)
        )
    raise RequestValidationError(
        f"item {index}: expected a BatchItem or a mapping with 'kind' and 'params'", field="kind"
    )


def _is_path(value: Any) -> bool:
    return isinstance(value, (str, os.PathLike))


def _placeholders(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params with file paths and mask names replaced by dummy ids, for validation."""
    out = dict(params)
    for name in (*_IMAGE_FIELDS, *_MEDIA_FIELDS):
        if _is_path(out.get(name)):
            out[name] = 1
    if isinstance(out.get("img_ids"), list):
        out["img_ids"] = [1 if _is_path(v) else v for v in out["img_ids"]]
    for name in ("image_references", "multi_transition"):
        if isinstance(out.get(name), list):
            out[name] = [
                {**v, "img_id": 1} if isinstance(v, Mapping) and _is_path(v.get("img_id")) else v
                for v in out[name]
            ]
    names = out.pop("mask_names", None)
    if names is not None:
        out["mask_ids"] = ["0"] * len(names) if isinstance(names, list) else names
        _fill_keyframe(out, _keyframe(out))
    name = out.pop("mask_name", None)
    if name is not None:
        out["mask_id"] = "0"
        _fill_keyframe(out, _keyframe(out))
    return out


def _estimate(kind: str, params: Mapping[str, Any]) -> int | None:
    """Credits a job will cost, when the request alone tells (source-based kinds do not)."""
    try:
        if kind in ("text_to_video", "image_to_video", "transition", "fusion", "extend"):
            if params.get("template_id") is not None:
                return pricing.template_video_price(params["quality"])
            return pricing.model_price(
                params["model"],
                params["quality"],
                int(params["duration"]),
                fast=params.get("motion_mode") == "fast",
                audio=bool(params.get("generate_audio_switch")),
                multi_clip=bool(params.get("generate_multi_clip_switch")),
            ) + pricing.addons(
                int(params["duration"]),
                sound_effect=bool(params.get("sound_effect_switch")),
                lip_sync=bool(params.get("lip_sync_tts_switch")),
            )
        if kind == "template":
            return pricing.template_video_price(params["quality"])
        if kind == "multi_transition":
            total = sum(int(i.get("duration") or 0) for i in params["multi_transition"])
            return pricing.multi_transition_price(
                params["quality"], total, fast=params.get("motion_mode") == "fast"
            )
        if kind == "image_template":
            return pricing.IMAGE_TEMPLATE_CREDITS
        if kind == "lip_sync" and params.get("lip_sync_tts_content"):
            return pricing.lip_sync_tts_price(params["lip_sync_tts_content"])
    except (KeyError, TypeError, ValueError):
        return None
    return None


#: batch-only fields, resolved before the request model sees the params
_BATCH_FIELDS: Mapping[str, frozenset[str]] = {
    "modify": frozenset({"mask_names"}),
    "swap": frozenset({"mask_name"}),
}


def _closest(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, else ``""``."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _endpoint(kind: str, params: Mapping[str, Any]) -> tuple[Endpoint, dict[str, Any]]:
    """:func:`endpoint_for`, suggesting the closest kind for an unknown one."""
    if kind not in KINDS:
        raise RequestValidationError(
            f"unknown kind {kind!r}{_closest(kind, KINDS)}; use one of {', '.join(sorted(KINDS))}",
            field="kind",
        )
    return endpoint_for(kind, params)


def _check_fields(spec: Endpoint, params: Mapping[str, Any]) -> None:
    """Name every unknown field at once, each with the closest known one."""
    known = {
        info.alias or name for name, info in spec.model.model_fields.items()
    } | _BATCH_FIELDS.get(spec.kind, frozenset())
    unknown = [name for name in params if name not in known]
    if unknown:
        named = ", ".join(f"{name!r}{_closest(name, known)}" for name in unknown)
        raise RequestValidationError(
            f"unknown field(s) {named} for kind {spec.kind!r}", field=unknown[0]
        )


def validate_items(
    items: Iterable[BatchItem | Mapping[str, Any]],
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> list[ItemError]:
    """Check every item without any network access; return every problem found.

    Each item is checked for its kind (the closest known kind is suggested), unknown fields
    (with the closest known field), the files it names (relative to ``base_dir``, default
    the current folder) and the request model's rules. A repeated key is reported on the
    repeating item, which is still checked for its own errors. Uploads and mask lookups are
    not performed: file paths and mask names are checked for shape only.

    Returns:
        The problems in input order (empty when every item is valid).
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    errors: list[ItemError] = []
    first: dict[str, int] = {}
    for index, raw in enumerate(items):
        key = str(index)
        try:
            item = _coerce(index, raw)
            key = item.key or key
            if key in first:
                duplicate = RequestValidationError(
                    f"duplicate key {key!r} (first used by item {first[key]})", field="key"
                )
                errors.append(ItemError(index, key, duplicate, duplicate_of=first[key]))
            else:
                first[key] = index
            spec, params = _endpoint(item.kind, item.params)
            _check_fields(spec, params)
            for path in _paths_in(params):
                full = base / path
                if not full.is_file():
                    raise RequestValidationError(f"file not found: {full}", field=str(path))
            build(spec.model, **_placeholders(params))
        except RequestValidationError as err:
            errors.append(ItemError(index, key, err))
    return errors


@dataclass(frozen=True)
class CostEstimate:
    """What one item is projected to cost, before anything is sent.

    Attributes:
        kind: the item's kind.
        credits: the projected credits, or ``None`` when they cannot be known before the
            submit (the source is an earlier job or an uploaded id, or a local file whose
            length cannot be read without decoding it).
        masks: mask-selection lookups the item needs (``mask_names`` / ``mask_name``), as
            ``(video, keyframe)`` pairs; each distinct pair costs
            :data:`pricing.MASK_SELECTION_CREDITS` once per run.
        why: why ``credits`` is ``None``.
    """

    kind: str
    credits: int | None
    masks: tuple[tuple[str, int], ...] = ()
    why: str = ""


#: what a source-priced kind charges per source second (the source's quality where it has one;
#: lip sync: its audio's seconds)
_SOURCE_PRICED: Mapping[str, Callable[[Mapping[str, Any], float], int]] = {
    "modify": lambda p, s: pricing.modify_price(p["quality"], s),
    "swap": lambda p, s: pricing.swap_price(p["quality"], s),
    "mimic": lambda p, s: pricing.mimic_price(p["quality"], s),
    "restyle": lambda p, s: pricing.restyle_price(s),
    "sound_effect": lambda p, s: pricing.sound_effect_price(s),
    "upscale": lambda p, s: pricing.upscale_price(s),
    "lip_sync": lambda p, s: pricing.lip_sync_audio_price(s),
}


def media_seconds(path: Path) -> float | None:
    """The length of a local MP4/MOV/M4A (from its ``moov`` header) or WAV file, in seconds.

    Reads only the headers (the same stdlib parser the emulator uses); ``None`` for other
    formats (e.g. WebM, MP3: reading their length would need a decoder this package does not
    depend on) or an unreadable file.
    """
    from .emulator._media import Mp4Scanner, wav_seconds

    try:
        with path.open("rb") as f:
            head = f.read(_HEAD_BYTES)
            seconds = wav_seconds(head)
            if seconds is not None:
                return seconds
            scanner = Mp4Scanner()
            chunk = head
            while chunk:
                scanner.feed(chunk)
                if scanner.info.seconds is not None or not scanner.is_iso:
                    break
                chunk = f.read(_SCAN_BYTES)
    except OSError:
        return None
    return scanner.info.seconds


_HEAD_BYTES = 64 * 1024
_SCAN_BYTES = 1 << 20


def estimate_item(
    item: BatchItem | Mapping[str, Any],
    *,
    base_dir: str | os.PathLike[str] | None = None,
) -> CostEstimate:
    """Project one valid item's credits from the reference's credits model, sending nothing.

    Source-priced kinds (modify, swap, mimic, restyle, sound effect, upscale, lip sync with
    audio) are priced from the local file's length when :func:`media_seconds` can read it;
    a source given as an id (an earlier job or upload) is unknown until the submit answers.
    """
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    item = _coerce(0, item)
    spec, params = _endpoint(item.kind, item.params)
    masks: tuple[tuple[str, int], ...] = ()
    if params.get("mask_names") is not None or params.get("mask_name") is not None:
        source = params.get("video_media_id", params.get("source_video_id"))
        masks = ((str(source), _keyframe(params)),)
    kind = spec.kind
    credits = _estimate(kind, params)
    if credits is not None:
        return CostEstimate(kind, credits, masks)
    if kind in _SOURCE_PRICED:
        field_name = "audio_media_id" if kind == "lip_sync" else "video_media_id"
        if kind == "lip_sync" and params.get(field_name) is None:
            return CostEstimate(kind, None, masks, "unknown until submit (no audio file)")
        source = params.get(field_name)
        if not isinstance(source, (str, os.PathLike)):
            return CostEstimate(kind, None, masks, "unknown until submit (source is an id)")
        seconds = media_seconds(base / source)
        if seconds is None:
            return CostEstimate(
                kind, None, masks, f"unknown until upload (cannot read the length of {source})"
            )
        try:
            price = _SOURCE_PRICED[kind](params, seconds)
        except KeyError:
            return CostEstimate(kind, None, masks, "unknown (no price for this quality)")
        return CostEstimate(kind, price, masks)
    return CostEstimate(kind, None, masks, "unknown until submit")


class Batch:
    """A running batch; create it with :meth:`AsyncPixVerse.batch` and use it as a context.

    Iterating yields :class:`ItemOutcome` objects as jobs end; :meth:`run` (or
    :meth:`AsyncPixVerse.run_batch`) returns them all in input order. Leaving the context
    early (``break``, an exception, cancellation) stops submitting; running jobs keep their
    journal records and are picked up by the next run.

    Attributes:
        changed: for a finite input with a journal, ``(index, key, state)`` of every item
            whose request differs from its journal record but that succeeded or is running,
            so it is kept as it was (known once the context is entered; see
            ``rerun_changed``).
    """

    def __init__(
        self,
        client: AsyncPixVerse,
        submitter: Submitter,
        items: Iterable[BatchItem | Mapping[str, Any]]
        | AsyncIterable[BatchItem | Mapping[str, Any]],
        *,
        journal: str | os.PathLike[str] | Journal | None = None,
        fingerprint: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        download_dir: str | os.PathLike[str] | None = None,
        max_credits: int | None = None,
        on_event: Callable[[BatchEvent], None] | None = None,
        workers: int = DEFAULT_WORKERS,
        downloads: int = DEFAULT_DOWNLOADS,
        job_timeout: float | None = None,
        retry_failed: bool | None = None,
        rerun_changed: bool | None = None,
    ) -> None:
        """See :meth:`AsyncPixVerse.batch`.

        Args:
            retry_failed: submit items the journal has as failed again, with new trace ids
                (``None``: the journal's own default, ``False`` unless it was opened with
                ``retry_failed=True``).
            rerun_changed: run items whose request changed since the journal recorded them
                even if they succeeded or are running (``None``: the journal's default).
        """
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self._client = client
        self._submitter = submitter
        self._items = items
        self._journal_arg = journal
        self._fingerprint = fingerprint
        self._base = Path(base_dir) if base_dir is not None else Path.cwd()
        self._download_dir = Path(download_dir) if download_dir is not None else None
        self.max_credits = max_credits
        self._on_event = on_event
        self._workers = workers
        self._download_limit = anyio.Semaphore(downloads)
        self._job_timeout = job_timeout
        self._retry_failed = retry_failed
        self._rerun_changed = rerun_changed
        self.changed: list[tuple[int, str, str]] = []
        self.summary = BatchSummary()
        self.journal: Journal | None = None
        self._owns_journal = False
        self._reserved = 0  # projected credits of submits in the air
        #: why the account refuses more work (500090, refused key): even items already
        #: waiting for a slot are not sent. A budget stop only keeps new items back.
        self._halted: str | None = None
        self._halt_reason: StopReason = "stopped"
        self._max_seen: dict[str, int] = {}
        self._uploads: dict[tuple[str, str], anyio.Event | int] = {}
        self._masks: dict[tuple[str, int], dict[str, str] | anyio.Event] = {}
        self._tg: anyio.abc.TaskGroup | None = None
        self._send: anyio.abc.ObjectSendStream[ItemOutcome] | None = None
        self._receive: anyio.abc.ObjectReceiveStream[ItemOutcome] | None = None
        self._exhausted = False

    # -- context ---------------------------------------------------------------------------

    async def __aenter__(self) -> Batch:
        if self._client.closed:
            raise ClientClosedError("this AsyncPixVerse is closed; create a new one")
        items = self._items
        if isinstance(items, (list, tuple)):
            # it reads the file system (do the named files exist?): off the event loop
            await anyio.to_thread.run_sync(self._validate_all, items)
        if isinstance(self._journal_arg, Journal):
            self.journal = self._journal_arg
        elif self._journal_arg is not None:
            self.journal = await Journal.open(
                self._journal_arg,
                batch_fingerprint=self._fingerprint,
                retry_failed=bool(self._retry_failed),
                rerun_changed=bool(self._rerun_changed),
            )
            self._owns_journal = True
        if self.journal is not None and isinstance(items, (list, tuple)):
            try:
                await self._check_journal(items)
            except BaseException:
                if self._owns_journal:
                    await self.journal.aclose()
                raise
        send, receive = anyio.create_memory_object_stream[ItemOutcome](self._workers)
        self._send, self._receive = send, receive
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        telemetry = self._submitter.telemetry
        self._trace = telemetry.start_batch() if telemetry is not None else None
        if self._trace is None:
            self._tg.start_soon(self._feed, send)
        else:
            with self._trace.active():  # the workers' job spans are its children
                self._tg.start_soon(self._feed, send)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        if exc_type is not None or not self._exhausted:
            self._tg.cancel_scope.cancel()
        try:
            try:
                return await self._tg.__aexit__(exc_type, exc, tb)
            except BaseException as group:
                single = _single(group)
                if single is group:
                    raise
                raise single from None  # e.g. JournalError, not a nested group
        finally:
            if self._trace is not None:
                self._trace.end(self.summary, exc)
            if self._receive is not None:
                await self._receive.aclose()
            if self.journal is not None and self._owns_journal:
                await self.journal.aclose()

    def __aiter__(self) -> AsyncIterator[ItemOutcome]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[ItemOutcome]:
        if self._receive is None:
            raise RuntimeError("use the batch as a context: 'async with client.batch(...) as b'")
        async for outcome in self._receive:
            yield outcome
        self._exhausted = True

    def stop(self, reason: str = "stopped by the caller") -> None:
        """Submit nothing more; jobs already submitted run to their end and report outcomes.

        Items not submitted yet (waiting for a slot included) end with
        :class:`BatchStoppedError`; their journal records stay unsubmitted, so a resume
        submits them. Idempotent: the first reason stays in ``summary.stopped``.
        """
        self._halt(reason, "stopped")

    def _halt(self, why: str, reason: StopReason) -> None:
        """Stop every submit, even of items already waiting for a slot."""
        if self.summary.stopped is None:
            self.summary.stopped, self.summary.stop_reason = why, reason
        if self._halted is None:
            self._halted, self._halt_reason = why, reason

    async def run(self) -> list[ItemOutcome]:
        """Every outcome, in input order."""
        outcomes = [outcome async for outcome in self]
        return sorted(outcomes, key=lambda o: o.index)

    # -- feeding workers -------------------------------------------------------------------

    async def _source(self) -> AsyncIterator[tuple[int, BatchItem | Mapping[str, Any]]]:
        items = self._items
        if isinstance(items, AsyncIterable):
            index = 0
            async for raw in items:
                yield index, raw
                index += 1
        else:
            for index, raw in enumerate(items):
                yield index, raw

    async def _feed(self, send: anyio.abc.ObjectSendStream[ItemOutcome]) -> None:
        source = self._source()
        lock = anyio.Lock()

        async def worker() -> None:
            while True:
                async with lock:
                    try:
                        index, raw = await source.__anext__()
                    except StopAsyncIteration:
                        return
                    self.summary.total += 1
                outcome = await self._process(index, raw)
                await send.send(outcome)

        async with send, anyio.create_task_group() as tg:
            for _ in range(self._workers):
                tg.start_soon(worker)

    # -- validation ------------------------------------------------------------------------

    def _validate_all(self, items: Iterable[BatchItem | Mapping[str, Any]]) -> None:
        errors = validate_items(items, base_dir=self._base)
        if errors:
            raise BatchValidationError(errors)

    async def _check_journal(self, items: Iterable[BatchItem | Mapping[str, Any]]) -> None:
        """List the items that changed since the journal recorded them but will be kept as
        they were (they succeeded or are running), before anything is submitted."""
        assert self.journal is not None
        rerun = self._rerun_changed
        if rerun is None:
            rerun = self.journal.rerun_changed
        if rerun:
            return
        for index, raw in enumerate(items):
            item = _coerce(index, raw)
            spec, params = endpoint_for(item.kind, item.params)
            key = item.key or str(index)
            record = await self.journal.get(key)
            if (
                record is not None
                and record.state in _KEPT_WHEN_CHANGED
                and (record.request_hash, record.kind)
                != (request_hash(spec.kind, params), spec.kind)
            ):
                self.changed.append((index, key, record.state))

    # -- one item --------------------------------------------------------------------------

    def _emit(self, type_: EventType, work: _Work, **kw: Any) -> None:
        if self._on_event is not None:
            try:
                self._on_event(BatchEvent(type_, work.key, work.index, **kw))
            except Exception:  # a progress display must never break a batch
                logger.exception("batch on_event callback failed")

    def _outcome(self, work: _Work, **kw: Any) -> ItemOutcome:
        error = kw.get("error")
        if error is None:
            self.summary.succeeded += 1
        elif isinstance(error, BatchStoppedError):
            self.summary.not_submitted += 1
        else:
            self.summary.failed += 1
        return ItemOutcome(
            work.index, work.key, work.kind, resumed=work.resumed, changed=work.changed, **kw
        )

    async def _process(self, index: int, raw: BatchItem | Mapping[str, Any]) -> ItemOutcome:
        try:
            item = _coerce(index, raw)
            spec, params = _endpoint(item.kind, item.params)
        except RequestValidationError as err:
            kind = str(getattr(raw, "kind", "?"))
            work = _Work(index, str(index), kind, endpoint_for("modify", {})[0], {})
            self._emit("failed", work, detail=str(err))
            return self._outcome(work, error=err)
        work = _Work(index, item.key or str(index), spec.kind, spec, params)
        try:
            return await self._run_item(work)
        except JournalError:
            raise  # the journal cannot be trusted: stop the batch, never continue unrecorded
        except PixVerseError as err:  # anything not handled below: still a per-item outcome
            stopped = isinstance(err, BatchStoppedError)
            self._emit("not_submitted" if stopped else "failed", work, detail=str(err))
            return self._outcome(work, error=err)

    async def _run_item(self, work: _Work) -> ItemOutcome:
        journal = self.journal
        resume_trace: str | None = None
        if journal is not None:
            digest = request_hash(work.kind, work.params)
            record = await journal.plan(
                work.key,
                kind=work.kind,
                request_hash=digest,
                media=work.spec.media,
                retry_failed=self._retry_failed,
                rerun_changed=self._rerun_changed,
            )
            work.record = record
            if (record.request_hash, record.kind) != (digest, work.kind):
                # it changed, but it succeeded or is running: kept as it was (the journal
                # decided; rerun_changed would have planned it again)
                work.changed = True
                self.summary.changed += 1
            if record.finished:
                work.resumed = True
                self.summary.skipped += 1
                self._emit("skipped", work, job_id=record.video_id, detail=record.state)
                error: BaseException | None = None
                if record.state != "succeeded":
                    error = JobError(
                        record.error or "failed in an earlier run",
                        job_id=record.video_id or 0,
                        status=record.status,
                    )
                path = Path(record.download_path) if record.download_path else None
                if error is None and self._download_dir is not None and record.url:
                    try:  # fetch what an earlier run could not
                        path = await self._download(work, record.url, None)
                    except (PixVerseError, OSError) as err:
                        error = err
                return self._outcome(
                    work,
                    job_id=record.video_id,
                    error=error,
                    credits=record.credits,
                    url=record.url,
                    path=path,
                )
            if record.video_id is not None:
                work.resumed = True
                job = self._submitter.job(
                    work.spec.media, record.video_id, kind=work.kind, credits=record.credits
                )
                await self._submitter.adopt(job)
                self._emit("retried", work, job_id=job.id, detail="re-attached to polling")
                self.summary.running += 1
                return await self._finish(work, job)
            if record.trace_id is not None:
                work.resumed = True
                resume_trace = record.trace_id
                self._emit("retried", work, detail="resubmitting with its recorded trace id")
        if self.summary.stopped:
            return self._not_submitted(work, self.summary.stopped, self.summary.stop_reason)
        try:
            body = build(work.spec.model, **await self._prepare(work)).to_body()
        except RequestValidationError as err:
            await self._record_failure(work, err)
            return self._outcome(work, error=err)
        projected = self._project(work)
        over = (
            self.max_credits is not None
            and projected is not None
            and self.summary.credits + self._reserved + projected > self.max_credits
        )
        if over:
            assert projected is not None and self.max_credits is not None
            if self.summary.stopped is None:
                summary = self.summary
                spent = summary.credits - summary.credits_running
                running = summary.credits_running + self._reserved
                total = spent + running + projected
                summary.stopped = (
                    f"max_credits {self.max_credits} would be exceeded: {spent} spent + "
                    f"{running} committed to running jobs + {projected} for the next item "
                    f"= {total}"
                )
                summary.stop_reason = "budget"
            why = self.summary.stopped or "max_credits would be exceeded"
            return self._not_submitted(work, why, self.summary.stop_reason)
        self._reserved += projected or 0
        try:
            job = await self._submit(work, body, resume_trace)
        except InsufficientCreditsError as err:
            self._halt(f"insufficient credits (ErrCode 500090): {err.message}", "credits")
            await self._record_failure(work, err, reset=True)
            return self._outcome(work, error=err)
        except AuthenticationError as err:
            # the account, not the item: stop, and leave the item to a run with a good key
            self._halt(f"the API key was refused: {err.message}", "key")
            await self._record_failure(work, err, reset=True)
            return self._outcome(work, error=err)
        except _AMBIGUOUS as err:
            # the submit may have been created: keep the trace id for the next run
            self._emit("failed", work, detail=f"no answer: {err}")
            return self._outcome(work, error=err)
        except APIError as err:
            await self._record_failure(work, err)
            return self._outcome(work, error=err)
        finally:
            self._reserved -= projected or 0
        return await self._finish(work, job)

    def _project(self, work: _Work) -> int | None:
        estimate = _estimate(work.kind, work.params)
        return estimate if estimate is not None else self._max_seen.get(work.kind)

    def _not_submitted(self, work: _Work, why: str, reason: StopReason | None) -> ItemOutcome:
        err = BatchStoppedError(f"not submitted: {why}", reason=reason or "stopped")
        self._emit("not_submitted", work, detail=str(err))
        return self._outcome(work, error=err)

    async def _record_failure(
        self, work: _Work, err: PixVerseError, *, reset: bool = False
    ) -> None:
        self._emit("failed", work, detail=str(err))
        if self.journal is None:
            return
        if reset:
            await self.journal.reset_for_resubmit(work.key)
        else:
            await self.journal.finished(
                work.key, status=None, error=str(err), error_type=type(err).__name__
            )

    async def _submit(self, work: _Work, body: Mapping[str, Any], trace: str | None) -> Job[Any]:
        journal = self.journal

        async def on_send(trace_id: str) -> None:
            if self._halted:  # the account refused work while this item waited for a slot
                raise BatchStoppedError(f"not submitted: {self._halted}", reason=self._halt_reason)
            if journal is not None:
                await journal.begin_submit(work.key, trace_id)
            self.summary.submitted += 1
            self._emit("submitted", work, detail=trace_id)

        async def on_throttled() -> None:
            self.summary.throttled += 1
            if journal is not None:
                await journal.reset_for_resubmit(work.key, throttled=True)
            self._emit("throttled", work, detail="500044: waiting for a generation slot")

        job = await self._submitter.submit(
            work.spec, body, trace_id=trace, on_send=on_send, on_throttled=on_throttled
        )
        credits = job.credits
        if journal is not None:
            limiter = self._submitter.limiter
            await journal.accepted(
                work.key,
                video_id=job.id,
                credits=credits,
                slot_limit=limiter.statistics().limit if limiter is not None else None,
            )
        if credits is not None:
            self.summary.credits += credits
            self.summary.credits_running += credits
            work.extra["running_credits"] = credits
            self._max_seen[work.kind] = max(self._max_seen.get(work.kind, 0), credits)
        self.summary.running += 1
        self._emit("accepted", work, job_id=job.id, credits=credits)
        return job

    async def _finish(self, work: _Work, job: Job[Any]) -> ItemOutcome:
        journal = self.journal
        try:
            result = await job.wait(timeout=self._job_timeout)
        except JobTimeoutError as err:
            self.summary.running -= 1
            self._emit("failed", work, job_id=job.id, detail=str(err))
            return self._outcome(work, job_id=job.id, error=err, credits=job.credits)
        except JobError as err:
            self.summary.running -= 1
            self.summary.credits_running -= work.extra.pop("running_credits", 0)
            if job.credits is not None and err.status in (7, 8):
                self.summary.credits -= job.credits  # refunded
            if journal is not None:
                await journal.finished(
                    work.key,
                    status=err.status,
                    error=str(err),
                    error_type=type(err).__name__,
                    server_finished_at=server_time(getattr(err.snapshot, "modify_time", None)),
                )
            self._emit("failed", work, job_id=job.id, detail=str(err))
            return self._outcome(work, job_id=job.id, error=err)
        except PixVerseError as err:
            # its status could not be read for good (e.g. the key was revoked): the job exists
            # and is paid, so its record stays "accepted" and a resume re-attaches to it
            self.summary.running -= 1
            detail = f"status of {job.media} {job.id} unreadable (resume re-attaches): {err}"
            self._emit("failed", work, job_id=job.id, detail=detail)
            return self._outcome(work, job_id=job.id, error=err, credits=job.credits)
        self.summary.running -= 1
        self.summary.credits_running -= work.extra.pop("running_credits", 0)
        if journal is not None:
            await journal.finished(
                work.key,
                status=result.status,
                url=result.url,
                credits=job.credits,
                server_finished_at=server_time(getattr(result, "modify_time", None)),
            )
        path = None
        if self._download_dir is not None:
            try:
                path = await self._download(work, result.url, getattr(result, "size", None))
            except (PixVerseError, OSError) as err:
                # the job succeeded and is paid: keep it; the next run retries the download
                self._emit("failed", work, job_id=job.id, detail=f"download failed: {err}")
                return self._outcome(
                    work,
                    job_id=job.id,
                    result=result,
                    credits=job.credits,
                    error=err,
                    url=result.url,
                )
        self._emit("succeeded", work, job_id=job.id, credits=job.credits)
        return self._outcome(
            work, job_id=job.id, result=result, credits=job.credits, path=path, url=result.url
        )

    async def _download(self, work: _Work, url: str, size: Any) -> Path:
        """Download a result into ``download_dir`` as ``<key><ext>`` (kept if already there)."""
        assert self._download_dir is not None
        default = ".png" if work.spec.media == "image" else ".mp4"
        suffix = Path(url.split("?")[0]).suffix or default
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", work.key)
        target = self._download_dir / f"{safe}{suffix}"
        present = anyio.Path(target)
        if await present.is_file() and (
            not isinstance(size, int) or (await present.stat()).st_size == size
        ):
            return target
        async with self._download_limit:
            await self._client.download(url, target)
        if self.journal is not None:
            await self.journal.downloaded(work.key, str(target))
        self._emit("downloaded", work, detail=str(target))
        return target

    # -- files and masks -------------------------------------------------------------------

    async def _prepare(self, work: _Work) -> dict[str, Any]:
        """Upload named files and resolve mask names; return the API fields."""
        params = dict(work.params)
        for name in _IMAGE_FIELDS:
            if _is_path(params.get(name)):
                params[name] = await self._upload(params[name], "image")
        for name in _MEDIA_FIELDS:
            if _is_path(params.get(name)):
                params[name] = await self._upload(params[name], "media")
        if isinstance(params.get("img_ids"), list):
            params["img_ids"] = [
                await self._upload(v, "image") if _is_path(v) else v for v in params["img_ids"]
            ]
        for name in ("image_references", "multi_transition"):
            if isinstance(params.get(name), list):
                resolved = []
                for entry in params[name]:
                    if isinstance(entry, Mapping) and _is_path(entry.get("img_id")):
                        entry = {**entry, "img_id": await self._upload(entry["img_id"], "image")}
                    resolved.append(entry)
                params[name] = resolved
        names = params.pop("mask_names", None)
        single = params.pop("mask_name", None)
        if names is not None or single is not None:
            keyframe = _keyframe(params)
            masks = await self._mask_ids(params, keyframe)
            wanted = list(names or []) + ([single] if single is not None else [])
            missing = [n for n in wanted if n not in masks]
            if missing:
                raise RequestValidationError(
                    f"mask name(s) {missing} not found; this video has {sorted(masks)}",
                    field="mask_names" if names is not None else "mask_name",
                )
            _fill_keyframe(params, keyframe)
            if names is not None:
                params["mask_ids"] = [masks[n] for n in names]
            if single is not None:
                params["mask_id"] = masks[single]
        return params

    async def _upload(self, value: str | os.PathLike[str], kind: str) -> int:
        path = self._base / Path(value)
        digest = await anyio.to_thread.run_sync(_sha256, path)
        cache_key = (kind, digest)
        while True:
            cached = self._uploads.get(cache_key)
            if isinstance(cached, int):
                return cached
            if cached is None:
                break
            await cached.wait()  # another worker is uploading the same file
        pending = anyio.Event()
        self._uploads[cache_key] = pending
        try:
            upload_id = await self.journal.cached_upload(digest, kind) if self.journal else None
            if upload_id is None:
                media = self._client.media
                if kind == "image":
                    upload_id = (await media.upload_image(path)).img_id
                else:
                    upload_id = (await media.upload_media(path)).media_id
                if self.journal is not None:
                    await self.journal.cache_upload(digest, kind, upload_id)
            self._uploads[cache_key] = upload_id
            return upload_id
        except BaseException:
            del self._uploads[cache_key]
            raise
        finally:
            pending.set()

    async def _mask_ids(self, params: Mapping[str, Any], keyframe: int) -> dict[str, str]:
        if params.get("video_media_id") is not None:
            source = f"media:{params['video_media_id']}"
            selector = {"video_media_id": params["video_media_id"]}
        else:
            source = f"video:{params.get('source_video_id')}"
            selector = {"source_video_id": params.get("source_video_id")}
        cache_key = (source, keyframe)
        while True:
            cached = self._masks.get(cache_key)
            if isinstance(cached, dict):
                return cached
            if cached is None:
                break
            await cached.wait()
        pending = anyio.Event()
        self._masks[cache_key] = pending
        try:
            masks = await self.journal.cached_masks(source, keyframe) if self.journal else None
            if masks is None:
                selection = await self._client.video.mask_selection(
                    **selector, keyframe_id=keyframe
                )
                masks = {m.mask_name or "": m.mask_id for m in selection.mask_info}
                if self.journal is not None:
                    await self.journal.cache_masks(source, keyframe, masks)
            self._masks[cache_key] = masks
            return masks
        except BaseException:
            del self._masks[cache_key]
            raise
        finally:
            pending.set()


def _single(exc: BaseException) -> BaseException:
    """The one error inside (nested) exception groups, else ``exc``. Several workers meeting
    the same failure (e.g. the journal failed under all of them) count as one: the first."""
    leaves: list[BaseException] = []
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if type(current).__name__ in ("ExceptionGroup", "BaseExceptionGroup"):
            pending.extend(getattr(current, "exceptions", ()))
        else:
            leaves.append(current)
    if leaves and all(type(leaf) is type(leaves[0]) for leaf in leaves):
        return leaves[0]
    return exc


def _keyframe(params: Mapping[str, Any]) -> int:
    """The keyframe masks are named on: ``keyframe_id``, else the ``keyframe_ids`` alias (an int
    or a one-element list, as the Modify page's examples send it), else 1."""
    value = params.get("keyframe_id")
    if value is None:
        value = params.get("keyframe_ids")
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
    return value if isinstance(value, int) and not isinstance(value, bool) else 1


def _fill_keyframe(params: dict[str, Any], keyframe: int) -> None:
    """Name the keyframe masks were found on, unless the item names one (under either name;
    a bad value stays for validation to report)."""
    if params.get("keyframe_id") is None and params.get("keyframe_ids") is None:
        params["keyframe_id"] = keyframe


def _paths_in(params: Mapping[str, Any]) -> list[Any]:
    found = [params[n] for n in (*_IMAGE_FIELDS, *_MEDIA_FIELDS) if _is_path(params.get(n))]
    if isinstance(params.get("img_ids"), list):
        found += [v for v in params["img_ids"] if _is_path(v)]
    for name in ("image_references", "multi_transition"):
        if isinstance(params.get(name), list):
            found += [
                e["img_id"]
                for e in params[name]
                if isinstance(e, Mapping) and _is_path(e.get("img_id"))
            ]
    return found


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise RequestValidationError(f"cannot read {path}: {exc}", field=str(path)) from None
    return digest.hexdigest()


__all__ = [
    "Batch",
    "BatchEvent",
    "BatchItem",
    "BatchStoppedError",
    "BatchSummary",
    "BatchValidationError",
    "CostEstimate",
    "ItemError",
    "ItemOutcome",
    "estimate_item",
    "media_seconds",
    "validate_items",
]
