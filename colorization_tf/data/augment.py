"""Random crops and flips of image batches: stateless, cheap per batch, XLA-compatible.

One job: augmentation. Two kinds of crop (`Crop`): fixed-size windows cut out of a larger image
(`random_windows`: gathers, exact pixels, the papers' 224-of-256 crops) and crops of a random
fraction resized back to full size (`crop_resize_boxes`: `tf.image.crop_and_resize`'s bilinear
sampling written as separable gathers). Each is driven by one `[4, B]` draw of uniform numbers per
batch (`crop_uniforms`), so the same seed gives the same crops eagerly, in `Dataset.map` and under
XLA.

Reference:
    Zhang et al. (2016), Iizuka et al. (2016): random crops and flips for training.
"""

from __future__ import annotations

import enum

import tensorflow as tf

from colorization_tf.data.decode import size_pair

DEFAULT_CROP_SCALE = (0.875, 0.875)
"""Random crops keep this fraction (min, max) of each side (resized back to full size by
`augment_batch`). The default, one fixed fraction, is the papers' fixed-size crops (224 of 256 in
Zhang et al. and Iizuka et al.): the training pipelines then cache images 1/0.875 larger and cut
exact windows out of them, with no interpolation (twice as fast per epoch and sharper). A range
(min < max) adds scale jitter: crops of the training-size image resized back (bilinear)."""


class Crop(enum.Enum):
    """How the training pipelines crop a batch (`Crop.of`)."""

    NONE = "none"
    """No crop: the cached images as they are (evaluation, or augmentation off)."""
    WINDOW = "window"
    """Fixed-size windows at random offsets, randomly mirrored (`random_windows`): exact pixels."""
    SCALE = "scale"
    """Crops of a random side fraction resized back, randomly mirrored (`crop_resize_boxes`): bilinear."""

    @classmethod
    def of(cls, augment: bool, crop_scale) -> "Crop":
        """The crop of a pipeline: none without augmentation, windows for one fixed fraction (or
        `crop_scale` None: flips only), bilinear crops for a range (min < max)."""
        if not augment:
            return cls.NONE
        if crop_scale is None or float(crop_scale[0]) == float(crop_scale[1]):
            return cls.WINDOW
        return cls.SCALE


def random_crop_boxes(batch_size, seed: tf.Tensor, *, flip: bool = True, crop_scale=DEFAULT_CROP_SCALE) -> tf.Tensor:
    """The random crop boxes of `augment_batch`: `[B, 4]` float32 (top, left, bottom, right) in [0, 1].

    A mirrored image has left > right. Stateless: the same `seed` gives the same boxes.
    """
    return boxes_from_uniform(crop_uniforms(batch_size, seed), flip=flip, crop_scale=crop_scale)


def crop_uniforms(batch_size, seed: tf.Tensor) -> tf.Tensor:
    """The random numbers behind `random_crop_boxes`: one op, cheap per batch."""
    return tf.random.stateless_uniform([4, batch_size], tf.cast(seed, tf.int64))


def boxes_from_uniform(uniform: tf.Tensor, *, flip: bool, crop_scale) -> tf.Tensor:
    """`[4, B]` uniform numbers -> `[B, 4]` crop boxes (arithmetic only: runs inside compiled functions)."""
    if crop_scale is None:
        crop_scale = (1.0, 1.0)
    scale = crop_scale[0] + (crop_scale[1] - crop_scale[0]) * uniform[0]
    top = uniform[1] * (1.0 - scale)
    left = uniform[2] * (1.0 - scale)
    right = left + scale
    if flip:
        mirrored = uniform[3] < 0.5
        left, right = tf.where(mirrored, right, left), tf.where(mirrored, left, right)
    return tf.stack([top, left, tf.minimum(top + scale, 1.0), right], axis=1)


