"""Spans and metrics of real clients against the emulator, read from the SDK's in-memory
exporter and metric reader: a modify + wait, a 40-job batch with a 500044 and a retried 502,
and a webhook-resolved job (issue 13)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from pixverse_async import AsyncPixVerse, PollPolicy, RetryPolicy, _telemetry
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
    WebhookConfig,
    make_mp4,
)
from pixverse_async.webhooks import WebhookReceiver, webhook_app
from tests._servers import serve

from ._otel import Otel, every_attribute_value

pytestmark = pytest.mark.anyio

KEY = "pv-telemetry-test-key-0001"
SECRET = "whsec-telemetry-test"
POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None, max_concurrency=64)
FAST_RETRY = RetryPolicy(initial_backoff=0.01, max_backoff=0.05)
MODIFY = "POST /video/modify/generate"
STATUS = "GET /video/result/{video_id}"


def client_for(emu: Emulator, otel: Otel, **kw: Any) -> AsyncPixVerse:
    return AsyncPixVerse(
        KEY,
        base_url=emu.base_url,
        poll=kw.pop("poll", POLL),
        retry=FAST_RETRY,
        tracer_provider=otel.tracer_provider,
        meter_provider=otel.meter_provider,
        **kw,
    )


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def assert_no_secret(otel: Otel) -> None:
    values = every_attribute_value(otel.spans())
    assert values
    assert not [v for v in values if KEY in v or KEY[-8:] in v]


async def upload(client: AsyncPixVerse) -> int:
    media = await client.media.upload_media(
        make_mp4(5.0, 640, 360, size=20_000), filename="source.mp4"
    )
    return media.media_id


async def test_modify_and_wait_make_a_job_span_under_the_callers_span(otel: Otel) -> None:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=5, credit_package=10**6),),
        job_duration=Fixed(0.1),
        seed=3,
    )
    caller = otel.tracer_provider.get_tracer("test")
    async with Emulator(config) as emu, client_for(emu, otel, max_concurrency=5) as client:
        with caller.start_as_current_span("handler"):
            media_id = await upload(client)
            job = await client.video.modify(
                video_media_id=media_id, prompt="make it snow", quality="360p"
            )
            result = await job.wait(timeout=10)
        polls_on_server = emu.stats()["status_polls"]
    assert result.status == 1

    spans = otel.spans()
    (handler,) = otel.spans("handler")
    (job_span,) = otel.spans("pixverse.job")
    assert job_span.parent is not None and handler.context is not None
    assert job_span.parent.span_id == handler.context.span_id
    a = attrs(job_span)
    assert a["pixverse.job.kind"] == "modify"
    assert a["pixverse.job.id"] == job.id
    assert a["pixverse.job.credits"] == job.credits
    assert a["pixverse.job.status"] == 1
    assert a["pixverse.job.outcome"] == "succeeded"
    assert a["pixverse.job.resolved_by"] == "poll"
    assert a["pixverse.job.polls"] == polls_on_server >= 1
    assert job_span.status.status_code != StatusCode.ERROR

    under_job = children(spans, job_span)
    names = [s.name for s in under_job]
    assert names.count("pixverse.slot.wait") == 1
    assert names.count(MODIFY) == 1
    assert names.count(STATUS) == polls_on_server
    (post,) = [s for s in under_job if s.name == MODIFY]
    p = attrs(post)
    assert post.kind == SpanKind.CLIENT
    assert p["http.request.method"] == "POST"
    assert p["url.template"] == "/video/modify/generate"
    assert p["server.address"] == "127.0.0.1"
    assert p["server.port"] == int(emu.base_url.split(":")[2].split("/")[0])
    assert p["http.response.status_code"] == 200
    assert p["pixverse.err_code"] == 0
    assert p["pixverse.trace_id"] == job.trace_id
    assert "http.request.resend_count" not in p and "error.type" not in p
    # the ids stay out of the template; the upload is the handler's, not the job's
    assert all(attrs(s)["url.template"] == "/video/result/{video_id}" for s in otel.spans(STATUS))
    (upload_span,) = otel.spans("POST /media/upload")
    assert upload_span.parent is not None and upload_span.parent.span_id == handler.context.span_id
    assert job_span.start_time is not None and job_span.end_time is not None
    assert post.start_time is not None and job_span.start_time <= post.start_time
    assert_no_secret(otel)

    assert otel.total("pixverse.submits", **{"pixverse.submit.outcome": "accepted"}) == 1
    assert otel.total("pixverse.status_polls", **{"pixverse.job.kind": "modify"}) == (
        polls_on_server
    )
    assert otel.total("pixverse.credits.charged") == job.credits
    (duration,) = otel.points("pixverse.job.duration")
    assert duration.count == 1
    assert duration.attributes == {
        "pixverse.job.kind": "modify",
        "pixverse.job.outcome": "succeeded",
    }
    assert 0.05 < duration.sum < 10
    (limit,) = otel.points("pixverse.slots.limit")
    assert limit.value == 5
    assert [p.value for p in otel.points("pixverse.slots.in_use")] == [0]


async def test_a_batch_with_a_500044_and_a_retried_502(otel: Otel) -> None:
    jobs = 40
    config = EmulatorConfig(
        # max_concurrency 4 against an account limit of 3: the fourth submit gets 500044s
        accounts=(AccountConfig(api_key=KEY, concurrency=3, credit_package=10**6),),
        job_duration=Fixed(0.05),
        faults=FaultPlan(
            rules=(
                FaultRule(
                    FaultKind.HTTP_502, count=1, path="/video/modify/generate", method="POST"
                ),
            )
        ),
        seed=11,
    )
    async with Emulator(config) as emu, client_for(emu, otel, max_concurrency=4) as client:
        media_id = await upload(client)
        items = [
            {
                "key": f"take-{i}",
                "kind": "modify",
                "params": {"video_media_id": media_id, "prompt": f"take {i}", "quality": "360p"},
            }
            for i in range(jobs)
        ]
        outcomes = await asyncio.wait_for(client.run_batch(items), 60)
        stats = emu.stats()
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
    rejected = stats["rejected_500044"]
    assert rejected >= 1

    spans = otel.spans()
    (batch,) = otel.spans("pixverse.batch")
    assert batch.parent is None
    b = attrs(batch)
    assert b["pixverse.batch.total"] == b["pixverse.batch.succeeded"] == jobs
    job_spans = otel.spans("pixverse.job")
    assert len(job_spans) == jobs
    assert {id(s) for s in children(spans, batch)} == {id(s) for s in job_spans}
    ids = {o.job_id for o in outcomes}
    assert {attrs(s)["pixverse.job.id"] for s in job_spans} == ids
    assert all(attrs(s)["pixverse.job.outcome"] == "succeeded" for s in job_spans)
    assert sum(attrs(s)["pixverse.job.polls"] for s in job_spans) == stats["status_polls"]

    posts = otel.spans(MODIFY)
    assert all(s.parent is not None for s in posts)  # every POST under its job's span
    busy = [s for s in posts if attrs(s).get("pixverse.err_code") == 500044]
    assert len(busy) == rejected
    assert all(
        attrs(s)["error.type"] == "pixverse_async._exceptions.ConcurrencyLimitError"
        and s.status.status_code == StatusCode.ERROR
        for s in busy
    )
    (bad_gateway,) = [s for s in posts if attrs(s).get("http.response.status_code") == 502]
    assert attrs(bad_gateway)["error.type"] == "502"
    trace_id = attrs(bad_gateway)["pixverse.trace_id"]
    (resent,) = [s for s in posts if attrs(s).get("http.request.resend_count") == 1]
    assert attrs(resent)["pixverse.trace_id"] == trace_id
    assert attrs(resent)["http.response.status_code"] == 200
    assert resent.parent == bad_gateway.parent  # the same job's span
    # each 500044 sent the job back to wait for a slot: another slot wait under the same job
    waits = otel.spans("pixverse.slot.wait")
    assert len(waits) == jobs + rejected
    assert_no_secret(otel)

    submits = {"pixverse.job.kind": "modify"}
    assert otel.total("pixverse.submits", **submits, **{"pixverse.submit.outcome": "accepted"}) == (
        jobs
    )
    assert otel.total("pixverse.submits", **{"pixverse.submit.outcome": "500044"}) == rejected
    assert otel.total("pixverse.submits", **{"pixverse.submit.outcome": "error"}) == 0
    assert otel.total("pixverse.status_polls") == stats["status_polls"]
    assert otel.total("pixverse.credits.charged") == sum(o.credits or 0 for o in outcomes) > 0
    (duration,) = otel.points("pixverse.job.duration")
    assert duration.count == jobs
    (limit,) = otel.points("pixverse.slots.limit")
    assert limit.value == 4


async def test_a_webhook_resolved_job_ends_its_span_without_polls(otel: Otel) -> None:
    receiver = WebhookReceiver(SECRET)
    async with serve(webhook_app(receiver, path="/hook")) as origin:
        config = EmulatorConfig(
            accounts=(
                AccountConfig(
                    api_key=KEY,
                    concurrency=5,
                    credit_package=10**6,
                    webhooks=(WebhookConfig(1, origin + "/hook", SECRET, default=True),),
                ),
            ),
            job_duration=Fixed(0.1),
            seed=5,
            time_scale=100,
        )
        poll = PollPolicy(interval=0.02, max_rps=None, webhook_fallback=30.0)
        async with (
            Emulator(config) as emu,
            client_for(emu, otel, poll=poll, max_concurrency=5, webhooks=True) as client,
        ):
            receiver.client = client
            media_id = await upload(client)
            job = await client.video.modify(
                video_media_id=media_id, prompt="make it rain", quality="360p"
            )
            result = await job.wait(timeout=10)
            assert emu.stats()["status_polls"] == 0
    assert result.status == 1 and result.url

    (job_span,) = otel.spans("pixverse.job")
    a = attrs(job_span)
    assert a["pixverse.job.id"] == job.id
    assert a["pixverse.job.resolved_by"] == "webhook"
    assert a["pixverse.job.polls"] == 0
    assert a["pixverse.job.outcome"] == "succeeded"
    assert not otel.spans(STATUS)
    assert otel.total("pixverse.webhook.deliveries", **{"pixverse.webhook.result": "resolved"}) == 1
    assert otel.total("pixverse.status_polls") == 0
    (duration,) = otel.points("pixverse.job.duration")
    assert duration.count == 1
    assert_no_secret(otel)


async def test_a_wait_timeout_ends_the_job_span(otel: Otel) -> None:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=5, credit_package=10**6),),
        job_duration=Fixed(30.0),
        seed=3,
    )
    async with Emulator(config) as emu, client_for(emu, otel, max_concurrency=None) as client:
        media_id = await upload(client)
        job = await client.video.modify(video_media_id=media_id, prompt="slow", quality="360p")
        with pytest.raises(TimeoutError):
            await job.wait(timeout=0.1)
    (job_span,) = otel.spans("pixverse.job")
    assert attrs(job_span)["pixverse.job.outcome"] == "timeout"
    assert attrs(job_span)["pixverse.job.status"] == 5
    assert not otel.spans("pixverse.slot.wait")  # no limiter: no slot to wait for
    (duration,) = otel.points("pixverse.job.duration")
    assert duration.attributes["pixverse.job.outcome"] == "timeout"


def test_url_templates_never_carry_ids() -> None:
    assert _telemetry.url_template("/video/result/9007199254740993") == "/video/result/{video_id}"
    assert _telemetry.url_template("/image/result/12") == "/image/result/{image_id}"
    assert _telemetry.url_template("/video/modify/generate") == "/video/modify/generate"


def test_without_the_api_package_the_client_has_no_telemetry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_telemetry, "_available", False)
    client = AsyncPixVerse(KEY, base_url="http://127.0.0.1:9/openapi/v2")
    assert client._telemetry is None
    # the HTTP path is the transport's own send: no wrapper at all
    assert client._attempt == client._transport.send
