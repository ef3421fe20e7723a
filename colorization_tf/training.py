"""The shared training runner: hardware policy, compile, fit with resume, callbacks, GAN model.

This is the one module that decides numeric precision, XLA compilation and distribution; the
model builders never do. `train()` builds and compiles a model under the chosen
`tf.distribute` strategy, restores the newest training state found in its work directory,
and fits with the callbacks a user expects (progress bar, CSV log, TensorBoard, sample figures,
loss curves), writing a complete, atomic training-state checkpoint every few epochs.

Reproducible resume: the runner seeds Python, NumPy, TF and Keras from `TrainConfig.seed` and
checkpoints every variable (weights, batch-norm statistics, random-seed states, optimizer slots
and iteration count). When the training data is given as a function of the epoch (see
`reshuffle_per_epoch`), the data order depends on (seed, epoch) only, so a run killed after
checkpoint N and restarted reaches the same weights as a run that was never interrupted
(bit-exact with `TrainConfig.deterministic=True`, which enables TF's op determinism).

Reference:
    Lee, Liang & Peaks 2016 (their training resumed after spot-instance restarts);
    Ziegler 2022, Figures 4.4/4.5 (sample colorizations during training);
    Isola et al. 2017, pix2pix (the GAN recipe Menon & Talukdar 2021 follow).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import json
import logging
import math
import re
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import keras
import numpy as np
import tensorflow as tf

from colorization_tf import distribute
from colorization_tf.fileio import atomic_write_bytes, atomic_write_text, remove_stale_temps

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PATTERN = "ckpt-{epoch:05d}.npz"
_CHECKPOINT_RE = re.compile(r"^ckpt-(\d{5,})\.npz$")
HISTORY_FILE = "history.json"
CSV_LOG_FILE = "training_log.csv"
SUMMARY_FILE = "train_summary.json"
TENSORBOARD_DIR = "tensorboard"
FIGURES_DIR = "figures"

GAN_LEARNING_RATE = 2e-4
GAN_BETAS = (0.5, 0.999)
PIX2PIX_L1_WEIGHT = 100.0


# --------------------------------------------------------------------------- hardware


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What `select_hardware` decided.

    Attributes:
        policy: Keras dtype policy name set globally ("float32", "mixed_float16", ...).
        jit_compile: whether `compile(jit_compile=...)` asks for XLA.
        strategy: the `tf.distribute.Strategy` to build and fit under.
        n_replicas: `strategy.num_replicas_in_sync`.
        description: human-readable summary (devices, policy, XLA).
        kind: "default", "mirrored", "multi_worker" or "tpu" (`colorization_tf.distribute`).
    """

    policy: str
    jit_compile: bool
    strategy: Any
    n_replicas: int
    description: str
    kind: str = "default"

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "jit_compile": self.jit_compile,
            "strategy": type(self.strategy).__name__,
            "n_replicas": self.n_replicas,
            "description": self.description,
            "kind": self.kind,
        }


_PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "float16")


