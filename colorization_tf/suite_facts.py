"""What this suite does for the protocol settings that a run's configuration does not name.

One job: describe, in the vocabulary of the "Protocol" table (`colorization_tf.experiment.protocol`), the
suite's own fixed choices that the papers may make differently: each model's weight
initialisation and the upsampling that brings its output to the input's resolution, the input
resize of the data pipeline, the gray conversion, and the resolution of the loss target. The
descriptions name the file that makes the choice; `tests/test_protocol_sources.py` builds models
and checks the initialisation and upsampling against them.

The values are the suite's side of the comparison only: a paper's side is always a literal with its
source (`protocol.Paper`), never taken from here.

Reference:
    The suite's own code (files named in each value); the papers in /work/shared/seeds.
"""

from __future__ import annotations

import inspect
import os

HE_NORMAL = "He normal: std sqrt(2 / fan_in), zero biases"
HE_UNIFORM = "He uniform: limit sqrt(6 / fan_in), zero biases"
HE_UNIFORM_FAN_OUT = "He uniform over fan_out: limit sqrt(6 / fan_out), from scratch"
GLOROT_UNIFORM = "Glorot uniform (Keras' default), zero biases"
LECUN_TRUNCATED = "truncated normal, std 1 / sqrt(fan_in), zero biases"
IMAGENET = "encoder from ImageNet weights"
"""Weight initialisations, as the table shows them (the suite's and the papers')."""

MODEL_INIT = {
    "iizuka": (HE_NORMAL, "models/iizuka.py `KERNEL_INITIALIZER`", "HeNormal"),
    "eccv16": (HE_UNIFORM, "models/eccv16.py `RELU_INIT`", "HeUniform"),
    "alexnet": (HE_UNIFORM, "models/alexnet.py `RELU_INIT`", "HeUniform"),
    "resnet_unet": (HE_UNIFORM_FAN_OUT, "models/resnet_unet.py `CONV_INIT`", "VarianceScaling"),
    "compact_unet": (HE_NORMAL, "models/compact_unet.py `CONV_INIT`", "HeNormal"),
    "polychromify": (GLOROT_UNIFORM, "models/polychromify.py", "GlorotUniform"),
    "cs520_cnn": (GLOROT_UNIFORM, "models/cs520_cnn.py (Keras' default)", "GlorotUniform"),
}
"""Model family (registry-name prefix) -> (initialisation of most of its kernels, the file, the Keras
initializer class most of its kernels use)."""

NO_UPSAMPLING = "none: the output is at the input's resolution"
NEAREST_X2, NEAREST_X4 = "nearest x2", "nearest x4"
BILINEAR_X2, BILINEAR_X4, BILINEAR_X8 = "bilinear x2", "bilinear x4", "bilinear x8"
"""Upsampling of a model's colour output to the input's resolution at test time."""


UNDESCRIBED = "not described here (a family outside `suite_facts.MODEL_INIT`: see its model file)"
"""What the table says of a model added without facts here: adding a paper needs no edit of this file."""


def model_family(model: str) -> str | None:
    """The `MODEL_INIT` key of a registry model name ("eccv16_regression" -> "eccv16"); None for a
    family this file does not describe (a paper added since)."""
    for family in sorted(MODEL_INIT, key=len, reverse=True):
        if model == family or model.startswith(family + "_"):
            return family
    return None


def initialization(model: str, model_kwargs: dict | None = None) -> str:
    """How `model`'s kernels start, e.g. `HE_NORMAL` (the file: `initialization_file`); a U-Net built
    with `pretrained_weights` (`--encoder-weights FILE`) starts its encoder from that file."""
    weights = (model_kwargs or {}).get("pretrained_weights")
    own = _init_fact(model, 0)
    if weights:
        return f"{IMAGENET} in `{os.path.basename(os.fspath(weights))}` (user's file), decoder {own}"
    return own


def initialization_file(model: str) -> str:
    """Where the suite sets `model`'s initialisation, e.g. "models/iizuka.py `KERNEL_INITIALIZER`"."""
    return _init_fact(model, 1)


def _init_fact(model: str, field: int) -> str:
    """Field `field` of `model`'s `MODEL_INIT` entry, or `UNDESCRIBED` for a family not listed there."""
    family = model_family(model)
    return MODEL_INIT[family][field] if family else UNDESCRIBED


def output_upsampling(model: str, model_kwargs: dict | None = None) -> str:
    """How `model` brings its colour output to the input's resolution (the layer named "ab", or for a
    classification head the decoded ab, `models/heads.py`).

    Args:
        model: registry name.
        model_kwargs: the run's builder arguments (PolyChromify's ECCV16 head is nearest x4).
    """
    kwargs = model_kwargs or {}
    family = model_family(model)
    if family is None:
        return UNDESCRIBED
    if family == "iizuka":
        return BILINEAR_X2
    if model == "eccv16_regression":
        return NEAREST_X4 if kwargs.get("regression_head") == "polychromify" else BILINEAR_X4
    if model == "alexnet_regression":
        return BILINEAR_X8
    if model.endswith("_classification"):
        return BILINEAR_X4 + " (decoded ab at 1/4, models/heads.py)"
    if family == "compact_unet":
        return BILINEAR_X2
    return NO_UPSAMPLING


INPUT_RESIZE = "area when shrinking, bilinear when enlarging (antialiased; data/decode.py `DEFAULT_RESIZE_METHOD`)"
"""The data pipeline's default resize of every image to the training size (`DataConfig.resize_method` "auto")."""


def input_resize(method: str = "auto") -> str:
    """The "input resizing" row for an experiment's `resize_method`: `INPUT_RESIZE` for "auto", else the
    `tf.image.resize` method's name ("nearest" for PolyChromify's Keras loader)."""
    return INPUT_RESIZE if method == "auto" else str(method)

LAB_L = "L of CIE Lab (sRGB, D65)"
"""The gray input: the L channel of CIE Lab (`colorization_tf.color`); the papers' "L channel"."""

FULL_RESOLUTION = "full resolution"
BLOCK_AVERAGE = "ab averaged over 4x4 blocks to the logits' 1/4 resolution"
SUBSAMPLE = "ab of every 4th pixel (the block's top-left) at the logits' 1/4 resolution"
HALF_RESOLUTION_NEAREST = "ab resized to half resolution, nearest neighbour"
"""Resolutions of the loss target."""


def loss_target(loss, classification: bool) -> str:
    """The resolution the loss compares the prediction with the true ab at.

    A classification head's cross-entropy reduces the full-resolution target to its logits'
    resolution (`losses.SoftEncodedCrossEntropy.downsample`); a regression loss compares the
    upsampled output with the full-resolution ab.
    """
    if not classification:
        return FULL_RESOLUTION
    from colorization_tf.losses import SoftEncodedCrossEntropy

    mode = getattr(loss, "downsample", None)
    if mode is None:
        mode = inspect.signature(SoftEncodedCrossEntropy.__init__).parameters["downsample"].default
    return SUBSAMPLE if mode == "subsample" else BLOCK_AVERAGE


__all__ = ["MODEL_INIT", "UNDESCRIBED", "model_family", "initialization", "initialization_file", "output_upsampling", "INPUT_RESIZE", "input_resize", "LAB_L", "loss_target"]
