"""The one table of generation endpoints: kind -> request model, path, media, answer's id field.

Every way of starting a job goes through this table: ``client.video.modify(...)`` and a batch
item ``{"kind": "modify", ...}`` find the same :class:`Endpoint`, so a job's ``kind`` is the
same whichever way it was submitted (the poll scheduler learns durations per kind), and each
API path is written once in the SDK.

``template`` is the one kind without a path of its own: an effect template runs through
image-to-video when it has images, else text-to-video, with :data:`TEMPLATE_DEFAULTS` filling
the fields those schemas require (:func:`endpoint_for`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ._exceptions import RequestValidationError

if TYPE_CHECKING:
    from .types._base import RequestModel

Media = Literal["video", "image"]


@dataclass(frozen=True)
class Endpoint:
    """One generation endpoint.

    Attributes:
        kind: the job kind, e.g. ``"modify"``: ``Job.kind``, a batch item's ``kind``, the
            journal's kind and the key the poll scheduler learns durations under.
        model_name: the request model (in :mod:`pixverse_async.types`) that validates the
            body before any I/O; :attr:`model` is the class. (Named, so importing the
            package does not build pydantic models.)
        path: the POST path below the base URL.
        media: ``"video"`` (polled at ``/video/result``, delivered by webhooks) or ``"image"``.
    """

    kind: str
    model_name: str
    path: str
    media: Media = "video"

    @property
    def model(self) -> type[RequestModel]:
        """The request model class."""
        from . import types

        model: type[RequestModel] = getattr(types, self.model_name)
        return model

    @property
    def id_field(self) -> str:
        """The field of the submit's answer that holds the new job's id."""
        return "image_id" if self.media == "image" else "video_id"


ENDPOINTS: Mapping[str, Endpoint] = {
    e.kind: e
    for e in (
        Endpoint("text_to_video", "TextToVideoRequest", "/video/text/generate"),
        Endpoint("image_to_video", "ImageToVideoRequest", "/video/img/generate"),
        Endpoint("transition", "TransitionRequest", "/video/transition/generate"),
        Endpoint("multi_transition", "MultiTransitionRequest", "/video/multi_transition/generate"),
        Endpoint("fusion", "FusionRequest", "/video/fusion/generate"),
        Endpoint("extend", "ExtendRequest", "/video/extend/generate"),
        Endpoint("lip_sync", "LipSyncRequest", "/video/lip_sync/generate"),
        Endpoint("sound_effect", "SoundEffectRequest", "/video/sound_effect/generate"),
        Endpoint("restyle", "RestyleRequest", "/video/restyle/generate"),
        Endpoint("swap", "SwapRequest", "/video/swap/generate"),
        Endpoint("mimic", "MimicRequest", "/video/mimic/generate"),
        Endpoint("modify", "ModifyRequest", "/video/modify/generate"),
        Endpoint("upscale", "UpscaleRequest", "/video/upscale/generate"),
        Endpoint("image_template", "ImageTemplateRequest", "/image/template/generate", "image"),
    )
}

#: the kind that borrows text-to-video / image-to-video
TEMPLATE = "template"
#: every kind a job (or a batch item) can have
KINDS: tuple[str, ...] = (*ENDPOINTS, TEMPLATE)
#: fields an effect template does not use but the text/image-to-video schemas require
#: (a template's length and model are its own)
TEMPLATE_DEFAULTS: Mapping[str, Any] = {"prompt": "", "model": "v5", "duration": 5}
TEMPLATE_ASPECT_RATIO = "16:9"  # text-to-video requires one; an image template's is the image's

#: status paths by media
RESULT_PATHS: Mapping[Media, str] = {
    "video": "/video/result/{}",
    "image": "/image/result/{}",
}


def endpoint_for(kind: str, params: Mapping[str, Any]) -> tuple[Endpoint, dict[str, Any]]:
    """The endpoint a job of ``kind`` is sent to, and its params with template fillers added.

    Raises:
        RequestValidationError: ``kind`` is not one of :data:`KINDS`.
    """
    fields = dict(params)
    if kind == TEMPLATE:
        fields = {**TEMPLATE_DEFAULTS, **fields}
        images = fields.get("img_id") is not None or fields.get("img_ids") is not None
        if not images:
            fields.setdefault("aspect_ratio", TEMPLATE_ASPECT_RATIO)
        base = ENDPOINTS["image_to_video" if images else "text_to_video"]
        return replace(base, kind=TEMPLATE), fields
    endpoint = ENDPOINTS.get(kind)
    if endpoint is None:
        raise RequestValidationError(
            f"unknown kind {kind!r}; use one of {', '.join(sorted(KINDS))}", field="kind"
        )
    return endpoint, fields
