"""tf.data input pipelines: files -> (encoded L, encoded ab targets), fast and deterministic.

Order:

    [one map per image] read + check header (bounded) -> decode -> fixed resize -> sRGB->Lab
    (float16) -> [drop broken files, each named once] -> cache (memory or file) -> shuffle -> batch
    -> [one map per batch] augment (random crop + flip) and the model's normalisation -> prefetch

The colour conversion is the costly step, so it runs before the cache: epochs served from the cache
only shuffle, crop and rescale. (`cache_lab=False` caches uint8 RGB instead, half the bytes, and
converts each epoch after batching.) Everything before the cache is done once; at 128 px the Lab
cache is ~98 KB per image, ~128 KB with the default crops (a 100k-image folder is ~13 GB: use a
file cache; file paths are streamed and never decoded all at once).

Speed (measured in `benchmarks/bench_pipeline.py`, figures in `benchmarks/README.md`):
- one map per image and one per batch: tf.data's cost per map call and per small op is tens of
  microseconds, as much as the arithmetic on a 128 px image;
- the Lab conversion and the per-batch crop + normalisation are XLA-compiled (`JIT_COMPILE`):
  fused into a few loops instead of ~20 full passes over memory;
- the default fixed-size crops cut exact windows out of a cached image 1/0.875 larger (gathers,
  no interpolation); scale-jitter crops (`crop_scale` a range) cost twice as much per epoch;
- the crop's random numbers are one op per batch.

Bounded decoding: the header's claimed size (JPEG, PNG, GIF, BMP, WebP; for a GIF, its largest
frame, by which TensorFlow sizes it) is checked against `max_pixels` before decoding; a file whose
size cannot be read from its header, or whose header is cut short, is refused (fail closed), as is
an animated WebP (TensorFlow 2.21's decoder aborts the process on one), and any file that fails
(unreadable size, undecodable, truncated, too large) is dropped and named once in a warning
(`decodable.DropReport`) instead of stopping training. Scan folders with `files.scan_images` first
(it checks each file with this decoder) or lay them out with `datasets/prepare.py`: then the files
are known to decode and every dataset has a known length.

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

import functools
import hashlib
import math
import os
import sys
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from colorization_tf.color import get_normalization, rgb_to_lab, split_lab
from colorization_tf.data import decodable
from colorization_tf.data.files import MAX_PIXELS

AUTOTUNE = tf.data.AUTOTUNE

DEFAULT_RESIZE_METHOD = "auto"
""""area" (box-filter averaging, antialiased by construction) when shrinking both sides, "bilinear"
when enlarging; about 3x cheaper than antialiased bilinear for the same quality when shrinking."""

DEFAULT_CROP_SCALE = (0.875, 0.875)
"""Random crops keep this fraction (min, max) of each side (resized back to full size by
`augment_batch`). The default, one fixed fraction, is the papers' fixed-size crops (224 of 256 in
Zhang et al. and Iizuka et al.): the training pipelines then cache images 1/0.875 larger and cut
exact windows out of them, with no interpolation (twice as fast per epoch and sharper). A range
(min < max) adds scale jitter: crops of the training-size image resized back (bilinear)."""

SHUFFLE_BUFFER_BYTES = 256 * 2**20
"""Memory the automatic shuffle buffer may use (uint8 images at the training size)."""

_JPEG_RATIOS = (1, 2, 4, 8)
HEADER_BYTES = 32
"""Bytes of a file the header parsers look at (the furthest field read, WebP's, ends at byte 30)."""
_ZERO_HEADER = b"\0" * HEADER_BYTES
_WEBP_ANIMATION_FLAG = 0x02
"""Bit of the VP8X flags byte (byte 20) marking an animated WebP."""
_FORMAT_JPEG, _FORMAT_PNG, _FORMAT_GIF, _FORMAT_BMP, _FORMAT_WEBP, _FORMAT_OTHER = range(6)


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


def _header(contents: tf.Tensor) -> tf.Tensor:
    """The first `HEADER_BYTES` of the file, zero-padded to that length: every field the parsers
    read lies inside it, so no read runs past the end of a short file. (`tf.strings.substr` past the
    end raises an error quoting the bytes, which eager Python turns into a UnicodeDecodeError.)"""
    head = tf.strings.substr(contents, 0, HEADER_BYTES)
    return tf.strings.join([head, tf.strings.substr(_ZERO_HEADER, 0, HEADER_BYTES - tf.strings.length(head))])


def _image_format(contents: tf.Tensor) -> tf.Tensor:
    head = _header(contents)
    magic = tf.strings.substr(head, 0, 8)
    formats = [
        (tf.strings.substr(magic, 0, 2) == b"\xff\xd8", _FORMAT_JPEG),
        (magic == b"\x89PNG\r\n\x1a\n", _FORMAT_PNG),
        (tf.strings.substr(magic, 0, 3) == b"GIF", _FORMAT_GIF),
        (tf.strings.substr(magic, 0, 2) == b"BM", _FORMAT_BMP),
        (
            tf.logical_and(tf.strings.substr(magic, 0, 4) == b"RIFF", tf.strings.substr(head, 8, 4) == b"WEBP"),
            _FORMAT_WEBP,
        ),
    ]
    result = tf.constant(_FORMAT_OTHER, tf.int32)
    for matches, code in reversed(formats):
        result = tf.where(matches, tf.constant(code, tf.int32), result)
    return result


GIF_WALK_MAX_STEPS = 1 << 15
"""Blocks and sub-blocks `gif_frame_extent` walks at most (an 8 MB GIF of full 255-byte sub-blocks, ~1 s);
a GIF that needs more is refused (its extent is reported as unbounded)."""


@tf.function(input_signature=[tf.TensorSpec([], tf.string)])
def gif_frame_extent(contents) -> tf.Tensor:
    """(height, width) that covers every frame of a GIF: the largest `top + height`, `left + width`.

    TensorFlow's GIF decoder sizes its output by the largest frame, not by the logical screen of
    the header, and decodes every frame even for the first one: a GIF whose header claims 4x4 pixels
    and whose second frame claims 9000x9000 is decoded at 9000x9000. Walks the block structure
    (extensions and image data are skipped sub-block by sub-block, never decoded); stops at the
    trailer or where the file ends or stops making sense. Plain TensorFlow ops (a `tf.while_loop` in
    a graph, also when called eagerly), so a pipeline holding it runs on tf.data service workers in
    other processes.

    Args:
        contents: scalar string tensor, the file's bytes (a GIF).

    Returns:
        int64 `[2]`: (height, width); (0, 0) when no frame is found; (2**31, 2**31) when the walk
        needs more than `GIF_WALK_MAX_STEPS` steps (far beyond any `max_pixels`, their product still an int64).
    """
    raw = tf.cast(tf.io.decode_raw(contents, tf.uint8), tf.int64)
    size = tf.size(raw, out_type=tf.int64)
    padded = tf.concat([raw, tf.zeros([16], tf.int64)], 0)  # reads past the end give 0

    def at(i):
        return tf.gather(padded, tf.minimum(tf.cast(i, tf.int64), size + 15))

    def le16(i):
        return at(i) + 256 * at(i + 1)

    def colour_table(flags):  # bytes of the colour table that flags (bit 7: present, bits 0-2: size) announce
        return tf.where(flags >= 128, 3 * tf.bitwise.left_shift(tf.constant(2, tf.int64), flags % 8), tf.constant(0, tf.int64))

    zero = tf.constant(0, tf.int64)

    def body(position, height, width, in_sub_blocks, done):
        byte = at(position)
        # in a run of sub-blocks: a length byte and its data, or the 0 that ends the run
        sub_next = tf.where((position < size) & (byte != 0), position + 1 + byte, position + 1)
        sub_more = (position < size) & (byte != 0)
        # at a block: an extension (label, then sub-blocks) or an image descriptor (left, top, width,
        # height, flags, local colour table, LZW code size byte, then sub-blocks); else the end
        image = (byte == 0x2C) & (position + 10 <= size)
        extension = byte == 0x21
        block_next = tf.where(image, position + 10 + colour_table(at(position + 9)) + 1, position + 2)
        new_height = tf.where(image, tf.maximum(height, le16(position + 3) + le16(position + 7)), height)
        new_width = tf.where(image, tf.maximum(width, le16(position + 1) + le16(position + 5)), width)
        ends = (position >= size) | ~(image | extension)
        return (
            tf.where(in_sub_blocks, sub_next, block_next),
            tf.where(in_sub_blocks, height, new_height),
            tf.where(in_sub_blocks, width, new_width),
            tf.where(in_sub_blocks, sub_more, ~ends),
            tf.where(in_sub_blocks, tf.constant(False), ends),
        )

    start = 13 + tf.where(size > 10, colour_table(at(10)), zero)
    state = (start, zero, zero, tf.constant(False), tf.constant(False))
    steps, (_, height, width, _, done) = tf.while_loop(
        lambda step, state: ~state[4],
        lambda step, state: (step + 1, body(*state)),
        (tf.constant(0, tf.int64), state),
        maximum_iterations=GIF_WALK_MAX_STEPS,
    )
    unbounded = tf.constant(2**31, tf.int64)
    return tf.where(done, tf.stack([height, width]), tf.stack([unbounded, unbounded]))


def image_header_shape(contents: tf.Tensor) -> tf.Tensor:
    """(height, width) claimed by an encoded image's header, without decoding pixels.

    Args:
        contents: scalar string tensor, the file's bytes.

    Returns:
        int64 `[2]` for JPEG, PNG, GIF, BMP and WebP (lossy "VP8 ", lossless "VP8L", extended
        "VP8X"); (-1, -1) for any other format or WebP chunk, which `decode_image_bounded` refuses.
        A header too short or corrupt to parse raises `InvalidArgumentError`.
    """
    head = _header(contents)
    length = tf.strings.length(contents)

    def read(start, size, little_endian):  # a field of the (padded) header; the file must reach its end
        reached = tf.debugging.assert_greater_equal(
            length, tf.constant(start + size), message="image header truncated"
        )
        with tf.control_dependencies([reached]):
            return _bytes_to_int(head, start, size, little_endian)

    def jpeg():
        return tf.cast(tf.image.extract_jpeg_shape(contents)[:2], tf.int64)

    def png():  # IHDR: width then height, big-endian, at byte 16
        return tf.stack([read(20, 4, False), read(16, 4, False)])

    def gif():  # logical screen width, height, little-endian, at byte 6; and every frame (see `gif_frame_extent`)
        return tf.maximum(tf.stack([read(8, 2, True), read(6, 2, True)]), gif_frame_extent(contents))

    def bmp():  # width, height at byte 18 (signed; negative height = top-down): 32-bit in BITMAPINFOHEADER
        # and its successors, 16-bit in the 12-byte OS/2 BITMAPCOREHEADER
        core = tf.equal(read(14, 4, True), 12)
        width = tf.where(core, _bytes_to_int(head, 18, 2, True), read(18, 4, True))
        height = tf.where(core, _bytes_to_int(head, 20, 2, True), read(22, 4, True))
        height = tf.where(height >= 2**31, 2**32 - height, height)
        return tf.stack([height, width])

    def webp():  # RIFF container; the first chunk's FourCC at byte 12 says which header follows
        chunk = tf.strings.substr(head, 12, 4)

        def lossy():  # VP8 key frame: 14-bit width, height (little-endian, top 2 bits = scale) at 26, 28
            return tf.stack([read(28, 2, True) % 2**14, read(26, 2, True) % 2**14])

        def lossless():  # VP8L: after the 0x2f signature, 14 bits width - 1 then 14 bits height - 1
            bits = read(21, 4, True)
            return tf.stack([(bits // 2**14) % 2**14 + 1, bits % 2**14 + 1])

        def extended():  # VP8X: 24-bit canvas width - 1 at 24, height - 1 at 27
            return tf.stack([read(27, 3, True) + 1, read(24, 3, True) + 1])

        kind = tf.where(chunk == b"VP8 ", 0, tf.where(chunk == b"VP8L", 1, tf.where(chunk == b"VP8X", 2, 3)))
        return tf.switch_case(kind, [lossy, lossless, extended, other])

    def other():
        return tf.constant([-1, -1], tf.int64)

    return tf.switch_case(_image_format(contents), [jpeg, png, gif, bmp, webp, other])


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
    # JPEG (the common case) has its own branch: one header parse and no format dispatch.
    is_jpeg = tf.equal(tf.strings.substr(contents, 0, 2), b"\xff\xd8")

    def checked(shape):
        # Fail closed: a size the header parser cannot read (-1) is refused, not waved through.
        known = tf.debugging.assert_non_negative(
            shape, message="image size unreadable from the header (format not JPEG/PNG/GIF/BMP/WebP)"
        )
        limit = tf.constant(max_pixels, tf.int64)
        with tf.control_dependencies([known]):
            # Each side first, so that the product of two huge 32-bit sides cannot overflow int64.
            check = tf.debugging.assert_less_equal(
                tf.where(tf.reduce_all(shape <= limit), shape[0] * shape[1], limit + 1), limit,
                message="image too large (header claims more than max_pixels)",
            )
        with tf.control_dependencies([known, check]):
            return tf.identity(contents)  # every decode below waits for the size check

    def generic():
        data = checked(image_header_shape(contents))

        def webp():  # TF's WebP decoder refuses channels=3 for a WebP with alpha: decode as is, drop alpha
            # TF 2.21's decoder corrupts the heap on animated WebPs (the process aborts): refuse them first.
            head = _header(contents)
            animated = tf.logical_and(
                tf.equal(tf.strings.substr(head, 12, 4), b"VP8X"),
                tf.not_equal(tf.bitwise.bitwise_and(_bytes_to_int(head, 20, 1, True), _WEBP_ANIMATION_FLAG), 0),
            )
            still = tf.debugging.assert_equal(
                animated, False, message="animated WebP: not decoded here (re-encode its first frame, e.g. as PNG)"
            )
            with tf.control_dependencies([still]):
                return tf.io.decode_image(data, channels=0, expand_animations=False, dtype=tf.uint8)[..., :3]

        def others():
            return tf.io.decode_image(data, channels=3, expand_animations=False, dtype=tf.uint8)

        image = tf.cond(tf.equal(_image_format(contents), _FORMAT_WEBP), webp, others)
        image.set_shape([None, None, 3])
        return image

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(contents)[:2], tf.int64)
        data = checked(shape)
        if min_shape is None:
            return tf.ensure_shape(tf.io.decode_jpeg(data, channels=3), [None, None, 3])
        target = tf.constant(min_shape, tf.int64)
        fits = [tf.reduce_all(shape // r >= target) for r in _JPEG_RATIOS]
        index = tf.reduce_sum(tf.cast(tf.stack(fits[1:]), tf.int32))  # ratios fitting are a prefix
        branches = [
            (lambda r=r: tf.ensure_shape(tf.io.decode_jpeg(data, channels=3, ratio=r), [None, None, 3]))
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
    return _quantize_uint8(_resize_float(image, image_size, method))


def _resize_float(image: tf.Tensor, image_size, method: str = DEFAULT_RESIZE_METHOD) -> tf.Tensor:
    """`resize_uint8` before its rounding: float32 in [0, 255]."""
    height, width = _size_pair(image_size)
    if method == "auto":
        shape = tf.shape(image)
        shrinking = tf.logical_and(shape[-3] >= height, shape[-2] >= width)
        return tf.cond(
            shrinking,
            lambda: tf.image.resize(image, [height, width], method="area"),
            lambda: tf.image.resize(image, [height, width], method="bilinear", antialias=True),
        )
    return tf.image.resize(image, [height, width], method=method, antialias=True)


def _quantize_uint8(values: tf.Tensor) -> tf.Tensor:
    return tf.cast(tf.clip_by_value(tf.round(values), 0.0, 255.0), tf.uint8)


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


def random_crop_boxes(batch_size, seed: tf.Tensor, *, flip: bool = True, crop_scale=DEFAULT_CROP_SCALE) -> tf.Tensor:
    """The random crop boxes of `augment_batch`: `[B, 4]` float32 (top, left, bottom, right) in [0, 1].

    A mirrored image has left > right. Stateless: the same `seed` gives the same boxes.
    """
    return _boxes_from_uniform(_crop_uniforms(batch_size, seed), flip=flip, crop_scale=crop_scale)


def _crop_uniforms(batch_size, seed: tf.Tensor) -> tf.Tensor:
    """The random numbers behind `random_crop_boxes`: one op, cheap per batch."""
    return tf.random.stateless_uniform([4, batch_size], tf.cast(seed, tf.int64))


def _boxes_from_uniform(uniform: tf.Tensor, *, flip: bool, crop_scale) -> tf.Tensor:
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


def _load_images(paths, size, labels, resize_method, max_pixels, num_parallel_calls, *, to_lab: bool, verified=None,
                 portable: bool = False):
    """Files -> uint8 RGB, or float16 Lab (`to_lab`), at `size` in one map per image.

    A file that fails is dropped and named once in a warning (`decodable.DropReport`). When every
    file is known to decode (`verified`, or by default `decodable.all_decodable`), the dataset has a
    known length, `len(paths)` (a file that fails all the same then ends the pass with an error).
    """
    if not paths:
        raise ValueError("build_image_dataset: no image paths given")
    columns = [tf.range(len(paths), dtype=tf.int64), tf.constant(paths, tf.string)]
    if labels is not None:
        labels = [int(label) for label in labels]
        if len(labels) != len(paths):
            raise ValueError(f"build_image_dataset: {len(labels)} labels for {len(paths)} paths")
        columns.append(tf.constant(labels, tf.int32))
    load = _image_loader(tuple(size), resize_method, int(max_pixels), to_lab, JIT_COMPILE)

    def indexed(index, path, *label):
        loaded = load(path, *label)
        return (index, *loaded) if label else (index, loaded)

    dataset = tf.data.Dataset.from_tensor_slices(tuple(columns))
    if portable:
        return _load_each_or_name_it(dataset, load, num_parallel_calls)
    dataset = dataset.map(indexed, num_parallel_calls=num_parallel_calls, deterministic=True)
    dataset = _name_dropped(dataset.ignore_errors(), decodable.DropReport(paths, max_pixels), paths)
    if verified is None:
        verified = decodable.all_decodable(paths)
    if verified:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(paths)))
    return dataset


def _name_dropped(dataset, report, paths):
    """`(index, *element)` after `ignore_errors` -> `element`, calling `report.report(first, stop)`
    (a `decodable.DropReport`) for every run of missing indices (a sentinel index `len(paths)`
    closes the stream to catch the tail)."""
    total = len(paths)
    sentinel = tuple(tf.zeros(spec.shape, spec.dtype) for spec in dataset.element_spec)
    dataset = dataset.concatenate(tf.data.Dataset.from_tensors((tf.constant(total, tf.int64), *sentinel[1:])))

    def with_previous(previous, element):
        return element[0], (previous, *element)

    def check(previous, index, *element):
        reported = tf.cond(
            index - previous > 1,
            lambda: tf.py_function(lambda a, b: report.report(a, b) or 0, [previous + 1, index], tf.int64),
            lambda: tf.constant(0, tf.int64),
        )
        with tf.control_dependencies([reported]):
            return (tf.identity(index), *element)

    dataset = dataset.scan(tf.constant(-1, tf.int64), with_previous).map(check)
    dataset = dataset.filter(lambda index, *element: index < total)
    return dataset.map(lambda index, *element: element if len(element) > 1 else element[0])


def _load_each_or_name_it(dataset, load, num_parallel_calls):
    """`(index, path[, label])` -> the loaded element, in plain TensorFlow ops (`portable=True`).

    Each file is loaded in a one-element dataset of its own whose errors are ignored, followed by a
    "dropped" marker: the first element says whether it loaded, so a failed file is named (a
    TensorFlow print to the standard error of the process that loads it) by itself, wherever the
    tf.data service hands it, and no known length is asserted (each data worker sees a share).
    """

    def one(index, path, *label):
        loaded = tf.data.Dataset.from_tensors((path, *label)).map(load).ignore_errors()
        loaded = loaded.map(lambda *element: (tf.constant(True), path, element))
        blank = tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype), loaded.element_spec[2])
        return loaded.concatenate(tf.data.Dataset.from_tensors((tf.constant(False), path, blank))).take(1)

    def name_if_dropped(ok, path, element):
        named = tf.cond(ok, lambda: tf.constant(True), lambda: _print_dropped(path))
        with tf.control_dependencies([named]):
            return tf.identity(ok), element

    dataset = dataset.interleave(one, cycle_length=4, num_parallel_calls=num_parallel_calls, deterministic=True)
    dataset = dataset.map(name_if_dropped).filter(lambda ok, element: ok)
    return dataset.map(lambda ok, element: element if len(element) > 1 else element[0])


def _print_dropped(path) -> tf.Tensor:
    with tf.control_dependencies([tf.print("colorization_tf.data: skipped (unreadable or undecodable):", path,
                                           output_stream=sys.stderr)]):
        return tf.constant(False)


@functools.cache
def _image_loader(size, resize_method, max_pixels, to_lab, jit_compile):
    """`path [, label] -> image [, label]` as a tf.function: traced once per signature and reused by
    every dataset (tracing the bounded decoder's branches costs ~0.1 s per pipeline otherwise)."""
    lab16_from_resized = _LAB16_FROM_RESIZED_XLA if jit_compile else _lab16_from_resized

    def load(path, *label):
        image = decode_image_bounded(tf.io.read_file(path), max_pixels=max_pixels, min_shape=size)
        resized = _resize_float(image, size, resize_method)
        image = lab16_from_resized(resized) if to_lab else _quantize_uint8(resized)
        return (image, *label) if label else image

    return tf.function(load)


def build_image_dataset(
    paths: Sequence,
    image_size,
    *,
    labels: Sequence[int] | None = None,
    cache=None,
    resize_method: str = DEFAULT_RESIZE_METHOD,
    max_pixels: int = MAX_PIXELS,
    num_parallel_calls=AUTOTUNE,
    verified: bool | None = None,
    portable: bool = False,
) -> tf.data.Dataset:
    """Files -> uint8 images `[H, W, 3]` at a fixed size (or `(image, label)` pairs), in file order.

    A broken file is dropped and named in a logged warning. `cache`: None, "memory", or a file prefix
    (see `cache_filename`). `verified`, `portable`: see `build_dataset`. Used by the evaluation and the
    colour-distribution plot.
    """
    paths = [os.fspath(p) for p in paths]
    size = _size_pair(image_size)
    dataset = _load_images(paths, size, labels, resize_method, max_pixels, num_parallel_calls, to_lab=False,
                           verified=verified, portable=portable)
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
    verified: bool | None = None,
    portable: bool = False,
) -> tf.data.Dataset:
    """The training/evaluation pipeline: files -> batches of (encoded L, encoded ab targets).

    Steps: decode (bounded) -> resize -> Lab (float16; with `cache_lab`) -> cache -> shuffle ->
    batch -> augment (random crop + flip of the whole batch) -> normalise -> prefetch. With `cache_lab`
    the colour conversion runs once per image instead of once per epoch, and augmentation
    interpolates Lab values (bilinear, like resizing the RGB image then converting, to within
    rounding); `cache_lab=False` caches uint8 RGB (half the bytes) and converts every epoch.

    Args:
        paths: image files (scan them first with `files.scan_images`; broken ones are dropped and named).
        image_size: int or (height, width): the fixed size every image is resized to.
        batch_size: images per batch.
        normalization: name or `color.Normalization` of the model (e.g. "polychromify").
        labels: optional int class per path; the targets become `{"ab": ..., "scene": ...}`.
        training: shuffle (and by default augment and drop the last partial batch).
        augment: random flips and crops; default = `training`.
        cache: None, "memory", or a file prefix for data that does not fit in memory
            (see `cache_filename`; 128 px Lab float16 is ~98 KB per image, ~128 KB with the
            default fixed-size crops, which cache images 1/0.875 larger).
        shuffle_buffer: default: the whole dataset if it fits in 256 MiB.
        seed: makes shuffling and augmentation reproducible; each pass over the dataset differs
            (a new process restarts the sequence: use `build_epoch_datasets` for exact resumes).
        drop_remainder: default = `training` (fixed shapes: no XLA recompiles).
        num_parallel_calls: parallelism of every map.
        crop_scale: (min, max) side fraction of random crops: one value (the default) cuts exact
            fixed-size windows out of a larger cached image; a range adds bilinear scale jitter.
        resize_method: `tf.image.resize` method (antialiased).
        max_pixels: bounded decoding limit.
        repeat: repeat forever (then pass `steps_per_epoch` to `fit`).
        cache_lab: cache Lab float16 (fast epochs) rather than uint8 RGB (small cache).
        verified: the files are known to decode, so the dataset has a known length (Keras shows
            `13/13` and an ETA from the first epoch). Default: true when every file was checked by
            `files.scan_images` in this process or lies in a folder `datasets/prepare.py` completed
            (`decodable.all_decodable`). Without it a broken file is dropped and named in a warning;
            with it, a file that fails anyway is named and the pass ends with an error.
        portable: plain TensorFlow ops, which tf.data service workers in other processes or on
            other machines can run (`data.service`), each with a share of the files: a dropped file
            is named by a TensorFlow print on the process that decodes it (not a warning with the
            reason in this process's log, a Python callback), and no known length is asserted.

    Returns:
        `tf.data.Dataset` of `(L_enc [B, H, W, 1] float32, ab_enc [B, H, W, 2] float32)`, or
        `(L_enc, {"ab": ab_enc, "scene": int32 [B]})` with labels.

    Reference:
        The pipelines of the five papers (resize to a fixed size, Lab, normalise); Zhang et al.
        (2016) for crop/flip augmentation; Iizuka et al. (2016) for scene labels.
    """
    if batch_size < 1:
        raise ValueError(f"build_dataset: batch_size must be >= 1, got {batch_size}")
    examples = _cached_examples(
        paths, image_size, labels=labels, cache=cache, resize_method=resize_method, max_pixels=max_pixels,
        num_parallel_calls=num_parallel_calls, cache_lab=cache_lab,
        augment=training if augment is None else augment, crop_scale=crop_scale, verified=verified,
        portable=portable,
    )
    return _batches(
        examples, len(paths), image_size, batch_size=batch_size, normalization=normalization,
        has_labels=labels is not None, training=training, augment=augment, shuffle_buffer=shuffle_buffer,
        seed=seed, reshuffle_each_iteration=True, drop_remainder=drop_remainder,
        num_parallel_calls=num_parallel_calls, crop_scale=crop_scale, repeat=repeat, cache_lab=cache_lab,
    )


def epoch_seed(seed: int, epoch: int) -> int:
    """The shuffle/augmentation seed of one epoch: a function of (seed, epoch) only."""
    return int(seed) * 1_000_003 + int(epoch) + 1


def build_epoch_datasets(
    paths: Sequence,
    *,
    image_size,
    batch_size: int,
    normalization,
    labels: Sequence[int] | None = None,
    augment: bool = True,
    cache="memory",
    shuffle_buffer: int | None = None,
    seed: int = 0,
    drop_remainder: bool = True,
    num_parallel_calls=AUTOTUNE,
    crop_scale=DEFAULT_CROP_SCALE,
    resize_method: str = DEFAULT_RESIZE_METHOD,
    max_pixels: int = MAX_PIXELS,
    cache_lab: bool = True,
    verified: bool | None = None,
    portable: bool = False,
):
    """Training data as `epoch -> Dataset`: one cached pipeline, each epoch's order a function of (seed, epoch).

    Decoding, resizing and Lab conversion happen once, into one cache shared by every epoch; each
    epoch then shuffles and augments the cached images with `epoch_seed(seed, epoch)`. A run resumed
    at epoch k therefore sees exactly the batches an uninterrupted run sees (plain `build_dataset`
    with `training=True` reshuffles on every pass, so a fresh process would restart the sequence).

    The returned callable takes a Python int epoch and is marked like `training.python_epochs`, so
    it can be passed straight to `training.train` as `train_ds`.

    Args:
        paths, image_size, batch_size, normalization, labels, augment, cache, shuffle_buffer, seed,
        drop_remainder, num_parallel_calls, crop_scale, resize_method, max_pixels, cache_lab, verified,
        portable:
            as in `build_dataset` (training mode; `cache` defaults to "memory").

    Returns:
        `for_epoch(epoch: int) -> tf.data.Dataset` of the same elements as `build_dataset`.

    Reference:
        Lee, Liang & Peaks 2016 (training resumed after spot-instance restarts).
    """
    if batch_size < 1:
        raise ValueError(f"build_epoch_datasets: batch_size must be >= 1, got {batch_size}")
    paths = [os.fspath(p) for p in paths]
    examples = _cached_examples(
        paths, image_size, labels=labels, cache=cache, resize_method=resize_method, max_pixels=max_pixels,
        num_parallel_calls=num_parallel_calls, cache_lab=cache_lab, augment=augment, crop_scale=crop_scale,
        verified=verified, portable=portable,
    )

    def for_epoch(epoch: int) -> tf.data.Dataset:
        if not isinstance(epoch, int):
            raise TypeError(f"build_epoch_datasets: epoch must be a Python int, got {type(epoch).__name__}")
        return _batches(
            examples, len(paths), image_size, batch_size=batch_size, normalization=normalization,
            has_labels=labels is not None, training=True, augment=augment, shuffle_buffer=shuffle_buffer,
            seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False, drop_remainder=drop_remainder,
            num_parallel_calls=num_parallel_calls, crop_scale=crop_scale, repeat=False, cache_lab=cache_lab,
        )

    for_epoch.python_epochs = True  # the marker `training.train` looks for (see `training.python_epochs`)
    return for_epoch


def _fixed_crop(crop_scale) -> bool:
    """Crops of one fixed fraction (or none): cut from a larger cached image instead of resized."""
    return crop_scale is None or float(crop_scale[0]) == float(crop_scale[1])


def _stored_size(size, augment, crop_scale) -> tuple[int, int]:
    """The cached image size: the training size, or 1/fraction larger for fixed-size crops."""
    if not augment or crop_scale is None or not _fixed_crop(crop_scale):
        return size
    fraction = float(crop_scale[0])
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"crop_scale must lie in (0, 1], got {crop_scale}")
    return tuple(max(s, round(s / fraction)) for s in size)


