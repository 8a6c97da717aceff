"""``import pixverse_async`` stays light (issue 11): what it must not import, checked in a fresh
interpreter. How long it takes is measured by ``benchmarks/bench_import.py``, not here."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

#: modules (and their submodules) the package import must leave alone: the server side of
#: aiohttp (``aiohttp.web`` and its ``aiohttp.web_*`` parts), the emulator, and the optional
#: extras (cli, fastapi, redis, otel: OpenTelemetry is looked for when the first client is built;
#: report: matplotlib only when a report is drawn)
FORBIDDEN = (
    "aiohttp.web",
    "pixverse_async.emulator",
    "rich",
    "fastapi",
    "starlette",
    "redis",
    "opentelemetry",
    "matplotlib",
)


def run(code: str) -> str:
    """Run ``code`` in a fresh interpreter; its stdout (fails the test on a non-zero exit)."""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def imported_after(statement: str) -> list[str]:
    """Every module in ``sys.modules`` after running ``statement`` in a fresh interpreter."""
    out = run(f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))")
    modules: list[str] = json.loads(out.strip().splitlines()[-1])
    return modules


def heavy(modules: list[str]) -> list[str]:
    return [
        m for m in modules if any(m == f or m.startswith((f + ".", f + "_")) for f in FORBIDDEN)
    ]


def test_the_heavy_filter_sees_aiohttp_web() -> None:
    # the check below must be able to fail: importing the receiver side does pull in aiohttp.web
    assert "aiohttp.web" in heavy(["aiohttp", "aiohttp.web"])
    assert heavy(["aiohttp.web_app", "redis.client", "pixverse_async.emulator._server"]) == [
        "aiohttp.web_app",
        "redis.client",
        "pixverse_async.emulator._server",
    ]
    assert heavy(["aiohttp", "aiohttp.client", "pixverse_async.webhooks", "richer"]) == []
    assert heavy(["opentelemetry", "opentelemetry.trace"]) == [
        "opentelemetry",
        "opentelemetry.trace",
    ]


@pytest.mark.parametrize(
    "statement",
    [
        "import pixverse_async",
        "from pixverse_async import AsyncPixVerse",
        "import pixverse_async.types",
        "import pixverse_async.webhooks",
    ],
)
def test_import_leaves_heavy_modules_alone(statement: str) -> None:
    modules = imported_after(statement)
    assert "pixverse_async" in modules
    assert heavy(modules) == []


def test_every_public_name_resolves_in_a_fresh_interpreter() -> None:
    out = run(
        "import pixverse_async as p\n"
        "missing = [n for n in p.__all__ if getattr(p, n, None) is None]\n"
        "assert set(p.__all__) <= set(dir(p)), 'a public name is missing from dir()'\n"
        "print(len(p.__all__), missing)"
    )
    count, missing = out.split(maxsplit=1)
    assert int(count) > 0
    assert missing.strip() == "[]"


def test_the_aiohttp_receiver_imports_aiohttp_web_when_used() -> None:
    out = run(
        "import sys\n"
        "from pixverse_async.webhooks import WebhookReceiver, webhook_app, webhook_handler\n"
        "before = 'aiohttp.web' in sys.modules\n"
        "app = webhook_app(WebhookReceiver('secret'))\n"
        "from aiohttp import web\n"
        "assert isinstance(app, web.Application)\n"
        "assert callable(webhook_handler(WebhookReceiver('secret')))\n"
        "print(before, 'aiohttp.web' in sys.modules)"
    )
    assert out.split() == ["False", "True"]


def test_models_validate_and_describe_themselves_after_a_lazy_build() -> None:
    # the request and response models build their validators on first use (defer_build):
    # validation errors, JSON parsing and the JSON schema behave as if built at import
    out = run(
        "import json\n"
        "from pixverse_async import RequestValidationError\n"
        "from pixverse_async.types import ModifyRequest, VideoResult, build\n"
        "schema = ModifyRequest.model_json_schema()\n"
        "assert 'video_media_id' in schema['properties'], schema\n"
        "try:\n"
        "    build(ModifyRequest, video_media_id=True, prompt='x', quality='540p')\n"
        "except RequestValidationError as exc:\n"
        "    field = exc.field\n"
        "else:\n"
        "    raise SystemExit('a bool video_media_id was accepted')\n"
        'result = VideoResult.model_validate_json(\'{"id": 7, "status": 1, "new": 1}\')\n'
        "print(json.dumps([field, result.id, int(result.status)]))"
    )
    assert json.loads(out.strip().splitlines()[-1]) == ["video_media_id", 7, 1]


#: what loads on first use, not with the package: pydantic's model machinery (with the SDK's
#: models: the first client), batches and their SQLite journal, the webhook receiver side
DEFERRED = (
    "pydantic.main",
    "pixverse_async.types",
    "pixverse_async.resources",
    "pixverse_async._batch",
    "pixverse_async._journal",
    "pixverse_async.webhooks",
    "sqlite3",
)


def deferred(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == d or m.startswith(d + ".") for d in DEFERRED)]


def test_the_package_builds_no_model_and_opens_no_journal_until_used() -> None:
    assert deferred(imported_after("import pixverse_async")) == []
    assert deferred(imported_after("from pixverse_async import AsyncPixVerse, PollPolicy")) == []
    # the check can fail: a client loads the models, a batch name its module and the journal
    with_client = deferred(
        imported_after("import pixverse_async\npixverse_async.AsyncPixVerse('pv-key-0001')")
    )
    assert "pydantic.main" in with_client and "pixverse_async.types.video" in with_client
    assert "pixverse_async._batch" not in with_client
    assert "sqlite3" in deferred(imported_after("from pixverse_async import BatchItem"))


def test_every_endpoint_names_a_request_model() -> None:
    out = run(
        "from pixverse_async._endpoints import ENDPOINTS\n"
        "from pixverse_async.types import RequestModel\n"
        "bad = [k for k, e in ENDPOINTS.items() if not issubclass(e.model, RequestModel)]\n"
        "print(len(ENDPOINTS), bad)"
    )
    count, bad = out.split(maxsplit=1)
    assert int(count) == 14 and bad.strip() == "[]"


def test_subpackages_stay_attributes_of_the_package() -> None:
    out = run(
        "import pixverse_async as p\n"
        "print(p.types.VideoResult.__name__, p.webhooks.WebhookReceiver.__name__, "
        "p.resources.__name__)"
    )
    assert out.split() == ["VideoResult", "WebhookReceiver", "pixverse_async.resources"]
