"""ECCV16 (Zhang et al. 2016, Ziegler 2022): layer table, heads, parameter count (the shared contract is
test_contract.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import quantize
from colorization_tf.models import build_model, eccv16
from colorization_tf.models.eccv16 import build_eccv16

SMALL = 32  # fully convolutional: parameter counts do not depend on the input size


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _expected_trainable(out_channels):
    """Parameters of the ECCV16 layer table, counted by hand (conv weights + biases, BN gamma/beta)."""
    total, channels = 0, 1
    for filters, convs, _, _ in eccv16.ECCV16_BLOCKS:
        for _ in range(convs):
            total += 3 * 3 * channels * filters + filters
            channels = filters
        total += 2 * filters  # BatchNorm gamma, beta
    total += 4 * 4 * channels * 256 + 256  # block8 transposed conv
    total += 2 * (3 * 3 * 256 * 256 + 256)
    return total + 256 * out_channels + out_channels


@pytest.fixture(scope="module")
def models():
    """Both heads, built once through the registry at a small size."""
    return {head: build_model(f"eccv16_{head}", image_size=SMALL) for head in ("classification", "regression")}


def test_classification_parameter_count_is_zhangs_32_2m(models):
    model = models["classification"]
    expected = _expected_trainable(313)
    assert _trainable(model) == expected  # 32,235,385
    assert round(expected / 1e6, 1) == 32.2
    bn_channels = sum(f for f, *_ in eccv16.ECCV16_BLOCKS)
    assert model.count_params() == expected + 2 * bn_channels  # + BN moving statistics: 32,240,377


def test_regression_head_replaces_313_logits_by_2_channels(models):
    assert _trainable(models["regression"]) == _expected_trainable(2)  # 32,155,458


def test_layer_table(models):
    model = models["classification"]
    assert [model.get_layer(f"block{b}_conv1").dilation_rate[0] for b in range(1, 8)] == [1, 1, 1, 1, 2, 2, 1]
    sides = [model.get_layer(f"block{b}_bn").output.shape[1] for b in range(1, 8)]
    assert sides == [SMALL // 2, SMALL // 4] + [SMALL // 8] * 5
    assert isinstance(model.get_layer("block8_conv1"), keras.layers.Conv2DTranspose)
    assert sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) == 7


def test_regression_output_is_bilinear_x4_of_the_quarter_resolution_prediction(models):
    model = models["regression"]
    coarse = keras.Model(model.input, model.get_layer("ab_coarse").output)
    x = np.random.default_rng(1).normal(size=(1, SMALL, SMALL, 1)).astype("float32")
    low, full = coarse(x).numpy(), model(x).numpy()
    assert low.shape == (1, SMALL // 4, SMALL // 4, 2)
    expected = tf.image.resize(low, (SMALL, SMALL), method="bilinear").numpy()
    np.testing.assert_allclose(full, expected, rtol=1e-4, atol=1e-4 * np.abs(low).max())
    assert model.get_layer("ab").count_params() == 0


def test_bin_width_counts_bins_with_quantize():
    assert eccv16.resolve_num_bins(None, 10) == 313  # Zhang's grid, from the gamut
    width = 25  # a wider "bucket size" as Ziegler's
    expected = len(quantize.ab_bin_centers(width))
    model = build_eccv16(SMALL, head="classification", bin_width=width)
    assert model.output.shape[-1] == expected < 313
    assert eccv16.resolve_num_bins(None, 10, gamut="srgb") == len(quantize.ab_bin_centers(10, "srgb"))
    assert eccv16.resolve_num_bins(57, None) == 57
    with pytest.raises(ValueError, match="disagrees"):
        eccv16.resolve_num_bins(expected + 1, width)


@pytest.mark.parametrize("kwargs, match", [
    ({"head": "segmentation"}, "head must be one of"),
    ({"image_size": 36}, "multiple of 8"),
    ({"image_size": 32.0}, "multiple of 8"),
    ({"image_size": (32, 32, 1)}, "multiple of 8"),
    ({"num_bins": 1, "head": "classification"}, "num_bins"),
    ({"bin_width": -1, "head": "classification"}, "bin_width"),
    ({"regression_activation": "sigmoid"}, "regression_activation"),
])
def test_bad_arguments_name_the_file_and_the_problem(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        build_eccv16(**{"image_size": SMALL, **kwargs})
    assert "eccv16.py" in str(err.value)
