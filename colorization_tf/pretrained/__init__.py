"""The model shipped with the package: what `colorize`, `colorize-serve` and `load_colorizer()` use by default.

`DEFAULT_MODEL` is a SavedModel export (`colorization_tf.export`: uint8 images of any size in, uint8
RGB out; loads with plain `tf.saved_model.load`) of the compact U-Net trained by
`benchmarks/time_to_quality.py` on the debian-photos training photos; its model card,
`MODEL_CARD.md` beside it, gives the data and licences, the recipe, the machine and the scores on
the held-out photos. It is installed with the package (package data), so a wheel finds it too.

Reference:
    Issue 17 ("a shipped model that makes `colorize photo.jpg` work out of the box").
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "compact_unet"
"""The shipped export's folder (its name is the model's name in `colorize-serve`)."""

MODEL_CARD = DEFAULT_MODEL / "MODEL_CARD.md"


def default_model_path() -> Path:
    """The shipped model's folder.

    Raises:
        FileNotFoundError: naming the folder, when the package was installed without its data.
    """
    if not (DEFAULT_MODEL / "saved_model.pb").is_file():
        raise FileNotFoundError(
            f"{DEFAULT_MODEL}: the shipped model is missing (no saved_model.pb); reinstall colorization-tf "
            f"with its package data, or pass a model folder written by colorization_tf.export")
    return DEFAULT_MODEL
