"""Modify in depth: reference 4.16 and Project decision 9, over real sockets.

Video source XOR, prompt references (``@selectionN`` / ``@imgN``: accepted even when they
point past the masks or images given, as the page says such a result "may not match your
expectations", not that it is refused), mask lists, images (up to 3 per selection), keyframes
(``keyframe_id`` and/or ``keyframe_ids``, both remembered), mask URLs, seed and quality
ranges, the ``credit`` spelling of the answer, and the price (8 / 10 / 12 credits per source
second, rounded up; reference 11.5 and 11.7). Generic source errors (unknown, deleted, wrong
type) for modify are covered by ``test_generation.py`` with every other video-to-video endpoint.
"""

from __future__ import annotations

from typing import Any

import pytest

from ..conftest import Raw
from .test_generation import (
    DROP,
    MODIFY,
    MODIFY_BASE,
    SEED_MAX,
    UNKNOWN_ID,
    Ref,
    World,
    accepted,
    edit,
    rejected,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def world(raw: Raw) -> World:
    return World(raw)


def m(*indexes: int, of: str = "masks") -> list[Ref]:
    """Mask ids from a mask selection (``masks``: the upload at keyframe 1)."""
    return [Ref(of, i) for i in indexes]


IMGS = [Ref("img"), Ref("img2"), Ref("tall")]
NINE = [*IMGS, *IMGS, *IMGS]
URLS = ["https://masks.example/0.png", "http://masks.example/1.png", "https://masks.example/2"]


# ---------------------------------------------------------------------------------------------
# price and output (11.5, 11.7)


@pytest.mark.parametrize(
    ("seconds", "size", "quality", "credits", "output"),
    [
        (7.2, (1280, 720), "540p", 80, (960, 540)),  # 11.7: ceil(7.2) = 8 s x 10
        (5.0, (1280, 720), "360p", 40, (640, 360)),  # 5 s x 8
        (1.5, (1280, 720), "720p", 24, (1280, 720)),  # ceil(1.5) = 2 s x 12
        (30.0, (720, 1280), "720p", 360, (720, 1280)),  # 30 s x 12, portrait source
        (4.01, (1920, 1080), "540p", 50, (960, 540)),  # ceil(4.01) = 5 s x 10
    ],
)
async def test_modify_price_and_output(
    raw: Raw,
    seconds: float,
    size: tuple[int, int],
    quality: str,
    credits: int,
    output: tuple[int, int],
) -> None:
    media = await raw.upload_video(seconds, *size)
    body = {"video_media_id": media, "prompt": "make it snow", "quality": quality, "seed": 1234}
    done = await accepted(raw, MODIFY, body, credits)
    assert (done["outputWidth"], done["outputHeight"]) == output
    assert done["resolution_ratio"] == int(quality[:-1])
    assert (done["prompt"], done["seed"]) == ("make it snow", 1234)
    assert done["has_audio"] is False
    final = await raw.wait(done["id"])
    assert final["status"] == 1 and final["url"]


async def test_modify_a_finished_job_with_its_masks(raw: Raw, world: World) -> None:
    body = await world.resolve(
        {
            "source_video_id": Ref("job"),  # 3 s, 360p
            "prompt": "@selection0 subject is swapped with @img0",
            "img_ids": [Ref("img")],
            "mask_ids": m(0, of="job_masks"),
            "keyframe_id": 1,
            "quality": "360p",
        }
    )
    done = await accepted(raw, MODIFY, body, 24)  # 3 s x 8
    assert (done["outputWidth"], done["outputHeight"]) == (640, 360)


@pytest.mark.parametrize("seed", [0, SEED_MAX])
async def test_seed_bounds_are_accepted_and_echoed(raw: Raw, world: World, seed: int) -> None:
    done = await accepted(raw, MODIFY, await world.resolve(edit(MODIFY_BASE, seed=seed)), 50)
    assert done["seed"] == seed


# ---------------------------------------------------------------------------------------------
# accepted shapes (4.16 rules)


ACCEPTED = [
    (
        "guide-example-single-swap",
        {
            "prompt": "@selection0 subject is swapped with @img0",
            "img_ids": [Ref("img"), Ref("img")],
            "mask_ids": m(0),
            "keyframe_ids": 1,
        },
    ),
    ("selection2-with-three-masks", {"prompt": "remove @selection2", "mask_ids": m(0, 1, 2)}),
    ("selection1-with-two-mask-urls", {"prompt": "recolor @selection1", "mask_urls": URLS[:2]}),
    ("selection2-with-three-mask-urls", {"prompt": "erase @selection2", "mask_urls": URLS}),
    ("img2-with-three-images", {"prompt": "add @img2 to the scene", "img_ids": IMGS}),
    ("ima0-typo-is-plain-text", {"prompt": "put @ima0 on the table"}),
    ("bare-tokens-are-plain-text", {"prompt": "email me @selection or @img please"}),
    (
        "unreferenced-masks-and-images",
        {"prompt": "make it snow", "mask_ids": m(0, 1, 2), "img_ids": IMGS},
    ),
    ("three-selections", {"prompt": "@selection0 @selection1 @selection2", "mask_ids": m(2, 1, 0)}),
    ("keyframe-id-matches", {"prompt": "@selection0 glows", "mask_ids": m(0), "keyframe_id": 1}),
    ("keyframe-ids-list", {"prompt": "@selection0 glows", "mask_ids": m(0), "keyframe_ids": [1]}),
    (
        "keyframe-id-and-ids-agree",
        {"prompt": "@selection0 glows", "mask_ids": m(0), "keyframe_id": 1, "keyframe_ids": [1]},
    ),
    (
        "keyframe-2-masks",
        {"prompt": "@selection1 glows", "mask_ids": m(0, 1, of="masks_kf2"), "keyframe_ids": 2},
    ),
    ("keyframe-without-masks", {"prompt": "make it rain", "keyframe_id": 7}),
    (
        "keyframe-with-mask-urls",
        {"prompt": "@selection0 glows", "mask_urls": URLS[:1], "keyframe_id": 3},
    ),
    ("mask-ids-without-keyframe", {"prompt": "@selection0 glows", "mask_ids": m(0)}),
    ("prompt-5000-chars", {"prompt": "s" * 5000}),
    ("quality-720p-and-webhook-null", {"quality": "720p", "webhook_id": None}),
    # images: up to 3 per selection (4.16), up to 9 without masks (the wider reading)
    (
        "three-images-one-mask",
        {"prompt": "@selection0 is @img2", "mask_ids": m(0), "img_ids": IMGS},
    ),
    (
        "six-images-two-masks",
        {"prompt": "@img5 @selection1", "mask_ids": m(0, 1), "img_ids": IMGS * 2},
    ),
    ("nine-images-three-urls", {"prompt": "@img8 @selection2", "mask_urls": URLS, "img_ids": NINE}),
    ("four-images-no-masks", {"prompt": "add @img3", "img_ids": [*IMGS, Ref("img")]}),
    ("nine-images-no-masks", {"prompt": "add @img8", "img_ids": NINE}),
    # references past the masks or images given: the page does not refuse them (4.16)
    ("selection1-with-one-mask", {"prompt": "@selection1 glows", "mask_ids": m(0)}),
    ("selection0-without-masks", {"prompt": "@selection0 glows"}),
    ("selection3-with-three-urls", {"prompt": "@selection3 glows", "mask_urls": URLS}),
    ("img1-with-one-image", {"prompt": "add @img1", "img_ids": [Ref("img")]}),
    ("img0-without-images", {"prompt": "add @img0", "mask_ids": m(0)}),
    ("img10-with-three-images", {"prompt": "add @img10", "img_ids": IMGS}),
    (
        "selection-counts-masks-not-images",
        {"prompt": "@selection1 becomes @img1", "mask_ids": m(0), "img_ids": IMGS[:2]},
    ),
]


@pytest.mark.parametrize("changes", [c[1] for c in ACCEPTED], ids=[c[0] for c in ACCEPTED])
async def test_modify_accepts(raw: Raw, world: World, changes: dict[str, Any]) -> None:
    body = await world.resolve(edit(MODIFY_BASE, **changes))
    credits = 60 if body["quality"] == "720p" else 50  # 5 s x 12 / x 10
    done = await accepted(raw, MODIFY, body, credits)
    assert done["prompt"] == body["prompt"]


async def test_mask_url_scheme_is_case_insensitive(raw: Raw, world: World) -> None:
    body = edit(MODIFY_BASE, prompt="@selection0 fades", mask_urls=["HTTPS://Masks.Example/m.png"])
    await accepted(raw, MODIFY, await world.resolve(body), 50)


# ---------------------------------------------------------------------------------------------
# rejected shapes: 400017 naming the field, 400018, 400013, 400032


REJECTED = [
    # id, changes, ErrCode, fields named in ErrMsg
    # video source XOR
    ("no-source", {"video_media_id": DROP}, 400017, ("source_video_id", "video_media_id")),
    (
        "both-sources",
        {"source_video_id": Ref("job")},
        400017,
        ("source_video_id", "video_media_id"),
    ),
    ("webm-source", {"video_media_id": Ref("webm")}, 400017, ("video_media_id",)),
    # lists
    (
        "mask-ids-and-urls",
        {"mask_ids": m(0), "mask_urls": URLS[:1]},
        400017,
        ("mask_ids", "mask_urls"),
    ),
    ("empty-img-ids", {"img_ids": []}, 400017, ("img_ids",)),
    ("empty-mask-ids", {"mask_ids": []}, 400017, ("mask_ids",)),
    ("empty-mask-urls", {"mask_urls": []}, 400017, ("mask_urls",)),
    ("ten-img-ids", {"img_ids": [*NINE, Ref("img")]}, 400017, ("img_ids",)),
    (
        "four-img-ids-one-mask",
        {"mask_ids": m(0), "img_ids": [*IMGS, Ref("img")]},
        400017,
        ("img_ids",),
    ),
    (
        "seven-img-ids-two-urls",
        {"mask_urls": URLS[:2], "img_ids": [*IMGS, *IMGS, Ref("img")]},
        400017,
        ("img_ids",),
    ),
    ("four-mask-ids", {"mask_ids": m(0, 1, 2, 0)}, 400017, ("mask_ids",)),
    ("four-mask-urls", {"mask_urls": [*URLS, URLS[0]]}, 400017, ("mask_urls",)),
    # masks: same video, known, matching keyframe
    ("unknown-mask", {"mask_ids": ["424242"]}, 400017, ("mask_ids",)),
    ("mask-of-another-upload", {"mask_ids": m(0, of="masks_other")}, 400017, ("mask_ids",)),
    (
        "upload-mask-on-a-job",
        {"video_media_id": DROP, "source_video_id": Ref("job"), "mask_ids": m(0)},
        400017,
        ("mask_ids",),
    ),
    ("job-mask-on-the-upload", {"mask_ids": m(0, of="job_masks")}, 400017, ("mask_ids",)),
    (
        "one-foreign-mask-of-two",
        {"mask_ids": [Ref("masks", 0), Ref("masks_other", 1)]},
        400017,
        ("mask_ids",),
    ),
    ("keyframe-id-mismatch", {"mask_ids": m(0), "keyframe_id": 2}, 400017, ("keyframe_id",)),
    ("keyframe-ids-mismatch", {"mask_ids": m(0), "keyframe_ids": [2]}, 400017, ("keyframe",)),
    (
        "kf2-masks-keyframe-1",
        {"mask_ids": m(0, of="masks_kf2"), "keyframe_id": 1},
        400017,
        ("keyframe_id",),
    ),
    (
        "keyframe-id-and-ids-differ",
        {"keyframe_id": 1, "keyframe_ids": 2},
        400017,
        ("keyframe_id", "keyframe_ids"),
    ),
    (
        "keyframe-id-and-ids-list-differ",
        {"keyframe_id": 1, "keyframe_ids": [2]},
        400017,
        ("keyframe_id", "keyframe_ids"),
    ),
    ("keyframe-ids-two-values", {"keyframe_ids": [1, 2]}, 400017, ("keyframe_ids",)),
    ("keyframe-ids-empty", {"keyframe_ids": []}, 400017, ("keyframe_ids",)),
    # mask URLs must be http(s)
    ("mask-url-ftp", {"mask_urls": ["ftp://masks.example/0.png"]}, 400017, ("mask_urls",)),
    ("mask-url-path", {"mask_urls": ["/tmp/mask.png"]}, 400017, ("mask_urls",)),
    ("mask-url-no-scheme", {"mask_urls": ["masks.example/0.png"]}, 400017, ("mask_urls",)),
    (
        "mask-url-data",
        {"mask_urls": [URLS[0], "data:image/png;base64,AAAA"]},
        400017,
        ("mask_urls",),
    ),
    # seed, quality, prompt
    ("seed-negative", {"seed": -1}, 400017, ("seed",)),
    ("seed-too-big", {"seed": SEED_MAX + 1}, 400017, ("seed",)),
    ("quality-1080p", {"quality": "1080p"}, 400017, ("quality",)),
    ("quality-480p", {"quality": "480p"}, 400017, ("quality",)),
    ("quality-missing", {"quality": DROP}, 400017, ("quality",)),
    ("prompt-missing", {"prompt": DROP}, 400017, ("prompt",)),
    ("prompt-empty", {"prompt": ""}, 400017, ("prompt",)),
    ("prompt-5001", {"prompt": "s" * 5001}, 400018, ("prompt",)),
    ("unknown-webhook", {"webhook_id": UNKNOWN_ID}, 400017, ("webhook_id",)),
    # wrong JSON types (1.3)
    ("keyframe-ids-quoted", {"keyframe_ids": "1"}, 400013, ("keyframe_ids",)),
    ("keyframe-ids-float-item", {"keyframe_ids": [1.0]}, 400013, ("keyframe_ids",)),
    ("keyframe-ids-bool", {"keyframe_ids": True}, 400013, ("keyframe_ids",)),
    ("keyframe-id-quoted", {"keyframe_id": "1"}, 400013, ("keyframe_id",)),
    ("img-ids-quoted-item", {"img_ids": [Ref("img", quoted=True)]}, 400013, ("img_ids",)),
    ("mask-ids-not-a-list", {"mask_ids": Ref("masks", 0)}, 400013, ("mask_ids",)),
    ("seed-float", {"seed": 1.0}, 400013, ("seed",)),
    # images
    ("unknown-image", {"img_ids": [Ref("img"), UNKNOWN_ID]}, 400032, ("img_ids",)),
    ("video-as-image", {"img_ids": [Ref("video")]}, 400032, ("img_ids",)),
]


@pytest.mark.parametrize(
    ("changes", "code", "fields"),
    [c[1:] for c in REJECTED],
    ids=[c[0] for c in REJECTED],
)
async def test_modify_rejects(
    raw: Raw, world: World, changes: dict[str, Any], code: int, fields: tuple[str, ...]
) -> None:
    body = await world.resolve(edit(MODIFY_BASE, **changes))
    await rejected(raw, MODIFY, body, code, *fields)


async def test_modify_of_a_deleted_job_is_500064(raw: Raw, world: World) -> None:
    body = await world.resolve(
        edit(MODIFY_BASE, video_media_id=DROP, source_video_id=Ref("deleted"))
    )
    await rejected(raw, MODIFY, body, 500064)


# ---------------------------------------------------------------------------------------------
# the keyframe's two names (4.16) and the answer's "credit" spelling


@pytest.mark.parametrize(
    ("given", "names"),
    [
        ({"keyframe_id": 1}, ("keyframe_id",)),
        ({"keyframe_ids": 1}, ("keyframe_ids",)),
        ({"keyframe_ids": [1]}, ("keyframe_ids",)),
        ({"keyframe_id": 1, "keyframe_ids": 1}, ("keyframe_id", "keyframe_ids")),
        ({"keyframe_id": None, "keyframe_ids": [1]}, ("keyframe_ids",)),
        ({}, ()),
    ],
)
async def test_the_keyframe_names_received_are_remembered(
    raw: Raw, world: World, given: dict[str, Any], names: tuple[str, ...]
) -> None:
    body = await world.resolve(edit(MODIFY_BASE, prompt="@selection0 glows", mask_ids=m(0)))
    resp = await raw.ok(MODIFY, {**body, **given})
    assert raw.emu.state.jobs[resp["video_id"]].keyframe_fields == names
    counted = (await raw.stats())["modify_keyframe_fields"]
    assert counted == dict.fromkeys(names, 1)


async def test_a_refused_modify_counts_no_keyframe_name(raw: Raw, world: World) -> None:
    body = await world.resolve(edit(MODIFY_BASE, keyframe_id=1, keyframe_ids=2))
    await rejected(raw, MODIFY, body, 400017, "keyframe_ids")
    assert (await raw.stats())["modify_keyframe_fields"] == {}


async def test_the_modify_answer_carries_credit_and_credits(raw: Raw, world: World) -> None:
    resp = await raw.ok(MODIFY, await world.resolve(MODIFY_BASE))
    assert resp["credit"] == resp["credits"] == 50  # the page's spelling, and the usual one
    other = await raw.ok("/video/upscale/generate", {"video_media_id": await world.get("video")})
    assert "credit" not in other and other["credits"] == 25
