"""Atomic file writes: every file the suite produces appears whole or not at all.

A writer gets a temporary path in the destination's folder (same file system), and only a
successful write is renamed over the destination with `os.replace`; on any error the temporary
file is removed and the previous file, if any, is left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yields a temporary path beside `path`; on success it replaces `path`.

    Args:
        path: the destination file (parent folders are created).
        suffix: suffix of the temporary file (default: the destination's, so writers that infer a
            format from the name still do).

    Yields:
        A `Path` to write to.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path, data: bytes, *, fsync: bool = False) -> Path:
    """Writes `data` to `path` atomically; `fsync` also flushes it to disk before the rename."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    return Path(path)


def atomic_write_text(path, text: str) -> Path:
    """Writes `text` (UTF-8) to `path` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
