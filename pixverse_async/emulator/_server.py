"""The :class:`Emulator`: an aiohttp server around one :class:`EmulatorState`."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web

from ._app import Api, build_app
from ._config import AccountConfig, EmulatorConfig, FaultPlan
from ._constants import API_PREFIX
from ._state import EmulatorState
from ._webhooks import WebhookDispatcher

#: how long stopping waits for in-flight requests (e.g. injected slow answers), seconds
_SHUTDOWN_TIMEOUT = 0.5


class Emulator:
    """A local PixVerse API for tests, benchmarks and offline development.

    Use it as an async context manager; the server listens until the block ends::

        async with Emulator(EmulatorConfig(job_duration=Fixed(0.05))) as emu:
            client = AsyncPixVerse(emu.api_key, base_url=emu.base_url)

    Args:
        config: behaviour of the emulator (default: one demo account, 0.5 s jobs, no faults).
    """

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.state = EmulatorState(self.config)
        self._api = Api(self.state)
        self._webhooks = WebhookDispatcher(self.state, self._api.file_url)
        self.state.on_terminal = self._webhooks.enqueue
        self._wake = asyncio.Event()
        self.state.on_schedule = lambda _due: self._wake.set()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving. Raises ``RuntimeError`` if already started."""
        if self._runner is not None:
            raise RuntimeError("this Emulator is already running")
        app = build_app(self._api, self._background)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        address = runner.addresses[0]
        self._port = int(address[1])
        host = self.config.host
        if host in ("0.0.0.0", "", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        self.state.origin = f"http://{host}:{self._port}"

    async def stop(self) -> None:
        """Stop serving and end background work. Safe to call twice."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _background(self, session: aiohttp.ClientSession) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(self._reaper(), name="pixverse-emulator-reaper"),
            asyncio.create_task(self._webhooks.run(session), name="pixverse-emulator-webhooks"),
        ]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _reaper(self) -> None:
        """Apply job transitions when they fall due (so refunds and webhooks happen on time)."""
        state = self.state
        while True:
            state.advance()
            due = state.next_due()
            self._wake.clear()
            timeout = None if due is None else max(0.0, due - time.monotonic())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    # -- addresses -------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the Emulator is not running; use 'async with Emulator() as emu'")
        return self._port

    @property
    def origin(self) -> str:
        """``http://host:port`` of the running server."""
        self.port  # noqa: B018  (raises when not running)
        return self.state.origin

    @property
    def base_url(self) -> str:
        """The API base URL, e.g. ``http://127.0.0.1:8080/openapi/v2``."""
        return self.origin + API_PREFIX

    @property
    def api_key(self) -> str:
        """The first configured account's API key."""
        return self.config.accounts[0].api_key

    # -- inspection and control ------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """The same document as ``GET /_emulator/stats``."""
        return self.state.snapshot()

    @property
    def deliveries(self) -> list[dict[str, Any]]:
        """Every webhook delivery attempt so far (oldest first)."""
        return self.state.deliveries

    def set_faults(self, plan: FaultPlan) -> None:
        """Replace the fault plan (rule counters start again)."""
        self.state.set_faults(plan)

    def upsert_account(self, account: AccountConfig) -> int:
        """Add or update an account (matched by API key); returns its account id."""
        return self.state.upsert_account(account).account_id

    def reset(self) -> None:
        """Forget all jobs, uploads, masks and counters; restore configured accounts and faults."""
        self.state.reset()

    def __repr__(self) -> str:
        where = self.state.origin if self._runner is not None else "stopped"
        return f"<Emulator {where} accounts={len(self.config.accounts)}>"
