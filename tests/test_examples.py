"""The examples stay runnable: each runs to completion against its in-process emulator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# the FastAPI service is a server, driven over HTTP by tests/test_fastapi_example.py
SERVICES = {"fastapi_service.py"}
EXAMPLES = sorted(
    p for p in (Path(__file__).parent.parent / "examples").glob("*.py") if p.name not in SERVICES
)


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "an example shows what it did"
    assert "Traceback" not in done.stderr
