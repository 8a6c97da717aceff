"""Bad input: every request the SDK builds is refused before any I/O, or sent exactly as given.

Property tests (hypothesis) over every request model and the client method that builds it
(every generation endpoint with modify, mask selection, the effect and image templates) and
over uploads by URL:

* **Invalid input** is a valid body with one change: a value of the wrong JSON type, a value
  out of range or outside the endpoint's enum, an unknown or a missing field, a broken XOR
  group (both or neither video source, image, audio, restyle), a modify ``@selectionN`` /
  ``@imgN`` reference past the masks or images given, a list of the wrong size, a model-gated
  switch, a bad nested item... Given to the real client method against a running emulator, it
  raises :class:`RequestValidationError` naming the changed field (an unknown keyword
  argument raises ``TypeError`` naming it, as Python does); ``build()`` refuses the same body
  naming the same field; the batch engine refuses it with :class:`BatchValidationError`; and
  the emulator's ``requests_total`` does not move: nothing was sent.
* **Valid input** round-trips exactly: ``Model.model_validate(x)``, dumped as the client sends
  it (``to_body()``, i.e. ``model_dump(mode="json", exclude_none=True, by_alias=True)``),
  equals ``x`` for the fields given (JSON types included; tuples become lists, ``None`` is
  left out; fusion and extend add a random ``seed`` when none is given), validates again to an
  equal model, and is exactly the body the client hands to its transport.

Valid bodies of text-to-video, image-to-video, transition and modify come from
``tests/types/test_emulator_crosscheck.py``; the other endpoints' are built here. Each
endpoint gets its own test of each property (``test_invalid_<endpoint>_...``,
``test_valid_<endpoint>_...``), all sharing one emulator per test. A plain test shows that a
request passing local validation does move the counter, so the "nothing sent" check can fail.
The bugs this module found are regression tests at the end of the module.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import types
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from pixverse_async import (
    AsyncPixVerse,
    BatchValidationError,
    InvalidRequestError,
    RequestValidationError,
)
from pixverse_async import _rules as rules
from pixverse_async._transport import Request, Response
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed, make_png
from pixverse_async.resources.image import ImageResource
from pixverse_async.resources.media import MediaResource
from pixverse_async.resources.video import VideoResource
from pixverse_async.types import (
    ExtendRequest,
    FusionRequest,
    ImageTemplateRequest,
    ImageToVideoRequest,
    LipSyncRequest,
    MaskSelectionRequest,
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
from pixverse_async.types._base import ID_MAX, ID_MIN
from tests.types.test_emulator_crosscheck import (
    MASK_URLS_OK,
    NEGATIVE_OK,
    SEEDS_OK,
    SPEAKERS_OK,
    TTS_OK,
    prompt_ok,
    tame_generation,
    tame_modify,
    tame_transition,
)

pytestmark = pytest.mark.anyio

#: examples per endpoint and property; set PIXVERSE_BAD_INPUT_EXAMPLES for a longer hunt
EXAMPLES = int(os.environ.get("PIXVERSE_BAD_INPUT_EXAMPLES", "50"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # one emulator (and one client) serves every example of a test: that is the point, the
    # request counter is read before and after each example
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)

KEY = "pv-bad-input-test-key-000001"
#: counters that any request reaching the emulator, or anything it creates, would move
COUNTERS = ("requests_total", "jobs_created", "credits_charged", "uploads", "masks")

# ---------------------------------------------------------------------------------------------
# Value spaces

IDS = st.one_of(st.integers(ID_MIN, ID_MAX), st.sampled_from([ID_MIN, ID_MAX, 0, -1, 2**53 + 1]))
SOURCE = st.one_of(
    st.fixed_dictionaries({"source_video_id": IDS}),
    st.fixed_dictionaries({"video_media_id": IDS}),
)
BAD_ID = st.one_of(st.integers(min_value=ID_MAX + 1), st.integers(max_value=ID_MIN - 1))
BAD_SEED = st.one_of(
    st.integers(max_value=rules.SEED_MIN - 1), st.integers(min_value=rules.SEED_MAX + 1)
)
#: a duration no model takes (v6 and c1 take 1-15)
BAD_DURATION = st.one_of(st.integers(max_value=0), st.integers(min_value=16))
NEGATIVE = st.integers(max_value=-1)
CHARS = st.characters(exclude_categories=("Cs",))
BLANK = st.text(alphabet=" \t\r\n\x0b\x0c\u00a0\u2003\u3000", max_size=6)
NONBLANK = st.text(CHARS, min_size=1, max_size=30).filter(str.strip)


def longer_than(limit: int) -> st.SearchStrategy[str]:
    """A string of more than ``limit`` characters (any character, repeated)."""
    return st.builds(lambda c, n: c * n, CHARS, st.integers(limit + 1, limit + 40))


def sized(low: int, high: int) -> st.SearchStrategy[str]:
    """A string of ``low`` to ``high`` characters."""
    return st.builds(lambda c, n: c * n, CHARS, st.integers(low, high))


#: a value of the wrong JSON type, per kind of field (tuples are accepted for lists of ids and
#: strings, and None means "not given", so neither is here)
WRONG: dict[str, list[Any]] = {
    "int": [True, False, 1.0, 5.5, "5", "", [1], {"id": 1}, b"1"],
    "str": [5, 0, 1.5, True, ["a"], {"a": "b"}, b"text"],
    "bool": [1, 0, "true", "", 1.0, [True], {"on": True}],
    "ints": ["12", 12, 1.0, True, {"a": 1}, [True], [1.5], ["1"], [None], [[1]]],
    "strs": ["abc", 5, True, {"a": "b"}, [1], [None], [b"x"], [["a"]]],
    "models": ["x", 5, True, {"img_id": 1}, [5], ["x"], [None], [[]]],
    # modify keyframe_ids (4.16): an int, or a one-element list of one (so [1] is valid)
    "keyframe": [True, False, 1.0, 5.5, "5", "", {"id": 1}, b"1", [True], [1.0], ["1"], [[1]]],
}
ENUM_VALUES = sorted(
    {
        *rules.QUALITIES,
        *rules.MODEL_IDS,
        *rules.MOTION_MODES,
        *rules.STYLES,
        *rules.THINKING_TYPES,
        *rules.CAMERA_MOVEMENTS,
        *rules.REFERENCE_TYPES,
        *rules.WIDE_ASPECT_RATIOS,
    }
)
NEAR_MISSES = ["", " ", "none", "None", "4k", "1080P", "720P", "v1", "v2", "V5", "visionary", "5:4"]


def not_in(allowed: tuple[str, ...]) -> st.SearchStrategy[str]:
    """A string outside an enum: near misses (case, spaces, other enums' values) or any text."""
    near = [
        *NEAR_MISSES,
        *ENUM_VALUES,
        *(v.upper() for v in allowed),
        *(f" {v}" for v in allowed),
        *(f"{v} " for v in allowed),
    ]
    return st.one_of(
        st.sampled_from(sorted({v for v in near if v not in allowed})),
        st.text(max_size=12).filter(lambda s: s not in allowed),
    )


# ---------------------------------------------------------------------------------------------
# Valid bodies of the endpoints not covered by the crosscheck strategies


def _optional(draw: st.DrawFn, body: dict[str, Any], **fields: Any) -> dict[str, Any]:
    body.update(draw(st.fixed_dictionaries({}, optional=fields)))
    return body


@st.composite
def valid_multi_transition(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(rules.MULTI_TRANSITION_MODELS))
    quality = draw(st.sampled_from(rules.QUALITIES))
    n = draw(st.integers(rules.MULTI_TRANSITION_MIN_ITEMS, rules.MULTI_TRANSITION_MAX_ITEMS))
    high = rules.MULTI_TRANSITION_ITEM_MAX if n < 3 else rules.MULTI_TRANSITION_ITEM_MAX_MANY
    items: list[dict[str, Any]] = []
    for i in range(n):
        item: dict[str, Any] = {"img_id": draw(IDS)}
        if i < n - 1:
            item["duration"] = draw(st.integers(1, high))
        elif draw(st.booleans()):
            item["duration"] = 0
        if draw(st.booleans()):
            item["prompt"] = draw(st.one_of(st.just(""), prompt_ok(model)))
        items.append(item)
    total = sum(item.get("duration") or 0 for item in items)
    fast_ok = rules.MODELS[model].fast_motion and total <= 5 and quality != "1080p"
    body: dict[str, Any] = {"multi_transition": items, "model": model, "quality": quality}
    return _optional(
        draw,
        body,
        seed=SEEDS_OK,
        motion_mode=st.sampled_from(rules.MOTION_MODES if fast_ok else ("normal",)),
        webhook_id=IDS,
    )


#: fusion ref names: any non-blank text of at most 30 UTF-8 bytes
REF_NAMES = st.text(CHARS, min_size=1, max_size=12).filter(
    lambda s: bool(s.strip()) and len(s.encode()) <= rules.REF_NAME_MAX_BYTES
)


@st.composite
def valid_fusion(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(rules.FUSION_MODELS))
    quality = draw(st.sampled_from(rules.QUALITIES))
    limit = rules.FUSION_MAX_REFERENCES.get(model, rules.FUSION_MAX_REFERENCES_DEFAULT)
    names = draw(st.lists(REF_NAMES, min_size=1, max_size=limit, unique=True))
    refs = [
        {"type": draw(st.sampled_from(rules.REFERENCE_TYPES)), "img_id": draw(IDS), "ref_name": n}
        for n in names
    ]
    # each reference as "@name" followed by a space or the end of the prompt
    words = [f"@{n}" + draw(st.sampled_from([" plays", " ", ""])) for n in names]
    prompt = draw(st.sampled_from(["", "in a garden "])) + " ".join(words)
    body: dict[str, Any] = {
        "image_references": refs,
        "prompt": prompt,
        "model": model,
        "duration": draw(st.sampled_from(rules.durations_for(model, quality))),
        "quality": quality,
        "aspect_ratio": draw(st.sampled_from(rules.MODELS[model].aspect_ratios)),
    }
    audio = model in rules.FUSION_AUDIO_MODELS
    return _optional(
        draw,
        body,
        seed=SEEDS_OK,
        generate_audio_switch=st.booleans() if audio else st.just(False),
        webhook_id=IDS,
    )


@st.composite
def valid_extend(draw: st.DrawFn) -> dict[str, Any]:
    model = draw(st.sampled_from(rules.MODEL_IDS))
    quality = draw(st.sampled_from(rules.QUALITIES))
    duration = draw(st.sampled_from(rules.durations_for(model, quality)))
    body: dict[str, Any] = {
        **draw(SOURCE),
        "prompt": draw(st.one_of(st.just(""), prompt_ok(model))),
        "model": model,
        "duration": duration,
        "quality": quality,
    }
    fast_ok = rules.MODELS[model].fast_motion and duration == 5 and quality != "1080p"
    return _optional(
        draw,
        body,
        seed=SEEDS_OK,
        motion_mode=st.sampled_from(rules.MOTION_MODES if fast_ok else ("normal",)),
        style=st.sampled_from(rules.STYLES),
        negative_prompt=NEGATIVE_OK,
        water_mark=st.booleans(),
        template_id=IDS,
        webhook_id=IDS,
    )


@st.composite
def valid_lip_sync(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = draw(SOURCE)
    if draw(st.booleans()):
        body["audio_media_id"] = draw(IDS)
    else:
        body["lip_sync_tts_speaker_id"] = draw(st.one_of(SPEAKERS_OK, st.text(max_size=8)))
        body["lip_sync_tts_content"] = draw(
            st.one_of(TTS_OK, st.text(CHARS, min_size=1, max_size=rules.TTS_CONTENT_LIMIT)).filter(
                str.strip
            )
        )
    return _optional(draw, body, webhook_id=IDS)


@st.composite
def valid_sound_effect(draw: st.DrawFn) -> dict[str, Any]:
    return _optional(
        draw,
        draw(SOURCE),
        original_sound_switch=st.booleans(),
        sound_effect_content=st.text(max_size=30),
        webhook_id=IDS,
    )


@st.composite
def valid_restyle(draw: st.DrawFn) -> dict[str, Any]:
    body: dict[str, Any] = draw(SOURCE)
    if draw(st.booleans()):
        body["restyle_id"] = draw(IDS)
    else:
        body["restyle_prompt"] = draw(
            st.one_of(NONBLANK, st.just("é" * rules.RESTYLE_PROMPT_LIMIT))
        )
    return _optional(draw, body, seed=SEEDS_OK, webhook_id=IDS)


@st.composite
def valid_mask_selection(draw: st.DrawFn) -> dict[str, Any]:
    return _optional(draw, draw(SOURCE), keyframe_id=st.integers(0, 10**6))


@st.composite
def valid_swap(draw: st.DrawFn) -> dict[str, Any]:
    body = {
        **draw(SOURCE),
        "keyframe_id": draw(st.integers(0, 10**6)),
        "mask_id": draw(st.one_of(NONBLANK, st.integers(0, 2**63).map(str))),
        "img_id": draw(IDS),
        "quality": draw(st.sampled_from(rules.SWAP_QUALITIES)),
    }
    return _optional(draw, body, original_sound_switch=st.booleans(), webhook_id=IDS)


@st.composite
def valid_mimic(draw: st.DrawFn) -> dict[str, Any]:
    # decision 10: the SDK takes 1080p too
    body = {**draw(SOURCE), "img_id": draw(IDS), "quality": draw(st.sampled_from(rules.QUALITIES))}
    return _optional(draw, body, webhook_id=IDS)


@st.composite
def valid_upscale(draw: st.DrawFn) -> dict[str, Any]:
    return _optional(draw, draw(SOURCE), webhook_id=IDS)


@st.composite
def valid_image_template(draw: st.DrawFn) -> dict[str, Any]:
    return {"template_id": draw(IDS), "img_ids": draw(st.lists(IDS, min_size=1, max_size=4))}


# ---------------------------------------------------------------------------------------------
# The endpoints


@dataclass(frozen=True)
class Endpoint:
    """One request model and the client method that builds and sends it."""

    name: str
    model: type[RequestModel]
    resource: str  # "video" or "image"
    method: str
    path: str
    valid: st.SearchStrategy[dict[str, Any]]
    batch_kind: str | None
    #: allowed values of this endpoint's enum fields
    enums: Mapping[str, tuple[str, ...]]
    #: a random seed is sent when none is given (Project decision)
    fills_seed: bool = False

    def bound(self, client: AsyncPixVerse) -> Callable[..., Awaitable[Any]]:
        method: Callable[..., Awaitable[Any]] = getattr(getattr(client, self.resource), self.method)
        return method

    @property
    def parameters(self) -> set[str]:
        cls = {"video": VideoResource, "image": ImageResource}[self.resource]
        return set(inspect.signature(getattr(cls, self.method)).parameters) - {"self"}


ENUMS: dict[str, tuple[str, ...]] = {
    "quality": rules.QUALITIES,
    "model": rules.MODEL_IDS,
    "motion_mode": rules.MOTION_MODES,
    "style": rules.STYLES,
    "thinking_type": rules.THINKING_TYPES,
    "camera_movement": rules.CAMERA_MOVEMENTS,
}


def endpoint(
    name: str,
    cls: type[RequestModel],
    path: str,
    valid: st.SearchStrategy[dict[str, Any]],
    *,
    resource: str = "video",
    method: str | None = None,
    batch_kind: str | None = "",
    fills_seed: bool = False,
    **enums: tuple[str, ...],
) -> Endpoint:
    fields = cls.model_fields
    allowed = {k: v for k, v in {**ENUMS, **enums}.items() if k in fields}
    kind = name if batch_kind == "" else batch_kind
    return Endpoint(name, cls, resource, method or name, path, valid, kind, allowed, fills_seed)


ENDPOINTS = [
    endpoint(
        "text_to_video", TextToVideoRequest, "/video/text/generate", tame_generation(image=False)
    ),
    endpoint(
        "image_to_video", ImageToVideoRequest, "/video/img/generate", tame_generation(image=True)
    ),
    endpoint("transition", TransitionRequest, "/video/transition/generate", tame_transition()),
    endpoint(
        "multi_transition",
        MultiTransitionRequest,
        "/video/multi_transition/generate",
        valid_multi_transition(),
        model=rules.MULTI_TRANSITION_MODELS,
    ),
    endpoint(
        "fusion",
        FusionRequest,
        "/video/fusion/generate",
        valid_fusion(),
        fills_seed=True,
        model=rules.FUSION_MODELS,
    ),
    endpoint("extend", ExtendRequest, "/video/extend/generate", valid_extend(), fills_seed=True),
    endpoint("lip_sync", LipSyncRequest, "/video/lip_sync/generate", valid_lip_sync()),
    endpoint(
        "sound_effect", SoundEffectRequest, "/video/sound_effect/generate", valid_sound_effect()
    ),
    endpoint("restyle", RestyleRequest, "/video/restyle/generate", valid_restyle()),
    endpoint(
        "mask_selection",
        MaskSelectionRequest,
        "/video/mask/selection",
        valid_mask_selection(),
        batch_kind=None,  # not a batch kind (batches select masks by name)
    ),
    endpoint(
        "swap",
        SwapRequest,
        "/video/swap/generate",
        valid_swap(),
        quality=rules.SWAP_QUALITIES,
    ),
    endpoint("mimic", MimicRequest, "/video/mimic/generate", valid_mimic()),
    endpoint(
        "modify",
        ModifyRequest,
        "/video/modify/generate",
        tame_modify(),
        quality=rules.MODIFY_QUALITIES,
    ),
    endpoint("upscale", UpscaleRequest, "/video/upscale/generate", valid_upscale()),
    endpoint(
        "image_template",
        ImageTemplateRequest,
        "/image/template/generate",
        valid_image_template(),
        resource="image",
        method="template",
    ),
]


def _unwrap(tp: Any) -> Any:
    """The type under ``Annotated[...]`` and ``X | None``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        else:
            return tp


def field_kind(model: type[RequestModel], name: str) -> str:
    """The JSON kind of a model field: int, str, bool, ints, strs, models or keyframe."""
    if model is ModifyRequest and name == "keyframe_ids":
        return "keyframe"  # an int, or a one-element list of one (reference 4.16)
    tp = _unwrap(model.model_fields[name].annotation)
    if typing.get_origin(tp) is list:
        item = _unwrap(typing.get_args(tp)[0])
        if isinstance(item, type) and issubclass(item, RequestModel):
            return "models"
        return {int: "ints", str: "strs"}[item]
    return {int: "int", str: "str", bool: "bool"}[tp]


def test_every_method_takes_exactly_its_model_fields() -> None:
    """The generic cases below rely on it: keyword arguments are the model's fields."""
    for ep in ENDPOINTS:
        assert ep.parameters == set(ep.model.model_fields), ep.name
        for name in ep.model.model_fields:
            assert field_kind(ep.model, name) in WRONG


# ---------------------------------------------------------------------------------------------
# Invalid cases: a valid body with one change, and the field the error must name


@dataclass(frozen=True)
class Case:
    kwargs: dict[str, Any]
    field: str
    why: str
    #: the error may name an item of the field (``field[2]``, ``field[0].img_id``)
    items: bool = False
    #: an unknown keyword argument: ``TypeError`` from the method, RequestValidationError
    #: from ``build()``
    unknown: bool = False
    #: a required field left out (given as None)
    missing: bool = False


def _templated(ep: Endpoint, body: Mapping[str, Any]) -> bool:
    """t2v/i2v with a template: the duration and fast-motion rules do not apply (4.3)."""
    generation = ep.model in (TextToVideoRequest, ImageToVideoRequest)
    return generation and body.get("template_id") is not None


def bad_values(ep: Endpoint, body: Mapping[str, Any]) -> dict[str, st.SearchStrategy[Any]]:
    """Field -> values refused whatever else the (valid) body holds."""
    out: dict[str, st.SearchStrategy[Any]] = {}
    model_id = body.get("model")
    known_model = model_id in rules.MODELS
    for name in ep.model.model_fields:
        kind = field_kind(ep.model, name)
        if name in ep.enums:
            out[name] = not_in(ep.enums[name])
        elif name == "aspect_ratio":
            allowed = rules.MODELS[model_id].aspect_ratios if known_model else ()
            out[name] = not_in(allowed or rules.WIDE_ASPECT_RATIOS)
        elif name == "seed":
            out[name] = BAD_SEED
        elif name == "duration":
            if not _templated(ep, body):
                other = ()
                if known_model and body.get("quality") in rules.QUALITIES:
                    durations = rules.durations_for(model_id, body["quality"])
                    other = tuple(d for d in range(1, 16) if d not in durations)
                out[name] = st.one_of(BAD_DURATION, *([st.sampled_from(other)] if other else []))
        elif name == "keyframe_id" and kind == "int" and ep.model is not ModifyRequest:
            out[name] = NEGATIVE  # swap and mask selection: 0 and up
        elif kind in ("int", "keyframe"):
            out[name] = BAD_ID  # ids: signed 64-bit
        elif kind == "ints":
            out[name] = st.tuples(st.lists(IDS, max_size=2), BAD_ID).map(lambda t: [*t[0], t[1]])
    limits = {
        "prompt": rules.LONG_PROMPT_LIMIT,
        "negative_prompt": rules.NEGATIVE_PROMPT_LIMIT,
        "lip_sync_tts_content": rules.TTS_CONTENT_LIMIT,
        "restyle_prompt": rules.RESTYLE_PROMPT_LIMIT,
        "mask_id": rules.LONG_PROMPT_LIMIT,
    }
    for name, limit in limits.items():
        if name in ep.model.model_fields:
            out[name] = longer_than(limit)
    for name in ("restyle_prompt", "mask_id"):
        if name in ep.model.model_fields:
            out[name] = st.one_of(out[name], BLANK)
    if "prompt" in out and ep.model is ModifyRequest:
        out["prompt"] = st.one_of(out["prompt"], BLANK)
    return out


UNKNOWN_NAMES = st.one_of(
    st.sampled_from(
        [
            "lip_sync_switch",
            "keyframe_ids",
            "first_frame_img_id",
            "last_frame_img_id",
            "aspect_ratio",
            "image_id",
            "api_key",
            "API-KEY",
            "mask_url",
            "Prompt",
            "quality ",
            "self",
        ]
    ),
    st.from_regex(r"[a-z][a-z0-9_]{0,24}", fullmatch=True),
)


@st.composite
def generic_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    fields = ep.model.model_fields
    required = sorted(n for n, f in fields.items() if f.is_required())
    bad = bad_values(ep, body)
    kinds = ["wrong_type", "unknown", "bad_value", "bad_value"] + (["missing"] if required else [])
    how = draw(st.sampled_from(kinds))
    if how == "wrong_type":
        name = draw(st.sampled_from(sorted(fields)))
        value = draw(st.sampled_from(WRONG[field_kind(ep.model, name)]))
        return Case({**body, name: value}, name, f"{name}={value!r} (wrong type)", items=True)
    if how == "unknown":
        taken = set(fields) | ep.parameters
        name = draw(UNKNOWN_NAMES.filter(lambda n: n not in taken))
        value = draw(st.one_of(st.integers(), st.text(max_size=5), st.booleans()))
        return Case({**body, name: value}, name, f"unknown field {name}", unknown=True)
    if how == "missing":
        name = draw(st.sampled_from(required))
        return Case({**body, name: None}, name, f"{name} missing", missing=True)
    name = draw(st.sampled_from(sorted(bad)))
    value = draw(bad[name])
    return Case({**body, name: value}, name, f"{name}={value!r:.80} (out of range)", items=True)


def _without(body: Mapping[str, Any], *names: str, **values: Any) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k not in names}
    out.update(values)
    return out


@st.composite
def source_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    """``source_video_id`` XOR ``video_media_id`` (2.1)."""
    if draw(st.booleans()):
        both = {**body, "source_video_id": draw(IDS), "video_media_id": draw(IDS)}
        return Case(both, "video_media_id", "both video sources")
    neither = {**body, "source_video_id": None, "video_media_id": None}
    return Case(neither, "source_video_id", "no video source")


@st.composite
def generation_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    """Rules of section 8.2 on t2v, i2v, transition and extend: prompt, switches, fast."""
    model, quality, duration = body["model"], body["quality"], body["duration"]
    spec = rules.MODELS[model]
    templated = _templated(ep, body)
    fields = ep.model.model_fields
    options: list[tuple[str, st.SearchStrategy[Any]]] = []
    if rules.prompt_limit(model) < rules.LONG_PROMPT_LIMIT:
        options.append(("prompt", sized(rules.prompt_limit(model) + 1, rules.LONG_PROMPT_LIMIT)))
    if ep.model is TextToVideoRequest and not templated:
        options.append(("prompt", BLANK))
    fast_checked = ep.model in (TransitionRequest, ExtendRequest) or not templated
    if fast_checked and not (spec.fast_motion and duration == 5 and quality != "1080p"):
        options.append(("motion_mode", st.just("fast")))
    legacy = spec.legacy_audio or templated
    gates = {
        "generate_audio_switch": spec.audio,
        "generate_multi_clip_switch": spec.multi_clip,
        "sound_effect_switch": legacy,
        "lip_sync_tts_switch": legacy,
    }
    if ep.model is ExtendRequest:
        gates = {}
    for name, allowed in gates.items():
        if name in fields and not allowed:
            options.append((name, st.just(True)))
    if "camera_movement" in fields and (templated or not spec.camera_movement):
        options.append(("camera_movement", st.sampled_from(rules.CAMERA_MOVEMENTS)))
    if ep.model is ImageToVideoRequest:
        ids = st.lists(IDS, min_size=1, max_size=3)
        if "img_id" in body:
            options.append(("img_ids", ids))  # both
        else:
            options.append(("img_id", st.just(None)))  # neither (img_ids set to None below)
        if not templated and "img_id" in body:
            options.append(("img_ids-alone", ids))
    if not options:
        return draw(generic_case(ep, body))
    name, strategy = draw(st.sampled_from(options))
    value = draw(strategy)
    if name == "img_id":
        return Case({**body, "img_id": None, "img_ids": None}, "img_id", "no image")
    if name == "img_ids-alone":
        kwargs = _without(body, "template_id", img_id=None, img_ids=value)
        return Case(kwargs, "img_ids", "img_ids without a template")
    return Case({**body, name: value}, name, f"{name}={value!r:.60} on {model}")


@st.composite
def modify_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    masks = body.get("mask_ids") or body.get("mask_urls") or []
    images = body.get("img_ids") or []
    how = draw(
        st.sampled_from(
            ["selection", "img", "both masks", "list size", "url", "blank prompt", "keyframe"]
        )
    )
    if how == "selection":
        n = draw(st.integers(len(masks), len(masks) + 12))
        kwargs = {**body, "prompt": f"{body['prompt']} @selection{n}"}
        return Case(kwargs, "prompt", f"@selection{n} with {len(masks)} mask(s)")
    if how == "img":
        n = draw(st.integers(len(images), len(images) + 12))
        kwargs = {**body, "prompt": f"@img{n} {body['prompt']}"}
        return Case(kwargs, "prompt", f"@img{n} with {len(images)} image(s)")
    if how == "both masks":
        ids = draw(st.lists(st.text(max_size=12), min_size=1, max_size=3))
        urls = draw(st.lists(st.sampled_from(MASK_URLS_OK), min_size=1, max_size=3))
        return Case({**body, "mask_ids": ids, "mask_urls": urls}, "mask_urls", "both masks")
    if how == "list size":
        name = draw(st.sampled_from(["img_ids", "img_ids per mask", "mask_ids", "mask_urls"]))
        if name == "img_ids per mask" and masks:  # up to 3 images per selection (4.16)
            limit = rules.modify_max_images(len(masks))
            size = draw(st.integers(limit + 1, rules.MODIFY_MAX_IMAGES))
            value = draw(st.lists(IDS, min_size=size, max_size=size))
            return Case({**body, "img_ids": value}, "img_ids", f"{size} images, {len(masks)} masks")
        name = "img_ids" if name == "img_ids per mask" else name
        item = {"img_ids": IDS, "mask_ids": st.text(max_size=8), "mask_urls": st.just("http://m")}
        too_many = rules.MODIFY_MAX_IMAGES if name == "img_ids" else rules.MODIFY_MAX_LIST
        size = draw(st.sampled_from([0, too_many + 1, too_many + 2, too_many + 3]))
        value = draw(st.lists(item[name], min_size=size, max_size=size))
        kwargs = _without(body, "mask_ids", "mask_urls", **{name: value})
        return Case(kwargs, name, f"{name} with {size} items")
    if how == "keyframe":  # two names, one frame (4.16): both given and different
        frame = draw(IDS)
        other = draw(IDS.filter(lambda f: f != frame))
        as_ids = draw(st.sampled_from([other, [other]]))
        kwargs = {**body, "keyframe_id": frame, "keyframe_ids": as_ids}
        return Case(kwargs, "keyframe_ids", f"keyframe_id {frame}, keyframe_ids {as_ids}")
    if how == "url":
        bad = draw(st.text(max_size=20).filter(lambda u: not u.lower().startswith(HTTP)))
        urls = draw(st.lists(st.sampled_from(MASK_URLS_OK), max_size=2))
        at = draw(st.integers(0, len(urls)))
        kwargs = _without(body, "mask_ids", mask_urls=[*urls[:at], bad, *urls[at:]])
        return Case(kwargs, "mask_urls", f"mask url {bad!r}")
    return Case({**body, "prompt": draw(BLANK)}, "prompt", "blank prompt")


HTTP = ("http://", "https://")


@st.composite
def multi_transition_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    items: list[dict[str, Any]] = [dict(item) for item in body["multi_transition"]]
    n = len(items)
    high = rules.MULTI_TRANSITION_ITEM_MAX if n < 3 else rules.MULTI_TRANSITION_ITEM_MAX_MANY
    how = draw(
        st.sampled_from(
            ["count", "no duration", "duration", "last duration", "prompt", "item", "fast"]
        )
    )
    i = draw(st.integers(0, n - 2))  # an item with a duration (not the last)
    if how == "count":
        size = draw(st.sampled_from([0, 1, 8, 9]))
        extra = [{"img_id": 1, "duration": 1} for _ in range(size)]
        kwargs = {**body, "multi_transition": [*extra[:-1], {"img_id": 2}] if size else []}
        return Case(kwargs, "multi_transition", f"{size} items")
    if how == "no duration":
        del items[i]["duration"]
        field = f"multi_transition[{i}].duration"
        return Case({**body, "multi_transition": items}, field, "no duration")
    if how == "duration":
        items[i]["duration"] = draw(st.one_of(st.integers(max_value=0), st.integers(high + 1)))
        field = f"multi_transition[{i}].duration"
        return Case({**body, "multi_transition": items}, field, f"duration with {n} items")
    if how == "last duration":
        items[-1]["duration"] = draw(st.integers().filter(lambda d: d != 0))
        field = f"multi_transition[{n - 1}].duration"
        return Case({**body, "multi_transition": items}, field, "last duration")
    j = draw(st.integers(0, n - 1))
    if how == "prompt":  # the models of multi-transition allow 2048 characters
        items[j]["prompt"] = draw(sized(rules.SHORT_PROMPT_LIMIT + 1, rules.LONG_PROMPT_LIMIT + 9))
        field = f"multi_transition[{j}].prompt"
        return Case({**body, "multi_transition": items}, field, "long item prompt")
    if how == "item":
        name, value = draw(nested_change(("img_id", "duration", "prompt"), ("img_id",)))
        if value is _DROP:
            del items[j][name]
        else:
            items[j][name] = value
        field = f"multi_transition[{j}].{name}"
        return Case({**body, "multi_transition": items}, field, f"item {name}={value!r:.40}")
    total = sum(item.get("duration") or 0 for item in items)
    if rules.MODELS[body["model"]].fast_motion and total <= 5 and body["quality"] != "1080p":
        return draw(generic_case(ep, body))  # fast is allowed here
    return Case({**body, "motion_mode": "fast"}, "motion_mode", f"fast with {total} s")


_DROP = object()


@st.composite
def nested_change(
    draw: st.DrawFn, names: tuple[str, ...], required: tuple[str, ...]
) -> tuple[str, Any]:
    """A change to one field of a nested item: wrong type, out of range, dropped, or unknown."""
    how = draw(st.sampled_from(["wrong", "bad id", "drop", "unknown"]))
    if how == "drop":
        return draw(st.sampled_from(required)), _DROP
    if how == "unknown":
        return draw(UNKNOWN_NAMES.filter(lambda n: n not in names)), 1
    if how == "bad id":
        return "img_id", draw(BAD_ID)
    name = draw(st.sampled_from(names))
    kind = "str" if name in ("prompt", "type", "ref_name") else "int"
    return name, draw(st.sampled_from([v for v in WRONG[kind] if v is not None]))


@st.composite
def fusion_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    refs: list[dict[str, Any]] = [dict(ref) for ref in body["image_references"]]
    n = len(refs)
    model = body["model"]
    limit = rules.FUSION_MAX_REFERENCES.get(model, rules.FUSION_MAX_REFERENCES_DEFAULT)
    options = ["count", "unmentioned", "ref name", "type", "item", "blank prompt"]
    if n >= 2:
        options.append("duplicate")
    if rules.prompt_limit(model) < rules.LONG_PROMPT_LIMIT:
        options.append("long prompt")
    if model not in rules.FUSION_AUDIO_MODELS:
        options.append("audio")
    how = draw(st.sampled_from(options))
    i = draw(st.integers(0, n - 1))
    if how == "count":
        size = draw(st.sampled_from([0, *range(limit + 1, 9)]))
        more = [{"type": "subject", "img_id": k, "ref_name": f"r{k}"} for k in range(size)]
        prompt = " ".join(f"@r{k}" for k in range(size)) or body["prompt"]
        kwargs = {**body, "image_references": more, "prompt": prompt}
        return Case(kwargs, "image_references", f"{size} references on {model}")
    field = f"image_references[{i}].ref_name"
    if how == "duplicate":
        j = draw(st.integers(1, n - 1))
        i = draw(st.integers(0, j - 1))
        refs[j]["ref_name"] = refs[i]["ref_name"]
        field = f"image_references[{j}].ref_name"
        return Case({**body, "image_references": refs}, field, "duplicate ref name")
    if how == "unmentioned":
        name = draw(REF_NAMES.filter(lambda s: not _mentioned(s, body["prompt"])))
        refs[i]["ref_name"] = name
        return Case({**body, "image_references": refs}, field, f"@{name} not in the prompt")
    if how == "ref name":
        refs[i]["ref_name"] = draw(
            st.one_of(BLANK, st.builds(lambda c, k: c * k, CHARS, st.integers(31, 40)))
        )
        return Case({**body, "image_references": refs}, field, "blank or long ref name")
    if how == "type":
        refs[i]["type"] = draw(not_in(rules.REFERENCE_TYPES))
        field = f"image_references[{i}].type"
        return Case({**body, "image_references": refs}, field, "reference type")
    if how == "item":
        names = ("type", "img_id", "ref_name")
        name, value = draw(nested_change(names, names))
        if value is _DROP:
            del refs[i][name]
        else:
            refs[i][name] = value
        field = f"image_references[{i}].{name}"
        return Case({**body, "image_references": refs}, field, f"reference {name}={value!r:.40}")
    if how == "blank prompt":
        return Case({**body, "prompt": draw(BLANK)}, "prompt", "blank prompt")
    if how == "long prompt":
        value = draw(sized(rules.SHORT_PROMPT_LIMIT + 1, rules.LONG_PROMPT_LIMIT))
        return Case({**body, "prompt": value}, "prompt", f"long prompt on {model}")
    kwargs = {**body, "generate_audio_switch": True}
    return Case(kwargs, "generate_audio_switch", f"audio on {model}")


def _mentioned(name: str, prompt: str) -> bool:
    return re.search(rf"@{re.escape(name)}(?=\s|$)", prompt) is not None


@st.composite
def lip_sync_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    speaker = draw(SPEAKERS_OK)
    content = draw(TTS_OK)
    none = {"audio_media_id": None, "lip_sync_tts_speaker_id": None, "lip_sync_tts_content": None}
    how = draw(st.sampled_from(["both", "neither", "speaker only", "content only", "blank"]))
    if how == "both":
        tts = draw(
            st.sampled_from(
                [
                    {"lip_sync_tts_speaker_id": speaker, "lip_sync_tts_content": content},
                    {"lip_sync_tts_speaker_id": speaker},
                    {"lip_sync_tts_content": content},
                ]
            )
        )
        kwargs = {**body, **none, "audio_media_id": draw(IDS), **tts}
        return Case(kwargs, "audio_media_id", "audio and TTS")
    if how == "neither":
        return Case({**body, **none}, "audio_media_id", "no audio")
    if how == "speaker only":
        kwargs = {**body, **none, "lip_sync_tts_speaker_id": speaker}
        return Case(kwargs, "lip_sync_tts_content", "speaker without text")
    if how == "content only":
        kwargs = {**body, **none, "lip_sync_tts_content": content}
        return Case(kwargs, "lip_sync_tts_speaker_id", "text without speaker")
    kwargs = {**body, **none, "lip_sync_tts_speaker_id": speaker}
    kwargs["lip_sync_tts_content"] = draw(BLANK)
    return Case(kwargs, "lip_sync_tts_content", "blank text")


@st.composite
def restyle_case(draw: st.DrawFn, ep: Endpoint, body: dict[str, Any]) -> Case:
    if draw(st.booleans()):
        kwargs = {**body, "restyle_id": draw(IDS), "restyle_prompt": draw(NONBLANK)}
        return Case(kwargs, "restyle_prompt", "restyle_id and restyle_prompt")
    kwargs = {**body, "restyle_id": None, "restyle_prompt": None}
    return Case(kwargs, "restyle_id", "neither restyle_id nor restyle_prompt")


SPECIFIC: dict[type[RequestModel], Callable[..., st.SearchStrategy[Case]]] = {
    TextToVideoRequest: generation_case,
    ImageToVideoRequest: generation_case,
    TransitionRequest: generation_case,
    ExtendRequest: generation_case,
    ModifyRequest: modify_case,
    MultiTransitionRequest: multi_transition_case,
    FusionRequest: fusion_case,
    LipSyncRequest: lip_sync_case,
    RestyleRequest: restyle_case,
}


@st.composite
def invalid_case(draw: st.DrawFn, ep: Endpoint) -> Case:
    body = draw(ep.valid)
    strategies = [generic_case(ep, body), generic_case(ep, body)]
    if "video_media_id" in ep.model.model_fields:
        strategies.append(source_case(ep, body))
    if ep.model in SPECIFIC:
        strategies += [SPECIFIC[ep.model](ep, body)] * 2
    return draw(st.one_of(strategies))


# ---------------------------------------------------------------------------------------------
# (a) invalid input: refused before any request


@pytest.fixture
async def server() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY),), job_duration=Fixed(0.05), seed=11
    )
    async with Emulator(config) as emu:
        yield emu


