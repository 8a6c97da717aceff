"""The transport seam: a custom transport written without aiohttp drives uploads and downloads.

The first part runs ``AsyncPixVerse`` on :class:`MemoryTransport`, an in-memory fake that
reads :class:`FormPart` s the way any HTTP stack would and never touches a socket. The second
part checks that the default :class:`AiohttpTransport` sends the same parts over real sockets,
and that its downloads fail the way the :class:`Transport` protocol says.
"""

from __future__ import annotations

import ast
import asyncio
import io
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import pytest
from aiohttp import BodyPartReader, web

import pixverse_async
from pixverse_async import AsyncPixVerse, RetryPolicy
from pixverse_async._config import Limits, Timeouts
from pixverse_async._exceptions import APIConnectionError, APITimeoutError, ServerError
from pixverse_async._retry import with_retries
from pixverse_async._transport import AiohttpTransport, FormPart, Request, Response
from pixverse_async.emulator import make_mp4, make_png, make_wav
from pixverse_async.types import VideoResult
from tests._servers import serve

pytestmark = pytest.mark.anyio

KEY = "pv-custom-transport-key-0042"
FAST_RETRY = RetryPolicy(max_retries=3, initial_backoff=0.001, max_backoff=0.01, max_elapsed=10)
CDN = "https://cdn.example.com"


# -- an in-memory transport -------------------------------------------------------------------


@dataclass
class Attempt:
    """What one ``send`` received, read back from its parts as a server would."""

    request: Request
    fields: dict[str, str] = field(default_factory=dict)
    #: name -> (filename, content type, content)
    files: dict[str, tuple[str | None, str | None, bytes]] = field(default_factory=dict)


def read_part(part: FormPart) -> bytes:
    """The content a transport sends for a file part (see :class:`FormPart`)."""
    value = part.value
    if isinstance(value, bytes):
        return value
    if isinstance(value, Path):
        return value.read_bytes()  # opened afresh for this attempt
    assert not isinstance(value, str)
    file: IO[bytes] = value
    file.seek(part.offset)  # every attempt starts at the same place...
    return file.read(-1 if part.size is None else part.size)  # ...and it stays open


def names(folder: Path) -> list[str]:
    """The files in ``folder`` (a leftover temporary file shows up here)."""
    return sorted(p.name for p in folder.iterdir())


class MemoryTransport:
    """A :class:`Transport` in memory: records uploads, serves downloads from a dict.

    Args:
        files: URL -> body served by ``download``.
        short: URL -> the ``Content-Length`` announced for a body that ends before it.
    """

    def __init__(
        self, files: dict[str, bytes] | None = None, short: dict[str, int] | None = None
    ) -> None:
        self.files = files or {}
        self.short = short or {}
        self.attempts: list[Attempt] = []
        self.lose_answers = 0  # attempts whose answer is lost after the body was read
        self.finished_downloads: list[str] = []
        self.closed = False
        self._next_id = 100

    async def send(self, request: Request) -> Response:
        assert request.multipart is not None, "only uploads are expected"
        attempt = Attempt(request)
        for part in request.multipart:
            if isinstance(part.value, str):
                attempt.fields[part.name] = part.value
            else:
                attempt.files[part.name] = (part.filename, part.content_type, read_part(part))
        self.attempts.append(attempt)
        if self.lose_answers:
            self.lose_answers -= 1
            raise APIConnectionError("connection reset", trace_id=request.trace_id)
        self._next_id += 1
        if request.path == "/image/upload":
            data: dict[str, Any] = {
                "img_id": self._next_id,
                "img_url": f"{CDN}/upload-{self._next_id}.png",
            }
        else:
            _, ctype, _ = attempt.files.get("file", (None, "video/mp4", b""))
            kind = "audio" if (ctype or "").startswith("audio/") else "video"
            data = {"media_id": self._next_id, "media_type": kind, "url": f"{CDN}/m.mp4"}
        return Response(data=data, http_status=200, trace_id=request.trace_id)

    async def download(self, url: str) -> AsyncIterator[bytes]:
        try:
            if url not in self.files:
                raise APIConnectionError(f"download of {url} answered HTTP 404")
            body = self.files[url]
            for start in range(0, len(body), 4):
                yield body[start : start + 4]
                await asyncio.sleep(0)
            declared = self.short.get(url)
            if declared is not None:
                raise APIConnectionError(f"download of {url} was short: {len(body)} of {declared}")
        finally:
            self.finished_downloads.append(url)  # closed by the consumer, even when cancelled

    async def aclose(self) -> None:
        self.closed = True


