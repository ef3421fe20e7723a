"""PolyChromify variants: output range, the paper's and the author's layer choices, Table 1 knobs,
and that training moves the loss (the shared contract, parameter counts included, is
test_contract.py). Also the shared per-pixel dense helper."""

import os

import keras
import numpy as np
import pytest

from colorization_tf.models import blocks
from colorization_tf.models import get_spec
from colorization_tf.models.polychromify import AUTHOR_NOTEBOOK_PARAMS, TABLE1_CONFIGS, VARIANTS, build_polychromify

FINAL_PARAMS = get_spec("polychromify").paper_params

# The smallest side every variant accepts: v3 has five stride-2 layers.
SIDE = 32


def _random_l(batch, h, w, seed=0):
    return np.random.default_rng(seed).uniform(0, 100, (batch, h, w, 1)).astype("float32")


@pytest.mark.parametrize("variant", VARIANTS)
def test_variant_output_is_tanh(variant):
    out = build_polychromify(variant, image_size=SIDE)(_random_l(2, SIDE, 2 * SIDE))
    assert np.all(np.abs(out.numpy()) <= 1.0)


def test_final_model_has_the_papers_exact_parameter_count():
    model = build_polychromify("final")
    assert model.count_params() == FINAL_PARAMS == 293_330
    # Kernel sizes that give that count: 3x3 convolutions, 1x1 "dense" layers, 3x3 output.
    kernels = {layer.name: layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    assert kernels["ab"] == (3, 3)
    assert all(kernels[f"dense{i}_conv"] == (1, 1) for i in range(1, 6))
    assert all(kernels[f"{p}{i}_conv"] == (3, 3) for p in ("enc", "dec") for i in range(1, 4))


def test_table1_configs_build_and_differ_as_described():
    counts = {}
    for row, kwargs in TABLE1_CONFIGS.items():
        model = build_polychromify(**kwargs, image_size=SIDE)
        assert model(_random_l(1, SIDE, SIDE)).shape == (1, SIDE, SIDE, 2)
        counts[row] = model.count_params()
        has_bn = any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
        has_up = any(isinstance(layer, keras.layers.UpSampling2D) for layer in model.layers)
        assert has_bn == kwargs["batch_norm"]
        assert has_up == kwargs["strides"]
    # Table 1 row v3 is the final model; more neurons/filters mean more parameters.
    assert counts["v3"] == FINAL_PARAMS
    assert counts["v1"] < counts["v2"] < counts["v3"] < counts["v4"] < counts["v5"]


def test_strided_rows_are_the_authors_networks():
    """Table 1 v4/v5 as in the author's notebook: one stride-2 conv (dense layers at 1/2
    resolution), one upsampling right before the output, BN after dense layers 1, 2 and 4 only."""
    model = build_polychromify(**TABLE1_CONFIGS["v5"], image_size=SIDE)
    probe = keras.Model(model.input, model.get_layer("dense1_conv").output)
    assert probe(_random_l(1, SIDE, SIDE)).shape == (1, SIDE // 2, SIDE // 2, 256)
    strided = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.strides == (2, 2)]
    assert strided == ["enc1_conv"]
    ups = [layer.name for layer in model.layers if isinstance(layer, keras.layers.UpSampling2D)]
    assert len(ups) == 1 and model.layers[model.layers.index(model.get_layer("ab")) - 1].name == ups[0]
    bn = sorted(layer.name for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization))
    assert len(bn) == 3 and all(name.startswith(("dense1", "dense2", "dense4")) for name in bn), bn
    assert build_polychromify(**TABLE1_CONFIGS["v4"]).count_params() == 596_066
    assert model.count_params() == 598_114


def test_v1_and_v3_are_the_authors_notebook_models():
    """v1: 2x2 hidden kernels (82,946 parameters); v3: no extra 16-filter conv (5,495,586)."""
    v1 = build_polychromify("v1")
    kernels = [layer.kernel_size for layer in v1.layers if isinstance(layer, keras.layers.Conv2D)]
    assert kernels == [(2, 2)] * 5 + [(3, 3)]
    assert v1.count_params() == AUTHOR_NOTEBOOK_PARAMS["v1"] == 82_946
    v3 = build_polychromify("v3")
    widths = [layer.filters for layer in v3.layers if isinstance(layer, keras.layers.Conv2D)]
    assert widths == [32, 64, 128, 256, 512, 512, 256, 128, 64, 32, 2]
    assert v3.count_params() == AUTHOR_NOTEBOOK_PARAMS["v3"] == 5_495_586


def test_knob_lists_and_letters_are_equivalent():
    a = build_polychromify("final", neurons="M", filters="H")
    b = build_polychromify("final", neurons=[128, 64, 32, 64, 128], filters=(32, 64, 128, 128, 64, 32))
    assert a.count_params() == b.count_params()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variant": "v9"}, "unknown variant"),
        ({"variant": "v3", "neurons": "H"}, "does not take"),
        ({"variant": "v0", "strides": True}, "does not take"),
        ({"variant": "final", "neurons": "X"}, "neurons"),
        ({"variant": "final", "filters": [16, 32, 64]}, "even number"),
        ({"variant": "final", "strides": True, "image_size": 99}, "multiple of 2"),
        ({"variant": "v3", "image_size": 48}, "multiple of 32"),
    ],
)
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_polychromify(**kwargs)


def test_table1_v5_config_clone_and_keras_file_round_trip(tmp_path):
    """Table 1's strided BatchNorm row is no registry entry: its own round trip (the entries' are the contract's)."""
    model = build_polychromify(**TABLE1_CONFIGS["v5"], image_size=16)
    x = _random_l(2, 16, 16)
    expected = model(x, training=False)

    rebuilt = keras.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt(x, training=False), expected, atol=1e-6)

    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x, training=False), expected, atol=1e-6)

    path = os.fspath(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True by default
    np.testing.assert_allclose(loaded(x, training=False), expected, atol=1e-6)


def test_fit_reduces_the_loss():
    model = build_polychromify("final")
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    x = _random_l(4, 16, 16)
    y = np.tanh((x - 50.0) / 50.0).repeat(2, axis=-1) * np.array([0.5, -0.3], "float32")
    before = float(keras.losses.mean_squared_error(y, model(x)).numpy().mean())
    steps = 15
    model.fit(np.tile(x, (steps, 1, 1, 1)), np.tile(y, (steps, 1, 1, 1)), batch_size=4, verbose=0)
    after = float(keras.losses.mean_squared_error(y, model(x)).numpy().mean())
    assert after < 0.5 * before


def test_pixel_dense_equals_keras_dense_on_a_feature_map():
    inputs = keras.Input((None, None, 6))
    conv_model = keras.Model(inputs, blocks.pixel_dense(inputs, 4, activation="relu", name="pd"))
    dense = keras.layers.Dense(4, activation="relu")
    dense.build((None, None, None, 6))
    kernel, bias = conv_model.get_layer("pd_conv").get_weights()
    assert kernel.shape == (1, 1, 6, 4)
    dense.set_weights([kernel[0, 0], bias + 0.1])
    conv_model.get_layer("pd_conv").set_weights([kernel, bias + 0.1])
    x = np.random.default_rng(1).normal(size=(2, 5, 7, 6)).astype("float32")
    np.testing.assert_allclose(conv_model(x), dense(x), atol=1e-5)