def select_hardware(
    precision: str = "auto",
    jit_compile: bool | str = "auto",
    strategy: Any = "auto",
    devices: list[str] | None = None,
    set_policy: bool = True,
) -> Hardware:
    """Chooses precision, XLA and distribution for the machine this runs on.

    With a GPU: mixed_float16 and XLA; with several GPUs, `MirroredStrategy` over them (XLA is
    then off on "auto", as Keras does under tf.distribute). On CPU only: float32 without XLA
    (mixed_float16 is about 4x slower on CPU). With a TPU attached: `TPUStrategy` and
    mixed_bfloat16; with `TF_CONFIG` naming a cluster: `MultiWorkerMirroredStrategy` (see
    `colorization_tf.distribute`, which makes these decisions).

    Args:
        precision: "auto" or a Keras policy name ("float32", "mixed_float16", "mixed_bfloat16").
        jit_compile: "auto", True or False.
        strategy: "auto", "default" (no distribution), "mirrored", "multi_worker", "tpu", or a
            `tf.distribute.Strategy`.
        devices: devices for "mirrored" (default: every GPU, else every logical CPU).
        set_policy: set the chosen policy globally (must happen before the model is built).

    Returns:
        A frozen `Hardware`.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        kind, chosen = distribute.kind_of(strategy), strategy
    else:
        tpu = distribute.find_tpu() if strategy in ("auto", distribute.TPU) else None
        cluster = distribute.tf_config()
        # MultiWorkerMirroredStrategy must be made before TF's runtime starts (listing logical devices starts it).
        list_devices = tf.config.list_physical_devices if distribute.names_a_cluster(cluster) else tf.config.list_logical_devices
        kind = distribute.choose_kind(strategy, n_gpus=len(list_devices("GPU")), tpu=tpu, cluster=cluster)
        chosen = distribute.make_strategy(kind, devices=devices, tpu=tpu)
    gpus = tf.config.list_logical_devices("GPU")
    if precision == "auto":
        precision = distribute.auto_precision(kind, len(gpus))
    if precision not in _PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose 'auto' or one of {_PRECISIONS}")
    n_replicas = int(chosen.num_replicas_in_sync)

    if jit_compile == "auto":
        jit_compile = distribute.auto_jit_compile(kind, len(gpus), n_replicas)
    elif not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be 'auto', True or False, not {jit_compile!r}")

    if set_policy:
        keras.mixed_precision.set_global_policy(precision)
    where = "TPU" if kind == distribute.TPU else f"{len(gpus)} GPU(s)" if gpus else "CPU"
    description = f"{where}, {type(chosen).__name__} x{n_replicas}, policy {precision}, XLA {'on' if jit_compile else 'off'}"
    return Hardware(precision, jit_compile, chosen, n_replicas, description, kind)


# --------------------------------------------------------------------------- configuration


@dataclasses.dataclass
class TrainConfig:
    """Everything `train()` needs besides the model and the data; JSON-able for result files.

    Attributes:
        epochs: total epochs (a resumed run continues up to this number).
        batch_size: global batch size of the datasets (recorded; the datasets are built by the caller).
        learning_rate: optimizer learning rate.
        optimizer: optimizer name ("adam", "adamw", "adadelta", "sgd", "rmsprop", ...).
        optimizer_kwargs: extra optimizer arguments; `betas=(b1, b2)` is accepted for beta_1/beta_2.
        loss: a loss name (`colorization_tf.losses.get_loss`, else Keras), a Keras loss object,
            or a dict output-name -> loss.
        loss_weights: None, list, or dict output-name -> weight.
        metrics: None, list of metric names/objects, or dict output-name -> list.
        precision, jit_compile, strategy: see `select_hardware`.
        seed: seeds Python/NumPy/TF/Keras and the per-epoch data order.
        deterministic: enable TF op determinism (bit-exact resume; slower).
        checkpoint_every: save the full training state every N epochs (and at the last epoch).
        keep_checkpoints: how many newest checkpoints to keep.
        sample_every: draw the sample-colorization figure every N epochs (0: never).
        steps_per_epoch, validation_steps: passed to `fit` (None: the dataset's length).
        tensorboard: write TensorBoard logs.
        loss_curves: draw the loss curves at the end.
        verbose: `fit` verbosity ("auto", 0, 1, 2).
        name: run name for figures and result files.
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    optimizer: str = "adam"
    optimizer_kwargs: dict = dataclasses.field(default_factory=dict)
    loss: Any = "mse"
    loss_weights: Any = None
    metrics: Any = None
    precision: str = "auto"
    jit_compile: Any = "auto"
    strategy: str = "auto"
    seed: int = 0
    deterministic: bool = False
    checkpoint_every: int = 1
    keep_checkpoints: int = 2
    sample_every: int = 5
    steps_per_epoch: int | None = None
    validation_steps: int | None = None
    tensorboard: bool = True
    loss_curves: bool = True
    verbose: Any = "auto"
    name: str = ""

    def to_dict(self) -> dict:
        """JSON-able dict; Keras objects in loss/metrics are serialised with Keras."""
        out = dataclasses.asdict(self)
        for key in ("loss", "metrics", "loss_weights", "optimizer_kwargs"):
            out[key] = _jsonable(out[key])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Inverse of `to_dict`; unknown keys raise a ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"Unknown TrainConfig keys: {sorted(unknown)}")
        return cls(**data)


def _jsonable(value):
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return keras.saving.serialize_keras_object(value)


def _is_serialized_object(value) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


