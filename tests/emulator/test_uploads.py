"""``POST /image/upload`` and ``POST /media/upload`` (reference 4.21, 4.22, section 9).

Files go up as multipart parts or are fetched by the emulator from a loopback server the test
starts; sizes, formats, durations and dimensions come from the bytes themselves, and what the
emulator read is checked through what it later charges or reports.
"""

from __future__ import annotations

import io
import socket
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pixverse_async.emulator import (
    AccountConfig,
    Emulator,
    EmulatorConfig,
    Fixed,
    make_mp4,
    make_png,
    make_wav,
)

from ..conftest import Raw
from .test_media import (
    make_jpeg,
    make_webp_vp8,
    make_webp_vp8l,
    make_webp_vp8x,
    mp4_moov_last,
    png_with_ihdr,
)

pytestmark = pytest.mark.anyio

MB = 1024 * 1024  # the project's MB (pixverse_async._rules.MB)
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + bytes(4000)  # EBML header: no mvhd to read
MODIFY = "/video/modify/generate"


# ---------------------------------------------------------------------------
# Helpers


def form(field: str, data: Any, filename: str, content_type: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field(field, data, filename=filename, content_type=content_type)
    return f


def url_form(field: str, url: str) -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field(field, url)
    return f


async def stream(head: bytes, total: int, chunk: int = MB) -> AsyncIterator[bytes]:
    """``head`` then zero bytes up to ``total`` bytes, without building them in one object."""
    yield head
    sent = len(head)
    block = bytes(chunk)
    while sent < total:
        n = min(chunk, total - sent)
        yield block[:n]
        sent += n


async def image_upload(
    raw: Raw, data: Any, *, name: str = "a.png", ctype: str = "image/png"
) -> tuple[int, dict[str, Any]]:
    return await raw.post("/image/upload", data=form("image", data, name, ctype))


async def media_upload(raw: Raw, data: Any, *, name: str, ctype: str) -> tuple[int, dict[str, Any]]:
    return await raw.post("/media/upload", data=form("file", data, name, ctype))


def err(status: int, doc: dict[str, Any]) -> int:
    assert status == 200, (status, doc)
    return int(doc["ErrCode"])


async def modify_credits(raw: Raw, media_id: int, quality: str = "540p") -> int:
    """Credits of a modify job on the upload: 8/10/12 per source second (reference 11.5)."""
    body = {"video_media_id": media_id, "prompt": "make it snow", "quality": quality}
    return int((await raw.ok(MODIFY, body))["credits"])


async def mask_frames_ok(raw: Raw, media_id: int, keyframe: int) -> bool:
    """Whether mask selection accepts ``keyframe`` (frames = 24 fps x the source's seconds)."""
    status, doc = await raw.post(
        "/video/mask/selection", {"video_media_id": media_id, "keyframe_id": keyframe}
    )
    assert status == 200 and doc["ErrCode"] in (0, 400017), doc
    return bool(doc["ErrCode"] == 0)


async def upscale_dims(raw: Raw, media_id: int) -> tuple[int, int]:
    """Output size of an upscale of the upload: 1080p with the source's aspect ratio."""
    resp = await raw.ok("/video/upscale/generate", {"video_media_id": media_id})
    done = await raw.result(resp["video_id"])
    return done["outputWidth"], done["outputHeight"]


async def image_dims(raw: Raw, img_id: int) -> tuple[int, int]:
    """Size the emulator read from an uploaded image, via an image-template job's output."""
    resp = await raw.ok("/image/template/generate", {"template_id": 400_001, "img_ids": [img_id]})
    job = await raw.result(resp["image_id"], image=True)
    return job["outputWidth"], job["outputHeight"]


@dataclass
class Origin:
    """A loopback HTTP server the emulator fetches ``image_url`` / ``file_url`` from."""

    server: TestServer
    hits: Counter[str] = field(default_factory=Counter)

    def url(self, name: str) -> str:
        return str(self.server.make_url(f"/{name}"))


ORIGIN_FILES: dict[str, tuple[bytes, str]] = {
    "still.png": (make_png(320, 200), "image/png"),
    "photo.jpg": (make_jpeg(1200, 800), "image/jpeg"),
    "pic.webp": (make_webp_vp8x(500, 400), "image/webp; charset=binary"),
    "blob.png": (make_png(32, 32), "application/octet-stream"),
    "emulator-moderate.png": (make_png(32, 32), "image/png"),
    "anim.gif": (b"GIF89a" + bytes(40), "image/gif"),
    "clip.mp4": (make_mp4(6.0, 640, 480, size=30_000), "video/mp4"),
    "clip-octet.mov": (make_mp4(4.0, 480, 640, size=10_000), "application/octet-stream"),
    "voice.wav": (make_wav(2.0), "audio/wav"),
    "long.wav": (make_wav(31.0), "audio/wav"),
    "notes.txt": (b"hello", "text/plain"),
}


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    app = web.Application()
    hits: Counter[str] = Counter()

    async def serve(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hits[name] += 1
        if name == "huge.png":  # 20 MB, streamed
            response = web.StreamResponse(headers={"Content-Type": "image/png"})
            await response.prepare(request)
            async for chunk in stream(make_png(8, 8), 20 * MB):
                await response.write(chunk)
            await response.write_eof()
            return response
        if name not in ORIGIN_FILES:
            raise web.HTTPNotFound()
        body, ctype = ORIGIN_FILES[name]
        return web.Response(body=body, headers={"Content-Type": ctype})

    app.router.add_get("/{name}", serve)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield Origin(server, hits)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/still.png"


# ---------------------------------------------------------------------------
# /image/upload: file part


@pytest.mark.parametrize(
    ("data", "name", "ctype", "size"),
    [
        (make_png(640, 360), "still.png", "image/png", (640, 360)),
        (make_jpeg(1200, 800), "photo.jpg", "image/jpeg", (1200, 800)),
        (make_jpeg(801, 1203, sof=0xC2), "prog.jpeg", "image/jpg", (801, 1203)),
        (make_webp_vp8(1024, 768), "lossy.webp", "image/webp", (1024, 768)),
        (make_webp_vp8l(300, 500), "lossless.webp", "image/webp", (300, 500)),
        (make_webp_vp8x(4000, 3000), "extended.webp", "image/webp", (4000, 3000)),
        # the format comes from the content, not from the part's name or type
        (make_jpeg(64, 48), "mislabelled.png", "application/octet-stream", (64, 48)),
        (png_with_ihdr(10_000, 2), "widest.png", "image/png", (10_000, 2)),
    ],
)
async def test_image_upload_formats(
    raw: Raw, data: bytes, name: str, ctype: str, size: tuple[int, int]
) -> None:
    status, doc = await image_upload(raw, data, name=name, ctype=ctype)
    assert status == 200 and doc["ErrCode"] == 0, doc
    resp = doc["Resp"]
    assert set(resp) >= {"img_id", "img_url"}
    assert type(resp["img_id"]) is int and 2**53 < resp["img_id"] < 2**63
    assert resp["img_url"].startswith(("http://", "https://"))
    async with raw.session.get(resp["img_url"]) as r:
        assert r.status == 200 and r.content_type.startswith("image/")
    assert await image_dims(raw, resp["img_id"]) == size
    assert (await raw.stats())["uploads"] == 1


async def test_image_upload_ids_are_distinct(raw: Raw) -> None:
    ids = {await raw.upload_image(name=f"{i}.png") for i in range(3)}
    assert len(ids) == 3 and all(i > 2**53 for i in ids)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(30), 500032),
        (b"this is not an image at all", 500032),
        (b"BM" + bytes(100), 500032),
        (make_wav(0.1), 500032),
        (b"\x89PNG\r\n\x1a\n" + bytes(4), 500031),  # PNG signature, no IHDR
        (png_with_ihdr(0, 100), 500031),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"no markers here", 500031),
        (b"RIFF\x20\x00\x00\x00WEBPVP8 " + bytes(20), 500031),
        (png_with_ihdr(10_001, 10), 500033),
        (png_with_ihdr(10, 10_001), 500033),
        (make_jpeg(12_000, 50), 500033),
        (make_webp_vp8x(10_001, 10_001), 500033),
    ],
)
async def test_image_upload_rejects_bad_content(raw: Raw, data: bytes, code: int) -> None:
    assert err(*await image_upload(raw, data)) == code
    assert (await raw.stats())["uploads"] == 0


