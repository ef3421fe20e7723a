"""tf.data input pipelines: files -> (encoded L, encoded ab targets), fast and deterministic.

Order (each step a `Dataset.map` with `num_parallel_calls`):

    read + check header (bounded) -> decode -> fixed resize (uint8) -> [drop broken files]
    -> sRGB->Lab (float16, once per image) -> cache (memory or file) -> shuffle -> batch
    -> augment (flip + random crop resized back: one crop_and_resize per batch)
    -> the model's normalisation -> prefetch

The colour conversion is the costly step, so it runs before the cache: epochs served from the cache
only shuffle, crop and rescale. (`cache_lab=False` caches uint8 RGB instead, half the bytes, and
converts each epoch after batching.) Augmenting a whole batch in one op instead of per image is
what keeps cached epochs fast. Everything before the cache is done once; at 128 px the Lab cache
is ~98 KB per image (a 100k-image folder is ~9.8 GB: use a file cache; file paths are streamed and
never decoded all at once).

Bounded decoding: the header's claimed size (JPEG, PNG, GIF, BMP) is checked against `max_pixels`
before decoding, and any file that fails (undecodable, truncated, too large) is dropped with a
warning instead of stopping training. Scan folders with `files.scan_images` first to get a report.

JPEGs are decoded with libjpeg's DCT scaling (`ratio` 2, 4 or 8) whenever the image stays at least
as large as the target: a large photo reduced to 128 px decodes several times faster.

Targets are the same for every model family: regression models take the encoded ab, the
classification models (ECCV16/AlexNet) soft-encode the same encoded ab inside their loss, and
Iizuka's model also gets the scene label.

Reference:
    Iizuka et al. (2016) and Lee et al. (scene labels); Zhang et al. (2016) random crops/flips;
    the input pipelines of Ziegler (2022), PolyChromify (2021), CS520 and Menon & Talukdar (2021).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from colorization_tf.color import get_normalization, rgb_to_lab, split_lab
from colorization_tf.data.files import MAX_PIXELS

AUTOTUNE = tf.data.AUTOTUNE

DEFAULT_RESIZE_METHOD = "auto"
""""area" (box-filter averaging, antialiased by construction) when shrinking both sides, "bilinear"
when enlarging; about 3x cheaper than antialiased bilinear for the same quality when shrinking."""

DEFAULT_CROP_SCALE = (0.8, 1.0)
"""Random crops keep this fraction (min, max) of each side before being resized back."""

SHUFFLE_BUFFER_BYTES = 256 * 2**20
"""Memory the automatic shuffle buffer may use (uint8 images at the training size)."""

_JPEG_RATIOS = (1, 2, 4, 8)
_FORMAT_JPEG, _FORMAT_PNG, _FORMAT_GIF, _FORMAT_BMP, _FORMAT_OTHER = range(5)


def _size_pair(image_size) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    height, width = (int(s) for s in image_size)
    return height, width


def _bytes_to_int(contents: tf.Tensor, start: int, length: int, little_endian: bool) -> tf.Tensor:
    raw = tf.cast(tf.io.decode_raw(tf.strings.substr(contents, start, length), tf.uint8), tf.int64)
    powers = [256**i for i in range(length)]
    if not little_endian:
        powers = powers[::-1]
    return tf.reduce_sum(raw * tf.constant(powers, tf.int64))


def _image_format(contents: tf.Tensor) -> tf.Tensor:
    magic = tf.strings.substr(contents, 0, 8)
    formats = [
        (tf.strings.substr(magic, 0, 2) == b"\xff\xd8", _FORMAT_JPEG),
        (magic == b"\x89PNG\r\n\x1a\n", _FORMAT_PNG),
        (tf.strings.substr(magic, 0, 3) == b"GIF", _FORMAT_GIF),
        (tf.strings.substr(magic, 0, 2) == b"BM", _FORMAT_BMP),
    ]
    result = tf.constant(_FORMAT_OTHER, tf.int32)
    for matches, code in reversed(formats):
        result = tf.where(matches, tf.constant(code, tf.int32), result)
    return result


def image_header_shape(contents: tf.Tensor) -> tf.Tensor:
    """(height, width) claimed by an encoded image's header, without decoding pixels.

    Args:
        contents: scalar string tensor, the file's bytes.

    Returns:
        int64 `[2]`; (-1, -1) for formats whose header is not parsed (e.g. WebP).
        A header too short or corrupt to parse raises `InvalidArgumentError`.
    """

    def jpeg():
        return tf.cast(tf.image.extract_jpeg_shape(contents)[:2], tf.int64)

    def png():  # IHDR: width then height, big-endian, at byte 16
        return tf.stack([_bytes_to_int(contents, 20, 4, False), _bytes_to_int(contents, 16, 4, False)])

    def gif():  # logical screen width, height, little-endian, at byte 6
        return tf.stack([_bytes_to_int(contents, 8, 2, True), _bytes_to_int(contents, 6, 2, True)])

    def bmp():  # BITMAPINFOHEADER width, height (signed; negative = top-down), at byte 18
        width = _bytes_to_int(contents, 18, 4, True)
        height = _bytes_to_int(contents, 22, 4, True)
        height = tf.where(height >= 2**31, 2**32 - height, height)
        return tf.stack([height, width])

    def other():
        return tf.constant([-1, -1], tf.int64)

    return tf.switch_case(_image_format(contents), [jpeg, png, gif, bmp, other])


def decode_image_bounded(contents: tf.Tensor, max_pixels: int = MAX_PIXELS, min_shape=None) -> tf.Tensor:
    """Decodes encoded image bytes to uint8 RGB `[H, W, 3]`, refusing oversize headers first.

    Args:
        contents: scalar string tensor.
        max_pixels: largest claimed height * width decoded; larger raises `InvalidArgumentError`
            before any pixel buffer is allocated.
        min_shape: optional (height, width) the result will be shrunk to; JPEGs are then decoded
            with the largest DCT scaling ratio that keeps them at least that big.

    Returns:
        uint8 tensor `[H, W, 3]` (gray is repeated to 3 channels, alpha dropped, first frame of
        an animation).
    """
    shape = image_header_shape(contents)
    pixels = shape[0] * shape[1]
    check = tf.debugging.assert_less_equal(
        pixels, tf.constant(max_pixels, tf.int64), message="image too large (header claims more than max_pixels)"
    )
    with tf.control_dependencies([check]):
        contents = tf.identity(contents)  # every decode below waits for the size check
    is_jpeg = tf.equal(_image_format(contents), _FORMAT_JPEG)

    def generic():
        image = tf.io.decode_image(contents, channels=3, expand_animations=False, dtype=tf.uint8)
        image.set_shape([None, None, 3])
        return image

    if min_shape is None:
        return generic()
    target = tf.constant(min_shape, tf.int64)

    def jpeg():
        fits = [tf.reduce_all(shape // r >= target) for r in _JPEG_RATIOS]
        index = tf.reduce_sum(tf.cast(tf.stack(fits[1:]), tf.int32))  # ratios fitting are a prefix
        branches = [
            (lambda r=r: tf.ensure_shape(tf.io.decode_jpeg(contents, channels=3, ratio=r), [None, None, 3]))
            for r in _JPEG_RATIOS
        ]
        return tf.switch_case(index, branches)

    return tf.cond(is_jpeg, jpeg, generic)


def resize_uint8(image: tf.Tensor, image_size, method: str = DEFAULT_RESIZE_METHOD) -> tf.Tensor:
    """Resizes (squashes) an image to exactly `image_size`, antialiased; returns uint8.

    Args:
        image: `[H, W, C]` (or batched) image.
        image_size: int or (height, width).
        method: "auto" (area when shrinking, else bilinear) or any `tf.image.resize` method
            (used with `antialias=True`).
    """
    height, width = _size_pair(image_size)
    if method == "auto":
        shape = tf.shape(image)
        shrinking = tf.logical_and(shape[-3] >= height, shape[-2] >= width)
        resized = tf.cond(
            shrinking,
            lambda: tf.image.resize(image, [height, width], method="area"),
            lambda: tf.image.resize(image, [height, width], method="bilinear", antialias=True),
        )
    else:
        resized = tf.image.resize(image, [height, width], method=method, antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def decode_and_resize(
    path: tf.Tensor,
    image_size,
    *,
    method: str = DEFAULT_RESIZE_METHOD,
    max_pixels: int = MAX_PIXELS,
) -> tf.Tensor:
    """Reads one image file and resizes it to the fixed training size, as the papers did.

    Works eagerly and inside `Dataset.map`.

    Args:
        path: scalar string tensor (file path).
        image_size: int or (height, width).
        method: `tf.image.resize` method (antialiased).
        max_pixels: bounded decoding limit (see `decode_image_bounded`).

    Returns:
        uint8 `[height, width, 3]`.

    Raises:
        tf.errors.InvalidArgumentError / NotFoundError for a broken, oversize or missing file
        (the pipeline drops such files).
    """
    size = _size_pair(image_size)
    image = decode_image_bounded(tf.io.read_file(path), max_pixels=max_pixels, min_shape=size)
    return resize_uint8(image, size, method)


def augment_batch(images: tf.Tensor, seed: tf.Tensor, *, flip: bool = True, crop_scale=DEFAULT_CROP_SCALE) -> tf.Tensor:
    """Random horizontal flips and random crops resized back to full size, for a whole batch at once.

    One `tf.image.crop_and_resize` op does every image's crop, flip (a mirrored box) and bilinear
    resize, so augmentation costs one op per batch. Stateless: the same `seed` gives the same result.
    Works on RGB or on Lab images (interpolation is per channel).

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
    shape = tf.shape(images)
    batch = shape[0]
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    if crop_scale is None:
        crop_scale = (1.0, 1.0)
    scale = tf.random.stateless_uniform([batch], seeds[0], crop_scale[0], crop_scale[1])
    top = tf.random.stateless_uniform([batch], seeds[1]) * (1.0 - scale)
    left = tf.random.stateless_uniform([batch], seeds[2]) * (1.0 - scale)
    right = left + scale
    if flip:
        mirrored = tf.random.stateless_uniform([batch], seeds[3]) < 0.5
        left, right = tf.where(mirrored, right, left), tf.where(mirrored, left, right)
    boxes = tf.stack([top, left, top + scale, right], axis=1)
    out = tf.image.crop_and_resize(images, boxes, tf.range(batch), shape[1:3], method="bilinear")
    out.set_shape(images.shape)
    return out


