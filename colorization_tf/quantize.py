"""Colorization as classification: ab bins, soft encoding, priors, rebalancing, annealed mean.

Zhang et al. (ECCV 2016) quantise the ab plane on a grid of width 10 and keep Q = 313 bins;
targets are soft-encoded over the nearest bins, rare colours are up-weighted with the smoothed
empirical bin prior, and predictions are decoded by the annealed mean of the bin distribution.
Ziegler (2022) reproduces this with wider bins ("bucket size") and his own weights.

Which bins: two ab regions are offered, both applied to a grid of any width (grid points at
multiples of `bin_width`).

* ``gamut="zhang"`` (default): the grid points inside the convex polygon `ZHANG_AB_HULL`, the convex
  hull of the 313 points Zhang et al. released as ``pts_in_hull.npy``. At width 10 this gives exactly
  their 313 bins in their order (a ascending, then b), so a model trained here has the channel order
  of theirs. That region is *not* the sRGB gamut: it reaches 10-14 Lab units beyond the sRGB ab
  boundary on every side (e.g. (100, 0), (-30, -50), (90, 70) hold no sRGB colour). No in-gamut rule
  on sRGB reproduces it (checked: cell occupancy 262 bins, grid point in gamut at some L 229,
  lab->rgb->lab round-trip tolerances, Euclidean / L-inf dilations of the sRGB ab set or its hull:
  none separates the 313 from the rest) - presumably the hull of an empirical (ImageNet) ab set.
* ``gamut="srgb"``: computed from the sRGB gamut itself: a cell (the square of side `bin_width` around
  a grid point) is kept when the ab of some sRGB colour, at any L, falls in it (262 bins at width 10).

Every sRGB colour lies within one bin of a centre in both sets; the "zhang" set is a superset of the
"srgb" set at width 10.

Reference:
    Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016, Sec. 2.1-2.3.
    Ziegler, "Deep Vision project: Image Colorization", OTH Amberg-Weiden 2022, Sec. 3.2, Fig. 3.1.
"""

from __future__ import annotations

import functools
import io
import os
from collections.abc import Iterable

import keras
import numpy as np
import tensorflow as tf

from colorization_tf import color
from colorization_tf.data.targets import Targets, split_element
from colorization_tf.fileio import atomic_write_bytes

ZHANG_BIN_WIDTH = 10
ZHANG_NUM_BINS = 313
ZHANG_SIGMA = 5.0
"""Gaussian sigma (Lab units) of the soft encoding and of the prior smoothing."""
ZHANG_NEIGHBOURS = 5
"""Nearest bins of the soft encoding (paper: 5; the released code: 10)."""
ZHANG_LAMBDA = 0.5
"""Mixing weight of the uniform distribution in the class-rebalancing weights."""
ZHANG_TEMPERATURE = 0.38
"""Annealed-mean temperature."""
GRAY_THRESHOLD = 5.0
"""An image is gray (rebalancing weight 0) when no pixel has |a| or |b| above this (Lab units)."""

ZHANG_AB_HULL = np.array(
    [
        (-90, 90), (-90, 50), (-80, 20), (-60, -20), (-30, -50), (10, -80), (40, -100), (60, -110),
        (90, -110), (100, -90), (100, 0), (90, 70), (70, 80), (40, 90), (0, 100), (-50, 100),
    ],
    dtype=np.float64,
)
"""Vertices (a, b), counter-clockwise, of the convex hull of Zhang et al.'s 313 released bins."""

GAMUTS = ("zhang", "srgb")
_GRID_LIMIT = 130.0  # |a|, |b| of every candidate grid point stays below this.
_SRGB_SAMPLES = 65  # levels per channel of the RGB cube interior sample
_SRGB_FACE_SAMPLES = 257  # levels per axis on the cube's faces, where the ab boundary lies


def _grid_points(bin_width: float) -> np.ndarray:
    """Grid points at multiples of `bin_width`, a-major then b (the order of Zhang's file)."""
    n = int(np.floor(_GRID_LIMIT / bin_width))
    axis = np.arange(-n, n + 1, dtype=np.float64) * bin_width
    a, b = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1)


def _inside_convex_polygon(points: np.ndarray, vertices: np.ndarray, tol: float = 1e-6) -> np.ndarray:
    """True where a point lies inside or on a counter-clockwise convex polygon."""
    edges = np.roll(vertices, -1, axis=0) - vertices
    rel = points[:, None, :] - vertices[None, :, :]
    cross = edges[None, :, 0] * rel[..., 1] - edges[None, :, 1] * rel[..., 0]
    return np.all(cross >= -tol, axis=1)


