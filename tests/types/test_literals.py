"""The ``Literal`` types of enum arguments: their values are the ``_rules`` tuples, the resource
methods use them, and each method's Literal is exactly what its request model accepts.

The Literal types are for type checkers and editors only; a wrong value at run time is still
refused by the request model with a RequestValidationError naming the field.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable
from typing import Annotated, Any

import pytest
from pydantic import TypeAdapter, ValidationError

import pixverse_async.types as types_pkg
from pixverse_async import AsyncPixVerse
from pixverse_async import _rules as rules
from pixverse_async._endpoints import ENDPOINTS
from pixverse_async._exceptions import RequestValidationError
from pixverse_async._transport import Request, Response
from pixverse_async.resources.image import ImageResource
from pixverse_async.resources.video import VideoResource
from pixverse_async.types import (
    AspectRatio,
    CameraMovement,
    FusionModel,
    ImageReference,
    ImageReferenceDict,
    Model,
    ModifyQuality,
    MotionMode,
    MultiTransitionModel,
    Quality,
    ReferenceType,
    RequestModel,
    Style,
    SwapQuality,
    TextToVideoRequest,
    ThinkingType,
)

#: every Literal type and the ``_rules`` tuple it must equal (values and order)
ALIASES: dict[str, tuple[Any, tuple[str, ...]]] = {
    "Model": (Model, rules.MODEL_IDS),
    "MultiTransitionModel": (MultiTransitionModel, rules.MULTI_TRANSITION_MODELS),
    "FusionModel": (FusionModel, rules.FUSION_MODELS),
    "Quality": (Quality, rules.QUALITIES),
    "ModifyQuality": (ModifyQuality, rules.MODIFY_QUALITIES),
    "SwapQuality": (SwapQuality, rules.SWAP_QUALITIES),
    "AspectRatio": (AspectRatio, rules.WIDE_ASPECT_RATIOS),
    "MotionMode": (MotionMode, rules.MOTION_MODES),
    "Style": (Style, rules.STYLES),
    "ThinkingType": (ThinkingType, rules.THINKING_TYPES),
    "ReferenceType": (ReferenceType, rules.REFERENCE_TYPES),
    "CameraMovement": (CameraMovement, rules.CAMERA_MOVEMENTS),
}

#: API fields whose values the reference lists (the resource methods' enum arguments)
ENUM_PARAMETERS = {
    "model",
    "quality",
    "aspect_ratio",
    "motion_mode",
    "style",
    "camera_movement",
    "thinking_type",
}

#: candidate values: every enum value, plus near misses, to probe what a model field accepts
UNIVERSE = sorted(
    {
        *rules.MODEL_IDS,
        *rules.QUALITIES,
        *rules.WIDE_ASPECT_RATIOS,
        *rules.MOTION_MODES,
        *rules.STYLES,
        *rules.THINKING_TYPES,
        *rules.REFERENCE_TYPES,
        *rules.CAMERA_MOVEMENTS,
        *(m.upper() for m in rules.MODEL_IDS),
        "",
        "1080P",
        "4k",
        "v1",
        "v2",
        "v3",
        "visionary",
        "5:4",
        "slow",
        "object",
    }
)


def _literal_values(hint: Any) -> tuple[str, ...] | None:
    """The values of ``Literal[...]`` or ``Literal[...] | None``; None if not a Literal."""
    if typing.get_origin(hint) is typing.Literal:
        return typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _literal_values(args[0])
    return None


def _accepted(model: type[RequestModel], name: str) -> set[str]:
    """The candidate values the model's field ``name`` accepts on its own (field rules only)."""
    info = model.model_fields[name]
    tp: Any = info.annotation
    if info.metadata:
        tp = Annotated[(tp, *info.metadata)]
    adapter: TypeAdapter[Any] = TypeAdapter(tp)
    out: set[str] = set()
    for value in UNIVERSE:
        try:
            adapter.validate_python(value)
        except ValidationError:
            continue
        out.add(value)
    return out


def _methods() -> list[tuple[str, Callable[..., Any], type[RequestModel]]]:
    """(name, function, request model) of every generation method of client.video / .image."""
    out: list[tuple[str, Callable[..., Any], type[RequestModel]]] = []
    for name, fn in inspect.getmembers(VideoResource, inspect.iscoroutinefunction):
        if name == "template":
            out.append((name, fn, TextToVideoRequest))  # and ImageToVideoRequest: same enums
        elif name in ENDPOINTS:
            out.append((name, fn, ENDPOINTS[name].model))
    out.append(("image.template", ImageResource.template, ENDPOINTS["image_template"].model))
    return out


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_alias_values_equal_the_rules(name: str) -> None:
    alias, values = ALIASES[name]
    assert typing.get_origin(alias) is typing.Literal
    assert typing.get_args(alias) == values


