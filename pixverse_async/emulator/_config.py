"""Configuration of the emulator: frozen value objects, comparable and printable.

Everything is plain data so that a configuration can be built in code, parsed from the CLI, or
replaced at runtime through ``POST /_emulator/faults`` and ``POST /_emulator/accounts`` (JSON
bodies are validated into these same classes with pydantic).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from dataclasses import astuple, dataclass, field
from typing import Any, Literal

from pydantic import TypeAdapter

from ._constants import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CREDIT_MONTHLY,
    DEFAULT_CREDIT_PACKAGE,
    DEFAULT_JOB_SECONDS,
    DEMO_API_KEY,
    JOB_TIMEOUT_SECONDS,
    SLOT_RELEASE_SECONDS,
    WEBHOOK_ATTEMPT_TIMEOUT,
    WEBHOOK_CONCURRENCY,
    WEBHOOK_RETRY_DELAYS,
)

# ---------------------------------------------------------------------------
# Distributions (job durations, latency)


@dataclass(frozen=True)
class Fixed:
    """Always ``seconds``."""

    seconds: float
    kind: Literal["fixed"] = "fixed"

    def sample(self, rng: random.Random) -> float:
        return self.seconds


@dataclass(frozen=True)
class Uniform:
    """Uniform between ``low`` and ``high`` seconds."""

    low: float
    high: float
    kind: Literal["uniform"] = "uniform"

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class LogNormal:
    """Log-normal with the given ``median`` (seconds) and ``sigma`` (of the log)."""

    median: float
    sigma: float = 0.5
    kind: Literal["lognormal"] = "lognormal"

    def sample(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)


Distribution = Fixed | Uniform | LogNormal


def parse_distribution(text: str) -> Distribution:
    """Parse ``"0.5"``, ``"0.2-0.8"`` (uniform) or ``"lognormal:0.5,0.4"`` (median, sigma).

    Raises:
        ValueError: the text is none of these forms, or a value is negative or not finite
            (or a log-normal median is not positive).
    """
    spec = text.strip()
    try:
        if spec.startswith("lognormal:"):
            median, _, sigma = spec.removeprefix("lognormal:").partition(",")
            low = float(median)
            dist: Distribution = LogNormal(low, float(sigma) if sigma else 0.5)
        elif "-" in spec.lstrip("-"):
            lo, hi = (float(v) for v in spec.split("-", 1))
            low = min(lo, hi)
            dist = Uniform(lo, hi)
        else:
            low = float(spec)
            dist = Fixed(low)
    except ValueError:
        raise ValueError(
            f"invalid duration {text!r}: use seconds ('0.5'), a uniform range ('0.2-0.8') "
            "or 'lognormal:MEDIAN,SIGMA'"
        ) from None
    if not all(math.isfinite(v) for v in astuple(dist) if isinstance(v, float)):
        raise ValueError(f"invalid duration {text!r}: values must be finite numbers")
    if low < 0:
        raise ValueError(f"invalid duration {text!r}: seconds must not be negative")
    if isinstance(dist, LogNormal) and dist.median <= 0:
        raise ValueError(f"invalid duration {text!r}: the log-normal median must be positive")
    return dist


# ---------------------------------------------------------------------------
# Faults


class FaultKind(str, enum.Enum):
    """What an injected request fault does (see README, "Faults")."""

    #: drop the connection before processing anything
    RESET = "reset"
    #: process a POST fully (job created and charged, envelope remembered), then lose the answer
    ACCEPTED_THEN_LOST = "accepted_then_lost"
    #: HTML error pages from a proxy, before processing
    HTTP_502 = "http_502"
    HTTP_503 = "http_503"
    #: HTTP 500 with the lower-case ``err_code`` body (500100), before processing
    HTTP_500 = "http_500"
    #: HTTP 200 with ErrCode 500069 (system under high load)
    BUSY = "busy"
    #: HTTP 200 with ErrCode 500100 (database error)
    DB_ERROR = "db_error"
    #: HTTP 200 with ErrCode 99999 (unknown error)
    UNKNOWN_ERROR = "unknown_error"
    #: HTTP 200 with ErrCode 500020 (no permission)
    PERMISSION = "permission"
    #: wait ``delay`` seconds, then process normally (a response slower than the client's timeout)
    SLOW = "slow"


@dataclass(frozen=True)
class FaultRule:
    """One fault: which requests it hits, how often, and how many times at most.

    Args:
        kind: what happens.
        rate: probability (0..1) for each matching request.
        count: stop after this many injections (``None``: no limit).
        path: only request paths containing this text (e.g. ``"/video/modify/generate"``).
        method: only this HTTP method (``"GET"``, ``"POST"``).
        then: for ``accepted_then_lost``, how the answer is lost: ``"reset"`` (connection
            dropped), ``"http_502"``, ``"http_500"`` or ``"slow"`` (answered after ``delay``).
        delay: seconds, for ``slow`` and ``then="slow"``.
    """

    kind: FaultKind
    rate: float = 1.0
    count: int | None = None
    path: str | None = None
    method: str | None = None
    then: Literal["reset", "http_502", "http_500", "slow"] = "reset"
    delay: float = 30.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method.upper() == method) and (
            self.path is None or self.path in path
        )


@dataclass(frozen=True)
class FaultPlan:
    """Every fault the emulator injects. The default injects nothing.

    Args:
        rules: request faults, tried in order; the first that fires wins.
        latency: extra delay before every API response.
        rate_limit_rps: requests per second above which requests get HTTP 429.
        retry_after: the ``Retry-After`` value (seconds) sent with 429; default: time until
            the next request is allowed, rounded up to whole seconds.
        failure_rate: share of jobs that end in status 8.
        moderation_rate: share of jobs that end in status 7.
        stuck_rate: share of jobs that never finish (slot released after 10 min, status 8
            after 2 h, on the emulator's scaled clock).
        unknown_status_rate: share of jobs that report an undocumented status (2, 3, 9, 10)
            instead of 5 while running.
        webhook_drop_rate: share of webhook deliveries never sent.
        webhook_duplicate_rate: share of successful webhook deliveries sent twice.
    """

    rules: tuple[FaultRule, ...] = ()
    latency: Distribution | None = None
    rate_limit_rps: float | None = None
    retry_after: float | None = None
    failure_rate: float = 0.0
    moderation_rate: float = 0.0
    stuck_rate: float = 0.0
    unknown_status_rate: float = 0.0
    webhook_drop_rate: float = 0.0
    webhook_duplicate_rate: float = 0.0


# ---------------------------------------------------------------------------
# Accounts and catalogs


@dataclass(frozen=True)
class WebhookConfig:
    """An account webhook (registered in the dashboard on the real platform)."""

    webhook_id: int
    url: str
    secret: str = field(repr=False)
    default: bool = False


@dataclass(frozen=True)
class AccountConfig:
    """An account the emulator knows, identified by its API key (never shown in a repr)."""

    api_key: str = field(repr=False)
    account_id: int | None = None
    credit_monthly: int = DEFAULT_CREDIT_MONTHLY
    credit_package: int = DEFAULT_CREDIT_PACKAGE
    concurrency: int = DEFAULT_CONCURRENCY
    webhooks: tuple[WebhookConfig, ...] = ()


@dataclass(frozen=True)
class TemplateConfig:
    """An effect template: video (t2v/i2v with ``template_id``) or image (image template)."""

    template_id: int
    kind: Literal["video", "image"] = "video"
    image_count: int = 1
    qualities: tuple[str, ...] = ("360p", "540p", "720p", "1080p")
    activated: bool = True
    seconds: int = 5


@dataclass(frozen=True)
class RestyleConfig:
    restyle_id: int
    restyle_name: str
    restyle_prompt: str
    cover_url: str = ""


DEFAULT_TEMPLATES: tuple[TemplateConfig, ...] = (
    TemplateConfig(300_001, "video", 1),
    TemplateConfig(300_002, "video", 2),
    TemplateConfig(300_003, "video", 1, activated=False),
    TemplateConfig(300_004, "video", 1, qualities=("360p", "540p")),
    TemplateConfig(300_005, "video", 0),
    TemplateConfig(400_001, "image", 1),
    TemplateConfig(400_002, "image", 2),
)

DEFAULT_RESTYLES: tuple[RestyleConfig, ...] = (
    RestyleConfig(1001, "Anime", "Turn the video into anime style"),
    RestyleConfig(1002, "Clay", "Claymation look with soft lighting"),
    RestyleConfig(1003, "Cyberpunk", "Neon cyberpunk city aesthetics"),
    RestyleConfig(1004, "Watercolor", "Soft watercolor painting"),
    RestyleConfig(1005, "Comic", "Bold comic book ink and halftone"),
)


@dataclass(frozen=True)
class EmulatorConfig:
    """How an :class:`~pixverse_async.emulator.Emulator` behaves.

    Args:
        host: address to bind (loopback by default).
        port: port to bind; 0 picks a free one.
        accounts: the accounts and API keys accepted (default: one demo account).
        job_duration: how long a job stays in status 5, in real seconds.
        job_duration_by_kind: per endpoint kind (``"modify"``, ``"text"``, ...) overrides.
        faults: the initial fault plan (changeable at runtime).
        seed: seed of every random draw (faults, outcomes, durations, ids); ``None``: random.
        time_scale: how much faster than real time the reference's long timers run (the
            10 min slot release, the 2 h failure, the webhook retry schedule). 1000 makes the
            10 min release happen after 0.6 s.
        trace_ttl: seconds a successful POST's trace id is remembered (``None``: forever).
        templates: effect template catalog.
        restyles: restyle catalog.
    """

    host: str = "127.0.0.1"
    port: int = 0
    accounts: tuple[AccountConfig, ...] = (AccountConfig(api_key=DEMO_API_KEY),)
    job_duration: Distribution = Fixed(DEFAULT_JOB_SECONDS)
    job_duration_by_kind: Mapping[str, Distribution] = field(default_factory=dict)
    faults: FaultPlan = FaultPlan()
    seed: int | None = None
    time_scale: float = 1.0
    trace_ttl: float | None = None
    templates: tuple[TemplateConfig, ...] = DEFAULT_TEMPLATES
    restyles: tuple[RestyleConfig, ...] = DEFAULT_RESTYLES
    slot_release_seconds: float = SLOT_RELEASE_SECONDS
    job_timeout_seconds: float = JOB_TIMEOUT_SECONDS
    webhook_retry_delays: tuple[float, ...] = WEBHOOK_RETRY_DELAYS
    webhook_attempt_timeout: float = WEBHOOK_ATTEMPT_TIMEOUT
    webhook_concurrency: int = WEBHOOK_CONCURRENCY

    def __post_init__(self) -> None:
        if not self.accounts:
            raise ValueError("EmulatorConfig.accounts must name at least one account")
        if self.time_scale <= 0:
            raise ValueError("EmulatorConfig.time_scale must be positive")


FAULT_PLAN_ADAPTER: TypeAdapter[FaultPlan] = TypeAdapter(FaultPlan)
ACCOUNT_ADAPTER: TypeAdapter[AccountConfig] = TypeAdapter(AccountConfig)


def fault_plan_from_json(data: Any) -> FaultPlan:
    """Validate a JSON object into a :class:`FaultPlan` (missing fields take defaults)."""
    return FAULT_PLAN_ADAPTER.validate_python(data)


def account_from_json(data: Any) -> AccountConfig:
    return ACCOUNT_ADAPTER.validate_python(data)
