"""Validation and pricing of every async generation endpoint, over real sockets.

Reference sections 1.3 (encoding), 2 (shared conventions), 4.1-4.19 (endpoints), 8 (the model
matrix), 10 (ErrCodes) and 11 (credits). Every price below is computed by hand from the
reference's section 11 tables (the comment beside each number shows the arithmetic); the
pricing module is never consulted. Every rejected request is checked to create and charge
nothing. Modify has its own file, ``test_generation_modify.py``, which reuses these helpers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    Fixed,
    TemplateConfig,
    make_mp4,
)

from ..conftest import Raw

pytestmark = pytest.mark.anyio

T2V = "/video/text/generate"
I2V = "/video/img/generate"
TRANSITION = "/video/transition/generate"
MULTI = "/video/multi_transition/generate"
FUSION = "/video/fusion/generate"
EXTEND = "/video/extend/generate"
LIP_SYNC = "/video/lip_sync/generate"
SOUND = "/video/sound_effect/generate"
RESTYLE = "/video/restyle/generate"
SWAP = "/video/swap/generate"
MIMIC = "/video/mimic/generate"
MODIFY = "/video/modify/generate"
UPSCALE = "/video/upscale/generate"
IMAGE_TEMPLATE = "/image/template/generate"

#: never issued: the emulator's ids start just above 2**53 and grow by < 1000 per object
UNKNOWN_ID = 2**60 + 12_345
SEED_MAX = 2_147_483_647


# ---------------------------------------------------------------------------------------------
# helpers


@dataclass(frozen=True)
class Ref:
    """A placeholder for an id the test creates first (see :class:`World`).

    ``index`` picks an item of a list-valued resource (mask ids); ``quoted`` / ``as_float``
    send the real id as a JSON string / a JSON float (both 400013, reference 1.3).
    """

    name: str
    index: int | None = None
    quoted: bool = False
    as_float: bool = False

    def __repr__(self) -> str:
        return f"<{self.name}>"


class World:
    """Resources a request refers to, created on first use and cached for the test."""

    def __init__(self, raw: Raw) -> None:
        self.raw = raw
        self._cache: dict[str, Any] = {}

    async def get(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = await getattr(self, f"_make_{name}")()
        return self._cache[name]

    async def resolve(self, value: Any) -> Any:
        """``value`` with every :class:`Ref` replaced by the real id."""
        if isinstance(value, Ref):
            got = await self.get(value.name)
            if value.index is not None:
                got = got[value.index]
            if value.quoted:
                return str(got)
            if value.as_float:
                return float(got)
            return got
        if isinstance(value, dict):
            return {k: await self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [await self.resolve(v) for v in value]
        return value

    # images
    async def _make_img(self) -> int:
        return await self.raw.upload_image(640, 360)

    async def _make_img2(self) -> int:
        return await self.raw.upload_image(320, 320, name="second.png")

    async def _make_tall(self) -> int:
        return await self.raw.upload_image(400, 600, name="tall.png")

    async def _make_flagged(self) -> int:
        return await self.raw.upload_image(name="emulator-flagged.png")

    async def _make_nosubject(self) -> int:
        return await self.raw.upload_image(name="emulator-nosubject.png")

    # videos and audio
    async def _make_video(self) -> int:
        return await self.raw.upload_video(5.0, 1280, 720)

    async def _make_video2(self) -> int:
        return await self.raw.upload_video(6.0, 1280, 720, name="other.mp4")

    async def _make_noperson(self) -> int:
        return await self.raw.upload_video(5.0, name="emulator-noperson.mp4")

    async def _make_long(self) -> int:
        return await self.raw.upload_video(16.5, 1280, 720, name="long.mp4")

    async def _make_webm(self) -> int:
        form = aiohttp.FormData()
        form.add_field(
            "file",
            make_mp4(5.0, 1280, 720, size=20_000),
            filename="clip.webm",
            content_type="video/webm",
        )
        return int((await self.raw.ok("/media/upload", data=form))["media_id"])

    async def _make_audio(self) -> int:
        return await self.raw.upload_audio(3.0)

    # PixVerse-made sources
    async def _make_job(self) -> int:
        """A finished 3 s 360p 16:9 video (v6 silent: 3 x 5 = 15 credits)."""
        body = {**T2V_BASE, "model": "v6", "duration": 3, "quality": "360p"}
        video_id = int((await self.raw.ok(T2V, body))["video_id"])
        assert (await self.raw.wait(video_id))["status"] == 1
        return video_id

    async def _make_running(self) -> int:
        return int((await self.raw.ok(T2V, {**T2V_BASE, "prompt": "[emulator:stuck]"}))["video_id"])

    async def _make_failed(self) -> int:
        video_id = int(
            (await self.raw.ok(T2V, {**T2V_BASE, "prompt": "[emulator:fail]"}))["video_id"]
        )
        assert (await self.raw.wait(video_id))["status"] == 8
        return video_id

    async def _make_deleted(self) -> int:
        video_id = int((await self.raw.ok(T2V, T2V_BASE))["video_id"])
        assert (await self.raw.wait(video_id))["status"] == 1
        await force_status(self.raw, video_id, 6)
        return video_id

    # masks (reference 4.13): three mask ids per selection
    async def _select(self, source: dict[str, Any], keyframe: int = 1) -> list[str]:
        resp = await self.raw.ok("/video/mask/selection", {**source, "keyframe_id": keyframe})
        assert resp["keyframe_id"] == keyframe
        return [m["mask_id"] for m in resp["mask_info"]]

    async def _make_masks(self) -> list[str]:
        return await self._select({"video_media_id": await self.get("video")})

    async def _make_masks_kf2(self) -> list[str]:
        return await self._select({"video_media_id": await self.get("video")}, 2)

    async def _make_masks_other(self) -> list[str]:
        return await self._select({"video_media_id": await self.get("video2")})

    async def _make_job_masks(self) -> list[str]:
        return await self._select({"source_video_id": await self.get("job")})


@pytest.fixture
def world(raw: Raw) -> World:
    return World(raw)


async def force_status(raw: Raw, video_id: int, status: int) -> None:
    url = f"{raw.emu.origin}/_emulator/jobs/{video_id}"
    async with raw.session.post(url, json={"status": status}) as r:
        assert r.status == 200, await r.text()


async def accepted(raw: Raw, path: str, body: dict[str, Any], credits: int) -> dict[str, Any]:
    """POST ``body``; assert it is charged exactly ``credits``; return the status GET."""
    before = sum(await raw.balance())
    charged = (await raw.stats())["credits_charged"]
    resp = await raw.ok(path, body)
    image = path == IMAGE_TEMPLATE
    job_id = resp["image_id" if image else "video_id"]
    assert type(job_id) is int and 2**53 < job_id < 2**63
    assert resp["credits"] == credits, resp
    assert before - sum(await raw.balance()) == credits
    assert (await raw.stats())["credits_charged"] - charged == credits
    return await raw.result(job_id, image=image)


async def rejected(
    raw: Raw, path: str, body: Any, code: int, *fields: str, data: bytes | None = None
) -> str:
    """POST ``body``; assert ErrCode ``code`` naming ``fields``, and that nothing changed."""
    before = await raw.stats()
    balance = await raw.balance()
    status, doc = await raw.post(path, body, data=data)
    assert status == 200, doc
    assert doc["ErrCode"] == code, doc
    assert doc["Resp"] is None
    for name in fields:
        assert name in doc["ErrMsg"], doc
    after = await raw.stats()
    assert after["jobs_created"] == before["jobs_created"]
    assert after["credits_charged"] == before["credits_charged"]
    assert await raw.balance() == balance
    return str(doc["ErrMsg"])


DROP = object()


def edit(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``base`` with ``changes`` applied (``DROP`` removes a key)."""
    out = dict(base)
    for key, value in changes.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


# Valid bodies, one per endpoint; every error case below changes one thing in one of them.
T2V_BASE: dict[str, Any] = {
    "prompt": "a red fox runs through fresh snow",
    "model": "v5",
    "duration": 5,
    "quality": "540p",
    "aspect_ratio": "16:9",
}
I2V_BASE: dict[str, Any] = {
    "prompt": "the picture comes alive",
    "model": "v5",
    "duration": 5,
    "quality": "540p",
    "img_id": Ref("img"),
}
TRANSITION_BASE: dict[str, Any] = {
    "prompt": "morph from one to the other",
    "model": "v5",
    "duration": 5,
    "quality": "540p",
    "first_frame_img": Ref("img"),
    "last_frame_img": Ref("img2"),
}
MULTI_BASE: dict[str, Any] = {
    "model": "v5",
    "quality": "540p",
    "multi_transition": [{"img_id": Ref("img"), "duration": 3}, {"img_id": Ref("img2")}],
}
FUSION_BASE: dict[str, Any] = {
    "prompt": "@dog runs around @room all day",
    "model": "v5",
    "duration": 5,
    "quality": "540p",
    "aspect_ratio": "16:9",
    "image_references": [
        {"type": "subject", "img_id": Ref("img"), "ref_name": "dog"},
        {"type": "background", "img_id": Ref("img2"), "ref_name": "room"},
    ],
}
EXTEND_BASE: dict[str, Any] = {
    "video_media_id": Ref("video"),
    "prompt": "the camera keeps moving",
    "model": "v5",
    "duration": 5,
    "quality": "540p",
    "seed": 42,
}
LIP_SYNC_BASE: dict[str, Any] = {"video_media_id": Ref("video"), "audio_media_id": Ref("audio")}
SOUND_BASE: dict[str, Any] = {"video_media_id": Ref("video")}
RESTYLE_BASE: dict[str, Any] = {"video_media_id": Ref("video"), "restyle_id": 1001}
SWAP_BASE: dict[str, Any] = {
    "video_media_id": Ref("video"),
    "keyframe_id": 1,
    "mask_id": Ref("masks", 0),
    "img_id": Ref("img"),
    "quality": "540p",
}
MIMIC_BASE: dict[str, Any] = {
    "video_media_id": Ref("video"),
    "img_id": Ref("img"),
    "quality": "540p",
}
MODIFY_BASE: dict[str, Any] = {
    "video_media_id": Ref("video"),
    "prompt": "make it snow",
    "quality": "540p",
}
UPSCALE_BASE: dict[str, Any] = {"video_media_id": Ref("video")}
IMAGE_TEMPLATE_BASE: dict[str, Any] = {"template_id": 400_001, "img_ids": [Ref("img")]}

# (path, base body, credits): the base bodies' prices, by hand from section 11
BASES: dict[str, tuple[str, dict[str, Any], int]] = {
    "t2v": (T2V, T2V_BASE, 45),  # 11.1: v5 540p 5 s
    "i2v": (I2V, I2V_BASE, 45),  # 11.1: v5 540p 5 s
    "transition": (TRANSITION, TRANSITION_BASE, 45),  # 11.1: v5 540p 5 s
    "multi_transition": (MULTI, MULTI_BASE, 27),  # 11.5: 3 s x 9 /s at 540p
    "fusion": (FUSION, FUSION_BASE, 45),  # 11.1: v5 540p 5 s
    "extend": (EXTEND, EXTEND_BASE, 45),  # 11.1: v5 540p 5 s (the added duration)
    "lip_sync": (LIP_SYNC, LIP_SYNC_BASE, 12),  # 11.5: 3 s of audio x 4
    "sound_effect": (SOUND, SOUND_BASE, 10),  # 11.5: 5 source s x 2
    "restyle": (RESTYLE, RESTYLE_BASE, 50),  # 11.5: 5 source s x 10
    "swap": (SWAP, SWAP_BASE, 50),  # 11.5: 5 source s x 10 at 540p
    "mimic": (MIMIC, MIMIC_BASE, 50),  # 11.5: 5 source s x 10 at 540p
    "modify": (MODIFY, MODIFY_BASE, 50),  # 11.5: 5 source s x 10 at 540p
    "upscale": (UPSCALE, UPSCALE_BASE, 25),  # 11.5: 5 source s x 5
    "image_template": (IMAGE_TEMPLATE, IMAGE_TEMPLATE_BASE, 10),  # 11.5: flat 10
}
WEBHOOK_CAPABLE = [name for name in BASES if name != "image_template"]
VIDEO_SOURCE = [
    "extend",
    "lip_sync",
    "sound_effect",
    "restyle",
    "swap",
    "mimic",
    "modify",
    "upscale",
]


