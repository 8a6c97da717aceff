"""The one seam between the SDK and the network: :class:`Transport`.

Everything the client sends goes through two methods of its transport:

- ``send(Request) -> Response``: one attempt of one API call. A :class:`Request` is plain
  data (method, path, trace id, and a JSON body, a query string or a :class:`FormPart`
  multipart body), so it can be resent unchanged by the retry layer;
- ``download(url)``: the chunks of a public result file (no API key).

:class:`AiohttpTransport`, the default, owns (or borrows) the client's single aiohttp session,
adds the headers every PixVerse request needs, and turns whatever comes back into either a
:class:`Response` (ErrCode 0) or a typed exception:

- both envelope spellings, ``ErrCode/ErrMsg/Resp`` and ``err_code/err_msg/resp``, on any status;
- HTTP 429 → :class:`RateLimitError` with ``retry_after``;
- bodies that are not JSON (proxy error pages) → :class:`ServerError` (5xx) or :class:`APIError`;
- connection failures → :class:`APIConnectionError`, timeouts → :class:`APITimeoutError`.

It never retries; ``_retry`` decides that, from the exception type.

Writing your own transport
--------------------------
Pass any object with ``send``, ``download`` and ``aclose`` (see :class:`Transport`; no base
class is needed, and nothing here requires aiohttp) as ``AsyncPixVerse(transport=...)``: an
in-memory fake for tests, or another HTTP stack (httpx, a corporate proxy client). The client
then never creates an aiohttp session. Such a transport must:

- send ``API-KEY`` (give your transport the key yourself: the client adds no headers, and
  hands its ``api_key`` only to the default transport), the request's ``trace_id`` as
  ``Ai-trace-id``, and the JSON body, query string or multipart
  body of the :class:`Request` (see :class:`FormPart` for how each part is sent; URL uploads
  are multipart too, the API takes nothing else);
- build the body afresh on every call: a retry calls ``send`` again with the same request;
- turn an HTTP answer into a :class:`Response` or an exception with :func:`parse_envelope`
  (public for this reuse; :func:`parse_retry_after` reads a ``Retry-After`` header);
- raise :class:`APIConnectionError` when the request may not have arrived or the answer was
  lost, and :class:`APITimeoutError` on timeouts: these two are what the retry layer resends
  (with the same trace id, which makes resending a billable POST safe).

A minimal test fake answers from a dict and never touches a socket::

    class FakeTransport:
        async def send(self, request: Request) -> Response:
            return Response(data={"credit_monthly": 10, "credit_package": 0},
                            http_status=200, trace_id=request.trace_id)

        async def download(self, url: str) -> AsyncIterator[bytes]:
            yield b"file bytes"

        async def aclose(self) -> None:
            pass
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, Protocol, cast

import aiohttp
from aiohttp.payload import IOBasePayload

from ._config import Limits, Timeouts
from ._constants import DOWNLOAD_CHUNK_BYTES
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
class FormPart:
    """One part of a ``multipart/form-data`` body, described without any HTTP library.

    A transport sends each kind of ``value`` this way, on every attempt:

    - ``str``: a plain form field (e.g. ``image_url``); it has no filename, offset or size;
    - ``bytes``: a file part with these bytes;
    - :class:`~pathlib.Path`: a file part streamed from that file, opened afresh for each
      attempt (and closed after it), never read whole into memory;
    - a binary file object (``IO[bytes]``): the caller's seekable file, a file part streamed
      from ``offset`` for ``size`` bytes. Each attempt seeks back to ``offset`` first, so a
      retry resends the same bytes. The transport never closes it: it belongs to the caller.

    A file part without a ``filename`` is sent with ``name`` as its filename (the API tells a
    file from a field by the filename).

    Args:
        name: the form field name, e.g. ``"image"``, ``"file"`` or ``"image_url"``.
        value: the field text, or the file content as bytes, a path or a file object.
        filename: the file name sent in the part's ``Content-Disposition``.
        content_type: the part's ``Content-Type`` (default: the HTTP stack's choice).
        offset: file objects only: where the content starts in the file.
        size: file objects only: bytes to send from ``offset`` (default: up to the end).

    Raises:
        ValueError: a negative offset or size, or an offset or size on a value other than
            a file object, or a filename on a plain field.
    """

    name: str
    value: str | bytes | Path | IO[bytes]
    filename: str | None = None
    content_type: str | None = None
    offset: int = 0
    size: int | None = None

    def __post_init__(self) -> None:
        if self.offset < 0 or (self.size is not None and self.size < 0):
            raise ValueError(f"FormPart {self.name!r}: offset and size must be 0 or more")
        if isinstance(self.value, (str, bytes, Path)) and (self.offset or self.size is not None):
            raise ValueError(f"FormPart {self.name!r}: offset and size apply to file objects")
        if isinstance(self.value, str) and self.filename is not None:
            raise ValueError(f"FormPart {self.name!r}: a str value is a plain field, not a file")


@dataclass(frozen=True)
class Request:
    """One logical API request. Retries resend it unchanged, trace id included.

    It is plain data: a transport builds the HTTP request from it afresh on every attempt.
    At most one of ``json``, ``params`` and ``multipart`` is set.

    Args:
        method: ``"GET"`` or ``"POST"``.
        path: path below the base URL, e.g. ``"/account/balance"``.
        trace_id: the ``Ai-trace-id`` (fixed for every attempt of this request).
        json: JSON body of a POST.
        params: query string of a GET.
        multipart: the ``multipart/form-data`` body of an upload (see :class:`FormPart`). It is
            sent as multipart even when every part is a plain field (URL uploads): the API
            takes nothing else on its upload endpoints.
        read_timeout: overrides :attr:`Timeouts.read` (uploads of large files).
    """

    method: Literal["GET", "POST"]
    path: str
    trace_id: str
    json: Mapping[str, Any] | None = None
    params: Mapping[str, str | int] | None = None
    multipart: tuple[FormPart, ...] | None = None
    read_timeout: float | None = None


@dataclass(frozen=True)
class Response:
    """A successful answer: ``Resp`` of an ErrCode-0 envelope.

    Args:
        data: the envelope's ``Resp`` (usually a dict), as decoded from JSON.
        http_status: the HTTP status (200).
        trace_id: the request's ``Ai-trace-id``.
    """

    data: Any
    http_status: int
    trace_id: str


class Transport(Protocol):
    """What the client needs from the network layer; see the module docs for a custom one.

    The client calls ``send`` once per attempt (the retry layer decides about more), iterates
    ``download`` for :meth:`AsyncPixVerse.download`, and awaits ``aclose`` once when it closes.
    """

    async def send(self, request: Request) -> Response:
        """Send one attempt of ``request`` and return the ErrCode-0 answer.

        Raises:
            APIError: (a subclass for) the API's error answer; :func:`parse_envelope` picks it.
            APIConnectionError: the request failed or its answer was lost (retried).
            APITimeoutError: the attempt timed out (retried).
        """
        ...

    def download(self, url: str) -> AsyncIterator[bytes]:
        """The body of a public file (a result URL) as chunks; no API key is sent.

        Usually an async generator (``async def`` with ``yield``). Redirects may be followed.
        The caller may stop iterating early; then it closes the iterator (``aclose``) if the
        iterator has that method.

        Raises:
            APIConnectionError: an answer other than HTTP 200, a failed transfer, or a body
                shorter than its ``Content-Length``.
            APITimeoutError: the transfer timed out.
        """
        ...

    async def aclose(self) -> None:
        """Release the transport's connections. Called once, when the client closes."""
        ...


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