async def test_image_upload_size_limit(raw: Raw) -> None:
    """< 20 MB is accepted; 20 MB is not (reference 9.1: 500030). Streamed, never in memory."""
    status, doc = await image_upload(raw, stream(make_png(16, 16), 20 * MB - 1))
    assert status == 200 and doc["ErrCode"] == 0, doc
    assert err(*await image_upload(raw, stream(make_png(16, 16), 20 * MB))) == 500030
    assert err(*await image_upload(raw, stream(make_png(16, 16), 25 * MB))) == 500030
    assert (await raw.stats())["uploads"] == 1


@pytest.mark.parametrize("name", ["emulator-moderate.png", "holiday-emulator-moderate-2.jpg"])
async def test_image_upload_moderation_is_http_500_lower_case(raw: Raw, name: str) -> None:
    data = make_png(32, 32) if name.endswith(".png") else make_jpeg(32, 32)
    f = form("image", data, name, "image/png")
    async with raw.session.post(raw.base + "/image/upload", data=f, headers=raw.headers()) as r:
        assert r.status == 500
        doc = await r.json()
    assert set(doc) == {"err_code", "err_msg", "resp"}
    assert doc["err_code"] == 500052 and isinstance(doc["err_msg"], str) and doc["err_msg"]
    assert (await raw.stats())["uploads"] == 0