@pytest.fixture
async def client(server: Emulator) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse(KEY, base_url=server.base_url, max_retries=0) as c:
        yield c


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 600 else f"{text[:600]}..."


def _note(text: str) -> None:
    """``hypothesis.note`` inside a property, nothing in a plain test."""
    with contextlib.suppress(InvalidArgument):
        note(text)


def _names(field: str | None, case: Case) -> bool:
    if field == case.field:
        return True
    return case.items and field is not None and field.startswith(case.field + "[")


def _counters(server: Emulator) -> dict[str, int]:
    stats = server.stats()
    return {name: stats[name] for name in COUNTERS}


async def assert_refused_before_io(
    server: Emulator,
    client: AsyncPixVerse,
    call: Callable[..., Awaitable[Any]],
    model: type[RequestModel] | None,
    batch_kind: str | None,
    case: Case,
    base_dir: Path,
) -> None:
    _note(f"{case.why}: {_short(case.kwargs)}")
    before = _counters(server)
    field: str | None = None  # what the method's RequestValidationError names
    if case.unknown:
        with pytest.raises(TypeError) as raised:
            await call(**case.kwargs)
        assert repr(case.field) in str(raised.value)  # "... unexpected keyword argument 'x'"
    else:
        with pytest.raises(RequestValidationError) as info:
            await call(**case.kwargs)
        err = info.value
        field = err.field
        _note(f"error: {field}: {err}")
        assert _names(field, case), f"{field!r} named instead of {case.field!r}: {err}"
        assert field is not None and field in str(err)
        if case.missing:
            assert "required" in str(err)
    if model is not None:  # the model path: build() names the same field
        given_fields = {k: v for k, v in case.kwargs.items() if v is not None}
        with pytest.raises(RequestValidationError) as built:
            build(model, **given_fields)
        assert _names(built.value.field, case), built.value
        assert field is None or built.value.field == field
    if batch_kind is not None:  # the batch engine validates every item before sending
        item = {"key": "bad", "kind": batch_kind, "params": case.kwargs}
        with pytest.raises(BatchValidationError) as batch:
            await client.run_batch([item], base_dir=base_dir)
        assert [key for key, _ in batch.value.errors] == ["bad"]
    assert _counters(server) == before, "an invalid request reached the emulator"


