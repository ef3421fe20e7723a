"""SavedModel export with a uint8, any-size serving signature, plus `.keras` files.

`export_saved_model` writes `saved_models/<name>/`:
    saved_model.pb, variables/   a SavedModel whose `serving_default` signature takes uint8
                                 images `[N, H, W, C]` (C = 3 RGB, 1 gray, 4 RGBA: alpha ignored)
                                 of any size and returns {"rgb": uint8 [N, H, W, 3]} at that size;
    model.keras                  the Keras model, for further training;
    export_info.json             name, normalisation, image size, head, versions.

Everything between the uint8 pixels is in the graph, in plain TF ops, so the SavedModel loads
with `tf.saved_model.load` in a process that never imports this package:

    uint8 -> float -> Lab L (full resolution) -> resize L to the model's size (bilinear,
    antialiased) -> encode L -> model -> [annealed-mean decode for classification heads]
    -> decode ab -> resize ab to the input size -> join with the full-resolution L -> sRGB -> uint8

The two full-resolution colour conversions (uint8 -> L, L + ab -> uint8 sRGB) are XLA-compiled
into one fused pass each (`compile_pixels`, default on).

Reference:
    Iizuka et al. 2016, section 3.5 (chroma predicted at a working resolution and recombined with
    the full-resolution L); Menon & Talukdar 2021 (deployment behind a service).
"""

from __future__ import annotations

import datetime
import json
import shutil
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from colorization_tf import color
from colorization_tf.models import ModelSpec, colorizer_of, get_spec
from colorization_tf.models.heads import model_decode, predict_ab
from colorization_tf.fileio import make_temp_dir, os_error_from_message, remove_stale_temps, replace_dir

SERVING_ENDPOINT = "serving_default"
OUTPUT_KEY = "rgb"
INFO_FILE = "export_info.json"
KERAS_FILE = "model.keras"


def _to_rgb_uint8(images: tf.Tensor) -> tf.Tensor:
    """uint8 [N, H, W, C] with C in {1, 2, 3, 4} -> uint8 [N, H, W, 3] (gray replicated, alpha dropped)."""
    channels = tf.shape(images)[-1]
    rgb = tf.cond(
        channels < 3,
        lambda: tf.tile(images[..., :1], [1, 1, 1, 3]),
        lambda: images[..., :3],
    )
    rgb.set_shape([None, None, None, 3])
    return rgb


PIXEL_BUCKET_MIN = 2**16
"""The pixel maths runs on at least this many pixels (smaller images are padded up to it)."""
PIXEL_BUCKETS_PER_OCTAVE = 4
"""Pixel counts are padded up to one of this many sizes per doubling (at most 25% padding), so the
XLA-compiled pixel maths compiles once per size class, not once per image size."""


def _pixel_bucket(count: tf.Tensor) -> tf.Tensor:
    """Padded pixel count for `count` pixels: PIXEL_BUCKET_MIN, or `count` rounded up to a multiple of
    2^(octave - 2) (four sizes per octave)."""
    count = tf.maximum(tf.cast(count, tf.int64), PIXEL_BUCKET_MIN)
    octave = tf.cast(tf.math.floor(tf.math.log(tf.cast(count, tf.float64)) / np.log(2.0)), tf.int64)
    step = tf.bitwise.left_shift(tf.constant(1, tf.int64), octave - int(np.log2(PIXEL_BUCKETS_PER_OCTAVE)))
    return (count + step - 1) // step * step


def _per_pixel(fn, *images: tf.Tensor) -> tf.Tensor:
    """Applies per-pixel `fn` to `[N, H, W, C_i]` tensors as flat `[P, C_i]` padded to a pixel bucket.

    Returns:
        fn's `[P, C_out]` result reshaped to `[N, H, W, C_out]`.
    """
    shape = tf.shape(images[0])
    count = tf.cast(tf.reduce_prod(shape[:3]), tf.int64)
    padding = _pixel_bucket(count) - count
    flat = [tf.pad(tf.reshape(x, [-1, x.shape[-1]]), [[0, padding], [0, 0]]) for x in images]
    out = fn(*flat)[:count]
    return tf.reshape(out, tf.concat([shape[:3], [out.shape[-1]]], axis=0))


