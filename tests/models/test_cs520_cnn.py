"""CS520 (Yang & Li) CNN: layer arithmetic, output layout and range, serialization, precision, fit."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf.models.cs520_cnn import AB_RANGE, build_cs520_cnn


def _random_l(batch, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 100, (batch, size, size, 1)).astype("float32")


def test_parameter_count_at_64_follows_the_report():
    model = build_cs520_cnn(64)
    flat = 64 * 64 * 4  # "width*height*4 neurons" after the second pooling
    expected = (5 * 5 * 1 * 32 + 32) + (5 * 5 * 32 * 64 + 64)
    expected += (flat * 2048 + 2048) + (2048 * 4096 + 4096) + (4096 * 64 * 64 * 2 + 64 * 64 * 2)
    assert model.get_layer("flatten").output.shape == (None, flat)
    assert model.count_params() == expected == 75_563_904


def test_output_shape_name_and_range():
    model = build_cs520_cnn(16)
    assert model.input.name == "L" and model.output_names == ["ab"]
    out = model(_random_l(3, 16), training=False).numpy()
    assert out.shape == (3, 16, 16, 2) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= AB_RANGE


def test_output_vector_is_channel_a_then_channel_b():
    model = build_cs520_cnn(8, dropout=0.0)
    layer = model.get_layer("fc_out")
    kernel, bias = layer.get_weights()
    half = bias.size // 2
    bias[:half], bias[half:] = 50.0, -50.0  # first half saturates at 1, second at 0
    layer.set_weights([np.zeros_like(kernel), bias])
    out = model(_random_l(1, 8)).numpy()
    np.testing.assert_allclose(out[..., 0], AB_RANGE)
    np.testing.assert_allclose(out[..., 1], 0.0, atol=1e-6)


def test_dropout_zero_removes_the_layer_and_bad_arguments_raise():
    names = [layer.name for layer in build_cs520_cnn(8, dropout=0.0).layers]
    assert "dropout" not in names and "dropout" in [layer.name for layer in build_cs520_cnn(8, dropout=0.5).layers]
    assert "dropout" not in [layer.name for layer in build_cs520_cnn(8).layers]  # the paper: mostly none
    with pytest.raises(ValueError, match="multiple of 4"):
        build_cs520_cnn(10)
    with pytest.raises(ValueError, match="dropout"):
        build_cs520_cnn(8, dropout=1.0)


def test_config_clone_and_keras_file_round_trip(tmp_path):
    model = build_cs520_cnn(8)
    x = _random_l(2, 8)
    expected = model(x, training=False)
    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    path = os.fspath(tmp_path / "cs520.keras")
    model.save(path)
    for other in (rebuilt, clone, keras.models.load_model(path)):
        np.testing.assert_allclose(other(x, training=False), expected, atol=1e-4)


def test_mixed_precision_float32_output():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = build_cs520_cnn(8)
    assert model.get_layer("fc1").compute_dtype == "float16"
    assert model(_random_l(1, 8)).dtype == tf.float32


def test_fit_reduces_the_loss():
    model = build_cs520_cnn(8, dropout=0.0)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="mse")
    x = _random_l(3, 8)
    y = np.concatenate([x * 0.5 + 100.0, 150.0 - x], axis=-1)  # ab + 128 in [0, 255]
    before = float(np.mean((model(x).numpy() - y) ** 2))
    steps = 15
    model.fit(np.tile(x, (steps, 1, 1, 1)), np.tile(y, (steps, 1, 1, 1)), batch_size=3, verbose=0)
    after = float(np.mean((model(x).numpy() - y) ** 2))
    assert after < 0.5 * before
