"""Training-state checkpoints of a run directory, in TensorFlow's own format, variables matched by name.

A checkpoint is a `tf.train.Checkpoint` (`checkpoints/ckpt-<epoch>.index` + `.data-*`) written by a
`tf.train.CheckpointManager`: TensorFlow writes it atomically (the `checkpoint` state file, renamed
into place last, names the finished ones) and keeps the newest N. It holds

- ``model``: every model variable (weights, batch-norm statistics, random-seed states), keyed by
  its Keras path (``conv1/kernel``; a `GANModel`'s under ``generator/`` and ``discriminator/``;
  the number in a name Keras made up for an unnamed layer, e.g. ``conv2d_17``, counted within
  the model, so that it does not depend on what else the process built: name your layers);
- ``optimizer`` (and a GAN's ``d_optimizer``): every optimizer variable, a slot under its model
  variable's key (``conv1/kernel/momentum``), the iteration count, learning rate and, for a
  `LossScaleOptimizer`, its loss scale by name (the wrapped optimizer's under ``inner/``);
- ``run``: JSON with the completed epoch count, the history and the `TrainConfig`.

Keys are names, not positions: a layer added to or removed from a model leaves every other
variable's key as it was, so the rest restores (the difference is reported in a warning), and a
variable whose shape changed is an error naming it. Keras' own object graph is not used: it keys
a functional model's layers and an optimizer's slots by list position and leaves out the
random-seed states.

Run directories written before this format (``checkpoints/ckpt-00003.npz``, variables stored by
position) do not resume: `restore_checkpoint` says so and how to continue.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import warnings
from pathlib import Path

import keras
import tensorflow as tf
from tensorflow.core.protobuf.trackable_object_graph_pb2 import TrackableObjectGraph

from colorization_tf.models.gan import GANModel
from colorization_tf.training.config import CHECKPOINT_DIR, TrainConfig, config_differences

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "ckpt"
"""File prefix of a checkpoint: `checkpoints/ckpt-<epoch>.index` and `.data-*`."""
CHECKPOINT_FORMAT = 2
"""Stored in every checkpoint's ``run`` record (1 was the `.npz` format)."""
_LEGACY_NPZ = re.compile(r"^ckpt-(\d{5,})\.npz$")
_TF_TEMPORARY = re.compile(rf"^({CHECKPOINT_NAME}-\d+_temp.*|checkpoint\.tmp.*|.*\.tempstate\d*)$")
"""What a killed TensorFlow checkpoint write leaves: a `_temp` folder, a state or index temporary."""
_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_MODEL = "model"
_RUN = "run"
_RECORD_KEY = f"{_RUN}/.ATTRIBUTES/py_state"
"""Where TensorFlow stores a `PythonState` named `run`."""
_INNER = "inner/"


class ResumeError(ValueError):
    """A work directory's checkpoint cannot resume this run; the message says how to continue."""


class _RunRecord(tf.train.experimental.PythonState):
    """The JSON part of a checkpoint: {"format", "epoch", "history", "config"}."""

    def __init__(self, record: dict | None = None):
        self.record = dict(record or {})

    def serialize(self):
        return json.dumps(self.record)

    def deserialize(self, string_value):
        text = string_value.decode("utf-8") if isinstance(string_value, bytes) else str(string_value)
        self.record = json.loads(text)


# --------------------------------------------------------------------------- what is saved


def optimizers(model) -> dict[str, keras.optimizers.Optimizer]:
    """{"optimizer": ..., "d_optimizer": ...}: the model's optimizers by role (a GAN has two)."""
    found = {}
    if getattr(model, "optimizer", None) is not None:
        found["optimizer"] = model.optimizer
    if isinstance(model, GANModel) and model.d_optimizer is not None:
        found["d_optimizer"] = model.d_optimizer
    return found


def build_optimizers(model) -> None:
    """Creates the optimizers' slot variables now (Keras creates them lazily, at the first step)."""
    if isinstance(model, GANModel):
        model.build_optimizers()
    elif model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _unique(pairs) -> dict:
    """{key: variable}; a repeated key gets "#2", "#3", ... in the order the variables come."""
    named: dict = {}
    for key, var in pairs:
        unique, n = key, 1
        while unique in named:
            n += 1
            unique = f"{key}#{n}"
        named[unique] = var
    return named


