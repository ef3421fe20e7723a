"""sRGB (D65) <-> CIE Lab in TensorFlow ops, and each paper's normalisation.

Every function here is plain TF (imported on first use, see `_tensorflow`): it works eagerly, inside
`tf.data.Dataset.map`, inside a `tf.function` and inside an XLA-compiled model, on any leading batch
shape; `Normalization.decode_ab_ops` is the one `keras.ops` (any backend) exception. The formulas and
constants are those of `skimage.color.rgb2lab` / `lab2rgb` (sRGB primaries, D65 white, 2 degree
observer), which this module matches to about 1e-4.

tensorflow-io's colour ops are not used: its last release supports TF 2.16 only and its native
libraries fail to load on TF 2.21.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from colorization_tf._tensorflow import tf

L_MAX = 100.0
"""Lightness range of CIE Lab is [0, L_MAX]."""
AB_SCALE = 110.0
"""|a|, |b| of sRGB colours stay below about 110 (Zhang et al. normalise ab by it)."""

D65_WHITE = np.array([0.95047, 1.0, 1.08883])
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
_XYZ_WHITE_FROM_RGB = XYZ_FROM_RGB / D65_WHITE[:, np.newaxis]

_LAB_EPSILON = 0.008856  # (6/29)^3: where the cube root turns into its linear segment.
_LAB_KAPPA = 7.787  # slope of that linear segment, 1 / (3 (6/29)^2).
_LAB_DELTA = 16.0 / 116.0
_LAB_INV_EPSILON = 0.2068966  # 6/29: the same switch on the f(t) side.


def _as_float_rgb(rgb) -> tf.Tensor:
    """uint8/uint16 images are scaled to [0, 1]; float images are taken as already in [0, 1]."""
    rgb = tf.convert_to_tensor(rgb)
    if rgb.dtype.is_integer:
        return tf.image.convert_image_dtype(rgb, tf.float32)
    return tf.cast(rgb, tf.float32)


def _channel_matmul(x: tf.Tensor, matrix: np.ndarray) -> tf.Tensor:
    """x[..., 3] @ matrix.T without reshapes, so any leading shape works (XLA-friendly)."""
    return tf.tensordot(x, tf.constant(matrix.T, tf.float32), axes=[[-1], [0]])


def _pow(base: tf.Tensor, exponent: float) -> tf.Tensor:
    """base ** exponent for base > 0 as exp(log): several times faster than tf.pow on CPU."""
    return tf.exp(exponent * tf.math.log(base))


_CBRT_MAGIC = 709921077  # float32 bits of x^(1/3) ~ (bits of x) / 3 + this (exponent /3, ~4% error)


def _cbrt(x: tf.Tensor) -> tf.Tensor:
    """Cube root of positive float32 `x`: bit-level first guess, then three Newton steps.

    Arithmetic only (relative error ~1e-7): faster than exp(log(x) / 3), fusable under XLA.
    The guess carries no gradient; after convergence the Newton steps carry the exact one.
    """
    guess = tf.bitcast(tf.bitcast(tf.stop_gradient(x), tf.int32) // 3 + _CBRT_MAGIC, tf.float32)
    y = guess
    for _ in range(3):
        y = y - (y - x / (y * y)) * (1.0 / 3.0)
    return y


def _srgb_curve_inverse(v):
    return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


_UINT8_TO_LINEAR = _srgb_curve_inverse(np.arange(256) / 255.0).astype(np.float32)


def srgb_to_linear(rgb) -> tf.Tensor:
    """Removes the sRGB transfer curve.

    Args:
        rgb: sRGB in [0, 1] (float) or an integer image; uint8 goes through a 256-entry table.

    Returns:
        float32 linear RGB.
    """
    rgb = tf.convert_to_tensor(rgb)
    if rgb.dtype == tf.uint8:
        return tf.gather(tf.constant(_UINT8_TO_LINEAR), tf.cast(rgb, tf.int32))
    rgb = _as_float_rgb(rgb)
    # Keep the base positive in the branch tf.where discards, so gradients stay finite.
    curve = _pow((tf.maximum(rgb, 0.04045) + 0.055) / 1.055, 2.4)
    return tf.where(rgb > 0.04045, curve, rgb / 12.92)


def linear_to_srgb(linear: tf.Tensor) -> tf.Tensor:
    """Applies the sRGB transfer curve (no clipping)."""
    curve = 1.055 * _pow(tf.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055
    return tf.where(linear > 0.0031308, curve, 12.92 * linear)


def rgb_to_lab(rgb) -> tf.Tensor:
    """Converts sRGB to CIE Lab (D65, 2 degree observer), like `skimage.color.rgb2lab`.

    Args:
        rgb: `[..., 3]` tensor; float in [0, 1], or an integer dtype (uint8, uint16) which is
            scaled to [0, 1] first (skimage's silent rescaling, made explicit).

    Returns:
        float32 `[..., 3]` tensor of (L in [0, 100], a, b).
    """
    xyz = _channel_matmul(srgb_to_linear(rgb), _XYZ_WHITE_FROM_RGB)  # XYZ / white point
    cube_root = _cbrt(tf.maximum(xyz, _LAB_EPSILON))
    f = tf.where(xyz > _LAB_EPSILON, cube_root, _LAB_KAPPA * xyz + _LAB_DELTA)
    fx, fy, fz = tf.unstack(f, axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def lab_to_rgb(lab) -> tf.Tensor:
    """Converts CIE Lab to sRGB in [0, 1], like `skimage.color.lab2rgb`.

    Out-of-gamut colours are clipped: negative Z (very large b) is clamped to 0 as skimage does,
    and RGB is clipped to [0, 1]. No NaN for any finite input.

    Args:
        lab: `[..., 3]` float tensor (L, a, b).

    Returns:
        float32 `[..., 3]` sRGB tensor in [0, 1].
    """
    lab = tf.cast(lab, tf.float32)
    l, a, b = tf.unstack(lab, axis=-1)
    fy = (l + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = tf.maximum(fy - b / 200.0, 0.0)
    f = tf.stack([fx, fy, fz], axis=-1)
    f_clamped = tf.maximum(f, _LAB_INV_EPSILON)
    cube = f_clamped * f_clamped * f_clamped
    xyz = tf.where(f > _LAB_INV_EPSILON, cube, (f - _LAB_DELTA) / _LAB_KAPPA)
    xyz = xyz * tf.constant(D65_WHITE, tf.float32)
    linear = _channel_matmul(xyz, RGB_FROM_XYZ)
    return tf.clip_by_value(linear_to_srgb(linear), 0.0, 1.0)


def split_lab(lab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Splits `[..., 3]` Lab into L `[..., 1]` and ab `[..., 2]`."""
    return lab[..., :1], lab[..., 1:]


def join_lab(l: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """Joins L `[..., 1]` and ab `[..., 2]` into Lab `[..., 3]` (both cast to float32)."""
    return tf.concat([tf.cast(l, tf.float32), tf.cast(ab, tf.float32)], axis=-1)


def lightness(rgb) -> tf.Tensor:
    """L channel `[..., 1]` of an sRGB image: the grayscale input every model sees."""
    return split_lab(rgb_to_lab(rgb))[0]


@dataclasses.dataclass(frozen=True)
class Normalization:
    """An affine encoding of L and ab into a model's input/target range, and its inverse.

    `encode_l(L) = (L - l_offset) / l_scale` and `encode_ab(ab) = (ab - ab_offset) / ab_scale`.

    Attributes:
        name: registry key (see `NORMALIZATIONS`).
        l_offset, l_scale: L encoding.
        ab_offset, ab_scale: ab encoding.
        description: the paper's formula, for documentation and result files.
    """

    name: str
    l_offset: float
    l_scale: float
    ab_offset: float
    ab_scale: float
    description: str = ""

    def encode_l(self, l):
        return (tf.cast(l, tf.float32) - self.l_offset) / self.l_scale

    def decode_l(self, l_encoded):
        return tf.cast(l_encoded, tf.float32) * self.l_scale + self.l_offset

    def encode_ab(self, ab):
        return (tf.cast(ab, tf.float32) - self.ab_offset) / self.ab_scale

    def decode_ab(self, ab_encoded):
        return tf.cast(ab_encoded, tf.float32) * self.ab_scale + self.ab_offset

    def decode_ab_ops(self, ab_encoded):
        """`decode_ab` in `keras.ops`, for losses, metrics and decoders on any Keras backend (float32)."""
        from keras import ops

        return ops.cast(ab_encoded, "float32") * self.ab_scale + self.ab_offset


NORMALIZATIONS: dict[str, Normalization] = {
    n.name: n
    for n in (
        Normalization("polychromify", 0.0, 1.0, 0.0, 128.0, "L raw in [0, 100]; ab / 128 (tanh output)"),
        Normalization("lee2016", 50.0, 100.0, -128.0, 255.0, "L / 100 - 0.5; (ab + 128) / 255 (sigmoid output)"),
        Normalization("zhang", 50.0, 100.0, 0.0, AB_SCALE, "(L - 50) / 100; ab / 110"),
        Normalization("cs520", 0.0, 1.0, -128.0, 1.0, "L raw; ab + 128 in [0, 255]"),
        Normalization("menon", 0.0, 1.0, 0.0, AB_SCALE, "L raw; ab / 110 (range not stated in the paper)"),
    )
}


def get_normalization(name) -> Normalization:
    """Looks up a normalisation by name (a `Normalization` passes through, a model's
    `models.spec.Preprocessor` gives its own)."""
    if isinstance(name, Normalization):
        return name
    if isinstance(getattr(name, "normalization", None), Normalization):  # a Preprocessor
        return name.normalization
    try:
        return NORMALIZATIONS[name]
    except KeyError:
        raise ValueError(f"Unknown normalization {name!r}; choose from {sorted(NORMALIZATIONS)}") from None
