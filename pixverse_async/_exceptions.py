"""Every error class the SDK defines, under one root.

Each class is defined in this module unless a ``[file]`` tag names the module that defines it
(``[_batch.py]`` is ``pixverse_async._batch``...). A builtin in parentheses is a second base,
so ``except ValueError`` or ``except TimeoutError`` catches that class too. All are exported
from ``pixverse_async`` but :class:`~pixverse_async.webhooks.WebhookVerificationError`, which
``pixverse_async.webhooks`` exports.

::

    PixVerseError
    ├── ClientClosedError                 the client was used after aclose()
    ├── ConfigurationError (ValueError)   no API key, bad base URL or option
    ├── RequestValidationError (ValueError)   bad input caught before any I/O (names the field)
    │   └── BatchValidationError [_batch.py] (ValueError)   items of a finite batch are
    │                                     invalid (``errors``); nothing was submitted
    ├── APIConnectionError                could not reach the API / connection dropped
    │   └── APITimeoutError (TimeoutError)    connect or read timeout
    ├── APIError                          an error answer (code, HTTP status, trace id)
    │   ├── AuthenticationError           400012, HTTP 401/403, 10001-10005
    │   ├── InvalidRequestError           400011/400013/400017/400018/400019/400032, image
    │   │   │                             checks (500030-500033, 500042), 500064 (source deleted)
    │   │   └── InvalidInputError         701002/701003 (mimic subject checks)
    │   ├── NotFoundError                 500008
    │   ├── PermissionDeniedError         500020/500060/500070/500071
    │   ├── ConcurrencyLimitError         500044 (the slot limiter's signal, never retried blindly)
    │   ├── InsufficientCreditsError      500090
    │   ├── ModerationError               500052/500054/500063 (input refused by moderation)
    │   ├── RateLimitError                HTTP 429 (``retry_after`` seconds)
    │   ├── ServerBusyError               500069
    │   └── ServerError                   500100, 99999, 500041, HTTP 5xx, non-JSON answers
    ├── JobError                          a job ended badly (carries the last status snapshot)
    │   ├── JobFailedError                status 8
    │   ├── JobModeratedError             status 7 (output filtered; credits refunded)
    │   ├── JobDeletedError               status 6
    │   └── JobTimeoutError (TimeoutError)    the local wait deadline passed; the job goes on
    ├── BatchStoppedError [_batch.py]     an item was not submitted: the batch stopped
    │                                     submitting (credit budget or balance)
    ├── CoordinationError [_redis.py]     Redis (``redis_url``) cannot be reached at start
    │                                     (the URL is named, its password redacted)
    ├── JournalError [_journal.py]        the journal cannot do what was asked (closed, in
    │   │                                 use, unknown key, illegal transition)
    │   ├── JournalMismatchError [_journal.py]    written for other input than this run's
    │   └── JournalCorruptError [_journal.py]     not a readable journal (not SQLite, foreign
    │                                             tables, unknown schema)
    └── WebhookVerificationError [webhooks.py]    a delivery is not genuine or not well formed
                                          (``reason``); answer it with HTTP 401 (or 400)

Outside the tree, a programming mistake raises a plain builtin: ``ValueError`` for an invalid
value given to a policy object (``Timeouts``, ``RetryPolicy``, ``Limits``, ``PollPolicy``), a
``SlotLimiter`` built directly (the client turns it into ``ConfigurationError``), a batch
(``workers``), a webhook verifier (an empty secret), a ``FormPart`` or a ``Journal`` method (a
media or upload kind), and for a download of a result that has no URL; ``TypeError`` from
``request_hash`` on params JSON cannot encode; ``RuntimeError`` for ``job.result()`` or
``job.exception()`` before the job ended, a batch iterated outside ``async with``, or the
FastAPI dependency on an app without ``pixverse_lifespan``. A request model called directly,
not through ``build()``, raises pydantic's ``ValidationError``. The CLI's private
``_CliError`` never leaves ``pixverse_async.cli`` (it becomes a message and an exit code).

No error message, ``repr`` or attribute ever contains the API key or a Redis password.
"""

from __future__ import annotations

from typing import Any


class PixVerseError(Exception):
    """Root of every error raised by ``pixverse_async``."""


class ClientClosedError(PixVerseError):
    """The client was used after :meth:`AsyncPixVerse.aclose`."""


class ConfigurationError(PixVerseError, ValueError):
    """The client cannot be built as asked (e.g. no API key)."""


