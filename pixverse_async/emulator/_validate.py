"""Field rules of every generation endpoint (reference sections 2, 4 and 8).

Each ``validate_*`` function reads a parsed JSON body through :class:`Body` (which turns wrong
JSON types into 400013 and missing fields into 400017), applies the endpoint's rules, and
returns the :class:`JobSpec` to create, priced by the credits model. Input checks that the
reference lists after the field rules (moderation triggers, mimic subject checks) run last, in
:meth:`Ctx.input_checks`, so a request with both kinds of problem gets the 4000xx first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .. import _pricing as pricing
from .. import _rules as rules
from ._constants import (
    NAME_INPUT_MODERATION,
    NAME_NO_PERSON,
    NAME_NO_SUBJECT,
    PROMPT_REJECT,
    TTS_SPEAKERS,
)
from ._errors import ApiError, bad_type, invalid
from ._state import DELETED, SUCCEEDED, Account, EmulatorState, JobSpec, Upload

_SPEAKER_IDS = frozenset(s.lower() for s, _ in TTS_SPEAKERS) | {"auto"}


class Body:
    """Typed access to a JSON object body. ``null`` counts as absent."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def _get(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            raise invalid(f"{name} is required")
        return value

    def int_(self, name: str, *, required: bool = False) -> int | None:
        value = self._get(name, required)
        if value is None:
            return None
        if type(value) is not int:
            raise bad_type(name, "an integer (a JSON number without quotes or decimals)")
        return value

    def str_(self, name: str, *, required: bool = False, nonempty: bool = False) -> str | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise bad_type(name, "a string")
        if nonempty and not value.strip():
            raise invalid(f"{name} must not be empty")
        return value

    def bool_(self, name: str) -> bool:
        value = self.data.get(name)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise bad_type(name, "a boolean")
        return value

    def enum(self, name: str, choices: tuple[str, ...], *, required: bool = False) -> str | None:
        value = self.str_(name, required=required)
        if value is not None and value not in choices:
            raise invalid(f"{name} must be one of {', '.join(choices)} (got {value!r})")
        return value

    def int_list(self, name: str, *, required: bool = False) -> list[int] | None:
        value = self._get(name, required)
        if value is None:
            return None
        if not isinstance(value, list) or any(type(v) is not int for v in value):
            raise bad_type(name, "a list of integers")
        return value

    def str_list(self, name: str) -> list[str] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
            raise bad_type(name, "a list of strings")
        return value

    def objects(self, name: str) -> list[Body]:
        value = self._get(name, True)
        if not isinstance(value, list) or any(not isinstance(v, dict) for v in value):
            raise bad_type(name, "a list of objects")
        return [Body(v) for v in value]


# JSON type of every body field the API defines (a field has one type on every endpoint).
# Checked before any field rule, so a wrong type is 400013 whatever else is wrong (1.8).
_INT, _STR, _BOOL = "an integer", "a string", "a boolean"
_INT_LIST, _STR_LIST, _OBJ_LIST = "a list of integers", "a list of strings", "a list of objects"
FIELD_TYPES: dict[str, str] = {
    **dict.fromkeys(
        (
            "duration",
            "seed",
            "template_id",
            "webhook_id",
            "img_id",
            "first_frame_img",
            "last_frame_img",
            "source_video_id",
            "video_media_id",
            "audio_media_id",
            "restyle_id",
            "keyframe_id",
        ),
        _INT,
    ),
    **dict.fromkeys(
        (
            "prompt",
            "model",
            "quality",
            "aspect_ratio",
            "negative_prompt",
            "motion_mode",
            "style",
            "camera_movement",
            "thinking_type",
            "sound_effect_content",
            "lip_sync_tts_content",
            "lip_sync_tts_speaker_id",
            "restyle_prompt",
            "mask_id",
            "type",
            "ref_name",
            "sound_mode",
        ),
        _STR,
    ),
    **dict.fromkeys(
        (
            "water_mark",
            "sound_effect_switch",
            "lip_sync_tts_switch",
            "lip_sync_switch",
            "generate_audio_switch",
            "generate_multi_clip_switch",
            "original_sound_switch",
            "play_bgm",
        ),
        _BOOL,
    ),
    "img_ids": _INT_LIST,
    "mask_ids": _STR_LIST,
    "mask_urls": _STR_LIST,
    "multi_transition": _OBJ_LIST,
    "image_references": _OBJ_LIST,
}


