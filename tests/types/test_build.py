"""``build()``: one readable RequestValidationError per bad request; the models' contract."""

from __future__ import annotations

import typing

import pytest
from pydantic import ValidationError

import pixverse_async.types as types_pkg
from pixverse_async._exceptions import PixVerseError, RequestValidationError
from pixverse_async.types import (
    ModifyRequest,
    MultiTransitionItem,
    MultiTransitionRequest,
    RequestModel,
    ResponseModel,
    UpscaleRequest,
    build,
)


def test_error_names_the_field_and_keeps_the_cause() -> None:
    with pytest.raises(RequestValidationError) as info:
        build(ModifyRequest, video_media_id=1, prompt="make it snow", quality="1080p")
    err = info.value
    assert err.field == "quality"
    assert str(err) == (
        "quality must be one of 360p, 540p, 720p for modify (1080p is not supported) (got '1080p')"
    )
    assert isinstance(err.__cause__, ValidationError)
    assert isinstance(err, PixVerseError) and isinstance(err, ValueError)


def test_nested_paths_are_dotted() -> None:
    refs = [
        {"type": "subject", "img_id": 1, "ref_name": "dog"},
        {"type": "subject", "img_id": 2, "ref_name": ""},
    ]
    with pytest.raises(RequestValidationError) as info:
        build(
            types_pkg.FusionRequest,
            image_references=refs,
            prompt="@dog",
            model="v6",
            duration=5,
            quality="540p",
            aspect_ratio="16:9",
        )
    assert info.value.field == "image_references[1].ref_name"
    assert str(info.value).startswith("image_references[1].ref_name must not be empty")


def test_one_error_even_when_many_fields_are_wrong() -> None:
    with pytest.raises(RequestValidationError) as info:
        build(ModifyRequest, prompt=5, quality="8k", seed="1")
    assert info.value.field == "prompt"  # the first field in the API's order
    assert "\n" not in str(info.value)


def test_unknown_field_is_refused() -> None:
    with pytest.raises(RequestValidationError) as info:
        build(UpscaleRequest, source_video_id=1, webhook=3)
    assert info.value.field == "webhook"
    assert "not a field of UpscaleRequest" in str(info.value)


def test_error_message_truncates_huge_inputs() -> None:
    with pytest.raises(RequestValidationError) as info:
        build(ModifyRequest, video_media_id=1, prompt="p", quality="x" * 10_000)
    assert len(str(info.value)) < 200


def test_models_accept_instances_and_dicts_for_items() -> None:
    items = [MultiTransitionItem(img_id=1, duration=2), {"img_id": 2}]
    request = build(MultiTransitionRequest, multi_transition=items, model="v5", quality="540p")
    assert request.to_body()["multi_transition"] == [{"img_id": 1, "duration": 2}, {"img_id": 2}]


def test_request_models_are_frozen() -> None:
    request = build(UpscaleRequest, source_video_id=1)
    with pytest.raises(ValidationError):
        request.source_video_id = 2


def test_direct_construction_raises_pydantic_error() -> None:
    with pytest.raises(ValidationError):
        UpscaleRequest(source_video_id=True)


def test_public_surface() -> None:
    assert types_pkg.__all__ == sorted(types_pkg.__all__)
    public = {
        name
        for name, value in vars(types_pkg).items()
        if not name.startswith("_")
        and (
            getattr(value, "__module__", "").startswith("pixverse_async.types")
            or typing.get_origin(value) is typing.Literal  # the value aliases (Quality, ...)
        )
    }
    assert public == set(types_pkg.__all__)
    for name in types_pkg.__all__:
        value = getattr(types_pkg, name)
        if (
            isinstance(value, type)
            and issubclass(value, RequestModel)
            and value is not RequestModel
        ):
            assert value.model_config.get("extra") == "forbid"
            assert value.model_config.get("strict") is True
        if isinstance(value, type) and issubclass(value, ResponseModel):
            assert value.model_config.get("extra") == "ignore"
