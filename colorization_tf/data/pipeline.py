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

Decoding (bounded by the header's claimed size, JPEGs DCT-scaled) is `data.decode`; the random
crops and flips are `data.augment`. A file that fails to decode is dropped and named once in a
warning (`decodable.DropReport`) instead of stopping training. Scan folders with
`files.scan_images` first (it checks each file with this decoder) or lay them out with
`datasets/prepare.py`: then the files are known to decode and every dataset has a known length.

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
from colorization_tf.data.augment import DEFAULT_CROP_SCALE, boxes_from_uniform, crop_resize_boxes, crop_uniforms, random_windows
from colorization_tf.data.decode import (
    DEFAULT_RESIZE_METHOD,
    decode_image_bounded,
    resize_float,
    round_to_uint8,
    size_pair,
)
from colorization_tf.data.files import MAX_PIXELS

AUTOTUNE = tf.data.AUTOTUNE

SHUFFLE_BUFFER_BYTES = 256 * 2**20
"""Memory the automatic shuffle buffer may use (uint8 images at the training size)."""


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
    height, width = size_pair(image_size)
    digest = hashlib.sha1("\n".join([method, *map(str, paths)]).encode("utf-8")).hexdigest()[:12]
    return f"{os.fspath(prefix)}.{form}.{height}x{width}.{digest}.tfcache"


def default_shuffle_buffer(num_images: int, image_size, bytes_per_value: int = 1) -> int:
    """Whole dataset when it fits in `SHUFFLE_BUFFER_BYTES`, else as many images as fit."""
    height, width = size_pair(image_size)
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
        resized = resize_float(image, size, resize_method)
        image = lab16_from_resized(resized) if to_lab else round_to_uint8(resized)
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
    size = size_pair(image_size)
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
    size = _stored_size(size_pair(image_size), augment, crop_scale)
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
    size = size_pair(image_size)
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
            crop = (crop_uniforms(tf.shape(element[0])[0], stateless_seed), mode)
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
    return rgb_to_lab_cached(round_to_uint8(resized))



def _encoded_batch(images: tf.Tensor, crop, norm, from_rgb: bool) -> tf.Tensor:
    """A cached batch -> encoded Lab `[B, H, W, 3]`: optional random crop + flip, Lab (uint8 RGB caches),
    normalisation. `crop`: None or (`crop_uniforms` `[4, B]`, mode) with mode ("window", height,
    width) for `random_windows` or ("scale", min, max) for bilinear crops (`crop_resize_boxes`)."""
    if crop is not None and crop[1][0] == "window":
        images = random_windows(images, crop[0], crop[1][1:])
        crop = None
    boxes = None if crop is None else boxes_from_uniform(crop[0], flip=True, crop_scale=crop[1][1:])
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
