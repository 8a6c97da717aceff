"""Request models: valid bodies serialise exactly; every documented rule refuses, naming the field.

Reference sections 2 (shared conventions), 4 (endpoints), 8 (models and enums); Project
decisions 1-3, 6, 9 and 10. No network.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from pixverse_async._exceptions import RequestValidationError
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

BIG = 2**53 + 7  # ids above 2**53 must survive as ints
IMG, IMG2, IMG3, IMG4 = BIG + 1, BIG + 2, BIG + 3, BIG + 4
DROP = object()  # an override that removes the field

VALID: dict[str, tuple[type[RequestModel], dict[str, Any]]] = {
    "t2v-legacy": (
        TextToVideoRequest,
        {
            "prompt": "a cat surfing",
            "model": "v4",
            "duration": 5,
            "quality": "540p",
            "aspect_ratio": "16:9",
            "negative_prompt": "blurry",
            "motion_mode": "fast",
            "seed": 2_147_483_647,
            "style": "anime",
            "camera_movement": "zoom_in",
            "water_mark": False,
            "sound_effect_switch": True,
            "sound_effect_content": "waves",
            "lip_sync_tts_switch": True,
            "lip_sync_tts_content": "hello there",
            "lip_sync_tts_speaker_id": "1",
            "thinking_type": "auto",
            "webhook_id": BIG,
        },
    ),
    "t2v-v6": (
        TextToVideoRequest,
        {
            "prompt": "é" * 5000,
            "model": "v6",
            "duration": 13,
            "quality": "1080p",
            "aspect_ratio": "21:9",
            "generate_audio_switch": True,
            "generate_multi_clip_switch": True,
            "thinking_type": "enabled",
        },
    ),
    "t2v-template": (
        TextToVideoRequest,
        {
            "prompt": "",
            "model": "c1",
            "duration": 5,
            "quality": "720p",
            "aspect_ratio": "9:16",
            "template_id": 300_001,
            "sound_effect_switch": True,
        },
    ),
    "i2v": (
        ImageToVideoRequest,
        {"prompt": "", "model": "v5.5", "duration": 10, "quality": "720p", "img_id": IMG},
    ),
    "i2v-template": (
        ImageToVideoRequest,
        {
            "prompt": "hug",
            "model": "v5",
            "duration": 5,
            "quality": "360p",
            "img_ids": [IMG, IMG2],
            "template_id": 300_002,
        },
    ),
    "transition": (
        TransitionRequest,
        {
            "prompt": "morph",
            "model": "v3.5",
            "duration": 8,
            "quality": "720p",
            "first_frame_img": IMG,
            "last_frame_img": IMG2,
            "motion_mode": "normal",
            "seed": 0,
            "negative_prompt": "",
            "water_mark": True,
            "sound_effect_switch": True,
            "lip_sync_tts_switch": False,
            "webhook_id": 3,
        },
    ),
    "multi-transition": (
        MultiTransitionRequest,
        {
            "multi_transition": [
                {"img_id": IMG, "duration": 5, "prompt": "zoom"},
                {"img_id": IMG2, "duration": 1},
                {"img_id": IMG3},
            ],
            "model": "v4.5",
            "quality": "1080p",
            "seed": 7,
            "webhook_id": 9,
        },
    ),
    "fusion": (
        FusionRequest,
        {
            "image_references": [
                {"type": "subject", "img_id": IMG, "ref_name": "dog"},
                {"type": "background", "img_id": IMG2, "ref_name": "é" * 15},
            ],
            "prompt": f"@dog plays at @{'é' * 15}",
            "model": "v5.6",
            "duration": 8,
            "quality": "540p",
            "aspect_ratio": "1:1",
            "seed": 11,
            "generate_audio_switch": True,
        },
    ),
    "extend": (
        ExtendRequest,
        {
            "source_video_id": BIG,
            "prompt": "keep going",
            "model": "c1",
            "duration": 15,
            "quality": "360p",
            "seed": 5,
            "style": "day",
            "negative_prompt": "no",
            "water_mark": False,
            "template_id": 4,
            "webhook_id": 5,
        },
    ),
    "lip-sync-audio": (LipSyncRequest, {"video_media_id": BIG, "audio_media_id": BIG + 9}),
    "lip-sync-tts": (
        LipSyncRequest,
        {
            "source_video_id": BIG,
            "lip_sync_tts_speaker_id": "Auto",
            "lip_sync_tts_content": "t" * 200,
            "webhook_id": 1,
        },
    ),
    "sound-effect": (
        SoundEffectRequest,
        {"video_media_id": BIG, "original_sound_switch": True, "sound_effect_content": ""},
    ),
    "restyle-id": (RestyleRequest, {"video_media_id": BIG, "restyle_id": 1001, "seed": 3}),
    "restyle-prompt": (RestyleRequest, {"source_video_id": BIG, "restyle_prompt": "a" * 5000}),
    "mask-selection": (MaskSelectionRequest, {"video_media_id": BIG, "keyframe_id": 0}),
    "swap": (
        SwapRequest,
        {
            "video_media_id": BIG,
            "keyframe_id": 1,
            "mask_id": "3847593904",
            "img_id": IMG,
            "quality": "720p",
            "original_sound_switch": False,
        },
    ),
    "mimic": (MimicRequest, {"source_video_id": BIG, "img_id": IMG, "quality": "1080p"}),
    "modify": (
        ModifyRequest,
        {
            "video_media_id": BIG,
            "prompt": "@selection0 subject is swapped with @img1, not @ima0",
            "img_ids": [IMG, IMG2],
            "mask_ids": ["3847593904"],
            "keyframe_id": 1,
            "keyframe_ids": 1,  # the SDK sends the keyframe under both names (4.16)
            "quality": "540p",
            "seed": 2_147_483_647,
            "webhook_id": 8,
        },
    ),
    "modify-urls": (
        ModifyRequest,
        {
            "source_video_id": BIG,
            "prompt": "remove @selection2",
            "mask_urls": ["https://a/1.png", "http://a/2.png", "HTTPS://A/3.PNG"],
            "quality": "360p",
        },
    ),
    "modify-images": (
        ModifyRequest,
        {"video_media_id": BIG, "prompt": "add @img8", "img_ids": [IMG] * 9, "quality": "720p"},
    ),
    "upscale": (UpscaleRequest, {"source_video_id": BIG, "webhook_id": 2}),
    "image-template": (ImageTemplateRequest, {"template_id": 400_002, "img_ids": [IMG, IMG2]}),
}


def _with(body: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    out = dict(body)
    for key, value in overrides.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _reject(name: str, overrides: dict[str, Any]) -> RequestValidationError:
    cls, body = VALID[name]
    with pytest.raises(RequestValidationError) as info:
        build(cls, **_with(body, overrides))
    return info.value


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_body_serialises_exactly(name: str) -> None:
    cls, body = VALID[name]
    sent = build(cls, **body).to_body()
    # Same keys, values and JSON types: ints stay ints (never floats or strings).
    assert json.dumps(sent, sort_keys=True) == json.dumps(body, sort_keys=True)


def test_optional_fields_are_sent_only_when_set() -> None:
    body = build(
        TextToVideoRequest,
        prompt="p",
        model="v5",
        duration=8,
        quality="540p",
        aspect_ratio="4:3",
        seed=None,
        negative_prompt=None,
    ).to_body()
    assert body == {
        "prompt": "p",
        "model": "v5",
        "duration": 8,
        "quality": "540p",
        "aspect_ratio": "4:3",
    }


def _int_fields() -> list[tuple[str, str]]:
    return [
        (name, key)
        for name, (_, body) in sorted(VALID.items())
        for key, value in body.items()
        if type(value) is int
    ]


@pytest.mark.parametrize(("name", "key"), _int_fields())
@pytest.mark.parametrize("bad", [True, 5.0, "5"], ids=["bool", "float", "str"])
def test_int_fields_take_real_ints_only(name: str, key: str, bad: Any) -> None:
    err = _reject(name, {key: bad})
    assert err.field == key
    assert key in str(err)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("i2v-template", "img_ids"),
        ("modify", "img_ids"),
        ("image-template", "img_ids"),
    ],
)
@pytest.mark.parametrize("bad", [[True], [1.0], ["12"]], ids=["bool", "float", "str"])
def test_id_list_items_take_real_ints_only(name: str, key: str, bad: list[Any]) -> None:
    assert _reject(name, {key: bad}).field == f"{key}[0]"


def test_nested_ids_take_real_ints_only() -> None:
    items = [{"img_id": "1", "duration": 5}, {"img_id": IMG}]
    assert _reject("multi-transition", {"multi_transition": items}).field == (
        "multi_transition[0].img_id"
    )
    refs = [{"type": "subject", "img_id": 1.0, "ref_name": "dog"}]
    assert _reject("fusion", {"image_references": refs}).field == "image_references[0].img_id"


def test_ids_are_64_bit() -> None:
    assert build(UpscaleRequest, source_video_id=2**63 - 1).to_body() == {
        "source_video_id": 2**63 - 1
    }
    assert _reject("upscale", {"source_video_id": 2**63}).field == "source_video_id"


@pytest.mark.parametrize(
    ("name", "key", "bad"),
    [
        ("mask-selection", "keyframe_id", "1"),
        ("swap", "mask_id", 3847593904),
        ("modify", "mask_ids", [3847593904]),
        ("lip-sync-tts", "lip_sync_tts_speaker_id", 1),
        ("t2v-legacy", "water_mark", 0),
        ("t2v-legacy", "prompt", 5),
        ("modify", "img_ids", 5),
    ],
)
def test_other_wrong_types_are_refused(name: str, key: str, bad: Any) -> None:
    assert _reject(name, {key: bad}).field is not None
    assert key in str(_reject(name, {key: bad}))


# ---------------------------------------------------------------------------------------------
# Rules: (valid example, overrides, field blamed, text in the message)

RULES: list[tuple[str, dict[str, Any], str, str]] = [
    # required fields and unknown fields
    ("t2v-legacy", {"prompt": DROP}, "prompt", "required"),
    ("t2v-legacy", {"aspect_ratio": DROP}, "aspect_ratio", "required"),
    ("t2v-legacy", {"lip_sync_switch": True}, "lip_sync_switch", "lip_sync_tts_switch"),
    ("i2v", {"aspect_ratio": "16:9"}, "aspect_ratio", "not a field"),
    # enums (8.3)
    ("t2v-legacy", {"model": "v1"}, "model", "must be one of v3.5"),
    ("t2v-legacy", {"quality": "4k"}, "quality", "must be one of 360p"),
    ("t2v-legacy", {"motion_mode": "slow"}, "motion_mode", "normal, fast"),
    ("t2v-legacy", {"style": "noir"}, "style", "anime"),
    ("t2v-legacy", {"thinking_type": "maybe"}, "thinking_type", "enabled"),
    ("t2v-legacy", {"camera_movement": "spin"}, "camera_movement", "zoom_in"),
    # prompt limits (2.2): characters, by model
    ("t2v-legacy", {"prompt": "é" * 2049}, "prompt", "at most 2048"),
    ("t2v-v6", {"prompt": "a" * 5001}, "prompt", "limit is 5000"),
    ("t2v-legacy", {"prompt": "   "}, "prompt", "empty"),
    ("t2v-legacy", {"negative_prompt": "n" * 2049}, "negative_prompt", "2048"),
    ("t2v-legacy", {"lip_sync_tts_content": "t" * 201}, "lip_sync_tts_content", "200"),
    # seed
    ("t2v-legacy", {"seed": -1}, "seed", "0 to 2147483647"),
    ("t2v-legacy", {"seed": 2**31}, "seed", "0 to 2147483647"),
    # durations per model and quality (8.2)
    ("t2v-legacy", {"duration": 10}, "duration", "5, 8"),
    ("t2v-v6", {"duration": 16}, "duration", "1-15"),
    ("t2v-v6", {"duration": 0}, "duration", "1-15"),
    ("i2v", {"duration": 10, "quality": "1080p"}, "duration", "5, 8"),
    ("transition", {"quality": "1080p"}, "duration", "v3.5 at 1080p"),
    # aspect ratios
    ("t2v-legacy", {"aspect_ratio": "21:9"}, "aspect_ratio", "v6 or c1 add more"),
    ("t2v-v6", {"aspect_ratio": "5:4"}, "aspect_ratio", "must be one of"),
    # fast motion: v3.5/v4/v4.5, 5 s, below 1080p
    ("t2v-v6", {"motion_mode": "fast", "duration": 5, "quality": "720p"}, "motion_mode", "v4.5"),
    ("t2v-legacy", {"duration": 8}, "motion_mode", "5 s"),
    ("t2v-legacy", {"quality": "1080p"}, "motion_mode", "1080p"),
    ("transition", {"model": "v5", "motion_mode": "fast", "duration": 5}, "motion_mode", "v4.5"),
    # camera movement: v4/v4.5, never with a template
    ("t2v-legacy", {"model": "v5", "motion_mode": DROP}, "camera_movement", "v4 or v4.5"),
    ("t2v-legacy", {"template_id": 1}, "camera_movement", "template_id"),
    # switches gated by model (a False switch is always fine)
    (
        "t2v-legacy",
        {"model": "v5.5", "motion_mode": DROP, "camera_movement": DROP},
        "sound_effect_switch",
        "v5",
    ),
    ("t2v-v6", {"lip_sync_tts_switch": True}, "lip_sync_tts_switch", "template_id"),
    ("t2v-legacy", {"generate_audio_switch": True}, "generate_audio_switch", "v5.5"),
    ("t2v-v6", {"model": "c1"}, "generate_multi_clip_switch", "v5.5 or v6"),
    ("transition", {"model": "v5.5"}, "sound_effect_switch", "v3.5, v4, v4.5 or v5"),
    ("transition", {"generate_audio_switch": True}, "generate_audio_switch", "v5.6"),
    # image-to-video: img_id XOR img_ids, img_ids needs a template and is never empty
    ("i2v", {"img_ids": [IMG]}, "img_ids", "mutually exclusive"),
    ("i2v", {"img_id": DROP}, "img_id", "exactly one"),
    ("i2v", {"img_id": DROP, "img_ids": [IMG, IMG2]}, "img_ids", "template_id"),
    ("i2v-template", {"img_ids": []}, "img_ids", "empty"),
    # multi-transition (4.5)
    ("multi-transition", {"model": "v5.5"}, "model", "for multi-transition"),
    (
        "multi-transition",
        {"multi_transition": [{"img_id": IMG}]},
        "multi_transition",
        "2 to 7 items",
    ),
    (
        "multi-transition",
        {"multi_transition": [{"img_id": IMG, "duration": 2}] * 7 + [{"img_id": IMG}]},
        "multi_transition",
        "2 to 7",
    ),
    (
        "multi-transition",
        {"multi_transition": [{"img_id": IMG}, {"img_id": IMG2}]},
        "multi_transition[0].duration",
        "required",
    ),
    (
        "multi-transition",
        {"multi_transition": [{"img_id": IMG, "duration": 9}, {"img_id": IMG2}]},
        "multi_transition[0].duration",
        "1-8",
    ),
    (
        "multi-transition",
        {
            "multi_transition": [{"img_id": IMG, "duration": 3}] * 2
            + [{"img_id": IMG, "duration": 6}, {"img_id": IMG}]
        },
        "multi_transition[2].duration",
        "1-5",
    ),
    (
        "multi-transition",
        {"multi_transition": [{"img_id": IMG, "duration": 3}, {"img_id": IMG, "duration": 2}]},
        "multi_transition[1].duration",
        "last item",
    ),
    (
        "multi-transition",
        {
            "multi_transition": [
                {"img_id": IMG, "duration": 1, "prompt": "p" * 2049},
                {"img_id": IMG},
            ]
        },
        "multi_transition[0].prompt",
        "2048",
    ),
    (
        "multi-transition",
        {"motion_mode": "fast", "quality": "720p"},
        "motion_mode",
        "at most 5 s",
    ),
    # fusion (4.6)
    ("fusion", {"model": "v4"}, "model", "for fusion"),
    ("fusion", {"image_references": []}, "image_references", "1 to 7"),
    (
        "fusion",
        {
            "model": "v5",
            "generate_audio_switch": DROP,
            "image_references": [
                {"type": "subject", "img_id": IMG, "ref_name": n} for n in ("a", "b", "c", "d")
            ],
            "prompt": "@a @b @c @d",
        },
        "image_references",
        "1 to 3 items on model v5",
    ),
    (
        "fusion",
        {"image_references": [{"type": "face", "img_id": IMG, "ref_name": "dog"}]},
        "image_references[0].type",
        "subject, background",
    ),
    (
        "fusion",
        {"image_references": [{"type": "subject", "img_id": IMG, "ref_name": "é" * 16}]},
        "image_references[0].ref_name",
        "30",
    ),
    (
        "fusion",
        {"image_references": [{"type": "subject", "img_id": IMG, "ref_name": " "}]},
        "image_references[0].ref_name",
        "empty",
    ),
    (
        "fusion",
        {
            "image_references": [
                {"type": "subject", "img_id": IMG, "ref_name": "dog"},
                {"type": "subject", "img_id": IMG2, "ref_name": "dog"},
            ]
        },
        "image_references[1].ref_name",
        "unique",
    ),
    ("fusion", {"prompt": "@dog, plays"}, "image_references[0].ref_name", "@dog followed by"),
    ("fusion", {"prompt": "@dogs play"}, "image_references[0].ref_name", "@dog followed by"),
    ("fusion", {"model": "v5.5"}, "generate_audio_switch", "v5.6"),
    ("fusion", {"aspect_ratio": "2:3"}, "aspect_ratio", "for model v5.6"),
    ("fusion", {"duration": 10, "quality": "1080p"}, "duration", "5, 8"),
    ("fusion", {"seed": -1}, "seed", "0 to"),
    # extend (4.7)
    ("extend", {"source_video_id": DROP}, "source_video_id", "exactly one"),
    ("extend", {"video_media_id": 1}, "video_media_id", "mutually exclusive"),
    ("extend", {"model": "v1"}, "model", "must be one of"),
    ("extend", {"duration": 20}, "duration", "1-15"),
    ("extend", {"model": "v4", "motion_mode": "fast", "duration": 8}, "motion_mode", "5 s"),
    ("extend", {"prompt": "p" * 2049, "model": "v5", "duration": 5}, "prompt", "2048"),
    # lip sync (4.8)
    ("lip-sync-audio", {"lip_sync_tts_content": "hi"}, "audio_media_id", "mutually exclusive"),
    ("lip-sync-audio", {"audio_media_id": DROP}, "audio_media_id", "give audio_media_id"),
    ("lip-sync-tts", {"lip_sync_tts_speaker_id": DROP}, "lip_sync_tts_speaker_id", "required"),
    ("lip-sync-tts", {"lip_sync_tts_content": DROP}, "lip_sync_tts_content", "required"),
    ("lip-sync-tts", {"lip_sync_tts_content": " "}, "lip_sync_tts_content", "required"),
    ("lip-sync-tts", {"lip_sync_tts_content": "é" * 201}, "lip_sync_tts_content", "200"),
    # sound effect (4.10)
    ("sound-effect", {"video_media_id": DROP}, "source_video_id", "exactly one"),
    ("sound-effect", {"prompt": "rain"}, "prompt", "not a field"),
    # restyle (4.11)
    ("restyle-id", {"restyle_prompt": "anime"}, "restyle_prompt", "mutually exclusive"),
    ("restyle-id", {"restyle_id": DROP}, "restyle_id", "exactly one"),
    ("restyle-prompt", {"restyle_prompt": ""}, "restyle_prompt", "empty"),
    ("restyle-prompt", {"restyle_prompt": "a" * 5001}, "restyle_prompt", "5000"),
    # mask selection (4.13): 0 and up
    ("mask-selection", {"keyframe_id": -1}, "keyframe_id", "0 or more"),
    ("mask-selection", {"video_media_id": DROP}, "source_video_id", "exactly one"),
    # swap (4.14)
    ("swap", {"quality": "1080p"}, "quality", "for swap (1080p is not supported)"),
    ("swap", {"mask_id": ""}, "mask_id", "empty"),
    ("swap", {"keyframe_id": DROP}, "keyframe_id", "required"),
    ("swap", {"img_id": DROP}, "img_id", "required"),
    # mimic (4.15): 1080p is accepted (decision 10); the quality enum still applies
    ("mimic", {"quality": "4k"}, "quality", "must be one of"),
    ("mimic", {"video_media_id": BIG}, "video_media_id", "mutually exclusive"),
    # modify (4.16, decision 9)
    ("modify", {"video_media_id": DROP}, "source_video_id", "exactly one"),
    ("modify", {"source_video_id": BIG}, "video_media_id", "mutually exclusive"),
    ("modify", {"quality": "1080p"}, "quality", "for modify (1080p is not supported)"),
    ("modify", {"prompt": " "}, "prompt", "empty"),
    ("modify", {"prompt": "é" * 5001}, "prompt", "5000"),
    ("modify", {"img_ids": []}, "img_ids", "1 to 9"),
    ("modify", {"img_ids": [IMG, IMG2, IMG3, IMG4]}, "img_ids", "with 1 mask(s)"),
    ("modify-urls", {"img_ids": [IMG] * 10}, "img_ids", "1 to 9"),
    (
        "modify-urls",
        {"mask_urls": ["https://a/1.png", "https://a/2.png"], "img_ids": [IMG] * 7},
        "img_ids",
        "at most 6",
    ),
    ("modify", {"mask_ids": []}, "mask_ids", "1 to 3"),
    ("modify", {"mask_ids": ["1", "2", "3", "4"]}, "mask_ids", "1 to 3"),
    ("modify", {"mask_urls": ["https://a/m.png"]}, "mask_urls", "mutually exclusive"),
    ("modify-urls", {"mask_urls": []}, "mask_urls", "1 to 3"),
    ("modify-urls", {"mask_urls": ["ftp://a/m.png"]}, "mask_urls", "http(s)"),
    ("modify-urls", {"mask_urls": ["a/m.png"]}, "mask_urls", "http(s)"),
    ("modify", {"prompt": "@selection1 swapped"}, "prompt", "@selection1"),
    ("modify", {"prompt": "@selection0 and @img2"}, "prompt", "@img2"),
    ("modify", {"img_ids": DROP}, "prompt", "@img1"),
    ("modify", {"prompt": "@selection01 x"}, "prompt", "@selection01"),
    ("modify-urls", {"prompt": "@selection3"}, "prompt", "3 mask(s)"),
    ("modify", {"seed": 2**31}, "seed", "0 to"),
    ("modify", {"keyframe_ids": 2}, "keyframe_ids", "differ"),
    ("modify", {"keyframe_ids": [2]}, "keyframe_ids", "differ"),
    ("modify", {"keyframe_ids": [1, 1]}, "keyframe_ids", "one-element list"),
    ("modify", {"keyframe_ids": []}, "keyframe_ids", "one-element list"),
    ("modify", {"keyframe_ids": ["1"]}, "keyframe_ids", "int"),
    ("modify", {"keyframe_id": [1]}, "keyframe_id", "int"),
    # the SDK's safety rule on references holds for 9 images too
    ("modify-urls", {"img_ids": [IMG] * 9, "prompt": "@img9 @selection2"}, "prompt", "@img9"),
    # image template (4.19)
    ("image-template", {"template_id": DROP}, "template_id", "required"),
    ("image-template", {"img_ids": DROP}, "img_ids", "required"),
]


@pytest.mark.parametrize(
    ("name", "overrides", "field", "text"),
    RULES,
    ids=[f"{name}:{field}:{i}" for i, (name, _, field, _) in enumerate(RULES)],
)
def test_rule_refuses_naming_the_field(
    name: str, overrides: dict[str, Any], field: str, text: str
) -> None:
    err = _reject(name, overrides)
    assert err.field == field
    assert text in str(err)


# ---------------------------------------------------------------------------------------------
# Accepted on purpose: the wider set, or what a rule explicitly allows

ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    # a false switch is accepted on any model
    ("t2v-v6", {"sound_effect_switch": False, "lip_sync_tts_switch": False}),
    ("t2v-legacy", {"generate_audio_switch": False, "generate_multi_clip_switch": False}),
    # legacy switches on any model with a template; any duration with a template (4.3)
    ("t2v-template", {"lip_sync_tts_switch": True, "duration": 0}),
    # thinking_type on any model (the emulator accepts it everywhere)
    ("t2v-legacy", {"thinking_type": "disabled"}),
    # style "day" is the guides' spelling of "clay"
    ("t2v-legacy", {"style": "day"}),
    # any speaker id string: the TTS list is the server's
    ("lip-sync-tts", {"lip_sync_tts_speaker_id": "custom-voice-7"}),
    # v3.5: 8 s except at 1080p
    ("transition", {"quality": "540p"}),
    # mask selection keyframe 0 (a third-party client sends it)
    ("mask-selection", {"keyframe_id": 0}),
    # mimic at 1080p (decision 10)
    ("mimic", {"quality": "1080p"}),
    # extend on any model id, fast on a fast model
    ("extend", {"model": "v5.6", "duration": 10, "quality": "720p"}),
    ("extend", {"model": "v3.5", "duration": 5, "motion_mode": "fast"}),
    # fusion: @name at the very end of the prompt, or followed by any whitespace
    ("fusion", {"prompt": f"@dog\tat @{'é' * 15}"}),
    # modify: unreferenced masks and images are fine; only exact token shapes count
    ("modify", {"prompt": "@ima0 @selection @imgx make it snow"}),
    ("modify", {"mask_ids": ["1", "2", "3"], "img_ids": [IMG, IMG2, IMG3]}),
    # up to 3 images per selection (4.16): 9 with three masks, and 9 without masks
    ("modify-urls", {"img_ids": [IMG, IMG2, IMG3] * 3}),
    ("modify-images", {"img_ids": [IMG2] * 9}),
    # the keyframe under the page examples' name, beside an equal keyframe_id
    ("modify", {"keyframe_ids": 1}),
    ("modify-urls", {"keyframe_id": -3}),
    # multi-transition: the last item may send 0; 2 items allow 8 s
    (
        "multi-transition",
        {"multi_transition": [{"img_id": IMG, "duration": 8}, {"img_id": IMG2, "duration": 0}]},
    ),
    # image template: the image count is the template's business
    ("image-template", {"img_ids": []}),
    # a tuple is as good as a list
    ("image-template", {"img_ids": (IMG,)}),
]


@pytest.mark.parametrize(("name", "overrides"), ACCEPTED)
def test_accepted_on_purpose(name: str, overrides: dict[str, Any]) -> None:
    cls, body = VALID[name]
    sent = build(cls, **_with(body, overrides)).to_body()
    for key, value in overrides.items():
        assert sent[key] == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("cls", [FusionRequest, ExtendRequest])
def test_seed_is_always_sent(cls: type[RequestModel]) -> None:
    name = "fusion" if cls is FusionRequest else "extend"
    body = _with(VALID[name][1], {"seed": DROP})
    seeds = {build(cls, **body).to_body()["seed"] for _ in range(20)}
    assert all(type(s) is int and 0 <= s <= 2_147_483_647 for s in seeds)
    assert len(seeds) > 1  # random, not a constant
    assert 0 <= build(cls, **_with(body, {"seed": None})).to_body()["seed"] <= 2_147_483_647
    assert build(cls, **_with(body, {"seed": 0})).to_body()["seed"] == 0


@pytest.mark.parametrize(
    "given",
    [{"keyframe_id": 3}, {"keyframe_ids": 3}, {"keyframe_ids": [3]}, {"keyframe_ids": (3,)}],
)
def test_modify_sends_the_keyframe_under_both_names(given: dict[str, Any]) -> None:
    body = _with(VALID["modify"][1], {"keyframe_id": DROP, "keyframe_ids": DROP, **given})
    sent = build(ModifyRequest, **body).to_body()
    assert (sent["keyframe_id"], sent["keyframe_ids"]) == (3, 3)
    assert type(sent["keyframe_ids"]) is int  # as the page's examples send it
    again = _with(VALID["modify"][1], {"keyframe_id": DROP, "keyframe_ids": DROP})
    assert "keyframe_id" not in build(ModifyRequest, **again).to_body()
    assert "keyframe_ids" not in build(ModifyRequest, **again).to_body()


def test_legacy_lip_sync_switch_is_sent_as_tts_switch() -> None:
    sent = build(TextToVideoRequest, **VALID["t2v-legacy"][1]).to_body()
    assert sent["lip_sync_tts_switch"] is True
    assert "lip_sync_switch" not in sent
