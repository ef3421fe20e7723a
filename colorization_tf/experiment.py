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

Reference:
    Ziegler (2022); Lee, Liang & Peaks (2016); Yang & Li (CS520); Ghiotto (2021, PolyChromify);
    Menon & Talukdar (2021): the five studies configured in `experiments/`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from colorization_tf import evaluation
from colorization_tf.fileio import remove_stale_temps
from colorization_tf.console import add_verbose_argument
from colorization_tf.models import colorizer_of, get_spec
from colorization_tf.selection import BestWeights, restore_best

log = logging.getLogger(__name__)

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

VAL_FRACTION = 0.1
"""Share of the training files held out for validation when a protocol has no validation split."""

VAL_SALT = "validation"
"""Mixed into the validation hash so it is independent of the train/test hash of the same seed."""

MIN_FOLDER_FOR_VAL = 5
"""A class folder of at least this many training files gives one to validation even when no file
hashes below `VAL_FRACTION` (tiny per-scene datasets, e.g. CS520's ~10 training images per scene)."""

DIGEST_LENGTH = 8
"""Hex characters of the configuration digest in a run's work-directory name."""

N_FIGURE_IMAGES = 6
"""Test images shown in the comparison figure of every experiment."""


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
            model becomes `training.GANModel(generator, discriminator)`, the discriminator the
            model's spec pairs it with (`ModelSpec.discriminator`: the PatchGAN for the U-Net).
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
        select_best: evaluate and export the weights of the epoch with the lowest value of this
            validation log key (e.g. "val_ab_l1", "val_loss"; `selection.BestWeights`) instead of the
            last epoch's; None: the last epoch's.
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
    select_best: str | None = None
    paper_protocol: dict = dataclasses.field(default_factory=dict)
    protocol_notes: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Section:
    """A part of an experiment's report: a title, Markdown text (tables, figure links) and JSON data."""

    title: str
    markdown: str
    data: Any = None


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
        return build_split_dataset(paths, image_size, normalization, batch_size, training=False)


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


# --------------------------------------------------------------------------------------------
# Data: discovery, split, pipelines (the only call sites of colorization_tf.data)


def default_data_root() -> str:
    """The embedded synthetic default dataset (class folders), generated on first use."""
    from colorization_tf.data import synthetic

    return str(synthetic.default_dataset())


def discover(root, *, max_images: int | None = None, seed: int = 0) -> tuple[list[str], dict | None, list[str], str]:
    """Finds and scans the images under `root`.

    Returns:
        (usable paths, path -> class index or None, class names, the scan summary text).
        With `max_images`, a deterministic class-stratified subset (every class keeps images).
    """
    from colorization_tf.data.files import find_images, scan_images

    found = find_images(root)
    report = scan_images(found.paths, progress=False, source=str(root))
    usable = report.usable
    labels = None
    if found.class_names:
        label_of = {r.path: r.label for r in found.records}
        labels = {p: label_of[p] for p in usable}
    if max_images is not None and len(usable) > max_images:
        usable = _subset(usable, labels, max_images, seed)
    return usable, labels, list(found.class_names), report.summary(source=str(root))


def _subset(paths: list[str], labels: dict | None, n: int, seed: int) -> list[str]:
    """A deterministic subset of `n` paths, round-robin over classes so each class is present."""
    rng = np.random.default_rng(seed)
    groups: dict[int, list[str]] = {}
    for p in paths:
        groups.setdefault(labels[p] if labels else 0, []).append(p)
    for key in groups:
        order = rng.permutation(len(groups[key]))
        groups[key] = [groups[key][i] for i in order]
    chosen: list[str] = []
    while len(chosen) < n:
        for key in sorted(groups):
            if groups[key] and len(chosen) < n:
                chosen.append(groups[key].pop())
    return sorted(chosen)


def split(paths: list[str], protocol: str, seed: int) -> dict[str, list[str]]:
    """Deterministic train/val/test split by the paper's protocol (`data.splits.split_files`).

    A protocol without a validation split (Ziegler, CS520, Lee et al., DIV2K) gets one carved out
    of its training files (`carve_validation`), never the test files: validation curves and the
    per-epoch sample figures must not look at the images the table is computed on.
    """
    parts = protocol_split(paths, protocol, seed)
    if not parts.get("val"):
        parts["train"], parts["val"] = carve_validation(parts["train"], seed)
    return parts


def subsample_splits(parts: dict[str, list[str]], labels: dict | None, n: int, seed: int) -> dict[str, list[str]]:
    """At most `n` images in all, taken within each split in proportion to its size (`_subset`
    per split): a prepared split shrinks without any file changing sides."""
    total = sum(len(v) for v in parts.values())
    if total <= n:
        return {k: list(v) for k, v in parts.items()}
    out = {}
    for key, paths in parts.items():
        want = min(len(paths), max(1, round(n * len(paths) / total))) if paths else 0
        out[key] = _subset(paths, labels, want, seed) if want < len(paths) else list(paths)
    return out