def _type_ok(value: Any, expected: str) -> bool:
    if expected == _INT:
        return type(value) is int
    if expected == _STR:
        return isinstance(value, str)
    if expected == _BOOL:
        return isinstance(value, bool)
    if not isinstance(value, list):
        return False
    if expected == _INT_LIST:
        return all(type(v) is int for v in value)
    if expected == _STR_LIST:
        return all(isinstance(v, str) for v in value)
    return all(isinstance(v, dict) for v in value)


def check_types(data: dict[str, Any], where: str = "") -> None:
    """Raise 400013 for the first known field of the wrong JSON type (nested lists included)."""
    for name, value in data.items():
        expected = FIELD_TYPES.get(name)
        if expected is None or value is None:
            continue
        if not _type_ok(value, expected):
            raise bad_type(f"{where}{name}", expected)
        if expected == _OBJ_LIST:
            for i, item in enumerate(value):
                check_types(item, f"{where}{name}[{i}].")


@dataclass(frozen=True)
class Source:
    key: tuple[str, int]
    seconds: float
    width: int
    height: int
    name: str


class Ctx:
    """One request's validation context: the state, the account, the body."""

    def __init__(self, state: EmulatorState, account: Account, data: dict[str, Any]) -> None:
        check_types(data)  # step 5 of the check order: every type error before any field rule
        self.state = state
        self.account = account
        self.body = Body(data)
        self.images: list[Upload] = []
        self.video_names: list[str] = []

    # -- shared fields ---------------------------------------------------------------------

    def image(self, img_id: int, field: str) -> Upload:
        upload = self.state.uploads.get(img_id)
        if upload is None or upload.kind != "image" or upload.account_id != self.account.account_id:
            raise ApiError(400032, f"{field}: no image with id {img_id}; upload it first")
        self.images.append(upload)
        return upload

    def video_source(
        self,
        *,
        max_bytes: int = rules.SOURCE_MAX_BYTES_LARGE,
        formats: tuple[str, ...] | None = None,
        max_seconds: float | None = rules.MEDIA_MAX_SECONDS,
    ) -> Source:
        b = self.body
        video_id = b.int_("source_video_id")
        media_id = b.int_("video_media_id")
        if (video_id is None) == (media_id is None):
            raise invalid("exactly one of source_video_id or video_media_id must be provided")
        if video_id is not None:
            job = self.state.jobs.get(video_id)
            if job is None or job.is_image or job.account is not self.account:
                raise invalid("no matching source_video_id")
            if job.status == DELETED:
                raise ApiError(500064, f"source_video_id {video_id} was deleted")
            if job.status != SUCCEEDED:
                raise invalid("no matching source_video_id (the video is not finished)")
            source = Source(("video", video_id), job.seconds, job.width, job.height, "")
        else:
            assert media_id is not None
            upload = self.state.uploads.get(media_id)
            if upload is None or upload.account_id != self.account.account_id:
                raise invalid("no matching video_media_id, please re-upload")
            if upload.kind != "video":
                raise invalid("Invalid media_type: not a video resource")
            if formats and upload.format not in formats:
                raise invalid(f"video_media_id: video format must be {'/'.join(formats)}")
            if upload.size > max_bytes:
                raise invalid(f"video_media_id: video exceeds {max_bytes // rules.MB} MB")
            source = Source(
                ("media", media_id), upload.seconds, upload.width, upload.height, upload.name
            )
            self.video_names.append(upload.name)
        if max_seconds is not None and source.seconds > max_seconds + 1e-9:
            field = "source_video_id" if video_id is not None else "video_media_id"
            raise invalid(
                f"{field}: source video is {source.seconds:.1f} s; at most {max_seconds:g} s"
            )
        return source

    def prompt(
        self, name: str, limit: int, *, required: bool = True, nonempty: bool = False
    ) -> str:
        text = self.body.str_(name, required=required, nonempty=nonempty) or ""
        if len(text) > limit:
            raise ApiError(400018, f"{name} has {len(text)} characters; the limit is {limit}")
        return text

    def negative_prompt(self) -> str:
        text = self.body.str_("negative_prompt") or ""
        limit = rules.NEGATIVE_PROMPT_LIMIT
        if len(text) > limit:
            raise ApiError(
                400019, f"negative_prompt has {len(text)} characters; the limit is {limit}"
            )
        return text

    def seed(self, *, required: bool = False) -> int | None:
        seed = self.body.int_("seed", required=required)
        if seed is not None and not rules.SEED_MIN <= seed <= rules.SEED_MAX:
            raise invalid(f"seed must be between {rules.SEED_MIN} and {rules.SEED_MAX}")
        return seed

    def quality(self, choices: tuple[str, ...] = rules.QUALITIES) -> str:
        q = self.body.enum("quality", choices, required=True)
        assert q is not None
        return q

    def model(self, choices: tuple[str, ...] = rules.MODEL_IDS) -> rules.ModelRules:
        m = self.body.enum("model", choices, required=True)
        assert m is not None
        return rules.MODELS[m]

    def duration(self, model: rules.ModelRules, quality: str, name: str = "duration") -> int:
        d = self.body.int_(name, required=True)
        assert d is not None
        allowed = rules.durations_for(model.name, quality)
        if d not in allowed:
            listed = (
                f"{allowed[0]}-{allowed[-1]}" if len(allowed) > 4 else ", ".join(map(str, allowed))
            )
            raise invalid(f"{name} must be one of {listed} for model {model.name} at {quality}")
        return d

    def webhook(self, *, capable: bool = True) -> Any:
        webhook_id = self.body.int_("webhook_id")
        if not capable:
            return None
        if webhook_id is None:
            return self.account.default_webhook
        hook = self.account.webhooks.get(webhook_id)
        if hook is None:
            raise invalid(f"webhook_id {webhook_id} is not a webhook of this account")
        return hook

    def motion_fast(self, model: rules.ModelRules, quality: str, seconds: int) -> bool:
        mode = self.body.enum("motion_mode", rules.MOTION_MODES)
        if mode != "fast":
            return False
        if not model.fast_motion:
            raise invalid(f"motion_mode fast is not supported by model {model.name}")
        if seconds != 5 or quality == "1080p":
            raise invalid("motion_mode fast needs a 5 s duration and a quality below 1080p")
        return True

    def switch(self, name: str, allowed: bool, why: str) -> bool:
        on = self.body.bool_(name)
        if on and not allowed:
            raise invalid(f"{name} is not supported {why}")
        return on

    def input_checks(self, *, mimic: bool = False) -> None:
        """Moderation and subject checks, after every field rule passed."""
        prompts = [v for k, v in self.body.data.items() if "prompt" in k and isinstance(v, str)]
        # multi-transition item prompts are prompts too (reference 2.2)
        items = self.body.data.get("multi_transition")
        if isinstance(items, list):
            nested = [i.get("prompt") for i in items if isinstance(i, dict)]
            prompts += [p for p in nested if isinstance(p, str)]
        if any(PROMPT_REJECT in p for p in prompts):
            raise ApiError(500063, "the prompt did not pass moderation")
        for image in self.images:
            if NAME_INPUT_MODERATION in image.name:
                raise ApiError(500054, f"image {image.id} did not pass moderation")
        if mimic:
            if any(NAME_NO_SUBJECT in image.name for image in self.images):
                raise ApiError(701002)
            if any(NAME_NO_PERSON in name for name in self.video_names):
                raise ApiError(701003)


