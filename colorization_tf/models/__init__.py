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
`colorization_tf.models.heads`. The contract's types (`Head`, `ModelSpec`) live in
`colorization_tf.models.spec`, which imports nothing of `colorization_tf.models`; this module is the registry.
"""

from __future__ import annotations

from colorization_tf.models.spec import (  # noqa: F401  (re-exported: the contract, stated in `spec`)
    CLASSIFICATION,
    HEAD_KINDS,
    REGRESSION,
    REGRESSION_HEAD,
    ZHANG_BINS_HEAD,
    Head,
    ModelSpec,
    _resolve,
    colorizer_of,
)

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