@dataclasses.dataclass
class DataSplits:
    """The images an experiment uses and where their split came from.

    Attributes:
        splits: "train", "val", "test" -> paths.
        labels: path -> class index (None without class folders).
        class_names: class folder names.
        report: the scan summary and one line per split (`data_report.txt`).
        source: "prepared" (the folder's `splits.json`) or "hash" (`data.splits.split_files`).
        val_carved: validation was held out of train (the split had none).
        prepared: the prepared file's counts (`data.splits.prepared_splits`), or None.
    """

    splits: dict[str, list[str]]
    labels: dict | None
    class_names: list[str]
    report: str
    source: str
    val_carved: bool
    prepared: dict | None = None


def resolve_splits(cfg: ExperimentConfig, root) -> DataSplits:
    """Scans `root` and splits it: by its prepared `splits.json` when it has one, else by the protocol.

    A prepared split is used as it is, also in `--quick`/`--max-images` mode, which then only
    subsamples within each side (`subsample_splits`). Either way a protocol without validation
    gets it held out of train (`carve_validation`). Hash splits use `cfg.split_seed`, never the
    training seed.
    """
    from colorization_tf.data.splits import prepared_splits

    limit = QUICK_MAX_IMAGES if cfg.quick and cfg.max_images is None else cfg.max_images
    paths, labels, class_names, scan_text = discover(root)
    prepared = prepared_splits(root, paths) if cfg.data else None
    if prepared is not None:
        parts, info = prepared
        if not parts["train"] or not parts["test"]:
            raise ValueError(f"{info['file']}: the prepared split has no usable train or test images")
        if limit is not None:
            parts = subsample_splits(parts, labels, limit, cfg.split_seed)
        source = "prepared"
    else:
        info = None
        if limit is not None and len(paths) > limit:
            paths = _subset(paths, labels, limit, cfg.split_seed)
        parts = protocol_split(paths, cfg.protocol, cfg.split_seed)
        source = "hash"
    val_carved = not parts["val"]
    if val_carved:
        parts["train"], parts["val"] = carve_validation(parts["train"], cfg.split_seed)
    if source == "prepared":
        origin = (f"split: {info['file']} (prepared; used as it is{', subsampled within each side' if limit is not None else ''}): "
                  f"{info['listed']} files listed, {info['missing']} of them missing or unusable, "
                  f"{info['unlisted']} usable files not listed and left out")
    else:
        origin = f"split: protocol `{cfg.protocol}` by a hash of each file, split seed {cfg.split_seed}"
    report = scan_text + "\n" + origin + "\n" + describe_splits(cfg, parts, val_carved)
    return DataSplits(parts, labels, class_names, report, source, val_carved, info)


def protocol_split(paths: list[str], protocol: str, seed: int) -> dict[str, list[str]]:
    """The protocol's own split (`data.splits.split_files`), validation possibly empty."""
    from colorization_tf.data.splits import split_files

    parts = split_files(paths, protocol, seed)
    return {k: list(parts.get(k, [])) for k in ("train", "val", "test")}


def carve_validation(train: list[str], seed: int, fraction: float = VAL_FRACTION) -> tuple[list[str], list[str]]:
    """Moves ~`fraction` of the training files to a validation split, by a hash of each file's key.

    Like the protocols' own splits (`data.splits`), a file's fate depends on its key
    (`parent/name`) and the seed only, so adding images never moves the ones already placed. Within
    each folder of at least `MIN_FOLDER_FOR_VAL` files that no file hashed into, the lowest-hashing
    file goes to validation, so every class of a small dataset is validated.

    Returns:
        (train, val), each in the order of `train`.
    """
    from colorization_tf.data.splits import hash_fraction, split_key

    score = {p: hash_fraction(f"{VAL_SALT}\x00{split_key(p)}", seed) for p in train}
    held = {p for p in train if score[p] < fraction}
    folders: dict[str, list[str]] = {}
    for p in train:
        folders.setdefault(os.path.dirname(os.fspath(p)), []).append(p)
    for files in folders.values():
        if len(files) >= MIN_FOLDER_FOR_VAL and not held.intersection(files):
            held.add(min(files, key=score.__getitem__))
    return [p for p in train if p not in held], [p for p in train if p in held]


def _filter_classes(paths, labels, class_names, classes):
    if not classes:
        return list(paths)
    if labels is None:
        raise ValueError(f"classes {classes} requested but the dataset has no class folders")
    unknown = sorted(set(classes) - set(class_names))
    if unknown:
        raise ValueError(f"unknown classes {unknown}; the dataset has {class_names}")
    wanted = {class_names.index(c) for c in classes}
    return [p for p in paths if labels[p] in wanted]


def interleave_classes(paths, labels):
    """Paths reordered round-robin over classes (a test set's first images then show every scene)."""
    if labels is None:
        return list(paths)
    groups: dict[int, list[str]] = {}
    for p in paths:
        groups.setdefault(labels[p], []).append(p)
    order = []
    while any(groups.values()):
        for key in sorted(groups):
            if groups[key]:
                order.append(groups[key].pop(0))
    return order


