"""Upload responses (reference sections 4.21 and 4.22)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from ._base import ResponseModel

__all__ = ["UploadedImage", "UploadedMedia"]


class UploadedImage(ResponseModel):
    """``POST /image/upload``: pass ``img_id`` to generation requests (4.21)."""

    img_id: int
    img_url: str | None = Field(default=None, validation_alias=AliasChoices("img_url", "url"))
    """The stored image's URL (one guide spells the key ``url``; both are read)."""


class UploadedMedia(ResponseModel):
    """``POST /media/upload``: pass ``media_id`` as ``video_media_id`` / ``audio_media_id``."""

    media_id: int
    media_type: str | None = None
    """``"video"`` or ``"audio"``."""
    url: str | None = None