@pytest.mark.parametrize("name", list(BASES))
async def test_every_base_body_is_accepted_and_charged(raw: Raw, world: World, name: str) -> None:
    path, base, credits = BASES[name]
    # unknown fields are ignored (reference 1.3)
    body = await world.resolve({**base, "x_unknown_field": {"nested": [1.5, "x"]}})
    done = await accepted(raw, path, body, credits)
    final = await raw.wait(
        done["image_id" if path == IMAGE_TEMPLATE else "id"], image=path == IMAGE_TEMPLATE
    )
    assert final["status"] == 1 and final["url"]


# ---------------------------------------------------------------------------------------------
# 4.1 text-to-video: prices (11.1-11.4, 11.6), dimensions (4.18) and the model matrix (8.2)

T2V_PRICES = [
    # id, changes, credits, (outputWidth, outputHeight), has_audio
    ("v5-540p-5s", {}, 45, (960, 540), False),  # 11.1
    ("v5-540p-8s", {"duration": 8}, 90, (960, 540), False),  # 11.7 worked example
    ("v5-360p-5s", {"quality": "360p"}, 45, (640, 360), False),  # 11.1
    ("v5-1080p-8s", {"quality": "1080p", "duration": 8}, 240, (1920, 1080), False),  # 11.1
    (
        "v3.5-360p-fast-anime",
        {"model": "v3.5", "quality": "360p", "motion_mode": "fast", "style": "anime"},
        90,  # 11.1: 5 s fast at 360p
        (640, 360),
        False,
    ),
    ("v3.5-720p-8s", {"model": "v3.5", "quality": "720p", "duration": 8}, 120, (1280, 720), False),
    ("v3.5-1080p-5s", {"model": "v3.5", "quality": "1080p"}, 120, (1920, 1080), False),
    (
        "v4-720p-8s-camera-4:3",
        {
            "model": "v4",
            "quality": "720p",
            "duration": 8,
            "camera_movement": "zoom_in",
            "aspect_ratio": "4:3",
        },
        120,  # 11.1: 8 s at 720p
        (960, 720),
        False,
    ),
    (
        "v4.5-1080p-8s-1:1",
        {"model": "v4.5", "quality": "1080p", "duration": 8, "aspect_ratio": "1:1"},
        240,  # 11.1: 8 s at 1080p (extrapolated for v4.5)
        (1080, 1080),
        False,
    ),
    (
        "v4.5-720p-fast-9:16",
        {
            "model": "v4.5",
            "quality": "720p",
            "motion_mode": "fast",
            "aspect_ratio": "9:16",
            "camera_movement": "whip_pan",
        },
        120,  # 11.1: 5 s fast at 720p
        (720, 1280),
        False,
    ),
    (
        "v5-720p-sound-effect",
        {"quality": "720p", "sound_effect_switch": True, "sound_effect_content": ""},
        70,  # 11.1 + 11.6: 60 + 2 x 5 s
        (1280, 720),
        True,
    ),
    (
        "v5-540p-8s-lip-sync-tts",
        {
            "duration": 8,
            "lip_sync_tts_switch": True,
            "lip_sync_tts_content": "hello there",
            "lip_sync_tts_speaker_id": "1",
        },
        122,  # 11.1 + 11.6: 90 + 4 x 8 s
        (960, 540),
        True,
    ),
    (
        "v4-360p-both-addons-schema-spelling",
        {"model": "v4", "quality": "360p", "sound_effect_switch": True, "lip_sync_switch": True},
        75,  # 11.1 + 11.6: 45 + 2 x 5 + 4 x 5
        (640, 360),
        True,
    ),
    (
        "v5-both-lip-sync-spellings-agree",
        {"lip_sync_switch": True, "lip_sync_tts_switch": True},
        65,  # 45 + 4 x 5
        (960, 540),
        True,
    ),
    ("v5.5-540p-audio", {"model": "v5.5", "generate_audio_switch": True}, 55, (960, 540), True),
    (
        "v5.5-360p-multi-audio",
        {
            "model": "v5.5",
            "quality": "360p",
            "generate_audio_switch": True,
            "generate_multi_clip_switch": True,
        },
        85,  # 11.2: 360p 5 s multi-clip audio
        (640, 360),
        True,
    ),
    (
        "v5.5-720p-10s-multi",
        {"model": "v5.5", "quality": "720p", "duration": 10, "generate_multi_clip_switch": True},
        162,  # 11.2: 720p 10 s multi-clip silent
        (1280, 720),
        False,
    ),
    (
        "v5.5-1080p-8s-audio",
        {"model": "v5.5", "quality": "1080p", "duration": 8, "generate_audio_switch": True},
        250,  # 11.2: 1080p 8 s single audio
        (1920, 1080),
        True,
    ),
    (
        "v5.6-360p-audio",
        {"model": "v5.6", "quality": "360p", "generate_audio_switch": True},
        80,  # 11.3
        (640, 360),
        True,
    ),
    ("v5.6-540p-audio", {"model": "v5.6", "generate_audio_switch": True}, 90, (960, 540), True),
    ("v5.6-720p-10s", {"model": "v5.6", "quality": "720p", "duration": 10}, 99, (1280, 720), False),
    (
        "v5.6-1080p-8s-audio",
        {"model": "v5.6", "quality": "1080p", "duration": 8, "generate_audio_switch": True},
        195,  # 11.3
        (1920, 1080),
        True,
    ),
    (
        "v6-720p-5s-audio",
        {"model": "v6", "quality": "720p", "generate_audio_switch": True},
        60,  # 11.7 worked example: 5 x 12
        (1280, 720),
        True,
    ),
    ("v6-1080p-15s", {"model": "v6", "quality": "1080p", "duration": 15}, 270, (1920, 1080), False),
    (
        "v6-360p-1s-3:2",
        {"model": "v6", "quality": "360p", "duration": 1, "aspect_ratio": "3:2"},
        5,  # 11.4: 1 x 5
        (540, 360),
        False,
    ),
    (
        "v6-540p-3s-21:9-audio",
        {"model": "v6", "duration": 3, "aspect_ratio": "21:9", "generate_audio_switch": True},
        27,  # 11.4: 3 x 9
        (1260, 540),
        True,
    ),
    (
        "v6-540p-4s-multi-clip",
        {"model": "v6", "duration": 4, "generate_multi_clip_switch": True},
        28,  # 11.4: 4 x 7; multi-clip adds nothing
        (960, 540),
        False,
    ),
    (
        "v6-false-switches-always-accepted",
        {
            "model": "v6",
            "sound_effect_switch": False,
            "lip_sync_tts_switch": False,
            "lip_sync_switch": False,
            "generate_audio_switch": False,
            "generate_multi_clip_switch": False,
        },
        35,  # 11.4: 5 x 7
        (960, 540),
        False,
    ),
    (
        "c1-720p-10s-audio-2:3",
        {
            "model": "c1",
            "quality": "720p",
            "duration": 10,
            "aspect_ratio": "2:3",
            "generate_audio_switch": True,
        },
        130,  # 11.4: 10 x 13
        (720, 1080),
        True,
    ),
    (
        "c1-360p-2s-3:4",
        {"model": "c1", "quality": "360p", "duration": 2, "aspect_ratio": "3:4"},
        12,
        (360, 480),
        False,
    ),  # 11.4: 2 x 6
    (
        "c1-1080p-3s-21:9-audio",
        {
            "model": "c1",
            "quality": "1080p",
            "duration": 3,
            "aspect_ratio": "21:9",
            "generate_audio_switch": True,
        },
        72,  # 11.4: 3 x 24
        (2520, 1080),
        True,
    ),
    (
        "v5-optional-fields",
        {
            "thinking_type": "enabled",
            "water_mark": True,
            "style": "day",
            "motion_mode": "normal",
            "seed": 0,
        },
        45,
        (960, 540),
        False,
    ),
]


@pytest.mark.parametrize(
    ("changes", "credits", "size", "has_audio"),
    [c[1:] for c in T2V_PRICES],
    ids=[c[0] for c in T2V_PRICES],
)
async def test_t2v_price_and_output(
    raw: Raw, changes: dict[str, Any], credits: int, size: tuple[int, int], has_audio: bool
) -> None:
    done = await accepted(raw, T2V, edit(T2V_BASE, **changes), credits)
    assert (done["outputWidth"], done["outputHeight"]) == size
    assert done["resolution_ratio"] == min(size)
    assert done["has_audio"] is has_audio


async def test_t2v_echoes_prompt_negative_prompt_style_and_seed(raw: Raw) -> None:
    body = edit(
        T2V_BASE,
        model="v3.5",
        prompt="ünïcode prompt ✓",
        negative_prompt="blurry, text",
        style="cyberpunk",
        seed=SEED_MAX,
    )
    video_id = (await raw.ok(T2V, body))["video_id"]
    done = await raw.wait(video_id)
    assert done["status"] == 1 and done["id"] == video_id
    assert done["prompt"] == "ünïcode prompt ✓"
    assert done["negative_prompt"] == "blurry, text"
    assert done["style"] == "cyberpunk"
    assert done["seed"] == SEED_MAX


async def test_t2v_without_optional_fields_echoes_empty_strings_and_a_drawn_seed(raw: Raw) -> None:
    done = await raw.result((await raw.ok(T2V, T2V_BASE))["video_id"])
    assert done["negative_prompt"] == "" and done["style"] == ""
    assert type(done["seed"]) is int and 0 <= done["seed"] <= SEED_MAX


async def test_json_body_is_parsed_whatever_the_content_type(raw: Raw) -> None:
    headers = {**raw.headers(), "Content-Type": "text/plain"}
    status, doc = await raw.post(T2V, data=json.dumps(T2V_BASE).encode(), headers=headers)
    assert status == 200 and doc["ErrCode"] == 0 and doc["Resp"]["credits"] == 45


# ---------------------------------------------------------------------------------------------
# 4.2 / 4.3 image-to-video and templates


I2V_PRICES = [
    # id, changes, credits, size, has_audio
    ("v5-540p-aspect-ignored", {"aspect_ratio": "9:16"}, 45, (960, 540), False),  # 11.1
    (
        "v6-720p-4s-audio-portrait",
        {
            "img_id": Ref("tall"),
            "model": "v6",
            "quality": "720p",
            "duration": 4,
            "generate_audio_switch": True,
        },
        48,  # 11.4: 4 x 12
        (720, 1080),
        True,
    ),
    (
        "v4.5-360p-sfx",
        {"model": "v4.5", "quality": "360p", "sound_effect_switch": True},
        55,  # 11.1 + 11.6: 45 + 2 x 5
        (640, 360),
        True,
    ),
    (
        "template-single-720p-any-model",
        {"template_id": 300_001, "model": "v6", "quality": "720p", "prompt": ""},
        60,  # 11.5: template flat as v5 5 s at 720p
        (1280, 720),
        False,
    ),
    (
        "template-two-images",
        {
            "template_id": 300_002,
            "img_id": DROP,
            "img_ids": [Ref("img"), Ref("img2")],
            "model": "v3.5",
        },
        45,  # 11.5: template flat at 540p
        (960, 540),
        False,
    ),
    (
        "template-legacy-sfx-on-v6",
        {"template_id": 300_001, "model": "v6", "sound_effect_switch": True},
        55,  # 11.5 + 11.6: 45 + 2 x 5 s (template output length)
        (960, 540),
        True,
    ),
    (
        "template-360p-only-template",
        {"template_id": 300_004, "quality": "360p"},
        45,
        (640, 360),
        False,
    ),
]