async def test_image_upload_needs_exactly_one_of_image_and_image_url(
    raw: Raw, origin: Origin
) -> None:
    both = form("image", make_png(8, 8), "a.png", "image/png")
    both.add_field("image_url", origin.url("still.png"))
    assert err(*await raw.post("/image/upload", data=both)) == 400017
    neither = aiohttp.FormData()
    neither.add_field("caption", "nothing here")
    assert err(*await raw.post("/image/upload", data=neither)) == 400017
    assert err(*await raw.post("/image/upload", data={"caption": "x"})) == 400017  # urlencoded
    assert (await raw.stats())["uploads"] == 0


# ---------------------------------------------------------------------------
# /image/upload: image_url


async def test_image_url_multipart_is_fetched(raw: Raw, origin: Origin) -> None:
    resp = await raw.ok("/image/upload", data=url_form("image_url", origin.url("photo.jpg")))
    assert origin.hits["photo.jpg"] == 1
    assert resp["img_id"] > 2**53 and resp["img_url"].startswith("http")
    assert await image_dims(raw, resp["img_id"]) == (1200, 800)


async def test_image_url_urlencoded_is_fetched(raw: Raw, origin: Origin) -> None:
    resp = await raw.ok("/image/upload", data={"image_url": origin.url("pic.webp")})
    assert origin.hits["pic.webp"] == 1
    assert await image_dims(raw, resp["img_id"]) == (500, 400)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("missing.png", 500041),  # HTTP 404
        ("blob.png", 500032),  # served as application/octet-stream (reference 9.1)
        ("anim.gif", 500032),
        ("huge.png", 500030),
    ],
)
async def test_image_url_errors(raw: Raw, origin: Origin, name: str, code: int) -> None:
    for data in (url_form("image_url", origin.url(name)), {"image_url": origin.url(name)}):
        assert err(*await raw.post("/image/upload", data=data)) == code
    assert origin.hits[name] == 2
    assert (await raw.stats())["uploads"] == 0


async def test_image_url_unreachable(raw: Raw) -> None:
    assert err(*await raw.post("/image/upload", data={"image_url": closed_port_url()})) == 500041


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/still.png", "file:///etc/hosts", "still.png", "//host/a.png"]
)
async def test_image_url_must_be_http(raw: Raw, url: str) -> None:
    assert err(*await raw.post("/image/upload", data=url_form("image_url", url))) == 500042


async def test_image_url_moderation_trigger(raw: Raw, origin: Origin) -> None:
    f = url_form("image_url", origin.url("emulator-moderate.png"))
    async with raw.session.post(raw.base + "/image/upload", data=f, headers=raw.headers()) as r:
        assert r.status == 500
        doc = await r.json()
    assert doc["err_code"] == 500052 and "resp" in doc and "ErrCode" not in doc


