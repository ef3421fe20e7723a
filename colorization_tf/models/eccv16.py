"""Zhang, Isola & Efros (ECCV 2016) colorization network, with a classification and a regression head.

The VGG-style network of "Colorful Image Colorization" as released by the authors (PyTorch
``eccv16``) and reproduced by Ziegler (2022): eight blocks of 3x3 convolutions with ReLU, no
pooling (all downsampling by strided convolutions), BatchNorm after the last ReLU of blocks 1-7,
dilation 2 in blocks 5-6, a transposed convolution back to 1/4 resolution in block 8.

Heads:
- ``"classification"``: a 1x1 convolution to `num_bins` ab-bin logits at 1/4 resolution, output
  ``"logits"`` (no softmax: the soft-encoded cross-entropy and the annealed-mean decoding both
  work on logits at that resolution, as in the paper).
- ``"regression"``: a 1x1 convolution to the 2 encoded ab channels at 1/4 resolution (linear by
  default, see `build_eccv16`), then a parameter-free bilinear x4 upsampling, output ``"ab"``.

Reference:
    Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016 (Fig. 2 and the released
    ``eccv16`` model); Ziegler, "Deep Vision project: Image Colorization", OTH Amberg-Weiden 2022,
    Sec. 3.1-3.3.
"""

from __future__ import annotations

import numbers

import keras

from colorization_tf.models.spec import CLASSIFICATION, REGRESSION, colorizer_of
from colorization_tf.models.spec import HEAD_KINDS as HEADS
from colorization_tf.models.spec import ZHANG_BINS_HEAD, ModelSpec
from colorization_tf.models.blocks import upsample

ZHANG_NUM_BINS = 313
"""In-gamut ab bins of a 10-wide grid (Zhang et al.)."""
OUTPUT_STRIDE = 4
"""Block 8 predicts at 1/4 of the input resolution."""
SIZE_MULTIPLE = 8
"""Three stride-2 convolutions then one x2 transposed convolution: sizes must divide by 8."""
REGRESSION_ACTIVATIONS = ("linear", "tanh")
REGRESSION_HEADS = ("zhang", "polychromify")
"""Regression heads: "zhang" (1x1 conv to 2, bilinear x4) or "polychromify", Ghiotto's from-scratch
ECCV16 of his Table 2 (1x1 conv 313 + ReLU, 1x1 conv 2 + tanh, nearest x4; his notebook)."""

# (filters, convolutions, stride of the last conv, dilation) of blocks 1-7; BN closes each block.
ECCV16_BLOCKS = (
    (64, 2, 2, 1),
    (128, 2, 2, 1),
    (256, 3, 2, 1),
    (512, 3, 1, 1),
    (512, 3, 1, 2),
    (512, 3, 1, 2),
    (512, 3, 1, 1),
)
BLOCK8_FILTERS = 256
BLOCK8_DECONV_KERNEL = 4
RELU_INIT = "he_uniform"
"""He et al. 2015 variance keeps activations from shrinking through the ReLU stack (uniform: the
truncated normal takes 4x longer to initialise 32M parameters on CPU)."""


def _error(message: str) -> ValueError:
    return ValueError(f"colorization_tf/models/eccv16.py: {message}")


def bins_width(num_bins: int | None, bin_width: float | None) -> float | None:
    """The grid width of a head built from (`num_bins`, `bin_width`): the given width, Zhang's 10
    when neither is given, None when only a count is (its width is then unknown)."""
    if bin_width is not None:
        return float(bin_width)
    return 10.0 if num_bins is None or int(num_bins) == ZHANG_NUM_BINS else None