def _invalid_input_test(ep: Endpoint) -> Callable[..., Any]:
    async def test(server: Emulator, client: AsyncPixVerse, tmp_path: Path, case: Case) -> None:
        await assert_refused_before_io(
            server, client, ep.bound(client), ep.model, ep.batch_kind, case, tmp_path
        )

    # one test per endpoint (hypothesis draws every argument before the event loop runs the
    # test: a draw inside it, with st.data(), would abort the anyio runner on an overrun)
    test.__name__ = test.__qualname__ = f"test_invalid_{ep.name}_is_refused_before_any_request"
    test.__doc__ = f"Invalid {ep.name} input: refused, naming the field; nothing sent."
    return SETTINGS(given(case=invalid_case(ep))(test))


for _ep in ENDPOINTS:
    _test = _invalid_input_test(_ep)
    globals()[_test.__name__] = _test


# -- the effect-template method (t2v or i2v with a template_id and schema fillers) -----------


@st.composite
def valid_template(draw: st.DrawFn) -> dict[str, Any]:
    """Arguments of ``client.video.template`` (without an image: text-to-video)."""
    body: dict[str, Any] = {
        "template_id": draw(IDS),
        "quality": draw(st.sampled_from(rules.QUALITIES)),
    }
    image = draw(st.sampled_from(["none", "img_id", "img_ids"]))
    if image == "img_id":
        body["img_id"] = draw(IDS)
    elif image == "img_ids":
        body["img_ids"] = draw(st.lists(IDS, min_size=1, max_size=3))
    model = "v5"  # the method's default
    if draw(st.booleans()):
        model = body["model"] = draw(st.sampled_from(rules.MODEL_IDS))
    optional = {
        "prompt": st.one_of(st.just(""), prompt_ok(model)),
        "duration": st.integers(1, 15),  # the template decides the length
        "sound_effect_switch": st.booleans(),
        "webhook_id": IDS,
    }
    if image == "none":
        optional["aspect_ratio"] = st.sampled_from(rules.MODELS[model].aspect_ratios)
    body.update(draw(st.fixed_dictionaries({}, optional=optional)))
    return body


