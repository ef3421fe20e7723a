"""Colour metrics: the suite's common ones and each paper's own, as functions and Keras metrics.

Functions work on batches and return one value per image. PSNR, SSIM and colourfulness are
TensorFlow ops (evaluation), computed on sRGB in [0, 1] (max_val 1), never on signed ab; the ab
errors and accuracies are `keras.ops`, as are the Keras metric classes built on them, which take
encoded ab (a normalisation name says how to decode it) so they can be passed to `model.compile`
on any Keras backend.

Reference:
    Menon & Talukdar 2021, Sec. 3.2 (PSNR, SSIM); Hasler & Suesstrunk 2003 (colourfulness M3);
    Ghiotto 2021, PolyChromify (Keras "accuracy"); Yang & Li, CS520 (|error| < 10 accuracy,
    difference metric); Ziegler 2022, Sec. 3.4 (L1 rating).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from colorization_tf import color
from colorization_tf._tensorflow import tf

SSIM_MIN_SIZE = 11
CS520_TOLERANCE = 10.0
CS520_STRIDE = 64
PSNR_CAP_DB = 100.0
"""`evaluate_colorization` reports identical images (infinite PSNR) as this value."""


def _as_unit_rgb(rgb) -> tf.Tensor:
    rgb = tf.convert_to_tensor(rgb)
    if rgb.dtype.is_integer:
        return tf.image.convert_image_dtype(rgb, tf.float32)
    return tf.cast(rgb, tf.float32)


def _check_ssim_size(shape, where: str):
    h, w = shape[-3], shape[-2]
    if h is not None and w is not None and min(int(h), int(w)) < SSIM_MIN_SIZE:
        raise ValueError(f"metrics.{where}: SSIM needs images of at least {SSIM_MIN_SIZE}x{SSIM_MIN_SIZE} pixels, got {h}x{w}")


def psnr(rgb_true, rgb_pred, max_db: float | None = None) -> tf.Tensor:
    """PSNR (dB) per image of sRGB images (float in [0, 1] or uint8), max_val 1.

    Identical images give +inf unless `max_db` caps the value.

    Returns:
        float32 `[B]` (or a scalar for a single `[H, W, 3]` image).
    """
    value = tf.image.psnr(_as_unit_rgb(rgb_true), _as_unit_rgb(rgb_pred), max_val=1.0)
    return value if max_db is None else tf.minimum(value, float(max_db))


def ssim(rgb_true, rgb_pred) -> tf.Tensor:
    """SSIM per image of sRGB images (float in [0, 1] or uint8), max_val 1, tf.image's 11x11 window.

    Raises:
        ValueError: images smaller than 11x11.
    """
    a, b = _as_unit_rgb(rgb_true), _as_unit_rgb(rgb_pred)
    _check_ssim_size(a.shape, "ssim")
    return tf.image.ssim(a, b, max_val=1.0)


def colorfulness(rgb) -> tf.Tensor:
    """Hasler & Suesstrunk's colourfulness M3 per image, on 0-255 sRGB.

    rg = R - G, yb = (R + G) / 2 - B; M = sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2).

    Args:
        rgb: `[..., H, W, 3]`, uint8 or float in [0, 1].

    Returns:
        float32 `[...]` (0 for any gray image).

    Reference:
        Hasler & Suesstrunk, "Measuring colourfulness in natural images", 2003.
    """
    x = _as_unit_rgb(rgb) * 255.0
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    axes = [-2, -1]
    mean_rg, var_rg = tf.nn.moments(rg, axes=axes)
    mean_yb, var_yb = tf.nn.moments(yb, axes=axes)
    return tf.sqrt(var_rg + var_yb) + 0.3 * tf.sqrt(tf.square(mean_rg) + tf.square(mean_yb))


def _ab_difference(ab_true, ab_pred):
    return ops.cast(ab_true, "float32") - ops.cast(ab_pred, "float32")


def ab_l1(ab_true, ab_pred):
    """Mean absolute ab error per image, Lab units (Ziegler's L1 rating). `[B, H, W, 2]` -> `[B]`."""
    return ops.mean(ops.abs(_ab_difference(ab_true, ab_pred)), axis=[-3, -2, -1])


def ab_l2(ab_true, ab_pred):
    """Mean squared ab error per image, Lab units squared (the L2 loss's value). `[B, H, W, 2]` -> `[B]`."""
    return ops.mean(ops.square(_ab_difference(ab_true, ab_pred)), axis=[-3, -2, -1])


def polychromify_accuracy(ab_true_enc, ab_pred_enc):
    """PolyChromify's "accuracy": share of pixels where argmax over the two channels (a, b) agrees.

    The paper compiles its 2-channel tanh regression model with `metrics=['accuracy']`. Keras resolves
    'accuracy' from the loss (MSE) and the output shape (last axis > 1) to categorical accuracy, i.e.
    argmax(y_true, -1) == argmax(y_pred, -1) per pixel. With two channels that only asks whether
    "a > b" has the same truth value in target and prediction - a coin-flip-like test whose chance
    level is already high, which is how a 0.68 arises for models whose colours are far off. It is
    reproduced under that name for comparison with the paper; it is not a colour-accuracy measure.
    Any positive scale/common offset of the encoding leaves it unchanged.

    Returns:
        float32 `[B]`.

    Reference:
        Ghiotto 2021, PolyChromify, Sec. 4 (Tab. 1-2, accuracy 0.68).
    """
    t = ops.argmax(ops.cast(ab_true_enc, "float32"), axis=-1)
    p = ops.argmax(ops.cast(ab_pred_enc, "float32"), axis=-1)
    return ops.mean(ops.cast(ops.equal(t, p), "float32"), axis=[-2, -1])


def cs520_accuracy(ab_true, ab_pred, tol: float = CS520_TOLERANCE):
    """CS520 CNN accuracy: share of ab values (both channels) with |error| < tol, Lab units.

    Returns:
        float32 `[B]`.

    Reference:
        Yang & Li, CS520 Assignment 4, Sec. 2.4/2.6 (forest 57 %, beach 64 %, sunrise 54 %).
    """
    diff = ops.abs(_ab_difference(ab_true, ab_pred))
    return ops.mean(ops.cast(diff < tol, "float32"), axis=[-3, -2, -1])


def cs520_difference(rgb_true_u8, rgb_pred_u8, stride: int = CS520_STRIDE) -> np.ndarray:
    """CS520 ANN difference d = |dR + dG + dB| / stride, averaged over pixels (numpy).

    Args:
        rgb_true_u8, rgb_pred_u8: `[..., H, W, 3]` integer RGB (0-255).
        stride: spacing of the quantised levels (64).

    Returns:
        float64 `[...]` (a float for one image).

    Reference:
        Yang & Li, CS520 Assignment 4, Sec. 1.4 (coffee 0.67, sunset 0.83, beach 1.17).
    """
    from colorization_tf.cs520_ann import difference

    return difference(rgb_true_u8, rgb_pred_u8, stride)


def evaluate_colorization(l, ab_true, ab_pred, per_image: bool = True) -> dict:
    """All common metrics of predicted ab against the truth, from Lab inputs.

    Args:
        l: `[B, H, W, 1]` L in [0, 100].
        ab_true, ab_pred: `[B, H, W, 2]` ab in Lab units.
        per_image: True -> numpy `[B]` arrays; False -> batch means as floats.

    Returns:
        dict with "psnr" (dB, RGB, identical images capped at PSNR_CAP_DB), "ssim" (RGB; NaN below
        11x11), "colorfulness" (of the prediction), "colorfulness_true", "ab_l1", "ab_l2",
        "cs520_accuracy", "polychromify_accuracy".
    """
    l = tf.cast(l, tf.float32)
    if l.shape.rank == 3:
        l = l[..., None]
    rgb_true = color.lab_to_rgb(color.join_lab(l, ab_true))
    rgb_pred = color.lab_to_rgb(color.join_lab(l, ab_pred))
    h, w = rgb_true.shape[1], rgb_true.shape[2]
    if min(int(h), int(w)) >= SSIM_MIN_SIZE:
        ssim_value = ssim(rgb_true, rgb_pred)
    else:
        ssim_value = tf.fill(tf.shape(rgb_true)[:1], float("nan"))
    values = {
        "psnr": psnr(rgb_true, rgb_pred, max_db=PSNR_CAP_DB),
        "ssim": ssim_value,
        "colorfulness": colorfulness(rgb_pred),
        "colorfulness_true": colorfulness(rgb_true),
        "ab_l1": ab_l1(ab_true, ab_pred),
        "ab_l2": ab_l2(ab_true, ab_pred),
        "cs520_accuracy": cs520_accuracy(ab_true, ab_pred),
        "polychromify_accuracy": polychromify_accuracy(ab_true, ab_pred),
    }
    values = {k: np.asarray(v, np.float64) for k, v in values.items()}
    if per_image:
        return values
    return {k: float(np.mean(v)) for k, v in values.items()}


# ----------------------------------------------------------------------------------------------
# Keras metrics on encoded ab (keras.ops: every backend)


class _PerImageMean(keras.metrics.Mean):
    """Running mean of a per-image value of (y_true, y_pred)."""

    def __init__(self, name: str, dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _values(self, y_true, y_pred):
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(self._values(y_true, y_pred), sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package="colorization_tf")
class ABMeanAbsoluteError(_PerImageMean):
    """Mean absolute ab error in Lab units, from encoded ab (`normalization` says how to decode).

    Reference:
        Ziegler 2022, Sec. 3.4 (L1 to the ground truth as the rating).
    """

    def __init__(self, normalization: str = "zhang", name: str = "ab_l1", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.normalization = color.get_normalization(normalization).name

    def _values(self, y_true, y_pred):
        norm = color.get_normalization(self.normalization)
        return ab_l1(norm.decode_ab_ops(y_true), norm.decode_ab_ops(y_pred))

    def get_config(self):
        return {**super().get_config(), "normalization": self.normalization}


@keras.saving.register_keras_serializable(package="colorization_tf")
class PolyChromifyAccuracy(_PerImageMean):
    """PolyChromify's Keras "accuracy" (argmax over the 2 ab channels agrees); see `polychromify_accuracy`.

    Reference:
        Ghiotto 2021, PolyChromify, Tab. 1-2.
    """

    def __init__(self, name: str = "polychromify_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def _values(self, y_true, y_pred):
        return polychromify_accuracy(y_true, y_pred)


@keras.saving.register_keras_serializable(package="colorization_tf")
class CS520Accuracy(_PerImageMean):
    """CS520's share of ab values within `tol` Lab units, from encoded ab.

    Reference:
        Yang & Li, CS520 Assignment 4, Sec. 2.4.
    """

    def __init__(self, normalization: str = "cs520", tol: float = CS520_TOLERANCE, name: str = "cs520_accuracy", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.normalization = color.get_normalization(normalization).name
        self.tol = float(tol)

    def _values(self, y_true, y_pred):
        norm = color.get_normalization(self.normalization)
        return cs520_accuracy(norm.decode_ab_ops(y_true), norm.decode_ab_ops(y_pred), self.tol)

    def get_config(self):
        return {**super().get_config(), "normalization": self.normalization, "tol": self.tol}


METRIC_NAMES = ("ab_l1", "polychromify_accuracy", "cs520_accuracy")
NORMALIZED_METRICS = ("ab_l1", "ab_mae", "cs520_accuracy")
"""Metrics that decode ab to Lab units and so need the model's normalisation."""


def get_metric(name: str, **kwargs) -> keras.metrics.Metric:
    """Builds a Keras metric by name: "ab_l1", "polychromify_accuracy", "cs520_accuracy".

    Raises:
        ValueError: unknown name (callers fall back to Keras' own names).
    """
    key = str(name).lower()
    if key in ("ab_l1", "ab_mae"):
        return ABMeanAbsoluteError(**kwargs)
    if key == "polychromify_accuracy":
        return PolyChromifyAccuracy(**kwargs)
    if key == "cs520_accuracy":
        return CS520Accuracy(**kwargs)
    raise ValueError(f"metrics.get_metric: unknown metric {name!r}; choose from {METRIC_NAMES}")
