"""Deterministic train/val/test splits that reproduce each paper's protocol, and the split files.

A file's split is decided by a hash of its key (by default `parent-folder/file-name`) and the seed,
not by shuffling the list: the same file always lands in the same split, whatever other files are
present, so adding images to a dataset never moves the ones already there (a shuffled
`train_test_split` reshuffles everything). Proportions are therefore met in expectation
(+- a few images on a few thousand). Protocols with tiny datasets (CS520: ~15 images per scene)
use `exact=True` instead: within each folder, files are ranked by hash and cut at the exact
proportion, which keeps the counts exact and moves at most one file per folder when one is added.

| protocol | train / val / test | paper |
| --- | --- | --- |
| polychromify | 64 / 16 / 20 | Ghiotto 2021 (2752 / 688 / 860 of 4300) |
| ziegler | 80 / 0 / 20 | Ziegler 2022 (3497 / 818, 4 unusable, of 4319) |
| cs520 | 70 / 0 / 30, exact per scene | Yang & Li (7:3 of ~15 images per scene) |
| lee2016 | 90 / 0 / 10 | Lee et al. (100k train, 10k test; MiniPlaces' own folders via prepare.py) |
| div2k | DIV2K_train_HR -> train, DIV2K_valid_HR -> test | Menon & Talukdar 2021 (800 / 100) |

DIV2K's valid set is where papers report numbers (its test ground truth was never released), so it
is returned as "test". Every result has the keys "train", "val" and "test" (possibly empty).

`write_splits` / `read_splits` store a split as `splits.json` (paths relative to the data folder),
`prepared_splits` reads a prepared folder's. An experiment's split of a folder (scan, prepared or
hash split, subsets, validation held out of train) is `data.experiment_splits.resolve_splits`.

Reference:
    The protocols of the five papers in the table above.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections import defaultdict
from pathlib import Path, PurePath
from typing import Sequence

from colorization_tf.fileio import atomic_write_text

SPLIT_NAMES = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class SplitProtocol:
    """How a paper split its data.

    Attributes:
        name: registry key.
        fractions: (train, val, test), summing to 1 (hash protocols).
        exact: rank-by-hash within each folder, exact counts (small datasets).
        folders: for folder protocols, folder name -> split (the dataset's own split).
        description: the paper's protocol in words.
    """

    name: str
    fractions: tuple[float, float, float] = (1.0, 0.0, 0.0)
    exact: bool = False
    folders: dict | None = None
    description: str = ""


PROTOCOLS: dict[str, SplitProtocol] = {
    p.name: p
    for p in (
        SplitProtocol("polychromify", (0.64, 0.16, 0.20), description="64/16/20 (PolyChromify, Ghiotto 2021)"),
        SplitProtocol("ziegler", (0.80, 0.0, 0.20), description="~80/20 train/test (Ziegler 2022)"),
        SplitProtocol("cs520", (0.70, 0.0, 0.30), exact=True, description="7:3 per scene folder (CS520)"),
        SplitProtocol("lee2016", (0.90, 0.0, 0.10), description="90/10 (Lee et al.: 100k train, 10k test)"),
        SplitProtocol(
            "div2k",
            folders={"DIV2K_train_HR": "train", "DIV2K_valid_HR": "test", "train": "train", "valid": "test"},
            description="DIV2K's own folders: 800 train, 100 valid (used as test; Menon & Talukdar 2021)",
        ),
    )
}

DIV2K_TRAIN_LAST = 800
"""DIV2K numbers its images 0001-0800 (train), 0801-0900 (valid), 0901-1000 (test)."""
DIV2K_VALID_LAST = 900


def get_protocol(name: str | SplitProtocol) -> SplitProtocol:
    """Looks a protocol up by name (a `SplitProtocol` passes through)."""
    if isinstance(name, SplitProtocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"Unknown split protocol {name!r}; choose from {sorted(PROTOCOLS)}") from None


def split_key(path, root=None) -> str:
    """The string a file is hashed by: its path relative to `root`, else `parent/name` (posix).

    The default survives moving the dataset folder, and keeps `beach/1.jpg` apart from `sea/1.jpg`.
    """
    path = os.fspath(path)
    if root is not None:
        return PurePath(os.path.relpath(path, os.fspath(root))).as_posix()
    parts = PurePath(path).parts
    return "/".join(parts[-2:])


def hash_fraction(key: str, seed: int) -> float:
    """A uniform number in [0, 1) fixed by (seed, key) (SHA-256; independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _by_threshold(items, fractions, seed, root):
    splits = {name: [] for name in SPLIT_NAMES}
    bounds = [fractions[0], fractions[0] + fractions[1]]
    for item in items:
        u = hash_fraction(split_key(item, root), seed)
        splits["train" if u < bounds[0] else "val" if u < bounds[1] else "test"].append(item)
    return splits


def _by_rank(items, fractions, seed, root):
    groups = defaultdict(list)
    for item in items:
        groups[os.path.dirname(os.fspath(item))].append(item)
    chosen = {}
    for group in groups.values():
        ranked = sorted(group, key=lambda p: hash_fraction(split_key(p, root), seed))
        n_train = round(fractions[0] * len(ranked))
        n_val = round((fractions[0] + fractions[1]) * len(ranked)) - n_train
        for i, item in enumerate(ranked):
            chosen[os.fspath(item)] = "train" if i < n_train else "val" if i < n_train + n_val else "test"
    splits = {name: [] for name in SPLIT_NAMES}
    for item in items:  # keep the caller's order
        splits[chosen[os.fspath(item)]].append(item)
    return splits


def _by_folder(items, folders):
    splits = {name: [] for name in SPLIT_NAMES}
    unknown = []
    for item in items:
        parts = PurePath(os.fspath(item)).parts[:-1]
        split = next((folders[p] for p in reversed(parts) if p in folders), None)
        if split is None:  # DIV2K numbering: 0001.png .. 0900.png
            match = re.fullmatch(r"0*(\d+)(x\d)?", PurePath(os.fspath(item)).stem)
            if match:
                number = int(match.group(1))
                split = "train" if number <= DIV2K_TRAIN_LAST else "test" if number <= DIV2K_VALID_LAST else None
        if split is None:
            unknown.append(item)
        else:
            splits[split].append(item)
    if unknown:
        raise ValueError(
            f"{len(unknown)} file(s) belong to no split of this protocol (expected folders "
            f"{sorted(folders)} or DIV2K numbers 0001-0900), e.g. {os.fspath(unknown[0])}"
        )
    return splits


def split_files(
    paths: Sequence,
    protocol: str | SplitProtocol = "polychromify",
    seed: int = 42,
    *,
    root=None,
    exact: bool | None = None,
) -> dict[str, list]:
    """Splits files per a paper's protocol, deterministically and stably.

    Args:
        paths: files (str or Path; returned as given). Duplicates are an error.
        protocol: a `PROTOCOLS` key or a `SplitProtocol`.
        seed: changes the assignment (42 = PolyChromify's `random_state`).
        root: hash paths relative to this folder (default: `parent/name`, see `split_key`).
        exact: rank-by-hash with exact proportions per folder; default: the protocol's choice.

    Returns:
        {"train": [...], "val": [...], "test": [...]} in the order of `paths`.

    Reference:
        See the module docstring's table.
    """
    spec = get_protocol(protocol)
    items = list(paths)
    keys = [split_key(p, root) for p in items]
    if len(set(keys)) != len(keys):
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        raise ValueError(f"split_files: duplicate split keys (same folder/name twice): {dupes[:3]}")
    if spec.folders:
        return _by_folder(items, spec.folders)
    if abs(sum(spec.fractions) - 1.0) > 1e-9:
        raise ValueError(f"split protocol {spec.name}: fractions {spec.fractions} do not sum to 1")
    use_rank = spec.exact if exact is None else exact
    return (_by_rank if use_rank else _by_threshold)(items, spec.fractions, seed, root)


def write_splits(path, splits: dict[str, Sequence], root) -> None:
    """Saves splits as JSON of paths relative to `root` (atomic write)."""
    path = Path(path)
    data = {name: [PurePath(os.path.relpath(os.fspath(p), os.fspath(root))).as_posix() for p in items]
            for name, items in splits.items()}
    atomic_write_text(path, json.dumps(data, indent=1))


PREPARED_SPLITS_FILE = "splits.json"
"""The split `datasets/prepare.py` writes into a prepared data folder (paths relative to it)."""


def prepared_splits(root, paths) -> tuple[dict[str, list[str]], dict] | None:
    """The split a prepared folder ships (`root/splits.json`), restricted to `paths`.

    Files listed in the JSON but absent from `paths` (deleted, or found unusable by a later scan)
    are dropped; files in `paths` the JSON does not list are left out (they were added after the
    folder was prepared, and putting them anywhere would break the prepared protocol).

    Args:
        root: the data folder.
        paths: the usable image files found under it.

    Returns:
        None without `root/splits.json`; else ({"train", "val", "test"} -> paths, in the JSON's
        order and as given in `paths`), {"file", "listed", "missing", "unlisted"}).

    Raises:
        ValueError: the JSON is unreadable or not a mapping of split names to lists of paths
            (names the file), or lists one file in two splits.
    """
    file = Path(root) / PREPARED_SPLITS_FILE
    if not file.is_file():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{file}: cannot read the prepared split: {err}") from None
    if not isinstance(data, dict) or not all(isinstance(v, list) and all(isinstance(p, str) for p in v) for v in data.values()):
        raise ValueError(f"{file}: expected {{split name: [relative paths]}} as written by datasets/prepare.py")
    unknown = sorted(set(data) - set(SPLIT_NAMES))
    if unknown:
        raise ValueError(f"{file}: unknown split names {unknown}; expected {list(SPLIT_NAMES)}")
    by_key = {PurePath(os.path.relpath(os.fspath(p), os.fspath(root))).as_posix(): p for p in paths}
    seen: dict[str, str] = {}
    parts = {name: [] for name in SPLIT_NAMES}
    missing = 0
    for name, items in data.items():
        for rel in items:
            key = PurePath(rel).as_posix()
            if key in seen:
                raise ValueError(f"{file}: {rel} is in both {seen[key]!r} and {name!r}")
            seen[key] = name
            if key in by_key:
                parts[name].append(by_key[key])
            else:
                missing += 1
    info = {"file": str(file), "listed": len(seen), "missing": missing, "unlisted": len(set(by_key) - set(seen))}
    return parts, info


def read_splits(path, root=None) -> dict[str, list[str]]:
    """Loads `write_splits` output; paths are joined to `root` (default: the JSON file's folder)."""
    path = Path(path)
    root = Path(root) if root is not None else path.parent
    data = json.loads(path.read_text(encoding="utf-8"))
    return {name: [str(root / p) for p in items] for name, items in data.items()}


__all__ = [
    "SPLIT_NAMES",
    "SplitProtocol",
    "PROTOCOLS",
    "get_protocol",
    "split_key",
    "hash_fraction",
    "split_files",
    "write_splits",
    "read_splits",
    "PREPARED_SPLITS_FILE",
    "prepared_splits",
]
