"""The plain results of an experiment: one run's `RunResult` and a report `Section`.

Data only, importing nothing of the package, so that the runner, the report writers and
`colorization_tf.protocol` can all use them without an import circle.
"""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class RunResult:
    """What one run produced."""

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
