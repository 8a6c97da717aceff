"""Video request and response models (reference sections 4.1-4.18, 5 and 8).

One request model per endpoint, with the API's own field names. Each validates every
documented rule before any I/O (types, enums, ranges, lengths in Unicode characters, XOR
groups, the per-model matrix of section 8.2) and accepts the wider set where the reference is
uncertain; checks that need server state (does this image, template, mask or webhook exist?)
are left to the server. Build them with :func:`~pixverse_async.types.build` to get a
:class:`~pixverse_async.RequestValidationError` naming the field.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Any, TypedDict

from pydantic import AfterValidator, AliasChoices, BeforeValidator, Field, model_validator

from .. import _rules as rules

# the Literal types of the enum arguments (``client.video`` takes them, so an editor offers the
# values) live beside the rules they type, whose tuples derive from them
from .._rules import (
    AspectRatio,
    CameraMovement,
    FusionModel,
    Model,
    ModifyQuality,
    MotionMode,
    MultiTransitionModel,
    Quality,
    ReferenceType,
    Style,
    SwapQuality,
    ThinkingType,
)
from ._base import (
    ID_MAX,
    ID_MIN,
    Id,
    IdList,
    ItemList,
    OpaqueStr,
    RequestModel,
    ResponseModel,
    Seed,
    SeedAlways,
    StrList,
    choice,
    credits_fallback,
    field_error,
    max_chars,
    random_seed,
    rule_error,
)

__all__ = [
    "AspectRatio",
    "CameraMovement",
    "ExtendRequest",
    "FusionModel",
    "FusionRequest",
    "ImageReference",
    "ImageReferenceDict",
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
    "UpscaleRequest",
    "VideoJobCreated",
    "VideoResult",
    "VideoStatus",
]


class ImageReferenceDict(TypedDict):
    """One fusion reference image as a plain dict: the fields of :class:`ImageReference`."""

    type: ReferenceType
    img_id: int
    ref_name: str


# ---------------------------------------------------------------------------
# Field types
#
# The enum fields stay ``str`` with a ``choice`` validator (not the Literal types above): a
# wrong value then gets the SDK's own message naming the field and the allowed values.

_ModelField = Annotated[str, choice(rules.MODEL_IDS)]
_QualityField = Annotated[str, choice(rules.QUALITIES)]
_MotionModeField = Annotated[str, choice(rules.MOTION_MODES)]
_StyleField = Annotated[str, choice(rules.STYLES)]
_ThinkingTypeField = Annotated[str, choice(rules.THINKING_TYPES)]
_CameraMovementField = Annotated[str, choice(rules.CAMERA_MOVEMENTS)]
#: any prompt: at most the longest limit; the model-dependent limit is a model rule
Prompt = Annotated[str, max_chars(rules.LONG_PROMPT_LIMIT)]
NegativePrompt = Annotated[str, max_chars(rules.NEGATIVE_PROMPT_LIMIT)]
TtsContent = Annotated[str, max_chars(rules.TTS_CONTENT_LIMIT)]

_FAST_MODELS = tuple(m.name for m in rules.MODELS.values() if m.fast_motion)
_CAMERA_MODELS = tuple(m.name for m in rules.MODELS.values() if m.camera_movement)
_LEGACY_MODELS = tuple(m.name for m in rules.MODELS.values() if m.legacy_audio)
_AUDIO_MODELS = tuple(m.name for m in rules.MODELS.values() if m.audio)
_MULTI_CLIP_MODELS = tuple(m.name for m in rules.MODELS.values() if m.multi_clip)
_WIDE_RATIO_MODELS = tuple(
    m.name for m in rules.MODELS.values() if m.aspect_ratios == rules.WIDE_ASPECT_RATIOS
)
# Modify references (Project decision 9): only these exact token shapes count.
_SELECTION_REF = re.compile(r"@selection(\d+)")
_IMG_REF = re.compile(r"@img(\d+)")
# Multi-transition (4.5): from this many items on, each duration is at most 5 s.
_MANY_TRANSITION_ITEMS = 3
# motion_mode "fast" (8.2): a 5 s output only (multi-transition: a total of at most 5 s).
_FAST_SECONDS = 5


def _names(values: tuple[str, ...]) -> str:
    return ", ".join(values[:-1]) + f" or {values[-1]}" if len(values) > 1 else values[0]


def _ref_name(value: str) -> str:
    if not value.strip():
        raise field_error("must not be empty or blank")
    size = len(value.encode())
    if size > rules.REF_NAME_MAX_BYTES:
        raise field_error(
            f"is {size} UTF-8 bytes; the limit is {rules.REF_NAME_MAX_BYTES} (use a shorter name)"
        )
    return value


def _nonempty(value: list[Any]) -> list[Any]:
    if not value:
        raise field_error("must not be empty (leave the field out instead)")
    return value


def _up_to_three(value: list[Any]) -> list[Any]:
    if not 1 <= len(value) <= rules.MODIFY_MAX_LIST:
        raise field_error(
            f"must have 1 to {rules.MODIFY_MAX_LIST} items (got {len(value)}); "
            "leave the field out instead of sending an empty list"
        )
    return value


def _up_to_nine(value: list[Any]) -> list[Any]:
    if not 1 <= len(value) <= rules.MODIFY_MAX_IMAGES:
        raise field_error(
            f"must have 1 to {rules.MODIFY_MAX_IMAGES} items (got {len(value)}): up to "
            f"{rules.MODIFY_IMAGES_PER_SELECTION} images per selection, at most "
            f"{rules.MODIFY_MAX_LIST} selections; leave the field out instead of sending an "
            "empty list"
        )
    return value


def _one_keyframe(value: Any) -> Any:
    # keyframe_ids (4.16): the page's examples send one int; a one-element list is its item.
    # Anything else is left to the strict int check (which names the field and the type).
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise field_error(
                f"must be one int, or a one-element list of it (got {len(value)} items): "
                "modify takes one keyframe"
            )
        return value[0]
    return value


def _plain_id(value: Any) -> bool:
    return type(value) is int and ID_MIN <= value <= ID_MAX


def _http_urls(value: list[str]) -> list[str]:
    for url in value:
        if not url.lower().startswith(("http://", "https://")):
            raise field_error(f"must hold http(s) URLs of mask images (got {url!r})")
    return value


def _nonnegative(value: int) -> int:
    if value < 0:
        raise field_error(f"must be 0 or more (got {value})")
    return value


#: modify ``mask_urls``: 1-3 http(s) URLs
MaskUrls = Annotated[StrList, AfterValidator(_up_to_three), AfterValidator(_http_urls)]
#: modify ``keyframe_ids``: one id, given as an int or a one-element list (sent as an int)
KeyframeIds = Annotated[Id, BeforeValidator(_one_keyframe)]

# ---------------------------------------------------------------------------
# Shared rules (section 8.2)


def _check_prompt(
    prompt: str, model: str, *, field: str = "prompt", nonempty: bool = False
) -> None:
    if nonempty and not prompt.strip():
        raise rule_error(f"{field} must not be empty or blank", field=field)
    limit = rules.prompt_limit(model)
    if len(prompt) > limit:
        raise rule_error(
            f"{field} has {len(prompt)} characters; model {model} allows at most {limit} "
            f"(v5.5, v5.6, v6 and c1 allow {rules.LONG_PROMPT_LIMIT})",
            field=field,
        )


def _check_duration(duration: int, model: str, quality: str) -> None:
    allowed = rules.durations_for(model, quality)
    if duration not in allowed:
        contiguous = len(allowed) > 2 and allowed == tuple(range(allowed[0], allowed[-1] + 1))
        listed = f"{allowed[0]}-{allowed[-1]}" if contiguous else ", ".join(map(str, allowed))
        raise rule_error(
            f"duration must be one of {listed} (seconds) for model {model} at {quality} "
            f"(got {duration})",
            field="duration",
        )


def _check_fast(motion_mode: str | None, model: str, duration: int, quality: str) -> None:
    if motion_mode != "fast":
        return
    if not rules.MODELS[model].fast_motion:
        raise rule_error(
            f"motion_mode 'fast' needs model {_names(_FAST_MODELS)} (got {model}); "
            "use 'normal' or leave it out",
            field="motion_mode",
        )
    if duration != _FAST_SECONDS or quality == "1080p":
        raise rule_error(
            "motion_mode 'fast' needs a 5 s duration and a quality below 1080p "
            f"(got {duration} s at {quality})",
            field="motion_mode",
        )


def _check_aspect_ratio(aspect_ratio: str, model: str) -> None:
    allowed = rules.MODELS[model].aspect_ratios
    if aspect_ratio not in allowed:
        hint = "" if model in _WIDE_RATIO_MODELS else f"; {_names(_WIDE_RATIO_MODELS)} add more"
        raise rule_error(
            f"aspect_ratio must be one of {', '.join(allowed)} for model {model} "
            f"(got {aspect_ratio!r}{hint})",
            field="aspect_ratio",
        )


def _check_switch(name: str, on: bool | None, allowed: bool, why: str) -> None:
    # A false switch is always accepted (reference 4.1).
    if on and not allowed:
        raise rule_error(f"{name} is not supported {why}; leave it out or set it False", field=name)


def _exactly_one(first: str, a: object, second: str, b: object, what: str) -> None:
    if a is None and b is None:
        raise rule_error(f"give exactly one of {first} or {second} ({what})", field=first)
    if a is not None and b is not None:
        raise rule_error(
            f"{first} and {second} are mutually exclusive; give only one ({what})", field=second
        )


class _VideoSourceRequest(RequestModel):
    """A request on an existing video: ``source_video_id`` XOR ``video_media_id`` (2.1)."""

    source_video_id: Id | None = None
    """A ``video_id`` made by this API (status 1)."""
    video_media_id: Id | None = None
    """The ``media_id`` of an uploaded video."""

    @model_validator(mode="after")
    def _one_source(self) -> _VideoSourceRequest:
        _exactly_one(
            "source_video_id",
            self.source_video_id,
            "video_media_id",
            self.video_media_id,
            "a video made by this API, or an uploaded video's media_id",
        )
        return self


# ---------------------------------------------------------------------------
# 4.1-4.3 text-to-video and image-to-video (with or without an effect template)


class _GenerationRequest(RequestModel):
    """Fields shared by text-to-video and image-to-video (4.1, 4.2)."""

    prompt: Prompt
    model: _ModelField
    duration: int
    """Seconds, per model and quality (8.2); with ``template_id`` the template decides."""
    quality: _QualityField
    negative_prompt: NegativePrompt | None = None
    motion_mode: _MotionModeField | None = None
    seed: Seed | None = None
    style: _StyleField | None = None
    template_id: Id | None = None
    camera_movement: _CameraMovementField | None = None
    water_mark: bool | None = None
    sound_effect_switch: bool | None = None
    sound_effect_content: str | None = None
    lip_sync_tts_switch: bool | None = None
    lip_sync_tts_content: TtsContent | None = None
    lip_sync_tts_speaker_id: str | None = None
    generate_audio_switch: bool | None = None
    generate_multi_clip_switch: bool | None = None
    thinking_type: _ThinkingTypeField | None = None
    play_bgm: bool | None = None
    """Background music on or off. Not in the reference's field tables (4.1, 4.2): live clients
    send it, so the SDK models it as optional and sends it only when set; the emulator
    type-checks it and ignores it."""
    sound_mode: str | None = None
    """A sound preset, e.g. ``"default_music"``. Like ``play_bgm``: undocumented, optional; any
    string is accepted (no value list is known)."""
    webhook_id: Id | None = None

    def _check_generation(self, *, prompt_required: bool) -> None:
        model = self.model
        spec = rules.MODELS[model]
        templated = self.template_id is not None
        _check_prompt(self.prompt, model, nonempty=prompt_required and not templated)
        if not templated:
            # With a template the output follows the template (4.3): send any duration.
            _check_duration(self.duration, model, self.quality)
            _check_fast(self.motion_mode, model, self.duration, self.quality)
        if self.camera_movement is not None:
            if templated:
                raise rule_error(
                    "camera_movement cannot be combined with template_id; drop one of them",
                    field="camera_movement",
                )
            if not spec.camera_movement:
                raise rule_error(
                    f"camera_movement needs model {_names(_CAMERA_MODELS)} (got {model})",
                    field="camera_movement",
                )
        why = f"by model {model} (only {_names(_LEGACY_MODELS)}, or with template_id)"
        legacy = spec.legacy_audio or templated
        _check_switch("sound_effect_switch", self.sound_effect_switch, legacy, why)
        _check_switch("lip_sync_tts_switch", self.lip_sync_tts_switch, legacy, why)
        _check_switch(
            "generate_audio_switch",
            self.generate_audio_switch,
            spec.audio,
            f"by model {model} (only {_names(_AUDIO_MODELS)})",
        )
        _check_switch(
            "generate_multi_clip_switch",
            self.generate_multi_clip_switch,
            spec.multi_clip,
            f"by model {model} (only {_names(_MULTI_CLIP_MODELS)})",
        )


class TextToVideoRequest(_GenerationRequest):
    """The ``text_to_video`` request (reference 4.1; with ``template_id``, a template video, 4.3).

    Required: ``prompt`` (not blank unless ``template_id`` is given), ``model``, ``duration``,
    ``quality``, ``aspect_ratio``. Model-dependent rules follow section 8.2: durations per model
    and quality, aspect ratios, ``motion_mode='fast'`` (v3.5/v4/v4.5, 5 s, below 1080p),
    ``camera_movement`` (v4/v4.5, never with a template), legacy sound-effect / lip-sync
    switches (models up to v5, or any model with a template), ``generate_audio_switch``
    (v5.5, v5.6, v6, c1), ``generate_multi_clip_switch`` (v5.5, v6), prompt limits (2.2).
    ``play_bgm`` (bool) and ``sound_mode`` (str) are optional and unchecked beyond their type:
    live clients send them though the reference does not list them.
    """

    aspect_ratio: str

    @model_validator(mode="after")
    def _rules(self) -> TextToVideoRequest:
        self._check_generation(prompt_required=True)
        _check_aspect_ratio(self.aspect_ratio, self.model)
        return self


class ImageToVideoRequest(_GenerationRequest):
    """The ``image_to_video`` request (reference 4.2; with ``template_id``, a template video, 4.3).

    The same fields as :class:`TextToVideoRequest` except ``aspect_ratio`` (the image decides),
    plus exactly one of ``img_id`` (one image) or ``img_ids`` (multi-image templates only, so it
    needs ``template_id``). The prompt may be empty.
    """

    img_id: Id | None = None
    img_ids: Annotated[IdList, AfterValidator(_nonempty)] | None = None

    @model_validator(mode="after")
    def _rules(self) -> ImageToVideoRequest:
        _exactly_one(
            "img_id",
            self.img_id,
            "img_ids",
            self.img_ids,
            "img_ids is for multi-image templates only",
        )
        if self.img_ids is not None and self.template_id is None:
            raise rule_error(
                "img_ids needs a template_id (multi-image templates only); "
                "for one image send img_id",
                field="img_ids",
            )
        self._check_generation(prompt_required=False)
        return self


# ---------------------------------------------------------------------------
# 4.4-4.7 transition, multi-transition, fusion, extend


class TransitionRequest(RequestModel):
    """The ``transition`` request (reference 4.4): a video from a first and a last frame.

    Required: ``prompt``, ``model`` (all eight), ``duration`` (per model), ``quality``,
    ``first_frame_img`` and ``last_frame_img`` (img_ids). Legacy sound-effect / lip-sync
    switches need a model up to v5; ``generate_audio_switch`` v5.5, v5.6, v6 or c1.
    ``play_bgm`` (bool) and ``sound_mode`` (str) are optional, as on text-to-video.
    """

    prompt: Prompt
    model: _ModelField
    duration: int
    quality: _QualityField
    first_frame_img: Id
    last_frame_img: Id
    motion_mode: _MotionModeField | None = None
    seed: Seed | None = None
    negative_prompt: NegativePrompt | None = None
    water_mark: bool | None = None
    generate_audio_switch: bool | None = None
    sound_effect_switch: bool | None = None
    sound_effect_content: str | None = None
    lip_sync_tts_switch: bool | None = None
    lip_sync_tts_content: TtsContent | None = None
    lip_sync_tts_speaker_id: str | None = None
    play_bgm: bool | None = None
    """Background music on or off (undocumented, as on text-to-video; sent only when set)."""
    sound_mode: str | None = None
    """A sound preset, e.g. ``"default_music"`` (undocumented; any string)."""
    webhook_id: Id | None = None

    @model_validator(mode="after")
    def _rules(self) -> TransitionRequest:
        model = self.model
        spec = rules.MODELS[model]
        _check_prompt(self.prompt, model)
        _check_duration(self.duration, model, self.quality)
        _check_fast(self.motion_mode, model, self.duration, self.quality)
        _check_switch(
            "generate_audio_switch",
            self.generate_audio_switch,
            spec.audio,
            f"by model {model} (only {_names(_AUDIO_MODELS)})",
        )
        why = f"by model {model} (only {_names(_LEGACY_MODELS)})"
        _check_switch("sound_effect_switch", self.sound_effect_switch, spec.legacy_audio, why)
        _check_switch("lip_sync_tts_switch", self.lip_sync_tts_switch, spec.legacy_audio, why)
        return self


class MultiTransitionItem(RequestModel):
    """One keyframe of a multi-transition (4.5).

    ``duration`` (seconds to the next item) is required on every item but the last, which
    leaves it out (or sends 0).
    """

    img_id: Id
    duration: int | None = None
    prompt: Prompt | None = None


class MultiTransitionRequest(RequestModel):
    """The ``multi_transition`` request (reference 4.5): 2-7 images joined by transitions.

    Item durations: 1-8 s each (1-5 s when there are 3 or more items), the last item 0 or
    left out; the total is 1-30 s. Models v3.5, v4, v4.5, v5. ``motion_mode='fast'`` needs
    v3.5/v4/v4.5, a total of at most 5 s and a quality below 1080p.
    """

    multi_transition: Annotated[list[MultiTransitionItem], ItemList]
    model: Annotated[str, choice(rules.MULTI_TRANSITION_MODELS, " for multi-transition")]
    quality: _QualityField
    seed: Seed | None = None
    motion_mode: _MotionModeField | None = None
    webhook_id: Id | None = None

    @model_validator(mode="after")
    def _rules(self) -> MultiTransitionRequest:
        items = self.multi_transition
        n = len(items)
        low, high = rules.MULTI_TRANSITION_MIN_ITEMS, rules.MULTI_TRANSITION_MAX_ITEMS
        if not low <= n <= high:
            raise rule_error(
                f"multi_transition must have {low} to {high} items (got {n})",
                field="multi_transition",
            )
        item_max = (
            rules.MULTI_TRANSITION_ITEM_MAX_MANY
            if n >= _MANY_TRANSITION_ITEMS
            else rules.MULTI_TRANSITION_ITEM_MAX
        )
        total = 0
        for i, item in enumerate(items):
            if item.prompt is not None:
                _check_prompt(item.prompt, self.model, field=f"multi_transition[{i}].prompt")
            field = f"multi_transition[{i}].duration"
            if i == n - 1:
                if item.duration not in (None, 0):
                    raise rule_error(
                        f"{field}: the last item's duration must be 0 or left out "
                        f"(got {item.duration})",
                        field=field,
                    )
                continue
            if item.duration is None:
                raise rule_error(
                    f"{field} is required on every item but the last (seconds to the next item)",
                    field=field,
                )
            if not 1 <= item.duration <= item_max:
                raise rule_error(
                    f"{field} must be 1-{item_max} s with {n} items (got {item.duration})",
                    field=field,
                )
            total += item.duration
        if not 1 <= total <= rules.MULTI_TRANSITION_TOTAL_MAX:
            raise rule_error(
                f"multi_transition durations must add up to 1-{rules.MULTI_TRANSITION_TOTAL_MAX} s "
                f"(got {total})",
                field="multi_transition",
            )
        if self.motion_mode == "fast" and (
            not rules.MODELS[self.model].fast_motion
            or total > _FAST_SECONDS
            or self.quality == "1080p"
        ):
            raise rule_error(
                f"motion_mode 'fast' needs model {_names(_FAST_MODELS)}, a total of at most 5 s "
                f"and a quality below 1080p (got {self.model}, {total} s, {self.quality})",
                field="motion_mode",
            )
        return self


class ImageReference(RequestModel):
    """One fusion reference image (4.6): ``@<ref_name>`` in the prompt refers to it."""

    type: Annotated[str, choice(rules.REFERENCE_TYPES)]
    img_id: Id
    ref_name: Annotated[str, AfterValidator(_ref_name)]
    """Unique within the request, at most 30 UTF-8 bytes."""


class FusionRequest(RequestModel):
    """The ``fusion`` request (reference 4.6): a video from reference images.

    ``image_references``: 1-3 items on v4.5/v5, 1-7 on v5.5/v5.6/v6/c1, each ``ref_name``
    unique and written in the prompt as ``@<ref_name>`` followed by a space (or at the end).
    ``seed`` is always sent: a random one when not given (Project decision).
    ``generate_audio_switch`` needs v5.6, v6 or c1.
    """

    image_references: Annotated[list[ImageReference], ItemList]
    prompt: Prompt
    model: Annotated[str, choice(rules.FUSION_MODELS, " for fusion")]
    duration: int
    quality: _QualityField
    aspect_ratio: str
    seed: SeedAlways = Field(default_factory=random_seed)
    generate_audio_switch: bool | None = None
    webhook_id: Id | None = None

    @model_validator(mode="after")
    def _rules(self) -> FusionRequest:
        model = self.model
        _check_prompt(self.prompt, model, nonempty=True)
        refs = self.image_references
        limit = rules.FUSION_MAX_REFERENCES.get(model, rules.FUSION_MAX_REFERENCES_DEFAULT)
        if not 1 <= len(refs) <= limit:
            raise rule_error(
                f"image_references must have 1 to {limit} items on model {model} (got {len(refs)})",
                field="image_references",
            )
        seen: set[str] = set()
        for i, ref in enumerate(refs):
            field = f"image_references[{i}].ref_name"
            if ref.ref_name in seen:
                raise rule_error(
                    f"{field} {ref.ref_name!r} is used twice; ref names must be unique", field=field
                )
            seen.add(ref.ref_name)
            if not re.search(rf"@{re.escape(ref.ref_name)}(?=\s|$)", self.prompt):
                raise rule_error(
                    f"{field}: the prompt must mention @{ref.ref_name} followed by a space "
                    "(or at the very end)",
                    field=field,
                )
        _check_duration(self.duration, model, self.quality)
        _check_aspect_ratio(self.aspect_ratio, model)
        _check_switch(
            "generate_audio_switch",
            self.generate_audio_switch,
            model in rules.FUSION_AUDIO_MODELS,
            f"by fusion on model {model} (only {_names(rules.FUSION_AUDIO_MODELS)})",
        )
        return self


class ExtendRequest(_VideoSourceRequest):
    """The ``extend`` request (reference 4.7): continue a video by ``duration`` seconds.

    ``source_video_id`` XOR ``video_media_id``. Any model id is accepted by the SDK (the
    reference lists v3.5-v6; the server decides). ``seed``: the reference marks it required,
    so a random one is sent when not given. (The official MCP client sends none and the
    emulator accepts that too: the SDK's habit is the safe side of an uncertain rule.)
    """

    prompt: Prompt
    model: _ModelField
    duration: int
    quality: _QualityField
    seed: SeedAlways = Field(default_factory=random_seed)
    motion_mode: _MotionModeField | None = None
    style: _StyleField | None = None
    negative_prompt: NegativePrompt | None = None
    water_mark: bool | None = None
    template_id: Id | None = None
    webhook_id: Id | None = None

    @model_validator(mode="after")
    def _rules(self) -> ExtendRequest:
        _check_prompt(self.prompt, self.model)
        _check_duration(self.duration, self.model, self.quality)
        _check_fast(self.motion_mode, self.model, self.duration, self.quality)
        return self


# ---------------------------------------------------------------------------
# 4.8-4.17 video-to-video


class LipSyncRequest(_VideoSourceRequest):
    """The ``lip_sync`` request (reference 4.8).

    One video (``source_video_id`` XOR ``video_media_id``) and one audio: ``audio_media_id``
    XOR the pair ``lip_sync_tts_speaker_id`` + ``lip_sync_tts_content`` (1-200 characters).
    """

    audio_media_id: Id | None = None
    lip_sync_tts_speaker_id: str | None = None
    """A speaker id from the TTS list, or ``auto``."""
    lip_sync_tts_content: TtsContent | None = None
    webhook_id: Id | None = None

    @model_validator(mode="after")
    def _rules(self) -> LipSyncRequest:
        speaker, content = self.lip_sync_tts_speaker_id, self.lip_sync_tts_content
        tts = speaker is not None or content is not None
        if self.audio_media_id is not None and tts:
            raise rule_error(
                "audio_media_id and lip_sync_tts_speaker_id/lip_sync_tts_content are mutually "
                "exclusive; give an uploaded audio or a TTS speaker and text",
                field="audio_media_id",
            )
        if self.audio_media_id is None and not tts:
            raise rule_error(
                "give audio_media_id, or lip_sync_tts_speaker_id with lip_sync_tts_content",
                field="audio_media_id",
            )
        if tts:
            if speaker is None:
                raise rule_error(
                    "lip_sync_tts_speaker_id is required with lip_sync_tts_content "
                    "(an id from the TTS speaker list, or 'auto')",
                    field="lip_sync_tts_speaker_id",
                )
            if content is None or not content.strip():
                raise rule_error(
                    "lip_sync_tts_content (the text to speak, 1-200 characters) is required "
                    "with lip_sync_tts_speaker_id",
                    field="lip_sync_tts_content",
                )
        return self


class SoundEffectRequest(_VideoSourceRequest):
    """The ``sound_effect`` request (reference 4.10).

    ``sound_effect_content`` describes the sound (auto when empty, Project decision 11);
    ``original_sound_switch`` keeps and mixes the original audio.
    """

    original_sound_switch: bool | None = None
    sound_effect_content: str | None = None
    webhook_id: Id | None = None


class RestyleRequest(_VideoSourceRequest):
    """The ``restyle`` request (reference 4.11): ``restyle_id`` XOR ``restyle_prompt``.

    ``restyle_prompt``: not blank, at most 5000 characters. The source is at most 16 s
    (checked by the server).
    """

    restyle_id: Id | None = None
    restyle_prompt: Annotated[str, max_chars(rules.RESTYLE_PROMPT_LIMIT, nonempty=True)] | None = (
        None
    )
    seed: Seed | None = None
    webhook_id: Id | None = None

    @model_validator(mode="after")
    def _rules(self) -> RestyleRequest:
        _exactly_one(
            "restyle_id",
            self.restyle_id,
            "restyle_prompt",
            self.restyle_prompt,
            "a style from the restyle list, or a prompt",
        )
        return self


class MaskSelectionRequest(_VideoSourceRequest):
    """``POST /video/mask/selection`` (4.13): masks of one keyframe (billed, synchronous).

    ``keyframe_id`` defaults to 1 on the server; the SDK accepts 0 and up (the official range is
    1..last frame; a third-party client sends 0). An uploaded source may be up to 100 MB, the
    Modify limit (reference 9.2: the Modify page runs mask selection on its own sources).
    """

    keyframe_id: Annotated[int, AfterValidator(_nonnegative)] | None = None


class SwapRequest(_VideoSourceRequest):
    """The ``swap`` request (reference 4.14): replace a masked subject with an image.

    ``keyframe_id`` and ``mask_id`` come from a mask selection on the same video;
    ``quality`` is 360p, 540p or 720p.
    """

    keyframe_id: Annotated[int, AfterValidator(_nonnegative)]
    mask_id: Annotated[str, max_chars(rules.LONG_PROMPT_LIMIT, nonempty=True)]
    img_id: Id
    quality: Annotated[str, choice(rules.SWAP_QUALITIES, " for swap (1080p is not supported)")]
    original_sound_switch: bool | None = None
    webhook_id: Id | None = None


class MimicRequest(_VideoSourceRequest):
    """The ``mimic`` request (reference 4.15): animate ``img_id`` with the video's motion.

    The SDK accepts 360p-1080p (Project decision 10: the reference lists 1080p; the guide, and
    so the emulator, refuses it).
    """

    img_id: Id
    quality: _QualityField
    webhook_id: Id | None = None


class ModifyRequest(_VideoSourceRequest):
    """The ``modify`` request (reference 4.16, Project decision 9): edit a video by prompt.

    Rules: ``source_video_id`` XOR ``video_media_id``; ``prompt`` not blank, at most 5000
    characters; ``mask_ids`` and ``mask_urls`` have 1-3 items when given (never empty);
    ``mask_ids`` XOR ``mask_urls``; ``mask_urls`` are http(s) URLs; ``quality`` 360p, 540p or
    720p.

    ``img_ids``: "up to 3 images for each subject" (4.16), so at most 3 per mask: 3, 6 or 9
    with 1, 2 or 3 masks. Without masks the page names no subject count; the SDK takes the
    wider reading, up to 9 (3 selection areas x 3), and leaves the verdict to the server.

    Keyframe (4.16, revised decision): the page's table says ``keyframe_id``, its examples send
    ``keyframe_ids``. Give either (``keyframe_ids`` may be an int or a one-element list) or both
    with the same value; the request holds and sends the one frame under both names, as an
    int. Both given and different is an error naming ``keyframe_ids``.

    References (an SDK safety rule, stricter than the server): every ``@selectionN`` in the
    prompt needs N < the number of masks and every ``@imgN`` needs N < ``len(img_ids)`` (only
    those exact token shapes count). The page only says such a request "may not match your
    expectations", and the emulator accepts it; the SDK refuses it before sending, because a
    dangling reference is a caller bug that would still be billed.
    """

    prompt: Annotated[str, max_chars(rules.MODIFY_PROMPT_LIMIT, nonempty=True)]
    img_ids: Annotated[IdList, AfterValidator(_up_to_nine)] | None = None
    """Images referenced as ``@img0``, ``@img1``...: up to 3 per mask (9 without masks)."""
    mask_ids: Annotated[StrList, AfterValidator(_up_to_three)] | None = None
    """Mask ids (strings) from a mask selection on the same video."""
    mask_urls: MaskUrls | None = None
    """Public URLs of mask images (http or https)."""
    keyframe_id: Id | None = None
    """The frame of swap-type edits (the masks' keyframe). Sent also as ``keyframe_ids``."""
    keyframe_ids: KeyframeIds | None = None
    """The page's examples' spelling of ``keyframe_id``: an int or a one-element list; it
    always equals ``keyframe_id`` once validated, and is sent as an int."""
    quality: Annotated[str, choice(rules.MODIFY_QUALITIES, " for modify (1080p is not supported)")]
    seed: Seed | None = None
    webhook_id: Id | None = None

    @model_validator(mode="before")
    @classmethod
    def _one_keyframe_two_names(cls, data: Any) -> Any:
        # Fill the missing name from the given one, so the model holds (and to_body sends) the
        # frame under both. Only a plain in-range int is copied: anything else is reported by
        # the field it was given as.
        if not isinstance(data, dict):
            return data
        single, many = data.get("keyframe_id"), data.get("keyframe_ids")
        if isinstance(many, (list, tuple)) and len(many) == 1:
            many = many[0]
        if single is None and _plain_id(many):
            return {**data, "keyframe_id": many}
        if many is None and _plain_id(single):
            return {**data, "keyframe_ids": single}
        return data

    @model_validator(mode="after")
    def _rules(self) -> ModifyRequest:
        if self.keyframe_id != self.keyframe_ids:
            raise rule_error(
                f"keyframe_id ({self.keyframe_id}) and keyframe_ids ({self.keyframe_ids}) "
                "differ; they are two spellings of the one keyframe: give one of them, or the "
                "same value in both",
                field="keyframe_ids",
            )
        if self.mask_ids is not None and self.mask_urls is not None:
            raise rule_error(
                "mask_ids and mask_urls are mutually exclusive; send one of them",
                field="mask_urls",
            )
        masks = self.mask_ids or self.mask_urls or []
        images = self.img_ids or []
        limit = rules.modify_max_images(len(masks))
        if len(images) > limit:
            raise rule_error(
                f"img_ids has {len(images)} items; with {len(masks)} mask(s) modify takes at "
                f"most {limit} (up to {rules.MODIFY_IMAGES_PER_SELECTION} images per selection)",
                field="img_ids",
            )
        for match in _SELECTION_REF.finditer(self.prompt):
            n = int(match.group(1))
            if n >= len(masks):
                raise rule_error(
                    f"the prompt references {match.group(0)} but only {len(masks)} mask(s) were "
                    f"given; @selectionN needs N < the number of mask_ids or mask_urls (an SDK "
                    "safety rule: the server may accept it and give an unexpected result)",
                    field="prompt",
                )
        for match in _IMG_REF.finditer(self.prompt):
            n = int(match.group(1))
            if n >= len(images):
                raise rule_error(
                    f"the prompt references {match.group(0)} but only {len(images)} img_ids "
                    "were given; @imgN needs N < len(img_ids) (an SDK safety rule: the server "
                    "may accept it and give an unexpected result)",
                    field="prompt",
                )
        return self


class UpscaleRequest(_VideoSourceRequest):
    """The ``upscale`` request (reference 4.17)."""

    webhook_id: Id | None = None


# ---------------------------------------------------------------------------
# Responses


class VideoJobCreated(ResponseModel):
    """The answer to every async video POST: the job id and the credits charged (2.4)."""

    video_id: int
    credits: int | None = None
    """Credits charged; ``None`` when the server did not say (older endpoints)."""

    @model_validator(mode="before")
    @classmethod
    def _credit_spelling(cls, data: Any) -> Any:
        return credits_fallback(data)


class VideoStatus(enum.IntEnum):
    """Job statuses (section 5). Any other value means "still running"."""

    SUCCEEDED = 1
    GENERATING = 5
    DELETED = 6
    MODERATED = 7
    FAILED = 8

    @property
    def terminal(self) -> bool:
        """Whether the job is over (every documented status but 5)."""
        return self is not VideoStatus.GENERATING

    @classmethod
    def of(cls, value: int) -> VideoStatus | None:
        """The status for ``value``, or ``None`` for an undocumented (still running) value."""
        try:
            return cls(value)
        except ValueError:
            return None

    @classmethod
    def is_terminal_value(cls, value: int) -> bool:
        """Whether a raw status value is terminal (unknown values are not)."""
        status = cls.of(value)
        return status is not None and status.terminal


class VideoResult(ResponseModel):
    """``GET /video/result/{video_id}`` (4.18). Only ``id`` and ``status`` are guaranteed."""

    id: int = Field(validation_alias=AliasChoices("id", "video_id"))
    status: int
    """Raw status; see :class:`VideoStatus` (unknown values mean still running)."""
    url: str | None = None
    """The video's URL, valid at status 1 only."""
    prompt: str | None = None
    negative_prompt: str | None = None
    style: str | None = None
    seed: int | None = None
    resolution_ratio: int | None = None
    output_width: int | None = Field(default=None, alias="outputWidth")
    output_height: int | None = Field(default=None, alias="outputHeight")
    size: int | float | None = None
    """Size of the video file: a number whose unit is documented nowhere (reference 4.18; the
    webhook example shows ``10.5``, the emulator and a live client send an int of bytes). Kept
    as given (int or float); a download never fails on it (a mismatch is logged at DEBUG)."""
    has_audio: bool | None = None
    create_time: OpaqueStr | None = None
    modify_time: OpaqueStr | None = None

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


class MaskInfo(ResponseModel):
    """One mask of a mask selection (4.13)."""

    mask_id: OpaqueStr
    mask_name: str | None = None
    mask_url: str | None = None


class MaskSelectionResult(ResponseModel):
    """``POST /video/mask/selection`` (4.13): the keyframe and its masks."""

    keyframe_id: int
    keyframe_url: str | None = None
    credits: int | None = None
    mask_info: list[MaskInfo] = Field(default_factory=list)


class TtsSpeaker(ResponseModel):
    """A TTS voice (4.9): pass ``speaker_id`` as ``lip_sync_tts_speaker_id``."""

    speaker_id: OpaqueStr
    name: str | None = None


class TtsSpeakerPage(ResponseModel):
    """One page of ``GET /video/lip_sync/tts_list`` (4.9)."""

    total: int
    data: list[TtsSpeaker] = Field(default_factory=list)


class RestyleEffect(ResponseModel):
    """One item of ``GET /video/restyle/list`` (4.12)."""

    restyle_id: int
    restyle_name: str | None = None
    restyle_prompt: str | None = None
    cover_url: str | None = None
