"""The emulator's HTTP surface: the PixVerse API under ``/openapi/v2`` and ``/_emulator`` controls.

Every API request runs the reference's check order (section 1.8), after the injected latency:
rate cap (429), injected request faults, ``API-KEY`` (400012), ``Ai-trace-id`` (400011),
trace-id replay (POST), body parsing and field types (400013), field rules, concurrency
(500044), credits (500090), then the job is created.
"""

from __future__ import annotations

import asyncio
import json
import math
import posixpath
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from .. import _pricing as pricing
from .. import _rules as rules
from ._config import FaultKind, FaultRule, account_from_json, fault_plan_from_json
from ._constants import (
    API_PREFIX,
    CONTROL_PREFIX,
    CREDIT_SPELLING_PATHS,
    DEFAULT_MEDIA_HEIGHT,
    DEFAULT_MEDIA_SECONDS,
    DEFAULT_MEDIA_WIDTH,
    FILE_CHUNK,
    HTML_502,
    HTML_503,
    MASK_NAMES,
    NAME_UPLOAD_MODERATION,
    PAGE_SIZE_DEFAULT,
    PAGE_SIZE_MAX,
    SNIFF_BYTES,
    TTS_SPEAKERS,
    URL_FETCH_TIMEOUT,
)
from ._errors import ApiError, bad_type, invalid
from ._media import Mp4Scanner, filler, make_png, mp4_header, sniff_image, wav_seconds
from ._state import (
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    Account,
    EmulatorState,
    Job,
    Mask,
    Upload,
    body_digest,
    iso_time,
)
from ._validate import VALIDATORS, Ctx

Endpoint = Callable[[web.Request, Account, str], Awaitable[Any]]

_PRE_FAULTS = frozenset(
    {
        FaultKind.RESET,
        FaultKind.HTTP_502,
        FaultKind.HTTP_503,
        FaultKind.HTTP_500,
        FaultKind.BUSY,
        FaultKind.DB_ERROR,
        FaultKind.UNKNOWN_ERROR,
        FaultKind.PERMISSION,
        FaultKind.SLOW,
    }
)
_LOST = frozenset({FaultKind.ACCEPTED_THEN_LOST})
_ENVELOPE_FAULTS = {
    FaultKind.BUSY: 500069,
    FaultKind.DB_ERROR: 500100,
    FaultKind.UNKNOWN_ERROR: 99999,
    FaultKind.PERMISSION: 500020,
}
_JSON = "application/json"
STATE_KEY = web.AppKey("state", EmulatorState)
SESSION_KEY = web.AppKey("session", aiohttp.ClientSession)


def envelope(resp: Any) -> bytes:
    return json.dumps({"ErrCode": 0, "ErrMsg": "success", "Resp": resp}).encode()


def error_response(err: ApiError) -> web.Response:
    if err.lower:
        doc: dict[str, Any] = {"err_code": err.code, "err_msg": err.message, "resp": None}
    else:
        doc = {"ErrCode": err.code, "ErrMsg": err.message, "Resp": None}
    return web.Response(body=json.dumps(doc).encode(), status=err.http_status, content_type=_JSON)


def _drop(request: web.Request) -> web.Response:
    """Close the connection without an answer (the client sees a reset / disconnect)."""
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)


