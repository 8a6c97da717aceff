"""OpenTelemetry spans and metrics, a no-op when the API package is absent (extra ``otel``).

The package never imports OpenTelemetry at start-up: the first client built looks for the
``opentelemetry-api`` package once (:func:`telemetry_for`). Without it every hook below is
skipped by an ``is None`` check, and the HTTP path is the transport's own ``send``. With it,
the client reports to the global providers (``opentelemetry.trace.set_tracer_provider``,
``opentelemetry.metrics.set_meter_provider``; until the application sets an SDK these are the
API's no-op proxies), or to the ones given as ``AsyncPixVerse(tracer_provider=...,
meter_provider=...)``.

Spans (tracer ``pixverse_async``)::

    pixverse.batch                        a batch, from entering its context to leaving it
      pixverse.job                        one generation: submit -> terminal status (or timeout)
        pixverse.slot.wait                waiting for a generation slot (one per acquire)
        POST {the endpoint.path}          one per HTTP attempt (CLIENT); 500044, 502, retries
        GET /video/result/{video_id}      the job's status polls
      pixverse.job                        a job re-attached by id (``client.video_job``, a
                                          resumed batch): from the first wait to its end
        GET /video/result/{video_id}      its polls

- HTTP spans follow the HTTP client conventions: ``http.request.method``, ``server.address``,
  ``server.port``, ``url.template`` (below the API base, ids replaced by ``{video_id}`` /
  ``{image_id}``), ``http.response.status_code``, ``http.request.resend_count`` (retries of
  one trace id), ``error.type``; plus ``pixverse.trace_id`` (the ``Ai-trace-id``) and
  ``pixverse.err_code``. No URL, query value, header or exception message is recorded, so the
  API key cannot appear.
- A job span is a child of the caller's current span (in a batch: of the batch span):
  ``pixverse.job.kind``, ``pixverse.job.id``, ``pixverse.job.credits``, ``pixverse.job.status``
  (the last status seen), ``pixverse.job.outcome`` (``succeeded``, ``failed``, ``moderated``,
  ``deleted``, ``timeout``, ``abandoned``, ``error``), ``pixverse.job.polls``,
  ``pixverse.job.resolved_by`` (``poll`` or ``webhook``). A wait's timeout ends it (the job
  keeps running server-side), as does the end of every wait on it (``abandoned``: cancelled,
  an ``as_completed`` / ``wait_all`` timeout), at the job's next due poll.
  A job re-attached by id gets its span at the first wait, with ``pixverse.job.reattached``
  true and no duration metric (its submit time is unknown here).
- Batches always get a span (with or without a current span): their job spans hang on it.

Metrics (meter ``pixverse_async``):

- ``pixverse.slots.limit`` / ``pixverse.slots.in_use`` / ``pixverse.slots.waiting``
  (observable gauges, ``{slot}`` / ``{slot}`` / ``{submit}``): the generation-slot limiters of
  the live clients reporting to the meter, summed (:meth:`Limiter.statistics`). Limiters
  shared through Redis (``redis_url``) report this process's slots and waiting submits, so
  the processes' gauges add up to the fleet's, and the account's limit once per process (a
  dashboard takes its maximum over processes, not the sum).
- ``pixverse.submits`` (counter, ``{submit}``): submit POSTs by ``pixverse.job.kind`` and
  ``pixverse.submit.outcome`` (``accepted``, ``500044``, ``error``).
- ``pixverse.status_polls`` (counter, ``{request}``): scheduled status requests, by kind.
- ``pixverse.job.duration`` (histogram, ``s``): from the submit POST to the terminal status
  (or the wait's timeout), by ``pixverse.job.kind`` and ``pixverse.job.outcome``.
- ``pixverse.credits.charged`` (counter, ``{credit}``): credits the submits were charged, by kind.
- ``pixverse.webhook.deliveries`` (counter, ``{delivery}``): deliveries a receiver handled,
  by ``pixverse.webhook.result`` (``resolved``, ``accepted``, ``duplicate``, ``error``, or
  the refusal's reason: ``bad_signature``, ``stale``, ``replayed``, ``malformed``...).
"""

from __future__ import annotations

import importlib.util
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._exceptions import APIError
from ._retry import is_retryable

if TYPE_CHECKING:
    from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
    from opentelemetry.trace import Span, TracerProvider

    from ._limiter import Limiter
    from ._transport import Request, Response

NAME = "pixverse_async"
#: ErrCode of the account's concurrent-generation limit
CONCURRENCY_LIMIT = 500044
#: ``pixverse.job.outcome`` of a terminal status
OUTCOMES = {1: "succeeded", 6: "deleted", 7: "moderated", 8: "failed"}
#: seconds: generation jobs take from seconds to tens of minutes
DURATION_BUCKETS = (1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 3600.0)
#: trace ids whose last attempt failed with a retryable error, kept for resend counts
RESEND_MEMORY = 1024
#: status paths: their last segment is the job id
_ID_PATHS = {"/video/result/": "{video_id}", "/image/result/": "{image_id}"}

