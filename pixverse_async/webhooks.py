"""Receive PixVerse webhook deliveries (reference section 7): verify, then resolve waiting jobs.

With webhooks, a job's result arrives by push instead of status polls. Serve a receiver and
create the client in webhook mode; every verified delivery ends the matching ``job.wait()``
and the poll scheduler stops polling that job (it keeps a slow fallback poll for deliveries
that are lost or late)::

    from pixverse_async import AsyncPixVerse
    from pixverse_async.webhooks import WebhookReceiver, webhook_app

    client = AsyncPixVerse(webhooks=True)
    receiver = WebhookReceiver(secret, client=client)
    app = webhook_app(receiver)              # aiohttp; FastAPI: pixverse_async.fastapi

Lower level, :class:`WebhookVerifier` checks one delivery::

    event = await WebhookVerifier(secret).verify(request.headers, await request.read())
    # event.id (the video_id, int), event.status, event.url, event.size, event.credits

A delivery is genuine when its ``Webhook-Signature`` is the Base64 HMAC-SHA256, keyed with the
account's webhook secret, of ``"{Webhook-Timestamp}\\n{Webhook-Nonce}\\n{payload}"``, where
``payload`` is the JSON body's top-level pairs URL-encoded in the body's key order (the
key-sorted order is accepted too, as the reference asks). The comparison is constant-time; a
timestamp more than ``tolerance`` seconds (default 300) from now, a nonce already seen within
that window, and nested or null values are refused.

Receivers must be idempotent: PixVerse may deliver the same (id, status) more than once;
:class:`WebhookReceiver` answers a duplicate ``ok`` and does nothing else.

Many workers (``uvicorn --workers N``, several hosts) share one account through Redis: give the
client a ``redis_url`` (or set ``$PIXVERSE_REDIS_URL``) and the receiver, by default, keeps its
nonces and the (id, status) pairs it accepted in Redis too, so a nonce replayed to another
worker is refused and a duplicate delivered to another worker is not dispatched twice. A
delivery verified by any worker ends the wait in whichever process holds the job
(:meth:`AsyncPixVerse.deliver_webhook <pixverse_async.AsyncPixVerse.deliver_webhook>`). While
Redis cannot be reached, each receiver uses its own memory and resolves the jobs of its own
process, so deliveries keep being handled (the fallback poll covers the other processes).
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from ._constants import (
    WEBHOOK_DELIVERY_MEMORY,
    WEBHOOK_MAX_BODY,
    WEBHOOK_PATH,
    WEBHOOK_SEEN_EVENTS,
    WEBHOOK_SHARED_RETRY,
    WEBHOOK_TOLERANCE,
)
from ._exceptions import PixVerseError
from ._redis import CoordinationError, RedisNonceStore
from ._signing import signature, urlencoded_payload
from ._telemetry import telemetry_for
from .types._base import ResponseModel

if TYPE_CHECKING:
    # the server side of aiohttp is imported by the two functions that serve HTTP only:
    # importing the package must not pay for it (issue 11)
    from aiohttp import web

    from ._client import AsyncPixVerse

logger = logging.getLogger("pixverse_async.webhooks")

#: seconds a delivery's timestamp may differ from now (reference 7.3)
DEFAULT_TOLERANCE = WEBHOOK_TOLERANCE
_HEADERS = ("Webhook-Timestamp", "Webhook-Nonce", "Webhook-Signature")


class WebhookVerificationError(PixVerseError):
    """A delivery is not genuine or not well formed; answer it with HTTP 401 (or 400).

    Attributes:
        reason: a short machine-readable cause: ``missing_header``, ``bad_timestamp``,
            ``stale``, ``replayed``, ``bad_signature`` or ``malformed``.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class WebhookEvent(ResponseModel):
    """One delivery: a job reached a terminal status.

    ``id`` arrives as a string and is parsed to the int ``video_id``. For statuses 7 and 8
    ``url`` is empty and ``size`` / ``credits`` are 0 (refunded).
    """

    id: int
    status: int
    url: str = ""
    size: int | float = 0
    has_audio: bool = False
    credits: int = 0


