"""`colorization_tf.models.spec` and `.registry`: the contract stands alone, each family declares its specs, the registry collects them (issue 18)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from colorization_tf import models
from colorization_tf.models import heads, spec


def test_spec_imports_nothing_from_models():
    tree = ast.parse(Path(spec.__file__).read_text(encoding="utf-8"))
    imported = [node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert imported and not [name for name in imported if name and name.startswith("colorization_tf.models")]


def test_models_re_exports_the_contract_it_registers():
    for name in ("Head", "ModelSpec", "Preprocessor", "as_preprocessor", "REGRESSION", "CLASSIFICATION", "HEAD_KINDS",
                 "REGRESSION_HEAD", "ZHANG_BINS_HEAD", "colorizer_of"):
        assert getattr(models, name) is getattr(spec, name)
    for name in ("MODELS", "get_spec", "build_model", "list_models", "register", "register_family"):
        assert getattr(models, name) is getattr(models.registry, name)
    assert all(isinstance(s, spec.ModelSpec) and isinstance(s.head, spec.Head) for s in models.MODELS.values())


@pytest.mark.parametrize("head", [spec.ZHANG_BINS_HEAD, spec.Head(spec.CLASSIFICATION, 20.0, "zhang"),
                                  spec.Head(spec.CLASSIFICATION, None, "zhang")])
def test_a_heads_decoder_is_the_one_heads_builds(head):
    expected = heads.default_decode(gamut=head.gamut, bin_width=head.bin_width if head.bin_width is not None else 10)
    assert head.decoder().get_config() | {"name": None} == expected.get_config() | {"name": None}
    assert spec.REGRESSION_HEAD.decoder() is None


def test_each_family_file_declares_its_specs_beside_the_functions_they_point_at():
    """Every registered spec is in its builder's module's `SPECS`, and points at that module's functions."""
    import importlib

    from colorization_tf.models import registry

    declared = {}
    for module_name in registry.family_modules():
        for s in importlib.import_module(module_name).SPECS:
            declared[s.name] = module_name
            assert s.builder.__module__ == module_name, (s.name, s.builder)
    assert declared == {name: f"colorization_tf.models.{s.module}" for name, s in models.MODELS.items()}
    iizuka = models.get_spec("iizuka_lee128")
    assert iizuka.losses.__module__ == iizuka.metrics.__module__ == "colorization_tf.models.iizuka"
    assert models.get_spec("resnet_unet").discriminator.__name__ == "build_patchgan"
    assert "colorization_tf.models.gan" not in registry.family_modules()  # TensorFlow-only: never imported to register


def test_a_spec_points_at_functions_not_strings():
    with pytest.raises(TypeError, match="builder must be a function"):
        spec.ModelSpec("old_style", "eccv16:build_eccv16", "zhang", 32)
    with pytest.raises(TypeError, match="losses must be a function"):
        spec.ModelSpec("old_style", lambda **_: None, "zhang", 32, losses="iizuka:iizuka_losses")
    with pytest.raises(ValueError, match="no builder"):
        spec.ModelSpec("built_elsewhere", None, "zhang", 32).build()


def test_register_refuses_a_second_model_of_the_same_name_and_non_specs(monkeypatch):
    from colorization_tf.models import registry

    monkeypatch.setattr(registry, "MODELS", dict(registry.MODELS))
    twin = models.get_spec("compact_unet").replace(builder=lambda **_: None)
    with pytest.raises(ValueError, match="'compact_unet' is declared twice"):
        registry.register(twin)
    assert registry.MODELS["compact_unet"] is models.MODELS["compact_unet"]
    assert registry.register(twin, replace=True) == (twin,) and registry.MODELS["compact_unet"] is twin
    with pytest.raises(TypeError, match="takes `ModelSpec`s"):
        registry.register("compact_unet")


def test_family_modules_are_the_files_that_assign_specs(tmp_path):
    from colorization_tf.models import registry

    (tmp_path / "paper.py").write_text("SPECS = ()\n")
    (tmp_path / "typed.py").write_text("SPECS: tuple = ()\n")
    (tmp_path / "helper.py").write_text("def f():\n    SPECS = ()\n    return SPECS\nNOT_SPECS = 1\n")
    assert registry.family_modules(tmp_path, "toy") == ["toy.paper", "toy.typed"]


@pytest.mark.parametrize("name", ["eccv16_classification", "iizuka_lee128", "cs520_cnn", "polychromify_v3"])
def test_a_specs_preprocessor_holds_its_normalisation_head_and_size_multiple(name):
    from colorization_tf import color

    s = models.get_spec(name)
    pre = s.preprocessor
    assert isinstance(pre, spec.Preprocessor)
    assert pre.normalization is color.get_normalization(s.normalization) is color.get_normalization(pre)
    assert (pre.head, pre.size_multiple) == (s.head, s.size_multiple)
    assert (pre.decoder() is None) == (not s.head.classification)
    lab = np.array([[[[30.0, 20.0, -40.0], [70.0, -5.0, 60.0]]]], np.float32)
    l_enc, ab_enc = pre.encode_lab(lab)
    np.testing.assert_allclose(np.concatenate([pre.decode_l(l_enc), pre.decode_ab(ab_enc)], -1), lab, atol=1e-4)
    assert s.replace(normalization="zhang").preprocessor.normalization.name == "zhang"
    assert spec.as_preprocessor(pre) is pre and spec.as_preprocessor("cs520").normalization.name == "cs520"


def test_the_decoders_take_a_classification_heads_bins_from_the_preprocessor():
    """65 "zhang" bins are widths 21 and 22 alike: a model that stores no bins is decoded with its
    preprocessor's head, where a bare normalisation could only infer the smaller width."""
    import keras

    from colorization_tf import quantize

    width = 22.0
    bins = len(quantize.ab_bin_centers(width))
    assert quantize.bin_width_for_num_bins(bins) != width
    inp = keras.Input((8, 8, 1), name="L")
    x = keras.layers.AveragePooling2D(4)(inp)
    logits = keras.layers.Conv2D(bins, 1, name="logits", bias_initializer=keras.initializers.RandomNormal(seed=0))(x)
    model = keras.Model(inp, {"logits": logits})
    l_enc = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 8, 8, 1)).astype("float32")
    pre = spec.Preprocessor("zhang", spec.Head(spec.CLASSIFICATION, width))
    ab = np.asarray(heads.predict_ab(model, l_enc, pre))
    logits = model(l_enc)["logits"]
    low = quantize.annealed_mean(logits, quantize.ab_bin_centers(width)).numpy()  # Lab units, 1/4 resolution
    np.testing.assert_allclose(np.asarray(heads.logits_to_ab(logits, None, pre.decoder())), low, atol=1e-3)
    np.testing.assert_allclose(ab, np.asarray(heads.logits_to_ab(logits, (8, 8), pre.decoder())), atol=1e-5)
    assert np.abs(ab - np.asarray(heads.predict_ab(model, l_enc, "zhang"))).max() > 0.1
