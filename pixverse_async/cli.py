"""``pixverse-async`` command line (also ``python -m pixverse_async``).

Commands:

- ``batch run JOBS.jsonl``: run a JSONL file of generation jobs through :meth:`AsyncPixVerse.batch`
  with a journal (resume without paying twice), a progress bar and a summary table;
- ``batch status JOURNAL``: what a journal records, per state, and its failed items;
- ``emulator``: serve the local PixVerse API emulator.

Exit codes of ``batch run``: 0 every item succeeded; 1 an item failed (or was not submitted);
2 usage or validation errors (nothing submitted); 130 interrupted with Ctrl-C.

``rich`` (the ``cli`` extra) draws the progress bar and tables; without it, or when stdout is
not a terminal, the output is one plain line per finished item and the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from . import _pricing as pricing
from ._batch import (
    DEFAULT_WORKERS,
    BatchEvent,
    BatchStoppedError,
    BatchSummary,
    BatchValidationError,
    ItemOutcome,
    estimate_item,
    validate_items,
)
from ._client import AsyncPixVerse, redact
from ._config import PollPolicy
from ._constants import (
    CLI_EMULATOR_JOB_SECONDS,
    CLI_EMULATOR_POLL_INTERVAL,
    CLI_EMULATOR_WORKERS,
    CLI_ERRORS_SHOWN,
    CLI_JOURNAL_SUFFIX,
    ENV_API_KEY,
    ENV_BASE_URL,
    ENV_REDIS_URL,
    POLL_INTERVAL,
)
from ._endpoints import endpoint_for
from ._exceptions import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConfigurationError,
    PixVerseError,
)
from ._journal import META_DEFAULT_KEYS, STATES, Journal, JournalError, request_hash
from ._polling import PollStatistics
from ._redis import CoordinationError
from ._version import __version__
from .emulator import (
    DEMO_API_KEY,
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
    Fixed,
    WebhookConfig,
    parse_distribution,
)
from .emulator._constants import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CREDIT_MONTHLY,
    DEFAULT_CREDIT_PACKAGE,
    DEFAULT_PORT,
)


def _distribution(text: str) -> object:
    try:
        return parse_distribution(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fault(text: str) -> FaultRule:
    kind, _, rate = text.partition(":")
    try:
        return FaultRule(FaultKind(kind), rate=float(rate) if rate else 1.0)
    except ValueError:
        kinds = ", ".join(k.value for k in FaultKind)
        raise argparse.ArgumentTypeError(
            f"invalid fault {text!r}: use KIND or KIND:RATE with KIND one of {kinds}"
        ) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixverse-async",
        description="PixVerse Platform API tools: SDK front end and local emulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_client_options(parser, dest_prefix="global_")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_batch_parser(sub)

    emu = sub.add_parser(
        "emulator",
        help="run a local PixVerse API emulator",
        description="Serve a local, stateful PixVerse API under /openapi/v2 until Ctrl-C.",
    )
    emu.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    emu.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port, 0 for any free one (default: %(default)s)",
    )
    emu.add_argument(
        "--api-key", help="the API key to accept (default: a demo key, printed at start)"
    )
    emu.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        help="concurrent generations allowed per account (default: %(default)s)",
    )
    emu.add_argument(
        "--job-seconds",
        type=_distribution,
        default=parse_distribution("0.5"),
        help="job duration: SECONDS, LOW-HIGH (uniform) or lognormal:MEDIAN,SIGMA (default: 0.5)",
    )
    emu.add_argument("--seed", type=int, help="seed for every random draw (reproducible runs)")
    emu.add_argument(
        "--credit-monthly", type=int, default=DEFAULT_CREDIT_MONTHLY, help="monthly credits"
    )
    emu.add_argument(
        "--credit-package", type=int, default=DEFAULT_CREDIT_PACKAGE, help="package credits"
    )
    emu.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="speed-up of the 10 min / 2 h / webhook-retry timers (default: %(default)s)",
    )
    emu.add_argument("--webhook-url", help="deliver signed webhooks for every job to this URL")
    emu.add_argument(
        "--webhook-secret", default="emulator-webhook-secret", help="webhook signing secret"
    )
    emu.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="KIND[:RATE]",
        help="inject a request fault (repeatable), e.g. reset:0.05 or accepted_then_lost:0.1",
    )
    emu.add_argument("--latency", type=_distribution, help="extra latency of every API answer")
    emu.add_argument(
        "--rate-limit", type=float, help="requests per second above which answers are HTTP 429"
    )
    emu.add_argument(
        "--retry-after",
        type=float,
        metavar="S",
        help="the Retry-After of those 429s, seconds (default: until a request would pass, "
        "rounded up to whole seconds)",
    )
    emu.add_argument(
        "--failure-rate", type=float, default=0.0, help="share of jobs ending in status 8"
    )
    emu.add_argument(
        "--moderation-rate", type=float, default=0.0, help="share of jobs ending in status 7"
    )
    emu.add_argument(
        "--stuck-rate", type=float, default=0.0, help="share of jobs that never finish"
    )
    emu.add_argument(
        "--unknown-status-rate",
        type=float,
        default=0.0,
        help="share of jobs reporting an undocumented status while running",
    )
    return parser


def _add_client_options(parser: argparse.ArgumentParser, *, dest_prefix: str = "") -> None:
    parser.add_argument(
        "--base-url",
        dest=f"{dest_prefix}base_url",
        metavar="URL",
        help=f"API base URL for batch commands (default: ${ENV_BASE_URL}, else PixVerse's)",
    )
    parser.add_argument(
        "--api-key",
        dest=f"{dest_prefix}api_key",
        metavar="KEY",
        help=f"API key for batch commands (default: ${ENV_API_KEY})",
    )


def _concurrency(text: str) -> int | Literal["auto"]:
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, not {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, not {text!r}")
    return value


def _credits_limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of credits (0 or more), not {text!r}")
    return value


def _add_batch_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    batch = sub.add_parser(
        "batch",
        help="run a JSONL file of generation jobs, resumably",
        description="Run many generation jobs from a JSONL file with a journal, or inspect one.",
    )
    commands = batch.add_subparsers(dest="batch_command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="run every job of a JSONL file (skipping those its journal has finished)",
        description=(
            'Run the jobs of JOBS.jsonl, one JSON object a line: {"key": "...", "kind": '
            '"modify", "params": {...}}. Local files in params are read relative to the '
            "JSONL's folder. The journal records every submit before it is sent, so re-running "
            "the same command after a crash or Ctrl-C finishes the batch without paying twice; "
            "an edited file is matched item by item (key and request). "
            "Exit codes: 0 all succeeded, 1 an item failed or was not submitted, 2 usage or "
            "validation error (nothing submitted), 130 interrupted."
        ),
    )
    run.add_argument("jobs", type=Path, metavar="JOBS.jsonl", help="the jobs, one JSON a line")
    run.add_argument(
        "--journal",
        type=Path,
        metavar="PATH",
        help=f"the SQLite journal (default: <JOBS>{CLI_JOURNAL_SUFFIX} next to the JSONL)",
    )
    run.add_argument("--out", type=Path, metavar="DIR", help="download every result into DIR")
    run.add_argument(
        "--max-concurrency",
        type=_concurrency,
        default="auto",
        metavar="N|auto",
        help="generation slots: the account's concurrent-generation limit, or 'auto' to "
        "learn it from ErrCode 500044 (default: auto)",
    )
    run.add_argument(
        "--max-credits",
        type=_credits_limit,
        metavar="N",
        help="stop submitting before the projected spend of this run passes N credits",
    )
    run.add_argument(
        "--retry-failed",
        action="store_true",
        help="submit the jobs the journal has as failed again (new trace ids); succeeded and "
        "running jobs are untouched",
    )
    run.add_argument(
        "--rerun-changed",
        action="store_true",
        help="run jobs whose line changed since the journal recorded them even if they "
        "already succeeded or are running (default: keep them, and list them)",
    )
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="validate every line and print the projected credits per kind and in total; "
        "sends nothing and writes no journal",
    )
    run.add_argument(
        "--poll-interval",
        type=_positive_float,
        metavar="S",
        help=f"seconds between status polls of a job (default: {POLL_INTERVAL:g}; "
        f"{CLI_EMULATOR_POLL_INTERVAL:g} with --emulator)",
    )
    run.add_argument(
        "--max-polls-per-second",
        type=_positive_float,
        metavar="R",
        help="a hard ceiling on status requests per second (default: none; the poll budget "
        "follows the jobs in flight and backs off when the server answers HTTP 429)",
    )
    run.add_argument(
        "--redis",
        metavar="URL",
        help=f"share the account's generation slots with every other client on this Redis "
        f"(other batches, services, hosts; default: ${ENV_REDIS_URL}; extra 'redis')",
    )
    run.add_argument(
        "--emulator",
        action="store_true",
        help=f"run against an in-process emulator (demo key, {CLI_EMULATOR_JOB_SECONDS:g} s "
        "jobs, no credits spent); it stops with the command",
    )
    _add_client_options(run)
    status = commands.add_parser(
        "status",
        help="show a journal's items per state and its failed items",
        description=(
            "Show what a batch journal records. Read only: it works while a run writes the "
            "journal, to follow its progress from another terminal."
        ),
    )
    status.add_argument("journal", type=Path, metavar="JOURNAL", help="the journal file")
    report = commands.add_parser(
        "report",
        help="write a journal's report: one HTML page with charts (needs matplotlib)",
        description=(
            "Write one self-contained HTML page about a batch journal: a timeline of "
            "generation slots, concurrency against the limit, job durations and detection "
            "delays per kind, credits over time and the failed jobs. Read only: it works on a "
            "finished, interrupted or running batch. Needs matplotlib "
            "(pip install 'pixverse-async[report]')."
        ),
    )
    report.add_argument("journal", type=Path, metavar="JOURNAL", help="the journal file")
    report.add_argument(
        "--out",
        type=Path,
        metavar="HTML",
        help="where to write the page (default: the journal's name with .report.html)",
    )


def emulator_config(args: argparse.Namespace) -> EmulatorConfig:
    webhooks: tuple[WebhookConfig, ...] = ()
    if args.webhook_url:
        webhooks = (WebhookConfig(1, args.webhook_url, args.webhook_secret, default=True),)
    account = AccountConfig(
        api_key=args.api_key or DEMO_API_KEY,
        credit_monthly=args.credit_monthly,
        credit_package=args.credit_package,
        concurrency=args.concurrency,
        webhooks=webhooks,
    )
    faults = FaultPlan(
        rules=tuple(args.fault),
        latency=args.latency,
        rate_limit_rps=args.rate_limit,
        retry_after=args.retry_after,
        failure_rate=args.failure_rate,
        moderation_rate=args.moderation_rate,
        stuck_rate=args.stuck_rate,
        unknown_status_rate=args.unknown_status_rate,
    )
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        accounts=(account,),
        job_duration=args.job_seconds,
        faults=faults,
        seed=args.seed,
        time_scale=args.time_scale,
    )


async def run_emulator(config: EmulatorConfig, *, key_given: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Emulator(config) as emu:
        key = emu.api_key
        shown = f"{redact(key)} (the key you passed)" if key_given else key
        print(f"PixVerse emulator listening on {emu.base_url}", flush=True)
        print(f"API key: {shown}", flush=True)
        print(f"Stats: {emu.origin}/_emulator/stats   (Ctrl-C to stop)", flush=True)
        await stop.wait()
    print("emulator stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "batch":
        return _batch_main(args)
    if args.command == "emulator":
        try:
            config = emulator_config(args)
        except ValueError as exc:
            print(f"pixverse-async emulator: {exc}", file=sys.stderr)
            return 2
        try:
            asyncio.run(run_emulator(config, key_given=bool(args.api_key)))
        except OSError as exc:
            print(
                f"pixverse-async emulator: cannot listen on {args.host}:{args.port}: {exc}",
                file=sys.stderr,
            )
            return 1
        return 0
    return 2  # pragma: no cover (argparse requires a command)


# -- batch -------------------------------------------------------------------------------------

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: the summary's "not submitted (...)" label per BatchStoppedError.reason
_STOP_LABELS = {
    "budget": "budget",
    "credits": "insufficient credits",
    "key": "API key refused",
    "stopped": "stopped",
    "ctrl-c": "Ctrl-C",
}
_JSONL_FIELDS = ("key", "kind", "params")


class _CliError(Exception):
    """Ends a command with a message on stderr and an exit code."""

    def __init__(self, message: str, *, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _batch_main(args: argparse.Namespace) -> int:
    command = f"pixverse-async batch {args.batch_command}"
    try:
        if args.batch_command == "status":
            return asyncio.run(_batch_status(args.journal, _Printer()))
        if args.batch_command == "report":
            return _batch_report(args.journal, args.out, _Printer())
        return _batch_run(args)
    except _CliError as exc:
        print(f"{command}: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:  # before the event loop's own handler was installed
        print(f"{command}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED


# -- the JSONL input ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Jobs:
    """The parsed, validated JSONL: items for the batch engine and each item's line.

    Items without a ``key`` are named by their line number (1-based). ``positions`` maps
    such an item's index to the key a schema 1 journal gave it (its 0-based position among
    the file's jobs), so an old journal's records can be renamed (see ``_open_journal``).
    """

    path: Path
    items: list[dict[str, Any]]
    lines: list[int]
    positions: dict[int, str] = field(default_factory=dict)

    def line_of(self, key: str) -> int | None:
        for item, line in zip(self.items, self.lines, strict=True):
            if item["key"] == key:
                return line
        return None


def _read_jobs(path: Path) -> _Jobs:
    """Parse and validate the whole file (no network): every bad line at once, or the jobs.

    Raises:
        _CliError: the file cannot be read, has no jobs, or has invalid lines (each listed
            with its line number, sorted by line: JSON, structure, key and parameter errors
            together).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 BOM at the start is fine
    except UnicodeDecodeError as exc:
        raise _CliError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    items: list[dict[str, Any]] = []
    lines: list[int] = []
    positions: dict[int, str] = {}
    errors: list[tuple[int, str]] = []
    position = 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        position += 1
        try:
            item, keyless = _parse_line(line, default_key=str(number))
        except ValueError as exc:
            errors.append((number, f"  line {number}: {exc}"))
            continue
        if keyless:
            positions[len(items)] = str(position - 1)
        items.append(item)
        lines.append(number)
    if not items and not errors:
        raise _CliError(
            f"{path} has no jobs: write one JSON object a line, e.g. "
            '{"key": "a", "kind": "modify", "params": {...}}'
        )
    for problem in validate_items(items, base_dir=path.parent):
        number = lines[problem.index]
        error: Exception = problem.error
        if problem.duplicate_of is not None:
            error = ValueError(
                f"duplicate key {problem.key!r} (first on line {lines[problem.duplicate_of]})"
            )
        errors.append((number, f"  line {number} (key {problem.key!r}): {error}"))
    if errors:
        errors.sort(key=lambda e: e[0])  # stable: a line's structure error before its others
        bad = len({number for number, _ in errors})
        raise _CliError(
            f"{path}: {bad} line(s) are invalid jobs; nothing was submitted:\n"
            + _capped([text for _, text in errors])
        )
    return _Jobs(path, items, lines, positions)


