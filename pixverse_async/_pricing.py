"""The credits model (reference section 11): what a generation costs.

Used by the emulator to charge and refund, and by the SDK for budget estimates. Every function
takes already-validated inputs and returns whole credits; seconds are rounded up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# 11.1: v3.5, v4, v4.5, v5. (quality group, duration, fast) -> credits
_LEGACY_5S = {"360p": 45, "540p": 45, "720p": 60, "1080p": 120}
_LEGACY_8S = {"360p": 90, "540p": 90, "720p": 120, "1080p": 240}

# 11.2: v5.5. quality -> duration -> (single silent, single audio, multi silent, multi audio)
_V55: dict[str, dict[int, tuple[int, int, int, int]]] = {
    "360p": {5: (45, 55, 75, 85), 8: (90, 100, 120, 130), 10: (99, 109, 129, 139)},
    "540p": {5: (45, 55, 75, 85), 8: (90, 100, 120, 130), 10: (99, 109, 129, 139)},
    "720p": {5: (60, 70, 90, 100), 8: (120, 130, 150, 160), 10: (132, 142, 162, 172)},
    "1080p": {5: (120, 130, 150, 160), 8: (240, 250, 270, 280)},
}

# 11.3: v5.6. quality -> duration -> (silent, audio)
_V56: dict[str, dict[int, tuple[int, int]]] = {
    "360p": {5: (35, 80), 8: (70, 115), 10: (77, 122)},
    "540p": {5: (35, 90), 8: (70, 115), 10: (77, 122)},
    "720p": {5: (45, 80), 8: (90, 135), 10: (99, 144)},
    "1080p": {5: (75, 150), 8: (150, 195)},
}

# 11.4: v6 / c1 per second. model -> quality -> (silent, audio)
_PER_SECOND: dict[str, dict[str, tuple[int, int]]] = {
    "v6": {"360p": (5, 7), "540p": (7, 9), "720p": (9, 12), "1080p": (18, 23)},
    "c1": {"360p": (6, 8), "540p": (8, 10), "720p": (10, 13), "1080p": (19, 24)},
}

# 11.5: per source second at 360p / 540p / 720p
_MODIFY_RATE = {"360p": 8, "540p": 10, "720p": 12}
_MIMIC_RATE = {"360p": 9, "540p": 10, "720p": 12, "1080p": 12}
RESTYLE_RATE = 10
SOUND_EFFECT_RATE = 2
UPSCALE_RATE = 5
LIP_SYNC_AUDIO_RATE = 4
LIP_SYNC_TTS_BYTES = 15
LIP_SYNC_TTS_RATE = 4
MASK_SELECTION_CREDITS = 2
IMAGE_TEMPLATE_CREDITS = 10
# multi-transition: the model's 5 s normal price / 5, per second
_MULTI_TRANSITION_RATE = {"360p": 9, "540p": 9, "720p": 12, "1080p": 24}
# 11.6 add-ons per output second
SOUND_EFFECT_ADDON_RATE = 2
LIP_SYNC_ADDON_RATE = 4


def whole_seconds(seconds: float) -> int:
    """Round a length in seconds up to whole seconds (at least 1)."""
    return max(1, math.ceil(seconds - 1e-9))


def model_price(
    model: str,
    quality: str,
    duration: int,
    *,
    fast: bool = False,
    audio: bool = False,
    multi_clip: bool = False,
) -> int:
    """Credits for a t2v / i2v / transition / fusion / extend generation (11.1-11.4).

    Durations outside a table are priced pro rata from its nearest row (project rule for
    combinations the tables do not list).
    """
    if model in _PER_SECOND:
        silent, with_audio = _PER_SECOND[model][quality]
        return duration * (with_audio if audio else silent)
    if model == "v5.6":
        return _tabled(_V56[quality], duration, 1 if audio else 0)
    if model == "v5.5":
        return _tabled(_V55[quality], duration, (2 if multi_clip else 0) + (1 if audio else 0))
    price = _LEGACY_8S[quality] if duration >= 8 else _LEGACY_5S[quality]
    if duration not in (5, 8):
        price = math.ceil(price * duration / (8 if duration >= 8 else 5))
    return price * 2 if fast else price


def _tabled(rows: Mapping[int, tuple[int, ...]], duration: int, column: int) -> int:
    if duration in rows:
        return rows[duration][column]
    nearest = min(rows, key=lambda d: abs(d - duration))
    return math.ceil(rows[nearest][column] * duration / nearest)


def addons(seconds: float, *, sound_effect: bool, lip_sync: bool) -> int:
    """Legacy add-on credits (11.6) for an output of ``seconds``."""
    secs = whole_seconds(seconds)
    return (SOUND_EFFECT_ADDON_RATE * secs if sound_effect else 0) + (
        LIP_SYNC_ADDON_RATE * secs if lip_sync else 0
    )


def template_video_price(quality: str) -> int:
    """Flat price of an effect-template video: as v5 5 s (project rule)."""
    return _LEGACY_5S[quality]


def modify_price(quality: str, source_seconds: float) -> int:
    """Modify: 8 / 10 / 12 credits per source second at 360p / 540p / 720p."""
    return _MODIFY_RATE[quality] * whole_seconds(source_seconds)


def swap_price(quality: str, source_seconds: float) -> int:
    """Swap: priced as modify (project rule)."""
    return modify_price(quality, source_seconds)


def mimic_price(quality: str, source_seconds: float) -> int:
    """Mimic: 9 / 10 / 12 credits per source second."""
    return _MIMIC_RATE[quality] * whole_seconds(source_seconds)


def restyle_price(source_seconds: float) -> int:
    return RESTYLE_RATE * whole_seconds(source_seconds)


def sound_effect_price(source_seconds: float) -> int:
    return SOUND_EFFECT_RATE * whole_seconds(source_seconds)


def upscale_price(source_seconds: float) -> int:
    return UPSCALE_RATE * whole_seconds(source_seconds)


def lip_sync_audio_price(audio_seconds: float) -> int:
    return LIP_SYNC_AUDIO_RATE * whole_seconds(audio_seconds)


def lip_sync_tts_price(content: str) -> int:
    """TTS lip sync: 4 credits per started 15 bytes of UTF-8 content."""
    return LIP_SYNC_TTS_RATE * max(1, math.ceil(len(content.encode()) / LIP_SYNC_TTS_BYTES))


def multi_transition_price(quality: str, total_seconds: int, *, fast: bool = False) -> int:
    price = _MULTI_TRANSITION_RATE[quality] * total_seconds
    return price * 2 if fast else price
