"""The model contract: a colour `Head` and a `ModelSpec`, what every other module knows of a model.

Imports nothing from `colorization_tf.models`, so the model files, the decoders (`heads`) and the
registry (`colorization_tf.models.MODELS`) all depend on it and it on none of them. A spec names
its builder as a module and a function (`ModelSpec.build` imports it when asked).

Reference:
    timm's `default_cfgs` and keras-hub's presets: a model's contract stated beside its builder,
    https://huggingface.co/docs/timm/models and https://keras.io/keras_hub/api/models/
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from colorization_tf.quantize import ZHANG_BIN_WIDTH

REGRESSION = "regression"
CLASSIFICATION = "classification"
HEAD_KINDS = (REGRESSION, CLASSIFICATION)
"""Colour heads: encoded ab (output "ab") or ab-bin logits (output "logits")."""


def _resolve(reference: str):
    """The object a ``"module:attribute"`` reference names (a bare module is under `colorization_tf.models`)."""
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module if "." in module else f"colorization_tf.models.{module}"), attribute)


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
class ModelSpec:
    """One named model of the suite: how to build it and the contract every other module relies on.

    Attributes:
        name: registry key.
        module: module holding the builder: a name under `colorization_tf.models`, or a full
            dotted path (a model defined elsewhere).
        builder: builder function name.
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
        losses: ``"module:function"`` returning ``(losses, loss_weights)`` for ``model.compile``
            (keyword arguments are passed on, e.g. Iizuka's ``alpha``); None: by head, MSE or the
            soft-encoded cross-entropy over the head's bins.
        metrics: ``"module:function"`` returning the default training metrics, or None.
        discriminator: ``"module:function"`` building the GAN discriminator the model pairs with
            (Menon & Talukdar's PatchGAN for the ResNet U-Net), None when it has no GAN form.
        paper_params: the parameter count (`count_params` at `image_size`) the paper states, or
            its layer table gives (CS520); None where it gives none.
        paper_params_tolerance: how far off the stated count may be (its rounding).
    """

    name: str
    module: str
    builder: str
    normalization: str
    image_size: int
    head: Head = REGRESSION_HEAD
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    paper: str = ""
    fixed_size: bool = False
    size_multiple: int | None = 1
    labels: str | None = None
    losses: str | None = None
    metrics: str | None = None
    discriminator: str | None = None
    paper_params: int | None = None
    paper_params_tolerance: int = 0

    def __post_init__(self):
        if not isinstance(self.head, Head):
            raise TypeError(f"ModelSpec {self.name!r}: head must be a `Head`, got {self.head!r}")
        if self.fixed_size and self.size_multiple is not None:
            object.__setattr__(self, "size_multiple", None)

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
        kwargs = {"image_size": self.image_size, **self.kwargs, **overrides}
        return _resolve(f"{self.module}:{self.builder}")(**kwargs)

    def default_losses(self, **kwargs):
        """``(loss, loss_weights)`` to compile the model with (see `losses`)."""
        if self.losses:
            return _resolve(self.losses)(**kwargs)
        if self.head.classification:
            from colorization_tf.losses import SoftEncodedCrossEntropy

            return SoftEncodedCrossEntropy(bin_width=self.head.bin_width, gamut=self.head.gamut, **kwargs), None
        return "mse", None

    def default_metrics(self):
        """The default training metrics (see `metrics`), or None."""
        return _resolve(self.metrics)() if self.metrics else None

    def build_discriminator(self, **kwargs):
        """Builds the GAN discriminator this model pairs with (ValueError when it has none)."""
        if not self.discriminator:
            raise ValueError(f"model {self.name!r} has no GAN discriminator pairing (`ModelSpec.discriminator`)")
        return _resolve(self.discriminator)(**kwargs)

    def replace(self, **changes) -> "ModelSpec":
        """A copy with `changes` (e.g. a run's image size and normalisation, for its export)."""
        return dataclasses.replace(self, **changes)
