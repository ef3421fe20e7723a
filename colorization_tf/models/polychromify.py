"""PolyChromify (Ghiotto 2021): a convolutional autoencoder with per-pixel dense layers.

All variants read the raw L channel (``[B, H, W, 1]``, L in [0, 100], not normalised, as in the
paper) and predict ab / 128 through a tanh (``[B, H, W, 2]``, float32, named ``"ab"``). Every
hidden layer uses ReLU. "Dense" in the paper is Keras ``Dense`` applied to a 4-D feature map,
i.e. a per-pixel fully-connected layer; here it is a 1x1 convolution (`blocks.pixel_dense`):
same parameters, same function, at least as fast. Every variant is fully convolutional and
accepts any H, W (a multiple of ``2 ** number_of_strided_layers`` when it has strides).

Variants (`VARIANTS`; parameter counts of this implementation, the paper's figure in brackets):

- ``v0``: Dense 128-64-32-64-128 -> Dense 2 tanh: 21,282 [paper ~21k]
- ``v1``: Conv2x2 32-64-128-64-32 -> Conv3x3 2 tanh: 82,946 [not stated; the author's notebook]
- ``v2``: Conv3x3 16-32-64 -> Dense 128-64-32-64-128 -> Conv3x3 64-32-16 -> Conv3x3 2 tanh:
  149,554 [not stated]
- ``v3``: Conv3x3 stride 2 32-64-128-256-512 -> Conv3x3 512 -> (Up x2, Conv3x3)
  256-128-64-32 -> Up x2 -> Conv3x3 2 tanh: 5,495,586 [paper ~5.5M; the author's notebook]
- ``cnn``: (Conv3x3 + ReLU + BN) 16-32-64-128 -> Dense 2 tanh: 98,370 [paper 98 x 10^3]
- ``final``: Conv3x3 16-32-64 -> Dense 256-128-64-128-256 -> Conv3x3 64-32-16 -> Conv3x3 2
  tanh: 293,330 [paper: 293 x 10^3 in Table 2; 293,330 exactly per the
  suite's reference notes]
- Table 1 rows (`TABLE1_CONFIGS`): v1 93,026; v2 149,554; v3 293,330 (= final);
  v4 596,066; v5 598,114 (the paper states none; v4/v5 built as the author's notebook does).

How the counts were pinned down (the paper only gives them, not the kernel sizes):

- ``final``: 3x3 convolutions everywhere, 1x1 dense layers, and a **3x3** output convolution give
  exactly 293,330; a 1x1 ("Dense 2") output would give 293,074. The paper's text calls the output
  "a dense layer"; its number says 3x3, as its public notebook's output ``Conv2D(2, (3, 3))`` does.
- ``v0``: with a per-pixel dense output (the paper's text) 21,282 ~ 21k; a 3x3 output would be
  23,330.
- ``cnn``: the author's public notebook has this exact model (98,370 parameters, of which 480
  are BatchNorm moving statistics): BN after each ReLU and a 1x1 output.
- ``v3``: the author's model-selection notebook: after the 512 bottleneck, four (upsample, conv)
  steps 256-128-64-32 and a fifth upsampling straight before the 3x3 output: 5,495,586 ~ 5.5M.
- ``v1``: the author's notebook uses **2x2** kernels for the five hidden convolutions
  32-64-128-64-32 and a 3x3 output (82,946 parameters); an early notebook of his had
  64-128-256-128-64. v2 is Table 1's medium configuration (neurons M, filters L), which is how
  the paper describes it (no published count).

Hyper-parameter knobs of the paper's Table 1 (``neurons``, ``filters``, ``strides``,
``batch_norm``) apply to the conv-dense-conv family (``v2`` and ``final``); `TABLE1_CONFIGS` holds
its five rows. As in the author's tuning notebook (Polychromify_v5), ``strides=True`` gives the
*first* encoder convolution stride 2 and adds one x2 nearest-neighbour upsampling straight before
the output convolution (the paper's "strides & upsampling"), so everything between runs at 1/2
resolution; ``batch_norm=True`` puts BatchNormalization after the ReLU of dense layers 1, 2 and 4
(`TABLE1_BN_DENSE`), nowhere else. Initialisation is Keras's default (Glorot uniform, zero
biases), as in the original.

Reference:
    D. Ghiotto, "PolyChromify: Deep Convolutional Autoencoder for Landscape Image Colorization",
    University of Padova, 2021 (https://github.com/davide97g/polychromify).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from colorization_tf.models.blocks import BN_AFTER_ACTIVATION, conv_bn_act, pixel_dense, upsample
from colorization_tf.models.spec import ModelSpec

NEURONS = {
    "L": (64, 32, 16, 32, 64),
    "M": (128, 64, 32, 64, 128),
    "H": (256, 128, 64, 128, 256),
}
"""Table 1's dense-layer widths: Low, Medium, High."""

