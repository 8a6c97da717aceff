"""The poll scheduler: one per client, watching every job anybody waits for.

A heap orders watched jobs by their next due time. One runner task pops due jobs and hands
each to a bounded pool of status requests (``PollPolicy.max_concurrency``), paced by a
client-wide token bucket (``PollPolicy.max_rps``). However many callers wait, and on however
many jobs, the API sees at most one status request per job per interval.

- First poll: after ``PollPolicy.first_poll`` if set, else after a delay learned per job kind
  (see :meth:`PollScheduler.expected_duration`: just after the end of steady durations, a low
  quantile of spread ones, so most jobs are found done on their first or second poll), else
  after one interval.
- Unknown statuses mean "still running"; only 1, 6, 7 and 8 end a watch.
- Waiting is per caller: a deadline or a cancellation ends that caller's wait only. A job
  nobody waits for any more is dropped at its next due time.
- :meth:`PollScheduler.resolve` lets another source (a webhook) finish a job without polling.
  In webhook mode (``webhook_media``), jobs of those media are only polled as a slow fallback:
  first ``PollPolicy.webhook_fallback`` seconds after their expected end (a high quantile of
  the submit-to-delivery times seen so far), then every ``webhook_fallback`` seconds. A
  delivery for a job nobody watches yet is kept (bounded), so a later wait returns at once.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import random
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import anyio

from ._config import PollPolicy
from ._constants import (
    POLL_FINAL_RESULTS,
    POLL_FIRST_PRECISION,
    POLL_LEARN_SAMPLES,
    POLL_MIN_SAMPLES,
    POLL_WEBHOOK_END_QUANTILE,
)
from ._exceptions import (
    APIConnectionError,
    ClientClosedError,
    JobDeletedError,
    JobError,
    JobFailedError,
    JobModeratedError,
    JobTimeoutError,
    RateLimitError,
    ServerBusyError,
    ServerError,
)

logger = logging.getLogger("pixverse_async")

SUCCEEDED, DELETED, MODERATED, FAILED = 1, 6, 7, 8
TERMINAL = frozenset({SUCCEEDED, DELETED, MODERATED, FAILED})
_TRANSIENT = (APIConnectionError, RateLimitError, ServerBusyError, ServerError)


class Snapshot(Protocol):
    @property
    def status(self) -> int: ...


S = TypeVar("S", bound=Snapshot)
Key = tuple[str, int]  # ("video" | "image", id)
Fetch = Callable[[str, int], Awaitable[Any]]


class _Watch:
    __slots__ = (
        "done",
        "error",
        "key",
        "kind",
        "last_running",
        "polls",
        "snapshot",
        "started",
        "waiters",
        "webhook",
    )

    def __init__(self, key: Key, kind: str, started: float, *, webhook: bool = False) -> None:
        self.key = key
        self.kind = kind
        self.started = started
        self.webhook = webhook  # a delivery should end it: poll only as a slow fallback
        self.last_running: float | None = None  # when the last poll that saw it running was sent
        self.polls = 0
        self.snapshot: Any = None
        self.waiters: set[asyncio.Future[Any]] = set()
        self.done = False
        #: the JobError every waiter of a job that ended badly gets (one instance: a handle
        #: and its waits agree on it)
        self.error: JobError | None = None


@dataclass(frozen=True)
class PollStatistics:
    """A snapshot of the scheduler's state (``client.poll_statistics()``).

    Attributes:
        watched: jobs being watched (not ended yet).
        waiters: waits on them (``wait``, ``as_completed``, slot holds).
        polls_sent: status requests sent so far.
        polls_in_flight: status requests in the air now.
        resolved_by_poll: jobs a poll saw end.
        resolved_externally: jobs a webhook delivery ended.
        first_poll: per job kind, the learned delay (seconds after submit) of the first
            poll; kinds with too few finished jobs yet are absent.
    """

    watched: int
    waiters: int
    polls_sent: int
    polls_in_flight: int
    resolved_by_poll: int
    resolved_externally: int
    first_poll: Mapping[str, float] = field(default_factory=dict)


class PollScheduler(Generic[S]):
    """Watches jobs for one client. Create it lazily; close it with :meth:`aclose`.

    Args:
        fetch: ``await fetch(media, job_id)`` returns a status snapshot.
        policy: intervals, pacing and pool size.
        webhook_media: media (``"video"``) whose jobs webhooks resolve; those are polled only
            as a slow fallback.
    """

    def __init__(
        self, fetch: Fetch, policy: PollPolicy, *, webhook_media: Collection[str] = ()
    ) -> None:
        self._fetch = fetch
        self.policy = policy
        self.webhook_media = frozenset(webhook_media)
        #: per job kind: seconds from submit to the delivery that ended it (webhook mode)
        self._arrivals: dict[str, deque[float]] = {}
        #: final snapshots of webhook-mode jobs (by delivery or poll), and deliveries for jobs
        #: nobody watched yet: a later wait settles from them instead of a slow fallback poll
        self._final: OrderedDict[Key, Any] = OrderedDict()
        self._watches: dict[Key, _Watch] = {}
        self._heap: list[tuple[float, int, _Watch]] = []
        self._seq = 0
        self._wake = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._closed = False
        #: per job kind: (last seen running, first seen done), seconds after submit
        self._learned: dict[str, deque[tuple[float | None, float]]] = {}
        # the bucket holds at least one token, or a max_rps below 1 could never send a poll
        self._bucket = max(1.0, policy.max_rps or 1.0)
        self._tokens = self._bucket
        self._token_time = time.monotonic()
        self._polls_sent = 0
        self._in_flight = 0
        self._by_poll = 0
        self._external = 0

    # -- public ----------------------------------------------------------------------------

    def future(
        self, media: str, job_id: int, kind: str, *, submitted_at: float | None = None
    ) -> asyncio.Future[Any]:
        """A future resolved when the job ends: its final snapshot (status 1) or a JobError.

        Cancelling the future ends only this interest in the job.
        """
        if self._closed:
            raise ClientClosedError("the client is closed; create a new AsyncPixVerse")
        watch = self._watch(media, job_id, kind, submitted_at)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if watch.done:
            self._settle(future, watch)
        else:
            watch.waiters.add(future)
            future.add_done_callback(watch.waiters.discard)
            self._ensure_running()
        future.add_done_callback(_retrieve)
        return future

    async def wait(
        self,
        media: str,
        job_id: int,
        kind: str,
        *,
        timeout: float | None = None,
        submitted_at: float | None = None,
    ) -> Any:
        """Wait until the job ends; return its final snapshot (status 1) or raise.

        Raises:
            JobFailedError, JobModeratedError, JobDeletedError: the job ended badly.
            JobTimeoutError: ``timeout`` seconds passed first (the job keeps running).
            ClientClosedError: the client was closed while waiting.
            PixVerseError: a status request failed for good (e.g. not found, auth).
        """
        future = self.future(media, job_id, kind, submitted_at=submitted_at)
        return await self.wait_for(future, media, job_id, timeout=timeout)

    async def wait_for(
        self, future: asyncio.Future[Any], media: str, job_id: int, *, timeout: float | None
    ) -> Any:
        """Await a :meth:`future` of the job for at most ``timeout`` seconds (see :meth:`wait`).

        On timeout (or cancellation) the future is cancelled: that interest in the job ends.
        """
        if timeout is None:
            return await future
        try:
            with anyio.fail_after(timeout):
                return await future
        except TimeoutError:
            if future.done() and not future.cancelled():
                return future.result()
            snapshot = self.last_snapshot(media, job_id)
            raise JobTimeoutError(
                f"{media} {job_id} did not finish within {timeout:g} s; it keeps running on the "
                "server (wait again, or re-create the handle later from its id)",
                job_id=job_id,
                status=getattr(snapshot, "status", None),
                snapshot=snapshot,
            ) from None

    async def fetch(self, media: str, job_id: int) -> Any:
        """One status request now, outside the schedule (``job.status()``)."""
        return await self._fetch(media, job_id)

    def resolve(self, media: str, job_id: int, snapshot: Any) -> bool:
        """Finish a job from outside (a webhook delivery) without polling it.

        A watched job's waiters get ``snapshot`` now and its polling stops. A job nobody
        watches yet is remembered (the last ``POLL_FINAL_RESULTS``), so a later wait on it
        returns at once. A non-terminal snapshot is ignored.

        Returns:
            Whether a watched job was finished (False for a duplicate or an unknown job).
        """
        if snapshot.status not in TERMINAL:
            return False
        key = (media, job_id)
        watch = self._watches.get(key)
        if watch is None or watch.done:
            self._keep(key, snapshot)
            return False
        self._external += 1
        if watch.webhook:
            arrivals = self._arrivals.setdefault(watch.kind, deque(maxlen=POLL_LEARN_SAMPLES))
            arrivals.append(max(0.0, time.monotonic() - watch.started))
        self._finish(watch, snapshot)
        return True

    async def refresh(self, media: str, job_id: int) -> None:
        """Poll a watched job now (out of turn); finish it if it has ended. Errors are ignored."""
        watch = self._watches.get((media, job_id))
        if watch is None or watch.done or self._closed:
            return
        try:
            self._polls_sent += 1
            snapshot = await self._fetch(media, job_id)
        except Exception as exc:  # the regular polls will try again
            logger.debug("refresh of %s %s failed: %s", media, job_id, exc)
            return
        watch.snapshot = snapshot
        if snapshot.status in TERMINAL and not watch.done:
            self._by_poll += 1
            self._finish(watch, snapshot)

    def final(self, media: str, job_id: int) -> Any:
        """A kept final snapshot of the job (a webhook delivery, or a webhook-mode job's end)."""
        return self._final.get((media, job_id))

    def last_snapshot(self, media: str, job_id: int) -> Any:
        watch = self._watches.get((media, job_id))
        return watch.snapshot if watch else None

    def statistics(self) -> PollStatistics:
        return PollStatistics(
            watched=sum(1 for w in self._watches.values() if not w.done),
            waiters=sum(len(w.waiters) for w in self._watches.values()),
            polls_sent=self._polls_sent,
            polls_in_flight=self._in_flight,
            resolved_by_poll=self._by_poll,
            resolved_externally=self._external,
            first_poll={
                kind: delay
                for kind in self._learned
                if (delay := self.expected_duration(kind)) is not None
            },
        )

    def expected_end(self, kind: str) -> float:
        """Webhook mode: seconds after submit by which most ``kind`` deliveries have arrived.

        A high quantile of the recent submit-to-delivery times; before enough deliveries, the
        learned first-poll delay, else one poll interval.
        """
        arrivals = self._arrivals.get(kind)
        if arrivals and len(arrivals) >= POLL_MIN_SAMPLES:
            ordered = sorted(arrivals)
            return ordered[int(POLL_WEBHOOK_END_QUANTILE * (len(ordered) - 1))]
        return self.expected_duration(kind) or self.policy.interval

    def expected_duration(self, kind: str) -> float | None:
        """The learned first-poll delay for ``kind`` (``None`` until enough jobs finished).

        Each finished job brackets its duration: the poll that last saw it running (none if
        the first poll found it done) and the poll that first saw it done, in seconds after
        submit. Of the recent jobs, "running" is a high quantile of the first and "done" a
        low quantile (``first_poll_quantile``) of the second.

        - Brackets that overlap (``running`` before ``done``) mean steady durations: the
          first poll bisects between the two until they are ``POLL_FIRST_PRECISION``
          intervals apart, then stays at ``done``, just after the jobs end. (A midpoint
          estimate would land up to half an interval early, so most first polls would miss.)
        - Every job done at its first poll: poll earlier, by one precision step, then by
          wider steps while that keeps finding them done (durations got shorter).
        - Otherwise (durations spread wider than the brackets): a low quantile of the bracket
          midpoints; a job done at its first poll counts as ending half an interval before.
        """
        samples = self._learned.get(kind)
        if not samples or len(samples) < POLL_MIN_SAMPLES:
            return None
        interval = self.policy.interval
        quantile = self.policy.first_poll_quantile
        highs = sorted(high for _, high in samples)
        lows = sorted(low for low, _ in samples if low is not None)
        done = highs[int(quantile * (len(highs) - 1))]
        step = interval * POLL_FIRST_PRECISION
        if not lows:
            spread = highs[int((1 - quantile) * (len(highs) - 1))] - done
            return max(0.0, done - max(step, spread))
        running = lows[int((1 - quantile) * (len(lows) - 1))]
        if running < done + step:
            return max(done, running) if done - running <= step else (running + done) / 2
        mids = sorted(
            high - min(interval, high) / 2 if low is None else (low + high) / 2
            for low, high in samples
        )
        return mids[int(quantile * (len(mids) - 1))]

    async def aclose(self) -> None:
        """Stop polling and wake every waiter with :class:`ClientClosedError`."""
        if self._closed:
            return
        self._closed = True
        for watch in self._watches.values():
            for future in watch.waiters:
                if not future.done():
                    future.set_exception(ClientClosedError("the client was closed while waiting"))
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    # -- internals -------------------------------------------------------------------------

    def _watch(self, media: str, job_id: int, kind: str, submitted_at: float | None) -> _Watch:
        key = (media, job_id)
        watch = self._watches.get(key)
        if watch is not None:  # already queued, being polled, or done
            return watch
        now = time.monotonic()
        started = submitted_at if submitted_at is not None else now
        watch = _Watch(key, kind, started, webhook=media in self.webhook_media)
        final = self._final.get(key)
        if final is not None:  # its delivery came before anybody waited: nothing to poll
            watch.done = True
            watch.snapshot = final
            return watch
        self._watches[key] = watch
        first: float
        if watch.webhook:
            first = self.expected_end(kind) + self.policy.webhook_fallback
        elif self.policy.first_poll is not None:
            first = self.policy.first_poll
        else:
            first = self.expected_duration(kind) or self.policy.interval
        self._push(max(now, watch.started + first), watch)
        return watch

    def _push(self, due: float, watch: _Watch) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, watch))
        if self._heap[0][2] is watch:
            self._wake.set()

    def _ensure_running(self) -> None:
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name="pixverse-async-poll-scheduler"
            )
            self._runner.add_done_callback(self._runner_ended)

    def _runner_ended(self, runner: asyncio.Task[None]) -> None:
        """A crashed runner must not leave waiters hanging: hand them the error."""
        if runner.cancelled() or runner.exception() is None:
            return
        error = runner.exception()
        logger.error("the poll scheduler stopped: %r", error)
        for watch in list(self._watches.values()):
            for future in watch.waiters:
                if not future.done():
                    future.set_exception(RuntimeError(f"the poll scheduler stopped: {error!r}"))
        self._watches.clear()
        self._heap.clear()

    async def _run(self) -> None:
        limiter = anyio.Semaphore(self.policy.max_concurrency)
        async with anyio.create_task_group() as tg:
            while True:
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    _, _, watch = heapq.heappop(self._heap)
                    if watch.done:
                        continue
                    if not watch.waiters:
                        del self._watches[watch.key]  # nobody waits: stop watching
                        continue
                    await limiter.acquire()
                    await self._pace()
                    self._in_flight += 1
                    tg.start_soon(self._poll, watch, limiter)
                    now = time.monotonic()
                self._wake.clear()
                timeout = self._heap[0][0] - now if self._heap else None
                with anyio.move_on_after(timeout):
                    await self._wake.wait()

    async def _pace(self) -> None:
        """Token bucket: at most ``max_rps`` status requests per second."""
        rps = self.policy.max_rps
        if rps is None:
            return
        while True:
            now = time.monotonic()
            self._tokens = min(self._bucket, self._tokens + (now - self._token_time) * rps)
            self._token_time = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await anyio.sleep((1.0 - self._tokens) / rps)

    async def _poll(self, watch: _Watch, limiter: anyio.Semaphore) -> None:
        media, job_id = watch.key
        sent = time.monotonic()
        try:
            self._polls_sent += 1
            snapshot = await self._fetch(media, job_id)
        except _TRANSIENT as exc:
            logger.debug("status of %s %s failed (%s); polling again", media, job_id, exc)
            snapshot = None
        except Exception as exc:  # definitive: not found, auth... (or a bug): tell the waiters
            self._fail(watch, exc)
            return
        finally:
            self._in_flight -= 1
            limiter.release()
        now = time.monotonic()
        watch.polls += 1
        if snapshot is not None:
            watch.snapshot = snapshot
            if snapshot.status in TERMINAL and not watch.done:
                self._by_poll += 1
                self._learn(watch, sent)
                self._finish(watch, snapshot)
                return
            watch.last_running = sent
        if not watch.done:
            jitter = self.policy.jitter
            every = self.policy.webhook_fallback if watch.webhook else self.policy.interval
            delay = every * random.uniform(1 - jitter, 1 + jitter)
            # counted from when this poll was sent: the period is the interval, not interval
            # plus the round trip
            self._push(max(now, sent + delay), watch)

    def _learn(self, watch: _Watch, done_at: float) -> None:
        """Record the bracket of a job just seen done by the poll sent at ``done_at``."""
        samples = self._learned.setdefault(watch.kind, deque(maxlen=POLL_LEARN_SAMPLES))
        running = watch.last_running
        low = None if running is None else max(0.0, running - watch.started)
        samples.append((low, max(0.0, done_at - watch.started)))

    def _keep(self, key: Key, snapshot: Any) -> None:
        self._final[key] = snapshot
        self._final.move_to_end(key)
        while len(self._final) > POLL_FINAL_RESULTS:
            self._final.popitem(last=False)

    def _finish(self, watch: _Watch, snapshot: Any) -> None:
        watch.done = True
        watch.snapshot = snapshot
        if watch.webhook:  # a later wait would otherwise sit out a slow fallback poll
            self._keep(watch.key, snapshot)
        for future in watch.waiters:
            self._settle(future, watch)
        watch.waiters.clear()
        # forget it, or a long-lived client keeps every job it ever watched; a later wait on
        # the same job costs one status request
        if self._watches.get(watch.key) is watch:
            del self._watches[watch.key]

    def _fail(self, watch: _Watch, exc: Exception) -> None:
        for future in watch.waiters:
            if not future.done():
                future.set_exception(exc)
        watch.waiters.clear()
        if self._watches.get(watch.key) is watch:  # a webhook may have finished and replaced it
            del self._watches[watch.key]

    @staticmethod
    def _settle(future: asyncio.Future[Any], watch: _Watch) -> None:
        if future.done():
            return
        snapshot = watch.snapshot
        status = snapshot.status
        if status == SUCCEEDED:
            future.set_result(snapshot)
            return
        if watch.error is None:
            media, job_id = watch.key
            cls: type[JobError] = {
                FAILED: JobFailedError,
                MODERATED: JobModeratedError,
                DELETED: JobDeletedError,
            }[status]
            what = {
                FAILED: "failed",
                MODERATED: "failed content moderation",
                DELETED: "was deleted",
            }
            refund = " (credits refunded)" if status in (FAILED, MODERATED) else ""
            watch.error = cls(
                f"{media} {job_id} {what[status]}{refund}",
                job_id=job_id,
                status=status,
                snapshot=snapshot,
            )
        future.set_exception(watch.error)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark a future's exception as retrieved (callers may ignore a job they stopped watching)."""
    if not future.cancelled():
        future.exception()
