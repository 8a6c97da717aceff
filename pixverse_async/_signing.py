"""Webhook signature (reference section 7.3), shared by the emulator and the SDK verifier.

``sign_string = f"{timestamp}\\n{nonce}\\n{urlencoded_payload}"`` and the signature is
``Base64(HMAC-SHA256(secret, sign_string))``. ``urlencoded_payload`` is the body's top-level
pairs, in the body's key order, each value as JSON writes it (strings verbatim).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode


def urlencoded_payload(body: Mapping[str, Any], *, sort_keys: bool = False) -> str:
    """The payload part of the string to sign, in the body's key order (or sorted)."""
    items = sorted(body.items()) if sort_keys else list(body.items())
    return urlencode([(k, v if isinstance(v, str) else json.dumps(v)) for k, v in items])


def signature(secret: str, timestamp: str, nonce: str, payload: str) -> str:
    """Base64 HMAC-SHA256 of ``timestamp\\nnonce\\npayload`` keyed with ``secret``."""
    message = f"{timestamp}\n{nonce}\n{payload}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")
