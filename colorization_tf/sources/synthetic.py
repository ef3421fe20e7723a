"""The embedded default dataset: deterministic, landscape-like synthetic scenes in seven classes.

Every scene is painted in CIE Lab from a few layers (sky, clouds, sea, sand, dunes, rock, snow,
forest canopy, crop fields...) whose colour depends on the region, on the position inside it
(sky gradients, distance haze, light direction), on texture (smooth multi-octave value noise,
waves, crop rows) and on lightness. The same lightness therefore maps to different colours in
different regions and classes (a pale blue sky and pale sand share L ~ 75), so colorization is
learnable from context but not from L alone, and a model that learns beats a gray (zero-ab)
prediction clearly. Per-image jitter (hues, horizon, lighting, sunsets, clouds) keeps it from being
trivial to memorise.

`render_scene` draws one image; `generate_dataset` writes class folders (atomically, skipping a
complete folder); `default_dataset` returns the package's default folder, generating it on first use.
About 700 images at 128 px take a few seconds.

Reference:
    Stand-in for the Kaggle "Landscape Pictures" set of PolyChromify (2021), Ziegler (2022) and
    Menon & Talukdar (2021), whose classes (mountain, desert, sea, beach, ...) it imitates.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

CLASS_NAMES = ("beach", "desert", "fields", "forest", "mountains", "sea", "sky")
"""The scene classes, sorted (so the labels `find_images` gives equal the indices here)."""

GENERATOR_VERSION = 1
"""Bumped whenever the pictures change, so stale generated folders are regenerated."""

DEFAULT_N_PER_CLASS = 100
DEFAULT_SIZE = 128
DATA_ENV = "COLORIZATION_TF_DATA"
"""Environment variable naming the folder under which `default_dataset` writes `synthetic/`."""

_MARKER = ".complete.json"


# ----------------------------------------------------------------------------- noise helpers
def _noise2d(rng: np.random.Generator, height: int, width: int, cells: float) -> np.ndarray:
    """Smooth value noise in [-1, 1]: a random grid with about `cells` cells across the longer side."""
    cells_y = max(1, int(round(cells * height / max(height, width))))
    cells_x = max(1, int(round(cells * width / max(height, width))))
    grid = rng.uniform(-1.0, 1.0, (cells_y + 2, cells_x + 2))
    i_y, f_y = _sample_points(height, cells_y, rng.uniform(0, 1))
    i_x, f_x = _sample_points(width, cells_x, rng.uniform(0, 1))
    # separable: blend along x on the small grid, then gather whole rows and blend along y
    along_x = grid[:, i_x] * (1 - f_x) + grid[:, i_x + 1] * f_x
    return along_x[i_y] * (1 - f_y)[:, None] + along_x[i_y + 1] * f_y[:, None]


def _sample_points(n: int, cells: int, offset: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid index and smooth-step blend weight of n samples spread over `cells` cells."""
    t = np.linspace(0.0, cells, n, endpoint=False) + offset
    index = t.astype(int)
    f = t - index
    return index, f * f * (3 - 2 * f)


def _fbm(rng: np.random.Generator, height: int, width: int, cells: float, octaves: int = 3) -> np.ndarray:
    """Fractal (multi-octave) value noise, roughly in [-1, 1]."""
    total = np.zeros((height, width))
    amplitude, norm = 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * _noise2d(rng, height, width, cells * 2**octave)
        norm += amplitude
        amplitude *= 0.5
    return total / norm


def _noise1d(rng: np.random.Generator, width: int, cells: int, octaves: int = 3) -> np.ndarray:
    """Fractal 1-D noise (a ridge or horizon line), roughly in [-1, 1]."""
    xs = np.linspace(0.0, 1.0, width)
    total, amplitude, norm = np.zeros(width), 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2**octave
        total += amplitude * np.interp(xs, np.linspace(0, 1, n + 1), rng.uniform(-1, 1, n + 1))
        norm += amplitude
        amplitude *= 0.5
    return total / norm


