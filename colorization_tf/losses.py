"""Losses of the five studies, registered for serialization and usable in `model.compile`.

Regression (Ziegler's L1/L2, PolyChromify's MSE, CS520's MSE) uses Keras' own MeanAbsoluteError and
MeanSquaredError. This module adds the (weighted) bin cross-entropy with Zhang et al.'s soft-encoded
targets or Ziegler's hard labels, Menon & Talukdar's pixel loss + SSIM composites, and Lee et al.'s
sum-reduced squared error. Every loss casts its inputs to float32, so float16 model outputs are fine,
and is written in `keras.ops`, so it trains a model on any Keras backend (TensorFlow, JAX, PyTorch).

Reference:
    Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016, Sec. 2.1-2.2.
    Ziegler, "Deep Vision project: Image Colorization", 2022, Sec. 3.1-3.2.
    Menon & Talukdar, ResNet U-Net colorization, 2021, Sec. 3.3.
    Lee et al., "Let there be Color!" replication, 2016 (loss with the Frobenius norm).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from colorization_tf import color, quantize
from colorization_tf import ssim as _ssim

DOWNSAMPLING = ("average", "subsample")
MENON_SSIM_WEIGHT = 1e-3
"""lambda of Menon & Talukdar's L1/MSE + lambda * SSIM-loss."""
SSIM_MIN_SIZE = 11
"""tf.image.ssim's Gaussian window is 11x11: smaller images cannot be compared."""
ENCODINGS = ("soft", "hard")
"""Target encodings of the bin cross-entropy: Zhang et al.'s soft encoding, Ziegler's hard labels."""


def _downsample_to(y, like, mode: str):
    """Brings `[B, H, W, C]` to the spatial size of `like` (`[B, h, w, ...]`), H = f h, W = f w.

    "average" averages each f x f block (XLA-friendly reshape + mean, no resize op); "subsample" takes
    the block's top-left pixel, as Zhang's Caffe training net does (a 1x1 convolution with stride 4).
    """
    _, h_big, w_big, c = ops.shape(y)  # static ints where known (always on JAX), else scalar tensors
    h, w = ops.shape(like)[1:3]
    fh, fw = h_big // h, w_big // w
    big, small = y.shape[1:3], like.shape[1:3]
    if None not in (*big, *small) and (big[0] % small[0] or big[1] % small[1]):
        raise ValueError(
            f"losses.SoftEncodedCrossEntropy: target size {big[0]}x{big[1]} is not an integer multiple "
            f"of the logits' size {small[0]}x{small[1]}"
        )
    if mode == "subsample":
        return y[:, ::fh, ::fw, :]
    blocks = ops.reshape(y, (-1, h, fh, w, fw, c))
    return ops.mean(blocks, axis=[2, 4])