class Api:
    """Route handlers bound to one :class:`EmulatorState`."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.session: aiohttp.ClientSession | None = None

    # -- URLs of files the emulator serves -------------------------------------------------

    def file_url(self, job: Job) -> str:
        return (
            f"{self.state.origin}{CONTROL_PREFIX}/files/{job.id}.{'png' if job.is_image else 'mp4'}"
        )

    def _url(self, name: str) -> str:
        return f"{self.state.origin}{CONTROL_PREFIX}/files/{name}"

    # -- the pipeline ----------------------------------------------------------------------

    def wrap(
        self, name: str, endpoint: Endpoint
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        state = self.state

        async def handler(request: web.Request) -> web.StreamResponse:
            stats = state.stats
            stats.requests_total += 1
            stats.requests_by_endpoint[name] += 1
            plan = state.faults
            method = request.method
            if plan.latency is not None:
                await asyncio.sleep(plan.latency.sample(state.rng))
            wait = state.rate_limited()
            if wait is not None:
                retry_after = plan.retry_after if plan.retry_after is not None else math.ceil(wait)
                doc = {"ErrCode": 500069, "ErrMsg": "Too many requests", "Resp": None}
                return web.json_response(
                    doc, status=429, headers={"Retry-After": f"{retry_after:g}"}
                )
            if plan.rules:
                rule = state.draw_fault(method, request.path, _PRE_FAULTS)
                if rule is not None:
                    early = await self._pre_fault(request, rule)
                    if early is not None:
                        return early
            try:
                api_key = request.headers.get("API-KEY", "")
                account = state.accounts.get(api_key)
                if account is None:
                    raise ApiError(400012)
                trace_id = request.headers.get("Ai-trace-id", "").strip()
                if not trace_id:
                    raise ApiError(400011, "Ai-trace-id header is required")
                if method == "POST":
                    hit = state.replayed(api_key, trace_id)
                    if hit is not None:
                        return web.Response(body=hit[0], status=hit[1], content_type=_JSON)
                resp = await endpoint(request, account, trace_id)
            except ApiError as err:
                stats.errors_by_code[err.code] += 1
                return error_response(err)
            body = envelope(resp)
            if method == "POST":
                state.remember(api_key, trace_id, body)
                if plan.rules:
                    rule = state.draw_fault(method, request.path, _LOST)
                    if rule is not None:
                        return await self._lost(request, rule, body)
            return web.Response(body=body, content_type=_JSON)

        return handler

    async def _pre_fault(self, request: web.Request, rule: FaultRule) -> web.StreamResponse | None:
        kind = rule.kind
        if kind is FaultKind.RESET:
            return _drop(request)
        if kind is FaultKind.HTTP_502:
            return web.Response(text=HTML_502, status=502, content_type="text/html")
        if kind is FaultKind.HTTP_503:
            return web.Response(text=HTML_503, status=503, content_type="text/html")
        if kind is FaultKind.HTTP_500:
            return error_response(ApiError(500100, http_status=500, lower=True))
        if kind is FaultKind.SLOW:
            # the request has fully arrived (as at a real server) before the wait, so it is
            # processed even if the client gives up meanwhile (uploads are read as they stream)
            if not request.content_type.startswith("multipart/"):
                await request.read()
            await asyncio.sleep(rule.delay)
            return None
        return error_response(ApiError(_ENVELOPE_FAULTS[kind]))

    async def _lost(self, request: web.Request, rule: FaultRule, body: bytes) -> web.StreamResponse:
        if rule.then == "http_502":
            return web.Response(text=HTML_502, status=502, content_type="text/html")
        if rule.then == "http_500":
            return error_response(ApiError(500100, http_status=500, lower=True))
        if rule.then == "slow":
            await asyncio.sleep(rule.delay)
            return web.Response(body=body, content_type=_JSON)
        return _drop(request)

    # -- bodies ----------------------------------------------------------------------------

    @staticmethod
    async def json_body(request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        try:
            data = json.loads(raw) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            raise ApiError(400013, "the body must be a JSON object")
        return data

    async def _query(self, request: web.Request) -> tuple[int, int]:
        """``page_num`` and ``page_size`` from the query string, else from a JSON body."""
        source: dict[str, Any] = dict(request.query)
        if not source and request.can_read_body:
            raw = await request.read()
            try:
                parsed = json.loads(raw)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                source = parsed

        def number(name: str, default: int) -> int:
            value = source.get(name)
            if value is None:
                return default
            # ASCII digits only: str.isdigit() also takes "²", which int() refuses (HTTP 500)
            if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]+\s*", value):
                return int(value)
            if type(value) is int:
                return value
            raise bad_type(name, "an integer")

        page_num = number("page_num", 1)
        page_size = number("page_size", PAGE_SIZE_DEFAULT)
        if page_num < 1:
            raise invalid("page_num must be 1 or more")
        if not 1 <= page_size <= PAGE_SIZE_MAX:
            raise invalid(f"page_size must be 1 to {PAGE_SIZE_MAX}")
        return page_num, page_size

    # -- generation ------------------------------------------------------------------------

    def generation(self, path: str) -> Endpoint:
        validate = VALIDATORS[path]
        state = self.state
        durations = state.config.job_duration_by_kind

        async def endpoint(request: web.Request, account: Account, trace_id: str) -> Any:
            data = await self.json_body(request)
            spec = validate(Ctx(state, account, data))
            state.admit(account, spec)
            duration = durations.get(spec.kind, state.config.job_duration).sample(state.rng)
            job = state.create_job(account, spec, trace_id, body_digest(path, data), duration)
            resp = {"image_id" if job.is_image else "video_id": job.id, "credits": job.credits}
            if path in CREDIT_SPELLING_PATHS:
                resp["credit"] = job.credits  # the page's spelling, beside the usual one (2.4)
            return resp

        return endpoint

    async def mask_selection(self, request: web.Request, account: Account, trace_id: str) -> Any:
        state = self.state
        ctx = Ctx(state, account, await self.json_body(request))
        source = ctx.video_source(max_bytes=rules.SOURCE_MAX_BYTES["mask_selection"])
        keyframe = ctx.body.int_("keyframe_id")
        keyframe = 1 if keyframe is None else keyframe
        frames = max(1, math.ceil(source.seconds * rules.MASK_FPS))
        if not 1 <= keyframe <= frames:
            raise invalid(f"keyframe_id must be 1 to {frames} (the video's last frame)")
        ctx.input_checks()
        credits = pricing.MASK_SELECTION_CREDITS
        if credits > account.balance:
            raise ApiError(500090, f"mask selection costs {credits} credits")
        state.charge(account, credits)
        info = []
        for name in MASK_NAMES:
            mask = Mask(str(state.new_id()), account.account_id, source.key, keyframe)
            state.masks[mask.mask_id] = mask
            info.append(
                {
                    "mask_id": mask.mask_id,
                    "mask_name": name,
                    "mask_url": self._url(f"mask-{mask.mask_id}.png"),
                }
            )
        kind, ident = source.key
        return {
            "keyframe_id": keyframe,
            "keyframe_url": self._url(f"keyframe-{kind}-{ident}-{keyframe}.png"),
            "credits": credits,
            "mask_info": info,
        }

    # -- results ---------------------------------------------------------------------------

    def _job(self, request: web.Request, account: Account, *, image: bool) -> Job:
        state = self.state
        state.stats.status_polls += 1
        raw = request.match_info["job_id"]
        if not (raw.isascii() and raw.isdigit()):  # "²".isdigit() is True, int() refuses it
            raise ApiError(400013, "the id in the path must be an integer")
        state.advance()
        job = state.jobs.get(int(raw))
        if job is None or job.is_image != image or job.account is not account:
            raise ApiError(500008, f"no {'image' if image else 'video'} with id {raw}")
        return job

    async def video_result(self, request: web.Request, account: Account, trace_id: str) -> Any:
        job = self._job(request, account, image=False)
        ok = job.status == SUCCEEDED
        return {
            "id": job.id,
            "status": job.visible_status,
            "url": self.file_url(job) if ok else "",
            "prompt": job.prompt,
            "negative_prompt": job.negative_prompt,
            "style": job.style,
            "seed": job.seed,
            "resolution_ratio": job.quality,
            "outputWidth": job.width,
            "outputHeight": job.height,
            "size": job.size,
            "has_audio": job.has_audio,
            "create_time": iso_time(job.created_wall),
            "modify_time": iso_time(job.modified_wall),
        }

    async def image_result(self, request: web.Request, account: Account, trace_id: str) -> Any:
        job = self._job(request, account, image=True)
        ok = job.status == SUCCEEDED
        return {
            "image_id": job.id,
            "status": job.visible_status,
            "url": self.file_url(job) if ok else "",
            "prompt": "",
            "prompt_translate": "",
            "seed": job.seed,
            "template_id": job.template_id,
            "create_time": iso_time(job.created_wall),
            "modify_time": iso_time(job.modified_wall),
            "outputWidth": job.width,
            "outputHeight": job.height,
            "credits": job.credits,
            "customer_paths": {},
        }

    # -- lists and balance -----------------------------------------------------------------

    async def tts_list(self, request: web.Request, account: Account, trace_id: str) -> Any:
        page, size = await self._query(request)
        start = (page - 1) * size
        data = [{"speaker_id": s, "name": n} for s, n in TTS_SPEAKERS[start : start + size]]
        return {"total": len(TTS_SPEAKERS), "data": data}

    async def restyle_list(self, request: web.Request, account: Account, trace_id: str) -> Any:
        page, size = await self._query(request)
        items = list(self.state.restyles.values())[(page - 1) * size : page * size]
        return [
            {
                "restyle_id": r.restyle_id,
                "restyle_name": r.restyle_name,
                "restyle_prompt": r.restyle_prompt,
                "cover_url": r.cover_url or self._url(f"restyle-{r.restyle_id}.png"),
            }
            for r in items
        ]

    async def balance(self, request: web.Request, account: Account, trace_id: str) -> Any:
        return {
            "account_id": account.account_id,
            "credit_monthly": account.credit_monthly,
            "credit_package": account.credit_package,
        }

    # -- uploads ---------------------------------------------------------------------------

    async def _form(
        self, request: web.Request, file_field: str, url_field: str, sink: _Sink
    ) -> str | None:
        """Read the upload form; stream the file part into ``sink``. Returns the URL field."""
        url: str | None = None
        got_file = False
        ctype = request.content_type
        if ctype == "multipart/form-data":
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, aiohttp.BodyPartReader):
                    continue
                if part.name == file_field and part.filename is not None:
                    if got_file:
                        raise invalid(f"send one {file_field} file")
                    got_file = True
                    sink.start(part.filename, part.headers.get("Content-Type", ""))
                    while chunk := await part.read_chunk(FILE_CHUNK):
                        sink.feed(chunk)
                elif part.name == url_field:
                    url = (await part.text()).strip()
                else:
                    await part.release()
        elif ctype == "application/x-www-form-urlencoded":
            value = (await request.post()).get(url_field)
            url = value.strip() if isinstance(value, str) else None
        else:
            raise invalid(f"send multipart/form-data with {file_field} or {url_field}")
        if got_file == bool(url):
            raise invalid(f"exactly one of {file_field} or {url_field} must be provided")
        return url

    async def _fetch(
        self, url: str, sink: _Sink, on_fail: ApiError, octet_error: ApiError | None
    ) -> None:
        assert self.session is not None
        timeout = aiohttp.ClientTimeout(total=URL_FETCH_TIMEOUT)
        try:
            async with self.session.get(url, timeout=timeout) as r:
                if r.status != 200:
                    raise on_fail
                ctype = r.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if octet_error is not None and ctype == "application/octet-stream":
                    raise octet_error
                sink.start(posixpath.basename(urlsplit(url).path), ctype)
                async for chunk in r.content.iter_chunked(FILE_CHUNK):
                    sink.feed(chunk)
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, ValueError):
            raise on_fail from None

    async def upload_image(self, request: web.Request, account: Account, trace_id: str) -> Any:
        sink = _Sink("image", rules.IMAGE_MAX_BYTES, ApiError(500030))
        url = await self._form(request, "image", "image_url", sink)
        if url is not None:
            if not url.lower().startswith(("http://", "https://")):
                raise ApiError(500042, "image_url must be an http(s) URL")
            await self._fetch(
                url, sink, ApiError(500041, f"could not fetch {url}"), ApiError(500032)
            )
        if sink.size >= rules.IMAGE_MAX_BYTES:
            raise ApiError(500030)
        info = sniff_image(bytes(sink.head))
        if info is None:
            raise ApiError(500032, "use jpg, jpeg, png or webp")
        if info.width is None or info.height is None:
            raise ApiError(500031)
        if max(info.width, info.height) > rules.IMAGE_MAX_SIDE:
            raise ApiError(500033, f"the longest side must be at most {rules.IMAGE_MAX_SIDE} px")
        if NAME_UPLOAD_MODERATION in sink.name:
            raise ApiError(500052, "image failed review", http_status=500, lower=True)
        upload = self._store(account, sink, "image", info.format, info.width, info.height, 0.0)
        ext = "jpg" if info.format == "jpeg" else info.format
        return {"img_id": upload.id, "img_url": self._url(f"upload-{upload.id}.{ext}")}

    async def upload_media(self, request: web.Request, account: Account, trace_id: str) -> Any:
        sink = _Sink("media", rules.VIDEO_UPLOAD_MAX_BYTES, invalid("the file is too large"))
        url = await self._form(request, "file", "file_url", sink)
        if url is not None:
            if not url.lower().startswith(("http://", "https://")):
                raise invalid("file_url must be an http(s) URL")
            await self._fetch(url, sink, invalid(f"could not fetch file_url {url}"), None)
        if sink.kind is None or sink.format is None:
            raise invalid(
                "unsupported media type: upload mp4/mov/webm video or mp3/wav/m4a/aac audio"
            )
        if sink.kind == "audio" and sink.size > rules.AUDIO_UPLOAD_MAX_BYTES:
            raise invalid(f"audio must be at most {rules.AUDIO_UPLOAD_MAX_BYTES // rules.MB} MB")
        movie = sink.scanner.info if sink.scanner.is_iso else None
        seconds = movie.seconds if movie and movie.seconds else None
        if sink.format == "wav":
            seconds = wav_seconds(bytes(sink.head))
        seconds = seconds or DEFAULT_MEDIA_SECONDS
        if seconds > rules.MEDIA_MAX_SECONDS + 1e-9:
            raise invalid(f"media is {seconds:.1f} s; at most {rules.MEDIA_MAX_SECONDS:g} s")
        width = height = 0
        if sink.kind == "video":
            width = (movie.width if movie else None) or DEFAULT_MEDIA_WIDTH
            height = (movie.height if movie else None) or DEFAULT_MEDIA_HEIGHT
            if max(width, height) > rules.VIDEO_MAX_SIDE:
                raise invalid(f"video width and height must be at most {rules.VIDEO_MAX_SIDE} px")
        upload = self._store(account, sink, sink.kind, sink.format, width, height, seconds)
        return {
            "media_id": upload.id,
            "media_type": sink.kind,
            "url": self._url(f"upload-{upload.id}.{sink.format}"),
        }

    def _store(
        self, account: Account, sink: _Sink, kind: str, fmt: str, w: int, h: int, seconds: float
    ) -> Upload:
        state = self.state
        upload = Upload(
            state.new_id(), account.account_id, kind, fmt, sink.size, w, h, seconds, sink.name
        )
        state.uploads[upload.id] = upload
        return upload

    # -- controls (outside /openapi) -------------------------------------------------------

    async def control_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.state.snapshot())

    async def control_faults(self, request: web.Request) -> web.Response:
        state = self.state
        if request.method == "POST":
            try:
                state.set_faults(fault_plan_from_json(await request.json()))
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
        return web.json_response(_plain(state.faults))

    async def control_reset(self, request: web.Request) -> web.Response:
        self.state.reset()
        return web.json_response({"reset": True})

    async def control_accounts(self, request: web.Request) -> web.Response:
        try:
            account = self.state.upsert_account(account_from_json(await request.json()))
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"account_id": account.account_id})

    async def control_job(self, request: web.Request) -> web.Response:
        state = self.state
        state.advance()
        raw = request.match_info["job_id"]
        job = state.jobs.get(int(raw)) if raw.isascii() and raw.isdigit() else None
        if job is None:
            return web.json_response({"error": f"no job {raw}"}, status=404)
        try:
            status = (await request.json())["status"]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'send {"status": 1|6|7|8}'}, status=400)
        if type(status) is not int or status not in TERMINAL:
            return web.json_response({"error": "status must be 1, 6, 7 or 8"}, status=400)
        if job.status == RUNNING or status == 6:
            state.finish(job, status)
        return web.json_response({"id": job.id, "status": job.status})

    async def control_webhooks(self, request: web.Request) -> web.Response:
        return web.json_response({"deliveries": self.state.deliveries})

    async def files(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        found = self._virtual_file(name)
        if found is None:
            raise web.HTTPNotFound()
        head, total, seed, ctype = found
        return await _serve_range(request, head, total, seed, ctype)

    def _virtual_file(self, name: str) -> tuple[bytes, int, int, str] | None:
        state = self.state
        state.advance()
        m = re.fullmatch(r"(\d+)\.(mp4|png)", name)
        if m:
            job = state.jobs.get(int(m.group(1)))
            if job is None or job.status != SUCCEEDED:
                return None
            if job.is_image:
                return make_png(8, 8), job.size, job.id, "image/png"
            return (
                mp4_header(job.seconds, job.width, job.height, job.size),
                job.size,
                job.id,
                "video/mp4",
            )
        m = re.fullmatch(r"upload-(\d+)\.(\w+)", name)
        if m:
            upload = state.uploads.get(int(m.group(1)))
            if upload is None:
                return None
            if upload.kind == "video":
                head = mp4_header(upload.seconds, upload.width, upload.height, upload.size)
                return head, upload.size, upload.id, "video/mp4"
            if upload.kind == "image":
                png = make_png(min(upload.width, 64), min(upload.height, 64))
                return png, len(png), upload.id, "image/png"
            return b"", upload.size, upload.id, "application/octet-stream"
        if re.fullmatch(r"(mask|keyframe|restyle)-[\w-]+\.png", name):
            png = make_png(16, 16, color=(255, 255, 255))
            return png, len(png), 0, "image/png"
        return None


class _Sink:
    """Receives an upload's bytes: counts them, keeps the head, scans MP4 boxes, enforces size."""

    def __init__(self, mode: str, limit: int, too_big: ApiError) -> None:
        self.mode = mode
        self.limit = limit
        self.too_big = too_big
        self.size = 0
        self.head = bytearray()
        self.scanner = Mp4Scanner()
        self.name = ""
        self.kind: str | None = "image" if mode == "image" else None
        self.format: str | None = None

    def start(self, name: str, content_type: str) -> None:
        self.name = name or ""
        if self.mode == "image":
            return
        mime = content_type.split(";")[0].strip().lower()
        ext = posixpath.splitext(self.name)[1].lstrip(".").lower()
        if mime in rules.VIDEO_MIME_TO_EXT:
            self.kind, self.format = "video", rules.VIDEO_MIME_TO_EXT[mime]
        elif mime in rules.AUDIO_MIME_TO_EXT:
            self.kind, self.format = "audio", rules.AUDIO_MIME_TO_EXT[mime]
        elif ext in rules.VIDEO_EXTENSIONS:
            self.kind, self.format = "video", ext
        elif ext in rules.AUDIO_EXTENSIONS:
            self.kind, self.format = "audio", ext
        if self.kind == "audio":
            self.limit = rules.AUDIO_UPLOAD_MAX_BYTES
            self.too_big = invalid(
                f"audio must be at most {rules.AUDIO_UPLOAD_MAX_BYTES // rules.MB} MB"
            )

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit or (self.mode == "image" and self.size >= self.limit):
            raise self.too_big
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        if self.kind != "image":
            self.scanner.feed(chunk)


