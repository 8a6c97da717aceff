"""pixverse_async: an asyncio SDK for the PixVerse Platform API, with a local emulator.

The emulator lives in :mod:`pixverse_async.emulator`.
"""

from ._constants import BASE_URL_CN, BASE_URL_INTL
from ._version import __version__

__all__ = ["BASE_URL_CN", "BASE_URL_INTL", "__version__"]
