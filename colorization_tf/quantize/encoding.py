"""ab values <-> bin distributions: soft and hard encoding, annealed-mean decoding, the decode layer.

One job: moving between ab (Lab units) and distributions over the bins of `quantize.bins`. Targets
are soft-encoded over the nearest bins (Gaussian kernel); predictions are decoded by the annealed
mean of the bin distribution, in the model (`AnnealedMeanDecode`) so that exports return colour.
Written in `keras.ops`: the same code runs in a loss or layer on every Keras backend, and on the
TensorFlow backend also inside `tf.data.Dataset.map` and XLA.

Reference:
    Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016, Sec. 2.1 and 2.3.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from colorization_tf import color
from colorization_tf.quantize.bins import ZHANG_BIN_WIDTH, ab_bin_centers

ZHANG_SIGMA = 5.0
"""Gaussian sigma (Lab units) of the soft encoding and of the prior smoothing."""
ZHANG_NEIGHBOURS = 5
"""Nearest bins of the soft encoding (paper: 5; the released code: 10)."""
ZHANG_TEMPERATURE = 0.38
"""Annealed-mean temperature."""


def _as_centers(centers):
    """`[Q, 2]` bin centres (array or tensor) as a float32 tensor."""
    return ops.cast(centers if ops.is_tensor(centers) else np.asarray(centers, np.float32), "float32")


def _squared_distances(ab, centers):
    """|ab - c|^2 for every bin: `[..., 2]` x `[Q, 2]` -> `[..., Q]` (float32)."""
    ab = ops.cast(ab, "float32")
    c = _as_centers(centers)
    cross = ops.tensordot(ab, ops.transpose(c), axes=[[-1], [0]])
    d2 = ops.sum(ops.square(ab), axis=-1, keepdims=True) - 2.0 * cross + ops.sum(ops.square(c), axis=-1)
    return ops.maximum(d2, 0.0)


def soft_encode(ab, centers, k: int = ZHANG_NEIGHBOURS, sigma: float = ZHANG_SIGMA):
    """Soft-encodes ab values over their k nearest bins with Gaussian weights.

    `keras.ops` only: any backend; on TensorFlow also inside `Dataset.map`, `tf.function` and XLA. The result is dense over
    the Q bins (zero outside the k nearest); bins tied with the k-th nearest are kept as well.

    Args:
        ab: `[..., 2]` ab in Lab units (not encoded).
        centers: `[Q, 2]` bin centres (`ab_bin_centers`).
        k: number of nearest bins.
        sigma: Gaussian sigma in Lab units.

    Returns:
        float32 `[..., Q]` distribution that sums to 1 over the last axis.

    Reference:
        Zhang et al. 2016, Sec. 2.1 (5 nearest neighbours, Gaussian kernel sigma = 5).
    """
    d2 = _squared_distances(ab, centers)
    k = int(min(k, int(np.shape(centers)[0])))
    nearest = -ops.top_k(-d2, k=k, sorted=True)[0]  # ascending distances
    kth = nearest[..., -1:]
    # Subtracting the nearest distance keeps exp() from underflowing for ab far from every bin.
    w = ops.exp(-(d2 - nearest[..., :1]) / (2.0 * sigma * sigma))
    w = ops.where(d2 <= kth, w, ops.zeros_like(w))
    return w / ops.sum(w, axis=-1, keepdims=True)


def hard_encode(ab, centers):
    """Index of the nearest bin of each ab value: `[..., 2]` (Lab units) -> int32 `[...]`."""
    return ops.cast(ops.argmin(_squared_distances(ab, centers), axis=-1), "int32")


def expectation(probs, centers):
    """Mean ab of a bin distribution: `[..., Q]` probabilities -> `[..., 2]` (Lab units)."""
    return ops.tensordot(ops.cast(probs, "float32"), _as_centers(centers), axes=[[-1], [0]])


def annealed_mean(logits, centers, temperature: float = ZHANG_TEMPERATURE):
    """Annealed-mean decoding: softmax(logits / T), then the expectation over the bin centres.

    T = 1 is the plain expectation of the predicted distribution (the released PyTorch model);
    T -> 0 approaches the mode. Computed in float32 whatever the logits' dtype.

    Args:
        logits: `[..., Q]` unnormalised log-probabilities.
        centers: `[Q, 2]` bin centres.
        temperature: T > 0.

    Returns:
        float32 `[..., 2]` ab in Lab units.

    Reference:
        Zhang et al. 2016, Sec. 2.3 (Eq. 5, T = 0.38).
    """
    if temperature <= 0:
        raise ValueError(f"quantize.annealed_mean: temperature must be > 0, got {temperature}")
    probs = ops.softmax(ops.cast(logits, "float32") / float(temperature), axis=-1)
    return expectation(probs, centers)


DECODE_MODES = {"annealed": ZHANG_TEMPERATURE, "expectation": 1.0}


@keras.saving.register_keras_serializable(package="colorization_tf")
class AnnealedMeanDecode(keras.layers.Layer):
    """Decodes bin logits to encoded ab (ab / ab_scale), in the model so exports return colour.

    Parameter-free: the bin centres are rebuilt from `bin_width`/`gamut` on load. Computes in float32
    and outputs float32 by default (`dtype="float32"`), also under a mixed_float16 policy.

    Args:
        bin_width: ab grid width (the centres come from `ab_bin_centers`).
        temperature: annealed-mean T; ignored unless `decode_mode` is None.
        ab_scale: the output is ab / ab_scale (110 = Zhang's normalisation).
        decode_mode: "annealed" (T = 0.38), "expectation" (T = 1) or None (use `temperature`).
        gamut: bin set, see `ab_bin_centers`.

    Call:
        logits `[B, h, w, Q]` -> encoded ab `[B, h, w, 2]` at the logits' resolution.

    Reference:
        Zhang et al. 2016, Sec. 2.3.
    """

    def __init__(
        self,
        bin_width: float = ZHANG_BIN_WIDTH,
        temperature: float = ZHANG_TEMPERATURE,
        ab_scale: float = color.AB_SCALE,
        decode_mode: str | None = None,
        gamut: str = "zhang",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if decode_mode is not None and decode_mode not in DECODE_MODES:
            raise ValueError(f"AnnealedMeanDecode: decode_mode must be one of {sorted(DECODE_MODES)} or None")
        self.bin_width = float(bin_width)
        self.decode_mode = decode_mode
        self.temperature = float(DECODE_MODES[decode_mode] if decode_mode else temperature)
        self.ab_scale = float(ab_scale)
        self.gamut = gamut
        self.centers = ab_bin_centers(self.bin_width, gamut)
        self.num_bins = int(self.centers.shape[0])

    def build(self, input_shape):
        if input_shape[-1] is not None and int(input_shape[-1]) != self.num_bins:
            raise ValueError(
                f"AnnealedMeanDecode: logits have {input_shape[-1]} channels but bin_width "
                f"{self.bin_width} ({self.gamut}) gives {self.num_bins} bins"
            )
        super().build(input_shape)

    def call(self, logits):
        ab = annealed_mean(logits, self.centers, self.temperature)
        return ops.cast(ab / self.ab_scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2,)

    def get_config(self):
        config = super().get_config()
        config.update(
            bin_width=self.bin_width,
            temperature=self.temperature,
            ab_scale=self.ab_scale,
            decode_mode=self.decode_mode,
            gamut=self.gamut,
        )
        return config


__all__ = [
    "ZHANG_SIGMA",
    "ZHANG_NEIGHBOURS",
    "ZHANG_TEMPERATURE",
    "DECODE_MODES",
    "AnnealedMeanDecode",
    "annealed_mean",
    "expectation",
    "hard_encode",
    "soft_encode",
]
