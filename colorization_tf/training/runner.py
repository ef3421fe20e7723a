"""The training runner: `train()` builds and compiles a model under the chosen strategy, resumes
from its work directory and fits with the runner's callbacks.
"""

from __future__ import annotations

import functools
import json
import logging
import time
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from colorization_tf import distribute
from colorization_tf.fileio import atomic_write_text, remove_stale_temps
from colorization_tf.training.callbacks import Checkpointer, HistoryLogger, NaNGuard, SampleFigures, sample_figure_fn
from colorization_tf.training.checkpoints import remove_stale_checkpoint_temps, restore_checkpoint
from colorization_tf.training.compiling import compile_model
from colorization_tf.training.config import CHECKPOINT_DIR, FIGURES_DIR, SUMMARY_FILE, TENSORBOARD_DIR, TrainConfig
from colorization_tf.training.epochs import epoch_dataset
from colorization_tf.training.hardware import Hardware, select_hardware

log = logging.getLogger(__name__)


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
        hardware: a `Hardware` from `select_hardware` (default: chosen from `config`). What ran
            (`Hardware.in_effect`, read from the compiled model) goes to `train_summary.json`.

    Raises:
        ResumeError: `workdir` holds a checkpoint trained with a different configuration (see
            `restore_checkpoint`; only `RESUMABLE_CONFIG_KEYS` may change on a resume), or one
            in the old `.npz` format (the message says how to continue).

    Returns:
        (model, history): the trained model (the last good state if a NaN stopped the run) and a
        dict metric -> per-epoch list, including epochs restored from a checkpoint.
    """
    config = config or TrainConfig()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for folder in (workdir, workdir / CHECKPOINT_DIR):  # what a killed run left: its checkpoints are whole
        remove_stale_temps(folder)
    if distribute.is_chief():  # what a killed TensorFlow checkpoint write left (only the chief writes there)
        remove_stale_checkpoint_temps(workdir)
    hw = hardware or select_hardware(config.precision, config.jit_compile, config.strategy, deterministic=config.deterministic)
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
    hw = hw.in_effect(model)  # what Keras runs (it may have dropped XLA), not what was asked
    log.info("%s: %s", config.name or "training", hw.description)

    if initial_epoch >= config.epochs:
        log.info("Nothing to do: checkpoint at epoch %d >= epochs %d", initial_epoch, config.epochs)
        return model, history
    workdir = distribute.output_dir(workdir, hw.kind)  # every worker resumed from workdir; only the chief writes there

    fit_ds, steps = epoch_dataset(train_ds, initial_epoch, config.epochs, config.steps_per_epoch)
    guard = NaNGuard()
    checkpointer = Checkpointer(workdir, config, history, guard)
    cbs = [guard, HistoryLogger(workdir, history, guard), checkpointer]
    if sample_batch is not None and normalization is not None and config.sample_every:
        draw = sample_figure_fn(model, sample_batch, normalization, workdir, config.name)
        cbs.append(SampleFigures(draw, config.sample_every, guard))
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
    if guard.tripped:
        status = "stopped_on_nan"
        with hw.strategy.scope():
            checkpointer.restore_last_good()
    summary = {
        "status": status,
        "nan_epoch": None if guard.nan_epoch is None else guard.nan_epoch + 1,
        "epochs_completed": len(history.get("epoch", [])),
        "initial_epoch": initial_epoch,
        "seconds_this_session": seconds,
        "seconds_total": seconds + (recorded_seconds(workdir) if initial_epoch else 0.0),
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


def recorded_seconds(workdir) -> float:
    """Training seconds a run's sessions recorded so far in `SUMMARY_FILE` (`seconds_total`, or an older
    summary's `seconds_this_session`; 0 without one): before a session, its earlier sessions'; after it, all
    of them. A session killed before its end records none.

    Args:
        workdir: the run directory.
    """
    try:
        summary = json.loads((Path(workdir) / SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return 0.0
    return float(summary.get("seconds_total", summary.get("seconds_this_session", 0.0)))

