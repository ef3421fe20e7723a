"""Keras callbacks of the runner: checkpoints, NaN guard, history/CSV log and sample figures.
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
from colorization_tf.training.checkpoints import (
    CHECKPOINT_PATTERN,
    _apply_state,
    _capture_state,
    list_checkpoints,
    save_checkpoint,
)
from colorization_tf.training.config import CHECKPOINT_DIR, CSV_LOG_FILE, FIGURES_DIR, HISTORY_FILE, TrainConfig


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class TrainingStateCallback(keras.callbacks.Callback):
    """Checkpointing, NaN guard, history/CSV logging and figures, in one ordered place.

    - Stops on the first non-finite batch loss and never checkpoints NaN weights; after `fit`
      `restore_last_good()` puts the last good state back.
    - Every `checkpoint_every` epochs (and at the last) writes the full state atomically and
      prunes old checkpoints.
    - Every epoch rewrites `history.json` and the CSV log atomically from the history.
    - Every `sample_every` epochs draws the sample-colorization figure.

    Args:
        workdir: run directory.
        config: the `TrainConfig`.
        history: history restored from a checkpoint (metric -> list), extended in place.
        sample_fn: optional `epoch -> None` figure function.
    """

    def __init__(self, workdir, config: TrainConfig, history: dict, sample_fn=None):
        super().__init__()
        self.workdir = Path(workdir)
        self.config = config
        self.history = history
        self.sample_fn = sample_fn
        self.nan_epoch: int | None = None
        self._epoch = 0
        self._last_good: dict | None = None

    def on_train_begin(self, logs=None):
        self._last_good = _capture_state(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if logs and not _finite(logs.get("loss", 0.0)):
            self.nan_epoch = self._epoch
            self.model.stop_training = True
            warnings.warn(f"Non-finite loss in epoch {self._epoch + 1}, batch {batch}: stopping; the last good checkpoint is kept.")

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_epoch is not None or not all(_finite(v) for v in (logs or {}).values()):
            self.nan_epoch = epoch if self.nan_epoch is None else self.nan_epoch
            self.model.stop_training = True
            return
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        self.history.setdefault("epoch", []).append(epoch + 1)
        completed = epoch + 1
        write_history(self.workdir, self.history)
        every = max(int(self.config.checkpoint_every), 1)
        if completed % every == 0 or completed == self.config.epochs:
            path = self.workdir / CHECKPOINT_DIR / CHECKPOINT_PATTERN.format(epoch=completed)
            save_checkpoint(path, self.model, completed, self.history, {"config": self.config.to_dict()})
            self._last_good = _capture_state(self.model)
            for _, old in list_checkpoints(self.workdir)[: -max(int(self.config.keep_checkpoints), 1)]:
                old.unlink(missing_ok=True)
        if self.sample_fn is not None and self.config.sample_every and completed % self.config.sample_every == 0:
            try:
                self.sample_fn(completed)
            except Exception as err:  # a figure must never kill a training run
                warnings.warn(f"Sample figure for epoch {completed} failed: {type(err).__name__}: {err}")

    def restore_last_good(self) -> None:
        """Puts the last good (checkpointed or initial) state back into the model."""
        if self._last_good is not None:
            _apply_state(self.model, self._last_good)


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


def _sample_figure_fn(model, sample_batch, normalization, workdir, name):
    """`epoch -> None` drawing gray | prediction | ground truth for `sample_batch`."""
    from colorization_tf import color
    from colorization_tf.export import predict_ab
    from colorization_tf.plots.training import plot_sample_grid

    norm = color.get_normalization(normalization)
    l_enc, target = sample_batch
    ab_true_enc = target["ab"] if isinstance(target, dict) else target
    l_real = norm.decode_l(l_enc)
    zeros = tf.zeros_like(ab_true_enc)
    gray = color.lab_to_rgb(color.join_lab(l_real, zeros)).numpy()
    truth = color.lab_to_rgb(color.join_lab(l_real, norm.decode_ab(ab_true_enc))).numpy()

    def draw(epoch: int) -> None:
        ab = predict_ab(model, l_enc, norm)
        pred = color.lab_to_rgb(color.join_lab(l_real, ab)).numpy()
        title = f"{name or 'model'} - epoch {epoch}"
        plot_sample_grid(gray, pred, truth, Path(workdir) / FIGURES_DIR / f"samples_epoch{epoch:04d}.png", title=title)

    return draw
