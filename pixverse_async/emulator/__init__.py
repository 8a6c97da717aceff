"""A faithful local PixVerse API: ``async with Emulator() as emu: emu.base_url``.

See the README's "Emulator" section for the fault plan, triggers and control endpoints.
"""

from ._config import (
    AccountConfig,
    Distribution,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
    LogNormal,
    RestyleConfig,
    TemplateConfig,
    Uniform,
    WebhookConfig,
    parse_distribution,
)
from ._constants import DEMO_API_KEY
from ._media import make_mp4, make_png, make_wav
from ._server import Emulator

__all__ = [
    "DEMO_API_KEY",
    "AccountConfig",
    "Distribution",
    "Emulator",
    "EmulatorConfig",
    "FaultKind",
    "FaultPlan",
    "FaultRule",
    "Fixed",
    "LogNormal",
    "RestyleConfig",
    "TemplateConfig",
    "Uniform",
    "WebhookConfig",
    "make_mp4",
    "make_png",
    "make_wav",
    "parse_distribution",
]