TEMPLATE_KINDS = {
    "template_id": "int",
    "quality": "str",
    "img_id": "int",
    "img_ids": "ints",
    "prompt": "str",
    "model": "str",
    "duration": "int",
    "aspect_ratio": "str",
    "sound_effect_switch": "bool",
    "webhook_id": "int",
}


@st.composite
def invalid_template_case(draw: st.DrawFn) -> Case:
    body = draw(valid_template())
    image = "img_id" in body or "img_ids" in body
    model = body.get("model", "v5")
    how = draw(
        st.sampled_from(["wrong", "unknown", "quality", "model", "image", "prompt", "aspect", "id"])
    )
    if how == "wrong":
        # with an image, aspect_ratio is not sent (the image decides)
        names = [n for n in TEMPLATE_KINDS if not image or n != "aspect_ratio"]
        name = draw(st.sampled_from(names))
        value = draw(st.sampled_from(WRONG[TEMPLATE_KINDS[name]]))
        return Case({**body, name: value}, name, f"{name}={value!r}", items=True)
    if how == "unknown":
        name = draw(UNKNOWN_NAMES.filter(lambda n: n not in TEMPLATE_KINDS))
        return Case({**body, name: 1}, name, f"unknown {name}", unknown=True)
    if how == "quality":
        value = draw(st.one_of(st.none(), not_in(rules.QUALITIES)))
        missing = value is None
        return Case({**body, "quality": value}, "quality", f"quality {value!r}", missing=missing)
    if how == "model":
        value = draw(not_in(rules.MODEL_IDS))
        return Case({**body, "model": value}, "model", f"model {value!r}")
    if how == "image":
        ids = draw(st.lists(IDS, max_size=3))
        # an image template takes its aspect ratio from the image: an aspect_ratio beside an
        # image is an error of its own (naming aspect_ratio), so leave it out here
        body.pop("aspect_ratio", None)
        kwargs = {**body, "img_id": draw(IDS), "img_ids": ids} if ids else {**body, "img_ids": []}
        return Case(kwargs, "img_ids", "both image fields, or an empty img_ids")
    if how == "prompt":
        limit = rules.prompt_limit(model)
        value = draw(sized(limit + 1, rules.LONG_PROMPT_LIMIT + 9))
        return Case({**body, "prompt": value}, "prompt", f"long prompt on {model}")
    if how == "aspect" and not image:
        value = draw(not_in(rules.MODELS[model].aspect_ratios))
        return Case({**body, "aspect_ratio": value}, "aspect_ratio", f"aspect {value!r}")
    name = draw(st.sampled_from(["template_id", "webhook_id", *(["img_id"] if image else [])]))
    value = draw(BAD_ID)
    return Case({**body, name: value}, name, f"{name}={value}")


