"""Throttling answers (HTTP 429, ErrCode 500069) do not use up ``RetryPolicy.max_retries``: the
server did nothing, so a request waits its turn (bounded by ``max_elapsed``) instead of
failing; failures still count, and ``max_retries=0`` still turns retrying off."""

from __future__ import annotations

import pytest

from pixverse_async import RateLimitError, RetryPolicy, ServerBusyError, ServerError
from pixverse_async._retry import with_retries
from pixverse_async._transport import Request, Response

pytestmark = pytest.mark.anyio

POLICY = RetryPolicy(max_retries=1, initial_backoff=0.001, max_backoff=0.002, max_elapsed=30)


def scripted(answers: list[BaseException | None]) -> tuple[list[int], object]:
    """A send that raises each of ``answers`` in turn (``None``: succeeds)."""
    calls: list[int] = []

    async def send(request: Request) -> Response:
        calls.append(1)
        answer = answers[len(calls) - 1]
        if answer is not None:
            raise answer
        return Response(data={}, http_status=200, trace_id=request.trace_id)

    return calls, send


def throttled() -> RateLimitError:
    return RateLimitError("Too many requests", http_status=429, retry_after=0.001)


def failed() -> ServerError:
    return ServerError("HTTP 502", http_status=502)


REQUEST = Request("GET", "/account/balance", "trace-0001")


async def test_throttling_answers_do_not_use_up_the_retries() -> None:
    busy = ServerBusyError("busy", code=500069)
    calls, send = scripted([throttled(), throttled(), busy, throttled(), throttled(), None])
    response = await with_retries(send, POLICY)(REQUEST)  # type: ignore[arg-type]
    assert response.http_status == 200 and len(calls) == 6


async def test_failures_still_count_between_throttling_answers() -> None:
    calls, send = scripted([throttled(), failed(), throttled(), failed(), None])
    with pytest.raises(ServerError):
        await with_retries(send, POLICY)(REQUEST)  # type: ignore[arg-type]
    assert len(calls) == 4  # the second failure is one more than max_retries=1 allows


async def test_no_retries_means_none_for_throttling_either() -> None:
    calls, send = scripted([throttled(), None])
    policy = RetryPolicy(max_retries=0)
    with pytest.raises(RateLimitError):
        await with_retries(send, policy)(REQUEST)  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_throttling_is_bounded_by_the_elapsed_time() -> None:
    calls, send = scripted([throttled()] * 10_000)
    policy = RetryPolicy(max_retries=1, initial_backoff=0.001, max_elapsed=0.2)
    with pytest.raises(RateLimitError):
        await with_retries(send, policy)(REQUEST)  # type: ignore[arg-type]
    assert 2 < len(calls) < 10_000