# ---------------------------------------------------------------------------
# /media/upload: types

MEDIA_TYPES = [
    ("video/mp4", "video", "mp4"),
    ("video/mov", "video", "mov"),
    ("video/quicktime", "video", "mov"),
    ("video/webm", "video", "webm"),
    ("audio/mpeg", "audio", "mp3"),
    ("audio/wav", "audio", "wav"),
    ("audio/vnd.wave", "audio", "wav"),
    ("audio/x-wav", "audio", "wav"),
    ("audio/wave", "audio", "wav"),
    ("audio/x-m4a", "audio", "m4a"),
    ("audio/aac", "audio", "aac"),
    ("audio/x-aac", "audio", "aac"),
    ("audio/mp4", "audio", "mp3"),  # sic (reference 9.2)
]


@pytest.mark.parametrize(("mime", "kind", "ext"), MEDIA_TYPES)
async def test_media_upload_mime_table(raw: Raw, mime: str, kind: str, ext: str) -> None:
    data = make_mp4(3.0, 640, 360, size=5_000) if kind == "video" else make_wav(2.0)
    status, doc = await media_upload(raw, data, name="upload.bin", ctype=mime)
    assert status == 200 and doc["ErrCode"] == 0, doc
    resp = doc["Resp"]
    assert resp["media_type"] == kind
    assert type(resp["media_id"]) is int and 2**53 < resp["media_id"] < 2**63
    assert resp["url"].startswith("http") and resp["url"].endswith("." + ext)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("clip.mp4", "video"),
        ("clip.MOV", "video"),
        ("clip.webm", "video"),
        ("song.mp3", "audio"),
        ("voice.wav", "audio"),
        ("voice.m4a", "audio"),
        ("voice.aac", "audio"),
    ],
)
async def test_media_upload_falls_back_to_the_extension(raw: Raw, name: str, kind: str) -> None:
    data = make_mp4(3.0, 640, 360) if kind == "video" else make_wav(1.0)
    resp = await raw.ok("/media/upload", data=form("file", data, name, "application/octet-stream"))
    assert resp["media_type"] == kind
    assert resp["url"].endswith("." + name.rsplit(".", 1)[1].lower())


async def test_media_upload_mime_with_parameters(raw: Raw) -> None:
    resp = await raw.ok(
        "/media/upload", data=form("file", make_wav(1.0), "x", "Audio/WAV; codecs=1")
    )
    assert resp["media_type"] == "audio"


@pytest.mark.parametrize(
    ("name", "ctype"),
    [
        ("notes.txt", "application/octet-stream"),
        ("still.png", "image/png"),
        ("clip.avi", "video/x-msvideo"),
        ("song.flac", "audio/flac"),
        ("noext", "application/octet-stream"),
    ],
)
async def test_media_upload_rejects_unsupported_types(raw: Raw, name: str, ctype: str) -> None:
    assert err(*await media_upload(raw, make_mp4(2.0, 64, 64), name=name, ctype=ctype)) == 400017
    assert (await raw.stats())["uploads"] == 0


async def test_media_upload_needs_exactly_one_of_file_and_file_url(
    raw: Raw, origin: Origin
) -> None:
    both = form("file", make_mp4(2.0, 64, 64), "a.mp4", "video/mp4")
    both.add_field("file_url", origin.url("clip.mp4"))
    assert err(*await raw.post("/media/upload", data=both)) == 400017
    neither = aiohttp.FormData()
    neither.add_field("media_type", "video")
    assert err(*await raw.post("/media/upload", data=neither)) == 400017
    assert (await raw.stats())["uploads"] == 0


async def test_media_upload_ignores_a_media_type_field(raw: Raw) -> None:
    f = form("file", make_wav(1.0), "v.wav", "audio/wav")
    f.add_field("media_type", "video")
    assert (await raw.ok("/media/upload", data=f))["media_type"] == "audio"


# ---------------------------------------------------------------------------
# /media/upload: file_url