class _KeepOpen:
    """A window of the caller's file object as aiohttp sees it: ``size`` bytes from where it
    starts, and everything but ``close`` (the file is theirs, and a retry reads it again)."""

    def __init__(self, file: IO[bytes], start: int, size: int) -> None:
        self._file = file
        self._end = start + size
        self._pos = file.seek(start)

    def read(self, size: int = -1) -> bytes:
        # aiohttp reads chunks until the file ends: stop at the window's end instead, so a
        # part never runs past the size its Content-Length announced
        left = max(0, self._end - self._pos)
        data = self._file.read(left if size < 0 else min(size, left))
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        self._pos = self._file.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """aiohttp closes what it sent; the caller's file must stay open."""


class _CallersFilePayload(IOBasePayload):
    """Streams a window of the caller's file object, leaving the file open."""

    def __init__(self, file: IO[bytes], *, start: int, size: int, content_type: str) -> None:
        super().__init__(cast(IO[bytes], _KeepOpen(file, start, size)), content_type=content_type)
        self._known_size = size

    @property
    def size(self) -> int:
        return self._known_size


def _form_data(parts: tuple[FormPart, ...]) -> aiohttp.FormData:
    """A fresh aiohttp body for one attempt (re-opening paths, seeking file objects back).

    Blocking file calls (open, seek) are made here on purpose: they are quick local calls,
    and the content itself is read by aiohttp in a worker thread while it streams.
    """
    form = aiohttp.FormData(default_to_multipart=True)  # the API takes multipart only
    for part in parts:
        value = part.value
        if isinstance(value, str):
            form.add_field(part.name, value)
            continue
        payload: Any
        if isinstance(value, bytes):
            payload = value
        elif isinstance(value, Path):
            payload = value.open("rb")  # aiohttp streams it and closes it
        else:
            size = part.size
            if size is None:
                size = max(0, value.seek(0, os.SEEK_END) - part.offset)
            payload = _CallersFilePayload(
                value,
                start=part.offset,
                size=size,
                content_type=part.content_type or "application/octet-stream",
            )
        form.add_field(
            part.name,
            payload,
            filename=part.filename or part.name,
            content_type=part.content_type,
        )
    return form


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
        if request.multipart is not None:
            kwargs["data"] = _form_data(request.multipart)
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

    async def download(self, url: str) -> AsyncIterator[bytes]:
        """Stream a public file (a result URL) in chunks, through the pooled session.

        No API key is sent, so redirects (CDN links use them) are followed. The client's
        :class:`Timeouts` apply: ``read`` bounds each wait for the next bytes.

        Raises:
            APIConnectionError: HTTP status other than 200, a failed or short transfer.
            APITimeoutError: a timeout.
            ClientClosedError: the transport is (or was meanwhile) closed.
        """
        session = self.session
        try:
            async with session.get(
                url,
                headers={"User-Agent": self._user_agent},
                timeout=self._default_timeout,
                allow_redirects=True,
                raise_for_status=False,
            ) as r:
                if r.status != 200:
                    raise APIConnectionError(f"download of {url} answered HTTP {r.status}")
                length = r.content_length
                received = 0
                async for chunk in r.content.iter_chunked(DOWNLOAD_CHUNK_BYTES):
                    received += len(chunk)
                    yield chunk
                # aiohttp raises itself when the connection closes before Content-Length;
                # this is the check for any body that still ends short. A compressed body's
                # Content-Length counts encoded bytes, not the decoded ones counted here.
                identity = r.headers.get("Content-Encoding", "identity") == "identity"
                if length is not None and identity and received != length:
                    raise APIConnectionError(
                        f"download of {url} was short: {received} of {length} bytes"
                    )
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise APITimeoutError(f"download of {url} timed out ({type(exc).__name__})") from None
        except (aiohttp.ClientError, OSError) as exc:
            if self._closed:
                raise ClientClosedError("the client was closed during the download") from None
            raise APIConnectionError(
                f"download of {url} failed: {type(exc).__name__}: {exc}"
            ) from None

    async def aclose(self) -> None:
        """Close the owned session (a borrowed one stays open). Idempotent."""
        if self._closed:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()
