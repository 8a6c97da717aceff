"""``client.image``: image templates and their results."""

from __future__ import annotations

from collections.abc import Sequence

from .._jobs import ImageJob, job_id_arg
from ..types._base import build
from ..types.image import ImageResult, ImageTemplateRequest
from ._base import Resource, fields


class ImageResource(Resource):
    async def template(self, *, template_id: int, img_ids: Sequence[int]) -> ImageJob:
        """An image effect template (``POST /image/template/generate``)."""
        body = build(ImageTemplateRequest, **fields(locals())).to_body()
        return await self._client._submit_image("image_template", "/image/template/generate", body)

    async def result(self, image_id: int) -> ImageResult:
        """The current status of an image job (``GET /image/result/{image_id}``)."""
        response = await self._client._request(
            "GET", f"/image/result/{job_id_arg(image_id, 'image_id')}"
        )
        return ImageResult.model_validate(response.data)
