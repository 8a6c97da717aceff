"""Property tests: the SDK's request models against the emulator's own validators.

For generated bodies of six endpoints (valid ones and invalid ones, drawn from the value
spaces of the reference and a little outside them), the emulator's ``validate_*`` function runs
on a :class:`Ctx` whose account owns the referenced uploads, masks, source video and webhook.

* SDK ⊇ emulator: whenever the emulator accepts a body, ``build(Model, **body)`` accepts it,
  with ONE deliberate difference (:func:`deliberate_difference`): a modify prompt that
  references a mask or an image that was not given (``@selection1`` with one mask, ``@img3``
  with three images). The page says such a result "may not match your expectations", not that
  the server refuses it, so the emulator accepts it (reference 4.16); the SDK refuses it before
  sending, as a documented safety rule. The check shows that this is the SDK's only reason:
  the same body without the references is accepted.
* Round trip: whenever the SDK accepts a body, ``to_body()`` is the body (nulls dropped; a
  random ``seed`` is added to fusion and extend bodies that lack one; a modify keyframe given
  as ``keyframe_id`` and/or ``keyframe_ids`` is sent under both names, as an int), with JSON
  types intact.
* Only state lookups separate them: when the SDK accepts and the emulator refuses, the
  emulator's reason is one the SDK cannot check without I/O (an unknown image, template, mask,
  webhook or TTS speaker).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from pixverse_async import _rules as rules
from pixverse_async._exceptions import RequestValidationError
from pixverse_async.emulator import DEMO_API_KEY, AccountConfig, EmulatorConfig, WebhookConfig
from pixverse_async.emulator._errors import ApiError
from pixverse_async.emulator._state import SUCCEEDED, EmulatorState, JobSpec, Mask, Upload
from pixverse_async.emulator._validate import (
    Ctx,
    validate_extend,
    validate_fusion,
    validate_image_template,
    validate_img,
    validate_lip_sync,
    validate_mimic,
    validate_modify,
    validate_multi_transition,
    validate_restyle,
    validate_sound_effect,
    validate_swap,
    validate_text,
    validate_transition,
    validate_upscale,
)
from pixverse_async.types import (
    ExtendRequest,
    FusionRequest,
    ImageTemplateRequest,
    ImageToVideoRequest,
    LipSyncRequest,
    MimicRequest,
    ModifyRequest,
    MultiTransitionRequest,
    RequestModel,
    RestyleRequest,
    SoundEffectRequest,
    SwapRequest,
    TextToVideoRequest,
    TransitionRequest,
    UpscaleRequest,
    build,
)

#: bounded by default; set PIXVERSE_CROSSCHECK_EXAMPLES for a longer hunt
SETTINGS = settings(
    max_examples=int(os.environ.get("PIXVERSE_CROSSCHECK_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------
# The emulator world: one account with images, videos, masks, a finished job and a webhook

WEBHOOK_ID = 77
UNKNOWN_WEBHOOK_ID = 78
UNKNOWN_ID = 2**60 + 12_345
UNKNOWN_TEMPLATE_ID = 999_999


class World:
    """An :class:`EmulatorState` with the resources the generated bodies refer to."""

    def __init__(self) -> None:
        hook = WebhookConfig(WEBHOOK_ID, "http://127.0.0.1:9/hook", "secret", default=True)
        config = EmulatorConfig(accounts=(AccountConfig(api_key=DEMO_API_KEY, webhooks=(hook,)),))
        self.state = state = EmulatorState(config)
        self.account = account = state.accounts[DEMO_API_KEY]
        aid = account.account_id

        def upload(kind: str, fmt: str, seconds: float = 0.0) -> int:
            item = Upload(state.new_id(), aid, kind, fmt, 10_000, 1280, 720, seconds, "f")
            state.uploads[item.id] = item
            return item.id

        self.images = [upload("image", "png") for _ in range(4)]
        self.video = upload("video", "mp4", 5.0)
        self.other_video = upload("video", "mp4", 5.0)
        self.audio = upload("audio", "mp3", 5.0)
        spec = JobSpec("text", 0, 5.0, 720, 1280, 720)
        job = state.create_job(account, spec, "trace", b"digest", 0.0)
        state.finish(job, SUCCEEDED)
        self.job = job.id

        def mask(source: tuple[str, int], keyframe: int) -> str:
            item = Mask(str(state.new_id()), aid, source, keyframe)
            state.masks[item.mask_id] = item
            return item.mask_id

        self.masks = [mask(("media", self.video), 1) for _ in range(4)]
        self.job_masks = [mask(("video", self.job), 1) for _ in range(2)]
        self.other_masks = [mask(("media", self.other_video), 1), mask(("media", self.video), 2)]
        self.video_templates = tuple(t.template_id for t in config.templates if t.kind == "video")

    def validate(self, validator: Callable[[Ctx], Any], body: dict[str, Any]) -> ApiError | None:
        """The emulator's verdict: ``None`` if it accepts ``body``, else its error."""
        try:
            validator(Ctx(self.state, self.account, copy.deepcopy(body)))
        except ApiError as exc:
            return exc
        return None


WORLD = World()

