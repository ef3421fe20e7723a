"""Typed configuration of an experiment: what to train (`RunConfig`) and the study (`ExperimentConfig`).

A paper's script builds one `ExperimentConfig` holding its `RunConfig`s; the GAN, optimiser and
quick-mode options of a run are typed groups (`GanSettings`, `OptimizerSettings`, `QuickSettings`).
Defaults are filled in one place, the resolve step: `resolve_experiment` for what `--quick` decides
experiment-wide (image limit, determinism, sample figures), `_resolve` for every setting of a run
(its own field, the paper's and the registry's defaults, `--quick`, the command line; its docstring
gives the order). The command line reaches every field through `--set` (`overrides`).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from colorization_tf import evaluation
from colorization_tf.models import get_spec

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
"""`--quick`: tiny images, few of them, one epoch: minutes on a 2-core CPU (see `resolve_run`)."""

QUICK_SAMPLE_EVERY = 1
"""`--quick` draws the sample-colorization figure after every epoch (see `resolve_experiment`)."""

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
"""`ExperimentConfig.xla` as `TrainConfig.jit_compile`."""

DEFAULT_SPLIT_SEED = 42
"""Seed of the hash split when the data folder ships no `splits.json` (PolyChromify's
`random_state`, and `datasets/prepare.py`'s default). Independent of the training seed `--seed`."""


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
    """The optimiser's arguments besides its name and learning rate (`training.make_optimizer`).

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
class QuickSettings(Settings):
    """What `--quick` sets on a run (None: leaves it as the run has it).

    Attributes:
        image_size, epochs, batch_size, learning_rate: the run's values in quick mode.
    """

    image_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None


QUICK_RUN = QuickSettings(image_size=QUICK_IMAGE_SIZE, epochs=QUICK_EPOCHS, batch_size=QUICK_BATCH_SIZE)
"""What `--quick` sets on every run before the run's own `RunConfig.quick`."""


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
        optimizer, learning_rate: the optimiser (`training.make_optimizer`).
        optimizer_kwargs: its other arguments, an `OptimizerSettings` (a dict of its fields is converted).
        epochs, batch_size, image_size: None -> the experiment's (then the paper's/registry's).
        normalization: None -> the model's registry normalisation.
        seed: None -> the experiment's seed.
        init_from: name of an earlier run of the same experiment whose trained weights initialise
            this one (fine-tuning; the GAN's generator pretrained with L1).
        class_weights: for the weighted cross-entropy (loss "wce" or "wce_hard"): "zhang" (rebalancing,
            lambda = 0.5) or "ziegler" (from a normal distribution fitted to the prior), computed
            from the training split's ab prior.
        gan: None, or a `GanSettings` (a dict of its fields is converted): the model becomes
            `training.GANModel(generator, discriminator)`, the discriminator the model's spec pairs it
            with (`ModelSpec.discriminator`: the PatchGAN for the U-Net).
        stop_after: train in two invocations, first to this epoch, then resume to `epochs`
            from the checkpoint (the killed-and-resumed run of Lee et al.).
        classes: train and test on these scene classes only (CS520's CNN per scene).
        label: row label in the tables (default: `name`).
        paper: the paper's numbers for this row, metric key -> value.
        quick: the run's values in `--quick` mode on top of `QUICK_RUN`, a `QuickSettings` (a dict of
            its fields is converted), e.g. ``QuickSettings(epochs=2)``.
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
        test_upsampling: how evaluation and export bring the model's "ab" output to the input's
            size (`output_upsampling.TEST_UPSAMPLING`): None, the model's own layer (bilinear for Iizuka et al.'s);
            "nearest" (Lee et al.'s code, at test time only) replaces it after training.
    """

    name: str
    model: str
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    loss: Any = "mse"
    loss_weights: Any = None
    metrics: Any = None
    optimizer: str = "adam"
    optimizer_kwargs: OptimizerSettings = dataclasses.field(default_factory=OptimizerSettings)
    learning_rate: float = 1e-3
    epochs: int | None = None
    batch_size: int | None = None
    image_size: int | None = None
    normalization: str | None = None
    seed: int | None = None
    init_from: str | None = None
    gan: GanSettings | None = None
    class_weights: str = "zhang"
    stop_after: int | None = None
    classes: list[str] | None = None
    label: str = ""
    paper: dict = dataclasses.field(default_factory=dict)
    quick: QuickSettings = dataclasses.field(default_factory=QuickSettings)
    export: bool = True
    bin_width: float | None = None
    augment: bool | None = None
    max_train: int | None = None
    max_val: int | None = None
    select_best: str | None = None
    paper_protocol: dict = dataclasses.field(default_factory=dict)
    protocol_notes: dict = dataclasses.field(default_factory=dict)
    test_upsampling: str | None = None

    def __post_init__(self):
        owner = f"run {self.name!r}"
        self.optimizer_kwargs = OptimizerSettings.coerce(self.optimizer_kwargs or {}, owner)
        self.gan = GanSettings.coerce(self.gan, owner)
        self.quick = QuickSettings.coerce(self.quick or {}, owner)


@dataclasses.dataclass
class ExperimentConfig:
    """One paper's study.

    Attributes:
        paper: short name; results go to `results/<paper>/`, exports to `saved_models/<paper>_<run>/`.
        title: heading of the report.
        runs: the models to train, in order (a run may start from an earlier one: `init_from`).
        data: image folder in the paper's layout, or None for the embedded synthetic default.
        protocol: split protocol of `data.splits.split_files`.
        quick: shrink everything (`QUICK_RUN`, `resolve_experiment`).
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
        deterministic: TF op determinism (None: on in quick mode unless `xla` is "on"; Keras
            compiles without XLA under determinism, so the two cannot both be asked for).
        precision: the Keras dtype policy training runs under (`PRECISION_CHOICES`; "auto": the
            device's, `training.select_hardware`).
        xla: XLA compilation of the training step (`XLA_CHOICES`; "auto": on a single GPU unless
            determinism is on). The report states what Keras ran (`training.Hardware.in_effect`).
        export: export SavedModels (runs may opt out individually).
        verbose: Keras `fit` verbosity.
        default_epochs, default_batch_size: the paper's values when no override is given.
        cache: where decoded training/evaluation images are cached: "memory" (default) or a file
            prefix (`data.pipeline.cache_filename`) for datasets larger than memory.
        augment: the paper's training augmentation: random crops + flips (Zhang et al., Iizuka
            et al.) or none (PolyChromify, Lee et al., CS520); runs may override it.
        paper_protocol: the paper's values of the `protocol.SETTINGS`, each a `protocol.Paper`: a
            literal transcribed from the paper (or the authors' code where it is silent) with its
            source (dataset = its image count, split = its description, loss in
            `protocol.describe_loss`'s vocabulary, ...; absent = not stated), never computed from
            the suite's objects; and "split_protocol", the `data.splits` protocol that reproduces its split.
        protocol_notes: setting -> why this suite differs from the paper there (the "Protocol"
            table shows it beside every mismatch).
        resize_method: how every image is resized to the training size (`data.pipeline`'s
            `resize_method`): "auto" (area when shrinking, else bilinear), or a `tf.image.resize`
            method such as "nearest" (PolyChromify's Keras loader).
        hold_out_val: a split without a validation side gets ~10% of its training side held out
            (`data.splits.carve_validation`); False trains on the whole training side with no
            validation (papers that select nothing on validation).
        overridden: settings given on the command line (`command.apply_args`, `overrides`), named in the
            "Protocol" table.
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
    precision: str = "auto"
    xla: str = "auto"
    resize_method: str = "auto"
    hold_out_val: bool = True

    def __post_init__(self):
        check_hardware_choices(self.precision, self.xla, self.deterministic)

    @property
    def results_dir(self) -> Path:
        return Path(self.out_dir or os.path.join(RESULTS_DIR, self.paper))


def check_hardware_choices(precision: str, xla: str, deterministic: bool | None) -> None:
    """Raises a ValueError naming the problem: an unknown precision or XLA choice, or XLA asked for
    with TF op determinism (Keras would silently compile without XLA)."""
    if precision not in PRECISION_CHOICES:
        raise ValueError(f"precision {precision!r}: choose one of {', '.join(PRECISION_CHOICES)}")
    if xla not in XLA_CHOICES:
        raise ValueError(f"xla {xla!r}: choose one of {', '.join(XLA_CHOICES)}")
    if xla == "on" and deterministic:
        raise ValueError("xla 'on' with deterministic: Keras compiles without XLA under TF op determinism; "
                         "drop --deterministic (quick mode then runs without it) or use --xla auto/off")


def resolve_experiment(cfg: ExperimentConfig) -> ExperimentConfig:
    """The experiment-wide settings `--quick` decides when they are not given.

    In quick mode: at most `QUICK_MAX_IMAGES` images (unless `max_images` is given), TF op
    determinism (unless `deterministic` is given, or `xla` is "on": Keras cannot compile with XLA
    under determinism) and a sample figure after every epoch. Out of it, `deterministic` None
    means off. Idempotent.

    Args:
        cfg: the experiment as configured (after the command line, `command.apply_args`).

    Returns:
        A copy with `max_images`, `deterministic` and `sample_every` filled in.
    """
    if not cfg.quick:
        return dataclasses.replace(cfg, deterministic=bool(cfg.deterministic))
    return dataclasses.replace(
        cfg,
        max_images=QUICK_MAX_IMAGES if cfg.max_images is None else cfg.max_images,
        deterministic=(cfg.xla != "on") if cfg.deterministic is None else cfg.deterministic,
        sample_every=QUICK_SAMPLE_EVERY,
    )


def _resolve(run: RunConfig, cfg: ExperimentConfig) -> RunConfig:
    """A run's effective settings: the one step that fills every default of a run.

    Each setting is taken from the first of these that gives it (later ones win):

    1. the run's own field; where it is None: the experiment's paper default (`default_epochs`,
       `default_batch_size`, `augment`, `seed`) or the model registry's (`image_size`,
       `normalization`);
    2. in `--quick` mode: `QUICK_RUN` (32 px, 1 epoch, batch 8), then the run's own `quick`;
    3. the experiment-wide `epochs`, `batch_size`, `image_size` (`--epochs`, ... on the command line).

    `stop_after` is then kept inside the epochs (None when there is only one).

    Args:
        run: the run as configured.
        cfg: its experiment.

    Returns:
        A new `RunConfig` with every setting filled in (Keras loss objects kept as they are).

    Raises:
        ValueError: `bin_width` on a model without a classification head.
    """
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
        values.update(QUICK_RUN.as_dict())
        values.update(run.quick.as_dict())
    for key in ("epochs", "batch_size", "image_size"):
        if getattr(cfg, key) is not None:
            values[key] = getattr(cfg, key)
    if values["stop_after"] is not None:
        values["stop_after"] = max(1, min(values["stop_after"], values["epochs"] - 1)) if values["epochs"] > 1 else None
    if values["bin_width"] is not None and not spec.head.classification:
        raise ValueError(f"run {run.name!r}: bin_width applies to classification heads only, not {run.model}")
    return RunConfig(**values)


def _fresh(spec):
    """Keras loss/metric objects serialised, so every compile deserialises its own fresh instance;
    typed option groups (`Settings`) as the dict of the fields they set."""
    import keras

    if isinstance(spec, Settings):
        return _fresh(spec.as_dict())
    if isinstance(spec, dict):
        return {k: _fresh(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [_fresh(v) for v in spec]
    if spec is None or isinstance(spec, (str, int, float, bool)):
        return spec
    return keras.saving.serialize_keras_object(spec)


def _jsonable_run(run: RunConfig) -> dict:
    """A run as JSON, its Keras loss/metric objects serialised (not their repr with an address)."""
    fields = {f.name: getattr(run, f.name) for f in dataclasses.fields(run)}
    return evaluation.to_jsonable({**fields, **{key: _fresh(fields[key]) for key in SERIALISED_FIELDS}})


SERIALISED_FIELDS = ("loss", "metrics", "optimizer_kwargs", "gan", "quick")
"""`RunConfig` fields `_jsonable_run` writes through `_fresh` (Keras objects, typed option groups)."""
