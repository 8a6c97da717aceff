"""The one seam between the SDK and the network: ``send(Request) -> Response``.

:class:`AiohttpTransport` owns (or borrows) the client's single aiohttp session, adds the
headers every PixVerse request needs, and turns whatever comes back into either a
:class:`Response` (ErrCode 0) or a typed exception:

- both envelope spellings, ``ErrCode/ErrMsg/Resp`` and ``err_code/err_msg/resp``, on any status;
- HTTP 429 → :class:`RateLimitError` with ``retry_after``;
- bodies that are not JSON (proxy error pages) → :class:`ServerError` (5xx) or :class:`APIError`;
- connection failures → :class:`APIConnectionError`, timeouts → :class:`APITimeoutError`.

It never retries; ``_retry`` decides that.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp

from ._config import Limits, Timeouts
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    ClientClosedError,
    RateLimitError,
    ServerError,
    error_for_code,
)


class ApiKey(str):
    """The API key: sent as is, but its ``repr`` never shows it.

    Tracebacks with locals (pytest ``--showlocals``, rich, error reporters) print the ``repr``
    of every local and attribute, e.g. the headers of a failed request.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "'<API key>'"


@dataclass(frozen=True)
class Request:
    """One logical API request. Retries resend it unchanged, trace id included.

    Args:
        method: ``"GET"`` or ``"POST"``.
        path: path below the base URL, e.g. ``"/video/modify/generate"``.
        trace_id: the ``Ai-trace-id`` (fixed for every attempt of this request).
        json: JSON body of a POST.
        params: query string of a GET.
        form: builds the multipart body of an upload afresh for each attempt.
        read_timeout: overrides :attr:`Timeouts.read` (uploads of large files).
    """

    method: Literal["GET", "POST"]
    path: str
    trace_id: str
    json: Mapping[str, Any] | None = None
    params: Mapping[str, str | int] | None = None
    form: Callable[[], aiohttp.FormData] | None = None
    read_timeout: float | None = None


@dataclass(frozen=True)
class Response:
    """A successful answer: ``Resp`` of an ErrCode-0 envelope."""

    data: Any
    http_status: int
    trace_id: str


class Transport(Protocol):
    """What the client needs from the network layer (tests may provide their own)."""

    async def send(self, request: Request) -> Response: ...

    async def aclose(self) -> None: ...


