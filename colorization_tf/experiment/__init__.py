"""The shared experiment runner: every paper's study is a configuration of this one module.

An `ExperimentConfig` is one tree: the paper's name and title, its `DataConfig` (folder or the
embedded synthetic default, split protocol), its `ReportConfig` (tables, notes, hooks, the paper's
protocol), its experiment-wide `training.TrainConfig` and its `RunConfig`s (model from the
registry; the run's own `TrainConfig`: loss, optimiser, learning rate, ...). `run_experiment`
then, for every run:

    find + scan images -> split (the folder's prepared `splits.json` as it is, else a hash split
    with the split seed; written to `splits_used.json`) -> tf.data pipelines
    -> `training.train` (resumable work directory `results/<paper>/runs/<run>-<digest>/`, the
       digest naming every training-relevant setting except the epochs: a changed image size,
       dataset, loss, ... starts a fresh run; more epochs continue the old one)
    -> `evaluation.evaluate_model` on the test split (PSNR, SSIM, colorfulness, ab L1/L2 and each
       paper's own metric, per image and averaged)
    -> `export.export_saved_model` to `saved_models/<paper>_<run>/`

and writes the paper's table (Markdown and JSON, each figure beside the paper's number where the
paper gives one), the "Protocol" table (`protocol`: resolved settings beside the paper's), the
figures, the exact configuration and the package versions. Extra studies a paper needs (CS520's
numpy ANN, Ziegler's colour distribution, ...) are `hooks`: functions of the finished
`ExperimentContext` that return report `Section`s. No paper has a training loop of its own.

`--quick` shrinks everything so a script finishes in a few minutes on a 2-core CPU: 32-pixel
images, 64 images, 1 epoch, batch 8 (each can still be overridden on the command line).
The same seed gives the same numbers: each run is seeded, its data order and augmentation (random
crops + flips) depend on (seed, epoch) only, and TF op determinism is enabled (`--deterministic`,
default in quick mode). Training images are decoded once into a cache shared by every epoch: in
memory by default, or files under `--cache PREFIX` for datasets larger than memory.

The package, one job per module, in the order they import each other (no circles); this facade
holds the names a paper's script needs, the rest is imported from its module:

    results    the files of an experiment, `RunResult`, `Section`, `ExperimentResult` (imports
               nothing of the package)
    config     the tree: `ExperimentConfig`, `DataConfig`, `ReportConfig`, `RunConfig` and the
               typed groups (`GanSettings`, `OptimizerSettings`, `RunOverrides`)
    resolve    the resolve step: `resolve_experiment`, `resolve_run`, `run_json`
    overrides  `--set KEY=VALUE`: any field by its path (or its flat name), typed by the dataclass
    assembly   a run's data (pipelines over the splits) and parts (model or GAN, loss, ab prior)
    protocol   the "Protocol" table: resolved settings beside the paper's (`Paper` values)
    report     the main table, the default figures, the hardware line, results.md
    runner     `run_experiment`, reading top to bottom; `train_and_evaluate` (one run),
               `run_digest`, `ExperimentContext`
    command    the command line of every script: `build_parser`, `apply_args`, `main`

The split itself (scan, prepared or protocol split, validation held out of train) is
`colorization_tf.data.splits`.

Reference:
    Ziegler (2022); Lee, Liang & Peaks (2016); Yang & Li (CS520); Ghiotto (2021, PolyChromify);
    Menon & Talukdar (2021): the five studies configured in `experiments/`.
"""

from __future__ import annotations

from colorization_tf.experiment.command import main
from colorization_tf.experiment.config import DataConfig, ExperimentConfig, ReportConfig, RunConfig
from colorization_tf.experiment.results import Section
from colorization_tf.experiment.runner import ExperimentContext, run_experiment

__all__ = ["ExperimentConfig", "DataConfig", "ReportConfig", "RunConfig", "ExperimentContext", "Section", "run_experiment", "main"]
