"""``client.media``: image, video and audio uploads.

Files are checked locally first (format from the content or extension, size limits of the
reference, section 9), then described as :class:`FormPart` s for the transport, which streams
them, never reading them whole. Every retry rebuilds the multipart body (re-opening a path, or
seeking a file object back), with the same ``Ai-trace-id``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Literal

import anyio

from .. import _rules as rules
from .._constants import UPLOAD_READ_TIMEOUT
from .._exceptions import RequestValidationError
from .._transport import FormPart
from ..types.media import UploadedImage, UploadedMedia
from ._base import Resource

Source = str | os.PathLike[str] | bytes | IO[bytes]

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
)
_EXT_TO_MIME: dict[str, str] = {
    "mp4": "video/mp4",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "m4a": "audio/x-m4a",
    "aac": "audio/aac",
}


def _image_mime(head: bytes) -> str | None:
    for magic, mime in _IMAGE_MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


class _Upload:
    """One local file source: its name, size, first bytes, and a fresh stream per attempt."""

    def __init__(self, source: Source, filename: str | None, field: str) -> None:
        self.field = field
        self.path: Path | None = None
        self.data: bytes | None = None
        self.fileobj: IO[bytes] | None = None
        self.start = 0
        self.size = 0
        if isinstance(source, (bytes, bytearray, memoryview)):
            self.data = bytes(source)
            self.name = filename or "upload"
        elif isinstance(source, (str, os.PathLike)):
            text = os.fspath(source)
            if text.startswith(("http://", "https://")):
                url_field = "image_url" if field == "image" else "file_url"
                raise RequestValidationError(
                    f"{field}: {text!r} is a URL; pass it as {url_field}=... instead", field=field
                )
            self.path = Path(text)
            self.name = filename or self.path.name
        elif hasattr(source, "read"):
            if not (hasattr(source, "seekable") and source.seekable()):
                raise RequestValidationError(
                    f"{field}: file objects must be seekable (so a retry can resend them); "
                    "pass a path or bytes instead",
                    field=field,
                )
            self.fileobj = source
            self.start = source.tell()
            self.name = filename or Path(str(getattr(source, "name", "upload"))).name
        else:
            raise RequestValidationError(
                f"{field} must be a path, bytes or a binary file object, "
                f"not {type(source).__name__}",
                field=field,
            )

    def inspect(self) -> tuple[int, bytes]:
        """Size in bytes and the first 64 bytes (blocking: run in a thread)."""
        if self.data is not None:
            return len(self.data), self.data[:64]
        if self.path is not None:
            try:
                size = self.path.stat().st_size
                with self.path.open("rb") as fh:
                    return size, fh.read(64)
            except OSError as exc:
                raise RequestValidationError(
                    f"{self.field}: cannot read {self.path}: {exc}", field=self.field
                ) from None
        assert self.fileobj is not None
        f = self.fileobj
        f.seek(0, os.SEEK_END)
        size = self.size = f.tell() - self.start
        f.seek(self.start)
        head = f.read(64)
        f.seek(self.start)
        return size, head

    def part(self, content_type: str) -> FormPart:
        """The file part (after :meth:`inspect`): for each attempt the transport re-opens a
        path, or seeks a file object back to where it was when the upload started."""
        if self.fileobj is not None:
            return FormPart(
                self.field,
                self.fileobj,
                filename=self.name,
                content_type=content_type,
                offset=self.start,
                size=self.size,
            )
        value = self.data if self.data is not None else self.path
        assert value is not None
        return FormPart(self.field, value, filename=self.name, content_type=content_type)


def _url_part(field: str, url: object) -> FormPart:
    """A URL the server fetches itself: a plain field (sent as multipart all the same)."""
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise RequestValidationError(f"{field} must be an http(s) URL, got {url!r}", field=field)
    return FormPart(field, url)


class MediaResource(Resource):
    """Uploads that return the ids generation endpoints take."""

    async def upload_image(
        self,
        image: Source | None = None,
        *,
        image_url: str | None = None,
        filename: str | None = None,
    ) -> UploadedImage:
        """Upload an image (``POST /image/upload``) from a path, bytes, a file object or a URL.

        Args:
            image: a path, ``bytes`` or a seekable binary file object (jpg, png or webp, < 20 MB).
            image_url: instead of ``image``, a public http(s) URL the server fetches.
            filename: the name sent with the file (default: the path's name).

        Returns:
            ``img_id`` (for ``img_id``/``img_ids`` fields) and ``img_url``.
        """
        if (image is None) == (image_url is None):
            raise RequestValidationError(
                "upload_image takes exactly one of image (path, bytes or file) or image_url",
                field="image",
            )
        if image_url is not None:
            part = _url_part("image_url", image_url)
        else:
            assert image is not None
            upload = _Upload(image, filename, "image")
            size, head = await anyio.to_thread.run_sync(upload.inspect)
            mime = _image_mime(head)
            if mime is None:
                raise RequestValidationError(
                    "image: unsupported format; upload a jpg, jpeg, png or webp image",
                    field="image",
                )
            if size >= rules.IMAGE_MAX_BYTES:
                raise RequestValidationError(
                    f"image: {size:,} bytes; images must be smaller than 20 MB", field="image"
                )
            part = upload.part(mime)
        response = await self._client._request(
            "POST", "/image/upload", multipart=(part,), read_timeout=UPLOAD_READ_TIMEOUT
        )
        return UploadedImage.model_validate(response.data)

    async def upload_media(
        self,
        file: Source | None = None,
        *,
        file_url: str | None = None,
        filename: str | None = None,
        media_type: Literal["video", "audio"] | None = None,
    ) -> UploadedMedia:
        """Upload a video or audio file (``POST /media/upload``).

        Args:
            file: a path, ``bytes`` or a seekable binary file object: mp4, mov, webm video
                (<= 100 MB) or mp3, wav, m4a, aac audio (<= 50 MB); at most 30 s.
            file_url: instead of ``file``, a public http(s) URL the server fetches.
            filename: the name sent (its extension decides the type for bytes and file objects).
            media_type: ``"video"`` or ``"audio"`` when the name has no telling extension.

        Returns:
            ``media_id`` (for ``video_media_id`` / ``audio_media_id``), ``media_type``, ``url``.
        """
        if (file is None) == (file_url is None):
            raise RequestValidationError(
                "upload_media takes exactly one of file (path, bytes or file) or file_url",
                field="file",
            )
        if file_url is not None:
            part = _url_part("file_url", file_url)
        else:
            assert file is not None
            upload = _Upload(file, filename, "file")
            ext = Path(upload.name).suffix.lstrip(".").lower()
            mime = _EXT_TO_MIME.get(ext)
            if media_type not in (None, "video", "audio"):
                raise RequestValidationError(
                    f"media_type must be 'video' or 'audio', not {media_type!r}",
                    field="media_type",
                )
            if mime is None and media_type is not None:
                mime, ext = ("video/mp4", "mp4") if media_type == "video" else ("audio/mpeg", "mp3")
            if mime is None:
                raise RequestValidationError(
                    f"file: cannot tell the media type of {upload.name!r}; use an mp4/mov/webm or "
                    "mp3/wav/m4a/aac file name, or pass media_type='video'|'audio'",
                    field="file",
                )
            size, _ = await anyio.to_thread.run_sync(upload.inspect)
            video = mime.startswith("video/")
            limit = rules.VIDEO_UPLOAD_MAX_BYTES if video else rules.AUDIO_UPLOAD_MAX_BYTES
            if size > limit:
                kind = "videos" if video else "audio files"
                raise RequestValidationError(
                    f"file: {size:,} bytes; {kind} must be at most {limit // rules.MB} MB",
                    field="file",
                )
            part = upload.part(mime)
        response = await self._client._request(
            "POST", "/media/upload", multipart=(part,), read_timeout=UPLOAD_READ_TIMEOUT
        )
        return UploadedMedia.model_validate(response.data)
