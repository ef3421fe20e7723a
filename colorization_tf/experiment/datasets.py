"""The tf.data pipelines over an experiment's splits (the runner's only calls into `data.pipeline`).

The default data folder, class filtering and interleaving, the evaluation pipeline of a split and
the per-epoch training pipeline, capped subsets and the cache name for labelled elements.
"""

from __future__ import annotations

from colorization_tf.data.splits import _subset

def default_data_root() -> str:
    """The embedded synthetic default dataset (class folders), generated on first use."""
    from colorization_tf.data import synthetic

    return str(synthetic.default_dataset())


def _filter_classes(paths, labels, class_names, classes):
    if not classes:
        return list(paths)
    if labels is None:
        raise ValueError(f"classes {classes} requested but the dataset has no class folders")
    unknown = sorted(set(classes) - set(class_names))
    if unknown:
        raise ValueError(f"unknown classes {unknown}; the dataset has {class_names}")
    wanted = {class_names.index(c) for c in classes}
    return [p for p in paths if labels[p] in wanted]


def interleave_classes(paths, labels):
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


def build_split_dataset(paths, image_size, normalization, batch_size, *, training=False, labels=None, seed=0, cache="memory",
                        resize_method="auto"):
    """The `data.pipeline.build_dataset` call of the runner for evaluation: file order, no augmentation.

    `cache`: "memory", a file prefix, or None (e.g. for a one-off batch that should not start a
    file cache it would leave half-written). `resize_method`: the experiment's (`data.decode.resize_float`).
    """
    from colorization_tf.data.pipeline import build_dataset

    return build_dataset(
        list(paths),
        image_size=image_size,
        batch_size=batch_size,
        normalization=normalization,
        labels=labels,
        training=False,
        augment=False,
        cache=cache,
        seed=seed,
        drop_remainder=training,
        resize_method=resize_method,
    )


def training_data(paths, image_size, normalization, batch_size, *, labels=None, seed=0, cache="memory", augment=True,
                  resize_method="auto"):
    """`(epoch -> Dataset, steps per epoch)` for `training.train` (`data.pipeline.build_epoch_datasets`).

    The images are decoded once into one cache shared by every epoch; each epoch shuffles (buffer
    capped in bytes) and, with `augment`, augments them (random crops + flips) with a seed of
    (seed, epoch) only, so a resumed run sees exactly the batches an uninterrupted one does.

    Args:
        paths, image_size, normalization, batch_size, labels, seed: the training split's pipeline.
        cache: "memory" or a file prefix. A file cache is filled by one full pass before training:
            an epoch cut short by `steps_per_epoch` would otherwise leave it unfinished.
    """
    from colorization_tf.data.pipeline import (
        build_epoch_datasets,
        dataset_cardinality_hint,
    )

    for_epoch = build_epoch_datasets(
        list(paths), image_size=image_size, batch_size=batch_size, normalization=normalization,
        labels=labels, seed=seed, cache=cache, augment=augment, resize_method=resize_method,
    )
    if cache and cache != "memory":
        for _ in for_epoch(0):
            pass
    return for_epoch, max(1, dataset_cardinality_hint(len(paths), batch_size, drop_remainder=True))


def _capped(paths: list[str], labels, limit: int | None, seed: int) -> list[str]:
    """At most `limit` of `paths` (a deterministic class-stratified subset, `_subset`), in their order."""
    if limit is None or len(paths) <= limit:
        return list(paths)
    chosen = set(_subset(paths, labels, limit, seed))
    return [p for p in paths if p in chosen]


def _cache_for(cache, labels) -> str | None:
    """The pipeline cache for a dataset: a file prefix gets a suffix when the elements carry labels
    (`data.pipeline.cache_filename` names files by paths and size only, not by their structure)."""
    if not cache or cache == "memory" or labels is None:
        return cache
    return f"{cache}.labels"
