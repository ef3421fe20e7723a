"""The model contract: a colour `Head`, a model's `Preprocessor` and its `ModelSpec`.

Imports nothing from `colorization_tf.models`, so the model files, the decoders (`heads`) and the
registry (`colorization_tf.models.registry`) all depend on it and it on none of them. Each family's
file states its own specs (`SPECS`) beside its builder, pointing at its functions (the builder,
default losses and metrics, the paired discriminator); the registry collects them.

Reference:
    timm's `default_cfgs` and keras-hub's presets: a model's contract stated beside its builder,
    https://huggingface.co/docs/timm/models and https://keras.io/keras_hub/api/models/; keras-hub's
    `Preprocessor`: what turns inputs into a model's tensors and back, held by the model's preset.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from colorization_tf import color
from colorization_tf.quantize import ZHANG_BIN_WIDTH

REGRESSION = "regression"
CLASSIFICATION = "classification"
HEAD_KINDS = (REGRESSION, CLASSIFICATION)
"""Colour heads: encoded ab (output "ab") or ab-bin logits (output "logits")."""


def colorizer_of(model):
    """The network that colours: a `GANModel`'s generator, any other model itself."""
    return getattr(model, "generator", model)


@dataclasses.dataclass(frozen=True)
class Head:
    """A model's colour head and how its output becomes ab.

    Attributes:
        kind: `REGRESSION` (output "ab": encoded ab, decoded by the normalisation) or
            `CLASSIFICATION` (output "logits": ab-bin logits, decoded by the annealed mean).
        bin_width: the ab grid width of a classification head's bins (stored, never inferred from
            the bin count, which is ambiguous for wide grids); None for regression, or "whatever the
            model's `BinLogits` layer stores" for an ad-hoc classification spec.
        gamut: the bin set (`quantize.ab_bin_centers`).
    """

    kind: str = REGRESSION
    bin_width: float | None = None
    gamut: str = "zhang"

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"colorization_tf/models/spec.py: head must be one of {HEAD_KINDS}, not {self.kind!r}")
        if self.kind == REGRESSION and self.bin_width is not None:
            raise ValueError("colorization_tf/models/spec.py: a regression head has no bin_width")

    @property
    def output(self) -> str:
        """Name of the colour output: "ab" or "logits"."""
        return "logits" if self.kind == CLASSIFICATION else "ab"

    @property
    def classification(self) -> bool:
        return self.kind == CLASSIFICATION

    def with_bins(self, bin_width: float | None, gamut: str | None = None) -> "Head":
        """This head with another bin grid (a run's `bin_width`); None keeps the registered one."""
        if bin_width is None and gamut is None:
            return self
        return dataclasses.replace(self, bin_width=self.bin_width if bin_width is None else float(bin_width),
                                   gamut=gamut or self.gamut)

    def decoder(self):
        """The logits -> ab / 110 layer of a classification head (annealed mean, T = 0.38); None for regression."""
        if self.kind != CLASSIFICATION:
            return None
        from colorization_tf.quantize import AnnealedMeanDecode  # what `heads.default_decode` returns for a stated width

        return AnnealedMeanDecode(bin_width=float(self.bin_width if self.bin_width is not None else ZHANG_BIN_WIDTH), gamut=self.gamut)


REGRESSION_HEAD = Head()
ZHANG_BINS_HEAD = Head(CLASSIFICATION, float(ZHANG_BIN_WIDTH), "zhang")


@dataclasses.dataclass(frozen=True)
class Preprocessor:
    """How L and ab are encoded for a model and how its colour output becomes ab (keras-hub's `Preprocessor`).

    What the targets, evaluation, figures, export and the lightness prior need of a model, in one
    object: wherever those take a normalisation (name or `color.Normalization`) they take a
    `Preprocessor` too (`color.get_normalization` reads its `normalization`), and the decoders of
    `models.heads` take its head's decoder from it. `ModelSpec.preprocessor` gives a model's.

    Attributes:
        normalization: the `color.Normalization` of L inputs and ab outputs (a name is looked up).
        head: the colour `Head` (a classification head's bins, for `decoder`).
        size_multiple: height and width of any-size inputs are rounded to multiples of this (the
            network's total stride); None for fixed-size models.
    """

    normalization: color.Normalization
    head: Head = REGRESSION_HEAD
    size_multiple: int | None = 1

    def __post_init__(self):
        object.__setattr__(self, "normalization", color.get_normalization(self.normalization))
        if not isinstance(self.head, Head):
            raise TypeError(f"colorization_tf/models/spec.py: Preprocessor.head must be a `Head`, got {self.head!r}")

    def encode_l(self, l):
        """L in [0, 100] -> the model's input (`color.Normalization.encode_l`)."""
        return self.normalization.encode_l(l)

    def decode_l(self, l_encoded):
        """The model's input -> L in [0, 100]."""
        return self.normalization.decode_l(l_encoded)

    def encode_ab(self, ab):
        """ab in Lab units -> the regression target."""
        return self.normalization.encode_ab(ab)

    def decode_ab(self, ab_encoded):
        """A regression output (or target) -> ab in Lab units."""
        return self.normalization.decode_ab(ab_encoded)

    def decode_ab_ops(self, ab_encoded):
        """`decode_ab` in `keras.ops` (any Keras backend)."""
        return self.normalization.decode_ab_ops(ab_encoded)

    def encode_lab(self, lab):
        """Lab `[..., 3]` -> (encoded L `[..., 1]`, encoded ab `[..., 2]`): a model's input and target."""
        l, ab = color.split_lab(lab)
        return self.encode_l(l), self.encode_ab(ab)

    def decoder(self):
        """The head decoder: logits -> ab / 110 for a classification head (`Head.decoder`), None for regression."""
        return self.head.decoder()


