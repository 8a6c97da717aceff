"""Defaults of the SDK. No logic."""

from __future__ import annotations

BASE_URL_INTL = "https://app-api.pixverse.ai/openapi/v2"
BASE_URL_CN = "https://app-api.pixverseai.cn/openapi/v2"
ENV_API_KEY = "PIXVERSE_API_KEY"
ENV_BASE_URL = "PIXVERSE_BASE_URL"
