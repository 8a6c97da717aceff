"""Small frozen value objects that configure a client. They compare by value."""

from __future__ import annotations

from dataclasses import dataclass

from ._constants import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    CONNECT_TIMEOUT,
    DNS_CACHE_TTL,
    KEEPALIVE_TIMEOUT,
    MAX_RETRIES,
    POLL_FIRST_QUANTILE,
    POLL_INTERVAL,
    POLL_JITTER,
    POLL_MAX_CONCURRENCY,
    POLL_MAX_RPS,
    POLL_WEBHOOK_FALLBACK,
    POOL_LIMIT,
    POOL_LIMIT_PER_HOST,
    READ_TIMEOUT,
    REDIS_LEASE_SECONDS,
    REDIS_RECHECK_SECONDS,
    RETRY_AFTER_MAX,
    RETRY_MAX_ELAPSED,
)


@dataclass(frozen=True)
class Timeouts:
    """Network timeouts of one HTTP attempt, in seconds (``None``: no limit).

    Args:
        connect: establishing a TCP/TLS connection.
        read: waiting for the next bytes of an answer.
        total: one whole attempt, send to last byte (default: no limit; ``read`` bounds stalls).
        pool: waiting for a free pooled connection (default: no limit). It is local
            queueing, not a network failure, so by default it never times out; if you set it,
            running out raises :class:`APITimeoutError` (retried like any timeout, with the
            same trace id).
    """

    connect: float | None = CONNECT_TIMEOUT
    read: float | None = READ_TIMEOUT
    total: float | None = None
    pool: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total", "pool"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"Timeouts.{name} must be positive or None, got {value!r}")


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried (see ``_retry`` for what is transient).

    Args:
        max_retries: retries after the first attempt (0 disables retrying). Throttling
            answers (HTTP 429, ErrCode 500069) do not count: the server did nothing, so
            they are retried (after ``Retry-After``) until ``max_elapsed``.
        initial_backoff: first backoff ceiling in seconds; doubles each retry (full jitter).
        max_backoff: cap of one backoff, seconds.
        max_elapsed: stop retrying once this many seconds have passed since the first attempt.
        max_retry_after: the longest ``Retry-After`` honoured, seconds.
    """

    max_retries: int = MAX_RETRIES
    initial_backoff: float = BACKOFF_INITIAL
    max_backoff: float = BACKOFF_MAX
    max_elapsed: float = RETRY_MAX_ELAPSED
    max_retry_after: float = RETRY_AFTER_MAX

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("RetryPolicy.max_retries must be 0 or more")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.max_elapsed <= 0:
            raise ValueError("RetryPolicy backoffs must be >= 0 and max_elapsed > 0")


@dataclass(frozen=True)
class Limits:
    """The connection pool of the client's single aiohttp session.

    Args:
        max_connections: open connections in total.
        max_connections_per_host: per host (0: only ``max_connections`` applies).
        keepalive_timeout: seconds an idle connection is kept for reuse.
        dns_cache_ttl: seconds a DNS answer is cached (``None``: forever).
    """

    max_connections: int = POOL_LIMIT
    max_connections_per_host: int = POOL_LIMIT_PER_HOST
    keepalive_timeout: float = KEEPALIVE_TIMEOUT
    dns_cache_ttl: int | None = DNS_CACHE_TTL

    def __post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("Limits.max_connections must be at least 1")


@dataclass(frozen=True)
class PollPolicy:
    """How the client's poll scheduler watches jobs.

    Args:
        interval: seconds between status requests for one job (default 4, within the
            documented 3-5 s; the emulator accepts milliseconds).
        jitter: each delay is multiplied by a random factor in ``1 ± jitter``.
        first_poll: seconds before a job's first status request. ``None``: learned per job
            kind from finished jobs (a low quantile of their durations), else ``interval``.
        first_poll_quantile: the quantile of learned durations used for the first poll.
        max_concurrency: status requests in flight at once, for the whole client.
        max_rps: a hard ceiling on status requests per second, for the whole client. Default
            ``None``: no fixed number; the budget follows the work (twice what the watched
            jobs need at this interval) and backs off when the server answers HTTP 429 or
            ErrCode 500069 (see ``PollScheduler`` and ``client.poll_statistics()``).
        webhook_fallback: webhook mode (``AsyncPixVerse(webhooks=True)``): seconds between the
            fallback status requests of a job a webhook should resolve. The first one comes
            this long after the job's expected end (learned from earlier deliveries), so a
            lost or late delivery is still caught while punctual ones cost no request.
    """

    interval: float = POLL_INTERVAL
    jitter: float = POLL_JITTER
    first_poll: float | None = None
    first_poll_quantile: float = POLL_FIRST_QUANTILE
    max_concurrency: int = POLL_MAX_CONCURRENCY
    max_rps: float | None = POLL_MAX_RPS
    webhook_fallback: float = POLL_WEBHOOK_FALLBACK

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("PollPolicy.interval must be positive")
        if not 0 <= self.jitter < 1:
            raise ValueError("PollPolicy.jitter must be in [0, 1)")
        if not 0 < self.first_poll_quantile < 1:
            raise ValueError("PollPolicy.first_poll_quantile must be in (0, 1)")
        if self.max_concurrency < 1:
            raise ValueError("PollPolicy.max_concurrency must be at least 1")
        if self.max_rps is not None and self.max_rps <= 0:
            raise ValueError("PollPolicy.max_rps must be positive or None")
        if self.webhook_fallback <= 0:
            raise ValueError("PollPolicy.webhook_fallback must be positive")


@dataclass(frozen=True)
class RedisPolicy:
    """How clients share one account through Redis (``AsyncPixVerse(redis_url=...)``).

    Args:
        lease: seconds a generation-slot lease lasts unrenewed; each process renews its leases
            every third of it. A killed process's slots come free after this. Keep it well
            above a slow heartbeat (an expired live lease costs one 500044, never money).
        recheck: seconds between re-checks of a waiting submit when no wake-up arrives (a
            wake-up lost while a subscription reconnects only delays by this much).
    """

    lease: float = REDIS_LEASE_SECONDS
    recheck: float = REDIS_RECHECK_SECONDS

    def __post_init__(self) -> None:
        if not self.lease > 0 or not self.recheck > 0:
            raise ValueError("RedisPolicy: lease and recheck must be positive seconds")