@SETTINGS
@given(case=invalid_template_case())
async def test_invalid_template_input_is_refused_before_any_request(
    server: Emulator, client: AsyncPixVerse, tmp_path: Path, case: Case
) -> None:
    await assert_refused_before_io(
        server, client, client.video.template, None, "template", case, tmp_path
    )


# -- uploads (by URL, and the local checks of file uploads) ----------------------------------

NOT_HTTP = st.one_of(
    st.sampled_from(
        [
            "",
            "ftp://example.com/a.png",
            "//example.com/a.png",
            "example.com/a.png",
            "file:///etc/hosts",
            " http://example.com/a.png",
            "http:/example.com/a.png",
            "https:example.com",
            "data:image/png;base64,AAAA",
        ]
    ),
    st.text(max_size=30).filter(lambda u: not u.lower().startswith(HTTP)),
)
GOOD_URLS = st.builds(
    lambda scheme, host, rest: f"{scheme}://{host}/{rest}",
    st.sampled_from(["http", "https"]),
    st.sampled_from(["example.com", "127.0.0.1:8080", "cdn.example.org", "[::1]:9000"]),
    st.text(CHARS, max_size=40),
)


class _Unseekable:
    def read(self, size: int = -1) -> bytes:
        return b""

    def seekable(self) -> bool:
        return False


