"""Keras functional models, one file per family, each stating its own contract beside its builder.

Every builder returns a `keras.Model` whose input is named ``"L"`` (the lightness channel,
encoded by the model's `Normalization`, shape ``[batch, H, W, 1]``) and whose colour output is
named ``"ab"`` (encoded ab at the input's resolution, float32 even under mixed precision), or
``"logits"`` (ab-bin logits at 1/4 resolution) for the classification heads. Extra outputs (Iizuka's
``"scene"`` class logits) are declared by the spec.

Each model file declares its `ModelSpec`s (``SPECS``) next to its builder: which function builds
the model and what every other module needs to know about it: normalisation, resolution, the size
multiple of any-size inputs, the colour head and its decoder (`Head`), extra outputs and whether
training needs scene labels, the default losses and metrics, the GAN discriminator it pairs with,
and the parameter count the paper states. `spec.preprocessor` is the model's `Preprocessor` (its
normalisation, size multiple and head decoder). `colorization_tf.models.registry` collects the
specs into `MODELS`; `build_model(name)` builds one; `colorizer_of(model)` is the colour network of
a model (a GAN's generator). Decoding a colour output into ab is `colorization_tf.models.heads`.
The contract's types live in `colorization_tf.models.spec`, which imports nothing of
`colorization_tf.models`.
"""

from __future__ import annotations

from colorization_tf.models.registry import (  # noqa: F401  (re-exported: the registry)
    MODELS,
    build_model,
    get_spec,
    list_models,
    register,
    register_family,
)
from colorization_tf.models.spec import (  # noqa: F401  (re-exported: the contract, stated in `spec`)
    CLASSIFICATION,
    HEAD_KINDS,
    REGRESSION,
    REGRESSION_HEAD,
    ZHANG_BINS_HEAD,
    Head,
    ModelSpec,
    Preprocessor,
    as_preprocessor,
    colorizer_of,
)
