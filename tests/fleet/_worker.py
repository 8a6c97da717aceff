"""One fleet worker: a separate OS process running modify jobs through one client.

Usage (cwd the repo root)::

    python -m tests.fleet._worker BASE_URL API_KEY REDIS_URL|none JOBS MAX_CONCURRENCY POLL LEASE
        [--recheck S] [--name NAME] [--timeout S] [--log LEVEL]

It uploads one source clip, submits JOBS prompt-only modify jobs (540p, each prompt distinct,
so a duplicate generation on the server means one job was paid twice), waits for them all, and
prints JSON lines on stdout:

- ``{"event": "ready", "client": <this process's Redis client id or null>}`` once connected;
- ``{"event": "accepted", "job": <video id>}`` when a job is created (the kill test waits for
  these);
- last, ``{"event": "done", ...}``: ``ok``, ``failed``, ``errors``, ``jobs`` (ids),
  ``first_submit``/``last_end`` (``time.time()``), and this process's limiter statistics.

SIGUSR1 prints every asyncio task's stack on stderr (the tests send it before killing a worker
that overran its time, so a hang says where it is).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sys
import time
from typing import Any

from pixverse_async import AsyncPixVerse, PollPolicy, RedisPolicy
from pixverse_async.emulator import make_mp4


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m tests.fleet._worker")
    p.add_argument("base_url")
    p.add_argument("api_key")
    p.add_argument("redis_url", help='a redis:// URL, or "none" for an unshared client')
    p.add_argument("jobs", type=int)
    p.add_argument("max_concurrency", help='an int, or "auto"')
    p.add_argument("poll", type=float, help="seconds between status requests of one job")
    p.add_argument("lease", type=float, help="seconds a Redis slot lease lasts unrenewed")
    p.add_argument("--recheck", type=float, default=0.2)
    p.add_argument("--name", default="worker")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds one job may take")
    p.add_argument("--log", default="WARNING", help="pixverse_async log level (on stderr)")
    return p.parse_args(argv)


def dump_tasks() -> None:
    """SIGUSR1: every task's stack on stderr (a hung worker tells where it hangs)."""
    for task in asyncio.all_tasks():
        sys.stderr.write(f"--- {task.get_name()}\n")
        task.print_stack(limit=8, file=sys.stderr)
    sys.stderr.flush()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
    limit: int | str = args.max_concurrency
    if limit != "auto":
        limit = int(limit)
    redis_url = "" if args.redis_url == "none" else args.redis_url
    poll = PollPolicy(interval=args.poll, jitter=0.0, max_rps=None, max_concurrency=64)
    client = AsyncPixVerse(
        args.api_key,
        base_url=args.base_url,
        poll=poll,
        max_concurrency=limit,  # type: ignore[arg-type]
        redis_url=redis_url,
        redis_policy=RedisPolicy(lease=args.lease, recheck=args.recheck),
    )
    first_submit: float | None = None
    last_end: float | None = None
    jobs: list[int] = []
    errors: list[str] = []

    async with client:
        emit(event="ready", client=client.fleet.id if client.fleet is not None else None)
        upload = await client.media.upload_media(make_mp4(5.0, 640, 360), filename="clip.mp4")

        async def one(i: int) -> bool:
            nonlocal first_submit, last_end
            if first_submit is None:
                first_submit = time.time()
            try:
                job = await client.video.modify(
                    prompt=f"make it watercolor ({args.name}, take {i})",
                    quality="540p",
                    video_media_id=upload.media_id,
                )
                jobs.append(job.id)
                emit(event="accepted", job=job.id)
                result = await job.wait(timeout=args.timeout)
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
                return False
            finally:
                last_end = time.time()
            return bool(result.status == 1)

        outcomes = await asyncio.gather(*(one(i) for i in range(args.jobs)))
        stats = None
        if client.limiter is not None:
            refresh = getattr(client.limiter, "refresh_statistics", None)
            if refresh is not None:
                stats = dataclasses.asdict(await refresh())
            else:
                stats = dataclasses.asdict(client.limiter.statistics())
    return {
        "event": "done",
        "name": args.name,
        "ok": sum(outcomes),
        "failed": len(outcomes) - sum(outcomes),
        "errors": errors[:5],
        "jobs": jobs,
        "first_submit": first_submit,
        "last_end": last_end,
        "stats": stats,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(
        stream=sys.stderr, format="%(relativeCreated)8.0f %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("pixverse_async").setLevel(args.log)
    emit(**asyncio.run(run(args)))


if __name__ == "__main__":
    main()