def _snake_case(name: str) -> str:
    """Keras' default name for a class: "BatchNormalization" -> "batch_normalization"."""
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)).lower()


def _made_up_names(model) -> set[str]:
    """The names Keras gives what was left unnamed, without their number: "conv2d", "seed_generator"."""
    bases, layers = {"seed_generator"}, list(getattr(model, "layers", []))
    while layers:
        layer = layers.pop()
        bases.add(_snake_case(type(layer).__name__))
        layers.extend(getattr(layer, "layers", []))
    return bases


def _stable_paths(net) -> list[tuple[str, object]]:
    """(path, variable) for `net.variables`, the numbers Keras added to made-up names counted within `net`.

    An unnamed layer is called "conv2d_17" when 17 other Conv2D layers were made before it in the
    process; here it is "conv2d_<n>" for the n-th such name in `net` (as Keras' own weight files count),
    so the key does not depend on what else the process built. Named layers keep their names.
    """
    bases, renamed, counts = _made_up_names(net), {}, {}
    paths = []
    for var in net.variables:
        parts = var.path.split("/")
        for i, part in enumerate(parts[:-1]):
            match = re.fullmatch(r"(.+?)(?:_\d+)?", part)
            if match and match.group(1) in bases:
                if part not in renamed:
                    n = counts.get(match.group(1), 0)
                    counts[match.group(1)] = n + 1
                    renamed[part] = match.group(1) if n == 0 else f"{match.group(1)}_{n}"
                parts[i] = renamed[part]
        paths.append(("/".join(parts), var))
    return paths


def _model_variables(model) -> dict:
    if isinstance(model, GANModel):
        nets = [(f"{role}/{path}", v) for role in ("generator", "discriminator") for path, v in _stable_paths(getattr(model, role))]
        own = {id(v) for _, v in nets}
        return _unique([*nets, *[(path, v) for path, v in _stable_paths(model) if id(v) not in own]])
    return _unique(_stable_paths(model))


def _optimizer_variables(opt, model_keys: dict) -> dict:
    """{key: variable} of an optimizer: a slot under its model variable's key ("conv1/kernel/momentum"),
    the optimizer's own variables by name ("iteration"), a wrapped optimizer's under "inner/"."""
    prefixes = sorted(((v.path.replace("/", "_") + "_", key) for key, v in model_keys.items()), key=lambda p: -len(p[0]))

    def key_of(var):
        name = var.name
        return next((f"{key}/{name[len(prefix):]}" for prefix, key in prefixes if name.startswith(prefix)), name)

    inner = getattr(opt, "inner_optimizer", None)
    inner_ids = {id(v) for v in inner.variables} if inner is not None else set()
    own = [(key_of(v), v) for v in opt.variables if id(v) not in inner_ids]
    wrapped = [(_INNER + key_of(v), v) for v in inner.variables] if inner is not None else []
    return _unique([*own, *wrapped])


def state_variables(model) -> dict[str, dict]:
    """{"model": {key: variable}, "optimizer": {...}, ["d_optimizer": {...}]}: what a checkpoint holds.

    Optimizers appear once built (after the first step, or `build_optimizers`).
    """
    groups = {_MODEL: _model_variables(model)}
    for role, opt in optimizers(model).items():
        if opt.built:
            groups[role] = _optimizer_variables(opt, groups[_MODEL])
    return groups


def _checkpoint(groups: dict, record: _RunRecord) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(**{name: dict(variables) for name, variables in groups.items() if variables}, **{_RUN: record})


# --------------------------------------------------------------------------- writing