def _parse_line(line: str, *, default_key: str) -> tuple[dict[str, Any], bool]:
    """One job and whether it had no key of its own."""
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(doc, dict):
        raise ValueError('expected a JSON object like {"key": ..., "kind": ..., "params": {...}}')
    unknown = [name for name in doc if name not in _JSONL_FIELDS]
    if unknown:
        named = ", ".join(
            name
            + "".join(f" (did you mean {m!r}?)" for m in get_close_matches(name, _JSONL_FIELDS, 1))
            for name in unknown
        )
        raise ValueError(f"unknown field(s) {named}; a job has key, kind, params")
    kind = doc.get("kind")
    if not isinstance(kind, str) or not kind:
        raise ValueError('"kind" must be a string such as "modify" or "text_to_video"')
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise ValueError('"params" must be a JSON object of the API\'s fields')
    keyless = "key" not in doc
    key = doc.get("key", default_key)
    if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
        raise ValueError('"key" must be a non-empty string (or an integer)')
    return {"key": str(key), "kind": kind, "params": params}, keyless


def _capped(lines: Sequence[str]) -> str:
    shown = "\n".join(lines[:CLI_ERRORS_SHOWN])
    if len(lines) > CLI_ERRORS_SHOWN:
        shown += f"\n  ... and {len(lines) - CLI_ERRORS_SHOWN} more"
    return shown