def dims(quality: int, ratio: float) -> tuple[int, int]:
    """Width and height for a short side of ``quality`` pixels and width/height ``ratio``."""
    long = round(quality * max(ratio, 1 / ratio) / 2) * 2
    return (long, quality) if ratio >= 1 else (quality, long)


def _ratio(text: str) -> float:
    a, b = text.split(":")
    return int(a) / int(b)


def _source_ratio(source: Source) -> float:
    return source.width / source.height if source.width and source.height else 16 / 9


# ---------------------------------------------------------------------------
# t2v, i2v, templates (4.1-4.3)


def _template(ctx: Ctx, template_id: int, kind: str, quality: str) -> Any:
    template = ctx.state.templates.get(template_id)
    if template is None or template.kind != kind:
        raise invalid(f"template_id {template_id} is not a known {kind} template")
    if not template.activated:
        raise ApiError(500070, f"template {template_id}")
    if quality not in template.qualities:
        raise ApiError(500071, f"template {template_id} supports {', '.join(template.qualities)}")
    return template


def _generation(ctx: Ctx, kind: str, *, image: bool) -> JobSpec:
    b = ctx.body
    template_id = b.int_("template_id")
    model = ctx.model()
    quality = ctx.quality()
    prompt = ctx.prompt("prompt", model.prompt_limit, nonempty=not image and template_id is None)
    negative = ctx.negative_prompt()
    seed = ctx.seed()
    style = b.enum("style", rules.STYLES) or ""
    b.enum("thinking_type", rules.THINKING_TYPES)
    b.bool_("water_mark")
    _background_music(b)
    webhook = ctx.webhook()

    if image:
        img_id = b.int_("img_id")
        img_ids = b.int_list("img_ids")
        if (img_id is None) == (img_ids is None):
            raise invalid("exactly one of img_id or img_ids must be provided")
        if img_ids is not None and template_id is None:
            raise invalid("img_ids needs a template_id (multi-image templates only)")
        ids = [img_id] if img_id is not None else list(img_ids or [])
        if not ids:
            raise invalid("img_ids must not be empty")
        uploads = [ctx.image(i, "img_id" if img_id is not None else "img_ids") for i in ids]
        first = uploads[0]
        ratio = first.width / first.height if first.width and first.height else 16 / 9
    else:
        aspect = b.enum("aspect_ratio", model.aspect_ratios, required=True)
        assert aspect is not None
        ratio = _ratio(aspect)
        ids = []

    camera = b.enum("camera_movement", rules.CAMERA_MOVEMENTS)
    if camera is not None:
        if template_id is not None:
            raise invalid("camera_movement cannot be combined with template_id")
        if not model.camera_movement:
            raise invalid(f"camera_movement is not supported by model {model.name}")

    legacy_ok = model.legacy_audio or template_id is not None
    why = f"by model {model.name} (models up to v5, or with template_id)"
    sfx = ctx.switch("sound_effect_switch", legacy_ok, why)
    b.str_("sound_effect_content")
    lip = _legacy_lip_sync(ctx, legacy_ok, why)
    audio = ctx.switch("generate_audio_switch", model.audio, f"by model {model.name}")
    multi = ctx.switch("generate_multi_clip_switch", model.multi_clip, f"by model {model.name}")

    if template_id is not None:
        template = _template(ctx, template_id, "video", quality)
        if image and template.image_count != len(ids):
            raise invalid(
                f"template {template_id} takes {template.image_count} image(s); got {len(ids)}"
            )
        b.int_("duration", required=True)
        b.enum("motion_mode", rules.MOTION_MODES)  # the value is checked; the template decides
        seconds: float = template.seconds
        fast = False
        credits = pricing.template_video_price(quality)
    else:
        duration = ctx.duration(model, quality)
        fast = ctx.motion_fast(model, quality, duration)
        seconds = duration
        credits = pricing.model_price(
            model.name, quality, duration, fast=fast, audio=audio, multi_clip=multi
        )
    credits += pricing.addons(seconds, sound_effect=sfx, lip_sync=lip)
    ctx.input_checks()
    q = rules.QUALITY_HEIGHT[quality]
    w, h = dims(q, ratio)
    return JobSpec(
        kind=kind,
        credits=credits,
        seconds=seconds,
        quality=q,
        width=w,
        height=h,
        has_audio=audio or sfx or lip,
        prompt=prompt,
        negative_prompt=negative,
        style=style,
        seed=seed,
        webhook=webhook,
        template_id=template_id or 0,
    )