@st.composite
def invalid_upload_case(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], Case]:
    """(method, positional args, case) for ``client.media.upload_image/upload_media``."""
    method = draw(st.sampled_from(["upload_image", "upload_media"]))
    source, url = ("image", "image_url") if method == "upload_image" else ("file", "file_url")
    png = make_png(8, 8)
    how = draw(st.sampled_from(["url", "both", "neither", "url as path", "source", "content"]))
    if how == "url":
        value = draw(NOT_HTTP)
        return method, (), Case({url: value}, url, f"{url}={value!r}")
    if how == "both":
        return method, (png,), Case({url: draw(GOOD_URLS)}, source, "a file and a URL")
    if how == "neither":
        return method, (), Case({}, source, "neither a file nor a URL")
    if how == "url as path":
        return method, (draw(GOOD_URLS),), Case({}, source, "a URL given as the file")
    if how == "source":
        value = draw(st.sampled_from([5, 1.5, True, ["a.png"], {"a": 1}, _Unseekable()]))
        return method, (value,), Case({}, source, f"{source}={value!r}")
    if method == "upload_image":  # not a jpg, png or webp
        data = draw(st.binary(max_size=64).filter(lambda b: not b.startswith(b"\x89PNG")))
        data = data if not data.startswith((b"\xff\xd8\xff", b"RIFF")) else b"x" + data
        return method, (data,), Case({}, "image", "not an image")
    name = draw(st.sampled_from(["clip", "clip.txt", "clip.mp4.bak", "song.flac", ".mp4"]))
    return method, (b"\x00" * 16,), Case({"filename": name}, "file", f"file named {name!r}")