FILTERS = {
    "L": (16, 32, 64, 64, 32, 16),
    "H": (32, 64, 128, 128, 64, 32),
}
"""Table 1's convolution widths (encoder half, then decoder half): Low, High."""

V1_FILTERS = (32, 64, 128, 64, 32)
V1_KERNEL_SIZE = 2
"""v1's hidden convolutions are 2x2 in the author's notebook (its output convolution is 3x3)."""
V3_ENCODER_FILTERS = (32, 64, 128, 256, 512)
V3_BOTTLENECK_FILTERS = 512
V3_DECODER_FILTERS = (256, 128, 64, 32)
"""Each preceded by a x2 upsampling; a fifth upsampling precedes the output (author's notebook)."""
TABLE1_BN_DENSE = (1, 2, 4)
"""Dense layers followed by BatchNormalization with ``batch_norm=True`` in the conv-dense-conv
family (the author's Polychromify_v5: after the 256, 128 and second 128 layers)."""
CNN_FILTERS = (16, 32, 64, 128)
KERNEL_SIZE = 3
AB_CHANNELS = 2

VARIANTS = ("v0", "v1", "v2", "v3", "cnn", "final")

AUTHOR_NOTEBOOK_PARAMS = {"v1": 82_946, "v3": 5_495_586, "final": 293_330}
"""Exact counts of the author's notebook models (v1 and v3 computed from their layers; the final
model's is also the paper's). The counts the paper states are the registry's
(`ModelSpec.paper_params`, checked for every model by tests/models/test_contract.py)."""

TABLE1_CONFIGS = {
    "v1": {"variant": "final", "neurons": "L", "filters": "L", "strides": False, "batch_norm": False},
    "v2": {"variant": "final", "neurons": "M", "filters": "L", "strides": False, "batch_norm": False},
    "v3": {"variant": "final", "neurons": "H", "filters": "L", "strides": False, "batch_norm": False},
    "v4": {"variant": "final", "neurons": "H", "filters": "H", "strides": True, "batch_norm": False},
    "v5": {"variant": "final", "neurons": "H", "filters": "H", "strides": True, "batch_norm": True},
}
"""The five rows of the paper's Table 1 (hyper-parameter tuning) as `build_polychromify` kwargs.

Row v3 (neurons H, filters L, no strides, no BN) is the final model. These keys name Table 1's
rows; they are not the model-selection variants ``"v0"``..``"v3"`` of `VARIANTS`.
"""

_DEFAULTS = {
    "v0": {"neurons": "M", "batch_norm": False},
    "v1": {"filters": V1_FILTERS, "batch_norm": False},
    "v2": {"neurons": "M", "filters": "L", "strides": False, "batch_norm": False},
    "v3": {"batch_norm": False},
    "cnn": {"filters": CNN_FILTERS, "batch_norm": True},
    "final": {"neurons": "H", "filters": "L", "strides": False, "batch_norm": False},
}


