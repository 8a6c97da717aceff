"""Issue 12 review: points that had no test of their own.

- "Downloads are readable ... by the CLI's ``--out``": ``tests/sdk/test_download_mode.py`` checks
  ``client.download`` and the batch engine's ``download_dir``; this runs the command itself.
- "Where the vendor's page is ambiguous ... write the choice down in the README ... citing the
  reference": the README's Modify subsection names each choice with its reference section, and
  its numbers are the ones the code uses.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pixverse_async import _rules as rules

README = Path(__file__).parent.parent / "README.md"

#: the CLI, started with a given umask (argv[1], octal); the rest of argv is the CLI's
CHILD = (
    "import os, sys\n"
    "os.umask(int(sys.argv[1], 8))\n"
    "from pixverse_async.cli import main\n"
    "sys.exit(main(sys.argv[2:]))\n"
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
@pytest.mark.parametrize(("umask", "mode"), [("022", 0o644), ("027", 0o640)])
def test_cli_out_writes_results_with_the_umask_mode(umask: str, mode: int, tmp_path: Path) -> None:
    params = {
        "prompt": "a fox",
        "model": "v5",
        "duration": 5,
        "quality": "540p",
        "aspect_ratio": "16:9",
    }
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"key": "fox", "kind": "text_to_video", "params": params}) + "\n")
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIXVERSE_")}
    argv = ["batch", "run", str(jobs), "--emulator", "--out", str(out)]
    done = subprocess.run(
        [sys.executable, "-c", CHILD, umask, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(out.iterdir())
    assert [p.name for p in files] == ["fox.mp4"]
    assert stat.S_IMODE(files[0].stat().st_mode) == mode  # not the 0600 of a temporary file


def modify_choices() -> str:
    text = README.read_text()
    match = re.search(
        r"^### Modify: where the reference leaves a choice\n(.*?)^#", text, re.DOTALL | re.M
    )
    assert match, "README.md has no 'Modify: where the reference leaves a choice' section"
    return match.group(1)


@pytest.mark.parametrize(
    ("choice", "section"),
    [
        ("Keyframe name", "4.16"),
        ("Images per selection", "4.16"),
        ("References to masks or images that were not given", "4.16"),
        ("Mask-selection source size", "9.2"),
        ("The result's `size`", "4.18"),
        ("The answer's credits", "4.16"),
    ],
)
def test_the_readme_names_each_modify_choice_with_its_reference(choice: str, section: str) -> None:
    section_text = modify_choices()
    assert "pixverse-api.md" in section_text
    assert f"- **{choice}** ({section})" in section_text


def test_the_readme_modify_numbers_are_the_codes() -> None:
    text = " ".join(modify_choices().split())
    per, most = rules.MODIFY_IMAGES_PER_SELECTION, rules.MODIFY_MAX_IMAGES
    assert f"up to {per} per mask" in text
    assert ", ".join(str(rules.modify_max_images(n)) for n in (1, 2)) in text
    assert f"or {rules.modify_max_images(3)} with 1, 2 or 3 masks" in text
    assert f"up to {most} without masks" in text and rules.modify_max_images(0) == most
    limit = rules.SOURCE_MAX_BYTES["mask_selection"]
    assert limit == rules.SOURCE_MAX_BYTES["modify"] and f"{limit // rules.MB} MB" in text
