"""The examples stay runnable: each runs to completion against its in-process emulator.

Each runs with its own empty system temp folder (``TMPDIR``), which it must leave empty: an
example cleans up its generated media and downloads (issue 12). The one exception is
``bulk_remix.py``'s journal folder, which it keeps on purpose so that a second run resumes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES_DIR = Path(__file__).parent.parent / "examples"
# the FastAPI service is a server, driven over HTTP by tests/test_fastapi_example.py;
# bulk_remix.py runs twice in its own test below
SERVICES = {"fastapi_service.py"}
DEDICATED = {"bulk_remix.py"}
EXAMPLES = sorted(p for p in EXAMPLES_DIR.glob("*.py") if p.name not in SERVICES | DEDICATED)
BULK_REMIX_JOBS = 40


def run_example(script: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` with ``tmp`` as its system temp folder; check it ended well."""
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)}
    env.pop("BULK_REMIX_DIR", None)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), "an example shows what it did"
    assert "Traceback" not in done.stderr
    return done


def tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs_and_leaves_no_temporary_files(script: Path, tmp_path: Path) -> None:
    run_example(script, tmp_path / "tmp")
    assert tree(tmp_path / "tmp") == []


def test_bulk_remix_resumes_from_its_journal_and_keeps_only_it(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    first = run_example(EXAMPLES_DIR / "bulk_remix.py", tmp)
    # it names its journal at start: a stable folder of this user's in the temp folder
    named = re.search(r"^journal (\S+); results in (\S+)$", first.stdout, re.MULTILINE)
    assert named, first.stdout
    journal, out = Path(named[1]), Path(named[2])
    assert journal.parent == out.parent and journal.parent.parent == tmp
    assert f"{BULK_REMIX_JOBS} succeeded (0 from the journal)" in first.stdout
    assert f"{BULK_REMIX_JOBS} jobs submitted" in first.stdout
    kept = tree(tmp)
    results = [p for p in kept if p.endswith(".mp4")]
    assert len(results) == BULK_REMIX_JOBS
    # the journal and its results, nothing else (no media, no temporary download)
    folder = journal.parent.name
    assert set(kept) == {folder, f"{folder}/{journal.name}", f"{folder}/{out.name}", *results}

    second = run_example(EXAMPLES_DIR / "bulk_remix.py", tmp)
    assert f"journal {journal}; results in {out}" in second.stdout  # the same journal
    summary = f"{BULK_REMIX_JOBS} succeeded ({BULK_REMIX_JOBS} from the journal), 0 failed"
    assert summary in second.stdout, second.stdout
    assert "0 jobs submitted, 0 credits" in second.stdout  # nothing resubmitted or charged
    assert second.stdout.count("(finished in an earlier run)") == BULK_REMIX_JOBS
    assert tree(tmp) == kept
