"""PNG charts of the makespan benchmark, written beside ``RESULTS.md`` and linked from it.

``run_all.py`` calls :func:`add_charts` after writing the Markdown (not in ``--quick``). From
``bench_makespan.py``'s per-contender ``per_job`` columns it draws:

- ``chart_concurrency.png``: jobs generating on the emulator over time, per contender, against
  the account's limit;
- ``chart_polls.png``: status requests per job, per contender;
- ``chart_delay.png``: detection delay per job (the caller seeing the end minus the end), per
  contender.

matplotlib (the ``report`` extra) draws them with the Agg canvas, through the same helpers as
``pixverse-async batch report``; without it the section says so and nothing else changes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CONCURRENCY_PNG = "chart_concurrency.png"
POLLS_PNG = "chart_polls.png"
DELAY_PNG = "chart_delay.png"
#: Histogram bins of the delay chart; the x range ends at this quantile (the tail is counted
#: in the last bin's label, not drawn across the chart).
DELAY_BINS = 50
DELAY_RANGE_QUANTILE = 0.99
FIGURE_SIZE = (10.0, 3.6)
DPI = 100


def _contenders(mk: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in mk.get("contenders", []) if r.get("per_job")]


def _figure() -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=FIGURE_SIZE, dpi=DPI, layout="constrained")


def concurrency_chart(mk: dict[str, Any]) -> Any:
    """Jobs generating (creation to due) over time per contender, against the limit."""
    from pixverse_async._report import concurrency_steps

    fig = _figure()
    ax = fig.add_subplot()
    for r in _contenders(mk):
        jobs = r["per_job"]
        steps = concurrency_steps(
            (c, c + d) for c, d in zip(jobs["created_s"], jobs["duration_s"], strict=True)
        )
        ax.step([t for t, _ in steps], [n for _, n in steps], where="post", label=r["contender"])
    limit = mk.get("config", {}).get("limit")
    if limit:
        ax.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"limit {limit}")
    ax.set_xlabel("seconds since the first job was created")
    ax.set_ylabel("jobs generating")
    ax.set_title("Concurrency over time per contender")
    ax.legend(loc="lower center", fontsize="small", ncols=6)
    return fig


def polls_chart(mk: dict[str, Any]) -> Any:
    """Status requests per job, one outline per contender (integer bins)."""
    fig = _figure()
    ax = fig.add_subplot()
    rows = _contenders(mk)
    top = max((max(r["per_job"]["polls"], default=0) for r in rows), default=0)
    bins = [b - 0.5 for b in range(top + 2)]
    for r in rows:
        polls = r["per_job"]["polls"]
        mean = sum(polls) / max(1, len(polls))
        label = f"{r['contender']} ({mean:.1f})"
        ax.hist(polls, bins=bins, histtype="step", linewidth=1.5, label=label)
    ax.set_xlabel("status requests per job (mean in the legend)")
    ax.set_ylabel("jobs")
    ax.set_title("Polls per job")
    ax.legend(loc="upper right", fontsize="small")
    return fig


def delay_chart(mk: dict[str, Any]) -> Any:
    """Detection delay (ms) per job, one outline per contender."""
    fig = _figure()
    ax = fig.add_subplot()
    rows = _contenders(mk)
    every = sorted(v for r in rows for v in r["per_job"]["delay_ms"] if v is not None)
    if every:
        high = every[min(len(every) - 1, math.ceil(DELAY_RANGE_QUANTILE * len(every)) - 1)]
        low = min(0.0, every[0])
        for r in rows:
            delays = [min(v, high) for v in r["per_job"]["delay_ms"] if v is not None]
            ax.hist(
                delays,
                bins=DELAY_BINS,
                range=(low, max(high, low + 1)),
                histtype="step",
                linewidth=1.5,
                label=r["contender"],
            )
        ax.legend(loc="upper right", fontsize="small")
        ax.set_xlabel(f"ms from the job's end to the caller seeing it (clipped at p99, {high:.0f})")
    ax.set_ylabel("jobs")
    ax.set_title("Detection delay per job")
    return fig


def write_charts(mk: dict[str, Any] | None, folder: Path) -> list[tuple[str, str]]:
    """Draw the charts into ``folder``; ``[(title, file name)]`` (empty without per-job data).

    Raises:
        ImportError: matplotlib is not installed.
    """
    from pixverse_async._report import figure_png

    if not mk or not _contenders(mk):
        return []
    charts = [
        ("Concurrency over time per contender", CONCURRENCY_PNG, concurrency_chart),
        ("Polls per job", POLLS_PNG, polls_chart),
        ("Detection delay per job", DELAY_PNG, delay_chart),
    ]
    written = []
    for title, name, draw in charts:
        (folder / name).write_bytes(figure_png(draw(mk)))
        written.append((title, name))
    return written


def charts_section(written: Sequence[tuple[str, str]], note: str = "") -> list[str]:
    """The Markdown section linking the charts (or saying why there are none)."""
    lines = ["## Charts", ""]
    if note:
        return [*lines, note, ""]
    lines.append(
        "Drawn from the makespan benchmark's per-job data (item 1 above): jobs generating on "
        "the emulator over time (creation to end), status requests per job, and the delay "
        "from each job's end to the caller seeing it."
    )
    lines.append("")
    for title, name in written:
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    return lines


def add_charts(results_md: Path, mk: dict[str, Any] | None) -> None:
    """Write the charts beside ``results_md`` and append a section linking them to it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        lines = charts_section(
            [], "No charts: matplotlib is not installed (`pip install -e '.[report]'`)."
        )
    else:
        written = write_charts(mk, results_md.parent)
        note = "" if written else "No charts: the makespan benchmark kept no per-job data."
        lines = charts_section(written, note)
        for _, name in written:
            print(f"wrote {results_md.parent / name}")
    with results_md.open("a", encoding="utf-8") as f:
        f.write("\n" + "\n".join(lines) + "\n")
