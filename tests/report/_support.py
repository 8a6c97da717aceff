"""The 40-job emulator batch with failures and 500044s that the report tests read."""

from __future__ import annotations

from pathlib import Path

from pixverse_async import AsyncPixVerse, PollPolicy, RetryPolicy
from pixverse_async._batch import BatchItem
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, FaultPlan, Uniform

KEY = "pv-report-test-key-000001"
POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=64)
RETRY = RetryPolicy(max_retries=6, initial_backoff=0.001, max_backoff=0.01, max_elapsed=20)
T2V = {"model": "v5", "duration": 5, "quality": "360p", "aspect_ratio": "16:9"}
JOBS = 40
#: the account allows 3 jobs at once; the client is told 6, so submits meet 500044
ACCOUNT_LIMIT = 3
CLIENT_LIMIT = 6
SECTIONS = ("summary", "timeline", "concurrency", "durations", "detection", "credits", "failed")


def items() -> list[BatchItem]:
    def prompt(i: int) -> str:
        if i % 10 == 3:
            return f"shot {i} [emulator:fail]"
        if i % 10 == 7:
            return f"shot {i} [emulator:moderate]"
        return f"shot {i}"

    return [
        BatchItem("text_to_video", {**T2V, "prompt": prompt(i)}, key=f"job-{i:02d}")
        for i in range(JOBS)
    ]


def emulator() -> Emulator:
    """Jobs of 30-120 ms, 10 % failing at random (besides the triggers), 3 slots."""
    account = AccountConfig(api_key=KEY, concurrency=ACCOUNT_LIMIT, credit_package=10**9)
    config = EmulatorConfig(
        accounts=(account,),
        job_duration=Uniform(0.03, 0.12),
        faults=FaultPlan(failure_rate=0.1),
        seed=13,
    )
    return Emulator(config)


async def run_batch(emu: Emulator, journal: Path) -> None:
    async with AsyncPixVerse(
        KEY, base_url=emu.base_url, poll=POLL, retry=RETRY, max_concurrency=CLIENT_LIMIT
    ) as client:
        await client.run_batch(items(), journal=journal)
