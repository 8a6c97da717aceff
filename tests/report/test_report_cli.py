"""``pixverse-async batch report`` in a real subprocess: the page, and clear errors."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from pixverse_async._journal import Journal
from pixverse_async.emulator import Emulator

from ..cli.test_batch_cli import run_cli
from ..test_import_cost import imported_after
from ._support import JOBS, run_batch

pytestmark = pytest.mark.anyio


async def test_the_report_command_writes_one_self_contained_page(
    emu: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "run.db"
    await run_batch(emu, journal)
    code, out, err = await run_cli("batch", "report", str(journal))
    assert (code, err) == (0, "")
    page_path = tmp_path / "run.report.html"  # the default: beside the journal
    assert str(page_path) in out and f"{JOBS} jobs" in out
    page = page_path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and f'data-bars="{JOBS}"' in page
    assert "data:image/png;base64," in page and 'src="http' not in page

    other = tmp_path / "r.html"
    code, out, err = await run_cli("batch", "report", str(journal), "--out", str(other))
    assert code == 0 and other.read_text(encoding="utf-8").count("<section") == 7


async def test_missing_empty_corrupt_and_jobless_journals_exit_2_naming_the_file(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes(b"this is not SQLite at all, just bytes\n" * 100)
    jobless = tmp_path / "jobless.db"
    async with await Journal.open(jobless):
        pass
    cases = {
        tmp_path / "missing.db": "no journal",
        empty: "holds no journal yet",
        corrupt: "not a readable pixverse_async journal",
        jobless: "has no jobs yet",
    }
    for path, why in cases.items():
        code, out, err = await run_cli("batch", "report", str(path))
        assert code == 2, (path, out, err)
        assert err.startswith("pixverse-async batch report: ") and str(path) in err, err
        assert why in err, err
        assert "Traceback" not in err and out == ""
    assert not [p async for p in anyio.Path(tmp_path).glob("*.html")]


def test_the_report_code_imports_matplotlib_only_when_drawing() -> None:
    modules = imported_after("import pixverse_async.cli, pixverse_async._report")
    assert not [m for m in modules if m == "matplotlib" or m.startswith("matplotlib.")]