@pytest.fixture
async def memory() -> MemoryTransport:
    return MemoryTransport()


@pytest.fixture
async def client(memory: MemoryTransport) -> AsyncIterator[AsyncPixVerse]:
    async with AsyncPixVerse(api_key=KEY, transport=memory, retry=FAST_RETRY) as c:
        yield c
    assert memory.closed


def test_uploads_and_downloads_need_no_aiohttp() -> None:
    """The modules that build uploads and write downloads use only the transport."""
    package = Path(pixverse_async.__file__).parent
    for module in ("resources/media.py", "_download.py"):
        tree = ast.parse((package / module).read_text())
        imported = {
            name
            for node in ast.walk(tree)
            if isinstance(node, (ast.Import, ast.ImportFrom))
            for name in (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            )
        }
        assert not any(str(name).startswith("aiohttp") for name in imported), module


async def test_upload_image_from_a_path(
    client: AsyncPixVerse, memory: MemoryTransport, tmp_path: Path
) -> None:
    png = make_png(32, 24)
    path = tmp_path / "still.png"
    path.write_bytes(png)
    uploaded = await client.media.upload_image(path)
    assert uploaded.img_id == 101 and uploaded.img_url == f"{CDN}/upload-101.png"
    (attempt,) = memory.attempts
    assert (attempt.request.method, attempt.request.path) == ("POST", "/image/upload")
    (part,) = attempt.request.multipart or ()
    assert part.value == path  # streamed by the transport, not read by the client
    assert attempt.files == {"image": ("still.png", "image/png", png)}
    assert attempt.fields == {}


async def test_upload_image_from_bytes(client: AsyncPixVerse, memory: MemoryTransport) -> None:
    png = make_png(16, 16)
    await client.media.upload_image(png, filename="a.png")
    assert memory.attempts[0].files == {"image": ("a.png", "image/png", png)}


async def test_file_object_retry_resends_the_same_bytes_and_leaves_it_open(
    client: AsyncPixVerse, memory: MemoryTransport, tmp_path: Path
) -> None:
    png = make_png(40, 30)
    path = tmp_path / "container.bin"
    path.write_bytes(b"HEADER" + png)
    memory.lose_answers = 1  # the first attempt's body is read, then its answer is lost
    with path.open("rb") as f:
        f.seek(len(b"HEADER"))  # the image starts here in the caller's file
        uploaded = await client.media.upload_image(f, filename="inner.png")
        assert not f.closed  # the caller's file is theirs to close
    assert uploaded.img_id == 101
    first, second = memory.attempts
    assert first.request is second.request  # resent unchanged, trace id included
    (part,) = second.request.multipart or ()
    assert (part.offset, part.size) == (len(b"HEADER"), len(png))
    assert first.files == second.files == {"image": ("inner.png", "image/png", png)}


async def test_upload_media_video_and_audio(
    client: AsyncPixVerse, memory: MemoryTransport, tmp_path: Path
) -> None:
    clip = make_mp4(2.0, 64, 64)
    path = tmp_path / "clip.mp4"
    path.write_bytes(clip)
    video = await client.media.upload_media(path)
    audio = await client.media.upload_media(io.BytesIO(make_wav(1.0)), filename="voice.wav")
    assert (video.media_type, audio.media_type) == ("video", "audio")
    assert memory.attempts[0].request.path == "/media/upload"
    assert memory.attempts[0].files == {"file": ("clip.mp4", "video/mp4", clip)}
    assert memory.attempts[1].files["file"][:2] == ("voice.wav", "audio/wav")


async def test_upload_by_url_is_a_plain_field(
    client: AsyncPixVerse, memory: MemoryTransport
) -> None:
    await client.media.upload_image(image_url="https://example.com/a.png")
    await client.media.upload_media(file_url="https://example.com/a.mp4")
    image, media = memory.attempts
    assert (image.fields, image.files) == ({"image_url": "https://example.com/a.png"}, {})
    assert (media.fields, media.files) == ({"file_url": "https://example.com/a.mp4"}, {})
    assert image.request.multipart is not None and image.request.json is None


async def test_download_writes_the_complete_file(
    client: AsyncPixVerse, memory: MemoryTransport, tmp_path: Path
) -> None:
    body = bytes(range(256)) * 3
    memory.files[f"{CDN}/v.mp4"] = body
    path = await client.download(f"{CDN}/v.mp4", tmp_path / "out" / "v.mp4")
    assert path == tmp_path / "out" / "v.mp4"
    assert path.read_bytes() == body
    assert names(path.parent) == ["v.mp4"]  # no temporary file left


