"""Data order that depends on (seed, epoch) only, so a resumed run sees what an uninterrupted one saw.

`train()` takes its training data as a `tf.data.Dataset` or as a function of the epoch; this
module turns the latter into the one dataset `fit` iterates over, starting at the resumed epoch.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import tensorflow as tf


def reshuffle_per_epoch(dataset: tf.data.Dataset, buffer_size: int, seed: int = 0) -> Callable:
    """Returns `epoch -> dataset shuffled with a seed derived from (seed, epoch)`.

    Pass the result as `train_ds` to `train()`: each epoch's order then depends on
    (seed, epoch) only, so a resumed run sees the same data as an uninterrupted one. Put
    `.cache()` in `dataset` (before this); it is shared by all epochs. The callable is marked
    like `python_epochs` (`train()` passes Python ints); a scalar int64 tensor works too.

    Args:
        dataset: the dataset to shuffle (elements or batches).
        buffer_size: shuffle buffer size.
        seed: base seed.

    Returns:
        A callable taking an epoch (Python int or scalar int64 tensor).
    """

    from colorization_tf.data.pipeline import epoch_seed

    def for_epoch(epoch):
        if isinstance(epoch, (int, np.integer)):
            return dataset.shuffle(buffer_size, seed=epoch_seed(int(seed), int(epoch)), reshuffle_each_iteration=False)
        if not tf.executing_eagerly():
            # tf.random's get_seed compares (graph seed, op seed) == (0, 0) in Python, which fails on a
            # tensor op seed when the graph seed is 0 (e.g. TrainConfig.seed=0): give this dataset
            # function's own graph a non-zero seed (the global seed is untouched).
            tf.random.set_seed(int(seed) + 1)
        return dataset.shuffle(buffer_size, seed=epoch_seed(seed, epoch), reshuffle_each_iteration=False)

    for_epoch.python_epochs = True
    return for_epoch


def python_epochs(fn: Callable) -> Callable:
    """Marks an `epoch -> Dataset` callable that needs a Python int epoch (not a tensor).

    `train()` then builds one pipeline per epoch and concatenates them (an in-memory cache
    inside `fn`'s pipeline is rebuilt every epoch). Example:
    `python_epochs(lambda e: build_dataset(paths, ..., training=True, seed=1000 * seed + e))`;
    `data.pipeline.build_epoch_datasets(paths, ..., seed=seed)` gives the same per-epoch
    reproducibility from one cached pipeline (and is already marked).
    """

    def wrapper(epoch):
        return fn(epoch)

    wrapper.python_epochs = True
    return wrapper


def epoch_dataset(train_ds, initial_epoch: int, epochs: int, steps_per_epoch: int | None):
    """(dataset for fit, steps_per_epoch) from a Dataset or an `epoch -> Dataset` callable."""
    if isinstance(train_ds, tf.data.Dataset):
        return train_ds, steps_per_epoch
    if not callable(train_ds):
        raise TypeError(f"train_ds must be a tf.data.Dataset or a callable epoch -> Dataset, not {type(train_ds).__name__}")
    epochs_ds = tf.data.Dataset.range(initial_epoch, epochs)
    tensor_epochs = not getattr(train_ds, "python_epochs", False)
    first = train_ds(tf.constant(initial_epoch, tf.int64) if tensor_epochs else initial_epoch)
    if steps_per_epoch is None:
        cardinality = int(first.cardinality())
        if cardinality < 0:
            raise ValueError("train_ds(epoch) has unknown length: set TrainConfig.steps_per_epoch")
        steps_per_epoch = cardinality
    if tensor_epochs:
        return epochs_ds.flat_map(lambda e: train_ds(e).take(steps_per_epoch)), steps_per_epoch
    dataset = first.take(steps_per_epoch)
    for epoch in range(initial_epoch + 1, epochs):
        dataset = dataset.concatenate(train_ds(epoch).take(steps_per_epoch))
    return dataset, steps_per_epoch