def _background_music(b: Body) -> None:
    """``play_bgm`` (bool) and ``sound_mode`` (str): sent by live clients on t2v, i2v and
    transition though the reference does not list them; type-checked, then ignored."""
    b.bool_("play_bgm")
    b.str_("sound_mode")


def _legacy_lip_sync(ctx: Ctx, allowed: bool, why: str) -> bool:
    b = ctx.body
    tts = b.data.get("lip_sync_tts_switch")
    plain = b.data.get("lip_sync_switch")
    if tts is not None and plain is not None and tts != plain:
        raise invalid("lip_sync_tts_switch and lip_sync_switch disagree; send one of them")
    name = "lip_sync_tts_switch" if tts is not None else "lip_sync_switch"
    on = ctx.switch(name, allowed, why)
    content = b.str_("lip_sync_tts_content")
    if content is not None and len(content) > rules.TTS_CONTENT_LIMIT:
        raise invalid("TTS text must be within 200 characters")
    speaker = b.str_("lip_sync_tts_speaker_id")
    if speaker is not None and speaker.lower() not in _SPEAKER_IDS:
        raise invalid("The specified speaker ID is invalid or not supported")
    return on


def validate_text(ctx: Ctx) -> JobSpec:
    return _generation(ctx, "text", image=False)


def validate_img(ctx: Ctx) -> JobSpec:
    return _generation(ctx, "img", image=True)


# ---------------------------------------------------------------------------
# transition, multi-transition, fusion, extend (4.4-4.7)