async def _serve_range(
    request: web.Request, head: bytes, total: int, seed: int, ctype: str
) -> web.StreamResponse:
    total = max(total, len(head))
    start, end = 0, total - 1
    status = 200
    rng = request.headers.get("Range")
    if rng:
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
        if not m or (not m.group(1) and not m.group(2)):
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{total}"})
        if m.group(1):
            start = int(m.group(1))
            end = min(int(m.group(2)), total - 1) if m.group(2) else total - 1
        else:
            start = max(0, total - int(m.group(2)))
        if start >= total or start > end:
            raise web.HTTPRequestRangeNotSatisfiable(headers={"Content-Range": f"bytes */{total}"})
        status = 206
    response = web.StreamResponse(status=status)
    response.content_type = ctype
    response.content_length = end - start + 1
    response.headers["Accept-Ranges"] = "bytes"
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{total}"
    await response.prepare(request)
    if request.method == "HEAD":
        return response
    pos = start
    while pos <= end:
        n = min(FILE_CHUNK, end - pos + 1)
        if pos < len(head):
            piece = head[pos : pos + n]
            piece += filler(seed, pos + len(piece), n - len(piece))
        else:
            piece = filler(seed, pos, n)
        await response.write(piece)
        pos += n
    await response.write_eof()
    return response


