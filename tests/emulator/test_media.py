"""Unit tests of the emulator's media parsing and generators (``emulator/_media.py``).

The builders at the top craft minimal headers by hand (JPEG SOFn, WebP VP8/VP8L/VP8X, MP4
boxes in any order) so the parsers are checked against bytes they did not produce themselves;
``test_uploads.py`` reuses them for the HTTP-level tests.
"""

from __future__ import annotations

import struct
import zlib

import pytest

from pixverse_async.emulator import make_mp4, make_png, make_wav
from pixverse_async.emulator._media import (
    Mp4Scanner,
    filler,
    mp4_header,
    sniff_image,
    wav_seconds,
)

# ---------------------------------------------------------------------------
# Builders


def make_jpeg(width: int, height: int, *, sof: int = 0xC0, fill: bool = False) -> bytes:
    """SOI, APP0 (JFIF), DQT, DHT, optional fill bytes, SOFn, EOI: enough to read the size."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + bytes(65)
    dht = b"\xff\xc4" + struct.pack(">H", 31) + bytes(29)  # C4 is not a SOF marker
    body = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    frame = bytes([0xFF, sof]) + struct.pack(">H", 2 + len(body)) + body
    return b"\xff\xd8" + app0 + dqt + dht + (b"\xff\xff" if fill else b"") + frame + b"\xff\xd9"


def _riff_webp(kind: bytes, payload: bytes) -> bytes:
    chunk = kind + struct.pack("<I", len(payload)) + payload + b"\x00" * (len(payload) & 1)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def make_webp_vp8(width: int, height: int, *, scale: int = 0) -> bytes:
    """Lossy WebP: frame tag, start code 9d 01 2a, 14-bit width and height + 2 scale bits."""
    size = struct.pack("<HH", width | scale << 14, height | scale << 14)
    return _riff_webp(b"VP8 ", b"\x10\x02\x00\x9d\x01\x2a" + size)


def make_webp_vp8l(width: int, height: int) -> bytes:
    """Lossless WebP: signature 0x2f, then (width - 1) and (height - 1) in 14 bits each."""
    bits = (width - 1) | ((height - 1) << 14)
    return _riff_webp(b"VP8L", b"\x2f" + struct.pack("<I", bits) + bytes(3))


def make_webp_vp8x(width: int, height: int) -> bytes:
    """Extended WebP: flags, then (width - 1) and (height - 1) as 24-bit little-endian."""
    payload = b"\x10\x00\x00\x00" + (width - 1).to_bytes(3, "little")
    payload += (height - 1).to_bytes(3, "little")
    return _riff_webp(b"VP8X", payload)


def png_with_ihdr(width: int, height: int) -> bytes:
    """A PNG signature and a well-formed IHDR claiming ``width`` x ``height`` (no pixel data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    crc = zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", crc)
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND") & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk + end


def box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def top_boxes(data: bytes) -> dict[bytes, bytes]:
    """Top-level boxes of a (32-bit sized) ISO-BMFF file: kind -> whole box bytes."""
    out: dict[bytes, bytes] = {}
    i = 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        out[kind] = data[i : i + size]
        i += size
    return out


def mp4_moov_last(seconds: float, width: int, height: int, *, mdat_bytes: int = 300_000) -> bytes:
    """``ftyp`` + ``mdat`` (filler) + ``moov``: the layout of a non-"faststart" recording."""
    parts = top_boxes(mp4_header(seconds, width, height, 0))
    mdat = box(b"mdat", filler(3, 0, mdat_bytes))
    return parts[b"ftyp"] + mdat + parts[b"moov"]


def mp4_v1(seconds: float, width: int, height: int) -> bytes:
    """Version-1 ``mvhd``/``tkhd`` (64-bit times), an audio track first, a 64-bit ``mdat``."""
    timescale = 90_000
    ticks = round(seconds * timescale)
    mvhd = struct.pack(">B3xQQIQ", 1, 0, 0, timescale, ticks) + bytes(80)

    def tkhd(w: int, h: int) -> bytes:
        head = struct.pack(">B3xQQIIQ", 1, 0, 0, 1, 0, ticks) + bytes(52)
        return box(b"tkhd", head + struct.pack(">II", w << 16, h << 16))

    moov = box(b"mvhd", mvhd) + box(b"trak", tkhd(0, 0)) + box(b"trak", tkhd(width, height))
    payload = bytes(1000)
    mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + len(payload)) + payload
    return box(b"ftyp", b"qt  \x00\x00\x00\x00qt  ") + mdat + box(b"moov", moov)


