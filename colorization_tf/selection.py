"""Model selection on the validation split: keep the weights of the epoch with the best validation score.

`BestWeights` is a Keras callback that saves the model's weights whenever a monitored validation
value (e.g. ``"val_ab_l1"``) improves, with the epoch and the value beside them; `restore_best`
loads them after training. Both files are written atomically and survive a resume: a resumed run
continues from the best value already on disk, so a killed-and-resumed run keeps the same epoch
as an uninterrupted one.

Reference:
    Early stopping / model selection on held-out data (e.g. Keras' `EarlyStopping(restore_best_weights=True)`,
    which keeps its best weights in memory only and so loses them on a resume).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras

from colorization_tf.fileio import atomic_path, atomic_write_text

BEST_WEIGHTS = "best.weights.h5"
BEST_INFO = "best.json"


class BestWeights(keras.callbacks.Callback):
    """Saves the weights of the epoch with the lowest (or highest) `monitor` into `folder`.

    Args:
        folder: where `BEST_WEIGHTS` and `BEST_INFO` go (the run's work directory).
        monitor: a key of the epoch logs, e.g. ``"val_ab_l1"`` or ``"val_loss"``.
        mode: "min" or "max".
    """

    def __init__(self, folder, monitor: str = "val_loss", mode: str = "min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self.folder, self.monitor, self.mode = Path(folder), monitor, mode
        info = read_best(folder)
        self.best = info["value"] if info and info.get("monitor") == monitor else None

    def _better(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        return self.best is None or (value < self.best if self.mode == "min" else value > self.best)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"BestWeights: the epoch logs have no {self.monitor!r} (they have {sorted(logs)}); "
                           "give validation data and the metric")
        value = float(logs[self.monitor])
        if not self._better(value):
            return
        self.best = value
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.folder / BEST_WEIGHTS, suffix=".weights.h5") as tmp:
            self.model.save_weights(tmp)
        atomic_write_text(self.folder / BEST_INFO, json.dumps({"monitor": self.monitor, "mode": self.mode,
                                                               "epoch": epoch + 1, "value": value}, indent=1))


def read_best(folder) -> dict | None:
    """The `BEST_INFO` record of `folder` (``{"monitor", "mode", "epoch", "value"}``), or None."""
    path = Path(folder) / BEST_INFO
    if not path.exists() or not (Path(folder) / BEST_WEIGHTS).exists():
        return None
    return json.loads(path.read_text())


def restore_best(model: keras.Model, folder) -> dict | None:
    """Loads the best epoch's weights saved in `folder` into `model`; returns its record, or None if none was saved."""
    info = read_best(folder)
    if info is not None:
        model.load_weights(Path(folder) / BEST_WEIGHTS)
    return info


__all__ = ["BEST_INFO", "BEST_WEIGHTS", "BestWeights", "read_best", "restore_best"]
