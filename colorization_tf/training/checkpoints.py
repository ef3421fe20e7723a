"""Training-state checkpoints of a run directory: write, list, read, restore.

(Still the `.npz`-by-position format; replaced by TensorFlow's own checkpoints in the next step.)
"""

from __future__ import annotations

import io
import json
import logging
import re
import warnings
from pathlib import Path

import numpy as np

from colorization_tf.fileio import atomic_write_bytes
from colorization_tf.models.gan import GANModel
from colorization_tf.training.config import CHECKPOINT_DIR, TrainConfig, config_differences

log = logging.getLogger(__name__)

CHECKPOINT_PATTERN = "ckpt-{epoch:05d}.npz"
_CHECKPOINT_RE = re.compile(r"^ckpt-(\d{5,})\.npz$")


def _optimizers(model) -> list:
    opts = [model.optimizer] if getattr(model, "optimizer", None) is not None else []
    if isinstance(model, GANModel) and model.d_optimizer is not None:
        opts.append(model.d_optimizer)
    return opts


def _build_optimizers(model) -> None:
    if isinstance(model, GANModel):
        model.build_optimizers()
    elif model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _capture_state(model) -> dict:
    opt_values = []
    built = all(o.built for o in _optimizers(model)) and bool(_optimizers(model))
    if built:
        for opt in _optimizers(model):
            opt_values.extend(np.asarray(v.numpy()) for v in opt.variables)
    return {
        "model": [np.asarray(v.numpy()) for v in model.variables],
        "optimizer": opt_values,
        "optimizer_built": built,
    }


def _apply_state(model, state: dict) -> None:
    variables = model.variables
    if len(variables) != len(state["model"]):
        raise ValueError(f"Checkpoint holds {len(state['model'])} model variables, the model has {len(variables)}")
    for var, value in zip(variables, state["model"]):
        if tuple(var.shape) != value.shape:
            raise ValueError(f"Checkpoint shape {value.shape} does not fit variable {var.path} {tuple(var.shape)}")
        var.assign(value)
    if state["optimizer_built"] and state["optimizer"]:
        _build_optimizers(model)
        opt_vars = [v for opt in _optimizers(model) for v in opt.variables]
        if len(opt_vars) != len(state["optimizer"]):
            raise ValueError(f"Checkpoint holds {len(state['optimizer'])} optimizer variables, the optimizer has {len(opt_vars)}")
        for var, value in zip(opt_vars, state["optimizer"]):
            var.assign(value)


def save_checkpoint(path, model, epoch: int, history: dict, extra: dict | None = None) -> Path:
    """Writes the full training state to `path` atomically (temp file, then `os.replace`).

    The `.npz` holds every model variable (weights, BN statistics, seed states), every optimizer
    variable (slots, iteration count, loss scale), and a JSON header with the completed epoch
    count, the history and `extra`.
    """
    state = _capture_state(model)
    meta = {"epoch": int(epoch), "history": history, "optimizer_built": state["optimizer_built"], **(extra or {})}
    arrays = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    arrays.update({f"model_{i:05d}": v for i, v in enumerate(state["model"])})
    arrays.update({f"optimizer_{i:05d}": v for i, v in enumerate(state["optimizer"])})
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue(), fsync=True)
    return Path(path)


def load_checkpoint(path) -> dict:
    """Reads a checkpoint written by `save_checkpoint`: {"epoch", "history", "model", "optimizer", ...}."""
    with np.load(path, allow_pickle=False) as data:
        meta = json.loads(bytes(data["meta"]).decode("utf-8"))
        model_keys = sorted(k for k in data.files if k.startswith("model_"))
        opt_keys = sorted(k for k in data.files if k.startswith("optimizer_"))
        meta["model"] = [data[k] for k in model_keys]
        meta["optimizer"] = [data[k] for k in opt_keys]
    return meta


def list_checkpoints(workdir) -> list[tuple[int, Path]]:
    """(epoch, path) of the checkpoints in `workdir/checkpoints`, oldest first."""
    folder = Path(workdir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = []
    for p in folder.iterdir():
        m = _CHECKPOINT_RE.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def latest_checkpoint(workdir) -> tuple[dict, Path] | None:
    """The newest readable checkpoint (a damaged one is skipped with a warning), or None."""
    for _, path in reversed(list_checkpoints(workdir)):
        try:
            return load_checkpoint(path), path
        except Exception as err:  # a damaged file must not stop a resume
            warnings.warn(f"Skipping unreadable checkpoint {path}: {type(err).__name__}: {err}")
    return None


def restore_checkpoint(model, workdir, config: TrainConfig | None = None) -> tuple[int, dict]:
    """Restores the newest checkpoint of `workdir` into `model`; returns (epoch, history).

    Args:
        model: the compiled model to restore into.
        workdir: the run directory.
        config: the current `TrainConfig`; when given, it must match the one stored in the
            checkpoint except for `RESUMABLE_CONFIG_KEYS`.

    Raises:
        ValueError: the checkpoint was trained with a different configuration (names the workdir
            and each differing key with its stored and current values); nothing is restored.
    """
    found = latest_checkpoint(workdir)
    if found is None:
        return 0, {}
    state, path = found
    stored = state.get("config")
    if config is not None and isinstance(stored, dict):
        diff = config_differences(stored, config)
        if diff:
            details = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
            raise ValueError(
                f"Work directory {str(workdir)!r} holds a checkpoint ({path.name}) trained with a different "
                f"configuration ({details}). Use a new work directory, or delete {CHECKPOINT_DIR}/ to start over."
            )
    _apply_state(model, state)
    log.info("Resumed from %s (epoch %d)", path, state["epoch"])
    return int(state["epoch"]), dict(state["history"])