@SETTINGS
@given(upload_case=invalid_upload_case())
async def test_invalid_uploads_are_refused_before_any_request(
    server: Emulator,
    client: AsyncPixVerse,
    tmp_path: Path,
    upload_case: tuple[str, tuple[Any, ...], Case],
) -> None:
    method, args, case = upload_case
    upload = getattr(client.media, method)

    async def call(**kwargs: Any) -> Any:
        return await upload(*args, **kwargs)

    await assert_refused_before_io(server, client, call, None, None, case, tmp_path)


async def test_a_missing_file_is_refused_before_any_request(
    server: Emulator, client: AsyncPixVerse, tmp_path: Path
) -> None:
    for method, field in (("upload_image", "image"), ("upload_media", "file")):
        case = Case({}, field, "no such file")
        upload = getattr(client.media, method)

        async def call(upload: Any = upload, **kwargs: Any) -> Any:
            return await upload(tmp_path / "nope.mp4", **kwargs)

        await assert_refused_before_io(server, client, call, None, None, case, tmp_path)


# -- the checks above can fail: a request that passes local validation is counted ------------


async def test_a_request_that_passes_validation_moves_the_counter(
    server: Emulator, client: AsyncPixVerse
) -> None:
    """What the properties above rule out, shown to be visible: the same client, a body the SDK
    accepts but the emulator refuses (an unknown video), and the counter moves by one."""
    before = _counters(server)
    with pytest.raises(InvalidRequestError):
        await client.video.modify(video_media_id=2**62, prompt="make it snow", quality="540p")
    after = _counters(server)
    assert after["requests_total"] == before["requests_total"] + 1
    assert after["jobs_created"] == before["jobs_created"]


# ---------------------------------------------------------------------------------------------
# (b) valid input: round trips exactly, and is what the client sends


class Recorder:
    """A transport that records each request and answers as a successful API would."""

    def __init__(self) -> None:
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        if request.path == "/video/mask/selection":
            data: Any = {"keyframe_id": 1, "credits": 2, "mask_info": []}
        elif request.path.startswith("/image/"):
            data = {"image_id": 2**60, "credits": 10}
        else:
            data = {"video_id": 2**60, "credits": 10}
        return Response(data=data, http_status=200, trace_id=request.trace_id)

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[AsyncPixVerse, Recorder]]:
    recorder = Recorder()
    async with AsyncPixVerse(
        "pv-recorder-key-0000",
        base_url="http://127.0.0.1:9/openapi/v2",
        transport=recorder,
        max_concurrency=None,  # no slot: nothing polls the job handles
    ) as c:
        yield c, recorder


