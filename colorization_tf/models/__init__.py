"""Keras functional models, one file per family, and the registry that states each one's contract.

Every builder returns a `keras.Model` whose input is named ``"L"`` (the lightness channel,
encoded by the model's `Normalization`, shape ``[batch, H, W, 1]``) and whose colour output is
named ``"ab"`` (encoded ab at the input's resolution, float32 even under mixed precision), or
``"logits"`` (ab-bin logits at 1/4 resolution) for the classification heads. Extra outputs (Iizuka's
``"scene"`` class logits) are declared by the spec.

`MODELS` maps a name to a `ModelSpec`, the one place that says, for each model, which builder
makes it and what every other module needs to know about it: normalisation, resolution, the size
multiple of any-size inputs, the colour head and its decoder (`Head`), extra outputs and whether
training needs scene labels, the default losses and metrics, the GAN discriminator it pairs with,
and the parameter count the paper states. `build_model(name)` builds one; `colorizer_of(model)` is
the colour network of a model (a GAN's generator). Decoding a colour output into ab is
`colorization_tf.models.heads`.
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
            raise ValueError(f"colorization_tf/models/__init__.py: head must be one of {HEAD_KINDS}, not {self.kind!r}")
        if self.kind == REGRESSION and self.bin_width is not None:
            raise ValueError("colorization_tf/models/__init__.py: a regression head has no bin_width")

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
        from colorization_tf.models.heads import default_decode

        return default_decode(gamut=self.gamut, bin_width=self.bin_width if self.bin_width is not None else ZHANG_BIN_WIDTH)


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


_POLY = "Ghiotto 2021, PolyChromify"
_LEE = "Lee, Liang & Peaks 2016 (replicating Iizuka et al. 2016)"
_IIZUKA = "Iizuka, Simo-Serra & Ishikawa 2016, Let there be Color!"
_MENON = "Menon & Talukdar 2021, ResNet34 U-Net"
_ZHANG = "Zhang, Isola & Efros 2016 (ECCV16), as reproduced by Ziegler 2022"
_CS520 = "Yang & Li, CS520 Assignment 4"
_SUITE = "this suite: the CPU-budget colorizer (issue 17), from Iizuka et al.'s fusion and a U-Net"

POLYCHROMIFY_PAPER_PARAMS = {"v0": (21_000, 500), "v3": (5_500_000, 50_000), "cnn": (98_000, 500), "final": (293_330, 0)}
"""(count, tolerance) as Ghiotto's paper prints them: v0 and v3 approximately, cnn as "98 x 10^3", the
final model exactly; the tolerance is half a unit of the last printed digit."""
POLYCHROMIFY_SIZE_MULTIPLE = {"v3": 32}
"""v3 has five stride-2 layers; the other variants take any size."""
ZHANG_PARAMS = (32_200_000, 50_000)
"""Zhang et al.'s network as "32.2M" parameters (313 bins; the count with BatchNorm statistics)."""
CS520_PARAMS = 75_563_904
"""The CS520 report's layer table at 64x64 ("width*height*4 neurons" after the second pooling)."""

_IIZUKA_CONTRACT = dict(size_multiple=8, labels="scene", losses="iizuka:iizuka_losses", metrics="iizuka:iizuka_metrics")


def _polychromify(variant: str, name: str) -> ModelSpec:
    params, tolerance = POLYCHROMIFY_PAPER_PARAMS.get(variant, (None, 0))
    return ModelSpec(name, "polychromify", "build_polychromify", "polychromify", 128, kwargs={"variant": variant}, paper=_POLY,
                     size_multiple=POLYCHROMIFY_SIZE_MULTIPLE.get(variant, 1), paper_params=params, paper_params_tolerance=tolerance)


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        _polychromify("final", "polychromify"),
        *[_polychromify(v, f"polychromify_{v}") for v in ("v0", "v1", "v2", "v3", "cnn")],
        ModelSpec("iizuka_lee128", "iizuka", "build_iizuka", "lee2016", 128, kwargs={"config": "lee128"}, paper=_LEE, **_IIZUKA_CONTRACT),
        ModelSpec("iizuka_224", "iizuka", "build_iizuka", "lee2016", 224, kwargs={"config": "original224"}, paper=_IIZUKA,
                  **_IIZUKA_CONTRACT),
        ModelSpec("resnet_unet", "resnet_unet", "build_resnet_unet", "menon", 256, paper=_MENON, size_multiple=32,
                  discriminator="patchgan:build_patchgan"),
        ModelSpec("eccv16_regression", "eccv16", "build_eccv16", "zhang", 256, kwargs={"head": REGRESSION}, paper=_ZHANG,
                  size_multiple=8),
        ModelSpec("eccv16_classification", "eccv16", "build_eccv16", "zhang", 256, head=ZHANG_BINS_HEAD,
                  kwargs={"head": CLASSIFICATION}, paper=_ZHANG, size_multiple=8, paper_params=ZHANG_PARAMS[0],
                  paper_params_tolerance=ZHANG_PARAMS[1]),
        ModelSpec("alexnet_regression", "alexnet", "build_alexnet", "zhang", 256, kwargs={"head": REGRESSION}, paper=_ZHANG,
                  size_multiple=16),
        ModelSpec("alexnet_classification", "alexnet", "build_alexnet", "zhang", 256, head=ZHANG_BINS_HEAD,
                  kwargs={"head": CLASSIFICATION}, paper=_ZHANG, size_multiple=16),
        ModelSpec("compact_unet", "compact_unet", "build_compact_unet", "zhang", 128, paper=_SUITE, size_multiple=16),
        ModelSpec("cs520_cnn", "cs520_cnn", "build_cs520_cnn", "cs520", 64, paper=_CS520, fixed_size=True, paper_params=CS520_PARAMS),
    ]
}


def get_spec(name) -> ModelSpec:
    """Returns the `ModelSpec` registered under `name` (a `ModelSpec` is returned as it is;
    ValueError names the choices)."""
    if isinstance(name, ModelSpec):
        return name
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; choose from {sorted(MODELS)}") from None


def build_model(name: str, **overrides):
    """Builds the registered model `name`; see `ModelSpec.build`."""
    return get_spec(name).build(**overrides)
