"""A batch report people can look at: one self-contained HTML page built from a journal.

``pixverse-async batch report run.db`` reads a journal read-only (a finished, interrupted or
running batch) and writes a page with its charts embedded as base64 PNG:

- the timeline of generation slots: one bar per job from the submit that created it to the
  moment the client saw it end, coloured by outcome, with 500044 refusals and resubmits
  marked; and the jobs holding slots over time against the generation-slot limit;
- job durations and detection delays per kind;
- credits over time (charged, and net of refunds);
- a table of failed jobs with their errors.

Two steps, so tests and other tools can use the numbers without pictures:
:func:`build_report` turns :class:`~pixverse_async._journal.ItemTimes` into a
:class:`ReportModel` (plain Python, one :class:`JobRow` per item, one bar per submitted job),
and :func:`render_html` draws it. matplotlib (the ``report`` extra) is imported only by the
drawing functions, with the Agg canvas and no ``pyplot`` (no global state, no display), so
``import pixverse_async`` never pulls it in.

What the journal can know: when each submit was begun, when the job id came back, when the
client saw the job end, and the server's ``modify_time`` of the terminal status when it was
readable (whole seconds on PixVerse and the emulator). So "duration" here is *submit to
seen-done* (it includes the detection delay), and the detection delay (*seen-done minus the
server's end time*) is drawn only for jobs whose server end time is known, with its
resolution said on the chart.
"""

from __future__ import annotations

import base64
import html
import io
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio

from ._journal import (
    STATE_ACCEPTED,
    STATE_FAILED,
    STATE_PENDING,
    STATE_SUBMITTING,
    STATE_SUCCEEDED,
    STATES,
    ItemTimes,
    Journal,
    JournalError,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "OUTCOMES",
    "JobRow",
    "ReportModel",
    "build_report",
    "concurrency_steps",
    "figure_png",
    "load_report",
    "render_html",
]

#: Outcome of a job as the report colours it, in legend order, with its colour.
OUTCOMES: dict[str, str] = {
    "succeeded": "#2e9e4f",
    "failed": "#d62728",
    "moderated": "#ff7f0e",
    "deleted": "#8c564b",
    "error": "#7b1fa2",  # failed without a job (refused, invalid, ...)
    "running": "#1f77b4",  # accepted, end not seen (yet)
    "no answer": "#9e9e9e",  # submit begun, no job id recorded
}
#: Terminal job status -> outcome (reference: 1 succeeded, 6 deleted, 7 moderated, 8 failed).
_STATUS_OUTCOMES = {6: "deleted", 7: "moderated", 8: "failed"}
#: Statuses whose credits PixVerse refunds.
_REFUNDED_STATUSES = frozenset({7, 8})
#: Failed jobs listed in the table; the rest are counted.
MAX_FAILED_ROWS = 500
#: Figure size (inches) and resolution (dots per inch) of every chart.
FIGURE_WIDTH = 10.0
FIGURE_HEIGHT = 3.6
TIMELINE_HEIGHT = 5.0
DPI = 100
#: Bar thickness (points) of the timeline: this many points shared by all rows, clamped.
TIMELINE_POINTS = 280.0
MIN_BAR_POINTS = 0.3
MAX_BAR_POINTS = 8.0
#: Histogram bins per distribution chart.
HISTOGRAM_BINS = 40
#: Percentiles in the per-kind tables.
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class JobRow:
    """One item of the batch as the report draws it. Times are seconds after the report's
    ``t0`` (the first submit).

    Attributes:
        key: the item's key.
        kind: its generation kind.
        state: its journal state.
        outcome: one of :data:`OUTCOMES`, or ``"pending"`` (never submitted: no bar).
        start: when the submit that created the job was begun (the bar's start), or ``None``.
        end: when the client saw it end (the bar's end), or ``None`` if not (yet) seen.
        first_submit: when the item's first submit was begun (before any 500044).
        throttled: when each 500044 refusal was recorded.
        retried: submitted more often than its 500044 refusals explain (a resumed submit,
            or a failed item retried).
        credits: credits charged (refunded for moderated and failed jobs).
        status: the job's last status.
        error: the error text of a failed item.
        error_type: the error's class name.
        duration: submit to seen-done, seconds, for jobs seen to end.
        detection_delay: seen-done minus the server's end time, seconds, when known.
    """

    key: str
    kind: str
    state: str
    outcome: str
    start: float | None
    end: float | None
    first_submit: float | None
    throttled: tuple[float, ...]
    retried: bool
    credits: int | None
    status: int | None
    error: str | None
    error_type: str | None
    duration: float | None
    detection_delay: float | None

    @property
    def has_bar(self) -> bool:
        """Whether the timeline draws a bar for it (it was submitted)."""
        return self.start is not None


