"""Makespan efficiency, polling economy and 500044 share (issue items 1, 2 and 5).

N modify jobs (default 1,000) on an emulator account allowing L concurrent generations
(default 10), job durations log-normal (median 0.5 s, sigma 0.4, drawn by the emulator).
Contenders, each against a fresh emulator with the same seed:

- ``given``: the SDK's batch engine (``client.batch``), ``max_concurrency=L``, polling;
- ``auto``: the same with ``max_concurrency="auto"`` (limit learned from ErrCode 500044);
- ``webhook``: the same as ``given`` with ``webhooks=True``, a ``WebhookReceiver`` served by
  ``webhook_app`` in this process, and the emulator account's default webhook pointing at it
  (polling is only a slow fallback, ``PollPolicy.webhook_fallback``);
- ``naive``: plain aiohttp, ``asyncio.gather`` over all N jobs, an ``asyncio.Semaphore(L)``
  around the submit only (a 500044 is retried after ``interval``), then sleep-and-poll;
- ``loop``: plain aiohttp, a per-job fixed-interval poll loop: ``Semaphore(L)`` held from
  submit until the job is seen to end, polling every ``interval`` from the submit.

All poll at the same interval (default 0.05 s = median / 10, like 4 s polls on 40 s jobs).
The SDK runs with its default ``PollPolicy`` but for the interval (jitter 0.1, 16 polls in
flight, the adaptive poll budget), as a user gets it; the baselines poll without jitter. The
SDK's learned first poll is part of what is measured. Figures per contender:

1. efficiency = ideal / measured makespan (first submit to last job seen). The ideal is the
   greedy list schedule of the durations the emulator actually drew, in creation order, on L
   slots: the makespan of a client that sees each end instantly and submits the next job at
   once with zero latency. It is optimal for that order (no client can choose which duration a
   job gets) and a little above sum(d) / L (also printed), which ignores the tail.
2. status GETs per job (median, mean, p95; counted per job by the emulator) and detection delay
   (the caller seeing the job end minus the moment it ended on the emulator: p50, p95).
5. 500044 answers as a share of submit POSTs (both counted by the emulator).

The emulator runs in its own process (``_emulator_server.py``), so its CPU is not the
client's; job end times come from its instrumentation on the same (system-wide monotonic)
clock. ``--quick``: 100 jobs, median 0.2 s, interval 0.02 s.

Usage: ``python benchmarks/bench_makespan.py [--jobs 1000] [--limit 10] [--median 0.5]
[--sigma 0.4] [--interval 0.05] [--only given --only naive ...] [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
from _common import (
    BUSY,
    MODIFY_PATH,
    TERMINAL,
    EmulatorHandle,
    JobRecord,
    LoopLag,
    emulator,
    list_schedule_makespan,
    modify_body,
    quantile,
    raw_headers,
    setup_media,
    write_json,
)
from aiohttp import web

from pixverse_async import AsyncPixVerse, BatchItem, PollPolicy
from pixverse_async.webhooks import WebhookReceiver, webhook_app

WEBHOOK_SECRET = "bench-webhook-secret-0001"
CONTENDERS = ("given", "auto", "webhook", "naive", "loop")
LABELS = {
    "given": "SDK batch, max_concurrency=L (polling)",
    "auto": 'SDK batch, max_concurrency="auto" (polling)',
    "webhook": "SDK batch, max_concurrency=L, webhooks",
    "naive": "naive gather + Semaphore(L) on submit",
    "loop": "per-job fixed-interval poll loop",
}


@dataclass
class Run:
    wall: float
    seen: dict[int, float]  # job id -> when the caller saw it end (monotonic)
    failed: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def lag_figures(lag: LoopLag) -> dict[str, Any]:
    """The client's event-loop lag during the run (a diagnostic: is the client congested?)."""
    return {
        "client_loop_lag_p99_ms": round(quantile(lag.samples, 0.99) * 1000, 2),
        "client_loop_lag_max_ms": round(max(lag.samples, default=0.0) * 1000, 2),
    }


