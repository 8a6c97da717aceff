"""The async client: configuration, one pooled session, resources, the poll scheduler."""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
import anyio

from ._config import Limits, PollPolicy, RetryPolicy, Timeouts
from ._constants import BASE_URL_CN, BASE_URL_INTL, ENV_API_KEY, ENV_BASE_URL, USER_AGENT_PREFIX
from ._download import download_to
from ._exceptions import ClientClosedError, ConcurrencyLimitError, ConfigurationError
from ._jobs import ImageJob, Job, VideoJob
from ._limiter import Slot, SlotLimiter
from ._polling import PollScheduler
from ._retry import with_retries
from ._transport import AiohttpTransport, Request, Response, Transport
from ._version import __version__
from .resources.account import AccountResource
from .resources.image import ImageResource
from .resources.media import MediaResource
from .resources.video import VideoResource
from .types.image import ImageResult
from .types.video import VideoResult

logger = logging.getLogger("pixverse_async")

J = TypeVar("J", bound=Job[Any])


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
        session: an aiohttp session to borrow (not closed by the client).
        transport: a custom :class:`Transport` (tests); replaces the aiohttp one.

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
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(ENV_API_KEY, "")
        if not key or not key.strip():
            raise ConfigurationError(
                f"no API key: pass AsyncPixVerse(api_key=...) or set {ENV_API_KEY}"
            )
        self._api_key = key.strip()
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
        self._send = with_retries(self._transport.send, retry)
        self._poller: PollScheduler[Any] = PollScheduler(self._fetch_status, self.poll)
        try:
            self.limiter = None if max_concurrency is None else SlotLimiter(max_concurrency)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self._closed = False
        self.video = VideoResource(self)
        self.image = ImageResource(self)
        self.media = MediaResource(self)
        self.account = AccountResource(self)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<AsyncPixVerse {self.base_url} key={redact(self._api_key)} {state}>"

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncPixVerse:
        self._check_open()
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
        await self._poller.aclose()
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
        form: Any = None,
        read_timeout: float | None = None,
        trace_id: str | None = None,
    ) -> Response:
        """Send one logical request (retried per policy with one trace id)."""
        self._check_open()
        request = Request(
            method=method,
            path=path,
            trace_id=trace_id or str(uuid.uuid4()),
            json=json,
            params=params,
            form=form,
            read_timeout=read_timeout,
        )
        started = time.monotonic()
        try:
            response = await self._send(request)
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

    async def _submit_video(self, kind: str, path: str, body: Mapping[str, Any]) -> VideoJob:
        data, trace_id, submitted, slot = await self._submit(path, body)
        job = VideoJob(
            self,
            int(data["video_id"]),
            kind=kind,
            trace_id=trace_id,
            credits=_credits(data),
            submitted_at=submitted,
        )
        self._hold_until_done(job, slot)
        return job

    async def _submit_image(self, kind: str, path: str, body: Mapping[str, Any]) -> ImageJob:
        data, trace_id, submitted, slot = await self._submit(path, body)
        job = ImageJob(
            self,
            int(data["image_id"]),
            kind=kind,
            trace_id=trace_id,
            credits=_credits(data),
            submitted_at=submitted,
        )
        self._hold_until_done(job, slot)
        return job

    async def _submit(
        self, path: str, body: Mapping[str, Any]
    ) -> tuple[Mapping[str, Any], str, float, Slot | None]:
        """POST a generation through the slot limiter: (Resp, trace id, submit time, slot).

        A 500044 gives the slot back and waits for the next one, then resubmits with a fresh
        trace id (nothing was created). Without a limiter, 500044 raises.
        """
        limiter = self.limiter
        while True:
            slot = await limiter.acquire() if limiter is not None else None
            submitted = time.monotonic()
            try:
                response = await self._request("POST", path, json=body)
            except ConcurrencyLimitError:
                if limiter is None or slot is None:
                    raise
                limiter.rejected(slot)
                logger.debug(
                    "500044 on %s: waiting for a generation slot (%s)", path, limiter.statistics()
                )
                continue
            except BaseException:
                if slot is not None:
                    slot.release()
                raise
            if limiter is not None and slot is not None:
                limiter.accepted(slot)
            return response.data or {}, response.trace_id, submitted, slot

    def _hold_until_done(self, job: Job[Any], slot: Slot | None) -> None:
        """Keep the job's slot until the scheduler sees it end (or the client closes)."""
        if slot is None:
            return
        watch = self._poller.future(job.media, job.id, job.kind, submitted_at=job.submitted_at)
        watch.add_done_callback(lambda _: slot.release())

    async def _fetch_status(self, media: str, job_id: int) -> VideoResult | ImageResult:
        if media == "image":
            return await self.image.result(job_id)
        return await self.video.result(job_id)

    # -- jobs ------------------------------------------------------------------------------

    def video_job(self, video_id: int, *, kind: str = "video") -> VideoJob:
        """A handle for an existing ``video_id`` (e.g. stored before a restart)."""
        return VideoJob(self, int(video_id), kind=kind)

    def image_job(self, image_id: int, *, kind: str = "image") -> ImageJob:
        """A handle for an existing ``image_id``."""
        return ImageJob(self, int(image_id), kind=kind)

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

    async def wait_all(
        self,
        jobs: Sequence[J],
        *,
        timeout: float | None = None,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Wait for every job; results in input order.

        Args:
            return_exceptions: put each failed job's error in its place instead of raising
                the first one.
        """
        results: dict[J, Any] = {}
        async for job in self.as_completed(jobs, timeout=timeout):
            error = job.exception()
            if error is not None and not return_exceptions:
                raise error
            results[job] = error if error is not None else job.result()
        return [results[job] for job in jobs]

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
        session = self._transport.session if isinstance(self._transport, AiohttpTransport) else None
        return await download_to(
            session,
            url,
            Path(path),
            expected_size=expected,
            overwrite=overwrite,
            timeouts=self.timeouts,
        )


def _credits(data: Mapping[str, Any]) -> int | None:
    """``credits``, else ``credit``, else unknown (reference decision 6)."""
    for key in ("credits", "credit"):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