@dataclass(frozen=True)
class ReportModel:
    """Everything the page shows, as numbers (see :func:`build_report`).

    Attributes:
        journal: the journal's path.
        t0: the first submit, seconds since the epoch (``None``: nothing was submitted, or
            the journal predates schema 3 and has no timestamps).
        as_of: the last time the journal records, seconds after ``t0`` (unfinished bars end
            here).
        rows: one per item, in planning order.
        counts: items per journal state.
        concurrency: ``(t, jobs)`` steps: jobs between submit and seen-done from ``t`` on.
        limits: ``(t, limit)`` steps: the slot limit recorded when jobs were accepted.
        credits: ``(t, charged, net)``: cumulative credits charged, and net of refunds.
        server_whole_seconds: the server's end times are whole seconds (so each detection
            delay is over-stated by up to a second).
    """

    journal: str
    t0: float | None
    as_of: float
    rows: tuple[JobRow, ...]
    counts: dict[str, int]
    concurrency: tuple[tuple[float, int], ...]
    limits: tuple[tuple[float, int], ...]
    credits: tuple[tuple[float, int, int], ...]
    server_whole_seconds: bool
    generated_at: float = field(default_factory=time.time)

    @property
    def bars(self) -> list[JobRow]:
        """The timeline's bars: one per submitted job, in submit order."""
        bars = [row for row in self.rows if row.start is not None]
        bars.sort(key=lambda row: (row.start, row.key))
        return bars

    @property
    def failed(self) -> list[JobRow]:
        """The failed items, in planning order."""
        return [row for row in self.rows if row.state == STATE_FAILED]

    @property
    def throttled_total(self) -> int:
        """500044 refusals recorded."""
        return sum(len(row.throttled) for row in self.rows)

    @property
    def retried_total(self) -> int:
        """Items submitted more often than their 500044 refusals explain."""
        return sum(row.retried for row in self.rows)

    @property
    def max_concurrency(self) -> int:
        """The most jobs between submit and seen-done at once."""
        return max((n for _, n in self.concurrency), default=0)

    def durations(self) -> dict[str, list[float]]:
        """Submit to seen-done (seconds) per kind, for jobs seen to end."""
        return _by_kind((row.kind, row.duration) for row in self.rows)

    def detection_delays(self) -> dict[str, list[float]]:
        """Seen-done minus the server's end time (seconds) per kind, where known."""
        return _by_kind((row.kind, row.detection_delay) for row in self.rows)


def _by_kind(pairs: Iterable[tuple[str, float | None]]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for kind, value in pairs:
        if value is not None:
            out.setdefault(kind, []).append(value)
    return dict(sorted(out.items()))


def _outcome(item: ItemTimes) -> str:
    if item.state == STATE_SUCCEEDED:
        return "succeeded"
    if item.state == STATE_FAILED:
        return _STATUS_OUTCOMES.get(item.status or 0, "error")
    if item.state == STATE_ACCEPTED:
        return "running"
    if item.state == STATE_SUBMITTING:
        return "no answer"
    return STATE_PENDING


def concurrency_steps(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, int]]:
    """How many intervals are open over time: ``(t, count)`` steps, count holding from ``t``.

    Args:
        intervals: ``(start, end)`` pairs; an interval is open on ``[start, end)``.

    Returns:
        Steps sorted by time, starting at the first start with its count (empty input: ``[]``).
    """
    changes: list[tuple[float, int]] = []
    for start, end in intervals:
        changes.append((start, 1))
        changes.append((end, -1))
    changes.sort()  # at equal times the end (-1) comes first: a freed slot is reused
    steps: list[tuple[float, int]] = []
    count = 0
    for at, delta in changes:
        count += delta
        if steps and steps[-1][0] == at:
            steps[-1] = (at, count)
        else:
            steps.append((at, count))
    return steps


