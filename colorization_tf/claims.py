"""Checking a paper's qualitative claim on per-image numbers: tint, colourfulness, hue collapse, and
whether a difference is larger than its spread.

One job: turn two models' per-image values (or one model's against a threshold) into a verdict
that a claims table can state -- "yes", "no", or "no difference" when the difference is within
`SPREAD` standard errors of the per-image paired difference (the spread over photos; an experiment
trained once has no run-to-run spread from seeds, so the standard error over its test photos
stands in for it, and the table says so). The measures are numpy functions of ab in Lab units:

- `mean_chroma`: mean |ab| per image (saturation, not hue);
- `sepia_share`: the share of an image's coloured pixels whose hue lies in the orange-yellow
  sector `SEPIA_HUES` (a sepia tint is hue concentrated there, whatever the saturation);
- `hue_histogram` / `hue_collapse`: the share of coloured pixels per 60-degree hue sector, and the
  sector that holds more than `COLLAPSE_POINTS` percentage points (absolute) more of a model's
  coloured pixels than of the truth's.

Reference:
    Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016, Sections 2.1-2.2 (regression is
    desaturated, rebalanced classification is more colourful); Menon & Talukdar 2021, Section 1
    (L1 "reduces the chance that the images are all painted with the sepia tint", after the U-Net /
    cGAN tutorial they cite as [7]); Lee et al. 2016, Section IV (outputs "only green, red, or blue").
"""

from __future__ import annotations

import dataclasses

import numpy as np

YES, NO, NO_DIFFERENCE, NOT_RUN = "yes", "no", "no difference", "not run"
"""Verdicts of a claim."""

SPREAD = 2.0
"""A difference within this many standard errors of the mean per-image difference is "no difference"."""

CHROMA_MIN = 5.0
"""Pixels with chroma (|ab|, Lab units) below this count as gray (no hue)."""

HUE_SECTORS = ("red", "yellow", "green", "cyan", "blue", "magenta")
"""Six 60-degree sectors of the Lab hue angle atan2(b, a): [0, 60) "red", [60, 120) "yellow", ..."""

SEPIA_HUES = (40.0, 100.0)
"""The orange-yellow hue angles (degrees) of a sepia tint: sepia RGB (112, 66, 20) has Lab hue ~69 degrees."""

COLLAPSE_POINTS = 0.30
"""A hue collapse: one sector holds 30 percentage points (absolute, not relative) more of a model's
coloured pixels than of the truth's, e.g. 55% against the truth's 25%."""


@dataclasses.dataclass(frozen=True)
class Comparison:
    """A claimed difference measured on per-image values.

    Attributes:
        a, b: the two means (b: the threshold for a one-sided check).
        difference: mean of the per-image a - b (the claim says it is positive).
        standard_error: of that mean (std of the per-image differences / sqrt(n); inf for n < 2).
        n: images.
        verdict: `YES` (difference > `SPREAD` standard errors), `NO` (< minus that), else `NO_DIFFERENCE`.
    """

    a: float
    b: float
    difference: float
    standard_error: float
    n: int
    verdict: str

    def shown(self, digits: int = 2) -> str:
        """"d = 1.23 +/- 0.45 (2 SE, 30 images)"."""
        return (f"difference {self.difference:+.{digits}f} ± {SPREAD * self.standard_error:.{digits}f} "
                f"({SPREAD:g} SE over {self.n} images)")


def compare(a, b) -> Comparison:
    """Whether per-image values `a` exceed `b` (paired: the same images), beyond the spread.

    Args:
        a: `[N]` values of the side the claim says is larger (e.g. the classification model's colourfulness).
        b: `[N]` values of the other side, or a scalar threshold.

    Returns:
        A `Comparison`.
    """
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.broadcast_to(np.asarray(b, np.float64), a.shape).reshape(-1)
    if a.size == 0:
        raise ValueError("colorization_tf/claims.py: no images to compare")
    d = a - b
    se = float(np.std(d, ddof=1) / np.sqrt(d.size)) if d.size > 1 else float("inf")
    mean = float(np.mean(d))
    verdict = YES if mean > SPREAD * se else NO if mean < -SPREAD * se else NO_DIFFERENCE
    return Comparison(float(np.mean(a)), float(np.mean(b)), mean, se, int(d.size), verdict)


def across_seeds(comparisons: list[Comparison]) -> str:
    """The verdict of one claim measured on runs trained with different seeds: `YES` (or `NO`) only when
    every seed's comparison says so, else `NO_DIFFERENCE` (the difference is within the run-to-run
    spread: another seed does not repeat it).

    Args:
        comparisons: one `Comparison` per seed (at least one).
    """
    if not comparisons:
        raise ValueError("colorization_tf/claims.py: no comparison to combine")
    verdicts = {c.verdict for c in comparisons}
    return verdicts.pop() if len(verdicts) == 1 else NO_DIFFERENCE


