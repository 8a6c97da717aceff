"""Streamed, atomic downloads of result files, through any :class:`Transport`.

Complete means the transport's ``Content-Length`` check passed; the result's ``size`` (unit
undocumented, reference 4.18) is only compared for a DEBUG log, never a reason to fail.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from ._transport import Transport

logger = logging.getLogger("pixverse_async")


async def download_to(
    transport: Transport,
    url: str,
    path: Path,
    *,
    expected_size: float | int | None = None,
    overwrite: bool = True,
) -> Path:
    """Stream ``url`` into ``path`` through a temporary file in the same folder.

    The chunks come from ``transport.download(url)`` (no API key is sent), which checks the
    byte count against the answer's ``Content-Length``: that is the completeness check, and
    the file appears at ``path`` only complete. The result's ``size`` is not one: its unit is
    documented nowhere (reference 4.18; the webhook example shows ``10.5``), so a byte count
    that differs from it is logged at DEBUG on the ``pixverse_async`` logger and never fails
    the download. On any failure or cancellation the temporary file is removed and ``path`` is
    left as it was.

    Args:
        transport: the client's transport.
        url: a public result URL.
        path: the final file; its folder is created when missing.
        expected_size: the size the result reports (a number, probably bytes): compared for
            the DEBUG log only.
        overwrite: replace an existing file at ``path``.

    Returns:
        ``path``.

    Raises:
        ValueError: ``url`` is empty.
        FileExistsError: ``path`` exists and ``overwrite`` is false.
        APIConnectionError / APITimeoutError: the transfer failed or was short.
    """
    if not url:
        raise ValueError("this result has no url (only status 1 results can be downloaded)")
    tmp = await anyio.to_thread.run_sync(_temp_beside, path, overwrite)
    chunks: AsyncIterator[bytes] | None = None
    received = 0
    try:
        chunks = transport.download(url)
        async with await anyio.open_file(tmp, "wb") as f:
            async for chunk in chunks:
                await f.write(chunk)
                received += len(chunk)
        if expected_size is not None and received != expected_size:
            # not an error: Content-Length was met (else the transport raised), and the unit of
            # the result's size is undocumented (4.18)
            logger.debug(
                "download of %s has %d bytes; the result's size says %s (unit undocumented; "
                "not checked)",
                url,
                received,
                expected_size,
            )
        await anyio.to_thread.run_sync(os.replace, tmp, path)
        return path
    finally:
        # shielded: a cancelled scope (a timeout around the call) must not leave the temporary
        # file behind, nor the transfer's connection held by an unfinished iterator
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_discard, tmp)
            aclose = getattr(chunks, "aclose", None)  # an async generator's: ends the transfer
            if aclose is not None:
                await aclose()


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