def build_report(items: Sequence[ItemTimes], *, journal: str) -> ReportModel:
    """Turn a journal's timelines into the report's numbers (no drawing, no matplotlib).

    Args:
        items: :meth:`Journal.timings` of the journal.
        journal: the journal's path, for the page's title.

    Returns:
        The model; every submitted job has one bar.
    """
    known = [
        t
        for item in items
        for t in (item.submitted_at, item.accepted_at, item.finished_at, *item.submits)
        if t is not None
    ]
    t0 = min(known) if known else None
    last = max([*known, *(item.updated_at for item in items)], default=0.0)
    base = t0 if t0 is not None else 0.0
    as_of = last - base if t0 is not None else 0.0

    def rel(at: float | None) -> float | None:
        return None if at is None or t0 is None else at - base

    rows: list[JobRow] = []
    intervals: list[tuple[float, float]] = []
    limits: list[tuple[float, int]] = []
    credit_changes: list[tuple[float, int, int]] = []
    whole = True
    for item in items:
        start = rel(item.submitted_at)
        end = rel(item.finished_at) if item.state in (STATE_SUCCEEDED, STATE_FAILED) else None
        if start is None and item.state == STATE_FAILED:
            end = None  # failed before any submit (e.g. invalid): no bar
        duration = None
        delay = None
        if start is not None and end is not None and item.status is not None:
            duration = max(0.0, end - start)
            if item.server_finished_at is not None and item.finished_at is not None:
                delay = max(0.0, item.finished_at - item.server_finished_at)
                whole = whole and float(item.server_finished_at).is_integer()
        throttled = tuple(t - base for t in item.throttled) if t0 is not None else ()
        submits = [t - base for t in item.submits] if t0 is not None else []
        explained = len(item.throttled) + 1
        rows.append(
            JobRow(
                key=item.key,
                kind=item.kind,
                state=item.state,
                outcome=_outcome(item),
                start=start,
                end=end,
                first_submit=min(submits) if submits else start,
                throttled=throttled,
                retried=item.attempts > explained or len(item.submits) > explained,
                credits=item.credits,
                status=item.status,
                error=item.error,
                error_type=item.error_type,
                duration=duration,
                detection_delay=delay,
            )
        )
        accepted = rel(item.accepted_at)
        if start is not None and (accepted is not None or item.status is not None):
            # a job holds a generation slot from its submit until the client sees it end
            intervals.append((start, end if end is not None else as_of))
        if accepted is not None and item.slot_limit is not None:
            limits.append((accepted, item.slot_limit))
        if accepted is not None and item.credits:
            credit_changes.append((accepted, item.credits, item.credits))
            if item.status in _REFUNDED_STATUSES and end is not None:
                credit_changes.append((end, 0, -item.credits))
    counts = dict.fromkeys(STATES, 0)
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    credit_changes.sort()
    credits: list[tuple[float, int, int]] = []
    charged = net = 0
    for at, more, change in credit_changes:
        charged += more
        net += change
        credits.append((at, charged, net))
    limits.sort()
    return ReportModel(
        journal=journal,
        t0=t0,
        as_of=as_of,
        rows=tuple(rows),
        counts=counts,
        concurrency=tuple(concurrency_steps(intervals)),
        limits=tuple(limits),
        credits=tuple(credits),
        server_whole_seconds=whole,
    )


# -- loading -------------------------------------------------------------------------------------


