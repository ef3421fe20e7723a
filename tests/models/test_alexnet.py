"""Ziegler's AlexNet-shaped colorizer: encoder stride, heads, parameters (the shared contract is test_contract.py)."""

import keras
import numpy as np
import pytest

from colorization_tf.models import alexnet, build_model
from colorization_tf.models.alexnet import build_alexnet

SMALL = 32


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _expected_trainable(out_channels):
    total, channels = 0, 1
    for filters, kernel, _ in alexnet.ALEXNET_CONVS:
        total += kernel * kernel * channels * filters + filters + 2 * filters  # conv + BN gamma/beta
        channels = filters
    total += 4 * 4 * channels * 256 + 256 + 2 * (3 * 3 * 256 * 256 + 256)
    return total + 256 * out_channels + out_channels


@pytest.mark.parametrize("head, out_channels", [("classification", 313), ("regression", 2)])
def test_parameters_follow_the_layer_table(head, out_channels):
    assert _trainable(build_model(f"alexnet_{head}", image_size=SMALL)) == _expected_trainable(out_channels)


def test_encoder_ends_at_one_sixteenth_and_heads_predict_at_one_eighth():
    size = 64
    model = build_alexnet(size, head="regression")
    assert model.get_layer("conv5_bn").output.shape[1:3] == (size // 16, size // 16)
    assert model.get_layer("ab_coarse").output.shape[1:3] == (size // 8, size // 8)
    cls = build_alexnet(size, head="classification")
    assert cls.get_layer("logits_coarse").output.shape[1:3] == (size // 8, size // 8)
    assert cls.output.shape[1:3] == (size // 4, size // 4)  # same resolution as ECCV16's logits


def test_decoder_is_eccv16_block8():
    """Both nets build block 8 with `eccv16.add_block8`: the same layers apart from their names."""
    from colorization_tf.models.eccv16 import build_eccv16

    def block8(model, prefix):
        layers = [model.get_layer(f"{prefix}_conv{c}") for c in (1, 2, 3)]
        configs = [{k: v for k, v in layer.get_config().items() if k != "name"} for layer in layers]
        return [type(layer) for layer in layers], configs

    ours = block8(build_alexnet(SMALL, head="regression"), "decoder")
    zhangs = block8(build_eccv16(SMALL, head="regression"), "block8")
    assert ours == zhangs
    assert ours[0][0] is keras.layers.Conv2DTranspose and ours[1][0]["strides"] == (2, 2)


@pytest.mark.parametrize("kwargs, match", [({"head": "gan"}, "head"), ({"image_size": 40}, "multiple of 16")])
def test_bad_arguments_name_the_file(kwargs, match):
    with pytest.raises(ValueError, match=match) as err:
        build_alexnet(**{"image_size": SMALL, **kwargs})
    assert "alexnet.py" in str(err.value)
