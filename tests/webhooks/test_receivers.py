"""The two webhook receivers (aiohttp ``webhook_app``, FastAPI ``webhook_router``) on real sockets.

Every test that is about the receiver contract runs against both: the aiohttp application is
served with an ``AppRunner`` and the FastAPI application (``pixverse_lifespan`` +
``webhook_router``) by uvicorn in-process, both on 127.0.0.1. Deliveries are signed here with
the reference's algorithm (``pixverse_async._signing``) or come from the emulator itself.

The contract (reference 7.3/7.4 and the receivers' docs): read the raw body before parsing;
answer exactly ``ok`` with HTTP 200 for a genuine delivery and for a duplicate (same id and
status), 401 for a bad or missing signature, a stale timestamp or a replayed nonce, 400 for a
malformed body, 413 for a body over 64 KiB, 500 when ``on_event`` raised (so it is delivered
again); and a refused delivery never changes any job.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI, Request

from pixverse_async import AsyncPixVerse, JobFailedError, PollPolicy
from pixverse_async._constants import ENV_API_KEY, ENV_BASE_URL, ENV_WEBHOOK_SECRET
from pixverse_async._signing import signature, urlencoded_payload
from pixverse_async.emulator import AccountConfig, Emulator, EmulatorConfig, Fixed, WebhookConfig
from pixverse_async.fastapi import (
    STATE_CLIENT,
    STATE_RECEIVER,
    PixVerseClient,
    pixverse_lifespan,
    webhook_router,
)
from pixverse_async.webhooks import WebhookEvent, WebhookReceiver, webhook_app

pytestmark = pytest.mark.anyio

SECRET = "whsec-receivers-test-0001"
KEY = "pv-receivers-test-key-0001"
PATH = "/hooks/pixverse"
MAX_BODY = 65_536  # "64 KiB" in the receivers' docs
KINDS = ("aiohttp", "fastapi")
# webhook mode; the first fallback poll would come 30 s after a job's expected end, so within
# these tests every job is ended by a delivery (or by nothing)
POLL = PollPolicy(interval=0.05, jitter=0.1, max_rps=None, webhook_fallback=30.0)


# -- deliveries -------------------------------------------------------------------------------


def event(video_id: int | str = 123456789, status: int = 1, **extra: Any) -> dict[str, Any]:
    """A delivery payload with the reference's keys in the reference's order (7.2)."""
    ok = status == 1
    return {
        "id": str(video_id),
        "status": status,
        "url": "https://example.com/video.mp4" if ok else "",
        "size": 10.5 if ok else 0,
        "has_audio": True,
        "credits": 100 if ok else 0,
        **extra,
    }


def signed(
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: float | str | None = None,
    nonce: str | None = None,
    sort_keys: bool = False,
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a delivery of ``payload`` signed like the reference (7.3)."""
    ts = str(int(time.time())) if timestamp is None else str(timestamp)
    nonce = nonce or secrets.token_hex(16)
    sig = signature(secret, ts, nonce, urlencoded_payload(payload, sort_keys=sort_keys))
    headers = {
        "Content-Type": "application/json",
        "Webhook-Timestamp": ts,
        "Webhook-Nonce": nonce,
        "Webhook-Signature": sig,
    }
    return headers, json.dumps(payload).encode()


def fresh_headers() -> dict[str, str]:
    """Well-formed, current headers whose signature matches nothing (for malformed bodies)."""
    headers, _ = signed(event())
    return headers


# -- serving both receivers -------------------------------------------------------------------