def _widths(value, table: dict, knob: str, *, even: bool = False) -> tuple[int, ...]:
    """Resolves a Table 1 letter or an explicit list of layer widths."""
    if isinstance(value, str):
        if value not in table:
            raise ValueError(f"polychromify.py: {knob}={value!r}; choose one of {sorted(table)} or a list of ints")
        return table[value]
    if not isinstance(value, Sequence) or not value or not all(isinstance(v, int) and v > 0 for v in value):
        raise ValueError(
            f"polychromify.py: {knob} must be one of {sorted(table)} or a non-empty list of positive ints, "
            f"got {value!r}"
        )
    if even and len(value) % 2:
        raise ValueError(
            f"polychromify.py: {knob} needs an even number of widths (encoder half, decoder half), got {list(value)}"
        )
    return tuple(value)


def _check_size(image_size, multiple: int, variant: str) -> None:
    if image_size is None:
        return
    if not isinstance(image_size, int) or image_size <= 0 or image_size % multiple:
        raise ValueError(
            f"polychromify.py: variant {variant!r} needs image_size to be a positive multiple of {multiple}, "
            f"got {image_size!r}"
        )


def _output(x, kernel_size: int):
    """tanh output of the two encoded ab channels, float32 under any precision policy."""
    return keras.layers.Conv2D(
        AB_CHANNELS, kernel_size, padding="same", activation="tanh", dtype="float32", name="ab"
    )(x)


def _hidden_conv(x, filters, name, *, strides=1, batch_norm=False, kernel_size=KERNEL_SIZE):
    return conv_bn_act(
        x,
        filters,
        kernel_size,
        strides=strides,
        batch_norm=batch_norm,
        bn_position=BN_AFTER_ACTIVATION,
        kernel_initializer="glorot_uniform",
        name=name,
    )


def _dense_stack(x, neurons, batch_norm, bn_layers=None):
    """Per-pixel dense layers; BN after every one (`bn_layers` None) or after those numbered in it."""
    for i, units in enumerate(neurons):
        bn = batch_norm and (bn_layers is None or i + 1 in bn_layers)
        x = pixel_dense(x, units, batch_norm=bn, name=f"dense{i + 1}")
    return x


