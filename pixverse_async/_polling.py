"""The poll scheduler: one per client, watching every job anybody waits for.

A heap orders watched jobs by their next due time. One runner task moves due jobs to a ready
queue and hands them to a bounded pool of status requests (``PollPolicy.max_concurrency``),
paced by an adaptive budget (:class:`PollBudget`). However many callers wait, and on however
many jobs, the API sees at most one status request per job per interval.

- The budget follows the work: it allows twice what the schedule asks for (jobs watched /
  interval; at least ``POLL_BUDGET_FLOOR`` per second), so it binds only on bursts, on the
  server's word or on the caller's ceiling (``PollPolicy.max_rps``). An HTTP 429 or ErrCode
  500069 answer cuts a learned cap to 0.7 of the rate that was refused, which then climbs
  back while it binds (CUBIC, as TCP does with its window), and the refused job is polled
  again after the answer's ``Retry-After`` (else after one interval, at most
  ``POLL_THROTTLE_PAUSE``).
- Before a job kind's durations are learned, a wave of its jobs is probed, not polled in
  full: one job an interval at the interval, the others every ``POLL_PROBE_SPREAD``
  intervals, and a probe that sees a job end polls every job as old at once (see
  :meth:`PollScheduler._spread`). A first wave no longer bursts its requests.
- When the budget binds, the polls that can free generation slots go first: jobs holding a
  slot, due (past their expected end), before jobs re-attached in bulk or waited on without a
  slot, each class in due order.

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
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

import anyio

from ._config import PollPolicy
from ._constants import (
    POLL_BACKLOG_WARN,
    POLL_BUDGET_BACKOFF,
    POLL_BUDGET_BURST,
    POLL_BUDGET_FLOOR,
    POLL_BUDGET_HEADROOM,
    POLL_BUDGET_MIN,
    POLL_BUDGET_RECOVERY,
    POLL_FINAL_RESULTS,
    POLL_FIRST_PRECISION,
    POLL_FOLLOW_UP,
    POLL_LEARN_SAMPLES,
    POLL_MIN_SAMPLES,
    POLL_PROBE_MIN,
    POLL_PROBE_SPREAD,
    POLL_RATE_WINDOW,
    POLL_THROTTLE_PAUSE,
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
    ServerError,
)
from ._retry import THROTTLING

if TYPE_CHECKING:
    from ._telemetry import JobTrace, Telemetry

logger = logging.getLogger("pixverse_async")

SUCCEEDED, DELETED, MODERATED, FAILED = 1, 6, 7, 8
TERMINAL = frozenset({SUCCEEDED, DELETED, MODERATED, FAILED})
_TRANSIENT = (APIConnectionError, ServerError)
#: what set the budget: the work (twice its demand), the caller's ceiling, the server's word
BoundBy = Literal["demand", "max_rps", "server"]


class Snapshot(Protocol):
    @property
    def status(self) -> int: ...


S = TypeVar("S", bound=Snapshot)
Key = tuple[str, int]  # ("video" | "image", id)
Fetch = Callable[[str, int], Awaitable[Any]]


class PollBudget:
    """How many status requests per second the scheduler may send: an adaptive token bucket.

    The rate is the least of three terms (:attr:`bound_by` names the one in force):

    - ``demand``: ``POLL_BUDGET_HEADROOM`` times what the schedule asks for (jobs watched /
      interval), at least ``POLL_BUDGET_FLOOR``. It follows the interval and the jobs: polling
      every 0.05 s instead of 4 s allows 80 times the requests, and a batch of 1,000 jobs
      in flight 100 times those of 10.
    - ``max_rps``: the caller's hard ceiling (``PollPolicy.max_rps``), if any.
    - ``server``: a cap learned from the server. None until an HTTP 429 / ErrCode 500069
      answer; then ``POLL_BUDGET_BACKOFF`` times the rate sent over the last
      ``POLL_RATE_WINDOW`` (once per congestion event: refusals of requests sent before the
      decrease's answer came, or within one round trip after it, do not decrease it again),
      and the bucket empties. While the cap binds, it follows CUBIC's curve (RFC 9438) in
      seconds of binding: concave back up to the refused rate in ``POLL_BUDGET_RECOVERY``
      seconds, flat near it, then convex probing above it. Most of the time is spent just
      under the server's limit, with few refusals (measured in ``bench_budget.py``; a
      faster recovery drew twice the 429s against a tight limit). A 500069 (load, not
      rate) never takes the cap below ``POLL_BUDGET_FLOOR``. Once the cap exists, every
      other request attempt (submits, retries) takes its token from the same bucket (the
      server counts every request): see :meth:`PollScheduler.admit`.

    Time is passed in (seconds, any monotonic clock), so the policy is tested without sleeps.
    """

    def __init__(self, ceiling: float | None, *, now: float) -> None:
        self.ceiling = ceiling
        #: the learned cap, status requests per second (None: the server never pushed back)
        self.cap: float | None = None
        self.throttled_answers = 0
        self._refused = 0.0  # the rate the server last refused, per second (CUBIC's W_max)
        self._event_end = -float("inf")  # requests sent before this: the last congestion event
        self._climb = 0.0  # seconds the cap has bound since the last drop
        self._grown = now
        self._bound = False  # a request waited for a token since the cap last grew
        self._tokens = float("inf")  # starts full (clamped to the bucket's size)
        self._time = now
        self._born = now
        self._sent: deque[float] = deque()
        #: send times of the other requests (submits, uploads, account calls) in the window:
        #: the budget makes room for them beside the polls' demand
        self._others: deque[float] = deque()

    def rate(self, demand: float) -> float:
        """Requests per second allowed now, for ``demand`` (status requests/s the schedule
        asks), plus what the other requests have been sending lately."""
        rate = max(POLL_BUDGET_FLOOR, POLL_BUDGET_HEADROOM * self._need(demand))
        if self.cap is not None:
            rate = min(rate, self.cap)
        if self.ceiling is not None:
            rate = min(rate, self.ceiling)
        return rate

    def bound_by(self, demand: float) -> BoundBy:
        """Which term sets :meth:`rate` now."""
        rate = self.rate(demand)
        if self.ceiling is not None and rate == self.ceiling:
            return "max_rps"
        if self.cap is not None and rate == self.cap:
            return "server"
        return "demand"

    def _need(self, demand: float) -> float:
        """Requests per second the work asks: the polls' schedule and the other requests."""
        return demand + len(self._others) / POLL_RATE_WINDOW

    def note_sent(self, now: float) -> None:
        """Count another request (not a scheduled poll) sent outside the budget."""
        self._sent.append(now)
        self._others.append(now)
        self._forget(now)

    def take(self, now: float, demand: float, *, other: bool = False) -> float:
        """Spend one request (``other``: not a scheduled poll): 0.0 if the budget allows it
        now, else the seconds until it will."""
        rate = self.rate(demand)
        size = max(1.0, rate * POLL_BUDGET_BURST)
        self._tokens = min(size, self._tokens + max(0.0, now - self._time) * rate)
        self._time = now
        if self._tokens < 1.0:
            self._bound = True
            return (1.0 - self._tokens) / rate
        self._tokens -= 1.0
        self._sent.append(now)
        if other:
            self._others.append(now)
        self._forget(now)
        return 0.0

    def recent_rate(self, now: float) -> float:
        """Requests sent per second over the last ``POLL_RATE_WINDOW`` seconds (or since the
        budget was made, if that is shorter: a burst at start is not diluted)."""
        self._forget(now)
        span = min(POLL_RATE_WINDOW, max(now - self._born, POLL_RATE_WINDOW / 10))
        return len(self._sent) / span

    def _forget(self, now: float) -> None:
        """Drop the send times older than the rate window."""
        cutoff = now - POLL_RATE_WINDOW
        for sent in (self._sent, self._others):
            while sent and sent[0] < cutoff:
                sent.popleft()

    def answered(self, now: float, demand: float) -> None:
        """A status request was answered: a learned cap that binds grows back (see the class)."""
        if self.cap is None:
            return
        if self._bound and now > self._grown:
            self._climb += now - self._grown
            # CUBIC's curve, in seconds of binding since the drop: concave back up to the
            # refused rate in POLL_BUDGET_RECOVERY seconds, then convex probing above it
            k = POLL_BUDGET_RECOVERY
            grown = self._refused * (
                1.0 + (1.0 - POLL_BUDGET_BACKOFF) * ((self._climb - k) / k) ** 3
            )
            # never past what the work needs: a cap nobody uses must not grow without bound
            need = max(self.cap, POLL_BUDGET_HEADROOM * self._need(demand), POLL_BUDGET_FLOOR)
            self.cap = min(max(self.cap, grown), need)
        self._grown = now
        self._bound = False

    def throttled(
        self, now: float, *, sent: float, demand: float, floor: float = POLL_BUDGET_MIN
    ) -> None:
        """The server refused a request sent at ``sent`` (HTTP 429 / ErrCode 500069).

        The bucket empties, and the cap drops to ``POLL_BUDGET_BACKOFF`` of the recent send
        rate, not below ``floor``, unless the request belongs to the last congestion event:
        sent before that drop's answer came, or within one round trip after it (the server's
        bucket had not refilled yet). (The refused request's own ``Retry-After`` is the
        scheduler's.)
        """
        self.throttled_answers += 1
        self._tokens = 0.0
        self._time = now
        if sent < self._event_end:
            return
        refused = min(self.rate(demand), max(self.recent_rate(now), POLL_BUDGET_MIN))
        self._refused = refused
        self.cap = max(floor, POLL_BUDGET_BACKOFF * refused)
        # (one round trip, at most a rate window: a poll whose earlier attempts timed out was
        # "sent" long ago)
        self._event_end = now + min(max(0.0, now - sent), POLL_RATE_WINDOW)
        self._climb = 0.0
        self._grown = now
        self._bound = False