class CheckpointWriter:
    """Writes a model's training state into `<workdir>/checkpoints/` with a `tf.train.CheckpointManager`.

    Args:
        workdir: the run directory (on a multi-worker non-chief: its temporary one).
        model: the compiled model; its optimizers must be built before the first `save`.
        keep: how many newest checkpoints to keep.
    """

    def __init__(self, workdir, model, keep: int):
        self.directory = Path(workdir) / CHECKPOINT_DIR
        self.model = model
        self.keep = max(int(keep), 1)
        self._record = _RunRecord()
        self._manager = None

    def save(self, epoch: int, history: dict, config: TrainConfig | None = None) -> Path:
        """Writes the state after `epoch` completed epochs; returns the checkpoint's path prefix.

        Raises:
            OSError: the checkpoint could not be written (full disk, read-only folder: TensorFlow's
                message); what the failed write left is removed, the previous checkpoints stay.
        """
        self._record.record = {"format": CHECKPOINT_FORMAT, "epoch": int(epoch), "history": history,
                               "config": None if config is None else config.to_dict()}
        try:
            if self._manager is None:  # the variables are fixed once the optimizers are built
                build_optimizers(self.model)
                checkpoint = _checkpoint(state_variables(self.model), self._record)
                self._manager = tf.train.CheckpointManager(checkpoint, str(self.directory), max_to_keep=self.keep,
                                                           checkpoint_name=CHECKPOINT_NAME)
            return Path(self._manager.save(checkpoint_number=int(epoch)))
        except tf.errors.OpError as err:
            remove_stale_checkpoint_temps(self.directory.parent)
            code = next((c for c in (errno.ENOSPC, errno.EROFS, errno.EACCES) if os.strerror(c) in err.message), errno.EIO)
            raise OSError(code, f"cannot write checkpoint: {err.message}", str(self.directory)) from None


def save_checkpoint(workdir, model, epoch: int, history: dict, config: TrainConfig | None = None, keep: int = 2) -> Path:
    """Writes one checkpoint of `model` into `workdir` (see `CheckpointWriter`); returns its path prefix."""
    return CheckpointWriter(workdir, model, keep).save(epoch, history, config)


def remove_stale_checkpoint_temps(workdir) -> None:
    """Removes what a killed checkpoint write left in `<workdir>/checkpoints` (call before writing)."""
    folder = Path(workdir) / CHECKPOINT_DIR
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if _TF_TEMPORARY.match(path.name):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- reading


def list_checkpoints(workdir) -> list[tuple[int, Path]]:
    """(epoch, path prefix) of the finished checkpoints in `<workdir>/checkpoints` whose files exist, oldest first."""
    folder = Path(workdir) / CHECKPOINT_DIR
    state = tf.train.get_checkpoint_state(str(folder)) if folder.is_dir() else None
    if state is None:
        return []
    found = []
    for path in state.all_model_checkpoint_paths:
        match = re.search(rf"{CHECKPOINT_NAME}-(\d+)$", path)
        prefix = folder / Path(path).name  # TensorFlow joins a relative folder to the names itself: keep the name
        # TensorFlow's CheckpointManager records the new checkpoint, deletes the oldest, then records again:
        # killed in between, the state still names a checkpoint whose files are gone.
        if match and prefix.with_name(prefix.name + ".index").exists():
            found.append((int(match.group(1)), prefix))
    return sorted(found)


def _saved_keys(reader) -> dict[str, dict[str, str]]:
    """{group: {key: the variable's key in the checkpoint file}} from the checkpoint's object graph."""
    graph = TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(_GRAPH_KEY))
    groups = {}
    for child in graph.nodes[0].children:
        node = graph.nodes[child.node_id]
        groups[child.local_name] = {
            grandchild.local_name: attribute.checkpoint_key
            for grandchild in node.children
            for attribute in graph.nodes[grandchild.node_id].attributes
        }
    return groups


def load_checkpoint(path) -> dict:
    """The record of the checkpoint at `path` (a prefix from `list_checkpoints`): {"epoch", "history", "config", ...}.

    Raises:
        ValueError: `path` is not a readable checkpoint (names it).
    """
    try:
        return json.loads(tf.train.load_checkpoint(str(path)).get_tensor(_RECORD_KEY))
    except Exception as err:
        raise ValueError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None


