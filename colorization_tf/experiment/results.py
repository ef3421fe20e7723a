"""What an experiment produces: its files, one run's `RunResult`, a report `Section`, the `ExperimentResult`.

Data only, importing nothing of the package, so that the runner, the report writers and the
command line can all use them without an import circle.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

RESULTS_DIR = "results"
SAVED_MODELS_DIR = "saved_models"
RESULTS_MD = "results.md"
RESULTS_JSON = "results.json"
CONFIG_JSON = "config.json"
DATA_REPORT = "data_report.txt"
SPLITS_USED = "splits_used.json"
RUNS_DIR = "runs"
FIGURES_DIR = "figures"
"""The files of an experiment: `results/<paper>/{results.md, results.json, config.json, data_report.txt,
splits_used.json, figures/, runs/<run>-<digest>/}` and the exports `saved_models/<paper>_<run>/`."""


@dataclasses.dataclass
class RunResult:
    """What one run produced.

    `metrics` are the run's mean evaluation metrics on the test split, `paper` the paper's numbers
    for its row (`RunConfig.paper_scores`), `config` the resolved run as JSON (`resolve.run_json`).
    """

    name: str
    label: str
    model: str
    image_size: int
    epochs: int
    batch_size: int
    normalization: str
    parameters: int
    train_seconds: float
    metrics: dict[str, float]
    per_image: list[dict[str, float]]
    history: dict[str, list]
    workdir: str
    export_path: str | None
    paper: dict
    config: dict
    selected_epoch: int | None = None
    """The epoch whose weights were evaluated when the run selects on validation (`RunConfig.select_best`)."""
    hardware: dict = dataclasses.field(default_factory=dict)
    """What the run trained under, as Keras ran it (`training.Hardware.in_effect(...).to_dict()`):
    policy, jit_compile, xla_note, description (the hardware line)."""


@dataclasses.dataclass
class Section:
    """A part of an experiment's report: a title, Markdown text (tables, figure links) and JSON data."""

    title: str
    markdown: str
    data: Any = None


@dataclasses.dataclass
class ExperimentResult:
    """The outcome of `run_experiment`: per-run results, the report's sections and where files went.

    Attributes:
        config: the `ExperimentConfig` as run (resolved).
        runs: run name -> `RunResult`.
        gray: the gray baseline's mean metrics.
        sections: the report's sections, in order.
        results_dir, markdown_path, json_path: where the report went.
    """

    config: Any
    runs: dict[str, RunResult]
    gray: dict[str, float]
    sections: list[Section]
    results_dir: Path
    markdown_path: Path
    json_path: Path
