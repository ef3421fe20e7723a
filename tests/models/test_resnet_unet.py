"""Menon & Talukdar's ResNet U-Net: full ResNet34 encoder, decoder, sizes, pretrained loading (the shared
contract is test_contract.py)."""

import os
import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf.models import build_model, resnet_unet
from colorization_tf.models.resnet_unet import build_resnet_unet, encoder_layers, load_resnet_weights

SMALL = 32


def _trainable(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _expected_encoder_trainable(depth):
    """He et al. Table 1 on a 1-channel input, counted by hand: bias-free convs, BN gamma/beta."""
    total = 7 * 7 * 1 * 64 + 2 * 64
    channels = 64
    for blocks, filters in zip(resnet_unet.RESNET_STAGES[depth], resnet_unet.STAGE_FILTERS):
        for b in range(blocks):
            total += 3 * 3 * channels * filters + 2 * filters + 3 * 3 * filters * filters + 2 * filters
            if channels != filters:
                total += channels * filters + 2 * filters  # 1x1 projection shortcut
            channels = filters
    return total


@pytest.fixture(scope="module")
def resnet34():
    return build_model("resnet_unet", image_size=SMALL)


def test_resnet34_encoder_is_full_and_about_21_3m(resnet34):
    encoder = encoder_layers(resnet34)
    count = _trainable([w for layer in encoder for w in layer.trainable_weights])
    assert count == _expected_encoder_trainable(34)  # 21,278,400 (torchvision: 21,284,672 on RGB)
    assert round(count / 1e6, 1) == 21.3
    blocks = {layer.name.rsplit("_", 1)[0] for layer in encoder if layer.name.startswith("layer")}
    per_stage = [len({b for b in blocks if b.startswith(f"layer{s}_") and "downsample" not in b}) for s in (1, 2, 3, 4)]
    assert per_stage == [3, 4, 6, 3]
    assert sum(isinstance(layer, keras.layers.Conv2DTranspose) for layer in resnet34.layers) == 0


def test_decoder_concatenates_a_skip_at_every_scale_back_to_full_resolution(resnet34):
    concats = [layer for layer in resnet34.layers if isinstance(layer, keras.layers.Concatenate)]
    sides = sorted(c.output.shape[1] for c in concats)
    assert sides == [SMALL // 16, SMALL // 8, SMALL // 4, SMALL // 2, SMALL]
    assert resnet34.output_names == ["ab"] and resnet34.inputs[0].name == "L"


def test_encoder_depth_18():
    model = build_resnet_unet(SMALL, encoder_depth=18)
    count = _trainable([w for layer in encoder_layers(model) for w in layer.trainable_weights])
    assert count == _expected_encoder_trainable(18)  # 11,170,240
    with pytest.raises(ValueError, match="encoder_depth"):
        build_resnet_unet(SMALL, encoder_depth=50)


def test_size_not_multiple_of_32_is_refused():
    with pytest.raises(ValueError, match="resnet_unet.py.*multiple of 32"):
        build_resnet_unet(100)


def test_stem_pads_like_torchvision(resnet34):
    """conv1 sees 3 pixels of zero padding on every side (torchvision), not TF's asymmetric 'same'."""
    x = np.random.default_rng(1).uniform(0, 100, (1, SMALL, SMALL, 1)).astype("float32")
    stem = keras.Model(resnet34.input, resnet34.get_layer("conv1").output)
    kernel = resnet34.get_layer("conv1").kernel
    reference = tf.nn.conv2d(x, kernel, strides=2, padding=[[0, 0], [3, 3], [3, 3], [0, 0]])
    np.testing.assert_allclose(stem(x).numpy(), reference.numpy(), rtol=1e-4, atol=1e-3)


def _fake_torchvision_state_dict(model, rng):
    """Random arrays under torchvision's keys and layout (conv1 on RGB, fc, num_batches_tracked)."""
    state = {}
    for layer in encoder_layers(model):
        key = layer.name.replace("_", ".")
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            for suffix in ("weight", "bias", "running_mean"):
                state[f"{key}.{suffix}"] = rng.normal(size=n).astype("float32")
            state[f"{key}.running_var"] = rng.uniform(0.5, 2, n).astype("float32")
            state[f"{key}.num_batches_tracked"] = np.array(7)
        else:
            kh, kw, cin, cout = layer.kernel.shape
            state[f"{key}.weight"] = rng.normal(size=(cout, 3 if key == "conv1" else cin, kh, kw)).astype("float32")
    state["fc.weight"] = rng.normal(size=(1000, 512)).astype("float32")
    state["fc.bias"] = np.zeros(1000, "float32")
    return state


@pytest.fixture(scope="module")
def resnet18():
    return build_resnet_unet(SMALL, encoder_depth=18)


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_pretrained_weights_load_by_name_with_rgb_summed_to_l(tmp_path, ext, resnet18):
    state = _fake_torchvision_state_dict(resnet18, np.random.default_rng(3))
    path = tmp_path / f"resnet18{ext}"
    if ext == ".npz":
        np.savez(path, **state)
    else:
        with h5py.File(path, "w") as f:  # nested groups, as some converters write them
            for key, value in state.items():
                f.create_dataset(key.replace(".", "/"), data=value)
    model = build_resnet_unet(SMALL, encoder_depth=18, pretrained_weights=path)
    np.testing.assert_allclose(
        model.get_layer("conv1").kernel.numpy(), state["conv1.weight"].sum(axis=1, keepdims=True).transpose(2, 3, 1, 0), rtol=1e-6
    )
    np.testing.assert_array_equal(
        model.get_layer("layer3_0_downsample_0").kernel.numpy(), state["layer3.0.downsample.0.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(model.get_layer("layer4_1_bn2").moving_variance.numpy(), state["layer4.1.bn2.running_var"])
    np.testing.assert_array_equal(model.get_layer("bn1").gamma.numpy(), state["bn1.weight"])


def test_pretrained_weights_errors_name_the_file_and_key(tmp_path, resnet18):
    model = resnet18
    state = _fake_torchvision_state_dict(model, np.random.default_rng(4))
    before = model.get_layer("conv1").kernel.numpy()
    missing = dict(state)
    del missing["layer2.1.conv2.weight"]
    np.savez(tmp_path / "missing.npz", **missing)
    with pytest.raises(ValueError, match=r"missing\.npz.*layer2\.1\.conv2\.weight"):
        load_resnet_weights(model, tmp_path / "missing.npz")
    np.savez(tmp_path / "deeper.npz", **state, **{"layer1.2.conv1.weight": np.zeros((64, 64, 3, 3), "float32")})
    with pytest.raises(ValueError, match="encoder_depth"):
        load_resnet_weights(model, tmp_path / "deeper.npz")
    bad = dict(state, **{"layer1.0.conv1.weight": np.zeros((64, 64, 5, 5), "float32")})
    np.savez(tmp_path / "shape.npz", **bad)
    with pytest.raises(ValueError, match="layer1.0.conv1.weight.*shape"):
        load_resnet_weights(model, tmp_path / "shape.npz")
    with pytest.raises(ValueError, match="does not exist"):
        load_resnet_weights(model, tmp_path / "nope.npz")
    (tmp_path / "w.pth").write_bytes(b"not a weights file")
    with pytest.raises(ValueError, match=r"\.npz or \.h5"):
        load_resnet_weights(model, tmp_path / "w.pth")
    np.testing.assert_array_equal(model.get_layer("conv1").kernel.numpy(), before)  # failed loads changed nothing


def _keras_encoder(depth, channels, seed):
    """A Keras ResNet encoder (`resnet_encoder_model`) with random weights, as a user's ImageNet file would hold."""
    encoder = resnet_unet.resnet_encoder_model(depth, channels)
    rng = np.random.default_rng(seed)
    for variable in encoder.weights:
        variable.assign(rng.normal(0.0, 1.0, variable.shape).astype("float32"))
    return encoder


@pytest.mark.parametrize("ext", [".weights.h5", ".keras", ".h5"])
def test_keras_encoder_files_load_by_layer_name(tmp_path, ext):
    encoder = _keras_encoder(18, 3, seed=5)
    path = tmp_path / f"imagenet_resnet18{ext}"
    encoder.save_weights(path) if ext == ".weights.h5" else encoder.save(path)
    model = build_resnet_unet(SMALL, encoder_depth=18, pretrained_weights=path)
    np.testing.assert_allclose(model.get_layer("conv1").kernel.numpy(),
                               encoder.get_layer("conv1").kernel.numpy().sum(axis=2, keepdims=True), rtol=1e-6)  # RGB -> L
    for name in ("layer3_0_downsample_0", "layer4_1_conv2", "layer2_1_bn1", "bn1"):
        for ours, theirs in zip(model.get_layer(name).weights, encoder.get_layer(name).weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


def test_wrong_keras_encoder_file_names_the_file_and_changes_nothing(tmp_path, resnet18):
    before = [w.numpy() for w in resnet18.get_layer("layer1_0_conv1").weights]
    deeper = _keras_encoder(34, 1, seed=6)
    deeper.save_weights(tmp_path / "resnet34.weights.h5")
    with pytest.raises(ValueError, match=r"resnet_unet\.py.*resnet34\.weights\.h5.*not the weights of a Keras ResNet18"):
        load_resnet_weights(resnet18, tmp_path / "resnet34.weights.h5")
    deeper.save(tmp_path / "resnet34.keras")  # every ResNet18 layer is in it, with its shapes: the depth tells
    with pytest.raises(ValueError, match=r"resnet34\.keras.*ResNet34 encoder.*ResNet18"):
        load_resnet_weights(resnet18, tmp_path / "resnet34.keras")
    other = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, name="conv1")], name="not_a_resnet")
    other.save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match=r"other\.keras.*'not_a_resnet'.*lack"):
        load_resnet_weights(resnet18, tmp_path / "other.keras")
    (tmp_path / "text.keras").write_text("not a zip")
    with pytest.raises(ValueError, match=r"text\.keras.*cannot load it as a Keras model"):
        load_resnet_weights(resnet18, tmp_path / "text.keras")
    with pytest.raises(ValueError, match=r"missing\.keras.*does not exist"):
        load_resnet_weights(resnet18, tmp_path / "missing.keras")
    for ours, kept in zip(resnet18.get_layer("layer1_0_conv1").weights, before):
        np.testing.assert_array_equal(ours.numpy(), kept)


def test_same_shaped_kernels_start_different():
    """One shared initializer instance gave every same-shaped convolution the same starting kernel."""
    keras.utils.set_random_seed(0)
    model = build_resnet_unet(32, encoder_depth=18)
    by_shape = {}
    for weight in model.weights:
        if weight.path.endswith("kernel"):
            by_shape.setdefault(tuple(weight.shape), []).append(weight.numpy())
    repeated = {shape: kernels for shape, kernels in by_shape.items() if len(kernels) > 1}
    assert repeated  # the encoder's stages repeat their 3x3 convolutions
    for shape, kernels in repeated.items():
        assert not any(np.array_equal(kernels[0], k) for k in kernels[1:]), shape


_CHECKSUM = "float(sum(np.abs(w).sum() for w in model.get_weights()))"
_BUILD_CHECKSUM = f"""
import keras, numpy as np
from colorization_tf import models  # imported before the seed is set, as a script does
keras.utils.set_random_seed(0)
model = models.build_model("resnet_unet", image_size=32, encoder_depth=18)
print(repr({_CHECKSUM}))
"""


def test_the_same_seed_builds_the_same_weights_in_another_process():
    """The initial weights depend on the seed alone, not on the process (a seed drawn at import did)."""
    import subprocess
    import sys

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    there = subprocess.run([sys.executable, "-c", _BUILD_CHECKSUM], capture_output=True, text=True, env=env, check=True,
                           timeout=300).stdout.strip().splitlines()[-1]
    keras.utils.set_random_seed(0)
    model = build_model("resnet_unet", image_size=32, encoder_depth=18)
    assert there == repr(eval(_CHECKSUM))  # noqa: S307 -- the same expression on both sides