@pytest.mark.parametrize(
    ("changes", "credits", "size", "has_audio"),
    [c[1:] for c in I2V_PRICES],
    ids=[c[0] for c in I2V_PRICES],
)
async def test_i2v_price_and_output(
    raw: Raw,
    world: World,
    changes: dict[str, Any],
    credits: int,
    size: tuple[int, int],
    has_audio: bool,
) -> None:
    body = await world.resolve(edit(I2V_BASE, **changes))
    done = await accepted(raw, I2V, body, credits)
    assert (done["outputWidth"], done["outputHeight"]) == size
    assert done["resolution_ratio"] == min(size)
    assert done["has_audio"] is has_audio


async def test_i2v_echoes_negative_prompt_and_seed(raw: Raw, world: World) -> None:
    body = await world.resolve(edit(I2V_BASE, negative_prompt="no people", seed=7))
    done = await accepted(raw, I2V, body, 45)
    assert (done["prompt"], done["negative_prompt"], done["seed"]) == (
        "the picture comes alive",
        "no people",
        7,
    )


T2V_TEMPLATES = [
    (
        "no-image-template-1080p-empty-prompt",
        {"template_id": 300_005, "quality": "1080p", "prompt": ""},
        120,
    ),  # 11.5: as v5 5 s 1080p
    (
        "single-image-template-any-model",
        {"template_id": 300_001, "model": "c1", "quality": "720p", "duration": 5},
        60,
    ),  # 11.5
    (
        "template-with-lip-sync-on-v6",
        {
            "template_id": 300_001,
            "model": "v6",
            "lip_sync_tts_switch": True,
            "lip_sync_tts_content": "hi",
            "lip_sync_tts_speaker_id": "auto",
        },
        65,  # 11.5 + 11.6: 45 + 4 x 5 s
    ),
]


@pytest.mark.parametrize(
    ("changes", "credits"), [c[1:] for c in T2V_TEMPLATES], ids=[c[0] for c in T2V_TEMPLATES]
)
async def test_t2v_template_price(raw: Raw, changes: dict[str, Any], credits: int) -> None:
    done = await accepted(raw, T2V, edit(T2V_BASE, **changes), credits)
    assert done["resolution_ratio"] == int(edit(T2V_BASE, **changes)["quality"][:-1])


# ---------------------------------------------------------------------------------------------
# 4.4 transition, 4.5 multi-transition, 4.6 fusion


TRANSITION_PRICES = [
    ("v5-540p", {"negative_prompt": "no text", "seed": 3}, 45, (960, 540), False),  # 11.1
    (
        "v6-720p-6s-audio-portrait",
        {
            "model": "v6",
            "quality": "720p",
            "duration": 6,
            "generate_audio_switch": True,
            "first_frame_img": Ref("tall"),
        },
        72,  # 11.4: 6 x 12
        (720, 1080),
        True,
    ),
    (
        "v4-360p-fast",
        {"model": "v4", "quality": "360p", "motion_mode": "fast"},
        90,
        (640, 360),
        False,
    ),  # 11.1: fast 5 s
    (
        "v5-720p-8s-sfx",
        {"quality": "720p", "duration": 8, "sound_effect_switch": True},
        136,  # 11.1 + 11.6: 120 + 2 x 8
        (1280, 720),
        True,
    ),
    (
        "v5.5-1080p-8s",
        {"model": "v5.5", "quality": "1080p", "duration": 8},
        240,
        (1920, 1080),
        False,
    ),  # 11.2
    ("c1-540p-7s", {"model": "c1", "duration": 7}, 56, (960, 540), False),  # 11.4: 7 x 8
]


@pytest.mark.parametrize(
    ("changes", "credits", "size", "has_audio"),
    [c[1:] for c in TRANSITION_PRICES],
    ids=[c[0] for c in TRANSITION_PRICES],
)
async def test_transition_price_and_output(
    raw: Raw,
    world: World,
    changes: dict[str, Any],
    credits: int,
    size: tuple[int, int],
    has_audio: bool,
) -> None:
    body = await world.resolve(edit(TRANSITION_BASE, **changes))
    done = await accepted(raw, TRANSITION, body, credits)
    assert (done["outputWidth"], done["outputHeight"]) == size
    assert done["has_audio"] is has_audio
    assert done["prompt"] == body["prompt"]
    assert done["negative_prompt"] == body.get("negative_prompt", "")


def items(*durations: int | None, prompt: str | None = None) -> list[dict[str, Any]]:
    """Multi-transition items on alternating images; ``None`` omits an item's duration."""
    out: list[dict[str, Any]] = []
    for i, d in enumerate(durations):
        item: dict[str, Any] = {"img_id": Ref("img" if i % 2 == 0 else "img2")}
        if d is not None:
            item["duration"] = d
        if prompt is not None:
            item["prompt"] = prompt
        out.append(item)
    return out


MULTI_PRICES = [
    ("v5-540p-3s", {}, 27),  # 11.5: 3 s x 9
    ("v5-540p-two-items-8s", {"multi_transition": items(8, 0)}, 72),  # 8 x 9
    (
        "v4-720p-three-items",
        {"model": "v4", "quality": "720p", "multi_transition": items(5, 4, None)},
        108,
    ),  # 9 s x 12
    (
        "v3.5-1080p-seven-items-30s",
        {"model": "v3.5", "quality": "1080p", "multi_transition": items(5, 5, 5, 5, 5, 5, 0)},
        720,  # 30 s x 24
    ),
    (
        "v4.5-360p-fast",
        {
            "model": "v4.5",
            "quality": "360p",
            "motion_mode": "fast",
            "multi_transition": items(5, None),
        },
        90,
    ),  # 5 s x 9 x 2
    ("v5-item-prompts-2048", {"multi_transition": items(2, 0, prompt="p" * 2048)}, 18),  # 2 x 9
]