@keras.saving.register_keras_serializable(package="colorization_tf")
class SoftEncodedCrossEntropy(keras.losses.Loss):
    """Cross-entropy between encoded ab targets and bin logits, optionally class-rebalanced.

    y_true is the full-resolution encoded ab (ab / ab_scale) `[B, H, W, 2]`; y_pred the logits
    `[B, h, w, Q]` at 1/4 resolution (any integer factor works). The target is reduced to (h, w) by
    averaging each block (default) or by taking its top-left pixel ("subsample", Zhang's Caffe net),
    encoded over the bins, and compared with log_softmax(logits). Two encodings, named:

    - "soft" (Zhang et al.): Gaussian weights over the k nearest bins;
    - "hard" (Ziegler): the nearest bin only, i.e. "the negative logarithm of the probability of
      the correct label".

    Weighted ("wce"): each pixel is weighted by the rebalancing weight of its target's nearest bin, and
    every pixel of a gray image (no |a|, |b| > gray_threshold at full resolution) gets weight 0.
    Unweighted ("ce"): no weights, no gray mask. The per-image value is the mean over its pixels.

    Args:
        bin_width: ab grid width (centres from `quantize.ab_bin_centers`).
        ab_scale: y_true * ab_scale is ab in Lab units (110: Zhang's normalisation).
        k: nearest bins of the soft encoding.
        sigma: Gaussian sigma of the soft encoding (Lab units).
        class_weights: `[Q]` weights (`quantize.rebalancing_weights`) or None for plain CE.
        gray_threshold: gray-image threshold in Lab units for the weighted loss (None: no mask).
        downsample: "average" or "subsample".
        gamut: bin set, see `quantize.ab_bin_centers`.
        encoding: "soft" (Zhang et al.) or "hard" (Ziegler: one-hot of the nearest bin).

    Reference:
        Zhang et al. 2016, Eq. 2 (multinomial CE) and Eq. 3-4 (class rebalancing); Ziegler 2022,
        Sec. 3.2 (hard labels).
    """

    def __init__(
        self,
        bin_width: float = quantize.ZHANG_BIN_WIDTH,
        ab_scale: float = color.AB_SCALE,
        k: int = quantize.ZHANG_NEIGHBOURS,
        sigma: float = quantize.ZHANG_SIGMA,
        class_weights=None,
        gray_threshold: float | None = quantize.GRAY_THRESHOLD,
        downsample: str = "average",
        gamut: str = "zhang",
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        dtype=None,
        encoding: str = "soft",
    ):
        if encoding not in ENCODINGS:
            raise ValueError(f"SoftEncodedCrossEntropy: encoding must be one of {ENCODINGS}, got {encoding!r}")
        super().__init__(
            name=name or f"{'weighted_' if class_weights is not None else ''}{encoding}_encoded_ce",
            reduction=reduction,
            dtype=dtype,
        )
        if downsample not in DOWNSAMPLING:
            raise ValueError(f"SoftEncodedCrossEntropy: downsample must be one of {DOWNSAMPLING}, got {downsample!r}")
        self.bin_width = float(bin_width)
        self.ab_scale = float(ab_scale)
        self.k = int(k)
        self.sigma = float(sigma)
        self.gray_threshold = None if gray_threshold is None else float(gray_threshold)
        self.downsample = downsample
        self.gamut = gamut
        self.encoding = encoding
        self.centers = quantize.ab_bin_centers(self.bin_width, gamut)
        if class_weights is not None:
            class_weights = np.asarray(class_weights, np.float32).reshape(-1)
            if class_weights.shape[0] != self.centers.shape[0]:
                raise ValueError(
                    f"SoftEncodedCrossEntropy: class_weights has {class_weights.shape[0]} entries, "
                    f"bin_width {self.bin_width} gives {self.centers.shape[0]} bins"
                )
        self.class_weights = class_weights

    def call(self, y_true, y_pred):
        logits = ops.cast(y_pred, "float32")
        ab_full = ops.cast(y_true, "float32") * self.ab_scale
        ab = _downsample_to(ab_full, logits, self.downsample)
        if self.encoding == "hard":
            target = ops.one_hot(quantize.hard_encode(ab, self.centers), int(self.centers.shape[0]), dtype="float32")
        else:
            target = quantize.soft_encode(ab, self.centers, k=self.k, sigma=self.sigma)
        ce = -ops.sum(target * ops.log_softmax(logits, axis=-1), axis=-1)  # [B, h, w]
        if self.class_weights is not None:
            nearest = ops.argmax(target, axis=-1)
            ce = ce * ops.take(self.class_weights, nearest)
            if self.gray_threshold is not None:
                mask = quantize.gray_image_mask(ab_full, self.gray_threshold)
                ce = ce * mask[:, None, None]
        return ops.mean(ce, axis=[1, 2])

    def get_config(self):
        config = super().get_config()
        config.update(
            bin_width=self.bin_width,
            ab_scale=self.ab_scale,
            k=self.k,
            sigma=self.sigma,
            class_weights=None if self.class_weights is None else [float(w) for w in self.class_weights],
            gray_threshold=self.gray_threshold,
            downsample=self.downsample,
            gamut=self.gamut,
            encoding=self.encoding,
        )
        return config


def ssim_01(y_true, y_pred, value_range=(-1.0, 1.0)):
    """SSIM per image of `[B, H, W, C]` tensors after mapping `value_range` linearly to [0, 1].

    `tf.image.ssim`'s definition in `keras.ops` (`colorization_tf.ssim`), so it runs on any backend.
    """
    lo, hi = float(value_range[0]), float(value_range[1])
    a = ops.clip((ops.cast(y_true, "float32") - lo) / (hi - lo), 0.0, 1.0)
    b = ops.clip((ops.cast(y_pred, "float32") - lo) / (hi - lo), 0.0, 1.0)
    static = a.shape[1:3]
    if all(d is not None for d in static) and min(int(d) for d in static) < SSIM_MIN_SIZE:
        raise ValueError(
            f"losses: SSIM needs images of at least {SSIM_MIN_SIZE}x{SSIM_MIN_SIZE} pixels, got "
            f"{static[0]}x{static[1]}"
        )
    return _ssim.ssim(a, b, max_val=1.0)