@pytest.mark.parametrize(
    ("name", "kind", "credits"),
    [("clip.mp4", "video", 60), ("clip-octet.mov", "video", 40), ("voice.wav", "audio", None)],
)
async def test_media_file_url_is_fetched(
    raw: Raw, origin: Origin, name: str, kind: str, credits: int | None
) -> None:
    resp = await raw.ok("/media/upload", data=url_form("file_url", origin.url(name)))
    assert origin.hits[name] == 1
    assert resp["media_type"] == kind
    if credits is not None:  # the fetched header was read: 6 s / 4 s at 540p
        assert await modify_credits(raw, resp["media_id"]) == credits


async def test_media_file_url_name_ignores_the_query(raw: Raw, origin: Origin) -> None:
    url = origin.url("clip-octet.mov") + "?signature=abc.txt&expires=1"
    resp = await raw.ok("/media/upload", data=url_form("file_url", url))
    assert resp["media_type"] == "video" and resp["url"].endswith(".mov")
    assert origin.hits["clip-octet.mov"] == 1


@pytest.mark.parametrize(
    "url_of",
    [
        lambda o: o.url("missing.mp4"),
        lambda o: o.url("notes.txt"),
        lambda o: o.url("long.wav"),
        lambda o: "ftp://127.0.0.1/clip.mp4",
        lambda o: closed_port_url(),
    ],
)
async def test_media_file_url_errors(raw: Raw, origin: Origin, url_of: Any) -> None:
    f = url_form("file_url", url_of(origin))
    assert err(*await raw.post("/media/upload", data=f)) == 400017
    assert (await raw.stats())["uploads"] == 0


# ---------------------------------------------------------------------------
# /media/upload: limits (reference 9.2)


async def test_video_size_limit_is_100_mb(raw: Raw) -> None:
    head = make_mp4(5.0, 1280, 720)
    status, doc = await media_upload(raw, stream(head, 100 * MB), name="ok.mp4", ctype="video/mp4")
    assert status == 200 and doc["ErrCode"] == 0, doc
    big = stream(head, 100 * MB + 1)
    assert err(*await media_upload(raw, big, name="big.mp4", ctype="video/mp4")) == 400017
    assert (await raw.stats())["uploads"] == 1


async def test_audio_size_limit_is_50_mb(raw: Raw) -> None:
    head = make_wav(1.0)
    status, doc = await media_upload(raw, stream(head, 50 * MB), name="ok.wav", ctype="audio/wav")
    assert status == 200 and doc["ErrCode"] == 0, doc
    big = stream(head, 50 * MB + 1)
    assert err(*await media_upload(raw, big, name="big.mp3", ctype="audio/mpeg")) == 400017
    assert (await raw.stats())["uploads"] == 1


@pytest.mark.parametrize(
    ("data", "name", "ctype"),
    [
        (make_mp4(31.0, 1280, 720), "long.mp4", "video/mp4"),
        (make_mp4(30.5, 1280, 720), "long.mov", "video/quicktime"),
        (mp4_moov_last(45.0, 640, 360), "late-moov.mp4", "video/mp4"),
        (make_wav(31.0), "long.wav", "audio/wav"),
        (make_mp4(31.0, 0, 0), "long.m4a", "audio/x-m4a"),
        (make_mp4(2000.0, 1280, 720), "hours.mp4", "video/mp4"),
    ],
)
async def test_media_longer_than_30_s_is_rejected(
    raw: Raw, data: bytes, name: str, ctype: str
) -> None:
    assert err(*await media_upload(raw, data, name=name, ctype=ctype)) == 400017
    assert (await raw.stats())["uploads"] == 0


@pytest.mark.parametrize(("width", "height"), [(2000, 1000), (1000, 2000), (1921, 1080)])
async def test_video_wider_or_taller_than_1920_is_rejected(
    raw: Raw, width: int, height: int
) -> None:
    data = make_mp4(5.0, width, height)
    assert err(*await media_upload(raw, data, name="big.mp4", ctype="video/mp4")) == 400017


async def test_limits_are_inclusive(raw: Raw) -> None:
    for data, name, ctype in [
        (make_mp4(30.0, 1920, 1920), "edge.mp4", "video/mp4"),
        (make_wav(30.0), "edge.wav", "audio/wav"),
    ]:
        status, doc = await media_upload(raw, data, name=name, ctype=ctype)
        assert status == 200 and doc["ErrCode"] == 0, doc
    assert (await raw.stats())["uploads"] == 2


