"""Signed webhook deliveries with the reference's retry schedule (section 7)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import secrets
import string
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from .._signing import signature, urlencoded_payload
from ._state import SUCCEEDED, EmulatorState, Job

_NONCE_ALPHABET = string.ascii_letters + string.digits
_NONCE_LENGTH = 32


@dataclass
class _Delivery:
    job_id: int
    status: int
    url: str
    secret: str
    payload: dict[str, Any]
    trace_id: str
    attempt: int = 0
    duplicate: bool = False


def make_nonce() -> str:
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(_NONCE_LENGTH))


class WebhookDispatcher:
    """Queues a delivery per terminal job and sends it until the receiver answers ``ok``."""

    def __init__(self, state: EmulatorState, file_url: Any) -> None:
        self.state = state
        self._file_url = file_url
        self._heap: list[tuple[float, int, _Delivery]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._limit = asyncio.Semaphore(state.config.webhook_concurrency)

    def enqueue(self, job: Job) -> None:
        """Called by the state machine when ``job`` reaches 1, 7 or 8."""
        hook = job.webhook
        if hook is None:
            return
        state = self.state
        if state.faults.webhook_drop_rate and state.rng.random() < state.faults.webhook_drop_rate:
            state.stats.webhook_deliveries_dropped += 1
            state.deliveries.append(
                {"video_id": job.id, "status": job.status, "attempt": 0, "dropped": True}
            )
            return
        ok = job.status == SUCCEEDED
        payload = {
            "id": str(job.id),
            "status": job.status,
            "url": self._file_url(job) if ok else "",
            "size": job.size if ok else 0,
            "has_audio": job.has_audio,
            "credits": job.credits if ok else 0,
        }
        self._schedule(
            time.monotonic(),
            _Delivery(job.id, job.status, hook.url, hook.secret, payload, job.trace_id),
        )

    def _schedule(self, due: float, delivery: _Delivery) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, delivery))
        self._wake.set()

    async def run(self, session: aiohttp.ClientSession) -> None:
        """Send due deliveries until cancelled."""
        self._session = session
        try:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, delivery = heapq.heappop(self._heap)
                    task = asyncio.create_task(self._attempt(delivery))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                timeout = self._heap[0][0] - now if self._heap else None
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _attempt(self, d: _Delivery) -> None:
        state = self.state
        body = json.dumps(d.payload).encode()
        timestamp = str(int(time.time()))
        nonce = make_nonce()
        headers = {
            "Content-Type": "application/json",
            "Webhook-Timestamp": timestamp,
            "Webhook-Nonce": nonce,
            "Webhook-Signature": signature(
                d.secret, timestamp, nonce, urlencoded_payload(d.payload)
            ),
            "Ai-Trace-Id": d.trace_id,
        }
        http_status: int | None = None
        error = ""
        ok = False
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=state.config.webhook_attempt_timeout)
        async with self._limit:
            try:
                async with self._session.post(
                    d.url, data=body, headers=headers, timeout=timeout
                ) as r:
                    http_status = r.status
                    text = await r.text(errors="replace")
                    ok = r.status == 200 and text == "ok"
                    if not ok:
                        error = f"answered HTTP {r.status} {text[:60]!r}"
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        state.stats.webhook_deliveries += 1
        state.stats.webhook_deliveries_ok += ok
        state.deliveries.append(
            {
                "video_id": d.job_id,
                "status": d.status,
                "attempt": d.attempt + 1,
                "duplicate": d.duplicate,
                "url": d.url,
                "http_status": http_status,
                "ok": ok,
                "error": error,
                "at": time.time(),
            }
        )
        delays = state.config.webhook_retry_delays
        if not ok and not d.duplicate and d.attempt < len(delays):
            d.attempt += 1
            self._schedule(time.monotonic() + state.scaled(delays[d.attempt - 1]), d)
        elif ok and not d.duplicate:
            rate = state.faults.webhook_duplicate_rate
            if rate and state.rng.random() < rate:
                dup = _Delivery(
                    d.job_id,
                    d.status,
                    d.url,
                    d.secret,
                    d.payload,
                    d.trace_id,
                    d.attempt,
                    duplicate=True,
                )
                self._schedule(time.monotonic(), dup)
