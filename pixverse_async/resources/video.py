"""``client.video``: every video endpoint. Arguments are named exactly as the API's fields.

Generation methods validate their arguments before any I/O (bad input raises
:class:`RequestValidationError` naming the field, and nothing is sent or charged), submit
the job, and return a :class:`VideoJob`; ``await job.wait()`` gives the final result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import RequestValidationError
from .._jobs import VideoJob, job_id_arg
from ..types._base import build
from ..types.video import (
    ExtendRequest,
    FusionRequest,
    ImageReference,
    ImageToVideoRequest,
    LipSyncRequest,
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
    TtsSpeakerPage,
    UpscaleRequest,
    VideoResult,
)
from ._base import Resource, fields

_PAGE_SIZE_MAX = 100


def _page(page_num: object, page_size: object) -> dict[str, int]:
    """Checked list-page query parameters (page_num >= 1, page_size 1-100)."""
    return {
        "page_num": _count("page_num", page_num),
        "page_size": _count("page_size", page_size, high=_PAGE_SIZE_MAX),
    }


def _count(name: str, value: object, *, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise RequestValidationError(f"{name} must be an int >= 1, got {value!r}", field=name)
    if high is not None and value > high:
        raise RequestValidationError(f"{name} must be at most {high}, got {value}", field=name)
    return value


class VideoResource(Resource):
    """Video generation, masks, lists and results."""

    async def text_to_video(
        self,
        *,
        prompt: str,
        model: str,
        duration: int,
        quality: str,
        aspect_ratio: str,
        negative_prompt: str | None = None,
        motion_mode: str | None = None,
        seed: int | None = None,
        style: str | None = None,
        template_id: int | None = None,
        camera_movement: str | None = None,
        water_mark: bool | None = None,
        sound_effect_switch: bool | None = None,
        sound_effect_content: str | None = None,
        lip_sync_tts_switch: bool | None = None,
        lip_sync_tts_content: str | None = None,
        lip_sync_tts_speaker_id: str | None = None,
        generate_audio_switch: bool | None = None,
        generate_multi_clip_switch: bool | None = None,
        thinking_type: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Text-to-video (``POST /video/text/generate``)."""
        body = build(TextToVideoRequest, **fields(locals())).to_body()
        return await self._client._submit_video("text", "/video/text/generate", body)

    async def image_to_video(
        self,
        *,
        prompt: str,
        model: str,
        duration: int,
        quality: str,
        img_id: int | None = None,
        img_ids: Sequence[int] | None = None,
        negative_prompt: str | None = None,
        motion_mode: str | None = None,
        seed: int | None = None,
        style: str | None = None,
        template_id: int | None = None,
        camera_movement: str | None = None,
        water_mark: bool | None = None,
        sound_effect_switch: bool | None = None,
        sound_effect_content: str | None = None,
        lip_sync_tts_switch: bool | None = None,
        lip_sync_tts_content: str | None = None,
        lip_sync_tts_speaker_id: str | None = None,
        generate_audio_switch: bool | None = None,
        generate_multi_clip_switch: bool | None = None,
        thinking_type: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Image-to-video (``POST /video/img/generate``): ``img_id``, or ``img_ids`` with a
        multi-image ``template_id``."""
        body = build(ImageToVideoRequest, **fields(locals())).to_body()
        return await self._client._submit_video("img", "/video/img/generate", body)

    async def template(
        self,
        *,
        template_id: int,
        quality: str,
        img_id: int | None = None,
        img_ids: Sequence[int] | None = None,
        prompt: str = "",
        model: str = "v5",
        duration: int = 5,
        aspect_ratio: str = "16:9",
        sound_effect_switch: bool | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """An effect-template video: with images through image-to-video, else text-to-video.

        Templates are model-independent and their length is the template's; ``model`` and
        ``duration`` only satisfy the request schema.
        """
        if template_id is None:
            raise RequestValidationError(
                "template_id is required: the effect template's id", field="template_id"
            )
        if img_id is None and img_ids is None:
            body = build(
                TextToVideoRequest,
                **fields(
                    {
                        "template_id": template_id,
                        "quality": quality,
                        "prompt": prompt,
                        "model": model,
                        "duration": duration,
                        "aspect_ratio": aspect_ratio,
                        "sound_effect_switch": sound_effect_switch,
                        "webhook_id": webhook_id,
                    }
                ),
            ).to_body()
            return await self._client._submit_video("template", "/video/text/generate", body)
        body = build(
            ImageToVideoRequest,
            **fields(
                {
                    "template_id": template_id,
                    "quality": quality,
                    "img_id": img_id,
                    "img_ids": img_ids,
                    "prompt": prompt,
                    "model": model,
                    "duration": duration,
                    "sound_effect_switch": sound_effect_switch,
                    "webhook_id": webhook_id,
                }
            ),
        ).to_body()
        return await self._client._submit_video("template", "/video/img/generate", body)

    async def transition(
        self,
        *,
        prompt: str,
        model: str,
        duration: int,
        quality: str,
        first_frame_img: int,
        last_frame_img: int,
        motion_mode: str | None = None,
        seed: int | None = None,
        negative_prompt: str | None = None,
        water_mark: bool | None = None,
        generate_audio_switch: bool | None = None,
        sound_effect_switch: bool | None = None,
        sound_effect_content: str | None = None,
        lip_sync_tts_switch: bool | None = None,
        lip_sync_tts_content: str | None = None,
        lip_sync_tts_speaker_id: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """First/last-frame transition (``POST /video/transition/generate``)."""
        body = build(TransitionRequest, **fields(locals())).to_body()
        return await self._client._submit_video("transition", "/video/transition/generate", body)

    async def multi_transition(
        self,
        *,
        multi_transition: Sequence[MultiTransitionItem | Mapping[str, Any]],
        model: str,
        quality: str,
        seed: int | None = None,
        motion_mode: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Multi-image transition, 2-7 items (``POST /video/multi_transition/generate``)."""
        body = build(MultiTransitionRequest, **fields(locals())).to_body()
        path = "/video/multi_transition/generate"
        return await self._client._submit_video("multi_transition", path, body)

    async def fusion(
        self,
        *,
        image_references: Sequence[ImageReference | Mapping[str, Any]],
        prompt: str,
        model: str,
        duration: int,
        quality: str,
        aspect_ratio: str,
        seed: int | None = None,
        generate_audio_switch: bool | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Reference-to-video (``POST /video/fusion/generate``); the prompt names each image
        as ``@ref_name``. A random ``seed`` is sent when none is given."""
        body = build(FusionRequest, **fields(locals())).to_body()
        return await self._client._submit_video("fusion", "/video/fusion/generate", body)

    async def extend(
        self,
        *,
        prompt: str,
        model: str,
        duration: int,
        quality: str,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        seed: int | None = None,
        motion_mode: str | None = None,
        style: str | None = None,
        negative_prompt: str | None = None,
        water_mark: bool | None = None,
        template_id: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Extend a video by ``duration`` seconds (``POST /video/extend/generate``). A random
        ``seed`` is sent when none is given (the API requires one)."""
        body = build(ExtendRequest, **fields(locals())).to_body()
        return await self._client._submit_video("extend", "/video/extend/generate", body)

    async def lip_sync(
        self,
        *,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        audio_media_id: int | None = None,
        lip_sync_tts_speaker_id: str | None = None,
        lip_sync_tts_content: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Lip sync to an uploaded audio, or to TTS speech (``POST /video/lip_sync/generate``)."""
        body = build(LipSyncRequest, **fields(locals())).to_body()
        return await self._client._submit_video("lip_sync", "/video/lip_sync/generate", body)

    async def tts_speakers(
        self, *, page_num: int = 1, page_size: int = _PAGE_SIZE_MAX
    ) -> TtsSpeakerPage:
        """One page of the TTS speaker list (``GET /video/lip_sync/tts_list``)."""
        params = _page(page_num, page_size)
        response = await self._client._request("GET", "/video/lip_sync/tts_list", params=params)
        return TtsSpeakerPage.model_validate(response.data)

    async def sound_effect(
        self,
        *,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        original_sound_switch: bool | None = None,
        sound_effect_content: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Add sound effects to a video (``POST /video/sound_effect/generate``)."""
        body = build(SoundEffectRequest, **fields(locals())).to_body()
        path = "/video/sound_effect/generate"
        return await self._client._submit_video("sound_effect", path, body)

    async def restyle(
        self,
        *,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        restyle_id: int | None = None,
        restyle_prompt: str | None = None,
        seed: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Restyle a video with a preset ``restyle_id`` or a ``restyle_prompt``
        (``POST /video/restyle/generate``)."""
        body = build(RestyleRequest, **fields(locals())).to_body()
        return await self._client._submit_video("restyle", "/video/restyle/generate", body)

    async def restyle_effects(
        self, *, page_num: int = 1, page_size: int = _PAGE_SIZE_MAX
    ) -> list[RestyleEffect]:
        """One page of restyle presets (``GET /video/restyle/list``)."""
        params = _page(page_num, page_size)
        response = await self._client._request("GET", "/video/restyle/list", params=params)
        return [RestyleEffect.model_validate(item) for item in response.data or []]

    async def mask_selection(
        self,
        *,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        keyframe_id: int | None = None,
    ) -> MaskSelectionResult:
        """Select masks (person, object, background) at a keyframe (``POST /video/mask/selection``).

        Synchronous and billed (2 credits).
        """
        body = build(MaskSelectionRequest, **fields(locals())).to_body()
        response = await self._client._request("POST", "/video/mask/selection", json=body)
        return MaskSelectionResult.model_validate(response.data)

    async def swap(
        self,
        *,
        keyframe_id: int,
        mask_id: str,
        img_id: int,
        quality: str,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        original_sound_switch: bool | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Swap a masked subject for an image (``POST /video/swap/generate``)."""
        body = build(SwapRequest, **fields(locals())).to_body()
        return await self._client._submit_video("swap", "/video/swap/generate", body)

    async def mimic(
        self,
        *,
        img_id: int,
        quality: str,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Animate an image with a video's motion (``POST /video/mimic/generate``)."""
        body = build(MimicRequest, **fields(locals())).to_body()
        return await self._client._submit_video("mimic", "/video/mimic/generate", body)

    async def modify(
        self,
        *,
        prompt: str,
        quality: str,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        img_ids: Sequence[int] | None = None,
        mask_ids: Sequence[str] | None = None,
        mask_urls: Sequence[str] | None = None,
        keyframe_id: int | None = None,
        seed: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Edit a video (``POST /video/modify/generate``): subject swap, add, remove, restyle.

        Masks are referenced as ``@selection0``..., images as ``@img0``...; every reference
        must exist (checked before sending).
        """
        body = build(ModifyRequest, **fields(locals())).to_body()
        return await self._client._submit_video("modify", "/video/modify/generate", body)

    async def upscale(
        self,
        *,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Upscale a video (``POST /video/upscale/generate``)."""
        body = build(UpscaleRequest, **fields(locals())).to_body()
        return await self._client._submit_video("upscale", "/video/upscale/generate", body)

    async def result(self, video_id: int) -> VideoResult:
        """The current status of a video job (``GET /video/result/{video_id}``)."""
        response = await self._client._request(
            "GET", f"/video/result/{job_id_arg(video_id, 'video_id')}"
        )
        return VideoResult.model_validate(response.data)
