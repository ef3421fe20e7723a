"""Tiny stand-in models and data shared by the runner/export/CLI tests and their subprocess workers."""

from __future__ import annotations

import time

import keras
import numpy as np

from colorization_tf import color
from colorization_tf.models import CLASSIFICATION, Head, ModelSpec

TINY_NORMALIZATION = "zhang"


def build_tiny_colorizer(image_size: int | None = 16, filters: int = 4, synchronized_bn: bool = False) -> keras.Model:
    """Conv -> BN -> Conv -> tanh (float32 output): input "L", output "ab" (encoded).

    `synchronized_bn`: batch statistics over every replica (the global batch) under tf.distribute."""
    inp = keras.Input((image_size, image_size, 1), name="L")
    x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.BatchNormalization(synchronized=synchronized_bn, name="bn1")(x)
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv2")(x)
    out = keras.layers.Activation("tanh", dtype="float32", name="ab")(x)
    return keras.Model(inp, out, name="tiny_colorizer")


TINY_SPEC = ModelSpec("tiny", build_tiny_colorizer, TINY_NORMALIZATION, 16)
"""The tiny colorizer's contract: zhang normalisation, 16 px, regression head, any size."""
TINY_CLASSIFIER_SPEC = TINY_SPEC.replace(name="tiny_classifier", head=Head(CLASSIFICATION))
"""A stand-in classification model's contract: its bins are those its `BinLogits` layer stores (or,
without one, those its logits' channel count gives)."""


def build_tiny_discriminator(image_size: int | None = 16, filters: int = 4) -> keras.Model:
    """PatchGAN stand-in on [L, ab]: two stride-2 convs -> one float32 logit per patch."""
    l_in = keras.Input((image_size, image_size, 1), name="L")
    ab_in = keras.Input((image_size, image_size, 2), name="ab")
    x = keras.layers.Concatenate()([l_in, ab_in])
    x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(1, 3, strides=2, padding="same")(x)
    out = keras.layers.Activation("linear", dtype="float32", name="patch_logits")(x)
    return keras.Model([l_in, ab_in], out, name="tiny_discriminator")


def tiny_rgb(n: int = 16, size: int = 16, seed: int = 0) -> np.ndarray:
    """Deterministic smooth colourful uint8 images [n, size, size, 3]."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 1, size=(n, 4, 4, 3))
    fine = np.repeat(np.repeat(coarse, size // 4, axis=1), size // 4, axis=2)
    return (fine * 255).round().astype(np.uint8)


def tiny_data(n: int = 16, size: int = 16, seed: int = 0):
    """(L_enc, ab_enc) float32 arrays for `tiny_rgb` under the zhang normalisation."""
    norm = color.get_normalization(TINY_NORMALIZATION)
    lab = color.rgb_to_lab(tiny_rgb(n, size, seed))
    l, ab = color.split_lab(lab)
    return norm.encode_l(l).numpy(), norm.encode_ab(ab).numpy()


def export_tiny(path, image_size: int = 16, epochs: int = 2):
    """Trains the tiny colorizer briefly and exports it to `path`; returns the model."""
    from colorization_tf import export

    keras.utils.set_random_seed(0)
    model = build_tiny_colorizer(image_size)
    model.compile(optimizer="adam", loss="mse")
    l_enc, ab_enc = tiny_data(n=8, size=image_size)
    model.fit(l_enc, ab_enc, epochs=epochs, batch_size=4, verbose=0)
    export.export_saved_model(model, path, TINY_SPEC.replace(image_size=image_size), name="tiny")
    return model


class SlowEpochs(keras.callbacks.Callback):
    """Sleeps `seconds` after every epoch (after the runner's checkpoint): time for a test to kill the process."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_epoch_end(self, epoch, logs=None):
        time.sleep(self.seconds)