def build_split_dataset(paths, image_size, normalization, batch_size, *, training=False, labels=None, seed=0, cache="memory"):
    """The `data.pipeline.build_dataset` call of the runner for evaluation: file order, no augmentation.

    `cache`: "memory", a file prefix, or None (e.g. for a one-off batch that should not start a
    file cache it would leave half-written).
    """
    from colorization_tf.data.pipeline import build_dataset

    return build_dataset(
        list(paths),
        image_size=image_size,
        batch_size=batch_size,
        normalization=normalization,
        labels=labels,
        training=False,
        augment=False,
        cache=cache,
        seed=seed,
        drop_remainder=training,
    )


def training_data(paths, image_size, normalization, batch_size, *, labels=None, seed=0, cache="memory", augment=True):
    """`(epoch -> Dataset, steps per epoch)` for `training.train` (`data.pipeline.build_epoch_datasets`).

    The images are decoded once into one cache shared by every epoch; each epoch shuffles (buffer
    capped in bytes) and, with `augment`, augments them (random crops + flips) with a seed of
    (seed, epoch) only, so a resumed run sees exactly the batches an uninterrupted one does.

    Args:
        paths, image_size, normalization, batch_size, labels, seed: the training split's pipeline.
        cache: "memory" or a file prefix. A file cache is filled by one full pass before training:
            an epoch cut short by `steps_per_epoch` would otherwise leave it unfinished.
    """
    from colorization_tf.data.pipeline import (
        build_epoch_datasets,
        dataset_cardinality_hint,
    )

    for_epoch = build_epoch_datasets(
        list(paths), image_size=image_size, batch_size=batch_size, normalization=normalization,
        labels=labels, seed=seed, cache=cache, augment=augment,
    )
    if cache and cache != "memory":
        for _ in for_epoch(0):
            pass
    return for_epoch, max(1, dataset_cardinality_hint(len(paths), batch_size, drop_remainder=True))


# --------------------------------------------------------------------------------------------
# One run


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
    if values["bin_width"] is not None and not spec.head.classification:
        raise ValueError(f"run {run.name!r}: bin_width applies to classification heads only, not {run.model}")
    return RunConfig(**values)


def needs_labels(run: RunConfig) -> bool:
    """Whether a run trains on scene labels (Iizuka's classification head: class folders needed)."""
    return get_spec(run.model).needs_labels


def _builder(run: RunConfig, n_classes: int, trained: dict):
    """`() -> keras.Model` for `training.train` (also used to rebuild when resuming)."""
    spec = get_spec(run.model)
    kwargs = dict(run.model_kwargs, image_size=run.image_size)
    if spec.needs_labels and n_classes:
        kwargs.setdefault("num_classes", n_classes)
    if run.bin_width is not None:
        kwargs["bin_width"] = run.bin_width

    def build():
        model = spec.build(**kwargs)
        if run.init_from:
            source = trained[run.init_from]
            model.set_weights(source.get_weights())
        if run.gan is None:
            return model
        from colorization_tf.training import GANModel

        settings = dict(run.gan)
        disc = spec.build_discriminator(image_size=run.image_size, **settings.pop("discriminator_kwargs", {}))
        return GANModel(model, disc, **settings)

    return build


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


def run_digest(run: RunConfig, train_paths, *, batch_size: int | None = None, init_digest: str | None = None) -> str:
    """A short digest of a resolved run's training-relevant configuration and training files.

    Names the run's work directory (`runs/<name>-<digest>`), so a re-run with another image
    size, dataset, loss, ... into the same results folder starts afresh instead of resuming a
    checkpoint trained on something else, while a run with more epochs continues the old one.

    Args:
        run: the resolved run (`_resolve`), with its loss as configured (e.g. "wce", not the object).
        train_paths: its training files (their absolute paths name the dataset and the split).
        batch_size: the effective batch size (capped at the number of training files).
        init_digest: the work-directory name of the run it starts from (`init_from`).
    """
    import hashlib
    import json

    from colorization_tf.training import SAME_RUN_KEYS  # the one list of what makes the same run

    fields = {key: _fresh(getattr(run, key)) for key in SAME_RUN_KEYS if hasattr(run, key)}
    fields["batch_size"] = batch_size or run.batch_size
    fields["init_from"] = init_digest if run.init_from else None
    fields["train_files"] = hashlib.sha1("\n".join(sorted(os.path.abspath(os.fspath(p)) for p in train_paths)).encode()).hexdigest()
    text = json.dumps(evaluation.to_jsonable(fields), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:DIGEST_LENGTH]


def _train_config(run: RunConfig, cfg: ExperimentConfig, epochs: int):
    from colorization_tf.training import TrainConfig

    return TrainConfig(
        epochs=epochs,
        batch_size=run.batch_size,
        learning_rate=run.learning_rate,
        optimizer=run.optimizer,
        optimizer_kwargs=dict(run.optimizer_kwargs),
        loss=_fresh(run.loss),
        loss_weights=run.loss_weights,
        metrics=_fresh(run.metrics),
        seed=run.seed,
        deterministic=bool(cfg.quick if cfg.deterministic is None else cfg.deterministic),
        sample_every=cfg.sample_every if not cfg.quick else 1,
        tensorboard=not cfg.quick,
        verbose=cfg.verbose,
        name=f"{cfg.paper}/{run.name}",
    )


