"""E[ab | L] and median(ab | L): context-free colorization priors, one colour per lightness bin.

Fitted on a training split, E[ab | L] predicts for every pixel the average (a, b) of the training
pixels of the same lightness: sky-bright pixels get the training set's average bright colour,
shadows its average dark colour. It sees no context (no shapes, no neighbours), so a model that
does not beat it on held-out images has learnt nothing beyond the lightness-to-colour statistics.
Evaluated like a model (`evaluate_lightness_prior`), it is a reference row beside the gray
prediction.

The mean is the best context-free guess under a squared error (PSNR), not under the ab L1 error:
there the per-channel median is (`statistic="median"`). Where most pixels are nearly gray and a
few are vivid, the mean drifts towards the vivid few and can score a worse L1 than gray itself,
which the median cannot do on its training pixels. Both rows are reported.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from colorization_tf import color, evaluation
from colorization_tf.data.targets import split_element

E_AB_GIVEN_L = "E[ab | L] (mean chroma per lightness)"
"""Row name of the mean prior in the tables."""

MEDIAN_AB_GIVEN_L = "median(ab | L) (median chroma per lightness)"
"""Row name of the median prior in the tables."""

STATISTICS = {"mean": E_AB_GIVEN_L, "median": MEDIAN_AB_GIVEN_L}
"""Statistic -> row name."""

AB_LIMIT = 128.0
"""The median's histograms cover a and b in [-AB_LIMIT, AB_LIMIT] (the Lab gamut of sRGB fits)."""

AB_STEP = 0.25
"""Grid of the median's histograms, Lab units: values are rounded to it, so the median is exact to half of
this (and exact for values on the grid, such as 0)."""

LIGHTNESS_BINS = 20
"""Lightness bins over L in [0, 100] (5 L units each)."""

L_MAX = 100.0


@dataclasses.dataclass
class LightnessPrior:
    """One (a, b) per lightness bin: the mean or the per-channel median of the training pixels.

    Attributes:
        ab: `[bins, 2]` (a, b) in Lab units; empty bins interpolated from their neighbours.
        counts: `[bins]` training pixels per bin.
        statistic: "mean" or "median".
    """

    ab: np.ndarray
    counts: np.ndarray
    statistic: str = "mean"

    @property
    def name(self) -> str:
        """Its row name in the tables (`STATISTICS`)."""
        return STATISTICS[self.statistic]

    @property
    def bins(self) -> int:
        return int(self.ab.shape[0])

    def predict(self, l) -> np.ndarray:
        """ab `[..., 2]` in Lab units for lightness `l` `[..., 1]` (or `[...]`) in Lab units [0, 100]."""
        l = np.asarray(l, np.float32)
        if l.shape and l.shape[-1] == 1:
            l = l[..., 0]
        return self.ab[bin_index(l, self.bins)]

    def to_json(self) -> dict:
        return {"statistic": self.statistic, "bins": self.bins, "ab": self.ab.tolist(), "counts": self.counts.tolist()}


def bin_index(l, bins: int = LIGHTNESS_BINS) -> np.ndarray:
    """Lightness bin of each value of `l` (Lab units, clipped to [0, 100])."""
    scaled = np.clip(np.asarray(l, np.float32), 0.0, L_MAX) / L_MAX * bins
    return np.minimum(scaled.astype(np.int64), bins - 1)


def _histogram_medians(histograms: np.ndarray) -> np.ndarray:
    """Per-row medians of `[rows, n]` histograms whose bin i holds the values nearest -AB_LIMIT + i * AB_STEP (row of zeros -> 0)."""
    cumulative = np.cumsum(histograms, axis=-1)
    half = cumulative[..., -1:] / 2.0
    index = np.argmax(cumulative >= half, axis=-1)
    return np.where(cumulative[..., -1] > 0, -AB_LIMIT + index * AB_STEP, 0.0)