# ---------------------------------------------------------------------------------------------
# Value spaces. Each endpoint has a "tame" strategy (bodies the reference allows, with values at
# the edges of each range) and a "wide" space per field (out-of-range values, typos, wrong
# JSON types). A drawn body is a tame one with zero to three fields perturbed from the wide
# space, so the two sides are compared on both sides of every boundary.

LONG = rules.LONG_PROMPT_LIMIT
SHORT = rules.SHORT_PROMPT_LIMIT
#: prompts around every limit; "é" checks that lengths count characters, not bytes
PROMPTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            *("", "   ", "a" * SHORT, "a" * (SHORT + 1), "é" * SHORT, "é" * (SHORT + 1)),
            *("a" * LONG, "a" * (LONG + 1), "é" * LONG, "é" * (LONG + 1)),
        ]
    ),
)
SEEDS_OK = st.one_of(
    st.integers(rules.SEED_MIN, rules.SEED_MAX), st.sampled_from([rules.SEED_MIN, rules.SEED_MAX])
)
SEEDS = st.one_of(SEEDS_OK, st.sampled_from([-1, rules.SEED_MAX + 1, 2**63]))
WEBHOOKS = st.sampled_from([WEBHOOK_ID, UNKNOWN_WEBHOOK_ID])
MODELS = st.sampled_from([*rules.MODEL_IDS, "v1", "V5", ""])
QUALITIES = st.sampled_from([*rules.QUALITIES, "4k", "720P"])
MOTION = st.sampled_from([*rules.MOTION_MODES, "slow"])
ASPECTS = st.sampled_from([*rules.WIDE_ASPECT_RATIOS, "5:4"])
IMAGES_OK = st.sampled_from(WORLD.images)
IMAGE_IDS = st.sampled_from([*WORLD.images, UNKNOWN_ID])
DURATIONS = st.integers(-1, 16)
STYLES = st.sampled_from([*rules.STYLES, "noir", "Anime"])
THINKING = st.sampled_from([*rules.THINKING_TYPES, "maybe"])
CAMERA = st.sampled_from([*rules.CAMERA_MOVEMENTS, "spin"])
SPEAKERS_OK = st.sampled_from(["1", "14", "Auto", "auto"])
SPEAKERS = st.sampled_from(["1", "Auto", "99", ""])
#: a value of the wrong JSON type (or null, which the API reads as "absent")
WRONG = st.sampled_from([True, False, 5.0, "5", None, [1], {"a": 1}, 0])
NEGATIVE_LIMIT = rules.NEGATIVE_PROMPT_LIMIT
NEGATIVE_OK = st.sampled_from(["", "blurry", "n" * NEGATIVE_LIMIT, "é" * NEGATIVE_LIMIT])
NEGATIVE = st.one_of(NEGATIVE_OK, st.just("n" * (NEGATIVE_LIMIT + 1)))
TTS_LIMIT = rules.TTS_CONTENT_LIMIT
TTS_OK = st.sampled_from(["hello", "t" * TTS_LIMIT, "é" * TTS_LIMIT])
TTS = st.one_of(TTS_OK, st.sampled_from(["", "t" * (TTS_LIMIT + 1)]))
TEMPLATES = st.sampled_from([*WORLD.video_templates, UNKNOWN_TEMPLATE_ID])
#: ``sound_mode``: undocumented, any string (a live client sends "default_music")
SOUND_MODES = st.sampled_from(["default_music", "", "none", "Default_Music"])
#: a video template of the world that is activated, supports every quality and takes one image
ONE_IMAGE_TEMPLATE = 300_001
TWO_IMAGE_TEMPLATE = 300_002


def prompt_ok(model: str) -> st.SearchStrategy[str]:
    """A prompt the model takes: short text or exactly its limit."""
    limit = rules.prompt_limit(model)
    return st.one_of(
        st.text(min_size=1, max_size=20).filter(str.strip),
        st.sampled_from(["a" * limit, "é" * limit]),
    )


def maybe(draw: st.DrawFn, allowed: bool, strategy: st.SearchStrategy[Any]) -> Any:
    """A switch value: the strategy's when ``allowed``, else False (always accepted)."""
    return draw(strategy) if allowed else False


@st.composite
def perturb(
    draw: st.DrawFn, tame: st.SearchStrategy[dict[str, Any]], wide: dict[str, Any]
) -> dict[str, Any]:
    """A tame body with 0-3 fields set from the wide space, given a wrong type, or dropped."""
    body = draw(tame)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
        key = draw(st.sampled_from(sorted(wide)))
        action = draw(st.sampled_from(["set", "set", "set", "wrong", "drop"]))
        if action == "drop":
            body.pop(key, None)
        elif action == "wrong":
            body[key] = draw(WRONG)
        else:
            body[key] = draw(wide[key])
    return body


# ---------------------------------------------------------------------------------------------
# Bodies per endpoint

