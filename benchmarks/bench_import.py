"""Import cost: ``import pixverse_async`` against importing its four required dependencies.

Fresh interpreters (``sys.executable``), started alternately, each timing one statement with
``time.perf_counter()`` around it and printing the seconds:

- deps (the baseline): ``import aiohttp, pydantic, anyio, backoff``;
- package: ``import pixverse_async`` (which imports those four too);
- client: the package plus ``AsyncPixVerse(key)``, which loads the request and response
  models (pydantic's model machinery with them): what a program pays before its first
  request, shown beside the import (the target is the import's);
- pydantic models: the dependencies plus ``from pydantic import BaseModel`` (``import
  pydantic`` alone defers its model machinery), the floor of the client row for any SDK
  whose models are pydantic's.

``--rounds`` (default 15; ``--quick`` 7) interpreters of each, the order flipped every round;
the figures are the median (and minimum) of each and the ratio package / deps: the median of
the rounds' ratios (adjacent runs paired, so other load on the machine cancels out; target
<= 1.25), with the ratios of the medians and of the minimums beside it, and the median ratio
of the children's CPU time (``time.process_time()``, less sensitive to other load).
Bytecode is cached in a temporary folder (``PYTHONPYCACHEPREFIX``) and warmed up first, as
for an installed package, even where ``PYTHONDONTWRITEBYTECODE`` is set. The children run in
the current directory, so from the repository root they import the checkout. Each child also
reports the heavy modules the package must not import (``aiohttp.web`` and its ``web_*``
parts, the emulator, rich, fastapi, starlette, redis): any of them is a broken check.

Usage: ``python benchmarks/bench_import.py [--rounds 15] [--quick] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from _common import write_json

DEPS = "import aiohttp, pydantic, anyio, backoff"
PACKAGE = "import pixverse_async"
#: what a program that uses the SDK pays before its first request: the pydantic models load
#: with the first client (no I/O: the session opens on the first request)
CLIENT = "import pixverse_async; pixverse_async.AsyncPixVerse('pv-import-bench-key')"
#: the floor of any SDK with pydantic models: the dependencies plus pydantic's model machinery
#: (``import pydantic`` alone loads it lazily)
MODELS = DEPS + "; from pydantic import BaseModel"
TARGET = 1.25
#: modules (with their submodules and ``name_*`` siblings) the package must not import
FORBIDDEN = ("aiohttp.web", "pixverse_async.emulator", "rich", "fastapi", "starlette", "redis")
CHILD = """\
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
{statement}
elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
forbidden = {forbidden!r}
heavy = sorted(
    m for m in sys.modules
    if any(m == f or m.startswith(f + ".") or m.startswith(f + "_") for f in forbidden)
)
print(json.dumps({{"seconds": elapsed, "cpu_seconds": cpu, "heavy": heavy}}))
"""


def child_env(pycache: str) -> dict[str, str]:
    """The children's environment: bytecode cached under ``pycache`` (a temporary folder).

    An installed package imports from compiled bytecode, as its dependencies do here; with
    ``PYTHONDONTWRITEBYTECODE`` set (as in some sandboxes and CI images) every child would
    compile the package from source instead, which measures the compiler, not the import. A
    cache prefix keeps the checkout free of ``__pycache__`` folders.
    """
    env = dict(os.environ)
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPROFILEIMPORTTIME"):
        env.pop(name, None)
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def run_child(statement: str, env: dict[str, str]) -> dict[str, Any]:
    """One fresh interpreter timing ``statement``: wall and CPU seconds, heavy modules."""
    code = CHILD.format(statement=statement, forbidden=FORBIDDEN)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{statement!r} failed:\n{proc.stderr}")
    doc: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return doc


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interpreters of each kind")
    parser.add_argument("--quick", action="store_true", help="CI size: 7 rounds")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds = 7

    checks: list[str] = []
    contenders = {"deps": DEPS, "package": PACKAGE, "client": CLIENT, "models": MODELS}
    seconds: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    heavy: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="bench-import-pycache-") as pycache:
        env = child_env(pycache)
        # warm-up: the bytecode cache and the OS page cache, so neither contender pays for them
        for statement in contenders.values():
            run_child(statement, env)
        for r in range(args.rounds):
            order = list(contenders.items()) if r % 2 == 0 else list(contenders.items())[::-1]
            for name, statement in order:
                doc = run_child(statement, env)
                seconds[name].append(doc["seconds"])
                cpu[name].append(doc["cpu_seconds"])
                if name == "package":
                    heavy.update(doc["heavy"])
    if heavy:
        names = sorted(heavy)
        more = f" and {len(names) - 4} more" if len(names) > 4 else ""
        checks.append(f"import pixverse_async imported {', '.join(names[:4])}{more}")

    deps, package = statistics.median(seconds["deps"]), statistics.median(seconds["package"])
    # each round pairs adjacent runs: the median of the pairs' ratios cancels the drift of
    # whatever else the machine is doing better than the ratio of the medians (both shown)
    pairs = [p / d for d, p in zip(seconds["deps"], seconds["package"], strict=True)]
    ratio = statistics.median(pairs)
    cpu_pairs = [p / d for d, p in zip(cpu["deps"], cpu["package"], strict=True)]
    client = statistics.median(seconds["client"])
    client_pairs = [c / d for d, c in zip(seconds["deps"], seconds["client"], strict=True)]
    model_pairs = [m / d for d, m in zip(seconds["deps"], seconds["models"], strict=True)]
    met = ratio <= TARGET
    result: dict[str, Any] = {
        "config": {"rounds": args.rounds, "python": sys.version.split()[0]},
        "deps_ms": round(deps * 1e3, 1),
        "package_ms": round(package * 1e3, 1),
        "deps_min_ms": round(min(seconds["deps"]) * 1e3, 1),
        "package_min_ms": round(min(seconds["package"]) * 1e3, 1),
        "ratio": round(ratio, 3),
        "ratio_min": round(min(pairs), 3),
        "ratio_max": round(max(pairs), 3),
        "ratio_of_medians": round(package / deps, 3),
        "ratio_of_minimums": round(min(seconds["package"]) / min(seconds["deps"]), 3),
        "cpu_ratio": round(statistics.median(cpu_pairs), 3),
        "client_ms": round(client * 1e3, 1),
        "client_min_ms": round(min(seconds["client"]) * 1e3, 1),
        "client_ratio": round(statistics.median(client_pairs), 3),
        "models_ms": round(statistics.median(seconds["models"]) * 1e3, 1),
        "models_min_ms": round(min(seconds["models"]) * 1e3, 1),
        "models_ratio": round(statistics.median(model_pairs), 3),
        "heavy_modules": sorted(heavy),
        "rounds": {k: [round(v * 1e3, 2) for v in vs] for k, vs in seconds.items()},
        "cpu_rounds": {k: [round(v * 1e3, 2) for v in vs] for k, vs in cpu.items()},
        "checks": checks,
        "targets": [
            {
                "item": "11",
                "what": "import time, package / its four dependencies",
                "value": round(ratio, 3),
                "target": f"<= {TARGET}",
                "met": met,
            }
        ],
    }
    label = 52
    print(f"{'contender':<{label}}{'median ms':>10}{'min ms':>9}")
    rows = (
        ("deps (baseline)", DEPS),
        ("package", PACKAGE),
        ("client", CLIENT),
        ("models (pydantic)", MODELS),
    )
    for name, statement in rows:
        key = name.split()[0]
        print(
            f"{name + ': ' + statement:<{label}}{result[f'{key}_ms']:>10}"
            f"{result[f'{key}_min_ms']:>9}"
        )
    print(
        f"package / deps: {result['ratio']} (median of {args.rounds} paired rounds, range "
        f"{result['ratio_min']}-{result['ratio_max']}); ratio of the medians "
        f"{result['ratio_of_medians']}, of the minimums {result['ratio_of_minimums']}; "
        f"CPU time (process_time) {result['cpu_ratio']}"
    )
    print(
        f"package + first client / deps: {result['client_ratio']}; deps + pydantic's model "
        f"machinery / deps: {result['models_ratio']} (medians of the paired rounds)"
    )
    verdict = "met" if met else "MISSED"
    print(f"  item 11: import ratio {result['ratio']} (target <= {TARGET}): {verdict}")
    for c in checks:
        print(f"BROKEN: {c}", file=sys.stderr)
    write_json(args.json, result)
    return result


if __name__ == "__main__":
    outcome = main()
    sys.exit(1 if outcome["checks"] else 0)
