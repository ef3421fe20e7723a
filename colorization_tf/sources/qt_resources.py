"""Reads Qt binary resource bundles (`.rcc`): the files inside, by their resource path.

Some Debian packages ship their pictures inside `.rcc` files (GCompris: one bundle per activity)
rather than as loose files. A bundle written by Qt's `rcc --binary` is a header, a tree of nodes, a
name table and a data table (all integers big-endian):

- header: `qres`, format version, then the offsets of the tree, the data and the names
  (version 3 adds a flags word);
- tree: one node per file or folder, 14 bytes (22 from version 2: a modification time follows):
  name offset (4), flags (2; 1 = zlib-compressed, 2 = folder, 4 = zstd), then for a folder
  child count (4) and first child index (4), for a file country (2), language (2) and data offset (4);
- names: length in UTF-16 units (2), hash (4), the name in UTF-16BE;
- data: length (4), bytes (zlib-compressed as `qCompress`: uncompressed length (4), zlib stream).

Reference:
    Qt's resource compiler, qtbase/src/tools/rcc/rcc.cpp (`RCCResourceLibrary::writeDataBlobs`,
    `writeDataNames`, `writeDataStructure`).
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path, PurePosixPath

MAGIC = b"qres"
FLAG_COMPRESSED = 0x01
FLAG_DIRECTORY = 0x02
FLAG_COMPRESSED_ZSTD = 0x04


class ResourceError(ValueError):
    """The file is not a Qt binary resource bundle this reader understands."""


def read_rcc(path, wanted=lambda name: True) -> dict[str, bytes]:
    """The files inside a Qt `.rcc` bundle.

    Args:
        path: the `.rcc` file.
        wanted: `resource path -> bool`; only these files' data are read (and decompressed).

    Returns:
        {resource path (posix, no leading slash, e.g. "gcompris/src/activities/erase/resource/x.webp"): bytes}.

    Raises:
        ResourceError: not a bundle, a truncated one, or a zstd-compressed file (named).
    """
    data = Path(path).read_bytes()
    if data[:4] != MAGIC or len(data) < 20:
        raise ResourceError(f"{path}: not a Qt resource bundle (no 'qres' header)")
    version, tree, payload, names = struct.unpack_from(">4I", data, 4)
    node_size = 14 if version < 2 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack_from(">H", data, names + offset)
        return data[names + offset + 6: names + offset + 6 + 2 * length].decode("utf-16-be")

    def blob(offset: int, flags: int, name: str) -> bytes:
        (size,) = struct.unpack_from(">I", data, payload + offset)
        raw = data[payload + offset + 4: payload + offset + 4 + size]
        if len(raw) != size:
            raise ResourceError(f"{path}: {name} is truncated")
        if flags & FLAG_COMPRESSED_ZSTD:
            raise ResourceError(f"{path}: {name} is zstd-compressed, which this reader does not handle")
        return zlib.decompress(raw[4:]) if flags & FLAG_COMPRESSED else raw

    out, stack = {}, [(0, "")]
    try:
        while stack:
            index, prefix = stack.pop()
            name_offset, flags = struct.unpack_from(">IH", data, tree + index * node_size)
            name = "" if index == 0 else name_at(name_offset)
            full = f"{prefix}/{name}" if prefix else name
            if flags & FLAG_DIRECTORY:
                count, first = struct.unpack_from(">II", data, tree + index * node_size + 6)
                stack += [(first + k, full) for k in range(count)]
            elif wanted(full):
                (offset,) = struct.unpack_from(">I", data, tree + index * node_size + 10)
                out[full] = blob(offset, flags, full)
    except (struct.error, zlib.error, UnicodeDecodeError) as err:
        raise ResourceError(f"{path}: damaged Qt resource bundle ({err})") from err
    return out


def extract_rcc(path, target, wanted=lambda name: True) -> Path:
    """Writes the wanted files of a bundle under `target` (`target/<resource path>`), once.

    The folder appears whole or not at all (written aside, then renamed), so an existing `target`
    is taken as done and left alone.

    Args:
        path: the `.rcc` file.
        target: folder to create.
        wanted: `resource path -> bool`, as in `read_rcc`.

    Returns:
        `target`.

    Raises:
        ResourceError: as `read_rcc`, or a resource path that would leave `target`.
    """
    target = Path(target)
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        for name, blob in read_rcc(path, wanted).items():
            parts = PurePosixPath(name).parts
            if not parts or any(part in ("", ".", "..") for part in parts):
                raise ResourceError(f"{path}: unsafe resource path {name!r}")
            file = tmp.joinpath(*parts)
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_bytes(blob)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return target


__all__ = ["ResourceError", "read_rcc", "extract_rcc"]
