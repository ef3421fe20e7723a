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

One `PipelineConfig` holds every setting of a dataset (size, batch, normalisation, training mode,
cache, crops, decoding limits, seed); `build_dataset` and `build_epoch_datasets` take it (or its
fields as keywords). The targets and their per-batch encoding are `data.targets`: every model
family gets the same encoded ab, and Iizuka's model also the scene label.

Reference:
    Iizuka et al. (2016) and Lee et al. (scene labels); Zhang et al. (2016) random crops/flips;
    the input pipelines of Ziegler (2022), PolyChromify (2021), CS520 and Menon & Talukdar (2021).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from colorization_tf.color import get_normalization
from colorization_tf.data import decodable
from colorization_tf.data.augment import DEFAULT_CROP_SCALE, Crop, crop_uniforms
from colorization_tf.data.decode import (
    DEFAULT_RESIZE_METHOD,
    decode_image_bounded,
    resize_float,
    round_to_uint8,
    size_pair,
)
from colorization_tf.data.limits import MAX_PIXELS
from colorization_tf.data.targets import batch_targets, lab16_loader, with_label

AUTOTUNE = tf.data.AUTOTUNE

SHUFFLE_BUFFER_BYTES = 256 * 2**20
"""Memory the automatic shuffle buffer may use (uint8 images at the training size)."""

EPOCH_SEED_STRIDE = 1_000_003
"""`epoch_seed`'s multiplier of the base seed: a prime above any epoch count, so that the epochs of
two base seeds never share a seed."""

