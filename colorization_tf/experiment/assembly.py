"""What a run trains on and with: its data (class filtering, capped subsets, the tf.data pipelines over
the experiment's splits) and its parts (the Keras model or GAN, the loss, the ab prior of the
class-rebalanced cross-entropies, counted once and saved beside the data).

The runner's only calls into `data.pipeline`, `losses` and `quantize`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from colorization_tf import losses, quantize
from colorization_tf.sources import synthetic
from colorization_tf.data.pipeline import build_dataset, build_epoch_datasets, dataset_cardinality_hint
from colorization_tf.data.experiment_splits import subsample_splits
from colorization_tf.experiment.config import RunConfig
from colorization_tf.models import get_spec
from colorization_tf.training import GANModel

# --------------------------------------------------------------------------------------------
# The run's data


def default_data_root() -> str:
    """The embedded synthetic default dataset (class folders), generated on first use."""
    return str(synthetic.default_dataset())


def filter_classes(paths, labels, class_names, classes) -> list[str]:
    """The paths of the scene `classes` only (all of them when `classes` is empty).

    Raises:
        ValueError: classes asked for on a flat folder, or classes the dataset does not have.
    """
    if not classes:
        return list(paths)
    if labels is None:
        raise ValueError(f"classes {classes} requested but the dataset has no class folders")
    unknown = sorted(set(classes) - set(class_names))
    if unknown:
        raise ValueError(f"unknown classes {unknown}; the dataset has {class_names}")
    wanted = {class_names.index(c) for c in classes}
    return [p for p in paths if labels[p] in wanted]


def interleave_classes(paths, labels) -> list[str]:
    """Paths reordered round-robin over classes (a test set's first images then show every scene)."""
    if labels is None:
        return list(paths)
    groups: dict[int, list[str]] = {}
    for p in paths:
        groups.setdefault(labels[p], []).append(p)
    order = []
    while any(groups.values()):
        for key in sorted(groups):
            if groups[key]:
                order.append(groups[key].pop(0))
    return order


def capped(paths: list[str], labels, limit: int | None, seed: int) -> list[str]:
    """At most `limit` of `paths` (a deterministic class-stratified subset, `data.experiment_splits.subsample_splits`), in their order."""
    if limit is None or len(paths) <= limit:
        return list(paths)
    chosen = set(subsample_splits({"train": list(paths)}, labels, limit, seed)["train"])
    return [p for p in paths if p in chosen]


def cache_for(cache, labels) -> str | None:
    """The pipeline cache for a dataset: a file prefix gets a suffix when the elements carry labels
    (`data.pipeline.cache_filename` names files by paths and size only, not by their structure)."""
    if not cache or cache == "memory" or labels is None:
        return cache
    return f"{cache}.labels"


def build_split_dataset(paths, image_size, normalization, batch_size, *, training=False, labels=None, seed=0, cache="memory",
                        resize_method="auto"):
    """The `data.pipeline.build_dataset` call of the runner for evaluation: file order, no augmentation.

    `cache`: "memory", a file prefix, or None (e.g. for a one-off batch that should not start a
    file cache it would leave half-written). `resize_method`: the experiment's (`data.decode.resize_float`).
    """
    return build_dataset(
        list(paths), image_size=image_size, batch_size=batch_size, normalization=normalization, labels=labels,
        training=False, augment=False, cache=cache, seed=seed, drop_remainder=training, resize_method=resize_method,
    )


def training_data(paths, image_size, normalization, batch_size, *, labels=None, seed=0, cache="memory", augment=True,
                  resize_method="auto"):
    """`(epoch -> Dataset, steps per epoch)` for `training.train` (`data.pipeline.build_epoch_datasets`).

    The images are decoded once into one cache shared by every epoch; each epoch shuffles (buffer
    capped in bytes) and, with `augment`, augments them (random crops + flips) with a seed of
    (seed, epoch) only, so a resumed run sees exactly the batches an uninterrupted one does.

    Args:
        paths, image_size, normalization, batch_size, labels, seed: the training split's pipeline.
        resize_method: the experiment's input resize (`data.decode.resize_float`).
        cache: "memory" or a file prefix. A file cache is filled by one full pass before training:
            an epoch cut short by `steps_per_epoch` would otherwise leave it unfinished.
    """
    for_epoch = build_epoch_datasets(
        list(paths), image_size=image_size, batch_size=batch_size, normalization=normalization,
        labels=labels, seed=seed, cache=cache, augment=augment, resize_method=resize_method,
    )
    if cache and cache != "memory":
        for _ in for_epoch(0):
            pass
    return for_epoch, max(1, dataset_cardinality_hint(len(paths), batch_size, drop_remainder=True))


# --------------------------------------------------------------------------------------------
# The run's model and loss


def needs_labels(run: RunConfig) -> bool:
    """Whether a run trains on scene labels (Iizuka's classification head: class folders needed)."""
    return get_spec(run.model).needs_labels


def builder(run: RunConfig, n_classes: int, trained: dict):
    """`() -> keras.Model` for `training.train` (also used to rebuild when resuming).

    Args:
        run: the resolved run.
        n_classes: scene classes of the data (for a scene head).
        trained: run name -> trained model (the `init_from` run's weights start this one).
    """
    spec = get_spec(run.model)
    kwargs = dict(run.model_kwargs, image_size=run.image_size)
    if spec.needs_labels and n_classes:
        kwargs.setdefault("num_classes", n_classes)
    if run.bin_width is not None:
        kwargs["bin_width"] = run.bin_width

    def build():
        model = spec.build(**kwargs)
        if run.init_from:
            model.set_weights(trained[run.init_from].get_weights())
        if run.gan is None:
            return model
        settings = run.gan.as_dict()
        disc = spec.build_discriminator(image_size=run.image_size, **settings.pop("discriminator_kwargs", {}))
        return GANModel(model, disc, **settings)

    return build


PRIOR_IMAGE_SIZE = 64
"""Resolution at which the training split's ab prior is counted (colour statistics barely depend on it)."""


def training_prior(ctx, train_paths, bin_width: float | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The empirical ab prior of the training split, computed once and saved.

    The prior is counted in one tf.data pass and written beside the data as
    `ab_prior_<digest>.npz` (the digest names the file list, resolution and bin width), so every
    weighted run and every later invocation reuses it; where the data folder is read-only it goes
    to the results folder instead.

    Args:
        ctx: the experiment (`runner.ExperimentContext`: its `data_root` and `results_dir`).
        train_paths: the training files.
        bin_width: ab grid width (None: Zhang's 10, 313 bins).

    Returns:
        (prior `[Q]`, bin centres `[Q, 2]`, path of the .npz file).
    """
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
    if kind == "ziegler":
        return quantize.ziegler_weights(prior, centers)
    if kind == "zhang":
        return quantize.rebalancing_weights(prior)
    raise ValueError(f"class_weights must be 'zhang' or 'ziegler', not {kind!r}")


def weighted_ce_loss(run: RunConfig, ctx, train_paths):
    """Zhang's class-rebalanced (or Ziegler's) soft-encoded cross-entropy, weights from the training
    prior on the run's bins (`run.bin_width`)."""
    prior, centers, _ = training_prior(ctx, train_paths, run.bin_width)
    try:
        weights = class_weights_for(run.class_weights, prior, centers)
    except ValueError as err:
        raise ValueError(f"run {run.name!r}: {err}") from None
    kwargs = {} if run.bin_width is None else {"bin_width": float(run.bin_width)}
    return losses.get_loss(run.train.loss, class_weights=np.asarray(weights, np.float32).tolist(), **kwargs)


def loss_object(run: RunConfig, ctx, train_paths):
    """The run's loss with its bins applied: "wce"/"wce_hard" need the prior's weights,
    "ce"/"ce_hard" the bin width; any other loss as configured."""
    loss = run.train.loss
    kind = losses.CROSS_ENTROPY_NAMES.get(loss) if isinstance(loss, str) else None
    if kind is not None and kind[1]:
        return weighted_ce_loss(run, ctx, train_paths)
    if kind is not None and run.bin_width is not None:
        return losses.get_loss(loss, bin_width=float(run.bin_width))
    return loss
