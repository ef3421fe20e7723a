"""Model, loss and prior assembly of a run: the Keras model (or GAN) it trains and the loss it trains with.

The class-rebalanced cross-entropies take their weights from the training split's ab prior, which
is counted once and saved beside the data (`training_prior`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from colorization_tf.experiment.config import RunConfig
from colorization_tf.experiment.context import ExperimentContext
from colorization_tf.experiment.datasets import build_split_dataset
from colorization_tf.models import get_spec

def needs_labels(run: RunConfig) -> bool:
    """Whether a run trains on scene labels (Iizuka's classification head: class folders needed)."""
    return get_spec(run.model).needs_labels


def _builder(run: RunConfig, n_classes: int, trained: dict):
    """`() -> keras.Model` for `training.train` (also used to rebuild when resuming)."""
    spec = get_spec(run.model)
    kwargs = dict(run.model_kwargs, image_size=run.image_size)
    if spec.needs_labels and n_classes:
        kwargs.setdefault("num_classes", n_classes)
    if run.bin_width is not None:
        kwargs["bin_width"] = run.bin_width

    def build():
        model = spec.build(**kwargs)
        if run.init_from:
            source = trained[run.init_from]
            model.set_weights(source.get_weights())
        if run.gan is None:
            return model
        from colorization_tf.training import GANModel

        settings = run.gan.as_dict()
        disc = spec.build_discriminator(image_size=run.image_size, **settings.pop("discriminator_kwargs", {}))
        return GANModel(model, disc, **settings)

    return build


PRIOR_IMAGE_SIZE = 64
"""Resolution at which the training split's ab prior is counted (colour statistics barely depend on it)."""


def training_prior(ctx: ExperimentContext, train_paths, bin_width: float | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The empirical ab prior of the training split, computed once and saved.

    The prior is counted in one tf.data pass and written beside the data as
    `ab_prior_<digest>.npz` (the digest names the file list, resolution and bin width), so every
    weighted run and every later invocation reuses it; where the data folder is read-only it goes
    to the results folder instead.

    Args:
        ctx: the experiment (data root, results folder).
        train_paths: the training files.
        bin_width: ab grid width (None: Zhang's 10, 313 bins).

    Returns:
        (prior `[Q]`, bin centres `[Q, 2]`, path of the .npz file).
    """
    import hashlib

    from colorization_tf import quantize

    size = PRIOR_IMAGE_SIZE
    width = float(bin_width or quantize.ZHANG_BIN_WIDTH)
    key = [str(size)] if bin_width is None else [str(size), f"bin_width={width:g}"]
    digest = hashlib.sha1("\n".join(sorted(map(str, train_paths)) + key).encode()).hexdigest()[:12]
    name = f"ab_prior_{digest}.npz"
    candidates = [Path(ctx.data_root) / name, ctx.results_dir / name]
    centers = quantize.ab_bin_centers(width)
    for path in candidates:
        if path.exists():
            prior, stored, _ = quantize.load_prior(path)
            if stored.shape == centers.shape:
                return prior, stored, str(path)
    prior = quantize.compute_prior(build_split_dataset(train_paths, size, "zhang", 16), centers, normalization="zhang",
                                   bin_width=width)
    for path in candidates:
        try:
            written = quantize.save_prior(path, prior, centers, images=len(train_paths), image_size=size, bin_width=width)
        except OSError:
            continue
        return prior, centers, written
    raise OSError(f"cannot write the ab prior to {candidates[0]} or {candidates[1]}")


def class_weights_for(kind: str, prior, centers) -> np.ndarray:
    """Per-bin weights of the weighted cross-entropy: "zhang" (rebalancing, lambda 0.5) or "ziegler"."""
    from colorization_tf import quantize

    if kind == "ziegler":
        return quantize.ziegler_weights(prior, centers)
    if kind == "zhang":
        return quantize.rebalancing_weights(prior)
    raise ValueError(f"class_weights must be 'zhang' or 'ziegler', not {kind!r}")


def weighted_ce_loss(run: RunConfig, ctx: ExperimentContext, train_paths):
    """Zhang's class-rebalanced (or Ziegler's) soft-encoded cross-entropy, weights from the training
    prior on the run's bins (`run.bin_width`)."""
    from colorization_tf import losses

    prior, centers, _ = training_prior(ctx, train_paths, run.bin_width)
    try:
        weights = class_weights_for(run.class_weights, prior, centers)
    except ValueError as err:
        raise ValueError(f"run {run.name!r}: {err}") from None
    kwargs = {} if run.bin_width is None else {"bin_width": float(run.bin_width)}
    return losses.get_loss(run.loss, class_weights=np.asarray(weights, np.float32).tolist(), **kwargs)


def _loss_object(run: RunConfig, ctx: ExperimentContext, train_paths):
    """The run's loss with its bins applied: "wce"/"wce_hard" need the prior's weights,
    "ce"/"ce_hard" the bin width."""
    from colorization_tf import losses

    kind = losses.CROSS_ENTROPY_NAMES.get(run.loss) if isinstance(run.loss, str) else None
    if kind is not None and kind[1]:
        return weighted_ce_loss(run, ctx, train_paths)
    if kind is not None and run.bin_width is not None:
        return losses.get_loss(run.loss, bin_width=float(run.bin_width))
    return run.loss
