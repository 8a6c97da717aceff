"""Facts of the PixVerse API that both the SDK and the emulator need.

Everything here comes from the project's API reference (``shared/pixverse-api.md``):
model ids and their capability matrix (section 8), enums, prompt limits (2.2) and upload
constraints (9). No I/O and no policy: callers decide whether a rule rejects (the emulator)
or only warns (the SDK accepts the wider set where the reference is uncertain).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

# ---------------------------------------------------------------------------
# Enums (section 8.3). The ``Literal`` aliases type the ``client.video`` arguments (an editor
# offers the values); each tuple below is derived from its alias, so the two cannot differ.

#: a model id (8.1)
Model = Literal["v3.5", "v4", "v4.5", "v5", "v5.5", "v5.6", "v6", "c1"]
#: the models of multi-transition (4.5)
MultiTransitionModel = Literal["v3.5", "v4", "v4.5", "v5"]
#: the models of fusion (4.6)
FusionModel = Literal["v4.5", "v5", "v5.5", "v5.6", "v6", "c1"]
#: ``quality`` (8.3); mimic takes all four too (Project decision 10)
Quality = Literal["360p", "540p", "720p", "1080p"]
#: ``quality`` of modify (4.16): no 1080p
ModifyQuality = Literal["360p", "540p", "720p"]
#: ``quality`` of swap (4.14): no 1080p
SwapQuality = Literal["360p", "540p", "720p"]
#: ``aspect_ratio`` (4.1): the first five on every model, the last three on v6 and c1 only (8.2)
AspectRatio = Literal["16:9", "4:3", "1:1", "3:4", "9:16", "2:3", "3:2", "21:9"]
#: ``motion_mode`` (8.3); ``fast`` on v3.5, v4 and v4.5 only (8.2)
MotionMode = Literal["normal", "fast"]
#: ``style`` (8.3); ``day`` is the guides' spelling of ``clay``
Style = Literal["anime", "3d_animation", "clay", "day", "comic", "cyberpunk"]
#: ``thinking_type`` (4.1, 8.3); leaving it out means ``auto``
ThinkingType = Literal["enabled", "disabled", "auto"]
#: ``image_references[].type`` of fusion (4.6, 8.3)
ReferenceType = Literal["subject", "background"]
#: ``camera_movement`` (8.4); v4 and v4.5 only (8.2)
CameraMovement = Literal[
    "horizontal_left",
    "horizontal_right",
    "vertical_up",
    "vertical_down",
    "zoom_in",
    "zoom_out",
    "crane_up",
    "quickly_zoom_in",
    "quickly_zoom_out",
    "smooth_zoom_in",
    "camera_rotation",
    "robo_arm",
    "super_dolly_out",
    "whip_pan",
    "hitchcock",
    "left_follow",
    "right_follow",
    "pan_left",
    "pan_right",
    "fix_bg",
    "auto_camera",
    "default",
]


QUALITIES: tuple[str, ...] = get_args(Quality)
QUALITY_HEIGHT: dict[str, int] = {"360p": 360, "540p": 540, "720p": 720, "1080p": 1080}
MOTION_MODES: tuple[str, ...] = get_args(MotionMode)
#: ``day`` is the guides' spelling of ``clay``; both are accepted.
STYLES: tuple[str, ...] = get_args(Style)
THINKING_TYPES: tuple[str, ...] = get_args(ThinkingType)
REFERENCE_TYPES: tuple[str, ...] = get_args(ReferenceType)
BASE_ASPECT_RATIOS: tuple[str, ...] = ("16:9", "4:3", "1:1", "3:4", "9:16")
WIDE_ASPECT_RATIOS: tuple[str, ...] = get_args(AspectRatio)
CAMERA_MOVEMENTS: tuple[str, ...] = get_args(CameraMovement)
SEED_MIN = 0
SEED_MAX = 2_147_483_647

# ---------------------------------------------------------------------------
# Prompt limits (section 2.2)

LONG_PROMPT_LIMIT = 5000
SHORT_PROMPT_LIMIT = 2048
NEGATIVE_PROMPT_LIMIT = 2048
MODIFY_PROMPT_LIMIT = LONG_PROMPT_LIMIT
RESTYLE_PROMPT_LIMIT = LONG_PROMPT_LIMIT
TTS_CONTENT_LIMIT = 200
REF_NAME_MAX_BYTES = 30

# ---------------------------------------------------------------------------
# Models (section 8.1 / 8.2)


@dataclass(frozen=True)
class ModelRules:
    """What one model id supports on t2v, i2v, transition, fusion and extend."""

    name: str
    durations: tuple[int, ...]
    #: durations refused at 1080p (v3.5: 8 s; v5.5/v5.6: 10 s)
    no_1080p_durations: tuple[int, ...]
    aspect_ratios: tuple[str, ...]
    audio: bool
    multi_clip: bool
    fast_motion: bool
    legacy_audio: bool
    camera_movement: bool
    prompt_limit: int


_ANY_1_TO_15 = tuple(range(1, 16))

MODELS: dict[str, ModelRules] = {
    m.name: m
    for m in (
        ModelRules("v3.5", (5, 8), (8,), BASE_ASPECT_RATIOS, False, False, True, True, False, 2048),
        ModelRules("v4", (5, 8), (), BASE_ASPECT_RATIOS, False, False, True, True, True, 2048),
        ModelRules("v4.5", (5, 8), (), BASE_ASPECT_RATIOS, False, False, True, True, True, 2048),
        ModelRules("v5", (5, 8), (), BASE_ASPECT_RATIOS, False, False, False, True, False, 2048),
        ModelRules(
            "v5.5", (5, 8, 10), (10,), BASE_ASPECT_RATIOS, True, True, False, False, False, 5000
        ),
        ModelRules(
            "v5.6", (5, 8, 10), (10,), BASE_ASPECT_RATIOS, True, False, False, False, False, 5000
        ),
        ModelRules(
            "v6", _ANY_1_TO_15, (), WIDE_ASPECT_RATIOS, True, True, False, False, False, 5000
        ),
        ModelRules(
            "c1", _ANY_1_TO_15, (), WIDE_ASPECT_RATIOS, True, False, False, False, False, 5000
        ),
    )
}
MODEL_IDS: tuple[str, ...] = tuple(MODELS)
MULTI_TRANSITION_MODELS: tuple[str, ...] = get_args(MultiTransitionModel)
FUSION_MODELS: tuple[str, ...] = get_args(FusionModel)
FUSION_AUDIO_MODELS: tuple[str, ...] = ("v5.6", "v6", "c1")
#: the reference list; the SDK allows any model id on extend (section 4.7)
EXTEND_MODELS: tuple[str, ...] = ("v3.5", "v4", "v4.5", "v5", "v5.5", "v6")
#: fusion reference counts: 1-3 on v4.5/v5, 1-7 on newer models
FUSION_MAX_REFERENCES: dict[str, int] = {"v4.5": 3, "v5": 3}
FUSION_MAX_REFERENCES_DEFAULT = 7

# multi-transition (section 4.5)
MULTI_TRANSITION_MIN_ITEMS = 2
MULTI_TRANSITION_MAX_ITEMS = 7
MULTI_TRANSITION_ITEM_MAX = 8
MULTI_TRANSITION_ITEM_MAX_MANY = 5  # when there are 3 or more items
MULTI_TRANSITION_TOTAL_MAX = 30

# modify (section 4.16)
MODIFY_QUALITIES: tuple[str, ...] = get_args(ModifyQuality)
#: ``mask_ids`` / ``mask_urls``: 1-3 selection areas ("Multi mode: up to 3 selection areas")
MODIFY_MAX_LIST = 3
#: "... up to 3 images for each subject" (the page; an older cap of 3 in all was a misreading)
MODIFY_IMAGES_PER_SELECTION = 3
#: the most ``img_ids`` any modify request takes: 3 selections x 3 images
MODIFY_MAX_IMAGES = MODIFY_MAX_LIST * MODIFY_IMAGES_PER_SELECTION
SWAP_QUALITIES: tuple[str, ...] = get_args(SwapQuality)
#: the emulator follows the Mimic guide; the SDK also accepts 1080p (decision 10)
MIMIC_QUALITIES: tuple[str, ...] = ("360p", "540p", "720p")
MASK_FPS = 24

# ---------------------------------------------------------------------------
# Uploads (section 9)

MB = 1024 * 1024
IMAGE_MAX_BYTES = 20 * MB
IMAGE_MAX_SIDE = 10_000
IMAGE_MIME_TO_FORMAT: dict[str, str] = {
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/png": "png",
    "image/webp": "webp",
}
IMAGE_EXTENSIONS: tuple[str, ...] = ("jpg", "jpeg", "png", "webp")

VIDEO_MIME_TO_EXT: dict[str, str] = {
    "video/mp4": "mp4",
    "video/mov": "mov",
    "video/quicktime": "mov",
    "video/webm": "webm",
}
AUDIO_MIME_TO_EXT: dict[str, str] = {
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/vnd.wave": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/x-m4a": "m4a",
    "audio/aac": "aac",
    "audio/x-aac": "aac",
    "audio/mp4": "mp3",  # sic, as the reference maps it
}
VIDEO_EXTENSIONS: tuple[str, ...] = ("mp4", "mov", "webm")
AUDIO_EXTENSIONS: tuple[str, ...] = ("mp3", "wav", "m4a", "aac")
VIDEO_UPLOAD_MAX_BYTES = 100 * MB
AUDIO_UPLOAD_MAX_BYTES = 50 * MB
MEDIA_MAX_SECONDS = 30.0
VIDEO_MAX_SIDE = 1920
#: per-endpoint source limits (decision in section 9.2)
SOURCE_MAX_BYTES_SMALL = 50 * MB
SOURCE_MAX_BYTES_LARGE = 100 * MB
#: the size limit of an uploaded source video, per endpoint (section 9.2): 50 MB for lip sync,
#: restyle, swap and extend; 100 MB for mimic and modify, and for mask selection, because the
#: Modify page's flow runs mask selection on its own (up to 100 MB) sources
SOURCE_MAX_BYTES: dict[str, int] = {
    "extend": SOURCE_MAX_BYTES_SMALL,
    "lip_sync": SOURCE_MAX_BYTES_SMALL,
    "restyle": SOURCE_MAX_BYTES_SMALL,
    "swap": SOURCE_MAX_BYTES_SMALL,
    "mimic": SOURCE_MAX_BYTES_LARGE,
    "modify": SOURCE_MAX_BYTES_LARGE,
    "mask_selection": SOURCE_MAX_BYTES_LARGE,
    "sound_effect": SOURCE_MAX_BYTES_LARGE,
    "upscale": SOURCE_MAX_BYTES_LARGE,
}
RESTYLE_MAX_SECONDS = 16.0


def prompt_limit(model: str) -> int:
    """Return the prompt length limit in characters for ``model`` (2048 for unknown ids)."""
    rules = MODELS.get(model)
    return rules.prompt_limit if rules else SHORT_PROMPT_LIMIT


def modify_max_images(masks: int) -> int:
    """The most ``img_ids`` a modify request with ``masks`` selection areas takes (4.16).

    Up to 3 images per subject: 3 per mask. Without masks the page names no subject count,
    so the wider reading applies: the most any request takes (3 selections x 3 = 9).
    """
    selections = masks if masks > 0 else MODIFY_MAX_LIST
    return MODIFY_IMAGES_PER_SELECTION * selections


def durations_for(model: str, quality: str) -> tuple[int, ...]:
    """Return the output durations (seconds) ``model`` accepts at ``quality``."""
    rules = MODELS[model]
    if quality == "1080p":
        return tuple(d for d in rules.durations if d not in rules.no_1080p_durations)
    return rules.durations