def validate_transition(ctx: Ctx) -> JobSpec:
    b = ctx.body
    model = ctx.model()
    quality = ctx.quality()
    prompt = ctx.prompt("prompt", model.prompt_limit)
    duration = ctx.duration(model, quality)
    first = ctx.image(_required_int(b, "first_frame_img"), "first_frame_img")
    ctx.image(_required_int(b, "last_frame_img"), "last_frame_img")
    fast = ctx.motion_fast(model, quality, duration)
    seed = ctx.seed()
    negative = ctx.negative_prompt()
    b.bool_("water_mark")
    audio = ctx.switch("generate_audio_switch", model.audio, f"by model {model.name}")
    why = f"by model {model.name} (models up to v5)"
    sfx = ctx.switch("sound_effect_switch", model.legacy_audio, why)
    lip = _legacy_lip_sync(ctx, model.legacy_audio, why)
    _background_music(b)
    webhook = ctx.webhook()
    credits = pricing.model_price(model.name, quality, duration, fast=fast, audio=audio)
    credits += pricing.addons(duration, sound_effect=sfx, lip_sync=lip)
    ctx.input_checks()
    q = rules.QUALITY_HEIGHT[quality]
    ratio = first.width / first.height if first.width and first.height else 16 / 9
    w, h = dims(q, ratio)
    return JobSpec(
        "transition",
        credits,
        duration,
        q,
        w,
        h,
        audio or sfx or lip,
        prompt,
        negative,
        "",
        seed,
        webhook,
    )


def _required_int(b: Body, name: str) -> int:
    value = b.int_(name, required=True)
    assert value is not None
    return value


def validate_multi_transition(ctx: Ctx) -> JobSpec:
    b = ctx.body
    model = ctx.model(rules.MULTI_TRANSITION_MODELS)
    quality = ctx.quality()
    items = b.objects("multi_transition")
    n = len(items)
    if not rules.MULTI_TRANSITION_MIN_ITEMS <= n <= rules.MULTI_TRANSITION_MAX_ITEMS:
        raise invalid("multi_transition must have 2 to 7 items")
    item_max = rules.MULTI_TRANSITION_ITEM_MAX_MANY if n >= 3 else rules.MULTI_TRANSITION_ITEM_MAX
    total = 0
    first: Upload | None = None
    for i, item in enumerate(items):
        upload = ctx.image(_required_int(item, "img_id"), f"multi_transition[{i}].img_id")
        first = first or upload
        text = item.str_("prompt") or ""
        if len(text) > model.prompt_limit:
            raise ApiError(400018, f"multi_transition[{i}].prompt exceeds {model.prompt_limit}")
        last = i == n - 1
        d = item.int_("duration", required=not last)
        if last:
            if d not in (None, 0):
                raise invalid("the last multi_transition item's duration must be 0 or omitted")
            continue
        assert d is not None
        if not 1 <= d <= item_max:
            raise invalid(f"multi_transition[{i}].duration must be 1-{item_max}")
        total += d
    if not 1 <= total <= rules.MULTI_TRANSITION_TOTAL_MAX:
        raise invalid("multi_transition durations must add up to 1-30 s")
    seed = ctx.seed()
    mode = b.enum("motion_mode", rules.MOTION_MODES)
    fast = mode == "fast"
    if fast and (not model.fast_motion or total > 5 or quality == "1080p"):
        raise invalid("motion_mode fast needs v3.5/v4/v4.5, a total of at most 5 s and < 1080p")
    webhook = ctx.webhook()
    ctx.input_checks()
    q = rules.QUALITY_HEIGHT[quality]
    assert first is not None
    ratio = first.width / first.height if first.width and first.height else 16 / 9
    w, h = dims(q, ratio)
    credits = pricing.multi_transition_price(quality, total, fast=fast)
    return JobSpec("multi_transition", credits, total, q, w, h, seed=seed, webhook=webhook)


def validate_fusion(ctx: Ctx) -> JobSpec:
    b = ctx.body
    model = ctx.model(rules.FUSION_MODELS)
    quality = ctx.quality()
    prompt = ctx.prompt("prompt", model.prompt_limit, nonempty=True)
    refs = b.objects("image_references")
    limit = rules.FUSION_MAX_REFERENCES.get(model.name, rules.FUSION_MAX_REFERENCES_DEFAULT)
    if not 1 <= len(refs) <= limit:
        raise invalid(f"image_references must have 1 to {limit} items on model {model.name}")
    names: set[str] = set()
    for i, ref in enumerate(refs):
        ref.enum("type", rules.REFERENCE_TYPES, required=True)
        ctx.image(_required_int(ref, "img_id"), f"image_references[{i}].img_id")
        name = ref.str_("ref_name", required=True, nonempty=True)
        assert name is not None
        if len(name.encode()) > rules.REF_NAME_MAX_BYTES:
            raise invalid(f"image_references[{i}].ref_name exceeds 30 UTF-8 bytes")
        if name in names:
            raise invalid(f"image_references ref_name {name!r} is not unique")
        names.add(name)
        if not re.search(rf"@{re.escape(name)}(?=\s|$)", prompt):
            raise invalid(f"the prompt must mention @{name} followed by a space")
    duration = ctx.duration(model, quality)
    aspect = b.enum("aspect_ratio", model.aspect_ratios, required=True)
    assert aspect is not None
    seed = ctx.seed()
    audio = ctx.switch(
        "generate_audio_switch",
        model.name in rules.FUSION_AUDIO_MODELS,
        f"by fusion on {model.name}",
    )
    webhook = ctx.webhook()
    ctx.input_checks()
    q = rules.QUALITY_HEIGHT[quality]
    w, h = dims(q, _ratio(aspect))
    credits = pricing.model_price(model.name, quality, duration, audio=audio)
    return JobSpec("fusion", credits, duration, q, w, h, audio, prompt, seed=seed, webhook=webhook)