def _plain(value: Any) -> Any:
    """Dataclasses, enums and tuples to JSON-ready data."""
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, FaultKind):
        return value.value
    return value


_GET_ENDPOINTS = {
    "/video/result/{job_id}": "video_result",
    "/image/result/{job_id}": "image_result",
    "/video/lip_sync/tts_list": "tts_list",
    "/video/tts_speaker": "tts_list",
    "/video/restyle/list": "restyle_list",
    "/account/balance": "balance",
}
_POST_ENDPOINTS = {
    "/video/mask/selection": "mask_selection",
    "/image/upload": "upload_image",
    "/media/upload": "upload_media",
}


def build_app(
    api: Api, background: Callable[[aiohttp.ClientSession], AsyncIterator[None]]
) -> web.Application:
    """The aiohttp application serving ``api.state``.

    ``background`` is an async generator run for the app's lifetime with the app's client
    session (URL fetches, webhook deliveries): it starts background work, yields, stops it.
    """
    state = api.state
    app = web.Application(client_max_size=rules.MB)
    app[STATE_KEY] = state

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            api.session = session
            app[SESSION_KEY] = session
            async for _ in background(session):
                yield

    app.cleanup_ctx.append(lifecycle)
    router = app.router
    for path in VALIDATORS:
        router.add_post(API_PREFIX + path, api.wrap(path, api.generation(path)))
    for path, attr in _POST_ENDPOINTS.items():
        router.add_post(API_PREFIX + path, api.wrap(path, getattr(api, attr)))
    for path, attr in _GET_ENDPOINTS.items():
        router.add_get(API_PREFIX + path, api.wrap(path, getattr(api, attr)))
    router.add_get(CONTROL_PREFIX + "/stats", api.control_stats)
    router.add_route("*", CONTROL_PREFIX + "/faults", api.control_faults)
    router.add_post(CONTROL_PREFIX + "/reset", api.control_reset)
    router.add_post(CONTROL_PREFIX + "/accounts", api.control_accounts)
    router.add_post(CONTROL_PREFIX + "/jobs/{job_id}", api.control_job)
    router.add_get(CONTROL_PREFIX + "/webhooks", api.control_webhooks)
    router.add_get(CONTROL_PREFIX + "/files/{name}", api.files)
    return app
