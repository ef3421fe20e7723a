"""The shared training runner: hardware policy, compile, fit with resume, callbacks.

This package is the one place that decides numeric precision, XLA compilation and distribution;
the model builders never do. `train()` builds and compiles a model under the chosen
`tf.distribute` strategy, restores the newest training state found in its work directory, and
fits with the callbacks a user expects (progress bar, CSV log, TensorBoard, sample figures, loss
curves), writing a complete, atomic training-state checkpoint every few epochs.

Reproducible resume: the runner seeds Python, NumPy, TF and Keras from `TrainConfig.seed` and
checkpoints every variable (weights, batch-norm statistics, random-seed states, optimizer slots
and iteration count, loss scale). When the training data is given as a function of the epoch
(see `reshuffle_per_epoch`), the data order depends on (seed, epoch) only, so a run killed after
checkpoint N and restarted reaches the same weights as a run that was never interrupted
(bit-exact with `TrainConfig.deterministic=True`, which enables TF's op determinism).

Modules, one job each:
    hardware     precision, XLA and strategy (`select_hardware`, `Hardware`)
    config       `TrainConfig` and what makes "the same run"
    compiling    losses, metrics, optimizers, `compile_model`
    epochs       data order as a function of (seed, epoch)
    checkpoints  the training state of a work directory
    callbacks    checkpoint, NaN guard, history, sample figures
    runner       `train()`

Reference:
    Lee, Liang & Peaks 2016 (their training resumed after spot-instance restarts);
    Ziegler 2022, Figures 4.4/4.5 (sample colorizations during training);
    Isola et al. 2017, pix2pix (the GAN recipe Menon & Talukdar 2021 follow; `models.gan`).
"""

from colorization_tf.models.gan import GAN_BETAS, GAN_LEARNING_RATE, PIX2PIX_L1_WEIGHT, GANModel
from colorization_tf.training.callbacks import Checkpointer, HistoryLogger, NaNGuard, SampleFigures, write_history
from colorization_tf.training.checkpoints import (
    CHECKPOINT_NAME,
    CheckpointWriter,
    ResumeError,
    list_checkpoints,
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    state_variables,
)
from colorization_tf.training.compiling import compile_model, gan_optimizer_kwargs, make_optimizer, resolve_loss, resolve_metrics
from colorization_tf.training.config import (
    CHECKPOINT_DIR,
    CSV_LOG_FILE,
    FIGURES_DIR,
    HISTORY_FILE,
    RESUMABLE_CONFIG_KEYS,
    SAME_RUN_KEYS,
    SUMMARY_FILE,
    TENSORBOARD_DIR,
    TrainConfig,
    config_differences,
)
from colorization_tf.training.epochs import python_epochs, reshuffle_per_epoch
from colorization_tf.training.hardware import Hardware, select_hardware
from colorization_tf.training.runner import recorded_seconds, tensorboard_available, train

__all__ = [
    "CHECKPOINT_DIR", "CHECKPOINT_NAME", "CSV_LOG_FILE", "FIGURES_DIR", "GAN_BETAS", "GAN_LEARNING_RATE", "GANModel",
    "HISTORY_FILE", "Hardware", "PIX2PIX_L1_WEIGHT", "RESUMABLE_CONFIG_KEYS", "SAME_RUN_KEYS", "SUMMARY_FILE",
    "TENSORBOARD_DIR", "Checkpointer", "CheckpointWriter", "HistoryLogger", "NaNGuard", "ResumeError", "SampleFigures",
    "TrainConfig", "compile_model", "config_differences", "gan_optimizer_kwargs", "list_checkpoints",
    "load_checkpoint", "make_optimizer", "recorded_seconds", "python_epochs", "reshuffle_per_epoch", "resolve_loss", "resolve_metrics",
    "restore_checkpoint", "save_checkpoint", "select_hardware", "state_variables", "tensorboard_available", "train",
    "write_history",
]
