"""The async client: it builds the pieces and hands every call down one line.

transport (one pooled aiohttp session) -> retries (one trace id per logical request) ->
poll scheduler + slot limiter -> submitter (the one submit path, ``_submit.py``) ->
resources (``client.video``, ``client.image``, ``client.media``, ``client.account``) and
batches (``client.batch``), which both submit through the submitter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import time
import uuid
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import aiohttp
import anyio

from ._config import Limits, PollPolicy, RedisPolicy, RetryPolicy, Timeouts
from ._constants import (
    BASE_URL_CN,
    BASE_URL_INTL,
    BATCH_DOWNLOADS,
    BATCH_WORKERS,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_REDIS_PREFIX,
    ENV_REDIS_URL,
    USER_AGENT_PREFIX,
)
from ._download import download_to
from ._endpoints import RESULT_PATHS
from ._exceptions import ClientClosedError, ConfigurationError
from ._jobs import ImageJob, Job, VideoJob, job_id_arg
from ._limiter import Limiter, SlotLimiter
from ._polling import PollScheduler, PollStatistics
from ._redis import RedisCoordinator, RedisLimiter, SecretUrl, event_fields, fields_event
from ._retry import THROTTLING, with_retries
from ._submit import Submitter
from ._telemetry import telemetry_for
from ._transport import AiohttpTransport, ApiKey, FormPart, Request, Response, Transport
from ._version import __version__

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

    from ._batch import Batch, BatchEvent, BatchItem, ItemOutcome
    from ._journal import Journal
    from .types.image import ImageResult
    from .types.video import VideoResult
    from .webhooks import WebhookEvent

    BatchInput = (
        Iterable[BatchItem | Mapping[str, Any]] | AsyncIterable[BatchItem | Mapping[str, Any]]
    )

logger = logging.getLogger("pixverse_async")

J = TypeVar("J", bound=Job[Any])
R = TypeVar("R", "VideoResult", "ImageResult")


def _user_agent() -> str:
    return (
        f"{USER_AGENT_PREFIX}/{__version__} python/{platform.python_version()} "
        f"aiohttp/{aiohttp.__version__}"
    )


def redact(key: str) -> str:
    """A form of the API key safe to show: ``pv-…1234``."""
    return f"{key[:3]}…{key[-4:]}" if len(key) >= 12 else "…"


class AsyncPixVerse:
    """Async client for the PixVerse Platform API.

    Use one client per process (or per event loop) and share it: it pools connections in a
    single aiohttp session, and its poll scheduler serves every job you wait for::

        async with AsyncPixVerse() as client:            # key from PIXVERSE_API_KEY
            job = await client.video.modify(video_media_id=..., prompt="...", quality="540p")
            result = await job.wait(timeout=600)

    Args:
        api_key: the account key; default ``$PIXVERSE_API_KEY``. Never logged or shown.
        base_url: API base URL; default ``$PIXVERSE_BASE_URL``, else the ``region``'s URL.
        region: ``"intl"`` (default, ``app-api.pixverse.ai``) or ``"cn"``.
        timeout: :class:`Timeouts`, or seconds for both connect and read.
        max_retries: retries of transient failures (shortcut for ``RetryPolicy(max_retries=)``).
        retry: full retry policy (wins over ``max_retries``).
        limits: connection pool settings.
        poll: poll scheduler settings (``PollPolicy(interval=0.05)`` suits the emulator).
        max_concurrency: generation slots: the account's concurrent-generation limit, or
            ``"auto"`` (default) to learn it from ErrCode 500044, or ``None`` for no limiter
            (500044 then raises :class:`ConcurrencyLimitError`). See :class:`SlotLimiter`.
        limiter: a generation-slot limiter to use instead of building one from
            ``max_concurrency`` (e.g. a :class:`SlotLimiter` with other probe settings).
        webhooks: the account's webhook delivers this client's video jobs (a receiver from
            :mod:`pixverse_async.webhooks` passes each delivery to :meth:`deliver_webhook`):
            their waits end on delivery, and they are polled only as a slow fallback (see
            ``PollPolicy.webhook_fallback``). Image jobs have no webhooks and are polled.
        redis_url: share the account with every other client on this Redis (other workers,
            hosts, services; extra ``redis``): one slot limiter for the fleet, webhook
            deliveries received by any worker resolve jobs in whichever process waits, and
            replay memory is shared. Default ``$PIXVERSE_REDIS_URL``; ``""`` turns it off.
            ``redis://``, ``rediss://`` (TLS) or ``unix://``; its password is never shown. See
            :mod:`pixverse_async._redis`.
        redis_prefix: prepended to every Redis key (default ``$PIXVERSE_REDIS_PREFIX``, or
            none); keys are namespaced by a hash of the API key in any case.
        redis_policy: lease and re-check times of the shared limiter.
        session: an aiohttp session to borrow (not closed by the client).
        transport: a custom :class:`Transport` (tests); replaces the aiohttp one.
        tracer_provider: the OpenTelemetry tracer provider for this client's spans (default:
            the global one). Spans and metrics need ``opentelemetry-api`` (extra ``otel``);
            without it they cost nothing. See :mod:`pixverse_async._telemetry`.
        meter_provider: the OpenTelemetry meter provider for its metrics (default: global).

    Raises:
        ConfigurationError: no API key was given or found, or an option is invalid.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        region: Literal["intl", "cn"] | None = None,
        timeout: Timeouts | float | None = None,
        max_retries: int | None = None,
        retry: RetryPolicy | None = None,
        limits: Limits | None = None,
        poll: PollPolicy | None = None,
        max_concurrency: int | Literal["auto"] | None = "auto",
        limiter: Limiter | None = None,
        webhooks: bool = False,
        redis_url: str | None = None,
        redis_prefix: str | None = None,
        redis_policy: RedisPolicy | None = None,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._closed = True  # until fully built (a repr of a half-built client works)
        # only the redacting wrapper stays in this frame: tracebacks with locals show reprs
        key = ApiKey(api_key if api_key is not None else os.environ.get(ENV_API_KEY, ""))
        api_key = None
        if not key.strip():
            raise ConfigurationError(
                f"no API key: pass AsyncPixVerse(api_key=...) or set {ENV_API_KEY}"
            )
        self._api_key = key = ApiKey(key.strip())
        if region not in (None, "intl", "cn"):
            raise ConfigurationError(f"region must be 'intl' or 'cn', not {region!r}")
        url = (
            base_url
            or os.environ.get(ENV_BASE_URL)
            or (BASE_URL_CN if region == "cn" else BASE_URL_INTL)
        )
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"base_url must be an http(s) URL, not {url!r}")
        self.base_url = url.rstrip("/")
        if isinstance(timeout, (int, float)):
            timeouts = Timeouts(connect=float(timeout), read=float(timeout))
        else:
            timeouts = timeout or Timeouts()
        self.timeouts = timeouts
        if retry is None:
            retry = RetryPolicy() if max_retries is None else RetryPolicy(max_retries=max_retries)
        self.retry = retry
        self.limits = limits or Limits()
        self.poll = poll or PollPolicy()
        self._transport: Transport = transport or AiohttpTransport(
            api_key=self._api_key,
            base_url=self.base_url,
            timeouts=timeouts,
            limits=self.limits,
            user_agent=_user_agent(),
            session=session,
        )
        # None without opentelemetry-api: then every telemetry hook is skipped
        self._telemetry = telemetry = telemetry_for(tracer_provider, meter_provider)
        #: one HTTP attempt (with a span per attempt when telemetry is on)
        self._attempt = (
            self._transport.send
            if telemetry is None
            else telemetry.traced(self._transport.send, self.base_url)
        )
        self._send = with_retries(self._send_once, retry)
        # scheduled polls: the scheduler hears of their throttling itself (no retry here)
        self._send_poll = with_retries(self._attempt, retry, retry_throttled=False)
        self.webhooks = webhooks
        self._poller: PollScheduler[Any] = PollScheduler(
            self._poll_status,
            self.poll,
            webhook_media=("video",) if webhooks else (),
            fetch_now=self._fetch_status,
            telemetry=telemetry,
        )
        # only the redacting wrapper stays in this frame (tracebacks with locals show reprs)
        shared = SecretUrl(os.environ.get(ENV_REDIS_URL, "") if redis_url is None else redis_url)
        redis_url = None
        self._fleet: RedisCoordinator | None = None
        if shared:
            policy = redis_policy or RedisPolicy()
            prefix = os.environ.get(ENV_REDIS_PREFIX, "") if redis_prefix is None else redis_prefix
            self._fleet = RedisCoordinator(
                shared,
                self._api_key,
                prefix=prefix,
                lease=policy.lease,
                recheck=policy.recheck,
                events=webhooks,
            )
            self._fleet.on_event = self._shared_event
        if limiter is None and max_concurrency is not None:
            try:
                if self._fleet is not None:
                    limiter = RedisLimiter(self._fleet, max_concurrency)
                else:
                    limiter = SlotLimiter(max_concurrency)
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
        self._submitter = Submitter(self._request, self._poller, limiter, telemetry=telemetry)
        if telemetry is not None:
            telemetry.watch_limiter(self._submitter)
        self._closed = False
        # the request and response models load with the first client, not with the package
        # (``import pixverse_async`` builds no pydantic model: see benchmarks/bench_import.py)
        from .resources.account import AccountResource
        from .resources.image import ImageResource
        from .resources.media import MediaResource
        from .resources.video import VideoResource
        from .types.image import ImageResult
        from .types.video import VideoResult

        self._video_result: type[VideoResult] = VideoResult
        self._image_result: type[ImageResult] = ImageResult
        self.video = VideoResource(self, self._submitter)
        self.image = ImageResource(self, self._submitter)
        self.media = MediaResource(self, self._submitter)
        self.account = AccountResource(self, self._submitter)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        url = getattr(self, "base_url", "?")
        key = getattr(self, "_api_key", "")
        fleet = getattr(self, "_fleet", None)
        shared = f" redis={fleet.where}" if fleet is not None else ""
        return f"<AsyncPixVerse {url} key={redact(key)}{shared} {state}>"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncPixVerse:
        """Open the client; with ``redis_url``, connect to Redis now.

        Raises:
            CoordinationError: Redis cannot be reached (the message names the URL, its
                password redacted).
        """
        self._check_open()
        if self._fleet is not None:
            await self._fleet.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop polling (waiters get :class:`ClientClosedError`) and close the session.

        Idempotent. Jobs keep running server-side; re-attach later from their ids.
        """
        if self._closed:
            return
        self._closed = True
        # shielded: leaving ``async with`` through a cancelled scope must still close the session
        with anyio.CancelScope(shield=True):
            await self._poller.aclose()
            if self.limiter is not None:
                await self.limiter.aclose()
            if self._fleet is not None:
                await self._fleet.aclose()
            await self._transport.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ClientClosedError("this AsyncPixVerse is closed; create a new one")

    # -- requests (used by the resources) --------------------------------------------------

    async def _request(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, str | int] | None = None,
        multipart: Sequence[FormPart] | None = None,
        read_timeout: float | None = None,
        trace_id: str | None = None,
        retry_throttled: bool = True,
    ) -> Response:
        """Send one logical request (retried per policy with one trace id).

        ``retry_throttled=False`` raises HTTP 429 / ErrCode 500069 at once (scheduled polls).
        """
        self._check_open()
        request = Request(
            method=method,
            path=path,
            trace_id=trace_id or str(uuid.uuid4()),
            json=json,
            params=params,
            multipart=None if multipart is None else tuple(multipart),
            read_timeout=read_timeout,
        )
        started = time.monotonic()
        try:
            send = self._send if retry_throttled else self._send_poll
            response = await send(request)
        except Exception as exc:
            logger.debug(
                "%s %s failed after %.3fs (trace id %s): %s",
                method,
                path,
                time.monotonic() - started,
                request.trace_id,
                type(exc).__name__,
            )
            raise
        logger.debug(
            "%s %s -> HTTP %d in %.3fs (trace id %s)",
            method,
            path,
            response.http_status,
            time.monotonic() - started,
            request.trace_id,
        )
        return response

    @property
    def limiter(self) -> Limiter | None:
        """The generation-slot limiter (``None`` when ``max_concurrency=None``).

        Assigning a new one (before submitting) replaces it for every later submit.
        """
        return self._submitter.limiter

    @limiter.setter
    def limiter(self, limiter: Limiter | None) -> None:
        self._submitter.limiter = limiter

    def poll_statistics(self) -> PollStatistics:
        """A snapshot of the poll scheduler: jobs watched, polls sent, webhook resolutions."""
        return self._poller.statistics()

    def resolve_webhook(self, event: WebhookEvent) -> bool:
        """Hand a verified webhook delivery to the jobs waiting on it.

        Their waits return (or raise, for statuses 7 and 8) now, and the poll scheduler stops
        polling the job. The result carries the delivery's fields (``id``, ``status``,
        ``url``, ``size``, ``has_audio``); ``client.video.result(id)`` has the rest. A
        delivery for a job not waited on yet is kept, so a later ``wait()`` returns at once.
        Receivers (:class:`~pixverse_async.webhooks.WebhookReceiver`) call this for you.

        Returns:
            Whether a waiting job was resolved (False for duplicates and unwatched jobs).
        """
        self._check_open()
        snapshot = self._video_result(
            id=event.id,
            status=event.status,
            url=event.url or None,
            size=event.size,
            has_audio=event.has_audio,
        )
        return self._poller.resolve("video", event.id, snapshot)

    async def deliver_webhook(self, event: WebhookEvent) -> bool:
        """Hand a verified delivery to whichever client waits on its job (receivers call this).

        With ``redis_url``, the event goes to the shared stream, and every client on the
        account (this one included) resolves its own waiting jobs from it; if Redis cannot be
        reached the event is resolved here (the fallback poll covers other processes). Without
        it, the same as :meth:`resolve_webhook`.

        Returns:
            Whether a job waiting in this process was resolved now (with Redis: whether the
            event was shared).
        """
        if self._fleet is None:
            return self.resolve_webhook(event)
        try:
            await self._fleet.publish_event(event_fields(event))
        except Exception as exc:  # Redis is away: deliver here, the fallback poll does the rest
            logger.warning(
                "webhook event for video %s not shared (%s); resolved in this process only",
                event.id,
                type(exc).__name__,
            )
            return self.resolve_webhook(event)
        if not self._fleet.read_events:  # this client does not read the stream: resolve here
            self.resolve_webhook(event)
        return True

    def _shared_event(self, fields: Mapping[str, str]) -> None:
        if not self._closed:
            from .webhooks import WebhookEvent

            self.resolve_webhook(WebhookEvent(**fields_event(fields)))

    @property
    def fleet(self) -> RedisCoordinator | None:
        """The Redis connection shared with other clients on the account (``redis_url``)."""
        return self._fleet

    async def _send_once(self, request: Request) -> Response:
        """One attempt; a throttling answer (HTTP 429 / 500069) also tells the poll budget
        (the server's rate limit counts every request, submits included), and once the
        server has pushed back every attempt (a retry too) waits for the budget's token."""
        if not self._poller.admitted():  # (no await on the usual path: it is the hot one)
            await self._poller.admit()
        sent = time.monotonic()
        try:
            response = await self._attempt(request)
        except THROTTLING as exc:
            self._poller.throttled(exc, sent=sent)
            raise
        self._poller.answered()  # a cap the server taught grows back on every answer
        return response

    async def _fetch_status(
        self, media: str, job_id: int, *, retry_throttled: bool = True
    ) -> VideoResult | ImageResult:
        """One status request: ``client.video.result(id)`` / ``client.image.result(id)``,
        ``job.status()`` and (``retry_throttled=False``) the scheduled polls."""
        image = media == "image"
        path = RESULT_PATHS["image" if image else "video"].format(job_id)
        response = await self._request("GET", path, retry_throttled=retry_throttled)
        if image:
            return self._image_result.model_validate(response.data)
        return self._video_result.model_validate(response.data)

    async def _poll_status(self, media: str, job_id: int) -> VideoResult | ImageResult:
        """A scheduled poll: throttling answers are raised at once, for the poll budget."""
        return await self._fetch_status(media, job_id, retry_throttled=False)

    # -- jobs ------------------------------------------------------------------------------

    def video_job(self, video_id: int, *, kind: str = "video") -> VideoJob:
        """A handle for an existing ``video_id`` (e.g. stored before a restart).

        Args:
            kind: the job's kind (e.g. ``"modify"``), when known: the poll scheduler learns
                when to poll from the jobs of the same kind.
        """
        job = self._submitter.job("video", job_id_arg(video_id, "video_id"), kind=kind)
        assert isinstance(job, VideoJob)
        return job

    def image_job(self, image_id: int, *, kind: str = "image") -> ImageJob:
        """A handle for an existing ``image_id``."""
        job = self._submitter.job("image", job_id_arg(image_id, "image_id"), kind=kind)
        assert isinstance(job, ImageJob)
        return job

    async def as_completed(
        self, jobs: Iterable[J], *, timeout: float | None = None
    ) -> AsyncIterator[J]:
        """Yield each job as it ends (successfully or not); read it with ``job.result()``.

        Args:
            jobs: handles to watch; one scheduler serves them all.
            timeout: seconds for the whole iteration; raises :class:`TimeoutError` when it
                passes (jobs keep running server-side).
        """
        self._check_open()
        pending = list(dict.fromkeys(jobs))
        finished: anyio.abc.ObjectSendStream[J]
        finished, arrivals = anyio.create_memory_object_stream[J](len(pending) or 1)
        futures = []

        def arrived(job: J) -> Callable[[asyncio.Future[Any]], None]:
            def callback(future: asyncio.Future[Any]) -> None:
                if not future.cancelled():
                    # the iteration may have ended (timeout, break) before this callback ran
                    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                        finished.send_nowait(job)

            return callback

        for job in pending:
            future = job._watch()
            future.add_done_callback(arrived(job))
            futures.append(future)
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            async with arrivals:
                for _ in pending:
                    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                    with anyio.fail_after(remaining):
                        job = await arrivals.receive()
                    yield job
        finally:
            finished.close()
            for future in futures:
                if not future.done():
                    future.cancel()

    @overload
    async def wait_all(
        self,
        jobs: Sequence[Job[R]],
        *,
        timeout: float | None = None,
        return_exceptions: Literal[False] = False,
    ) -> list[R]: ...

    @overload
    async def wait_all(
        self,
        jobs: Sequence[Job[R]],
        *,
        timeout: float | None = None,
        return_exceptions: Literal[True],
    ) -> list[R | BaseException]: ...

    async def wait_all(
        self,
        jobs: Sequence[Job[R]],
        *,
        timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> list[R] | list[R | BaseException]:
        """Wait for every job; results in input order.

        Args:
            timeout: seconds for the whole wait; raises :class:`TimeoutError` when it passes
                (jobs keep running server-side).
            return_exceptions: put each failed job's error in its place instead of raising
                the first one.

        Raises:
            JobError: a job ended badly (unless ``return_exceptions``).
        """
        results: dict[Job[R], R | BaseException] = {}
        async for job in self.as_completed(jobs, timeout=timeout):
            error = job.exception()
            if error is not None and not return_exceptions:
                raise error
            results[job] = error if error is not None else job.result()
        return [results[job] for job in jobs]

    # -- batches ---------------------------------------------------------------------------

    def batch(
        self,
        items: BatchInput,
        *,
        journal: str | os.PathLike[str] | Journal | None = None,
        fingerprint: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        download_dir: str | os.PathLike[str] | None = None,
        max_credits: int | None = None,
        on_event: Callable[[BatchEvent], None] | None = None,
        workers: int = BATCH_WORKERS,
        downloads: int = BATCH_DOWNLOADS,
        job_timeout: float | None = None,
        retry_failed: bool | None = None,
        rerun_changed: bool | None = None,
    ) -> Batch:
        """Fan out generation jobs; use as ``async with client.batch(items) as b: async for ...``.

        Args:
            items: :class:`BatchItem` objects or ``{"key", "kind", "params"}`` mappings, from
                any iterable or async iterable (consumed lazily).
            journal: an SQLite journal path (or :class:`Journal`) for crash-safe resume.
            fingerprint: identifies the input; a journal of another input is refused.
            base_dir: folder that relative file paths in ``params`` are read from.
            download_dir: download every result into this folder (skipped when present).
            max_credits: stop submitting before the projected spend passes this.
            on_event: called with each :class:`BatchEvent` (progress displays).
            workers: items in progress at once (bounds memory; the slot limiter bounds jobs).
            downloads: downloads at once (with ``download_dir``).
            job_timeout: seconds to wait for each job (``None``: no limit).
            retry_failed: submit the items the journal has as failed (or not submitted) again,
                with new trace ids; succeeded and running ones are untouched (``None``: the
                journal's default, off).
            rerun_changed: run again items whose request changed since the journal recorded
                them even when they succeeded or are running (``None``: the journal's
                default, off: they are reported and kept).
        """
        self._check_open()
        from ._batch import Batch

        return Batch(
            self,
            self._submitter,
            items,
            journal=journal,
            fingerprint=fingerprint,
            base_dir=base_dir,
            download_dir=download_dir,
            max_credits=max_credits,
            on_event=on_event,
            workers=workers,
            downloads=downloads,
            job_timeout=job_timeout,
            retry_failed=retry_failed,
            rerun_changed=rerun_changed,
        )

    async def run_batch(
        self,
        items: BatchInput,
        *,
        journal: str | os.PathLike[str] | Journal | None = None,
        fingerprint: str | None = None,
        base_dir: str | os.PathLike[str] | None = None,
        download_dir: str | os.PathLike[str] | None = None,
        max_credits: int | None = None,
        on_event: Callable[[BatchEvent], None] | None = None,
        workers: int = BATCH_WORKERS,
        downloads: int = BATCH_DOWNLOADS,
        job_timeout: float | None = None,
        retry_failed: bool | None = None,
        rerun_changed: bool | None = None,
    ) -> list[ItemOutcome]:
        """Run a whole batch; every :class:`ItemOutcome` in input order (see :meth:`batch`)."""
        batch = self.batch(
            items,
            journal=journal,
            fingerprint=fingerprint,
            base_dir=base_dir,
            download_dir=download_dir,
            max_credits=max_credits,
            on_event=on_event,
            workers=workers,
            downloads=downloads,
            job_timeout=job_timeout,
            retry_failed=retry_failed,
            rerun_changed=rerun_changed,
        )
        async with batch as running:
            return await running.run()

    # -- downloads -------------------------------------------------------------------------

    async def download(
        self,
        result: VideoResult | ImageResult | str,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = True,
    ) -> Path:
        """Download a result's file to ``path``: streamed, atomic (temp file + rename), checked.

        The API key is not sent (result URLs are public CDN links).

        Returns:
            The final path.

        Raises:
            APIConnectionError: the download failed or came back short; nothing is left at
                ``path``.
        """
        self._check_open()
        url = result if isinstance(result, str) else result.url
        if not url:
            raise ValueError("this result has no url: only a finished (status 1) job has a file")
        expected = None if isinstance(result, str) else getattr(result, "size", None)
        return await download_to(
            self._transport, url, Path(path), expected_size=expected, overwrite=overwrite
        )