def validate_extend(ctx: Ctx) -> JobSpec:
    """Extend (4.7). ``seed`` is optional here: the reference marks it required, but the official
    MCP client sends none and is served, so a missing seed draws one (as on other endpoints)."""
    b = ctx.body
    source = ctx.video_source(max_bytes=rules.SOURCE_MAX_BYTES["extend"])
    model = ctx.model(rules.EXTEND_MODELS)
    quality = ctx.quality()
    prompt = ctx.prompt("prompt", model.prompt_limit)
    duration = ctx.duration(model, quality)
    seed = ctx.seed()
    fast = ctx.motion_fast(model, quality, duration)
    style = b.enum("style", rules.STYLES) or ""
    negative = ctx.negative_prompt()
    b.bool_("water_mark")
    b.int_("template_id")
    webhook = ctx.webhook()
    ctx.input_checks()
    q = rules.QUALITY_HEIGHT[quality]
    w, h = dims(q, _source_ratio(source))
    credits = pricing.model_price(model.name, quality, duration, fast=fast)
    return JobSpec(
        "extend",
        credits,
        source.seconds + duration,
        q,
        w,
        h,
        False,
        prompt,
        negative,
        style,
        seed,
        webhook,
    )


# ---------------------------------------------------------------------------
# video-to-video (4.8, 4.10, 4.11, 4.14-4.17)

_MP4_MOV = ("mp4", "mov")


def _from_source(kind: str, source: Source, credits: int, quality: int | None = None) -> JobSpec:
    ratio = _source_ratio(source)
    short = quality or (min(source.width, source.height) if source.width and source.height else 720)
    w, h = dims(short, ratio)
    return JobSpec(kind, credits, source.seconds, short, w, h)


def validate_lip_sync(ctx: Ctx) -> JobSpec:
    b = ctx.body
    source = ctx.video_source(max_bytes=rules.SOURCE_MAX_BYTES["lip_sync"], formats=_MP4_MOV)
    audio_id = b.int_("audio_media_id")
    speaker = b.str_("lip_sync_tts_speaker_id")
    content = b.str_("lip_sync_tts_content")
    tts = speaker is not None or content is not None
    if (audio_id is None) == (not tts):
        raise invalid("either audio_media_id or speaker+content must be provided")
    if audio_id is not None:
        upload = ctx.state.uploads.get(audio_id)
        if upload is None or upload.account_id != ctx.account.account_id:
            raise invalid("no matching audio_media_id, please re-upload")
        if upload.kind != "audio":
            raise invalid("Invalid media_type: not a audio resource")
        if upload.format not in ("mp3", "wav"):
            raise invalid("audio_media_id: audio format must be mp3/wav")
        credits = pricing.lip_sync_audio_price(upload.seconds)
    else:
        if speaker is None or content is None or not content.strip():
            raise invalid("either audio_media_id or speaker+content must be provided")
        if speaker.lower() not in _SPEAKER_IDS:
            raise invalid("The specified speaker ID is invalid or not supported")
        if len(content) > rules.TTS_CONTENT_LIMIT:
            raise invalid("TTS text must be within 200 characters")
        credits = pricing.lip_sync_tts_price(content)
    webhook = ctx.webhook()
    ctx.input_checks()
    spec = _from_source("lip_sync", source, credits)
    spec.has_audio = True
    spec.webhook = webhook
    return spec


def validate_sound_effect(ctx: Ctx) -> JobSpec:
    b = ctx.body
    source = ctx.video_source()
    b.bool_("original_sound_switch")
    content = b.str_("sound_effect_content") or ""
    webhook = ctx.webhook()
    ctx.input_checks()
    spec = _from_source("sound_effect", source, pricing.sound_effect_price(source.seconds))
    spec.has_audio = True
    spec.prompt = content
    spec.webhook = webhook
    return spec


