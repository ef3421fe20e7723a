"""SSIM in `keras.ops`: `tf.image.ssim`'s definition on every Keras backend.

One job: the structural similarity index of two image batches, as the losses need it inside a
model's training step (Menon & Talukdar's pixel + SSIM loss) on TensorFlow, JAX or PyTorch. It is
TensorFlow's formula and constants: an 11x11 Gaussian window (sigma 1.5, normalised by a softmax of
the squared distances, as `tf.image`'s ``_fspecial_gauss``), "valid" filtering, K1 = 0.01,
K2 = 0.03, luminance times contrast-structure averaged over the window positions, then over the
channels (`ssim_ops`). On the TensorFlow backend `ssim` is `tf.image.ssim` itself, as evaluation
(`metrics.ssim`) is; `tests/test_backend_ops.py` checks that the two agree.

Reference:
    Wang, Bovik, Sheikh & Simoncelli, "Image quality assessment: from error visibility to
    structural similarity", IEEE TIP 2004, Eq. 6-13.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

SSIM_WINDOW = 11
"""Side of the Gaussian window (tf.image.ssim's filter_size)."""
SSIM_SIGMA = 1.5
"""Standard deviation of the window (tf.image.ssim's filter_sigma)."""
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The normalised `[size, size]` Gaussian window, float32, computed as `tf.image` does (softmax)."""
    coords = np.arange(size, dtype=np.float32) - np.float32(size - 1) / 2.0
    g = np.square(coords) * np.float32(-0.5 / sigma**2)
    g = (g[None, :] + g[:, None]).reshape(-1)
    g = np.exp(g - g.max())
    return (g / g.sum()).reshape(size, size).astype(np.float32)


def _check_size(shape) -> None:
    height, width = shape[1], shape[2]
    if height is not None and width is not None and min(int(height), int(width)) < SSIM_WINDOW:
        raise ValueError(f"colorization_tf/ssim.py: SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {height}x{width}")


def ssim(a, b, max_val: float = 1.0):
    """SSIM per image of two `[B, H, W, C]` batches (H, W >= 11), averaged over channels.

    On the TensorFlow backend this is `tf.image.ssim` itself (its sums round differently from
    `ssim_ops` in the last bit, and TensorFlow runs keep the numbers they were validated with);
    on JAX and PyTorch it is `ssim_ops`.

    Args:
        a, b: images, any float dtype (computed in float32).
        max_val: the dynamic range of the pixel values (1 for [0, 1]).

    Returns:
        float32 `[B]`.

    Raises:
        ValueError: images smaller than the window (when the size is static).
    """
    if keras.backend.backend() != "tensorflow":
        return ssim_ops(a, b, max_val)
    from colorization_tf._tensorflow import tf

    a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
    _check_size(a.shape)
    return tf.image.ssim(a, b, max_val=max_val)


def ssim_ops(a, b, max_val: float = 1.0):
    """`ssim` in `keras.ops` (any backend): `tf.image.ssim`'s formula to float32 rounding.

    Args and Returns: as `ssim`.
    """
    a = ops.cast(a, "float32")
    b = ops.cast(b, "float32")
    height, width, channels = a.shape[1], a.shape[2], a.shape[3]
    _check_size(a.shape)
    if channels is None:
        raise ValueError("colorization_tf/ssim.py: SSIM needs a static channel count")
    kernel = np.tile(gaussian_window()[:, :, None, None], (1, 1, int(channels), 1))

    def window_mean(x):
        return ops.depthwise_conv(x, kernel, strides=1, padding="valid")

    c1 = (SSIM_K1 * max_val) ** 2
    c2 = (SSIM_K2 * max_val) ** 2
    mean_a, mean_b = window_mean(a), window_mean(b)
    num0 = mean_a * mean_b * 2.0
    den0 = ops.square(mean_a) + ops.square(mean_b)
    luminance = (num0 + c1) / (den0 + c1)
    num1 = window_mean(a * b) * 2.0
    den1 = window_mean(ops.square(a) + ops.square(b))
    contrast_structure = (num1 - num0 + c2) / (den1 - den0 + c2)
    return ops.mean(luminance * contrast_structure, axis=[1, 2, 3])