class NonceStore(Protocol):
    """Remembers nonces for the tolerance window (a shared store serves many workers).

    :class:`MemoryNonceStore` keeps them in the process; ``RedisNonceStore`` (used by default
    when the receiver's client has a ``redis_url``) shares them. A receiver also keeps its
    accepted (id, status) pairs in one, as ``"{id}:{status}"``.
    """

    async def seen(self, nonce: str, *, expires_at: float, now: float) -> bool:
        """Record ``nonce`` until ``expires_at``; True if it was already recorded and live.

        Checking and recording must be one atomic step (two workers asking at once: only one
        gets False). Times are Unix seconds on the verifier's clock (``now``).
        """
        ...

    async def forget(self, nonce: str) -> None:
        """Remove ``nonce``'s record (undoes a ``seen``; nothing if there is none)."""
        ...


class MemoryNonceStore:
    """A bounded in-process :class:`NonceStore` (oldest entries are dropped first)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries

    async def seen(self, nonce: str, *, expires_at: float, now: float) -> bool:
        return self.check(nonce, expires_at=expires_at, now=now)

    def check(self, nonce: str, *, expires_at: float, now: float) -> bool:
        """:meth:`seen` without awaiting."""
        while self._entries:
            oldest, expiry = next(iter(self._entries.items()))
            if expiry > now and len(self._entries) < self._max:
                break
            del self._entries[oldest]
        if nonce in self._entries:
            return True
        self._entries[nonce] = expires_at
        return False

    async def forget(self, nonce: str) -> None:
        self._entries.pop(nonce, None)


def _unreachable() -> tuple[type[BaseException], ...]:
    """What a shared store raises when it cannot be reached (then a receiver uses memory)."""
    errors: list[type[BaseException]] = [CoordinationError, OSError, asyncio.TimeoutError]
    try:
        import redis.exceptions
    except ImportError:  # pragma: no cover - only a Redis store raises its errors
        pass
    else:
        errors.append(redis.exceptions.RedisError)
    return tuple(errors)


class _Outage:
    """Whether a receiver's shared stores are reachable: logs an outage once, and skips the
    stores for ``WEBHOOK_SHARED_RETRY`` seconds after a failure (no wait per delivery)."""

    def __init__(self) -> None:
        self.down = False
        self._retry_at = 0.0
        self.local_checks = 0  # checks the memory answered alone

    def usable(self) -> bool:
        return not self.down or time.monotonic() >= self._retry_at

    def failed(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + WEBHOOK_SHARED_RETRY
        if not self.down:
            self.down = True
            logger.warning(
                "the shared webhook memory is unreachable (%s): deliveries are checked "
                "against this process's memory and resolve its own jobs until it is back",
                type(exc).__name__,
            )

    def recovered(self) -> None:
        if self.down:
            self.down = False
            logger.info("the shared webhook memory is reachable again")


class _Mirrored:
    """A shared :class:`NonceStore` backed by this process's memory.

    What this process records is kept in memory too (a replay to this process is refused even
    after the shared store forgot it, e.g. a restarted Redis). While the shared store cannot
    be reached the memory alone answers, and forgets that failed are applied once it is back.
    """

    def __init__(
        self, shared: NonceStore, outage: _Outage, local: MemoryNonceStore | None = None
    ) -> None:
        self.shared = shared
        self.local = local if local is not None else MemoryNonceStore()
        self._outage = outage
        self._errors = _unreachable()
        self._unforgotten: set[str] = set()

    async def seen(self, nonce: str, *, expires_at: float, now: float) -> bool:
        if self._outage.usable():
            try:
                for pending in list(self._unforgotten):
                    await self.shared.forget(pending)
                    self._unforgotten.discard(pending)
                elsewhere = await self.shared.seen(nonce, expires_at=expires_at, now=now)
            except self._errors as exc:
                self._outage.failed(exc)
            else:
                self._outage.recovered()
                if elsewhere:  # not recorded here: if its holder forgets it, it is new again
                    return True
                return self.local.check(nonce, expires_at=expires_at, now=now)
        self._outage.local_checks += 1
        return self.local.check(nonce, expires_at=expires_at, now=now)

    async def forget(self, nonce: str) -> None:
        await self.local.forget(nonce)
        self._unforgotten.add(nonce)
        if not self._outage.usable():
            return
        try:
            await self.shared.forget(nonce)
        except self._errors as exc:
            self._outage.failed(exc)
        else:
            self._unforgotten.discard(nonce)
            self._outage.recovered()


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    raise WebhookVerificationError(f"missing header {name}", reason="missing_header")


class WebhookVerifier:
    """Checks deliveries for one webhook secret.

    Args:
        secret: the webhook's secret key (never logged or shown).
        tolerance: seconds a delivery's timestamp may differ from now.
        nonces: where seen nonces are kept (default: in memory).
    """

    def __init__(
        self,
        secret: str,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        nonces: NonceStore | None = None,
    ) -> None:
        if not secret:
            raise ValueError("the webhook secret must not be empty")
        self._secret = secret
        self.tolerance = tolerance
        self.nonces: NonceStore = nonces if nonces is not None else MemoryNonceStore()

    def __repr__(self) -> str:
        return f"<WebhookVerifier tolerance={self.tolerance:g}s>"

    async def verify(
        self, headers: Mapping[str, str], body: bytes | str, *, now: float | None = None
    ) -> WebhookEvent:
        """Return the delivery's event if it is genuine, else raise.

        Asynchronous because the nonce store may be shared (Redis); the nonce is recorded
        only once the signature matched.

        Args:
            headers: the request headers (any case).
            body: the raw request body, exactly as received.
            now: the current Unix time (tests).

        Raises:
            WebhookVerificationError: see its ``reason``.
        """
        timestamp, nonce, given = (_header(headers, name) for name in _HEADERS)
        try:
            sent_at = float(timestamp)
        except ValueError:
            raise WebhookVerificationError(
                "Webhook-Timestamp is not a number", reason="bad_timestamp"
            ) from None
        current = time.time() if now is None else now
        if abs(current - sent_at) > self.tolerance:
            raise WebhookVerificationError(
                f"Webhook-Timestamp is {current - sent_at:+.0f} s from now (over "
                f"{self.tolerance:g} s)",
                reason="stale",
            )
        try:
            raw = body.decode("utf-8") if isinstance(body, bytes) else body
            payload = json.loads(raw)  # dicts keep the body's key order
        except (ValueError, RecursionError):  # not UTF-8, not JSON, or absurdly nested
            raise WebhookVerificationError("the body is not JSON", reason="malformed") from None
        if not isinstance(payload, dict) or any(
            v is None or isinstance(v, (dict, list)) for v in payload.values()
        ):
            raise WebhookVerificationError(
                "the body must be a flat JSON object without nulls", reason="malformed"
            )
        expected = [
            signature(self._secret, timestamp, nonce, urlencoded_payload(payload, sort_keys=s))
            for s in (False, True)
        ]
        # surrogateescape: aiohttp hands undecodable header bytes over as lone surrogates
        given_bytes = given.encode("utf-8", "surrogateescape")
        if not any(hmac.compare_digest(given_bytes, e.encode()) for e in expected):
            raise WebhookVerificationError("the signature does not match", reason="bad_signature")
        if await self.nonces.seen(nonce, expires_at=sent_at + self.tolerance, now=current):
            raise WebhookVerificationError(
                "this nonce was already used (a replayed delivery)", reason="replayed"
            )
        try:
            return WebhookEvent.model_validate(_coerce_id(payload))
        except ValidationError as exc:
            raise WebhookVerificationError(
                f"the payload is not a PixVerse webhook event: {exc.errors()[0]['msg']}",
                reason="malformed",
            ) from None


def _coerce_id(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload's ``id`` is the video_id as a string (reference 7.2)."""
    value = payload.get("id")
    # ids are at most 20 digits; longer strings are left to fail validation (int() of a huge
    # string would raise ValueError instead)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return {**payload, "id": int(value)}
    return payload