def augment_image(image: tf.Tensor, seed: tf.Tensor, *, flip: bool = True, crop_scale=DEFAULT_CROP_SCALE) -> tf.Tensor:
    """`augment_batch` for one image `[H, W, C]` (eagerly or inside `Dataset.map`); float32 result."""
    return augment_batch(image[tf.newaxis], seed, flip=flip, crop_scale=crop_scale)[0]


augment = augment_image
"""Alias of `augment_image` (the name used in the design notes)."""


def rgb_to_lab_cached(image: tf.Tensor) -> tf.Tensor:
    """uint8 RGB -> float16 Lab, the form the training cache stores (Lab computed once, not per epoch).

    float16 keeps L and ab to within 0.03 Lab units (far below a visible difference)."""
    return tf.cast(rgb_to_lab(image), tf.float16)


def encode_lab(lab: tf.Tensor, normalization, label=None):
    """Lab `[..., 3]` -> (encoded L, encoded ab) or (encoded L, {"ab", "scene"}), like `to_model_targets`."""
    norm = get_normalization(normalization)
    l_channel, ab = split_lab(tf.cast(lab, tf.float32))
    l_encoded, ab_encoded = norm.encode_l(l_channel), norm.encode_ab(ab)
    if label is None:
        return l_encoded, ab_encoded
    return l_encoded, {"ab": ab_encoded, "scene": tf.cast(label, tf.int32)}


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