# ---------------------------------------------------------------------------
# What the emulator read from the upload, seen through prices and frame limits


@pytest.mark.parametrize(
    ("seconds", "quality", "credits"),
    [(7.2, "540p", 80), (3.0, "360p", 24), (12.01, "720p", 156), (30.0, "540p", 300)],
)
async def test_upload_duration_prices_a_modify(
    raw: Raw, seconds: float, quality: str, credits: int
) -> None:
    media_id = await raw.upload_video(seconds, 1280, 720)
    assert await modify_credits(raw, media_id, quality) == credits


async def test_moov_after_mdat_is_read(raw: Raw) -> None:
    data = io.BytesIO(mp4_moov_last(7.2, 1080, 1920, mdat_bytes=3 * MB + 17))  # > 1 MB: a file
    resp = await raw.ok("/media/upload", data=form("file", data, "late.mp4", "video/mp4"))
    media_id = resp["media_id"]
    assert await modify_credits(raw, media_id) == 80  # ceil(7.2) x 10
    assert await mask_frames_ok(raw, media_id, 173)  # ceil(7.2 x 24)
    assert not await mask_frames_ok(raw, media_id, 174)
    assert await upscale_dims(raw, media_id) == (1080, 1920)  # portrait kept


async def test_unreadable_video_defaults_to_5_s_1280x720(raw: Raw) -> None:
    webm = (await raw.ok("/media/upload", data=form("file", WEBM, "c.webm", "video/webm")))[
        "media_id"
    ]
    assert await mask_frames_ok(raw, webm, 120)  # 5 s x 24 fps
    assert not await mask_frames_ok(raw, webm, 121)
    assert await upscale_dims(raw, webm) == (1920, 1080)  # 16:9
    junk = make_png(4, 4) + bytes(1000)  # labelled mp4, no readable header
    mp4 = (await raw.ok("/media/upload", data=form("file", junk, "c.mp4", "video/mp4")))["media_id"]
    assert await modify_credits(raw, mp4, "720p") == 60  # 5 s x 12


async def test_wav_duration_prices_lip_sync(raw: Raw) -> None:
    video = await raw.upload_video(10.0)
    audio = await raw.upload_audio(6.5)
    body = {"video_media_id": video, "audio_media_id": audio}
    assert (await raw.ok("/video/lip_sync/generate", body))["credits"] == 28  # ceil(6.5) x 4


async def test_mask_selection_and_modify_share_the_100_mb_source_limit(raw: Raw) -> None:
    """Modify takes 100 MB sources and so does mask selection, whose masks it uses (9.2);
    the 50 MB endpoints (here swap) still refuse the same upload."""
    data = stream(make_mp4(4.0, 1280, 720), 50 * MB + 1)
    resp = await raw.ok("/media/upload", data=form("file", data, "mid.mp4", "video/mp4"))
    media_id = resp["media_id"]
    masks = await raw.ok("/video/mask/selection", {"video_media_id": media_id})
    mask_id = masks["mask_info"][0]["mask_id"]
    body = {
        "video_media_id": media_id,
        "prompt": "remove @selection0",
        "mask_ids": [mask_id],
        "keyframe_id": masks["keyframe_id"],
        "quality": "540p",
    }
    assert (await raw.ok(MODIFY, body))["credits"] == 40  # 4 s x 10
    assert await modify_credits(raw, media_id) == 40
    img_id = await raw.upload_image()
    swap = {"video_media_id": media_id, "keyframe_id": 1, "mask_id": mask_id, "img_id": img_id}
    status, doc = await raw.post("/video/swap/generate", {**swap, "quality": "540p"})
    assert err(status, doc) == 400017 and "50 MB" in doc["ErrMsg"]
    assert sum(await raw.balance()) == 15_000 + 1_000_000 - 2 - 40 - 40  # the refusal: nothing


# ---------------------------------------------------------------------------
# Trace-id replay (reference 1.4: uploads too)