class _Canvas:
    """Lab layers painted back to front."""

    def __init__(self, height: int, width: int):
        self.height, self.width = height, width
        self.y = np.linspace(0.0, 1.0, height)[:, None] * np.ones((1, width))
        self.x = np.ones((height, 1)) * np.linspace(0.0, 1.0, width)[None, :]
        self.l = np.zeros((height, width))
        self.a = np.zeros((height, width))
        self.b = np.zeros((height, width))

    def paint(self, mask, l, a, b):
        mask = np.broadcast_to(mask, self.l.shape)
        if mask.dtype == bool:
            mask = mask.astype(float)
        self.l = self.l * (1 - mask) + mask * l
        self.a = self.a * (1 - mask) + mask * a
        self.b = self.b * (1 - mask) + mask * b

    def below(self, line: np.ndarray, softness: float = 0.004) -> np.ndarray:
        """Soft mask of the pixels below a per-column line (row fraction)."""
        return np.clip((self.y - line[None, :]) / softness + 0.5, 0.0, 1.0)

    def to_rgb(self) -> np.ndarray:
        from skimage.color import lab2rgb

        lab = np.stack([np.clip(self.l, 0, 100), self.a, self.b], axis=-1)
        rgb = lab2rgb(lab)
        return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- layers
def _sky(c: _Canvas, rng: np.random.Generator, horizon: float, sunset_probability: float = 0.2, clouds=True):
    t = np.clip(c.y / max(horizon, 1e-3), 0, 1)  # 0 at the top, 1 at the horizon
    if rng.uniform() < sunset_probability:
        top = np.array([rng.uniform(30, 45), rng.uniform(10, 25), rng.uniform(-40, -25)])
        low = np.array([rng.uniform(65, 80), rng.uniform(20, 35), rng.uniform(45, 65)])
    else:
        top = np.array([rng.uniform(45, 60), rng.uniform(-8, 8), rng.uniform(-52, -38)])
        low = np.array([rng.uniform(78, 90), rng.uniform(-8, -2), rng.uniform(-20, -8)])
    shade = t**0.8
    c.paint(1.0, *(top[i] + (low[i] - top[i]) * shade for i in range(3)))
    if clouds:
        cover = rng.uniform(0.1, 0.6)
        n = _fbm(rng, c.height, c.width, rng.uniform(3, 6), 4)
        stretch = n + 0.4 * _noise2d(rng, c.height, c.width, 2)
        density = np.clip((stretch - (1 - 2 * cover) * 0.6) * 2.5, 0, 1) * (c.y < horizon)
        cloud_l = 88 + 8 * n - 10 * np.clip(-n, 0, 1)
        c.paint(density * 0.9, cloud_l, 0.5 * c.a * 0.2, -3 + 0.2 * c.b)


def _sea(c: _Canvas, rng: np.random.Generator, horizon_line: np.ndarray):
    depth = np.clip((c.y - horizon_line[None, :]) / max(1 - horizon_line.mean(), 1e-3), 0, 1)
    waves = np.sin(2 * np.pi * (c.y * rng.uniform(25, 45) + 0.6 * _fbm(rng, c.height, c.width, 6, 2)))
    waves = waves * (0.3 + 0.7 * depth)
    hue_a, hue_b = rng.uniform(-18, -4), rng.uniform(-38, -22)
    l = rng.uniform(48, 58) - 16 * depth + 5 * waves
    a = hue_a - 4 * depth + 2 * waves
    b = hue_b + 6 * depth + 3 * waves
    c.paint(c.below(horizon_line), l, a, b)


def _sand(c: _Canvas, rng: np.random.Generator, line: np.ndarray, wet: bool = True):
    grain = _fbm(rng, c.height, c.width, 40, 2)
    ripples = _fbm(rng, c.height, c.width, 6, 3)
    near = np.clip((c.y - line[None, :]) / max(1 - line.mean(), 1e-3), 0, 1)
    l = rng.uniform(70, 80) + 5 * ripples + 3 * grain - 4 * near
    a = rng.uniform(2, 7) + 2 * ripples
    b = rng.uniform(22, 34) + 4 * ripples + 3 * near
    c.paint(c.below(line), l, a, b)
    if wet:  # foam line, then darker wet sand where the sea meets the beach
        foam = np.exp(-(((c.y - line[None, :]) / 0.012) ** 2)) * (0.6 + 0.4 * _noise2d(rng, c.height, c.width, 20))
        c.paint(np.clip(foam, 0, 1), 93, -1, 2)


