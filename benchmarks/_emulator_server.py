"""The benchmarks' emulator process: the package's ``Emulator``, plus optional instrumentation.

``python benchmarks/_emulator_server.py --key K --limit L --duration SPEC [--instrument]``
prints ``listening on <base url>`` and serves until SIGTERM / SIGINT.

With ``--instrument`` the process also records, per job, what a benchmark needs and the
emulator does not expose (its ``/_emulator/jobs/{id}`` is POST-only, to force a status):

- when the job was created (``time.monotonic()``, a system-wide clock on Linux, so the client
  process can compare it with its own readings) and the duration drawn for it, hence the exact
  moment it ends (``created + duration``: a status request at or after it sees the end);
- when the emulator applied the end (its reaper; this is when a webhook is queued);
- how many status requests (``GET /openapi/v2/video/result/{id}``) it received, and when it
  first answered one with a terminal status.

``GET /_bench/jobs`` returns them as ``{"jobs": [[id, created, duration, ended, polls,
first_terminal_answer], ...], "unknown_polls": n}``. The hooks wrap ``create_job`` and
``on_terminal`` of this process's ``EmulatorState`` and add one aiohttp middleware and route
(through the emulator's ``build_app``): nothing in the package changes, and without
``--instrument`` it is the plain emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultPlan,
    Fixed,
    parse_distribution,
)
from pixverse_async.emulator import _server as emulator_server

TERMINAL = frozenset({1, 6, 7, 8})
RESULT_PREFIX = "/openapi/v2/video/result/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def instrument(emu: Emulator) -> None:
    state = emu.state
    jobs: dict[int, list[Any]] = {}  # id -> [created, duration, ended, polls, terminal answer]
    unknown = [0]

    create_job = state.create_job

    def recording_create_job(
        account: Any, spec: Any, trace_id: str, digest: bytes, d: float
    ) -> Any:
        job = create_job(account, spec, trace_id, digest, d)
        jobs[job.id] = [job.created, d, None, 0, None]
        return job

    state.create_job = recording_create_job  # type: ignore[method-assign]

    on_terminal = state.on_terminal

    def recording_on_terminal(job: Any) -> None:
        record = jobs.get(job.id)
        if record is not None and record[2] is None:
            record[2] = time.monotonic()
        if on_terminal is not None:
            on_terminal(job)

    state.on_terminal = recording_on_terminal

    @web.middleware
    async def count_polls(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not path.startswith(RESULT_PREFIX):
            return await handler(request)
        raw = path[len(RESULT_PREFIX) :]
        job_id = int(raw) if raw.isdigit() else 0
        record = jobs.get(job_id)
        if record is None:
            unknown[0] += 1
            return await handler(request)
        record[3] += 1
        response = await handler(request)
        if record[4] is None and state.jobs[job_id].status in TERMINAL:
            record[4] = time.monotonic()
        return response

    async def bench_jobs(request: web.Request) -> web.Response:
        state.advance()
        rows = [[job_id, *record] for job_id, record in jobs.items()]
        return web.json_response({"jobs": rows, "unknown_polls": unknown[0]})

    build_app = emulator_server.build_app

    def instrumented_build_app(api: Any, background: Any) -> web.Application:
        app = build_app(api, background)
        app.middlewares.append(count_polls)
        app.router.add_get("/_bench/jobs", bench_jobs)
        return app

    emulator_server.build_app = instrumented_build_app  # type: ignore[assignment]


async def serve(args: argparse.Namespace) -> None:
    account = AccountConfig(
        api_key=args.key, concurrency=args.limit, credit_package=args.credit_package
    )
    config = EmulatorConfig(
        accounts=(account,),
        job_duration=parse_distribution(args.duration),
        seed=args.seed,
    )
    emu = Emulator(config)
    if args.latency:
        emu.set_faults(FaultPlan(latency=Fixed(args.latency)))
    if args.instrument:
        instrument(emu)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with emu:
        print(f"listening on {emu.base_url}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", required=True)
    parser.add_argument("--limit", type=int, required=True, help="concurrent generations")
    parser.add_argument("--duration", required=True, help="'0.5', '0.2-0.8', 'lognormal:M,S'")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--credit-package", type=int, default=10**12)
    parser.add_argument("--instrument", action="store_true")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