def _export(model, run: RunConfig, cfg: ExperimentConfig) -> str:
    from colorization_tf.export import export_saved_model

    path = Path(cfg.saved_models_dir) / f"{cfg.paper}_{run.name}"
    spec = get_spec(run.model)
    spec = spec.replace(image_size=run.image_size, normalization=run.normalization, head=spec.head.with_bins(run.bin_width))
    export_saved_model(model, str(path), spec, save_keras=not cfg.quick)
    return str(path)


QUICK_EXPORT_NOTE = (
    "Quick mode exports the SavedModels only, without the `model.keras` copy a full run writes beside "
    "each (the big nets' .keras files are ~130 MB each); run without `--quick` to get them."
)


PRIOR_IMAGE_SIZE = 64
"""Resolution at which the training split's ab prior is counted (colour statistics barely depend on it)."""


def training_prior(ctx: ExperimentContext, train_paths, bin_width: float | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """The empirical ab prior of the training split, computed once and saved.

    The prior is counted in one tf.data pass and written beside the data as
    `ab_prior_<digest>.npz` (the digest names the file list, resolution and bin width), so every
    weighted run and every later invocation reuses it; where the data folder is read-only it goes
    to the results folder instead.

    Args:
        ctx: the experiment (data root, results folder).
        train_paths: the training files.
        bin_width: ab grid width (None: Zhang's 10, 313 bins).

    Returns:
        (prior `[Q]`, bin centres `[Q, 2]`, path of the .npz file).
    """
    import hashlib

    from colorization_tf import quantize

    size = PRIOR_IMAGE_SIZE
    width = float(bin_width or quantize.ZHANG_BIN_WIDTH)
    key = [str(size)] if bin_width is None else [str(size), f"bin_width={width:g}"]
    digest = hashlib.sha1("\n".join(sorted(map(str, train_paths)) + key).encode()).hexdigest()[:12]
    name = f"ab_prior_{digest}.npz"
    candidates = [Path(ctx.data_root) / name, ctx.results_dir / name]
    centers = quantize.ab_bin_centers(width)
    for path in candidates:
        if path.exists():
            prior, stored, _ = quantize.load_prior(path)
            if stored.shape == centers.shape:
                return prior, stored, str(path)
    prior = quantize.compute_prior(build_split_dataset(train_paths, size, "zhang", 16), centers, normalization="zhang",
                                   bin_width=width)
    for path in candidates:
        try:
            written = quantize.save_prior(path, prior, centers, images=len(train_paths), image_size=size, bin_width=width)
        except OSError:
            continue
        return prior, centers, written
    raise OSError(f"cannot write the ab prior to {candidates[0]} or {candidates[1]}")


def class_weights_for(kind: str, prior, centers) -> np.ndarray:
    """Per-bin weights of the weighted cross-entropy: "zhang" (rebalancing, lambda 0.5) or "ziegler"."""
    from colorization_tf import quantize

    if kind == "ziegler":
        return quantize.ziegler_weights(prior, centers)
    if kind == "zhang":
        return quantize.rebalancing_weights(prior)
    raise ValueError(f"class_weights must be 'zhang' or 'ziegler', not {kind!r}")


def weighted_ce_loss(run: RunConfig, ctx: ExperimentContext, train_paths):
    """Zhang's class-rebalanced (or Ziegler's) soft-encoded cross-entropy, weights from the training
    prior on the run's bins (`run.bin_width`)."""
    from colorization_tf import losses

    prior, centers, _ = training_prior(ctx, train_paths, run.bin_width)
    try:
        weights = class_weights_for(run.class_weights, prior, centers)
    except ValueError as err:
        raise ValueError(f"run {run.name!r}: {err}") from None
    kwargs = {} if run.bin_width is None else {"bin_width": float(run.bin_width)}
    return losses.get_loss(run.loss, class_weights=np.asarray(weights, np.float32).tolist(), **kwargs)


def _loss_object(run: RunConfig, ctx: ExperimentContext, train_paths):
    """The run's loss with its bins applied: "wce"/"wce_hard" need the prior's weights,
    "ce"/"ce_hard" the bin width."""
    from colorization_tf import losses

    kind = losses.CROSS_ENTROPY_NAMES.get(run.loss) if isinstance(run.loss, str) else None
    if kind is not None and kind[1]:
        return weighted_ce_loss(run, ctx, train_paths)
    if kind is not None and run.bin_width is not None:
        return losses.get_loss(run.loss, bin_width=float(run.bin_width))
    return run.loss


def _jsonable_run(run: RunConfig) -> dict:
    """A run as JSON, its Keras loss/metric objects serialised (not their repr with an address)."""
    return evaluation.to_jsonable(dataclasses.replace(run, loss=_fresh(run.loss), metrics=_fresh(run.metrics)))


def _capped(paths: list[str], labels, limit: int | None, seed: int) -> list[str]:
    """At most `limit` of `paths` (a deterministic class-stratified subset, `_subset`), in their order."""
    if limit is None or len(paths) <= limit:
        return list(paths)
    chosen = set(_subset(paths, labels, limit, seed))
    return [p for p in paths if p in chosen]


def _cache_for(cache, labels) -> str | None:
    """The pipeline cache for a dataset: a file prefix gets a suffix when the elements carry labels
    (`data.pipeline.cache_filename` names files by paths and size only, not by their structure)."""
    if not cache or cache == "memory" or labels is None:
        return cache
    return f"{cache}.labels"


def train_and_evaluate(run: RunConfig, cfg: ExperimentConfig, ctx: ExperimentContext) -> RunResult:
    """Trains one (resolved) run, evaluates it on the test split and exports it."""
    from colorization_tf import training
    from colorization_tf.data.pipeline import dataset_cardinality_hint

    train_paths = _capped(_filter_classes(ctx.splits["train"], ctx.labels, ctx.class_names, run.classes), ctx.labels, run.max_train, cfg.split_seed)
    val_paths = _capped(_filter_classes(ctx.splits["val"], ctx.labels, ctx.class_names, run.classes), ctx.labels, run.max_val, cfg.split_seed)
    test_paths = interleave_classes(_filter_classes(ctx.splits["test"], ctx.labels, ctx.class_names, run.classes), ctx.labels)
    if not train_paths or not test_paths:
        raise ValueError(f"run {run.name!r}: empty train or test split (classes={run.classes})")
    batch_size = min(run.batch_size, len(train_paths))
    wants_labels = needs_labels(run)  # the scene head trains on the class folders' labels
    if wants_labels and ctx.labels is None:
        raise ValueError(f"run {run.name!r}: {run.model} needs scene labels: give a folder with one sub-folder per class")
    label_list = (lambda ps: [ctx.labels[p] for p in ps]) if wants_labels else (lambda ps: None)

    def eval_data(paths, cache):
        labels = label_list(paths)
        return build_split_dataset(paths, run.image_size, run.normalization, batch_size, labels=labels,
                                   cache=_cache_for(cache, labels))

    train_labels = label_list(train_paths)
    train_fn, steps = training_data(train_paths, run.image_size, run.normalization, batch_size, labels=train_labels,
                                    seed=run.seed, cache=_cache_for(cfg.cache, train_labels), augment=run.augment)
    val_ds = eval_data(val_paths, cfg.cache) if val_paths else None
    test_ds = eval_data(test_paths, cfg.cache)
    # Sample figures: validation images (training ones if a class has none), never the test split.
    sample_batch = next(iter(eval_data((val_paths or train_paths)[:batch_size], None)))
    init_digest = Path(ctx.runs[run.init_from].workdir).name if run.init_from in ctx.runs else None
    workdir = ctx.results_dir / RUNS_DIR / f"{run.name}-{run_digest(run, train_paths, batch_size=batch_size, init_digest=init_digest)}"
    run = dataclasses.replace(run, loss=_loss_object(run, ctx, train_paths))
    build = _builder(run, len(ctx.class_names), ctx.models)

    start = time.perf_counter()
    stages = [run.stop_after, run.epochs] if run.stop_after else [run.epochs]
    if run.select_best and val_ds is None:
        raise ValueError(f"run {run.name!r}: select_best={run.select_best!r} needs validation images")
    best_cb = (lambda: [BestWeights(workdir, run.select_best)]) if run.select_best else (lambda: [])
    for epochs in stages:  # two invocations = a run stopped after `stop_after` epochs and resumed
        config = _train_config(run, cfg, epochs)
        config.steps_per_epoch = steps
        if val_ds is not None:  # tf.data cannot count batches after `ignore_errors`; Keras warns without it
            config.validation_steps = dataset_cardinality_hint(len(val_paths), batch_size, drop_remainder=False)
        model, history = training.train(
            build, train_fn, val_ds, config, workdir, sample_batch=sample_batch, normalization=run.normalization,
            callbacks=best_cb(),
        )
    seconds = time.perf_counter() - start
    selected = restore_best(model, workdir) if run.select_best else None

    net = colorizer_of(model)
    ev = evaluation.evaluate_model(net, test_ds, run.normalization, name=run.name)
    ctx.models[run.name] = net
    ctx.evals[run.name] = ev
    export_path = _export(net, run, cfg) if (cfg.export and run.export) else None
    return RunResult(
        name=run.name,
        label=run.label,
        model=run.model,
        image_size=run.image_size,
        epochs=run.epochs,
        batch_size=batch_size,
        normalization=run.normalization,
        parameters=int(net.count_params()),
        train_seconds=seconds,
        metrics=ev.mean,
        per_image=ev.per_image,
        history={k: list(map(float, v)) for k, v in history.items() if k != "epoch"},
        workdir=str(workdir),
        export_path=export_path,
        paper=dict(run.paper),
        config=_jsonable_run(run),
        selected_epoch=selected["epoch"] if selected else None,
    )


# --------------------------------------------------------------------------------------------
# Tables and the report


def metric_label(key: str) -> str:
    """Column label of a metric key."""
    return {
        "psnr": "PSNR (dB)",
        "ssim": "SSIM",
        "colorfulness": "colorfulness",
        "ab_l1": "ab L1",
        "ab_l2": "ab L2",
        evaluation.SCENE_ACCURACY: "scene accuracy",
    }.get(key, key)


def main_table(cfg: ExperimentConfig, runs: dict[str, RunResult], gray: dict[str, float]) -> Section:
    """The paper's table: one row per run (+ the gray baseline and rows quoted from the paper)."""
    metric_keys = list(cfg.metric_columns)
    if cfg.paper_metric and cfg.paper_metric not in metric_keys:
        metric_keys.append(cfg.paper_metric)
    columns = ["model", "params", "train time (s)", *[metric_label(k) for k in metric_keys]]
    paper_keys = sorted({k for r in runs.values() for k in r.paper} | {k for row in cfg.paper_rows.values() for k in row})
    columns += [f"paper: {metric_label(k)}" for k in paper_keys]
    rows, data = [], []
    for r in runs.values():
        rows.append([r.label, r.parameters, r.train_seconds, *[r.metrics.get(k) for k in metric_keys], *[r.paper.get(k) for k in paper_keys]])
        data.append({"model": r.label, "run": r.name, "params": r.parameters, "train_seconds": r.train_seconds,
                     **{k: r.metrics.get(k) for k in metric_keys}, "paper": r.paper})
    rows.append([evaluation.GRAY, 0, None, *[gray.get(k) for k in metric_keys], *[None for _ in paper_keys]])
    data.append({"model": evaluation.GRAY, **{k: gray.get(k) for k in metric_keys}})
    if "colorfulness" in metric_keys and gray.get("colorfulness_true") is not None:
        truth = [gray["colorfulness_true"] if k == "colorfulness" else None for k in metric_keys]
        rows.append(["ground truth", None, None, *truth, *[None for _ in paper_keys]])
        data.append({"model": "ground truth", "colorfulness": gray["colorfulness_true"]})
    for label, values in cfg.paper_rows.items():
        rows.append([f"{label} (paper)", None, None, *[None for _ in metric_keys], *[values.get(k) for k in paper_keys]])
        data.append({"model": label, "quoted_from_paper": True, "paper": values})
    text = evaluation.markdown_table(columns, rows)
    if cfg.notes:
        text += "\n" + cfg.notes.strip() + "\n"
    return Section("Results on the test split", text, {"columns": columns, "rows": data})


def _default_figures(ctx: ExperimentContext) -> list[Section]:
    """Loss curves of every run and the same test images colorized by every run."""
    from colorization_tf.plots import experiments as plots

    sections = []
    histories = {r.label: r.history for r in ctx.runs.values() if r.history}
    if histories:
        path = plots.plot_histories(histories, ctx.figures_dir / "loss_curves.png", title=f"{ctx.config.title}: loss")
        sections.append(Section("Loss curves", f"![loss curves]({path.relative_to(ctx.results_dir)})\n"))
    if ctx.runs:
        path = plots.plot_model_grid(
            {ctx.runs[n].label: e.samples for n, e in ctx.evals.items() if n in ctx.runs},
            ctx.figures_dir / "colorizations.png",
            max_images=N_FIGURE_IMAGES,
            title=f"{ctx.config.title}: test images",
        )
        sections.append(Section("Colorizations", f"![test images colorized by every model]({path.relative_to(ctx.results_dir)})\n"))
    return sections


def render_markdown(cfg: ExperimentConfig, sections: list[Section], header: str) -> str:
    parts = [f"# {cfg.title}\n", header]
    for s in sections:
        parts.append(f"\n## {s.title}\n\n{s.markdown}")
    return "\n".join(parts)


def describe_splits(cfg: ExperimentConfig, splits: dict[str, list[str]], val_carved: bool) -> str:
    """One line per split for the data report; says where the validation images came from."""
    lines = [f"{k}: {len(v)}" for k, v in splits.items()]
    if val_carved:
        lines.append(
            f"val: protocol `{cfg.protocol}` has no validation split; {len(splits['val'])} images (~{VAL_FRACTION:.0%}) "
            "were held out of train by a hash of each file (stable when files are added). Validation "
            "curves and sample figures use them; the test split is used only for the final table."
        )
    return "\n".join(lines)


def run_experiment(cfg: ExperimentConfig) -> ExperimentResult:
    """Runs every configured run, the hooks, and writes the report (see the module docstring).

    Runs that need scene labels (Iizuka's head) on a flat folder are skipped with a note in the
    report (as are runs starting from a skipped one), unless the experiment requires labels
    (`cfg.labels`), which is an error.

    Args:
        cfg: the experiment.

    Returns:
        An `ExperimentResult`; files: `<results_dir>/results.md`, `results.json`, `config.json`,
        `data_report.txt`, `figures/`, `runs/<run>-<digest>/` (training work directories).
    """
    out = cfg.results_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # what a killed run left (every table under its own name is whole)
    root = cfg.data or default_data_root()
    data = resolve_splits(cfg, root)
    splits, labels, class_names, val_carved = data.splits, data.labels, data.class_names, data.val_carved
    if cfg.labels and labels is None:
        raise ValueError(f"{root}: {cfg.paper} needs one sub-folder per scene class (labels), found a flat folder")
    evaluation.write_text(out / DATA_REPORT, data.report + "\n")
    from colorization_tf.data.splits import write_splits

    write_splits(out / SPLITS_USED, splits, root)
    resolved = [_resolve(r, cfg) for r in cfg.runs]
    evaluation.write_json(out / CONFIG_JSON, {
        "experiment": dataclasses.replace(cfg, runs=[_jsonable_run(r) for r in cfg.runs]),
        "resolved_runs": [_jsonable_run(r) for r in resolved],
        "data": str(root),
        "environment": evaluation.environment_info(),
    })
    ctx = ExperimentContext(cfg, splits, labels, class_names, {}, {}, {}, out, str(root))

    for run in resolved:
        if needs_labels(run) and labels is None:
            ctx.skipped[run.name] = f"{run.model} trains a scene-classification head: it needs one sub-folder per class, `{root}` is flat"
        elif run.init_from in ctx.skipped:
            ctx.skipped[run.name] = f"it starts from `{run.init_from}`, which was skipped"
        if run.name in ctx.skipped:
            log.warning("%s: skipping %s: %s", cfg.paper, run.name, ctx.skipped[run.name])
            continue
        log.info("%s: training %s", cfg.paper, run.name)
        ctx.runs[run.name] = train_and_evaluate(run, cfg, ctx)
    trained = [r for r in resolved if r.name in ctx.runs]

    gray_size = trained[0].image_size if trained else QUICK_IMAGE_SIZE
    gray_ds = ctx.dataset("test", gray_size, "zhang")
    gray = evaluation.evaluate_gray(gray_ds, "zhang")
    ctx.evals[evaluation.GRAY] = gray

    from colorization_tf.protocol import protocol_data, protocol_table

    sections = [main_table(cfg, ctx.runs, gray.mean)] if trained else []
    sections.append(protocol_table(cfg, resolved, protocol_data(cfg, root, data)))
    if ctx.skipped:
        text = "\n".join(f"- `{name}`: {why}." for name, why in ctx.skipped.items()) + "\n"
        sections.append(Section("Skipped runs", text, dict(ctx.skipped)))
    for hook in cfg.hooks:
        produced = hook(ctx)
        if produced is None:
            continue
        sections.extend(produced if isinstance(produced, list) else [produced])
    sections.extend(_default_figures(ctx))
    exported = {n: r.export_path for n, r in ctx.runs.items() if r.export_path}
    if exported:
        text = "\n".join(f"- `{n}`: `{p}`" for n, p in exported.items()) + "\n"
        if cfg.quick:
            text += "\n" + QUICK_EXPORT_NOTE + "\n"
        sections.append(Section("Exported models", text, {"paths": exported, "keras_file": not cfg.quick}))

    val_note = " (val held out of train: the protocol has none)" if val_carved else ""
    header = (
        f"Data: `{root}`{' (embedded synthetic default)' if cfg.data is None else ''}; "
        + ("split from the folder's prepared `splits.json`: " if data.source == "prepared" else f"split protocol `{cfg.protocol}` (split seed {cfg.split_seed}): ")
        + ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + val_note
        + f"; training seed {cfg.seed}{'; **quick mode** (tiny sizes: not the paper-scale result)' if cfg.quick else ''}.\n"
    )
    md_path = evaluation.write_text(out / RESULTS_MD, render_markdown(cfg, sections, header))
    json_path = evaluation.write_json(
        out / RESULTS_JSON,
        {
            "paper": cfg.paper,
            "title": cfg.title,
            "quick": cfg.quick,
            "data": str(root),
            "splits": {k: len(v) for k, v in splits.items()},
            "split_source": data.source,
            "split_seed": None if data.source == "prepared" else cfg.split_seed,
            "validation_from_train": val_carved,
            "runs": ctx.runs,
            "skipped": ctx.skipped,
            "gray": gray.to_json(),
            "sections": [{"title": s.title, "data": s.data} for s in sections],
            "environment": evaluation.environment_info(),
        },
    )
    return ExperimentResult(cfg, ctx.runs, gray.mean, sections, out, md_path, json_path)


# --------------------------------------------------------------------------------------------
# Command line shared by every script in experiments/


def build_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every experiment script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", help="image folder in the paper's layout (default: the embedded synthetic scenes)")
    parser.add_argument("--protocol", help="split protocol of data.splits (default: the paper's)")
    parser.add_argument("--epochs", type=int, help="epochs of every run (default: the paper's)")
    parser.add_argument("--batch-size", type=int, help="batch size of every run (default: the paper's)")
    parser.add_argument("--image-size", type=int, help="square training size of every run (default: each model's paper size)")
    parser.add_argument("--quick", action="store_true", help=f"finish in minutes on a CPU: {QUICK_IMAGE_SIZE}px, {QUICK_MAX_IMAGES} images, {QUICK_EPOCHS} epoch")
    parser.add_argument("--max-images", type=int, help="use at most this many images")
    parser.add_argument("--seed", type=int, default=0, help="training seed: initialisation, data order, augmentation (same seed -> same numbers)")
    parser.add_argument("--split-seed", type=int, default=DEFAULT_SPLIT_SEED,
                        help=f"seed of the hash split when the data folder has no prepared splits.json (default {DEFAULT_SPLIT_SEED})")
    parser.add_argument("--out", "--output", "-o", dest="out", help="results folder (default results/<paper>)")
    parser.add_argument("--saved-models", default=SAVED_MODELS_DIR, help="export root (default saved_models)")
    parser.add_argument("--no-export", action="store_true", help="skip the SavedModel exports")
    parser.add_argument("--runs", help="comma-separated subset of run names to train")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random crops + flips of the training images (default: the paper's choice)")
    parser.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None, help="TF op determinism (default: on with --quick)")
    add_verbose_argument(parser, fit_verbosity=2)
    parser.add_argument("--cache", default="memory", metavar="PREFIX",
                        help="cache of the decoded images: 'memory' (default) or a file prefix, e.g. /scratch/cache/places, "
                             "for datasets larger than memory")
    return parser


def apply_args(cfg: ExperimentConfig, args: argparse.Namespace) -> ExperimentConfig:
    """The configuration with the command line's choices applied."""
    runs = cfg.runs
    if args.runs:
        wanted = [n.strip() for n in args.runs.split(",") if n.strip()]
        known = {r.name for r in cfg.runs}
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise SystemExit(f"unknown runs {unknown}; choose from {sorted(known)}")
        needed = set(wanted)
        for r in reversed(cfg.runs):  # keep the runs a wanted run starts from
            if r.name in needed and r.init_from:
                needed.add(r.init_from)
        runs = [r for r in cfg.runs if r.name in needed]
    return dataclasses.replace(
        cfg,
        runs=runs,
        data=args.data,
        protocol=args.protocol or cfg.protocol,
        quick=args.quick,
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=args.image_size,
        seed=args.seed,
        split_seed=args.split_seed,
        max_images=args.max_images,
        out_dir=args.out,
        saved_models_dir=args.saved_models,
        export=not args.no_export,
        deterministic=args.deterministic,
        verbose=args.verbose,
        cache=args.cache,
        augment=cfg.augment if getattr(args, "augment", None) is None else args.augment,
        overridden=tuple(key for key in ("epochs", "batch_size", "image_size", "augment", "protocol", "max_images")
                         if getattr(args, key, None) is not None),
    )


def script_description(make_config: Callable) -> str:
    """The `--help` description of a script: the first paragraph of its module docstring."""
    doc = (getattr(make_config, "__globals__", {}).get("__doc__") or "").strip()
    return doc.split("\n\n")[0].strip() if doc else "colorization experiment"


def main(make_config: Callable, argv=None, description: str | None = None, add_arguments: Callable | None = None) -> ExperimentResult:
    """Entry point of an experiment script: parse `argv`, run, print where the results went.

    Args:
        make_config: `args -> ExperimentConfig` (the parsed command line, e.g. to know `--quick`).
        argv: command-line arguments (default `sys.argv[1:]`).
        description: `--help` text (default: the first paragraph of the script's module docstring).
        add_arguments: `parser -> None`, the script's own arguments (read them in `make_config`).
    """
    parser = build_parser(description or script_description(make_config))
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    cfg = apply_args(make_config(args), args)
    from colorization_tf.training import ResumeError

    start = time.perf_counter()
    try:
        result = run_experiment(cfg)
    except ResumeError as err:  # a work directory this run cannot resume: the message says how to continue
        raise SystemExit(f"{cfg.paper}: error: {err}") from None
    except OSError as err:  # disk full, read-only results folder: one line; finished runs resume
        raise SystemExit(f"{cfg.paper}: error: cannot write {err.filename or cfg.results_dir}: {err.strerror or err} "
                         "(the work done so far is kept; run again to continue)") from None
    print(f"{cfg.title}: done in {time.perf_counter() - start:.0f} s")
    print(f"  report:  {result.markdown_path}")
    print(f"  data:    {result.json_path}")
    exports = [r.export_path for r in result.runs.values() if r.export_path]
    if exports:
        print(f"  models:  {', '.join(exports)}")
    if exports and cfg.quick:
        print(f"  note:    {QUICK_EXPORT_NOTE}")
    return result


__all__ = [
    "RunConfig",
    "ExperimentConfig",
    "Section",
    "RunResult",
    "ExperimentContext",
    "ExperimentResult",
    "default_data_root",
    "discover",
    "split",
    "build_split_dataset",
    "training_data",
    "carve_validation",
    "run_digest",
    "needs_labels",
    "script_description",
    "train_and_evaluate",
    "main_table",
    "run_experiment",
    "build_parser",
    "apply_args",
    "main",
]
