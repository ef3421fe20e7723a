"""An experiment's split of a data folder: scan, split (prepared or by protocol), subsets, validation.

`resolve_splits` is what an experiment uses: it scans a folder (`discover`), takes its prepared
`splits.json` as it is when it has one (else the protocol's hash split, `protocol_split`),
optionally subsamples (`subsample_splits`, within each side), and holds a validation split out of
train (`carve_validation`, by the same kind of per-file hash as `data.splits`) when the protocol
has none, so validation never looks at the test images. `describe_splits` words it for the data
report.

Reference:
    The protocols of the five papers: `data.splits`.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from colorization_tf.data.files import find_images, scan_images
from colorization_tf.data.splits import hash_fraction, prepared_splits, split_files, split_key

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
    "VAL_FRACTION",
    "VAL_SALT",
    "MIN_FOLDER_FOR_VAL",
    "discover",
    "split",
    "protocol_split",
    "carve_validation",
    "subsample_splits",
    "DataSplits",
    "resolve_splits",
    "describe_splits",
]
