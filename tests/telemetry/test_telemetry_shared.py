"""Telemetry beyond one client's own submits: jobs re-attached by id, and workers sharing one
account through a real Redis (slot gauges per process, webhook deliveries fanned out)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from pixverse_async import AsyncPixVerse, PollPolicy, RetryPolicy
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed, WebhookConfig
from pixverse_async.webhooks import WebhookReceiver
from tests._redis_server import RedisServer
from tests.webhooks.test_receivers import loopback_socket
from tests.webhooks.test_shared_webhooks import PATH, SECRET, worker

from ._otel import Otel, every_attribute_value, make_otel

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

KEY = "pv-telemetry-shared-key-0001"
POLL = PollPolicy(interval=0.02, jitter=0.1, max_rps=None)
STATUS = "GET /video/result/{video_id}"


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def children(spans: list[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]


async def until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def config(*, seconds: float, webhook_url: str | None = None) -> EmulatorConfig:
    hooks = () if webhook_url is None else (WebhookConfig(1, webhook_url, SECRET, default=True),)
    account = AccountConfig(api_key=KEY, concurrency=10, credit_package=10**6, webhooks=hooks)
    return EmulatorConfig(accounts=(account,), job_duration=Fixed(seconds), seed=29, time_scale=100)


async def submit(client: AsyncPixVerse, prompt: str) -> Any:
    return await client.video.text_to_video(
        prompt=prompt, model="v5", duration=5, quality="360p", aspect_ratio="16:9"
    )


async def test_a_job_re_attached_by_id_gets_a_span_from_its_first_wait(otel: Otel) -> None:
    async with Emulator(config(seconds=0.3)) as emu:
        async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL) as other:
            submitted = await submit(other, "made before a restart")  # no telemetry there
        async with AsyncPixVerse(
            KEY,
            base_url=emu.base_url,
            poll=POLL,
            retry=RetryPolicy(initial_backoff=0.01),
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
        ) as client:
            tracer = otel.tracer_provider.get_tracer("caller")
            with tracer.start_as_current_span("caller"):
                job = client.video_job(submitted.id, kind="text_to_video")
                result = await job.wait(timeout=10)
            # a later wait on a new handle asks once more: a span of its own, one poll
            again = await client.video_job(submitted.id).wait(timeout=10)
    assert result.status == 1 and again.status == 1

    spans = otel.spans()
    (caller,) = otel.spans("caller")
    job_span, later = sorted(otel.spans("pixverse.job"), key=lambda s: s.start_time or 0)
    assert children(spans, caller) == [job_span]
    assert attrs(later)["pixverse.job.polls"] == 1 and later.parent is None
    a = attrs(job_span)
    assert a["pixverse.job.id"] == submitted.id
    assert a["pixverse.job.reattached"] is True
    assert a["pixverse.job.kind"] == "text_to_video"
    assert a["pixverse.job.outcome"] == "succeeded"
    assert a["pixverse.job.resolved_by"] == "poll"
    polls = children(spans, job_span)
    assert polls and {s.name for s in polls} == {STATUS}
    assert a["pixverse.job.polls"] == len(polls)
    # the submit time is unknown here: no duration is made up
    assert not otel.points("pixverse.job.duration")
    assert KEY not in " ".join(every_attribute_value(spans))


async def test_a_wait_given_up_ends_the_span_of_a_re_attached_job(otel: Otel) -> None:
    async with Emulator(config(seconds=30.0)) as emu:
        async with AsyncPixVerse(KEY, base_url=emu.base_url, poll=POLL) as other:
            submitted = await submit(other, "still running")
        async with AsyncPixVerse(
            KEY,
            base_url=emu.base_url,
            poll=POLL,
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
        ) as client:
            job = client.video_job(submitted.id, kind="text_to_video")
            with pytest.raises(TimeoutError):  # cancels the wait: nobody waits any more
                await asyncio.wait_for(job.wait(), 0.1)
            # the span ends at the job's next due poll, while the client is still open
            await until(lambda: bool(otel.spans("pixverse.job")))
            (span,) = otel.spans("pixverse.job")
            assert attrs(span)["pixverse.job.outcome"] == "abandoned"
            assert attrs(span)["pixverse.job.status"] == 5
    assert len(otel.spans("pixverse.job")) == 1  # closing the client ends nothing twice


async def test_workers_sharing_redis_report_their_own_slots_and_the_receiver_counts_deliveries(
    redis_server: RedisServer,
) -> None:
    otel_a, otel_b = make_otel(), make_otel()
    sock_b = loopback_socket()
    url_b = f"http://127.0.0.1:{sock_b.getsockname()[1]}{PATH}"
    poll = PollPolicy(interval=0.05, jitter=0.1, max_rps=None, webhook_fallback=30.0)

    def client(emu: Emulator, otel: Otel) -> AsyncPixVerse:
        return AsyncPixVerse(
            KEY,
            base_url=emu.base_url,
            webhooks=True,
            redis_url=redis_server.url,
            poll=poll,
            max_concurrency=6,
            tracer_provider=otel.tracer_provider,
            meter_provider=otel.meter_provider,
        )

    try:
        async with (
            # the account's webhook points at worker B only; jobs last long enough to be seen
            Emulator(config(seconds=2.0, webhook_url=url_b)) as emu,
            worker(client(emu, otel_a)) as a,
            worker(client(emu, otel_b), sock=sock_b) as b,
        ):
            jobs = [await submit(a.client, f"take {i}") for i in range(3)]
            held_b = [await submit(b.client, f"other {i}") for i in range(2)]
            # while they run: each process reports its own share, and the account's limit
            assert [p.value for p in otel_a.points("pixverse.slots.in_use")] == [3]
            assert [p.value for p in otel_b.points("pixverse.slots.in_use")] == [2]
            assert [p.value for p in otel_a.points("pixverse.slots.limit")] == [6]
            assert [p.value for p in otel_b.points("pixverse.slots.limit")] == [6]
            assert [p.value for p in otel_a.points("pixverse.slots.waiting")] == [0]
            results = await asyncio.wait_for(
                asyncio.gather(*(job.wait() for job in [*jobs, *held_b])), 10
            )
            polls = emu.stats()["status_polls"]
            await until(lambda: emu.stats()["webhook_deliveries_ok"] == 5)
        assert all(r.status == 1 for r in results)
        assert polls == 0  # every wait, A's included, was ended by a delivery B received

        job_spans = otel_a.spans("pixverse.job")
        assert len(job_spans) == 3
        for span in job_spans:
            a_attrs = attrs(span)
            assert a_attrs["pixverse.job.resolved_by"] == "webhook"
            assert a_attrs["pixverse.job.polls"] == 0
            assert a_attrs["pixverse.job.outcome"] == "succeeded"
        # a delivery is one HTTP request: counted once, by the worker that received it
        assert otel_b.total("pixverse.webhook.deliveries") == 5
        assert (
            otel_b.total("pixverse.webhook.deliveries", **{"pixverse.webhook.result": "resolved"})
            == 5
        )
        assert otel_a.total("pixverse.webhook.deliveries") == 0
        assert otel_a.total("pixverse.submits", **{"pixverse.submit.outcome": "accepted"}) == 3
        assert otel_b.total("pixverse.submits", **{"pixverse.submit.outcome": "accepted"}) == 2
        assert otel_a.total("pixverse.status_polls") == 0
        # the slots are back once the jobs ended
        assert [p.value for p in otel_a.points("pixverse.slots.in_use")] in ([0], [])
        assert isinstance(a.receiver, WebhookReceiver) and b.receiver.statistics().received == 5
    finally:
        for otel in (otel_a, otel_b):
            otel.tracer_provider.shutdown()
            otel.meter_provider.shutdown()