def default_journal(jobs: Path) -> Path:
    """The journal ``batch run`` uses without ``--journal``: ``<stem>.journal.db`` beside it."""
    return jobs.with_name(jobs.stem + CLI_JOURNAL_SUFFIX)


# -- output ------------------------------------------------------------------------------------

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID


class _Printer:
    """Writes the batch commands' output: rich when installed, else plain lines.

    The live progress bar is drawn only on a terminal; otherwise every finished item gets a
    line (logs, CI, pipes). Tables become aligned text without rich.
    """

    def __init__(self) -> None:
        self.console: Console | None
        try:
            from rich.console import Console
        except ImportError:
            self.console = None
        else:
            self.console = Console(highlight=False)
        self.live = self.console is not None and self.console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def line(self, text: str, *, style: str | None = None) -> None:
        if self.console is None:
            print(text, flush=True)
            return
        console = self._progress.console if self._progress is not None else self.console
        console.print(text, style=style, markup=False, soft_wrap=True)

    def start(self, total: int, description: str) -> None:
        if not self.live or self.console is None:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            console=self.console,
        )
        self._task = self._progress.add_task(description, total=total, stats="")
        self._progress.start()

    def update(self, completed: int, stats: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, stats=stats)

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def table(
        self,
        title: str,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        show_header: bool = True,
    ) -> None:
        if self.console is None:
            self._plain_table(title, headers, rows, show_header=show_header)
            return
        from rich.table import Table

        table = Table(title=title, title_justify="left", show_header=show_header)
        numeric = all(row[-1].replace(".", "").replace(" s", "").isdigit() for row in rows)
        for i, header in enumerate(headers):
            right = numeric and i == len(headers) - 1
            table.add_column(header, justify="right" if right else "left", overflow="fold")
        for row in rows:
            table.add_row(*row)
        self.console.print(table)

    def _plain_table(
        self,
        title: str,
        headers: Sequence[str],
        rows: Sequence[Sequence[str]],
        *,
        show_header: bool,
    ) -> None:
        body = [list(headers), *map(list, rows)] if show_header else [list(r) for r in rows]
        widths = [max(len(r[i]) for r in body) for i in range(len(headers))]
        print(title, flush=True)
        for row in body:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
            print("  " + "  ".join([*cells, row[-1]]).rstrip(), flush=True)


