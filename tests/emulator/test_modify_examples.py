"""The Modify page's request examples, sent as printed once their ids are real (issue 12).

Reference 4.16 quotes one of the page's examples verbatim: the single swap, which spells the
keyframe ``keyframe_ids``. The reference does not reproduce the page's other six examples, and
their text could not be found, so rows 2-7 of the page's feature table (multi swap, smart add,
remove, type anything, text replacement, restyle) are covered by stand-ins shaped after those
rows, in the page's placeholder style. They are marked as stand-ins below: replace each with the
page's own text when it is at hand. The sixth stand-in puts quotes inside its prompt, which the
page prints unescaped (not JSON): its corrected form, with the quotes escaped, is the one sent.

Each example goes through the page's own flow (upload -> mask selection -> modify): the
placeholders (video ``1234``, images ``123``/``124``, masks ``"3847593904"``/``"3847593905"``)
are replaced by real ids in the printed JSON text, every other byte left as printed, and the
text is POSTed raw. Then the same body goes through ``client.video.modify(**body)``. None of the
examples references a mask or image that was not given, so the SDK's one deliberate difference
from the emulator (it refuses such a reference before sending, reference 4.16) never applies
here; ``tests/sdk/test_modify_fidelity.py`` covers that difference.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from pixverse_async import AsyncPixVerse, PollPolicy
from pixverse_async.emulator import Emulator

from ..conftest import Raw

pytestmark = pytest.mark.anyio

MODIFY = "/video/modify/generate"
FAST_POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=8)
#: every example runs on a 5 s upload at 540p: 5 s x 10 credits (reference 11.5)
CREDITS = 50


@dataclass(frozen=True)
class Example:
    """One Modify request example: its JSON text with the page's placeholder ids."""

    name: str
    text: str
    verbatim: bool
    """Whether ``text`` is the page's own (False: a stand-in shaped after a feature row)."""


EXAMPLES = [
    Example(
        "1-single-swap",
        # reference 4.16, verbatim ("Guide example (single swap)")
        '{"video_media_id":1234,"prompt":"@selection0 subject is swapped with @img0",'
        '"img_ids":[123,123],"mask_ids":["3847593904"],"keyframe_ids":1,"quality":"540p"}',
        verbatim=True,
    ),
    Example(
        "1-single-swap-api-copy",
        # the same example as the Chinese API-reference copy prints it: one image
        """{
  "video_media_id": 1234,
  "prompt": "@selection0 subject is swapped with @img0",
  "img_ids": [
    123
  ],
  "mask_ids": [
    "3847593904"
  ],
  "keyframe_ids": 1,
  "quality": "540p"
}""",
        verbatim=True,
    ),
    Example(
        "2-multi-swap",
        # stand-in: "Multi mode: up to 3 selection areas, up to 3 images for each subject";
        # the issue says both swap examples send "keyframe_ids": 1
        '{"video_media_id":1234,"prompt":"@selection0 subject is swapped with @img0, '
        '@selection1 subject is swapped with @img1","img_ids":[123,124],'
        '"mask_ids":["3847593904","3847593905"],"keyframe_ids":1,"quality":"540p"}',
        verbatim=False,
    ),
    Example(
        "3-smart-add",
        # stand-in: "1 selection area (optional) and 1 reference image (optional)"
        '{"video_media_id":1234,"prompt":"add @img0 into the hands of @selection0",'
        '"img_ids":[123],"mask_ids":["3847593904"],"quality":"540p"}',
        verbatim=False,
    ),
    Example(
        "4-remove",
        # stand-in: "Remove: intelligently fills the background after removal"
        '{"video_media_id":1234,"prompt":"remove @selection0",'
        '"mask_ids":["3847593904"],"quality":"540p"}',
        verbatim=False,
    ),
    Example(
        "5-type-anything",
        # stand-in: "changing lighting, season, weather, and other scene attributes"
        '{"video_media_id":1234,"prompt":"turn the season to winter with heavy snowfall",'
        '"quality":"540p"}',
        verbatim=False,
    ),
    Example(
        "6-text-replacement",
        # stand-in, corrected form: the quotes inside the prompt escaped
        r'{"video_media_id":1234,"prompt":"replace the text \"OPEN\" on the sign with '
        r'\"CLOSED\"","quality":"540p"}',
        verbatim=False,
    ),
    Example(
        "7-restyle",
        # stand-in: "Supports 3D, 2D, comic, ink painting, and other styles"
        '{"video_media_id":1234,"prompt":"restyle the whole video as an ink painting",'
        '"quality":"540p"}',
        verbatim=False,
    ),
]

#: the sixth stand-in as the page prints such a prompt: quotes unescaped, so not JSON
SIXTH_AS_PRINTED = (
    '{"video_media_id":1234,"prompt":"replace the text "OPEN" on the sign with "CLOSED"",'
    '"quality":"540p"}'
)

#: placeholder id -> the name of the real resource that replaces it
PLACEHOLDERS: dict[str, str] = {
    "1234": "video",
    "123": "img0",
    "124": "img1",
    '"3847593904"': "mask0",
    '"3847593905"': "mask1",
}
#: a placeholder only where a whole JSON value stands (never inside a longer number or a prompt)
_PLACEHOLDER = re.compile(r'(?<=[:\[,\s])(1234|123|124|"3847593904"|"3847593905")(?=[\],}\s])')