@functools.lru_cache(maxsize=1)
def srgb_ab_samples() -> np.ndarray:
    """ab (Lab units) of a dense sample of the sRGB gamut: the RGB cube's interior and its faces.

    Returns:
        float64 `[N, 2]` array (cached; do not modify).
    """
    g = np.linspace(0.0, 1.0, _SRGB_SAMPLES)
    cube = np.stack(np.meshgrid(g, g, g, indexing="ij"), axis=-1).reshape(-1, 3)
    f = np.linspace(0.0, 1.0, _SRGB_FACE_SAMPLES)
    u, v = (x.ravel() for x in np.meshgrid(f, f, indexing="ij"))
    faces = [cube]
    for axis in range(3):
        for value in (0.0, 1.0):
            cols = [u, v]
            cols.insert(axis, np.full_like(u, value))
            faces.append(np.stack(cols, axis=-1))
    rgb = np.concatenate(faces)
    ab = color.rgb_to_lab(tf.constant(rgb, tf.float32)).numpy()[:, 1:].astype(np.float64)
    ab.setflags(write=False)
    return ab


@functools.lru_cache(maxsize=16)
def _bin_centers_cached(bin_width: float, gamut: str) -> np.ndarray:
    grid = _grid_points(bin_width)
    if gamut == "zhang":
        keep = _inside_convex_polygon(grid, ZHANG_AB_HULL)
    else:
        cells = np.round(srgb_ab_samples() / bin_width).astype(np.int64)
        occupied = {tuple(c) for c in np.unique(cells, axis=0)}
        keep = np.array([(int(round(a / bin_width)), int(round(b / bin_width))) in occupied for a, b in grid])
    centers = grid[keep].astype(np.float32)
    centers.setflags(write=False)
    return centers


def ab_bin_centers(bin_width: float = ZHANG_BIN_WIDTH, gamut: str = "zhang") -> np.ndarray:
    """Centres of the ab bins: grid points at multiples of `bin_width` inside the chosen region.

    Args:
        bin_width: grid width in Lab units (10: Zhang's 313 bins; Ziegler used wider bins).
        gamut: "zhang" (grid points inside the hull of Zhang's released bins; 313 at width 10) or
            "srgb" (cells that hold the ab of some sRGB colour; 262 at width 10). See the module doc.

    Returns:
        float32 `[Q, 2]` array of (a, b) in Lab units, a-major order; cached and read-only.

    Reference:
        Zhang et al. 2016, Sec. 2.1 ("grid size 10 ... Q = 313 values which are in-gamut").
    """
    if gamut not in GAMUTS:
        raise ValueError(f"quantize.ab_bin_centers: unknown gamut {gamut!r}; choose from {GAMUTS}")
    bin_width = float(bin_width)
    if not 1.0 <= bin_width <= 110.0:
        raise ValueError(f"quantize.ab_bin_centers: bin_width must be in [1, 110] Lab units, got {bin_width}")
    return _bin_centers_cached(bin_width, gamut)


_SEARCH_WIDTHS = tuple(float(w) for w in range(1, 111))  # the integer widths `ab_bin_centers` accepts


def _num_bins(bin_width: float, gamut: str) -> int:
    """len(ab_bin_centers(bin_width, gamut)) without building (and caching) the centres."""
    if gamut == "zhang":
        return int(np.count_nonzero(_inside_convex_polygon(_grid_points(bin_width), ZHANG_AB_HULL)))
    n = int(np.floor(_GRID_LIMIT / bin_width))
    cells = np.round(srgb_ab_samples() / bin_width).astype(np.int64) + n
    cells = cells[np.all((cells >= 0) & (cells <= 2 * n), axis=1)]
    side = 2 * n + 1
    return int(np.count_nonzero(np.bincount(cells[:, 0] * side + cells[:, 1], minlength=side * side)))


@functools.lru_cache(maxsize=64)
def bin_width_for_num_bins(num_bins: int, gamut: str = "zhang") -> float:
    """The ab grid width whose bin set (`ab_bin_centers(width, gamut)`) has exactly `num_bins` bins.

    Lets a decoder recover the bins from a model's logits' channel count (313 -> 10 for "zhang",
    262 -> 10 for "srgb"). Integer widths 1..110 are searched from the finest up; the count falls as
    the width grows, so the search stops once it drops below `num_bins`. Where several widths give
    the same count (wide grids, e.g. 65 "zhang" bins at widths 21 and 22) the smallest is returned.

    Args:
        num_bins: the number of bins Q (e.g. the logits' last dimension).
        gamut: the bin set, see `ab_bin_centers`.

    Returns:
        The width in Lab units, as a float.

    Raises:
        ValueError: unknown gamut, or no integer width gives `num_bins` bins (names the count).

    Reference:
        Zhang et al. 2016, Sec. 2.1 (width 10, Q = 313); Ziegler 2022, Sec. 3.2 (wider "buckets").
    """
    if gamut not in GAMUTS:
        raise ValueError(f"quantize.bin_width_for_num_bins: unknown gamut {gamut!r}; choose from {GAMUTS}")
    num_bins = int(num_bins)
    if gamut == "zhang" and num_bins == ZHANG_NUM_BINS:
        return float(ZHANG_BIN_WIDTH)
    for width in _SEARCH_WIDTHS:
        count = _num_bins(width, gamut)
        if count == num_bins:
            return width
        if count < num_bins:
            break
    raise ValueError(
        f"quantize.bin_width_for_num_bins: no bin width in [1, 110] gives {num_bins} bins "
        f"for gamut {gamut!r} (313 = width 10 for 'zhang', 262 = width 10 for 'srgb')"
    )


