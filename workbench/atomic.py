"""Atomic file writes: every file the project saves (bundles, exports, label stores, reports) goes
through ``atomic_path``, so an interrupted save never leaves a half-written file under the final
name and an earlier file there stays intact."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_UMASK = os.umask(0o022)  # read once at import: changing it later, even briefly, races other threads
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block succeeds, the file is flushed to disk
    and renamed over ``path`` in one step. On any exception the temporary file is removed.

    The file gets the mode of the file it replaces, or that of any new file (0666 less the umask),
    not ``mkstemp``'s owner-only 0600: results in a shared folder stay readable by the others there.
    An OS error (a full disk) names ``path``, not the temporary file or nothing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    try:
        try:
            yield Path(tmp)
            with open(tmp, "rb+") as fh:  # the data must be on disk before the rename makes it visible
                os.fsync(fh.fileno())
            try:
                mode = stat.S_IMODE(path.stat().st_mode)
            except OSError:
                mode = 0o666 & ~_UMASK
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno is None or (exc.filename is not None and str(exc.filename) != tmp):
                raise
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def copy_as_new(source: str | os.PathLike, folder: Path, stem: str, suffix: str) -> Path:
    """Copy ``source`` into ``folder`` as ``stem + suffix``, or ``stem-XXXXXX + suffix`` when that name is
    taken (an upload never overwrites an earlier file), appearing whole or not at all; returns the copy."""
    target = folder / f"{stem}{suffix}"
    while target.exists():
        target = folder / f"{stem}-{uuid.uuid4().hex[:6]}{suffix}"
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return target