def validate_restyle(ctx: Ctx) -> JobSpec:
    b = ctx.body
    source = ctx.video_source(
        max_bytes=rules.SOURCE_MAX_BYTES["restyle"],
        formats=_MP4_MOV,
        max_seconds=rules.RESTYLE_MAX_SECONDS,
    )
    restyle_id = b.int_("restyle_id")
    has_prompt = b.has("restyle_prompt")
    if (restyle_id is None) == (not has_prompt):
        raise invalid('Either "restyle_id" or "restyle_prompt" must be provided')
    prompt = ""
    if restyle_id is not None:
        if restyle_id not in ctx.state.restyles:
            raise invalid(f"restyle_id {restyle_id} is not in the restyle list")
    else:
        prompt = ctx.prompt("restyle_prompt", rules.RESTYLE_PROMPT_LIMIT, nonempty=True)
    seed = ctx.seed()
    webhook = ctx.webhook()
    ctx.input_checks()
    spec = _from_source("restyle", source, pricing.restyle_price(source.seconds))
    spec.prompt, spec.seed, spec.webhook = prompt, seed, webhook
    return spec


def _masks(ctx: Ctx, mask_ids: list[str], source: Source, keyframe: int | None, field: str) -> None:
    for mask_id in mask_ids:
        mask = ctx.state.masks.get(mask_id)
        if mask is None or mask.account_id != ctx.account.account_id:
            raise invalid(f"{field}: unknown mask_id {mask_id!r}; run mask selection first")
        if mask.source != source.key:
            raise invalid(f"{field}: mask {mask_id!r} was selected on a different video")
        if keyframe is not None and mask.keyframe != keyframe:
            raise invalid(
                f"keyframe_id {keyframe} does not match mask {mask_id!r} (keyframe {mask.keyframe})"
            )


def validate_swap(ctx: Ctx) -> JobSpec:
    b = ctx.body
    source = ctx.video_source(max_bytes=rules.SOURCE_MAX_BYTES["swap"], formats=_MP4_MOV)
    keyframe = _required_int(b, "keyframe_id")
    mask_id = b.str_("mask_id", required=True, nonempty=True)
    assert mask_id is not None
    ctx.image(_required_int(b, "img_id"), "img_id")
    quality = ctx.quality(rules.SWAP_QUALITIES)
    _masks(ctx, [mask_id], source, keyframe, "mask_id")
    b.bool_("original_sound_switch")
    webhook = ctx.webhook()
    ctx.input_checks()
    q = rules.QUALITY_HEIGHT[quality]
    spec = _from_source("swap", source, pricing.swap_price(quality, source.seconds), q)
    spec.webhook = webhook
    return spec


def validate_mimic(ctx: Ctx) -> JobSpec:
    b = ctx.body
    source = ctx.video_source(max_bytes=rules.SOURCE_MAX_BYTES["mimic"], formats=_MP4_MOV)
    ctx.image(_required_int(b, "img_id"), "img_id")
    quality = ctx.quality(rules.MIMIC_QUALITIES)
    webhook = ctx.webhook()
    ctx.input_checks(mimic=True)
    q = rules.QUALITY_HEIGHT[quality]
    spec = _from_source("mimic", source, pricing.mimic_price(quality, source.seconds), q)
    spec.webhook = webhook
    return spec


_KEYFRAME_NAMES = ("keyframe_id", "keyframe_ids")


def _keyframe(b: Body) -> int | None:
    """The modify keyframe (4.16): ``keyframe_id`` (the page's table) and/or ``keyframe_ids``
    (its examples), each an int, ``keyframe_ids`` also a one-element list; if both are given
    they must agree."""
    single = b.int_("keyframe_id")
    raw = b.data.get("keyframe_ids")
    many: int | None = None
    if raw is not None:
        if type(raw) is int:
            many = raw
        elif isinstance(raw, list) and len(raw) == 1 and type(raw[0]) is int:
            many = raw[0]
        elif isinstance(raw, list) and all(type(v) is int for v in raw):
            raise invalid("keyframe_ids takes one value only")
        else:
            raise bad_type("keyframe_ids", "an integer or a one-element list of integers")
    if single is not None and many is not None and single != many:
        raise invalid(
            f"keyframe_id ({single}) and keyframe_ids ({many}) differ; they name one keyframe"
        )
    return single if single is not None else many


def _bounded_list(values: list[Any] | None, name: str, limit: int) -> list[Any] | None:
    if values is not None and not 1 <= len(values) <= limit:
        raise invalid(f"{name} must have 1 to {limit} items (got {len(values)})")
    return values


