"""The ab bins of colorization as classification: centres on a grid, their gamut, their grid layout.

One job: which ab values are classes. Zhang et al. (ECCV 2016) quantise the ab plane on a grid of
width 10 and keep Q = 313 bins; Ziegler (2022) uses wider bins ("bucket size"). Grid points lie at
multiples of `bin_width`; two regions select the bins:

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
    Zhang, Isola, Efros, "Colorful Image Colorization", ECCV 2016, Sec. 2.1.
    Ziegler, "Deep Vision project: Image Colorization", OTH Amberg-Weiden 2022, Sec. 3.2.
"""

from __future__ import annotations

import functools

import numpy as np

from colorization_tf import color
from colorization_tf._tensorflow import tf

ZHANG_BIN_WIDTH = 10
ZHANG_NUM_BINS = 313

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


__all__ = [
    "ZHANG_AB_HULL",
    "ZHANG_BIN_WIDTH",
    "ZHANG_NUM_BINS",
    "GAMUTS",
    "ab_bin_centers",
    "bin_width_for_num_bins",
    "grid_index",
    "srgb_ab_samples",
]
