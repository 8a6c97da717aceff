"""Verify PixVerse webhook deliveries (reference section 7).

::

    from pixverse_async.webhooks import WebhookVerifier

    verifier = WebhookVerifier(secret)
    event = verifier.verify(request.headers, await request.read())  # raises if not genuine
    # event.id (the video_id, int), event.status, event.url, event.size, event.credits

A delivery is genuine when its ``Webhook-Signature`` is the Base64 HMAC-SHA256, keyed with the
account's webhook secret, of ``"{Webhook-Timestamp}\\n{Webhook-Nonce}\\n{payload}"``, where
``payload`` is the JSON body's top-level pairs URL-encoded in the body's key order (the
key-sorted order is accepted too, as the reference asks). The comparison is constant-time; a
timestamp more than ``tolerance`` seconds (default 300) from now, a nonce already seen within
that window, and nested or null values are refused.

Receivers must be idempotent: PixVerse may deliver the same (id, status) more than once.
"""

from __future__ import annotations

import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

from pydantic import ValidationError

from ._exceptions import PixVerseError
from ._signing import signature, urlencoded_payload
from .types._base import ResponseModel

#: seconds a delivery's timestamp may differ from now (reference 7.3)
DEFAULT_TOLERANCE = 300.0
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
    """Remembers nonces for the tolerance window (plug in a shared store for many workers)."""

    def seen(self, nonce: str, *, expires_at: float, now: float) -> bool:
        """Record ``nonce`` until ``expires_at``; True if it was already recorded and live.

        Times are Unix seconds on the verifier's clock (``now``).
        """
        ...


class MemoryNonceStore:
    """A bounded in-process :class:`NonceStore` (oldest entries are dropped first)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self._entries: OrderedDict[str, float] = OrderedDict()
        self._max = max_entries

    def seen(self, nonce: str, *, expires_at: float, now: float) -> bool:
        while self._entries:
            oldest, expiry = next(iter(self._entries.items()))
            if expiry > now and len(self._entries) < self._max:
                break
            del self._entries[oldest]
        if nonce in self._entries:
            return True
        self._entries[nonce] = expires_at
        return False


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

    def verify(
        self, headers: Mapping[str, str], body: bytes | str, *, now: float | None = None
    ) -> WebhookEvent:
        """Return the delivery's event if it is genuine, else raise.

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
        raw = body.decode("utf-8") if isinstance(body, bytes) else body
        try:
            payload = json.loads(raw)  # dicts keep the body's key order
        except ValueError:
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
        if not any(hmac.compare_digest(given.encode(), e.encode()) for e in expected):
            raise WebhookVerificationError("the signature does not match", reason="bad_signature")
        if self.nonces.seen(nonce, expires_at=sent_at + self.tolerance, now=current):
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
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return {**payload, "id": int(value)}
    return payload


__all__ = [
    "DEFAULT_TOLERANCE",
    "MemoryNonceStore",
    "NonceStore",
    "WebhookEvent",
    "WebhookVerificationError",
    "WebhookVerifier",
]