GENERATION_WIDE: dict[str, st.SearchStrategy[Any]] = {
    "prompt": PROMPTS,
    "model": MODELS,
    "duration": DURATIONS,
    "quality": QUALITIES,
    "negative_prompt": NEGATIVE,
    "motion_mode": MOTION,
    "seed": SEEDS,
    "style": STYLES,
    "template_id": TEMPLATES,
    "camera_movement": CAMERA,
    "water_mark": st.booleans(),
    "sound_effect_switch": st.booleans(),
    "sound_effect_content": st.text(max_size=10),
    "lip_sync_tts_switch": st.booleans(),
    "lip_sync_tts_content": TTS,
    "lip_sync_tts_speaker_id": SPEAKERS,
    "generate_audio_switch": st.booleans(),
    "generate_multi_clip_switch": st.booleans(),
    "thinking_type": THINKING,
    "play_bgm": st.booleans(),
    "sound_mode": SOUND_MODES,
    "webhook_id": WEBHOOKS,
}
T2V_WIDE = {**GENERATION_WIDE, "aspect_ratio": ASPECTS}
I2V_WIDE = {
    **GENERATION_WIDE,
    "img_id": IMAGE_IDS,
    "img_ids": st.lists(IMAGE_IDS, max_size=3),
}


@st.composite
def tame_generation(draw: st.DrawFn, *, image: bool) -> dict[str, Any]:
    model = draw(st.sampled_from(rules.MODEL_IDS))
    spec = rules.MODELS[model]
    quality = draw(st.sampled_from(rules.QUALITIES))
    templated = draw(st.integers(0, 4)) == 0
    duration = draw(st.sampled_from(rules.durations_for(model, quality)))
    body: dict[str, Any] = {"model": model, "duration": duration, "quality": quality}
    body["prompt"] = (
        draw(st.one_of(prompt_ok(model), st.just("")))
        if image or templated
        else (draw(prompt_ok(model)))
    )
    if templated:
        body["template_id"] = ONE_IMAGE_TEMPLATE
    if image:
        if templated and draw(st.booleans()):
            body["template_id"] = draw(st.sampled_from([ONE_IMAGE_TEMPLATE, TWO_IMAGE_TEMPLATE]))
            count = 1 if body["template_id"] == ONE_IMAGE_TEMPLATE else 2
            body["img_ids"] = draw(st.lists(IMAGES_OK, min_size=count, max_size=count))
        else:
            body["img_id"] = draw(IMAGES_OK)
    else:
        body["aspect_ratio"] = draw(st.sampled_from(spec.aspect_ratios))
    fast_ok = spec.fast_motion and duration == 5 and quality != "1080p"
    legacy = spec.legacy_audio or templated
    optional: dict[str, st.SearchStrategy[Any]] = {
        "negative_prompt": NEGATIVE_OK,
        "motion_mode": st.sampled_from(rules.MOTION_MODES if fast_ok else ("normal",)),
        "seed": SEEDS_OK,
        "style": st.sampled_from(rules.STYLES),
        "water_mark": st.booleans(),
        "sound_effect_switch": st.booleans() if legacy else st.just(False),
        "sound_effect_content": st.text(max_size=10),
        "lip_sync_tts_switch": st.booleans() if legacy else st.just(False),
        "lip_sync_tts_content": TTS_OK,
        "lip_sync_tts_speaker_id": SPEAKERS_OK,
        "generate_audio_switch": st.booleans() if spec.audio else st.just(False),
        "generate_multi_clip_switch": st.booleans() if spec.multi_clip else st.just(False),
        "thinking_type": st.sampled_from(rules.THINKING_TYPES),
        "play_bgm": st.booleans(),
        "sound_mode": SOUND_MODES,
        "webhook_id": st.just(WEBHOOK_ID),
    }
    if spec.camera_movement and not templated:
        optional["camera_movement"] = st.sampled_from(rules.CAMERA_MOVEMENTS)
    body.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return body


TRANSITION_WIDE: dict[str, st.SearchStrategy[Any]] = {
    "prompt": PROMPTS,
    "model": MODELS,
    "duration": DURATIONS,
    "quality": QUALITIES,
    "first_frame_img": IMAGE_IDS,
    "last_frame_img": IMAGE_IDS,
    "motion_mode": MOTION,
    "seed": SEEDS,
    "negative_prompt": NEGATIVE,
    "water_mark": st.booleans(),
    "generate_audio_switch": st.booleans(),
    "sound_effect_switch": st.booleans(),
    "sound_effect_content": st.text(max_size=10),
    "lip_sync_tts_switch": st.booleans(),
    "lip_sync_tts_content": TTS,
    "lip_sync_tts_speaker_id": SPEAKERS,
    "play_bgm": st.booleans(),
    "sound_mode": SOUND_MODES,
    "webhook_id": WEBHOOKS,
}