_available: bool | None = None  # None: not looked for yet
_cache: dict[tuple[Any, Any], Telemetry] = {}


def available() -> bool:
    """Whether ``opentelemetry-api`` can be imported (looked for once, then cached)."""
    global _available
    if _available is None:
        try:
            _available = importlib.util.find_spec("opentelemetry") is not None
            if _available:
                import opentelemetry.metrics
                import opentelemetry.trace  # noqa: F401
        except ImportError:
            _available = False
    return _available


def telemetry_for(
    tracer_provider: TracerProvider | None = None, meter_provider: MeterProvider | None = None
) -> Telemetry | None:
    """The telemetry of a client: ``None`` without the API package (every hook is skipped).

    One :class:`Telemetry` per pair of providers (``None``: the global ones), so instruments
    are created once per meter.
    """
    if not available():
        return None
    if tracer_provider is None and meter_provider is None and not _configured():
        return None
    key = (tracer_provider, meter_provider)
    telemetry = _cache.get(key)
    if telemetry is None:
        telemetry = _cache[key] = Telemetry(tracer_provider, meter_provider)
    return telemetry


def _configured() -> bool:
    """Whether an OpenTelemetry SDK (or another implementation) provides the global tracer
    or meter. The API's own providers (its proxies and no-ops) record nothing, yet calling
    them costs about a quarter more client CPU at a few thousand requests per second, so a
    client made before anything is configured skips telemetry. Configure OpenTelemetry
    first (as its documentation asks), or pass ``tracer_provider`` / ``meter_provider``.
    """
    from opentelemetry import metrics, trace

    providers = (trace.get_tracer_provider(), metrics.get_meter_provider())
    return any(
        not type(p).__module__.startswith("opentelemetry.")
        or type(p).__module__.startswith("opentelemetry.sdk")
        for p in providers
    )


def url_template(path: str) -> str:
    """``/video/result/123`` -> ``/video/result/{video_id}``; other paths carry no ids."""
    for prefix, name in _ID_PATHS.items():
        if path.startswith(prefix):
            return prefix + name
    return path


def error_type(exc: BaseException) -> str:
    """``error.type``: the HTTP status of an error answer, else the exception's class."""
    status = getattr(exc, "http_status", None)
    if isinstance(exc, APIError) and isinstance(status, int) and status >= 400:
        return str(status)
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