def lab_to_uint8(l: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """L [..., 1] and ab [..., 2] (Lab units) -> uint8 sRGB [..., 3], rounded (out-of-gamut clipped)."""
    return tf.cast(tf.round(color.lab_to_rgb(color.join_lab(l, ab)) * 255.0), tf.uint8)


_LIGHTNESS_XLA = tf.function(color.lightness, jit_compile=True)
_LAB_TO_UINT8_XLA = tf.function(lab_to_uint8, jit_compile=True)


def _native_multiple(spec: ModelSpec, native_resolution: bool) -> int | None:
    """The multiple native-resolution serving rounds to (None: serve at `spec.image_size`)."""
    if not native_resolution:
        return None
    multiple = spec.preprocessor.size_multiple
    if not multiple:
        raise ValueError(f"export: model {spec.name!r} takes {spec.image_size}x{spec.image_size} inputs only "
                         "(fixed_size): it has no native-resolution export")
    return int(multiple)


def make_serving_function(
    model, spec: ModelSpec | str, decode=None, native_resolution: bool = False, compile_pixels: bool = True,
    work_side: int | None = None,
):
    """The uint8 -> uint8 any-size colorization `tf.function` used as `serving_default`.

    Args:
        model: the Keras model (a `GANModel` serves its generator).
        spec: its `ModelSpec` (or registry name): working resolution (L is resized to
            `image_size`) and its `preprocessor` (normalisation, head decoder, size multiple).
        decode: logits -> ab/110 layer for classification heads (default: `heads.model_decode`).
        native_resolution: run the model at the input's own resolution instead, rounded to the
            nearest multiple of `spec.size_multiple` (e.g. 8 for Iizuka et al., whose local
            branches see the full image while the global branch rescales internally, as in their
            paper; 32 for the ResNet U-Net). For fully convolutional models only.
        compile_pixels: run the full-resolution colour conversions (RGB -> L before the model,
            L + ab -> sRGB after it) XLA-compiled, one fused pass over the pixels, on pixel counts
            padded to `PIXEL_BUCKETS_PER_OCTAVE` size classes (several times faster on big photos;
            the first image of each size class compiles, ~0.1-0.5 s). False: plain TF ops, for
            runtimes without XLA (TensorFlow Serving's model server enables it only with
            `--xla_cpu_compilation_enabled`).
        work_side: run the model on the whole image scaled so that its longer side is this many
            pixels, aspect ratio kept, each side rounded to `spec.size_multiple` (what a model
            trained on undistorted views of whole photos sees; `native_resolution` is for local
            models). None: `spec.image_size` square, or the native resolution.

    Returns:
        A `tf.function` with input signature uint8 `[None, None, None, None]`, returning
        {"rgb": uint8 [N, H, W, 3]}.
    """
    spec = get_spec(spec)
    size_multiple = _native_multiple(spec, native_resolution or bool(work_side))
    if work_side is not None and (native_resolution or int(work_side) < size_multiple):
        raise ValueError(f"export: work_side must be at least the size multiple ({size_multiple}) and "
                         f"excludes native_resolution, got work_side={work_side!r}")
    pre = spec.preprocessor
    net = colorizer_of(model)
    size = int(spec.image_size)
    if pre.head.classification and decode is None:
        decode = model_decode(net, head=pre.head)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8, name="images")])
    def serve(images):
        rgb = _to_rgb_uint8(images)
        full_l = _per_pixel(_LIGHTNESS_XLA, rgb) if compile_pixels else color.lightness(rgb)
        height_width = tf.shape(rgb)[1:3]
        if size_multiple:
            sides = tf.cast(height_width, tf.float32)
            if work_side:
                sides = sides * (float(work_side) / tf.reduce_max(sides))
            rounded = tf.cast(tf.round(sides / size_multiple), tf.int32) * size_multiple
            work_size = tf.maximum(rounded, size_multiple)
        else:
            work_size = [size, size]
        small_l = tf.image.resize(full_l, work_size, method="bilinear", antialias=True)
        ab_small = predict_ab(net, pre.encode_l(small_l), pre, decode=decode)
        ab = tf.image.resize(ab_small, height_width, method="bilinear")
        if compile_pixels:
            return {OUTPUT_KEY: _per_pixel(_LAB_TO_UINT8_XLA, full_l, ab)}
        return {OUTPUT_KEY: lab_to_uint8(full_l, ab)}

    return serve


