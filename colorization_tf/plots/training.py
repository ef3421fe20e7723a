"""Training figures: loss curves, sample colorizations during training, model comparisons.

All functions take plain numpy arrays (RGB in [0, 1], shape [N, H, W, 3]; gray may be [N, H, W]
or [N, H, W, 1]) and write the figure atomically (temporary file, then `os.replace`).

Reference:
    Ziegler 2022, Figures 4.4/4.5 (sample colorizations every few epochs);
    Ghiotto 2021, PolyChromify (loss curves per model).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from colorization_tf.fileio import atomic_path  # noqa: E402

COLUMN_TITLE_CHARS = 24
"""Characters per line of a column title in the image grids (a 2.2-inch column at 9 pt)."""


def save_figure(fig, path, dpi: int = 100) -> Path:
    """Saves `fig` to `path` atomically (format from the suffix) and closes it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    try:
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _as_rgb(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return np.clip(images.astype(np.float32), 0.0, 1.0)


def plot_loss_curves(history: dict, path, *, log_scale: bool = False, title: str | None = None) -> Path:
    """One panel per quantity (loss, each output's loss, metrics): train and validation curves.

    Args:
        history: metric -> per-epoch list (Keras `History.history`, or `train()`'s history);
            an "epoch" list, if present, gives the x axis.
        path: output image file.
        log_scale: logarithmic y axis.
        title: figure title.

    Returns:
        The path written.
    """
    series = {k: v for k, v in history.items() if isinstance(v, (list, tuple)) and k != "epoch" and len(v)}
    names = [k for k in series if not k.startswith("val_")]
    names += [k[4:] for k in series if k.startswith("val_") and k[4:] not in names]
    if not names:
        raise ValueError("plot_loss_curves: the history holds no per-epoch series")
    epochs = history.get("epoch") or list(range(1, max(len(v) for v in series.values()) + 1))
    cols = min(len(names), 3)
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            if key in series:
                values = np.asarray(series[key], dtype=float)
                ax.plot(epochs[: len(values)], values, style, marker="o", markersize=3, label=label)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend()
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_sample_grid(gray, predicted, truth, path, *, title: str | None = None, max_images: int = 8) -> Path:
    """Rows gray input | prediction | ground truth, one column per image.

    Args:
        gray, predicted, truth: [N, H, W, (1|3)] arrays (float in [0, 1] or uint8).
        path: output image file.
        title: figure title (e.g. the model and the epoch).
        max_images: at most this many columns.

    Returns:
        The path written.
    """
    rows = {"gray": _as_rgb(gray), "prediction": _as_rgb(predicted), "ground truth": _as_rgb(truth)}
    return _grid(rows, path, title=title, max_images=max_images, images_in_columns=True)


def plot_comparison(gray, columns: dict, path, *, truth=None, title: str | None = None, max_images: int = 8) -> Path:
    """The same images colorized by several models: one row per image, one column per model.

    Args:
        gray: [N, H, W, (1|3)] inputs.
        columns: model name -> [N, H, W, 3] colorizations.
        path: output image file.
        truth: optional ground truth, drawn as the last column.
        title: figure title.
        max_images: at most this many rows.

    Returns:
        The path written.
    """
    panels = {"gray": _as_rgb(gray)}
    panels.update({name: _as_rgb(images) for name, images in columns.items()})
    if truth is not None:
        panels["ground truth"] = _as_rgb(truth)
    return _grid(panels, path, title=title, max_images=max_images, images_in_columns=False)


def _grid(panels: dict, path, *, title, max_images, images_in_columns: bool) -> Path:
    n = min(min(len(v) for v in panels.values()), max_images)
    if n == 0:
        raise ValueError("no images to draw")
    labels = list(panels)
    shape = (len(labels), n) if images_in_columns else (n, len(labels))
    fig, axes = plt.subplots(*shape, figsize=(2.2 * shape[1], 2.2 * shape[0]), squeeze=False)
    for j, label in enumerate(labels):
        for i in range(n):
            ax = axes[j, i] if images_in_columns else axes[i, j]
            ax.imshow(panels[label][i])
            ax.set_xticks([])
            ax.set_yticks([])
            if images_in_columns and i == 0:
                ax.set_ylabel(label)
            if not images_in_columns and i == 0:  # wrapped to the column's width (long run labels overlapped)
                ax.set_title(textwrap.fill(label, COLUMN_TITLE_CHARS), fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_time_to_quality(curves: dict, references: dict, path, machine: str = "", split: str = "test") -> Path:
    """Quality against CPU-minutes: one curve per run, the context-free priors as horizontal lines.

    Args:
        curves: {run: [row, ...]}, rows with "cpu_s" and "<split>_ab_l1" / "<split>_psnr" (the
            `colorization_tf.recipe` log).
        references: {"gray" | "mean" | "median": {split: {"ab_l1", "psnr", ...}}}.
        path: output image.
        machine: a line naming the machine and its load, printed under the figure.
        split: which photos' scores to draw.

    Returns:
        The written path.

    Reference:
        Issue 17 (time-to-quality study); the priors: `colorization_tf.lightness_prior`.
    """
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = {"median": "median(ab | L)", "mean": "E[ab | L]", "gray": "gray"}
    styles = {"median": ("k", "--"), "mean": ("0.45", ":"), "gray": ("0.7", "-.")}
    for ax, key, title in ((axes[0], "ab_l1", "ab L1 (Lab units, lower is better)"),
                           (axes[1], "psnr", "PSNR (dB, higher is better)")):
        for run, rows in curves.items():
            ax.plot([r["cpu_s"] / 60 for r in rows], [r[f"{split}_{key}"] for r in rows], marker="o", ms=3, label=run)
        for ref, (colour, style) in styles.items():
            if ref in references:
                ax.axhline(references[ref][split][key], color=colour, linestyle=style, label=labels[ref])
        if key in references.get("gray", {}).get(split, {}):  # early, far-off points of slow starters go off the axis
            gray, median = references["gray"][split][key], references.get("median", references["gray"])[split][key]
            ax.set_ylim(*((0.8 * median, 1.4 * gray) if key == "ab_l1" else (gray - 3.0, median + 2.5)))
        ax.set_xlabel("CPU-minutes of training")
        ax.set_title(f"{title}, whole {split} photos")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    loads = [r["loadavg"] for rows in curves.values() for r in rows if "loadavg" in r]
    if machine or loads:
        during = f"; load average {min(loads):.1f}-{max(loads):.1f} during training" if loads else ""
        fig.text(0.01, -0.02, f"Machine: {machine}{during}. Points off the axes: runs far from the priors.", fontsize=8)
    return save_figure(fig, path)
