"""The public API of `colorization_tf`: `list_models`, `build_model`, `load_colorizer`, `colorize` (issue 18)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import colorization_tf
from colorization_tf import models, pretrained


def test_importing_the_package_imports_neither_tensorflow_nor_keras():
    code = ("import sys, colorization_tf; heavy = sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules); "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
    assert set(colorization_tf.__all__) >= {"build_model", "list_models", "load_colorizer", "colorize"}


def test_list_models_names_every_registered_model_sorted():
    names = colorization_tf.list_models()
    assert names == sorted(models.MODELS) and len(names) == len(set(names))
    assert {"polychromify", "iizuka_lee128", "resnet_unet", "eccv16_classification", "cs520_cnn", "compact_unet"} <= set(names)


def test_build_model_builds_the_registered_model_with_overrides():
    model = colorization_tf.build_model("compact_unet", image_size=32)
    reference = models.build_model("compact_unet", image_size=32)
    assert model.output_names == reference.output_names == ["ab"]
    assert model.count_params() == reference.count_params()
    assert tuple(model.input_shape) == tuple(reference.input_shape)
    with pytest.raises(ValueError, match="choose from"):
        colorization_tf.build_model("no_such_model")


@pytest.fixture
def shipped():
    if not (pretrained.DEFAULT_MODEL / "saved_model.pb").is_file():
        pytest.fail(f"the shipped model is missing from {pretrained.DEFAULT_MODEL}")
    return pretrained.DEFAULT_MODEL


def test_colorize_gives_uint8_rgb_of_the_input_size_as_load_colorizer_does(shipped, monkeypatch):
    loads = []
    real_load = colorization_tf.load_colorizer
    monkeypatch.setattr(colorization_tf, "_COLORIZERS", {})
    monkeypatch.setattr(colorization_tf, "load_colorizer", lambda path=None: loads.append(path) or real_load(path))
    gray = np.random.default_rng(0).integers(0, 256, (40, 52), dtype=np.uint8)
    rgb = colorization_tf.colorize(gray)
    assert rgb.dtype == np.uint8 and rgb.shape == (40, 52, 3)
    np.testing.assert_allclose(rgb.astype(np.int16), real_load()(gray).astype(np.int16), atol=1)
    batch = colorization_tf.colorize(np.stack([np.stack([gray] * 3, -1)] * 2), model=str(shipped) + "/")
    assert batch.dtype == np.uint8 and batch.shape == (2, 40, 52, 3)
    assert len(loads) == 1, "colorize loads a model once, whichever way its folder is spelled"
    with pytest.raises(ValueError, match="uint8"):
        colorization_tf.colorize(gray.astype(np.float32))


def test_colorize_loads_each_folder_once_and_uses_a_given_colorizer_as_is(tmp_path, monkeypatch):
    loaded = []

    def fake_load(path=None):
        loaded.append(path)
        number = len(loaded)  # which load made this colorizer: what it paints
        return lambda images: np.full((*np.shape(images)[:2], 3), number, np.uint8)

    monkeypatch.setattr(colorization_tf, "_COLORIZERS", {})
    monkeypatch.setattr(colorization_tf, "load_colorizer", fake_load)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    gray = np.zeros((4, 5), np.uint8)
    assert colorization_tf.colorize(gray, model=tmp_path / "a")[0, 0, 0] == 1
    assert colorization_tf.colorize(gray, model=tmp_path / "b")[0, 0, 0] == 2
    assert colorization_tf.colorize(gray, model=str(tmp_path / "b" / ".." / "a"))[0, 0, 0] == 1
    assert loaded == [str(tmp_path / "a"), str(tmp_path / "b")]
    assert colorization_tf.colorize(gray, model=lambda images: np.ones((4, 5, 3), np.uint8) * 9)[0, 0, 0] == 9
    assert len(loaded) == 2
