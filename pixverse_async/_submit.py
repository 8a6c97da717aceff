"""The one submit path: slot -> send with a trace id -> created id and credits -> Job -> slot held.

Every generation goes through :meth:`Submitter.submit`, whether it comes from a resource
method (``client.video.modify(...)``) or a batch item::

    body (validated by the endpoint's model)
      -> limiter.acquire()                      a generation slot (waits, first come first served)
      -> POST endpoint.path, retried with one Ai-trace-id (a lost answer never pays twice)
      -> 500044: limiter.rejected(), wait for the next slot, resubmit with a fresh trace id
      -> the answer's video_id / image_id and credits -> a Job handle
      -> limiter.accepted(); the slot is held until the poll scheduler (or a webhook) sees the
         job end, then released

The submitter knows the limiter only through the :class:`~pixverse_async._limiter.Limiter`
interface, so an in-process limiter and one shared by many processes are interchangeable.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ._endpoints import Endpoint, Media
from ._exceptions import ConcurrencyLimitError, ServerError
from ._jobs import ImageJob, Job, VideoJob
from ._limiter import Limiter, Slot
from ._polling import PollScheduler
from ._transport import Response

if TYPE_CHECKING:
    from ._telemetry import JobTrace, Telemetry

logger = logging.getLogger("pixverse_async")

#: awaited with each attempt's trace id before it is sent (a journal records it first)
OnSend = Callable[[str], Awaitable[None]]
#: awaited after each 500044 (the job goes back to wait for a slot)
OnThrottled = Callable[[], Awaitable[None]]


class Send(Protocol):
    """One logical POST, retried per policy with one trace id (the client's ``_request``)."""

    def __call__(
        self,
        method: Literal["POST"],
        path: str,
        *,
        json: Mapping[str, Any],
        trace_id: str,
    ) -> Awaitable[Response]: ...


class Submitter:
    """Submits generations through the slot limiter and hands out :class:`Job` handles.

    Args:
        send: sends one request with retries (the client's).
        scheduler: the client's poll scheduler, which every handle waits on.
        limiter: the generation-slot limiter, or ``None`` (500044 then raises).
        telemetry: spans and metrics of each submit (``None``: none, at no cost).
    """

    def __init__(
        self,
        send: Send,
        scheduler: PollScheduler[Any],
        limiter: Limiter | None,
        *,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._send = send
        self._telemetry = telemetry
        self._scheduler = scheduler
        self._held: dict[Slot, Job[Any]] = {}  # jobs holding generation slots
        self._limiter: Limiter | None = None
        self.limiter = limiter

    @property
    def limiter(self) -> Limiter | None:
        return self._limiter

    @limiter.setter
    def limiter(self, limiter: Limiter | None) -> None:
        self._limiter = limiter
        if limiter is not None:
            limiter.bind(self._refresh_held)

    @property
    def telemetry(self) -> Telemetry | None:
        """The client's spans and metrics (``None`` without ``opentelemetry-api``)."""
        return self._telemetry

    def job(
        self,
        media: Media,
        job_id: int,
        *,
        kind: str,
        trace_id: str | None = None,
        credits: int | None = None,
        submitted_at: float | None = None,
    ) -> Job[Any]:
        """A handle for a job of ``media`` (a new submit, or one re-attached from its id)."""
        cls: type[Job[Any]] = ImageJob if media == "image" else VideoJob
        return cls(
            self._scheduler,
            job_id,
            kind=kind,
            trace_id=trace_id,
            credits=credits,
            submitted_at=submitted_at,
        )

    async def submit(
        self,
        endpoint: Endpoint,
        body: Mapping[str, Any],
        *,
        trace_id: str | None = None,
        on_send: OnSend | None = None,
        on_throttled: OnThrottled | None = None,
    ) -> Job[Any]:
        """Submit one generation; the returned job holds its slot until it ends.

        A 500044 gives the slot back and waits for the next one, then resubmits with a fresh
        trace id (nothing was created). Without a limiter, 500044 raises.

        Args:
            endpoint: where the body goes and what the answer holds.
            body: the request body, already validated by ``endpoint.model``.
            trace_id: the trace id of the first attempt (a journal resuming a submit whose
                answer was lost); attempts after a 500044 get fresh ones.
            on_send: awaited with each attempt's trace id before it is sent.
            on_throttled: awaited after each 500044.

        Raises:
            ConcurrencyLimitError: 500044 without a limiter.
            ServerError: the answer holds no usable job id (quote the trace id to support).
            APIError: any other refusal; PixVerseError: the request failed for good.
        """
        if self._telemetry is None:
            return await self._submit(endpoint, body, trace_id, on_send, on_throttled, None)
        trace = self._telemetry.start_job(endpoint.kind)  # its span: submit -> terminal status
        with trace.active():
            try:
                return await self._submit(endpoint, body, trace_id, on_send, on_throttled, trace)
            except BaseException as exc:
                trace.submit_failed(exc)
                raise

    async def _submit(
        self,
        endpoint: Endpoint,
        body: Mapping[str, Any],
        trace_id: str | None,
        on_send: OnSend | None,
        on_throttled: OnThrottled | None,
        trace: JobTrace | None,
    ) -> Job[Any]:
        limiter = self._limiter
        while True:
            slot: Slot | None
            if limiter is None:
                slot = None
            elif trace is None:
                slot = await limiter.acquire()
            else:
                slot = await trace.slot(limiter.acquire)
            attempt_trace = trace_id or str(uuid.uuid4())
            trace_id = None
            submitted = time.monotonic()
            try:
                if on_send is not None:
                    await on_send(attempt_trace)
                response = await self._send(
                    "POST", endpoint.path, json=body, trace_id=attempt_trace
                )
            except ConcurrencyLimitError:
                if limiter is None or slot is None:
                    raise
                await limiter.rejected(slot)
                if trace is not None:
                    trace.rejected()
                if on_throttled is not None:
                    await on_throttled()
                logger.debug(
                    "500044 on %s: waiting for a generation slot (%s)",
                    endpoint.path,
                    limiter.statistics(),
                )
                continue
            except BaseException:
                if limiter is not None and slot is not None:
                    limiter.release(slot)
                raise
            try:
                data: Mapping[str, Any] = response.data or {}
                job = self.job(
                    endpoint.media,
                    created_id(data, endpoint.id_field, response.trace_id),
                    kind=endpoint.kind,
                    trace_id=response.trace_id,
                    credits=created_credits(data),
                    # the job's clock starts at the answer, not the send: the server starts it
                    # between the two, and a queue of submits ahead of it (a wave of slots
                    # freed at once) would otherwise read as a longer, more spread duration,
                    # and learned first polls would land early and need a second poll
                    submitted_at=time.monotonic(),
                )
            except BaseException:
                if limiter is not None and slot is not None:
                    limiter.release(slot)
                raise
            if trace is not None:
                trace.accepted(job.id, job.credits, submitted)
                job._trace = trace  # the poll scheduler (or a webhook, a timeout) ends its span
            if limiter is not None and slot is not None:
                self._hold_until_done(job, slot)
                await limiter.accepted(slot)
            return job

    async def adopt(self, job: Job[Any]) -> None:
        """Count an already-running job (re-attached from a journal) against the limiter."""
        limiter = self._limiter
        if limiter is None:
            return
        slot = await limiter.acquire()
        self._hold_until_done(job, slot)
        await limiter.accepted(slot)

    def _hold_until_done(self, job: Job[Any], slot: Slot) -> None:
        """Keep the job's slot until the scheduler sees it end (or the client closes)."""
        self._held[slot] = job
        watch = job._watch()  # the handle keeps the outcome: a later job.wait() sends nothing
        self._scheduler.hold(job.media, job.id)  # its polls free a slot: they go first

        def done(_: object) -> None:
            self._held.pop(slot, None)
            slot.release()

        watch.add_done_callback(done)

    async def _refresh_held(self) -> None:
        """Re-poll every job holding a slot, so ended ones give theirs back (after a 500044)."""
        held = list(self._held.values())
        await asyncio.gather(*(self._scheduler.refresh(job.media, job.id) for job in held))


def created_id(data: Mapping[str, Any], name: str, trace_id: str) -> int:
    """The id a successful submit returned; a clear error (with the trace id) if it is missing."""
    value = data.get(name)
    if type(value) is not int:
        raise ServerError(
            f"the submit succeeded but the answer has no usable {name} ({value!r}); quote the "
            "trace id to PixVerse support, and resubmit with the same trace id to recover the job",
            trace_id=trace_id,
        )
    return value


def created_credits(data: Mapping[str, Any]) -> int | None:
    """``credits``, else ``credit``, else unknown (reference decision 6)."""
    for key in ("credits", "credit"):
        value = data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None
