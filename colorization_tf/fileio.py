"""Atomic file writes: every file and folder the suite produces appears whole or not at all.

A writer gets a temporary path in the destination's folder (same file system), and only a
successful write is renamed over the destination with `os.replace`; on any error the temporary
file is removed and the previous file, if any, is left as it was. Folders (exports, prepared
datasets) are written under a temporary name and swapped in by `replace_dir`.

A process killed mid-write (SIGKILL, power cut) leaves only a hidden temporary, named
`.<name>.tmp<pid>-...`: never a file under the destination's name. `remove_stale_temps` deletes
those whose process is gone; writers call it before writing into a folder again.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

_STALE_TEMP = re.compile(r"^\..+\.tmp(\d+)(-.*)?$")
_RENAME_EXCHANGE = 2  # linux/fs.h: swap two paths in one step (renameat2)
_AT_FDCWD = -100


def _umask() -> int:
    """The process's umask (from /proc where it can be read: `os.umask` must set it to read it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _as_if_created(path, folder: bool) -> None:
    """Gives a temporary the mode a plain `open`/`mkdir` would have (mkstemp/mkdtemp make it
    private, 0600/0700): an export or a dataset must be readable by whoever could read the folder."""
    os.chmod(path, (0o777 if folder else 0o666) & ~_umask())


def temp_prefix(path) -> str:
    """The name prefix of a temporary for `path`: hidden, and tagged with this process's id."""
    return f".{Path(path).name}.tmp{os.getpid()}-"


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path), suffix=suffix or path.suffix or ".tmp")
    os.close(fd)
    _as_if_created(tmp, folder=False)
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


def make_temp_dir(path) -> Path:
    """A new empty temporary folder beside `path` (parents created), to be swapped in by `replace_dir`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=temp_prefix(path)))
    _as_if_created(tmp, folder=True)
    return tmp


def _exchange(a: Path, b: Path) -> bool:
    """Swaps two paths in one system call (Linux renameat2); False where unsupported."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True) if name else None
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # file system without the flag
        return False
    raise OSError(code, os.strerror(code), str(b))


def replace_dir(tmp, path) -> Path:
    """Moves the finished folder `tmp` to `path`, replacing any folder there.

    Where the file system can swap two names in one step (Linux), `path` always holds either the
    old or the new folder; elsewhere the old one is first renamed to a hidden temporary, so that a
    kill in between leaves `path` absent (the next run redoes it), never half of either.

    Args:
        tmp: the complete new folder (from `make_temp_dir`, same parent as `path`).
        path: the destination.

    Returns:
        `path`.
    """
    tmp, path = Path(tmp), Path(path)
    if not path.exists():
        os.replace(tmp, path)
        return path
    if _exchange(tmp, path):
        shutil.rmtree(tmp, ignore_errors=True)  # now holds the old folder
        return path
    old = make_temp_dir(path)
    os.replace(path, old / "old")
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


def os_error_from_message(message: str, filename: str) -> OSError | None:
    """The `OSError` a library reported only as text (TensorFlow's writers raise `ResourceExhaustedError`
    with "No space left on device"): a full disk, quota, read-only or denied folder; None for others."""
    for code in _WRITE_ERRNOS:
        if os.strerror(code) in message:
            return OSError(code, os.strerror(code), filename)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder) -> list[Path]:
    """Deletes the hidden temporaries (files or folders) that killed processes left in `folder`.

    Only names of the form `.<name>.tmp<pid>[-...]` whose process no longer runs are removed;
    another live process's temporaries are left alone.

    Returns:
        The paths removed.
    """
    folder = Path(folder)
    removed = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _STALE_TEMP.match(entry.name)
        if match is None or _alive(int(match.group(1))):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