def resolve_num_bins(
    num_bins: int | None, bin_width: float | None, gamut: str = "zhang", where: str = "eccv16.py"
) -> int:
    """Number of ab classes from an explicit count or from a grid width.

    Args:
        num_bins: explicit number of bins, or None.
        bin_width: width of the ab grid (10 gives Zhang's 313 in-gamut bins); the count comes
            from `colorization_tf.quantize.ab_bin_centers(bin_width, gamut)`.
        where: file name used in error messages.

    Returns:
        The bin count: `num_bins` if only it is given, the gamut count for `bin_width` if only it
        is given, 313 if neither.

    Raises:
        ValueError: non-positive values, or both given and disagreeing.

    Reference:
        Zhang et al. 2016, Sec. 2.1 (313 in-gamut bins at grid size 10); Ziegler 2022, Sec. 4.3.2
        (wider "bucket size" for memory).
    """
    prefix = f"colorization_tf/models/{where}"
    if num_bins is not None and int(num_bins) < 2:
        raise ValueError(f"{prefix}: num_bins must be >= 2, got {num_bins!r}")
    if bin_width is None:
        return ZHANG_NUM_BINS if num_bins is None else int(num_bins)
    if not bin_width > 0:
        raise ValueError(f"{prefix}: bin_width must be positive, got {bin_width!r}")
    from colorization_tf import quantize

    count = int(len(quantize.ab_bin_centers(bin_width, gamut)))
    if num_bins is not None and int(num_bins) != count:
        raise ValueError(
            f"{prefix}: num_bins={num_bins} disagrees with bin_width={bin_width}, whose in-gamut grid "
            f"has {count} bins; give one of them"
        )
    return count


def check_image_size(image_size, multiple: int, where: str) -> tuple:
    """Validates `image_size` and returns the input shape `(H, W, 1)`.

    Args:
        image_size: an int (square input), an (H, W) pair, or None for any size (each side must
            then be a multiple of `multiple` at call time).
        multiple: every side must be divisible by it.
        where: file name used in error messages.

    Returns:
        The `keras.Input` shape.
    """
    if image_size is None:
        return (None, None, 1)
    error = ValueError(
        f"colorization_tf/models/{where}: image_size must be a positive multiple of {multiple} "
        f"(or a pair of them, or None), got {image_size!r}"
    )
    if isinstance(image_size, numbers.Integral):
        sides = (image_size, image_size)
    elif isinstance(image_size, (tuple, list)):
        sides = tuple(image_size)
    else:
        raise error
    if len(sides) != 2 or any(not isinstance(s, numbers.Integral) or s <= 0 or s % multiple for s in sides):
        raise error
    return (int(sides[0]), int(sides[1]), 1)


def add_block8(features, prefix: str = "block8"):
    """ECCV16's block 8, shared with the AlexNet variant: upsample x2 and refine.

    A 4x4 stride-2 transposed convolution to 256 channels, then two 3x3 convolutions of 256, all
    ReLU (He-initialised), no batch norm (Zhang's block 8 has none).

    Args:
        features: the encoder's last feature map.
        prefix: layer names are `<prefix>_conv1` (transposed) .. `<prefix>_conv3`.

    Returns:
        The feature map at twice the input's resolution, `BLOCK8_FILTERS` channels.

    Reference:
        Zhang et al. 2016, the network's conv8 (Fig. 2); Ziegler 2022, Sec. 3.3.
    """
    x = keras.layers.Conv2DTranspose(
        BLOCK8_FILTERS,
        BLOCK8_DECONV_KERNEL,
        strides=2,
        padding="same",
        activation="relu",
        kernel_initializer=RELU_INIT,
        name=f"{prefix}_conv1",
    )(features)
    for c in (2, 3):
        x = keras.layers.Conv2D(
            BLOCK8_FILTERS, 3, padding="same", activation="relu", kernel_initializer=RELU_INIT, name=f"{prefix}_conv{c}"
        )(x)
    return x