def grid_index(centers: np.ndarray, bin_width: float) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Row/column of each bin on the smallest 2-D grid holding them (for images of the ab plane).

    Returns:
        (rows, cols, shape): rows index a, cols index b; `shape` is the grid's (n_a, n_b).
    """
    idx = np.round(np.asarray(centers, np.float64) / bin_width).astype(np.int64)
    lo = idx.min(axis=0)
    hi = idx.max(axis=0)
    return idx[:, 0] - lo[0], idx[:, 1] - lo[1], (int(hi[0] - lo[0] + 1), int(hi[1] - lo[1] + 1))


def _squared_distances(ab: tf.Tensor, centers) -> tf.Tensor:
    """|ab - c|^2 for every bin: `[..., 2]` x `[Q, 2]` -> `[..., Q]` (float32)."""
    ab = tf.cast(ab, tf.float32)
    c = tf.constant(np.asarray(centers, np.float32)) if not isinstance(centers, tf.Tensor) else tf.cast(centers, tf.float32)
    cross = tf.tensordot(ab, tf.transpose(c), axes=[[-1], [0]])
    d2 = tf.reduce_sum(tf.square(ab), axis=-1, keepdims=True) - 2.0 * cross + tf.reduce_sum(tf.square(c), axis=-1)
    return tf.maximum(d2, 0.0)


def soft_encode(ab, centers, k: int = ZHANG_NEIGHBOURS, sigma: float = ZHANG_SIGMA) -> tf.Tensor:
    """Soft-encodes ab values over their k nearest bins with Gaussian weights.

    TF ops only: works eagerly, inside `Dataset.map`, `tf.function` and XLA. The result is dense over
    the Q bins (zero outside the k nearest); bins tied with the k-th nearest are kept as well.

    Args:
        ab: `[..., 2]` ab in Lab units (not encoded).
        centers: `[Q, 2]` bin centres (`ab_bin_centers`).
        k: number of nearest bins.
        sigma: Gaussian sigma in Lab units.

    Returns:
        float32 `[..., Q]` distribution that sums to 1 over the last axis.

    Reference:
        Zhang et al. 2016, Sec. 2.1 (5 nearest neighbours, Gaussian kernel sigma = 5).
    """
    d2 = _squared_distances(ab, centers)
    k = int(min(k, int(np.shape(centers)[0])))
    nearest = -tf.math.top_k(-d2, k=k, sorted=True).values  # ascending distances
    kth = nearest[..., -1:]
    # Subtracting the nearest distance keeps exp() from underflowing for ab far from every bin.
    w = tf.exp(-(d2 - nearest[..., :1]) / (2.0 * sigma * sigma))
    w = tf.where(d2 <= kth, w, tf.zeros_like(w))
    return w / tf.reduce_sum(w, axis=-1, keepdims=True)


def hard_encode(ab, centers) -> tf.Tensor:
    """Index of the nearest bin of each ab value: `[..., 2]` (Lab units) -> int32 `[...]`."""
    return tf.argmin(_squared_distances(ab, centers), axis=-1, output_type=tf.int32)


def expectation(probs, centers) -> tf.Tensor:
    """Mean ab of a bin distribution: `[..., Q]` probabilities -> `[..., 2]` (Lab units)."""
    c = tf.constant(np.asarray(centers, np.float32))
    return tf.tensordot(tf.cast(probs, tf.float32), c, axes=[[-1], [0]])


def annealed_mean(logits, centers, temperature: float = ZHANG_TEMPERATURE) -> tf.Tensor:
    """Annealed-mean decoding: softmax(logits / T), then the expectation over the bin centres.

    T = 1 is the plain expectation of the predicted distribution (the released PyTorch model);
    T -> 0 approaches the mode. Computed in float32 whatever the logits' dtype.

    Args:
        logits: `[..., Q]` unnormalised log-probabilities.
        centers: `[Q, 2]` bin centres.
        temperature: T > 0.

    Returns:
        float32 `[..., 2]` ab in Lab units.

    Reference:
        Zhang et al. 2016, Sec. 2.3 (Eq. 5, T = 0.38).
    """
    if temperature <= 0:
        raise ValueError(f"quantize.annealed_mean: temperature must be > 0, got {temperature}")
    probs = tf.nn.softmax(tf.cast(logits, tf.float32) / float(temperature), axis=-1)
    return expectation(probs, centers)


DECODE_MODES = {"annealed": ZHANG_TEMPERATURE, "expectation": 1.0}


@keras.saving.register_keras_serializable(package="colorization_tf")
class AnnealedMeanDecode(keras.layers.Layer):
    """Decodes bin logits to encoded ab (ab / ab_scale), in the model so exports return colour.

    Parameter-free: the bin centres are rebuilt from `bin_width`/`gamut` on load. Computes in float32
    and outputs float32 by default (`dtype="float32"`), also under a mixed_float16 policy.

    Args:
        bin_width: ab grid width (the centres come from `ab_bin_centers`).
        temperature: annealed-mean T; ignored unless `decode_mode` is None.
        ab_scale: the output is ab / ab_scale (110 = Zhang's normalisation).
        decode_mode: "annealed" (T = 0.38), "expectation" (T = 1) or None (use `temperature`).
        gamut: bin set, see `ab_bin_centers`.

    Call:
        logits `[B, h, w, Q]` -> encoded ab `[B, h, w, 2]` at the logits' resolution.

    Reference:
        Zhang et al. 2016, Sec. 2.3.
    """

    def __init__(
        self,
        bin_width: float = ZHANG_BIN_WIDTH,
        temperature: float = ZHANG_TEMPERATURE,
        ab_scale: float = color.AB_SCALE,
        decode_mode: str | None = None,
        gamut: str = "zhang",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if decode_mode is not None and decode_mode not in DECODE_MODES:
            raise ValueError(f"AnnealedMeanDecode: decode_mode must be one of {sorted(DECODE_MODES)} or None")
        self.bin_width = float(bin_width)
        self.decode_mode = decode_mode
        self.temperature = float(DECODE_MODES[decode_mode] if decode_mode else temperature)
        self.ab_scale = float(ab_scale)
        self.gamut = gamut
        self.centers = ab_bin_centers(self.bin_width, gamut)
        self.num_bins = int(self.centers.shape[0])

    def build(self, input_shape):
        if input_shape[-1] is not None and int(input_shape[-1]) != self.num_bins:
            raise ValueError(
                f"AnnealedMeanDecode: logits have {input_shape[-1]} channels but bin_width "
                f"{self.bin_width} ({self.gamut}) gives {self.num_bins} bins"
            )
        super().build(input_shape)

    def call(self, logits):
        ab = annealed_mean(logits, self.centers, self.temperature)
        return tf.cast(ab / self.ab_scale, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (2,)

    def get_config(self):
        config = super().get_config()
        config.update(
            bin_width=self.bin_width,
            temperature=self.temperature,
            ab_scale=self.ab_scale,
            decode_mode=self.decode_mode,
            gamut=self.gamut,
        )
        return config


# ----------------------------------------------------------------------------------------------
# Priors and weights


def gray_image_mask(ab, threshold: float = GRAY_THRESHOLD) -> tf.Tensor:
    """1.0 per image that has colour (some |a| or |b| > threshold, Lab units), 0.0 for gray images.

    Args:
        ab: `[B, H, W, 2]` ab in Lab units.

    Returns:
        float32 `[B]`.

    Reference:
        Zhang et al. 2016 (released training code: gray images get zero rebalancing weight).
    """
    ab = tf.cast(ab, tf.float32)
    return tf.cast(tf.reduce_max(tf.abs(ab), axis=[1, 2, 3]) > threshold, tf.float32)


def _ab_from_element(element, ab_scale: float, ab_offset: float) -> tf.Tensor:
    """The encoded ab of a pipeline element ((L, ab), (L, {"ab": ab, ...}) or ab alone), in Lab units."""
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
    "ZHANG_AB_HULL",
    "ZHANG_BIN_WIDTH",
    "ZHANG_NUM_BINS",
    "AnnealedMeanDecode",
    "ab_bin_centers",
    "annealed_mean",
    "bin_width_for_num_bins",
    "compute_prior",
    "expectation",
    "fit_normal",
    "gray_image_mask",
    "grid_index",
    "hard_encode",
    "load_prior",
    "rebalancing_weights",
    "save_prior",
    "smooth_prior",
    "soft_encode",
    "srgb_ab_samples",
    "ziegler_weights",
]