async def load_report(path: str | os.PathLike[str]) -> ReportModel:
    """Read a journal read-only and build its report model.

    Raises:
        JournalError: the file is missing, empty, not a journal (``JournalCorruptError``),
            or holds no jobs yet; the message names the file.
    """
    where = os.fspath(path)
    if not await anyio.Path(where).is_file():
        raise JournalError(f"no journal at {where!r}")
    journal = await Journal.open(where, read_only=True)
    try:
        items = await journal.timings()
    finally:
        await journal.aclose()
    if not items:
        raise JournalError(f"journal {where!r} has no jobs yet: nothing to report")
    return build_report(items, journal=where)


# -- drawing (matplotlib, Agg canvas, imported here only) ----------------------------------------


def _figure(height: float = FIGURE_HEIGHT) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(FIGURE_WIDTH, height), dpi=DPI, layout="constrained")


def figure_png(fig: Figure) -> bytes:
    """A figure as PNG bytes, drawn with the Agg canvas (no display, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _time_label(model: ReportModel) -> str:
    if model.t0 is None:
        return "seconds"
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(model.t0))
    return f"seconds since the first submit ({started})"


def timeline_figure(model: ReportModel) -> Figure:
    """Generation slots: one bar per job from its submit to seen-done, coloured by outcome."""
    from matplotlib.lines import Line2D

    fig = _figure(TIMELINE_HEIGHT)
    ax = fig.add_subplot()
    bars = model.bars
    n = len(bars)
    width = min(MAX_BAR_POINTS, max(MIN_BAR_POINTS, TIMELINE_POINTS / max(n, 1)))
    ys = list(range(n))
    ends = [row.end if row.end is not None else model.as_of for row in bars]
    starts = [row.start if row.start is not None else 0.0 for row in bars]
    waited = [(y, row) for y, row in zip(ys, bars, strict=True) if row.first_submit != row.start]
    if waited:  # from the first (refused) submit to the one that was accepted
        ax.hlines(
            [y for y, _ in waited],
            [row.first_submit or 0.0 for _, row in waited],
            [row.start or 0.0 for _, row in waited],
            colors="#bbbbbb",
            linewidth=max(MIN_BAR_POINTS, width / 3),
        )
    ax.hlines(ys, starts, ends, colors=[OUTCOMES[row.outcome] for row in bars], linewidth=width)
    refusals = [(t, y) for y, row in zip(ys, bars, strict=True) for t in row.throttled]
    if refusals:
        ax.scatter(
            [t for t, _ in refusals], [y for _, y in refusals], marker="|", color="black", s=30
        )
    retried = [(start, y) for y, start, row in zip(ys, starts, bars, strict=True) if row.retried]
    if retried:
        ax.scatter(
            [t for t, _ in retried], [y for _, y in retried], marker="x", color="black", s=20
        )
    ax.set_ylim(n, -1)
    ax.set_xlabel(_time_label(model))
    ax.set_ylabel(f"jobs in submit order ({n})")
    present = {row.outcome for row in bars}
    handles = [
        Line2D([], [], color=color, linewidth=6, label=name)
        for name, color in OUTCOMES.items()
        if name in present
    ]
    if refusals:
        handles.append(Line2D([], [], color="black", marker="|", ls="", label="500044 refusal"))
    if retried:
        handles.append(Line2D([], [], color="black", marker="x", ls="", label="resubmitted"))
    if waited:
        handles.append(Line2D([], [], color="#bbbbbb", label="waiting after a 500044"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.set_title("Generation slots: submit to seen-done per job")
    return fig


def concurrency_figure(model: ReportModel) -> Figure:
    """Jobs holding slots over time against the recorded limit."""
    fig = _figure()
    ax = fig.add_subplot()
    steps = list(model.concurrency)
    if steps:
        ax.step(
            [t for t, _ in steps],
            [n for _, n in steps],
            where="post",
            color=OUTCOMES["running"],
            label="jobs from submit to seen-done",
        )
    if model.limits:
        limits = [*model.limits, (model.as_of, model.limits[-1][1])]
        ax.step(
            [t for t, _ in limits],
            [n for _, n in limits],
            where="post",
            color="black",
            linestyle="--",
            label="the client's slot limit (recorded at each accept)",
        )
    else:
        ax.text(
            0.99,
            0.02,
            "slot limit not recorded (auto mode before a 500044, or an older journal)",
            transform=ax.transAxes,
            ha="right",
            fontsize="small",
        )
    ax.set_ylim(bottom=0)
    ax.set_xlabel(_time_label(model))
    ax.set_ylabel("jobs")
    ax.set_title("Concurrency over time")
    if steps or model.limits:
        ax.legend(loc="lower right", fontsize="small")
    return fig


def distribution_figure(values: dict[str, list[float]], *, title: str, xlabel: str) -> Figure:
    """Histograms (one outline per kind) of seconds per job."""
    from matplotlib.ticker import MaxNLocator

    fig = _figure()
    ax = fig.add_subplot()
    everything = [v for vs in values.values() for v in vs]
    if everything:
        low, high = min(everything), max(everything)
        if high <= low:
            high = low + 1.0
        for kind, vs in values.items():
            ax.hist(
                vs,
                bins=HISTOGRAM_BINS,
                range=(low, high),
                histtype="step",
                linewidth=1.5,
                label=f"{kind} ({len(vs)})",
            )
        ax.legend(loc="upper right", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("jobs")
    ax.set_title(title)
    return fig


def credits_figure(model: ReportModel) -> Figure:
    """Cumulative credits charged, and net of refunds (moderated and failed jobs)."""
    fig = _figure()
    ax = fig.add_subplot()
    points = list(model.credits)
    if points:
        ts = [0.0, *(t for t, _, _ in points), model.as_of]
        charged = [0, *(c for _, c, _ in points), points[-1][1]]
        net = [0, *(n for _, _, n in points), points[-1][2]]
        ax.step(ts, charged, where="post", color="#555555", label="charged")
        ax.step(ts, net, where="post", color=OUTCOMES["succeeded"], label="net of refunds")
        ax.legend(loc="upper left", fontsize="small")
    else:
        ax.text(0.5, 0.5, "no credits recorded", transform=ax.transAxes, ha="center")
    ax.set_ylim(bottom=0)
    ax.set_xlabel(_time_label(model))
    ax.set_ylabel("credits")
    ax.set_title("Credits over time")
    return fig


# -- the page ------------------------------------------------------------------------------------

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
td.num { text-align: right; } img { max-width: 100%; } .note { color: #666; font-size: 0.9em; }
"""


