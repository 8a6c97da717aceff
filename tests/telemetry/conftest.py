"""OpenTelemetry SDK providers with in-memory readers, injected into one client per test.

The global providers can be set once per process, so nothing here touches them: each test
passes its own ``tracer_provider`` / ``meter_provider`` to ``AsyncPixVerse``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from ._otel import Otel, make_otel


@pytest.fixture
def otel() -> Iterator[Otel]:
    made = make_otel()
    yield made
    made.tracer_provider.shutdown()
    made.meter_provider.shutdown()