@keras.saving.register_keras_serializable(package="colorization_tf")
class BinLogits(keras.layers.Conv2D):
    """The 1x1 convolution to ab-bin logits, carrying the bins it predicts (`bin_width`, `gamut`).

    The bin width cannot be recovered from the bin count alone (e.g. widths 21 and 22 both give 65
    "zhang" bins, with different centres), so it travels with the layer's config: saved in the
    `.keras` file, read back by `stored_bins` and by `export` to decode with the right centres.

    Args:
        num_bins: output channels Q.
        bin_width: the ab grid width the bins come from (None: unknown, built from a bin count).
        gamut: the bin set (`quantize.ab_bin_centers`).
        **kwargs: `keras.layers.Conv2D` arguments (kernel size defaults to 1).
    """

    def __init__(self, num_bins=None, bin_width: float | None = None, gamut: str = "zhang", **kwargs):
        kwargs.setdefault("kernel_size", 1)
        if num_bins is not None:
            kwargs["filters"] = int(num_bins)
        super().__init__(**kwargs)
        self.bin_width = None if bin_width is None else float(bin_width)
        self.gamut = gamut

    def get_config(self):
        config = super().get_config()
        config.update(bin_width=self.bin_width, gamut=self.gamut)
        return config


def stored_bins(model) -> tuple[float, str] | None:
    """(bin width, gamut) a classification model was built with (its `BinLogits` layer), else None.

    Looks inside nested models (a GAN's generator, a wrapper) too.
    """
    for layer in getattr(model, "layers", []) or []:
        if isinstance(layer, BinLogits):
            return (layer.bin_width, layer.gamut) if layer.bin_width is not None else None
        inner = stored_bins(layer) if isinstance(layer, keras.Model) else None
        if inner is not None:
            return inner
    net = colorizer_of(model)
    return stored_bins(net) if net is not model else None


def add_color_head(
    features,
    head: str,
    num_bins: int,
    logits_upsampling: int,
    ab_upsampling: int,
    regression_activation: str = "linear",
    where: str = "eccv16.py",
    bin_width: float | None = None,
    gamut: str = "zhang",
):
    """Appends the classification or regression head shared by ECCV16 and the AlexNet variant.

    Args:
        features: the decoder's last feature map, at 1/(4 * logits_upsampling) of the input.
        head: "classification" or "regression".
        num_bins: number of ab classes of the classification head.
        logits_upsampling: bilinear factor that brings the logits to 1/4 resolution (1: none).
        ab_upsampling: bilinear factor that brings the regressed ab to the input resolution.
        regression_activation: "linear" or "tanh" for the 2-channel regression output.
        where: file name used in error messages.
        bin_width, gamut: the bins of the classification head, stored in its `BinLogits` layer.

    Returns:
        The output tensor, named "logits" (float32, 1/4 resolution) or "ab" (float32, full
        resolution).

    Reference:
        Zhang et al. 2016 (1x1 conv to 313 logits, x4 upsampling of the decoded ab).
    """
    if head == CLASSIFICATION:
        if logits_upsampling == 1:
            return BinLogits(num_bins, bin_width, gamut, dtype="float32", name="logits")(features)
        x = BinLogits(num_bins, bin_width, gamut, dtype="float32", name="logits_coarse")(features)
        return upsample(x, logits_upsampling, interpolation="bilinear", dtype="float32", name="logits")
    if head == REGRESSION:
        if regression_activation not in REGRESSION_ACTIVATIONS:
            raise ValueError(
                f"colorization_tf/models/{where}: regression_activation must be one of "
                f"{REGRESSION_ACTIVATIONS}, got {regression_activation!r}"
            )
        x = keras.layers.Conv2D(2, 1, activation=regression_activation, dtype="float32", name="ab_coarse")(features)
        return upsample(x, ab_upsampling, interpolation="bilinear", dtype="float32", name="ab")
    raise ValueError(f"colorization_tf/models/{where}: head must be one of {HEADS}, got {head!r}")