def _error_text(error: BaseException | None) -> str:
    return "" if error is None else f"{type(error).__name__}: {error}"


# -- batch run ---------------------------------------------------------------------------------


@dataclass
class _Run:
    """State of one ``batch run``: the options, the outcomes so far, the Ctrl-C count."""

    args: argparse.Namespace
    jobs: _Jobs
    journal_path: Path
    printer: _Printer
    outcomes: list[ItemOutcome] = field(default_factory=list)
    skipped: set[str] = field(default_factory=set)
    interrupts: int = 0
    draining: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def api_key_given(self) -> bool:
        return bool(self.args.api_key or self.args.global_api_key)

    def resume_command(self) -> str:
        """The command that continues this batch (the API key is never printed)."""
        args = self.args
        parts = ["pixverse-async", "batch", "run", str(self.jobs.path)]
        parts += ["--journal", str(self.journal_path)]
        if args.out is not None:
            parts += ["--out", str(args.out)]
        if args.max_concurrency != "auto":
            parts += ["--max-concurrency", str(args.max_concurrency)]
        if args.max_credits is not None:
            parts += ["--max-credits", str(args.max_credits)]
        if args.poll_interval is not None:
            parts += ["--poll-interval", f"{args.poll_interval:g}"]
        if args.max_polls_per_second is not None:
            parts += ["--max-polls-per-second", f"{args.max_polls_per_second:g}"]
        if args.emulator:
            parts.append("--emulator")
        base_url = args.base_url or args.global_base_url
        if base_url:
            parts += ["--base-url", base_url]
        return shlex.join(parts)


