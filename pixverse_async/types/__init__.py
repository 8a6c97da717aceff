"""Pydantic models of the PixVerse API: requests (strict in) and responses (lenient out).

Build a request with :func:`build` to get a :class:`~pixverse_async.RequestValidationError`
naming the field on bad input; send ``model.to_body()``. Parse responses with
``Model.model_validate(resp)`` or ``Model.model_validate_json(text)``.
"""

from ._base import RequestModel, ResponseModel, build
from .account import Balance
from .image import ImageJobCreated, ImageResult, ImageTemplateRequest
from .media import UploadedImage, UploadedMedia
from .video import (
    ExtendRequest,
    FusionRequest,
    ImageReference,
    ImageToVideoRequest,
    LipSyncRequest,
    MaskInfo,
    MaskSelectionRequest,
    MaskSelectionResult,
    MimicRequest,
    ModifyRequest,
    MultiTransitionItem,
    MultiTransitionRequest,
    RestyleEffect,
    RestyleRequest,
    SoundEffectRequest,
    SwapRequest,
    TextToVideoRequest,
    TransitionRequest,
    TtsSpeaker,
    TtsSpeakerPage,
    UpscaleRequest,
    VideoJobCreated,
    VideoResult,
    VideoStatus,
)

__all__ = [
    "Balance",
    "ExtendRequest",
    "FusionRequest",
    "ImageJobCreated",
    "ImageReference",
    "ImageResult",
    "ImageTemplateRequest",
    "ImageToVideoRequest",
    "LipSyncRequest",
    "MaskInfo",
    "MaskSelectionRequest",
    "MaskSelectionResult",
    "MimicRequest",
    "ModifyRequest",
    "MultiTransitionItem",
    "MultiTransitionRequest",
    "RequestModel",
    "ResponseModel",
    "RestyleEffect",
    "RestyleRequest",
    "SoundEffectRequest",
    "SwapRequest",
    "TextToVideoRequest",
    "TransitionRequest",
    "TtsSpeaker",
    "TtsSpeakerPage",
    "UploadedImage",
    "UploadedMedia",
    "UpscaleRequest",
    "VideoJobCreated",
    "VideoResult",
    "VideoStatus",
    "build",
]