async def test_short_download_leaves_nothing(
    client: AsyncPixVerse, memory: MemoryTransport, tmp_path: Path
) -> None:
    memory.files[f"{CDN}/short.mp4"] = b"x" * 10
    memory.short[f"{CDN}/short.mp4"] = 1000
    with pytest.raises(APIConnectionError, match="short"):
        await client.download(f"{CDN}/short.mp4", tmp_path / "short.mp4")
    assert names(tmp_path) == []


async def test_a_complete_download_never_fails_on_the_result_size(
    client: AsyncPixVerse,
    memory: MemoryTransport,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The result's ``size`` has no documented unit (reference 4.18): a byte count that differs
    from it is logged at DEBUG; completeness is the transport's Content-Length check."""
    memory.files[f"{CDN}/v.mp4"] = b"x" * 10
    result = VideoResult(id=1, status=1, url=f"{CDN}/v.mp4", size=11)
    with caplog.at_level(logging.DEBUG, logger="pixverse_async"):
        await client.download(result, tmp_path / "v.mp4")
    assert (tmp_path / "v.mp4").read_bytes() == b"x" * 10
    assert names(tmp_path) == ["v.mp4"]
    (record,) = [r for r in caplog.records if "size says 11" in r.getMessage()]
    assert (record.name, record.levelno) == ("pixverse_async", logging.DEBUG)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="pixverse_async"):
        await client.download(result.model_copy(update={"size": 10}), tmp_path / "v.mp4")
    assert not [r for r in caplog.records if "size says" in r.getMessage()]  # agreeing: silent


async def test_cancelled_download_closes_the_stream_and_leaves_nothing(
    client: AsyncPixVerse, memory: MemoryTransport, tmp_path: Path
) -> None:
    class Stalling(MemoryTransport):
        async def download(self, url: str) -> AsyncIterator[bytes]:
            try:
                yield b"first bytes"
                await asyncio.sleep(10)
                yield b"never"
            finally:
                self.finished_downloads.append(url)

    stalling = Stalling()
    async with AsyncPixVerse(api_key=KEY, transport=stalling) as c:
        with anyio.move_on_after(0.1) as scope:
            await c.download(f"{CDN}/slow.mp4", tmp_path / "slow.mp4")
    assert scope.cancelled_caught
    assert names(tmp_path) == []
    assert stalling.finished_downloads == [f"{CDN}/slow.mp4"]


def test_form_part_rejects_what_no_transport_could_send() -> None:
    with pytest.raises(ValueError, match="file objects"):
        FormPart("image", b"data", offset=3)
    with pytest.raises(ValueError, match="plain field"):
        FormPart("image_url", "https://example.com/a.png", filename="a.png")
    with pytest.raises(ValueError, match="0 or more"):
        FormPart("image", io.BytesIO(b"data"), size=-1)


# -- the default transport over real sockets --------------------------------------------------


@dataclass
class Seen:
    """Uploads and downloads a loopback server received."""

    uploads: list[tuple[str, list[tuple[str | None, str | None, str | None, bytes]]]] = field(
        default_factory=list
    )
    download_keys: list[str | None] = field(default_factory=list)
    fail_uploads: int = 0
    stop_stalling: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()

    async def upload(request: web.Request) -> web.Response:
        parts = []
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            assert isinstance(part, BodyPartReader)
            ctype = part.headers.get("Content-Type")
            parts.append((part.name, part.filename, ctype, bytes(await part.read())))
        seen.uploads.append((request.content_type, parts))
        if seen.fail_uploads:
            seen.fail_uploads -= 1
            return web.Response(status=503, text="busy")
        return web.json_response({"ErrCode": 0, "ErrMsg": "success", "Resp": {"img_id": 1}})

    async def file(request: web.Request) -> web.Response:
        seen.download_keys.append(request.headers.get("API-KEY"))
        return web.Response(body=b"0123456789" * 100)

    async def redirect(request: web.Request) -> web.Response:
        seen.download_keys.append(request.headers.get("API-KEY"))
        raise web.HTTPFound("/cdn/file.mp4")

    async def short(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"x" * 100)
        assert request.transport is not None
        request.transport.close()  # the connection drops before the announced length
        return response

    async def slow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "1000"})
        await response.prepare(request)
        await response.write(b"x" * 100)
        await seen.stop_stalling.wait()  # past the client's read timeout
        return response

    app = web.Application()
    app.router.add_post("/openapi/v2/image/upload", upload)
    app.router.add_get("/cdn/file.mp4", file)
    app.router.add_get("/cdn/moved.mp4", redirect)
    app.router.add_get("/cdn/short.mp4", short)
    app.router.add_get("/cdn/slow.mp4", slow)
    async with serve(app) as origin:
        yield origin, seen
        seen.stop_stalling.set()  # the server's cleanup waits for its handlers


