"""Model targets: images -> normalised (L, ab [+ extras]), and the one type every consumer unpacks.

One job: the training targets. A dataset element is what Keras `fit` expects of the models:
`(L_enc, ab_enc)`, or `(L_enc, {"ab": ab_enc, "scene": labels})` for a model with a scene head.
`Targets(ab, extras)` is the same target as one type: `Targets.of(target)` unpacks either form (the
only place that does), `Targets.keras()` packs it back. It lives in `data.elements` (no TensorFlow,
so the GAN's train step reads batches through it on any Keras backend) and is re-exported here;
training figures, evaluation, the colour and lightness priors and the real-photo study all read
targets through it.

Every model family gets the same targets: regression models take the encoded ab, the
classification models (ECCV16/AlexNet) soft-encode the same encoded ab inside their loss, and
Iizuka's model also gets the scene label.

The per-batch encoding of the training pipelines is here too (`batch_targets`): optional random
crop + flip of a cached batch (`data.augment`), Lab for uint8 RGB caches, the model's normalisation;
XLA-compiled when `jit_compile` (fused, it costs a third of the separate ops).

Reference:
    Iizuka et al. (2016) and Lee et al. (scene labels); Zhang et al. (2016) (ab targets, soft-encoded
    in the loss).
"""

from __future__ import annotations

import tensorflow as tf

from colorization_tf.color import get_normalization, rgb_to_lab, split_lab
from colorization_tf.data.augment import Crop, boxes_from_uniform, crop_resize_boxes, random_windows
from colorization_tf.data.decode import round_to_uint8
from colorization_tf.data.elements import AB_KEY, SCENE_KEY, Targets, split_element  # noqa: F401  (re-exported)


def with_label(ab_encoded, label) -> Targets:
    """`Targets` of an encoded ab and an optional scene label (cast to int32)."""
    return Targets(ab_encoded, {} if label is None else {SCENE_KEY: tf.cast(label, tf.int32)})


def rgb_to_lab_cached(image: tf.Tensor) -> tf.Tensor:
    """uint8 RGB -> float16 Lab, the form the training cache stores (Lab computed once, not per epoch).

    float16 keeps L and ab to within 0.03 Lab units (far below a visible difference)."""
    return tf.cast(rgb_to_lab(image), tf.float16)


def lab16_from_resized(resized: tf.Tensor) -> tf.Tensor:
    """Resized float RGB in [0, 255] -> rounded to uint8 -> float16 Lab (the cached form)."""
    return rgb_to_lab_cached(round_to_uint8(resized))


def encode_lab(lab: tf.Tensor, normalization, label=None):
    """Lab `[..., 3]` -> (encoded L, encoded ab) or (encoded L, {"ab", "scene"}), like `to_model_targets`."""
    norm = get_normalization(normalization)
    l_channel, ab = split_lab(tf.cast(lab, tf.float32))
    return norm.encode_l(l_channel), with_label(norm.encode_ab(ab), label).keras()


def to_model_targets(image: tf.Tensor, normalization, label=None):
    """Image(s) -> (encoded L, encoded ab) or (encoded L, {"ab": encoded ab, "scene": label}).

    Works on one image or a batch (any leading shape), eagerly and inside `Dataset.map`.

    Args:
        image: `[..., H, W, 3]` uint8, or float in [0, 1].
        normalization: name or `color.Normalization` (see `color.NORMALIZATIONS`).
        label: optional int scene label(s) `[...]`, for Iizuka's classification head.

    Returns:
        `(L_enc [..., H, W, 1] float32, ab_enc [..., H, W, 2] float32)`, or with a label
        `(L_enc, {"ab": ab_enc, "scene": int32 label})`.
    """
    return encode_lab(rgb_to_lab(image), normalization, label)


