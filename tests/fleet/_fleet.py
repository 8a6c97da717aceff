"""Helpers of the fleet tests: worker processes (``_worker.py``) started, read and killed.

Workers are real OS processes started with ``asyncio.create_subprocess_exec`` (the emulator
runs in the test's event loop, so the test must never block it). Their stdout is read line by
line as it comes (JSON lines, see ``_worker.py``); every process still alive when a test ends
is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 10.0  # seconds to reap a killed process


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment without PIXVERSE_* settings, with the repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_")}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class Worker:
    """One worker process and what it printed so far."""

    name: str
    proc: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stderr: bytes = b""
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("event") == kind]

    @property
    def accepted(self) -> list[int]:
        return [int(line["job"]) for line in self.events("accepted")]

    @property
    def client_id(self) -> str | None:
        ready = self.events("ready")
        return ready[0]["client"] if ready else None

    async def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            text = raw.decode(errors="replace").strip()
            if text:
                try:
                    self.lines.append(json.loads(text))
                except ValueError:
                    self.lines.append({"event": "text", "text": text})
            self.changed.set()
        self.changed.set()

    async def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = await self.proc.stderr.read()

    async def until(self, predicate: Any, timeout: float) -> None:
        """Wait (bounded) until ``predicate(self)`` holds; fail if the process ends first."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if self.proc.returncode is not None:
                await self._drain()
                raise AssertionError(f"{self.name} exited first: {self.describe()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.name}: condition not met in {timeout} s")
            self.changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), min(remaining, 0.1))

    async def _drain(self) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*self._tasks), STOP_TIMEOUT)

    async def finish(self, timeout: float) -> dict[str, Any]:
        """Wait for a clean exit; its ``done`` line."""
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            self.proc.send_signal(signal.SIGUSR1)  # the worker prints its tasks' stacks
            await asyncio.sleep(0.5)
            self.proc.kill()
            await self._drain()
            message = f"{self.name} still running after {timeout} s: {self.describe()}"
            raise AssertionError(message) from None
        await self._drain()
        assert self.proc.returncode == 0, self.describe()
        done = self.events("done")
        assert len(done) == 1, self.describe()
        return done[0]

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.proc.wait(), STOP_TIMEOUT)
        await self._drain()

    def describe(self) -> str:
        tail = self.stderr.decode(errors="replace")[-3000:]
        return f"exit {self.proc.returncode}, {len(self.lines)} lines, stderr:\n{tail}"


async def spawn(name: str, args: Sequence[str]) -> Worker:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.fleet._worker",
        *args,
        "--name",
        name,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=child_env(),
    )
    worker = Worker(name, proc)
    worker._tasks = [
        asyncio.ensure_future(worker._read_stdout()),
        asyncio.ensure_future(worker._read_stderr()),
    ]
    return worker


class Group:
    """Worker processes started together; see :func:`processes`."""

    def __init__(self) -> None:
        self.workers: list[Worker] = []

    async def spawn(self, name: str, args: Sequence[str]) -> Worker:
        worker = await spawn(name, args)
        self.workers.append(worker)
        return worker


@contextlib.asynccontextmanager
async def processes() -> AsyncIterator[Group]:
    """A group to spawn workers in; every one still alive is killed at the end."""
    group = Group()
    try:
        yield group
    finally:
        await asyncio.gather(*(w.kill() for w in group.workers))


@contextlib.asynccontextmanager
async def fleet(count: int, args: Sequence[str]) -> AsyncIterator[list[Worker]]:
    """``count`` workers with the same arguments; every one still alive is killed at the end."""
    async with processes() as group:
        for i in range(count):
            await group.spawn(f"w{i}", args)
        yield group.workers


def worker_args(
    base_url: str,
    api_key: str,
    redis_url: str | None,
    jobs: int,
    max_concurrency: int | str,
    poll: float,
    lease: float,
    *,
    recheck: float = 0.2,
    timeout: float = 60.0,
) -> list[str]:
    return [
        base_url,
        api_key,
        redis_url or "none",
        str(jobs),
        str(max_concurrency),
        str(poll),
        str(lease),
        "--recheck",
        str(recheck),
        "--timeout",
        str(timeout),
    ]


def makespan(results: Sequence[dict[str, Any]]) -> float:
    """Seconds from the fleet's first submit to its last job's end."""
    start = min(r["first_submit"] for r in results if r["first_submit"] is not None)
    end = max(r["last_end"] for r in results if r["last_end"] is not None)
    return float(end - start)