@pytest.fixture
async def aiohttp_transport(server: tuple[str, Seen]) -> AsyncIterator[AiohttpTransport]:
    origin, _ = server
    t = AiohttpTransport(
        api_key=KEY,
        base_url=origin + "/openapi/v2",
        timeouts=Timeouts(read=0.5),
        limits=Limits(),
        user_agent="pixverse-async-tests",
    )
    yield t
    await t.aclose()


async def test_aiohttp_transport_sends_every_kind_of_part(
    aiohttp_transport: AiohttpTransport, server: tuple[str, Seen], tmp_path: Path
) -> None:
    _, seen = server
    path = tmp_path / "p.png"
    path.write_bytes(b"path content")
    seen.fail_uploads = 1  # HTTP 503: retried, so the body is built twice
    with io.BytesIO(b"HEADERwindowTRAILER") as f:
        parts = (
            FormPart("note", "plain text"),
            FormPart("raw", b"raw bytes", content_type="image/png"),
            FormPart("path", path, filename="p.png", content_type="image/png"),
            FormPart("window", f, filename="w.bin", offset=6, size=6),
        )
        send = with_retries(aiohttp_transport.send, FAST_RETRY)
        await send(Request("POST", "/image/upload", "t-1", multipart=parts))
        assert not f.closed
    expected = [
        ("note", None, "text/plain", b"plain text"),
        ("raw", "raw", "image/png", b"raw bytes"),  # no filename: its name is sent as one
        ("path", "p.png", "image/png", b"path content"),
        ("window", "w.bin", "application/octet-stream", b"window"),  # not the trailer
    ]
    assert len(seen.uploads) == 2
    for content_type, received in seen.uploads:
        assert content_type == "multipart/form-data"
        assert [(n, fn, (ct or "").split(";")[0], b) for n, fn, ct, b in received] == expected


async def test_aiohttp_transport_sends_a_lone_field_as_multipart(
    aiohttp_transport: AiohttpTransport, server: tuple[str, Seen]
) -> None:
    _, seen = server
    parts = (FormPart("image_url", "https://example.com/a.png"),)
    await aiohttp_transport.send(Request("POST", "/image/upload", "t-2", multipart=parts))
    ((content_type, received),) = seen.uploads
    assert content_type == "multipart/form-data"
    assert [(n, b) for n, _, _, b in received] == [("image_url", b"https://example.com/a.png")]


async def test_aiohttp_transport_file_object_to_its_end(
    aiohttp_transport: AiohttpTransport, server: tuple[str, Seen]
) -> None:
    _, seen = server
    f = io.BytesIO(b"skip|the rest")
    parts = (FormPart("image", f, filename="x.png", offset=5),)
    await aiohttp_transport.send(Request("POST", "/image/upload", "t-3", multipart=parts))
    assert seen.uploads[0][1][0][3] == b"the rest"


async def test_aiohttp_transport_errors_keep_their_types(
    aiohttp_transport: AiohttpTransport, server: tuple[str, Seen]
) -> None:
    _, seen = server
    seen.fail_uploads = 1
    with pytest.raises(ServerError):  # a 503 proxy page, left to the retry layer
        await aiohttp_transport.send(
            Request("POST", "/image/upload", "t-4", multipart=(FormPart("image", b"x"),))
        )


async def test_aiohttp_download_follows_redirects_without_the_key(
    aiohttp_transport: AiohttpTransport, server: tuple[str, Seen]
) -> None:
    origin, seen = server
    chunks = [chunk async for chunk in aiohttp_transport.download(origin + "/cdn/moved.mp4")]
    assert b"".join(chunks) == b"0123456789" * 100
    assert seen.download_keys == [None, None]


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("missing.mp4", APIConnectionError, "HTTP 404"),
        ("short.mp4", APIConnectionError, "failed"),
        ("slow.mp4", APITimeoutError, "timed out"),
    ],
)
async def test_aiohttp_download_failures(
    aiohttp_transport: AiohttpTransport,
    server: tuple[str, Seen],
    name: str,
    error: type[Exception],
    match: str,
) -> None:
    origin, _ = server
    with pytest.raises(error, match=match):
        async for _ in aiohttp_transport.download(f"{origin}/cdn/{name}"):
            pass
