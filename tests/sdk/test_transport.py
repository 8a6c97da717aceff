"""Transport and retry layers against the emulator over real sockets."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import pytest

from pixverse_async._config import Limits, RetryPolicy, Timeouts
from pixverse_async._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    ConcurrencyLimitError,
    InsufficientCreditsError,
    InvalidInputError,
    InvalidRequestError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerBusyError,
    ServerError,
)
from pixverse_async._retry import with_retries
from pixverse_async._transport import AiohttpTransport, Request, parse_envelope, parse_retry_after
from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
)

pytestmark = pytest.mark.anyio

KEY = "pv-test-transport-key-0123456789"
T2V = {"prompt": "a fox", "model": "v5", "duration": 5, "quality": "540p", "aspect_ratio": "16:9"}
FAST_RETRY = RetryPolicy(max_retries=4, initial_backoff=0.001, max_backoff=0.01, max_elapsed=10)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    config = EmulatorConfig(
        accounts=(AccountConfig(api_key=KEY, concurrency=2),), job_duration=Fixed(5.0), seed=3
    )
    async with Emulator(config) as emulator:
        yield emulator


@pytest.fixture
async def transport(emu: Emulator) -> AsyncIterator[AiohttpTransport]:
    t = AiohttpTransport(
        api_key=KEY,
        base_url=emu.base_url,
        timeouts=Timeouts(read=2.0),
        limits=Limits(),
        user_agent="pixverse-async-tests",
    )
    yield t
    await t.aclose()


def post(path: str, body: dict[str, object], trace: str | None = None) -> Request:
    return Request("POST", path, trace or str(uuid.uuid4()), json=body)


# -- envelope parsing (pure) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "expected", "code"),
    [
        (
            200,
            b'{"ErrCode": 400012, "ErrMsg": "Invalid account", "Resp": null}',
            AuthenticationError,
            400012,
        ),
        (200, b'{"ErrCode": 400017, "ErrMsg": "bad", "Resp": null}', InvalidRequestError, 400017),
        (
            200,
            b'{"ErrCode": 500044, "ErrMsg": "limit", "Resp": null}',
            ConcurrencyLimitError,
            500044,
        ),
        (200, b'{"ErrCode": 500069, "ErrMsg": "busy", "Resp": null}', ServerBusyError, 500069),
        (200, b'{"ErrCode": 500070, "ErrMsg": "tpl", "Resp": null}', PermissionDeniedError, 500070),
        (500, b'{"err_code": 500052, "err_msg": "review", "resp": "x"}', ModerationError, 500052),
        (500, b'{"err_code": 500100, "err_msg": "db", "resp": null}', ServerError, 500100),
        (502, b"<html>502 Bad Gateway</html>", ServerError, None),
        (403, b"forbidden", APIError, None),
        (200, b'{"ErrCode": 123456, "ErrMsg": "new", "Resp": null}', APIError, 123456),
    ],
)
def test_envelope_errors(
    status: int, body: bytes, expected: type[APIError], code: int | None
) -> None:
    with pytest.raises(expected) as info:
        parse_envelope(status, body, "trace-1", None)
    assert type(info.value) is expected
    assert info.value.code == code
    assert info.value.http_status == status
    assert info.value.trace_id == "trace-1"
    assert "trace-1" in str(info.value)


def test_envelope_success_and_429() -> None:
    ok = parse_envelope(
        200, b'{"ErrCode": 0, "ErrMsg": "Success", "Resp": {"video_id": 9}}', "t", None
    )
    assert ok.data == {"video_id": 9}
    with pytest.raises(RateLimitError) as info:
        parse_envelope(429, b'{"ErrCode": 500069, "ErrMsg": "slow down", "Resp": null}', "t", 1.5)
    assert info.value.retry_after == 1.5
    assert parse_retry_after("2") == 2.0 and parse_retry_after("0.25") == 0.25
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None


# -- over the wire ------------------------------------------------------------------------------


async def test_headers_and_success(transport: AiohttpTransport, emu: Emulator) -> None:
    response = await transport.send(Request("GET", "/account/balance", "trace-balance"))
    assert response.data["credit_monthly"] > 0
    assert response.trace_id == "trace-balance"


async def test_wrong_key_is_authentication_error(emu: Emulator) -> None:
    t = AiohttpTransport(
        api_key="pv-wrong-key-xxxxxxxxxxxx",
        base_url=emu.base_url,
        timeouts=Timeouts(),
        limits=Limits(),
        user_agent="t",
    )
    try:
        with pytest.raises(AuthenticationError) as info:
            await t.send(Request("GET", "/account/balance", "t1"))
        assert "pv-wrong-key" not in str(info.value) and "pv-wrong-key" not in repr(info.value)
    finally:
        await t.aclose()


async def test_accepted_then_lost_retry_makes_one_job(
    transport: AiohttpTransport, emu: Emulator
) -> None:
    emu.set_faults(
        FaultPlan(rules=(FaultRule(FaultKind.ACCEPTED_THEN_LOST, count=2, path="/generate"),))
    )
    send = with_retries(transport.send, FAST_RETRY)
    response = await send(post("/video/text/generate", T2V))
    stats = emu.stats()
    assert stats["jobs_created"] == 1
    assert stats["duplicate_generations"] == 0
    assert stats["dedup_hits"] == 1  # the retry that got through was answered from the first job
    assert stats["credits_charged"] == 45
    assert response.data["video_id"] > 2**53


@pytest.mark.parametrize("then", ["http_502", "http_500", "slow"])
async def test_lost_answers_of_every_kind_are_retried_safely(emu: Emulator, then: str) -> None:
    emu.set_faults(
        FaultPlan(
            rules=(
                FaultRule(
                    FaultKind.ACCEPTED_THEN_LOST, count=1, then=then, delay=0.5, path="/generate"
                ),
            )
        )
    )  # type: ignore[arg-type]
    t = AiohttpTransport(
        api_key=KEY,
        base_url=emu.base_url,
        timeouts=Timeouts(read=0.1),
        limits=Limits(),
        user_agent="t",
    )
    try:
        await with_retries(t.send, FAST_RETRY)(post("/video/text/generate", T2V))
    finally:
        await t.aclose()
    stats = emu.stats()
    assert (stats["jobs_created"], stats["duplicate_generations"], stats["dedup_hits"]) == (1, 0, 1)


async def test_fresh_trace_id_after_loss_would_pay_twice(
    transport: AiohttpTransport, emu: Emulator
) -> None:
    """The negative control: what the same-trace-id rule protects against."""
    emu.set_faults(
        FaultPlan(rules=(FaultRule(FaultKind.ACCEPTED_THEN_LOST, count=1, path="/generate"),))
    )
    with pytest.raises(APIConnectionError):
        await transport.send(post("/video/text/generate", T2V))
    await transport.send(post("/video/text/generate", T2V))
    assert emu.stats()["duplicate_generations"] == 1


@pytest.mark.parametrize(
    "kind",
    [
        FaultKind.RESET,
        FaultKind.HTTP_502,
        FaultKind.HTTP_503,
        FaultKind.HTTP_500,
        FaultKind.BUSY,
        FaultKind.DB_ERROR,
        FaultKind.UNKNOWN_ERROR,
    ],
)
async def test_transient_faults_are_retried(
    transport: AiohttpTransport, emu: Emulator, kind: FaultKind
) -> None:
    emu.set_faults(FaultPlan(rules=(FaultRule(kind, count=2),)))
    response = await with_retries(transport.send, FAST_RETRY)(
        Request("GET", "/account/balance", "t")
    )
    assert response.data["credit_package"] > 0
    assert emu.stats()["requests_total"] == 3


async def test_permanent_errors_are_not_retried(transport: AiohttpTransport, emu: Emulator) -> None:
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.PERMISSION, count=5),)))
    with pytest.raises(PermissionDeniedError):
        await with_retries(transport.send, FAST_RETRY)(Request("GET", "/account/balance", "t"))
    assert emu.stats()["requests_total"] == 1


async def test_500044_is_not_retried(transport: AiohttpTransport, emu: Emulator) -> None:
    send = with_retries(transport.send, FAST_RETRY)
    await send(post("/video/text/generate", T2V))
    await send(post("/video/text/generate", {**T2V, "prompt": "b"}))
    with pytest.raises(ConcurrencyLimitError):
        await send(post("/video/text/generate", {**T2V, "prompt": "c"}))
    assert emu.stats()["rejected_500044"] == 1


async def test_rate_limit_honours_retry_after(transport: AiohttpTransport, emu: Emulator) -> None:
    emu.set_faults(FaultPlan(rate_limit_rps=1.0, retry_after=0.05))
    send = with_retries(transport.send, FAST_RETRY)
    await send(Request("GET", "/account/balance", "a"))  # takes the only token
    with pytest.raises(RateLimitError) as info:
        await transport.send(Request("GET", "/account/balance", "b"))
    assert info.value.retry_after == 0.05
    emu.set_faults(FaultPlan(rate_limit_rps=20.0, retry_after=0.05))
    for _ in range(25):  # the bucket empties; 429s are retried after Retry-After
        await send(Request("GET", "/account/balance", str(uuid.uuid4())))
    assert emu.stats()["rate_limited"] >= 2


async def test_retries_give_up_after_max_retries(
    transport: AiohttpTransport, emu: Emulator
) -> None:
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.HTTP_503),)))
    with pytest.raises(ServerError):
        await with_retries(transport.send, RetryPolicy(max_retries=2, initial_backoff=0.001))(
            Request("GET", "/account/balance", "t")
        )
    assert emu.stats()["requests_total"] == 3


async def test_read_timeout_is_api_timeout(emu: Emulator) -> None:
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.SLOW, delay=0.5),)))
    t = AiohttpTransport(
        api_key=KEY,
        base_url=emu.base_url,
        timeouts=Timeouts(read=0.05),
        limits=Limits(),
        user_agent="t",
    )
    try:
        with pytest.raises(APITimeoutError) as info:
            await t.send(Request("GET", "/account/balance", "slow-trace"))
        assert isinstance(info.value, TimeoutError) and info.value.trace_id == "slow-trace"
    finally:
        await t.aclose()


async def test_connection_refused_is_connection_error() -> None:
    t = AiohttpTransport(
        api_key=KEY,
        base_url="http://127.0.0.1:9/openapi/v2",
        timeouts=Timeouts(),
        limits=Limits(),
        user_agent="t",
    )
    try:
        with pytest.raises(APIConnectionError):
            await t.send(Request("GET", "/account/balance", "t"))
    finally:
        await t.aclose()


async def test_closed_transport_refuses(transport: AiohttpTransport) -> None:
    await transport.aclose()
    with pytest.raises(ClientClosedError):
        await transport.send(Request("GET", "/account/balance", "t"))


async def test_retry_logs_never_contain_the_key(
    transport: AiohttpTransport, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pixverse_async")
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.HTTP_503, count=1),)))
    await with_retries(transport.send, FAST_RETRY)(Request("GET", "/account/balance", "t"))
    assert any("retrying" in r.getMessage() for r in caplog.records)
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert KEY not in repr(transport)


REFERENCE_CATEGORIES = {
    **dict.fromkeys((400011, 400013, 400017, 400018, 400019, 400032), InvalidRequestError),
    **dict.fromkeys((500030, 500031, 500032, 500033, 500042, 500064), InvalidRequestError),
    400012: AuthenticationError,
    500008: NotFoundError,
    **dict.fromkeys((500020, 500060, 500070, 500071), PermissionDeniedError),
    500044: ConcurrencyLimitError,
    500090: InsufficientCreditsError,
    **dict.fromkeys((500052, 500054, 500063), ModerationError),
    500069: ServerBusyError,
    **dict.fromkeys((500041, 500100, 99999), ServerError),
    **dict.fromkeys((701002, 701003), InvalidInputError),
    **dict.fromkeys(range(10001, 10006), AuthenticationError),
}


@pytest.mark.parametrize(("code", "expected"), sorted(REFERENCE_CATEGORIES.items()))
def test_every_reference_errcode_maps_to_its_category(code: int, expected: type[APIError]) -> None:
    body = f'{{"ErrCode": {code}, "ErrMsg": "m", "Resp": null}}'.encode()
    with pytest.raises(APIError) as info:
        parse_envelope(200, body, "t", None)
    assert type(info.value) is expected
    assert info.value.code == code


@pytest.mark.parametrize("status", [401, 403])
def test_http_401_403_are_authentication_errors(status: int) -> None:
    body = b'{"ErrCode": 1, "ErrMsg": "no", "Resp": null}'
    with pytest.raises(AuthenticationError):
        parse_envelope(status, body, "t", None)


async def test_debug_log_names_the_attempt(
    transport: AiohttpTransport, emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="pixverse_async")
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.HTTP_503, count=1),)))
    await with_retries(transport.send, FAST_RETRY)(Request("GET", "/account/balance", "tr-7"))
    lines = [r.getMessage() for r in caplog.records]
    assert any("tr-7" in line and "succeeded on attempt 2" in line for line in lines), lines
