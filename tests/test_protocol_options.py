"""The papers' own settings as options (issue 19, section 1): test-time nearest upsampling (Lee et al.),
nearest input resizing (PolyChromify), the whole training side when a paper selects nothing on
validation (Ziegler, CS520), and the U-Net encoder from a user's weights file (Menon & Talukdar)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import experiment as ex
from colorization_tf import output_upsampling as upsampling
from colorization_tf.data import decode
from colorization_tf.experiment.overrides import apply_overrides
from colorization_tf.experiment.protocol import MATCH, VALIDATION_NONE
from colorization_tf.experiment.runner import resolve_splits, run_digest
from colorization_tf.models import build_model
from tests.test_protocol import _paper_layout, _protocol, _script


def test_nearest_test_time_upsampling_repeats_the_half_resolution_output():
    model = build_model("iizuka_lee128", image_size=32, num_classes=3)
    nearest = upsampling.with_output_upsampling(model, "nearest")
    assert upsampling.with_output_upsampling(model, None) is model
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    half = keras.Model(model.inputs, model.get_layer("ab_half_resolution").output)(x)
    out, own = nearest(x), model(x)
    np.testing.assert_allclose(out["ab"], np.repeat(np.repeat(half, 2, 1), 2, 2), rtol=1e-6)
    assert not np.allclose(out["ab"], own["ab"])  # the model's own layer is bilinear
    np.testing.assert_allclose(out["scene"], own["scene"], rtol=1e-6)
    assert [w.path for w in nearest.weights] == [w.path for w in model.weights]  # the same variables, nothing new
    assert upsampling.describe("bilinear x2", "nearest") == "nearest x2" and upsampling.describe("bilinear x2", None) == "bilinear x2"


def test_test_time_upsampling_refuses_models_it_cannot_change():
    with pytest.raises(ValueError, match="polychromify_final.*does not upsample"):
        upsampling.with_output_upsampling(build_model("polychromify", image_size=32), "nearest")
    with pytest.raises(ValueError, match="test_upsampling 'cubic'"):
        upsampling.with_output_upsampling(build_model("iizuka_lee128", image_size=32, num_classes=3), "cubic")


def test_nearest_resize_keeps_source_pixels_where_area_averages():
    image = tf.constant(np.kron([[0, 255], [255, 0]], np.ones((4, 4)))[..., None].repeat(3, -1), tf.uint8)  # 8x8 blocks
    checker = tf.constant((np.indices((8, 8)).sum(0) % 2 * 255)[..., None].repeat(3, -1), tf.uint8)
    nearest = decode.resize_float(checker, 4, "nearest").numpy()
    assert set(np.unique(nearest)) <= {0.0, 255.0}  # picked pixels, never a mix
    np.testing.assert_allclose(decode.resize_float(checker, 4, "auto").numpy(), 127.5)  # area: the average
    np.testing.assert_array_equal(decode.resize_float(image, 2, "nearest").numpy()[..., 0], [[0, 255], [255, 0]])
    with pytest.raises(ValueError, match="decode.py.*'cubic'"):
        decode.resize_float(image, 2, "cubic")


def test_data_options_in_the_tree_flat_keywords_and_set():
    """resize_method / hold_out_val live in `DataConfig`; the flat keywords and `--set` (either spelling) reach
    them and flag them; a non-"auto" resize trains in its own work directory, "auto" keeps the old digest."""
    run = ex.RunConfig("r", "iizuka", test_upsampling="nearest", epochs=1, batch_size=2, seed=0)
    flat = ex.ExperimentConfig("p", "t", runs=[run], resize_method="nearest", hold_out_val=False)
    tree = ex.ExperimentConfig("p", "t", runs=[run], data=ex.DataConfig(resize_method="nearest", hold_out_val=False))
    assert flat.data == tree.data and (flat.data.resize_method, flat.data.hold_out_val) == ("nearest", False)
    for assignment, flag in (("data.resize_method=bilinear", "resize_method"), ("hold_out_val=true", "hold_out_val")):
        changed = apply_overrides(flat, [assignment])
        assert changed.overridden == (flag,) and changed.data != flat.data
    assert apply_overrides(flat, ["runs.r.test_upsampling=none"]).runs[0].test_upsampling is None
    paths = [f"/data/a/{i}.png" for i in range(4)]
    assert run_digest(run, paths, resize_method="auto") == run_digest(run, paths)
    assert run_digest(run, paths, resize_method="nearest") != run_digest(run, paths)


def test_whole_training_side_without_validation(tmp_path):
    root = _paper_layout(tmp_path / "data", "ziegler2022")
    held = ex.ExperimentConfig("p", "t", runs=[], data=str(root), protocol="ziegler")
    whole = ex.ExperimentConfig("p", "t", runs=[], data=str(root), protocol="ziegler", hold_out_val=False)
    a, b = resolve_splits(held, str(root)), resolve_splits(whole, str(root))
    assert a.val_carved and a.splits["val"]
    assert not b.val_carved and b.splits["val"] == [] and "hold_out_val=False" in b.report
    assert sorted(b.splits["train"]) == sorted(a.splits["train"] + a.splits["val"]) and b.splits["test"] == a.splits["test"]


@pytest.mark.parametrize("name,run", [("ziegler2022", "eccv16_l1"), ("cs520", "cnn_beach")])
def test_papers_without_validation_train_on_the_whole_training_side(name, run, tmp_path):
    rows = _protocol(name, _paper_layout(tmp_path / "data", name))
    row = next(r for r in rows if r["key"] == "validation" and (r["runs"] == ["all"] or run in r["runs"]))
    assert (row["ours"], row["mark"]) == (VALIDATION_NONE, MATCH)


def test_encoder_weights_option_reaches_the_first_unets(tmp_path):
    mod = _script("menon2021")
    path = tmp_path / "imagenet.weights.h5"
    path.write_bytes(b"")
    cfg = mod.make_config(type("Args", (), {"data": None, "encoder_weights": str(path)})())
    given = {r.name: r.model_kwargs.get("pretrained_weights") for r in cfg.runs}
    assert given["unet_l1_ssim"] == given["generator_l1"] == str(path)
    assert given["unet_mse_ssim"] is None and given["gan"] is None  # they start from the runs above
    with pytest.raises(SystemExit, match="--encoder-weights.*nothing.h5: no such file"):
        mod.make_config(type("Args", (), {"data": None, "encoder_weights": str(tmp_path / "nothing.h5")})())
    root = _paper_layout(tmp_path / "data", "menon2021")
    rows = _protocol("menon2021", root, ["--set", f'runs.unet_l1_ssim.model_kwargs={{"pretrained_weights": "{path}"}}'])
    init = next(r for r in rows if r["key"] == "init" and "unet_l1_ssim" in r["runs"])
    assert "imagenet.weights.h5" in init["ours"] and "ImageNet" in init["ours"]
