"""The CS520 ANN colorizer (Yang & Li): numpy only, no TensorFlow.

Each pixel's colour is predicted from the 3x3 window of gray values around it. RGB is quantised to
four levels {0, 64, 128, 192}; three separate nets (R, G, B), each 9 inputs -> 9 hidden -> 4
outputs (softmax over the one-hot level), are trained by plain gradient descent on the left half of
one image and predict its right half. The three nets are trained side by side as one batched
computation (their weights are independent; stacking only vectorises the arithmetic).

Gray: the paper converts to grayscale with scikit-image (which it names as its image library), i.e.
`skimage.color.rgb2gray`'s luminance Y = 0.2125 R + 0.7154 G + 0.0721 B on RGB in [0, 1]; reproduced
here in numpy (`luminance`).

Reference:
    Yang & Li, "CS 520: Assignment 4 - Colorization", Sec. 1.2-1.6.
"""

from __future__ import annotations

import dataclasses

import numpy as np

LEVELS = np.array([0, 64, 128, 192], dtype=np.uint8)
"""The four RGB levels of the paper."""
LEVEL_STRIDE = 64
LUMINANCE_WEIGHTS = np.array([0.2125, 0.7154, 0.0721])
"""skimage.color.rgb2gray's luminance (BT.709 primaries)."""
WINDOW = 3


def _check_rgb(img, where: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"cs520_ann.{where}: expected an [H, W, 3] RGB image, got shape {img.shape}")
    return img


def _as_u8(img) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    if np.issubdtype(img.dtype, np.floating):
        return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)
    return np.clip(img, 0, 255).astype(np.uint8)


