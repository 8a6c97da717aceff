"""Defaults of the SDK. No logic."""

from __future__ import annotations

BASE_URL_INTL = "https://app-api.pixverse.ai/openapi/v2"
BASE_URL_CN = "https://app-api.pixverseai.cn/openapi/v2"
ENV_API_KEY = "PIXVERSE_API_KEY"
ENV_BASE_URL = "PIXVERSE_BASE_URL"
ENV_WEBHOOK_SECRET = "PIXVERSE_WEBHOOK_SECRET"

# Timeouts, seconds (reference 1.x; see Timeouts)
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 60.0
UPLOAD_READ_TIMEOUT = 300.0

# Connection pool (one aiohttp session per client)
POOL_LIMIT = 100
POOL_LIMIT_PER_HOST = 0  # 0: no per-host cap beyond POOL_LIMIT
KEEPALIVE_TIMEOUT = 30.0
DNS_CACHE_TTL = 300

# Retries of transient failures (see RetryPolicy)
MAX_RETRIES = 4
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 8.0
RETRY_MAX_ELAPSED = 120.0
RETRY_AFTER_MAX = 60.0

LOGGER_NAME = "pixverse_async"
USER_AGENT_PREFIX = "pixverse-async"

# Polling (see PollPolicy). The docs suggest polling every 3-5 s.
POLL_INTERVAL = 4.0
POLL_JITTER = 0.1
POLL_MAX_CONCURRENCY = 16
#: a hard ceiling on status requests per second: none by default (the budget adapts)
POLL_MAX_RPS: float | None = None
#: the poll budget (see ``_polling.PollBudget``): status requests per second it always allows
POLL_BUDGET_FLOOR = 20.0
#: ... and the multiple of the schedule's own demand (jobs watched / interval) it allows
POLL_BUDGET_HEADROOM = 2.0
#: seconds of budget a quiet spell may save up for a burst of due polls
POLL_BUDGET_BURST = 1.0
#: on HTTP 429 / ErrCode 500069 the learned cap drops to this share of the recent send rate
#: (CUBIC's multiplicative decrease, RFC 9438)
POLL_BUDGET_BACKOFF = 0.7
#: ... then, while it binds, climbs back to the refused rate in this many seconds and probes
#: above it (CUBIC's curve)
POLL_BUDGET_RECOVERY = 3.0
#: the lowest learned cap after HTTP 429, status requests per second
POLL_BUDGET_MIN = 1.0
#: seconds before a refused status request is sent again when its answer has no
#: ``Retry-After`` (at most one interval)
POLL_THROTTLE_PAUSE = 1.0
#: seconds over which the recent send rate is measured
POLL_RATE_WINDOW = 1.0
#: seconds of backlog (polls more than an interval late, queue never drained) before one WARNING
#: (at least three intervals)
POLL_BACKLOG_WARN = 5.0
POLL_FIRST_QUANTILE = 0.05
#: finished jobs per kind the first-poll delay is learned from (more than one wave of a
#: high-limit account, so a wave's brackets survive the next)
POLL_LEARN_SAMPLES = 256
POLL_MIN_SAMPLES = 3
#: steady durations: the first poll closes in on the end to within this share of an interval
POLL_FIRST_PRECISION = 0.05
#: steady durations: a first poll that finds the job running is followed after this share
#: of an interval (it most likely just missed the end), later ones after a whole interval
POLL_FOLLOW_UP = 0.2
#: before a job kind's durations are learned, with at least POLL_PROBE_MIN jobs watched: one
#: job of the kind an interval is polled at the interval (the probe, taken in turn), the
#: others every POLL_PROBE_SPREAD intervals; a job of the kind seen done pulls the polls of
#: every job at least as old forward to now (jobs started together end together)
POLL_PROBE_SPREAD = 4.0
POLL_PROBE_MIN = 8
#: webhook mode: seconds between fallback polls of a job a webhook should resolve, counted
#: from its expected end (a delivery that is lost or late is still caught)
POLL_WEBHOOK_FALLBACK = 60.0
#: webhook mode: the quantile of learned submit-to-delivery times taken as a job's expected end
POLL_WEBHOOK_END_QUANTILE = 0.9
#: final webhook-mode results kept (deliveries for jobs nobody watches yet included), so a
#: later wait() on them returns at once instead of waiting for a fallback poll
POLL_FINAL_RESULTS = 10_000