def _pixels(ab) -> np.ndarray:
    """ab `[N, H, W, 2]` (or `[N, P, 2]`) as `[N, P, 2]` float64."""
    ab = np.asarray(ab, np.float64)
    return ab.reshape(ab.shape[0], -1, 2)


def _hue(ab) -> tuple[np.ndarray, np.ndarray]:
    """(hue angle in degrees [0, 360), coloured mask) per pixel, shaped like ab without its last axis."""
    ab = np.asarray(ab, np.float64)
    return np.degrees(np.arctan2(ab[..., 1], ab[..., 0])) % 360.0, np.hypot(ab[..., 0], ab[..., 1]) >= CHROMA_MIN


def mean_chroma(ab) -> np.ndarray:
    """Mean |ab| of each image: `[N]` (ab `[N, H, W, 2]`, Lab units)."""
    p = _pixels(ab)
    return np.hypot(p[..., 0], p[..., 1]).mean(axis=1)


def sepia_share(ab, hues: tuple[float, float] = SEPIA_HUES) -> np.ndarray:
    """Share of each image's coloured pixels whose hue is in `hues` (0 for an image with none coloured): `[N]`.

    A tint, not a saturation: a faint and a vivid orange cast score the same; the gray pixels
    (`CHROMA_MIN`) do not count.
    """
    hue, coloured = _hue(_pixels(ab))
    inside = coloured & (hue >= hues[0]) & (hue < hues[1])
    count = coloured.sum(axis=1)
    return np.where(count > 0, inside.sum(axis=1) / np.maximum(count, 1), 0.0)


def hue_histogram(ab) -> tuple[np.ndarray, float]:
    """Share of the coloured pixels (chroma >= `CHROMA_MIN`) per `HUE_SECTORS`, and the coloured fraction.

    Args:
        ab: `[..., 2]` in Lab units (all pixels pooled).

    Returns:
        (`[6]` shares summing to 1, or zeros when no pixel is coloured; fraction of coloured pixels).
    """
    ab = np.asarray(ab, np.float64).reshape(-1, 2)
    hue, coloured = _hue(ab)
    counts = np.bincount((hue[coloured] // 60.0).astype(np.int64) % 6, minlength=6).astype(np.float64)
    total = counts.sum()
    return (counts / total if total else counts), float(coloured.mean()) if len(ab) else 0.0


def hue_collapse(model_hist, truth_hist) -> str | None:
    """The sector a model collapsed onto (its share exceeds the truth's by more than `COLLAPSE_POINTS`,
    absolute), else None."""
    excess = np.asarray(model_hist) - np.asarray(truth_hist)
    worst = int(np.argmax(excess))
    return HUE_SECTORS[worst] if excess[worst] > COLLAPSE_POINTS else None


def collapse_margin(pred_ab, true_ab) -> tuple[Comparison, str]:
    """How far below `COLLAPSE_POINTS` the model's worst sector's excess over the truth stays, per image.

    The worst sector is the one whose pooled share exceeds the truth's most; per image, the excess
    is the model's share of that sector minus the truth's (images where either has no coloured
    pixel are left out). The claim "no collapse" is `YES` when the mean excess is below the
    threshold by more than the spread.

    Returns:
        (`compare(COLLAPSE_POINTS, excess)`: a = the threshold, b = the mean excess; the sector's name).
    """
    pooled = hue_histogram(pred_ab)[0] - hue_histogram(true_ab)[0]
    worst = int(np.argmax(pooled))
    shares = []
    for pred, true in zip(_pixels(pred_ab), _pixels(true_ab)):
        (hp, cp), (ht, ct) = hue_histogram(pred), hue_histogram(true)
        if cp > 0 and ct > 0:
            shares.append(hp[worst] - ht[worst])
    excess = np.asarray(shares) if shares else np.asarray([pooled[worst]])
    return compare(np.full(excess.shape, COLLAPSE_POINTS), excess), HUE_SECTORS[worst]


__all__ = ["YES", "NO", "NO_DIFFERENCE", "NOT_RUN", "SPREAD", "CHROMA_MIN", "HUE_SECTORS", "SEPIA_HUES", "COLLAPSE_POINTS",
           "Comparison", "compare", "mean_chroma", "sepia_share", "hue_histogram", "hue_collapse", "collapse_margin"]