def _img(fig: Figure, alt: str, **data: int) -> str:
    png = base64.b64encode(figure_png(fig)).decode("ascii")
    attrs = "".join(f' data-{name}="{value}"' for name, value in data.items())
    return f'<img alt="{html.escape(alt)}"{attrs} src="data:image/png;base64,{png}">'


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], *, cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{v}</td>'
            if isinstance(v, (int, float))
            else f"<td>{html.escape(str(v))}</td>"
            for v in row
        )
        body.append(f"<tr>{cells}</tr>")
    klass = f' class="{cls}"' if cls else ""
    return f"<table{klass}><tr>{head}</tr>{''.join(body)}</table>"


def _percentile(sorted_values: Sequence[float], p: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[index]


def _stats_table(values: dict[str, list[float]]) -> str:
    rows = []
    for kind, vs in values.items():
        s = sorted(vs)
        rows.append(
            [kind, len(s), *(f"{_percentile(s, p):.2f}" for p in PERCENTILES), f"{s[-1]:.2f}"]
        )
    headers = ["kind", "jobs", *(f"p{p} (s)" for p in PERCENTILES), "max (s)"]
    return _table(headers, rows, cls="stats")


def render_html(model: ReportModel) -> str:
    """The report as one self-contained HTML page (charts embedded as base64 PNG).

    Raises:
        ImportError: matplotlib is not installed (``pip install 'pixverse-async[report]'``).
    """
    title = f"Batch report: {os.path.basename(model.journal)}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">Journal {html.escape(model.journal)}, read '
        f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(model.generated_at))}.</p>",
        '<section id="summary"><h2>Summary</h2>',
    ]
    outcomes: dict[str, int] = {}
    for row in model.rows:
        outcomes[row.outcome] = outcomes.get(row.outcome, 0) + 1
    net = model.credits[-1][2] if model.credits else 0
    summary = [
        *((f"items {state}", model.counts.get(state, 0)) for state in STATES),
        *((f"outcome: {name}", count) for name, count in sorted(outcomes.items())),
        ("jobs on the timeline", len(model.bars)),
        ("500044 refusals", model.throttled_total),
        ("items resubmitted", model.retried_total),
        ("most jobs at once", model.max_concurrency),
        ("slot limit (last recorded)", model.limits[-1][1] if model.limits else "unknown"),
        ("credits net of refunds", net),
        ("seconds from the first submit to the last record", f"{model.as_of:.1f}"),
    ]
    parts.append(_table(["", ""], summary) + "</section>")
    if model.t0 is None:
        parts.append(
            '<p class="note">No timestamps: nothing was submitted yet, or the journal was '
            "written by a pixverse_async older than journal schema 3. The charts are empty; "
            "the tables still hold.</p>"
        )
    parts += [
        '<section id="timeline"><h2>Generation slots</h2>',
        '<p class="note">Each bar is one job, from the submit that created it to the moment the '
        "client saw it end (jobs still running, or whose end was not seen, reach the last "
        "record). Ticks mark 500044 refusals; crosses mark items submitted again (a resumed "
        "or retried submit).</p>",
        _img(timeline_figure(model), "timeline of generation slots", bars=len(model.bars)),
        "</section>",
        '<section id="concurrency"><h2>Concurrency</h2>',
        _img(concurrency_figure(model), "jobs holding slots over time against the limit"),
        "</section>",
    ]
    durations = model.durations()
    parts += [
        '<section id="durations"><h2>Job durations</h2>',
        '<p class="note">Submit to seen-done: from the submit that created the job to the '
        "moment the client saw it end, so it includes the detection delay.</p>",
        _img(
            distribution_figure(
                durations, title="Job duration per kind", xlabel="seconds, submit to seen-done"
            ),
            "job durations per kind",
        ),
        _stats_table(durations),
        "</section>",
    ]
    delays = model.detection_delays()
    resolution = (
        "The server's end times are whole seconds, so each delay is over-stated by up to 1 s. "
        if model.server_whole_seconds
        else ""
    )
    parts += [
        '<section id="detection"><h2>Detection delay</h2>',
        '<p class="note">From the job\'s end as the server reports it (its '
        "<code>modify_time</code>) to the moment the client saw it end. "
        f"{resolution}Clocks of the server and this machine may differ. Jobs whose server end "
        "time is unknown are left out"
        + ("" if delays else " (all of them: only the durations above are known)")
        + ".</p>",
        _img(
            distribution_figure(
                delays,
                title="Detection delay per kind",
                xlabel="seconds, seen-done minus the server's end time",
            ),
            "detection delay per kind",
        ),
        _stats_table(delays),
        "</section>",
        '<section id="credits"><h2>Credits</h2>',
        _img(credits_figure(model), "credits over time"),
        "</section>",
    ]
    failed = model.failed
    shown = failed[:MAX_FAILED_ROWS]
    parts.append(f'<section id="failed"><h2>Failed jobs ({len(failed)})</h2>')
    if failed:
        parts.append(
            _table(
                ["key", "kind", "status", "error type", "error"],
                (
                    [
                        row.key,
                        row.kind,
                        "" if row.status is None else str(row.status),
                        row.error_type or "",
                        row.error or "",
                    ]
                    for row in shown
                ),
                cls="failed",
            )
        )
        if len(failed) > len(shown):
            parts.append(
                f'<p class="note">… and {len(failed) - len(shown)} more '
                "(`pixverse-async batch status` lists them all).</p>"
            )
    else:
        parts.append("<p>None.</p>")
    parts += ["</section>", "</body></html>", ""]
    return "\n".join(parts)
