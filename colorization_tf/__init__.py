"""colorization-tf: five image-colorization studies reproduced with one TensorFlow/Keras toolkit.

The public API, four functions (importing the package imports neither TensorFlow nor Keras; each
function imports what it needs when first called):

    import colorization_tf
    colorization_tf.list_models()                      # the registered model names
    model = colorization_tf.build_model("compact_unet", image_size=64)   # a keras.Model
    rgb = colorization_tf.colorize(gray_uint8)          # the shipped model, loaded once
    colorizer = colorization_tf.load_colorizer("runs/x/export")         # any export folder

Modules, one concern each:
    color       sRGB <-> Lab in TF ops, each paper's normalisation
    quantize    ab bins, soft encoding, priors, rebalancing weights, annealed-mean decoding
    data        image discovery and filtering, deterministic splits, tf.data pipelines, synthetic scenes
    models      Keras functional builders, one file per family, the contract (`models.spec`) and
                the `MODELS` registry
    losses, metrics
    training    the shared runner: precision, XLA, distribution, checkpoints, callbacks
    export      SavedModel with a uint8 any-size serving signature, and .keras files
    cli         the `colorize` command
    pretrained  the shipped model (`load_colorizer()` with no argument)
    plots       every figure

Reference:
    timm's `create_model` / `list_models` and keras-hub's `from_preset`: the one line users type,
    https://huggingface.co/docs/timm/reference/models
"""

import os as _os
import threading as _threading

# oneDNN kernels roughly double CPU training speed here (benchmarks/bench_models.py --onednn-compare);
# TensorFlow enables them by itself only on some CPUs. The switch is read when TensorFlow is first
# imported, so it only takes effect when this package is imported first; export
# TF_ENABLE_ONEDNN_OPTS=0 to opt out.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from colorization_tf._version import __version__  # noqa: E402

__all__ = ["__version__", "build_model", "list_models", "load_colorizer", "colorize"]

_COLORIZERS: dict = {}
"""Export folder (resolved) -> its loaded `export.Colorizer`: `colorize` loads each model once."""
_COLORIZERS_LOCK = _threading.Lock()


def list_models() -> list:
    """The names `build_model` takes, sorted (the keys of `colorization_tf.models.MODELS`).

    Returns:
        A list of str: each paper's models and their variants.
    """
    from colorization_tf.models import list_models as _list

    return _list()


def build_model(name, **kwargs):
    """Builds the registered model `name` as a functional `keras.Model` (untrained).

        model = colorization_tf.build_model("eccv16_classification", image_size=64)

    Args:
        name: one of `list_models()` (or a `models.ModelSpec`).
        **kwargs: builder arguments that replace the spec's (e.g. `image_size`); see `ModelSpec.build`.

    Returns:
        The `keras.Model`: input "L", colour output "ab" or "logits" (`colorization_tf.models`).

    Raises:
        ValueError: an unknown name, naming the choices.
    """
    from colorization_tf.models import build_model as _build

    return _build(name, **kwargs)


def load_colorizer(path=None):
    """Loads a colorizer: call it on uint8 images of any size, get uint8 RGB back.

        import colorization_tf
        colorize = colorization_tf.load_colorizer()       # the shipped model
        rgb = colorize(gray_uint8)                         # [H, W] or [H, W, C] or [N, H, W, C]

    Args:
        path: an export folder (`colorization_tf.export.export_saved_model`); None: the model
            shipped with the package (`colorization_tf.pretrained`).

    Returns:
        An `export.Colorizer` (a fresh one on every call; `colorize` keeps one per folder).
    """
    from colorization_tf.export import load_colorizer as _load

    return _load(path)


def _cached_colorizer(path=None):
    """The `export.Colorizer` of `path` (None: the shipped model), loaded on first use and kept."""
    from pathlib import Path

    from colorization_tf.pretrained import default_model_path

    key = str(Path(default_model_path() if path is None else path).resolve())
    with _COLORIZERS_LOCK:  # two threads asking at once load it once
        if key not in _COLORIZERS:
            _COLORIZERS[key] = load_colorizer(key)
        return _COLORIZERS[key]


def colorize(images, model=None):
    """Colorizes uint8 images with an exported model, loaded once per folder and kept.

        rgb = colorization_tf.colorize(gray)               # the shipped model
        rgb = colorization_tf.colorize(batch, model="runs/x/export")

    Args:
        images: uint8 numpy images: one `[H, W]` (gray) or `[H, W, C]` (C <= 4), or a batch
            `[N, H, W, C]`; any size (the colour is predicted at the model's size and the
            lightness kept at full resolution).
        model: an export folder (`export.export_saved_model`), None for the shipped model, or an
            already loaded colorizer (anything callable, e.g. `load_colorizer(...)`), used as is.

    Returns:
        uint8 RGB of the same height and width: `[H, W, 3]` for one image, `[N, H, W, 3]` for a batch.

    Raises:
        ValueError: images that are not uint8 or of no shape above (`export.Colorizer`).
        FileNotFoundError: no shipped model when `model` is None (`pretrained.default_model_path`).
    """
    colorizer = model if callable(model) else _cached_colorizer(model)
    return colorizer(images)