@pytest.mark.parametrize(
    ("changes", "credits"), [c[1:] for c in MULTI_PRICES], ids=[c[0] for c in MULTI_PRICES]
)
async def test_multi_transition_price(
    raw: Raw, world: World, changes: dict[str, Any], credits: int
) -> None:
    body = await world.resolve(edit(MULTI_BASE, **changes))
    done = await accepted(raw, MULTI, body, credits)
    q = int(body["quality"][:-1])
    assert done["resolution_ratio"] == q
    assert (done["outputWidth"], done["outputHeight"]) == (q * 16 // 9, q)  # first image 16:9


async def test_multi_transition_output_length_is_the_sum(raw: Raw, world: World) -> None:
    body = await world.resolve(edit(MULTI_BASE, multi_transition=items(4, 3, 0), seed=11))
    video_id = (await raw.ok(MULTI, body))["video_id"]
    done = await raw.wait(video_id)
    assert done["seed"] == 11
    # upscale costs 5 per source second (11.5): a 7 s source costs 35
    await accepted(raw, UPSCALE, {"source_video_id": video_id}, 35)


FUSION_PRICES = [
    ("v5-540p", {}, 45, (960, 540), False),  # 11.1
    (
        "v6-720p-1:1-audio-seven-refs",
        {
            "model": "v6",
            "quality": "720p",
            "aspect_ratio": "1:1",
            "generate_audio_switch": True,
            "prompt": " ".join(f"@r{i}" for i in range(7)) + " dance",
            "image_references": [
                {"type": "subject", "img_id": Ref("img"), "ref_name": f"r{i}"} for i in range(7)
            ],
        },
        60,  # 11.4: 5 x 12
        (720, 720),
        True,
    ),
    (
        "c1-1080p-4s-21:9",
        {"model": "c1", "quality": "1080p", "duration": 4, "aspect_ratio": "21:9"},
        76,
        (2520, 1080),
        False,
    ),  # 11.4: 4 x 19
    (
        "v5.6-540p-8s-audio-9:16",
        {"model": "v5.6", "duration": 8, "aspect_ratio": "9:16", "generate_audio_switch": True},
        115,
        (540, 960),
        True,
    ),  # 11.3
    (
        "v4.5-360p-8s",
        {"model": "v4.5", "quality": "360p", "duration": 8, "seed": 5},
        90,
        (640, 360),
        False,
    ),  # 11.1
    (
        "v5.5-720p-10s",
        {"model": "v5.5", "quality": "720p", "duration": 10},
        132,
        (1280, 720),
        False,
    ),  # 11.2
]


@pytest.mark.parametrize(
    ("changes", "credits", "size", "has_audio"),
    [c[1:] for c in FUSION_PRICES],
    ids=[c[0] for c in FUSION_PRICES],
)
async def test_fusion_price_and_output(
    raw: Raw,
    world: World,
    changes: dict[str, Any],
    credits: int,
    size: tuple[int, int],
    has_audio: bool,
) -> None:
    body = await world.resolve(edit(FUSION_BASE, **changes))
    done = await accepted(raw, FUSION, body, credits)
    assert (done["outputWidth"], done["outputHeight"]) == size
    assert done["has_audio"] is has_audio
    assert done["prompt"] == body["prompt"]


# ---------------------------------------------------------------------------------------------
# 4.7 extend


async def test_extend_an_upload_echoes_and_adds_its_duration(raw: Raw, world: World) -> None:
    body = await world.resolve(
        edit(
            EXTEND_BASE,
            style="anime",
            negative_prompt="no rain",
            water_mark=False,
            template_id=300_001,
        )  # template_id: accepted, ignored (4.7)
    )
    done = await accepted(raw, EXTEND, body, 45)  # 11.1: v5 540p 5 s
    assert (done["outputWidth"], done["outputHeight"], done["resolution_ratio"]) == (960, 540, 540)
    assert (done["prompt"], done["negative_prompt"], done["style"], done["seed"]) == (
        "the camera keeps moving",
        "no rain",
        "anime",
        42,
    )
    assert (await raw.wait(done["id"]))["status"] == 1
    # output = 5 s source + 5 s; upscale charges 5 per source second (11.5)
    await accepted(raw, UPSCALE, {"source_video_id": done["id"]}, 50)


async def test_extend_a_finished_job(raw: Raw, world: World) -> None:
    job = await world.get("job")  # 3 s
    body = edit(
        EXTEND_BASE,
        video_media_id=DROP,
        source_video_id=job,
        model="v6",
        quality="720p",
        duration=3,
    )
    done = await accepted(raw, EXTEND, body, 27)  # 11.4: 3 x 9
    assert (done["outputWidth"], done["outputHeight"]) == (1280, 720)
    assert (await raw.wait(done["id"]))["status"] == 1
    await accepted(raw, UPSCALE, {"source_video_id": done["id"]}, 30)  # (3 + 3) s x 5


async def test_extend_without_seed_draws_one(raw: Raw, world: World) -> None:
    """4.7: the official MCP client sends no seed; the emulator serves it (a seed is drawn)."""
    done = await accepted(raw, EXTEND, await world.resolve(edit(EXTEND_BASE, seed=DROP)), 45)
    assert type(done["seed"]) is int and 0 <= done["seed"] <= SEED_MAX
    assert (await raw.wait(done["id"]))["status"] == 1


@pytest.mark.parametrize(
    ("path", "base"),
    [(T2V, T2V_BASE), (I2V, I2V_BASE), (TRANSITION, TRANSITION_BASE)],
    ids=["t2v", "i2v", "transition"],
)
@pytest.mark.parametrize(
    "extra",
    [
        {"play_bgm": True, "sound_mode": "default_music"},
        {"play_bgm": False},
        {"sound_mode": ""},
        {"play_bgm": None, "sound_mode": None},
    ],
)
async def test_play_bgm_and_sound_mode_are_accepted_and_ignored(
    raw: Raw, world: World, path: str, base: dict[str, Any], extra: dict[str, Any]
) -> None:
    done = await accepted(raw, path, await world.resolve({**base, **extra}), 45)  # v5 540p 5 s
    assert done["has_audio"] is False  # ignored: no audio, no add-on charge


EXTEND_PRICES = [
    ("v4-360p-fast", {"model": "v4", "quality": "360p", "motion_mode": "fast"}, 90),  # 11.1
    ("v5.5-1080p-8s", {"model": "v5.5", "quality": "1080p", "duration": 8}, 240),  # 11.2
    ("v3.5-720p-8s", {"model": "v3.5", "quality": "720p", "duration": 8}, 120),  # 11.1
]


@pytest.mark.parametrize(
    ("changes", "credits"), [c[1:] for c in EXTEND_PRICES], ids=[c[0] for c in EXTEND_PRICES]
)
async def test_extend_price(raw: Raw, world: World, changes: dict[str, Any], credits: int) -> None:
    await accepted(raw, EXTEND, await world.resolve(edit(EXTEND_BASE, **changes)), credits)


# ---------------------------------------------------------------------------------------------
# 4.8 lip sync, 4.10 sound effect, 4.11 restyle, 4.14 swap, 4.15 mimic, 4.17 upscale


LIP_SYNC_PRICES = [
    ("audio-3s", {}, 12),  # 11.5: 3 s x 4
    (
        "tts-40-bytes",
        {"audio_media_id": DROP, "lip_sync_tts_speaker_id": "1", "lip_sync_tts_content": "x" * 40},
        12,
    ),  # 11.7: ceil(40 / 15) = 3 x 4
    (
        "tts-15-bytes-auto-upper",
        {
            "audio_media_id": DROP,
            "lip_sync_tts_speaker_id": "AUTO",
            "lip_sync_tts_content": "y" * 15,
        },
        4,
    ),  # 1 x 4
    (
        "tts-16-bytes",
        {
            "audio_media_id": DROP,
            "lip_sync_tts_speaker_id": "Auto",
            "lip_sync_tts_content": "z" * 16,
        },
        8,
    ),  # 2 x 4
    (
        "tts-multibyte",
        {"audio_media_id": DROP, "lip_sync_tts_speaker_id": "14", "lip_sync_tts_content": "é" * 10},
        8,
    ),  # 20 UTF-8 bytes: 2 x 4
    (
        "tts-200-chars",
        {"audio_media_id": DROP, "lip_sync_tts_speaker_id": "2", "lip_sync_tts_content": "a" * 200},
        56,
    ),  # ceil(200 / 15) = 14 x 4
]


@pytest.mark.parametrize(
    ("changes", "credits"), [c[1:] for c in LIP_SYNC_PRICES], ids=[c[0] for c in LIP_SYNC_PRICES]
)
async def test_lip_sync_price_and_output(
    raw: Raw, world: World, changes: dict[str, Any], credits: int
) -> None:
    done = await accepted(
        raw, LIP_SYNC, await world.resolve(edit(LIP_SYNC_BASE, **changes)), credits
    )
    assert done["has_audio"] is True
    assert (done["outputWidth"], done["outputHeight"]) == (1280, 720)  # the source's


async def test_lip_sync_audio_seconds_round_up_and_source_job_works(raw: Raw, world: World) -> None:
    audio = await raw.upload_audio(2.5)
    body = {"source_video_id": await world.get("job"), "audio_media_id": audio}
    done = await accepted(raw, LIP_SYNC, body, 12)  # 11.5: ceil(2.5) = 3 s x 4
    assert (done["outputWidth"], done["outputHeight"]) == (640, 360)  # the 360p job's


SOURCE_PRICES = [
    # id, path, body, credits, (outputWidth, outputHeight), has_audio
    (
        "sound-effect-5s",
        SOUND,
        edit(SOUND_BASE, original_sound_switch=True, sound_effect_content="rain on a tin roof"),
        10,
        (1280, 720),
        True,
    ),  # 11.5: 5 x 2
    ("sound-effect-job-3s", SOUND, {"source_video_id": Ref("job")}, 6, (640, 360), True),
    ("restyle-id", RESTYLE, RESTYLE_BASE, 50, (1280, 720), False),  # 5 x 10
    (
        "restyle-prompt-job",
        RESTYLE,
        {"source_video_id": Ref("job"), "restyle_prompt": "oil paint", "seed": 9},
        30,
        (640, 360),
        False,
    ),  # 3 x 10
    ("swap-540p", SWAP, SWAP_BASE, 50, (960, 540), False),  # 5 x 10
    (
        "swap-360p",
        SWAP,
        edit(SWAP_BASE, quality="360p", original_sound_switch=True),
        40,
        (640, 360),
        False,
    ),  # 5 x 8
    (
        "swap-720p-job",
        SWAP,
        edit(
            SWAP_BASE,
            video_media_id=DROP,
            source_video_id=Ref("job"),
            mask_id=Ref("job_masks", 2),
            quality="720p",
        ),
        36,
        (1280, 720),
        False,
    ),  # 3 x 12
    (
        "swap-keyframe-2",
        SWAP,
        edit(SWAP_BASE, keyframe_id=2, mask_id=Ref("masks_kf2", 1)),
        50,
        (960, 540),
        False,
    ),
    ("mimic-360p", MIMIC, edit(MIMIC_BASE, quality="360p"), 45, (640, 360), False),  # 5 x 9
    ("mimic-540p", MIMIC, MIMIC_BASE, 50, (960, 540), False),  # 5 x 10
    ("mimic-720p", MIMIC, edit(MIMIC_BASE, quality="720p"), 60, (1280, 720), False),  # 5 x 12
    (
        "mimic-job",
        MIMIC,
        edit(MIMIC_BASE, video_media_id=DROP, source_video_id=Ref("job")),
        30,
        (960, 540),
        False,
    ),  # 3 x 10
    ("upscale-5s", UPSCALE, UPSCALE_BASE, 25, (1920, 1080), False),  # 5 x 5
    ("upscale-job", UPSCALE, {"source_video_id": Ref("job")}, 15, (1920, 1080), False),  # 3 x 5
]


@pytest.mark.parametrize(
    ("path", "body", "credits", "size", "has_audio"),
    [c[1:] for c in SOURCE_PRICES],
    ids=[c[0] for c in SOURCE_PRICES],
)
async def test_video_to_video_price_and_output(
    raw: Raw,
    world: World,
    path: str,
    body: dict[str, Any],
    credits: int,
    size: tuple[int, int],
    has_audio: bool,
) -> None:
    done = await accepted(raw, path, await world.resolve(body), credits)
    assert (done["outputWidth"], done["outputHeight"]) == size
    assert done["has_audio"] is has_audio


@pytest.mark.parametrize(
    ("path", "rate"), [(SOUND, 2), (RESTYLE, 10), (UPSCALE, 5), (MIMIC, 12), (SWAP, 12)]
)
async def test_fractional_source_seconds_round_up(
    raw: Raw, world: World, path: str, rate: int
) -> None:
    media = await raw.upload_video(7.2, 1280, 720)
    body: dict[str, Any] = {"video_media_id": media}
    if path == RESTYLE:
        body["restyle_id"] = 1002
    if path == MIMIC:
        body.update(img_id=await world.get("img"), quality="720p")
    if path == SWAP:
        masks = await world._select({"video_media_id": media})
        body.update(img_id=await world.get("img"), quality="720p", keyframe_id=1, mask_id=masks[0])
    await accepted(raw, path, body, 8 * rate)  # ceil(7.2) = 8 s x rate (11.5)


async def test_restyle_echoes_prompt_and_seed_and_accepts_exactly_16_s(raw: Raw) -> None:
    media = await raw.upload_video(16.0, 720, 1280)
    body = {"video_media_id": media, "restyle_prompt": "r" * 5000, "seed": 0}
    done = await accepted(raw, RESTYLE, body, 160)  # 11.5: 16 x 10
    assert (done["prompt"], done["seed"]) == ("r" * 5000, 0)
    assert (done["outputWidth"], done["outputHeight"]) == (720, 1280)


async def test_upscale_of_a_portrait_upload_is_1080_wide(raw: Raw) -> None:
    media = await raw.upload_video(2.0, 720, 1280)
    done = await accepted(raw, UPSCALE, {"video_media_id": media}, 10)  # 11.5: 2 x 5
    assert (done["outputWidth"], done["outputHeight"], done["resolution_ratio"]) == (
        1080,
        1920,
        1080,
    )


# ---------------------------------------------------------------------------------------------
# 4.19 image template


@pytest.mark.parametrize(("template_id", "names"), [(400_001, ["img"]), (400_002, ["img", "img2"])])
async def test_image_template_result(
    raw: Raw, world: World, template_id: int, names: list[str]
) -> None:
    body = {
        "template_id": template_id,
        "img_ids": [await world.get(n) for n in names],
        "webhook_id": UNKNOWN_ID,
    }  # not webhook-capable: webhook_id is ignored (7.1)
    done = await accepted(raw, IMAGE_TEMPLATE, body, 10)  # 11.5: flat 10
    final = await raw.wait(done["image_id"], image=True)
    assert final["status"] == 1 and final["url"]
    assert final["template_id"] == template_id and final["credits"] == 10
    assert (final["outputWidth"], final["outputHeight"]) == (640, 360)  # the first image's
    # an image id is not a video id
    _, doc = await raw.get(f"/video/result/{done['image_id']}")
    assert doc["ErrCode"] == 500008


# ---------------------------------------------------------------------------------------------
# 400013: bodies that are not JSON objects, fields of the wrong JSON type (1.3)


@pytest.mark.parametrize("name", list(BASES))
async def test_body_that_is_not_a_json_object_is_400013(raw: Raw, name: str) -> None:
    path = BASES[name][0]
    for data in (b"{not json", b"[]", b'[{"prompt": "x"}]', b'"text"', b"null", b"", b"42"):
        await rejected(raw, path, None, 400013, data=data)


TYPE_ERRORS = [
    # id, path, body, fields named in ErrMsg
    ("t2v-quoted-seed", T2V, edit(T2V_BASE, seed="123"), "seed"),
    ("t2v-float-duration", T2V, edit(T2V_BASE, duration=5.0), "duration"),
    ("t2v-bool-duration", T2V, edit(T2V_BASE, duration=True), "duration"),
    ("t2v-bool-seed", T2V, edit(T2V_BASE, seed=False), "seed"),
    ("t2v-int-prompt", T2V, edit(T2V_BASE, prompt=5), "prompt"),
    ("t2v-int-quality", T2V, edit(T2V_BASE, quality=720), "quality"),
    (
        "t2v-string-switch",
        T2V,
        edit(T2V_BASE, model="v6", generate_audio_switch="true"),
        "generate_audio_switch",
    ),
    ("t2v-int-switch", T2V, edit(T2V_BASE, sound_effect_switch=1), "sound_effect_switch"),
    ("t2v-quoted-webhook", T2V, edit(T2V_BASE, webhook_id="1"), "webhook_id"),
    ("t2v-quoted-template", T2V, edit(T2V_BASE, template_id="300001"), "template_id"),
    ("t2v-float-template", T2V, edit(T2V_BASE, template_id=300001.0), "template_id"),
    ("t2v-int-speaker", T2V, edit(T2V_BASE, lip_sync_tts_speaker_id=1), "lip_sync_tts_speaker_id"),
    ("i2v-quoted-literal-id", I2V, edit(I2V_BASE, img_id="123"), "img_id"),
    ("i2v-quoted-real-id", I2V, edit(I2V_BASE, img_id=Ref("img", quoted=True)), "img_id"),
    ("i2v-float-literal-id", I2V, edit(I2V_BASE, img_id=1.0), "img_id"),
    ("i2v-float-real-id", I2V, edit(I2V_BASE, img_id=Ref("img", as_float=True)), "img_id"),
    ("i2v-bool-id", I2V, edit(I2V_BASE, img_id=True), "img_id"),
    (
        "i2v-string-img-ids",
        I2V,
        edit(I2V_BASE, img_id=DROP, template_id=300_002, img_ids="1,2"),
        "img_ids",
    ),
    (
        "i2v-quoted-img-ids-item",
        I2V,
        edit(
            I2V_BASE,
            img_id=DROP,
            template_id=300_002,
            img_ids=[Ref("img"), Ref("img2", quoted=True)],
        ),
        "img_ids",
    ),
    (
        "transition-quoted-frame",
        TRANSITION,
        edit(TRANSITION_BASE, last_frame_img=Ref("img2", quoted=True)),
        "last_frame_img",
    ),
    ("multi-string-list", MULTI, edit(MULTI_BASE, multi_transition="abc"), "multi_transition"),
    (
        "multi-list-of-ids",
        MULTI,
        edit(MULTI_BASE, multi_transition=[Ref("img"), Ref("img2")]),
        "multi_transition",
    ),
    (
        "multi-quoted-item-id",
        MULTI,
        edit(
            MULTI_BASE,
            multi_transition=[
                {"img_id": Ref("img", quoted=True), "duration": 3},
                {"img_id": Ref("img2")},
            ],
        ),
        "img_id",
    ),
    (
        "multi-float-item-duration",
        MULTI,
        edit(
            MULTI_BASE,
            multi_transition=[{"img_id": Ref("img"), "duration": 3.0}, {"img_id": Ref("img2")}],
        ),
        "duration",
    ),
    (
        "fusion-object-not-list",
        FUSION,
        edit(
            FUSION_BASE,
            image_references={"type": "subject", "img_id": Ref("img"), "ref_name": "dog"},
        ),
        "image_references",
    ),
    (
        "fusion-quoted-ref-id",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "subject", "img_id": Ref("img", quoted=True), "ref_name": "dog"},
                {"type": "background", "img_id": Ref("img2"), "ref_name": "room"},
            ],
        ),
        "img_id",
    ),
    (
        "extend-quoted-source",
        EXTEND,
        edit(EXTEND_BASE, video_media_id=Ref("video", quoted=True)),
        "video_media_id",
    ),
    (
        "extend-bool-source-video",
        EXTEND,
        edit(EXTEND_BASE, video_media_id=DROP, source_video_id=True),
        "source_video_id",
    ),
    ("extend-float-seed", EXTEND, edit(EXTEND_BASE, seed=42.0), "seed"),
    (
        "lip-quoted-audio",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, audio_media_id=Ref("audio", quoted=True)),
        "audio_media_id",
    ),
    ("restyle-quoted-restyle-id", RESTYLE, edit(RESTYLE_BASE, restyle_id="1001"), "restyle_id"),
    (
        "sound-string-switch",
        SOUND,
        edit(SOUND_BASE, original_sound_switch="yes"),
        "original_sound_switch",
    ),
    ("swap-int-mask-id", SWAP, edit(SWAP_BASE, mask_id=123), "mask_id"),
    ("swap-quoted-keyframe", SWAP, edit(SWAP_BASE, keyframe_id="1"), "keyframe_id"),
    ("mimic-float-img", MIMIC, edit(MIMIC_BASE, img_id=Ref("img", as_float=True)), "img_id"),
    (
        "modify-string-img-ids",
        MODIFY,
        edit(MODIFY_BASE, img_ids=Ref("img", quoted=True)),
        "img_ids",
    ),
    ("modify-int-mask-ids", MODIFY, edit(MODIFY_BASE, mask_ids=[1, 2]), "mask_ids"),
    (
        "modify-string-mask-urls",
        MODIFY,
        edit(MODIFY_BASE, mask_urls="https://x.test/m.png"),
        "mask_urls",
    ),
    (
        "upscale-quoted-source",
        UPSCALE,
        edit(UPSCALE_BASE, video_media_id=Ref("video", quoted=True)),
        "video_media_id",
    ),
    (
        "image-template-quoted-items",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, img_ids=[Ref("img", quoted=True)]),
        "img_ids",
    ),
    (
        "image-template-string-ids",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, img_ids="1"),
        "img_ids",
    ),
    (
        "image-template-quoted-template",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, template_id="400001"),
        "template_id",
    ),
    # play_bgm (bool) and sound_mode (str): undocumented, type-checked, ignored
    *[
        (f"{name}-{field}-{value!r}", path, edit(base, **{field: value}), field)
        for name, path, base in (
            ("t2v", T2V, T2V_BASE),
            ("i2v", I2V, I2V_BASE),
            ("transition", TRANSITION, TRANSITION_BASE),
        )
        for field, value in (("play_bgm", "true"), ("play_bgm", 1), ("sound_mode", 5))
    ],
]