def parse_envelope(status: int, body: bytes, trace_id: str, retry_after: float | None) -> Response:
    """Turn an HTTP answer into a :class:`Response` or raise the matching :class:`APIError`."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        doc = None
    if not isinstance(doc, dict) or not ({"ErrCode", "err_code"} & doc.keys()):
        if status == 429:
            raise RateLimitError(
                "rate limited (HTTP 429)",
                retry_after=retry_after,
                http_status=429,
                trace_id=trace_id,
            )
        snippet = body[:80].decode("utf-8", "replace").strip()
        message = f"HTTP {status} with a body that is not a PixVerse envelope: {snippet!r}"
        cls = ServerError if status >= 500 or status == 200 else APIError
        raise cls(message, http_status=status, trace_id=trace_id)
    upper = "ErrCode" in doc
    code: Any = doc.get("ErrCode" if upper else "err_code")
    data: Any = doc.get("Resp" if upper else "resp")
    text = str(doc.get("ErrMsg" if upper else "err_msg") or "")
    if not isinstance(code, int):
        raise ServerError(
            f"malformed envelope: ErrCode is {code!r}", http_status=status, trace_id=trace_id
        )
    if status == 429:
        raise RateLimitError(
            text or "rate limited",
            retry_after=retry_after,
            code=code,
            http_status=status,
            trace_id=trace_id,
            body=data,
        )
    if code != 0:
        cls = error_for_code(code, status)
        raise cls(
            text or f"ErrCode {code}", code=code, http_status=status, trace_id=trace_id, body=data
        )
    if status != 200:
        cls = error_for_code(-1, status)
        raise cls(f"HTTP {status} with ErrCode 0", code=0, http_status=status, trace_id=trace_id)
    return Response(data=data, http_status=status, trace_id=trace_id)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds; fractions accepted)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP date: rare for APIs, and the backoff takes over
    return max(0.0, seconds)


class AiohttpTransport:
    """:class:`Transport` over one pooled :class:`aiohttp.ClientSession`.

    Args:
        api_key: sent as the ``API-KEY`` header; never logged or shown.
        base_url: e.g. ``https://app-api.pixverse.ai/openapi/v2``.
        timeouts: per-attempt timeouts.
        limits: connection-pool settings (ignored for a borrowed session).
        user_agent: the ``User-Agent`` header.
        session: a session to borrow instead of creating one; it is never closed here.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        timeouts: Timeouts,
        limits: Limits,
        user_agent: str,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._api_key = ApiKey(api_key)
        self._base_url = base_url.rstrip("/")
        self._timeouts = timeouts
        self._default_timeout = self._make_timeout(timeouts.read)  # reused by most requests
        self._limits = limits
        self._user_agent = user_agent
        self._session = session
        self._owns_session = session is None
        self._closed = False

    def __repr__(self) -> str:
        return f"<AiohttpTransport {self._base_url}>"

    @property
    def session(self) -> aiohttp.ClientSession:
        """The session, created on first use inside the running event loop."""
        if self._closed:
            raise ClientClosedError("the client is closed; create a new AsyncPixVerse")
        if self._session is None:
            limits = self._limits
            connector = aiohttp.TCPConnector(
                limit=limits.max_connections,
                limit_per_host=limits.max_connections_per_host,
                keepalive_timeout=limits.keepalive_timeout,
                ttl_dns_cache=limits.dns_cache_ttl,
                use_dns_cache=True,
            )
            self._session = aiohttp.ClientSession(connector=connector, raise_for_status=False)
        return self._session

    def _timeout(self, request: Request) -> aiohttp.ClientTimeout:
        if request.read_timeout is None:
            return self._default_timeout
        return self._make_timeout(request.read_timeout)

    def _make_timeout(self, read: float | None) -> aiohttp.ClientTimeout:
        t = self._timeouts
        return aiohttp.ClientTimeout(
            total=t.total,
            connect=t.pool,  # aiohttp's "connect" is the wait for a pooled connection + connecting
            sock_connect=t.connect,
            sock_read=read,
        )

    async def send(self, request: Request) -> Response:
        session = self.session
        headers = {
            "API-KEY": self._api_key,
            "Ai-trace-id": request.trace_id,
            "User-Agent": self._user_agent,
        }
        kwargs: dict[str, Any] = {
            "headers": headers,
            "timeout": self._timeout(request),
            # the API never redirects, and aiohttp would forward API-KEY to any host it is
            # sent to; a borrowed session's raise_for_status would hide the error envelope
            "allow_redirects": False,
            "raise_for_status": False,
        }
        if request.form is not None:
            kwargs["data"] = request.form()
        elif request.json is not None:
            kwargs["json"] = request.json
        if request.params is not None:
            kwargs["params"] = dict(request.params)
        url = self._base_url + request.path
        try:
            async with session.request(request.method, url, **kwargs) as r:
                body = await r.read()
                status = r.status
                retry_after = parse_retry_after(r.headers.get("Retry-After"))
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise APITimeoutError(
                f"{request.method} {request.path} timed out ({type(exc).__name__})",
                trace_id=request.trace_id,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            if self._closed:
                raise ClientClosedError("the client was closed during the request") from None
            raise APIConnectionError(
                f"{request.method} {request.path} failed: {type(exc).__name__}: {exc}",
                trace_id=request.trace_id,
            ) from None
        return parse_envelope(status, body, request.trace_id, retry_after)

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one stays open). Idempotent."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
