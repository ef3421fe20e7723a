"""Debian packages as a data source: download (`apt-get download`), unpack (`dpkg-deb -x`), licences.

Neither step needs root: `apt-get download NAME` fetches NAME's .deb into the current folder and
`dpkg-deb -x FILE DIR` unpacks its files. Both are cached: a .deb already in the cache is not
downloaded again and an unpacked tree (`<package>_<version>/`, renamed into place only when whole)
is not unpacked again. The licence of an installed file is read from the package's machine-readable
`usr/share/doc/<package>/copyright` (DEP-5): its `Files:` patterns name *source* paths
(`nature/Aqua.jpg`) that are matched against the tail of the installed path
(`usr/share/backgrounds/mate/nature/Aqua.jpg`), the most specific match winning; `licence_note`
adds what some packages say per file beside it (Plasma's metadata.json, Palapeli's .desktop files,
LXQt's wallpaper `License`, Tux Paint's .txt notes).

Reference:
    Debian policy, machine-readable copyright format 1.0
    (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import json
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import Callable

from colorization_tf.sources.base import SourceError

APT_MISSING_HELP = (
    "apt-get was not found: this dataset is built from Debian packages, which needs a Debian or "
    "Ubuntu system (or container). Instead: (1) on any machine, download the .deb files of {packages} "
    "(https://packages.debian.org/bookworm/all/NAME/download) into {debs} and run the command again "
    "(a cached .deb is used without apt-get), or (2) prepare your own photos with "
    "`python datasets/prepare.py folder --src MY_PHOTOS --out data/mine`."
)
DPKG_MISSING_HELP = "dpkg-deb was not found: install dpkg (it unpacks the .deb files), or run on Debian/Ubuntu."


class PackageError(SourceError):
    """A package could not be downloaded, unpacked or read; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class UnpackedPackage:
    """A package's files on disk.

    Attributes:
        name: package name (e.g. "mate-backgrounds").
        version: its Debian version (e.g. "1.26.0-1").
        deb: the .deb file it came from.
        root: the folder its files were unpacked into (`root/usr/share/...`).
    """

    name: str
    version: str
    deb: Path
    root: Path


Downloader = Callable[[str, Path], Path]
"""download(package, folder) -> the .deb file written into folder."""


def cached_deb(package: str, folder) -> Path | None:
    """The newest-named `<package>_*.deb` in `folder`, or None."""
    found = sorted(Path(folder).glob(f"{package}_*.deb")) if Path(folder).is_dir() else []
    return found[-1] if found else None


def apt_download(package: str, folder: Path) -> Path:
    """Downloads one package's .deb into `folder` with `apt-get download` (no root needed).

    Raises:
        PackageError: apt-get is absent, or the download failed (with apt's message and a hint).
    """
    if shutil.which("apt-get") is None:
        raise PackageError(APT_MISSING_HELP.format(packages=package, debs=folder))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix=".download.") as tmp:  # no half .deb in the cache
        result = subprocess.run(["apt-get", "download", package], cwd=tmp, capture_output=True, text=True)
        deb = cached_deb(package, tmp)
        if result.returncode != 0 or deb is None:
            message = (result.stderr or result.stdout).strip().splitlines()
            hint = ""
            if any("Unable to locate package" in line or "no installation candidate" in line for line in message):
                hint = " (apt's package lists may be empty: run `apt-get update` as root, then try again)"
            detail = " / ".join(message[-3:]) or "no .deb written"
            raise PackageError(f"apt-get download {package} failed{hint}: {detail}")
        target = folder / deb.name
        os.replace(deb, target)
    return target


def deb_field(deb: Path, field: str) -> str:
    """One control field of a .deb (`dpkg-deb -f`), e.g. "Version"."""
    if shutil.which("dpkg-deb") is None:
        raise PackageError(DPKG_MISSING_HELP)
    result = subprocess.run(["dpkg-deb", "-f", str(deb), field], capture_output=True, text=True)
    if result.returncode != 0:
        raise PackageError(f"{deb}: not a readable .deb ({result.stderr.strip()}); delete it to download it again")
    return result.stdout.strip()


def fetch_and_unpack(packages, cache, download: Downloader | None = None) -> list[UnpackedPackage]:
    """Downloads (unless cached) and unpacks (unless cached) each package.

    Args:
        packages: package names.
        cache: cache folder; .debs go to `cache/debs/`, trees to `cache/unpacked/<name>_<version>/`.
        download: how to get a missing .deb (default `apt_download`; tests inject a fake).

    Returns:
        One `UnpackedPackage` per name, in order.

    Raises:
        PackageError: a package could not be fetched or unpacked.
    """
    cache = Path(cache)
    debs = cache / "debs"
    download = download or apt_download
    missing = [p for p in packages if cached_deb(p, debs) is None]
    if missing and download is apt_download and shutil.which("apt-get") is None:
        raise PackageError(APT_MISSING_HELP.format(packages=", ".join(missing), debs=debs))
    out = []
    for name in packages:
        deb = cached_deb(name, debs) or download(name, debs)
        version = deb_field(deb, "Version")
        root = cache / "unpacked" / f"{name}_{version.replace(':', '%3a')}"
        if not root.is_dir():
            root.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
            try:
                result = subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp)], capture_output=True, text=True)
                if result.returncode != 0:
                    raise PackageError(f"{deb}: dpkg-deb -x failed ({result.stderr.strip()}); "
                                       "delete the file to download it again")
                os.replace(tmp, root)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
        out.append(UnpackedPackage(name, version, deb, root))
    return out


