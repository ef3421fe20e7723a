"""Evaluating a colorization model on a dataset, and writing the results as tables.

`evaluate_model` runs a model over a `(L_enc, ab_enc)` dataset (the output of
`data.pipeline.build_dataset`), decodes its prediction to Lab units with the model's
`Normalization` (classification heads are decoded by the annealed mean and upsampled to the input's
size), and computes the suite's colour metrics per image with `metrics.evaluate_colorization`
(PSNR and SSIM on sRGB, colorfulness, L1/L2 in ab, PolyChromify's "accuracy", CS520's |err| < 10
accuracy), plus the scene-classification accuracy when the model has Iizuka's ``"scene"`` head and
the dataset carries labels. `evaluate_gray` scores the gray (zero-ab) prediction the same way: the
baseline every model has to beat.

The writers (`write_json`, `write_text`, `markdown_table`) write atomically (temporary file, then
`os.replace`), and `environment_info` captures the package versions a result was produced with.

Reference:
    Ziegler (2022), section 3.4 (the L1 rating); Ghiotto (2021), PolyChromify Tables 1-2
    ("accuracy"); Yang & Li, CS520 section 2.6 (|error| < 10 accuracy); Menon & Talukdar (2021),
    section 3.2 (PSNR, SSIM); Lee et al. (2016) (scene classification beside colour).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import platform
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from colorization_tf import color
from colorization_tf.data.targets import split_element
from colorization_tf.fileio import atomic_write_text

GRAY = "gray (zero ab)"
"""Row name of the gray baseline in every table."""

SCENE_ACCURACY = "scene_accuracy"
"""Key of Iizuka's scene-classification accuracy in an `EvalResult`."""


@dataclasses.dataclass
class EvalResult:
    """Metrics of one model (or baseline) on one dataset.

    Attributes:
        name: model/run name.
        mean: metric name -> mean over images (plus `SCENE_ACCURACY` when available).
        per_image: one dict of metric values per image, in dataset order.
        samples: the first images as ``{"l": [N,H,W,1], "ab_true": [N,H,W,2], "ab_pred": ...}``
            in Lab units, for figures.
    """

    name: str
    mean: dict[str, float]
    per_image: list[dict[str, float]]
    samples: dict[str, np.ndarray] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def n_images(self) -> int:
        return len(self.per_image)

    def to_json(self) -> dict[str, Any]:
        """The result without the sample arrays (JSON-ready)."""
        return {"name": self.name, "n_images": self.n_images, "mean": self.mean, "per_image": self.per_image}


def _named_outputs(model, outputs) -> dict[str, tf.Tensor]:
    """A model call's outputs as a dict keyed by output name."""
    if isinstance(outputs, Mapping):
        return dict(outputs)
    if isinstance(outputs, (list, tuple)):
        return dict(zip(model.output_names, outputs))
    return {model.output_names[0]: outputs}


def decode_logits(logits, size, bin_width: float, gamut: str = "zhang") -> tf.Tensor:
    """ab-bin logits `[B, h, w, Q]` -> ab in Lab units `[B, size[0], size[1], 2]`.

    Annealed-mean decoding (Zhang et al. 2016, T = 0.38), upsampled bilinearly to `size`:
    `models.heads.logits_to_ab`, the suite's one decoder.

    Args:
        logits: classification-head output.
        size: (height, width) of the result.
        bin_width: the ab grid width the model was built with (never inferred from Q: several
            widths give the same bin count, e.g. 21 and 22 both give 65 "zhang" bins).
        gamut: the model's bin set (see `quantize.ab_bin_centers`).
    """
    from colorization_tf.models import heads

    logits = tf.convert_to_tensor(logits)
    decode = heads.default_decode(int(logits.shape[-1]), gamut=gamut, bin_width=bin_width)
    return heads.logits_to_ab(logits, size, decode)


def predict_lab(model, l_enc, preprocessor) -> tuple[tf.Tensor, tf.Tensor | None]:
    """Runs `model` on encoded L and returns (ab in Lab units at the input's size, scene logits or None).

    The colour output is decoded by `models.heads.outputs_to_ab` (the same decoder the exports and the
    training figures use).

    Args:
        model: a suite model (output ``"ab"``, or ``"logits"``, optionally ``"scene"``).
        l_enc: encoded L `[B, H, W, 1]`.
        preprocessor: the model's `Preprocessor` (`ModelSpec.preprocessor`: its normalisation and
            head decoder), or its normalisation (`Normalization` or name).

    Returns:
        `(ab [B, H, W, 2], scene_logits [B, C] or None)`.
    """
    from colorization_tf.models import colorizer_of, heads

    net = colorizer_of(model)  # a GANModel is evaluated through its generator
    l_enc = tf.convert_to_tensor(l_enc, tf.float32)
    outputs = _named_outputs(net, net(l_enc, training=False))
    if "ab" not in outputs and "logits" not in outputs:
        raise ValueError(f"model {model.name!r} has no 'ab' or 'logits' output (outputs: {sorted(outputs)})")
    ab = heads.outputs_to_ab(net, outputs, preprocessor, heads.spatial_size(l_enc))
    return ab, outputs.get("scene")


def _split_batch(batch):
    """`(L_enc, ab_enc)` or `(L_enc, {"ab": ab_enc, "scene": labels})` -> (L_enc, ab_enc, labels)."""
    l_enc, target = split_element(batch)
    return l_enc, target.ab, target.scene