@dataclass(frozen=True)
class WebhookReply:
    """What a receiver answers: ``status`` and the plain-text ``body``."""

    status: int
    body: str


@dataclass(frozen=True)
class ReceiverStatistics:
    """Counts of a :class:`WebhookReceiver`'s deliveries.

    Attributes:
        received: deliveries handled.
        accepted: genuine, new (id, status) events dispatched.
        duplicates: genuine deliveries of an (id, status) already accepted (answered ``ok``).
        resolved: accepted events that ended a job a client was waiting on (with Redis:
            events handed to the shared stream, which every client on the account reads).
        rejected: refused deliveries by reason (``bad_signature``, ``stale``, ``malformed``...).
        errors: accepted events whose ``on_event`` callback raised (answered 500: redelivered).
        local_checks: nonce and duplicate checks answered by this process's memory alone
            because the shared store (Redis) could not be reached.
    """

    received: int
    accepted: int
    duplicates: int
    resolved: int
    rejected: dict[str, int]
    errors: int
    local_checks: int = 0


EventCallback = Callable[[WebhookEvent], "Awaitable[None] | None"]


class WebhookReceiver:
    """Verifies deliveries and hands genuine ones to a client; independent of any web framework.

    :meth:`handle` takes a request's headers and raw body and returns the reply to send:

    - genuine and new: ``await client.deliver_webhook(event)`` (the waiting job returns now
      and is no longer polled, in whichever process waits on it when the client shares the
      account through Redis), then ``on_event(event)`` if given; HTTP 200 ``ok``;
    - genuine, but an (id, status) already accepted (by this receiver, or by another worker
      sharing ``deliveries``): HTTP 200 ``ok``, nothing else;
    - bad or missing signature headers, stale timestamp, replayed nonce (replayed to any
      worker sharing ``nonces``): HTTP 401;
    - a body that is not a flat JSON event (or larger than 64 KiB): HTTP 400;
    - ``on_event`` raised: HTTP 500 (PixVerse delivers again later, maybe to another worker,
      which then processes it; the error is logged).

    A refused delivery changes nothing, so it cannot disturb other jobs. While a shared store
    cannot be reached, this process's memory answers in its place (a warning is logged once
    per outage), so deliveries keep being handled.

    Args:
        secret: the webhook's secret key (never logged or shown).
        client: the client whose waiting jobs deliveries resolve (``webhooks=True`` on the
            client also stops it polling them). With a ``redis_url`` it also provides the
            default shared stores (assigning ``receiver.client`` later does too).
        on_event: called with each new event (sync or async), e.g. to update a database.
        tolerance: seconds a delivery's timestamp may differ from now.
        nonces: where seen nonces are kept; default: in Redis when the client has a
            ``redis_url`` (``RedisNonceStore``), else in memory.
        deliveries: where accepted (id, status) pairs are kept (for
            ``WEBHOOK_DELIVERY_MEMORY`` seconds, one day) so that a duplicate delivered to
            another worker is not dispatched again; default: in Redis when the client has a
            ``redis_url``, else none (this receiver's own memory only).
        remember: (id, status) pairs this receiver keeps in memory to ignore duplicates.
    """

    def __init__(
        self,
        secret: str,
        *,
        client: AsyncPixVerse | None = None,
        on_event: EventCallback | None = None,
        tolerance: float = DEFAULT_TOLERANCE,
        nonces: NonceStore | None = None,
        deliveries: NonceStore | None = None,
        remember: int = WEBHOOK_SEEN_EVENTS,
    ) -> None:
        self._memory = MemoryNonceStore()  # this process's nonces, shared store or not
        self.verifier = WebhookVerifier(secret, tolerance=tolerance, nonces=self._memory)
        self._outage = _Outage()
        self._given = (nonces, deliveries)
        self._nonces: NonceStore = self._memory
        self._deliveries: NonceStore | None = None
        self._shared_deliveries: NonceStore | None = None
        self.client = client  # chooses the stores
        self.on_event = on_event
        self._remember = remember
        self._seen: OrderedDict[tuple[int, int], None] = OrderedDict()
        #: events being dispatched: a concurrent duplicate answers what the original answers
        self._handling: dict[tuple[int, int], asyncio.Future[WebhookReply]] = {}
        self._received = self._accepted = self._duplicates = self._resolved = self._errors = 0
        self._rejected: Counter[str] = Counter()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> AsyncPixVerse | None:
        """The client deliveries are handed to (settable; its Redis gives the default stores)."""
        return self._client

    @client.setter
    def client(self, client: AsyncPixVerse | None) -> None:
        self._client = client
        fleet = client.fleet if client is not None else None
        nonces, deliveries = self._given
        if nonces is None and fleet is not None:
            nonces = RedisNonceStore(fleet)
        if deliveries is None and fleet is not None:
            deliveries = RedisNonceStore(fleet, name="delivery")
        self._nonces = nonces if nonces is not None else self._memory
        self.verifier.nonces = (
            self._nonces
            if isinstance(self._nonces, MemoryNonceStore)
            else _Mirrored(self._nonces, self._outage, self._memory)
        )
        self._shared_deliveries = deliveries
        self._deliveries = (
            deliveries
            if deliveries is None or isinstance(deliveries, MemoryNonceStore)
            else _Mirrored(deliveries, self._outage)
        )

    @property
    def nonces(self) -> NonceStore:
        """The nonce store in use (given, shared through the client's Redis, or in memory)."""
        return self._nonces

    @property
    def deliveries(self) -> NonceStore | None:
        """The shared store of accepted (id, status) pairs, or None (this receiver only)."""
        return self._shared_deliveries

    def __repr__(self) -> str:
        return (
            f"<WebhookReceiver accepted={self._accepted} rejected={sum(self._rejected.values())}>"
        )

    async def handle(self, headers: Mapping[str, str], body: bytes) -> WebhookReply:
        """Verify and dispatch one delivery; return the reply to send (see the class doc)."""
        self._received += 1
        if len(body) > WEBHOOK_MAX_BODY:
            return self._refuse(400, "malformed", f"body over {WEBHOOK_MAX_BODY} bytes")
        try:
            event = await self.verifier.verify(headers, body)
        except WebhookVerificationError as exc:
            return self._refuse(400 if exc.reason == "malformed" else 401, exc.reason, str(exc))
        key = (event.id, event.status)
        if key in self._seen:
            self._duplicates += 1
            self._count("duplicate")
            logger.debug("duplicate delivery of video %s status %s ignored", *key)
            return WebhookReply(200, "ok")
        original = self._handling.get(key)
        if original is not None:  # answer as the original does (500 if its on_event fails)
            self._duplicates += 1
            self._count("duplicate")
            return await asyncio.shield(original)
        reply_future: asyncio.Future[WebhookReply] = asyncio.get_running_loop().create_future()
        self._handling[key] = reply_future
        reply = WebhookReply(500, "error")
        try:
            reply = await self._claim_and_dispatch(key, event)
        finally:
            del self._handling[key]
            reply_future.set_result(reply)
        return reply

    async def _claim_and_dispatch(self, key: tuple[int, int], event: WebhookEvent) -> WebhookReply:
        """Dispatch an event new to this receiver, unless another worker accepted it."""
        deliveries = self._deliveries
        if deliveries is None:
            return await self._dispatch(key, event)
        marker = f"{event.id}:{event.status}"
        now = time.time()
        if await deliveries.seen(marker, expires_at=now + WEBHOOK_DELIVERY_MEMORY, now=now):
            # not kept in ``_seen``: should its dispatch fail there, the redelivery is new here
            self._duplicates += 1
            self._count("duplicate")
            logger.debug("delivery of video %s status %s already accepted elsewhere", *key)
            return WebhookReply(200, "ok")
        try:
            reply = await self._dispatch(key, event)
        except BaseException:
            self._forget_later(deliveries, marker)
            raise
        if reply.status != 200:  # the redelivery (to any worker) must be processed
            await deliveries.forget(marker)
        return reply

    def _forget_later(self, store: NonceStore, marker: str) -> None:
        async def forget() -> None:
            try:
                await store.forget(marker)
            except Exception:
                logger.exception("could not forget the delivery %s", marker)

        task = asyncio.get_running_loop().create_task(forget())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _dispatch(self, key: tuple[int, int], event: WebhookEvent) -> WebhookReply:
        client = self.client
        result = "accepted"
        if client is not None and not client.closed and await client.deliver_webhook(event):
            self._resolved += 1
            result = "resolved"
        if self.on_event is not None:
            try:
                outcome = self.on_event(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                self._errors += 1  # not remembered: the redelivery goes through again
                self._count("error")
                logger.exception("on_event failed for video %s status %s", *key)
                return WebhookReply(500, "error")
        self._seen[key] = None
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)
        self._accepted += 1
        self._count(result)
        logger.debug("delivery: video %s status %s", *key)
        return WebhookReply(200, "ok")

    def _count(self, result: str) -> None:
        """Count a delivery in ``pixverse.webhook.deliveries`` (with OpenTelemetry only)."""
        client = self._client
        telemetry = client._telemetry if client is not None else telemetry_for()
        if telemetry is not None:
            telemetry.delivery(result)

    def _refuse(self, status: int, reason: str, message: str) -> WebhookReply:
        self._rejected[reason] += 1
        self._count(reason)
        logger.warning("webhook delivery refused (%s): %s", reason, message)
        return WebhookReply(status, reason)

    def statistics(self) -> ReceiverStatistics:
        return ReceiverStatistics(
            received=self._received,
            accepted=self._accepted,
            duplicates=self._duplicates,
            resolved=self._resolved,
            rejected=dict(self._rejected),
            errors=self._errors,
            local_checks=self._outage.local_checks,
        )


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def webhook_handler(receiver: WebhookReceiver) -> Handler:
    """An aiohttp request handler for ``receiver`` (add it to your own app's routes)."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        if request.content_length is not None and request.content_length > WEBHOOK_MAX_BODY:
            return web.Response(status=413, text="body too large")
        body = await request.read()  # the raw bytes: the signature covers them exactly
        reply = await receiver.handle(request.headers, body)
        return web.Response(status=reply.status, text=reply.body)

    return handle


def webhook_app(receiver: WebhookReceiver, *, path: str = WEBHOOK_PATH) -> web.Application:
    """An aiohttp application that receives deliveries at ``POST path``.

    Serve it with ``web.run_app(app)``, an ``AppRunner``, or mount it with
    ``parent.add_subapp(prefix, app)``.
    """
    from aiohttp import web

    app = web.Application(client_max_size=WEBHOOK_MAX_BODY)
    app.router.add_post(path, webhook_handler(receiver))
    return app


__all__ = [
    "DEFAULT_TOLERANCE",
    "MemoryNonceStore",
    "NonceStore",
    "ReceiverStatistics",
    "WebhookEvent",
    "WebhookReceiver",
    "WebhookReply",
    "WebhookVerificationError",
    "WebhookVerifier",
    "webhook_app",
    "webhook_handler",
]
