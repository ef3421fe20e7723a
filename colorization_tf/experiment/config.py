"""The configuration tree of an experiment: `ExperimentConfig(data, report, train, runs)`, `RunConfig(name, model, train, ...)`.

One tree, no copies: the training settings of a run are a `training.TrainConfig` (`RunConfig.train`:
loss, optimiser, learning rate, ...; epochs, batch size and seed None where the experiment decides),
the experiment-wide ones another (`ExperimentConfig.train`: the paper's epochs and batch size, the
seed, precision, XLA, determinism, figures, verbosity). The data and split are a `DataConfig`, the
tables and notes a `ReportConfig`. The resolve step (`resolve`) merges them into the `TrainConfig`
each run trains with.

Both classes also take the flat keywords of the earlier flat configuration (`ALIASES`:
``RunConfig("r", "m", loss="l1", learning_rate=1e-4)`` sets ``train.loss`` and
``train.learning_rate``; ``ExperimentConfig(..., protocol="ziegler", default_epochs=50)`` sets
``data.protocol`` and ``train.epochs``), and `--set` accepts the same old keys (`overrides`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from colorization_tf.experiment.results import RESULTS_DIR, SAVED_MODELS_DIR
from colorization_tf.training.config import TrainConfig

QUICK_IMAGE_SIZE = 32
QUICK_MAX_IMAGES = 64
QUICK_EPOCHS = 1
QUICK_BATCH_SIZE = 8
"""`--quick`: tiny images, few of them, one epoch: minutes on a 2-core CPU (see `resolve.resolve_run`)."""

QUICK_SAMPLE_EVERY = 1
"""`--quick` draws the sample-colorization figure after every epoch (see `resolve.resolve_experiment`)."""

POLY_ACCURACY = "polychromify_accuracy"
CS520_ACCURACY = "cs520_accuracy"
"""Keys of the papers' own metrics in `metrics.evaluate_colorization`'s result."""

DEFAULT_METRIC_COLUMNS = ("psnr", "ssim", "colorfulness", "ab_l1", "ab_l2")
"""Metrics every table shows (keys of `metrics.evaluate_colorization`)."""

PRECISION_CHOICES = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
"""`--precision`: a Keras dtype policy, or "auto" (the device's: `distribute.auto_precision`)."""

XLA_CHOICES = ("auto", "on", "off")
"""`--xla`: compile the training step with XLA, or "auto" (on a single GPU: `distribute.auto_jit_compile`)."""

XLA_JIT_COMPILE = {"auto": "auto", "on": True, "off": False}
"""`--xla` (and the old `xla` key) as `TrainConfig.jit_compile`."""

DEFAULT_SPLIT_SEED = 42
"""Seed of the hash split when the data folder ships no `splits.json` (PolyChromify's
`random_state`, and `datasets/prepare.py`'s default). Independent of the training seed `--seed`."""

RUN_TRAIN_KEYS = ("loss", "loss_weights", "metrics", "optimizer", "optimizer_kwargs", "learning_rate", "epochs", "batch_size", "seed")
"""The `TrainConfig` fields a run sets itself (`RunConfig.train`); every other one is the experiment's
(`ExperimentConfig.train`). A run's epochs, batch size and seed may be None: the experiment's."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Base of the typed option groups of a run: every field None (or empty) means "not set"."""

    def as_dict(self) -> dict:
        """The fields that are set (not None, not empty), as given: the keyword arguments they stand for.

        Also what names them in a run's digest and JSON, so a run configured with a dict before the
        groups were typed keeps its work directory.
        """
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if getattr(self, f.name) not in (None, {}, ())}

    @classmethod
    def coerce(cls, value, owner: str):
        """`value` as this class: an instance passes, a dict is converted (its keys must be fields).

        Raises:
            ValueError: an unknown key or a value of another type, naming `owner` (the run).
        """
        if value is None or isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {f.name for f in dataclasses.fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ValueError(f"{owner}: unknown {cls.__name__} keys {unknown}; choose from {sorted(known)}")
            return cls(**value)
        raise ValueError(f"{owner}: expected a {cls.__name__} (or a dict of its fields), not {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class GanSettings(Settings):
    """A pix2pix GAN: the run's model becomes the generator of `training.GANModel` beside a PatchGAN.

    Attributes:
        l1_weight: weight of the L1 term (None: `GANModel`'s default, pix2pix's 100).
        gan_weight: weight of the adversarial term (None: `GANModel`'s default, 1).
        discriminator_kwargs: arguments of the model's paired discriminator (`ModelSpec.build_discriminator`;
            the U-Net's PatchGAN) besides the image size.

    Reference:
        Isola et al. (2017), pix2pix; Menon & Talukdar (2021) fine-tune their generator with it.
    """

    l1_weight: float | None = None
    gan_weight: float | None = None
    discriminator_kwargs: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class OptimizerSettings(Settings):
    """The optimiser's arguments besides its name and learning rate (`RunConfig.train.optimizer_kwargs`).

    Attributes:
        betas: Adam-family (beta_1, beta_2); None: Keras' default (a GAN: pix2pix's (0.5, 0.999)).
        weight_decay: decoupled weight decay (AdamW) or Keras' weight decay.
        momentum: SGD / RMSprop momentum.
        epsilon: the optimiser's epsilon.
    """

    betas: tuple[float, float] | None = None
    weight_decay: float | None = None
    momentum: float | None = None
    epsilon: float | None = None


@dataclasses.dataclass(frozen=True)
class RunOverrides(Settings):
    """Values that replace a run's own (None: leaves it): in `--quick` mode (`QUICK_RUN`, then
    `RunConfig.quick_overrides`) and from the command line (`ExperimentConfig.run_overrides`).

    Attributes:
        image_size: the run's image size.
        epochs, batch_size, learning_rate: its `train` values.
    """

    image_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None


QuickSettings = RunOverrides
"""The name `RunOverrides` had when it only served `--quick`."""

QUICK_RUN = RunOverrides(image_size=QUICK_IMAGE_SIZE, epochs=QUICK_EPOCHS, batch_size=QUICK_BATCH_SIZE)
"""What `--quick` sets on every run before the run's own `RunConfig.quick_overrides`."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """The experiment's images and how they are split and fed.

    Attributes:
        root: image folder in the paper's layout, or None for the embedded synthetic default.
        protocol: split protocol of `data.splits.split_files`.
        split_seed: seed of the hash split, used only when the folder has no prepared `splits.json`
            (which is then used as it is).
        max_images: use at most this many images (after scanning; None: all, `--quick`: 64).
        labels: the models need scene labels (a sub-folder per class): an error without them.
        cache: where decoded images are cached: "memory" or a file prefix
            (`data.pipeline.cache_filename`) for datasets larger than memory.
        augment: the paper's training augmentation: random crops + flips (Zhang et al., Iizuka
            et al.) or none (PolyChromify, Lee et al., CS520); runs may override it.
        resize_method: how every image is resized to the training size (`data.pipeline`'s
            `resize_method`): "auto" (area when shrinking, else bilinear), or a `tf.image.resize`
            method such as "nearest" (PolyChromify's Keras loader).
        hold_out_val: a split without a validation side gets ~10% of its training side held out
            (`data.splits.carve_validation`); False trains on the whole training side with no
            validation (papers that select nothing on validation).
    """

    root: str | None = None
    protocol: str = "default"
    split_seed: int = DEFAULT_SPLIT_SEED
    max_images: int | None = None
    labels: bool = False
    cache: str = "memory"
    augment: bool = True
    resize_method: str = "auto"
    hold_out_val: bool = True


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """What the report shows besides the runs' own results.

    Attributes:
        metric_columns: metric keys in the main table.
        paper_metric: the paper's own metric key, shown beside the paper's number.
        paper_metric_label: its column label.
        paper_rows: rows quoted from the paper for the main table (label -> metric -> value).
        notes: Markdown paragraphs added under the main table (e.g. what a metric means).
        hooks: `ctx -> list[Section] | Section | None`, run after every model is trained.
        paper_protocol: the paper's values of the `protocol.SETTINGS`, each a `protocol.Paper`: a
            literal transcribed from the paper (or the authors' code where it is silent) with its
            source, never computed from the suite's objects; and "split_protocol", the
            `data.splits` protocol that reproduces its split.
        protocol_notes: setting -> why this suite differs from the paper there (the "Protocol"
            table shows it beside every mismatch).
    """

    metric_columns: Sequence[str] = DEFAULT_METRIC_COLUMNS
    paper_metric: str | None = None
    paper_metric_label: str = ""
    paper_rows: dict = dataclasses.field(default_factory=dict)
    notes: str = ""
    hooks: list[Callable] = dataclasses.field(default_factory=list)
    paper_protocol: dict = dataclasses.field(default_factory=dict)
    protocol_notes: dict = dataclasses.field(default_factory=dict)


def run_train(**values) -> TrainConfig:
    """A run's `TrainConfig`: epochs, batch size and seed None (the experiment's) unless given."""
    return TrainConfig(**{"epochs": None, "batch_size": None, "seed": None, **values})


def experiment_train(**values) -> TrainConfig:
    """An experiment's `TrainConfig`: the paper's 25 epochs at batch 32 unless given, a sample figure
    every 10 epochs, `fit` verbosity 2, determinism None (`--quick` decides: `resolve.resolve_experiment`)."""
    return TrainConfig(**{"epochs": 25, "batch_size": 32, "sample_every": 10, "verbose": 2, "deterministic": None, **values})


def xla_jit_compile(value) -> Any:
    """An `--xla` choice ("auto", "on", "off") as `TrainConfig.jit_compile` ("auto", True, False).

    Raises:
        ValueError: another value, naming the choices.
    """
    if isinstance(value, str) and value in XLA_JIT_COMPILE:
        return XLA_JIT_COMPILE[value]
    if value in ("auto", True, False):
        return value
    raise ValueError(f"xla {value!r}: choose one of {', '.join(XLA_CHOICES)}")


def flat_keywords(cls):
    """Class decorator: `cls` also takes the keys of its `ALIASES` as keywords, each put at its path
    in the tree (a whole-field rename, or a field of a group: "train.loss"). A keyword that is a
    field of its own passes as it is when its value is of the field's group type (or None)."""
    init = cls.__init__

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        moved = {key: kwargs.pop(key) for key in list(kwargs)
                 if key in cls.ALIASES and not (key in cls.GROUPS and isinstance(kwargs[key], (cls.GROUPS[key], type(None))))}
        for key, value in moved.items():
            group, _, field = cls.ALIASES[key].partition(".")
            if not field:
                kwargs[group] = value
                continue
            current = kwargs.get(group)
            if current is None:  # the group's default (a positional one is not moved: none are passed so)
                current = cls.__dataclass_fields__[group].default_factory()
            kwargs[group] = dataclasses.replace(current, **{field: cls.ALIAS_VALUES.get(key, lambda v: v)(value)})
        init(self, *args, **kwargs)

    cls.__init__ = __init__
    return cls


@flat_keywords
@dataclasses.dataclass
class RunConfig:
    """One trained model of an experiment.

    Attributes:
        name: run name (work directory, table row, export folder `<paper>_<name>`).
        model: registry name (`colorization_tf.models.MODELS`).
        train: how it trains, a `training.TrainConfig` of which the run sets `RUN_TRAIN_KEYS`: loss
            (`losses.get_loss` name, else Keras; an object; or dict output -> loss), loss_weights
            (Iizuka's alpha), metrics (training metrics), optimizer, learning_rate, optimizer_kwargs
            (an `OptimizerSettings`; a dict of its fields is converted), and epochs, batch_size,
            seed (None: the experiment's). The other fields are the experiment's.
        model_kwargs: builder arguments on top of the registry's.
        image_size: None -> the registry's.
        normalization: None -> the model's registry normalisation.
        init_from: name of an earlier run of the same experiment whose trained weights initialise
            this one (fine-tuning; the GAN's generator pretrained with L1).
        gan: None, or a `GanSettings` (a dict of its fields is converted): the model becomes
            `training.GANModel(generator, discriminator)`, the discriminator the model's spec pairs it
            with (`ModelSpec.discriminator`: the PatchGAN for the U-Net).
        class_weights: for the weighted cross-entropy (loss "wce" or "wce_hard"): "zhang" (rebalancing,
            lambda = 0.5) or "ziegler" (from a normal distribution fitted to the prior), computed
            from the training split's ab prior.
        stop_after: train in two invocations, first to this epoch, then resume to the epochs
            from the checkpoint (the killed-and-resumed run of Lee et al.).
        classes: train and test on these scene classes only (CS520's CNN per scene).
        label: row label in the tables (default: `name`).
        paper_scores: the paper's numbers for this row, metric key -> value.
        quick_overrides: the run's values in `--quick` mode on top of `QUICK_RUN`, a `RunOverrides`
            (a dict of its fields is converted), e.g. ``RunOverrides(epochs=2)``.
        export: export a SavedModel after training.
        bin_width: ab grid width of a classification head (None: Zhang's 10, i.e. 313 bins). The
            model's bin count, the (weighted) cross-entropy and the prior its weights come from
            all use it (Ziegler used wider bins to save memory).
        augment: random crops (0.875 of each side) + horizontal flips of the training images;
            None: the experiment's (`DataConfig.augment`).
        max_train, max_val: train / validate on a deterministic subset of at most this many of
            the split's images (PolyChromify's model selection: 800 / 200); None: all.
        select_best: evaluate and export the weights of the epoch with the lowest value of this
            validation log key (e.g. "val_ab_l1", "val_loss"; `selection.BestWeights`) instead of the
            last epoch's; None: the last epoch's.
        paper_protocol, protocol_notes: this run's paper values and explanations on top of the
            experiment's (`ReportConfig`).
        test_upsampling: how evaluation and export bring the model's "ab" output to the input's
            size (`output_upsampling.TEST_UPSAMPLING`): None, the model's own layer (bilinear for Iizuka et al.'s);
            "nearest" (Lee et al.'s code, at test time only) replaces it after training.
    """

    name: str
    model: str
    train: TrainConfig = dataclasses.field(default_factory=run_train)
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    image_size: int | None = None
    normalization: str | None = None
    init_from: str | None = None
    gan: GanSettings | None = None
    class_weights: str = "zhang"
    stop_after: int | None = None
    classes: list[str] | None = None
    label: str = ""
    paper_scores: dict = dataclasses.field(default_factory=dict)
    quick_overrides: RunOverrides = dataclasses.field(default_factory=RunOverrides)
    export: bool = True
    bin_width: float | None = None
    augment: bool | None = None
    max_train: int | None = None
    max_val: int | None = None
    select_best: str | None = None
    paper_protocol: dict = dataclasses.field(default_factory=dict)
    protocol_notes: dict = dataclasses.field(default_factory=dict)
    test_upsampling: str | None = None

    ALIASES = {**{key: f"train.{key}" for key in RUN_TRAIN_KEYS}, "quick": "quick_overrides", "paper": "paper_scores"}
    """Keys of the flat configuration (keywords, `--set runs.NAME.KEY`) -> their path in the tree."""
    GROUPS = {}
    ALIAS_VALUES = {}

    def __post_init__(self):
        owner = f"run {self.name!r}"
        if not isinstance(self.train, TrainConfig):
            raise ValueError(f"{owner}: train must be a training.TrainConfig, not {type(self.train).__name__}")
        self.train = dataclasses.replace(self.train, optimizer_kwargs=OptimizerSettings.coerce(self.train.optimizer_kwargs or {}, owner))
        self.gan = GanSettings.coerce(self.gan, owner)
        self.quick_overrides = RunOverrides.coerce(self.quick_overrides or {}, owner)


@flat_keywords
@dataclasses.dataclass
class ExperimentConfig:
    """One paper's study.

    Attributes:
        paper: short name; results go to `results/<paper>/`, exports to `saved_models/<paper>_<run>/`.
        title: heading of the report.
        runs: the models to train, in order (a run may start from an earlier one: `init_from`).
        data: the images, their split and pipeline (`DataConfig`).
        report: the tables, notes, hooks and the paper's protocol (`ReportConfig`).
        train: the experiment-wide `training.TrainConfig`: every setting a run does not set itself
            (precision, jit_compile, deterministic, sample_every, verbose, ...) and the paper's
            epochs, batch size and seed where a run leaves them None. `deterministic` None: on in
            quick mode unless jit_compile is True (Keras compiles without XLA under determinism);
            precision "auto": the device's (`training.select_hardware`). Its loss, optimiser,
            learning rate and metrics are not used: every run has its own.
        run_overrides: epochs, batch size, image size for every run, over the runs' own and
            `--quick`'s (`--epochs`, `--batch-size`, `--image-size`).
        quick: shrink everything (`QUICK_RUN`, `resolve.resolve_experiment`).
        export: export SavedModels (runs may opt out individually).
        out_dir: results folder (default `results/<paper>`).
        saved_models_dir: export root.
        overridden: settings given on the command line (`command.apply_args`, `overrides`), by their
            flat names (`overrides.FLAGGED_FIELDS`), named in the "Protocol" table.
    """

    paper: str
    title: str
    runs: list[RunConfig]
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    report: ReportConfig = dataclasses.field(default_factory=ReportConfig)
    train: TrainConfig = dataclasses.field(default_factory=experiment_train)
    run_overrides: RunOverrides = dataclasses.field(default_factory=RunOverrides)
    quick: bool = False
    export: bool = True
    out_dir: str | None = None
    saved_models_dir: str = SAVED_MODELS_DIR
    overridden: tuple = ()

    ALIASES = {
        "data": "data.root", **{key: f"data.{key}" for key in ("protocol", "split_seed", "max_images", "labels", "cache", "augment",
                                                                      "resize_method", "hold_out_val")},
        **{key: f"report.{key}" for key in ("metric_columns", "paper_metric", "paper_metric_label", "paper_rows", "notes", "hooks",
                                            "paper_protocol", "protocol_notes")},
        "default_epochs": "train.epochs", "default_batch_size": "train.batch_size", "xla": "train.jit_compile",
        **{key: f"train.{key}" for key in ("seed", "sample_every", "deterministic", "precision", "verbose")},
        **{key: f"run_overrides.{key}" for key in ("epochs", "batch_size", "image_size")},
    }
    """Keys of the flat configuration (keywords, `--set KEY`) -> their path in the tree."""
    GROUPS = {"data": DataConfig}
    """A keyword that is both a field and an old key: its value of this type is the field itself."""
    ALIAS_VALUES = {"xla": xla_jit_compile}
    """Old keys whose values are spelt differently in the tree."""

    def __post_init__(self):
        self.run_overrides = RunOverrides.coerce(self.run_overrides or {}, f"experiment {self.paper!r}")
        check_hardware_choices(self.train.precision, self.train.jit_compile, self.train.deterministic)

    @property
    def results_dir(self) -> Path:
        return Path(self.out_dir or os.path.join(RESULTS_DIR, self.paper))


def check_hardware_choices(precision: str, jit_compile, deterministic: bool | None) -> None:
    """Raises a ValueError naming the problem: an unknown precision or XLA choice, or XLA asked for
    with TF op determinism (Keras would silently compile without XLA)."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISION_CHOICES)}")
    if jit_compile not in ("auto", True, False) or isinstance(jit_compile, int) and not isinstance(jit_compile, bool):
        raise ValueError(f"xla {jit_compile!r}: choose one of {', '.join(XLA_CHOICES)}")
    if jit_compile is True and deterministic:
        raise ValueError("xla 'on' with deterministic: Keras compiles without XLA under TF op determinism; "
                         "drop --deterministic (quick mode then runs without it) or use --xla auto/off")
