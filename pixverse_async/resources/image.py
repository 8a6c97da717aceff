"""``client.image``: image templates and their results."""

from __future__ import annotations

from collections.abc import Sequence

from .._jobs import ImageJob, job_id_arg
from ..types.image import ImageResult
from ._base import Resource, fields


class ImageResource(Resource):
    async def template(self, *, template_id: int, img_ids: Sequence[int]) -> ImageJob:
        """An image effect template (kind ``image_template``)."""
        job = await self._generate("image_template", fields(locals()))
        assert isinstance(job, ImageJob)
        return job

    async def result(self, image_id: int) -> ImageResult:
        """The current status of an image job (``GET /image/result/{image_id}``)."""
        result = await self._client._fetch_status("image", job_id_arg(image_id, "image_id"))
        assert isinstance(result, ImageResult)
        return result
