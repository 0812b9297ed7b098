"""Write files atomically: readers see either the old file or the complete new one.

Each write goes to a temporary file in the target's folder (so that the final
``os.replace`` stays on one file system and is atomic), is flushed and
fsynced, and then replaces the target. If anything fails before the replace,
the temporary file is removed and the target is left as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_writer"]

logger = logging.getLogger(__name__)

# Attempts at finding an unused temporary name. Each name carries 64 random
# bits, so even a second attempt is rare.
_MAX_NAME_ATTEMPTS = 16


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` atomically when the block exits.

    Parameters
    ----------
    path : str or Path
        The target file. Its folder must exist. An existing file is replaced
        and keeps its permission bits. A new file gets the permissions that
        ``open(path, "w")`` would give it (0o666 minus the umask).

    Yields
    ------
    BinaryIO
        A writable binary file object on a temporary file beside ``path``.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.

    Notes
    -----
    If the block raises, or flushing, syncing or replacing fails, the
    temporary file is deleted, ``path`` is untouched and the error propagates.
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{folder}: folder not found for atomic write of {target.name}; "
            "create the folder first"
        )

    temporary, descriptor = _create_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        _copy_mode(target, temporary)
        os.replace(temporary, target)
    except BaseException:
        _remove_quietly(temporary)
        raise
    _fsync_folder(folder)
    logger.debug("wrote %s atomically", target)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path.

    See :func:`atomic_writer` for the guarantees and errors.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"atomic_write_bytes: data must be bytes, got {type(data).__name__}; "
            "use atomic_write_text for str"
        )
    with atomic_writer(path) as handle:
        handle.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path.

    The text is encoded before the temporary file is created, so an encoding
    error leaves nothing behind. Newlines are written as given.
    """
    if not isinstance(text, str):
        raise TypeError(
            f"atomic_write_text: text must be str, got {type(text).__name__}; "
            "use atomic_write_bytes for bytes"
        )
    return atomic_write_bytes(path, text.encode(encoding))


def _create_temporary(target: Path) -> tuple[Path, int]:
    """Create and open a new hidden temporary file beside ``target``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(_MAX_NAME_ATTEMPTS):
        name = f".{target.name}.{secrets.token_hex(8)}.tmp"
        temporary = target.with_name(name)
        try:
            # Mode 0o666 lets the umask decide, as open() does. mkstemp would
            # make every new file readable by its owner only.
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(
        f"{target.parent}: could not create a unique temporary file for "
        f"{target.name} in {_MAX_NAME_ATTEMPTS} attempts; remove stale "
        "'.*.tmp' files there"
    )


def _copy_mode(target: Path, temporary: Path) -> None:
    """Give ``temporary`` the permission bits of an existing ``target``."""
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        return
    os.chmod(temporary, mode)


def _fsync_folder(folder: Path) -> None:
    """Persist the folder entry of a replaced file (POSIX only)."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _remove_quietly(temporary: Path) -> None:
    """Delete ``temporary`` if it still exists, logging any failure."""
    try:
        temporary.unlink(missing_ok=True)
    except OSError as err:
        logger.warning("could not remove temporary file %s: %s", temporary, err)
