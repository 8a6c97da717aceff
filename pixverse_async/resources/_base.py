"""Base of the resource namespaces (``client.video``, ``client.media``...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._endpoints import endpoint_for
from .._jobs import ImageJob, VideoJob
from ..types._base import build

if TYPE_CHECKING:
    from .._client import AsyncPixVerse
    from .._submit import Submitter


def fields(values: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a resource call, without ``self`` and unset (None) values."""
    return {k: v for k, v in values.items() if k != "self" and v is not None}


class Resource:
    """A namespace of endpoints on the client; generations go through its submitter."""

    def __init__(self, client: AsyncPixVerse, submitter: Submitter) -> None:
        self._client = client
        self._submitter = submitter

    async def _generate(self, kind: str, params: dict[str, Any]) -> VideoJob | ImageJob:
        """Validate ``params`` for ``kind`` (before any I/O) and submit the job."""
        endpoint, params = endpoint_for(kind, params)
        body = build(endpoint.model, **params).to_body()
        job = await self._submitter.submit(endpoint, body)
        assert isinstance(job, (VideoJob, ImageJob))
        return job

    async def _video(self, kind: str, params: dict[str, Any]) -> VideoJob:
        job = await self._generate(kind, params)
        assert isinstance(job, VideoJob)
        return job
