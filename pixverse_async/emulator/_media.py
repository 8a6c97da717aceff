"""Just enough media parsing and generation for an honest emulator.

- Images: format from the magic bytes, dimensions from PNG IHDR, JPEG SOFn, WebP VP8/VP8L/VP8X.
- MP4/MOV/M4A: a streaming box scanner that reads duration (``mvhd``) and the first video
  track's dimensions (``tkhd``) without holding the file, wherever ``moov`` sits.
- WAV: duration from the ``fmt``/``data`` chunk headers.
- Generators: minimal valid MP4, PNG and WAV files (used for result downloads, tests and the
  example media) and deterministic filler bytes for Range-served files.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass

from ._constants import MOOV_MAX_BYTES

# ---------------------------------------------------------------------------
# Images


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "jpeg" | "png" | "webp"
    width: int | None  # None: the header could not be decoded
    height: int | None


def sniff_image(head: bytes) -> ImageInfo | None:
    """Identify an image from its first bytes; ``None`` when it is no supported format."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(head) >= 24 and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return ImageInfo("png", w, h) if w and h else ImageInfo("png", None, None)
        return ImageInfo("png", None, None)
    if head.startswith(b"\xff\xd8\xff"):
        dims = _jpeg_size(head)
        return ImageInfo("jpeg", *dims) if dims else ImageInfo("jpeg", None, None)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        dims = _webp_size(head)
        return ImageInfo("webp", *dims) if dims else ImageInfo("webp", None, None)
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    n = len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if i + 9 > n:
                return None
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return (w, h) if w and h else None
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


# ---------------------------------------------------------------------------
# MP4 / MOV / M4A


@dataclass(frozen=True)
class MovieInfo:
    seconds: float | None
    width: int | None
    height: int | None


class Mp4Scanner:
    """Feed an ISO-BMFF file chunk by chunk; read duration and video size from ``moov``.

    Top-level boxes other than ``moov`` are skipped without buffering, so a 100 MB upload
    costs a few kilobytes of memory. Not an ISO-BMFF file (or no ``moov``): all ``None``.
    """

    def __init__(self) -> None:
        self._pending = b""  # bytes of an incomplete box header
        self._skip = 0  # bytes left to skip in the current box
        self._moov: bytearray | None = None
        self._moov_left = 0
        self._done = False
        self.is_iso = False
        self.info = MovieInfo(None, None, None)

    def feed(self, chunk: bytes) -> None:
        if self._done:
            return
        data = memoryview(chunk)
        while data and not self._done:
            if self._skip:
                step = min(self._skip, len(data))
                self._skip -= step
                data = data[step:]
                continue
            if self._moov is not None:
                step = min(self._moov_left, len(data))
                self._moov += data[:step]
                self._moov_left -= step
                data = data[step:]
                if not self._moov_left:
                    self.info = _parse_moov(bytes(self._moov))
                    self._done = True
                continue
            need = 16 - len(self._pending)
            self._pending += bytes(data[:need])
            data = data[need:]
            if len(self._pending) < 8:
                continue
            size, kind = struct.unpack(">I4s", self._pending[:8])
            header = 8
            if size == 1:
                if len(self._pending) < 16:
                    continue
                (size,) = struct.unpack(">Q", self._pending[8:16])
                header = 16
            elif size == 0:  # box runs to end of file
                size = 1 << 62
            if not self.is_iso:
                if kind not in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
                    self._done = True
                    return
                self.is_iso = True
            if size < header:
                self._done = True
                return
            # bytes of the body already taken into _pending
            extra = self._pending[header:]
            self._pending = b""
            body = size - header
            if kind == b"moov" and body <= MOOV_MAX_BYTES:
                self._moov = bytearray(extra[:body])
                self._moov_left = body - len(self._moov)
                if not self._moov_left:
                    self.info = _parse_moov(bytes(self._moov))
                    self._done = True
            else:
                self._skip = max(0, body - len(extra))
                if len(extra) > body:  # the next header started inside _pending
                    data = memoryview(bytes(extra[body:]) + bytes(data))