def build_eccv16(
    image_size=256,
    head: str = REGRESSION,
    num_bins: int | None = None,
    bin_width: float | None = None,
    regression_activation: str = "linear",
    gamut: str = "zhang",
    name: str | None = None,
    regression_head: str = "zhang",
) -> keras.Model:
    """Builds the ECCV16 colorization network.

    Args:
        image_size: input side (multiple of 8), an (H, W) pair, or None for any size. The network
            is fully convolutional: its parameter count does not depend on it.
        head: "classification" (output "logits" [B, H/4, W/4, num_bins]) or "regression" (output
            "ab" [B, H, W, 2]).
        num_bins: ab classes of the classification head (default 313).
        bin_width: alternatively, the ab grid width; the bin count comes from
            `colorization_tf.quantize` (10 -> 313).
        regression_activation: "linear" (default) or "tanh". Linear because Zhang's released model
            maps to ab with a linear 1x1 convolution (no squashing), and with the zhang
            normalisation (ab / 110) every sRGB colour already lies in about [-0.98, 0.9]: tanh
            would only reach the saturated colours with unbounded pre-activations, pushing an
            L1/L2-trained model further towards the desaturation Ziegler reports.
        gamut: bin set used with `bin_width` (see `quantize.ab_bin_centers`); must match the loss's.
        name: model name (default "eccv16_<head>").
        regression_head: `REGRESSION_HEADS`: "zhang" (default) or "polychromify" (Ghiotto's
            Table 2 model: 1x1 conv 313 + ReLU, 1x1 conv 2 + tanh, nearest x4; it is trained on
            raw L and ab / 128, the "polychromify" normalisation).

    Returns:
        A `keras.Model` with input "L" (L encoded by the zhang normalisation, [B, H, W, 1]) and a
        float32 output "logits" or "ab".

    Reference:
        Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016; Ziegler 2022, Sec. 3.3.
    """
    if head not in HEADS:
        raise _error(f"head must be one of {HEADS}, got {head!r}")
    if regression_activation not in REGRESSION_ACTIVATIONS:
        raise _error(f"regression_activation must be one of {REGRESSION_ACTIVATIONS}, got {regression_activation!r}")
    bins = resolve_num_bins(num_bins, bin_width, gamut)
    inputs = keras.Input(check_image_size(image_size, SIZE_MULTIPLE, "eccv16.py"), name="L")
    x = inputs
    for b, (filters, convs, last_stride, dilation) in enumerate(ECCV16_BLOCKS, start=1):
        for c in range(1, convs + 1):
            x = keras.layers.Conv2D(
                filters,
                3,
                strides=last_stride if c == convs else 1,
                dilation_rate=dilation,
                padding="same",
                activation="relu",
                kernel_initializer=RELU_INIT,
                name=f"block{b}_conv{c}",
            )(x)
        x = keras.layers.BatchNormalization(name=f"block{b}_bn")(x)
    x = add_block8(x, prefix="block8")
    if regression_head not in REGRESSION_HEADS:
        raise _error(f"regression_head must be one of {REGRESSION_HEADS}, got {regression_head!r}")
    if head == REGRESSION and regression_head == "polychromify":
        x = keras.layers.Conv2D(ZHANG_NUM_BINS, 1, activation="relu", name="ab_bins")(x)
        x = keras.layers.Conv2D(2, 1, activation="tanh", dtype="float32", name="ab_coarse")(x)
        outputs = upsample(x, OUTPUT_STRIDE, interpolation="nearest", dtype="float32", name="ab")
    else:
        outputs = add_color_head(x, head, bins, 1, OUTPUT_STRIDE, regression_activation, "eccv16.py",
                                 bin_width=bins_width(num_bins, bin_width), gamut=gamut)
    return keras.Model(inputs, outputs, name=name or f"eccv16_{head}")


PAPER = "Zhang, Isola & Efros 2016 (ECCV16), as reproduced by Ziegler 2022"
PAPER_PARAMS = (32_200_000, 50_000)
"""Zhang et al.'s network as "32.2M" parameters (313 bins; the count with BatchNorm statistics)."""

SPECS = (
    ModelSpec("eccv16_regression", build_eccv16, "zhang", 256, kwargs={"head": REGRESSION}, paper=PAPER, size_multiple=SIZE_MULTIPLE),
    ModelSpec("eccv16_classification", build_eccv16, "zhang", 256, head=ZHANG_BINS_HEAD, kwargs={"head": CLASSIFICATION}, paper=PAPER,
              size_multiple=SIZE_MULTIPLE, paper_params=PAPER_PARAMS[0], paper_params_tolerance=PAPER_PARAMS[1]),
)
"""Zhang et al.'s network with Ziegler's regression head and with the paper's 313-bin classification head."""