@pytest.mark.parametrize(
    ("path", "body", "field"), [c[1:] for c in TYPE_ERRORS], ids=[c[0] for c in TYPE_ERRORS]
)
async def test_wrong_json_type_is_400013(
    raw: Raw, world: World, path: str, body: dict[str, Any], field: str
) -> None:
    await rejected(raw, path, await world.resolve(body), 400013, field)


# ---------------------------------------------------------------------------------------------
# 400017: missing fields, enums, model gating (8.2), XOR rules, unknown ids


def case(ident: str, path: str, body: dict[str, Any], *fields: str) -> Any:
    return pytest.param(path, body, fields, id=ident)


INVALID = [
    # t2v: required fields and enums (4.1, 8.1, 8.3)
    *[
        case(f"t2v-missing-{f}", T2V, edit(T2V_BASE, **{f: DROP}), f)
        for f in ("prompt", "model", "duration", "quality", "aspect_ratio")
    ],
    case("t2v-null-model", T2V, edit(T2V_BASE, model=None), "model"),
    case("t2v-empty-prompt", T2V, edit(T2V_BASE, prompt=""), "prompt"),
    case("t2v-blank-prompt", T2V, edit(T2V_BASE, prompt="   "), "prompt"),
    *[
        case(f"t2v-legacy-model-{m}", T2V, edit(T2V_BASE, model=m), "model")
        for m in ("v1", "v2", "v3", "visionary", "V5", "")
    ],
    case("t2v-bad-quality", T2V, edit(T2V_BASE, quality="480p"), "quality"),
    case("t2v-quality-case", T2V, edit(T2V_BASE, quality="720P"), "quality"),
    case("t2v-bad-aspect", T2V, edit(T2V_BASE, aspect_ratio="2:1"), "aspect_ratio"),
    case("t2v-bad-style", T2V, edit(T2V_BASE, style="noir"), "style"),
    case("t2v-bad-motion-mode", T2V, edit(T2V_BASE, motion_mode="slow"), "motion_mode"),
    case("t2v-bad-thinking-type", T2V, edit(T2V_BASE, thinking_type="maybe"), "thinking_type"),
    case(
        "t2v-bad-camera", T2V, edit(T2V_BASE, model="v4", camera_movement="spin"), "camera_movement"
    ),
    case("t2v-seed-negative", T2V, edit(T2V_BASE, seed=-1), "seed"),
    case("t2v-seed-too-big", T2V, edit(T2V_BASE, seed=SEED_MAX + 1), "seed"),
    # durations per model (8.2)
    *[
        case(
            f"t2v-duration-{m}-{q}-{d}s",
            T2V,
            edit(T2V_BASE, model=m, quality=q, duration=d),
            "duration",
        )
        for m, q, d in [
            ("v5", "540p", 10),
            ("v5", "540p", 7),
            ("v4", "720p", 10),
            ("v4.5", "540p", 6),
            ("v3.5", "1080p", 8),
            ("v5.5", "1080p", 10),
            ("v5.6", "1080p", 10),
            ("v5.5", "720p", 15),
            ("v5.6", "540p", 6),
            ("v6", "540p", 16),
            ("v6", "540p", 0),
            ("c1", "720p", -1),
            ("c1", "1080p", 20),
        ]
    ],
    # aspect ratios: 2:3, 3:2, 21:9 only on v6 / c1 (4.1, 8.2)
    *[
        case(f"t2v-aspect-{a}-on-{m}", T2V, edit(T2V_BASE, model=m, aspect_ratio=a), "aspect_ratio")
        for m, a in [
            ("v5", "21:9"),
            ("v5.5", "21:9"),
            ("v5.6", "2:3"),
            ("v4", "3:2"),
            ("v3.5", "21:9"),
        ]
    ],
    # native audio and multi-clip switches (8.2)
    *[
        case(
            f"t2v-audio-on-{m}",
            T2V,
            edit(T2V_BASE, model=m, generate_audio_switch=True),
            "generate_audio_switch",
        )
        for m in ("v3.5", "v4", "v4.5", "v5")
    ],
    *[
        case(
            f"t2v-multi-clip-on-{m}",
            T2V,
            edit(T2V_BASE, model=m, generate_multi_clip_switch=True),
            "generate_multi_clip_switch",
        )
        for m in ("v5", "v5.6", "c1", "v4.5")
    ],
    # motion_mode fast: v3.5/v4/v4.5, 5 s, not 1080p (4.1)
    *[
        case(f"t2v-fast-on-{m}", T2V, edit(T2V_BASE, model=m, motion_mode="fast"), "motion_mode")
        for m in ("v5", "v5.5", "v5.6", "v6", "c1")
    ],
    case(
        "t2v-fast-8s",
        T2V,
        edit(T2V_BASE, model="v4", duration=8, motion_mode="fast"),
        "motion_mode",
    ),
    case(
        "t2v-fast-1080p",
        T2V,
        edit(T2V_BASE, model="v4.5", quality="1080p", motion_mode="fast"),
        "motion_mode",
    ),
    # camera_movement: v4/v4.5 only, never with template_id (4.1, 8.4)
    *[
        case(
            f"t2v-camera-on-{m}",
            T2V,
            edit(T2V_BASE, model=m, camera_movement="zoom_in"),
            "camera_movement",
        )
        for m in ("v3.5", "v5", "v5.5", "v6", "c1")
    ],
    case(
        "t2v-camera-with-template",
        T2V,
        edit(T2V_BASE, model="v4", camera_movement="zoom_in", template_id=300_001),
        "camera_movement",
        "template_id",
    ),
    # legacy sound / lip-sync switches: models <= v5, or with template_id (4.1, 8.2)
    *[
        case(f"t2v-{s}-on-{m}", T2V, edit(T2V_BASE, model=m, **{s: True}), s)
        for m in ("v5.5", "v5.6", "v6", "c1")
        for s in ("sound_effect_switch", "lip_sync_tts_switch", "lip_sync_switch")
    ],
    case(
        "t2v-lip-sync-spellings-disagree",
        T2V,
        edit(T2V_BASE, lip_sync_tts_switch=True, lip_sync_switch=False),
        "lip_sync_tts_switch",
        "lip_sync_switch",
    ),
    case(
        "t2v-lip-sync-spellings-disagree-reversed",
        T2V,
        edit(T2V_BASE, lip_sync_tts_switch=False, lip_sync_switch=True),
        "lip_sync_tts_switch",
        "lip_sync_switch",
    ),
    case(
        "t2v-tts-content-201",
        T2V,
        edit(T2V_BASE, lip_sync_tts_switch=True, lip_sync_tts_content="a" * 201),
        "200",
    ),
    case(
        "t2v-tts-unknown-speaker",
        T2V,
        edit(T2V_BASE, lip_sync_tts_switch=True, lip_sync_tts_speaker_id="99"),
        "speaker",
    ),
    # unknown ids (2.1, 4.3, 7.1)
    case("t2v-unknown-webhook", T2V, edit(T2V_BASE, webhook_id=UNKNOWN_ID), "webhook_id"),
    case("t2v-unknown-template", T2V, edit(T2V_BASE, template_id=399_999), "template_id"),
    case("t2v-image-template-id", T2V, edit(T2V_BASE, template_id=400_001), "template_id"),
    # i2v (4.2, 4.3)
    case("i2v-no-image", I2V, edit(I2V_BASE, img_id=DROP), "img_id", "img_ids"),
    case(
        "i2v-img-id-and-img-ids",
        I2V,
        edit(I2V_BASE, template_id=300_002, img_ids=[Ref("img"), Ref("img2")]),
        "img_id",
        "img_ids",
    ),
    case(
        "i2v-img-ids-without-template",
        I2V,
        edit(I2V_BASE, img_id=DROP, img_ids=[Ref("img"), Ref("img2")]),
        "img_ids",
        "template_id",
    ),
    case(
        "i2v-empty-img-ids",
        I2V,
        edit(I2V_BASE, img_id=DROP, template_id=300_002, img_ids=[]),
        "img_ids",
    ),
    case("i2v-template-needs-two-images", I2V, edit(I2V_BASE, template_id=300_002), "template"),
    case(
        "i2v-template-needs-one-image",
        I2V,
        edit(I2V_BASE, img_id=DROP, template_id=300_001, img_ids=[Ref("img"), Ref("img2")]),
        "template",
    ),
    case(
        "i2v-template-needs-duration",
        I2V,
        edit(I2V_BASE, template_id=300_001, duration=DROP),
        "duration",
    ),
    case("i2v-legacy-model", I2V, edit(I2V_BASE, model="v3"), "model"),
    case(
        "i2v-duration-8-at-1080p-v3.5",
        I2V,
        edit(I2V_BASE, model="v3.5", quality="1080p", duration=8),
        "duration",
    ),
    case(
        "i2v-audio-on-v5", I2V, edit(I2V_BASE, generate_audio_switch=True), "generate_audio_switch"
    ),
    case(
        "i2v-sfx-on-v5.5",
        I2V,
        edit(I2V_BASE, model="v5.5", sound_effect_switch=True),
        "sound_effect_switch",
    ),
    case("i2v-camera-on-v5", I2V, edit(I2V_BASE, camera_movement="pan_left"), "camera_movement"),
    case("i2v-unknown-webhook", I2V, edit(I2V_BASE, webhook_id=UNKNOWN_ID), "webhook_id"),
    # transition (4.4)
    *[
        case(f"transition-missing-{f}", TRANSITION, edit(TRANSITION_BASE, **{f: DROP}), f)
        for f in ("first_frame_img", "last_frame_img", "model", "duration", "quality")
    ],
    case(
        "transition-wrong-field-name",
        TRANSITION,
        edit(TRANSITION_BASE, first_frame_img=DROP, first_frame_img_id=Ref("img")),
        "first_frame_img",
    ),
    case("transition-legacy-model", TRANSITION, edit(TRANSITION_BASE, model="v2"), "model"),
    case("transition-duration", TRANSITION, edit(TRANSITION_BASE, duration=10), "duration"),
    case(
        "transition-audio-on-v5",
        TRANSITION,
        edit(TRANSITION_BASE, generate_audio_switch=True),
        "generate_audio_switch",
    ),
    case(
        "transition-sfx-on-v6",
        TRANSITION,
        edit(TRANSITION_BASE, model="v6", sound_effect_switch=True),
        "sound_effect_switch",
    ),
    case(
        "transition-fast-on-v5",
        TRANSITION,
        edit(TRANSITION_BASE, motion_mode="fast"),
        "motion_mode",
    ),
    # multi-transition (4.5)
    *[
        case(f"multi-model-{m}", MULTI, edit(MULTI_BASE, model=m), "model")
        for m in ("v5.5", "v5.6", "v6", "c1", "v3")
    ],
    case("multi-missing-list", MULTI, edit(MULTI_BASE, multi_transition=DROP), "multi_transition"),
    case("multi-missing-quality", MULTI, edit(MULTI_BASE, quality=DROP), "quality"),
    case("multi-empty", MULTI, edit(MULTI_BASE, multi_transition=[]), "multi_transition"),
    case(
        "multi-one-item", MULTI, edit(MULTI_BASE, multi_transition=items(None)), "multi_transition"
    ),
    case(
        "multi-eight-items",
        MULTI,
        edit(MULTI_BASE, multi_transition=items(1, 1, 1, 1, 1, 1, 1, 0)),
        "multi_transition",
    ),
    case(
        "multi-missing-item-img",
        MULTI,
        edit(MULTI_BASE, multi_transition=[{"duration": 3}, {"img_id": Ref("img2")}]),
        "img_id",
    ),
    case(
        "multi-missing-duration",
        MULTI,
        edit(MULTI_BASE, multi_transition=items(None, None)),
        "duration",
    ),
    case(
        "multi-middle-missing-duration",
        MULTI,
        edit(MULTI_BASE, multi_transition=items(3, None, 0)),
        "duration",
    ),
    case("multi-last-duration", MULTI, edit(MULTI_BASE, multi_transition=items(3, 3)), "duration"),
    case("multi-zero-duration", MULTI, edit(MULTI_BASE, multi_transition=items(0, 0)), "duration"),
    case(
        "multi-9s-with-two-items", MULTI, edit(MULTI_BASE, multi_transition=items(9, 0)), "duration"
    ),
    case(
        "multi-6s-with-three-items",
        MULTI,
        edit(MULTI_BASE, multi_transition=items(5, 6, 0)),
        "duration",
    ),
    case("multi-fast-on-v5", MULTI, edit(MULTI_BASE, motion_mode="fast"), "motion_mode"),
    case(
        "multi-fast-over-5s",
        MULTI,
        edit(MULTI_BASE, model="v4", motion_mode="fast", multi_transition=items(6, 0)),
        "motion_mode",
    ),
    case(
        "multi-fast-1080p",
        MULTI,
        edit(MULTI_BASE, model="v4.5", quality="1080p", motion_mode="fast"),
        "motion_mode",
    ),
    case("multi-seed", MULTI, edit(MULTI_BASE, seed=-3), "seed"),
    # fusion (4.6)
    *[
        case(f"fusion-model-{m}", FUSION, edit(FUSION_BASE, model=m), "model")
        for m in ("v3.5", "v4", "v1")
    ],
    *[
        case(f"fusion-missing-{f}", FUSION, edit(FUSION_BASE, **{f: DROP}), f)
        for f in ("image_references", "prompt", "model", "duration", "quality", "aspect_ratio")
    ],
    case("fusion-no-refs", FUSION, edit(FUSION_BASE, image_references=[]), "image_references"),
    *[
        case(
            f"fusion-{n}-refs-on-{m}",
            FUSION,
            edit(
                FUSION_BASE,
                model=m,
                prompt=" ".join(f"@r{i}" for i in range(n)) + " play",
                image_references=[
                    {"type": "subject", "img_id": Ref("img"), "ref_name": f"r{i}"} for i in range(n)
                ],
            ),
            "image_references",
        )
        for m, n in [("v4.5", 4), ("v5", 4), ("v5.5", 8), ("v6", 8), ("c1", 8)]
    ],
    case(
        "fusion-duplicate-ref-name",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "subject", "img_id": Ref("img"), "ref_name": "dog"},
                {"type": "background", "img_id": Ref("img2"), "ref_name": "dog"},
            ],
            prompt="@dog and @dog again",
        ),
        "ref_name",
    ),
    case(
        "fusion-ref-name-31-bytes",
        FUSION,
        edit(
            FUSION_BASE,
            prompt="@" + "n" * 31 + " runs",
            image_references=[{"type": "subject", "img_id": Ref("img"), "ref_name": "n" * 31}],
        ),
        "ref_name",
    ),
    case(
        "fusion-ref-name-32-utf8-bytes",
        FUSION,
        edit(
            FUSION_BASE,
            prompt="@" + "é" * 16 + " runs",
            image_references=[{"type": "subject", "img_id": Ref("img"), "ref_name": "é" * 16}],
        ),
        "ref_name",
    ),
    case(
        "fusion-ref-missing-from-prompt",
        FUSION,
        edit(FUSION_BASE, prompt="@dog runs alone"),
        "prompt",
        "@room",
    ),
    case(
        "fusion-ref-without-at",
        FUSION,
        edit(FUSION_BASE, prompt="dog runs around room today"),
        "prompt",
        "@dog",
    ),
    case(
        "fusion-ref-not-followed-by-space",
        FUSION,
        edit(FUSION_BASE, prompt="@dogs run around @room now"),
        "@dog",
    ),
    case(
        "fusion-ref-followed-by-comma",
        FUSION,
        edit(FUSION_BASE, prompt="@dog, runs around @room now"),
        "@dog",
    ),
    case(
        "fusion-bad-ref-type",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "foreground", "img_id": Ref("img"), "ref_name": "dog"},
                {"type": "background", "img_id": Ref("img2"), "ref_name": "room"},
            ],
        ),
        "type",
    ),
    case(
        "fusion-missing-ref-name",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "subject", "img_id": Ref("img")},
                {"type": "background", "img_id": Ref("img2"), "ref_name": "room"},
            ],
        ),
        "ref_name",
    ),
    case(
        "fusion-missing-ref-img",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "subject", "ref_name": "dog"},
                {"type": "background", "img_id": Ref("img2"), "ref_name": "room"},
            ],
        ),
        "img_id",
    ),
    case(
        "fusion-empty-ref-name",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "subject", "img_id": Ref("img"), "ref_name": ""},
                {"type": "background", "img_id": Ref("img2"), "ref_name": "room"},
            ],
        ),
        "ref_name",
    ),
    case("fusion-21:9-on-v5", FUSION, edit(FUSION_BASE, aspect_ratio="21:9"), "aspect_ratio"),
    case("fusion-duration", FUSION, edit(FUSION_BASE, duration=10), "duration"),
    *[
        case(
            f"fusion-audio-on-{m}",
            FUSION,
            edit(FUSION_BASE, model=m, generate_audio_switch=True),
            "generate_audio_switch",
        )
        for m in ("v4.5", "v5", "v5.5")
    ],
    # extend (4.7); a missing seed is accepted (test_extend_without_seed_draws_one)
    case("extend-seed-range", EXTEND, edit(EXTEND_BASE, seed=SEED_MAX + 1), "seed"),
    *[
        case(f"extend-missing-{f}", EXTEND, edit(EXTEND_BASE, **{f: DROP}), f)
        for f in ("prompt", "model", "duration", "quality")
    ],
    *[
        case(f"extend-model-{m}", EXTEND, edit(EXTEND_BASE, model=m), "model")
        for m in ("v5.6", "c1", "v2")
    ],
    case("extend-duration", EXTEND, edit(EXTEND_BASE, duration=10), "duration"),
    case(
        "extend-fast-on-v5.5",
        EXTEND,
        edit(EXTEND_BASE, model="v5.5", motion_mode="fast"),
        "motion_mode",
    ),
    case("extend-bad-style", EXTEND, edit(EXTEND_BASE, style="noir"), "style"),
    # lip sync (4.8)
    case("lip-no-audio", LIP_SYNC, edit(LIP_SYNC_BASE, audio_media_id=DROP), "audio_media_id"),
    case(
        "lip-audio-and-tts",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, lip_sync_tts_speaker_id="1", lip_sync_tts_content="hi"),
        "audio_media_id",
    ),
    case(
        "lip-speaker-only",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, audio_media_id=DROP, lip_sync_tts_speaker_id="1"),
        "audio_media_id",
    ),
    case(
        "lip-content-only",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, audio_media_id=DROP, lip_sync_tts_content="hello"),
        "audio_media_id",
    ),
    case(
        "lip-empty-content",
        LIP_SYNC,
        edit(
            LIP_SYNC_BASE, audio_media_id=DROP, lip_sync_tts_speaker_id="1", lip_sync_tts_content=""
        ),
        "audio_media_id",
    ),
    case(
        "lip-unknown-speaker",
        LIP_SYNC,
        edit(
            LIP_SYNC_BASE,
            audio_media_id=DROP,
            lip_sync_tts_speaker_id="Bob",
            lip_sync_tts_content="hello",
        ),
        "speaker",
    ),
    case(
        "lip-content-201",
        LIP_SYNC,
        edit(
            LIP_SYNC_BASE,
            audio_media_id=DROP,
            lip_sync_tts_speaker_id="1",
            lip_sync_tts_content="a" * 201,
        ),
        "200",
    ),
    case(
        "lip-unknown-audio",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, audio_media_id=UNKNOWN_ID),
        "audio_media_id",
    ),
    case(
        "lip-video-as-audio",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, audio_media_id=Ref("video2")),
        "not a audio resource",
    ),
    case(
        "lip-image-as-audio",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, audio_media_id=Ref("img")),
        "not a audio resource",
    ),
    case(
        "lip-webm-source",
        LIP_SYNC,
        edit(LIP_SYNC_BASE, video_media_id=Ref("webm")),
        "video_media_id",
    ),
    # restyle (4.11)
    case(
        "restyle-neither",
        RESTYLE,
        edit(RESTYLE_BASE, restyle_id=DROP),
        "restyle_id",
        "restyle_prompt",
    ),
    case(
        "restyle-both",
        RESTYLE,
        edit(RESTYLE_BASE, restyle_prompt="oil paint"),
        "restyle_id",
        "restyle_prompt",
    ),
    case("restyle-unknown-id", RESTYLE, edit(RESTYLE_BASE, restyle_id=9999), "restyle_id"),
    case(
        "restyle-empty-prompt",
        RESTYLE,
        edit(RESTYLE_BASE, restyle_id=DROP, restyle_prompt=""),
        "restyle_prompt",
    ),
    case(
        "restyle-source-over-16s",
        RESTYLE,
        edit(RESTYLE_BASE, video_media_id=Ref("long")),
        "video_media_id",
        "16",
    ),
    case(
        "restyle-webm-source",
        RESTYLE,
        edit(RESTYLE_BASE, video_media_id=Ref("webm")),
        "video_media_id",
    ),
    case("restyle-seed", RESTYLE, edit(RESTYLE_BASE, seed=-1), "seed"),
    # swap (4.14)
    *[
        case(f"swap-missing-{f}", SWAP, edit(SWAP_BASE, **{f: DROP}), f)
        for f in ("keyframe_id", "mask_id", "img_id", "quality")
    ],
    case("swap-1080p", SWAP, edit(SWAP_BASE, quality="1080p"), "quality"),
    case("swap-empty-mask-id", SWAP, edit(SWAP_BASE, mask_id=""), "mask_id"),
    case("swap-unknown-mask", SWAP, edit(SWAP_BASE, mask_id="12345"), "mask_id"),
    case(
        "swap-mask-of-another-video",
        SWAP,
        edit(SWAP_BASE, mask_id=Ref("masks_other", 0)),
        "mask_id",
    ),
    case(
        "swap-mask-of-the-upload-on-a-job",
        SWAP,
        edit(SWAP_BASE, video_media_id=DROP, source_video_id=Ref("job")),
        "mask_id",
    ),
    case("swap-keyframe-mismatch", SWAP, edit(SWAP_BASE, keyframe_id=2), "keyframe_id"),
    case(
        "swap-keyframe-mismatch-kf2-mask",
        SWAP,
        edit(SWAP_BASE, mask_id=Ref("masks_kf2", 0)),
        "keyframe_id",
    ),
    case("swap-webm-source", SWAP, edit(SWAP_BASE, video_media_id=Ref("webm")), "video_media_id"),
    # mimic (4.15)
    case("mimic-1080p", MIMIC, edit(MIMIC_BASE, quality="1080p"), "quality"),
    case("mimic-missing-img", MIMIC, edit(MIMIC_BASE, img_id=DROP), "img_id"),
    case("mimic-missing-quality", MIMIC, edit(MIMIC_BASE, quality=DROP), "quality"),
    case(
        "mimic-webm-source", MIMIC, edit(MIMIC_BASE, video_media_id=Ref("webm")), "video_media_id"
    ),
    # image template (4.19)
    case(
        "image-template-video-template",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, template_id=300_001),
        "template_id",
    ),
    case(
        "image-template-unknown",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, template_id=1),
        "template_id",
    ),
    case(
        "image-template-count",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, template_id=400_002),
        "template",
    ),
    case("image-template-empty", IMAGE_TEMPLATE, edit(IMAGE_TEMPLATE_BASE, img_ids=[]), "template"),
    case(
        "image-template-missing-ids",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, img_ids=DROP),
        "img_ids",
    ),
    case(
        "image-template-missing-template",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, template_id=DROP),
        "template_id",
    ),
]


