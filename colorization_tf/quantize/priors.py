"""Bin priors and class-rebalancing weights: how often each ab bin occurs, and what it weighs.

One job: the empirical distribution over the bins of `quantize.bins` (computed from a dataset in one
pass, smoothed on the ab grid, saved and loaded atomically) and the loss weights derived from it:
Zhang's rebalancing (rare colours weigh more) and Ziegler's normal-fit variant. Gray images get zero
weight (`gray_image_mask`).

Reference:
    Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016, Sec. 2.2.
    Ziegler, "Deep Vision project: Image Colorization", OTH Amberg-Weiden 2022, Sec. 3.2, Fig. 3.1.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable

import numpy as np
from keras import ops

from colorization_tf import color
from colorization_tf._tensorflow import tf
from colorization_tf.fileio import atomic_write_bytes
from colorization_tf.quantize.bins import ZHANG_BIN_WIDTH, grid_index
from colorization_tf.quantize.encoding import ZHANG_SIGMA, hard_encode

ZHANG_LAMBDA = 0.5
"""Mixing weight of the uniform distribution in the class-rebalancing weights."""
GRAY_THRESHOLD = 5.0
"""An image is gray (rebalancing weight 0) when no pixel has |a| or |b| above this (Lab units)."""


def gray_image_mask(ab, threshold: float = GRAY_THRESHOLD):
    """1.0 per image that has colour (some |a| or |b| > threshold, Lab units), 0.0 for gray images.

    Args:
        ab: `[B, H, W, 2]` ab in Lab units.

    Returns:
        float32 `[B]`.

    Reference:
        Zhang et al. 2016 (released training code: gray images get zero rebalancing weight).
    """
    ab = ops.cast(ab, "float32")
    return ops.cast(ops.max(ops.abs(ab), axis=[1, 2, 3]) > threshold, "float32")


def _ab_from_element(element, ab_scale: float, ab_offset: float) -> tf.Tensor:
    """The encoded ab of a pipeline element ((L, ab), (L, {"ab": ab, ...}) or ab alone), in Lab units."""
    from colorization_tf.data.targets import Targets, split_element  # tf.data: imported when a prior is computed

    ab = split_element(element)[1].ab if isinstance(element, (tuple, list)) else Targets.of(element).ab
    return tf.cast(ab, tf.float32) * ab_scale + ab_offset


def compute_prior(
    data,
    centers,
    *,
    normalization: str | color.Normalization | None = None,
    ab_scale: float | None = None,
    sigma: float | None = ZHANG_SIGMA,
    bin_width: float | None = None,
    max_batches: int | None = None,
) -> np.ndarray:
    """Empirical bin prior of a dataset, in one pass, optionally smoothed on the ab grid.

    Args:
        data: a `tf.data.Dataset` of `(L_enc, ab_enc)` / `(L_enc, {"ab": ab_enc, ...})` batches or of
            ab tensors, or any iterable of such elements (numpy arrays are fine).
        centers: `[Q, 2]` bin centres.
        normalization: how ab is encoded in `data` (name or `color.Normalization`); None with
            `ab_scale` None means ab is in Lab units already.
        ab_scale: alternative to `normalization`: ab_enc * ab_scale is Lab units.
        sigma: Gaussian smoothing in Lab units (Zhang: 5); None or 0 for the raw histogram.
        bin_width: grid width of `centers` (inferred from their spacing when None).
        max_batches: stop after this many elements (None: the whole dataset).

    Returns:
        float64 `[Q]` probabilities summing to 1.

    Reference:
        Zhang et al. 2016, Sec. 2.2 (empirical distribution of ImageNet ab, smoothed with sigma 5).
    """
    centers = np.asarray(centers, np.float32)
    q = int(centers.shape[0])
    if normalization is not None and ab_scale is not None:
        raise ValueError("quantize.compute_prior: give normalization or ab_scale, not both")
    if normalization is not None:
        norm = color.get_normalization(normalization)
        scale, offset = norm.ab_scale, norm.ab_offset
    else:
        scale, offset = (1.0 if ab_scale is None else float(ab_scale)), 0.0

    def counts(element):
        ab = _ab_from_element(element, scale, offset)
        idx = tf.reshape(hard_encode(ab, centers), [-1])
        return tf.math.bincount(idx, minlength=q, maxlength=q, dtype=tf.int64)

    if isinstance(data, tf.data.Dataset):
        ds = data.take(max_batches) if max_batches is not None else data
        total = ds.map(lambda *e: counts(e if len(e) > 1 else e[0]), num_parallel_calls=tf.data.AUTOTUNE).reduce(
            tf.zeros([q], tf.int64), lambda acc, c: acc + c
        ).numpy()
    elif isinstance(data, Iterable):
        total = np.zeros([q], np.int64)
        for i, element in enumerate(data):
            if max_batches is not None and i >= max_batches:
                break
            total += counts(element).numpy()
    else:
        raise TypeError(f"quantize.compute_prior: expected a tf.data.Dataset or an iterable, got {type(data).__name__}")
    if total.sum() == 0:
        raise ValueError("quantize.compute_prior: the data held no pixels")
    prior = total.astype(np.float64) / total.sum()
    if sigma:
        prior = smooth_prior(prior, centers, sigma=sigma, bin_width=bin_width)
    return prior


def _infer_bin_width(centers: np.ndarray) -> float:
    values = np.unique(np.asarray(centers, np.float64))
    steps = np.diff(values)
    return float(steps[steps > 1e-6].min()) if steps.size else ZHANG_BIN_WIDTH


def smooth_prior(prior, centers, sigma: float = ZHANG_SIGMA, bin_width: float | None = None) -> np.ndarray:
    """Gaussian-smooths a bin distribution on the 2-D ab grid (sigma in Lab units), renormalised."""
    from scipy.ndimage import gaussian_filter

    centers = np.asarray(centers, np.float64)
    bin_width = bin_width or _infer_bin_width(centers)
    rows, cols, shape = grid_index(centers, bin_width)
    plane = np.zeros(shape, np.float64)
    plane[rows, cols] = np.asarray(prior, np.float64)
    plane = gaussian_filter(plane, sigma=float(sigma) / bin_width, mode="constant", truncate=4.0)
    smoothed = plane[rows, cols]
    return smoothed / smoothed.sum()


def save_prior(path: str | os.PathLike, prior, centers, **metadata) -> str:
    """Writes a prior and its bin centres to an .npz file atomically (temp file + os.replace).

    Args:
        path: destination (".npz" is appended when missing); stored beside the dataset by convention.
        prior: `[Q]` probabilities.
        centers: `[Q, 2]` bin centres.
        **metadata: scalars/strings stored alongside (e.g. bin_width, sigma, dataset).

    Returns:
        The path written.
    """
    path = os.fspath(path)
    if not path.endswith(".npz"):
        path += ".npz"
    prior = np.asarray(prior, np.float64)
    centers = np.asarray(centers, np.float32)
    if prior.shape != (centers.shape[0],):
        raise ValueError(f"quantize.save_prior: prior shape {prior.shape} does not match {centers.shape[0]} bins")
    buffer = io.BytesIO()
    np.savez(buffer, prior=prior, centers=centers, **{k: np.asarray(v) for k, v in metadata.items()})
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_prior(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, dict]:
    """Reads a prior written by `save_prior`.

    Returns:
        (prior `[Q]`, centers `[Q, 2]`, metadata dict).
    """
    path = os.fspath(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            files = dict(data)
    except (OSError, ValueError) as err:
        raise ValueError(f"quantize.load_prior: cannot read prior file {path}: {err}") from None
    if "prior" not in files or "centers" not in files:
        raise ValueError(f"quantize.load_prior: {path} is not a prior file (needs 'prior' and 'centers')")
    prior = files.pop("prior")
    centers = files.pop("centers")
    meta = {k: (v.item() if v.ndim == 0 else v) for k, v in files.items()}
    return prior, centers, meta


def rebalancing_weights(prior, lam: float = ZHANG_LAMBDA, eps: float = 1e-12) -> np.ndarray:
    """Zhang's class-rebalancing weights w = ((1 - lam) p + lam / Q)^-1, scaled so E_p[w] = 1.

    Args:
        prior: `[Q]` (smoothed) bin probabilities; normalised here.
        lam: weight of the uniform distribution (0.5 in the paper).
        eps: floor of the mixture before inversion, so empty bins get a finite weight when lam = 0.

    Returns:
        float32 `[Q]` weights; rarer bins weigh more.

    Reference:
        Zhang et al. 2016, Sec. 2.2, Eq. 4.
    """
    p = np.asarray(prior, np.float64)
    if p.ndim != 1 or np.any(p < 0) or p.sum() <= 0:
        raise ValueError("quantize.rebalancing_weights: prior must be a non-negative [Q] vector with mass")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"quantize.rebalancing_weights: lam must be in [0, 1], got {lam}")
    p = p / p.sum()
    w = 1.0 / np.maximum((1.0 - lam) * p + lam / p.size, eps)
    return (w / np.sum(p * w)).astype(np.float32)


def fit_normal(prior, centers) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (Lab units) of the ab distribution described by a bin prior."""
    p = np.asarray(prior, np.float64)
    p = p / p.sum()
    c = np.asarray(centers, np.float64)
    mean = p @ c
    diff = c - mean
    cov = (p[:, None] * diff).T @ diff
    return mean, cov


