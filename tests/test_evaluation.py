"""Evaluation: metrics per image on known inputs, the gray baseline, and the atomic writers."""

import json
import math

import keras
import numpy as np
import tensorflow as tf

from colorization_tf import color, evaluation, quantize
from colorization_tf.models import heads


def _dataset(n=5, size=16, batch=2, seed=0):
    rng = np.random.default_rng(seed)
    rgb = rng.uniform(0.1, 0.9, size=(n, size, size, 3)).astype(np.float32)
    lab = color.rgb_to_lab(rgb)
    norm = color.get_normalization("zhang")
    l, ab = color.split_lab(lab)
    return tf.data.Dataset.from_tensor_slices((norm.encode_l(l), norm.encode_ab(ab))).batch(batch), norm


def test_perfect_prediction_scores_perfectly_and_gray_does_not():
    ds, norm = _dataset()
    # A predictor that returns the truth: look the target up by L (the dataset is small).
    pairs = [(l.numpy(), ab.numpy()) for l, ab in ds]

    def truth(l_enc):
        for l, ab in pairs:
            if l.shape == l_enc.shape and np.array_equal(l, l_enc.numpy()):
                return norm.decode_ab(ab), None
        raise AssertionError("unknown batch")

    perfect = evaluation.evaluate_predictions("perfect", ds, truth, norm)
    gray = evaluation.evaluate_gray(ds, norm)
    assert perfect.n_images == gray.n_images == 5
    assert perfect.mean["ab_l1"] < 1e-4 and perfect.mean["ssim"] > 0.999
    assert gray.mean["ab_l1"] > 1.0 and gray.mean["psnr"] < perfect.mean["psnr"]
    assert gray.mean["colorfulness"] < 1.0
    # per-image values average to the mean
    assert math.isclose(np.mean([r["ab_l1"] for r in gray.per_image]), gray.mean["ab_l1"], rel_tol=1e-9)
    assert gray.samples["l"].shape[0] == 5 and gray.samples["ab_pred"].shape[-1] == 2


def test_max_images_and_scene_accuracy():
    ds, norm = _dataset(n=6)
    labels = tf.constant([0, 1, 1, 0, 1, 0])
    labelled = tf.data.Dataset.zip(ds.unbatch(), tf.data.Dataset.from_tensor_slices(labels)).map(
        lambda x, s: (x[0], {"ab": x[1], "scene": s})).batch(4)
    logits = lambda l_enc: (tf.zeros(tf.concat([tf.shape(l_enc)[:3], [2]], 0)), tf.tile([[1.0, 0.0]], [tf.shape(l_enc)[0], 1]))
    res = evaluation.evaluate_predictions("const", labelled, logits, norm, max_images=5)
    assert res.n_images == 5
    assert math.isclose(res.mean[evaluation.SCENE_ACCURACY], 2 / 5)  # class 0 predicted; first labels 0,1,1,0,1


def test_wider_bin_classifier_is_decoded_with_the_exports_decoder():
    """Logits for Ziegler-style wider bins (and a scene head) evaluate; the decoding is `models.heads`."""
    centers = quantize.ab_bin_centers(20.0)
    inp = keras.Input((16, 16, 1), name="L")
    pooled = keras.layers.AveragePooling2D(4)(inp)
    logits = keras.layers.Conv2D(len(centers), 1, name="logits")(pooled)
    scene = keras.layers.Dense(3, name="scene")(keras.layers.GlobalAveragePooling2D()(inp))
    model = keras.Model(inp, {"logits": logits, "scene": scene})
    ds, norm = _dataset(n=3)
    l_enc = next(iter(ds))[0]
    ab, scene_logits = evaluation.predict_lab(model, l_enc, norm)
    assert ab.shape == (2, 16, 16, 2) and scene_logits.shape == (2, 3)
    np.testing.assert_allclose(ab.numpy(), heads.predict_ab(model, l_enc, norm).numpy(), atol=1e-6)
    raw = model(l_enc)["logits"]
    np.testing.assert_allclose(evaluation.decode_logits(raw, (16, 16), bin_width=20.0).numpy(), ab.numpy(), atol=1e-6)
    coarse = quantize.annealed_mean(raw, centers).numpy()  # Lab units at the logits' 1/4 resolution
    np.testing.assert_allclose(tf.image.resize(coarse, (16, 16)).numpy(), ab.numpy(), atol=1e-4)
    result = evaluation.evaluate_model(model, ds, norm)
    assert result.n_images == 3 and np.isfinite(result.mean["ab_l1"])


def test_markdown_table_and_atomic_json(tmp_path):
    text = evaluation.markdown_table(["a", "b"], [["x", 1.23456], ["y", float("nan")]], digits=2)
    lines = text.strip().splitlines()
    assert lines[0] == "| a | b |" and lines[2] == "| x | 1.23 |" and lines[3] == "| y | – |"
    path = evaluation.write_json(tmp_path / "sub" / "r.json", {"v": np.float32(1.5), "n": float("inf"), "arr": np.arange(3)})
    assert json.loads(path.read_text()) == {"v": 1.5, "n": None, "arr": [0, 1, 2]}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    env = evaluation.environment_info()
    assert env["packages"]["tensorflow"] == tf.__version__


def test_decode_logits_uses_the_callers_bin_width_not_one_inferred_from_q():
    """Widths 21 and 22 both give 65 "zhang" bins: inferring from Q would pick 21."""
    centers_22 = quantize.ab_bin_centers(22.0)
    assert len(quantize.ab_bin_centers(21.0)) == len(centers_22) == 65
    logits = tf.random.stateless_normal([1, 4, 4, 65], seed=[1, 2]) * 3.0
    expected = quantize.annealed_mean(logits, centers_22).numpy()
    np.testing.assert_allclose(evaluation.decode_logits(logits, (4, 4), bin_width=22.0).numpy(), expected, atol=1e-4)
    wrong = quantize.annealed_mean(logits, quantize.ab_bin_centers(21.0)).numpy()
    assert np.abs(wrong - expected).max() > 0.5  # the widths decode differently: the test can fail