def _batch_run(args: argparse.Namespace) -> int:
    jobs = _read_jobs(args.jobs)  # every line validated before any network access
    if args.dry_run:
        return _dry_run(jobs, _Printer())
    if args.emulator and (
        args.base_url or args.global_base_url or args.api_key or args.global_api_key
    ):
        raise _CliError("--emulator runs its own API: drop --base-url and --api-key")
    journal_path = args.journal if args.journal is not None else default_journal(args.jobs)
    run = _Run(args, jobs, journal_path, _Printer())
    return asyncio.run(_run_batch(run))


async def _run_batch(run: _Run) -> int:
    args = run.args
    async with contextlib.AsyncExitStack() as stack:
        if args.emulator:
            config = EmulatorConfig(job_duration=Fixed(CLI_EMULATOR_JOB_SECONDS))
            emu = await stack.enter_async_context(Emulator(config))
            api_key: str | None = emu.api_key
            base_url: str | None = emu.base_url
            where = f"the in-process emulator at {emu.base_url}"
        else:
            api_key = args.api_key or args.global_api_key
            base_url = args.base_url or args.global_base_url
            where = ""
        interval = args.poll_interval or (
            CLI_EMULATOR_POLL_INTERVAL if args.emulator else POLL_INTERVAL
        )
        if not (api_key or os.environ.get(ENV_API_KEY)):
            raise _CliError(f"no API key: pass --api-key or set ${ENV_API_KEY} (or use --emulator)")
        try:
            client = AsyncPixVerse(
                api_key,
                base_url=base_url,
                poll=PollPolicy(interval=interval, max_rps=args.max_polls_per_second),
                max_concurrency=args.max_concurrency,
                redis_url=args.redis,
            )
        except ConfigurationError as exc:
            raise _CliError(str(exc)) from None
        stack.push_async_callback(client.aclose)
        try:
            await client.__aenter__()  # connects to Redis, when shared
        except CoordinationError as exc:
            raise _CliError(str(exc)) from None
        where = where or client.base_url
        credits = await _preflight(client)
        journal, created = await _open_journal(run, fresh_server=args.emulator)
        stack.push_async_callback(journal.aclose)
        counts = await journal.summary()
        if args.emulator and counts["accepted"]:
            raise _CliError(
                f"journal {run.journal_path} has {counts['accepted']} job(s) that were running "
                "on an earlier in-process emulator, which stopped with its command, so --emulator "
                f"cannot resume them: delete {run.journal_path} (or pass a new --journal) to "
                "start over"
            )
        done = counts["succeeded"] + (0 if args.retry_failed else counts["failed"])
        header = [
            f"{len(run.jobs.items)} jobs from {run.jobs.path} on {where}"
            + (f" ({credits} credits available)" if credits is not None else ""),
            f"journal {run.journal_path}"
            + (f": {done} job(s) finished in an earlier run are skipped" if done else ""),
        ]
        return await _execute(run, client, journal, created=created, header=header)
    raise AssertionError("unreachable")  # pragma: no cover (mypy: the stack may swallow)


async def _preflight(client: AsyncPixVerse) -> int | None:
    """Check the key and the connection before any journal write or credit spent.

    Returns:
        The account's credits, or ``None`` if the balance endpoint answered another error.
    """
    try:
        balance = await client.account.balance()
    except AuthenticationError as exc:
        raise _CliError(
            f"the API key was refused by {client.base_url} ({exc}); check --api-key or "
            f"${ENV_API_KEY}"
        ) from None
    except APIConnectionError as exc:
        raise _CliError(f"cannot reach {client.base_url}: {exc}", code=EXIT_FAILED) from None
    except APIError:
        return None  # e.g. no permission for the balance: not a reason to refuse the batch
    return balance.total


async def _open_journal(run: _Run, *, fresh_server: bool) -> tuple[Journal, bool]:
    created = not run.journal_path.exists()
    try:
        # the in-process emulator starts empty on every run: an earlier run's cached upload
        # and mask ids name nothing there, so files are uploaded again
        journal = await Journal.open(
            run.journal_path,
            reuse_cached_ids=not fresh_server,
            retry_failed=run.args.retry_failed,
            rerun_changed=run.args.rerun_changed,
        )
    except JournalError as exc:
        raise _CliError(f"{exc} (`batch run --journal PATH` chooses another file)") from None
    try:
        await _line_keys(run.jobs, journal)
    except BaseException:
        await journal.aclose()
        raise
    return journal, created


