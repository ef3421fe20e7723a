"""colorization-tf: five image-colorization studies reproduced with one TensorFlow/Keras toolkit.

Modules, one concern each:
    color       sRGB <-> Lab in TF ops, each paper's normalisation
    quantize    ab bins, soft encoding, priors, rebalancing weights, annealed-mean decoding
    data        image discovery and filtering, deterministic splits, tf.data pipelines, synthetic scenes
    models      Keras functional builders, one file per family, and the `MODELS` registry
    losses, metrics
    training    the shared runner: precision, XLA, distribution, checkpoints, callbacks
    export      SavedModel with a uint8 any-size serving signature, and .keras files
    cli         the `colorize` command
    pretrained  the shipped model (`load_colorizer()` with no argument)
    plots       every figure
"""

import os as _os

# oneDNN kernels roughly double CPU training speed here (benchmarks/bench_models.py --onednn-compare);
# TensorFlow enables them by itself only on some CPUs. The switch is read when TensorFlow is first
# imported, so it only takes effect when this package is imported first; export
# TF_ENABLE_ONEDNN_OPTS=0 to opt out.
_os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from colorization_tf._version import __version__  # noqa: E402


def load_colorizer(path=None):
    """Loads a colorizer: call it on uint8 images of any size, get uint8 RGB back.

        import colorization_tf
        colorize = colorization_tf.load_colorizer()       # the shipped model
        rgb = colorize(gray_uint8)                         # [H, W] or [H, W, C] or [N, H, W, C]

    Args:
        path: an export folder (`colorization_tf.export.export_saved_model`); None: the model
            shipped with the package (`colorization_tf.pretrained`).

    Returns:
        An `export.Colorizer`.
    """
    from colorization_tf.export import load_colorizer as _load

    return _load(path)
