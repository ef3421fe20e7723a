"""Typed configuration of an experiment: what to train (`RunConfig`) and the study (`ExperimentConfig`).

A paper's script builds one `ExperimentConfig` holding its `RunConfig`s; `resolve_run` is the one
step that turns a run as configured into the settings it trains with (paper defaults, the model
registry's, `--quick` and the command line; see its docstring for the order).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from colorization_tf import evaluation
from colorization_tf.models import CLASSIFICATION, get_spec

RESULTS_DIR = "results"
SAVED_MODELS_DIR = "saved_models"
RESULTS_MD = "results.md"
RESULTS_JSON = "results.json"
CONFIG_JSON = "config.json"
DATA_REPORT = "data_report.txt"
SPLITS_USED = "splits_used.json"
RUNS_DIR = "runs"
FIGURES_DIR = "figures"

QUICK_IMAGE_SIZE = 32
QUICK_MAX_IMAGES = 64
QUICK_EPOCHS = 1
QUICK_BATCH_SIZE = 8
"""`--quick`: tiny images, few of them, one epoch: minutes on a 2-core CPU."""

POLY_ACCURACY = "polychromify_accuracy"
CS520_ACCURACY = "cs520_accuracy"
"""Keys of the papers' own metrics in `metrics.evaluate_colorization`'s result."""

DEFAULT_METRIC_COLUMNS = ("psnr", "ssim", "colorfulness", "ab_l1", "ab_l2")
"""Metrics every table shows (keys of `metrics.evaluate_colorization`)."""

DEFAULT_SPLIT_SEED = 42
"""Seed of the hash split when the data folder ships no `splits.json` (PolyChromify's
`random_state`, and `datasets/prepare.py`'s default). Independent of the training seed `--seed`."""


@dataclasses.dataclass
class RunConfig:
    """One trained model of an experiment.

    Attributes:
        name: run name (work directory, table row, export folder `<paper>_<name>`).
        model: registry name (`colorization_tf.models.MODELS`).
        model_kwargs: builder arguments on top of the registry's.
        loss: loss name (`losses.get_loss`, else Keras), object, or dict output -> loss.
        loss_weights: None or dict output -> weight (Iizuka's alpha).
        metrics: training metrics (names, objects, or dict output -> list).
        optimizer, optimizer_kwargs, learning_rate: the optimiser.
        epochs, batch_size, image_size: None -> the experiment's (then the paper's/registry's).
        normalization: None -> the model's registry normalisation.
        seed: None -> the experiment's seed.
        init_from: name of an earlier run of the same experiment whose trained weights initialise
            this one (fine-tuning; the GAN's generator pretrained with L1).
        class_weights: for the weighted cross-entropy (loss "wce" or "wce_hard"): "zhang" (rebalancing,
            lambda = 0.5) or "ziegler" (from a normal distribution fitted to the prior), computed
            from the training split's ab prior.
        gan: None, or the GAN settings ``{"l1_weight": 100, "discriminator_kwargs": {...}}``: the
            model becomes `training.GANModel(generator, PatchGAN)`.
        stop_after: train in two invocations, first to this epoch, then resume to `epochs`
            from the checkpoint (the killed-and-resumed run of Lee et al.).
        classes: train and test on these scene classes only (CS520's CNN per scene).
        label: row label in the tables (default: `name`).
        paper: the paper's numbers for this row, metric key -> value.
        quick: field overrides applied in `--quick` mode (e.g. ``{"image_size": 64}``).
        export: export a SavedModel after training.
        bin_width: ab grid width of a classification head (None: Zhang's 10, i.e. 313 bins). The
            model's bin count, the (weighted) cross-entropy and the prior its weights come from
            all use it (Ziegler used wider bins to save memory).
        augment: random crops (0.875 of each side) + horizontal flips of the training images;
            None: the experiment's (its paper's) setting.
        max_train, max_val: train / validate on a deterministic subset of at most this many of
            the split's images (PolyChromify's model selection: 800 / 200); None: all.
        paper_protocol, protocol_notes: this run's paper values and explanations on top of the
            experiment's (see `ExperimentConfig`).
    """

    name: str
    model: str
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    loss: Any = "mse"
    loss_weights: Any = None
    metrics: Any = None
    optimizer: str = "adam"
    optimizer_kwargs: dict = dataclasses.field(default_factory=dict)
    learning_rate: float = 1e-3
    epochs: int | None = None
    batch_size: int | None = None
    image_size: int | None = None
    normalization: str | None = None
    seed: int | None = None
    init_from: str | None = None
    gan: dict | None = None
    class_weights: str = "zhang"
    stop_after: int | None = None
    classes: list[str] | None = None
    label: str = ""
    paper: dict = dataclasses.field(default_factory=dict)
    quick: dict = dataclasses.field(default_factory=dict)
    export: bool = True
    bin_width: float | None = None
    augment: bool | None = None
    max_train: int | None = None
    max_val: int | None = None
    paper_protocol: dict = dataclasses.field(default_factory=dict)
    protocol_notes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class ExperimentConfig:
    """One paper's study.

    Attributes:
        paper: short name; results go to `results/<paper>/`, exports to `saved_models/<paper>_<run>/`.
        title: heading of the report.
        runs: the models to train, in order (a run may start from an earlier one: `init_from`).
        data: image folder in the paper's layout, or None for the embedded synthetic default.
        protocol: split protocol of `data.splits.split_files`.
        quick: shrink everything (see the module docstring).
        epochs, batch_size, image_size: override every run (None: each run's own / the paper's).
        seed: base training seed (initialisation, data order, augmentation).
        split_seed: seed of the hash split, used only when the data folder has no prepared
            `splits.json` (which is then used as it is).
        max_images: use at most this many images (after scanning; None: all).
        out_dir: results folder (default `results/<paper>`).
        saved_models_dir: export root.
        labels: the models need scene labels (folder per class).
        metric_columns: metric keys in the main table.
        paper_metric: the paper's own metric key, shown beside the paper's number.
        paper_metric_label: its column label.
        paper_rows: rows quoted from the paper for the main table (label -> metric -> value).
        notes: Markdown paragraphs added under the main table (e.g. what a metric means).
        hooks: `ctx -> list[Section] | Section | None`, run after every model is trained.
        sample_every: sample-colorization figure every N epochs (Ziegler's Figs 4.4/4.5).
        deterministic: TF op determinism (None: on in quick mode).
        export: export SavedModels (runs may opt out individually).
        verbose: Keras `fit` verbosity.
        default_epochs, default_batch_size: the paper's values when no override is given.
        cache: where decoded training/evaluation images are cached: "memory" (default) or a file
            prefix (`data.pipeline.cache_filename`) for datasets larger than memory.
        augment: the paper's training augmentation: random crops + flips (Zhang et al., Iizuka
            et al.) or none (PolyChromify, Lee et al., CS520); runs may override it.
        paper_protocol: the paper's values of the `protocol.SETTINGS` (dataset = its image count,
            split = its description, image_size, augment, optimizer, learning_rate, batch_size,
            epochs, loss = `protocol.describe_loss` of the faithful loss, bin_width; absent = not
            stated) and "split_protocol", the `data.splits` protocol that reproduces its split.
        protocol_notes: setting -> why this suite differs from the paper there (the "Protocol"
            table shows it beside every mismatch).
        overridden: options given on the command line (`apply_args`), named in the table.
    """

    paper: str
    title: str
    runs: list[RunConfig]
    data: str | None = None
    protocol: str = "default"
    quick: bool = False
    epochs: int | None = None
    batch_size: int | None = None
    image_size: int | None = None
    seed: int = 0
    split_seed: int = DEFAULT_SPLIT_SEED
    max_images: int | None = None
    out_dir: str | None = None
    saved_models_dir: str = SAVED_MODELS_DIR
    labels: bool = False
    metric_columns: Sequence[str] = DEFAULT_METRIC_COLUMNS
    paper_metric: str | None = None
    paper_metric_label: str = ""
    paper_rows: dict = dataclasses.field(default_factory=dict)
    notes: str = ""
    hooks: list[Callable] = dataclasses.field(default_factory=list)
    sample_every: int = 10
    deterministic: bool | None = None
    export: bool = True
    verbose: Any = 2
    default_epochs: int = 25
    default_batch_size: int = 32
    cache: str = "memory"
    augment: bool = True
    paper_protocol: dict = dataclasses.field(default_factory=dict)
    protocol_notes: dict = dataclasses.field(default_factory=dict)
    overridden: tuple = ()

    @property
    def results_dir(self) -> Path:
        return Path(self.out_dir or os.path.join(RESULTS_DIR, self.paper))


def _resolve(run: RunConfig, cfg: ExperimentConfig) -> RunConfig:
    """The run's effective settings: run fields < paper defaults < quick values < command line."""
    spec = get_spec(run.model)
    values = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}  # shallow: keeps Keras objects
    values["epochs"] = run.epochs or cfg.default_epochs
    values["batch_size"] = run.batch_size or cfg.default_batch_size
    values["image_size"] = run.image_size or spec.image_size
    values["normalization"] = run.normalization or spec.normalization
    values["seed"] = cfg.seed if run.seed is None else run.seed
    values["label"] = run.label or run.name
    values["augment"] = cfg.augment if run.augment is None else bool(run.augment)
    if cfg.quick:
        values.update(image_size=QUICK_IMAGE_SIZE, epochs=QUICK_EPOCHS, batch_size=QUICK_BATCH_SIZE)
        values.update(run.quick)
    for key in ("epochs", "batch_size", "image_size"):
        if getattr(cfg, key) is not None:
            values[key] = getattr(cfg, key)
    if values["stop_after"] is not None:
        values["stop_after"] = max(1, min(values["stop_after"], values["epochs"] - 1)) if values["epochs"] > 1 else None
    if values["bin_width"] is not None and spec.head != CLASSIFICATION:
        raise ValueError(f"run {run.name!r}: bin_width applies to classification heads only, not {run.model}")
    return RunConfig(**values)


def _fresh(spec):
    """Keras loss/metric objects serialised, so every compile deserialises its own fresh instance."""
    import keras

    if isinstance(spec, dict):
        return {k: _fresh(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_fresh(v) for v in spec]
    if spec is None or isinstance(spec, (str, int, float, bool)):
        return spec
    return keras.saving.serialize_keras_object(spec)


def _jsonable_run(run: RunConfig) -> dict:
    """A run as JSON, its Keras loss/metric objects serialised (not their repr with an address)."""
    return evaluation.to_jsonable(dataclasses.replace(run, loss=_fresh(run.loss), metrics=_fresh(run.metrics)))
