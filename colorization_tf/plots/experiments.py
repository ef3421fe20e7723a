"""Experiment figures: curves of several runs on one plot, the same images by every model, bars.

Inputs are plain numpy arrays / dicts; every figure is written atomically through
`plots.training.save_figure`.

Reference:
    Ziegler 2022, Figures 4.1-4.3 (losses of every run) and 5.1 (pictures by model);
    Ghiotto 2021, PolyChromify Figures 3-4 (validation accuracy of every model);
    Yang & Li, CS520 section 1.6 (original | ideal right half | predicted right half).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from colorization_tf.plots.training import plot_comparison, save_figure  # noqa: E402


def lab_to_rgb_np(l, ab) -> np.ndarray:
    """L `[..., 1]` and ab `[..., 2]` (Lab units) -> sRGB float in [0, 1] (numpy)."""
    from colorization_tf import color

    return np.asarray(color.lab_to_rgb(color.join_lab(l, ab)))


def plot_histories(
    histories: Mapping[str, Mapping[str, Sequence[float]]],
    path,
    *,
    keys: Sequence[str] | None = None,
    title: str | None = None,
    log_scale: bool = False,
) -> Path:
    """One panel per quantity, one line per run (e.g. every run's loss and val_loss).

    Args:
        histories: run label -> history (metric -> per-epoch values).
        path: output image file.
        keys: quantities to draw (default: "loss" and "val_loss" where present, else every key).
        title: figure title.
        log_scale: logarithmic y axis (CE losses are orders of magnitude above L1/L2, Ziegler 4.1.2).

    Returns:
        The path written.
    """
    if not histories:
        raise ValueError("plot_histories: no histories")
    present = {k for h in histories.values() for k in h if k != "epoch"}
    if keys is None:
        keys = [k for k in ("loss", "val_loss") if k in present] or sorted(present)
    keys = [k for k in keys if k in present]
    if not keys:
        raise ValueError(f"plot_histories: none of the requested keys in {sorted(present)}")
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.6), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for label, history in histories.items():
            values = history.get(key)
            if values:
                epochs = np.arange(1, len(values) + 1)
                ax.plot(epochs, values, marker="o" if len(values) < 3 else None, label=label)
        ax.set_xlabel("epoch")
        ax.set_title(key)
        if log_scale:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_model_grid(samples: Mapping[str, Mapping[str, np.ndarray]], path, *, max_images: int = 6, title: str | None = None) -> Path:
    """The same images colorized by every model: gray | model 1 | ... | ground truth.

    Args:
        samples: model label -> {"l": [N,H,W,1], "ab_true": [N,H,W,2], "ab_pred": [N,H,W,2]} in Lab
            units (`evaluation.EvalResult.samples`). The gray input and ground truth are taken from
            the first entry; models may work at different sizes.
        path: output image file.
        max_images: rows.
        title: figure title.

    Returns:
        The path written.
    """
    if not samples:
        raise ValueError("plot_model_grid: no models")
    first = next(iter(samples.values()))
    gray = np.repeat(np.clip(np.asarray(first["l"]) / 100.0, 0, 1), 3, axis=-1)
    truth = lab_to_rgb_np(first["l"], first["ab_true"])
    columns = {name: lab_to_rgb_np(s["l"], s["ab_pred"]) for name, s in samples.items()}
    return plot_comparison(gray, columns, path, truth=truth, title=title, max_images=max_images)


def plot_bars(values: Mapping[str, float], path, *, ylabel: str, title: str | None = None, reference: float | None = None, reference_label: str = "") -> Path:
    """A bar per model (e.g. accuracy, PSNR, training time), with an optional horizontal reference line."""
    labels = list(values)
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(labels) + 2), 3.6))
    ax.bar(range(len(labels)), [values[k] if values[k] is not None else np.nan for k in labels], color="tab:blue")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    if reference is not None:
        ax.axhline(reference, color="tab:red", linestyle="--", label=reference_label or None)
        if reference_label:
            ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_image_rows(rows: Mapping[str, Sequence[np.ndarray]], path, *, column_titles: Sequence[str] = (), title: str | None = None) -> Path:
    """Free-form image table: one row per label, images (RGB float/uint8, any sizes) across.

    Used for CS520's half-image experiment: original | ideal right half | predicted right half.
    """
    labels = list(rows)
    n_cols = max(len(v) for v in rows.values())
    fig, axes = plt.subplots(len(labels), n_cols, figsize=(2.6 * n_cols, 2.4 * len(labels)), squeeze=False)
    for i, label in enumerate(labels):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(rows[label]):
                image = np.asarray(rows[label][j])
                ax.imshow(image if image.dtype == np.uint8 else np.clip(image, 0, 1))
            else:
                ax.axis("off")
            if j == 0:
                ax.set_ylabel(label)
            if i == 0 and j < len(column_titles):
                ax.set_title(column_titles[j], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


__all__ = ["lab_to_rgb_np", "plot_histories", "plot_model_grid", "plot_bars", "plot_image_rows"]