def scan(data: bytes, chunk: int) -> Mp4Scanner:
    scanner = Mp4Scanner()
    for i in range(0, len(data), chunk):
        scanner.feed(data[i : i + chunk])
    return scanner


# ---------------------------------------------------------------------------
# Images


@pytest.mark.parametrize(
    ("data", "fmt", "size"),
    [
        (make_png(33, 17), "png", (33, 17)),
        (png_with_ihdr(10_001, 3), "png", (10_001, 3)),
        (make_jpeg(640, 480), "jpeg", (640, 480)),
        (make_jpeg(801, 1203, sof=0xC2), "jpeg", (801, 1203)),  # progressive
        (make_jpeg(300, 200, sof=0xC1, fill=True), "jpeg", (300, 200)),
        (make_webp_vp8(1024, 768), "webp", (1024, 768)),
        (make_webp_vp8(1024, 768, scale=3), "webp", (1024, 768)),  # upscaling hint ignored
        (make_webp_vp8l(500, 9000), "webp", (500, 9000)),
        (make_webp_vp8x(4000, 3000), "webp", (4000, 3000)),
        (make_webp_vp8x(16_384, 1), "webp", (16_384, 1)),
    ],
)
def test_sniff_image_reads_format_and_size(data: bytes, fmt: str, size: tuple[int, int]) -> None:
    info = sniff_image(data)
    assert info is not None
    assert (info.format, info.width, info.height) == (fmt, *size)


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (b"\x89PNG\r\n\x1a\n", "png"),  # signature only
        (png_with_ihdr(0, 10), "png"),  # zero width
        (b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIDAT" + bytes(13), "png"),  # no IHDR first
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg"),  # header cut before any SOF
        (b"\xff\xd8\xff\xe0\x00\x04ab" + b"garbage-not-a-marker", "jpeg"),
        (make_jpeg(0, 0), "jpeg"),
        (_riff_webp(b"VP8 ", b"\x10\x02\x00\x00\x00\x00" + bytes(4)), "webp"),  # bad start code
        (_riff_webp(b"VP8L", b"\x00" + bytes(7)), "webp"),  # bad signature
        (_riff_webp(b"ALPH", bytes(20)), "webp"),
    ],
)
def test_sniff_image_undecodable_header_keeps_the_format(data: bytes, fmt: str) -> None:
    info = sniff_image(data)
    assert info is not None
    assert (info.format, info.width, info.height) == (fmt, None, None)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a\x01\x00\x01\x00\x00\x00\x00",
        b"BM" + bytes(60),  # BMP
        b"RIFF\x00\x00\x00\x00WAVEfmt ",
        b"\x00\x00\x00\x18ftypisom",
        b"",
        b"hello world",
    ],
)
def test_sniff_image_rejects_other_formats(data: bytes) -> None:
    assert sniff_image(data) is None


# ---------------------------------------------------------------------------
# MP4


@pytest.mark.parametrize("chunk", [1, 7, 13, 4096, 1 << 20])
def test_scanner_reads_generated_mp4_in_any_chunking(chunk: int) -> None:
    scanner = scan(make_mp4(7.2, 1280, 720, size=50_000), chunk)
    assert scanner.is_iso
    assert scanner.info.seconds == pytest.approx(7.2)
    assert (scanner.info.width, scanner.info.height) == (1280, 720)


@pytest.mark.parametrize("chunk", [1, 5, 16, 65_536])
def test_scanner_finds_moov_after_mdat(chunk: int) -> None:
    data = mp4_moov_last(12.5, 1080, 1920, mdat_bytes=200_003)
    assert data.index(b"moov") > data.index(b"mdat")  # the layout under test
    scanner = scan(data, chunk)
    assert scanner.info.seconds == pytest.approx(12.5)
    assert (scanner.info.width, scanner.info.height) == (1080, 1920)


@pytest.mark.parametrize("chunk", [3, 64])
def test_scanner_reads_version_1_boxes_and_skips_an_audio_track(chunk: int) -> None:
    scanner = scan(mp4_v1(3.25, 640, 360), chunk)
    assert scanner.is_iso
    assert scanner.info.seconds == pytest.approx(3.25)
    assert (scanner.info.width, scanner.info.height) == (640, 360)