def validate_modify(ctx: Ctx) -> JobSpec:
    """Modify (4.16, Project decision 9).

    Follows the page where the SDK is stricter: a prompt reference to a mask or an image that
    was not given (``@selection1`` with one mask, ``@img3`` with three images) is accepted (the
    page says the result "may not match your expectations", not that it is refused).
    ``img_ids``: up to 3 per mask ("up to 3 images for each subject"), up to 9 without masks.
    The names the keyframe arrived under are kept on the job and counted in the stats.
    """
    b = ctx.body
    source = ctx.video_source(max_bytes=rules.SOURCE_MAX_BYTES["modify"], formats=_MP4_MOV)
    prompt = ctx.prompt("prompt", rules.MODIFY_PROMPT_LIMIT, nonempty=True)
    img_ids = _bounded_list(b.int_list("img_ids"), "img_ids", rules.MODIFY_MAX_IMAGES) or []
    mask_ids = _bounded_list(b.str_list("mask_ids"), "mask_ids", rules.MODIFY_MAX_LIST)
    mask_urls = _bounded_list(b.str_list("mask_urls"), "mask_urls", rules.MODIFY_MAX_LIST)
    if mask_ids is not None and mask_urls is not None:
        raise invalid("mask_ids and mask_urls are mutually exclusive; send one of them")
    masks = mask_ids or mask_urls or []
    limit = rules.modify_max_images(len(masks))
    if len(img_ids) > limit:
        raise invalid(
            f"img_ids has {len(img_ids)} items; at most {limit} with {len(masks)} mask(s) "
            f"(up to {rules.MODIFY_IMAGES_PER_SELECTION} images per selection)"
        )
    keyframe = _keyframe(b)
    quality = ctx.quality(rules.MODIFY_QUALITIES)
    seed = ctx.seed()
    webhook = ctx.webhook()
    for url in mask_urls or []:
        if not url.lower().startswith(("http://", "https://")):  # schemes are case-insensitive
            raise invalid(f"mask_urls: {url!r} is not an http(s) URL")
    if mask_ids:
        _masks(ctx, mask_ids, source, keyframe, "mask_ids")
    for i, img_id in enumerate(img_ids):
        ctx.image(img_id, f"img_ids[{i}]")
    ctx.input_checks()
    q = rules.QUALITY_HEIGHT[quality]
    spec = _from_source("modify", source, pricing.modify_price(quality, source.seconds), q)
    spec.prompt, spec.seed, spec.webhook = prompt, seed, webhook
    spec.keyframe_fields = tuple(name for name in _KEYFRAME_NAMES if b.has(name))
    return spec


def validate_upscale(ctx: Ctx) -> JobSpec:
    source = ctx.video_source()
    webhook = ctx.webhook()
    ctx.input_checks()
    spec = _from_source("upscale", source, pricing.upscale_price(source.seconds), 1080)
    spec.webhook = webhook
    return spec


def validate_image_template(ctx: Ctx) -> JobSpec:
    b = ctx.body
    template_id = _required_int(b, "template_id")
    img_ids = b.int_list("img_ids", required=True) or []
    template = ctx.state.templates.get(template_id)
    if template is None or template.kind != "image":
        raise invalid(f"template_id {template_id} is not a known image template")
    if not template.activated:
        raise ApiError(500070, f"template {template_id}")
    if len(img_ids) != template.image_count:
        raise invalid(f"template {template_id} takes {template.image_count} image(s)")
    uploads = [ctx.image(i, f"img_ids[{n}]") for n, i in enumerate(img_ids)]
    ctx.webhook(capable=False)
    ctx.input_checks()
    first = uploads[0] if uploads else None
    w, h = (first.width, first.height) if first and first.width else (1024, 1024)
    return JobSpec(
        "image_template",
        pricing.IMAGE_TEMPLATE_CREDITS,
        0,
        min(w, h),
        w,
        h,
        template_id=template_id,
        is_image=True,
    )


VALIDATORS = {
    "/video/text/generate": validate_text,
    "/video/img/generate": validate_img,
    "/video/transition/generate": validate_transition,
    "/video/multi_transition/generate": validate_multi_transition,
    "/video/fusion/generate": validate_fusion,
    "/video/extend/generate": validate_extend,
    "/video/lip_sync/generate": validate_lip_sync,
    "/video/sound_effect/generate": validate_sound_effect,
    "/video/restyle/generate": validate_restyle,
    "/video/swap/generate": validate_swap,
    "/video/mimic/generate": validate_mimic,
    "/video/modify/generate": validate_modify,
    "/video/upscale/generate": validate_upscale,
    "/image/template/generate": validate_image_template,
}
