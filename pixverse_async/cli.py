"""``pixverse-async`` command line (also ``python -m pixverse_async``)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from ._version import __version__
from .emulator import (
    DEMO_API_KEY,
    AccountConfig,
    Emulator,
    EmulatorConfig,
    FaultKind,
    FaultPlan,
    FaultRule,
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


def _redact(key: str) -> str:
    return f"{key[:3]}…{key[-4:]}" if len(key) > 10 else "…"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pixverse-async",
        description="PixVerse Platform API tools: SDK front end and local emulator.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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
        shown = f"{_redact(key)} (the key you passed)" if key_given else key
        print(f"PixVerse emulator listening on {emu.base_url}", flush=True)
        print(f"API key: {shown}", flush=True)
        print(f"Stats: {emu.origin}/_emulator/stats   (Ctrl-C to stop)", flush=True)
        await stop.wait()
    print("emulator stopped", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