class _Watch:
    __slots__ = (
        "done",
        "error",
        "flying",
        "key",
        "kind",
        "last_running",
        "polls",
        "seq",
        "slot",
        "snapshot",
        "started",
        "trace",
        "waiters",
        "webhook",
    )

    def __init__(self, key: Key, kind: str, started: float, *, webhook: bool = False) -> None:
        self.key = key
        self.kind = kind
        self.started = started
        self.webhook = webhook  # a delivery should end it: poll only as a slow fallback
        self.last_running: float | None = None  # when the last poll that saw it running was sent
        self.slot = False  # it holds a generation slot: its polls go first under a tight budget
        self.polls = 0
        self.seq = 0  # the heap entry in force (older entries of this job are stale)
        self.flying = False  # a status request for it is in the air
        self.snapshot: Any = None
        self.waiters: set[asyncio.Future[Any]] = set()
        self.done = False
        self.trace: JobTrace | None = None  # the job's span, ended when the job ends
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
        budget: status requests per second the budget allows now (see :class:`PollBudget`).
        budget_bound_by: what sets it: ``"demand"`` (twice what the schedule asks: it follows
            the work), ``"max_rps"`` (``PollPolicy.max_rps``) or ``"server"`` (a cap learned
            from HTTP 429 / ErrCode 500069 answers).
        server_cap: that learned cap, requests per second (``None``: never throttled).
        backlog: due polls waiting now for the budget or a free request slot.
        wait_mean: mean seconds a poll waited past its due time before it was sent.
        late_polls: polls sent more than one interval past their due time.
        throttled: HTTP 429 / ErrCode 500069 answers the client got (status requests and
            submits: the server's rate limit counts both).
    """

    watched: int
    waiters: int
    polls_sent: int
    polls_in_flight: int
    resolved_by_poll: int
    resolved_externally: int
    first_poll: Mapping[str, float] = field(default_factory=dict)
    budget: float = 0.0
    budget_bound_by: BoundBy = "demand"
    server_cap: float | None = None
    backlog: int = 0
    wait_mean: float = 0.0
    late_polls: int = 0
    throttled: int = 0


class PollScheduler(Generic[S]):
    """Watches jobs for one client. Create it lazily; close it with :meth:`aclose`.

    Args:
        fetch: ``await fetch(media, job_id)`` returns a status snapshot. The scheduled polls
            use it; it should raise throttling answers (HTTP 429, ErrCode 500069) at once
            rather than retry them, so the budget can back off.
        policy: intervals, pacing and pool size.
        webhook_media: media (``"video"``) whose jobs webhooks resolve; those are polled only
            as a slow fallback.
        fetch_now: the status request of :meth:`fetch` (``job.status()``), which a caller
            awaits: it may retry throttling answers itself (default: ``fetch``).
        telemetry: counts polls and ends job spans (``None``: none, at no cost).
    """

    def __init__(
        self,
        fetch: Fetch,
        policy: PollPolicy,
        *,
        webhook_media: Collection[str] = (),
        fetch_now: Fetch | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._fetch = fetch
        self._telemetry = telemetry
        self._fetch_now = fetch_now or fetch
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
        #: per job kind: the first-poll delay computed since its last finished job
        self._expected: dict[str, float] = {}
        #: per job kind: whether its durations are steady (the first poll lands at the end)
        self._steady: dict[str, bool] = {}
        #: per job kind not learned yet: when its last probe poll was scheduled
        self._probed: dict[str, float] = {}
        self._budget = PollBudget(policy.max_rps, now=time.monotonic())
        #: due polls waiting to be sent: (0 if the job holds a slot else 1, due, seq, watch)
        self._ready: list[tuple[int, float, int, _Watch]] = []
        self._waited = 0.0  # seconds polls waited past their due time, in total
        self._late = 0
        self._late_since: float | None = None  # polls are late and the queue has not drained
        self._warned = False
        self._polls_sent = 0
        self._in_flight = 0
        self._by_poll = 0
        self._external = 0

    # -- public ----------------------------------------------------------------------------

    def future(
        self,
        media: str,
        job_id: int,
        kind: str,
        *,
        submitted_at: float | None = None,
        trace: JobTrace | None = None,
        reattached: bool = False,
    ) -> asyncio.Future[Any]:
        """A future resolved when the job ends: its final snapshot (status 1) or a JobError.

        Cancelling the future ends only this interest in the job. ``trace`` (the job's span)
        is ended when the job ends. ``reattached``: a job this client did not submit (no
        ``trace``); with telemetry on, a span of its own starts now (see :meth:`trace_of`).
        """
        if self._closed:
            raise ClientClosedError("the client is closed; create a new AsyncPixVerse")
        watch = self._watch(media, job_id, kind, submitted_at)
        if trace is None and reattached and self._telemetry is not None and not watch.done:
            if watch.trace is None:
                watch.trace = self._telemetry.reattach_job(kind, job_id)
        elif trace is not None and watch.trace is None:
            watch.trace = trace
            if watch.done:  # delivered before anybody waited
                trace.finished(watch.snapshot, by="webhook")
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
        return await self._fetch_now(media, job_id)

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
        self._finish(watch, snapshot, by="webhook")
        return True

    async def refresh(self, media: str, job_id: int) -> None:
        """Poll a watched job now (out of turn); finish it if it has ended. Errors are ignored."""
        watch = self._watches.get((media, job_id))
        if watch is None or watch.done or self._closed:
            return
        if not self.admitted():  # out of turn, but not past a budget the server taught
            await self.admit()
        sent = time.monotonic()
        try:
            snapshot = await self._fetch_watched(watch)
        except Exception as exc:  # the regular polls will try again
            if isinstance(exc, THROTTLING):
                self.throttled(exc, sent=sent)
            logger.debug("refresh of %s %s failed: %s", media, job_id, exc)
            return
        watch.snapshot = snapshot
        if snapshot.status in TERMINAL and not watch.done:
            self._by_poll += 1
            self._finish(watch, snapshot)

    async def _fetch_watched(self, watch: _Watch) -> Any:
        """One status request for a watched job: counted, and under its span if any."""
        self._polls_sent += 1
        if self._telemetry is None:
            return await self._fetch(*watch.key)
        with self._telemetry.poll(watch.trace, watch.kind):
            return await self._fetch(*watch.key)

    def admitted(self) -> bool:
        """Let one other request through without waiting if the server never pushed back
        (it counts toward the recent rate); ``False``: await :meth:`admit` instead."""
        budget = self._budget
        if budget.cap is None:
            budget.note_sent(time.monotonic())
            return True
        return False

    async def admit(self) -> None:
        """Let one other request (a submit) through the budget the server's 429s taught.

        The server counts every request against its rate limit, so once it has pushed back
        (:attr:`PollStatistics.server_cap`), submits take their tokens from the same budget,
        ahead of the polls queued for it. Before that they only count toward the recent rate.
        """
        if self.admitted():
            return
        while True:
            wait = self._budget.take(time.monotonic(), self._demand(), other=True)
            if wait <= 0:
                return
            await anyio.sleep(wait)

    def answered(self) -> None:
        """Another request was answered: a learned cap that binds may grow back."""
        budget = self._budget
        if budget.cap is not None:
            budget.answered(time.monotonic(), self._demand())

    def throttled(self, exc: Exception, *, sent: float) -> None:
        """A request sent at ``sent`` (any: a poll, a submit) got HTTP 429 / ErrCode 500069."""
        self._budget.throttled(
            time.monotonic(),
            sent=sent,
            demand=self._demand(),
            floor=POLL_BUDGET_MIN if isinstance(exc, RateLimitError) else POLL_BUDGET_FLOOR,
        )

    def hold(self, media: str, job_id: int) -> None:
        """Mark a watched job as holding a generation slot: under a tight budget it goes first."""
        watch = self._watches.get((media, job_id))
        if watch is not None:
            watch.slot = True

    def trace_of(self, media: str, job_id: int) -> JobTrace | None:
        """The span of a watched job (``None``: not watched, or no telemetry)."""
        watch = self._watches.get((media, job_id))
        return watch.trace if watch is not None else None

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
            budget=self._budget.rate(self._demand()),
            budget_bound_by=self._budget.bound_by(self._demand()),
            server_cap=self._budget.cap,
            backlog=len(self._ready),
            wait_mean=self._waited / self._polls_sent if self._polls_sent else 0.0,
            late_polls=self._late,
            throttled=self._budget.throttled_answers,
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
        # recomputed only when jobs finished since (thousands of jobs re-attached at once sort
        # the window once); not less often: a wave of jobs ending together must move the next
        # wave's first poll (measured: a sixteenth of the window stale cost 2-4 % efficiency)
        cached = self._expected.get(kind)
        if cached is not None:
            return cached
        value, self._steady[kind] = self._estimate(samples)
        self._expected[kind] = value
        return value

    def _estimate(self, samples: Collection[tuple[float | None, float]]) -> tuple[float, bool]:
        """(first-poll delay, whether the durations are steady) from the learned brackets."""
        interval = self.policy.interval
        quantile = self.policy.first_poll_quantile
        highs = sorted(high for _, high in samples)
        lows = sorted(low for low, _ in samples if low is not None)
        done = highs[int(quantile * (len(highs) - 1))]
        step = interval * POLL_FIRST_PRECISION
        if not lows:
            spread = highs[int((1 - quantile) * (len(highs) - 1))] - done
            return max(0.0, done - max(step, spread)), True
        running = lows[int((1 - quantile) * (len(lows) - 1))]
        if running < done + step:
            close = done - running <= step
            return (max(done, running) if close else (running + done) / 2), True
        mids = sorted(
            high - min(interval, high) / 2 if low is None else (low + high) / 2
            for low, high in samples
        )
        return mids[int(quantile * (len(mids) - 1))], False

    async def aclose(self) -> None:
        """Stop polling and wake every waiter with :class:`ClientClosedError`."""
        if self._closed:
            return
        self._closed = True
        for watch in self._watches.values():
            for future in watch.waiters:
                if not future.done():
                    future.set_exception(ClientClosedError("the client was closed while waiting"))
            if watch.trace is not None:
                watch.trace.failed(ClientClosedError("the client was closed"))
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
        watch.seq = self._seq
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
            if watch.trace is not None and error is not None:
                watch.trace.failed(error)
        self._watches.clear()
        self._heap.clear()
        self._ready.clear()

    async def _run(self) -> None:
        pool = anyio.Semaphore(self.policy.max_concurrency)
        async with anyio.create_task_group() as tg:
            while True:
                now = time.monotonic()
                self._promote(now)
                watch = self._next_ready()
                if watch is None:
                    self._late_since = None  # the queue drained: any backlog is over
                    self._wake.clear()
                    timeout = self._heap[0][0] - now if self._heap else None
                    with anyio.move_on_after(timeout):
                        await self._wake.wait()
                    continue
                await pool.acquire()
                now = time.monotonic()
                wait = self._budget.take(now, self._demand())
                if wait > 0:
                    pool.release()
                    # nothing can be sent before a token; meanwhile due jobs join the queue and
                    # the best of them goes next
                    await anyio.sleep(wait)
                    continue
                self._promote(now)  # a slot holder that fell due while we waited goes first
                watch = self._next_ready()
                if watch is None:  # (the job ended while we waited: the token is lost, fine)
                    pool.release()
                    continue
                _, due, _, _ = heapq.heappop(self._ready)
                self._sent_late(now, due)
                self._in_flight += 1
                watch.flying = True
                tg.start_soon(self._poll, watch, pool)

    def _demand(self) -> float:
        """Status requests per second the schedule asks for: every watched job once an interval."""
        return len(self._watches) / self.policy.interval

    def _promote(self, now: float) -> None:
        """Move the jobs due by ``now`` from the timer heap to the ready queue."""
        while self._heap and self._heap[0][0] <= now:
            due, seq, watch = heapq.heappop(self._heap)
            if not watch.done and seq == watch.seq:
                heapq.heappush(self._ready, (0 if watch.slot else 1, due, seq, watch))

    def _next_ready(self) -> _Watch | None:
        """The ready job to poll next (slot holders first), dropping ended or abandoned ones."""
        while self._ready:
            _, _, seq, watch = self._ready[0]
            if watch.done or seq != watch.seq:  # ended, or pulled forward (a newer entry)
                heapq.heappop(self._ready)
            elif not watch.waiters:
                heapq.heappop(self._ready)
                if self._watches.get(watch.key) is watch:
                    del self._watches[watch.key]  # nobody waits: stop watching
                    if watch.trace is not None:  # its span ends with the last wait
                        watch.trace.abandoned(watch.snapshot)
            else:
                return watch
        return None

    def _sent_late(self, now: float, due: float) -> None:
        """Account for a poll sent ``now`` that was due at ``due``; warn once on a backlog."""
        late = max(0.0, now - due)
        self._waited += late
        interval = self.policy.interval
        if late <= interval:
            return
        self._late += 1
        if self._late_since is None:
            self._late_since = now
        elif not self._warned and now - self._late_since >= max(POLL_BACKLOG_WARN, 3 * interval):
            self._warned = True
            logger.warning(
                "status polls are falling behind: %d due, sent up to %.1f s late, budget %.0f/s "
                "set by %s; %s",
                len(self._ready),
                late,
                self._budget.rate(self._demand()),
                self._budget.bound_by(self._demand()),
                self._backlog_advice(),
            )

    def _backlog_advice(self) -> str:
        bound_by = self._budget.bound_by(self._demand())
        if bound_by == "max_rps":
            return "raise PollPolicy.max_rps (--max-polls-per-second) or the poll interval"
        if bound_by == "server":
            return (
                "the server is throttling status requests (HTTP 429 / 500069): raise "
                "PollPolicy.interval (--poll-interval) to ask for fewer"
            )
        return "raise PollPolicy.max_concurrency (status requests in flight) or the interval"

    async def _poll(self, watch: _Watch, pool: anyio.Semaphore) -> None:
        media, job_id = watch.key
        sent = time.monotonic()
        try:
            snapshot = await self._fetch_watched(watch)
        except THROTTLING as exc:
            self.throttled(exc, sent=sent)
            now = time.monotonic()
            retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
            if retry_after is None:
                retry_after = min(POLL_THROTTLE_PAUSE, self.policy.interval)
            logger.debug(
                "status of %s %s throttled (%s); again in %.3g s", media, job_id, exc, retry_after
            )
            if not watch.done:
                self._push(now + retry_after, watch)  # the server's word for this request
            return
        except _TRANSIENT as exc:
            logger.debug("status of %s %s failed (%s); polling again", media, job_id, exc)
            snapshot = None
        except Exception as exc:  # definitive: not found, auth... (or a bug): tell the waiters
            self._fail(watch, exc)
            return
        finally:
            self._in_flight -= 1
            watch.flying = False
            pool.release()
        now = time.monotonic()
        watch.polls += 1
        if snapshot is not None:
            self._budget.answered(now, self._demand())
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
            if watch.polls == 1 and not watch.webhook and self._steady.get(watch.kind):
                # steady durations: a first poll placed at the learned end that finds the job
                # running has most likely just missed it; look again soon, not an interval on
                every *= POLL_FOLLOW_UP
            elif not watch.webhook and self._spread(watch, now):
                every *= POLL_PROBE_SPREAD
            delay = every * random.uniform(1 - jitter, 1 + jitter)
            # counted from when this poll was sent: the period is the interval, not interval
            # plus the round trip
            self._push(max(now, sent + delay), watch)

    def _spread(self, watch: _Watch, now: float) -> bool:
        """Whether this job's next poll waits ``POLL_PROBE_SPREAD`` intervals: its kind's
        durations are not learned yet, many jobs are watched, and another job of the kind
        took the probe's turn this interval. (Before learning, every job polled at the
        interval is a burst of requests that cannot find much: a wave of jobs started
        together ends together, and the probe that sees one end pulls the rest forward.)"""
        kind = watch.kind
        if (
            len(self._watches) < POLL_PROBE_MIN
            or self.policy.first_poll is not None
            or self.expected_duration(kind) is not None
        ):
            return False
        turn = self.policy.interval * (1 - self.policy.jitter)
        if now - self._probed.get(kind, -float("inf")) >= turn:
            self._probed[kind] = now  # this job probes for its kind this interval
            return False
        return True

    def _learn(self, watch: _Watch, done_at: float) -> None:
        """Record the bracket of a job just seen done by the poll sent at ``done_at``."""
        kind = watch.kind
        samples = self._learned.setdefault(kind, deque(maxlen=POLL_LEARN_SAMPLES))
        running = watch.last_running
        low = None if running is None else max(0.0, running - watch.started)
        samples.append((low, max(0.0, done_at - watch.started)))
        self._expected.pop(kind, None)  # recomputed at its next use
        if kind in self._probed and len(samples) <= POLL_MIN_SAMPLES:
            # not learned before this one: every job of the kind at least as old as this one
            # was when last seen running is polled now (a few scans per kind, ever)
            age = (
                low if low is not None else max(0.0, done_at - watch.started - self.policy.interval)
            )
            now = time.monotonic()
            for other in list(self._watches.values()):
                if (
                    other.kind == kind
                    and other is not watch
                    and not other.done
                    and not other.flying
                    and not other.webhook
                    and now - other.started >= age
                ):
                    self._push(now, other)
            if len(samples) >= POLL_MIN_SAMPLES:
                del self._probed[kind]

    def _keep(self, key: Key, snapshot: Any) -> None:
        self._final[key] = snapshot
        self._final.move_to_end(key)
        while len(self._final) > POLL_FINAL_RESULTS:
            self._final.popitem(last=False)

    def _finish(self, watch: _Watch, snapshot: Any, *, by: str = "poll") -> None:
        watch.done = True
        watch.snapshot = snapshot
        if watch.trace is not None:
            watch.trace.finished(snapshot, by=by)
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
        if watch.trace is not None:
            watch.trace.failed(exc)
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
