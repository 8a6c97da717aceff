"""Pydantic models of the PixVerse API: requests (strict in) and responses (lenient out).

Build a request with :func:`build` to get a :class:`~pixverse_async.RequestValidationError`
naming the field on bad input; send ``model.to_body()``. Parse responses with
``VideoResult.model_validate(resp)`` or ``VideoResult.model_validate_json(text)``.

The ``Literal`` types (:data:`Model`, :data:`Quality`, :data:`AspectRatio`, :data:`MotionMode`,
:data:`Style`, :data:`CameraMovement`, :data:`ThinkingType`, :data:`ReferenceType` and the
narrower per-endpoint ones) list the values the API reference gives for an enum argument; the
``client.video`` methods are annotated with them.
"""

from ._base import RequestModel, ResponseModel, build
from .account import Balance
from .image import ImageJobCreated, ImageResult, ImageTemplateRequest
from .media import UploadedImage, UploadedMedia
from .video import (
    AspectRatio,
    CameraMovement,
    ExtendRequest,
    FusionModel,
    FusionRequest,
    ImageReference,
    ImageReferenceDict,
    ImageToVideoRequest,
    LipSyncRequest,
    MaskInfo,
    MaskSelectionRequest,
    MaskSelectionResult,
    MimicRequest,
    Model,
    ModifyQuality,
    ModifyRequest,
    MotionMode,
    MultiTransitionItem,
    MultiTransitionModel,
    MultiTransitionRequest,
    Quality,
    ReferenceType,
    RestyleEffect,
    RestyleRequest,
    SoundEffectRequest,
    Style,
    SwapQuality,
    SwapRequest,
    TextToVideoRequest,
    ThinkingType,
    TransitionRequest,
    TtsSpeaker,
    TtsSpeakerPage,
    UpscaleRequest,
    VideoJobCreated,
    VideoResult,
    VideoStatus,
)

__all__ = [
    "AspectRatio",
    "Balance",
    "CameraMovement",
    "ExtendRequest",
    "FusionModel",
    "FusionRequest",
    "ImageJobCreated",
    "ImageReference",
    "ImageReferenceDict",
    "ImageResult",
    "ImageTemplateRequest",
    "ImageToVideoRequest",
    "LipSyncRequest",
    "MaskInfo",
    "MaskSelectionRequest",
    "MaskSelectionResult",
    "MimicRequest",
    "Model",
    "ModifyQuality",
    "ModifyRequest",
    "MotionMode",
    "MultiTransitionItem",
    "MultiTransitionModel",
    "MultiTransitionRequest",
    "Quality",
    "ReferenceType",
    "RequestModel",
    "ResponseModel",
    "RestyleEffect",
    "RestyleRequest",
    "SoundEffectRequest",
    "Style",
    "SwapQuality",
    "SwapRequest",
    "TextToVideoRequest",
    "ThinkingType",
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