def build_polychromify(
    variant: str = "final",
    image_size: int | None = 128,
    neurons=None,
    filters=None,
    strides: bool | None = None,
    batch_norm: bool | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds a PolyChromify variant.

    Args:
        variant: one of `VARIANTS`: "v0", "v1", "v2", "v3", "cnn" (model selection) or "final".
        image_size: the training resolution. The model accepts any H, W; this is only checked to
            be a multiple of the variant's total stride (32 for v3, 8 with ``strides=True``).
        neurons: dense widths: "L", "M", "H" (`NEURONS`) or a list of ints. Variants v0, v2, final.
        filters: convolution widths: "L", "H" (`FILTERS`) or a list of ints (for v2/final an even
            number: encoder half then decoder half). Variants v1, v2, cnn, final.
        strides: a stride-2 first encoder convolution and a x2 upsampling before the output
            (the author's "strides & upsampling"). Variants v2, final.
        batch_norm: BatchNormalization after the ReLU of every hidden layer; for v2/final after
            dense layers `TABLE1_BN_DENSE` only (Table 1 v5). Every variant takes it; None keeps
            the variant's default (True only for "cnn").
        name: model name; defaults to ``"polychromify_<variant>"``.

    Returns:
        A `keras.Model` mapping ``"L"`` ``[B, H, W, 1]`` (raw L) to ``"ab"`` ``[B, H, W, 2]``
        (ab / 128, tanh, float32).

    Raises:
        ValueError: unknown variant, a knob the variant does not have, or a bad value.

    Reference:
        Ghiotto 2021, PolyChromify, Sections IV, V-A (variants) and V-B (Table 1).
    """
    if variant not in VARIANTS:
        raise ValueError(f"polychromify.py: unknown variant {variant!r}; choose from {VARIANTS}")
    given = {
        k: v
        for k, v in {"neurons": neurons, "filters": filters, "strides": strides, "batch_norm": batch_norm}.items()
        if v is not None
    }
    allowed = set(_DEFAULTS[variant]) | ({"strides"} if variant in ("v2", "final") else set())
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(
            f"polychromify.py: variant {variant!r} does not take {unknown}; it takes {sorted(allowed)}"
        )
    cfg = {**_DEFAULTS[variant], **given}
    bn = bool(cfg["batch_norm"])

    inputs = keras.Input(shape=(None, None, 1), name="L")
    x = inputs
    if variant == "v0":
        _check_size(image_size, 1, variant)
        x = _dense_stack(x, _widths(cfg["neurons"], NEURONS, "neurons"), bn)
        outputs = _output(x, 1)
    elif variant == "v1":
        _check_size(image_size, 1, variant)
        for i, f in enumerate(_widths(cfg["filters"], FILTERS, "filters")):
            x = _hidden_conv(x, f, f"conv{i + 1}", batch_norm=bn, kernel_size=V1_KERNEL_SIZE)
        outputs = _output(x, KERNEL_SIZE)
    elif variant == "cnn":
        _check_size(image_size, 1, variant)
        for i, f in enumerate(_widths(cfg["filters"], FILTERS, "filters")):
            x = _hidden_conv(x, f, f"conv{i + 1}", batch_norm=bn)
        outputs = _output(x, 1)
    elif variant == "v3":
        _check_size(image_size, 2 ** len(V3_ENCODER_FILTERS), variant)
        for i, f in enumerate(V3_ENCODER_FILTERS):
            x = _hidden_conv(x, f, f"enc{i + 1}", strides=2, batch_norm=bn)
        x = _hidden_conv(x, V3_BOTTLENECK_FILTERS, "bottleneck", batch_norm=bn)
        for i, f in enumerate(V3_DECODER_FILTERS):
            x = upsample(x, 2, name=f"dec{i + 1}_up")
            x = _hidden_conv(x, f, f"dec{i + 1}", batch_norm=bn)
        x = upsample(x, 2, name="out_up")
        outputs = _output(x, KERNEL_SIZE)
    else:  # v2, final: conv encoder -> per-pixel dense -> conv decoder
        conv_widths = _widths(cfg["filters"], FILTERS, "filters", even=True)
        dense_widths = _widths(cfg["neurons"], NEURONS, "neurons")
        half = len(conv_widths) // 2
        strided = bool(cfg["strides"])
        _check_size(image_size, 2 if strided else 1, variant)
        for i, f in enumerate(conv_widths[:half]):
            x = _hidden_conv(x, f, f"enc{i + 1}", strides=2 if strided and i == 0 else 1)
        x = _dense_stack(x, dense_widths, bn, TABLE1_BN_DENSE)
        for i, f in enumerate(conv_widths[half:]):
            x = _hidden_conv(x, f, f"dec{i + 1}")
        if strided:
            x = upsample(x, 2, name="out_up")
        outputs = _output(x, KERNEL_SIZE)
    return keras.Model(inputs, outputs, name=name or f"polychromify_{variant}")


PAPER = "Ghiotto 2021, PolyChromify"
PAPER_PARAMS = {"v0": (21_000, 500), "v3": (5_500_000, 50_000), "cnn": (98_000, 500), "final": (293_330, 0)}
"""(count, tolerance) as Ghiotto's paper prints them: v0 and v3 approximately, cnn as "98 x 10^3", the
final model exactly; the tolerance is half a unit of the last printed digit."""
SIZE_MULTIPLE = {"v3": 32}
"""v3 has five stride-2 layers; the other variants take any size."""


def _spec(variant: str, name: str) -> ModelSpec:
    params, tolerance = PAPER_PARAMS.get(variant, (None, 0))
    return ModelSpec(name, build_polychromify, "polychromify", 128, kwargs={"variant": variant}, paper=PAPER,
                     size_multiple=SIZE_MULTIPLE.get(variant, 1), paper_params=params, paper_params_tolerance=tolerance)


SPECS = (_spec("final", "polychromify"), *[_spec(v, f"polychromify_{v}") for v in ("v0", "v1", "v2", "v3", "cnn")])
"""The registered PolyChromify models: the final one and the model-selection variants."""