async def _line_keys(jobs: _Jobs, journal: Journal) -> None:
    """Name jobs without a key by their line number in the journal.

    Journals written before schema 2 named them by their 0-based position among the jobs;
    their records move to the line-number key when the request is the same (an edited or
    moved line is then treated like any changed or new job).
    """
    scheme = await journal.get_meta(META_DEFAULT_KEYS)
    if scheme == "line":
        return
    if scheme == "position" and jobs.positions:
        await journal.rename_keys(
            {
                old: (
                    jobs.items[index]["key"],
                    request_hash(*_kind_and_params(jobs.items[index])),
                )
                for index, old in jobs.positions.items()
            }
        )
    await journal.set_meta(META_DEFAULT_KEYS, "line")


def _kind_and_params(item: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The kind and params the batch engine fingerprints an item by."""
    spec, params = endpoint_for(item["kind"], item["params"])
    return spec.kind, params


async def _execute(
    run: _Run, client: AsyncPixVerse, journal: Journal, *, created: bool, header: list[str]
) -> int:
    args, printer = run.args, run.printer
    total = len(run.jobs.items)
    scope = anyio.CancelScope()
    batch = client.batch(
        run.jobs.items,
        journal=journal,
        base_dir=run.jobs.path.parent,
        download_dir=args.out,
        max_credits=args.max_credits,
        on_event=lambda event: on_event(event),
        workers=CLI_EMULATOR_WORKERS if args.emulator else DEFAULT_WORKERS,
    )
    entered = False

    def progress() -> None:
        summary = batch.summary
        stats = client.limiter.statistics() if client.limiter is not None else None
        if stats is None:
            flight = str(summary.running)
        else:
            flight = f"{stats.in_flight}/{stats.limit if stats.limit is not None else 'auto'}"
        printer.update(
            summary.succeeded + summary.failed,
            f"done {summary.succeeded}  failed {summary.failed}  in flight {flight}  "
            f"credits {summary.credits}",
        )

    def on_event(event: BatchEvent) -> None:
        if event.type == "skipped":
            run.skipped.add(event.key)
        progress()

    def on_sigint() -> None:
        run.interrupts += 1
        if args.emulator and entered and run.interrupts == 1:
            # the in-process emulator dies with us: let running jobs end so the journal
            # holds no job a later run could not find
            run.draining = True
            batch.stop("interrupted (Ctrl-C)")
            printer.line(
                "Ctrl-C: submitting nothing more; finishing the jobs in progress "
                "(Ctrl-C again to stop now)",
                style="yellow",
            )
        else:
            scope.cancel()

    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):  # no signal handlers on this platform
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    failure: str | None = None
    try:
        with scope:
            try:
                async with batch:  # validates every item first
                    entered = True
                    for line in header:
                        printer.line(line)
                    _report_changed(run, batch.changed)
                    printer.start(total, "batch")
                    async for outcome in batch:
                        run.outcomes.append(outcome)
                        _report(run, outcome)
                        progress()
            except BatchValidationError as exc:
                printer.stop()
                await journal.aclose()
                if created:
                    run.journal_path.unlink(missing_ok=True)
                raise _CliError(_validation_message(run, exc)) from None
            except JournalError as exc:  # the journal failed mid-run: stop, never go on unrecorded
                failure = f"the journal failed, so the batch stopped: {exc}"
    finally:
        printer.stop()
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGINT)
    counts = None
    if failure is None:
        counts = await journal.summary()
    return _finish(run, batch.summary, counts, failure=failure, polls=client.poll_statistics())


def _validation_message(run: _Run, exc: BatchValidationError) -> str:
    lines = [f"  line {run.jobs.lines[e.index]} (key {e.key!r}): {e.error}" for e in exc.items]
    return (
        f"{len(exc.items)} job(s) in {run.jobs.path} are invalid; nothing was submitted:\n"
        + _capped(lines)
    )


def _report_changed(run: _Run, changed: Sequence[tuple[int, str, str]]) -> None:
    """List the edited lines kept as they were (they succeeded or are running)."""
    if not changed:
        return
    rows = [
        f"  line {run.jobs.lines[index]} (key {key!r}): {state} with its earlier request"
        for index, key, state in changed
    ]
    run.printer.line(
        f"{len(changed)} job(s) changed since the journal recorded them but already succeeded "
        "or are running, so they are kept as they were (pass --rerun-changed to run them "
        "again):\n" + _capped(rows),
        style="yellow",
    )


def _report(run: _Run, outcome: ItemOutcome) -> None:
    """One line per item finished in this run (skipped items only count in the summary)."""
    if outcome.key in run.skipped:
        return
    if outcome.not_submitted:
        return  # not a failure: the summary counts them, with the reason
    printer = run.printer
    if outcome.ok:
        if printer.live:
            return  # the bar shows progress; failures alone are worth a line
        extra = f"  {outcome.credits} credits" if outcome.credits is not None else ""
        saved = f"  -> {outcome.path}" if outcome.path is not None else ""
        printer.line(f"ok      {outcome.key}  {outcome.kind}  job {outcome.job_id}{extra}{saved}")
    else:
        printer.line(
            f"failed  {outcome.key}  {outcome.kind}  {_error_text(outcome.error)}", style="red"
        )


def _poll_rows(polls: PollStatistics | None) -> list[tuple[str, str]]:
    """Summary rows about status polling, only when it held the batch back."""
    if polls is None or not (polls.late_polls or polls.throttled):
        return []
    rows = []
    if polls.throttled:
        rows.append(("rate-limit answers (HTTP 429 / 500069)", str(polls.throttled)))
    if polls.late_polls:
        advice = {
            "max_rps": "raise --max-polls-per-second",
            "server": "the server's rate limit; a longer --poll-interval asks for fewer",
            "demand": "status requests in flight were the limit",
        }[polls.budget_bound_by]
        rows.append(
            (
                "status polls sent over an interval late",
                f"{polls.late_polls} of {polls.polls_sent}, waited {polls.wait_mean:.2f} s on "
                f"average (poll budget {polls.budget:.0f}/s: {advice})",
            )
        )
    return rows


def _finish(
    run: _Run,
    summary: BatchSummary,
    counts: dict[str, int] | None,
    *,
    failure: str | None,
    polls: PollStatistics | None = None,
) -> int:
    """Print the failed items, the summary table and what to do next; the exit code."""
    printer = run.printer
    outcomes = run.outcomes
    total = len(run.jobs.items)
    interrupted = run.interrupts > 0
    succeeded = [o for o in outcomes if o.ok]
    stopped = [o for o in outcomes if o.not_submitted]
    failed = [o for o in outcomes if not o.ok and not o.not_submitted]
    if failed:
        failed.sort(key=lambda o: o.index)
        rows = [(o.key, o.kind, _error_text(o.error)) for o in failed[:CLI_ERRORS_SHOWN]]
        if len(failed) > CLI_ERRORS_SHOWN:
            rows.append((f"... and {len(failed) - CLI_ERRORS_SHOWN} more", "", ""))
        printer.table(f"Failed items ({len(failed)})", ("key", "kind", "error"), rows)
    totals = [
        ("jobs", str(total)),
        ("succeeded", str(len(succeeded))),
        ("failed", str(len(failed))),
    ]
    if stopped:
        reasons = {o.error.reason for o in stopped if isinstance(o.error, BatchStoppedError)}
        reason = reasons.pop() if len(reasons) == 1 else summary.stop_reason or "stopped"
        why = _STOP_LABELS["ctrl-c" if run.draining else reason]
        totals.append((f"not submitted ({why})", str(len(stopped))))
    unfinished = total - len(outcomes)
    if unfinished:
        totals.append(("not finished (interrupted)", str(unfinished)))
    totals += [
        ("skipped (done in the journal)", str(len(run.skipped))),
        ("credits spent", str(summary.credits)),
    ]
    if summary.credits_running:
        totals.append(("of which on running jobs", str(summary.credits_running)))
    if summary.changed:
        totals.append(("changed, kept (see --rerun-changed)", str(summary.changed)))
    totals.append(("concurrency-limit refusals (500044)", str(summary.throttled)))
    totals += _poll_rows(polls)
    totals += [
        ("wall time", f"{time.monotonic() - run.started:.1f} s"),
        ("journal", str(run.journal_path)),
    ]
    if run.args.out is not None:
        totals.append(("results", str(run.args.out)))
    printer.table("Batch summary", ("", ""), totals, show_header=False)
    resume = run.resume_command()
    key_note = " (with your API key, as before)" if run.api_key_given else ""
    if failure is not None:
        printer.line(failure, style="red")
        printer.line(f"Fix that, then resume with:{key_note}")
        printer.line(f"  {resume}")
        return EXIT_FAILED
    if interrupted and run.args.emulator and summary.running:
        printer.line(
            f"Interrupted with {summary.running} job(s) running on the in-process emulator, "
            f"which stopped with this command: they cannot be resumed. Delete "
            f"{run.journal_path} (or pass a new --journal) to start over.",
            style="yellow",
        )
        return EXIT_INTERRUPTED
    if interrupted:
        printer.line(f"Interrupted. Resume with:{key_note}", style="yellow")
        printer.line(f"  {resume}")
        return EXIT_INTERRUPTED
    if summary.stopped:
        printer.line(f"Stopped submitting: {summary.stopped}.", style="yellow")
        if summary.stop_reason == "budget":
            again = "Submit the rest by re-running (each run spends up to --max-credits)"
        else:
            again = "Fix that, then submit the rest by re-running"
        printer.line(f"{again}:{key_note}")
        printer.line(f"  {resume}")
    if len(succeeded) == total:
        note = f" ({len(run.skipped)} from an earlier run)" if run.skipped else ""
        printer.line(f"All {total} jobs succeeded{note}.", style="green")
        return EXIT_OK
    if counts is not None and counts["failed"]:
        printer.line(
            f"{counts['failed']} job(s) are failed in the journal: re-running skips them; "
            "add --retry-failed to submit them again.",
            style="red",
        )
    still_open = (
        0 if counts is None else sum(counts[s] for s in ("pending", "submitting", "accepted"))
    )
    if still_open and not summary.stopped:
        printer.line(f"{still_open} job(s) did not finish; re-run to retry them:{key_note}")
        printer.line(f"  {resume}")
    return EXIT_FAILED


# -- batch run --dry-run -------------------------------------------------------------------------


def _dry_run(jobs: _Jobs, printer: _Printer) -> int:
    """Print the projected credits per kind and in total; send nothing, write nothing."""
    per_kind: dict[str, list[int]] = {}  # kind -> [jobs, credits, unknown]
    masks: set[tuple[str, int]] = set()
    unknown: list[str] = []
    for item, line in zip(jobs.items, jobs.lines, strict=True):
        estimate = estimate_item(item, base_dir=jobs.path.parent)
        row = per_kind.setdefault(estimate.kind, [0, 0, 0])
        row[0] += 1
        masks.update(estimate.masks)
        if estimate.credits is None:
            row[2] += 1
            unknown.append(f"  line {line} (key {item['key']!r}): {estimate.why}")
        else:
            row[1] += estimate.credits
    rows = [
        (kind, str(n), str(credits), str(missing))
        for kind, (n, credits, missing) in sorted(per_kind.items())
    ]
    mask_credits = len(masks) * pricing.MASK_SELECTION_CREDITS
    if masks:
        rows.append((f"mask selection ({len(masks)} lookups)", "", str(mask_credits), "0"))
    known = sum(r[1] for r in per_kind.values()) + mask_credits
    rows.append(("total", str(len(jobs.items)), str(known), str(len(unknown))))
    printer.line(
        f"Dry run: {len(jobs.items)} valid jobs in {jobs.path}; nothing was sent and no journal "
        "was written (uploads and mask lookups not performed)."
    )
    printer.table(
        "Projected credits (reference credits model)",
        ("kind", "jobs", "credits", "cost unknown"),
        rows,
    )
    if unknown:
        printer.line(
            f"{len(unknown)} job(s) are not in the total: their cost is known only once "
            "submitted (the source is an earlier job or an uploaded id) or uploaded (a file "
            "whose length cannot be read without decoding it; MP4/MOV/M4A and WAV are read "
            "from their headers):\n" + _capped(unknown),
            style="yellow",
        )
    printer.line("A re-run with a journal skips finished jobs; this projection counts every job.")
    return EXIT_OK


# -- batch status ------------------------------------------------------------------------------


async def _batch_status(path: Path, printer: _Printer) -> int:
    if not await anyio.Path(path).is_file():
        raise _CliError(
            f"no journal at {path} (`batch run JOBS.jsonl` writes <JOBS>{CLI_JOURNAL_SUFFIX} "
            "beside the JSONL, or the file its --journal names)"
        )
    try:
        # read-only: works while a run writes it, and never changes it
        journal = await Journal.open(path, read_only=True)
    except JournalError as exc:
        raise _CliError(str(exc)) from None
    try:
        counts = await journal.summary()
        records = await journal.records()
    except PixVerseError as exc:
        raise _CliError(str(exc)) from None
    finally:
        await journal.aclose()
    rows = [(state, str(counts[state])) for state in STATES]
    rows += [
        ("total", str(counts["total"])),
        ("credits spent", str(counts["credits"] + counts["credits_running"])),
        ("of which on running jobs", str(counts["credits_running"])),
        ("credits (succeeded)", str(counts["credits"])),
    ]
    printer.line(f"Journal {path}: {counts['total']} jobs")
    printer.table("Jobs per state", ("state", "jobs"), rows)
    failed = [r for r in records if r.state == "failed"]
    if failed:
        printer.table(
            f"Failed items ({len(failed)})",
            ("key", "kind", "error"),
            [(r.key, r.kind, f"{r.error_type or 'Error'}: {r.error or ''}") for r in failed],
        )
    return EXIT_OK


# -- batch report ------------------------------------------------------------------------------


def _batch_report(path: Path, out: Path | None, printer: _Printer) -> int:
    from ._report import load_report, render_html

    try:
        import matplotlib  # noqa: F401  (checked before reading anything)
    except ImportError:
        raise _CliError(
            "the report needs matplotlib: pip install 'pixverse-async[report]'"
        ) from None
    target = out if out is not None else path.with_name(path.stem + ".report.html")
    try:
        model = asyncio.run(load_report(path))
    except JournalError as exc:
        raise _CliError(str(exc)) from None
    page = render_html(model)
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise _CliError(f"cannot write the report to {target}: {exc.strerror or exc}") from None
    printer.line(
        f"Report on {path} ({len(model.rows)} items, {len(model.bars)} jobs) written to {target}"
    )
    return EXIT_OK
