"""What an experiment produced: the `ExperimentContext` hooks read and the `ExperimentResult` (one run's `RunResult` is in `results`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from colorization_tf import evaluation
from colorization_tf.experiment.config import FIGURES_DIR, ExperimentConfig
from colorization_tf.experiment.datasets import _filter_classes, build_split_dataset, interleave_classes
from colorization_tf.experiment.results import RunResult, Section  # noqa: F401  (RunResult re-exported)


@dataclasses.dataclass
class ExperimentContext:
    """Everything a hook may use once the runs are trained.

    Attributes:
        config: the `ExperimentConfig`.
        splits: split name -> image paths.
        labels: path -> class index (None without class folders).
        class_names: class folder names.
        runs: run name -> `RunResult`.
        models: run name -> trained Keras model (the generator for a GAN).
        evals: run name -> `evaluation.EvalResult` on the test split (plus `evaluation.GRAY`).
        results_dir: `results/<paper>`.
        data_root: the data folder (the embedded default's when no `--data` was given).
        skipped: run name -> why it was not trained (e.g. it needs class folders).
    """

    config: ExperimentConfig
    splits: dict[str, list[str]]
    labels: dict[str, int] | None
    class_names: list[str]
    runs: dict[str, RunResult]
    models: dict[str, Any]
    evals: dict[str, evaluation.EvalResult]
    results_dir: Path
    data_root: str = ""
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def figures_dir(self) -> Path:
        path = self.results_dir / FIGURES_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    def dataset(self, split: str, image_size: int, normalization, batch_size: int = 16, classes=None):
        """An evaluation pipeline over a split (see `build_split_dataset`)."""
        paths = interleave_classes(_filter_classes(self.splits[split], self.labels, self.class_names, classes), self.labels)
        return build_split_dataset(paths, image_size, normalization, batch_size, training=False,
                                   resize_method=self.config.resize_method)


@dataclasses.dataclass
class ExperimentResult:
    """The outcome of `run_experiment`: per-run results, the report's sections and where files went."""

    config: ExperimentConfig
    runs: dict[str, RunResult]
    gray: dict[str, float]
    sections: list[Section]
    results_dir: Path
    markdown_path: Path
    json_path: Path