class RequestValidationError(PixVerseError, ValueError):
    """A request failed local validation; nothing was sent and nothing was charged.

    Attributes:
        field: the offending field (dotted path), when there is one.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class APIConnectionError(PixVerseError):
    """The request did not get an answer (connection refused, reset, DNS, TLS...).

    Attributes:
        trace_id: the ``Ai-trace-id`` of the request, for support and safe retries.
    """

    def __init__(self, message: str, *, trace_id: str | None = None) -> None:
        super().__init__(message)
        self.trace_id = trace_id


class APITimeoutError(APIConnectionError, TimeoutError):
    """Connecting or reading took longer than the configured timeout."""


class APIError(PixVerseError):
    """The API answered with an error.

    Attributes:
        code: the ErrCode (``None`` for an HTTP error without an envelope).
        message: the server's ErrMsg, or a description of the HTTP failure.
        http_status: the HTTP status of the answer.
        trace_id: the request's ``Ai-trace-id`` (quote it to PixVerse support).
        body: the parsed ``Resp`` / ``resp`` when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int = 200,
        trace_id: str | None = None,
        body: Any = None,
    ) -> None:
        self.code = code
        self.message = message
        self.http_status = http_status
        self.trace_id = trace_id
        self.body = body
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [self.message]
        if self.code is not None:
            parts.append(f"ErrCode {self.code}")
        parts.append(f"HTTP {self.http_status}")
        if self.trace_id:
            parts.append(f"trace id {self.trace_id}")
        return f"{parts[0]} ({', '.join(parts[1:])})"

    def __reduce__(self) -> tuple[Any, ...]:
        state = (self.code, self.http_status, self.trace_id, self.body)
        return (_rebuild_api_error, (type(self), self.message, state))


def _rebuild_api_error(cls: type[APIError], message: str, state: tuple[Any, ...]) -> APIError:
    code, http_status, trace_id, body = state
    err = cls.__new__(cls)
    APIError.__init__(
        err, message, code=code, http_status=http_status, trace_id=trace_id, body=body
    )
    return err


class AuthenticationError(APIError):
    """The API key was refused (400012, HTTP 401/403)."""


class InvalidRequestError(APIError):
    """The server refused the request's parameters; fix the request, do not retry it."""


class InvalidInputError(InvalidRequestError):
    """The inputs do not suit the feature (mimic: no clear subject / no person)."""


class NotFoundError(APIError):
    """No such job or object for this account (500008)."""


class PermissionDeniedError(APIError):
    """Not allowed for this account or template (500020/500060/500070/500071)."""


class ConcurrencyLimitError(APIError):
    """The account's concurrent-generation limit was reached (500044); nothing was created."""


class InsufficientCreditsError(APIError):
    """The account's credits do not cover the job (500090); nothing was charged."""


class ModerationError(APIError):
    """An input failed content moderation (500052/500054/500063)."""


class RateLimitError(APIError):
    """HTTP 429.

    Attributes:
        retry_after: seconds the server asked to wait (``None`` if it did not say).
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class ServerBusyError(APIError):
    """The system is under high load (500069); retried with backoff."""


class ServerError(APIError):
    """The server failed (500100, 99999, HTTP 5xx, an answer that is not JSON)."""


class JobError(PixVerseError):
    """A generation job did not succeed.

    Attributes:
        job_id: the video_id / image_id.
        status: the last status seen.
        snapshot: the last status response (a ``VideoResult`` / ``ImageResult`` or ``None``).
    """

    def __init__(
        self, message: str, *, job_id: int, status: int | None, snapshot: Any = None
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.status = status
        self.snapshot = snapshot


class JobFailedError(JobError):
    """The job ended in status 8 (generation failed; credits refunded)."""


class JobModeratedError(JobError):
    """The job ended in status 7 (output failed moderation; credits refunded)."""


class JobDeletedError(JobError):
    """The job's video was deleted (status 6)."""


class JobTimeoutError(JobError, TimeoutError):
    """The local deadline passed before the job finished. The job keeps running server-side."""


#: ErrCode -> exception class (reference section 10.1)
ERROR_CODES: dict[int, type[APIError]] = {
    400011: InvalidRequestError,
    400012: AuthenticationError,
    400013: InvalidRequestError,
    400017: InvalidRequestError,
    400018: InvalidRequestError,
    400019: InvalidRequestError,
    400032: InvalidRequestError,
    500008: NotFoundError,
    500020: PermissionDeniedError,
    500030: InvalidRequestError,
    500031: InvalidRequestError,
    500032: InvalidRequestError,
    500033: InvalidRequestError,
    500041: ServerError,
    500042: InvalidRequestError,
    500044: ConcurrencyLimitError,
    500052: ModerationError,
    500054: ModerationError,
    500060: PermissionDeniedError,
    500063: ModerationError,
    500064: InvalidRequestError,
    500069: ServerBusyError,
    500070: PermissionDeniedError,
    500071: PermissionDeniedError,
    500090: InsufficientCreditsError,
    500100: ServerError,
    99999: ServerError,
    701002: InvalidInputError,
    701003: InvalidInputError,
    **dict.fromkeys(range(10001, 10006), AuthenticationError),
}


def error_for_code(code: int, http_status: int) -> type[APIError]:
    """The exception class for an ErrCode (unknown codes: by HTTP status, else APIError)."""
    if code in ERROR_CODES:
        return ERROR_CODES[code]
    if http_status in (401, 403):
        return AuthenticationError
    if http_status >= 500:
        return ServerError
    return APIError