def image_metrics(l, ab_true, ab_pred) -> list[dict[str, float]]:
    """Colour metrics per image (Lab units in, one dict per image out), `metrics.evaluate_colorization`."""
    from colorization_tf import metrics

    values = metrics.evaluate_colorization(l, ab_true, ab_pred, per_image=True)
    n = int(l.shape[0])
    return [{k: float(np.asarray(v).reshape(-1)[i]) for k, v in values.items()} for i in range(n)]


def evaluate_predictions(
    name: str,
    dataset: Iterable,
    predict: Callable,
    preprocessor,
    *,
    max_images: int | None = None,
    n_samples: int = 8,
) -> EvalResult:
    """Scores `predict` on every image of `dataset`.

    Args:
        name: result name.
        dataset: batches of `(L_enc, ab_enc)` or `(L_enc, {"ab": ..., "scene": ...})`.
        predict: `L_enc -> (ab in Lab units, scene logits or None)`.
        preprocessor: the dataset's `Preprocessor` or `Normalization` (or its name): decodes L and the target ab.
        max_images: stop after this many images (None: all).
        n_samples: how many images to keep in `samples` for figures.

    Returns:
        An `EvalResult`.
    """
    norm = color.get_normalization(preprocessor)
    per_image: list[dict[str, float]] = []
    samples: dict[str, list] = {"l": [], "ab_true": [], "ab_pred": []}
    correct = total = 0
    for batch in dataset:
        l_enc, ab_enc, labels = _split_batch(batch)
        if max_images is not None:
            room = max_images - len(per_image)
            if room <= 0:
                break
            l_enc, ab_enc = l_enc[:room], ab_enc[:room]
            labels = None if labels is None else labels[:room]
        ab_pred, scene = predict(l_enc)
        l, ab_true = norm.decode_l(l_enc), norm.decode_ab(ab_enc)
        per_image.extend(image_metrics(l, ab_true, ab_pred))
        if scene is not None and labels is not None:
            hits = np.argmax(np.asarray(scene), axis=-1) == np.asarray(labels).reshape(-1)
            correct += int(hits.sum())
            total += hits.size
        keep = n_samples - len(samples["l"])
        for key, value in (("l", l), ("ab_true", ab_true), ("ab_pred", ab_pred)):
            samples[key].extend(np.asarray(value)[:keep])
    if not per_image:
        raise ValueError(f"{name}: the evaluation dataset is empty")
    mean = {k: float(np.mean([row[k] for row in per_image])) for k in per_image[0]}
    if total:
        mean[SCENE_ACCURACY] = correct / total
    return EvalResult(name, mean, per_image, {k: np.stack(v) for k, v in samples.items()})


def evaluate_model(model, dataset, preprocessor, *, name: str | None = None, **kwargs) -> EvalResult:
    """Evaluates a suite model on `dataset` (see `evaluate_predictions` for the keyword arguments).

    `preprocessor` is the model's `Preprocessor` (or its normalisation), as for `predict_lab`.

    Reference:
        Menon & Talukdar (2021), 3.2; Ziegler (2022), 3.4; Ghiotto (2021), Table 2.
    """
    return evaluate_predictions(
        name or model.name, dataset, lambda l_enc: predict_lab(model, l_enc, preprocessor), preprocessor, **kwargs
    )


def evaluate_gray(dataset, preprocessor, **kwargs) -> EvalResult:
    """Scores the gray prediction (ab = 0 everywhere): the baseline a colorization must beat."""

    def predict(l_enc):
        return tf.zeros(tf.concat([tf.shape(l_enc)[:3], [2]], 0), tf.float32), None

    return evaluate_predictions(GRAY, dataset, predict, preprocessor, **kwargs)


# --------------------------------------------------------------------------------------------
# Writing results


def write_text(path, text: str) -> Path:
    """Writes `text` to `path` atomically (parent folders created)."""
    return atomic_write_text(path, text)


def to_jsonable(obj):
    """Converts dataclasses, numpy values, paths and non-finite floats into plain JSON values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, int, bool)) or obj is None:
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if callable(obj):
        return getattr(obj, "__qualname__", repr(obj))
    return str(obj)


def write_json(path, obj) -> Path:
    """Writes `obj` (see `to_jsonable`) as indented JSON, atomically."""
    return write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False) + "\n")


def format_value(value, digits: int = 4) -> str:
    """A table cell: floats to `digits` significant decimals, None/NaN as an en dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], digits: int = 4) -> str:
    """A GitHub-flavoured Markdown table (header, separator, one line per row)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"table row {row!r} has {len(row)} cells for {len(columns)} columns")
        lines.append("| " + " | ".join(format_value(v, digits) for v in row) + " |")
    return "\n".join(lines) + "\n"


def environment_info() -> dict[str, Any]:
    """Versions of Python, the platform and every package a result depends on, and the devices."""
    import importlib.metadata as md

    packages = {}
    for name in ("colorization-tf", "tensorflow", "keras", "numpy", "scikit-image", "matplotlib", "pillow", "tqdm"):
        try:
            packages[name] = md.version(name)
        except md.PackageNotFoundError:
            packages[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "devices": [d.device_type + ":" + d.name for d in tf.config.list_physical_devices()],
        "packages": packages,
        "timestamp_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


__all__ = [
    "GRAY",
    "SCENE_ACCURACY",
    "EvalResult",
    "decode_logits",
    "predict_lab",
    "image_metrics",
    "evaluate_predictions",
    "evaluate_model",
    "evaluate_gray",
    "write_text",
    "write_json",
    "to_jsonable",
    "format_value",
    "markdown_table",
    "environment_info",
]
