"""The emulator's state machine: accounts, uploads, masks, jobs, credits, replay, statistics.

Jobs do not own tasks. Each job pushes its future transitions (finish, slot release, 2 h
timeout) onto one heap; :meth:`EmulatorState.advance` applies every transition that is due.
Request handlers call it before reading state, and one background loop (see ``_server``) calls
it when the next transition falls due, so a job's status is exact whenever it is observed and
100,000 jobs cost a heap entry each, not a task each.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._config import (
    AccountConfig,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    RestyleConfig,
    TemplateConfig,
    WebhookConfig,
)
from ._constants import (
    ID_FLOOR,
    ID_STRIDE_MAX,
    PROMPT_FAIL,
    PROMPT_MODERATE,
    PROMPT_STUCK,
    RESULT_BYTES_PER_SECOND,
    RESULT_IMAGE_BYTES,
    UNKNOWN_STATUSES,
)
from ._errors import ApiError

RUNNING = 5
SUCCEEDED = 1
DELETED = 6
MODERATED = 7
FAILED = 8
TERMINAL = frozenset({SUCCEEDED, DELETED, MODERATED, FAILED})

_FINISH, _RELEASE, _TIMEOUT = 0, 1, 2


@dataclass(slots=True)
class Account:
    config: AccountConfig
    account_id: int
    credit_monthly: int
    credit_package: int
    concurrency: int
    webhooks: dict[int, WebhookConfig]
    default_webhook: WebhookConfig | None
    running: int = 0
    max_running: int = 0
    body_digests: set[bytes] = field(default_factory=set)

    @property
    def balance(self) -> int:
        return self.credit_monthly + self.credit_package


@dataclass(slots=True)
class Upload:
    id: int
    account_id: int
    kind: str  # "image" | "video" | "audio"
    format: str  # jpeg/png/webp, mp4/mov/webm, mp3/wav/m4a/aac
    size: int
    width: int
    height: int
    seconds: float
    name: str


@dataclass(slots=True)
class Mask:
    mask_id: str
    account_id: int
    source: tuple[str, int]  # ("video", video_id) or ("media", media_id)
    keyframe: int


@dataclass(slots=True)
class JobSpec:
    """What a validated generation request will create."""

    kind: str
    credits: int
    seconds: float
    quality: int  # short side in pixels, reported as resolution_ratio
    width: int
    height: int
    has_audio: bool = False
    prompt: str = ""
    negative_prompt: str = ""
    style: str = ""
    seed: int | None = None
    webhook: WebhookConfig | None = None
    template_id: int = 0
    is_image: bool = False
    counts_slot: bool = True
    #: modify: the names the keyframe arrived under ("keyframe_id" and/or "keyframe_ids")
    keyframe_fields: tuple[str, ...] = ()


@dataclass(slots=True)
class Job:
    id: int
    account: Account
    kind: str
    is_image: bool
    status: int
    outcome: int  # the terminal status it will reach; 0 = stuck
    created: float  # monotonic
    created_wall: float
    modified_wall: float
    credits: int
    from_monthly: int
    seconds: float
    quality: int
    width: int
    height: int
    has_audio: bool
    prompt: str
    negative_prompt: str
    style: str
    seed: int
    trace_id: str
    webhook: WebhookConfig | None
    template_id: int
    holds_slot: bool
    unknown_status: int  # reported instead of 5 while running; 0 = none
    #: modify: the names the keyframe arrived under (reference 4.16: two spellings)
    keyframe_fields: tuple[str, ...] = ()

    @property
    def visible_status(self) -> int:
        if self.status == RUNNING and self.unknown_status:
            return self.unknown_status
        return self.status

    @property
    def size(self) -> int:
        if self.status != SUCCEEDED:
            return 0
        if self.is_image:
            return RESULT_IMAGE_BYTES
        rate = RESULT_BYTES_PER_SECOND.get(self.quality, RESULT_BYTES_PER_SECOND[720])
        return max(1, round(rate * self.seconds))


@dataclass
class Stats:
    requests_total: int = 0
    status_polls: int = 0
    jobs_created: int = 0
    rejected_500044: int = 0
    dedup_hits: int = 0
    credits_charged: int = 0
    credits_refunded: int = 0
    duplicate_generations: int = 0
    webhook_deliveries: int = 0
    webhook_deliveries_ok: int = 0
    webhook_deliveries_dropped: int = 0
    rate_limited: int = 0
    requests_by_endpoint: Counter[str] = field(default_factory=Counter)
    errors_by_code: Counter[int] = field(default_factory=Counter)
    faults_injected: Counter[str] = field(default_factory=Counter)
    #: modify jobs created per keyframe field name received (a job sending both counts twice)
    modify_keyframe_fields: Counter[str] = field(default_factory=Counter)


def iso_time(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(wall))


def body_digest(path: str, body: Any) -> bytes:
    canonical = json.dumps([path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(canonical.encode(), digest_size=16).digest()


class EmulatorState:
    """All mutable state of one emulator. Single-threaded: used from the event loop only."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        #: scheme://host:port of the running server, used in the URLs it hands out
        self.origin = "http://127.0.0.1"
        self.on_terminal: Callable[[Job], None] | None = None
        self.on_schedule: Callable[[float], None] | None = None
        self.reset()

    # -- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything: back to the configured accounts and fault plan."""
        cfg = self.config
        self.rng = random.Random(cfg.seed)
        self._next_id = ID_FLOOR + self.rng.randrange(1_000_000)
        self.stats = Stats()
        self.accounts: dict[str, Account] = {}
        self.jobs: dict[int, Job] = {}
        self.uploads: dict[int, Upload] = {}
        self.masks: dict[str, Mask] = {}
        self.replay: dict[tuple[str, str], tuple[float, bytes, int]] = {}
        self.jobs_by_status: Counter[int] = Counter()
        self.templates: dict[int, TemplateConfig] = {t.template_id: t for t in cfg.templates}
        self.restyles: dict[int, RestyleConfig] = {r.restyle_id: r for r in cfg.restyles}
        self._heap: list[tuple[float, int, int, int]] = []
        self._seq = 0
        self.deliveries: list[dict[str, Any]] = []
        self.set_faults(cfg.faults)
        for account in cfg.accounts:
            self.upsert_account(account)

    def set_faults(self, plan: FaultPlan) -> None:
        self.faults = plan
        self._fault_uses = [0] * len(plan.rules)
        self._bucket_tokens = plan.rate_limit_rps or 0.0
        self._bucket_time = time.monotonic()

    def upsert_account(self, cfg: AccountConfig) -> Account:
        """Add an account, or update an existing one (same key) keeping its jobs and counters."""
        hooks = {w.webhook_id: w for w in cfg.webhooks}
        default = next((w for w in cfg.webhooks if w.default), None) or next(
            iter(cfg.webhooks), None
        )
        existing = self.accounts.get(cfg.api_key)
        if existing is not None:
            existing.config = cfg
            existing.credit_monthly = cfg.credit_monthly
            existing.credit_package = cfg.credit_package
            existing.concurrency = cfg.concurrency
            existing.webhooks = hooks
            existing.default_webhook = default
            return existing
        account = Account(
            config=cfg,
            account_id=cfg.account_id or self.new_id(),
            credit_monthly=cfg.credit_monthly,
            credit_package=cfg.credit_package,
            concurrency=cfg.concurrency,
            webhooks=hooks,
            default_webhook=default,
        )
        self.accounts[cfg.api_key] = account
        return account

    def new_id(self) -> int:
        """A fresh id above 2**53, unique across every kind of object."""
        self._next_id += self.rng.randrange(1, ID_STRIDE_MAX)
        return self._next_id

    def scaled(self, seconds: float) -> float:
        """Real seconds for a reference timer of ``seconds`` on the scaled clock."""
        return seconds / self.config.time_scale

    # -- faults ----------------------------------------------------------------------------

    def draw_fault(self, method: str, path: str, kinds: frozenset[FaultKind]) -> FaultRule | None:
        """The first rule of ``kinds`` that fires for this request (and count it)."""
        for i, rule in enumerate(self.faults.rules):
            if rule.kind not in kinds or not rule.matches(method, path):
                continue
            if rule.count is not None and self._fault_uses[i] >= rule.count:
                continue
            if rule.rate >= 1.0 or self.rng.random() < rule.rate:
                self._fault_uses[i] += 1
                self.stats.faults_injected[rule.kind.value] += 1
                return rule
        return None

    def rate_limited(self) -> float | None:
        """Token bucket of ``rate_limit_rps``: ``None`` if admitted, else seconds to wait."""
        rps = self.faults.rate_limit_rps
        if not rps:
            return None
        now = time.monotonic()
        self._bucket_tokens = min(rps, self._bucket_tokens + (now - self._bucket_time) * rps)
        self._bucket_time = now
        if self._bucket_tokens >= 1.0:
            self._bucket_tokens -= 1.0
            return None
        self.stats.rate_limited += 1
        return (1.0 - self._bucket_tokens) / rps

    # -- replay (trace-id idempotency) -----------------------------------------------------

    def replayed(self, api_key: str, trace_id: str) -> tuple[bytes, int] | None:
        hit = self.replay.get((api_key, trace_id))
        if hit is None:
            return None
        expires, body, status = hit
        if expires < time.monotonic():
            del self.replay[(api_key, trace_id)]
            return None
        self.stats.dedup_hits += 1
        return body, status

    def remember(self, api_key: str, trace_id: str, body: bytes, status: int = 200) -> None:
        ttl = self.config.trace_ttl
        expires = float("inf") if ttl is None else time.monotonic() + ttl
        self.replay[(api_key, trace_id)] = (expires, body, status)

    # -- jobs ------------------------------------------------------------------------------

    def admit(self, account: Account, spec: JobSpec) -> None:
        """Concurrency (500044), then credits (500090). Raises without changing anything."""
        self.advance()
        if spec.counts_slot and account.running >= account.concurrency:
            self.stats.rejected_500044 += 1
            raise ApiError(500044)
        if spec.credits > account.balance:
            raise ApiError(500090, f"this job costs {spec.credits} credits")

    def charge(self, account: Account, credits: int) -> int:
        """Deduct ``credits`` (monthly first); return the part taken from the monthly pool."""
        from_monthly = min(credits, account.credit_monthly)
        account.credit_monthly -= from_monthly
        account.credit_package -= credits - from_monthly
        self.stats.credits_charged += credits
        return from_monthly

    def create_job(
        self, account: Account, spec: JobSpec, trace_id: str, digest: bytes, duration: float
    ) -> Job:
        """Create and charge a job that passed :meth:`admit`, and schedule its transitions."""
        from_monthly = self.charge(account, spec.credits)
        outcome = self._draw_outcome(spec.prompt)
        plan = self.faults
        unknown = 0
        if plan.unknown_status_rate and self.rng.random() < plan.unknown_status_rate:
            unknown = self.rng.choice(UNKNOWN_STATUSES)
        now_wall = time.time()
        job = Job(
            id=self.new_id(),
            account=account,
            kind=spec.kind,
            is_image=spec.is_image,
            status=RUNNING,
            outcome=outcome,
            created=time.monotonic(),
            created_wall=now_wall,
            modified_wall=now_wall,
            credits=spec.credits,
            from_monthly=from_monthly,
            seconds=spec.seconds,
            quality=spec.quality,
            width=spec.width,
            height=spec.height,
            has_audio=spec.has_audio,
            prompt=spec.prompt,
            negative_prompt=spec.negative_prompt,
            style=spec.style,
            seed=spec.seed if spec.seed is not None else self.rng.randrange(2_147_483_648),
            trace_id=trace_id,
            webhook=spec.webhook,
            template_id=spec.template_id,
            holds_slot=spec.counts_slot,
            unknown_status=unknown,
            keyframe_fields=spec.keyframe_fields,
        )
        self.stats.modify_keyframe_fields.update(spec.keyframe_fields)
        self.jobs[job.id] = job
        self.jobs_by_status[RUNNING] += 1
        self.stats.jobs_created += 1
        if digest in account.body_digests:
            self.stats.duplicate_generations += 1
        else:
            account.body_digests.add(digest)
        if job.holds_slot:
            account.running += 1
            account.max_running = max(account.max_running, account.running)
        release = self.scaled(self.config.slot_release_seconds)
        if outcome:
            self._push(job.created + duration, job.id, _FINISH)
            if duration > release:
                self._push(job.created + release, job.id, _RELEASE)
        else:
            self._push(job.created + release, job.id, _RELEASE)
            self._push(job.created + self.scaled(self.config.job_timeout_seconds), job.id, _TIMEOUT)
        return job

    def _draw_outcome(self, prompt: str) -> int:
        if PROMPT_FAIL in prompt:
            return FAILED
        if PROMPT_MODERATE in prompt:
            return MODERATED
        if PROMPT_STUCK in prompt:
            return 0
        plan = self.faults
        if plan.failure_rate or plan.moderation_rate or plan.stuck_rate:
            r = self.rng.random()
            if r < plan.failure_rate:
                return FAILED
            r -= plan.failure_rate
            if r < plan.moderation_rate:
                return MODERATED
            r -= plan.moderation_rate
            if r < plan.stuck_rate:
                return 0
        return SUCCEEDED

    def _push(self, due: float, job_id: int, event: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, job_id, event))
        if self._heap[0][0] == due and self.on_schedule is not None:
            self.on_schedule(due)

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def advance(self, now: float | None = None) -> None:
        """Apply every transition due at ``now`` (default: the current monotonic time)."""
        heap = self._heap
        if not heap:
            return
        if now is None:
            now = time.monotonic()
        while heap and heap[0][0] <= now:
            _, _, job_id, event = heapq.heappop(heap)
            job = self.jobs.get(job_id)
            if job is None or job.status != RUNNING:
                continue
            if event == _RELEASE:
                self._release(job)
            elif event == _FINISH:
                self.finish(job, job.outcome)
            else:
                self.finish(job, FAILED)

    def _release(self, job: Job) -> None:
        if job.holds_slot:
            job.holds_slot = False
            job.account.running -= 1

    def finish(self, job: Job, status: int) -> None:
        """Move a job to a terminal ``status``: free its slot, refund on 7/8, notify."""
        if job.status == status:
            return
        was_running = job.status == RUNNING
        self.jobs_by_status[job.status] -= 1
        self.jobs_by_status[status] += 1
        job.status = status
        job.modified_wall = time.time()
        self._release(job)
        if status in (MODERATED, FAILED) and job.credits:
            account = job.account
            account.credit_monthly += job.from_monthly
            account.credit_package += job.credits - job.from_monthly
            self.stats.credits_refunded += job.credits
            job.credits = 0
            job.from_monthly = 0
        if was_running and self.on_terminal is not None and status != DELETED:
            self.on_terminal(job)

    # -- inspection ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The ``GET /_emulator/stats`` document (never contains an API key)."""
        self.advance()
        s = self.stats
        accounts = {
            str(a.account_id): {
                "in_flight": a.running,
                "max_concurrent_observed": a.max_running,
                "concurrency_limit": a.concurrency,
                "credit_monthly": a.credit_monthly,
                "credit_package": a.credit_package,
            }
            for a in self.accounts.values()
        }
        return {
            "requests_total": s.requests_total,
            "status_polls": s.status_polls,
            "jobs_created": s.jobs_created,
            "jobs_by_status": {str(k): v for k, v in sorted(self.jobs_by_status.items()) if v},
            "rejected_500044": s.rejected_500044,
            "dedup_hits": s.dedup_hits,
            "max_concurrent_observed": {
                k: v["max_concurrent_observed"] for k, v in accounts.items()
            },
            "credits_charged": s.credits_charged,
            "credits_refunded": s.credits_refunded,
            "duplicate_generations": s.duplicate_generations,
            "webhook_deliveries": s.webhook_deliveries,
            "webhook_deliveries_ok": s.webhook_deliveries_ok,
            "webhook_deliveries_dropped": s.webhook_deliveries_dropped,
            "rate_limited": s.rate_limited,
            "uploads": len(self.uploads),
            "masks": len(self.masks),
            "requests_by_endpoint": dict(s.requests_by_endpoint),
            "errors_by_code": {str(k): v for k, v in s.errors_by_code.items()},
            "faults_injected": dict(s.faults_injected),
            "modify_keyframe_fields": dict(s.modify_keyframe_fields),
            "accounts": accounts,
        }
