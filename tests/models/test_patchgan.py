"""pix2pix 70x70 PatchGAN on (L, ab): receptive field, output shape, parameters, dtypes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf.models import patchgan
from colorization_tf.models.patchgan import build_patchgan, receptive_field


def test_receptive_field_from_layer_configs_is_70():
    model = build_patchgan(256)
    assert receptive_field(model) == 70
    assert receptive_field(build_patchgan(64, base_filters=8)) == 70  # width does not change it


def test_receptive_field_formula_on_a_known_chain():
    # Two 3x3 stride-1 convs: 5; then a 2x2/2 pool and a 3x3 conv: 5 + 1 + 2 * 2 = 10.
    x = keras.Input((32, 32, 1))
    y = keras.layers.Conv2D(1, 3)(keras.layers.Conv2D(1, 3)(x))
    assert receptive_field(keras.Model(x, y)) == 5
    y = keras.layers.Conv2D(1, 3)(keras.layers.MaxPooling2D(2)(y))
    assert receptive_field(keras.Model(x, y)) == 10


def test_one_logit_depends_on_exactly_a_70x70_window():
    size = 128
    model = build_patchgan(size, base_filters=8)
    rng = np.random.default_rng(0)
    l_in = tf.constant(rng.normal(size=(1, size, size, 1)).astype("float32"))
    ab_in = tf.constant(rng.normal(size=(1, size, size, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch([l_in, ab_in])
        logit = model([l_in, ab_in], training=False)[0, 7, 7, 0]
    g_l, g_ab = tape.gradient(logit, [l_in, ab_in])
    support = (np.abs(g_l.numpy()[0, ..., 0]) + np.abs(g_ab.numpy()[0]).sum(-1)) > 0
    rows, cols = np.nonzero(support.any(1))[0], np.nonzero(support.any(0))[0]
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70
    assert len(rows) == 70 and len(cols) == 70


@pytest.mark.parametrize("size, side", [(256, 30), (64, 6)])
def test_patch_logits_shape_like_pix2pix(size, side):
    model = build_patchgan(size)
    assert model.output_names == ["logits"]
    assert [t.name for t in model.inputs] == ["L", "ab"]
    assert tuple(model.output.shape) == (None, side, side, 1)


def test_called_with_list_or_dict_and_float32_under_mixed_precision():
    keras.mixed_precision.set_global_policy("mixed_float16")
    model = build_patchgan(64)
    assert model.get_layer("c3_conv").compute_dtype == "float16"
    l_in, ab_in = np.zeros((2, 64, 64, 1), "float32"), np.zeros((2, 64, 64, 2), "float32")
    for out in (model([l_in, ab_in]), model({"L": l_in, "ab": ab_in})):
        assert out.shape == (2, 6, 6, 1) and out.dtype == "float32"


def test_parameter_count_matches_c64_c128_c256_c512():
    model = build_patchgan(64)
    expected, channels = 0, 3
    for multiple, _, norm in patchgan.PATCHGAN_LAYERS:
        filters = 64 * multiple
        expected += 4 * 4 * channels * filters + (2 * filters if norm else filters)
        channels = filters
    expected += 4 * 4 * channels + 1
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == expected  # 2,765,633


def test_bad_size_names_the_file():
    with pytest.raises(ValueError, match="patchgan.py.*multiple of 8"):
        build_patchgan(60)