@keras.saving.register_keras_serializable(package="colorization_tf")
class PixelSSIMLoss(keras.losses.Loss):
    """Menon & Talukdar's multitask loss: pixel loss + ssim_weight * (1 - SSIM).

    The loss sees only the model's output, encoded ab `[B, H, W, 2]`: SSIM is computed by
    `tf.image.ssim`'s definition (`ssim_01`) on ab mapped from `ab_range` to [0, 1] (per channel, averaged). SSIM on RGB, the
    paper's reported figure, is a metric (`metrics.ssim`), since the loss never sees L.

    Args:
        base: "l1" (training) or "mse" (fine-tuning).
        ssim_weight: lambda (1e-3 in the paper).
        ab_range: (low, high) of the encoded ab; (-1, 1) for ab / 110.

    Reference:
        Menon & Talukdar 2021, Sec. 3.3.
    """

    def __init__(
        self,
        base: str = "l1",
        ssim_weight: float = MENON_SSIM_WEIGHT,
        ab_range=(-1.0, 1.0),
        name: str | None = None,
        reduction: str = "sum_over_batch_size",
        dtype=None,
    ):
        if base not in ("l1", "mse"):
            raise ValueError(f"PixelSSIMLoss: base must be 'l1' or 'mse', got {base!r}")
        super().__init__(name=name or f"{base}_ssim", reduction=reduction, dtype=dtype)
        self.base = base
        self.ssim_weight = float(ssim_weight)
        self.ab_range = (float(ab_range[0]), float(ab_range[1]))

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        y_pred = ops.cast(y_pred, "float32")
        diff = y_true - y_pred
        pixel = ops.abs(diff) if self.base == "l1" else ops.square(diff)
        pixel = ops.mean(pixel, axis=[1, 2, 3])
        return pixel + self.ssim_weight * (1.0 - ssim_01(y_true, y_pred, self.ab_range))

    def get_config(self):
        config = super().get_config()
        config.update(base=self.base, ssim_weight=self.ssim_weight, ab_range=list(self.ab_range))
        return config


@keras.saving.register_keras_serializable(package="colorization_tf")
class SumSquaredError(keras.losses.Loss):
    """Lee et al.'s colorization loss: the squared Frobenius norm ||y - y_hat||^2, summed, not averaged.

    Per image it is the sum of squared errors over all pixels and channels; the default "sum"
    reduction adds the images of the batch. Its magnitude (thousands) is why Lee et al. needed
    alpha = 5 rather than Iizuka's 1/300 to balance the scene cross-entropy.

    Reference:
        Lee et al. 2016 (replication of Iizuka et al.), loss with the Frobenius norm.
    """

    def __init__(self, name: str = "sum_squared_error", reduction: str = "sum", dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)

    def call(self, y_true, y_pred):
        diff = ops.cast(y_true, "float32") - ops.cast(y_pred, "float32")
        return ops.sum(ops.square(diff), axis=tuple(range(1, max(len(diff.shape), 2))))


LOSS_NAMES = ("l1", "l2", "mse", "ce", "wce", "ce_hard", "wce_hard", "l1_ssim", "mse_ssim", "bce", "sse")
CROSS_ENTROPY_NAMES = {"ce": ("soft", False), "wce": ("soft", True), "ce_hard": ("hard", False), "wce_hard": ("hard", True)}
"""Bin cross-entropy loss names -> (target encoding, class-weighted)."""


def get_loss(name: str, **kwargs) -> keras.losses.Loss:
    """Builds a loss by name.

    Names: "l1" (MeanAbsoluteError), "l2"/"mse" (MeanSquaredError), "ce" (SoftEncodedCrossEntropy,
    Zhang's soft encoding), "wce" (the same with `class_weights=`, required), "ce_hard"/"wce_hard"
    (the same with Ziegler's hard labels), "l1_ssim"/"mse_ssim" (PixelSSIMLoss), "bce"
    (BinaryCrossentropy, for the GAN), "sse" (SumSquaredError). Keyword arguments go to the class.

    Raises:
        ValueError: unknown name, or "wce" without class_weights.
    """
    key = str(name).lower()
    if key == "l1":
        return keras.losses.MeanAbsoluteError(**kwargs)
    if key in ("l2", "mse"):
        return keras.losses.MeanSquaredError(**kwargs)
    if key in CROSS_ENTROPY_NAMES:
        encoding, weighted = CROSS_ENTROPY_NAMES[key]
        if weighted and kwargs.get("class_weights") is None:
            raise ValueError(f"losses.get_loss({key!r}): pass class_weights= (quantize.rebalancing_weights(prior))")
        return SoftEncodedCrossEntropy(**{"encoding": encoding, **kwargs})
    if key in ("l1_ssim", "mse_ssim"):
        return PixelSSIMLoss(base=key.split("_")[0], **kwargs)
    if key == "bce":
        return keras.losses.BinaryCrossentropy(**kwargs)
    if key == "sse":
        return SumSquaredError(**kwargs)
    raise ValueError(f"losses.get_loss: unknown loss {name!r}; choose from {LOSS_NAMES}")
