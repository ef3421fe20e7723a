"""PSNR, SSIM, colourfulness, ab errors and the papers' own metrics (colorization_tf.metrics)."""

import keras
import numpy as np
import pytest

from colorization_tf import metrics


def test_psnr_known_value_identical_images_and_uint8():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.2, 0.8, size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(metrics.psnr(a, a + 0.1).numpy(), 20.0, atol=1e-3)
    assert np.all(np.isinf(metrics.psnr(a, a).numpy()))
    np.testing.assert_allclose(metrics.psnr(a, a, max_db=100.0).numpy(), 100.0)
    u8 = (a * 255).round().astype(np.uint8)
    np.testing.assert_allclose(metrics.psnr(u8, u8 + 10).numpy(), 20 * np.log10(255 / 10), atol=1e-2)


def test_ssim_identical_is_one_and_small_images_raise():
    a = np.random.default_rng(1).uniform(size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(metrics.ssim(a, a).numpy(), 1.0, atol=1e-5)
    assert np.all(metrics.ssim(a, 1 - a).numpy() < 0.5)
    with pytest.raises(ValueError, match="at least 11x11"):
        metrics.ssim(a[:, :10], a[:, :10])


def test_colorfulness():
    gray = np.repeat(np.random.default_rng(2).uniform(size=(2, 8, 8, 1)), 3, -1)
    np.testing.assert_allclose(metrics.colorfulness(gray).numpy(), 0.0, atol=1e-3)
    red = np.zeros([8, 8, 3], np.uint8)
    red[..., 0] = 255
    assert float(metrics.colorfulness(red)) == pytest.approx(0.3 * np.hypot(255, 127.5), rel=1e-5)


def test_ab_errors_and_cs520_accuracy_on_constructed_errors():
    true = np.zeros([1, 2, 2, 2], np.float32)
    pred = true.copy()
    pred[0, :, :, 0] = [[0.0, 5.0], [9.9, 10.0]]
    pred[0, :, :, 1] = [[-20.0, 0.0], [0.0, -10.5]]
    # |errors|: 0, 5, 9.9, 10 | 20, 0, 0, 10.5 -> below 10: 0, 5, 9.9, 0, 0 = 5 of 8
    assert float(metrics.cs520_accuracy(true, pred)[0]) == pytest.approx(5 / 8)
    assert float(metrics.ab_l1(true, pred)[0]) == pytest.approx((5 + 9.9 + 10 + 20 + 10.5) / 8, rel=1e-5)
    assert float(metrics.ab_l2(true, pred)[0]) == pytest.approx((25 + 9.9**2 + 100 + 400 + 10.5**2) / 8, rel=1e-5)


def test_polychromify_accuracy_is_argmax_agreement_over_a_and_b():
    true = np.array([[[[0.5, 0.1], [0.1, 0.5], [-0.2, -0.3], [0.0, 0.9]]]], np.float32)
    pred = np.array([[[[0.9, 0.0], [0.6, 0.5], [-0.9, -0.1], [-1.0, 0.0]]]], np.float32)
    # argmax true: 0, 1, 0, 1; pred: 0, 0, 1, 1 -> 2 of 4 agree, whatever the colour errors
    assert float(metrics.polychromify_accuracy(true, pred)[0]) == pytest.approx(0.5)
    m = metrics.PolyChromifyAccuracy()
    m.update_state(true, pred)
    assert float(m.result()) == pytest.approx(0.5)


def test_cs520_difference():
    true = np.zeros([2, 3, 3], np.uint8)  # one 2x3 image
    pred = true.copy()
    pred[0, 0] = [64, 64, 0]  # |128| / 64 = 2
    true[1, 1] = [64, 0, 0]
    pred[1, 1] = [0, 64, 0]  # dR + dG cancel: 0 (the paper's metric sums signed differences)
    pred[1, 2] = [0, 0, 64]  # 1
    assert metrics.cs520_difference(true, pred) == pytest.approx(3 / 6)
    batch = metrics.cs520_difference(np.stack([true, true]), np.stack([true, pred]))
    np.testing.assert_allclose(batch, [0.0, 3 / 6])
    with pytest.raises(ValueError, match="shapes"):
        metrics.cs520_difference(true, pred[:1])


def test_keras_metrics_decode_their_normalisation_and_round_trip():
    rng = np.random.default_rng(3)
    ab_true = rng.uniform(-60, 60, size=(2, 4, 4, 2)).astype(np.float32)
    ab_pred = ab_true + rng.choice([-12.0, 3.0], size=ab_true.shape).astype(np.float32)
    mae = metrics.ABMeanAbsoluteError(normalization="lee2016")
    mae.update_state((ab_true + 128) / 255, (ab_pred + 128) / 255)
    assert float(mae.result()) == pytest.approx(np.abs(ab_true - ab_pred).mean(), rel=1e-4)
    acc = metrics.get_metric("cs520_accuracy")
    acc.update_state(ab_true + 128, ab_pred + 128)
    assert float(acc.result()) == pytest.approx(np.mean(np.abs(ab_true - ab_pred) < 10), rel=1e-5)
    for m in (mae, acc, metrics.PolyChromifyAccuracy()):
        clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(m))
        assert type(clone) is type(m) and clone.get_config() == m.get_config()
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.get_metric("accuracy")


def test_evaluate_colorization_on_lab_inputs():
    rng = np.random.default_rng(4)
    l = rng.uniform(30, 70, size=(2, 16, 16, 1)).astype(np.float32)
    ab = rng.uniform(-20, 20, size=(2, 16, 16, 2)).astype(np.float32)
    same = metrics.evaluate_colorization(l, ab, ab)
    assert set(same) >= {"psnr", "ssim", "colorfulness", "ab_l1", "ab_l2", "cs520_accuracy", "polychromify_accuracy"}
    np.testing.assert_allclose(same["psnr"], metrics.PSNR_CAP_DB)
    np.testing.assert_allclose(same["ssim"], 1.0, atol=1e-5)
    np.testing.assert_allclose(same["colorfulness"], same["colorfulness_true"], rtol=1e-5)
    gray = metrics.evaluate_colorization(l, ab, np.zeros_like(ab), per_image=False)
    assert gray["psnr"] < 40 and gray["ab_l1"] == pytest.approx(np.abs(ab).mean(), rel=1e-4)
    assert gray["colorfulness"] < 1.0 < gray["colorfulness_true"]