def test_every_exported_literal_is_checked_here() -> None:
    exported = {
        name
        for name in types_pkg.__all__
        if typing.get_origin(getattr(types_pkg, name)) is typing.Literal
    }
    assert exported == set(ALIASES)
    assert list(types_pkg.__all__) == sorted(types_pkg.__all__)


def test_aspect_ratios_cover_every_model() -> None:
    """AspectRatio is the union of the per-model lists (base five first)."""
    union = {r for m in rules.MODELS.values() for r in m.aspect_ratios}
    assert set(typing.get_args(AspectRatio)) == union
    assert typing.get_args(AspectRatio)[: len(rules.BASE_ASPECT_RATIOS)] == rules.BASE_ASPECT_RATIOS


@pytest.mark.parametrize(("name", "fn", "model"), _methods(), ids=[m[0] for m in _methods()])
def test_enum_arguments_are_literals_matching_the_model(
    name: str, fn: Callable[..., Any], model: type[RequestModel]
) -> None:
    hints = typing.get_type_hints(fn)
    for param in inspect.signature(fn).parameters:
        if param not in ENUM_PARAMETERS:
            continue
        values = _literal_values(hints[param])
        assert values is not None, f"{name}({param}=...) is {hints[param]}, not a Literal"
        if param == "aspect_ratio":
            # the field is a str checked per model (8.2): the Literal is every model's union
            assert values == rules.WIDE_ASPECT_RATIOS, name
        else:
            assert set(values) == _accepted(model, param), (name, param)


def test_every_enum_field_of_a_model_has_a_literal_argument() -> None:
    """No enum field is left as ``str`` on a method: each choice-checked field is covered."""
    covered = 0
    for name, fn, model in _methods():
        params = set(inspect.signature(fn).parameters)
        for field in model.model_fields:
            accepted = _accepted(model, field)
            # an enum field refuses some non-empty text (a prompt refuses only blank text)
            if field in params and accepted and not set(UNIVERSE) - {""} <= accepted:
                assert field in ENUM_PARAMETERS, (name, field)
                covered += 1
    assert covered > 20


def test_fusion_references_are_typed() -> None:
    hints = typing.get_type_hints(ImageReferenceDict)
    assert hints == {"type": ReferenceType, "img_id": int, "ref_name": str}
    assert _accepted(ImageReference, "type") == set(rules.REFERENCE_TYPES)
    refs = typing.get_type_hints(VideoResource.fusion)["image_references"]
    (item,) = typing.get_args(refs)
    assert ImageReferenceDict in typing.get_args(item)


# -- the run-time check is unchanged: the field is named, with the allowed values -------------


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[Request] = []

    async def send(self, request: Request) -> Response:
        self.sent.append(request)
        return Response(data={"video_id": 1, "credits": 1}, http_status=200, trace_id="t")

    async def aclose(self) -> None:
        return None


BAD = [
    ("text_to_video", "quality", "4k", "quality must be one of 360p, 540p, 720p, 1080p"),
    ("text_to_video", "model", "v2", "model must be one of v3.5, v4,"),
    ("text_to_video", "motion_mode", "slow", "motion_mode must be one of normal, fast"),
    ("text_to_video", "style", "oil", "style must be one of anime,"),
    ("text_to_video", "thinking_type", "on", "thinking_type must be one of enabled,"),
    ("text_to_video", "camera_movement", "spin", "camera_movement must be one of"),
    ("text_to_video", "aspect_ratio", "5:4", "aspect_ratio must be one of 16:9,"),
    ("modify", "quality", "1080p", "quality must be one of 360p, 540p, 720p for modify"),
    ("swap", "quality", "1080p", "quality must be one of 360p, 540p, 720p for swap"),
]
GOOD: dict[str, dict[str, Any]] = {
    "text_to_video": {
        "prompt": "a cat",
        "model": "v4",
        "duration": 5,
        "quality": "540p",
        "aspect_ratio": "16:9",
    },
    "modify": {"video_media_id": 1, "prompt": "make it snow", "quality": "540p"},
    "swap": {"video_media_id": 1, "keyframe_id": 1, "mask_id": "m", "img_id": 2, "quality": "540p"},
}


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "field", "value", "message"), BAD)
async def test_a_wrong_value_is_still_a_field_named_error(
    method: str, field: str, value: str, message: str
) -> None:
    recorder = _Recorder()
    async with AsyncPixVerse(
        "pv-literal-test-key-0",
        base_url="http://127.0.0.1:9/openapi/v2",
        transport=recorder,
        max_concurrency=None,
    ) as client:
        call = getattr(client.video, method)
        with pytest.raises(RequestValidationError) as info:
            await call(**{**GOOD[method], field: value})
        await call(**GOOD[method])  # the good body is sent
    assert info.value.field == field
    assert str(info.value).startswith(message), str(info.value)
    assert repr(value) in str(info.value)
    assert len(recorder.sent) == 1