@pytest.mark.parametrize(("path", "body", "fields"), INVALID)
async def test_invalid_parameter_is_400017(
    raw: Raw, world: World, path: str, body: dict[str, Any], fields: tuple[str, ...]
) -> None:
    await rejected(raw, path, await world.resolve(body), 400017, *fields)


# the video source (2.1): XOR, unknown, unfinished, wrong type, deleted, too long


def _source_body(name: str, **source: Any) -> dict[str, Any]:
    body = edit(BASES[name][1], video_media_id=DROP)
    body.update(source)
    return body


@pytest.mark.parametrize("name", VIDEO_SOURCE)
@pytest.mark.parametrize(
    ("source", "fields"),
    [
        pytest.param({}, ("source_video_id", "video_media_id"), id="neither"),
        pytest.param(
            {"video_media_id": Ref("video"), "source_video_id": Ref("job")},
            ("source_video_id", "video_media_id"),
            id="both",
        ),
        pytest.param({"video_media_id": UNKNOWN_ID}, ("video_media_id",), id="unknown-media"),
        pytest.param({"source_video_id": UNKNOWN_ID}, ("source_video_id",), id="unknown-video"),
        pytest.param({"source_video_id": Ref("running")}, ("source_video_id",), id="running"),
        pytest.param({"source_video_id": Ref("failed")}, ("source_video_id",), id="failed"),
        pytest.param({"video_media_id": Ref("audio")}, ("not a video resource",), id="audio"),
        pytest.param({"video_media_id": Ref("img")}, ("not a video resource",), id="image"),
        pytest.param({"source_video_id": Ref("img")}, ("source_video_id",), id="image-as-job"),
    ],
)
async def test_bad_video_source_is_400017(
    raw: Raw, world: World, name: str, source: dict[str, Any], fields: tuple[str, ...]
) -> None:
    body = await world.resolve(_source_body(name, **source))
    await rejected(raw, BASES[name][0], body, 400017, *fields)


