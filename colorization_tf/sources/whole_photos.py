"""Whole photographs of a debian-photos split, as a user hands them to `colorize`.

`datasets/prepare.py debian-photos` stores square crops for the training pipeline; the photos
themselves stay in its package cache (`<out>/.cache/unpacked/<package>_<version>/<path>`, named
per photo in `manifest.json`). `load_split` reads the photos of one split (train, val or test) from
there, whole, scaled down so that the longer side is at most `max_side` pixels (never up), for
training on views of whole photos and for scoring models the way `colorize` runs them.

Reference:
    The issue "Colour beyond the lightness prior" (issue 17): judge models on whole photos.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from PIL import Image

from colorization_tf.data import files

MANIFEST = "manifest.json"
CACHE_UNPACKED = Path(".cache") / "unpacked"
SPLITS = ("train", "val", "test")


@dataclasses.dataclass(frozen=True)
class Photo:
    """One photograph: its manifest id and package, and its pixels (uint8 RGB [H, W, 3])."""

    id: str
    package: str
    rgb: np.ndarray


def _error(path, message: str) -> ValueError:
    return ValueError(f"{path}: {message}")


def photo_path(data_dir, entry: dict) -> Path:
    """The cached original of a manifest entry (its package's unpacked tree, then `entry["path"]`).

    Raises:
        FileNotFoundError: naming the file, when the cache was removed (run the prepare command again).
    """
    root = Path(data_dir) / CACHE_UNPACKED
    folder = root / f"{entry['package']}_{entry['version'].replace(':', '%3a')}"
    path = folder / entry["path"]
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the original of photo {entry['id']!r} is missing from the package cache; "
            f"run `python datasets/prepare.py debian-photos --out {data_dir}` again")
    return path


def manifest_entries(data_dir, split: str) -> list[dict]:
    """The manifest entries of the photos on one side of the split, in manifest order."""
    if split not in SPLITS:
        raise ValueError(f"whole_photos: split must be one of {SPLITS}, got {split!r}")
    path = Path(data_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest; prepare the photos first: "
                                f"python datasets/prepare.py debian-photos --out {data_dir}")
    try:
        photos = json.loads(path.read_text())["photos"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise _error(path, f"not a debian-photos manifest ({err})") from None
    return [p for p in photos if p.get("split") == split]


def scale_to(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """`rgb` scaled down (Lanczos) so that its longer side is at most `max_side`; never up."""
    height, width = rgb.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return rgb
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.LANCZOS))


def load_split(data_dir, split: str, max_side: int | None = None) -> list[Photo]:
    """Loads the whole photos of `split`.

    Args:
        data_dir: a folder written by `datasets/prepare.py debian-photos`.
        split: "train", "val" or "test" (the photos' split, as in `splits.json`).
        max_side: scale each photo down so its longer side is at most this (None: as stored).

    Returns:
        The photos, in manifest order.
    """
    return [Photo(entry["id"], entry["package"], scale_to(files.load_image_rgb(str(photo_path(data_dir, entry))), max_side))
            for entry in manifest_entries(data_dir, split)]
