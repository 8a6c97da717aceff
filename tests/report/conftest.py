"""The report tests' emulator (see ``_support.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pixverse_async.emulator import Emulator

from ._support import emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with emulator() as e:
        yield e