def _cached_examples(
    paths, image_size, *, labels, cache, resize_method, max_pixels, num_parallel_calls, cache_lab, augment=False,
    crop_scale=None, verified=None, portable=False,
):
    """Files -> cached uint8 RGB or float16 Lab images (with labels): the once-per-image part.
    Augmented pipelines with fixed-size crops cache images larger (see `DEFAULT_CROP_SCALE`)."""
    size = _stored_size(_size_pair(image_size), augment, crop_scale)
    paths = [os.fspath(p) for p in paths]
    dataset = _load_images(paths, size, labels, resize_method, max_pixels, num_parallel_calls, to_lab=cache_lab,
                           verified=verified, portable=portable)
    return _apply_cache(dataset, cache, paths, size, resize_method, "lab16" if cache_lab else "rgb8")


def _batches(
    dataset, num_images, image_size, *, batch_size, normalization, has_labels, training, augment, shuffle_buffer,
    seed, reshuffle_each_iteration, drop_remainder, num_parallel_calls, crop_scale, repeat, cache_lab,
):
    """Cached images -> shuffle -> batch -> augment -> normalised targets -> prefetch: the per-epoch part."""
    augment = training if augment is None else augment
    drop_remainder = training if drop_remainder is None else drop_remainder
    size = _size_pair(image_size)
    stored = _stored_size(size, augment, crop_scale)
    norm = get_normalization(normalization)
    if training:
        buffer = shuffle_buffer or default_shuffle_buffer(num_images, stored, 2 if cache_lab else 1)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=reshuffle_each_iteration)
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder, num_parallel_calls=num_parallel_calls,
                            deterministic=True)

    batch_targets = _batch_targets_compiled if JIT_COMPILE else _batch_targets

    def targets(element, random=None):
        element = element if has_labels else (element,)
        crop = None
        if random is not None:
            stateless_seed = tf.stack([random, tf.constant(seed, tf.int64)])
            mode = ("window", *size) if _fixed_crop(crop_scale) else ("scale", *map(float, crop_scale))
            crop = (_crop_uniforms(tf.shape(element[0])[0], stateless_seed), mode)
        l_encoded, ab_encoded = batch_targets(element[0], crop, norm, not cache_lab)
        if not has_labels:
            return l_encoded, ab_encoded
        return l_encoded, {"ab": ab_encoded, "scene": tf.cast(element[1], tf.int32)}

    if augment:
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=reshuffle_each_iteration)
        dataset = tf.data.Dataset.zip(dataset, randoms)
        dataset = dataset.map(targets, num_parallel_calls=num_parallel_calls, deterministic=True)
    else:
        dataset = dataset.map(lambda *e: targets(e if has_labels else e[0]), num_parallel_calls=num_parallel_calls,
                              deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(AUTOTUNE)


def _lab16_from_resized(resized: tf.Tensor) -> tf.Tensor:
    """Resized float RGB in [0, 255] -> rounded to uint8 -> float16 Lab (the cached form)."""
    return rgb_to_lab_cached(_quantize_uint8(resized))


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
    height, width = _size_pair(size)
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


def _encoded_batch(images: tf.Tensor, crop, norm, from_rgb: bool) -> tf.Tensor:
    """A cached batch -> encoded Lab `[B, H, W, 3]`: optional random crop + flip, Lab (uint8 RGB caches),
    normalisation. `crop`: None or (`_crop_uniforms` `[4, B]`, mode) with mode ("window", height,
    width) for `random_windows` or ("scale", min, max) for bilinear crops (`crop_resize_boxes`)."""
    if crop is not None and crop[1][0] == "window":
        images = random_windows(images, crop[0], crop[1][1:])
        crop = None
    boxes = None if crop is None else _boxes_from_uniform(crop[0], flip=True, crop_scale=crop[1][1:])
    if from_rgb:
        if boxes is not None:  # interpolated RGB is no longer uint8: convert the float values
            images = tf.clip_by_value(crop_resize_boxes(tf.image.convert_image_dtype(images, tf.float32), boxes), 0.0, 1.0)
        lab = rgb_to_lab(images)
    else:
        lab = crop_resize_boxes(images, boxes) if boxes is not None else tf.cast(images, tf.float32)
    offset = tf.constant([norm.l_offset, norm.ab_offset, norm.ab_offset], tf.float32)
    scale = tf.constant([norm.l_scale, norm.ab_scale, norm.ab_scale], tf.float32)
    return (lab - offset) / scale  # Normalization.encode_l / encode_ab on each channel


def _batch_targets(images: tf.Tensor, crop, norm, from_rgb: bool):
    """`_encoded_batch` split into (encoded L `[B, H, W, 1]`, encoded ab `[B, H, W, 2]`)."""
    return split_lab(_encoded_batch(images, crop, norm, from_rgb))


JIT_COMPILE = True
"""XLA-compile (CPU) the per-image Lab conversion and the per-batch crop + normalisation inside the
pipelines: fused, they cost a third of the separate ops. Compiled once per shape (~0.2 s) and reused
by every dataset of the process. Set to False where XLA is unavailable."""

_LAB16_FROM_RESIZED_XLA = tf.function(_lab16_from_resized, jit_compile=True)
_BATCH_TARGETS_XLA = tf.function(_batch_targets, jit_compile=True)
_ENCODED_BATCH_XLA = tf.function(_encoded_batch, jit_compile=True)
_SPLIT_LAB_XLA = tf.function(split_lab, jit_compile=True)


def _batch_targets_compiled(images: tf.Tensor, crop, norm, from_rgb: bool):
    """`_batch_targets` under XLA. With bilinear crops the split is a second compiled function:
    fused into one, XLA would recompute the interpolation's gathers for each output."""
    if crop is None or crop[1][0] == "window":  # no interpolation: nothing costly to recompute
        return _BATCH_TARGETS_XLA(images, crop, norm, from_rgb)
    return _SPLIT_LAB_XLA(_ENCODED_BATCH_XLA(images, crop, norm, from_rgb))


def dataset_cardinality_hint(num_paths: int, batch_size: int, drop_remainder: bool) -> int:
    """Batches per epoch when no file is dropped (the datasets know it themselves when their files are verified)."""
    return num_paths // batch_size if drop_remainder else math.ceil(num_paths / batch_size)


__all__ = [
    "AUTOTUNE",
    "image_header_shape",
    "gif_frame_extent",
    "decode_image_bounded",
    "resize_uint8",
    "decode_and_resize",
    "augment",
    "augment_image",
    "augment_batch",
    "random_crop_boxes",
    "crop_resize_boxes",
    "random_windows",
    "rgb_to_lab_cached",
    "encode_lab",
    "to_model_targets",
    "cache_filename",
    "default_shuffle_buffer",
    "build_image_dataset",
    "build_dataset",
    "build_epoch_datasets",
    "epoch_seed",
    "dataset_cardinality_hint",
]