@st.composite
def tame_transition(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(rules.MODEL_IDS))
    spec = rules.MODELS[model]
    quality = draw(st.sampled_from(rules.QUALITIES))
    duration = draw(st.sampled_from(rules.durations_for(model, quality)))
    body: dict[str, Any] = {
        "prompt": draw(st.one_of(prompt_ok(model), st.just(""))),
        "model": model,
        "duration": duration,
        "quality": quality,
        "first_frame_img": draw(IMAGES_OK),
        "last_frame_img": draw(IMAGES_OK),
    }
    fast_ok = spec.fast_motion and duration == 5 and quality != "1080p"
    legacy = spec.legacy_audio
    optional: dict[str, st.SearchStrategy[Any]] = {
        "motion_mode": st.sampled_from(rules.MOTION_MODES if fast_ok else ("normal",)),
        "seed": SEEDS_OK,
        "negative_prompt": NEGATIVE_OK,
        "water_mark": st.booleans(),
        "generate_audio_switch": st.booleans() if spec.audio else st.just(False),
        "sound_effect_switch": st.booleans() if legacy else st.just(False),
        "sound_effect_content": st.text(max_size=10),
        "lip_sync_tts_switch": st.booleans() if legacy else st.just(False),
        "lip_sync_tts_content": TTS_OK,
        "lip_sync_tts_speaker_id": SPEAKERS_OK,
        "play_bgm": st.booleans(),
        "sound_mode": SOUND_MODES,
        "webhook_id": st.just(WEBHOOK_ID),
    }
    body.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return body


