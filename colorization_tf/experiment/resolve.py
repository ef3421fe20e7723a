"""The resolve step: the one place that fills every default of an experiment and of its runs.

`resolve_experiment` fills what `--quick` decides experiment-wide (image limit, determinism, sample
figures); `resolve_run` every setting of a run, its `train` becoming the complete `TrainConfig` it
trains with; `run_json` writes a run as JSON (config.json, results.json).
"""

from __future__ import annotations

import dataclasses

import keras

from colorization_tf import evaluation
from colorization_tf.experiment.config import (
    QUICK_MAX_IMAGES,
    QUICK_RUN,
    QUICK_SAMPLE_EVERY,
    RUN_TRAIN_KEYS,
    ExperimentConfig,
    RunConfig,
    Settings,
)
from colorization_tf.models import get_spec


def resolve_experiment(cfg: ExperimentConfig) -> ExperimentConfig:
    """The experiment-wide settings `--quick` decides when they are not given.

    In quick mode: at most `QUICK_MAX_IMAGES` images (unless `data.max_images` is given), TF op
    determinism (unless `train.deterministic` is given, or `train.jit_compile` is True: Keras cannot
    compile with XLA under determinism) and a sample figure after every epoch. Out of it,
    `deterministic` None means off. Idempotent.

    Args:
        cfg: the experiment as configured (after the command line, `command.apply_args`).

    Returns:
        A copy with `data.max_images`, `train.deterministic` and `train.sample_every` filled in.
    """
    train = cfg.train
    if not cfg.quick:
        return dataclasses.replace(cfg, train=dataclasses.replace(train, deterministic=bool(train.deterministic)))
    deterministic = (train.jit_compile is not True) if train.deterministic is None else train.deterministic
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, max_images=QUICK_MAX_IMAGES if cfg.data.max_images is None else cfg.data.max_images),
        train=dataclasses.replace(train, deterministic=deterministic, sample_every=QUICK_SAMPLE_EVERY),
    )


def resolve_run(run: RunConfig, cfg: ExperimentConfig) -> RunConfig:
    """A run's effective settings: the one step that fills every default of a run.

    Each setting is taken from the first of these that gives it (later ones win):

    1. the run's own field; where it is None: the experiment's (`train.epochs`, `train.batch_size`,
       `train.seed`, `data.augment`) or the model registry's (`image_size`, `normalization`);
    2. in `--quick` mode: `QUICK_RUN` (32 px, 1 epoch, batch 8), then the run's own `quick_overrides`;
    3. the experiment's `run_overrides` (`--epochs`, `--batch-size`, `--image-size`).

    The run's `train` then takes every other `TrainConfig` field from the experiment's `train`
    (precision, XLA, determinism, figures, verbosity; TensorBoard off in quick mode) and is named
    `<paper>/<run>`; `stop_after` is kept inside the epochs (None when there is only one).

    Args:
        run: the run as configured.
        cfg: its experiment (resolved: `resolve_experiment`).

    Returns:
        A new `RunConfig` with every setting filled in (Keras loss objects kept as they are).

    Raises:
        ValueError: `bin_width` on a model without a classification head.
    """
    spec = get_spec(run.model)
    own = {key: getattr(run.train, key) for key in RUN_TRAIN_KEYS}  # shallow: keeps Keras objects
    own["epochs"] = own["epochs"] or cfg.train.epochs
    own["batch_size"] = own["batch_size"] or cfg.train.batch_size
    own["seed"] = cfg.train.seed if own["seed"] is None else own["seed"]
    values = {"image_size": run.image_size or spec.image_size, "normalization": run.normalization or spec.normalization,
              "label": run.label or run.name, "augment": cfg.data.augment if run.augment is None else bool(run.augment)}
    changes = [*([QUICK_RUN, run.quick_overrides] if cfg.quick else []), cfg.run_overrides]
    for overrides in changes:
        for key, value in overrides.as_dict().items():
            (own if key in RUN_TRAIN_KEYS else values)[key] = value
    epochs = own["epochs"]
    if run.stop_after is not None:
        values["stop_after"] = max(1, min(run.stop_after, epochs - 1)) if epochs > 1 else None
    if run.bin_width is not None and not spec.head.classification:
        raise ValueError(f"run {run.name!r}: bin_width applies to classification heads only, not {run.model}")
    train = dataclasses.replace(cfg.train, **own, name=f"{cfg.paper}/{run.name}",
                                deterministic=bool(cfg.train.deterministic), tensorboard=cfg.train.tensorboard and not cfg.quick)
    return dataclasses.replace(run, train=train, **values)


def fresh(spec):
    """Keras loss/metric objects serialised, so every compile deserialises its own fresh instance;
    typed option groups (`Settings`) as the dict of the fields they set."""
    if isinstance(spec, Settings):
        return fresh(spec.as_dict())
    if isinstance(spec, dict):
        return {k: fresh(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [fresh(v) for v in spec]
    if spec is None or isinstance(spec, (str, int, float, bool)):
        return spec
    return keras.saving.serialize_keras_object(spec)


SERIALISED_TRAIN_FIELDS = ("loss", "metrics", "optimizer_kwargs")
"""`TrainConfig` fields written through `fresh` (Keras objects, typed option groups)."""


def run_json(run: RunConfig) -> dict:
    """A run as JSON, its Keras loss/metric objects serialised (not their repr with an address) and
    its typed groups as the fields they set."""
    train = {f.name: getattr(run.train, f.name) for f in dataclasses.fields(run.train)}
    train.update({key: fresh(train[key]) for key in SERIALISED_TRAIN_FIELDS})
    fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
    return evaluation.to_jsonable({**fields, "train": train, "gan": fresh(run.gan), "quick_overrides": fresh(run.quick_overrides)})