def level_labels(img) -> np.ndarray:
    """Index (0-3) of the nearest level {0, 64, 128, 192} of every RGB value (uint8 or float [0, 1])."""
    img = _as_u8(_check_rgb(img, "level_labels")).astype(np.int64)
    return np.clip((img + LEVEL_STRIDE // 2) // LEVEL_STRIDE, 0, len(LEVELS) - 1)


def quantize_rgb(img) -> np.ndarray:
    """Rounds every RGB value to the nearest of {0, 64, 128, 192} (the paper's pre-processing).

    Returns:
        uint8 `[H, W, 3]`.
    """
    return LEVELS[level_labels(img)]


def luminance(img) -> np.ndarray:
    """Gray image in [0, 1]: skimage's rgb2gray luminance of an RGB image (uint8 or float [0, 1])."""
    img = _check_rgb(img, "luminance")
    x = img.astype(np.float64) / 255.0 if img.dtype == np.uint8 else img.astype(np.float64)
    return x @ LUMINANCE_WEIGHTS


def gray_windows(gray) -> np.ndarray:
    """The 3x3 window around every pixel, flattened (edge padding at the border).

    Args:
        gray: `[H, W]` gray image.

    Returns:
        float64 `[H * W, 9]`, row-major over pixels.
    """
    gray = np.asarray(gray, np.float64)
    if gray.ndim != 2:
        raise ValueError(f"cs520_ann.gray_windows: expected an [H, W] gray image, got shape {gray.shape}")
    pad = WINDOW // 2
    padded = np.pad(gray, pad, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (WINDOW, WINDOW))
    return windows.reshape(-1, WINDOW * WINDOW)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def difference(rgb_true_u8, rgb_pred_u8, stride: int = LEVEL_STRIDE):
    """The paper's difference d = |dR + dG + dB| / stride, averaged over pixels.

    Args:
        rgb_true_u8, rgb_pred_u8: `[..., H, W, 3]` integer RGB (0-255).
        stride: spacing of the quantised levels (64).

    Returns:
        float for one image, float64 `[...]` for a batch.

    Reference:
        Yang & Li, CS520 Assignment 4, Sec. 1.4 (coffee 0.67, sunset 0.83, beach 1.17).
    """
    a = np.asarray(rgb_true_u8).astype(np.int64)
    b = np.asarray(rgb_pred_u8).astype(np.int64)
    if a.shape != b.shape or a.ndim < 3 or a.shape[-1] != 3:
        raise ValueError(f"cs520_ann.difference: need equal [..., H, W, 3] shapes, got {a.shape} and {b.shape}")
    d = np.abs(np.sum(a - b, axis=-1)) / float(stride)
    result = d.mean(axis=(-2, -1))
    return float(result) if np.ndim(result) == 0 else result


class ColorANN:
    """Three 9 -> hidden -> levels nets (R, G, B) over 3x3 gray windows, trained by gradient descent.

    Hidden layer sigmoid, output softmax with cross-entropy on the one-hot level (the paper's one-hot
    output). Inputs are standardised with the training windows' mean/std. Mini-batch gradient descent
    without momentum (`batch_size=None`: full batch), seeded: the same seed gives the same net.

    Args:
        hidden: hidden units (9 in the paper).
        levels: output classes (4 levels).
        lr: learning rate.
        epochs: passes over the training pixels.
        batch_size: pixels per step (None: full-batch gradient descent).
        seed: seed of the initialisation and the shuffling.

    Reference:
        Yang & Li, CS520 Assignment 4, Sec. 1.3 and 1.5.
    """

    def __init__(self, hidden: int = 9, levels: int = 4, lr: float = 0.5, epochs: int = 5,
                 batch_size: int | None = 256, seed: int = 0):
        if levels != len(LEVELS):
            raise ValueError(f"ColorANN: the paper's levels are {LEVELS.tolist()}; levels must be {len(LEVELS)}")
        self.hidden = int(hidden)
        self.levels = int(levels)
        self.lr = float(lr)
        self.epochs = int(epochs)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.seed = int(seed)
        self.params: dict[str, np.ndarray] | None = None
        self.history: list[float] = []

    def _init(self, rng: np.random.Generator):
        n_in, h, k = WINDOW * WINDOW, self.hidden, self.levels
        return {
            "w1": rng.normal(0.0, 1.0 / np.sqrt(n_in), size=(3, n_in, h)),
            "b1": np.zeros((3, 1, h)),
            "w2": rng.normal(0.0, 1.0 / np.sqrt(h), size=(3, h, k)),
            "b2": np.zeros((3, 1, k)),
        }

    def _forward(self, x: np.ndarray):
        """x `[N, 9]` -> hidden `[3, N, h]`, probabilities `[3, N, k]`."""
        a1 = 1.0 / (1.0 + np.exp(-(np.matmul(x[None], self.params["w1"]) + self.params["b1"])))
        return a1, _softmax(a1 @ self.params["w2"] + self.params["b2"])

    def fit(self, gray, rgb) -> "ColorANN":
        """Trains the three nets on one image.

        Args:
            gray: `[H, W]` gray image in [0, 1] (`luminance`).
            rgb: `[H, W, 3]` colour image (uint8 or float [0, 1]); quantised to the levels here.

        Returns:
            self.
        """
        x = gray_windows(gray)
        y = level_labels(rgb).reshape(-1, 3).T  # [3, N]
        if x.shape[0] != y.shape[1]:
            raise ValueError(f"ColorANN.fit: gray {np.shape(gray)} and rgb {np.shape(rgb)} differ in size")
        self.mean_, self.std_ = x.mean(), max(x.std(), 1e-6)
        x = (x - self.mean_) / self.std_
        onehot = np.eye(self.levels)[y]  # [3, N, k]
        rng = np.random.default_rng(self.seed)
        self.params = self._init(rng)
        n = x.shape[0]
        batch = n if self.batch_size is None else min(self.batch_size, n)
        self.history = []
        for _ in range(self.epochs):
            order = rng.permutation(n) if batch < n else np.arange(n)
            for start in range(0, n, batch):
                idx = order[start : start + batch]
                xb, tb = x[idx], onehot[:, idx]
                a1, prob = self._forward(xb)
                d2 = (prob - tb) / len(idx)  # d CE / d logits, averaged over the batch
                g_w2 = np.swapaxes(a1, 1, 2) @ d2
                g_b2 = d2.sum(axis=1, keepdims=True)
                d1 = (d2 @ np.swapaxes(self.params["w2"], 1, 2)) * a1 * (1.0 - a1)
                g_w1 = np.matmul(xb.T[None], d1)
                g_b1 = d1.sum(axis=1, keepdims=True)
                for key, grad in (("w1", g_w1), ("b1", g_b1), ("w2", g_w2), ("b2", g_b2)):
                    self.params[key] -= self.lr * grad
            _, prob = self._forward(x)
            self.history.append(float(-np.mean(np.log(np.sum(prob * onehot, axis=-1) + 1e-12))))
        return self

    def predict_labels(self, gray) -> np.ndarray:
        """Level index (0-3) per pixel and channel: `[H, W]` gray -> int `[H, W, 3]`."""
        if self.params is None:
            raise RuntimeError("ColorANN.predict: call fit() first")
        gray = np.asarray(gray, np.float64)
        x = (gray_windows(gray) - self.mean_) / self.std_
        _, prob = self._forward(x)
        return np.argmax(prob, axis=-1).T.reshape(gray.shape[0], gray.shape[1], 3)

    def predict(self, gray) -> np.ndarray:
        """Predicted uint8 RGB at the four levels: `[H, W]` gray -> `[H, W, 3]`."""
        return LEVELS[self.predict_labels(gray)]


@dataclasses.dataclass
class LeftRightResult:
    """Outcome of `left_right_experiment` (all images uint8 RGB).

    Attributes:
        original: the quantised input image (the paper's pre-processed picture).
        ideal_right: quantised right half (the ideal output).
        predicted_right: the ANN's right half.
        difference: CS520 difference of the prediction against the ideal right half.
        baseline_difference: the same for a constant colour (each channel's most common level on the left).
        model: the trained `ColorANN`.
    """

    original: np.ndarray
    ideal_right: np.ndarray
    predicted_right: np.ndarray
    difference: float
    baseline_difference: float
    model: ColorANN


def left_right_experiment(rgb_u8, **ann_kwargs) -> LeftRightResult:
    """Trains on the left half of an image and colorizes its right half (the paper's experiment).

    Args:
        rgb_u8: `[H, W, 3]` uint8 RGB photo.
        **ann_kwargs: `ColorANN` arguments.

    Returns:
        `LeftRightResult` with the paper's difference metric for the prediction and a constant baseline.

    Reference:
        Yang & Li, CS520 Assignment 4, Sec. 1.5-1.6 (coffee 0.67, sunset 0.83, beach 1.17).
    """
    rgb = _as_u8(_check_rgb(rgb_u8, "left_right_experiment"))
    if rgb.shape[1] < 2:
        raise ValueError("cs520_ann.left_right_experiment: the image needs at least 2 columns")
    gray = luminance(rgb)
    half = rgb.shape[1] // 2
    model = ColorANN(**ann_kwargs).fit(gray[:, :half], rgb[:, :half])
    ideal = quantize_rgb(rgb[:, half:])
    predicted = model.predict(gray[:, half:])
    left_labels = level_labels(rgb[:, :half]).reshape(-1, 3)
    mode = np.array([np.bincount(left_labels[:, c], minlength=len(LEVELS)).argmax() for c in range(3)])
    constant = np.broadcast_to(LEVELS[mode], ideal.shape)
    return LeftRightResult(
        original=quantize_rgb(rgb),
        ideal_right=ideal,
        predicted_right=predicted,
        difference=float(difference(ideal, predicted)),
        baseline_difference=float(difference(ideal, constant)),
        model=model,
    )
