"""Keras callbacks of the runner, one job each: NaN guard, history/CSV log, checkpoints, sample figures.

`train()` passes them in this order, which `fit` keeps: the guard first (the others skip an epoch
whose numbers are not finite), the history before the checkpoint (a checkpoint holds the history).
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from colorization_tf.fileio import atomic_write_text
from colorization_tf.training.checkpoints import CheckpointWriter, restore_snapshot, snapshot
from colorization_tf.training.config import CSV_LOG_FILE, FIGURES_DIR, HISTORY_FILE, TrainConfig


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite batch loss or epoch metric.

    `nan_epoch` is then the (0-based) epoch it happened in; the other callbacks of the runner
    skip that epoch (no history row, no checkpoint of NaN weights, no figure).
    """

    def __init__(self):
        super().__init__()
        self.nan_epoch: int | None = None
        self._epoch = 0

    @property
    def tripped(self) -> bool:
        return self.nan_epoch is not None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if logs and not _finite(logs.get("loss", 0.0)):
            self.nan_epoch = self._epoch
            self.model.stop_training = True
            warnings.warn(f"Non-finite loss in epoch {self._epoch + 1}, batch {batch}: stopping; the last good checkpoint is kept.")

    def on_epoch_end(self, epoch, logs=None):
        if self.tripped or not all(_finite(v) for v in (logs or {}).values()):
            self.nan_epoch = epoch if self.nan_epoch is None else self.nan_epoch
            self.model.stop_training = True


class HistoryLogger(keras.callbacks.Callback):
    """Appends each epoch's logs to `history` (metric -> list, extended in place) and rewrites
    `history.json` and the CSV log atomically.

    Args:
        workdir: run directory.
        history: the history so far (restored from a checkpoint), extended in place.
        guard: the run's `NaNGuard`.
    """

    def __init__(self, workdir, history: dict, guard: NaNGuard):
        super().__init__()
        self.workdir = Path(workdir)
        self.history = history
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        if self.guard.tripped:
            return
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("epoch", []).append(epoch + 1)
        write_history(self.workdir, self.history)


class Checkpointer(keras.callbacks.Callback):
    """Every `config.checkpoint_every` epochs (and at the last) writes the full training state
    (`checkpoints.CheckpointWriter`, keeping `config.keep_checkpoints`), never after a NaN;
    `restore_last_good()` puts the last checkpointed (or initial) state back.

    Args:
        workdir: run directory.
        config: the `TrainConfig`.
        history: the history the checkpoint records (the `HistoryLogger`'s).
        guard: the run's `NaNGuard`.
    """

    def __init__(self, workdir, config: TrainConfig, history: dict, guard: NaNGuard):
        super().__init__()
        self.workdir = Path(workdir)
        self.config = config
        self.history = history
        self.guard = guard
        self._writer: CheckpointWriter | None = None
        self._last_good: list | None = None

    def on_train_begin(self, logs=None):
        self._writer = CheckpointWriter(self.workdir, self.model, self.config.keep_checkpoints)
        self._last_good = snapshot(self.model)

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        every = max(int(self.config.checkpoint_every), 1)
        if self.guard.tripped or not (completed % every == 0 or completed == self.config.epochs):
            return
        self._writer.save(completed, self.history, self.config)
        self._last_good = snapshot(self.model)

    def restore_last_good(self) -> None:
        """Puts the last good (checkpointed or initial) state back into the model."""
        if self._last_good is not None:
            restore_snapshot(self._last_good)


class SampleFigures(keras.callbacks.Callback):
    """Every `every` epochs calls `draw(epoch)` (the sample-colorization figure); a failing
    figure is a warning, never the end of a run."""

    def __init__(self, draw, every: int, guard: NaNGuard):
        super().__init__()
        self.draw = draw
        self.every = int(every)
        self.guard = guard

    def on_epoch_end(self, epoch, logs=None):
        completed = epoch + 1
        if self.guard.tripped or not self.every or completed % self.every:
            return
        try:
            self.draw(completed)
        except Exception as err:  # a figure must never kill a training run
            warnings.warn(f"Sample figure for epoch {completed} failed: {type(err).__name__}: {err}")


def write_history(workdir, history: dict) -> None:
    """Writes `history.json` and the CSV log (one row per epoch) atomically."""
    workdir = Path(workdir)
    atomic_write_text(workdir / HISTORY_FILE, json.dumps(history, indent=1))
    keys = [k for k in history if k != "epoch" and isinstance(history[k], list)]
    rows = len(history.get("epoch", []))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["epoch", *keys])
    for i in range(rows):
        writer.writerow([history["epoch"][i], *[history[k][i] if i < len(history[k]) else "" for k in keys]])
    atomic_write_text(workdir / CSV_LOG_FILE, out.getvalue())


def sample_figure_fn(model, sample_batch, preprocessor, workdir, name):
    """`epoch -> None` drawing gray | prediction | ground truth for `sample_batch`.

    `preprocessor`: the model's `Preprocessor` (its normalisation and head decoder), or its normalisation."""
    from colorization_tf import color
    from colorization_tf.models.heads import predict_ab
    from colorization_tf.plots.training import plot_sample_grid

    from colorization_tf.data.targets import split_element

    norm = color.get_normalization(preprocessor)
    l_enc, target = split_element(sample_batch)
    ab_true_enc = target.ab
    l_real = norm.decode_l(l_enc)
    zeros = tf.zeros_like(ab_true_enc)
    gray = color.lab_to_rgb(color.join_lab(l_real, zeros)).numpy()
    truth = color.lab_to_rgb(color.join_lab(l_real, norm.decode_ab(ab_true_enc))).numpy()

    def draw(epoch: int) -> None:
        ab = predict_ab(model, l_enc, preprocessor)
        pred = color.lab_to_rgb(color.join_lab(l_real, ab)).numpy()
        title = f"{name or 'model'} - epoch {epoch}"
        plot_sample_grid(gray, pred, truth, Path(workdir) / FIGURES_DIR / f"samples_epoch{epoch:04d}.png", title=title)

    return draw
