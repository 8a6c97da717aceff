"""The user-facing pytest plugin: ``pixverse_emulator`` and ``pixverse_emulator_factory``.

The plugin is enabled for this suite (``-p`` in pyproject's addopts), so the fixtures are used
directly here; a nested pytest run (``pytester``) checks that the servers are gone afterwards.
"""

from __future__ import annotations

import socket
import uuid

import aiohttp
import pytest

from pixverse_async.emulator import (
    DEMO_API_KEY,
    AccountConfig,
    Emulator,
    EmulatorConfig,
    Fixed,
)
from pixverse_async.emulator.pytest_plugin import FIXTURE_JOB_SECONDS, EmulatorFactory

from ..conftest import Raw

pytestmark = pytest.mark.anyio

pytest_plugins = ["pytester"]


def port_is_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_default_fixture_serves_the_demo_account(
    pixverse_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    emu = pixverse_emulator
    assert emu.api_key == DEMO_API_KEY
    assert emu.base_url == f"http://127.0.0.1:{emu.port}/openapi/v2"
    headers = {"API-KEY": DEMO_API_KEY, "Ai-trace-id": str(uuid.uuid4())}
    async with session.get(emu.base_url + "/account/balance", headers=headers) as r:
        doc = await r.json()
    assert r.status == 200 and doc["ErrCode"] == 0, doc
    assert doc["Resp"]["credit_monthly"] >= 0 and "account_id" in doc["Resp"]
    assert emu.config.job_duration == Fixed(FIXTURE_JOB_SECONDS)


async def test_default_fixture_runs_fast_jobs(
    pixverse_emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    raw = Raw(session, pixverse_emulator, pixverse_emulator.api_key)
    body = {"prompt": "a kite", "model": "v5", "duration": 5, "quality": "360p"}
    resp = await raw.ok("/video/text/generate", {**body, "aspect_ratio": "1:1"})
    done = await raw.wait(resp["video_id"], timeout=2.0)
    assert done["status"] == 1 and done["url"]


async def test_factory_starts_a_custom_emulator(
    pixverse_emulator_factory: EmulatorFactory, session: aiohttp.ClientSession
) -> None:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key="custom-key", credit_monthly=7, credit_package=3),),
        job_duration=Fixed(0.01),
    )
    first = await pixverse_emulator_factory(config)
    second = await pixverse_emulator_factory(EmulatorConfig(job_duration=Fixed(0.01)))
    assert first.port != second.port
    custom = Raw(session, first, "custom-key")
    assert await custom.balance() == (7, 3)
    _, doc = await Raw(session, first, DEMO_API_KEY).get("/account/balance")
    assert doc["ErrCode"] == 400012  # the custom emulator knows only its own account
    _, doc = await Raw(session, second, DEMO_API_KEY).get("/account/balance")
    assert doc["ErrCode"] == 0


def test_fixtures_stop_their_servers(pytester: pytest.Pytester) -> None:
    ports = pytester.path / "ports.txt"
    pytester.makepyfile(
        test_inner=f"""
        import socket

        import pytest
        from pixverse_async.emulator import EmulatorConfig, Fixed

        PORTS = {str(ports)!r}

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        async def test_default(pixverse_emulator):
            with open(PORTS, "a") as f:
                f.write(f"{{pixverse_emulator.port}}\\n")

        @pytest.mark.anyio
        async def test_factory(pixverse_emulator_factory):
            emu = await pixverse_emulator_factory(EmulatorConfig(job_duration=Fixed(0.01)))
            with open(PORTS, "a") as f:
                f.write(f"{{emu.port}}\\n")

        @pytest.mark.anyio
        async def test_ports_closed_while_the_loop_still_runs():
            # anyio keeps one event loop for the session: a server that was not stopped
            # would still be listening here
            with open(PORTS) as f:
                ports = [int(line) for line in f.read().split()]
            assert len(ports) == 2
            for port in ports:
                with socket.socket() as s:
                    assert s.connect_ex(("127.0.0.1", port)) != 0, port
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "pixverse_async.emulator.pytest_plugin", "-p", "no:cacheprovider", "-W", "error"
    )
    result.assert_outcomes(passed=3)
    recorded = [int(line) for line in ports.read_text().split()]
    assert len(recorded) == 2 and all(port > 0 for port in recorded)
    for port in recorded:
        assert port_is_closed(port), f"port {port} still accepts connections"
