"""Scale: 10,000 jobs in flight on one client (item 4).

An emulator process whose account allows 2 x N concurrent generations (the limit raised) and
whose jobs last a fixed ``--duration`` (default 15 s, longer than submitting N jobs takes, so
all N are in flight at once). Each contender runs in a fresh client process (so its memory
figures are its own) against a fresh emulator:

- SDK: ``AsyncPixVerse(max_concurrency=2N)``; N ``client.video.modify(...)`` calls, 64 at a
  time, then ``client.wait_all(jobs)``. Every job is watched by the one poll scheduler from
  its submit (the slot limiter holds each slot until the job is seen to end).
- raw (baseline): plain aiohttp, one task per job: submit (64 at a time), then a fixed-interval
  poll loop until it ends; ``asyncio.gather`` over the N tasks.

Both poll each job every ``--interval`` seconds (default 10; jitter 0; the SDK uncapped,
``max_rps=None``, 16 polls in flight; the raw client's pool holds 100 connections). Figures:

- resident memory growth per in-flight job: (RSS with every job submitted and in flight - RSS
  before the first submit, after warm-up and a ``gc.collect()``) / jobs in flight then (for
  the SDK: the jobs its slot limiter counts as running; the ``VideoJob`` handles the caller
  keeps are included, as the SDK hands them out);
- event-loop lag (a task sleeping 10 ms in a loop; how late it wakes): p50, p99, max over the
  whole run;
- CPU seconds (user + system, the client process only) per 1,000 jobs over the whole run
  (submit, polls, results); status GETs per job as counted by the emulator.

Targets: <= 5 KB per job, lag p99 <= 100 ms (SDK); the raw client is the baseline.

Usage: ``python benchmarks/bench_scale.py [--jobs 10000] [--duration 15] [--interval 10]
[--only sdk|raw] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from _common import (
    HERE,
    KEY,
    MODIFY_PATH,
    TERMINAL,
    LoopLag,
    cpu_seconds,
    emulator,
    modify_body,
    quantile,
    raw_headers,
    rss_kb,
    upload_clip,
    write_json,
)

SUBMITTERS = 64
CONTENDERS = ("sdk", "raw")


# -- the client processes -------------------------------------------------------------------


class Probe:
    """What a client process measures around its run."""

    def __init__(self) -> None:
        self.rss_before = 0
        self.cpu_before = 0.0
        self.rss_submitted = 0
        self.in_flight_submitted = 0
        self.submit_s = 0.0

    def start(self) -> None:
        gc.collect()
        self.rss_before = rss_kb()
        self.cpu_before = cpu_seconds()
        self.started = time.monotonic()

    def submitted(self, in_flight: int) -> None:
        self.submit_s = time.monotonic() - self.started
        self.rss_submitted = rss_kb()
        self.in_flight_submitted = in_flight

    def report(self, lag: LoopLag, jobs: int, ok: int) -> dict[str, Any]:
        cpu = cpu_seconds() - self.cpu_before
        growth_kb = self.rss_submitted - self.rss_before
        return {
            "jobs": jobs,
            "ok": ok,
            "wall_s": round(time.monotonic() - self.started, 2),
            "submit_s": round(self.submit_s, 2),
            "in_flight": self.in_flight_submitted,
            "rss_before_mb": round(self.rss_before / 1024, 1),
            "rss_in_flight_mb": round(self.rss_submitted / 1024, 1),
            "bytes_per_job": round(growth_kb * 1024 / max(1, self.in_flight_submitted)),
            "lag_p50_ms": round(quantile(lag.samples, 0.5) * 1000, 2),
            "lag_p99_ms": round(quantile(lag.samples, 0.99) * 1000, 2),
            "lag_max_ms": round(max(lag.samples, default=0.0) * 1000, 2),
            "cpu_s": round(cpu, 2),
            "cpu_s_per_1000_jobs": round(cpu / jobs * 1000, 3),
        }


async def warm_session(session: aiohttp.ClientSession, base: str) -> int:
    media_id = await upload_clip(session, base)
    async with session.get(base + "/account/balance", headers=raw_headers()) as r:
        await r.read()
    return media_id


async def run_sdk(args: argparse.Namespace) -> dict[str, Any]:
    from pixverse_async import AsyncPixVerse, PollPolicy

    poll = PollPolicy(interval=args.interval, jitter=0.0, max_rps=None)
    probe = Probe()
    async with aiohttp.ClientSession() as setup:
        media_id = await warm_session(setup, args.base)
    async with AsyncPixVerse(
        KEY, base_url=args.base, poll=poll, max_concurrency=2 * args.jobs
    ) as client:
        await client.account.balance()  # the session, the pool, lazy imports
        probe.start()
        async with LoopLag() as lag:
            counter = iter(range(args.jobs))
            jobs: list[Any] = []

            async def submitter() -> None:
                for i in counter:
                    body = modify_body(i, media_id)
                    jobs.append(await client.video.modify(**body))

            await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
            assert client.limiter is not None
            probe.submitted(client.limiter.statistics().running)
            results = await client.wait_all(jobs, return_exceptions=True)
        ok = sum(1 for r in results if not isinstance(r, BaseException))
        return probe.report(lag, args.jobs, ok)


async def run_raw(args: argparse.Namespace) -> dict[str, Any]:
    probe = Probe()
    base = args.base
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:
        media_id = await warm_session(session, base)
        probe.start()
        async with LoopLag() as lag:
            submits = asyncio.Semaphore(SUBMITTERS)
            submitted = 0
            running = 0
            all_submitted = asyncio.Event()

            async def one(i: int) -> bool:
                nonlocal submitted, running
                async with (
                    submits,
                    session.post(
                        base + MODIFY_PATH, json=modify_body(i, media_id), headers=raw_headers()
                    ) as r,
                ):
                    doc = await r.json()
                if doc["ErrCode"] != 0:
                    raise RuntimeError(f"submit failed: {doc}")
                video_id = doc["Resp"]["video_id"]
                submitted += 1
                running += 1
                if submitted == args.jobs:
                    all_submitted.set()
                try:
                    while True:
                        await asyncio.sleep(args.interval)
                        async with session.get(
                            f"{base}/video/result/{video_id}", headers=raw_headers()
                        ) as r:
                            doc = await r.json()
                        if doc["ErrCode"] == 0 and doc["Resp"]["status"] in TERMINAL:
                            return bool(doc["Resp"]["status"] == 1)
                finally:
                    running -= 1

            tasks = [asyncio.ensure_future(one(i)) for i in range(args.jobs)]
            await all_submitted.wait()
            probe.submitted(running)
            results = await asyncio.gather(*tasks)
        return probe.report(lag, args.jobs, sum(results))


# -- the parent -----------------------------------------------------------------------------


async def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    row: dict[str, Any] = {"contender": name, "checks": []}
    async with emulator(limit=2 * args.jobs, duration=str(args.duration), instrument=False) as emu:
        cmd = [
            sys.executable,
            str(HERE / "bench_scale.py"),
            "--role",
            name,
            "--base",
            emu.base_url,
            "--jobs",
            str(args.jobs),
            "--interval",
            str(args.interval),
        ]
        proc = await asyncio.create_subprocess_exec(
            *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        budget = args.duration + args.jobs / 100 + 120
        try:
            out, err = await asyncio.wait_for(proc.communicate(), budget)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            row["checks"].append(f"timed out after {budget:.0f} s")
            return row
        if proc.returncode != 0:
            row["checks"].append(f"client exited {proc.returncode}: {err.decode()[-2000:]}")
            return row
        row |= json.loads(out.decode().strip().splitlines()[-1])
        doc = await emu.stats()
    row["status_polls"] = doc["status_polls"]
    row["polls_per_job"] = round(doc["status_polls"] / args.jobs, 2)
    if row["ok"] != args.jobs:
        row["checks"].append(f"{row['ok']} of {args.jobs} jobs succeeded")
    if doc["jobs_created"] != args.jobs:
        row["checks"].append(f"{doc['jobs_created']} jobs created, expected {args.jobs}")
    if doc["rejected_500044"]:
        row["checks"].append(f"{doc['rejected_500044']} submits got 500044 on a raised limit")
    return row


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=15.0, help="job duration, s")
    parser.add_argument("--interval", type=float, default=10.0, help="poll interval, s")
    parser.add_argument("--only", choices=CONTENDERS, action="append")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--role", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    rows = []
    for name in args.only or CONTENDERS:
        started = time.monotonic()
        row = await measure(name, args)
        row["elapsed_s"] = round(time.monotonic() - started, 1)
        print(f"  {name}: done in {row['elapsed_s']} s", file=sys.stderr, flush=True)
        rows.append(row)
    by = {r["contender"]: r for r in rows if "bytes_per_job" in r}
    header = (
        f"{'client':<6}{'in flight':>10}{'submit s':>9}{'B/job':>8}{'lag p50':>9}{'p99':>8}"
        f"{'max ms':>8}{'CPU s/1k':>9}{'polls/job':>10}"
    )
    print(
        f"{args.jobs} modify jobs of {args.duration:g} s, limit {2 * args.jobs}, "
        f"poll interval {args.interval:g} s"
    )
    print(header)
    print("-" * len(header))
    for name, r in by.items():
        print(
            f"{name:<6}{r['in_flight']:>10}{r['submit_s']:>9.1f}{r['bytes_per_job']:>8,}"
            f"{r['lag_p50_ms']:>9.1f}{r['lag_p99_ms']:>8.1f}{r['lag_max_ms']:>8.1f}"
            f"{r['cpu_s_per_1000_jobs']:>9.3f}{r['polls_per_job']:>10}"
        )
    result: dict[str, Any] = {
        "config": {"jobs": args.jobs, "duration_s": args.duration, "interval_s": args.interval},
        "contenders": rows,
        "checks": [f"{r['contender']}: {c}" for r in rows for c in r["checks"]],
        "targets": [],
    }
    if "sdk" in by:
        sdk = by["sdk"]
        kb = sdk["bytes_per_job"] / 1024
        result["targets"] = [
            {
                "item": "4",
                "what": "RSS growth per in-flight job, SDK",
                "value": f"{kb:.2f} KB",
                "target": "<= 5 KB",
                "met": kb <= 5,
            },
            {
                "item": "4",
                "what": "event-loop lag p99, SDK",
                "value": f"{sdk['lag_p99_ms']} ms",
                "target": "<= 100 ms",
                "met": sdk["lag_p99_ms"] <= 100,
            },
        ]
        if sdk["in_flight"] < args.jobs:
            print(
                f"note: only {sdk['in_flight']} of {args.jobs} jobs were in flight when the last "
                "was submitted (raise --duration)",
                file=sys.stderr,
            )
    for c in result["checks"]:
        print(f"BROKEN: {c}", file=sys.stderr)
    write_json(args.json, result)
    return result


def client_main(args: argparse.Namespace) -> None:
    run = run_sdk if args.role == "sdk" else run_raw
    print(json.dumps(asyncio.run(run(args))), flush=True)


if __name__ == "__main__":
    parsed = parse_args(None)
    if parsed.role:
        client_main(parsed)
        sys.exit(0)
    outcome = asyncio.run(main())
    sys.exit(1 if outcome["checks"] else 0)
