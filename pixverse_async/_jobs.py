"""Job handles: what a generation call returns, and how to wait for its result.

A handle talks only to the client's poll scheduler (which also hears webhooks). It has one
state whichever call saw the job end (``wait``, ``as_completed``, ``wait_all``, the slot
limiter's watch, a webhook): once it has seen a terminal status, ``done()`` is true and
``result()`` / ``exception()`` tell how it ended.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._exceptions import JobError, JobTimeoutError, RequestValidationError

if TYPE_CHECKING:
    from ._polling import PollScheduler
    from ._telemetry import JobTrace
    from .types.image import ImageResult
    from .types.video import VideoResult

# (named, not imported: the models load with the first client, not with the package)
R = TypeVar("R", "VideoResult", "ImageResult")


class Job(Generic[R]):
    """A submitted generation job.

    Create handles with the client (``client.video.modify(...)``, ``client.video_job(id)``),
    not directly.

    Attributes:
        id: the ``video_id`` (or ``image_id``): store it to re-attach later with
            :meth:`AsyncPixVerse.video_job` / :meth:`AsyncPixVerse.image_job`.
        kind: the endpoint kind, e.g. ``"modify"`` or ``"text_to_video"`` (the same names
            as a batch item's ``kind``; the poll scheduler learns durations per kind).
        trace_id: the ``Ai-trace-id`` of the submit (``None`` for a re-created handle).
        credits: credits charged at submit, when the API said.
        submitted_at: ``time.monotonic()`` of the submit (or of the handle's creation).
    """

    media: str = "video"

    def __init__(
        self,
        scheduler: PollScheduler[Any],
        id: int,
        *,
        kind: str,
        trace_id: str | None = None,
        credits: int | None = None,
        submitted_at: float | None = None,
    ) -> None:
        self._scheduler = scheduler
        self.id = id
        self.kind = kind
        self.trace_id = trace_id
        self.credits = credits
        self.submitted_at = submitted_at if submitted_at is not None else time.monotonic()
        self._future: asyncio.Future[Any] | None = None
        #: the job's span (telemetry on, submitted by this client); ended where the job ends
        self._trace: JobTrace | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id} kind={self.kind!r}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and (self.media, self.id) == (other.media, other.id)

    def __hash__(self) -> int:
        return hash((self.media, self.id))

    async def wait(self, *, timeout: float | None = None) -> R:
        """Wait for the final result, sharing the client's poll scheduler.

        Args:
            timeout: seconds to wait at most (``None``: no limit). On timeout the job keeps
                running server-side; call ``wait`` again later.

        Returns:
            The final status snapshot (status 1), with the result ``url``.

        Raises:
            JobFailedError: status 8. JobModeratedError: status 7. JobDeletedError: status 6.
            JobTimeoutError: ``timeout`` passed first (carries the last snapshot).
            ClientClosedError: the client was closed while waiting.
        """
        if self.done():  # seen to end already (e.g. while holding its generation slot)
            return self.result()
        future = self._watch()
        try:
            result: R = await self._scheduler.wait_for(future, self.media, self.id, timeout=timeout)
        except JobTimeoutError as exc:
            if self._trace is not None:  # the span covers the submit up to the wait's timeout
                self._trace.timed_out(exc.snapshot)
            raise
        self._seen(future)  # (its callback has run already; this keeps that explicit)
        return result

    async def status(self) -> R:
        """One status request now (not deduplicated with the scheduler's polls)."""
        snapshot: R = await self._scheduler.fetch(self.media, self.id)
        return snapshot

    # -- as_completed support ---------------------------------------------------------------

    def _watch(self, *, future_known: bool = False) -> asyncio.Future[Any]:
        """A future of this job's end, for one caller: cancelling it ends only that interest.
        (``future_known``: the job is known to have ended; a re-attached job gets no span.)

        (A future shared between callers would let one ``as_completed`` that stops early
        cancel it under another one, which would then wait forever.)
        """
        if self._future is not None:
            return self._future
        reattached = self._trace is None and self.trace_id is None  # not submitted here
        future = self._scheduler.future(
            self.media,
            self.id,
            self.kind,
            submitted_at=self.submitted_at,
            trace=self._trace,
            reattached=reattached and not future_known,
        )
        if reattached:
            self._trace = self._scheduler.trace_of(self.media, self.id)
        future.add_done_callback(self._seen)
        return future

    def _seen(self, future: asyncio.Future[Any]) -> None:
        """Keep the first future that saw the job end (a terminal status, good or bad).

        A wait that was cancelled, or ended without a status (the client closed, the status
        could not be read), says nothing about the job: the handle stays not done.
        """
        if not future.done() or future.cancelled() or self._future is not None:
            return
        error = future.exception()
        if error is None or isinstance(error, JobError):
            self._future = future

    def done(self) -> bool:
        """Whether this handle has seen the job end, by any call (``wait``, ``as_completed``,
        ``wait_all``, the slot limiter's watch, a webhook)."""
        if self._future is None and self._scheduler.final(self.media, self.id) is not None:
            # a delivery came while nobody waited: settled at once
            self._seen(self._watch(future_known=True))
        return self._future is not None

    def result(self) -> R:
        """The final result; raises the job's error (:class:`JobError`) if it ended badly.

        Raises:
            RuntimeError: the job has not been seen to end yet.
        """
        if not self.done():
            raise RuntimeError("the job has not ended yet; use 'await job.wait()'")
        assert self._future is not None
        result: R = self._future.result()
        return result

    def exception(self) -> BaseException | None:
        """The job's error (``None`` if it succeeded).

        Raises:
            RuntimeError: the job has not been seen to end yet.
        """
        if not self.done():
            raise RuntimeError("the job has not ended yet; use 'await job.wait()'")
        assert self._future is not None
        return self._future.exception()


class VideoJob(Job["VideoResult"]):
    """A video generation job (``video_id``)."""

    media = "video"


class ImageJob(Job["ImageResult"]):
    """An image generation job (``image_id``)."""

    media = "image"


def job_id_arg(value: object, name: str) -> int:
    """A caller-given job id: an int (a float loses precision above 2**53; a str may be a slip)."""
    if type(value) is not int or value <= 0:
        raise RequestValidationError(
            f"{name} must be a positive integer, got {value!r}", field=name
        )
    return value
