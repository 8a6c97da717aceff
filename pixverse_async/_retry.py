"""Retries: the only module that knows ``backoff``, and the only place that decides what is
retryable.

Retried (with exponential backoff and full jitter, bounded by attempts and elapsed time):
connection errors and timeouts, HTTP 429 (after ``Retry-After`` when given), HTTP 5xx and
non-JSON answers, ErrCodes 500069 / 500100 / 99999 (reference 10.2). 500041 (the server could
not fetch an ``image_url``) is a server error but not in that list: it is not retried.
Throttling answers (429, 500069) do not count toward ``max_retries``: only ``max_elapsed``
bounds them (``max_retries=0`` still turns every retry off).

Never retried: validation and authentication errors, every other ErrCode, and 500044
(:class:`ConcurrencyLimitError`), which goes back to the generation-slot limiter instead.

Every attempt of one :class:`Request` carries the same ``Ai-trace-id``. For a billable POST
whose answer was lost, that is what makes the retry safe: the server recognises the trace id
and returns the job it already created instead of creating (and charging) a second one.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Generator
from typing import Any

import backoff

from ._config import RetryPolicy
from ._exceptions import (
    APIConnectionError,
    PixVerseError,
    RateLimitError,
    ServerBusyError,
    ServerError,
)
from ._transport import Request, Response

logger = logging.getLogger("pixverse_async")

RETRYABLE: tuple[type[PixVerseError], ...] = (
    APIConnectionError,
    RateLimitError,
    ServerBusyError,
    ServerError,
)


#: "not now" answers (HTTP 429, ErrCode 500069): the server did nothing with the request
THROTTLING: tuple[type[PixVerseError], ...] = (RateLimitError, ServerBusyError)

#: server errors that reference 10.2 does not list as retryable
NOT_RETRIED_CODES = frozenset({500041})


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a transient failure worth another attempt with the same trace id."""
    if isinstance(exc, ServerError) and exc.code in NOT_RETRIED_CODES:
        return False
    return isinstance(exc, RETRYABLE)


def _gives_up(exc: Exception) -> bool:
    return not is_retryable(exc)


def _gives_up_throttled(exc: Exception) -> bool:
    return not is_retryable(exc) or isinstance(exc, THROTTLING)


def _waits(policy: RetryPolicy) -> Generator[float, BaseException | None, None]:
    """Backoff delays: ``Retry-After`` when the server gave one, else full-jitter exponential."""
    exc = yield 0.0  # primed by backoff with None
    attempt = 0
    while True:
        retry_after = exc.retry_after if isinstance(exc, RateLimitError) else None
        if retry_after is not None:
            delay = min(retry_after, policy.max_retry_after)
        else:
            ceiling = min(policy.max_backoff, policy.initial_backoff * (2**attempt))
            delay = random.uniform(0, ceiling)
        attempt += 1
        exc = yield delay


def with_retries(
    send: Callable[[Request], Awaitable[Response]],
    policy: RetryPolicy,
    *,
    retry_throttled: bool = True,
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap ``send`` so transient failures are retried per ``policy``.

    Args:
        retry_throttled: retry HTTP 429 and ErrCode 500069 too. The poll scheduler's status
            requests do not: it re-polls anyway, and its budget must hear of the throttling
            to back off (``_polling.PollBudget``).
    """
    give_up = _gives_up if retry_throttled else _gives_up_throttled

    def log_backoff(details: Any) -> None:
        request: Request = details["args"][0]
        exc = details.get("exception")
        logger.debug(
            "retrying %s %s (trace id %s) after attempt %d: %s; waiting %.2fs",
            request.method,
            request.path,
            request.trace_id,
            details["tries"],
            type(exc).__name__,
            details["wait"],
        )

    def log_outcome(details: Any) -> None:
        request: Request = details["args"][0]
        exc = details.get("exception")
        logger.debug(
            "%s %s (trace id %s): %s on attempt %d",
            request.method,
            request.path,
            request.trace_id,
            "succeeded" if exc is None else f"gave up ({type(exc).__name__})",
            details["tries"],
        )

    async def attempt(request: Request, failed: list[PixVerseError], tries: list[int]) -> Response:
        if failed:  # the first attempt, already made outside backoff: replay its failure
            exc = failed.pop()
        else:
            try:
                return await send(request)
            except RETRYABLE as caught:
                exc = caught
        if not isinstance(exc, THROTTLING):
            tries[0] += 1
        raise exc

    def retry(request: Request, first: PixVerseError) -> Awaitable[Response]:
        # Throttling answers (HTTP 429, ErrCode 500069) say "not now", not "failed": the
        # server did nothing, so they do not use up max_retries (only max_elapsed bounds
        # them; max_retries=0 still turns every retry off). A batch on a rate-limited
        # account waits its turn instead of failing items.
        tries = [0]

        def gives_up(exc: Exception) -> bool:
            return give_up(exc) or tries[0] > policy.max_retries

        again: Callable[[Request, list[PixVerseError], list[int]], Awaitable[Response]] = (
            backoff.on_exception(
                _waits,
                RETRYABLE,
                max_tries=None if policy.max_retries else 1,
                max_time=policy.max_elapsed,
                giveup=gives_up,
                jitter=None,
                on_backoff=log_backoff,
                on_success=log_outcome,
                on_giveup=log_outcome,
                raise_on_giveup=True,
                logger=None,
                policy=policy,
            )(attempt)
        )
        return again(request, [first], tries)

    async def send_with_retries(request: Request) -> Response:
        # The first attempt runs outside backoff, whose bookkeeping would be most of the
        # SDK's own cost for the (usual) request that succeeds at once. A retryable failure
        # hands over to backoff as its first try, so waits, attempts and logs are unchanged.
        try:
            response = await send(request)
        except RETRYABLE as exc:
            return await retry(request, exc)
        if logger.isEnabledFor(logging.DEBUG):
            log_outcome({"args": (request,), "tries": 1})
        return response

    return send_with_retries