@st.composite
def wide_items(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Multi-transition items from anywhere: 0-8 items, any durations, long prompts."""
    items: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 8))):
        item: dict[str, Any] = {"img_id": draw(IMAGE_IDS)}
        if draw(st.booleans()):
            item["duration"] = draw(st.one_of(st.integers(-1, 9), WRONG))
        if draw(st.booleans()):
            item["prompt"] = draw(PROMPTS)
        items.append(item)
    return items


@st.composite
def tame_multi_transition(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(rules.MULTI_TRANSITION_MODELS))
    quality = draw(st.sampled_from(rules.QUALITIES))
    n = draw(st.integers(rules.MULTI_TRANSITION_MIN_ITEMS, rules.MULTI_TRANSITION_MAX_ITEMS))
    high = rules.MULTI_TRANSITION_ITEM_MAX if n < 3 else rules.MULTI_TRANSITION_ITEM_MAX_MANY
    items: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {"img_id": draw(IMAGES_OK)}
        if i < n - 1:
            item["duration"] = draw(st.integers(1, high))
        elif draw(st.booleans()):
            item["duration"] = 0
        if draw(st.booleans()):
            item["prompt"] = draw(st.one_of(st.just(""), prompt_ok(model)))
        items.append(item)
    # now and then perturb one item in place
    if draw(st.integers(0, 3)) == 0:
        i = draw(st.integers(0, n - 1))
        key = draw(st.sampled_from(["img_id", "duration", "prompt"]))
        wide = {
            "img_id": IMAGE_IDS,
            "duration": st.one_of(st.integers(-1, 9), st.none()),
            "prompt": PROMPTS,
        }
        items[i][key] = draw(st.one_of(wide[key], WRONG))
    total = sum(item.get("duration") or 0 for item in items if type(item.get("duration")) is int)
    fast_ok = rules.MODELS[model].fast_motion and total <= 5 and quality != "1080p"
    body: dict[str, Any] = {"multi_transition": items, "model": model, "quality": quality}
    optional = {
        "seed": SEEDS_OK,
        "motion_mode": st.sampled_from(rules.MOTION_MODES if fast_ok else ("normal",)),
        "webhook_id": st.just(WEBHOOK_ID),
    }
    body.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return body


MULTI_TRANSITION_WIDE: dict[str, st.SearchStrategy[Any]] = {
    "multi_transition": wide_items(),
    "model": st.sampled_from([*rules.MULTI_TRANSITION_MODELS, "v5.5", "v6"]),
    "quality": QUALITIES,
    "seed": SEEDS,
    "motion_mode": MOTION,
    "webhook_id": WEBHOOKS,
}

REF_NAMES_OK = ["dog", "room", "cat", "a" * rules.REF_NAME_MAX_BYTES, "é" * 15, "a.b", "x y"]
REF_NAMES_BAD = ["é" * 16, "a" * (rules.REF_NAME_MAX_BYTES + 1), " ", ""]


def mention(draw: st.DrawFn, names: list[str], *, tame: bool) -> str:
    """A prompt naming each ref as ``@name`` + a space or the end (tame), or sometimes not."""
    words = []
    for name in names:
        if tame or draw(st.integers(0, 5)):
            ends = [" plays", " "] if tame else [" plays", " ", "", ",", "s"]
            words.append(f"@{name}" + draw(st.sampled_from(ends)))
    return draw(st.sampled_from(["", "in a garden "])) + " ".join(words)


@st.composite
def wide_references(draw: st.DrawFn) -> list[dict[str, Any]]:
    names = draw(st.lists(st.sampled_from(REF_NAMES_OK + REF_NAMES_BAD), max_size=8))
    return [
        {
            "type": draw(st.sampled_from([*rules.REFERENCE_TYPES, "face"])),
            "img_id": draw(IMAGE_IDS),
            "ref_name": name,
        }
        for name in names
    ]


@st.composite
def tame_fusion(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(rules.FUSION_MODELS))
    quality = draw(st.sampled_from(rules.QUALITIES))
    limit = rules.FUSION_MAX_REFERENCES.get(model, rules.FUSION_MAX_REFERENCES_DEFAULT)
    names = draw(st.lists(st.sampled_from(REF_NAMES_OK), min_size=1, max_size=limit, unique=True))
    refs = [
        {
            "type": draw(st.sampled_from(rules.REFERENCE_TYPES)),
            "img_id": draw(IMAGES_OK),
            "ref_name": n,
        }
        for n in names
    ]
    if draw(st.integers(0, 3)) == 0:  # perturb one reference in place
        i = draw(st.integers(0, len(refs) - 1))
        key = draw(st.sampled_from(["type", "img_id", "ref_name"]))
        wide = {
            "type": st.sampled_from(["face", "Subject"]),
            "img_id": st.just(UNKNOWN_ID),
            "ref_name": st.sampled_from(REF_NAMES_BAD + names[:1]),
        }
        refs[i][key] = draw(st.one_of(wide[key], WRONG))
    body: dict[str, Any] = {
        "image_references": refs,
        "prompt": mention(draw, names, tame=True),
        "model": model,
        "duration": draw(st.sampled_from(rules.durations_for(model, quality))),
        "quality": quality,
        "aspect_ratio": draw(st.sampled_from(rules.MODELS[model].aspect_ratios)),
    }
    audio = model in rules.FUSION_AUDIO_MODELS
    optional = {
        "seed": SEEDS_OK,
        "generate_audio_switch": st.booleans() if audio else st.just(False),
        "webhook_id": st.just(WEBHOOK_ID),
    }
    body.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return body


@st.composite
def wide_fusion_prompt(draw: st.DrawFn) -> str:
    return mention(draw, draw(st.lists(st.sampled_from(REF_NAMES_OK), max_size=3)), tame=False)


FUSION_WIDE: dict[str, st.SearchStrategy[Any]] = {
    "image_references": wide_references(),
    "prompt": st.one_of(PROMPTS, wide_fusion_prompt()),
    "model": st.sampled_from([*rules.FUSION_MODELS, "v4", "v3.5"]),
    "duration": DURATIONS,
    "quality": QUALITIES,
    "aspect_ratio": ASPECTS,
    "seed": SEEDS,
    "generate_audio_switch": st.booleans(),
    "webhook_id": WEBHOOKS,
}

MODIFY_TOKENS = ["@selection0", "@selection1", "@selection2", "@img0", "@img1", "@img2"]
MODIFY_TOKENS_WIDE = [*MODIFY_TOKENS, "@selection3", "@img3", "@ima0", "@selection", "@imgx"]
MASK_URLS_OK = ["https://example.com/m.png", "http://x/m.png"]
MASK_URLS = [*MASK_URLS_OK, "HTTPS://X/M.PNG", "ftp://x/m", "example.com/m.png"]


@st.composite
def modify_prompt(draw: st.DrawFn, *, masks: int, images: int) -> str:
    tokens = [f"@selection{i}" for i in range(masks)] + [f"@img{i}" for i in range(images)]
    tokens += ["@ima0", "@selection", "swap", "@imgx"]
    words = draw(st.lists(st.sampled_from(tokens), max_size=4))
    return "make it snow " + " ".join(words)


@st.composite
def keyframes(draw: st.DrawFn, frames: st.SearchStrategy[int]) -> dict[str, Any]:
    """The modify keyframe under either name or both (4.16); ``keyframe_ids`` maybe a list."""
    frame = draw(frames)
    as_ids = draw(st.sampled_from([frame, [frame]]))
    return draw(
        st.sampled_from(
            [
                {"keyframe_id": frame},
                {"keyframe_ids": as_ids},
                {"keyframe_id": frame, "keyframe_ids": as_ids},
            ]
        )
    )


@st.composite
def tame_modify(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = {}
    on_job = draw(st.booleans())
    if on_job:
        body["source_video_id"] = WORLD.job
    else:
        body["video_media_id"] = WORLD.video
    own = WORLD.job_masks if on_job else WORLD.masks[: rules.MODIFY_MAX_LIST]
    kind = draw(st.sampled_from(["ids", "urls", "none"]))
    masks: list[str] = []
    if kind == "ids":
        masks = draw(st.lists(st.sampled_from(own), min_size=1, max_size=len(own), unique=True))
        body["mask_ids"] = masks
        if draw(st.booleans()):
            body.update(draw(keyframes(st.just(1))))
    else:
        if kind == "urls":
            masks = draw(st.lists(st.sampled_from(MASK_URLS_OK), min_size=1, max_size=3))
            body["mask_urls"] = masks
        if draw(st.booleans()):
            body.update(draw(keyframes(st.integers(-5, 100))))
    # up to 3 images per selection (4.16); up to 9 without masks
    images = draw(st.lists(IMAGES_OK, max_size=rules.modify_max_images(len(masks))))
    if images:
        body["img_ids"] = images
    body["prompt"] = draw(modify_prompt(masks=len(masks), images=len(images)))
    body["quality"] = draw(st.sampled_from(rules.MODIFY_QUALITIES))
    optional = {"seed": SEEDS_OK, "webhook_id": st.just(WEBHOOK_ID)}
    body.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return body


MODIFY_WIDE: dict[str, st.SearchStrategy[Any]] = {
    "video_media_id": st.sampled_from([WORLD.video, WORLD.other_video]),
    "source_video_id": st.just(WORLD.job),
    "prompt": st.one_of(
        st.sampled_from(["", "   ", "a" * LONG, "a" * (LONG + 1), "é" * LONG]),
        st.lists(st.sampled_from(MODIFY_TOKENS_WIDE), max_size=4).map(" ".join),
    ),
    "img_ids": st.lists(IMAGE_IDS, max_size=rules.MODIFY_MAX_IMAGES + 1),
    "mask_ids": st.lists(
        st.sampled_from([*WORLD.masks, *WORLD.job_masks, *WORLD.other_masks, "nope"]), max_size=4
    ),
    "mask_urls": st.lists(st.sampled_from(MASK_URLS), max_size=4),
    "keyframe_id": st.sampled_from([1, 2, 0, -1]),
    "keyframe_ids": st.sampled_from([1, 2, 0, -1, [1], [2], [1, 2], [], [1.0], ["1"]]),
    "quality": st.sampled_from([*rules.QUALITIES, "4k"]),
    "seed": SEEDS,
    "webhook_id": WEBHOOKS,
}


# ---------------------------------------------------------------------------------------------
# The check

#: (ErrCode, text in the emulator's message): refusals that need server state or server-side
#: input checks (moderation), which the SDK cannot do before sending. Anything else the
#: emulator refuses, the SDK must refuse too.
STATE_LOOKUPS: tuple[tuple[int, str], ...] = (
    (400032, ""),  # unknown image id
    (500070, ""),  # template not activated
    (500071, ""),  # template does not support the quality
    (400017, "is not a known"),  # unknown template
    (400017, "image(s)"),  # template image count
    (400017, "is not a webhook of this account"),
    (400017, "no matching"),  # unknown source_video_id / video_media_id
    (400017, "speaker ID is invalid"),  # TTS speaker catalog
    (400017, "unknown mask_id"),
    (400017, "was selected on a different video"),
    (400017, "does not match mask"),  # keyframe vs the masks' keyframe
    (500063, ""),  # input moderation (the emulator's prompt trigger)
    (500054, ""),  # image moderation
)


def emulator_gap(body: dict[str, Any]) -> str | None:
    """Why the emulator accepts a body the reference forbids (an emulator bug), if it does.

    Each entry is a known emulator bug; the SDK keeps the reference's rule. None are open.
    """
    return None


_MODIFY_REFS = re.compile(r"@(selection|img)(\d+)")


def _dangling(body: dict[str, Any]) -> list[str]:
    """The ``@selectionN`` / ``@imgN`` tokens of a modify prompt past the masks/images given."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str):
        return []
    counts = {}
    for kind, names in (("selection", ("mask_ids", "mask_urls")), ("img", ("img_ids",))):
        lists = [body.get(n) for n in names if isinstance(body.get(n), list)]
        counts[kind] = max((len(v) for v in lists), default=0)
    return [m.group(0) for m in _MODIFY_REFS.finditer(prompt) if int(m.group(2)) >= counts[m[1]]]


def deliberate_difference(body: dict[str, Any]) -> str | None:
    """The one body the emulator accepts and the SDK refuses on purpose (reference 4.16).

    A modify prompt referencing a mask or an image that was not given: the page says the
    result "may not match your expectations" (so the emulator accepts it); the SDK refuses it
    before sending, a documented safety rule of ``ModifyRequest``.
    """
    dangling = _dangling(body)
    return f"SDK safety rule: dangling {', '.join(dangling)}" if dangling else None


def _modify_wire(body: dict[str, Any]) -> dict[str, Any]:
    """What the SDK sends for an accepted modify body: the keyframe under both names, an int."""
    single, many = body.get("keyframe_id"), body.get("keyframe_ids")
    frame = single if single is not None else many
    if isinstance(frame, list):
        (frame,) = frame
    if frame is None:
        return body
    return {**body, "keyframe_id": frame, "keyframe_ids": frame}


def _state_lookup(err: ApiError) -> bool:
    return any(err.code == code and text in err.message for code, text in STATE_LOOKUPS)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def cross_check(
    validator: Callable[[Ctx], Any],
    model_cls: type[RequestModel],
    body: dict[str, Any],
    *,
    fills_seed: bool = False,
    deliberate: Callable[[dict[str, Any]], str | None] | None = None,
    wire: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> None:
    note(f"body: {_json(body)[:400]}")
    emulator_error = WORLD.validate(validator, body)
    note(f"emulator: {emulator_error}")
    try:
        model = build(model_cls, **body)
    except RequestValidationError as exc:
        assert exc.field, "every SDK refusal names a field"
        if emulator_error is not None:
            event("both refuse")
            return
        reason = deliberate(body) if deliberate else None
        if reason is not None:
            event("deliberate difference: the SDK refuses a dangling reference")
            assert exc.field == "prompt", f"{reason}, but the SDK named {exc.field}: {exc}"
            # the reference is the SDK's only reason: without it, the body is accepted
            build(model_cls, **{**body, "prompt": "make it snow"})
            return
        gap = emulator_gap(body)
        event(f"emulator gap: {gap}")
        assert gap, f"the SDK refuses a body the emulator accepts: {exc}"
        return
    sent = model.to_body()
    expected = _without_nulls(body)
    if wire is not None:
        expected = wire(expected)
    if fills_seed and "seed" not in expected:
        assert rules.SEED_MIN <= sent["seed"] <= rules.SEED_MAX
        expected["seed"] = sent["seed"]
    assert _json(sent) == _json(expected), "to_body() must send back exactly the fields given"
    if emulator_error is None:
        event("both accept")
    else:
        event("SDK accepts, emulator refuses: state lookup")
        assert _state_lookup(emulator_error), (
            f"the SDK accepted a body the emulator refuses for a reason the SDK could check: "
            f"{emulator_error}"
        )


@SETTINGS
@given(perturb(tame_generation(image=False), T2V_WIDE))
def test_text_to_video_matches_emulator(body: dict[str, Any]) -> None:
    cross_check(validate_text, TextToVideoRequest, body)


@SETTINGS
@given(perturb(tame_generation(image=True), I2V_WIDE))
def test_image_to_video_matches_emulator(body: dict[str, Any]) -> None:
    cross_check(validate_img, ImageToVideoRequest, body)


@SETTINGS
@given(perturb(tame_transition(), TRANSITION_WIDE))
def test_transition_matches_emulator(body: dict[str, Any]) -> None:
    cross_check(validate_transition, TransitionRequest, body)


@SETTINGS
@given(perturb(tame_multi_transition(), MULTI_TRANSITION_WIDE))
def test_multi_transition_matches_emulator(body: dict[str, Any]) -> None:
    cross_check(validate_multi_transition, MultiTransitionRequest, body)


@SETTINGS
@given(perturb(tame_fusion(), FUSION_WIDE))
def test_fusion_matches_emulator(body: dict[str, Any]) -> None:
    cross_check(validate_fusion, FusionRequest, body, fills_seed=True)


@SETTINGS
@given(perturb(tame_modify(), MODIFY_WIDE))
def test_modify_matches_emulator(body: dict[str, Any]) -> None:
    cross_check(
        validate_modify, ModifyRequest, body, deliberate=deliberate_difference, wire=_modify_wire
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"prompt": "@selection1 glows", "mask_ids": WORLD.masks[:1]},
        {"prompt": "@selection0 glows"},
        {"prompt": "add @img3", "img_ids": WORLD.images[:3]},
        {"prompt": "@selection2 becomes @img0", "mask_urls": ["https://x/m.png"] * 2},
    ],
)
def test_the_one_deliberate_difference(changes: dict[str, Any]) -> None:
    """Named here: a dangling modify reference, accepted by the emulator (as the page allows),
    refused by the SDK before sending (its safety rule), naming the prompt."""
    body = {"video_media_id": WORLD.video, "quality": "540p", **changes}
    assert WORLD.validate(validate_modify, body) is None
    assert deliberate_difference(body) is not None
    with pytest.raises(RequestValidationError) as info:
        build(ModifyRequest, **body)
    assert info.value.field == "prompt"


