"""Streamed, atomic downloads of result files, through any :class:`Transport`.

Complete means the transport's ``Content-Length`` check passed; the result's ``size`` (unit
undocumented, reference 4.18) is only compared for a DEBUG log, never a reason to fail.

A downloaded file gets the permissions of any file the user's programs create: ``0o666``
masked by the process's umask (0644 under the usual 022), not the 0600 that
``tempfile.mkstemp`` gives its temporary files (issue 12). The temporary file is created with
``os.open(..., O_CREAT | O_EXCL, 0o666)``, so the kernel applies the umask (and a folder's
default ACL) at creation. The umask is never read: ``os.umask`` can only be read by setting
it, which races with every other thread creating files, and ``/proc/self/status`` exists on
Linux only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from ._transport import Transport

logger = logging.getLogger("pixverse_async")

#: mode a downloaded file is created with, before the umask (as ``open(path, "w")`` does)
_FILE_MODE = 0o666
#: random bytes in a temporary file's name; names to try before giving up
_TEMP_NAME_BYTES = 8
_TEMP_NAME_ATTEMPTS = 100
#: create a new file, never open one (nor follow a symlink) that is already there
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)


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
    left as it was. The file's permissions are ``0o666`` less the process's umask (0644 under
    the usual 022), as for any file the user's programs create.

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
    """Create an empty temporary file in ``path``'s folder (made if missing).

    Like ``tempfile.mkstemp`` (a new random name, ``O_EXCL``) but with mode ``0o666`` masked by
    the umask, which the file keeps when it is renamed to ``path``.
    """
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(_TEMP_NAME_ATTEMPTS):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(_TEMP_NAME_BYTES)}.part")
        try:
            fd = os.open(tmp, _TEMP_FLAGS, _FILE_MODE)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"could not create a temporary file beside {path}")


def _discard(tmp: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
