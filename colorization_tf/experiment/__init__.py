"""The shared experiment runner: every paper's study is a configuration of this one module.

An `ExperimentConfig` names a paper, a dataset (or the embedded synthetic default), a split
protocol and a list of `RunConfig`s (model from the registry, loss, optimiser, epochs, ...).
`run_experiment` then, for every run:

    find + scan images -> split (the folder's prepared `splits.json` as it is, else a hash split
    with the split seed; written to `splits_used.json`) -> tf.data pipelines
    -> `training.train` (resumable work directory `results/<paper>/runs/<run>-<digest>/`, the
       digest naming every training-relevant setting except the epochs: a changed image size,
       dataset, loss, ... starts a fresh run; more epochs continue the old one)
    -> `evaluation.evaluate_model` on the test split (PSNR, SSIM, colorfulness, ab L1/L2 and each
       paper's own metric, per image and averaged)
    -> `export.export_saved_model` to `saved_models/<paper>_<run>/`

and writes the paper's table (Markdown and JSON, each figure beside the paper's number where the
paper gives one), the "Protocol" table (`colorization_tf.protocol`: resolved settings beside the
paper's), the figures, the exact configuration and the package versions. Extra studies a
paper needs (CS520's numpy ANN, Ziegler's colour distribution, ...) are `hooks`: functions of the
finished `ExperimentContext` that return report `Section`s. No paper has a training loop of its own.

`--quick` shrinks everything so a script finishes in a few minutes on a 2-core CPU: 32-pixel
images, 64 images, 1 epoch, batch 8 (each can still be overridden on the command line).
The same seed gives the same numbers: each run is seeded, its data order and augmentation (random
crops + flips) depend on (seed, epoch) only, and TF op determinism is enabled (`--deterministic`,
default in quick mode). Training images are decoded once into a cache shared by every epoch: in
memory by default, or files under `--cache PREFIX` for datasets larger than memory.

The package, one job per module (`from colorization_tf import experiment as ex` reaches every
public name):

    config     `RunConfig`, `ExperimentConfig`, their typed option groups (`GanSettings`,
               `OptimizerSettings`, `QuickSettings`) and the resolve step (`resolve_experiment`,
               `_resolve` for each run)
    overrides  `--set KEY=VALUE`: any field by its path, typed by the dataclass
    datasets   the tf.data pipelines over an experiment's splits
    context    `RunResult`, `ExperimentContext` (what hooks read), `ExperimentResult`
    assembly   a run's model (or GAN), loss and ab prior
    report     report sections, the main table, the default figures
    runner     `train_and_evaluate` (one run), `run_experiment` (all of them, then the report)
    command    the command line of every script: `build_parser`, `apply_args`, `main`

The split itself (scan, prepared or protocol split, validation held out of train) is
`colorization_tf.data.splits`.

Reference:
    Ziegler (2022); Lee, Liang & Peaks (2016); Yang & Li (CS520); Ghiotto (2021, PolyChromify);
    Menon & Talukdar (2021): the five studies configured in `experiments/`.
"""

from __future__ import annotations

from colorization_tf.data.experiment_splits import (
    MIN_FOLDER_FOR_VAL,
    VAL_FRACTION,
    VAL_SALT,
    DataSplits,
    carve_validation,
    describe_splits,
    discover,
    protocol_split,
    split,
    subsample_splits,
)
from colorization_tf.experiment.assembly import (
    PRIOR_IMAGE_SIZE,
    class_weights_for,
    needs_labels,
    training_prior,
    weighted_ce_loss,
)
from colorization_tf.experiment.command import apply_args, build_parser, main, script_description
from colorization_tf.experiment.config import (
    CONFIG_JSON,
    CS520_ACCURACY,
    DATA_REPORT,
    DEFAULT_METRIC_COLUMNS,
    DEFAULT_SPLIT_SEED,
    FIGURES_DIR,
    POLY_ACCURACY,
    QUICK_BATCH_SIZE,
    QUICK_EPOCHS,
    QUICK_IMAGE_SIZE,
    QUICK_MAX_IMAGES,
    RESULTS_DIR,
    RESULTS_JSON,
    RESULTS_MD,
    RUNS_DIR,
    SAVED_MODELS_DIR,
    SPLITS_USED,
    QUICK_RUN,
    ExperimentConfig,
    GanSettings,
    OptimizerSettings,
    QuickSettings,
    RunConfig,
    resolve_experiment,
)
from colorization_tf.experiment.context import ExperimentContext, ExperimentResult, RunResult
from colorization_tf.experiment.datasets import (
    build_split_dataset,
    default_data_root,
    interleave_classes,
    training_data,
)
from colorization_tf.experiment.overrides import OverrideError, apply_overrides
from colorization_tf.experiment.report import N_FIGURE_IMAGES, Section, main_table, metric_label, render_markdown
from colorization_tf.experiment.runner import (
    DIGEST_LENGTH,
    QUICK_EXPORT_NOTE,
    resolve_splits,
    run_digest,
    run_experiment,
    train_and_evaluate,
)

# Private helpers the tests call through this facade.
from colorization_tf.experiment.assembly import _builder, _loss_object  # noqa: F401
from colorization_tf.experiment.config import _resolve  # noqa: F401
from colorization_tf.experiment.datasets import _capped  # noqa: F401

__all__ = [
    "RunConfig",
    "ExperimentConfig",
    "GanSettings",
    "OptimizerSettings",
    "QuickSettings",
    "QUICK_RUN",
    "resolve_experiment",
    "OverrideError",
    "apply_overrides",
    "Section",
    "RunResult",
    "ExperimentContext",
    "ExperimentResult",
    "DataSplits",
    "default_data_root",
    "discover",
    "split",
    "protocol_split",
    "subsample_splits",
    "carve_validation",
    "describe_splits",
    "resolve_splits",
    "build_split_dataset",
    "training_data",
    "interleave_classes",
    "run_digest",
    "needs_labels",
    "training_prior",
    "class_weights_for",
    "weighted_ce_loss",
    "script_description",
    "train_and_evaluate",
    "main_table",
    "metric_label",
    "render_markdown",
    "run_experiment",
    "build_parser",
    "apply_args",
    "main",
    "MIN_FOLDER_FOR_VAL",
    "VAL_FRACTION",
    "VAL_SALT",
    "PRIOR_IMAGE_SIZE",
    "CONFIG_JSON",
    "CS520_ACCURACY",
    "DATA_REPORT",
    "DEFAULT_METRIC_COLUMNS",
    "DEFAULT_SPLIT_SEED",
    "FIGURES_DIR",
    "POLY_ACCURACY",
    "QUICK_BATCH_SIZE",
    "QUICK_EPOCHS",
    "QUICK_IMAGE_SIZE",
    "QUICK_MAX_IMAGES",
    "RESULTS_DIR",
    "RESULTS_JSON",
    "RESULTS_MD",
    "RUNS_DIR",
    "SAVED_MODELS_DIR",
    "SPLITS_USED",
    "N_FIGURE_IMAGES",
    "DIGEST_LENGTH",
    "QUICK_EXPORT_NOTE",
]
