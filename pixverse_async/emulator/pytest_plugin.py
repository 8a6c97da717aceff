"""pytest fixtures that run the emulator for your own tests.

Enable with ``pytest_plugins = ["pixverse_async.emulator.pytest_plugin"]`` (or
``-p pixverse_async.emulator.pytest_plugin``) and mark async tests with ``@pytest.mark.anyio``::

    @pytest.mark.anyio
    async def test_my_pipeline(pixverse_emulator):
        ...  # pixverse_emulator.base_url, pixverse_emulator.api_key

``pixverse_emulator`` starts an emulator on a free loopback port with fast jobs (50 ms);
``pixverse_emulator_factory`` starts one per given :class:`EmulatorConfig`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from ._config import EmulatorConfig, Fixed
from ._server import Emulator

#: job duration of the default fixture, in seconds
FIXTURE_JOB_SECONDS = 0.05

EmulatorFactory = Callable[[EmulatorConfig], Awaitable[Emulator]]


@pytest.fixture
async def pixverse_emulator_factory() -> AsyncIterator[EmulatorFactory]:
    """Start emulators with a given config; all are stopped after the test."""
    started: list[Emulator] = []

    async def start(config: EmulatorConfig) -> Emulator:
        emulator = Emulator(config)
        await emulator.start()
        started.append(emulator)
        return emulator

    try:
        yield start
    finally:
        for emulator in reversed(started):
            await emulator.stop()


@pytest.fixture
async def pixverse_emulator(pixverse_emulator_factory: EmulatorFactory) -> Emulator:
    """A running emulator with the demo account and 50 ms jobs."""
    return await pixverse_emulator_factory(
        EmulatorConfig(job_duration=Fixed(FIXTURE_JOB_SECONDS), seed=1)
    )
