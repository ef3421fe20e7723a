"""Real colour photographs that are installed with our dependencies (no download, ever).

scikit-image's wheel ships a few colour photos inside `skimage/data/`; matplotlib ships
`grace_hopper.jpg` in its sample data. They are read straight from those files (never through a
fetcher that could go to the network), for qualitative checks and figures: a model trained on
landscapes or synthetic scenes is shown on real photos it has never seen.

Reference:
    CS520 (Yang & Li) colorize scikit-image's "coffee" photo; the others are the usual test images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colorization_tf.fileio import atomic_path

SKIMAGE_PHOTOS = {
    "astronaut": "astronaut.png",
    "coffee": "coffee.png",
    "chelsea": "chelsea.png",
    "rocket": "rocket.jpg",
    "motorcycle": "motorcycle_left.png",
}
"""Natural colour photos bundled in scikit-image's wheel: name -> file in `skimage/data/`."""

SKIMAGE_EXTRA_PHOTOS = {
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "retina": "retina.jpg",
}
"""Further bundled colour images that are not everyday scenes (astronomy, microscopy, medicine)."""

MATPLOTLIB_PHOTOS = {"grace_hopper": "grace_hopper.jpg"}
"""Colour photos in matplotlib's bundled sample data."""


def _skimage_dir() -> Path:
    import skimage.data

    return Path(skimage.data.__file__).parent


def _matplotlib_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data"


def _read(folder: Path, filename: str) -> np.ndarray:
    from colorization_tf.data.files import load_image_rgb

    path = folder / filename
    if not path.is_file():
        raise FileNotFoundError(f"{path}: bundled photo missing from this installation")
    return load_image_rgb(path)


def skimage_photos(include_extra: bool = False) -> dict[str, np.ndarray]:
    """The colour photos scikit-image installs: astronaut, coffee, chelsea, rocket, motorcycle.

    Args:
        include_extra: also the non-scene images (hubble_deep_field, immunohistochemistry, retina).

    Returns:
        {name: uint8 RGB `[H, W, 3]`}, in a fixed order.

    Raises:
        FileNotFoundError: a file is missing from the installed scikit-image (nothing is downloaded).
    """
    folder = _skimage_dir()
    names = dict(SKIMAGE_PHOTOS, **(SKIMAGE_EXTRA_PHOTOS if include_extra else {}))
    return {name: _read(folder, filename) for name, filename in names.items()}


def bundled_photos(include_extra: bool = False) -> dict[str, np.ndarray]:
    """`skimage_photos()` plus matplotlib's grace_hopper (skipped if that file is absent)."""
    photos = skimage_photos(include_extra)
    folder = _matplotlib_dir()
    for name, filename in MATPLOTLIB_PHOTOS.items():
        if (folder / filename).is_file():
            photos[name] = _read(folder, filename)
    return photos


def write_photos(out_dir, include_extra: bool = False, fmt: str = "png") -> list[Path]:
    """Writes `bundled_photos()` to `out_dir/<name>.<fmt>` (atomically; existing files are kept).

    Returns:
        The written (or already present) paths, in order.
    """
    from PIL import Image

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rgb in bundled_photos(include_extra).items():
        path = out_dir / f"{name}.{fmt}"
        if not path.exists():
            with atomic_path(path) as tmp:
                Image.fromarray(rgb).save(tmp)
        written.append(path)
    return written


__all__ = ["SKIMAGE_PHOTOS", "SKIMAGE_EXTRA_PHOTOS", "skimage_photos", "bundled_photos", "write_photos"]