# -- the SDK ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def webhook_receiver(client: AsyncPixVerse, emu: EmulatorHandle) -> AsyncIterator[None]:
    """Serve the SDK's receiver on 127.0.0.1 in this process; point the account's webhook at it."""
    receiver = WebhookReceiver(WEBHOOK_SECRET, client=client)
    app = webhook_app(receiver, path="/webhook")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        await emu.upsert_account(
            {
                "api_key": emu.key,
                "concurrency": emu.limit,
                "credit_package": 10**12,
                "webhooks": [
                    {
                        "webhook_id": 1,
                        "url": f"http://127.0.0.1:{port}/webhook",
                        "secret": WEBHOOK_SECRET,
                        "default": True,
                    }
                ],
            }
        )
        yield
    finally:
        await runner.cleanup()


async def sdk(
    emu: EmulatorHandle,
    media_id: int,
    args: argparse.Namespace,
    limit: int | Literal["auto"],
    *,
    webhooks: bool = False,
) -> Run:
    poll_options: dict[str, Any] = {"interval": args.interval}  # else the defaults
    client_options: dict[str, Any] = {}
    if webhooks:
        poll_options["webhook_fallback"] = args.webhook_fallback
        client_options["webhooks"] = True
    poll = PollPolicy(**poll_options)
    items = [
        BatchItem("modify", modify_body(i, media_id), key=f"job-{i}") for i in range(args.jobs)
    ]
    seen: dict[int, float] = {}
    failed: list[str] = []
    async with AsyncPixVerse(
        emu.key, base_url=emu.base_url, poll=poll, max_concurrency=limit, **client_options
    ) as client:
        receiver = webhook_receiver(client, emu) if webhooks else contextlib.nullcontext()
        async with receiver, LoopLag() as lag:
            started = time.monotonic()
            async with client.batch(items) as batch:
                async for outcome in batch:
                    now = time.monotonic()
                    if outcome.ok and outcome.job_id is not None:
                        seen[outcome.job_id] = now
                    else:
                        failed.append(f"{outcome.key}: {outcome.error!r}")
            wall = time.monotonic() - started
        extra: dict[str, Any] = lag_figures(lag)
        if client.limiter is not None:
            stats = client.limiter.statistics()
            extra |= {"client_500044": stats.rejected_500044, "limit_seen": stats.limit}
        if isinstance(client, AsyncPixVerse):
            ps = client.poll_statistics()
            extra |= {
                "client_polls_sent": ps.polls_sent,
                "resolved_by_poll": ps.resolved_by_poll,
                "resolved_externally": ps.resolved_externally,
            }
            learned = ps.first_poll.get("modify")
            extra["learned_first_poll_s"] = None if learned is None else round(learned, 4)
    return Run(wall, seen, failed, extra)


# -- baselines ------------------------------------------------------------------------------


async def raw_contender(
    emu: EmulatorHandle, media_id: int, args: argparse.Namespace, *, hold: bool
) -> Run:
    """``hold=False``: naive (semaphore around the submit only); ``hold=True``: the per-job
    poll loop (semaphore held until the job is seen to end)."""
    sem = asyncio.Semaphore(args.limit)
    interval = args.interval
    base = emu.base_url
    seen: dict[int, float] = {}
    failed: list[str] = []
    connector = aiohttp.TCPConnector(limit=100)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def submit(i: int) -> int:
            while True:
                async with session.post(
                    base + MODIFY_PATH, json=modify_body(i, media_id), headers=raw_headers()
                ) as r:
                    doc = await r.json()
                if doc["ErrCode"] == BUSY:
                    await asyncio.sleep(interval)
                    continue
                if doc["ErrCode"] != 0:
                    raise RuntimeError(f"submit failed: {doc}")
                return int(doc["Resp"]["video_id"])

        async def poll(video_id: int) -> None:
            while True:
                await asyncio.sleep(interval)
                async with session.get(
                    f"{base}/video/result/{video_id}", headers=raw_headers()
                ) as r:
                    doc = await r.json()
                if doc["ErrCode"] == 0 and doc["Resp"]["status"] in TERMINAL:
                    seen[video_id] = time.monotonic()
                    if doc["Resp"]["status"] != 1:
                        failed.append(f"{video_id}: status {doc['Resp']['status']}")
                    return

        async def one(i: int) -> None:
            if hold:
                async with sem:
                    await poll(await submit(i))
            else:
                async with sem:
                    video_id = await submit(i)
                await poll(video_id)

        async with LoopLag() as lag:
            started = time.monotonic()
            await asyncio.gather(*(one(i) for i in range(args.jobs)))
            wall = time.monotonic() - started
    return Run(wall, seen, failed, lag_figures(lag))


# -- measuring ------------------------------------------------------------------------------