async def test_image_upload_replay_returns_the_first_upload(raw: Raw) -> None:
    t = str(uuid.uuid4())
    first = await raw.ok("/image/upload", data=form("image", make_png(8, 8), "a.png", "image/png"))
    assert first["img_id"] > 2**53
    one = await raw.ok(
        "/image/upload", data=form("image", make_png(9, 9), "b.png", "image/png"), trace=t
    )
    other = form("image", make_jpeg(100, 100), "c.jpg", "image/jpeg")  # a different body
    two = await raw.ok("/image/upload", data=other, trace=t)
    assert one == two and one["img_id"] != first["img_id"]
    stats = await raw.stats()
    assert stats["uploads"] == 2 and stats["dedup_hits"] == 1


async def test_media_upload_replay_returns_the_first_upload(raw: Raw, origin: Origin) -> None:
    t = str(uuid.uuid4())
    one = await raw.ok(
        "/media/upload", data=form("file", make_mp4(3.0, 64, 64), "a.mp4", "video/mp4"), trace=t
    )
    two = await raw.ok("/media/upload", data=url_form("file_url", origin.url("clip.mp4")), trace=t)
    assert one == two and one["media_type"] == "video"
    assert origin.hits["clip.mp4"] == 0  # the replay fetched nothing
    assert (await raw.stats())["uploads"] == 1
    assert await modify_credits(raw, one["media_id"]) == 30  # still the first file's 3 s


async def test_large_upload_replay_answers_without_reading_the_body(raw: Raw) -> None:
    """A retried 60 MB upload (same trace id) gets the first envelope back, cleanly."""
    t = str(uuid.uuid4())
    docs = []
    for _ in range(2):
        data = stream(make_mp4(5.0, 1280, 720), 60 * MB)
        docs.append(
            await raw.ok("/media/upload", data=form("file", data, "a.mp4", "video/mp4"), trace=t)
        )
    assert docs[0] == docs[1]
    stats = await raw.stats()
    assert stats["uploads"] == 1 and stats["dedup_hits"] == 1


async def test_image_url_replay_does_not_fetch_again(raw: Raw, origin: Origin) -> None:
    t = str(uuid.uuid4())
    docs = [
        await raw.ok("/image/upload", data={"image_url": origin.url("still.png")}, trace=t)
        for _ in range(3)
    ]
    assert docs[0] == docs[1] == docs[2]
    assert origin.hits["still.png"] == 1
    assert (await raw.stats())["uploads"] == 1


async def test_rejected_upload_is_not_remembered(raw: Raw) -> None:
    t = str(uuid.uuid4())
    assert err(*await image_upload(raw, b"GIF89a" + bytes(20))) == 500032  # fresh trace
    bad = form("image", b"GIF89a" + bytes(20), "a.gif", "image/gif")
    assert err(*await raw.post("/image/upload", data=bad, trace=t)) == 500032
    good = form("image", make_png(8, 8), "a.png", "image/png")
    assert (await raw.ok("/image/upload", data=good, trace=t))["img_id"] > 2**53
    f = form("file", make_mp4(31.0, 64, 64), "a.mp4", "video/mp4")
    assert err(*await raw.post("/media/upload", data=f, trace=t + "-m")) == 400017
    f = form("file", make_mp4(3.0, 64, 64), "a.mp4", "video/mp4")
    assert (await raw.ok("/media/upload", data=f, trace=t + "-m"))["media_type"] == "video"
    stats = await raw.stats()
    assert stats["uploads"] == 2 and stats["dedup_hits"] == 0


# ---------------------------------------------------------------------------
# Uploads belong to one account


async def test_uploads_are_per_account(session: aiohttp.ClientSession) -> None:
    config = EmulatorConfig(
        job_duration=Fixed(0.05),
        seed=3,
        accounts=(AccountConfig(api_key="key-one-aaaa"), AccountConfig(api_key="key-two-bbbb")),
    )
    async with Emulator(config) as emu:
        one, two = Raw(session, emu, "key-one-aaaa"), Raw(session, emu, "key-two-bbbb")
        media_id = await one.upload_video(4.0)
        img_id = await one.upload_image()
        assert await modify_credits(one, media_id) == 40
        status, doc = await two.post(
            MODIFY, {"video_media_id": media_id, "prompt": "x", "quality": "540p"}
        )
        assert err(status, doc) == 400017
        body = {"template_id": 400_001, "img_ids": [img_id]}
        assert err(*await two.post("/image/template/generate", body)) == 400032