@pytest.mark.parametrize("name", VIDEO_SOURCE)
async def test_deleted_source_video_is_500064(raw: Raw, world: World, name: str) -> None:
    body = await world.resolve(_source_body(name, source_video_id=Ref("deleted")))
    assert (await raw.result(body["source_video_id"]))["status"] == 6
    await rejected(raw, BASES[name][0], body, 500064, str(body["source_video_id"]))


@pytest.mark.parametrize("name", ["extend", "upscale", "mimic", "modify", "sound_effect"])
async def test_pixverse_source_over_30_s_is_400017(raw: Raw, world: World, name: str) -> None:
    # README "Decisions": the 30 s limit also applies to PixVerse-made sources
    media = await raw.upload_video(25.0, 1280, 720)
    extend = {**EXTEND_BASE, "video_media_id": media, "model": "v6", "duration": 10}
    long_job = (await raw.ok(EXTEND, extend))["video_id"]  # 25 + 10 = 35 s
    assert (await raw.wait(long_job))["status"] == 1
    body = await world.resolve(_source_body(name, source_video_id=long_job))
    await rejected(raw, BASES[name][0], body, 400017, "30")


@pytest.mark.parametrize("name", WEBHOOK_CAPABLE)
async def test_unknown_webhook_id_is_400017(raw: Raw, world: World, name: str) -> None:
    path, base, _ = BASES[name]
    body = await world.resolve({**base, "webhook_id": UNKNOWN_ID})
    await rejected(raw, path, body, 400017, "webhook_id")


async def test_another_accounts_resources_are_unknown(session: aiohttp.ClientSession) -> None:
    other = AccountConfig(api_key="pv-test-generation-other")
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key="pv-test-generation-main"), other),
        job_duration=Fixed(0.05),
        seed=3,
    )
    async with Emulator(config) as e:
        mine = World(Raw(session, e, "pv-test-generation-main"))
        theirs = Raw(session, e, other.api_key)
        await rejected(theirs, I2V, await mine.resolve(I2V_BASE), 400032, "img_id")
        await rejected(theirs, UPSCALE, await mine.resolve(UPSCALE_BASE), 400017, "video_media_id")
        await rejected(
            theirs,
            LIP_SYNC,
            {
                "video_media_id": await theirs.upload_video(),
                "audio_media_id": await mine.get("audio"),
            },
            400017,
            "audio_media_id",
        )
        await rejected(
            theirs, UPSCALE, {"source_video_id": await mine.get("job")}, 400017, "source_video_id"
        )
        swap = await mine.resolve(SWAP_BASE)
        swap.update(video_media_id=await theirs.upload_video(), img_id=await theirs.upload_image())
        await rejected(theirs, SWAP, swap, 400017, "mask_id")


# ---------------------------------------------------------------------------------------------
# 400018 / 400019: prompt limits (2.2)


PROMPT_LIMITS = [
    # id, path, changes, prompt field, accepted length, limit exceeded by one -> 400018
    *[(f"t2v-{m}", T2V, {"model": m}, "prompt", 2048) for m in ("v3.5", "v4", "v4.5", "v5")],
    *[(f"t2v-{m}", T2V, {"model": m}, "prompt", 5000) for m in ("v5.5", "v5.6", "v6", "c1")],
    ("i2v-v4.5", I2V, {"model": "v4.5"}, "prompt", 2048),
    ("i2v-v6", I2V, {"model": "v6"}, "prompt", 5000),
    ("transition-v5", TRANSITION, {}, "prompt", 2048),
    ("transition-v5.6", TRANSITION, {"model": "v5.6"}, "prompt", 5000),
    ("extend-v5", EXTEND, {}, "prompt", 2048),
    ("extend-v5.5", EXTEND, {"model": "v5.5"}, "prompt", 5000),
    ("modify", MODIFY, {}, "prompt", 5000),
    ("restyle", RESTYLE, {"restyle_id": DROP}, "restyle_prompt", 5000),
]