def _mountains(c: _Canvas, rng: np.random.Generator, horizon: float):
    for layer in range(2):  # far range (hazy, bluish) then near range (brown/gray rock)
        far = layer == 0
        base = horizon - (0.4 if far else 0.22) * rng.uniform(0.8, 1.2)
        ridge = base + (0.16 if far else 0.2) * _noise1d(rng, c.width, int(rng.integers(2, 5)), 4)
        mask = c.below(ridge)
        relief = _fbm(rng, c.height, c.width, 10, 4)
        light = np.gradient(relief, axis=1) * c.width * 0.04
        if far:
            l, a, b = 62 + 6 * relief, -2 + relief, -14 + 2 * relief
        else:
            l = 42 + 10 * relief + 8 * np.clip(light, -1, 1)
            a = rng.uniform(3, 9) + 3 * relief
            b = rng.uniform(8, 18) + 4 * relief
        c.paint(mask, l, a, b)
        snow_row = ridge.min() + rng.uniform(0.04, 0.14)  # only the peaks above it are white
        snow_edge = snow_row + 0.04 * _noise2d(rng, c.height, c.width, 12)
        snow = mask * np.clip((snow_edge - c.y) / 0.01, 0, 1)
        c.paint(snow, 90 + 5 * relief, -1, -5 if far else -2)
    meadow = horizon + 0.05 * _noise1d(rng, c.width, 3, 2)
    tex = _fbm(rng, c.height, c.width, 16, 3)
    c.paint(c.below(meadow), 48 + 8 * tex, rng.uniform(-32, -22) + 4 * tex, rng.uniform(30, 42) + 5 * tex)


def _forest(c: _Canvas, rng: np.random.Generator, treeline: float, ground: float):
    period = rng.uniform(0.04, 0.09)
    phase = rng.uniform(0, 1)
    tooth = np.abs(((c.x[0] / period + phase) % 1.0) - 0.5) * 2  # conifer tips
    heights = treeline + 0.08 * tooth + 0.06 * _noise1d(rng, c.width, 6, 3)
    canopy = _fbm(rng, c.height, c.width, 22, 4)
    blobs = _fbm(rng, c.height, c.width, 7, 2)
    depth = np.clip((c.y - treeline) / max(ground - treeline, 1e-3), 0, 1)
    l = 38 + 14 * canopy + 6 * blobs - 8 * depth
    a = rng.uniform(-34, -22) + 6 * blobs - 4 * canopy
    b = rng.uniform(24, 38) + 8 * blobs + 6 * canopy
    c.paint(c.below(heights), l, a, b)
    trunks = (np.sin(2 * np.pi * c.x / period * 2 + rng.uniform(0, 6)) > 0.93) * (c.y > heights + 0.15)
    c.paint(trunks * 0.9, 26, 8, 14)
    path = _fbm(rng, c.height, c.width, 10, 3)
    ground_line = ground + 0.04 * _noise1d(rng, c.width, 4, 2)
    c.paint(c.below(ground_line), 34 + 8 * path, 9 + 3 * path, 22 + 6 * path)


def _desert(c: _Canvas, rng: np.random.Generator, horizon: float):
    angle = rng.uniform(-0.6, 0.6)
    u = c.x * np.cos(angle) + c.y * np.sin(angle) * 3
    warp = _fbm(rng, c.height, c.width, 4, 3)
    dunes = np.sin(2 * np.pi * (u * rng.uniform(2, 4) + 0.5 * warp))
    shade = np.clip(dunes, -1, 1)
    line = horizon + 0.05 * _noise1d(rng, c.width, 4, 3)
    near = np.clip((c.y - horizon) / (1 - horizon), 0, 1)
    l = 66 + 12 * shade + 3 * _fbm(rng, c.height, c.width, 30, 2)
    a = rng.uniform(12, 22) + 4 * shade + 3 * near
    b = rng.uniform(38, 52) + 6 * shade + 4 * near
    c.paint(c.below(line), l, a, b)


_CROPS = (  # (L, a, b): green crop, wheat, ploughed soil, lavender, rapeseed
    (52, -32, 38),
    (74, 3, 52),
    (38, 9, 20),
    (50, 22, -28),
    (80, -8, 72),
)


