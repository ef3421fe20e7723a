"""A compact U-Net with a global-context branch: the suite's CPU-budget colorizer.

Not a paper's model: the suite's answer to "what gets past the lightness prior on two CPU cores"
(issue 17), built from the papers' parts. An encoder of four stride-2 stages (two 3x3 conv + BN +
ReLU each, `WIDTHS` filters) takes the L channel down to 1/16; a global branch (Iizuka et al.'s
fusion layer: global average pooling, two dense layers) adds a whole-image feature vector to every
position of the bottleneck, so the colour of a patch can depend on what the whole picture shows
(an underwater scene, a sky); a decoder of nearest-neighbour x2 upsampling + 3x3 convs with the
encoder's skip connections (Ronneberger et al.'s U-Net, Odena et al.'s resize-convolution) comes
back to 1/2 resolution, where a 1x1 convolution gives ab (zhang normalisation: ab / 110, tanh,
float32), upsampled bilinearly to the input's size: chroma is low-frequency (Zhang et al. predict
it at 1/4 resolution), and the full-resolution stage would cost a third of the compute.

About 2.9 million parameters at the default widths, fully convolutional: any input whose sides are
multiples of `SIZE_MULTIPLE`.

Reference:
    Iizuka, Simo-Serra & Ishikawa 2016, Sec. 3.2 (global features fused into every position);
    Ronneberger, Fischer & Brox 2015 (U-Net); Odena, Dumoulin & Olah 2016 (resize-convolution);
    Zhang, Isola & Efros 2016, Sec. 2 (chroma at a reduced resolution); Menon & Talukdar 2021 (L1
    against sepia).
"""

from __future__ import annotations

import keras

from colorization_tf.models.blocks import upsample
from colorization_tf.models.eccv16 import check_image_size
from colorization_tf.models.spec import ModelSpec

WIDTHS = (32, 64, 128, 256)
"""Filters of the encoder stages at 1/2, 1/4, 1/8 and 1/16 resolution (the decoder mirrors them)."""
GLOBAL_UNITS = 256
"""Width of the global branch's two dense layers (the bottleneck's width)."""
SIZE_MULTIPLE = 16
"""Four stride-2 stages."""
CONV_INIT = "he_normal"


def _conv_bn_relu(x, filters: int, stride: int, name: str):
    x = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            kernel_initializer=CONV_INIT, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def build_compact_unet(image_size=128, widths=WIDTHS, global_units: int = GLOBAL_UNITS, name: str = "compact_unet") -> keras.Model:
    """Builds the compact U-Net colorizer.

    Args:
        image_size: input side (a multiple of 16), an (H, W) pair, or None for any size.
        widths: filters of the four encoder stages (1/2 to 1/16 resolution).
        global_units: width of the global-context branch; it must equal `widths[-1]`.
        name: model name.

    Returns:
        A `keras.Model` with input "L" (zhang normalisation, [B, H, W, 1]) and float32 output "ab"
        ([B, H, W, 2], tanh, ab / 110).

    Reference:
        Iizuka et al. 2016, Sec. 3.2; Ronneberger et al. 2015.
    """
    widths = tuple(int(w) for w in widths)
    if len(widths) != 4 or min(widths) < 1:
        raise ValueError(f"colorization_tf/models/compact_unet.py: widths must be 4 positive ints, got {widths!r}")
    if global_units != widths[-1]:
        raise ValueError(f"colorization_tf/models/compact_unet.py: global_units ({global_units}) must equal "
                         f"the bottleneck width widths[-1] ({widths[-1]})")
    inputs = keras.Input(check_image_size(image_size, SIZE_MULTIPLE, "compact_unet.py"), name="L")
    x = inputs
    skips = []
    for k, filters in enumerate(widths, start=1):
        x = _conv_bn_relu(x, filters, 2, f"enc{k}a")
        x = _conv_bn_relu(x, filters, 1, f"enc{k}b")
        skips.append(x)
    g = keras.layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
    g = keras.layers.Dense(global_units, activation="relu", name="global_dense1")(g)
    g = keras.layers.Dense(global_units, activation="relu", name="global_dense2")(g)
    x = keras.layers.Add(name="fusion")([x, g])
    x = _conv_bn_relu(x, widths[-1], 1, "fusion_mix")
    for k, (skip, filters) in enumerate(zip(reversed(skips[:-1]), reversed(widths[:-1])), start=1):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"dec{k}_up")(x)
        x = keras.layers.Concatenate(name=f"dec{k}_concat")([x, skip])
        x = _conv_bn_relu(x, filters, 1, f"dec{k}a")
        x = _conv_bn_relu(x, filters, 1, f"dec{k}b")
    x = keras.layers.Conv2D(2, 1, activation="tanh", dtype="float32", name="ab_half")(x)
    outputs = upsample(x, 2, interpolation="bilinear", dtype="float32", name="ab")
    return keras.Model(inputs, outputs, name=name)


SPECS = (ModelSpec("compact_unet", build_compact_unet, "zhang", 128, size_multiple=SIZE_MULTIPLE,
                   paper="this suite: the CPU-budget colorizer (issue 17), from Iizuka et al.'s fusion and a U-Net"),)
"""The shipped model's network."""