class Float16Weights(tf.Module):
    """A regression colorizer whose export stores its weights as float16 and computes in float32.

    Halves the SavedModel's size (the shipped model's 2.7 million weights: 5.4 MB instead of
    10.7 MB) at a cost of float16 rounding in the weights (relative 2^-11): its ab differ from the
    float32 model's by a fraction of a Lab unit. The Keras model runs through `stateless_call` with
    the float32 casts of the stored values, so the export holds no float32 copy.

    Args:
        model: a Keras regression colorizer (output "ab"), or a `GANModel` (its generator).
    """

    def __init__(self, model):
        super().__init__(name="float16_weights")
        net = colorizer_of(model)
        self.trainable = [tf.Variable(tf.cast(v.value, tf.float16), trainable=False) for v in net.trainable_variables]
        self.non_trainable = [tf.Variable(tf.cast(v.value, tf.float16), trainable=False) for v in net.non_trainable_variables]
        dtypes = ([v.dtype for v in net.trainable_variables], [v.dtype for v in net.non_trainable_variables])

        def call(inputs, training=False):
            trainable = [tf.cast(v, d) for v, d in zip(self.trainable, dtypes[0])]
            non_trainable = [tf.cast(v, d) for v, d in zip(self.non_trainable, dtypes[1])]
            return net.stateless_call(trainable, non_trainable, inputs, training=False)[0]

        self._call = call  # a function, not tracked: the export saves only the float16 copies

    def __call__(self, inputs, training=False):
        return self._call(inputs, training)


WEIGHT_DTYPES = ("float32", "float16")


def _versions() -> dict:
    from colorization_tf._version import __version__

    return {
        "colorization_tf": __version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def export_saved_model(
    model,
    path,
    spec: ModelSpec | str,
    *,
    native_resolution: bool = False,
    decode=None,
    name: str | None = None,
    save_keras: bool = True,
    extra_info: dict | None = None,
    compile_pixels: bool = True,
    work_side: int | None = None,
    weights_dtype: str = "float32",
) -> Path:
    """Exports `model` as a SavedModel with a uint8 any-size signature, a `.keras` and info JSON.

    The export is written into a temporary folder beside `path` and swapped into place
    (`fileio.replace_dir`), so `path` never holds a half-written export: a process killed at any
    moment leaves the previous export (or none) there, and the next call starts afresh. A full
    disk or a read-only folder raises `OSError` (also where TensorFlow's own writer failed) and
    leaves the previous export as it was.

    Args:
        model: trained Keras model (input encoded L; output "ab", or "logits" for a classification
            head); a `GANModel` serves its generator.
        path: output folder, e.g. `saved_models/<name>`.
        spec: the model's `ModelSpec` (or its registry name), which gives the normalisation, the
            working resolution (`image_size`), the head and the size multiple; a run that trained
            at another size or normalisation passes `spec.replace(image_size=..., ...)`.
        native_resolution: serve at each input's own resolution rounded to a multiple of
            `spec.size_multiple`, instead of at `spec.image_size` (see `make_serving_function`);
            the model must accept such sizes (built with `image_size=None`, or Iizuka's). Not for
            `spec.fixed_size` models such as the CS520 CNN.
        decode: logits -> ab/110 layer for classification heads (default: `heads.model_decode`: the
            bins the model stores, else the spec head's).
        name: model name for export_info.json (default: the folder name).
        save_keras: also write `model.keras`.
        extra_info: more JSON-able fields for export_info.json (e.g. metrics, dataset).
        compile_pixels: XLA-compile the signature's full-resolution colour conversions (see
            `make_serving_function`); False for runtimes without XLA.
        work_side: serve on the whole image scaled to this longer side, aspect kept (see
            `make_serving_function`).
        weights_dtype: "float32", or "float16" to store the SavedModel's weights at half size
            (`Float16Weights`; regression heads only; the `.keras` file keeps float32).

    Returns:
        The export folder.
    """
    spec = get_spec(spec)
    if weights_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"export: weights_dtype must be one of {WEIGHT_DTYPES}, got {weights_dtype!r}")
    if weights_dtype == "float16" and spec.head.classification:
        raise ValueError(f"export: float16 weights are for regression heads; {spec.name!r} has a classification head")
    size_multiple = _native_multiple(spec, native_resolution or bool(work_side))
    image_size = int(spec.image_size)
    pre = spec.preprocessor
    norm = pre.normalization
    if pre.head.classification and decode is None:
        decode = model_decode(model, head=pre.head)
    if work_side:
        resolution = f"whole image, longer side {int(work_side)}, aspect kept, sides rounded to a multiple of {size_multiple}"
    elif size_multiple:
        resolution = f"native, rounded to a multiple of {size_multiple}"
    else:
        resolution = f"{image_size}x{image_size}"
    path = Path(path)
    remove_stale_temps(path.parent)  # what a killed export left behind
    tmp = make_temp_dir(path)
    try:
        served = Float16Weights(model) if weights_dtype == "float16" else model
        archive = keras.export.ExportArchive()
        archive.track(colorizer_of(served))
        if decode is not None and getattr(decode, "variables", None):
            archive.track(decode)
        archive.add_endpoint(SERVING_ENDPOINT, make_serving_function(served, spec, decode, native_resolution, compile_pixels, work_side))
        archive.write_out(str(tmp), verbose=False)
        if save_keras:
            model.save(tmp / KERAS_FILE)
        info = {
            "name": name or path.name,
            "normalization": norm.name,
            "normalization_description": norm.description,
            "image_size": image_size,
            "resolution": resolution,
            "head": spec.head.kind,
            "compile_pixels": bool(compile_pixels),
            "weights_dtype": weights_dtype,
            **({"bin_width": getattr(decode, "bin_width", None), "gamut": getattr(decode, "gamut", None)} if spec.head.classification else {}),
            "signature": {
                "endpoint": SERVING_ENDPOINT,
                "input": "images: uint8 [N, H, W, C], C = 1 (gray), 3 (RGB) or 4 (RGBA, alpha ignored), any H, W",
                "output": f"{OUTPUT_KEY}: uint8 [N, H, W, 3] sRGB",
            },
            "keras_file": KERAS_FILE if save_keras else None,
            "versions": _versions(),
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            **(extra_info or {}),
        }
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=1))
        replace_dir(tmp, path)
    except tf.errors.OpError as err:  # TensorFlow's file writers: a full disk is ResourceExhaustedError
        shutil.rmtree(tmp, ignore_errors=True)
        raise os_error_from_message(str(err), str(path)) or err from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