def _box_samples(start: tf.Tensor, end: tf.Tensor, size) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Sample positions of `tf.image.crop_and_resize` along one axis of length `size` (in = out):
    (lower index, upper index, fraction), each `[B, size]`."""
    last = tf.cast(size - 1, tf.float32)
    steps = tf.range(size, dtype=tf.float32)[tf.newaxis, :] * ((end - start) * last / tf.maximum(last, 1.0))[:, tf.newaxis]
    centre = (0.5 * (start + end) * last)[:, tf.newaxis]  # crop_and_resize's rule for a 1-pixel crop
    position = tf.where(size > 1, start[:, tf.newaxis] * last + steps, centre)
    position = tf.clip_by_value(position, 0.0, last)
    lower = tf.floor(position)
    return tf.cast(lower, tf.int32), tf.cast(tf.math.ceil(position), tf.int32), position - lower


def crop_resize_boxes(images: tf.Tensor, boxes: tf.Tensor) -> tf.Tensor:
    """Bilinear crop of each image's box resized back to the image size: `tf.image.crop_and_resize`'s
    sampling (same positions and weights), written as two separable gathers so that it also runs,
    and fuses, under XLA.

    Args:
        images: `[B, H, W, C]`, any real dtype (computed in float32).
        boxes: `[B, 4]` (top, left, bottom, right) in [0, 1]; left > right mirrors the image.

    Returns:
        float32 `[B, H, W, C]`.
    """
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    y0, y1, fy = _box_samples(boxes[:, 0], boxes[:, 2], height)
    x0, x1, fx = _box_samples(boxes[:, 1], boxes[:, 3], width)
    images = tf.cast(images, tf.float32)
    top = tf.gather(images, y0, axis=1, batch_dims=1)
    rows = top + (tf.gather(images, y1, axis=1, batch_dims=1) - top) * fy[:, :, tf.newaxis, tf.newaxis]
    columns = tf.transpose(rows, [0, 2, 1, 3])  # gathering whole rows is much faster than single pixels
    left = tf.gather(columns, x0, axis=1, batch_dims=1)
    out = left + (tf.gather(columns, x1, axis=1, batch_dims=1) - left) * fx[:, :, tf.newaxis, tf.newaxis]
    return tf.transpose(out, [0, 2, 1, 3])


def augment_batch(images: tf.Tensor, seed: tf.Tensor, *, flip: bool = True, crop_scale=DEFAULT_CROP_SCALE) -> tf.Tensor:
    """Random horizontal flips and random crops resized back to full size, for a whole batch at once.

    Each image's crop, flip (a mirrored box) and bilinear resize is `crop_resize_boxes` on the boxes
    of `random_crop_boxes` (`tf.image.crop_and_resize`'s sampling, XLA-compatible). Stateless: the
    same `seed` gives the same result. Works on RGB or on Lab images (interpolation is per channel).

    Args:
        images: `[B, H, W, C]` uint8 (scaled to [0, 1]) or float.
        seed: int `[2]` stateless seed.
        flip: mirror each image left-right with probability 1/2.
        crop_scale: (min, max) fraction of each side kept by the crop; None or (1, 1) disables crops.

    Returns:
        float32 `[B, H, W, C]` (same size as the input).

    Reference:
        Zhang et al. (2016) and Iizuka et al. (2016): random crops and flips for training.
    """
    images = tf.image.convert_image_dtype(images, tf.float32)
    boxes = random_crop_boxes(tf.shape(images)[0], seed, flip=flip, crop_scale=crop_scale)
    out = crop_resize_boxes(images, boxes)
    out.set_shape(images.shape)
    return out


def augment_image(image: tf.Tensor, seed: tf.Tensor, *, flip: bool = True, crop_scale=DEFAULT_CROP_SCALE) -> tf.Tensor:
    """`augment_batch` for one image `[H, W, C]` (eagerly or inside `Dataset.map`); float32 result."""
    return augment_batch(image[tf.newaxis], seed, flip=flip, crop_scale=crop_scale)[0]


augment = augment_image
"""Alias of `augment_image` (the name used in the design notes)."""



def random_windows(images: tf.Tensor, uniform: tf.Tensor, size) -> tf.Tensor:
    """Fixed-size crops at random integer offsets, randomly mirrored: exact pixels, no interpolation.

    Used by the training pipelines for fixed-size crops (cached images larger than the training
    size). Gathers only: cheap, and XLA-compatible.

    Args:
        images: `[B, H, W, C]`, any dtype (kept).
        uniform: `[4, B]` numbers in [0, 1) (rows 1 and 2 place the window, row 3 < 0.5 mirrors;
            row 0, the scale of `random_crop_boxes`, is unused).
        size: (height, width) of the windows, at most (H, W).

    Returns:
        `[B, height, width, C]` of the images' dtype.

    Reference:
        Zhang et al. (2016), Iizuka et al. (2016): random fixed-size crops and flips.
    """
    height, width = size_pair(size)
    shape = tf.shape(images)
    top = tf.cast(uniform[1] * tf.cast(shape[1] - height + 1, tf.float32), tf.int32)
    left = tf.cast(uniform[2] * tf.cast(shape[2] - width + 1, tf.float32), tf.int32)
    top = tf.minimum(top, shape[1] - height)[:, tf.newaxis]
    left = tf.minimum(left, shape[2] - width)[:, tf.newaxis]
    columns = tf.range(width)[tf.newaxis, :]
    columns = tf.where((uniform[3] < 0.5)[:, tf.newaxis], left + width - 1 - columns, left + columns)
    rows = tf.gather(images, top + tf.range(height)[tf.newaxis, :], axis=1, batch_dims=1)
    out = tf.gather(rows, columns, axis=2, batch_dims=1)
    out.set_shape([images.shape[0], height, width, images.shape[3]])
    return out


__all__ = [
    "DEFAULT_CROP_SCALE",
    "Crop",
    "random_crop_boxes",
    "crop_uniforms",
    "boxes_from_uniform",
    "crop_resize_boxes",
    "augment_batch",
    "augment_image",
    "augment",
    "random_windows",
]
