"""Base of the resource namespaces (``client.video``, ``client.media``...)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._client import AsyncPixVerse


def fields(values: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of a resource call, without ``self`` and unset (None) values."""
    return {k: v for k, v in values.items() if k != "self" and v is not None}


class Resource:
    def __init__(self, client: AsyncPixVerse) -> None:
        self._client = client