# ---------------------------------------------------------------------------------------------
# The other endpoints: a table of bodies with the expected verdict of each side

V, M, A, IMG = WORLD.video, WORLD.masks[0], WORLD.audio, WORLD.images[0]
BOTH, NEITHER, SDK_ONLY = "both accept", "both refuse", "SDK only"
EXT = {"video_media_id": V, "prompt": "more", "model": "v5", "duration": 5, "quality": "540p"}
SWAP = {"video_media_id": V, "keyframe_id": 1, "mask_id": M, "img_id": IMG, "quality": "540p"}

TABLE: list[tuple[Callable[[Ctx], Any], type[RequestModel], dict[str, Any], str]] = [
    (validate_extend, ExtendRequest, {**EXT, "seed": 1}, BOTH),
    # 4.7: no seed (as the official MCP client sends): both accept; the SDK adds a random one
    (validate_extend, ExtendRequest, EXT, BOTH),
    (validate_extend, ExtendRequest, {**EXT, "seed": 1, "source_video_id": WORLD.job}, NEITHER),
    (validate_extend, ExtendRequest, {**EXT, "seed": 1, "motion_mode": "fast"}, NEITHER),
    (
        validate_extend,
        ExtendRequest,
        {**EXT, "seed": 1, "model": "v3.5", "motion_mode": "fast"},
        BOTH,
    ),
    (validate_extend, ExtendRequest, {**EXT, "seed": -1}, NEITHER),
    # the SDK allows any model id on extend (4.7); the emulator keeps the reference list
    (validate_extend, ExtendRequest, {**EXT, "seed": 1, "model": "c1", "duration": 12}, SDK_ONLY),
    (validate_extend, ExtendRequest, {**EXT, "seed": 1, "duration": 10}, NEITHER),
    (validate_lip_sync, LipSyncRequest, {"video_media_id": V, "audio_media_id": A}, BOTH),
    (
        validate_lip_sync,
        LipSyncRequest,
        {
            "source_video_id": WORLD.job,
            "lip_sync_tts_speaker_id": "auto",
            "lip_sync_tts_content": "hi",
        },
        BOTH,
    ),
    (
        validate_lip_sync,
        LipSyncRequest,
        {"video_media_id": V, "audio_media_id": A, "lip_sync_tts_content": "hi"},
        NEITHER,
    ),
    (
        validate_lip_sync,
        LipSyncRequest,
        {"video_media_id": V, "lip_sync_tts_content": "hi"},
        NEITHER,
    ),
    (
        validate_lip_sync,
        LipSyncRequest,
        {"video_media_id": V, "lip_sync_tts_speaker_id": "1", "lip_sync_tts_content": "é" * 201},
        NEITHER,
    ),
    (validate_lip_sync, LipSyncRequest, {"video_media_id": V}, NEITHER),
    (
        validate_sound_effect,
        SoundEffectRequest,
        {"video_media_id": V, "sound_effect_content": ""},
        BOTH,
    ),
    (
        validate_sound_effect,
        SoundEffectRequest,
        {"video_media_id": V, "original_sound_switch": True},
        BOTH,
    ),
    (validate_sound_effect, SoundEffectRequest, {}, NEITHER),
    (validate_restyle, RestyleRequest, {"video_media_id": V, "restyle_id": 1001, "seed": 9}, BOTH),
    (validate_restyle, RestyleRequest, {"video_media_id": V, "restyle_prompt": "é" * 5000}, BOTH),
    (
        validate_restyle,
        RestyleRequest,
        {"video_media_id": V, "restyle_prompt": "a" * 5001},
        NEITHER,
    ),
    (validate_restyle, RestyleRequest, {"video_media_id": V, "restyle_prompt": " "}, NEITHER),
    (
        validate_restyle,
        RestyleRequest,
        {"video_media_id": V, "restyle_id": 1001, "restyle_prompt": "x"},
        NEITHER,
    ),
    (validate_restyle, RestyleRequest, {"video_media_id": V}, NEITHER),
    (validate_swap, SwapRequest, SWAP, BOTH),
    (
        validate_swap,
        SwapRequest,
        {**SWAP, "original_sound_switch": True, "webhook_id": WEBHOOK_ID},
        BOTH,
    ),
    (validate_swap, SwapRequest, {**SWAP, "quality": "1080p"}, NEITHER),
    (validate_swap, SwapRequest, {**SWAP, "mask_id": ""}, NEITHER),
    (validate_swap, SwapRequest, {**SWAP, "keyframe_id": -1}, NEITHER),
    (validate_swap, SwapRequest, {**SWAP, "keyframe_id": 2}, SDK_ONLY),  # mask keyframe: state
    (validate_mimic, MimicRequest, {"video_media_id": V, "img_id": IMG, "quality": "720p"}, BOTH),
    # decision 10: the SDK accepts 1080p, the emulator follows the guide
    (
        validate_mimic,
        MimicRequest,
        {"video_media_id": V, "img_id": IMG, "quality": "1080p"},
        SDK_ONLY,
    ),
    (
        validate_mimic,
        MimicRequest,
        {"video_media_id": V, "img_id": "1", "quality": "720p"},
        NEITHER,
    ),
    (validate_upscale, UpscaleRequest, {"source_video_id": WORLD.job}, BOTH),
    (
        validate_upscale,
        UpscaleRequest,
        {"source_video_id": WORLD.job, "video_media_id": V},
        NEITHER,
    ),
    (
        validate_image_template,
        ImageTemplateRequest,
        {"template_id": 400_001, "img_ids": [IMG]},
        BOTH,
    ),
    (
        validate_image_template,
        ImageTemplateRequest,
        {"template_id": 400_002, "img_ids": [IMG]},
        SDK_ONLY,
    ),
    (
        validate_image_template,
        ImageTemplateRequest,
        {"template_id": 400_001, "img_ids": [1.0]},
        NEITHER,
    ),
    (validate_image_template, ImageTemplateRequest, {"img_ids": [IMG]}, NEITHER),
]


