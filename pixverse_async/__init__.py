"""pixverse_async: an asyncio SDK for the PixVerse Platform API, with a local emulator.

    async with AsyncPixVerse() as client:                 # key from PIXVERSE_API_KEY
        job = await client.video.modify(video_media_id=..., prompt="...", quality="540p")
        result = await job.wait(timeout=600)

The emulator lives in :mod:`pixverse_async.emulator`; request and response models in
:mod:`pixverse_async.types`.

Importing the package is cheap: the pydantic models load with the first client, batches and
their SQLite journal on first use (``pixverse_async.Batch`` and friends are resolved then).
"""

from typing import TYPE_CHECKING, Any

from ._client import AsyncPixVerse
from ._config import Limits, PollPolicy, RedisPolicy, RetryPolicy, Timeouts
from ._constants import BASE_URL_CN, BASE_URL_INTL
from ._endpoints import KINDS
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientClosedError,
    ConcurrencyLimitError,
    ConfigurationError,
    InsufficientCreditsError,
    InvalidInputError,
    InvalidRequestError,
    JobDeletedError,
    JobError,
    JobFailedError,
    JobModeratedError,
    JobTimeoutError,
    ModerationError,
    NotFoundError,
    PermissionDeniedError,
    PixVerseError,
    RateLimitError,
    RequestValidationError,
    ServerBusyError,
    ServerError,
)
from ._jobs import ImageJob, Job, VideoJob
from ._limiter import Clock, Limiter, LimiterStatistics, Slot, SlotLimiter
from ._polling import PollStatistics
from ._redis import CoordinationError, RedisLimiter
from ._transport import AiohttpTransport, FormPart, Request, Response, Transport, parse_envelope
from ._version import __version__

if TYPE_CHECKING:
    from ._batch import (
        Batch,
        BatchEvent,
        BatchItem,
        BatchStoppedError,
        BatchSummary,
        BatchValidationError,
        ItemOutcome,
    )
    from ._journal import (
        Journal,
        JournalCorruptError,
        JournalError,
        JournalMismatchError,
        JournalRecord,
    )

#: names whose modules load on first use (batches, and their SQLite journal)
_LAZY = {
    **dict.fromkeys(
        (
            "Batch",
            "BatchEvent",
            "BatchItem",
            "BatchStoppedError",
            "BatchSummary",
            "BatchValidationError",
            "ItemOutcome",
        ),
        "._batch",
    ),
    **dict.fromkeys(
        ("Journal", "JournalCorruptError", "JournalError", "JournalMismatchError", "JournalRecord"),
        "._journal",
    ),
}


#: subpackages that were attributes after ``import pixverse_async`` while it imported them
_SUBMODULES = frozenset({"types", "resources", "webhooks"})


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module("." + name, __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # once: later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BASE_URL_CN",
    "BASE_URL_INTL",
    "KINDS",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AiohttpTransport",
    "AsyncPixVerse",
    "AuthenticationError",
    "Batch",
    "BatchEvent",
    "BatchItem",
    "BatchStoppedError",
    "BatchSummary",
    "BatchValidationError",
    "ClientClosedError",
    "Clock",
    "ConcurrencyLimitError",
    "ConfigurationError",
    "CoordinationError",
    "FormPart",
    "ImageJob",
    "InsufficientCreditsError",
    "InvalidInputError",
    "InvalidRequestError",
    "ItemOutcome",
    "Job",
    "JobDeletedError",
    "JobError",
    "JobFailedError",
    "JobModeratedError",
    "JobTimeoutError",
    "Journal",
    "JournalCorruptError",
    "JournalError",
    "JournalMismatchError",
    "JournalRecord",
    "Limiter",
    "LimiterStatistics",
    "Limits",
    "ModerationError",
    "NotFoundError",
    "PermissionDeniedError",
    "PixVerseError",
    "PollPolicy",
    "PollStatistics",
    "RateLimitError",
    "RedisLimiter",
    "RedisPolicy",
    "Request",
    "RequestValidationError",
    "Response",
    "RetryPolicy",
    "ServerBusyError",
    "ServerError",
    "Slot",
    "SlotLimiter",
    "Timeouts",
    "Transport",
    "VideoJob",
    "__version__",
    "parse_envelope",
]