def _fields(c: _Canvas, rng: np.random.Generator, horizon: float):
    n_bands = int(rng.integers(3, 6))
    edges = np.sort(rng.uniform(0, 1, n_bands - 1))
    # perspective: bands get thinner towards the horizon
    rows = horizon + (1 - horizon) * np.concatenate([[0.0], edges**1.8, [1.0]])
    rows_x = [r + 0.02 * _noise1d(rng, c.width, 3, 2) for r in rows]
    row_tex = np.sin(2 * np.pi * ((c.x - 0.5) / np.maximum(c.y - horizon + 0.05, 0.05) * rng.uniform(1.5, 3)))
    tex = _fbm(rng, c.height, c.width, 14, 3)
    for i in range(n_bands):
        crop = np.array(_CROPS[int(rng.integers(len(_CROPS)))], float)
        jitter = rng.uniform(-4, 4, 3)
        mask = c.below(rows_x[i]) * (1 - c.below(rows_x[i + 1]))
        l = crop[0] + jitter[0] + 5 * row_tex * (c.y - horizon) + 4 * tex
        c.paint(mask, l, crop[1] + jitter[1] + 3 * tex, crop[2] + jitter[2] + 4 * tex)
    hedge = np.exp(-(((c.y - rows[0]) / 0.015) ** 2)) * (0.5 + 0.5 * _noise2d(rng, c.height, c.width, 30))
    c.paint(np.clip(hedge * 1.4, 0, 1), 30, -20, 22)


def _island(c: _Canvas, rng: np.random.Generator, horizon: float):
    center, width = rng.uniform(0.2, 0.8), rng.uniform(0.15, 0.35)
    hump = np.clip(1 - ((c.x[0] - center) / width) ** 2, 0, None) ** 0.6
    top = horizon - rng.uniform(0.05, 0.15) * hump + 0.01 * _noise1d(rng, c.width, 12, 2)
    mask = c.below(top) * (c.y < horizon + 0.005)
    tex = _fbm(rng, c.height, c.width, 20, 2)
    c.paint(mask, 36 + 8 * tex, -22 + 4 * tex, 20 + 5 * tex)


def render_scene(class_name: str, seed: int, size=DEFAULT_SIZE) -> np.ndarray:
    """Draws one synthetic landscape.

    Args:
        class_name: one of `CLASS_NAMES`.
        seed: any int; (class_name, seed) fully determines the picture.
        size: int (square) or (height, width).

    Returns:
        uint8 array `[height, width, 3]` (sRGB).
    """
    if class_name not in CLASS_NAMES:
        raise ValueError(f"Unknown scene class {class_name!r}; choose from {CLASS_NAMES}")
    height, width = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if height < 8 or width < 8:
        raise ValueError(f"render_scene: size {height}x{width} is too small (at least 8x8)")
    rng = np.random.default_rng([CLASS_NAMES.index(class_name), int(seed) & 0xFFFFFFFF, GENERATOR_VERSION])
    c = _Canvas(height, width)
    if class_name == "sky":
        horizon = rng.uniform(0.8, 1.1)
        _sky(c, rng, horizon, sunset_probability=0.3)
        if horizon < 1.0:  # a strip of hills or trees at the bottom
            _forest(c, rng, horizon - 0.04, 1.2)
    elif class_name == "sea":
        horizon = rng.uniform(0.3, 0.55)
        _sky(c, rng, horizon)
        _sea(c, rng, horizon + 0.0 * c.x[0])
        if rng.uniform() < 0.5:
            _island(c, rng, horizon)
    elif class_name == "beach":
        horizon = rng.uniform(0.25, 0.45)
        _sky(c, rng, horizon)
        _sea(c, rng, horizon + 0.0 * c.x[0])
        shore = horizon + rng.uniform(0.12, 0.3) + 0.05 * _noise1d(rng, width, 3, 3)
        _sand(c, rng, shore)
    elif class_name == "mountains":
        horizon = rng.uniform(0.7, 0.88)
        _sky(c, rng, horizon - 0.3)
        _mountains(c, rng, horizon)
    elif class_name == "forest":
        treeline = rng.uniform(0.15, 0.4)
        _sky(c, rng, treeline + 0.1, sunset_probability=0.1)
        _forest(c, rng, treeline, rng.uniform(0.8, 0.95))
    elif class_name == "desert":
        horizon = rng.uniform(0.3, 0.5)
        _sky(c, rng, horizon, sunset_probability=0.15, clouds=rng.uniform() < 0.4)
        _desert(c, rng, horizon)
    elif class_name == "fields":
        horizon = rng.uniform(0.3, 0.5)
        _sky(c, rng, horizon)
        _fields(c, rng, horizon)
    brightness = rng.uniform(0.9, 1.08)
    saturation = rng.uniform(0.8, 1.15)
    c.l = c.l * brightness
    c.a, c.b = c.a * saturation, c.b * saturation
    return c.to_rgb()