def fit_lightness_prior(dataset, preprocessor, bins: int = LIGHTNESS_BINS, statistic: str = "mean") -> LightnessPrior:
    """Fits E[ab | L] (or median(ab | L)) on every pixel of `dataset`.

    Args:
        dataset: batches of `(L_enc, ab_enc)` or `(L_enc, {"ab": ab_enc, ...})` (the runner's
            pipelines), encoded with `preprocessor`.
        preprocessor: the dataset's `Preprocessor` (`ModelSpec.preprocessor`) or `Normalization` (or its name).
        bins: lightness bins over [0, 100].
        statistic: "mean" (best under squared error) or "median" (per channel, best under the
            ab L1 error; from `AB_STEP`-wide histograms over [-`AB_LIMIT`, `AB_LIMIT`]).

    Returns:
        A `LightnessPrior`. Bins without training pixels take the value interpolated between
        the nearest filled bins (ab = 0 if the dataset is empty of pixels).
    """
    return fit_lightness_priors(dataset, preprocessor, bins, (statistic,))[statistic]


def fit_lightness_priors(dataset, preprocessor, bins: int = LIGHTNESS_BINS, statistics=tuple(STATISTICS)) -> dict[str, LightnessPrior]:
    """Fits several statistics (`fit_lightness_prior`) in one pass over `dataset`.

    Returns:
        {statistic: `LightnessPrior`} for each of `statistics`.
    """
    for statistic in statistics:
        if statistic not in STATISTICS:
            raise ValueError(f"Unknown statistic {statistic!r}; choose from {sorted(STATISTICS)}")
    norm = color.get_normalization(preprocessor)
    n_steps = int(round(2 * AB_LIMIT / AB_STEP)) + 1
    counts = np.zeros(bins, np.float64)
    sums = np.zeros((bins, 2), np.float64)
    histograms = np.zeros((2, bins * n_steps), np.float64) if "median" in statistics else None
    for batch in dataset:
        l_enc, target = split_element(batch)
        idx = bin_index(np.asarray(norm.decode_l(l_enc))[..., 0], bins).reshape(-1)
        ab = np.asarray(norm.decode_ab(target.ab), np.float64).reshape(-1, 2)
        counts += np.bincount(idx, minlength=bins)
        for channel in range(2):
            sums[:, channel] += np.bincount(idx, weights=ab[:, channel], minlength=bins)
            if histograms is not None:
                step = np.clip(np.rint((ab[:, channel] + AB_LIMIT) / AB_STEP).astype(np.int64), 0, n_steps - 1)
                histograms[channel] += np.bincount(idx * n_steps + step, minlength=bins * n_steps)
    filled = counts > 0
    priors = {}
    for statistic in statistics:
        values = np.zeros((bins, 2), np.float64)
        if statistic == "mean":
            values[filled] = sums[filled] / counts[filled, None]
        else:
            values = _histogram_medians(histograms.reshape(2, bins, n_steps)).T
        if filled.any() and not filled.all():
            centres = np.arange(bins)
            for channel in range(2):
                values[:, channel] = np.interp(centres, centres[filled], values[filled, channel])
        priors[statistic] = LightnessPrior(values.astype(np.float32), counts.astype(np.int64), statistic)
    return priors


def evaluate_lightness_prior(prior: LightnessPrior, dataset, preprocessor, **kwargs) -> evaluation.EvalResult:
    """Scores the prior's prediction on `dataset` like a model (`evaluation.evaluate_predictions`;
    `preprocessor`: the dataset's `Preprocessor` or normalisation)."""
    norm = color.get_normalization(preprocessor)

    def predict(l_enc):
        return prior.predict(np.asarray(norm.decode_l(l_enc))), None

    return evaluation.evaluate_predictions(prior.name, dataset, predict, preprocessor, **kwargs)


__all__ = ["E_AB_GIVEN_L", "MEDIAN_AB_GIVEN_L", "STATISTICS", "LIGHTNESS_BINS", "LightnessPrior", "bin_index", "fit_lightness_prior",
           "fit_lightness_priors", "evaluate_lightness_prior"]
