"""Emulator throughput and memory, against baselines measured in the same run.

1. Status GETs per second: one raw aiohttp client (keep-alive pool) hammers
   ``GET /openapi/v2/video/result/{id}`` on (a) the emulator and (b) a bare aiohttp.web server
   answering a fixed envelope on the same path, each in its own process, alternating rounds.
   Target: the emulator serves >= 2,000 status GETs per second.
2. Memory: the emulator process's resident set before and after holding N jobs (default
   100,000, created over HTTP with distinct prompts and trace ids, all kept in status 5).
   Target: under 500 MB for 100,000 jobs.

Usage: ``python benchmarks/bench_emulator.py [--jobs 100000] [--seconds 5] [--quick]``.
Everything runs on loopback servers this script starts and stops; load is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Sequence
from typing import Any

import aiohttp
from _common import rss_kb, server_process

KEY = "pv-emulator-demo-key"
BASELINE_SERVER = r"""
import json, sys
from aiohttp import web
RESP = {"id": 1, "status": 5, "url": ""}
BODY = json.dumps({"ErrCode": 0, "ErrMsg": "success", "Resp": RESP}).encode()
async def result(request):
    return web.Response(body=BODY, content_type="application/json")
app = web.Application()
app.router.add_get("/openapi/v2/video/result/{job_id}", result)
import socket
sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(512)
print(f"http://127.0.0.1:{sock.getsockname()[1]}/openapi/v2", flush=True)
web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)
"""


def rss_mb(pid: int) -> float:
    return rss_kb(pid) / 1024


def headers() -> dict[str, str]:
    return {"API-KEY": KEY, "Ai-trace-id": str(uuid.uuid4())}


async def submit_jobs(
    session: aiohttp.ClientSession, base: str, count: int, workers: int
) -> list[int]:
    ids: list[int] = []
    counter = iter(range(count))

    async def worker() -> None:
        for i in counter:
            body = {
                "prompt": f"a lighthouse in a storm, take {i}",
                "model": "v5",
                "duration": 5,
                "quality": "540p",
                "aspect_ratio": "16:9",
            }
            async with session.post(
                base + "/video/text/generate", json=body, headers=headers()
            ) as r:
                doc = await r.json()
            if doc["ErrCode"] != 0:
                raise RuntimeError(f"submit failed: {doc}")
            ids.append(doc["Resp"]["video_id"])

    await asyncio.gather(*(worker() for _ in range(workers)))
    return ids


async def hammer(
    session: aiohttp.ClientSession, base: str, ids: Sequence[int], seconds: float, workers: int
) -> float:
    """Status GETs per second for ``seconds`` with ``workers`` concurrent loops."""
    done = 0
    stop_at = time.monotonic() + seconds
    hdrs = headers()

    async def worker(offset: int) -> None:
        nonlocal done
        i = offset
        while time.monotonic() < stop_at:
            async with session.get(f"{base}/video/result/{ids[i % len(ids)]}", headers=hdrs) as r:
                await r.read()
                if r.status != 200:
                    raise RuntimeError(f"status GET answered {r.status}")
            done += 1
            i += workers

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(workers)))
    return done / (time.monotonic() - started)


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--jobs", type=int, default=100_000, help="jobs to hold for the memory figure"
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="length of each throughput round"
    )
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per server")
    parser.add_argument("--connections", type=int, default=64, help="concurrent client loops")
    parser.add_argument(
        "--quick", action="store_true", help="CI-sized run (5,000 jobs, 1 s rounds)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.seconds, args.rounds = 5_000, 1.0, 1

    emulator_cmd = [
        sys.executable,
        "-m",
        "pixverse_async",
        "emulator",
        "--port",
        "0",
        "--job-seconds",
        "100000",
        "--concurrency",
        "100000000",
        "--credit-package",
        str(10**15),
        "--seed",
        "1",
    ]
    baseline_cmd = [sys.executable, "-c", BASELINE_SERVER]
    connector = aiohttp.TCPConnector(limit=args.connections, ttl_dns_cache=None)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        server_process(emulator_cmd, "listening on") as (emu_base, emu_pid),
        server_process(baseline_cmd, "http://") as (raw_base, _),
    ):
        rss_empty = rss_mb(emu_pid)
        t0 = time.monotonic()
        ids = await submit_jobs(session, emu_base, args.jobs, args.connections)
        submit_rate = len(ids) / (time.monotonic() - t0)
        rss_full = rss_mb(emu_pid)
        emu_rates, raw_rates = [], []
        for _ in range(args.rounds):
            raw_rates.append(await hammer(session, raw_base, ids, args.seconds, args.connections))
            emu_rates.append(await hammer(session, emu_base, ids, args.seconds, args.connections))
        async with session.get(emu_base.replace("/openapi/v2", "/_emulator/stats")) as r:
            stats = await r.json()

    emu_rps, raw_rps = max(emu_rates), max(raw_rates)
    growth = rss_full - rss_empty
    result = {
        "jobs_held": stats["jobs_by_status"].get("5", 0),
        "submits_per_s": round(submit_rate),
        "status_gets_per_s_emulator": round(emu_rps),
        "status_gets_per_s_bare_aiohttp": round(raw_rps),
        "emulator_vs_bare_ratio": round(emu_rps / raw_rps, 3),
        "rss_empty_mb": round(rss_empty, 1),
        "rss_with_jobs_mb": round(rss_full, 1),
        "rss_growth_bytes_per_job": round(growth * 1024 * 1024 / max(1, len(ids))),
    }
    rows = [
        ("jobs held in status 5", f"{result['jobs_held']:,}", ""),
        ("submits/s (t2v)", f"{result['submits_per_s']:,}", f"{args.connections} connections"),
        ("status GETs/s, emulator", f"{emu_rps:,.0f}", "target >= 2,000"),
        ("status GETs/s, bare aiohttp", f"{raw_rps:,.0f}", "baseline: same client, same run"),
        ("emulator / bare ratio", f"{result['emulator_vs_bare_ratio']}", ""),
        ("emulator RSS empty", f"{rss_empty:.1f} MB", ""),
        ("emulator RSS with jobs", f"{rss_full:.1f} MB", "target < 500 MB at 100,000 jobs"),
        ("RSS growth per job", f"{result['rss_growth_bytes_per_job']:,} bytes", ""),
    ]
    for label, value, note in rows:
        print(f"{label:<30}{value:>14}   {note}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    asyncio.run(main())
