"""Job handles: what a generation call returns, and how to wait for its result."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._exceptions import RequestValidationError, ServerError
from .types.image import ImageResult
from .types.video import VideoResult

if TYPE_CHECKING:
    from ._client import AsyncPixVerse

R = TypeVar("R", VideoResult, ImageResult)


class Job(Generic[R]):
    """A submitted generation job.

    Attributes:
        id: the ``video_id`` (or ``image_id``): store it to re-attach later with
            :meth:`AsyncPixVerse.video_job` / :meth:`AsyncPixVerse.image_job`.
        kind: the endpoint kind, e.g. ``"modify"`` (used to learn durations).
        trace_id: the ``Ai-trace-id`` of the submit (``None`` for a re-created handle).
        credits: credits charged at submit, when the API said.
    """

    media: str = "video"

    def __init__(
        self,
        client: AsyncPixVerse,
        id: int,
        *,
        kind: str,
        trace_id: str | None = None,
        credits: int | None = None,
        submitted_at: float | None = None,
    ) -> None:
        self._client = client
        self.id = id
        self.kind = kind
        self.trace_id = trace_id
        self.credits = credits
        self.submitted_at = submitted_at if submitted_at is not None else time.monotonic()
        self._future: asyncio.Future[Any] | None = None

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
        result: R = await self._client._poller.wait(
            self.media, self.id, self.kind, timeout=timeout, submitted_at=self.submitted_at
        )
        return result

    async def status(self) -> R:
        """One status request now (not deduplicated with the scheduler's polls)."""
        if self.media == "image":
            image: Any = await self._client.image.result(self.id)
            return image  # type: ignore[no-any-return]
        video: Any = await self._client.video.result(self.id)
        return video  # type: ignore[no-any-return]

    # -- as_completed support ---------------------------------------------------------------

    def _watch(self) -> asyncio.Future[Any]:
        """A future of this job's end, for one caller: cancelling it ends only that interest.

        (A future shared between callers would let one ``as_completed`` that stops early
        cancel it under another one, which would then wait forever.)
        """
        if self.done():
            assert self._future is not None
            return self._future
        future = self._client._poller.future(
            self.media, self.id, self.kind, submitted_at=self.submitted_at
        )
        future.add_done_callback(self._seen)
        return future

    def _seen(self, future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and not self.done():
            self._future = future

    def done(self) -> bool:
        """Whether this handle has seen the job end (through ``as_completed``)."""
        return self._future is not None and self._future.done() and not self._future.cancelled()

    def result(self) -> R:
        """The final result seen through ``as_completed``; raises the job's error if it failed.

        Raises:
            RuntimeError: the job has not been seen to end yet.
        """
        if not self.done():
            raise RuntimeError("the job has not ended yet; use 'await job.wait()'")
        assert self._future is not None
        result: R = self._future.result()
        return result

    def exception(self) -> BaseException | None:
        """The job's error seen through ``as_completed`` (``None`` if it succeeded)."""
        if not self.done():
            raise RuntimeError("the job has not ended yet; use 'await job.wait()'")
        assert self._future is not None
        return self._future.exception()


class VideoJob(Job[VideoResult]):
    """A video generation job (``video_id``)."""

    media = "video"


class ImageJob(Job[ImageResult]):
    """An image generation job (``image_id``)."""

    media = "image"


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


def job_id_arg(value: object, name: str) -> int:
    """A caller-given job id: an int (a float loses precision above 2**53; a str may be a slip)."""
    if type(value) is not int or value <= 0:
        raise RequestValidationError(
            f"{name} must be a positive integer, got {value!r}", field=name
        )
    return value
