"""Test-time upsampling of a model's colour output: the model's own layer, or another interpolation.

One job: `with_output_upsampling(model, "nearest")` returns a model that computes everything the
trained one does except its last upsampling of the ``"ab"`` output, which it replaces by a
parameter-free x`f` upsampling of the given interpolation (same weights, nothing retrained). Lee et
al.'s code trained on the half-resolution output and upsampled it by nearest neighbour "only during
testing"; the suite's Iizuka model upsamples bilinearly inside the network, in training and at
test time. Evaluation and export take the replaced model; training never does.

Reference:
    Lee, Liang & Peaks (2016), Table IV; hlee95/image-colorization, class_project/network.py
    (`tf.image.resize_nearest_neighbor`, x2, at test time).
"""

from __future__ import annotations

import keras

TEST_UPSAMPLING = (None, "nearest", "bilinear")
"""`RunConfig.test_upsampling`: None (the model's own layer), or the interpolation that replaces it."""

OUTPUT = "ab"
"""The output (and the layer) whose upsampling is replaced."""


def upsampling_factor(model) -> int:
    """The integer factor by which `model`'s ``"ab"`` layer enlarges its input (1: no upsampling).

    Raises:
        ValueError: the model has no ``"ab"`` layer, or the factor is not a whole number (names the model).
    """
    try:
        layer = model.get_layer(OUTPUT)
    except ValueError:
        raise ValueError(f"test-time upsampling: model {model.name!r} has no {OUTPUT!r} layer "
                         "(a classification head is decoded by `models.heads`, not upsampled by a layer)") from None
    inner, outer = layer.input.shape[1], layer.output.shape[1]
    if inner is not None and outer is not None and outer % inner == 0:
        return outer // inner
    factor = getattr(layer, "factor", None) or tuple(getattr(layer, "size", None) or (None,))[0]  # a dynamic size
    if isinstance(factor, int) and factor >= 1:
        return factor
    raise ValueError(f"test-time upsampling: model {model.name!r} does not upsample its {OUTPUT!r} output by a whole "
                     f"factor (layer {layer.name!r} is a {type(layer).__name__})")


def with_output_upsampling(model, method: str | None):
    """`model` with the upsampling of its ``"ab"`` output replaced by `method` (None: `model` itself).

    Args:
        model: a functional suite model whose ``"ab"`` layer upsamples its input by a whole factor
            (e.g. Iizuka et al.'s, bilinear x2).
        method: None, "nearest" or "bilinear" (`TEST_UPSAMPLING`).

    Returns:
        A Keras model sharing `model`'s layers and weights, with the same outputs.

    Raises:
        ValueError: an unknown method, or a model whose "ab" output is not upsampled (the message
            names the model).
    """
    if method is None:
        return model
    if method not in TEST_UPSAMPLING:
        raise ValueError(f"test_upsampling {method!r}: choose one of {', '.join(str(m) for m in TEST_UPSAMPLING)}")
    from colorization_tf.models.blocks import upsample

    factor = upsampling_factor(model)
    if factor == 1:
        raise ValueError(f"test-time upsampling {method!r}: model {model.name!r} does not upsample its {OUTPUT!r} output "
                         "(it is already at the input's resolution)")
    small = model.get_layer(OUTPUT).input
    ab = upsample(small, factor, interpolation=method, dtype="float32", name=OUTPUT)
    outputs = model.output
    if isinstance(outputs, dict):
        replaced = {**outputs, OUTPUT: ab}
    else:
        replaced = ab if not isinstance(outputs, (list, tuple)) else [
            ab if name == OUTPUT else out for name, out in zip(model.output_names, outputs)]
    return keras.Model(model.inputs, replaced, name=model.name)


def describe(model_upsampling: str, method: str | None, factor: int | None = None) -> str:
    """The "test-time upsampling" row of the Protocol table: the model's own (`suite_facts.output_upsampling`,
    e.g. "bilinear x2") when `method` is None, else `method` at the model's factor ("nearest x2")."""
    if method is None:
        return model_upsampling
    if factor is None:
        factor = int(model_upsampling.split(" x")[1].split()[0]) if " x" in model_upsampling else 1
    return f"{method} x{factor}"


__all__ = ["TEST_UPSAMPLING", "upsampling_factor", "with_output_upsampling", "describe"]