def contender_fn(
    name: str, args: argparse.Namespace
) -> Callable[[EmulatorHandle, int], Awaitable[Run]]:
    if name == "given":
        return lambda emu, media: sdk(emu, media, args, args.limit)
    if name == "auto":
        return lambda emu, media: sdk(emu, media, args, "auto")
    if name == "webhook":
        return lambda emu, media: sdk(emu, media, args, args.limit, webhooks=True)
    if name == "naive":
        return lambda emu, media: raw_contender(emu, media, args, hold=False)
    return lambda emu, media: raw_contender(emu, media, args, hold=True)


def duration_spec(args: argparse.Namespace) -> str:
    return f"lognormal:{args.median},{args.sigma}"


async def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    mean = args.median * math.exp(args.sigma**2 / 2)
    budget = args.budget * args.jobs * mean / args.limit + 30
    row: dict[str, Any] = {"contender": name, "label": LABELS[name], "checks": []}
    checks: list[str] = row["checks"]
    async with emulator(limit=args.limit, duration=duration_spec(args)) as emu:
        media_id = await setup_media(emu)
        try:
            run = await asyncio.wait_for(contender_fn(name, args)(emu, media_id), budget)
        except asyncio.TimeoutError:
            checks.append(f"timed out after {budget:.0f} s")
            return row
        doc = await emu.stats()
        jobs = await emu.jobs()
        unknown = await emu.unknown_polls()
    durations = [j.duration for j in jobs]
    ideal = list_schedule_makespan(durations, args.limit)
    polls = [j.polls for j in jobs]
    by_id = {j.id: j for j in jobs}
    delays = [run.seen[j.id] - j.due for j in jobs if j.id in run.seen]
    reaper = [j.ended - j.due for j in jobs if j.ended is not None]
    # the delay split in two: the emulator first answering "ended" (when the polls come), then
    # the caller seeing it (the answer's way back through the client)
    answered = [
        j.first_terminal_answer - j.due for j in jobs if j.first_terminal_answer is not None
    ]
    after = [
        run.seen[j.id] - j.first_terminal_answer
        for j in jobs
        if j.id in run.seen
        and j.first_terminal_answer is not None
        and j.first_terminal_answer <= run.seen[j.id]
    ]
    submits = doc["requests_by_endpoint"].get(MODIFY_PATH, 0)
    busy = doc["rejected_500044"]
    # sanity: every job finished and was seen once, the counts add up, the clocks agree
    if run.failed:
        checks.append(f"{len(run.failed)} job(s) failed, first: {run.failed[0]}")
    if len(run.seen) != args.jobs:
        checks.append(f"{len(run.seen)} jobs seen to end, expected {args.jobs}")
    if len(jobs) != args.jobs or doc["jobs_created"] != args.jobs:
        checks.append(f"{doc['jobs_created']} jobs created on the emulator, expected {args.jobs}")
    if set(run.seen) - set(by_id):
        checks.append("the caller saw job ids the emulator never created")
    if sum(polls) + unknown != doc["status_polls"]:
        checks.append(
            f"per-job polls {sum(polls)} + unknown {unknown} != emulator status_polls "
            f"{doc['status_polls']}"
        )
    if submits != doc["jobs_created"] + busy:
        checks.append(f"submits {submits} != created {doc['jobs_created']} + 500044 {busy}")
    if delays and min(delays) < -0.002:
        checks.append(f"a job was seen {-min(delays) * 1000:.1f} ms before it ended (clock?)")
    max_running = max(doc["max_concurrent_observed"].values(), default=0)
    if max_running > args.limit:
        checks.append(f"{max_running} jobs ran at once on a limit of {args.limit}")
    if name == "webhook" and doc["webhook_deliveries_ok"] < args.jobs:
        checks.append(f"only {doc['webhook_deliveries_ok']} webhook deliveries were answered ok")
    # jobs found done by their first status request vs later ones (polling contenders)
    first = [run.seen[j.id] - j.due for j in jobs if j.polls == 1 and j.id in run.seen]
    later = [run.seen[j.id] - j.due for j in jobs if j.polls > 1 and j.id in run.seen]
    if args.dump:
        rows = [
            [j.id, j.created, j.duration, j.polls, j.first_terminal_answer, run.seen.get(j.id)]
            for j in jobs
        ]
        write_json(f"{args.dump}.{name}.json", rows)
    row |= {
        "wall_s": round(run.wall, 3),
        "ideal_s": round(ideal, 3),
        "sum_over_limit_s": round(sum(durations) / args.limit, 3),
        "efficiency": round(ideal / run.wall, 4),
        "jobs_seen": len(run.seen),
        "polls_total": doc["status_polls"],
        "polls_per_job_median": statistics.median(polls) if polls else math.nan,
        "polls_per_job_mean": round(sum(polls) / max(1, len(polls)), 3),
        "polls_per_job_p95": round(quantile(polls, 0.95), 2),
        "delay_p50_ms": round(quantile(delays, 0.5) * 1000, 1),
        "delay_p95_ms": round(quantile(delays, 0.95) * 1000, 1),
        "delay_mean_ms": round(statistics.fmean(delays) * 1000, 1) if delays else math.nan,
        "emulator_end_lateness_p95_ms": round(quantile(reaper, 0.95) * 1000, 2),
        "terminal_answer_p50_ms": round(quantile(answered, 0.5) * 1000, 1),
        "terminal_answer_p95_ms": round(quantile(answered, 0.95) * 1000, 1),
        "answer_to_seen_p50_ms": round(quantile(after, 0.5) * 1000, 1),
        "answer_to_seen_p95_ms": round(quantile(after, 0.95) * 1000, 1),
        "done_at_first_poll_share": round(len(first) / max(1, len(jobs)), 3),
        "delay_p95_done_at_first_poll_ms": round(quantile(first, 0.95) * 1000, 1),
        "delay_p95_later_polls_ms": round(quantile(later, 0.95) * 1000, 1),
        "submit_posts": submits,
        "rejected_500044": busy,
        "share_500044": round(busy / max(1, submits), 4),
        "max_concurrent_observed": max_running,
        "webhook_deliveries_ok": doc["webhook_deliveries_ok"],
        "durations_first5": [round(d, 4) for d in durations[:5]],
        **run.extra,
    }
    row["per_job"] = per_job(jobs, run.seen)
    return row