def ziegler_weights(prior, centers, lam: float = ZHANG_LAMBDA, min_variance: float = 1.0) -> np.ndarray:
    """Ziegler's weights: rebalancing from a normal distribution fitted to the colour distribution.

    Ziegler (Sec. 3.2): "the color distribution is used to calculate a normal distribution for all
    classes", shown as a weight map over the ab plane (his Fig. 3.1). Reading used here: fit a 2-D normal
    (mean and covariance of ab under the data's bin prior), evaluate it at every bin centre, normalise it
    over the bins, and use that smooth distribution q in place of the empirical prior in Zhang's formula,
    w = ((1 - lam) q + lam / Q)^-1, scaled so E_p[w] = 1 under the data's prior p. Weights then grow
    smoothly with the Mahalanobis distance from the mean colour and are bounded by Q / lam.

    Args:
        prior: `[Q]` bin prior of the data.
        centers: `[Q, 2]` bin centres.
        lam: uniform mixing weight.
        min_variance: floor on the covariance's eigenvalues (Lab units^2), for near-gray data.

    Returns:
        float32 `[Q]` weights.

    Reference:
        Ziegler 2022, Sec. 3.2 and Fig. 3.1.
    """
    p = np.asarray(prior, np.float64)
    p = p / p.sum()
    mean, cov = fit_normal(p, centers)
    vals, vecs = np.linalg.eigh(cov)
    cov = (vecs * np.maximum(vals, min_variance)) @ vecs.T
    diff = np.asarray(centers, np.float64) - mean
    maha = np.einsum("qi,ij,qj->q", diff, np.linalg.inv(cov), diff)
    q = np.exp(-0.5 * maha)
    q = q / q.sum()
    w = 1.0 / ((1.0 - lam) * q + lam / q.size)
    return (w / np.sum(p * w)).astype(np.float32)


__all__ = [
    "ZHANG_LAMBDA",
    "GRAY_THRESHOLD",
    "compute_prior",
    "fit_normal",
    "gray_image_mask",
    "load_prior",
    "rebalancing_weights",
    "save_prior",
    "smooth_prior",
    "ziegler_weights",
]