def _encoded_batch(images: tf.Tensor, uniform, crop: Crop, window, crop_scale, norm, from_rgb: bool) -> tf.Tensor:
    """A cached batch -> encoded Lab `[B, H, W, 3]`: the `crop` (`uniform`: `crop_uniforms` `[4, B]`,
    None for `Crop.NONE`; `window`: (height, width) of `Crop.WINDOW`; `crop_scale`: (min, max) of
    `Crop.SCALE`), Lab (uint8 RGB caches), normalisation."""
    if crop is Crop.WINDOW:
        images = random_windows(images, uniform, window)
    boxes = boxes_from_uniform(uniform, flip=True, crop_scale=crop_scale) if crop is Crop.SCALE else None
    if from_rgb:
        if boxes is not None:  # interpolated RGB is no longer uint8: convert the float values
            images = tf.clip_by_value(crop_resize_boxes(tf.image.convert_image_dtype(images, tf.float32), boxes), 0.0, 1.0)
        lab = rgb_to_lab(images)
    else:
        lab = crop_resize_boxes(images, boxes) if boxes is not None else tf.cast(images, tf.float32)
    offset = tf.constant([norm.l_offset, norm.ab_offset, norm.ab_offset], tf.float32)
    scale = tf.constant([norm.l_scale, norm.ab_scale, norm.ab_scale], tf.float32)
    return (lab - offset) / scale  # Normalization.encode_l / encode_ab on each channel


def _split_encoded_batch(images: tf.Tensor, uniform, crop: Crop, window, crop_scale, norm, from_rgb: bool):
    """`_encoded_batch` split into (encoded L `[B, H, W, 1]`, encoded ab `[B, H, W, 2]`)."""
    return split_lab(_encoded_batch(images, uniform, crop, window, crop_scale, norm, from_rgb))


_LAB16_FROM_RESIZED_XLA = tf.function(lab16_from_resized, jit_compile=True)
_SPLIT_ENCODED_BATCH_XLA = tf.function(_split_encoded_batch, jit_compile=True)
_ENCODED_BATCH_XLA = tf.function(_encoded_batch, jit_compile=True)
_SPLIT_LAB_XLA = tf.function(split_lab, jit_compile=True)


def lab16_loader(jit_compile: bool):
    """`lab16_from_resized`, XLA-compiled when `jit_compile` (compiled once per shape, shared by every dataset)."""
    return _LAB16_FROM_RESIZED_XLA if jit_compile else lab16_from_resized


def batch_targets(images: tf.Tensor, uniform, crop: Crop, window, crop_scale, norm, from_rgb: bool, *,
                  jit_compile: bool):
    """A cached batch -> (encoded L `[B, H, W, 1]`, encoded ab `[B, H, W, 2]`), float32.

    Args:
        images: cached batch `[B, h, w, 3]`: float16 Lab, or uint8 RGB (`from_rgb`).
        uniform: `augment.crop_uniforms` `[4, B]`, or None with `Crop.NONE`.
        crop: how to crop: `Crop.NONE`, `Crop.WINDOW` (`window` = (height, width) cut out) or
            `Crop.SCALE` (`crop_scale` = (min, max) side fraction, resized back bilinearly).
        norm: the model's `color.Normalization`.
        from_rgb: the cache holds uint8 RGB (converted to Lab here) rather than Lab.
        jit_compile: run under XLA. With bilinear crops the split is a second compiled function:
            fused into one, XLA would recompute the interpolation's gathers for each output.
    """
    if not jit_compile:
        return _split_encoded_batch(images, uniform, crop, window, crop_scale, norm, from_rgb)
    if crop is not Crop.SCALE:  # no interpolation: nothing costly to recompute
        return _SPLIT_ENCODED_BATCH_XLA(images, uniform, crop, window, crop_scale, norm, from_rgb)
    return _SPLIT_LAB_XLA(_ENCODED_BATCH_XLA(images, uniform, crop, window, crop_scale, norm, from_rgb))


__all__ = [
    "AB_KEY",
    "SCENE_KEY",
    "Targets",
    "split_element",
    "with_label",
    "rgb_to_lab_cached",
    "lab16_from_resized",
    "encode_lab",
    "to_model_targets",
    "batch_targets",
]