def per_job(jobs: Sequence[JobRecord], seen: dict[int, float]) -> dict[str, list[Any]]:
    """Compact per-job columns for the charts (``_charts.py``), in creation order: creation
    (seconds after the first), drawn duration (s), status requests, and detection delay (ms,
    seen minus due; ``None`` if never seen)."""
    t0 = jobs[0].created if jobs else 0.0
    return {
        "created_s": [round(j.created - t0, 4) for j in jobs],
        "duration_s": [round(j.duration, 4) for j in jobs],
        "polls": [j.polls for j in jobs],
        "delay_ms": [round((seen[j.id] - j.due) * 1000, 2) if j.id in seen else None for j in jobs],
    }


async def warm_up(args: argparse.Namespace, names: Sequence[str]) -> None:
    """One small untimed run of each contender on a throwaway emulator, so one-time costs
    (lazy imports in anyio, aiohttp, pydantic) do not fall on whichever contender runs first."""
    small = argparse.Namespace(**{**vars(args), "jobs": 2 * args.limit})
    async with emulator(limit=args.limit, duration="0.01", instrument=False) as emu:
        media_id = await setup_media(emu)
        for name in names:
            await asyncio.wait_for(contender_fn(name, small)(emu, media_id), 60)


def targets(rows: dict[str, dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each target of items 1, 2 and 5: what was measured and whether it was met."""
    out: list[dict[str, Any]] = []

    def add(item: str, what: str, value: Any, goal: str, met: bool | None) -> None:
        out.append({"item": item, "what": what, "value": value, "target": goal, "met": met})

    eff = {k: r["efficiency"] for k, r in rows.items() if "efficiency" in r}
    baselines = [eff[k] for k in ("naive", "loop") if k in eff]
    for k, goal in (("given", 0.95), ("auto", 0.90)):
        if k in eff:
            add("1", f"efficiency, {k}", eff[k], f">= {goal}", eff[k] >= goal)
    for k in ("given", "auto", "webhook"):
        if k in eff and baselines:
            best = max(baselines)
            add(
                "1",
                f"{k} ahead of every baseline",
                f"{eff[k]:.3f} vs best baseline {best:.3f}",
                "> every baseline",
                eff[k] > best,
            )
    for k in ("given", "auto"):
        r = rows.get(k, {})
        if "polls_per_job_median" in r:
            m = r["polls_per_job_median"]
            add("2", f"median polls/job, {k}", m, "<= 3", m <= 3)
    r = rows.get("webhook", {})
    if "polls_per_job_mean" in r:
        m = r["polls_per_job_mean"]
        add("2", "polls/job, webhook (mean)", m, "~0 (<= 0.05)", m <= 0.05)
    interval_ms = args.interval * 1000
    for k in ("given", "auto", "webhook"):
        r = rows.get(k, {})
        if "delay_p95_ms" in r:
            p = r["delay_p95_ms"]
            add(
                "2", f"p95 detection delay, {k} (ms)", p, f"<= {interval_ms:g} ms", p <= interval_ms
            )
    r = rows.get("auto", {})
    if "share_500044" in r:
        s = r["share_500044"]
        add("5", "500044 share of submits, auto", f"{s:.2%}", "< 5%", s < 0.05)
    return out


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"{args.jobs} modify jobs, limit {args.limit}, durations lognormal(median {args.median} s, "
        f"sigma {args.sigma}), poll interval {args.interval} s"
    )
    header = (
        f"{'contender':<10}{'wall s':>8}{'ideal s':>9}{'effic.':>8}{'polls med':>10}"
        f"{'mean':>7}{'p95':>6}{'delay p50':>10}{'p95 ms':>8}{'500044':>8}{'share':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if "wall_s" not in r:
            print(f"{r['contender']:<10} not measured: {r['checks']}")
            continue
        print(
            f"{r['contender']:<10}{r['wall_s']:>8.2f}{r['ideal_s']:>9.2f}{r['efficiency']:>8.3f}"
            f"{r['polls_per_job_median']:>10}{r['polls_per_job_mean']:>7.2f}"
            f"{r['polls_per_job_p95']:>6.1f}{r['delay_p50_ms']:>10.1f}{r['delay_p95_ms']:>8.1f}"
            f"{r['rejected_500044']:>8}{r['share_500044']:>8.1%}"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--median", type=float, default=0.5, help="job duration median, s")
    parser.add_argument("--sigma", type=float, default=0.4, help="log-normal sigma")
    parser.add_argument("--interval", type=float, default=0.05, help="poll interval, s")
    parser.add_argument(
        "--webhook-fallback", type=float, default=1.0, help="PollPolicy.webhook_fallback, s"
    )
    parser.add_argument(
        "--budget", type=float, default=2.5, help="time limit: this x the expected ideal + 30 s"
    )
    parser.add_argument("--only", choices=CONTENDERS, action="append")
    parser.add_argument("--quick", action="store_true", help="CI size: 100 jobs of ~0.2 s")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--dump",
        help="write per-job rows (id, created, duration, polls, answered, seen) to "
        "DUMP.<contender>.json",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.jobs, args.median, args.interval, args.webhook_fallback = 100, 0.2, 0.02, 0.5
    if min(args.jobs, args.limit) < 1 or min(args.median, args.interval, args.sigma) <= 0:
        parser.error("--jobs, --limit, --median, --sigma and --interval must be positive")
    return args


async def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    names = list(args.only or CONTENDERS)
    await warm_up(args, names)
    rows: list[dict[str, Any]] = []
    for name in names:
        started = time.monotonic()
        row = await measure(name, args)
        row["elapsed_s"] = round(time.monotonic() - started, 1)
        rows.append(row)
        print(f"  {name}: done in {row['elapsed_s']} s", file=sys.stderr, flush=True)
    print_table(rows, args)
    by_name = {r["contender"]: r for r in rows if "wall_s" in r}
    results = {
        "config": {
            "jobs": args.jobs,
            "limit": args.limit,
            "durations": duration_spec(args),
            "interval_s": args.interval,
            "webhook_fallback_s": args.webhook_fallback,
            "quick": args.quick,
        },
        "contenders": rows,
        "targets": targets(by_name, args),
        "checks": [f"{r['contender']}: {c}" for r in rows for c in r["checks"]],
    }
    firsts = {tuple(r["durations_first5"]) for r in by_name.values()}
    if len(firsts) > 1:
        print("note: contenders got different duration sequences", file=sys.stderr)
    for t in results["targets"]:
        verdict = {True: "met", False: "MISSED", None: "-"}[t["met"]]
        print(f"  item {t['item']}: {t['what']} = {t['value']} (target {t['target']}): {verdict}")
    for c in results["checks"]:
        print(f"BROKEN: {c}", file=sys.stderr)
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    outcome = asyncio.run(main())
    sys.exit(1 if outcome["checks"] else 0)
