"""Keras functional models, one file per family, and the registry that names them.

Every builder returns a `keras.Model` whose input is named ``"L"`` (the lightness channel,
encoded by the model's `Normalization`, shape ``[batch, H, W, 1]``) and whose colour output is
named ``"ab"`` (encoded ab at the input's resolution, float32 even under mixed precision), or
``"logits"`` (ab-bin logits at 1/4 resolution) for the classification heads. Iizuka's model adds
a ``"scene"`` output (class logits).

`MODELS` maps a name to a `ModelSpec`: which builder, with which arguments, at which
resolution and normalisation. `build_model(name)` builds one.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

REGRESSION = "regression"
CLASSIFICATION = "classification"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """How to build one named model of the suite.

    Attributes:
        name: registry key.
        module: module under `colorization_tf.models` holding the builder.
        builder: builder function name.
        normalization: key of `colorization_tf.color.NORMALIZATIONS` for its L input and ab output.
        image_size: the paper's training resolution (square).
        head: `REGRESSION` (outputs encoded ab) or `CLASSIFICATION` (outputs ab-bin logits).
        kwargs: fixed builder arguments.
        paper: short citation.
        fixed_size: True when the model only accepts `image_size` inputs (dense layers over space).
    """

    name: str
    module: str
    builder: str
    normalization: str
    image_size: int
    head: str = REGRESSION
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    paper: str = ""
    fixed_size: bool = False

    def build(self, **overrides):
        """Builds the model; `overrides` replace or extend `kwargs` (e.g. a smaller `image_size`)."""
        fn = getattr(importlib.import_module(f"colorization_tf.models.{self.module}"), self.builder)
        kwargs = {"image_size": self.image_size, **self.kwargs, **overrides}
        return fn(**kwargs)


_POLY = "Ghiotto 2021, PolyChromify"
_LEE = "Lee, Liang & Peaks 2016 (replicating Iizuka et al. 2016)"
_IIZUKA = "Iizuka, Simo-Serra & Ishikawa 2016, Let there be Color!"
_MENON = "Menon & Talukdar 2021, ResNet34 U-Net"
_ZHANG = "Zhang, Isola & Efros 2016 (ECCV16), as reproduced by Ziegler 2022"
_CS520 = "Yang & Li, CS520 Assignment 4"

MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec("polychromify", "polychromify", "build_polychromify", "polychromify", 128, kwargs={"variant": "final"}, paper=_POLY),
        *[
            ModelSpec(f"polychromify_{v}", "polychromify", "build_polychromify", "polychromify", 128, kwargs={"variant": v}, paper=_POLY)
            for v in ("v0", "v1", "v2", "v3", "cnn")
        ],
        ModelSpec("iizuka_lee128", "iizuka", "build_iizuka", "lee2016", 128, kwargs={"config": "lee128"}, paper=_LEE),
        ModelSpec("iizuka_224", "iizuka", "build_iizuka", "lee2016", 224, kwargs={"config": "original224"}, paper=_IIZUKA),
        ModelSpec("resnet_unet", "resnet_unet", "build_resnet_unet", "menon", 256, paper=_MENON),
        ModelSpec("eccv16_regression", "eccv16", "build_eccv16", "zhang", 256, kwargs={"head": REGRESSION}, paper=_ZHANG),
        ModelSpec("eccv16_classification", "eccv16", "build_eccv16", "zhang", 256, head=CLASSIFICATION, kwargs={"head": CLASSIFICATION}, paper=_ZHANG),
        ModelSpec("alexnet_regression", "alexnet", "build_alexnet", "zhang", 256, kwargs={"head": REGRESSION}, paper=_ZHANG),
        ModelSpec("alexnet_classification", "alexnet", "build_alexnet", "zhang", 256, head=CLASSIFICATION, kwargs={"head": CLASSIFICATION}, paper=_ZHANG),
        ModelSpec("cs520_cnn", "cs520_cnn", "build_cs520_cnn", "cs520", 64, paper=_CS520, fixed_size=True),
    ]
}


def get_spec(name: str) -> ModelSpec:
    """Returns the `ModelSpec` registered under `name` (ValueError names the choices)."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown model {name!r}; choose from {sorted(MODELS)}") from None


def build_model(name: str, **overrides):
    """Builds the registered model `name`; see `ModelSpec.build`."""
    return get_spec(name).build(**overrides)