def test_scanner_handles_empty_boxes_before_moov() -> None:
    parts = top_boxes(mp4_header(4.0, 320, 240))
    data = parts[b"ftyp"] + box(b"free", b"") + box(b"skip", b"x") + parts[b"moov"]
    for chunk in (1, 9, len(data)):
        assert scan(data, chunk).info == scan(parts[b"ftyp"] + parts[b"moov"], 64).info
    assert scan(data, 2).info.seconds == pytest.approx(4.0)


@pytest.mark.parametrize(
    "data",
    [
        b"\x1a\x45\xdf\xa3" + bytes(100),  # WebM / Matroska EBML header
        b"RIFF" + bytes(100),
        bytes(64),
        b"",
    ],
)
def test_scanner_ignores_non_iso_files(data: bytes) -> None:
    scanner = scan(data, 10) if data else Mp4Scanner()
    assert not scanner.is_iso
    assert (scanner.info.seconds, scanner.info.width, scanner.info.height) == (None, None, None)


def test_scanner_without_moov_reports_nothing() -> None:
    parts = top_boxes(mp4_header(4.0, 320, 240))
    scanner = scan(parts[b"ftyp"] + box(b"mdat", bytes(5000)), 100)
    assert scanner.is_iso
    assert scanner.info.seconds is None and scanner.info.width is None


@pytest.mark.parametrize("size", [0, 100, 20_000, 1_000_001])
def test_make_mp4_has_the_requested_size(size: int) -> None:
    data = make_mp4(2.0, 640, 360, size=size)
    head = mp4_header(2.0, 640, 360, size)
    assert data.startswith(head) and data[4:8] == b"ftyp"
    assert len(data) == max(size, len(head))
    (mdat_size,) = struct.unpack(">I", head[-8:-4])
    assert len(head) - 8 + mdat_size == len(data)  # the mdat box ends exactly at the end


# ---------------------------------------------------------------------------
# WAV


@pytest.mark.parametrize("seconds", [0.5, 2.5, 31.0])
def test_wav_seconds_of_generated_wav(seconds: float) -> None:
    assert wav_seconds(make_wav(seconds)) == pytest.approx(seconds)
    assert wav_seconds(make_wav(seconds, rate=16_000)) == pytest.approx(seconds)


def test_wav_seconds_skips_other_chunks_with_padding() -> None:
    rate = 22_050
    fmt = struct.pack("<HHIIHH", 1, 2, rate, rate * 4, 4, 16)  # stereo 16-bit
    data_size = rate * 4 * 3  # 3 s
    body = b"WAVE" + b"LIST" + struct.pack("<I", 3) + b"abc\x00"  # odd chunk + pad byte
    body += b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_size)
    head = b"RIFF" + struct.pack("<I", 4 + len(body) + data_size) + body
    assert wav_seconds(head) == pytest.approx(3.0)


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00\x00\x00WEBP", b"ID3\x03" + bytes(50)])
def test_wav_seconds_of_non_wav_is_none(data: bytes) -> None:
    assert wav_seconds(data) is None


# ---------------------------------------------------------------------------
# PNG and filler


def test_make_png_is_a_valid_png() -> None:
    data = make_png(5, 3, color=(1, 2, 3))
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    i = 8
    chunks = []
    while i < len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind, body = data[i + 4 : i + 8], data[i + 8 : i + 8 + length]
        (crc,) = struct.unpack(">I", data[i + 8 + length : i + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        i += 12 + length
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    assert struct.unpack(">II", chunks[0][1][:8]) == (5, 3)
    assert zlib.decompress(chunks[1][1]) == (b"\x00" + b"\x01\x02\x03" * 5) * 3


def test_filler_is_deterministic_and_offset_consistent() -> None:
    whole = filler(42, 0, 20_000)
    assert len(whole) == 20_000 and whole == filler(42, 0, 20_000)
    for start, length in [(0, 1), (4095, 2), (4096, 4096), (12_345, 7_000)]:
        assert filler(42, start, length) == whole[start : start + length]
    assert filler(43, 0, 64) != whole[:64]
    assert filler(42, 10, 0) == b"" and filler(42, 10, -5) == b""
