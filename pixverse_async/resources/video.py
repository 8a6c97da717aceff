"""``client.video``: every video endpoint. Arguments are named exactly as the API's fields.

Generation methods validate their arguments before any I/O (bad input raises
:class:`RequestValidationError` naming the field, and nothing is sent or charged), submit
the job, and return a :class:`VideoJob`; ``await job.wait()`` gives the final result.

Enum arguments (``model``, ``quality``, ``aspect_ratio``, ``motion_mode``, ``style``,
``camera_movement``, ``thinking_type``, a fusion reference's ``type``) are typed with the
``Literal`` types of :mod:`pixverse_async.types`, so a type checker or an editor knows the
values the reference lists. The checks at run time do not depend on them: a wrong value still
raises :class:`RequestValidationError` naming the field and the allowed values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import RequestValidationError
from .._jobs import VideoJob, job_id_arg
from ..types._base import build
from ..types.video import (
    AspectRatio,
    CameraMovement,
    FusionModel,
    ImageReference,
    ImageReferenceDict,
    MaskSelectionRequest,
    MaskSelectionResult,
    Model,
    ModifyQuality,
    MotionMode,
    MultiTransitionItem,
    MultiTransitionModel,
    Quality,
    RestyleEffect,
    Style,
    SwapQuality,
    ThinkingType,
    TtsSpeakerPage,
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
        model: Model,
        duration: int,
        quality: Quality,
        aspect_ratio: AspectRatio,
        negative_prompt: str | None = None,
        motion_mode: MotionMode | None = None,
        seed: int | None = None,
        style: Style | None = None,
        template_id: int | None = None,
        camera_movement: CameraMovement | None = None,
        water_mark: bool | None = None,
        sound_effect_switch: bool | None = None,
        sound_effect_content: str | None = None,
        lip_sync_tts_switch: bool | None = None,
        lip_sync_tts_content: str | None = None,
        lip_sync_tts_speaker_id: str | None = None,
        generate_audio_switch: bool | None = None,
        generate_multi_clip_switch: bool | None = None,
        thinking_type: ThinkingType | None = None,
        play_bgm: bool | None = None,
        sound_mode: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Text-to-video (kind ``text_to_video``).

        ``play_bgm`` (bool) and ``sound_mode`` (str, e.g. ``"default_music"``) are optional
        fields live clients send that the reference does not list; sent only when given.
        """
        return await self._video("text_to_video", fields(locals()))

    async def image_to_video(
        self,
        *,
        prompt: str,
        model: Model,
        duration: int,
        quality: Quality,
        img_id: int | None = None,
        img_ids: Sequence[int] | None = None,
        negative_prompt: str | None = None,
        motion_mode: MotionMode | None = None,
        seed: int | None = None,
        style: Style | None = None,
        template_id: int | None = None,
        camera_movement: CameraMovement | None = None,
        water_mark: bool | None = None,
        sound_effect_switch: bool | None = None,
        sound_effect_content: str | None = None,
        lip_sync_tts_switch: bool | None = None,
        lip_sync_tts_content: str | None = None,
        lip_sync_tts_speaker_id: str | None = None,
        generate_audio_switch: bool | None = None,
        generate_multi_clip_switch: bool | None = None,
        thinking_type: ThinkingType | None = None,
        play_bgm: bool | None = None,
        sound_mode: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Image-to-video (kind ``image_to_video``): ``img_id``, or ``img_ids`` with a
        multi-image ``template_id``. ``play_bgm`` / ``sound_mode``: as on text-to-video."""
        return await self._video("image_to_video", fields(locals()))

    async def template(
        self,
        *,
        template_id: int,
        quality: Quality,
        img_id: int | None = None,
        img_ids: Sequence[int] | None = None,
        prompt: str | None = None,
        model: Model | None = None,
        duration: int | None = None,
        aspect_ratio: AspectRatio | None = None,
        sound_effect_switch: bool | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """An effect-template video: with images through image-to-video, else text-to-video.

        Templates are model-independent and their length is the template's; ``prompt``
        (default ``""``), ``model`` (``"v5"``), ``duration`` (5) and, without images,
        ``aspect_ratio`` (``"16:9"``) only satisfy the request schema.
        """
        if template_id is None:
            raise RequestValidationError(
                "template_id is required: the effect template's id", field="template_id"
            )
        return await self._video("template", fields(locals()))

    async def transition(
        self,
        *,
        prompt: str,
        model: Model,
        duration: int,
        quality: Quality,
        first_frame_img: int,
        last_frame_img: int,
        motion_mode: MotionMode | None = None,
        seed: int | None = None,
        negative_prompt: str | None = None,
        water_mark: bool | None = None,
        generate_audio_switch: bool | None = None,
        sound_effect_switch: bool | None = None,
        sound_effect_content: str | None = None,
        lip_sync_tts_switch: bool | None = None,
        lip_sync_tts_content: str | None = None,
        lip_sync_tts_speaker_id: str | None = None,
        play_bgm: bool | None = None,
        sound_mode: str | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """First/last-frame transition (kind ``transition``). ``play_bgm`` / ``sound_mode``:
        as on text-to-video."""
        return await self._video("transition", fields(locals()))

    async def multi_transition(
        self,
        *,
        multi_transition: Sequence[MultiTransitionItem | Mapping[str, Any]],
        model: MultiTransitionModel,
        quality: Quality,
        seed: int | None = None,
        motion_mode: MotionMode | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Multi-image transition, 2-7 items (kind ``multi_transition``)."""
        return await self._video("multi_transition", fields(locals()))

    async def fusion(
        self,
        *,
        image_references: Sequence[ImageReference | ImageReferenceDict | Mapping[str, Any]],
        prompt: str,
        model: FusionModel,
        duration: int,
        quality: Quality,
        aspect_ratio: AspectRatio,
        seed: int | None = None,
        generate_audio_switch: bool | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Reference-to-video (kind ``fusion``); the prompt names each image
        as ``@ref_name``. A random ``seed`` is sent when none is given."""
        return await self._video("fusion", fields(locals()))

    async def extend(
        self,
        *,
        prompt: str,
        model: Model,
        duration: int,
        quality: Quality,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        seed: int | None = None,
        motion_mode: MotionMode | None = None,
        style: Style | None = None,
        negative_prompt: str | None = None,
        water_mark: bool | None = None,
        template_id: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Extend a video by ``duration`` seconds (kind ``extend``). A random
        ``seed`` is sent when none is given (the API requires one)."""
        return await self._video("extend", fields(locals()))

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
        """Lip sync to an uploaded audio, or to TTS speech (kind ``lip_sync``)."""
        return await self._video("lip_sync", fields(locals()))

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
        """Add sound effects to a video (kind ``sound_effect``)."""
        return await self._video("sound_effect", fields(locals()))

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
        (kind ``restyle``)."""
        return await self._video("restyle", fields(locals()))

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

        Synchronous and billed (2 credits). An uploaded source may be up to 100 MB, as for
        :meth:`modify` (reference 9.2), whose masks these are.
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
        quality: SwapQuality,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        original_sound_switch: bool | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Swap a masked subject for an image (kind ``swap``)."""
        return await self._video("swap", fields(locals()))

    async def mimic(
        self,
        *,
        img_id: int,
        quality: Quality,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Animate an image with a video's motion (kind ``mimic``)."""
        return await self._video("mimic", fields(locals()))

    async def modify(
        self,
        *,
        prompt: str,
        quality: ModifyQuality,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        img_ids: Sequence[int] | None = None,
        mask_ids: Sequence[str] | None = None,
        mask_urls: Sequence[str] | None = None,
        keyframe_id: int | None = None,
        keyframe_ids: int | Sequence[int] | None = None,
        seed: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Edit a video (kind ``modify``): subject swap, add, remove, restyle (reference 4.16).

        Masks are referenced as ``@selection0``..., images as ``@img0``...; every reference
        must exist (checked before sending: an SDK safety rule, as the server may accept a
        dangling reference and give an unexpected result). ``img_ids``: up to 3 images per
        mask (up to 9 without masks). The keyframe may be given as ``keyframe_id`` (the page's
        table) or ``keyframe_ids`` (its examples: an int or a one-element list), or both with
        one value; it is sent under both names.
        """
        return await self._video("modify", fields(locals()))

    async def upscale(
        self,
        *,
        source_video_id: int | None = None,
        video_media_id: int | None = None,
        webhook_id: int | None = None,
    ) -> VideoJob:
        """Upscale a video (kind ``upscale``)."""
        return await self._video("upscale", fields(locals()))

    async def result(self, video_id: int) -> VideoResult:
        """The current status of a video job (``GET /video/result/{video_id}``)."""
        result = await self._client._fetch_status("video", job_id_arg(video_id, "video_id"))
        assert isinstance(result, VideoResult)
        return result
