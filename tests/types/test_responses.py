"""Response models: lenient out (unknown fields ignored), the documented spellings, statuses."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pixverse_async.types import (
    Balance,
    ImageJobCreated,
    ImageResult,
    MaskSelectionResult,
    RestyleEffect,
    TtsSpeakerPage,
    UploadedImage,
    UploadedMedia,
    VideoJobCreated,
    VideoResult,
    VideoStatus,
)

BIG = 2**53 + 1  # not representable as a float: must not go through one


@pytest.mark.parametrize(
    ("resp", "credits"),
    [
        ({"video_id": BIG, "credits": 80}, 80),
        ({"video_id": BIG, "credit": 10}, 10),  # guide examples (decision 6)
        ({"video_id": BIG, "credits": None, "credit": 10}, 10),
        ({"video_id": BIG}, None),  # older endpoints: the charge is unknown
        ({"video_id": BIG, "credits": 5, "credit": 9}, 5),  # credits wins
    ],
)
def test_job_created_reads_credits_then_credit(resp: dict[str, object], credits: int) -> None:
    created = VideoJobCreated.model_validate(resp)
    assert created.video_id == BIG
    assert created.credits == credits


def test_image_job_created() -> None:
    created = ImageJobCreated.model_validate_json(json.dumps({"image_id": BIG, "credit": 10}))
    assert (created.image_id, created.credits) == (BIG, 10)


def test_video_result_full_answer() -> None:
    text = json.dumps(
        {
            "id": BIG,
            "status": 1,
            "url": "https://cdn/v.mp4",
            "prompt": "p",
            "negative_prompt": "",
            "style": "",
            "seed": 7,
            "resolution_ratio": 720,
            "outputWidth": 1280,
            "outputHeight": 720,
            "size": 800000,
            "has_audio": True,
            "create_time": "2025-01-01T00:00:00Z",
            "modify_time": "2025-01-01T00:01:00Z",
            "brand_new_field": {"nested": [1]},
        }
    )
    result = VideoResult.model_validate_json(text)
    assert result.id == BIG and type(result.id) is int
    assert (result.output_width, result.output_height) == (1280, 720)
    assert result.size == 800000 and type(result.size) is int
    assert result.has_audio is True and result.seed == 7 and result.resolution_ratio == 720
    assert result.succeeded and result.is_terminal
    assert result.status_enum is VideoStatus.SUCCEEDED
    assert not hasattr(result, "brand_new_field")


def test_video_result_minimal_and_lenient() -> None:
    result = VideoResult.model_validate(
        {"id": 1, "status": 5, "size": 10.5, "create_time": 1700000000, "output_width": 4}
    )
    assert result.size == 10.5  # webhook-style float sizes are accepted
    assert result.create_time == "1700000000"  # opaque: a number is kept as text
    assert result.output_width == 4  # by field name too (populate_by_name)
    assert result.url is None and result.prompt is None
    assert not result.is_terminal and not result.succeeded


def test_video_result_needs_id_and_status() -> None:
    with pytest.raises(ValidationError):
        VideoResult.model_validate({"status": 1})
    with pytest.raises(ValidationError):
        VideoResult.model_validate({"id": 1})


@pytest.mark.parametrize(
    ("status", "terminal", "succeeded"),
    [(1, True, True), (5, False, False), (6, True, False), (7, True, False), (8, True, False)]
    + [(s, False, False) for s in (0, 2, 3, 4, 9, 10, 99, -1)],
)
def test_status_rule(status: int, terminal: bool, succeeded: bool) -> None:
    """Section 5: 1/6/7/8 are terminal; 5 and every undocumented value mean still running."""
    result = VideoResult.model_validate({"id": 1, "status": status})
    assert result.is_terminal is terminal
    assert result.succeeded is succeeded
    assert VideoStatus.is_terminal_value(status) is terminal
    image = ImageResult.model_validate({"image_id": 1, "status": status})
    assert (image.is_terminal, image.succeeded) == (terminal, succeeded)


def test_video_status_enum() -> None:
    assert [int(s) for s in VideoStatus] == [1, 5, 6, 7, 8]
    assert VideoStatus.of(9) is None
    assert VideoStatus.of(7) is VideoStatus.MODERATED
    assert [s.name for s in VideoStatus if s.terminal] == [
        "SUCCEEDED",
        "DELETED",
        "MODERATED",
        "FAILED",
    ]
    assert VideoResult.model_validate({"id": 1, "status": 3}).status_enum is None


def test_image_result() -> None:
    image = ImageResult.model_validate(
        {
            "image_id": BIG,
            "status": 1,
            "url": "u",
            "prompt": "",
            "prompt_translate": "",
            "seed": 3,
            "template_id": 400001,
            "outputWidth": 1024,
            "outputHeight": 768,
            "credits": 10,
            "customer_paths": {},
            "create_time": "t",
        }
    )
    assert (image.image_id, image.output_width, image.output_height) == (BIG, 1024, 768)
    assert image.customer_paths == {} and image.template_id == 400001 and image.succeeded


def test_uploaded_image_reads_img_url_or_url() -> None:
    assert UploadedImage.model_validate({"img_id": BIG, "img_url": "a"}).img_url == "a"
    assert UploadedImage.model_validate({"img_id": BIG, "url": "b"}).img_url == "b"
    assert UploadedImage.model_validate({"img_id": BIG}).img_url is None


def test_uploaded_media() -> None:
    media = UploadedMedia.model_validate(
        {"media_id": BIG, "media_type": "video", "url": "u", "x": 1}
    )
    assert (media.media_id, media.media_type, media.url) == (BIG, "video", "u")


def test_balance_total() -> None:
    balance = Balance.model_validate(
        {"account_id": 123452341, "credit_monthly": 1069020, "credit_package": 3630}
    )
    assert balance.total == 1069020 + 3630


def test_mask_selection_result() -> None:
    result = MaskSelectionResult.model_validate(
        {
            "keyframe_id": 1,
            "keyframe_url": "k",
            "credits": 2,
            "mask_info": [
                {"mask_id": "3847593904", "mask_name": "person", "mask_url": "m"},
                {"mask_id": 3847593905, "mask_name": "object", "mask_url": "n"},
            ],
        }
    )
    assert [m.mask_id for m in result.mask_info] == ["3847593904", "3847593905"]
    assert result.credits == 2 and result.keyframe_id == 1


def test_tts_page_and_restyle_effect() -> None:
    page = TtsSpeakerPage.model_validate(
        {"total": 15, "data": [{"speaker_id": "1", "name": "Emily"}, {"speaker_id": 2}]}
    )
    assert page.total == 15 and [s.speaker_id for s in page.data] == ["1", "2"]
    effect = RestyleEffect.model_validate(
        {"restyle_id": 1001, "restyle_name": "Anime", "restyle_prompt": "p", "cover_url": ""}
    )
    assert effect.restyle_id == 1001 and effect.restyle_name == "Anime"


def test_responses_are_frozen() -> None:
    result = VideoResult.model_validate({"id": 1, "status": 5})
    with pytest.raises(ValidationError):
        result.status = 1