def loopback_socket() -> socket.socket:
    """A bound loopback socket, so a receiver's URL is known before it (or the emulator) starts."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def dummy_client() -> AsyncPixVerse:
    """A webhook-mode client that never sends a request in these tests."""
    return AsyncPixVerse(KEY, base_url="http://127.0.0.1:9/openapi/v2", webhooks=True, poll=POLL)


@dataclass
class Served:
    url: str  # the webhook endpoint
    origin: str
    receiver: WebhookReceiver
    client: AsyncPixVerse
    app: FastAPI | None = None


@dataclass
class Recorder:
    """An ``on_event`` callback that records events and raises ``failures`` times first."""

    failures: int = 0
    calls: list[WebhookEvent] = field(default_factory=list)
    done: list[WebhookEvent] = field(default_factory=list)

    async def __call__(self, event: WebhookEvent) -> None:
        self.calls.append(event)
        await asyncio.sleep(0)
        if self.failures:
            self.failures -= 1
            raise RuntimeError("the database is down")
        self.done.append(event)


@asynccontextmanager
async def serve_uvicorn(app: FastAPI, sock: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` with uvicorn in this event loop on ``sock`` (lifespan on)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", lifespan="on", log_level="warning", log_config=None
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "uvicorn did not start (lifespan failed?)"
            await asyncio.sleep(0.005)
        yield
    finally:
        server.should_exit = True
        await task


def fastapi_app(
    make_client: Callable[[], AsyncPixVerse] | None,
    *,
    secret: str | None = SECRET,
    on_event: Recorder | None = None,
) -> FastAPI:
    app = FastAPI(lifespan=pixverse_lifespan(make_client, webhook_secret=secret, on_event=on_event))
    app.include_router(webhook_router(path=PATH))

    @app.get("/whoami")
    async def whoami(request: Request, client: PixVerseClient) -> dict[str, Any]:
        return {
            "lifespan_client": client is getattr(request.app.state, STATE_CLIENT),
            "webhooks": client.webhooks,
            "closed": client.closed,
        }

    @app.post("/render")
    async def render(prompt: str, client: PixVerseClient) -> dict[str, Any]:
        job = await client.video.text_to_video(
            prompt=prompt, model="v5", duration=5, quality="360p", aspect_ratio="16:9"
        )
        result = await job.wait(timeout=10)  # ended by the delivery to this same app
        return {"id": job.id, "status": result.status, "url": result.url}

    return app


@asynccontextmanager
async def receiver_server(
    kind: str,
    *,
    make_client: Callable[[], AsyncPixVerse] = dummy_client,
    on_event: Recorder | None = None,
    sock: socket.socket | None = None,
) -> AsyncIterator[Served]:
    """Serve one receiver of ``kind`` (its client from ``make_client``) on a loopback socket."""
    sock = sock or loopback_socket()
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        if kind == "aiohttp":
            async with make_client() as client:
                receiver = WebhookReceiver(SECRET, client=client, on_event=on_event)
                runner = web.AppRunner(webhook_app(receiver, path=PATH), access_log=None)
                await runner.setup()
                await web.SockSite(runner, sock).start()
                try:
                    yield Served(origin + PATH, origin, receiver, client)
                finally:
                    await runner.cleanup()
        else:
            app = fastapi_app(make_client, on_event=on_event)
            async with serve_uvicorn(app, sock):
                receiver = getattr(app.state, STATE_RECEIVER)
                client = getattr(app.state, STATE_CLIENT)
                assert isinstance(receiver, WebhookReceiver) and isinstance(client, AsyncPixVerse)
                yield Served(origin + PATH, origin, receiver, client, app)
            assert client.closed  # the lifespan closed it at shutdown
    finally:
        sock.close()


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # a connection per request: uvicorn closes a connection after the app raised (500)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
        yield session


@pytest.fixture
async def served(kind: str, recorder: Recorder) -> AsyncIterator[Served]:
    async with receiver_server(kind, on_event=recorder) as s:
        yield s


async def post(
    http: aiohttp.ClientSession, url: str, headers: dict[str, str], body: Any
) -> tuple[int, bytes]:
    async with http.post(url, data=body, headers=headers) as r:
        return r.status, await r.read()


async def raw_post(url: str, header_lines: list[bytes], body: bytes) -> tuple[int, bytes]:
    """POST with raw header bytes (aiohttp's client only sends str headers)."""
    origin, path = url.split("/", 3)[2], "/" + url.split("/", 3)[3]
    host, port = origin.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = [
        f"POST {path} HTTP/1.1".encode(),
        f"Host: {origin}".encode(),
        b"Content-Type: application/json",
        f"Content-Length: {len(body)}".encode(),
        b"Connection: close",
        *header_lines,
    ]
    writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# -- the contract, for both receivers ---------------------------------------------------------


async def test_a_genuine_delivery_is_answered_exactly_ok(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    headers, body = signed(event(987654321, 1))
    assert await post(http, served.url, headers, body) == (200, b"ok")
    assert [(e.id, e.status, e.url, e.size) for e in recorder.done] == [
        (987654321, 1, "https://example.com/video.mp4", 10.5)
    ]
    stats = served.receiver.statistics()
    assert (stats.received, stats.accepted, stats.duplicates, stats.errors) == (1, 1, 0, 0)
    assert stats.rejected == {}


async def test_keys_in_sorted_order_are_accepted(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    # the reference's body order, signed over the key-sorted pairs
    headers, body = signed(event(1001, 1), sort_keys=True)
    assert await post(http, served.url, headers, body) == (200, b"ok")
    # a body whose keys are sorted, signed over its own (sorted) order
    payload = dict(sorted(event(1002, 1).items()))
    headers, body = signed(payload)
    assert body.startswith(b'{"credits"')
    assert await post(http, served.url, headers, body) == (200, b"ok")
    # neither the body's order nor the sorted one: refused
    reordered = dict(reversed(list(event(1003, 1).items())))
    headers, _ = signed(event(1003, 1))
    status, _ = await post(http, served.url, headers, json.dumps(reordered).encode())
    assert status == 401
    assert [e.id for e in recorder.done] == [1001, 1002]


def _tampered() -> tuple[dict[str, str], bytes]:
    headers, body = signed(event(555, 1))
    return headers, body.replace(b'"credits": 100', b'"credits": 1')


def _without(name: str) -> tuple[dict[str, str], bytes]:
    headers, body = signed(event(555, 1))
    del headers[name]
    return headers, body


REFUSED_401: dict[str, tuple[Callable[[], tuple[dict[str, str], bytes]], str]] = {
    "tampered body": (_tampered, "bad_signature"),
    "wrong secret": (lambda: signed(event(555, 1), secret="whsec-not-ours"), "bad_signature"),
    "stale timestamp": (
        lambda: signed(event(555, 1), timestamp=int(time.time()) - 301),
        "stale",
    ),
    "future timestamp": (
        # well past the 300 s window: the check runs later than this line (a loaded machine
        # took over a second), which brings a future timestamp closer
        lambda: signed(event(555, 1), timestamp=int(time.time()) + 330),
        "stale",
    ),
    "timestamp not a number": (lambda: signed(event(555, 1), timestamp="soon"), "bad_timestamp"),
    "no Webhook-Timestamp": (lambda: _without("Webhook-Timestamp"), "missing_header"),
    "no Webhook-Nonce": (lambda: _without("Webhook-Nonce"), "missing_header"),
    "no Webhook-Signature": (lambda: _without("Webhook-Signature"), "missing_header"),
}


@pytest.mark.parametrize("case", list(REFUSED_401))
async def test_unauthentic_deliveries_get_401(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession, case: str
) -> None:
    make, reason = REFUSED_401[case]
    headers, body = make()
    status, text = await post(http, served.url, headers, body)
    assert status == 401 and text != b"ok"
    stats = served.receiver.statistics()
    assert stats.rejected == {reason: 1} and stats.accepted == 0
    assert recorder.calls == []


async def test_a_replayed_nonce_gets_401(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    headers, body = signed(event(777, 1))
    assert await post(http, served.url, headers, body) == (200, b"ok")
    # the very same request again
    status, _ = await post(http, served.url, headers, body)
    assert status == 401
    # the same nonce on another (correctly signed) delivery
    other_headers, other_body = signed(event(778, 8), nonce=headers["Webhook-Nonce"])
    status, _ = await post(http, served.url, other_headers, other_body)
    assert status == 401
    assert served.receiver.statistics().rejected == {"replayed": 2}
    assert [e.id for e in recorder.calls] == [777]


def _signed_body(payload: dict[str, Any]) -> tuple[dict[str, str], bytes]:
    return signed(payload)


MALFORMED_400: dict[str, Callable[[], tuple[dict[str, str], bytes]]] = {
    "not JSON": lambda: (fresh_headers(), b"id=1&status=1"),
    "empty body": lambda: (fresh_headers(), b""),
    "JSON array": lambda: (fresh_headers(), b'[{"id": "1", "status": 1}]'),
    "JSON string": lambda: (fresh_headers(), b'"ok"'),
    "nested value": lambda: _signed_body({**event(1, 1), "url": {"href": "x"}}),
    "list value": lambda: _signed_body({**event(1, 1), "url": ["x"]}),
    "null value": lambda: _signed_body({**event(1, 1), "url": None}),
    "missing id": lambda: _signed_body({k: v for k, v in event(1, 1).items() if k != "id"}),
    "missing status": lambda: _signed_body({k: v for k, v in event(1, 1).items() if k != "status"}),
    "id not a number": lambda: _signed_body(event("abc", 1)),
}


@pytest.mark.parametrize("case", list(MALFORMED_400))
async def test_malformed_bodies_get_400(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession, case: str
) -> None:
    headers, body = MALFORMED_400[case]()
    status, text = await post(http, served.url, headers, body)
    assert status == 400 and text != b"ok"
    stats = served.receiver.statistics()
    assert stats.rejected == {"malformed": 1} and stats.accepted == 0
    assert recorder.calls == []


# Bodies that make the verifier raise something other than WebhookVerificationError: both
# receivers answer 500 (and log a traceback) instead of 400. They need no secret to send.
CRASHERS: dict[str, Callable[[], tuple[dict[str, str], bytes]]] = {
    # WebhookVerifier.verify decodes the body (UnicodeDecodeError) before its try/except
    "body not UTF-8": lambda: (fresh_headers(), b'{"id": "1", "status": 1, "url": "\xff"}'),
    # json.loads raises RecursionError (not a ValueError) on deep nesting, under 64 KiB
    "deeply nested JSON": lambda: (fresh_headers(), b"[" * 30_000 + b"]" * 30_000),
}


@pytest.mark.parametrize("case", list(CRASHERS))
async def test_undecodable_bodies_get_400_not_500(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession, case: str
) -> None:
    headers, body = CRASHERS[case]()
    status, _ = await post(http, served.url, headers, body)
    assert status == 400, f"{case}: HTTP {status}"
    assert served.receiver.statistics().rejected == {"malformed": 1}
    assert recorder.calls == []


async def test_a_signed_event_with_a_huge_id_gets_400_not_500(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    # _coerce_id's int() raises ValueError past 4300 digits, outside the ValidationError catch
    headers, body = signed(event("9" * 5000, 1))
    status, _ = await post(http, served.url, headers, body)
    assert status == 400, f"HTTP {status}"
    assert recorder.calls == []


async def test_a_signature_header_with_non_utf8_bytes_gets_401(
    served: Served, recorder: Recorder
) -> None:
    headers, body = signed(event(4242, 1))
    lines = [
        f"Webhook-Timestamp: {headers['Webhook-Timestamp']}".encode(),
        f"Webhook-Nonce: {headers['Webhook-Nonce']}".encode(),
        b"Webhook-Signature: \xff" + headers["Webhook-Signature"].encode(),
    ]
    status, _ = await raw_post(served.url, lines, body)
    # aiohttp decodes header bytes with surrogateescape; ``given.encode()`` in the verifier
    # then raises UnicodeEncodeError -> 500
    assert status == 401, f"HTTP {status}"
    assert served.receiver.statistics().rejected == {"bad_signature": 1}
    assert recorder.calls == []


async def test_bodies_over_64_kib_get_413(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    # exactly 64 KiB, genuine: accepted
    base = len(json.dumps(event(31, 1, pad="")).encode())
    headers, body = signed(event(31, 1, pad="x" * (MAX_BODY - base)))
    assert len(body) == MAX_BODY
    assert await post(http, served.url, headers, body) == (200, b"ok")
    # one byte more, with a Content-Length
    headers, body = signed(event(32, 1, pad="x" * (MAX_BODY - base + 1)))
    assert len(body) == MAX_BODY + 1
    status, _ = await post(http, served.url, headers, body)
    assert status == 413
    # much more, chunked (no Content-Length)
    headers, body = signed(event(33, 1, pad="x" * (3 * MAX_BODY)))

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    status, _ = await post(http, served.url, headers, chunks())
    assert status == 413
    assert [e.id for e in recorder.calls] == [31]
    assert served.receiver.statistics().accepted == 1


async def test_a_duplicate_is_answered_ok_and_ignored(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    for _ in range(3):  # the same (id, status), each time a fresh nonce and signature
        headers, body = signed(event(4711, 1))
        assert await post(http, served.url, headers, body) == (200, b"ok")
    # another status of the same job is a different event
    headers, body = signed(event(4711, 8))
    assert await post(http, served.url, headers, body) == (200, b"ok")
    assert [(e.id, e.status) for e in recorder.calls] == [(4711, 1), (4711, 8)]
    stats = served.receiver.statistics()
    assert (stats.received, stats.accepted, stats.duplicates) == (4, 2, 2)


async def test_concurrent_duplicates_call_on_event_once(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    deliveries = [signed(event(4712, 1)) for _ in range(5)]
    replies = await asyncio.gather(*(post(http, served.url, h, b) for h, b in deliveries))
    assert replies == [(200, b"ok")] * 5
    assert [e.id for e in recorder.calls] == [4712]
    assert served.receiver.statistics().duplicates == 4


async def test_on_event_raising_answers_500_and_the_redelivery_is_processed(
    served: Served, recorder: Recorder, http: aiohttp.ClientSession
) -> None:
    recorder.failures = 1
    headers, body = signed(event(5150, 1))
    status, text = await post(http, served.url, headers, body)
    assert status == 500 and text != b"ok"
    # PixVerse delivers again: same body, fresh timestamp, nonce and signature
    headers, body = signed(event(5150, 1))
    assert await post(http, served.url, headers, body) == (200, b"ok")
    # after a success, it is a duplicate again
    headers, body = signed(event(5150, 1))
    assert await post(http, served.url, headers, body) == (200, b"ok")
    assert [e.id for e in recorder.calls] == [5150, 5150]
    assert [e.id for e in recorder.done] == [5150]
    stats = served.receiver.statistics()
    assert (stats.accepted, stats.errors, stats.duplicates) == (1, 1, 1)


# -- with the emulator and a real client ------------------------------------------------------


def emulator_config(url: str, *, job_seconds: float) -> EmulatorConfig:
    account = AccountConfig(
        api_key=KEY,
        concurrency=10,
        credit_package=10**6,
        webhooks=(WebhookConfig(1, url, SECRET, default=True),),
    )
    # time_scale: the emulator's first redelivery comes 20 ms after a failed attempt, not 2 s
    return EmulatorConfig(
        accounts=(account,), job_duration=Fixed(job_seconds), seed=11, time_scale=100
    )


def emulator_client(emu: Emulator) -> Callable[[], AsyncPixVerse]:
    return lambda: AsyncPixVerse(KEY, base_url=emu.base_url, webhooks=True, poll=POLL)


async def submit(client: AsyncPixVerse, prompt: str) -> Any:
    return await client.video.text_to_video(
        prompt=prompt, model="v5", duration=5, quality="360p", aspect_ratio="16:9"
    )


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_the_emulators_deliveries_resolve_waiting_jobs(
    kind: str, http: aiohttp.ClientSession
) -> None:
    sock = loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
    recorder = Recorder(failures=1)  # the first on_event fails: that delivery is retried
    async with (
        Emulator(emulator_config(url, job_seconds=0.2)) as emu,
        receiver_server(kind, make_client=emulator_client(emu), on_event=recorder, sock=sock) as s,
    ):
        jobs = [await submit(s.client, f"take {i}") for i in range(3)]
        failing = await submit(s.client, "[emulator:fail] take 3")
        # every wait starts before the deliveries arrive (a later wait: see the next test)
        *results, failed_outcome = await asyncio.gather(
            *(job.wait(timeout=10) for job in [*jobs, failing]), return_exceptions=True
        )
        assert isinstance(failed_outcome, JobFailedError), failed_outcome
        ids = {job.id for job in [*jobs, failing]}
        await until(lambda: {e.id for e in recorder.done} == ids)
        await until(lambda: emu.stats()["webhook_deliveries_ok"] == 4)  # recorded after the reply
        poller = s.client.poll_statistics()
        stats = s.receiver.statistics()
        async with http.get(emu.origin + "/_emulator/webhooks") as r:
            recorded = (await r.json())["deliveries"]
        emu_stats = emu.stats()
        truth = {job.id: await s.client.video.result(job.id) for job in jobs}

    assert [(r.status, r.url) for r in results] == [(1, truth[j.id].url) for j in jobs]
    assert poller.resolved_externally == 4 and poller.resolved_by_poll == 0
    assert emu_stats["status_polls"] == 0  # before the three result() calls above
    assert (stats.accepted, stats.resolved, stats.errors, stats.rejected) == (4, 4, 1, {})
    # the emulator saw exactly ``ok`` for every delivery but the one whose on_event raised,
    # and delivered that one again (fresh nonce), then got ``ok``
    assert recorded == emu.deliveries
    by_job: dict[int, list[dict[str, Any]]] = {}
    for d in recorded:
        by_job.setdefault(d["video_id"], []).append(d)
    assert set(by_job) == ids
    assert all(d[-1]["ok"] and d[-1]["http_status"] == 200 for d in by_job.values())
    failed = [d for d in recorded if not d["ok"]]
    assert [d["http_status"] for d in failed] == [500]
    assert [d["attempt"] for d in by_job[failed[0]["video_id"]]] == [1, 2]
    assert by_job[failing.id][-1]["status"] == 8
    assert emu_stats["webhook_deliveries_ok"] == 4


async def test_a_later_wait_on_a_job_a_delivery_ended_returns_at_once(
    kind: str, http: aiohttp.ClientSession
) -> None:
    """A job ended by a delivery: waiting on it again must not wait for a fallback poll.

    PollScheduler._finish forgets the watch and PollScheduler.resolve keeps the snapshot (in
    ``_early``) only for jobs nobody watched, so a second wait starts a new webhook-mode watch
    whose first poll is ``expected_end + webhook_fallback`` (default 60 s; here 30 s) away.
    """
    sock = loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"

    def make_client() -> AsyncPixVerse:  # no limiter: nothing else keeps the outcome
        return AsyncPixVerse(
            KEY, base_url=emu.base_url, webhooks=True, poll=POLL, max_concurrency=None
        )

    async with (
        Emulator(emulator_config(url, job_seconds=0.1)) as emu,
        receiver_server(kind, make_client=make_client, sock=sock) as s,
    ):
        job = await submit(s.client, "a lighthouse")
        first = await job.wait(timeout=5)  # ended by the delivery
        assert first.status == 1 and s.client.poll_statistics().resolved_externally == 1
        again = await asyncio.wait_for(job.wait(), 2)  # the same handle
        assert again.url == first.url
        reattached = await asyncio.wait_for(s.client.video_job(job.id).wait(), 2)
        assert reattached.url == first.url


async def test_bad_deliveries_never_disturb_waiting_jobs(
    kind: str, http: aiohttp.ClientSession
) -> None:
    sock = loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
    async with (
        # jobs run 30 s unless finished through the emulator's control endpoint
        Emulator(emulator_config(url, job_seconds=30)) as emu,
        receiver_server(kind, make_client=emulator_client(emu), sock=sock) as s,
    ):
        jobs = [await submit(s.client, f"shot {i}") for i in range(4)]
        waits = [asyncio.create_task(job.wait(timeout=15)) for job in jobs]
        await asyncio.sleep(0.05)
        victim = jobs[0].id
        forged = event(victim, 8)
        attempts: list[tuple[str, dict[str, str], Any, set[int]]] = []

        def attempt(name: str, hb: tuple[dict[str, str], Any], *codes: int) -> None:
            attempts.append((name, hb[0], hb[1], set(codes)))

        attempt("forged status 8, wrong secret", signed(forged, secret="guess"), 401)
        attempt("status 8, stale", signed(forged, timestamp=int(time.time()) - 3600), 401)
        h, b = signed(event(victim, 1))
        attempt("tampered to status 8", (h, b.replace(b'"status": 1', b'"status": 8')), 401)
        h, b = signed(forged)
        attempt("no signature", ({k: v for k, v in h.items() if "Sig" not in k}, b), 401)
        attempt("not JSON", (fresh_headers(), b"status=8&id=" + str(victim).encode()), 400)
        attempt("nested", signed({**forged, "url": {"x": 1}}), 400)
        attempt("null", signed({**forged, "url": None}), 400)
        attempt("too large", signed({**forged, "pad": "x" * MAX_BODY}), 413)
        # crash the verifier (see the 400-not-500 tests): refused all the same
        attempt("not UTF-8", (fresh_headers(), b'{"id": "\xff"}'), 400, 500)
        attempt("deep JSON", (fresh_headers(), b"[" * 60_000), 400, 500)
        # a genuine delivery for a job nobody waits on, then its replay and a duplicate
        genuine = signed(event(1, 8))
        attempt("genuine, unknown job", genuine, 200)
        attempt("replayed nonce", genuine, 401)
        attempt("duplicate, fresh nonce", signed(event(1, 8)), 200)

        for name, headers, body, codes in attempts:
            status, _ = await post(http, s.url, headers, body)
            assert status in codes, f"{name}: HTTP {status}"
        await asyncio.sleep(0.05)
        assert not any(w.done() for w in waits)
        assert s.client.poll_statistics().resolved_externally == 0

        # now the jobs really end; the emulator delivers
        for job in jobs:
            async with http.post(f"{emu.origin}/_emulator/jobs/{job.id}", json={"status": 1}) as r:
                assert r.status == 200
        results = await asyncio.gather(*waits)
        await until(lambda: emu.stats()["webhook_deliveries_ok"] == 4)  # recorded after the reply
        truth = {job.id: await s.client.video.result(job.id) for job in jobs}
        poller = s.client.poll_statistics()
        stats = s.receiver.statistics()
        deliveries = list(emu.deliveries)

    assert all(r.status == 1 and r.url and r.url == truth[r.id].url for r in results)
    assert [r.id for r in results] == [job.id for job in jobs]
    assert poller.resolved_externally == 4 and poller.resolved_by_poll == 0
    assert stats.accepted == 5 and stats.resolved == 4 and stats.duplicates == 1
    assert stats.rejected.get("bad_signature") == 2 and stats.rejected.get("replayed") == 1
    assert sorted((d["video_id"], d["ok"]) for d in deliveries) == sorted(
        (j.id, True) for j in jobs
    )


# -- FastAPI specifics ------------------------------------------------------------------------


async def test_fastapi_client_dependency_and_shutdown(
    http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="asyncio")
    sock = loopback_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}{PATH}"
    async with (
        Emulator(emulator_config(url, job_seconds=0.1)) as emu,
        receiver_server("fastapi", make_client=emulator_client(emu), sock=sock) as s,
    ):
        async with http.get(s.origin + "/whoami") as r:
            assert r.status == 200
            assert await r.json() == {"lifespan_client": True, "webhooks": True, "closed": False}
        # a handler that submits a job and waits: the delivery to this app's router ends it
        async with http.post(s.origin + "/render", params={"prompt": "a harbour"}) as r:
            assert r.status == 200, await r.text()
            rendered = await r.json()
        assert rendered["status"] == 1 and rendered["url"]
        assert s.client.poll_statistics().resolved_externally == 1
        assert emu.stats()["status_polls"] == 0
        app = s.app
    assert app is not None
    assert s.client.closed
    assert getattr(app.state, STATE_CLIENT) is None and getattr(app.state, STATE_RECEIVER) is None
    del s, app
    gc.collect()
    assert not [r for r in caplog.records if "Unclosed" in r.getMessage()]


async def test_fastapi_router_without_a_secret_is_404(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_WEBHOOK_SECRET, raising=False)
    monkeypatch.setenv(ENV_API_KEY, KEY)
    monkeypatch.setenv(ENV_BASE_URL, "http://127.0.0.1:9/openapi/v2")
    app = fastapi_app(None, secret=None)  # the default client, no secret anywhere
    explicit = WebhookReceiver(SECRET)
    app.include_router(webhook_router(path="/explicit", receiver=explicit))
    sock = loopback_socket()
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with serve_uvicorn(app, sock):
            client = getattr(app.state, STATE_CLIENT)
            assert getattr(app.state, STATE_RECEIVER) is None
            headers, body = signed(event(9, 1))
            status, _ = await post(http, origin + PATH, headers, body)
            assert status == 404
            async with http.get(origin + "/whoami") as r:
                assert (await r.json())["webhooks"] is False  # polled, not webhook mode
            # a router given its own receiver works without the lifespan's secret
            assert await post(http, origin + "/explicit", headers, body) == (200, b"ok")
    finally:
        sock.close()
    assert explicit.statistics().accepted == 1
    assert client.closed


async def test_fastapi_secret_from_the_environment(
    http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_WEBHOOK_SECRET, SECRET)
    monkeypatch.setenv(ENV_API_KEY, KEY)
    monkeypatch.setenv(ENV_BASE_URL, "http://127.0.0.1:9/openapi/v2")
    app = FastAPI(lifespan=pixverse_lifespan())
    app.include_router(webhook_router())
    sock = loopback_socket()
    origin = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with serve_uvicorn(app, sock):
            client = getattr(app.state, STATE_CLIENT)
            assert client.webhooks is True
            headers, body = signed(event(10, 1))
            assert await post(http, origin + "/pixverse/webhook", headers, body) == (200, b"ok")
            headers, body = signed(event(10, 1), secret="whsec-other")
            status, _ = await post(http, origin + "/pixverse/webhook", headers, body)
            assert status == 401
    finally:
        sock.close()
    assert client.closed
