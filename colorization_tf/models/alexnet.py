"""Ziegler's AlexNet-shaped colorization network, with the same two heads as ECCV16.

Ziegler (2022, Sec. 3.3) applied the ECCV16 treatment (no fully connected layers, no max-pools,
an upsampling decoder and a classification or regression head) to an AlexNet and notes that "due
to its different input layers it requires a higher up sampling rate at the end". The seed gives no
layer table; this is the design used here:

- Encoder: AlexNet's five convolutions (Krizhevsky et al. 2012 widths) 11x11/4 96, 5x5 256,
  3x3 384, 3x3 384, 3x3 256, each followed by ReLU and BatchNorm (as ECCV16 closes its blocks).
  AlexNet's two 3x3/2 max-pools (after conv1 and conv2) are replaced by stride 2 on conv2 and
  conv3, so the encoder ends at 1/16 of the input, like AlexNet's conv5 (13x13 for 224x224).
- Decoder: ECCV16's block 8 (`eccv16.add_block8`) — a 4x4 stride-2 transposed convolution to 256 channels, then two
  3x3 convolutions of 256 — bringing the features to 1/8.
- Heads: "classification" -> 1x1 conv to `num_bins` logits at 1/8, bilinear x2 to 1/4 (output
  "logits", the same resolution as ECCV16's so losses and decoders are shared);
  "regression" -> 1x1 conv to ab at 1/8, bilinear x8 (ECCV16: x4) to the input resolution
  (output "ab").

Fully convolutional: any input whose sides are multiples of 16.

Reference:
    Ziegler, "Deep Vision project: Image Colorization", OTH Amberg-Weiden 2022, Sec. 3.3 and 4.2;
    Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural
    Networks", NIPS 2012; Zhang, Isola & Efros, ECCV 2016 (block 8 and heads).
"""

from __future__ import annotations

import keras

from colorization_tf.models.eccv16 import (
    CLASSIFICATION,
    HEADS,
    OUTPUT_STRIDE,
    REGRESSION,
    REGRESSION_ACTIVATIONS,
    RELU_INIT,
    add_block8,
    add_color_head,
    bins_width,
    check_image_size,
    resolve_num_bins,
)
from colorization_tf.models.eccv16 import PAPER as ZHANG_PAPER
from colorization_tf.models.spec import ZHANG_BINS_HEAD, ModelSpec

# (filters, kernel, stride) of the five AlexNet convolutions; strides replace the max-pools.
ALEXNET_CONVS = (
    (96, 11, 4),
    (256, 5, 2),
    (384, 3, 2),
    (384, 3, 1),
    (256, 3, 1),
)
ENCODER_STRIDE = 16
DECODER_STRIDE = 8
"""Block 8's transposed convolution brings 1/16 back to 1/8, where the heads predict."""
SIZE_MULTIPLE = ENCODER_STRIDE


def build_alexnet(
    image_size=256,
    head: str = REGRESSION,
    num_bins: int | None = None,
    bin_width: float | None = None,
    regression_activation: str = "linear",
    gamut: str = "zhang",
    name: str | None = None,
) -> keras.Model:
    """Builds Ziegler's AlexNet-shaped colorization network.

    Args:
        image_size: input side (multiple of 16), an (H, W) pair, or None for any size.
        head: "classification" (output "logits" [B, H/4, W/4, num_bins]) or "regression" (output
            "ab" [B, H, W, 2]).
        num_bins: ab classes of the classification head (default 313).
        bin_width: alternatively, the ab grid width; the bin count comes from
            `colorization_tf.quantize`.
        regression_activation: "linear" (default, as ECCV16's) or "tanh".
        gamut: bin set used with `bin_width` (see `quantize.ab_bin_centers`).
        name: model name (default "alexnet_<head>").

    Returns:
        A `keras.Model` with input "L" (zhang-encoded L, [B, H, W, 1]) and a float32 output
        "logits" or "ab".

    Reference:
        Ziegler 2022, Sec. 3.3; Krizhevsky et al. 2012; Zhang et al. 2016.
    """
    if head not in HEADS:
        raise ValueError(f"colorization_tf/models/alexnet.py: head must be one of {HEADS}, got {head!r}")
    if regression_activation not in REGRESSION_ACTIVATIONS:
        raise ValueError(
            f"colorization_tf/models/alexnet.py: regression_activation must be one of {REGRESSION_ACTIVATIONS}, "
            f"got {regression_activation!r}"
        )
    bins = resolve_num_bins(num_bins, bin_width, gamut, "alexnet.py")
    inputs = keras.Input(check_image_size(image_size, SIZE_MULTIPLE, "alexnet.py"), name="L")
    x = inputs
    for i, (filters, kernel, stride) in enumerate(ALEXNET_CONVS, start=1):
        x = keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same",
            activation="relu",
            kernel_initializer=RELU_INIT,
            name=f"conv{i}",
        )(x)
        x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
    x = add_block8(x, prefix="decoder")
    outputs = add_color_head(
        x,
        head,
        bins,
        logits_upsampling=DECODER_STRIDE // OUTPUT_STRIDE,
        ab_upsampling=DECODER_STRIDE,
        regression_activation=regression_activation,
        where="alexnet.py",
        bin_width=bins_width(num_bins, bin_width),
        gamut=gamut,
    )
    return keras.Model(inputs, outputs, name=name or f"alexnet_{head}")


SPECS = (
    ModelSpec("alexnet_regression", build_alexnet, "zhang", 256, kwargs={"head": REGRESSION}, paper=ZHANG_PAPER, size_multiple=SIZE_MULTIPLE),
    ModelSpec("alexnet_classification", build_alexnet, "zhang", 256, head=ZHANG_BINS_HEAD, kwargs={"head": CLASSIFICATION},
              paper=ZHANG_PAPER, size_multiple=SIZE_MULTIPLE),
)
"""The AlexNet colorizer of Zhang et al.'s ablations, regression and 313-bin classification heads."""


__all__ = ["build_alexnet", "CLASSIFICATION", "REGRESSION", "ALEXNET_CONVS"]