@pytest.mark.parametrize(
    ("path", "changes", "field", "limit"),
    [c[1:] for c in PROMPT_LIMITS],
    ids=[c[0] for c in PROMPT_LIMITS],
)
async def test_prompt_limit_is_400018(
    raw: Raw, world: World, path: str, changes: dict[str, Any], field: str, limit: int
) -> None:
    base = next(b for p, b, _ in BASES.values() if p == path)
    over = await world.resolve(edit(base, **changes, **{field: "p" * (limit + 1)}))
    await rejected(raw, path, over, 400018, field)
    # exactly the limit is fine, and the limit counts characters, not bytes or UTF-16 units
    for text in ("p" * limit, "é" * limit, "😀" * limit):
        video_id = (await raw.ok(path, {**over, field: text}))["video_id"]
        assert (await raw.result(video_id))["prompt"] == text


async def test_fusion_prompt_limits(raw: Raw, world: World) -> None:
    tail = "@dog runs around @room all day "
    v5 = await world.resolve(FUSION_BASE)
    await rejected(raw, FUSION, {**v5, "prompt": tail + "p" * (2049 - len(tail))}, 400018, "prompt")
    await raw.ok(FUSION, {**v5, "prompt": tail + "p" * (2048 - len(tail))})
    v6 = {**v5, "model": "v6"}
    await rejected(raw, FUSION, {**v6, "prompt": tail + "p" * (5001 - len(tail))}, 400018, "prompt")
    await raw.ok(FUSION, {**v6, "prompt": tail + "p" * (5000 - len(tail))})


async def test_multi_transition_item_prompt_limit(raw: Raw, world: World) -> None:
    body = await world.resolve(edit(MULTI_BASE, multi_transition=items(3, 0, prompt="p" * 2049)))
    await rejected(raw, MULTI, body, 400018, "multi_transition[0].prompt")
    body["multi_transition"][1]["prompt"] = body["multi_transition"][0]["prompt"] = "é" * 2048
    await accepted(raw, MULTI, body, 27)


@pytest.mark.parametrize(
    ("path", "model"), [(T2V, "v6"), (T2V, "v5"), (I2V, "c1"), (TRANSITION, "v5"), (EXTEND, "v5.5")]
)
async def test_negative_prompt_over_2048_is_400019(
    raw: Raw, world: World, path: str, model: str
) -> None:
    base = next(b for p, b, _ in BASES.values() if p == path)
    body = await world.resolve(edit(base, model=model, negative_prompt="n" * 2049))
    await rejected(raw, path, body, 400019, "negative_prompt")
    await raw.ok(path, {**body, "negative_prompt": "n" * 2048})


# ---------------------------------------------------------------------------------------------
# 400032: unknown image ids (2.1)


UNKNOWN_IMAGES = [
    ("i2v-img-id", I2V, edit(I2V_BASE, img_id=UNKNOWN_ID), "img_id"),
    ("i2v-video-media-as-img", I2V, edit(I2V_BASE, img_id=Ref("video")), "img_id"),
    (
        "i2v-img-ids",
        I2V,
        edit(I2V_BASE, img_id=DROP, template_id=300_002, img_ids=[Ref("img"), UNKNOWN_ID]),
        "img_ids",
    ),
    (
        "transition-first",
        TRANSITION,
        edit(TRANSITION_BASE, first_frame_img=UNKNOWN_ID),
        "first_frame_img",
    ),
    (
        "transition-last",
        TRANSITION,
        edit(TRANSITION_BASE, last_frame_img=UNKNOWN_ID),
        "last_frame_img",
    ),
    (
        "fusion-reference",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "subject", "img_id": Ref("img"), "ref_name": "dog"},
                {"type": "background", "img_id": UNKNOWN_ID, "ref_name": "room"},
            ],
        ),
        "image_references",
    ),
    (
        "multi-transition-item",
        MULTI,
        edit(
            MULTI_BASE,
            multi_transition=[{"img_id": Ref("img"), "duration": 3}, {"img_id": UNKNOWN_ID}],
        ),
        "multi_transition",
    ),
    ("swap-img", SWAP, edit(SWAP_BASE, img_id=UNKNOWN_ID), "img_id"),
    ("mimic-img", MIMIC, edit(MIMIC_BASE, img_id=Ref("audio")), "img_id"),
    ("modify-img-ids", MODIFY, edit(MODIFY_BASE, img_ids=[Ref("img"), UNKNOWN_ID]), "img_ids"),
    ("image-template", IMAGE_TEMPLATE, edit(IMAGE_TEMPLATE_BASE, img_ids=[UNKNOWN_ID]), "img_ids"),
]


@pytest.mark.parametrize(
    ("path", "body", "field"), [c[1:] for c in UNKNOWN_IMAGES], ids=[c[0] for c in UNKNOWN_IMAGES]
)
async def test_unknown_image_is_400032(
    raw: Raw, world: World, path: str, body: dict[str, Any], field: str
) -> None:
    resolved = await world.resolve(body)
    await rejected(raw, path, resolved, 400032, field)


# ---------------------------------------------------------------------------------------------
# templates (4.3): 500070 not activated, 500071 quality unsupported


TEMPLATE_ERRORS = [
    ("t2v-not-activated", T2V, edit(T2V_BASE, template_id=300_003), 500070),
    ("i2v-not-activated", I2V, edit(I2V_BASE, template_id=300_003), 500070),
    ("t2v-720p-unsupported", T2V, edit(T2V_BASE, template_id=300_004, quality="720p"), 500071),
    ("i2v-1080p-unsupported", I2V, edit(I2V_BASE, template_id=300_004, quality="1080p"), 500071),
]


@pytest.mark.parametrize(
    ("path", "body", "code"), [c[1:] for c in TEMPLATE_ERRORS], ids=[c[0] for c in TEMPLATE_ERRORS]
)
async def test_template_errors(
    raw: Raw, world: World, path: str, body: dict[str, Any], code: int
) -> None:
    await rejected(raw, path, await world.resolve(body), code, "300")


async def test_image_template_not_activated_is_500070(session: aiohttp.ClientSession) -> None:
    templates = (TemplateConfig(400_009, "image", 1, activated=False),)
    async with Emulator(EmulatorConfig(templates=templates, job_duration=Fixed(0.05))) as e:
        raw = Raw(session, e, e.api_key)
        body = {"template_id": 400_009, "img_ids": [await raw.upload_image()]}
        await rejected(raw, IMAGE_TEMPLATE, body, 500070, "400009")


# ---------------------------------------------------------------------------------------------
# input checks (README "Triggers"): 500063, 500054, 701002, 701003


REJECT = "[emulator:reject]"
MODERATION = [
    ("t2v-prompt", T2V, edit(T2V_BASE, prompt=f"a fox {REJECT}"), 500063),
    ("t2v-negative-prompt", T2V, edit(T2V_BASE, negative_prompt=REJECT), 500063),
    ("i2v-prompt", I2V, edit(I2V_BASE, prompt=REJECT), 500063),
    ("transition-prompt", TRANSITION, edit(TRANSITION_BASE, prompt=REJECT), 500063),
    (
        "multi-item-prompt",
        MULTI,
        edit(MULTI_BASE, multi_transition=items(3, 0, prompt=REJECT)),
        500063,
    ),
    ("fusion-prompt", FUSION, edit(FUSION_BASE, prompt=f"@dog runs around @room {REJECT}"), 500063),
    ("extend-prompt", EXTEND, edit(EXTEND_BASE, prompt=REJECT), 500063),
    ("restyle-prompt", RESTYLE, edit(RESTYLE_BASE, restyle_id=DROP, restyle_prompt=REJECT), 500063),
    ("modify-prompt", MODIFY, edit(MODIFY_BASE, prompt=REJECT), 500063),
    ("i2v-flagged", I2V, edit(I2V_BASE, img_id=Ref("flagged")), 500054),
    (
        "i2v-template-flagged",
        I2V,
        edit(I2V_BASE, img_id=DROP, template_id=300_002, img_ids=[Ref("img"), Ref("flagged")]),
        500054,
    ),
    (
        "transition-flagged",
        TRANSITION,
        edit(TRANSITION_BASE, last_frame_img=Ref("flagged")),
        500054,
    ),
    (
        "multi-flagged",
        MULTI,
        edit(
            MULTI_BASE,
            multi_transition=[{"img_id": Ref("img"), "duration": 3}, {"img_id": Ref("flagged")}],
        ),
        500054,
    ),
    (
        "fusion-flagged",
        FUSION,
        edit(
            FUSION_BASE,
            image_references=[
                {"type": "subject", "img_id": Ref("flagged"), "ref_name": "dog"},
                {"type": "background", "img_id": Ref("img2"), "ref_name": "room"},
            ],
        ),
        500054,
    ),
    ("swap-flagged", SWAP, edit(SWAP_BASE, img_id=Ref("flagged")), 500054),
    ("mimic-flagged", MIMIC, edit(MIMIC_BASE, img_id=Ref("flagged")), 500054),
    ("modify-flagged", MODIFY, edit(MODIFY_BASE, img_ids=[Ref("flagged")]), 500054),
    (
        "image-template-flagged",
        IMAGE_TEMPLATE,
        edit(IMAGE_TEMPLATE_BASE, img_ids=[Ref("flagged")]),
        500054,
    ),
    ("mimic-no-subject", MIMIC, edit(MIMIC_BASE, img_id=Ref("nosubject")), 701002),
    ("mimic-no-person", MIMIC, edit(MIMIC_BASE, video_media_id=Ref("noperson")), 701003),
]


@pytest.mark.parametrize(
    ("path", "body", "code"), [c[1:] for c in MODERATION], ids=[c[0] for c in MODERATION]
)
async def test_input_checks(
    raw: Raw, world: World, path: str, body: dict[str, Any], code: int
) -> None:
    await rejected(raw, path, await world.resolve(body), code)


async def test_trigger_names_matter_only_where_the_check_applies(raw: Raw, world: World) -> None:
    # a no-subject image and a no-person video are fine outside mimic
    await accepted(raw, I2V, await world.resolve(edit(I2V_BASE, img_id=Ref("nosubject"))), 45)
    body = await world.resolve(edit(UPSCALE_BASE, video_media_id=Ref("noperson")))
    await accepted(raw, UPSCALE, body, 25)


async def test_field_rules_come_before_input_checks(raw: Raw) -> None:
    # reference 1.8 step 6 lists 4000xx before the 5000xx input checks
    await rejected(raw, T2V, edit(T2V_BASE, prompt=REJECT, duration=10), 400017, "duration")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        pytest.param(T2V, edit(T2V_BASE, model="v1", seed="1"), "seed", id="t2v-seed"),
        pytest.param(T2V, edit(T2V_BASE, prompt=DROP, duration=5.5), "duration", id="t2v-duration"),
        pytest.param(
            MULTI,
            edit(MULTI_BASE, model="v6", multi_transition=[{"img_id": "1"}]),
            "img_id",
            id="multi-nested-item",
        ),
        pytest.param(
            MODIFY, edit(MODIFY_BASE, quality="1080p", mask_ids=[1]), "mask_ids", id="modify"
        ),
    ],
)
async def test_type_errors_come_before_field_rules(
    raw: Raw, world: World, path: str, body: dict[str, Any], field: str
) -> None:
    # reference 1.8: step 5 (400013) runs before step 6 (400017 and the rest)
    await rejected(raw, path, await world.resolve(body), 400013, field)
