"""`TrainConfig`: everything the runner needs besides the model and the data, and which of it
makes "the same run" (what a resume must match).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import keras

CHECKPOINT_DIR = "checkpoints"
HISTORY_FILE = "history.json"
CSV_LOG_FILE = "training_log.csv"
SUMMARY_FILE = "train_summary.json"
TENSORBOARD_DIR = "tensorboard"
FIGURES_DIR = "figures"
"""What a run directory holds (`train()`'s `workdir`)."""


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


SAME_RUN_KEYS = (
    # What is trained and how: `TrainConfig` fields, checked against a checkpoint on resume.
    "loss", "loss_weights", "optimizer", "optimizer_kwargs", "learning_rate", "batch_size", "seed", "precision",
    "steps_per_epoch",
    # The model and its data, which `TrainConfig` does not hold: fields of the experiment's `RunConfig`,
    # in the digest that names its work directory (`experiment.run_digest`).
    "model", "model_kwargs", "image_size", "normalization", "gan", "class_weights", "classes", "bin_width", "augment",
)
"""What makes "the same run", the one list for both checks: a work directory's checkpoint resumes
only a run that agrees on every one of these (and on the training files). Everything else (how
long, how often and how loudly, and where it runs: `epochs`, `checkpoint_every`, `verbose`,
`strategy`, `jit_compile`, `deterministic`, ...) may change between a checkpoint and its resume."""

RESUMABLE_CONFIG_KEYS = frozenset(f.name for f in dataclasses.fields(TrainConfig)) - frozenset(SAME_RUN_KEYS)
"""`TrainConfig` keys that may differ between a checkpoint and the run resuming from it: those
outside `SAME_RUN_KEYS`. A mismatch in any other key is an error rather than a silent return of
the old model."""


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
