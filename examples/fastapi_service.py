"""A FastAPI remix service: ``POST /remix`` edits a video with PixVerse and answers its URL.

One :class:`~pixverse_async.AsyncPixVerse` serves the whole app (opened by the lifespan, shared
by every request); with a webhook secret, results arrive by webhook at
``POST /pixverse/webhook`` and jobs are not polled (a slow fallback poll catches lost
deliveries); without one, they are polled.

- ``POST /remix`` (multipart form): ``prompt``, and either ``video`` (a file upload) or
  ``video_id`` (a PixVerse-generated video to edit further); optional ``quality`` (default
  540p). Submits a modify job and answers when it ends: ``{"video_id", "status", "url",
  "credits"}``.
- ``GET /jobs/{video_id}``: the job's status and URL.

Errors answer with the HTTP status their type means (:func:`http_error`): 422 for bad input
(a non-positive id is refused before anything is sent), 404 for a video that does not exist,
402 when the account is out of credits, 503 when PixVerse is busy, 504 on a timeout, and 502
only for a failure of PixVerse or of this service's own set-up (a refused API key).

Configuration (environment): ``PIXVERSE_API_KEY``, ``PIXVERSE_BASE_URL``,
``PIXVERSE_WEBHOOK_SECRET`` (optional), and for this example ``REMIX_POLL_INTERVAL`` (seconds,
default 4; 0.05 suits the emulator) and ``REMIX_TIMEOUT`` (seconds a request waits, default 900).

OpenTelemetry (opt-in, ``pip install 'pixverse-async[otel]' opentelemetry-sdk``):
``REMIX_OTEL`` is a comma-separated list of ``console`` (spans and metrics printed),
``otlp`` (exported to ``$OTEL_EXPORTER_OTLP_ENDPOINT``; needs
``opentelemetry-exporter-otlp-proto-http``) and ``prometheus`` (metrics at ``GET /metrics``;
needs ``opentelemetry-exporter-prometheus``). The SDK's providers become the global ones, which
the client reports to: a span per job (under the request's span when the app is instrumented
too), per HTTP attempt and per status poll, and the ``pixverse.*`` metrics.

Against the built-in emulator (two terminals)::

    pixverse-async emulator --port 8080 --api-key demo-key-123456 \\
        --webhook-url http://127.0.0.1:8000/pixverse/webhook --webhook-secret s3cret
    PIXVERSE_API_KEY=demo-key-123456 PIXVERSE_BASE_URL=http://127.0.0.1:8080/openapi/v2 \\
        PIXVERSE_WEBHOOK_SECRET=s3cret REMIX_POLL_INTERVAL=0.05 \\
        uvicorn examples.fastapi_service:app --port 8000

    curl -F prompt="turn it into a watercolor painting" -F video=@examples/media/beach.mp4 \\
        http://127.0.0.1:8000/remix
"""

from __future__ import annotations

import os
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Path, UploadFile

from pixverse_async import (
    APITimeoutError,
    AsyncPixVerse,
    ConcurrencyLimitError,
    InsufficientCreditsError,
    InvalidRequestError,
    JobError,
    JobTimeoutError,
    ModerationError,
    NotFoundError,
    PixVerseError,
    PollPolicy,
    RateLimitError,
    RequestValidationError,
    ServerBusyError,
)
from pixverse_async.fastapi import PixVerseClient, pixverse_lifespan, webhook_router
from pixverse_async.types import ModifyQuality, VideoStatus

POLL_INTERVAL = float(os.environ.get("REMIX_POLL_INTERVAL", "4"))
TIMEOUT = float(os.environ.get("REMIX_TIMEOUT", "900"))
OTEL = {part.strip() for part in os.environ.get("REMIX_OTEL", "").split(",") if part.strip()}


def setup_telemetry(app: FastAPI, outputs: set[str]) -> None:
    """Install the OpenTelemetry SDK as the global providers, with the chosen exporters."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import (
        ConsoleMetricExporter,
        MetricReader,
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    unknown = outputs - {"console", "otlp", "prometheus"}
    if unknown:
        raise SystemExit(f"REMIX_OTEL: unknown output(s) {sorted(unknown)}")
    resource = Resource.create({"service.name": "remix-service"})
    tracer_provider = TracerProvider(resource=resource)
    readers: list[MetricReader] = []
    if "console" in outputs:
        tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    if "otlp" in outputs:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if "prometheus" in outputs:
        try:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import make_asgi_app
        except ImportError:
            raise SystemExit(
                "REMIX_OTEL=prometheus needs: pip install opentelemetry-exporter-prometheus"
            ) from None
        readers.append(PrometheusMetricReader())
        app.mount("/metrics", make_asgi_app())  # the pixverse_* series, for Prometheus to scrape
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=readers))


def make_client() -> AsyncPixVerse:
    """The app's one client (key and URL from the environment)."""
    webhooks = bool(os.environ.get("PIXVERSE_WEBHOOK_SECRET"))
    return AsyncPixVerse(poll=PollPolicy(interval=POLL_INTERVAL), webhooks=webhooks)


