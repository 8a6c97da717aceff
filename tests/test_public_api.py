"""The public surface is exactly what ``__all__`` says (ruff RUF022 keeps it sorted)."""

from __future__ import annotations

import pixverse_async
import pixverse_async.emulator
import pixverse_async.types


def _public(module: object) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and getattr(value, "__module__", "").startswith("pixverse_async")
    }


def test_all_matches_public_names() -> None:
    for module in (pixverse_async, pixverse_async.emulator, pixverse_async.types):
        exported = set(module.__all__)
        assert _public(module) <= exported | {"emulator", "types", "resources"}, module.__name__
        missing = [name for name in exported if not hasattr(module, name)]
        assert not missing, (module.__name__, missing)


def test_version() -> None:
    assert pixverse_async.__version__.count(".") == 2