def _canon(value: Any) -> str:
    """JSON text: tells 1 from 1.0 and True, keeps big ints, turns tuples into lists."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@st.composite
def loosened(draw: st.DrawFn, ep: Endpoint) -> dict[str, Any]:
    """A valid body, with some lists of ids/strings as tuples and some optional fields None."""
    body = dict(draw(ep.valid))
    for name, value in list(body.items()):
        listed = isinstance(value, list) and field_kind(ep.model, name) in ("ints", "strs")
        if listed and draw(st.booleans()):
            body[name] = tuple(value)
    optional = sorted(
        n for n, f in ep.model.model_fields.items() if not f.is_required() and n not in body
    )
    for name in draw(st.lists(st.sampled_from(optional), unique=True) if optional else st.just([])):
        body[name] = None
    return body


def _expected(ep: Endpoint, body: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(_canon({k: v for k, v in body.items() if v is not None}))
    if ep.model is ModifyRequest:  # the keyframe is sent under both names, as an int (4.16)
        frame = out.get("keyframe_id", out.get("keyframe_ids"))
        if isinstance(frame, list):
            (frame,) = frame
        if frame is not None:
            out["keyframe_id"] = out["keyframe_ids"] = frame
    return out


def _valid_input_test(ep: Endpoint) -> Callable[..., Any]:
    async def test(recorded: tuple[AsyncPixVerse, Recorder], body: dict[str, Any]) -> None:
        client, recorder = recorded
        expected = _expected(ep, body)
        drawn_seed = ep.fills_seed and "seed" not in expected

        model = ep.model.model_validate(body)
        sent = model.model_dump(mode="json", exclude_none=True, by_alias=True)
        assert sent == model.to_body()  # the serialisation the client uses
        if drawn_seed:
            assert rules.SEED_MIN <= sent["seed"] <= rules.SEED_MAX
            expected["seed"] = sent["seed"]
        assert _canon(sent) == _canon(expected)
        again = ep.model.model_validate(sent)
        assert again == model and again.to_body() == sent
        assert ep.model.model_validate_json(json.dumps(sent)) == model  # from the wire

        count = len(recorder.sent)
        await ep.bound(client)(**body)
        assert len(recorder.sent) == count + 1
        request = recorder.sent[-1]
        assert (request.method, request.path) == ("POST", ep.path)
        assert request.multipart is None and request.params is None and request.json is not None
        wire = dict(request.json)
        if drawn_seed:  # the client drew its own
            assert rules.SEED_MIN <= wire["seed"] <= rules.SEED_MAX
            expected["seed"] = wire["seed"]
        assert _canon(wire) == _canon(expected)

    test.__name__ = test.__qualname__ = f"test_valid_{ep.name}_input_round_trips_exactly"
    test.__doc__ = f"Valid {ep.name} input: sent exactly as given, and validates again."
    return SETTINGS(given(body=loosened(ep))(test))


for _ep in ENDPOINTS:
    _test = _valid_input_test(_ep)
    globals()[_test.__name__] = _test


@SETTINGS
@given(body=valid_template())
async def test_valid_template_input_is_sent_with_its_schema_fillers(
    recorded: tuple[AsyncPixVerse, Recorder], body: dict[str, Any]
) -> None:
    client, recorder = recorded
    image = "img_id" in body or "img_ids" in body
    expected = {"prompt": "", "model": "v5", "duration": 5, **body}
    if image:
        path, model = "/video/img/generate", ImageToVideoRequest
    else:
        path, model = "/video/text/generate", TextToVideoRequest
        expected.setdefault("aspect_ratio", "16:9")
    await client.video.template(**body)
    request = recorder.sent[-1]
    assert (request.method, request.path) == ("POST", path)
    assert request.json is not None
    assert _canon(dict(request.json)) == _canon(expected)
    assert model.model_validate(request.json).to_body() == request.json


@dataclass
class Capture:
    """A stand-in API that records the form fields of each upload."""

    base_url: str
    forms: list[tuple[str, str, dict[str, str]]]


@pytest.fixture
async def capture() -> AsyncIterator[Capture]:
    forms: list[tuple[str, str, dict[str, str]]] = []

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        forms.append((request.path, request.headers.get("Content-Type", ""), fields))
        resp = {"img_id": 1, "img_url": "u", "media_id": 2, "media_type": "video", "url": "u"}
        return web.json_response({"ErrCode": 0, "ErrMsg": "success", "Resp": resp})

    app = web.Application()
    app.router.add_post("/openapi/v2/image/upload", upload)
    app.router.add_post("/openapi/v2/media/upload", upload)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Capture(f"http://127.0.0.1:{port}/openapi/v2", forms)
    finally:
        await runner.cleanup()


@pytest.fixture
async def capture_client(capture: Capture) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse("pv-capture-key-00000", base_url=capture.base_url) as c:
        yield c


@SETTINGS
@given(url=GOOD_URLS, image=st.booleans())
async def test_upload_by_url_sends_the_url_exactly(
    capture: Capture, capture_client: AsyncPixVerse, url: str, image: bool
) -> None:
    count = len(capture.forms)
    if image:
        await capture_client.media.upload_image(image_url=url)
    else:
        await capture_client.media.upload_media(file_url=url)
    assert len(capture.forms) == count + 1
    path, _, fields = capture.forms[-1]
    assert path.endswith("/image/upload" if image else "/media/upload")
    assert fields == {("image_url" if image else "file_url"): url}


# ---------------------------------------------------------------------------------------------
# Regressions: package bugs this module found (fixed).


async def test_upload_url_scheme_is_case_insensitive(
    capture: Capture, capture_client: AsyncPixVerse
) -> None:
    await capture_client.media.upload_image(image_url="HTTPS://example.com/a.png")
    assert capture.forms[-1][2] == {"image_url": "HTTPS://example.com/a.png"}


async def test_upload_by_url_is_multipart(capture: Capture, capture_client: AsyncPixVerse) -> None:
    await capture_client.media.upload_image(image_url="https://example.com/a.png")
    await capture_client.media.upload_media(file_url="https://example.com/a.mp4")
    for _, content_type, _ in capture.forms:
        assert content_type.startswith("multipart/form-data"), content_type


async def test_a_url_of_the_wrong_type_is_a_validation_error(
    server: Emulator, client: AsyncPixVerse, tmp_path: Path
) -> None:
    case = Case({"image_url": 5}, "image_url", "image_url=5")
    await assert_refused_before_io(
        server, client, client.media.upload_image, None, None, case, tmp_path
    )


async def test_page_parameters_are_checked_before_any_request(
    server: Emulator, client: AsyncPixVerse, tmp_path: Path
) -> None:
    case = Case({"page_size": 0}, "page_size", "page_size=0")
    await assert_refused_before_io(
        server, client, client.video.tts_speakers, None, None, case, tmp_path
    )


async def test_a_template_without_template_id_is_refused(
    server: Emulator, client: AsyncPixVerse, tmp_path: Path
) -> None:
    case = Case({"template_id": None, "img_id": 5, "quality": "540p"}, "template_id", "no id")
    await assert_refused_before_io(
        server, client, client.video.template, None, None, case, tmp_path
    )


async def test_an_unknown_media_type_is_refused(
    server: Emulator, client: AsyncPixVerse, tmp_path: Path
) -> None:
    case = Case({"filename": "blob", "media_type": "picture"}, "media_type", "media_type")

    async def call(**kwargs: Any) -> Any:
        return await client.media.upload_media(b"\x00" * 64, **kwargs)

    await assert_refused_before_io(server, client, call, None, None, case, tmp_path)


async def test_nested_item_lists_take_any_sequence(
    recorded: tuple[AsyncPixVerse, Recorder],
) -> None:
    client, recorder = recorded
    items = ({"img_id": 1, "duration": 5}, {"img_id": 2})
    await client.video.multi_transition(multi_transition=items, model="v5", quality="540p")
    assert recorder.sent[-1].json == {
        "multi_transition": list(items),
        "model": "v5",
        "quality": "540p",
    }


def test_upload_methods_are_the_ones_checked() -> None:
    """The upload cases above name the parameters of the real methods."""
    image = inspect.signature(MediaResource.upload_image).parameters
    media = inspect.signature(MediaResource.upload_media).parameters
    assert {"image", "image_url", "filename"} <= set(image)
    assert {"file", "file_url", "filename", "media_type"} <= set(media)
