"""Shared pieces of the benchmarks: server processes, the instrumented emulator, raw-client
helpers, measurements (RSS, CPU, event-loop lag, quantiles) and machine information."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
KEY = "pv-bench-key-000000000001"
SEED = 7
MODIFY_PATH = "/video/modify/generate"
TERMINAL = frozenset({1, 6, 7, 8})
BUSY = 500044
#: the source clip every modify job edits (the emulator reads its header, not its pixels)
CLIP_SECONDS, CLIP_WIDTH, CLIP_HEIGHT, CLIP_BYTES = 5.0, 640, 360, 60_000


# -- server processes -----------------------------------------------------------------------


@asynccontextmanager
async def server_process(
    cmd: Sequence[str], url_marker: str, *, startup_timeout: float = 30.0
) -> AsyncIterator[tuple[str, int]]:
    """Start a server process; yield (base_url, pid) once it prints a line with ``url_marker``
    (the URL is that line's last word). The process is terminated (then killed) on exit."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        assert proc.stdout is not None
        base = ""
        deadline = time.monotonic() + startup_timeout
        while not base:
            remaining = deadline - time.monotonic()
            line = (await asyncio.wait_for(proc.stdout.readline(), remaining)).decode()
            if not line:
                raise RuntimeError(f"the server exited before printing its URL: {cmd}")
            if url_marker in line:
                base = line.split()[-1]
        yield base, proc.pid
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


@dataclass
class EmulatorHandle:
    """A running benchmark emulator (see ``_emulator_server.py``)."""

    base_url: str  # .../openapi/v2
    origin: str  # http://127.0.0.1:port
    pid: int
    key: str
    limit: int

    async def _get(self, path: str) -> Any:
        async with aiohttp.ClientSession() as s, s.get(self.origin + path) as r:
            r.raise_for_status()
            return await r.json()

    async def stats(self) -> dict[str, Any]:
        """``GET /_emulator/stats``."""
        doc: dict[str, Any] = await self._get("/_emulator/stats")
        return doc

    async def jobs(self) -> list[JobRecord]:
        """Every job's creation time, drawn duration, end and status requests (instrumented
        emulators only), in creation order."""
        doc = await self._get("/_bench/jobs")
        rows = [JobRecord(*row) for row in doc["jobs"]]
        rows.sort(key=lambda r: r.created)
        return rows

    async def unknown_polls(self) -> int:
        doc = await self._get("/_bench/jobs")
        return int(doc["unknown_polls"])

    async def upsert_account(self, doc: dict[str, Any]) -> None:
        """``POST /_emulator/accounts`` (e.g. to add webhooks once the receiver listens)."""
        async with (
            aiohttp.ClientSession() as s,
            s.post(self.origin + "/_emulator/accounts", json=doc) as r,
        ):
            if r.status != 200:
                raise RuntimeError(f"account update refused: {await r.text()}")


@dataclass
class JobRecord:
    id: int
    created: float  # time.monotonic() in the emulator process (system-wide clock)
    duration: float
    ended: float | None  # when the emulator applied the end (its reaper or a request)
    polls: int
    first_terminal_answer: float | None  # when a status request was first answered terminal

    @property
    def due(self) -> float:
        """When the job ends: a status request from then on sees it terminal."""
        return self.created + self.duration


@asynccontextmanager
async def emulator(
    *,
    limit: int,
    duration: str,
    key: str = KEY,
    seed: int = SEED,
    instrument: bool = True,
    latency: float = 0.0,
) -> AsyncIterator[EmulatorHandle]:
    """A fresh emulator in its own process on 127.0.0.1 (port 0): one account with ``limit``
    concurrent generations and job durations ``duration`` (``parse_distribution`` syntax);
    ``latency``: seconds added before every API answer (a server far away)."""
    cmd = [
        sys.executable,
        str(HERE / "_emulator_server.py"),
        "--key",
        key,
        "--limit",
        str(limit),
        "--duration",
        duration,
        "--seed",
        str(seed),
    ]
    if instrument:
        cmd.append("--instrument")
    if latency:
        cmd += ["--latency", str(latency)]
    async with server_process(cmd, "listening on") as (base, pid):
        origin = base.removesuffix("/openapi/v2")
        yield EmulatorHandle(base, origin, pid, key, limit)


# -- raw client helpers ---------------------------------------------------------------------


def raw_headers(key: str = KEY) -> dict[str, str]:
    """What every PixVerse request carries: the key and a fresh trace id."""
    return {"API-KEY": key, "Ai-trace-id": str(uuid.uuid4())}


def modify_body(i: int, media_id: int) -> dict[str, Any]:
    """Job ``i``: a prompt-only modify of the uploaded clip. The explicit seed means the
    emulator draws nothing else per job, so the k-th job it creates gets the same drawn
    duration in every contender's run (same emulator seed)."""
    return {
        "video_media_id": media_id,
        "prompt": f"make it snow on the street, take {i}",
        "quality": "540p",
        "seed": i,
    }


async def upload_clip(session: aiohttp.ClientSession, base: str, key: str = KEY) -> int:
    """Upload the synthetic source clip (raw multipart); returns its media_id."""
    from pixverse_async.emulator import make_mp4

    form = aiohttp.FormData()
    clip = make_mp4(CLIP_SECONDS, CLIP_WIDTH, CLIP_HEIGHT, size=CLIP_BYTES)
    form.add_field("file", clip, filename="clip.mp4", content_type="video/mp4")
    async with session.post(base + "/media/upload", data=form, headers=raw_headers(key)) as r:
        doc = await r.json()
    if doc.get("ErrCode") != 0:
        raise RuntimeError(f"upload failed: {doc}")
    return int(doc["Resp"]["media_id"])


async def setup_media(emu: EmulatorHandle) -> int:
    async with aiohttp.ClientSession() as session:
        return await upload_clip(session, emu.base_url, emu.key)


# -- measurements ---------------------------------------------------------------------------


def rss_kb(pid: int | str = "self") -> int:
    """Resident set size of a process, kB (``VmRSS`` in ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc status")


def cpu_seconds() -> float:
    """User + system CPU seconds of this process (not its children)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of another process (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # after "pid (comm)": state is field 3, utime 14 and stime 15 (1-based, man proc)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def system_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot (``/proc/stat``)."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    idle = values[3] + values[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def own_cpu_seconds() -> float:
    """CPU seconds of this process and of every descendant it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class ForeignLoad:
    """CPU used by processes outside this benchmark while it ran: machine busy time minus
    this process tree's (``start()`` then ``stop()``; call ``stop()`` after children exit)."""

    def start(self) -> None:
        self._busy, self._total = system_cpu_seconds()
        self._own = own_cpu_seconds()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        busy, total = system_cpu_seconds()
        own = own_cpu_seconds() - self._own
        foreign = max(0.0, busy - self._busy - own)
        capacity = max(1e-9, total - self._total)
        return {
            "own_cpu_s": round(own, 1),
            "foreign_cpu_s": round(foreign, 1),
            "foreign_share": round(foreign / capacity, 3),
            "wall_s": round(time.monotonic() - self._wall, 1),
        }


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (``q`` in [0, 1]); NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def list_schedule_makespan(durations: Sequence[float], limit: int) -> float:
    """The shortest makespan of jobs started in this order with at most ``limit`` at once:
    each starts the moment a slot frees (greedy list scheduling, optimal for a fixed order)."""
    free = [0.0] * limit
    end = 0.0
    for d in durations:
        start = heapq.heappop(free)
        heapq.heappush(free, start + d)
        end = max(end, start + d)
    return end


class LoopLag:
    """Event-loop lag: a task sleeps ``period`` seconds in a loop and records how late it
    wakes. Use ``async with LoopLag() as lag: ...`` then ``lag.samples``."""

    def __init__(self, period: float = 0.01) -> None:
        self.period = period
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(self.period)
            self.samples.append(max(0.0, loop.time() - start - self.period))

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# -- machine information --------------------------------------------------------------------


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_info() -> dict[str, Any]:
    model = "unknown"
    mhz = None
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("cpu MHz") and mhz is None:
                mhz = float(line.split(":", 1)[1])
    mem_gb = None
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    commit = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "-C", str(HERE), "status", "--porcelain", "--", "pixverse_async"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        commit = out.stdout.strip() + (" (+ uncommitted package changes)" if dirty.stdout else "")
    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "cpu_mhz": mhz,
        "memory_gb": mem_gb,
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "aiohttp": _version("aiohttp"),
        "pydantic": _version("pydantic"),
        "anyio": _version("anyio"),
        "pixverse_async": _version("pixverse-async"),
        "git_commit": commit,
    }


def write_json(path: str | None, doc: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(doc, indent=1, default=str))
