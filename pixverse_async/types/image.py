"""Image template request and responses (reference sections 4.19 and 4.20)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field, model_validator

from ._base import Id, IdList, OpaqueStr, RequestModel, ResponseModel, credits_fallback
from .video import VideoStatus

__all__ = ["ImageJobCreated", "ImageResult", "ImageTemplateRequest"]


class ImageTemplateRequest(RequestModel):
    """The ``image_template`` request (reference 4.19): an image from an activated image template.

    ``img_ids`` must hold as many images as the template takes (checked by the server); the
    spec types the items as strings, the SDK sends ints.
    """

    template_id: Id
    img_ids: IdList


class ImageJobCreated(ResponseModel):
    """The answer to an image template POST: the job id and the credits charged."""

    image_id: int
    credits: int | None = None
    """Credits charged; ``None`` when the server did not say."""

    @model_validator(mode="before")
    @classmethod
    def _credit_spelling(cls, data: Any) -> Any:
        return credits_fallback(data)


class ImageResult(ResponseModel):
    """``GET /image/result/{image_id}`` (4.20). Statuses are the video ones (section 5)."""

    image_id: int = Field(validation_alias=AliasChoices("image_id", "id"))
    status: int
    url: str | None = None
    prompt: str | None = None
    prompt_translate: str | None = None
    seed: int | None = None
    template_id: int | None = None
    create_time: OpaqueStr | None = None
    modify_time: OpaqueStr | None = None
    output_width: int | None = Field(default=None, alias="outputWidth")
    output_height: int | None = Field(default=None, alias="outputHeight")
    credits: int | None = None
    customer_paths: dict[str, Any] | None = None

    @property
    def status_enum(self) -> VideoStatus | None:
        """:attr:`status` as a :class:`VideoStatus` (``None`` if undocumented)."""
        return VideoStatus.of(self.status)

    @property
    def is_terminal(self) -> bool:
        """Whether the job is over (status 1, 6, 7 or 8)."""
        return VideoStatus.is_terminal_value(self.status)

    @property
    def succeeded(self) -> bool:
        """Whether the job succeeded (status 1) and :attr:`url` is valid."""
        return self.status == VideoStatus.SUCCEEDED
