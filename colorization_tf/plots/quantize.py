"""Figures of the classification set-up and of the CS520 ANN experiment.

`plot_prior_and_weights` is Ziegler's Figure 3.1 (with Zhang's Fig. 3 prior beside it): the bin prior
over the ab plane on a log scale and the rebalancing weights on the same grid. `plot_left_right` shows
the CS520 ANN result: original | ideal right half | predicted right half.

Reference:
    Ziegler 2022, Fig. 3.1; Zhang et al. 2016, Fig. 3(b); Yang & Li, CS520, Sec. 1.6.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from colorization_tf.plots.training import save_figure  # noqa: E402


def _on_grid(values, centers, bin_width) -> tuple[np.ndarray, list[float]]:
    """Scatters per-bin values onto the ab grid (NaN where no bin); returns the image and its extent."""
    from colorization_tf.quantize import grid_index

    centers = np.asarray(centers, np.float64)
    rows, cols, shape = grid_index(centers, bin_width)
    plane = np.full(shape, np.nan)
    plane[rows, cols] = np.asarray(values, np.float64)
    half = bin_width / 2.0
    extent = [centers[:, 1].min() - half, centers[:, 1].max() + half, centers[:, 0].max() + half, centers[:, 0].min() - half]
    return plane, extent


def plot_prior_and_weights(prior, weights, centers, path, *, bin_width: float = 10.0,
                           title: str | None = None, weights_label: str = "rebalancing weight") -> Path:
    """Prior (log10) and weights over the ab plane, side by side (a downwards, b to the right).

    Args:
        prior: `[Q]` bin probabilities.
        weights: `[Q]` weights (`quantize.rebalancing_weights` or `quantize.ziegler_weights`), or a
            dict name -> `[Q]` to show several weightings.
        centers: `[Q, 2]` bin centres.
        path: output image file.
        bin_width: grid width of the bins.

    Returns:
        The path written.
    """
    weight_sets = weights if isinstance(weights, dict) else {weights_label: weights}
    fig, axes = plt.subplots(1, 1 + len(weight_sets), figsize=(4.6 * (1 + len(weight_sets)), 4.2))
    p = np.asarray(prior, np.float64)
    plane, extent = _on_grid(np.log10(np.maximum(p, 1e-12)), centers, bin_width)
    im = axes[0].imshow(plane, extent=extent, cmap="jet", interpolation="nearest")
    axes[0].set_title("bin prior, log10 p")
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    for ax, (name, w) in zip(axes[1:], weight_sets.items()):
        plane, extent = _on_grid(w, centers, bin_width)
        im = ax.imshow(plane, extent=extent, cmap="viridis", interpolation="nearest")
        ax.set_title(name)
        fig.colorbar(im, ax=ax, fraction=0.046)
    for ax in axes:
        ax.set_xlabel("b")
        ax.set_ylabel("a")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_left_right(result, path, *, title: str | None = None) -> Path:
    """CS520 ANN experiment: original (quantised) | ideal right half | predicted right half.

    Args:
        result: `cs520_ann.LeftRightResult`.
        path: output image file.

    Returns:
        The path written.
    """
    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    panels = (
        ("original (4 levels)", result.original),
        ("ideal right half", result.ideal_right),
        (f"predicted right half, d = {result.difference:.2f}", result.predicted_right),
    )
    for ax, (name, img) in zip(axes, panels):
        ax.imshow(np.asarray(img))
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(title or f"CS520 ANN (constant-colour baseline d = {result.baseline_difference:.2f})")
    return save_figure(fig, path)
