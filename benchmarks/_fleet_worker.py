"""One worker of ``bench_multiprocess.py``: a separate OS process running a share of the jobs
through its own client (its own limiter, or one shared through Redis).

``python benchmarks/_fleet_worker.py --base-url U --key K --media-id M --first I --count C
--limit L|auto --interval S [--redis-url R] [--name NAME] [--timeout S]``

Protocol (JSON lines on stdout, one command on stdin):

1. opens the client (connecting to Redis when given), warms it up (one balance request; with
   Redis one fleet read, so the first script calls are not on the clock), then prints
   ``{"event": "ready"}``;
2. waits for a line on stdin (the harness sends it to every worker at once), then runs jobs
   ``first .. first + count - 1`` as one ``client.batch`` of prompt-only modify jobs
   (``_common.modify_body``: distinct prompts and seeds across the fleet, so a duplicate
   generation on the emulator means a job was paid twice);
3. prints ``{"event": "done", ...}``: when the batch started and when each job was seen to end
   (``time.monotonic()``, a system-wide clock on Linux, comparable with the emulator's job
   records), failures, the client's 500044 count and limiter statistics, status requests
   sent, this process's CPU seconds and Redis round trips during the batch, and the
   release-to-grant latencies (``RedisLimiter.grant_latencies()``).

The client is the SDK with its defaults except the poll interval and the poll rate cap (see
``bench_multiprocess.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from typing import Any

from _common import modify_body

from pixverse_async import AsyncPixVerse, BatchItem, PollPolicy


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--media-id", type=int, required=True)
    p.add_argument("--first", type=int, required=True, help="index of this worker's first job")
    p.add_argument("--count", type=int, required=True, help="jobs this worker runs")
    p.add_argument("--limit", required=True, help='max_concurrency: an int or "auto"')
    p.add_argument("--interval", type=float, required=True, help="poll interval, s")
    p.add_argument("--redis-url", default="", help="share the account through this Redis")
    p.add_argument("--name", default="worker")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds the batch may take")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    limit: Any = args.limit if args.limit == "auto" else int(args.limit)
    # the SDK's defaults, but for the interval (time-scaled jobs) and the poll rate cap (an
    # absolute 20 requests/s per client would not scale with them, and would give P clients
    # P times the single client's poll budget)
    poll = PollPolicy(interval=args.interval, max_rps=None)
    client = AsyncPixVerse(
        args.key,
        base_url=args.base_url,
        poll=poll,
        max_concurrency=limit,
        redis_url=args.redis_url,  # "" = not shared (also ignores $PIXVERSE_REDIS_URL)
    )
    items = [
        BatchItem("modify", modify_body(i, args.media_id), key=f"job-{i}")
        for i in range(args.first, args.first + args.count)
    ]
    seen: dict[int, float] = {}
    failed: list[str] = []
    async with client:
        await client.account.balance()  # warm-up: connection, models, lazy imports
        limiter = client.limiter
        assert limiter is not None
        refresh = getattr(limiter, "refresh_statistics", None)
        if refresh is not None:
            await refresh()
        emit(event="ready", client=client.fleet.id if client.fleet is not None else None)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            return {"event": "aborted", "name": args.name}
        trips0 = client.fleet.round_trips if client.fleet is not None else 0
        started = time.monotonic()
        cpu0 = time.process_time()

        async def run_batch() -> None:
            async with client.batch(items) as batch:
                async for outcome in batch:
                    now = time.monotonic()
                    if outcome.ok and outcome.job_id is not None:
                        seen[outcome.job_id] = now
                    else:
                        failed.append(f"{outcome.key}: {outcome.error!r}")

        await asyncio.wait_for(run_batch(), args.timeout)
        ended = time.monotonic()
        cpu = time.process_time() - cpu0
        trips = (client.fleet.round_trips - trips0) if client.fleet is not None else None
        grants = list(getattr(limiter, "grant_latencies", list)())
        stats = await refresh() if refresh is not None else limiter.statistics()
        ps = client.poll_statistics()
    return {
        "event": "done",
        "name": args.name,
        "started": started,
        "ended": ended,
        "seen": seen,
        "failed": failed,
        "limiter": dataclasses.asdict(stats),
        "cpu_s": cpu,
        "polls_sent": ps.polls_sent,
        "round_trips": trips,
        "grant_latencies": grants,
    }


def main() -> None:
    emit(**asyncio.run(run(parse())))


if __name__ == "__main__":
    main()
