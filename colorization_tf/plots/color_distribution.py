"""The colour distribution of a dataset (Ziegler section 2.4): ab histograms, overall and per L range.

The histogram is accumulated in one pass over a tf.data pipeline (decode -> resize -> Lab ->
`tf.math.bincount` per batch, summed with `Dataset.reduce`), so it works on folders that do not
fit in memory. The figure shows log10 counts over the ab plane: one panel for all pixels, then one
panel per lightness range, which shows that the likely colours depend on L (the reason a model can
guess colour from gray at all).

Reference:
    Ziegler, "Deep Vision Colorization" (2022), section 2.4 and figure 2.4; Zhang et al. (2016),
    figure 3 (the ImageNet ab distribution, log scale).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from colorization_tf.color import AB_SCALE, lab_to_rgb, rgb_to_lab  # noqa: E402
from colorization_tf.fileio import atomic_path  # noqa: E402

DEFAULT_L_EDGES = (0.0, 25.0, 50.0, 75.0, 100.0)
"""Lightness ranges of the per-L panels."""
DEFAULT_AB_BIN = 2.0
"""Width of a histogram cell in ab units."""


def ab_histogram(
    images: tf.data.Dataset,
    *,
    ab_bin: float = DEFAULT_AB_BIN,
    ab_limit: float = AB_SCALE,
    l_edges: Sequence[float] = DEFAULT_L_EDGES,
) -> dict:
    """Counts pixels per (L range, a cell, b cell) in one pass over a dataset.

    Args:
        images: dataset of uint8 RGB images `[H, W, 3]` or batches `[B, H, W, 3]` (e.g.
            `pipeline.build_image_dataset(paths, 64).batch(64)`); `(image, label)` elements are fine.
        ab_bin: cell width in ab units.
        ab_limit: cells cover [-ab_limit, ab_limit] on both axes (values beyond are clipped in).
        l_edges: increasing L boundaries; len(l_edges) - 1 ranges.

    Returns:
        {"counts": int64 `[n_L, n_ab, n_ab]` (axis 1 = a, axis 2 = b), "ab_edges": `[n_ab + 1]`,
        "l_edges": `[n_L + 1]`, "pixels": total count}.
    """
    n_ab = int(round(2 * ab_limit / ab_bin))
    l_edges_t = tf.constant(l_edges[1:-1], tf.float32)
    n_l = len(l_edges) - 1
    size = n_l * n_ab * n_ab

    def count(element):
        image = element[0] if isinstance(element, tuple) else element
        lab = tf.reshape(rgb_to_lab(image), [-1, 3])
        l_index = tf.searchsorted(l_edges_t, lab[:, 0], side="right")
        ab_index = tf.cast(tf.floor((lab[:, 1:] + ab_limit) / ab_bin), tf.int32)
        ab_index = tf.clip_by_value(ab_index, 0, n_ab - 1)
        flat = (l_index * n_ab + ab_index[:, 0]) * n_ab + ab_index[:, 1]
        return tf.math.bincount(flat, minlength=size, maxlength=size, dtype=tf.int64)

    def reducer(total, element):
        if isinstance(element, tuple):
            element = element[0]
        return total + count(element)

    total = images.reduce(tf.zeros([size], tf.int64), reducer)
    counts = total.numpy().reshape(n_l, n_ab, n_ab)
    return {
        "counts": counts,
        "ab_edges": np.linspace(-ab_limit, ab_limit, n_ab + 1),
        "l_edges": np.asarray(l_edges, float),
        "pixels": int(counts.sum()),
    }


def _ab_background(ab_edges: np.ndarray, lightness: float) -> np.ndarray:
    centres = (ab_edges[:-1] + ab_edges[1:]) / 2
    a, b = np.meshgrid(centres, centres, indexing="ij")
    lab = np.stack([np.full_like(a, lightness), a, b], -1)
    return lab_to_rgb(tf.constant(lab, tf.float32)).numpy()


def plot_ab_histogram(histogram: dict, path, title: str = "ab distribution") -> Path:
    """Draws the overall and per-L ab histograms (log colour scale) and saves a PNG atomically.

    Each panel shows log10(count) with the ab colour itself (at the range's middle L) underneath,
    faded, so the axes read as colours.

    Args:
        histogram: `ab_histogram` output.
        path: PNG file to write.
        title: figure title.

    Returns:
        `Path(path)`.
    """
    counts, edges, l_edges = histogram["counts"], histogram["ab_edges"], histogram["l_edges"]
    panels = [("all L", counts.sum(0), 50.0)] + [
        (f"L in [{l_edges[i]:g}, {l_edges[i + 1]:g})", counts[i], (l_edges[i] + l_edges[i + 1]) / 2)
        for i in range(len(counts))
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6), squeeze=False)
    extent = (edges[0], edges[-1], edges[0], edges[-1])
    for ax, (label, grid, l_mid) in zip(axes[0], panels):
        ax.imshow(np.transpose(_ab_background(edges, l_mid), (1, 0, 2)), origin="lower", extent=extent, alpha=0.35)
        masked = np.ma.masked_less_equal(grid.T.astype(float), 0)
        if masked.count():
            norm = LogNorm(vmin=1, vmax=max(2, masked.max()))
            image = ax.imshow(masked, origin="lower", extent=extent, cmap="viridis", norm=norm)
            fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="pixels (log)")
        ax.set_title(f"{label}\n{int(grid.sum()):,} px", fontsize=9)
        ax.set_xlabel("a")
        ax.set_ylabel("b")
    fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return path


def color_distribution_figure(
    paths: Sequence,
    out_path,
    *,
    image_size: int = 64,
    batch_size: int = 64,
    l_edges: Sequence[float] = DEFAULT_L_EDGES,
    ab_bin: float = DEFAULT_AB_BIN,
    title: str | None = None,
) -> dict:
    """Files -> the colour-distribution figure (Ziegler figure 2.4) in one tf.data pass.

    Args:
        paths: image files.
        out_path: PNG to write.
        image_size: images are resized to this before counting (shape statistics barely change).
        batch_size: images per counted batch.
        l_edges, ab_bin: see `ab_histogram`.
        title: figure title (default: the number of images).

    Returns:
        The `ab_histogram` dict (plus "path").
    """
    from colorization_tf.data.pipeline import build_image_dataset

    images = build_image_dataset(paths, image_size).batch(batch_size)
    histogram = ab_histogram(images, ab_bin=ab_bin, l_edges=l_edges)
    histogram["path"] = plot_ab_histogram(histogram, out_path, title or f"ab distribution of {len(paths)} images")
    return histogram


__all__ = ["ab_histogram", "plot_ab_histogram", "color_distribution_figure"]