class Colorizer:
    """A loaded export: call it on uint8 images (numpy), get uint8 RGB of the same size.

    Args:
        path: an export folder written by `export_saved_model`.

    Attributes:
        info: the export_info.json contents ({} if absent).
    """

    def __init__(self, path):
        self.path = Path(path)
        self._loaded = tf.saved_model.load(str(self.path))
        self._fn = self._loaded.signatures[SERVING_ENDPOINT]
        info_file = self.path / INFO_FILE
        self.info = json.loads(info_file.read_text()) if info_file.exists() else {}

    def __call__(self, images) -> np.ndarray:
        """Colorizes uint8 images: one `[H, W]` (gray) or `[H, W, C]` (C <= 4), or a batch `[N, H, W, C]`.

        Returns:
            uint8 RGB `[H, W, 3]` for one image, `[N, H, W, 3]` for a batch.

        Raises:
            ValueError: not uint8, or a shape that is none of the above (a 3-D array whose last
                dimension exceeds 4 could be a gray batch `[N, H, W]` or one image: pass
                `[N, H, W, 1]` for a gray batch).
        """
        images = np.asarray(images)
        if images.dtype != np.uint8:
            raise ValueError(f"Colorizer expects uint8 images, got {images.dtype}")
        shape = images.shape
        if images.ndim == 2:
            batch, single = images[None, ..., None], True
        elif images.ndim == 3 and 1 <= shape[-1] <= 4:
            batch, single = images[None], True
        elif images.ndim == 4 and 1 <= shape[-1] <= 4:
            batch, single = images, False
        else:
            raise ValueError(
                f"Colorizer: cannot read images of shape {shape}: pass [H, W] (gray), [H, W, C] or "
                f"[N, H, W, C] with C in 1..4 (a gray batch is [N, H, W, 1])"
            )
        if 0 in batch.shape[1:3]:
            raise ValueError(f"Colorizer: images of shape {shape} have no pixels")
        if batch.shape[0] == 0:
            return np.zeros((0, *batch.shape[1:3], 3), np.uint8)
        out = self._fn(images=tf.constant(batch))[OUTPUT_KEY].numpy()
        return out[0] if single else out


def load_colorizer(path=None) -> Colorizer:
    """Loads an export folder as a `Colorizer` (plain `tf.saved_model.load` underneath).

    Args:
        path: an export folder; None: the model shipped with the package
            (`colorization_tf.pretrained.DEFAULT_MODEL`).
    """
    if path is None:
        from colorization_tf.pretrained import default_model_path

        path = default_model_path()
    return Colorizer(path)
