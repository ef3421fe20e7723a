"""Encoded image bytes -> uint8 RGB at a fixed size, reading the header before any pixel.

One job: turn a file's bytes into a bounded, decoded, resized image, in TensorFlow ops (eagerly, in
`Dataset.map`, and on tf.data service workers).

Bounded decoding: the header's claimed size (JPEG, PNG, GIF, BMP, WebP; for a GIF, its largest
frame, by which TensorFlow sizes it) is checked against `max_pixels` before decoding; a file whose
size cannot be read from its header, or whose header is cut short, is refused (fail closed), as is
an animated WebP (TensorFlow 2.21's decoder aborts the process on one). The pipeline drops any file
that fails here and names it once (`decodable.DropReport`).

JPEGs are decoded with libjpeg's DCT scaling (`ratio` 2, 4 or 8) whenever the image stays at least
as large as the target: a large photo reduced to 128 px decodes several times faster. Resizing
squashes to the fixed training size, as the papers did (area when shrinking, else antialiased
bilinear).
"""

from __future__ import annotations

import tensorflow as tf

from colorization_tf.data.limits import MAX_PIXELS

DEFAULT_RESIZE_METHOD = "auto"
""""area" (box-filter averaging, antialiased by construction) when shrinking both sides, "bilinear"
when enlarging; about 3x cheaper than antialiased bilinear for the same quality when shrinking."""

RESIZE_METHODS = ("auto", "area", "bilinear", "bicubic", "nearest", "lanczos3", "lanczos5", "gaussian", "mitchellcubic")
"""Resize methods of `resize_float` (`tf.image.resize`'s, antialiased; "nearest": Keras' image loaders' default)."""

_JPEG_RATIOS = (1, 2, 4, 8)
HEADER_BYTES = 32
"""Bytes of a file the header parsers look at (the furthest field read, WebP's, ends at byte 30)."""
_ZERO_HEADER = b"\0" * HEADER_BYTES
_WEBP_ANIMATION_FLAG = 0x02
"""Bit of the VP8X flags byte (byte 20) marking an animated WebP."""
_FORMAT_JPEG, _FORMAT_PNG, _FORMAT_GIF, _FORMAT_BMP, _FORMAT_WEBP, _FORMAT_OTHER = range(6)


def size_pair(image_size) -> tuple[int, int]:
    """An image size given as an int (square) or (height, width) -> (height, width) ints."""
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
    return round_to_uint8(resize_float(image, image_size, method))


def resize_float(image: tf.Tensor, image_size, method: str = DEFAULT_RESIZE_METHOD) -> tf.Tensor:
    """`resize_uint8` before its rounding: float32 in [0, 255]."""
    height, width = size_pair(image_size)
    if method == "auto":
        shape = tf.shape(image)
        shrinking = tf.logical_and(shape[-3] >= height, shape[-2] >= width)
        return tf.cond(
            shrinking,
            lambda: tf.image.resize(image, [height, width], method="area"),
            lambda: tf.image.resize(image, [height, width], method="bilinear", antialias=True),
        )
    if method not in RESIZE_METHODS:
        raise ValueError(f"colorization_tf/data/decode.py: resize method {method!r}: choose one of {', '.join(RESIZE_METHODS)}")
    # float32 in: "nearest" keeps its input's dtype (uint8 stays uint8), the other methods return float32
    return tf.image.resize(tf.cast(image, tf.float32), [height, width], method=method, antialias=True)


def round_to_uint8(values: tf.Tensor) -> tf.Tensor:
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
    size = size_pair(image_size)
    image = decode_image_bounded(tf.io.read_file(path), max_pixels=max_pixels, min_shape=size)
    return resize_uint8(image, size, method)


__all__ = [
    "DEFAULT_RESIZE_METHOD",
    "RESIZE_METHODS",
    "GIF_WALK_MAX_STEPS",
    "HEADER_BYTES",
    "size_pair",
    "gif_frame_extent",
    "image_header_shape",
    "decode_image_bounded",
    "resize_uint8",
    "resize_float",
    "round_to_uint8",
    "decode_and_resize",
]
