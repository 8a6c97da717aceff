"""Streamed, atomic, size-checked downloads of result files."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

import aiohttp
import anyio

from ._config import Timeouts
from ._exceptions import APIConnectionError, APITimeoutError

_CHUNK = 256 * 1024


async def download_to(
    session: aiohttp.ClientSession | None,
    url: str,
    path: Path,
    *,
    expected_size: float | int | None = None,
    overwrite: bool = True,
    timeouts: Timeouts | None = None,
) -> Path:
    """Stream ``url`` into ``path`` through a temporary file in the same folder.

    The file appears at ``path`` only complete: the byte count must match the answer's
    ``Content-Length`` and, when it is a whole number, ``expected_size``. No API key is sent.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        APIConnectionError / APITimeoutError: the transfer failed or was short.
    """
    if not url:
        raise ValueError("this result has no url (only status 1 results can be downloaded)")
    t = timeouts or Timeouts()
    timeout = aiohttp.ClientTimeout(total=t.total, sock_connect=t.connect, sock_read=t.read)
    tmp = await anyio.to_thread.run_sync(_temp_beside, path, overwrite)
    owned = session is None
    http = session or aiohttp.ClientSession()
    received = 0
    try:
        async with http.get(url, timeout=timeout) as r:
            if r.status != 200:
                raise APIConnectionError(f"download of {url} answered HTTP {r.status}")
            length = r.content_length
            async with await anyio.open_file(tmp, "wb") as f:
                async for chunk in r.content.iter_chunked(_CHUNK):
                    await f.write(chunk)
                    received += len(chunk)
        if length is not None and received != length:
            raise APIConnectionError(f"download of {url} was short: {received} of {length} bytes")
        if isinstance(expected_size, int) and expected_size > 0 and received != expected_size:
            raise APIConnectionError(
                f"download of {url} has {received} bytes; the result says {expected_size}"
            )
        await anyio.to_thread.run_sync(os.replace, tmp, path)
        return path
    except (asyncio.TimeoutError, aiohttp.ServerTimeoutError):
        raise APITimeoutError(f"download of {url} timed out") from None
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"download of {url} failed: {type(exc).__name__}: {exc}") from None
    finally:
        # shielded: a cancelled scope (a timeout around the call) must not leave the temporary
        # file or an owned session behind
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_discard, tmp)
            if owned:
                await http.close()


def _temp_beside(path: Path, overwrite: bool) -> Path:
    """Create an empty temporary file in ``path``'s folder (made if missing)."""
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    return Path(name)


def _discard(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
