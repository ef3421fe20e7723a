"""NumPy training batches shaped for a registered model, for any Keras backend.

One job: a batch ``(L, targets)`` that a model of `colorization_tf.models.MODELS` compiled with its
paper's loss (`ModelSpec.default_losses`) can be fitted on, without TensorFlow or a dataset: the
backend-contract tests, the TensorFlow-free GPU check and the README's Keras-on-JAX example use it.
Images are smooth random colour fields (a few random Gaussian blobs in a and b, a lightness ramp),
so that a few steps on a repeated batch lower the loss. The L input and the ab target are
encoded with the model's normalisation; a classification head's target is full-resolution
encoded ab, as `losses.SoftEncodedCrossEntropy` takes it; scene labels are integers.

Reference:
    The normalisations of `colorization_tf.color.NORMALIZATIONS` (each paper's encoding).
"""

from __future__ import annotations

import numpy as np

from colorization_tf import color

AB_RANGE = 60.0
"""|a|, |b| of the random colour fields stay below this (Lab units), inside every model's output range."""
BLOBS = 3
"""Gaussian blobs per channel of a random colour field."""


def _colour_fields(rng: np.random.Generator, batch: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(L in [0, 100] `[B, S, S, 1]`, ab in Lab units `[B, S, S, 2]`): smooth random images."""
    grid = (np.arange(size, dtype=np.float64) + 0.5) / size
    y, x = np.meshgrid(grid, grid, indexing="ij")
    ab = np.zeros((batch, size, size, 2))
    for image in range(batch):
        for channel in range(2):
            for _ in range(BLOBS):
                cy, cx, width = rng.uniform(0.0, 1.0), rng.uniform(0.0, 1.0), rng.uniform(0.15, 0.5)
                ab[image, :, :, channel] += rng.uniform(-1.0, 1.0) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * width**2))
    ab = AB_RANGE * np.tanh(ab)
    slope = rng.uniform(-1.0, 1.0, (batch, 1, 1))
    l = 50.0 + 40.0 * slope * (y[None] - 0.5) + 5.0 * ab[..., 0] / AB_RANGE
    return np.clip(l, 0.0, color.L_MAX)[..., None], ab


def training_batch(spec, batch: int = 2, image_size: int | None = None, seed: int = 0, num_classes: int | None = None):
    """A batch to fit `spec`'s model on: ``(L, y)`` as NumPy float32 (and int32 labels).

    Args:
        spec: a `ModelSpec` (or a registry name).
        batch: images in the batch.
        image_size: square side (default: the spec's paper resolution).
        seed: random seed; equal seeds give equal batches.
        num_classes: scene classes of a labelled model (default: the built model's own count is
            not known here, so pass the `num_classes` it was built with; 2 when None).

    Returns:
        ``(l_encoded [B, S, S, 1], y)``: y is encoded ab `[B, S, S, 2]` for a single colour output
        (a classification head's loss takes ab too), or a dict ``{"ab": ..., "scene": int32 [B]}``
        for a model with scene labels.
    """
    from colorization_tf.models import get_spec

    spec = get_spec(spec)
    size = int(image_size or spec.image_size)
    rng = np.random.default_rng(seed)
    l, ab = _colour_fields(rng, batch, size)
    norm = color.get_normalization(spec.normalization if not spec.head.classification else "zhang")
    l_norm = color.get_normalization(spec.normalization)
    l_encoded = ((l - l_norm.l_offset) / l_norm.l_scale).astype(np.float32)
    ab_encoded = ((ab - norm.ab_offset) / norm.ab_scale).astype(np.float32)
    if not spec.needs_labels:
        return l_encoded, ab_encoded
    labels = rng.integers(0, num_classes or 2, size=batch).astype(np.int32)
    return l_encoded, {spec.head.output: ab_encoded, spec.labels: labels}