class Telemetry:
    """The tracer and instruments one client reports to (see the module docs)."""

    def __init__(self, tracer_provider: Any, meter_provider: Any) -> None:
        from opentelemetry import metrics, trace

        from ._version import __version__

        self._trace = trace
        if tracer_provider is None:
            self.tracer = trace.get_tracer(NAME, __version__)
        else:
            self.tracer = tracer_provider.get_tracer(NAME, __version__)
        if meter_provider is None:
            meter = metrics.get_meter(NAME, __version__)
        else:
            meter = meter_provider.get_meter(NAME, __version__)
        self._limiters: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
        self.submits = meter.create_counter(
            "pixverse.submits", unit="{submit}", description="Submit POSTs by outcome."
        )
        self.polls = meter.create_counter(
            "pixverse.status_polls",
            unit="{request}",
            description="Scheduled job status requests.",
        )
        self.durations = meter.create_histogram(
            "pixverse.job.duration",
            unit="s",
            description="Seconds from a job's submit to its terminal status (or wait timeout).",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.credits = meter.create_counter(
            "pixverse.credits.charged", unit="{credit}", description="Credits charged at submit."
        )
        self.deliveries = meter.create_counter(
            "pixverse.webhook.deliveries",
            unit="{delivery}",
            description="Webhook deliveries handled, by result.",
        )
        for name, unit, field, description in (
            ("pixverse.slots.limit", "{slot}", "limit", "Generation slots allowed now."),
            ("pixverse.slots.in_use", "{slot}", "in_flight", "Generation slots held."),
            ("pixverse.slots.waiting", "{submit}", "waiting", "Submits waiting for a slot."),
        ):
            meter.create_observable_gauge(
                name, callbacks=[self._observer(field)], unit=unit, description=description
            )

    # -- registration --------------------------------------------------------------------

    def watch_limiter(self, owner: Any) -> None:
        """Report ``owner.limiter`` (read at each collection) in the slot gauges."""
        self._limiters[id(owner)] = owner

    def _observer(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        from opentelemetry.metrics import Observation

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            total, shared_limit, seen = 0, 0, False
            for owner in list(self._limiters.values()):
                limiter: Limiter | None = owner.limiter
                if limiter is None:
                    continue
                stats = limiter.statistics()
                if stats.shared and field != "limit":
                    # through Redis: this process's share, so a sum over the fleet's
                    # processes is the fleet's figure (its own is fleet-wide already)
                    value = getattr(stats, "local_" + field)
                else:
                    value = getattr(stats, field)
                if value is None:
                    continue
                seen = True
                if stats.shared and field == "limit":
                    shared_limit = max(shared_limit, value)  # one account, one limit
                else:
                    total += value
            return [Observation(total + shared_limit)] if seen else []

        return observe

    # -- HTTP ------------------------------------------------------------------------------

    def traced(
        self, send: Callable[[Request], Awaitable[Response]], base_url: str
    ) -> Callable[[Request], Awaitable[Response]]:
        """``send`` with one CLIENT span per attempt (see the module docs)."""
        url = urlsplit(base_url)
        server: dict[str, Any] = {
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
        }
        start_span = self.tracer.start_span
        from opentelemetry.trace import SpanKind, StatusCode

        client, error = SpanKind.CLIENT, StatusCode.ERROR
        failed: OrderedDict[str, int] = OrderedDict()  # trace id -> failed attempts

        async def send_traced(request: Request) -> Response:
            # The span is made when the answer is in, with the attempt's start time and every
            # attribute at once: setting attributes on a started SDK span costs more than the
            # span itself, and nothing runs under this leaf span (status GETs are the hot path).
            trace_id = request.trace_id
            resends = failed.pop(trace_id, 0) if failed else 0
            template = url_template(request.path)
            attributes: dict[str, Any] = {
                "http.request.method": request.method,
                "url.template": template,
                "pixverse.trace_id": trace_id,
                **server,
            }
            if resends:
                attributes["http.request.resend_count"] = resends
            started = time.time_ns()
            try:
                response = await send(request)
            except BaseException as exc:
                if is_retryable(exc):
                    failed[trace_id] = resends + 1
                    if len(failed) > RESEND_MEMORY:
                        failed.popitem(last=False)
                kind = error_type(exc)
                attributes["error.type"] = kind
                if isinstance(exc, APIError):
                    attributes["http.response.status_code"] = exc.http_status
                    if exc.code is not None:
                        attributes["pixverse.err_code"] = exc.code
                span = start_span(
                    f"{request.method} {template}",
                    kind=client,
                    attributes=attributes,
                    start_time=started,
                )
                span.set_status(error, kind)
                span.end()
                raise
            attributes["http.response.status_code"] = response.http_status
            attributes["pixverse.err_code"] = 0
            start_span(
                f"{request.method} {template}",
                kind=client,
                attributes=attributes,
                start_time=started,
            ).end()
            return response

        return send_traced

    # -- jobs, polls, batches, webhooks ----------------------------------------------------

    def start_job(self, kind: str) -> JobTrace:
        """A job span, child of the current span, started now (before the slot wait)."""
        return JobTrace(self, kind)

    def reattach_job(self, kind: str, job_id: int) -> JobTrace:
        """The span of a job this client did not submit (re-attached by id), from the first
        wait to its end, child of the waiter's current span (``pixverse.job.reattached``)."""
        return JobTrace(self, kind, job_id=job_id)

    @contextmanager
    def poll(self, trace: JobTrace | None, kind: str) -> Iterator[None]:
        """Around one scheduled status request: counted, and its span under the job's span.

        The poll scheduler's tasks run in the context of whoever started them: without a job
        span the request starts a trace of its own instead of joining that caller's.
        """
        self.polls.add(1, {"pixverse.job.kind": kind})
        if trace is not None:
            trace.polls += 1
            with self._trace.use_span(
                trace.span, record_exception=False, set_status_on_exception=False
            ):
                yield
            return
        from opentelemetry import context

        token = context.attach(context.Context())
        try:
            yield
        finally:
            context.detach(token)

    def start_batch(self) -> BatchTrace:
        return BatchTrace(self)

    def delivery(self, result: str) -> None:
        """Count one webhook delivery handled by a receiver."""
        self.deliveries.add(1, {"pixverse.webhook.result": result})


class JobTrace:
    """The span and metrics of one submitted job (created by the submitter)."""

    def __init__(self, telemetry: Telemetry, kind: str, *, job_id: int | None = None) -> None:
        self._telemetry = telemetry
        self.kind = kind
        self._attributes = {"pixverse.job.kind": kind}
        start: dict[str, Any] = dict(self._attributes)
        if job_id is not None:  # re-attached: no submit here, no duration measured
            start.update({"pixverse.job.id": job_id, "pixverse.job.reattached": True})
        self.span: Span = telemetry.tracer.start_span("pixverse.job", attributes=start)
        self.polls = 0
        self._submitted: float | None = None
        self._ended = False

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the job span current (the submit's slot wait and HTTP spans go under it)."""
        with self._telemetry._trace.use_span(
            self.span, record_exception=False, set_status_on_exception=False
        ):
            yield

    async def slot(self, acquire: Callable[[], Awaitable[Any]]) -> Any:
        """``await acquire()`` (a generation slot) inside a ``pixverse.slot.wait`` span."""
        with self._telemetry.tracer.start_as_current_span("pixverse.slot.wait"):
            return await acquire()

    def rejected(self) -> None:
        """A 500044: the submit goes back to wait for a slot."""
        self._telemetry.submits.add(
            1, {**self._attributes, "pixverse.submit.outcome": str(CONCURRENCY_LIMIT)}
        )
        self.span.add_event("pixverse.concurrency_limit")

    def accepted(self, job_id: int, credits: int | None, submitted: float) -> None:
        telemetry = self._telemetry
        self._submitted = submitted
        telemetry.submits.add(1, {**self._attributes, "pixverse.submit.outcome": "accepted"})
        self.span.set_attribute("pixverse.job.id", job_id)
        if credits is not None:
            self.span.set_attribute("pixverse.job.credits", credits)
            telemetry.credits.add(credits, self._attributes)

    def submit_failed(self, exc: BaseException) -> None:
        """The submit raised: no job was made (counted as an ``error`` submit)."""
        if self._ended:
            return
        limited = isinstance(exc, APIError) and exc.code == CONCURRENCY_LIMIT
        outcome = str(CONCURRENCY_LIMIT) if limited else "error"
        self._telemetry.submits.add(1, {**self._attributes, "pixverse.submit.outcome": outcome})
        self._end("error", exc=exc)

    def finished(self, snapshot: Any, *, by: str) -> None:
        """The job reached a terminal status (seen by a poll or delivered by a webhook)."""
        if not self._ended:
            self.span.set_attribute("pixverse.job.resolved_by", by)
            status = self._status(snapshot)
            self._end(OUTCOMES.get(status, "error") if status is not None else "error")

    def timed_out(self, snapshot: Any) -> None:
        """A wait's timeout passed first: the span ends, the job keeps running."""
        self._left(snapshot, "timeout")

    def abandoned(self, snapshot: Any) -> None:
        """Every wait on the job ended (cancelled, or an ``as_completed`` / ``wait_all``
        timeout) before the job did: the span ends, the job keeps running server-side."""
        self._left(snapshot, "abandoned")

    def _left(self, snapshot: Any, outcome: str) -> None:
        """The span ends before the job: its last status seen, and why."""
        if not self._ended:
            self._status(snapshot)
            self._end(outcome)

    def _status(self, snapshot: Any) -> int | None:
        """Record the snapshot's status (``pixverse.job.status``) and return it."""
        status = getattr(snapshot, "status", None)
        if status is not None:
            self.span.set_attribute("pixverse.job.status", int(status))
        return status

    def failed(self, exc: BaseException) -> None:
        """The job's watch ended without a status (the client closed, a status error)."""
        if not self._ended:
            self._end("error", exc=exc)

    def _end(self, outcome: str, *, exc: BaseException | None = None) -> None:
        from opentelemetry.trace import StatusCode

        self._ended = True
        span = self.span
        span.set_attribute("pixverse.job.outcome", outcome)
        span.set_attribute("pixverse.job.polls", self.polls)
        if exc is not None:
            kind = error_type(exc)
            span.set_attribute("error.type", kind)
            span.set_status(StatusCode.ERROR, kind)
        elif outcome != "succeeded":
            span.set_status(StatusCode.ERROR, outcome)
        if self._submitted is not None:
            self._telemetry.durations.record(
                max(0.0, time.monotonic() - self._submitted),
                {**self._attributes, "pixverse.job.outcome": outcome},
            )
        span.end()


class BatchTrace:
    """The span of one batch: current while its workers start, ended when it is left."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._telemetry = telemetry
        self.span: Span = telemetry.tracer.start_span("pixverse.batch")

    @contextmanager
    def active(self) -> Iterator[None]:
        with self._telemetry._trace.use_span(
            self.span, record_exception=False, set_status_on_exception=False
        ):
            yield

    def end(self, summary: Any, exc: BaseException | None) -> None:
        from opentelemetry.trace import StatusCode

        span = self.span
        for field in ("total", "submitted", "succeeded", "failed", "not_submitted", "skipped"):
            span.set_attribute(f"pixverse.batch.{field}", getattr(summary, field))
        span.set_attribute("pixverse.batch.credits", summary.credits)
        span.set_attribute("pixverse.batch.throttled", summary.throttled)
        if exc is not None:
            kind = error_type(exc)
            span.set_attribute("error.type", kind)
            span.set_status(StatusCode.ERROR, kind)
        span.end()