def cache_filename(
    prefix, paths: Sequence[str], image_size, method: str = DEFAULT_RESIZE_METHOD, form: str = "rgb8"
) -> str:
    """The file-cache name for a prefix: it records the size and a digest of the file list, so a
    cache is never reused for other files or another size. Its files match `*.tfcache*` (git-ignored)."""
    height, width = _size_pair(image_size)
    digest = hashlib.sha1("\n".join([method, *map(str, paths)]).encode("utf-8")).hexdigest()[:12]
    return f"{os.fspath(prefix)}.{form}.{height}x{width}.{digest}.tfcache"


def default_shuffle_buffer(num_images: int, image_size, bytes_per_value: int = 1) -> int:
    """Whole dataset when it fits in `SHUFFLE_BUFFER_BYTES`, else as many images as fit."""
    height, width = _size_pair(image_size)
    return max(1, min(num_images, SHUFFLE_BUFFER_BYTES // (height * width * 3 * bytes_per_value)))


def _apply_cache(dataset, cache, paths, size, resize_method, form):
    if cache == "memory":
        return dataset.cache()
    if cache:
        filename = cache_filename(cache, paths, size, resize_method, form)
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        return dataset.cache(filename)
    return dataset


def build_image_dataset(
    paths: Sequence,
    image_size,
    *,
    labels: Sequence[int] | None = None,
    cache=None,
    resize_method: str = DEFAULT_RESIZE_METHOD,
    max_pixels: int = MAX_PIXELS,
    num_parallel_calls=AUTOTUNE,
) -> tf.data.Dataset:
    """Files -> uint8 images `[H, W, 3]` at a fixed size (or `(image, label)` pairs), in file order.

    Broken files are dropped with a logged warning. `cache`: None, "memory", or a file prefix
    (see `cache_filename`). Used by `build_dataset`, the evaluation and the colour-distribution plot.
    """
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise ValueError("build_image_dataset: no image paths given")
    size = _size_pair(image_size)
    if labels is not None:
        labels = [int(label) for label in labels]
        if len(labels) != len(paths):
            raise ValueError(f"build_image_dataset: {len(labels)} labels for {len(paths)} paths")
        dataset = tf.data.Dataset.from_tensor_slices((paths, tf.constant(labels, tf.int32)))
    else:
        dataset = tf.data.Dataset.from_tensor_slices(paths)

    def load(path, *label):
        image = decode_and_resize(path, size, method=resize_method, max_pixels=max_pixels)
        return (image, *label) if label else image

    dataset = dataset.map(load, num_parallel_calls=num_parallel_calls, deterministic=True)
    dataset = dataset.ignore_errors(log_warning=True)
    return _apply_cache(dataset, cache, paths, size, resize_method, "rgb8")


def build_dataset(
    paths: Sequence,
    *,
    image_size,
    batch_size: int,
    normalization,
    labels: Sequence[int] | None = None,
    training: bool = False,
    augment: bool | None = None,
    cache=None,
    shuffle_buffer: int | None = None,
    seed: int = 0,
    drop_remainder: bool | None = None,
    num_parallel_calls=AUTOTUNE,
    crop_scale=DEFAULT_CROP_SCALE,
    resize_method: str = DEFAULT_RESIZE_METHOD,
    max_pixels: int = MAX_PIXELS,
    repeat: bool = False,
    cache_lab: bool = True,
) -> tf.data.Dataset:
    """The training/evaluation pipeline: files -> batches of (encoded L, encoded ab targets).

    Steps: decode (bounded) -> resize -> Lab (float16; with `cache_lab`) -> cache -> shuffle ->
    batch -> augment (one crop_and_resize per batch) -> normalise -> prefetch. With `cache_lab`
    the colour conversion runs once per image instead of once per epoch, and augmentation
    interpolates Lab values (bilinear, like resizing the RGB image then converting, to within
    rounding); `cache_lab=False` caches uint8 RGB (half the bytes) and converts every epoch.

    Args:
        paths: image files (scan them first with `files.scan_images`; broken ones are dropped anyway).
        image_size: int or (height, width): the fixed size every image is resized to.
        batch_size: images per batch.
        normalization: name or `color.Normalization` of the model (e.g. "polychromify").
        labels: optional int class per path; the targets become `{"ab": ..., "scene": ...}`.
        training: shuffle (and by default augment and drop the last partial batch).
        augment: random flips and crops; default = `training`.
        cache: None, "memory", or a file prefix for data that does not fit in memory
            (see `cache_filename`; 128 px Lab float16 is ~98 KB per image).
        shuffle_buffer: default: the whole dataset if it fits in 256 MiB.
        seed: makes shuffling and augmentation reproducible; each epoch differs.
        drop_remainder: default = `training` (fixed shapes: no XLA recompiles).
        num_parallel_calls: parallelism of every map.
        crop_scale: (min, max) side fraction of random crops.
        resize_method: `tf.image.resize` method (antialiased).
        max_pixels: bounded decoding limit.
        repeat: repeat forever (then pass `steps_per_epoch` to `fit`).
        cache_lab: cache Lab float16 (fast epochs) rather than uint8 RGB (small cache).

    Returns:
        `tf.data.Dataset` of `(L_enc [B, H, W, 1] float32, ab_enc [B, H, W, 2] float32)`, or
        `(L_enc, {"ab": ab_enc, "scene": int32 [B]})` with labels.

    Reference:
        The pipelines of the five papers (resize to a fixed size, Lab, normalise); Zhang et al.
        (2016) for crop/flip augmentation; Iizuka et al. (2016) for scene labels.
    """
    if batch_size < 1:
        raise ValueError(f"build_dataset: batch_size must be >= 1, got {batch_size}")
    augment = training if augment is None else augment
    drop_remainder = training if drop_remainder is None else drop_remainder
    size = _size_pair(image_size)
    norm = get_normalization(normalization)
    has_labels = labels is not None
    paths = [os.fspath(p) for p in paths]

    dataset = build_image_dataset(
        paths, size, labels=labels, resize_method=resize_method, max_pixels=max_pixels,
        num_parallel_calls=num_parallel_calls,
    )
    if cache_lab:
        def to_lab(image, *label):
            return (rgb_to_lab_cached(image), *label) if label else rgb_to_lab_cached(image)

        dataset = dataset.map(to_lab, num_parallel_calls=num_parallel_calls, deterministic=True)
    dataset = _apply_cache(dataset, cache, paths, size, resize_method, "lab16" if cache_lab else "rgb8")
    if training:
        buffer = shuffle_buffer or default_shuffle_buffer(len(paths), size, 2 if cache_lab else 1)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls,
                            deterministic=True)

    def targets(images, labels_=None):
        if cache_lab:
            return encode_lab(images, norm, labels_)
        return to_model_targets(images, norm, labels_)

    if augment:
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        dataset = tf.data.Dataset.zip(dataset, randoms)

        def augmented_targets(element, random):
            element = element if has_labels else (element,)
            stateless_seed = tf.stack([random, tf.constant(seed, tf.int64)])
            images = augment_batch(element[0], stateless_seed, crop_scale=crop_scale)
            if not cache_lab:  # augment_batch scaled uint8 RGB to [0, 1]
                images = tf.clip_by_value(images, 0.0, 1.0)
            return targets(images, *element[1:])

        dataset = dataset.map(augmented_targets, num_parallel_calls=num_parallel_calls, deterministic=True)
    else:
        dataset = dataset.map(lambda *e: targets(*e), num_parallel_calls=num_parallel_calls, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(AUTOTUNE)


def dataset_cardinality_hint(num_paths: int, batch_size: int, drop_remainder: bool) -> int:
    """Batches per epoch when no file is dropped (tf.data cannot know it after `ignore_errors`)."""
    return num_paths // batch_size if drop_remainder else math.ceil(num_paths / batch_size)


__all__ = [
    "AUTOTUNE",
    "image_header_shape",
    "decode_image_bounded",
    "resize_uint8",
    "decode_and_resize",
    "augment",
    "augment_image",
    "augment_batch",
    "rgb_to_lab_cached",
    "encode_lab",
    "to_model_targets",
    "cache_filename",
    "default_shuffle_buffer",
    "build_image_dataset",
    "build_dataset",
    "dataset_cardinality_hint",
]