def _restore_from(model, path) -> dict:
    """Restores `model` from the checkpoint at `path` by name; returns its record."""
    reader = tf.train.load_checkpoint(str(path))
    saved = _saved_keys(reader)
    shapes = reader.get_variable_to_shape_map()
    if any(role in saved for role in optimizers(model)):
        build_optimizers(model)
    current = state_variables(model)
    matched, missing, unused = {}, [], []
    for group, variables in current.items():
        stored = saved.get(group, {})
        for key, var in variables.items():
            if key not in stored:
                missing.append(f"{group}/{key}")
            elif tuple(shapes[stored[key]]) != tuple(var.shape):
                raise ValueError(f"{path}: {group}/{key} has shape {tuple(shapes[stored[key]])} in the checkpoint, "
                                 f"{tuple(var.shape)} in the model")
            else:
                matched.setdefault(group, {})[key] = var
        unused += [f"{group}/{key}" for key in stored if key not in variables]
    unused += [f"{group}/" for group in saved if group not in current and group not in (_RUN, "save_counter")]
    if not matched.get(_MODEL):
        raise ValueError(f"{path}: none of the model's variables is in this checkpoint (another model?)")
    record = _RunRecord()
    _checkpoint(matched, record).read(str(path)).assert_existing_objects_matched().expect_partial()  # not: save_counter
    if missing or unused:
        warnings.warn(f"Checkpoint {path} and the model differ: restored {sum(map(len, matched.values()))} variables by name; "
                      f"not in the checkpoint (left as initialised): {missing or 'none'}; "
                      f"in the checkpoint only (ignored): {unused or 'none'}")
    return record.record


def restore_from(model, path) -> dict:
    """Restores `model` (and its built optimizers) from the checkpoint at `path` (a prefix such as
    `<workdir>/checkpoints/ckpt-12`, or a copy of one elsewhere), variables matched by name; returns
    the checkpoint's record (epoch, history, config)."""
    return _restore_from(model, path)


def _legacy_checkpoints(workdir) -> list[Path]:
    folder = Path(workdir) / CHECKPOINT_DIR
    return sorted(p for p in folder.iterdir() if _LEGACY_NPZ.match(p.name)) if folder.is_dir() else []


def _check_config(workdir, path, stored, config: TrainConfig | None) -> None:
    if config is None or not isinstance(stored, dict):
        return
    diff = config_differences(stored, config)
    if diff:
        details = "; ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise ResumeError(
            f"Work directory {str(workdir)!r} holds a checkpoint ({Path(path).name}) trained with a different "
            f"configuration ({details}). Use a new work directory, or delete {CHECKPOINT_DIR}/ to start over."
        )


def restore_checkpoint(model, workdir, config: TrainConfig | None = None) -> tuple[int, dict]:
    """Restores the newest readable checkpoint of `workdir` into `model`; returns (epoch, history).

    A damaged checkpoint is skipped with a warning in favour of the one before it.

    Args:
        model: the compiled model to restore into.
        workdir: the run directory.
        config: the current `TrainConfig`; when given, it must match the one stored in the
            checkpoint except for `RESUMABLE_CONFIG_KEYS`.

    Raises:
        ResumeError: the checkpoint was trained with a different configuration (names the workdir
            and each differing key with its stored and current values), or `workdir` holds only
            checkpoints of the old `.npz` format; nothing is restored.
    """
    saved = list_checkpoints(workdir)
    if not saved and (legacy := _legacy_checkpoints(workdir)):
        folder = Path(workdir) / CHECKPOINT_DIR
        raise ResumeError(
            f"Work directory {str(workdir)!r} holds checkpoints in the old .npz format ({legacy[-1].name}, variables "
            f"stored by position), written by colorization-tf before it used TensorFlow checkpoints; this version "
            f"cannot resume them. To continue, delete {str(folder)!r} to train this run again from the start, or "
            f"train into a new work directory (experiment scripts: another --out folder)."
        )
    for _, path in reversed(saved):
        try:
            record = load_checkpoint(path)
        except ValueError as err:  # a damaged checkpoint must not stop a resume
            warnings.warn(f"Skipping unreadable checkpoint {err}")
            continue
        _check_config(workdir, path, record.get("config"), config)
        try:
            record = _restore_from(model, path)
        except (tf.errors.OpError, KeyError) as err:
            warnings.warn(f"Skipping unreadable checkpoint {path}: {type(err).__name__}: {err}")
            continue
        log.info("Resumed from %s (epoch %d)", path, record["epoch"])
        return int(record["epoch"]), dict(record["history"])
    return 0, {}


# --------------------------------------------------------------------------- in memory


def snapshot(model) -> list:
    """(variable, value) of every model and built optimizer variable: the state to go back to after a NaN."""
    return [(v, v.numpy()) for group in state_variables(model).values() for v in group.values()]


def restore_snapshot(state: list) -> None:
    """Puts a `snapshot` back into the same variables."""
    for var, value in state:
        var.assign(value)