JIT_COMPILE = True
"""XLA-compile (CPU) the per-image Lab conversion and the per-batch crop + normalisation inside the
pipelines: fused, they cost a third of the separate ops. Compiled once per shape (~0.2 s) and reused
by every dataset of the process. Set to False where XLA is unavailable."""


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """Everything that shapes a dataset built from image files (`build_dataset`, `build_epoch_datasets`).

    Attributes:
        image_size: int or (height, width): the fixed size every image is resized to.
        batch_size: images per batch.
        normalization: name or `color.Normalization` of the model (e.g. "polychromify").
        training: shuffle (and by default augment and drop the last partial batch).
        augment: random flips and crops; None: `training`.
        cache: None, "memory", or a file prefix for data that does not fit in memory
            (see `cache_filename`; 128 px Lab float16 is ~98 KB per image, ~128 KB with the
            default fixed-size crops, which cache images 1/0.875 larger).
        shuffle_buffer: None: the whole dataset if it fits in `SHUFFLE_BUFFER_BYTES`.
        seed: makes shuffling and augmentation reproducible; each pass over a `build_dataset`
            differs (a new process restarts the sequence: use `build_epoch_datasets` for exact resumes).
        drop_remainder: None: `training` (fixed shapes: no XLA recompiles).
        num_parallel_calls: parallelism of every map.
        crop_scale: (min, max) side fraction of random crops: one value (the default) cuts exact
            fixed-size windows out of a larger cached image; a range adds bilinear scale jitter
            (see `augment.Crop`); None: flips only.
        resize_method: `tf.image.resize` method (antialiased), or "auto" (`decode.DEFAULT_RESIZE_METHOD`).
        max_pixels: bounded decoding limit (`decode.decode_image_bounded`).
        repeat: repeat forever (then pass `steps_per_epoch` to `fit`); `build_dataset` only.
        cache_lab: cache Lab float16 (fast epochs) rather than uint8 RGB (small cache).
        verified: the files are known to decode, so the dataset has a known length (Keras shows
            `13/13` and an ETA from the first epoch). None: true when every file was checked by
            `files.scan_images` in this process or lies in a folder `datasets/prepare.py` completed
            (`decodable.all_decodable`). Without it a broken file is dropped and named in a warning;
            with it, a file that fails anyway is named and the pass ends with an error.
        portable: plain TensorFlow ops, which tf.data service workers in other processes or on
            other machines can run (`data.service`), each with a share of the files: a dropped file
            is named by a TensorFlow print on the process that decodes it (not a warning with the
            reason in this process's log, a Python callback), and no known length is asserted.
    """

    image_size: int | tuple[int, int]
    batch_size: int
    normalization: Any
    training: bool = False
    augment: bool | None = None
    cache: str | os.PathLike | None = None
    shuffle_buffer: int | None = None
    seed: int = 0
    drop_remainder: bool | None = None
    num_parallel_calls: int = AUTOTUNE
    crop_scale: tuple[float, float] | None = DEFAULT_CROP_SCALE
    resize_method: str = DEFAULT_RESIZE_METHOD
    max_pixels: int = MAX_PIXELS
    repeat: bool = False
    cache_lab: bool = True
    verified: bool | None = None
    portable: bool = False

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the batches."""
        return size_pair(self.image_size)

    @property
    def augments(self) -> bool:
        return self.training if self.augment is None else bool(self.augment)

    @property
    def drops_remainder(self) -> bool:
        return self.training if self.drop_remainder is None else bool(self.drop_remainder)

    @property
    def crop(self) -> Crop:
        return Crop.of(self.augments, self.crop_scale)

    @property
    def stored_size(self) -> tuple[int, int]:
        """The cached image size: the batch size, or 1/fraction larger for fixed-size crops (`Crop.WINDOW`)."""
        if self.crop is not Crop.WINDOW or self.crop_scale is None:
            return self.size
        fraction = float(self.crop_scale[0])
        if not 0.0 < fraction <= 1.0:
            raise ValueError(f"crop_scale must lie in (0, 1], got {self.crop_scale}")
        return tuple(max(s, round(s / fraction)) for s in self.size)

    @classmethod
    def of(cls, config: "PipelineConfig | None", settings: dict, caller: str) -> "PipelineConfig":
        """`config` with `settings` (field name -> value) replaced, or a config of `settings` alone."""
        names = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise TypeError(f"{caller}: unknown setting(s) {unknown}; PipelineConfig has {sorted(names)}")
        if config is None:
            missing = [name for name in ("image_size", "batch_size", "normalization") if name not in settings]
            if missing:
                raise TypeError(f"{caller}: missing setting(s) {missing} (give them or a PipelineConfig)")
            config = cls(**settings)
        elif settings:
            config = dataclasses.replace(config, **settings)
        if config.batch_size < 1:
            raise ValueError(f"{caller}: batch_size must be >= 1, got {config.batch_size}")
        return config


def epoch_seed(seed, epoch):
    """The shuffle/augmentation seed of one epoch: a function of (seed, epoch) only.

    Args:
        seed: the run's base seed.
        epoch: 0-based epoch, a Python int or a scalar integer tensor.

    Returns:
        A Python int for Python ints, else an int64 scalar tensor.
    """
    if isinstance(seed, (int, np.integer)) and isinstance(epoch, (int, np.integer)):
        return int(seed) * EPOCH_SEED_STRIDE + int(epoch) + 1
    return tf.cast(seed, tf.int64) * EPOCH_SEED_STRIDE + tf.cast(epoch, tf.int64) + 1


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


def dataset_cardinality_hint(num_paths: int, batch_size: int, drop_remainder: bool) -> int:
    """Batches per epoch when no file is dropped (the datasets know it themselves when their files are verified)."""
    return num_paths // batch_size if drop_remainder else math.ceil(num_paths / batch_size)


def _apply_cache(dataset, cache, paths, size, resize_method, form):
    if cache == "memory":
        return dataset.cache()
    if cache:
        filename = cache_filename(cache, paths, size, resize_method, form)
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        return dataset.cache(filename)
    return dataset


def _load_images(paths, labels, config: PipelineConfig, size, *, to_lab: bool):
    """Files -> uint8 RGB, or float16 Lab (`to_lab`), at `size` in one map per image.

    A file that fails is dropped and named once in a warning (`decodable.DropReport`). When every
    file is known to decode (`config.verified`, or by default `decodable.all_decodable`), the dataset
    has a known length, `len(paths)` (a file that fails all the same then ends the pass with an error).
    """
    if not paths:
        raise ValueError("build_image_dataset: no image paths given")
    columns = [tf.range(len(paths), dtype=tf.int64), tf.constant(paths, tf.string)]
    if labels is not None:
        labels = [int(label) for label in labels]
        if len(labels) != len(paths):
            raise ValueError(f"build_image_dataset: {len(labels)} labels for {len(paths)} paths")
        columns.append(tf.constant(labels, tf.int32))
    load = _image_loader(tuple(size), config.resize_method, int(config.max_pixels), to_lab, JIT_COMPILE)

    def indexed(index, path, *label):
        loaded = load(path, *label)
        return (index, *loaded) if label else (index, loaded)

    dataset = tf.data.Dataset.from_tensor_slices(tuple(columns))
    if config.portable:
        return decodable.load_each_or_name_it(dataset, load, config.num_parallel_calls)
    dataset = dataset.map(indexed, num_parallel_calls=config.num_parallel_calls, deterministic=True)
    dataset = decodable.name_dropped(dataset.ignore_errors(), decodable.DropReport(paths, config.max_pixels))
    verified = decodable.all_decodable(paths) if config.verified is None else config.verified
    if verified:
        dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(paths)))
    return dataset


@functools.cache
def _image_loader(size, resize_method, max_pixels, to_lab, jit_compile):
    """`path [, label] -> image [, label]` as a tf.function: traced once per signature and reused by
    every dataset (tracing the bounded decoder's branches costs ~0.1 s per pipeline otherwise)."""
    to_lab16 = lab16_loader(jit_compile)

    def load(path, *label):
        image = decode_image_bounded(tf.io.read_file(path), max_pixels=max_pixels, min_shape=size)
        resized = resize_float(image, size, resize_method)
        image = to_lab16(resized) if to_lab else round_to_uint8(resized)
        return (image, *label) if label else image

    return tf.function(load)


def build_image_dataset(paths: Sequence, image_size, *, labels: Sequence[int] | None = None, cache=None,
                        **settings) -> tf.data.Dataset:
    """Files -> uint8 images `[H, W, 3]` at a fixed size (or `(image, label)` pairs), in file order.

    A broken file is dropped and named in a logged warning. Used by the evaluation and the
    colour-distribution plot.

    Args:
        paths: image files.
        image_size: int or (height, width).
        labels: optional int class per path.
        cache: None, "memory", or a file prefix (see `cache_filename`).
        **settings: the decoding fields of `PipelineConfig`: `resize_method`, `max_pixels`,
            `num_parallel_calls`, `verified`, `portable`.
    """
    loading = {"resize_method", "max_pixels", "num_parallel_calls", "verified", "portable"}
    if set(settings) - loading:
        raise TypeError(f"build_image_dataset: unknown setting(s) {sorted(set(settings) - loading)}; "
                        f"it takes {sorted(loading)}")
    config = PipelineConfig(image_size=image_size, batch_size=1, normalization=None, cache=cache, **settings)
    paths = [os.fspath(p) for p in paths]
    dataset = _load_images(paths, labels, config, config.size, to_lab=False)
    return _apply_cache(dataset, cache, paths, config.size, config.resize_method, "rgb8")


def build_dataset(paths: Sequence, config: PipelineConfig | None = None, *, labels: Sequence[int] | None = None,
                  **settings) -> tf.data.Dataset:
    """The training/evaluation pipeline: files -> batches of (encoded L, encoded ab targets).

    Steps: decode (bounded) -> resize -> Lab (float16; with `cache_lab`) -> cache -> shuffle ->
    batch -> augment (random crop + flip of the whole batch) -> normalise -> prefetch. With `cache_lab`
    the colour conversion runs once per image instead of once per epoch, and augmentation
    interpolates Lab values (bilinear, like resizing the RGB image then converting, to within
    rounding); `cache_lab=False` caches uint8 RGB (half the bytes) and converts every epoch.

    Args:
        paths: image files (scan them first with `files.scan_images`; broken ones are dropped and named).
        config: the pipeline's `PipelineConfig`.
        labels: optional int class per path; the targets become `{"ab": ..., "scene": ...}`.
        **settings: `PipelineConfig` fields that replace the config's, or, without a config, make
            one: `build_dataset(paths, image_size=128, batch_size=32, normalization="zhang")`.

    Returns:
        `tf.data.Dataset` of `(L_enc [B, H, W, 1] float32, ab_enc [B, H, W, 2] float32)`, or
        `(L_enc, {"ab": ab_enc, "scene": int32 [B]})` with labels (`targets.Targets.of` unpacks both).

    Reference:
        The pipelines of the five papers (resize to a fixed size, Lab, normalise); Zhang et al.
        (2016) for crop/flip augmentation; Iizuka et al. (2016) for scene labels.
    """
    config = PipelineConfig.of(config, settings, "build_dataset")
    paths = [os.fspath(p) for p in paths]
    examples = _cached_examples(paths, labels, config)
    return _batches(examples, len(paths), config, has_labels=labels is not None, seed=config.seed,
                    reshuffle_each_iteration=True)


def build_epoch_datasets(paths: Sequence, config: PipelineConfig | None = None, *,
                         labels: Sequence[int] | None = None, **settings):
    """Training data as `epoch -> Dataset`: one cached pipeline, each epoch's order a function of (seed, epoch).

    Decoding, resizing and Lab conversion happen once, into one cache shared by every epoch; each
    epoch then shuffles and augments the cached images with `epoch_seed(seed, epoch)`. A run resumed
    at epoch k therefore sees exactly the batches an uninterrupted run sees (plain `build_dataset`
    with `training=True` reshuffles on every pass, so a fresh process would restart the sequence).

    The returned callable takes a Python int epoch and is marked like `training.python_epochs`, so
    it can be passed straight to `training.train` as `train_ds`.

    Args:
        paths, config, labels, settings: as in `build_dataset`, in training mode (`training` is
            set, `repeat` ignored; without a config, `cache` defaults to "memory").

    Returns:
        `for_epoch(epoch: int) -> tf.data.Dataset` of the same elements as `build_dataset`.

    Reference:
        Lee, Liang & Peaks 2016 (training resumed after spot-instance restarts).
    """
    if config is None:
        settings = {"cache": "memory", **settings}
    config = dataclasses.replace(PipelineConfig.of(config, settings, "build_epoch_datasets"), training=True,
                                 repeat=False)
    paths = [os.fspath(p) for p in paths]
    examples = _cached_examples(paths, labels, config)

    def for_epoch(epoch: int) -> tf.data.Dataset:
        if not isinstance(epoch, int):
            raise TypeError(f"build_epoch_datasets: epoch must be a Python int, got {type(epoch).__name__}")
        return _batches(examples, len(paths), config, has_labels=labels is not None,
                        seed=epoch_seed(config.seed, epoch), reshuffle_each_iteration=False)

    for_epoch.python_epochs = True  # the marker `training.train` looks for (see `training.python_epochs`)
    return for_epoch


def _cached_examples(paths, labels, config: PipelineConfig):
    """Files -> cached uint8 RGB or float16 Lab images (with labels): the once-per-image part.
    Augmented pipelines with fixed-size crops cache images larger (see `augment.DEFAULT_CROP_SCALE`)."""
    size = config.stored_size
    dataset = _load_images(paths, labels, config, size, to_lab=config.cache_lab)
    return _apply_cache(dataset, config.cache, paths, size, config.resize_method,
                        "lab16" if config.cache_lab else "rgb8")


def _batches(dataset, num_images, config: PipelineConfig, *, has_labels, seed, reshuffle_each_iteration):
    """Cached images -> shuffle -> batch -> augment -> normalised targets -> prefetch: the per-epoch part."""
    norm = get_normalization(config.normalization)
    crop = config.crop
    window = config.size if crop is Crop.WINDOW else None
    crop_scale = tuple(map(float, config.crop_scale)) if crop is Crop.SCALE else None
    if config.training:
        buffer = config.shuffle_buffer or default_shuffle_buffer(num_images, config.stored_size,
                                                                 2 if config.cache_lab else 1)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=reshuffle_each_iteration)
    if config.repeat:
        dataset = dataset.repeat()
    dataset = dataset.batch(config.batch_size, drop_remainder=config.drops_remainder,
                            num_parallel_calls=config.num_parallel_calls, deterministic=True)

    def encode(element, random=None):
        images, label = element if has_labels else (element, None)
        uniform = None
        if random is not None:
            uniform = crop_uniforms(tf.shape(images)[0], tf.stack([random, tf.constant(seed, tf.int64)]))
        l_encoded, ab_encoded = batch_targets(images, uniform, crop, window, crop_scale, norm,
                                              not config.cache_lab, jit_compile=JIT_COMPILE)
        return l_encoded, with_label(ab_encoded, label).keras()

    if crop is not Crop.NONE:
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=reshuffle_each_iteration)
        dataset = tf.data.Dataset.zip(dataset, randoms).map(encode, num_parallel_calls=config.num_parallel_calls,
                                                             deterministic=True)
    else:
        dataset = dataset.map(lambda *e: encode(e if has_labels else e[0]),
                              num_parallel_calls=config.num_parallel_calls, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(AUTOTUNE)


__all__ = [
    "AUTOTUNE",
    "SHUFFLE_BUFFER_BYTES",
    "EPOCH_SEED_STRIDE",
    "JIT_COMPILE",
    "PipelineConfig",
    "epoch_seed",
    "cache_filename",
    "default_shuffle_buffer",
    "dataset_cardinality_hint",
    "build_image_dataset",
    "build_dataset",
    "build_epoch_datasets",
]