def resolve_loss(spec):
    """Turns a loss spec (name, Keras object, serialised object, or dict per output) into losses.

    Names in `colorization_tf.losses.LOSS_NAMES` go to `losses.get_loss` (whose errors propagate,
    e.g. "wce" without class weights); any other name goes to `keras.losses.get`.
    """
    if spec is None:
        return None
    if _is_serialized_object(spec):
        return keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, dict):
        return {k: resolve_loss(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [resolve_loss(v) for v in spec]
    if isinstance(spec, str):
        from colorization_tf import losses as project_losses

        if spec.lower() in project_losses.LOSS_NAMES:
            # Our own names: let their errors (e.g. "wce" needs class_weights) reach the caller.
            return project_losses.get_loss(spec)
        return keras.losses.get(spec)
    return spec


def resolve_metrics(spec, normalization=None):
    """Like `resolve_loss` for metrics: names go to `colorization_tf.metrics.get_metric`, else Keras.

    Args:
        spec: a name, a Keras metric, a serialized metric, or a list/dict of them.
        normalization: the model's normalisation name, given to the metrics that report in Lab
            units (`metrics.NORMALIZED_METRICS`); without it they assume Zhang's.
    """
    if spec is None:
        return None
    if _is_serialized_object(spec):
        return keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, dict):
        return {k: resolve_metrics(v, normalization) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [resolve_metrics(v, normalization) for v in spec]
    if isinstance(spec, str):
        from colorization_tf import metrics as project_metrics

        kwargs = {}
        if normalization is not None and spec.lower() in project_metrics.NORMALIZED_METRICS:
            kwargs["normalization"] = getattr(normalization, "name", normalization)
        try:
            return project_metrics.get_metric(spec, **kwargs)
        except ValueError:
            return spec
    return spec


def make_optimizer(name: str | keras.optimizers.Optimizer = "adam", learning_rate: float = 1e-3, **kwargs):
    """Builds a Keras optimizer by name; `betas=(b1, b2)` maps to beta_1/beta_2.

    Args:
        name: "adam", "adamw", "adadelta", "sgd", "rmsprop", "nadam", "adagrad", "lion", ...
            or an optimizer instance (returned as-is).
        learning_rate: learning rate (or a schedule).
        **kwargs: optimizer arguments (weight_decay, momentum, epsilon, ...).

    Returns:
        A new `keras.optimizers.Optimizer`.
    """
    if isinstance(name, keras.optimizers.Optimizer):
        return name
    kwargs = dict(kwargs)
    if "betas" in kwargs:
        kwargs["beta_1"], kwargs["beta_2"] = kwargs.pop("betas")
    classes = {
        cls.__name__.lower(): cls
        for cls in vars(keras.optimizers).values()
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)
    }
    key = name.lower().replace("_", "")
    if key not in classes:
        raise ValueError(f"Unknown optimizer {name!r}; choose from {sorted(classes)}")
    return classes[key](learning_rate=learning_rate, **kwargs)


def _accepts_betas(name) -> bool:
    """Whether the optimizer `name` (or instance) takes beta_1/beta_2 (Adam, AdamW, Nadam, Lion, ...)."""
    import inspect

    try:
        opt_class = type(make_optimizer(name, 1e-3)) if isinstance(name, str) else type(name)
    except ValueError:
        return False
    return "beta_1" in inspect.signature(opt_class.__init__).parameters


def gan_optimizer_kwargs(config: TrainConfig) -> dict:
    """`config.optimizer_kwargs`, or pix2pix's betas (0.5, 0.999) when it is empty and the optimizer takes betas."""
    if config.optimizer_kwargs:
        return dict(config.optimizer_kwargs)
    return {"betas": GAN_BETAS} if _accepts_betas(config.optimizer) else {}


def compile_model(model: keras.Model, config: TrainConfig, jit_compile: bool = False, normalization=None) -> keras.Model:
    """Compiles `model` from `config` (call under the strategy scope).

    Under a mixed_float16 policy Keras wraps the optimizer in a `LossScaleOptimizer` itself.
    A `GANModel` gets two separate optimizers, generator and discriminator, both built from
    `config.optimizer`/`config.learning_rate` (and `config.optimizer_kwargs`, defaulting to
    pix2pix's betas (0.5, 0.999)); its losses are its own. `normalization` (the model's) lets
    metrics named in `config.metrics` report in Lab units.
    """
    if isinstance(model, GANModel):
        kwargs = gan_optimizer_kwargs(config)
        model.compile(
            optimizer=make_optimizer(config.optimizer, config.learning_rate, **kwargs),
            d_optimizer=make_optimizer(config.optimizer, config.learning_rate, **kwargs),
            jit_compile=jit_compile,
        )
        return model
    optimizer = make_optimizer(config.optimizer, config.learning_rate, **config.optimizer_kwargs)
    model.compile(
        optimizer=optimizer,
        loss=resolve_loss(config.loss),
        loss_weights=config.loss_weights,
        metrics=resolve_metrics(config.metrics, normalization),
        jit_compile=jit_compile,
    )
    return model


# --------------------------------------------------------------------------- data order


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

    def for_epoch(epoch):
        if isinstance(epoch, (int, np.integer)):
            return dataset.shuffle(buffer_size, seed=int(seed) * 1_000_003 + int(epoch) + 1, reshuffle_each_iteration=False)
        epoch_seed = tf.cast(seed, tf.int64) * 1_000_003 + tf.cast(epoch, tf.int64) + 1
        if not tf.executing_eagerly():
            # tf.random's get_seed compares (graph seed, op seed) == (0, 0) in Python, which fails on a
            # tensor op seed when the graph seed is 0 (e.g. TrainConfig.seed=0): give this dataset
            # function's own graph a non-zero seed (the global seed is untouched).
            tf.random.set_seed(int(seed) + 1)
        return dataset.shuffle(buffer_size, seed=epoch_seed, reshuffle_each_iteration=False)

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


def _epoch_dataset(train_ds, initial_epoch: int, epochs: int, steps_per_epoch: int | None):
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


# --------------------------------------------------------------------------- checkpoints


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


RESUMABLE_CONFIG_KEYS = frozenset(
    {
        # How long, how often and how loudly: a resumed run may change these freely.
        "epochs", "checkpoint_every", "keep_checkpoints", "sample_every", "tensorboard", "loss_curves",
        "verbose", "name", "validation_steps", "metrics",
        # Where it runs: a resume may land on another machine (the numerics stay the same).
        "jit_compile", "strategy", "deterministic",
    }
)
"""`TrainConfig` keys that may differ between a checkpoint and the run resuming from it. Every other
key (loss, learning rate, optimizer, batch size, seed, precision, ...) changes what is trained, so a
mismatch there is an error rather than a silent return of the old model."""


_ABSENT = "<absent>"


def config_differences(stored: dict, config: TrainConfig) -> dict:
    """{key: (stored value, current value)} for the keys outside `RESUMABLE_CONFIG_KEYS` that differ."""
    current = json.loads(json.dumps(config.to_dict()))
    keys = (set(stored) | set(current)) - RESUMABLE_CONFIG_KEYS
    return {
        k: (stored.get(k, _ABSENT), current.get(k, _ABSENT))
        for k in sorted(keys)
        if stored.get(k, _ABSENT) != current.get(k, _ABSENT)
    }


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


# --------------------------------------------------------------------------- callbacks


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
    from colorization_tf.models.heads import predict_ab
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


# --------------------------------------------------------------------------- the runner


def tensorboard_available() -> bool:
    """Whether the `tensorboard` package (needed by Keras's TensorBoard callback) is installed."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        warnings.warn("TensorBoard logs skipped: the 'tensorboard' package is not installed (pip install tensorboard).")
        return False
    return True


def train(
    build_model_fn,
    train_ds,
    val_ds=None,
    config: TrainConfig | None = None,
    workdir="runs/run",
    sample_batch=None,
    normalization=None,
    callbacks: list | None = None,
    hardware: Hardware | None = None,
):
    """Builds, compiles and fits a model with resume, checkpoints, logs and figures.

    Args:
        build_model_fn: `() -> keras.Model` (called under the strategy scope after the dtype
            policy is set), or a registered model name (`colorization_tf.models.build_model`).
            A model that is already compiled (e.g. with custom losses) is left compiled.
        train_ds: a `tf.data.Dataset` of (x, y) batches (a resumed run then sees whatever order
            a fresh iterator gives), or a callable `epoch -> Dataset` which makes the data order
            depend on (seed, epoch) only, for exact resumes: either in-graph with a scalar int64
            tensor epoch (e.g. `reshuffle_per_epoch(...)`; one pipeline, a `.cache()` upstream is
            shared), or with Python ints when wrapped in `python_epochs(...)`.
        val_ds: optional validation dataset.
        config: `TrainConfig` (defaults if None).
        workdir: run directory: checkpoints/, history.json, training_log.csv, tensorboard/,
            figures/, train_summary.json.
        sample_batch: optional (L_enc, ab_enc) numpy/tensor batch for the sample figures.
        normalization: the model's `Normalization` (or name), needed for sample figures.
        callbacks: extra Keras callbacks.
        hardware: a `Hardware` from `select_hardware` (default: chosen from `config`).

    Raises:
        ValueError: `workdir` holds a checkpoint trained with a different configuration
            (see `restore_checkpoint`; only `RESUMABLE_CONFIG_KEYS` may change on a resume).

    Returns:
        (model, history): the trained model (the last good state if a NaN stopped the run) and a
        dict metric -> per-epoch list, including epochs restored from a checkpoint.
    """
    config = config or TrainConfig()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for folder in (workdir, workdir / CHECKPOINT_DIR):  # what a killed run left: its checkpoints are whole
        remove_stale_temps(folder)
    hw = hardware or select_hardware(config.precision, config.jit_compile, config.strategy)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()

    with hw.strategy.scope():
        if isinstance(build_model_fn, str):
            from colorization_tf.models import build_model

            model = build_model(build_model_fn)
        else:
            model = build_model_fn()
        if not getattr(model, "compiled", False):
            compile_model(model, config, jit_compile=hw.jit_compile, normalization=normalization)
        initial_epoch, history = restore_checkpoint(model, workdir, config)

    if initial_epoch >= config.epochs:
        log.info("Nothing to do: checkpoint at epoch %d >= epochs %d", initial_epoch, config.epochs)
        return model, history
    workdir = distribute.output_dir(workdir, hw.kind)  # every worker resumed from workdir; only the chief writes there

    fit_ds, steps = _epoch_dataset(train_ds, initial_epoch, config.epochs, config.steps_per_epoch)
    sample_fn = None
    if sample_batch is not None and normalization is not None and config.sample_every:
        sample_fn = _sample_figure_fn(model, sample_batch, normalization, workdir, config.name)
    state_cb = TrainingStateCallback(workdir, config, history, sample_fn)
    cbs = [state_cb]
    if config.tensorboard and tensorboard_available():
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(workdir / TENSORBOARD_DIR), write_graph=False))
    cbs.extend(callbacks or [])

    start = time.perf_counter()
    fit = model.fit
    if distribute.needs_custom_loop(hw.strategy):  # Keras 3's fit fails under MultiWorkerMirroredStrategy
        fit = functools.partial(distribute.custom_fit, model, strategy=hw.strategy)
    with hw.strategy.scope():
        fit(
            fit_ds,
            validation_data=val_ds,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_steps=config.validation_steps,
            callbacks=cbs,
            verbose=config.verbose,
            shuffle=False,
        )
    seconds = time.perf_counter() - start

    status = "completed"
    if state_cb.nan_epoch is not None:
        status = "stopped_on_nan"
        with hw.strategy.scope():
            state_cb.restore_last_good()
    summary = {
        "status": status,
        "nan_epoch": None if state_cb.nan_epoch is None else state_cb.nan_epoch + 1,
        "epochs_completed": len(history.get("epoch", [])),
        "initial_epoch": initial_epoch,
        "seconds_this_session": seconds,
        "hardware": hw.to_dict(),
        "config": config.to_dict(),
    }
    atomic_write_text(workdir / SUMMARY_FILE, json.dumps(summary, indent=1))
    if config.loss_curves and history.get("epoch"):
        try:
            from colorization_tf.plots.training import plot_loss_curves

            plot_loss_curves(history, workdir / FIGURES_DIR / "loss_curves.png", title=config.name or None)
        except Exception as err:
            warnings.warn(f"Loss-curve figure failed: {type(err).__name__}: {err}")
    return model, history


# --------------------------------------------------------------------------- GAN


def _bce_logits(labels, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def _per_replica(loss):
    """Divides a per-replica mean loss so that summing gradients over replicas gives the mean."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss


@keras.saving.register_keras_serializable(package="colorization_tf")
class GANModel(keras.Model):
    """Conditional GAN for colorization (pix2pix recipe) with its own train_step.

    The generator maps encoded L to encoded ab; the discriminator (PatchGAN) scores (L, ab)
    pairs with one logit per patch. Discriminator loss: BCE(real, 1) + BCE(fake, 0), halved.
    Generator loss: `gan_weight` * BCE(D(L, G(L)), 1) + `l1_weight` * mean|ab - G(L)|.
    Under mixed_float16 both optimizers are `LossScaleOptimizer`s and each loss goes through
    `optimizer.scale_loss` before the gradients are taken (without it, float16 gradients
    underflow to zero).

    Calling the model runs the generator, so `predict`, `export_saved_model` and the sample
    figures work on it directly.

    Args:
        generator: `keras.Model` L -> ab (input "L", output "ab").
        discriminator: `keras.Model` taking [L, ab] (two inputs) or their channel concat
            (one input) and returning patch logits (float32).
        l1_weight: weight of the L1 term (pix2pix: 100).
        gan_weight: weight of the adversarial term.

    Reference:
        Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks";
        Menon & Talukdar 2021 (GAN variant of their U-Net).
    """

    def __init__(self, generator, discriminator, l1_weight: float = PIX2PIX_L1_WEIGHT, gan_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = float(l1_weight)
        self.gan_weight = float(gan_weight)
        self.d_optimizer = None
        self.scale_losses = True
        self._trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "g_gan", "g_l1", "d_loss")}

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def build(self, input_shape=None):
        self.built = True

    def compile(self, optimizer=None, d_optimizer=None, **kwargs):
        """Compiles with pix2pix defaults: Adam 2e-4, betas (0.5, 0.999) for both networks.

        Extra kwargs (e.g. jit_compile) go to `keras.Model.compile`. Under mixed_float16 both
        optimizers end up wrapped in `LossScaleOptimizer`.
        """
        optimizer = optimizer or make_optimizer("adam", GAN_LEARNING_RATE, betas=GAN_BETAS)
        d_optimizer = d_optimizer or make_optimizer("adam", GAN_LEARNING_RATE, betas=GAN_BETAS)
        kwargs.pop("loss", None)
        super().compile(optimizer=optimizer, **kwargs)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(d_optimizer, keras.optimizers.LossScaleOptimizer):
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.d_optimizer = d_optimizer
        if self.generator.built and self.discriminator.built:
            self.build_optimizers()

    def build_optimizers(self) -> None:
        """Creates both optimizers' slots for their own network's variables."""
        if not self.optimizer.built:
            self.optimizer.build(self.generator.trainable_variables)
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _discriminate(self, l, ab, training):
        ab = tf.cast(ab, l.dtype)
        if len(self.discriminator.inputs) == 2:
            return self.discriminator([l, ab], training=training)
        return self.discriminator(tf.concat([l, ab], axis=-1), training=training)

    def _gan_losses(self, l, ab, training):
        fake = self.generator(l, training=training)
        if isinstance(fake, dict):
            fake = fake["ab"]
        fake = tf.cast(fake, tf.float32)
        ab = tf.cast(ab, tf.float32)
        real_logits = tf.cast(self._discriminate(l, ab, training), tf.float32)
        fake_logits = tf.cast(self._discriminate(l, fake, training), tf.float32)
        d_loss = 0.5 * (_bce_logits(tf.ones_like(real_logits), real_logits) + _bce_logits(tf.zeros_like(fake_logits), fake_logits))
        g_gan = _bce_logits(tf.ones_like(fake_logits), fake_logits)
        g_l1 = tf.reduce_mean(tf.abs(ab - fake))
        g_loss = self.gan_weight * g_gan + self.l1_weight * g_l1
        return g_loss, g_gan, g_l1, d_loss

    def _unpack(self, data):
        l, target = data[0], data[1]
        if isinstance(target, dict):
            target = target["ab"]
        return l, target

    def _update(self, values):
        for name, value in zip(("loss", "g_gan", "g_l1", "d_loss"), values):
            self._trackers[name].update_state(value)
        return {name: t.result() for name, t in self._trackers.items()}

    def train_step(self, data):
        l, ab = self._unpack(data)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            g_loss, g_gan, g_l1, d_loss = self._gan_losses(l, ab, training=True)
            g_scaled = _per_replica(g_loss)
            d_scaled = _per_replica(d_loss)
            if self.scale_losses:
                g_scaled = self.optimizer.scale_loss(g_scaled)
                d_scaled = self.d_optimizer.scale_loss(d_scaled)
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        self.optimizer.apply(g_tape.gradient(g_scaled, g_vars), g_vars)
        self.d_optimizer.apply(d_tape.gradient(d_scaled, d_vars), d_vars)
        return self._update((g_loss, g_gan, g_l1, d_loss))

    def test_step(self, data):
        l, ab = self._unpack(data)
        return self._update(self._gan_losses(l, ab, training=False))

    def get_config(self):
        return {
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "l1_weight": self.l1_weight,
            "gan_weight": self.gan_weight,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)
