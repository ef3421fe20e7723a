"""pix2pix 70x70 PatchGAN discriminator on (L, ab), for the GAN variant of Menon & Talukdar.

C64 - C128 - C256 - C512 - 1, where Ck is a 4x4 convolution with k filters, BatchNorm (not on
C64) and LeakyReLU(0.2); the first three have stride 2, C512 and the final 1-channel convolution
stride 1. Padding is 1 on every side as in pix2pix (stride-2 "same" convs on even sizes pad 1/1;
the stride-1 convs get an explicit ZeroPadding2D(1)), so a 256x256 input gives 30x30 patch logits,
each seeing a 70x70 window of the input. Conv weights are drawn from N(0, 0.02) as in pix2pix.

Reference:
    Isola, Zhu, Zhou & Efros, "Image-to-Image Translation with Conditional Adversarial
    Networks", CVPR 2017 (Sec. 3.2.2, Appendix 6.1.2); Menon & Talukdar 2021 (GAN variant with
    the U-Net as generator).
"""

from __future__ import annotations

import keras

from colorization_tf.models.eccv16 import check_image_size

PATCHGAN_KERNEL = 4
LEAKY_SLOPE = 0.2
PIX2PIX_INIT_STDDEV = 0.02
# (filter multiple of base_filters, stride, batch norm) of C64-C128-C256-C512.
PATCHGAN_LAYERS = ((1, 2, False), (2, 2, True), (4, 2, True), (8, 1, True))
SIZE_MULTIPLE = 8
"""Three stride-2 convolutions."""


def receptive_field(model: keras.Model) -> int:
    """Receptive field (in input pixels) of one output unit, from the model's conv/pool configs.

    For a chain of layers with kernel k_i, dilation d_i and stride s_i:
    RF = 1 + sum_i (k_i - 1) d_i prod_{j<i} s_j.

    Args:
        model: a chain of 2-D convolutions/poolings (other layers do not change the field).

    Returns:
        The side of the square receptive field.

    Reference:
        Isola et al. 2017 (70x70 PatchGAN); Araujo, Norris & Sim, "Computing Receptive Fields of
        Convolutional Neural Networks", Distill 2019.
    """
    field, jump = 1, 1
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, stride, dilation = layer.kernel_size[0], layer.strides[0], layer.dilation_rate[0]
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            kernel, stride, dilation = layer.pool_size[0], layer.strides[0], 1
        else:
            continue
        field += (kernel - 1) * dilation * jump
        jump *= stride
    return field


def build_patchgan(image_size=256, base_filters: int = 64, name: str | None = None) -> keras.Model:
    """Builds the 70x70 PatchGAN discriminator.

    Args:
        image_size: input side (multiple of 8), an (H, W) pair, or None for any size.
        base_filters: filters of the first layer (64 in pix2pix); the others are 2x, 4x, 8x.
        name: model name (default "patchgan").

    Returns:
        A `keras.Model` with inputs "L" [B, H, W, 1] and "ab" [B, H, W, 2] (the generator's
        normalisation; concatenated inside to 3 channels) and a float32 output "logits"
        [B, H/8 - 2, W/8 - 2, 1] of real-vs-fake logits (no sigmoid: use
        `BinaryCrossentropy(from_logits=True)`).

    Reference:
        Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks", CVPR 2017.
    """
    if int(base_filters) < 1:
        raise ValueError(f"colorization_tf/models/patchgan.py: base_filters must be >= 1, got {base_filters!r}")
    shape = check_image_size(image_size, SIZE_MULTIPLE, "patchgan.py")
    l_input = keras.Input(shape, name="L")
    ab_input = keras.Input((*shape[:2], 2), name="ab")
    init = keras.initializers.RandomNormal(stddev=PIX2PIX_INIT_STDDEV)
    x = keras.layers.Concatenate(name="lab")([l_input, ab_input])
    for i, (multiple, stride, norm) in enumerate(PATCHGAN_LAYERS, start=1):
        if stride == 1:
            x = keras.layers.ZeroPadding2D(1, name=f"c{i}_pad")(x)
        x = keras.layers.Conv2D(
            base_filters * multiple,
            PATCHGAN_KERNEL,
            strides=stride,
            padding="same" if stride == 2 else "valid",
            use_bias=not norm,
            kernel_initializer=init,
            name=f"c{i}_conv",
        )(x)
        if norm:
            x = keras.layers.BatchNormalization(name=f"c{i}_bn")(x)
        x = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"c{i}_lrelu")(x)
    x = keras.layers.ZeroPadding2D(1, name="out_pad")(x)
    outputs = keras.layers.Conv2D(1, PATCHGAN_KERNEL, kernel_initializer=init, dtype="float32", name="logits")(x)
    return keras.Model([l_input, ab_input], outputs, name=name or "patchgan")