@pytest.mark.parametrize(("validator", "model_cls", "body", "verdict"), TABLE)
def test_other_endpoints_match_emulator(
    validator: Callable[[Ctx], Any],
    model_cls: type[RequestModel],
    body: dict[str, Any],
    verdict: str,
) -> None:
    emulator_error = WORLD.validate(validator, body)
    assert (emulator_error is None) == (verdict == BOTH), emulator_error
    if verdict == NEITHER:
        with pytest.raises(RequestValidationError):
            build(model_cls, **body)
        return
    sent = build(model_cls, **body).to_body()
    expected = dict(body)
    if model_cls is ExtendRequest and "seed" not in body:  # the SDK fills a random seed
        assert rules.SEED_MIN <= sent["seed"] <= rules.SEED_MAX
        expected["seed"] = sent["seed"]
    assert _json(sent) == _json(expected)


@pytest.mark.parametrize(
    ("validator", "model_cls", "body"),
    [
        (
            validate_text,
            TextToVideoRequest,
            {
                "prompt": "a cat",
                "model": "v5",
                "duration": 5,
                "quality": "540p",
                "aspect_ratio": "16:9",
            },
        ),
    ],
)
def test_world_accepts_a_plain_body(
    validator: Callable[[Ctx], Any], model_cls: type[RequestModel], body: dict[str, Any]
) -> None:
    """The world is wired up: a plain valid body passes both sides."""
    assert WORLD.validate(validator, body) is None
    assert build(model_cls, **body).to_body() == body