# ----------------------------------------------------------------------------- datasets on disk
def _params(n_per_class: int, size, seed: int, fmt: str) -> dict:
    size = [size, size] if isinstance(size, int) else [int(s) for s in size]
    return {
        "version": GENERATOR_VERSION,
        "classes": list(CLASS_NAMES),
        "n_per_class": int(n_per_class),
        "size": size,
        "seed": int(seed),
        "format": fmt,
    }


def is_complete(
    out_dir, n_per_class: int = DEFAULT_N_PER_CLASS, size=DEFAULT_SIZE, seed: int = 0, fmt: str = "png"
) -> bool:
    """True if `out_dir` holds a finished dataset generated with exactly these parameters."""
    marker = Path(out_dir) / _MARKER
    try:
        return json.loads(marker.read_text()) == _params(n_per_class, size, seed, fmt)
    except (OSError, ValueError):
        return False


def _write_image(path: Path, rgb: np.ndarray, fmt: str) -> None:
    if fmt == "png":
        Image.fromarray(rgb).save(path, format="PNG", compress_level=1)
    else:
        Image.fromarray(rgb).save(path, format="JPEG", quality=95)


def generate_dataset(
    out_dir,
    n_per_class: int = DEFAULT_N_PER_CLASS,
    size=DEFAULT_SIZE,
    seed: int = 0,
    fmt: str = "png",
    workers: int = 2,
) -> Path:
    """Writes the synthetic scenes as `out_dir/<class>/<class>_<i>.<fmt>`.

    Idempotent and atomic: if `out_dir` already holds a complete dataset with the same parameters
    nothing is done; otherwise everything is written to a temporary sibling folder which then
    replaces `out_dir` in one rename. A folder that this function did not write is never deleted.

    Args:
        out_dir: destination folder.
        n_per_class: images per class (7 classes).
        size: int or (height, width).
        seed: base seed; image i of a class uses seed `seed * 1_000_003 + i`.
        fmt: "png" (lossless) or "jpg".
        workers: threads used for drawing and encoding.

    Returns:
        `Path(out_dir)`.
    """
    fmt = {"jpeg": "jpg"}.get(fmt.lower(), fmt.lower())
    if fmt not in ("png", "jpg"):
        raise ValueError(f"generate_dataset: fmt must be 'png' or 'jpg', got {fmt!r}")
    out_dir = Path(out_dir)
    params = _params(n_per_class, size, seed, fmt)
    if is_complete(out_dir, n_per_class, size, seed, fmt):
        return out_dir
    if out_dir.exists() and not (out_dir / _MARKER).exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: exists, is not empty and was not written by generate_dataset")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    jobs = []
    for name in CLASS_NAMES:
        (tmp / name).mkdir(parents=True)
        jobs += [(name, i) for i in range(n_per_class)]

    def job(item):
        name, i = item
        rgb = render_scene(name, seed * 1_000_003 + i, size)
        _write_image(tmp / name / f"{name}_{i:05d}.{fmt}", rgb, fmt)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(job, jobs))
        (tmp / _MARKER).write_text(json.dumps(params))
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old{os.getpid()}")
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir


def default_root() -> Path:
    """Where the default data lives: `$COLORIZATION_TF_DATA`, else the repository's `data/` folder
    (git-ignored), else `~/.cache/colorization_tf` for an installed (non-editable) package."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    if (repo / "setup.cfg").exists() and (repo / "colorization_tf").is_dir():
        return repo / "data"
    return Path.home() / ".cache" / "colorization_tf"


def default_dataset(root=None, n_per_class: int = DEFAULT_N_PER_CLASS, size=DEFAULT_SIZE, seed: int = 0) -> Path:
    """The embedded default dataset's folder (generated on first use, reused afterwards).

    Args:
        root: parent folder; default `default_root()`. The scenes go to `root/synthetic`.
        n_per_class, size, seed: passed to `generate_dataset` (defaults: 100 per class, 128 px).

    Returns:
        The folder, laid out as `<class>/<image>.png` for `files.find_images`.
    """
    root = Path(root) if root is not None else default_root()
    name = "synthetic" if (n_per_class, size, seed) == (DEFAULT_N_PER_CLASS, DEFAULT_SIZE, 0) else (
        f"synthetic_{n_per_class}x{size if isinstance(size, int) else 'x'.join(map(str, size))}_s{seed}"
    )
    return generate_dataset(root / name, n_per_class=n_per_class, size=size, seed=seed)


__all__ = [
    "CLASS_NAMES",
    "render_scene",
    "generate_dataset",
    "is_complete",
    "default_root",
    "default_dataset",
]
