"""Deterministic train/val/test splits that reproduce each paper's protocol, and an experiment's split.

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

`resolve_splits` is what an experiment uses: it scans a folder, takes its prepared `splits.json`
as it is when it has one (else the protocol's hash split), optionally subsamples, and holds a
validation split out of train (`carve_validation`, by the same kind of per-file hash) when the
protocol has none, so validation never looks at the test images.

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

import numpy as np

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


# --------------------------------------------------------------------------------------------
# An experiment's splits: scan, split (prepared or by protocol), validation held out of train

VAL_FRACTION = 0.1
"""Share of the training files held out for validation when a protocol has no validation split."""

VAL_SALT = "validation"
"""Mixed into the validation hash so it is independent of the train/test hash of the same seed."""

MIN_FOLDER_FOR_VAL = 5
"""A class folder of at least this many training files gives one to validation even when no file
hashes below `VAL_FRACTION` (tiny per-scene datasets, e.g. CS520's ~10 training images per scene)."""


def discover(root, *, max_images: int | None = None, seed: int = 0) -> tuple[list[str], dict | None, list[str], str]:
    """Finds and scans the images under `root`.

    Returns:
        (usable paths, path -> class index or None, class names, the scan summary text).
        With `max_images`, a deterministic class-stratified subset (every class keeps images).
    """
    from colorization_tf.data.files import find_images, scan_images

    found = find_images(root)
    report = scan_images(found.paths, progress=False, source=str(root))
    usable = report.usable
    labels = None
    if found.class_names:
        label_of = {r.path: r.label for r in found.records}
        labels = {p: label_of[p] for p in usable}
    if max_images is not None and len(usable) > max_images:
        usable = _subset(usable, labels, max_images, seed)
    return usable, labels, list(found.class_names), report.summary(source=str(root))


def _subset(paths: list[str], labels: dict | None, n: int, seed: int) -> list[str]:
    """A deterministic subset of `n` paths, round-robin over classes so each class is present."""
    rng = np.random.default_rng(seed)
    groups: dict[int, list[str]] = {}
    for p in paths:
        groups.setdefault(labels[p] if labels else 0, []).append(p)
    for key in groups:
        order = rng.permutation(len(groups[key]))
        groups[key] = [groups[key][i] for i in order]
    chosen: list[str] = []
    while len(chosen) < n:
        for key in sorted(groups):
            if groups[key] and len(chosen) < n:
                chosen.append(groups[key].pop())
    return sorted(chosen)


def split(paths: list[str], protocol: str, seed: int) -> dict[str, list[str]]:
    """Deterministic train/val/test split by the paper's protocol (`data.splits.split_files`).

    A protocol without a validation split (Ziegler, CS520, Lee et al., DIV2K) gets one carved out
    of its training files (`carve_validation`), never the test files: validation curves and the
    per-epoch sample figures must not look at the images the table is computed on.
    """
    parts = protocol_split(paths, protocol, seed)
    if not parts.get("val"):
        parts["train"], parts["val"] = carve_validation(parts["train"], seed)
    return parts


def subsample_splits(parts: dict[str, list[str]], labels: dict | None, n: int, seed: int) -> dict[str, list[str]]:
    """At most `n` images in all, taken within each split in proportion to its size (`_subset`
    per split): a prepared split shrinks without any file changing sides."""
    total = sum(len(v) for v in parts.values())
    if total <= n:
        return {k: list(v) for k, v in parts.items()}
    out = {}
    for key, paths in parts.items():
        want = min(len(paths), max(1, round(n * len(paths) / total))) if paths else 0
        out[key] = _subset(paths, labels, want, seed) if want < len(paths) else list(paths)
    return out


@dataclasses.dataclass
class DataSplits:
    """The images an experiment uses and where their split came from.

    Attributes:
        splits: "train", "val", "test" -> paths.
        labels: path -> class index (None without class folders).
        class_names: class folder names.
        report: the scan summary and one line per split (`data_report.txt`).
        source: "prepared" (the folder's `splits.json`) or "hash" (`data.splits.split_files`).
        val_carved: validation was held out of train (the split had none).
        prepared: the prepared file's counts (`data.splits.prepared_splits`), or None.
    """

    splits: dict[str, list[str]]
    labels: dict | None
    class_names: list[str]
    report: str
    source: str
    val_carved: bool
    prepared: dict | None = None


def resolve_splits(root, protocol: str, seed: int, *, limit: int | None = None, use_prepared: bool = True) -> DataSplits:
    """Scans `root` and splits it: by its prepared `splits.json` when it has one, else by the protocol.

    A prepared split is used as it is, also in `--quick`/`--max-images` mode, which then only
    subsamples within each side (`subsample_splits`). Either way a protocol without validation
    gets it held out of train (`carve_validation`). Hash splits use `seed`, never the
    training seed.

    Args:
        root: the data folder.
        protocol: split protocol (`split_files`) when the folder has no prepared split.
        seed: the split seed (hash split, validation carve-out, subsets).
        limit: use at most this many images (None: all).
        use_prepared: use the folder's `splits.json` when it has one (not for the embedded default).

    Returns:
        A `DataSplits`.
    """
    paths, labels, class_names, scan_text = discover(root)
    prepared = prepared_splits(root, paths) if use_prepared else None
    if prepared is not None:
        parts, info = prepared
        if not parts["train"] or not parts["test"]:
            raise ValueError(f"{info['file']}: the prepared split has no usable train or test images")
        if limit is not None:
            parts = subsample_splits(parts, labels, limit, seed)
        source = "prepared"
    else:
        info = None
        if limit is not None and len(paths) > limit:
            paths = _subset(paths, labels, limit, seed)
        parts = protocol_split(paths, protocol, seed)
        source = "hash"
    val_carved = not parts["val"]
    if val_carved:
        parts["train"], parts["val"] = carve_validation(parts["train"], seed)
    if source == "prepared":
        origin = (f"split: {info['file']} (prepared; used as it is{', subsampled within each side' if limit is not None else ''}): "
                  f"{info['listed']} files listed, {info['missing']} of them missing or unusable, "
                  f"{info['unlisted']} usable files not listed and left out")
    else:
        origin = f"split: protocol `{protocol}` by a hash of each file, split seed {seed}"
    report = scan_text + "\n" + origin + "\n" + describe_splits(protocol, parts, val_carved)
    return DataSplits(parts, labels, class_names, report, source, val_carved, info)


def protocol_split(paths: list[str], protocol: str, seed: int) -> dict[str, list[str]]:
    """The protocol's own split (`data.splits.split_files`), validation possibly empty."""
    parts = split_files(paths, protocol, seed)
    return {k: list(parts.get(k, [])) for k in ("train", "val", "test")}


def carve_validation(train: list[str], seed: int, fraction: float = VAL_FRACTION) -> tuple[list[str], list[str]]:
    """Moves ~`fraction` of the training files to a validation split, by a hash of each file's key.

    Like the protocols' own splits (`data.splits`), a file's fate depends on its key
    (`parent/name`) and the seed only, so adding images never moves the ones already placed. Within
    each folder of at least `MIN_FOLDER_FOR_VAL` files that no file hashed into, the lowest-hashing
    file goes to validation, so every class of a small dataset is validated.

    Returns:
        (train, val), each in the order of `train`.
    """
    score = {p: hash_fraction(f"{VAL_SALT}\x00{split_key(p)}", seed) for p in train}
    held = {p for p in train if score[p] < fraction}
    folders: dict[str, list[str]] = {}
    for p in train:
        folders.setdefault(os.path.dirname(os.fspath(p)), []).append(p)
    for files in folders.values():
        if len(files) >= MIN_FOLDER_FOR_VAL and not held.intersection(files):
            held.add(min(files, key=score.__getitem__))
    return [p for p in train if p not in held], [p for p in train if p in held]


def describe_splits(protocol: str, splits: dict[str, list[str]], val_carved: bool) -> str:
    """One line per split for the data report; says where the validation images came from."""
    lines = [f"{k}: {len(v)}" for k, v in splits.items()]
    if val_carved:
        lines.append(
            f"val: protocol `{protocol}` has no validation split; {len(splits['val'])} images (~{VAL_FRACTION:.0%}) "
            "were held out of train by a hash of each file (stable when files are added). Validation "
            "curves and sample figures use them; the test split is used only for the final table."
        )
    return "\n".join(lines)


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
    "discover",
    "split",
    "protocol_split",
    "carve_validation",
    "subsample_splits",
    "DataSplits",
    "resolve_splits",
    "describe_splits",
]