def as_preprocessor(value) -> Preprocessor:
    """A `Preprocessor` as it is; a normalisation (name or `color.Normalization`) as a regression model's."""
    return value if isinstance(value, Preprocessor) else Preprocessor(value)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One named model of the suite: how to build it and the contract every other module relies on.

    Declared in the model's own file (its `SPECS`), beside the functions it points at.

    Attributes:
        name: registry key.
        builder: the function that builds the model (keyword arguments: `image_size` and `kwargs`);
            None for the contract of a model built elsewhere (to export it), which `build` refuses.
        normalization: key of `colorization_tf.color.NORMALIZATIONS` for its L input and ab output.
        image_size: the paper's training resolution (square).
        head: the colour head (`Head`): its kind, and a classification head's bins.
        kwargs: fixed builder arguments.
        paper: short citation.
        fixed_size: True when the model only accepts `image_size` inputs (dense layers over space).
        size_multiple: height and width of any-size inputs must be multiples of this (the
            network's total stride); the export's native-resolution mode rounds to it. None for
            fixed-size models.
        labels: name of the output trained on the scene labels (Iizuka's "scene"; the builder
            then takes `num_classes`), None when training needs no labels.
        losses: function returning ``(losses, loss_weights)`` for ``model.compile`` (keyword
            arguments are passed on, e.g. Iizuka's ``alpha``); None: by head, MSE or the
            soft-encoded cross-entropy over the head's bins.
        metrics: function returning the default training metrics, or None.
        discriminator: function building the GAN discriminator the model pairs with (Menon &
            Talukdar's PatchGAN for the ResNet U-Net), None when it has no GAN form.
        paper_params: the parameter count (`count_params` at `image_size`) the paper states, or
            its layer table gives (CS520); None where it gives none.
        paper_params_tolerance: how far off the stated count may be (its rounding).
    """

    name: str
    builder: Callable[..., Any] | None
    normalization: str
    image_size: int
    head: Head = REGRESSION_HEAD
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    paper: str = ""
    fixed_size: bool = False
    size_multiple: int | None = 1
    labels: str | None = None
    losses: Callable[..., Any] | None = None
    metrics: Callable[..., Any] | None = None
    discriminator: Callable[..., Any] | None = None
    paper_params: int | None = None
    paper_params_tolerance: int = 0

    def __post_init__(self):
        if not isinstance(self.head, Head):
            raise TypeError(f"ModelSpec {self.name!r}: head must be a `Head`, got {self.head!r}")
        for field in ("builder", "losses", "metrics", "discriminator"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"colorization_tf/models/spec.py: ModelSpec {self.name!r}: {field} must be a function "
                                f"(declare the spec beside it in the model's file), got {value!r}")
        if self.fixed_size and self.size_multiple is not None:
            object.__setattr__(self, "size_multiple", None)

    @property
    def module(self) -> str:
        """The builder's module: its name under `colorization_tf.models` (the family), else its full dotted path."""
        return "" if self.builder is None else self.builder.__module__.removeprefix("colorization_tf.models.")

    @property
    def preprocessor(self) -> Preprocessor:
        """The model's `Preprocessor`: its normalisation, head decoder and size multiple."""
        return Preprocessor(self.normalization, self.head, self.size_multiple)

    @property
    def needs_labels(self) -> bool:
        """Whether training needs scene labels (class folders)."""
        return self.labels is not None

    @property
    def outputs(self) -> tuple[str, ...]:
        """Output names: the colour output, then the extra ones."""
        return (self.head.output, *([self.labels] if self.labels else []))

    def build(self, **overrides):
        """Builds the model; `overrides` replace or extend `kwargs` (e.g. a smaller `image_size`)."""
        if self.builder is None:
            raise ValueError(f"colorization_tf/models/spec.py: ModelSpec {self.name!r} has no builder (a model built elsewhere)")
        return self.builder(**{"image_size": self.image_size, **self.kwargs, **overrides})

    def default_losses(self, **kwargs):
        """``(loss, loss_weights)`` to compile the model with (see `losses`)."""
        if self.losses:
            return self.losses(**kwargs)
        if self.head.classification:
            from colorization_tf.losses import SoftEncodedCrossEntropy

            return SoftEncodedCrossEntropy(bin_width=self.head.bin_width, gamut=self.head.gamut, **kwargs), None
        return "mse", None

    def default_metrics(self):
        """The default training metrics (see `metrics`), or None."""
        return self.metrics() if self.metrics else None

    def build_discriminator(self, **kwargs):
        """Builds the GAN discriminator this model pairs with (ValueError when it has none)."""
        if not self.discriminator:
            raise ValueError(f"model {self.name!r} has no GAN discriminator pairing (`ModelSpec.discriminator`)")
        return self.discriminator(**kwargs)

    def replace(self, **changes) -> "ModelSpec":
        """A copy with `changes` (e.g. a run's image size and normalisation, for its export)."""
        return dataclasses.replace(self, **changes)
