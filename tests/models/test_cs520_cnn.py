"""CS520 (Yang & Li) CNN: layer arithmetic, output layout and range, fit (the shared contract is test_contract.py)."""


import keras
import numpy as np
import pytest

from colorization_tf.models import get_spec
from colorization_tf.models.cs520_cnn import AB_RANGE, build_cs520_cnn


def _random_l(batch, size, seed=0):
    return np.random.default_rng(seed).uniform(0, 100, (batch, size, size, 1)).astype("float32")


def _report_params(size: int) -> int:
    """The report's layer table at `size` x `size`: two 5x5 convs, "width*height*4 neurons" after the
    second pooling, FC 2048 and 4096, an output of width*height*2."""
    flat = size * size * 4
    return ((5 * 5 * 1 * 32 + 32) + (5 * 5 * 32 * 64 + 64) + (flat * 2048 + 2048) + (2048 * 4096 + 4096)
            + (4096 * size * size * 2 + size * size * 2))


def test_parameter_count_follows_the_report():
    assert _report_params(64) == get_spec("cs520_cnn").paper_params  # the count the contract checks at 64
    model = build_cs520_cnn(16)
    assert model.get_layer("flatten").output.shape == (None, 16 * 16 * 4)
    assert model.count_params() == _report_params(16)


def test_output_range():
    out = build_cs520_cnn(16)(_random_l(3, 16), training=False).numpy()
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