def with_real_ids(text: str, ids: dict[str, int | str]) -> str:
    """``text`` with each placeholder id replaced by the real one; nothing else changes."""
    return _PLACEHOLDER.sub(lambda m: json.dumps(ids[PLACEHOLDERS[m.group(1)]]), text)


async def page_flow(raw: Raw, printed: dict[str, Any]) -> dict[str, int | str]:
    """Upload a 5 s clip and two stills, and run mask selection at the example's keyframe."""
    video = await raw.upload_video(5.0, 1280, 720)
    ids: dict[str, int | str] = {
        "video": video,
        "img0": await raw.upload_image(640, 360),
        "img1": await raw.upload_image(320, 320, name="second.png"),
    }
    keyframe = printed.get("keyframe_ids", printed.get("keyframe_id"))
    selection: dict[str, Any] = {"video_media_id": video}
    if keyframe is not None:
        selection["keyframe_id"] = keyframe
    masks = await raw.ok("/video/mask/selection", selection)
    for i, mask in enumerate(masks["mask_info"][:2]):
        ids[f"mask{i}"] = mask["mask_id"]
    return ids


#: the Modify fields of reference 4.16 (the examples use no other)
_FIELDS = {
    "source_video_id",
    "video_media_id",
    "prompt",
    "img_ids",
    "mask_ids",
    "mask_urls",
    "keyframe_id",
    "keyframe_ids",
    "quality",
    "seed",
    "webhook_id",
}


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse(emu.api_key, base_url=emu.base_url, poll=FAST_POLL) as c:
        yield c


def test_the_examples_are_json_and_keep_the_page_spellings() -> None:
    bodies = [json.loads(e.text) for e in EXAMPLES]  # the corrected sixth parses
    assert all(set(body) <= _FIELDS for body in bodies)
    assert [e.name for e in EXAMPLES if "keyframe_ids" in json.loads(e.text)] == [
        "1-single-swap",
        "1-single-swap-api-copy",
        "2-multi-swap",
    ]  # the page's spelling, never keyframe_id
    assert sum(e.verbatim for e in EXAMPLES) == 2  # only the single swap is quoted verbatim
    with pytest.raises(json.JSONDecodeError):
        json.loads(SIXTH_AS_PRINTED)


def test_only_the_ids_are_replaced() -> None:
    ids: dict[str, int | str] = {
        "video": 2**53 + 11,
        "img0": 2**53 + 12,
        "img1": 2**53 + 13,
        "mask0": "9007199254740999",
        "mask1": "9007199254741000",
    }
    for example in EXAMPLES:
        printed, sent = json.loads(example.text), json.loads(with_real_ids(example.text, ids))
        assert list(sent) == list(printed)  # same fields, same order
        assert sent["video_media_id"] == ids["video"]
        assert [k for k in printed if printed[k] != sent[k]] == [
            k for k in ("video_media_id", "img_ids", "mask_ids") if k in printed
        ]
        assert sent["prompt"] == printed["prompt"]  # "@img0", "@selection0" untouched


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
async def test_the_emulator_and_the_sdk_accept_the_example(
    raw: Raw, emu: Emulator, client: AsyncPixVerse, example: Example
) -> None:
    printed = json.loads(example.text)
    text = with_real_ids(example.text, await page_flow(raw, printed))
    body = json.loads(text)
    keyframe_names = tuple(k for k in ("keyframe_id", "keyframe_ids") if k in printed)

    # raw: the JSON text as printed, only the ids replaced
    headers = {**raw.headers(), "Content-Type": "application/json"}
    status, doc = await raw.post(MODIFY, data=text.encode(), headers=headers)
    assert status == 200 and doc["ErrCode"] == 0, doc
    resp = doc["Resp"]
    assert type(resp["video_id"]) is int and resp["video_id"] > 0
    assert resp["credit"] == resp["credits"] == CREDITS  # the page's spelling, and the usual
    assert emu.state.jobs[resp["video_id"]].keyframe_fields == keyframe_names
    done = await raw.wait(resp["video_id"])
    assert done["status"] == 1 and done["prompt"] == printed["prompt"]

    # the SDK: the same body as keyword arguments (keyframe_ids accepted as an alias)
    job = await client.video.modify(**body)
    assert job.id != resp["video_id"] and job.credits == CREDITS
    sent = ("keyframe_id", "keyframe_ids") if keyframe_names else ()
    assert emu.state.jobs[job.id].keyframe_fields == sent  # the SDK sends both names
    assert (await job.wait(timeout=10)).status == 1


async def test_the_sixth_as_printed_is_not_json(raw: Raw) -> None:
    """The page's unescaped quotes make a body no server can read: 400013, nothing created."""
    ids = await page_flow(raw, {})
    text = with_real_ids(SIXTH_AS_PRINTED, ids)
    assert str(ids["video"]) in text  # the id was replaced even though the text is not JSON
    before = (await raw.stats())["jobs_created"]
    headers = {**raw.headers(), "Content-Type": "application/json"}
    status, doc = await raw.post(MODIFY, data=text.encode(), headers=headers)
    assert (status, doc["ErrCode"], doc["Resp"]) == (200, 400013, None), doc
    assert (await raw.stats())["jobs_created"] == before