# Webhook receivers (see pixverse_async.webhooks)
WEBHOOK_TOLERANCE = 300.0  # seconds a delivery's timestamp may differ from now (reference 7.3)
WEBHOOK_MAX_BODY = 65_536  # bytes; a delivery is a few hundred
WEBHOOK_SEEN_EVENTS = 100_000  # (id, status) pairs remembered to ignore duplicate deliveries
WEBHOOK_PATH = "/pixverse/webhook"  # default route of the receivers

# Generation-slot limiter (see SlotLimiter)
SLOT_RELEASE_SECONDS = 600.0  # the server stops counting a job generating longer than 10 min
LIMIT_PROBE_INTERVAL = 60.0  # seconds between upward probes of a learned limit
SQUEEZE_PAUSE = 5.0  # seconds new submits pause after a 500044 below the learned limit
SUBMIT_STALL_SECONDS = 5.0  # slow start: an unanswered submit stops holding back the next one

# Command line (``pixverse-async batch``)
CLI_JOURNAL_SUFFIX = ".journal.db"  # default journal: <jobs stem> + this, next to the JSONL
CLI_EMULATOR_JOB_SECONDS = 0.5  # job duration of the ``--emulator`` in-process emulator
CLI_EMULATOR_POLL_INTERVAL = 0.2  # default --poll-interval with ``--emulator``, seconds
CLI_EMULATOR_WORKERS = 8  # items in progress at once with ``--emulator`` (bounds a Ctrl-C drain)
CLI_ERRORS_SHOWN = 20  # failed / invalid items listed before "... and N more"

# Transport
DOWNLOAD_CHUNK_BYTES = 256 * 1024  # a result download is read and written in pieces this big

# Many processes on one account through Redis (see pixverse_async._redis)
ENV_REDIS_URL = "PIXVERSE_REDIS_URL"
ENV_REDIS_PREFIX = "PIXVERSE_REDIS_PREFIX"
#: seconds a slot lease lasts unrenewed (renewed every third of it): a killed process's slots
#: come free after this; long enough that a slow heartbeat never frees a live slot
REDIS_LEASE_SECONDS = 30.0
#: seconds between re-checks of a waiting submit (a wake-up lost in a reconnection only delays)
REDIS_RECHECK_SECONDS = 1.0
#: seconds one process may pause grants fleet-wide while it learns from a 500044
REDIS_LEARN_TIMEOUT = 5.0
#: seconds a learner waits for the other processes to re-poll the jobs they hold
REDIS_REFRESH_TIMEOUT = 2.0
REDIS_BACKOFF_MAX = 2.0  # seconds, reconnection backoff cap
#: a waiter behind another of its process's re-checks only every this many ``recheck`` periods
#: (it is woken when it becomes first; this is a safety net)
REDIS_BEHIND_RECHECKS = 10
REDIS_CLOSE_WAIT = 0.5
#: seconds added to two renewal periods during which nothing is granted after Redis came back
#: empty (every live process re-registers its leases meanwhile)
REDIS_RECOVERY_MARGIN = 0.5  # seconds between cancellations of the background readers at close
REDIS_EVENTS_MAXLEN = 100_000  # webhook events kept in the shared stream (approximately)
REDIS_GRANT_SAMPLES = 4096  # release-to-grant latencies kept for statistics
#: seconds a webhook (id, status) stays in the shared duplicate memory (Redis)
WEBHOOK_DELIVERY_MEMORY = 86_400.0
#: seconds a webhook receiver skips an unreachable shared store (using its own memory)
WEBHOOK_SHARED_RETRY = 1.0

# Batches (see pixverse_async._batch)
#: items worked on at once (most of them wait for a generation slot or their job's end)
BATCH_WORKERS = 256
#: result downloads at once
BATCH_DOWNLOADS = 4
