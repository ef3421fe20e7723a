"""E[ab | L]: the mean chroma per lightness bin, a context-free colorization prior.

Fitted on a training split, it predicts for every pixel the average (a, b) of the training pixels
of the same lightness: sky-bright pixels get the training set's average bright colour, shadows its
average dark colour. It sees no context (no shapes, no neighbours), so a model that does not beat
it on held-out images has learnt nothing beyond the lightness-to-colour statistics. Evaluated like
a model (`evaluate_lightness_prior`), it is a reference row beside the gray prediction.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from colorization_tf import color, evaluation
from colorization_tf.data.targets import split_element

E_AB_GIVEN_L = "E[ab | L] (mean chroma per lightness)"
"""Row name of the prior in the tables."""

LIGHTNESS_BINS = 20
"""Lightness bins over L in [0, 100] (5 L units each)."""

L_MAX = 100.0


@dataclasses.dataclass
class LightnessPrior:
    """Mean (a, b) per lightness bin.

    Attributes:
        mean_ab: `[bins, 2]` mean (a, b) in Lab units; empty bins interpolated from their neighbours.
        counts: `[bins]` training pixels per bin.
    """

    mean_ab: np.ndarray
    counts: np.ndarray

    @property
    def bins(self) -> int:
        return int(self.mean_ab.shape[0])

    def predict(self, l) -> np.ndarray:
        """ab `[..., 2]` in Lab units for lightness `l` `[..., 1]` (or `[...]`) in Lab units [0, 100]."""
        l = np.asarray(l, np.float32)
        if l.shape and l.shape[-1] == 1:
            l = l[..., 0]
        return self.mean_ab[bin_index(l, self.bins)]

    def to_json(self) -> dict:
        return {"bins": self.bins, "mean_ab": self.mean_ab.tolist(), "counts": self.counts.tolist()}


def bin_index(l, bins: int = LIGHTNESS_BINS) -> np.ndarray:
    """Lightness bin of each value of `l` (Lab units, clipped to [0, 100])."""
    scaled = np.clip(np.asarray(l, np.float32), 0.0, L_MAX) / L_MAX * bins
    return np.minimum(scaled.astype(np.int64), bins - 1)


def fit_lightness_prior(dataset, normalization, bins: int = LIGHTNESS_BINS) -> LightnessPrior:
    """Fits E[ab | L] on every pixel of `dataset`.

    Args:
        dataset: batches of `(L_enc, ab_enc)` or `(L_enc, {"ab": ab_enc, ...})` (the runner's
            pipelines), encoded with `normalization`.
        normalization: the dataset's `Normalization` (or its name).
        bins: lightness bins over [0, 100].

    Returns:
        A `LightnessPrior`. Bins without training pixels take the value interpolated between
        the nearest filled bins (ab = 0 if the dataset is empty of pixels).
    """
    norm = color.get_normalization(normalization)
    counts = np.zeros(bins, np.float64)
    sums = np.zeros((bins, 2), np.float64)
    for batch in dataset:
        l_enc, target = split_element(batch)
        ab_enc = target.ab
        idx = bin_index(np.asarray(norm.decode_l(l_enc))[..., 0], bins).reshape(-1)
        ab = np.asarray(norm.decode_ab(ab_enc), np.float64).reshape(-1, 2)
        counts += np.bincount(idx, minlength=bins)
        for channel in range(2):
            sums[:, channel] += np.bincount(idx, weights=ab[:, channel], minlength=bins)
    filled = counts > 0
    mean = np.zeros((bins, 2), np.float64)
    mean[filled] = sums[filled] / counts[filled, None]
    if filled.any() and not filled.all():
        centres = np.arange(bins)
        for channel in range(2):
            mean[:, channel] = np.interp(centres, centres[filled], mean[filled, channel])
    return LightnessPrior(mean.astype(np.float32), counts.astype(np.int64))


def evaluate_lightness_prior(prior: LightnessPrior, dataset, normalization, **kwargs) -> evaluation.EvalResult:
    """Scores the prior's prediction on `dataset` like a model (`evaluation.evaluate_predictions`)."""
    norm = color.get_normalization(normalization)

    def predict(l_enc):
        return prior.predict(np.asarray(norm.decode_l(l_enc))), None

    return evaluation.evaluate_predictions(E_AB_GIVEN_L, dataset, predict, normalization, **kwargs)


__all__ = ["E_AB_GIVEN_L", "LIGHTNESS_BINS", "LightnessPrior", "bin_index", "fit_lightness_prior", "evaluate_lightness_prior"]