@dataclasses.dataclass(frozen=True)
class Licence:
    """What a package's copyright file says about one file."""

    licence: str
    copyright: str
    pattern: str


def parse_copyright(text: str) -> list[dict[str, str]]:
    """The paragraphs of a DEP-5 copyright file as {field: value} (continuation lines folded)."""
    paragraphs, current, key = [], {}, None
    for line in text.splitlines():
        if not line.strip():
            if current:
                paragraphs.append(current)
            current, key = {}, None
        elif line[0] in " \t" and key:
            current[key] += "\n" + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            current[key.strip()] = value.strip()
    if current:
        paragraphs.append(current)
    return paragraphs


def _match_rank(pattern: str, path: str) -> int:
    """0 no match; 1 a bare `*`; 2 basename match; 3 the pattern matches the path's tail.

    A pattern without wildcards also matches the same path with another extension: packages that
    convert their images at build time (GCompris: `.jpg` sources shipped as `.webp`) keep the
    source names in their copyright file.
    """
    if pattern in ("*", "./*"):
        return 1
    pattern = pattern.removeprefix("./")
    if fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, "*/" + pattern):
        return 3
    source, extension = posixpath.splitext(pattern)
    shipped = posixpath.splitext(path)[0]
    if extension and not any(c in pattern for c in "*?[") and (shipped == source or shipped.endswith("/" + source)):
        return 3
    name = posixpath.basename(pattern)
    return 2 if "*" not in name and name == posixpath.basename(path) else 0


@functools.lru_cache(maxsize=8)
def _copyright_paragraphs(copyright_file: str) -> list[dict[str, str]]:
    """`parse_copyright` of a file, read once (GCompris' file has 4,500 lines and 120 photos)."""
    return parse_copyright(Path(copyright_file).read_text(encoding="utf-8", errors="replace"))


def file_licence(package_root, package: str, path: str) -> Licence:
    """The licence and copyright of an installed file per its package's copyright file.

    Args:
        package_root: the unpacked tree.
        package: package name (the file is `usr/share/doc/<package>/copyright`).
        path: the file, relative to `package_root` (posix).

    Returns:
        The most specific matching `Files:` paragraph (ties: the later one, as DEP-5 says), or
        licence "unknown" when the file has no machine-readable copyright.
    """
    copyright_file = Path(package_root) / "usr" / "share" / "doc" / package / "copyright"
    if not copyright_file.is_file():
        return Licence("unknown", "", "")
    best, best_rank = Licence("unknown", "", ""), 0
    for paragraph in _copyright_paragraphs(str(copyright_file)):
        for pattern in paragraph.get("Files", "").split():
            rank = _match_rank(pattern, path)
            if rank and rank >= best_rank:
                licence = paragraph.get("License", "unknown").split("\n")[0].strip()
                best = Licence(licence, paragraph.get("Copyright", "").replace("\n", "; "), pattern)
                best_rank = rank
    return best


def licence_note(package_root: Path, rel: str) -> str:
    """Per-file licence details beside the copyright file: Plasma metadata, Palapeli .desktop files,
    Tux Paint .txt notes, the `License` file of LXQt's wallpaper folder."""
    parts = PurePosixPath(rel).parts
    if "contents" in parts:
        meta = package_root.joinpath(*parts[: parts.index("contents")], "metadata.json")
        if meta.is_file():
            plugin = json.loads(meta.read_text(encoding="utf-8")).get("KPlugin", {})
            authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
            return f"metadata.json: License {plugin.get('License', '?')}, by {authors}"
    path = package_root / rel
    desktop = path.with_suffix(".desktop")
    if desktop.is_file():  # Palapeli: X-KDE-PluginInfo-{Author,License,Website}=...
        info = dict(re.findall(r"^X-KDE-PluginInfo-(\w+)=(.*)$", desktop.read_text(errors="replace"), re.M))
        return (f"{desktop.name}: License {info.get('License', '?')}, by {info.get('Author', '?')}, "
                f"{info.get('Website', '')}").rstrip(", ")
    for note in (path.with_suffix(".txt"), path.with_name(path.stem.removesuffix("-back") + ".txt"),
                 path.with_name("License")):  # LXQt: one notice for its wallpaper folder
        if note.is_file():
            lines = [ln.lstrip("# ").strip() for ln in note.read_text(errors="replace").splitlines()]
            return f"{note.name}: " + " ".join(ln for ln in lines if ln)[:300]
    return ""


__all__ = [
    "PackageError",
    "UnpackedPackage",
    "Licence",
    "apt_download",
    "cached_deb",
    "deb_field",
    "fetch_and_unpack",
    "parse_copyright",
    "file_licence",
    "licence_note",
]