app = FastAPI(title="remix service", lifespan=pixverse_lifespan(make_client))
app.include_router(webhook_router())
if OTEL:  # before the lifespan builds the client: it reports to the global providers
    setup_telemetry(app, OTEL)

#: an error's type -> the HTTP status it answers with; the first match wins (subclasses first)
STATUS_BY_ERROR: tuple[tuple[type[PixVerseError], int], ...] = (
    (JobTimeoutError, 504),  # still generating: the caller can come back to GET /jobs/{id}
    (JobError, 422),  # the job failed or its output was moderated (credits refunded)
    (RequestValidationError, 422),  # refused before anything was sent or charged
    (InvalidRequestError, 422),  # PixVerse refused the input
    (ModerationError, 422),
    (NotFoundError, 404),
    (InsufficientCreditsError, 402),
    (RateLimitError, 503),
    (ConcurrencyLimitError, 503),
    (ServerBusyError, 503),
    (APITimeoutError, 504),
)


def http_error(exc: PixVerseError) -> HTTPException:
    """The HTTP answer for an SDK error, by the error's type.

    Anything not listed in :data:`STATUS_BY_ERROR` (PixVerse unreachable or failing, a refused
    API key or permission: not the caller's doing) is a 502.
    """
    status = next((code for kind, code in STATUS_BY_ERROR if isinstance(exc, kind)), 502)
    return HTTPException(status, str(exc))


@app.post("/remix")
async def remix(
    client: PixVerseClient,
    prompt: Annotated[str, Form()],
    video: Annotated[UploadFile | None, File()] = None,
    video_id: Annotated[int | None, Form(gt=0)] = None,
    quality: Annotated[ModifyQuality, Form()] = "540p",
) -> dict[str, Any]:
    if (video is None) == (video_id is None):
        raise HTTPException(422, "send exactly one of video (a file) or video_id")
    try:
        media_id = None
        if video is not None:  # streamed to PixVerse from the spooled upload
            uploaded = await client.media.upload_media(video.file, filename=video.filename)
            media_id = uploaded.media_id
        job = await client.video.modify(
            prompt=prompt, quality=quality, source_video_id=video_id, video_media_id=media_id
        )
    except InvalidRequestError as exc:
        # an unknown source_video_id is "invalid parameter" (400017) too: look the video up
        missing = await missing_video(client, video_id) if video_id is not None else None
        raise (missing or http_error(exc)) from None
    except PixVerseError as exc:
        raise http_error(exc) from None
    try:
        result = await job.wait(timeout=TIMEOUT)
    except JobTimeoutError:
        raise HTTPException(504, f"video {job.id} is still generating") from None
    except PixVerseError as exc:
        raise http_error(exc) from None
    return {"video_id": job.id, "status": "succeeded", "url": result.url, "credits": job.credits}


async def missing_video(client: AsyncPixVerse, video_id: int) -> HTTPException | None:
    """A 404 when ``video_id`` names no video of this account (else ``None``).

    PixVerse answers an edit of an unknown ``source_video_id`` with ErrCode 400017 (invalid
    parameter), as it does for other bad input; a status look-up (free) tells them apart.
    """
    try:
        await client.video.result(video_id)
    except NotFoundError:
        return HTTPException(404, f"no video {video_id}")
    except PixVerseError:
        return None  # cannot tell: the caller answers for the original error
    return None


@app.get("/jobs/{video_id}")
async def job_status(
    video_id: Annotated[int, Path(gt=0)], client: PixVerseClient
) -> dict[str, Any]:
    try:
        result = await client.video.result(video_id)
    except NotFoundError:
        raise HTTPException(404, f"no video {video_id}") from None
    except PixVerseError as exc:
        raise http_error(exc) from None
    status = VideoStatus.of(result.status)
    return {
        "video_id": result.id,
        "status": status.name.lower() if status else "generating",
        "url": result.url if result.succeeded else None,
    }


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
