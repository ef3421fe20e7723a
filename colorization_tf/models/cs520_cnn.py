"""Yang & Li's small TensorFlow CNN for colorization (CS520, Assignment 4, Section 2).

Input: the L channel of a 64x64 image (``[B, 64, 64, 1]``, L in [0, 100], not normalised).
Conv 5x5 32 (same) + ReLU -> max-pool 2 -> Conv 5x5 64 + ReLU -> max-pool 2 -> flatten
(64 * 64 * 4 = 16,384 values, as the report says) -> FC 2048 + ReLU -> FC 4096 + ReLU -> [dropout]
-> FC 64 * 64 * 2 -> sigmoid -> x 255. The dropout layer of their diagram is off by default: "the
dropout layer we mostly will not use" (Section 2.6); `dropout=0.5` restores it. The authors' targets are ab + 128 in [0, 255] ("cs520"
normalisation), and their output is "regularised to [0, 1] and multiplied by 255".

Their label vector is flattened channel-first ("the first half is all the values in channel A,
the rest channel B"), so the last FC layer's 8192 outputs are read as ``[2, 64, 64]`` and then
transposed to ``[64, 64, 2]`` (output ``"ab"``, float32).

Parameters at 64x64: 832 + 51,264 + 33,556,480 + 8,392,704 + 33,562,624 = 75,563,904; the fully
connected layers hold 99.9 % of them, so the model only takes its training size (`fixed_size`).

Reference:
    Yang & Li, "CS520 Assignment 4: Colorization" (ANN and CNN approaches), Sections 2.2-2.5.
"""

from __future__ import annotations

import keras

from colorization_tf.models.spec import ModelSpec

CONV_FILTERS = (32, 64)
CONV_KERNEL = 5
POOL = 2
FC_UNITS = (2048, 4096)
AB_CHANNELS = 2
AB_RANGE = 255.0
"""Output scale: sigmoid in [0, 1] times 255 gives ab + 128 in [0, 255]."""
PAPER_DROPOUT = 0.0
"""The authors "mostly" trained without their dropout layer."""


def build_cs520_cnn(image_size: int = 64, dropout: float = PAPER_DROPOUT, name: str | None = None) -> keras.Model:
    """Builds the CS520 CNN.

    Args:
        image_size: the fixed square input size (64 in the report); a multiple of 4.
        dropout: dropout rate before the output layer; 0 (default) removes the layer (the
            authors "mostly" trained without it).
        name: model name; defaults to ``"cs520_cnn"``.

    Returns:
        A `keras.Model` mapping ``"L"`` ``[B, S, S, 1]`` to ``"ab"`` ``[B, S, S, 2]`` = ab + 128
        in [0, 255] (float32).

    Raises:
        ValueError: bad image_size or dropout.

    Reference:
        Yang & Li, CS520 Assignment 4, Section 2.5 (network structure).
    """
    if not isinstance(image_size, int) or image_size <= 0 or image_size % (POOL * POOL):
        raise ValueError(f"cs520_cnn.py: image_size must be a positive multiple of {POOL * POOL}, got {image_size!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"cs520_cnn.py: dropout must be in [0, 1), got {dropout!r}")

    inputs = keras.Input(shape=(image_size, image_size, 1), name="L")
    x = inputs
    for i, filters in enumerate(CONV_FILTERS):
        x = keras.layers.Conv2D(filters, CONV_KERNEL, padding="same", activation="relu", name=f"conv{i + 1}")(x)
        x = keras.layers.MaxPooling2D(POOL, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(FC_UNITS):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout")(x)
    x = keras.layers.Dense(
        image_size * image_size * AB_CHANNELS, activation="sigmoid", dtype="float32", name="fc_out"
    )(x)
    x = keras.layers.Rescaling(AB_RANGE, dtype="float32", name="times_255")(x)
    x = keras.layers.Reshape((AB_CHANNELS, image_size, image_size), dtype="float32", name="channel_first")(x)
    outputs = keras.layers.Permute((2, 3, 1), dtype="float32", name="ab")(x)
    return keras.Model(inputs, outputs, name=name or "cs520_cnn")


PAPER_PARAMS = 75_563_904
"""The CS520 report's layer table at 64x64 ("width*height*4 neurons" after the second pooling)."""

SPECS = (ModelSpec("cs520_cnn", build_cs520_cnn, "cs520", 64, paper="Yang & Li, CS520 Assignment 4", fixed_size=True,
                   paper_params=PAPER_PARAMS),)
"""The CS520 CNN: dense layers over space, so 64x64 inputs only."""