def _iter_boxes(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    i = 0
    while i + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        header = 8
        if size == 1 and i + 16 <= len(data):
            (size,) = struct.unpack(">Q", data[i + 8 : i + 16])
            header = 16
        elif size == 0:
            size = len(data) - i
        if size < header:
            break
        out.append((kind, data[i + header : i + size]))
        i += size
    return out


def _parse_moov(moov: bytes) -> MovieInfo:
    seconds: float | None = None
    width = height = None
    for kind, body in _iter_boxes(moov):
        if kind == b"mvhd" and body:
            if body[0] == 1 and len(body) >= 32:
                timescale, duration = struct.unpack(">IQ", body[20:32])
            elif len(body) >= 20:
                timescale, duration = struct.unpack(">II", body[12:20])
            else:
                continue
            if timescale:
                seconds = duration / timescale
        elif kind == b"trak" and width is None:
            for sub, sbody in _iter_boxes(body):
                if sub == b"tkhd" and sbody:
                    off = 88 if sbody[0] == 1 else 76
                    if len(sbody) >= off + 8:
                        w, h = struct.unpack(">II", sbody[off : off + 8])
                        if w and h:
                            width, height = w >> 16, h >> 16
    return MovieInfo(seconds, width, height)


# ---------------------------------------------------------------------------
# WAV


def wav_seconds(head: bytes) -> float | None:
    """Duration of a WAV file from its header, or ``None`` when it cannot be read."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    i = 12
    byte_rate = 0
    while i + 8 <= len(head):
        kind = head[i : i + 4]
        (size,) = struct.unpack("<I", head[i + 4 : i + 8])
        if kind == b"fmt " and i + 20 <= len(head):
            (byte_rate,) = struct.unpack("<I", head[i + 16 : i + 20])
        elif kind == b"data":
            return size / byte_rate if byte_rate else None
        i += 8 + size + (size & 1)
    return None


# ---------------------------------------------------------------------------
# Generators


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(body), kind) + body


def mp4_header(seconds: float, width: int, height: int, total_size: int = 0) -> bytes:
    """``ftyp`` + ``moov`` (``mvhd``, ``trak/tkhd``) + the ``mdat`` box header.

    The ``mdat`` box is sized so the whole file has ``total_size`` bytes (at least the header).
    """
    timescale = 1000
    ticks = round(seconds * timescale)
    mvhd = struct.pack(">B3xIIII", 0, 0, 0, timescale, ticks) + bytes(80)
    tkhd = (
        struct.pack(">B3xIIIII", 0, 0, 0, 1, 0, ticks)
        + bytes(52)
        + struct.pack(">II", width << 16, height << 16)
    )
    head = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")
    head += _box(b"moov", _box(b"mvhd", mvhd) + _box(b"trak", _box(b"tkhd", tkhd)))
    mdat = max(8, total_size - len(head))
    return head + struct.pack(">I4s", mdat, b"mdat")


def make_mp4(seconds: float, width: int, height: int, *, size: int = 0, seed: int = 0) -> bytes:
    """A minimal, parseable MP4 of at least ``size`` bytes (``mdat`` holds filler)."""
    head = mp4_header(seconds, width, height, size)
    (mdat,) = struct.unpack(">I", head[-8:-4])
    return head + filler(seed, 0, mdat - 8)


def make_png(
    width: int = 64, height: int = 64, *, color: tuple[int, int, int] = (40, 90, 200)
) -> bytes:
    """A valid RGB PNG of one colour."""
    row = b"\x00" + bytes(color) * width
    raw = zlib.compress(row * height, 9)

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def make_wav(seconds: float, *, rate: int = 8000) -> bytes:
    """A silent 8-bit mono WAV of ``seconds``."""
    frames = round(seconds * rate)
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    data = b"\x80" * frames
    body = b"WAVE" + _chunk_le(b"fmt ", fmt) + _chunk_le(b"data", data)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _chunk_le(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body


_BLOCK = 4096


def _block(seed: int) -> bytes:
    digest = hashlib.blake2b(seed.to_bytes(8, "little", signed=False), digest_size=64).digest()
    return (digest * (_BLOCK // len(digest) + 1))[:_BLOCK]


def filler(seed: int, start: int, length: int) -> bytes:
    """``length`` deterministic bytes at offset ``start`` of the stream identified by ``seed``."""
    if length <= 0:
        return b""
    block = _block(seed & 0xFFFFFFFFFFFFFFFF)
    offset = start % _BLOCK
    reps = (offset + length) // _BLOCK + 1
    return (block * reps)[offset : offset + length]
