"""Soft-encoded (weighted) CE, pixel + SSIM composites, sum-reduced squared error (colorization_tf.losses)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import losses, quantize

Q = 313


def _blocky_target(seed=0, batch=2, size=16, factor=4):
    """Encoded ab (/110) constant on factor x factor blocks, so pooling is exact."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(-50, 50, size=(batch, size // factor, size // factor, 2)).astype(np.float32)
    return np.repeat(np.repeat(low, factor, 1), factor, 2) / 110.0, low


def test_ce_uniform_logits_give_log_q_and_perfect_logits_the_entropy():
    y_true, low = _blocky_target()
    target = quantize.soft_encode(low, quantize.ab_bin_centers(10)).numpy()
    loss = losses.SoftEncodedCrossEntropy()
    uniform = float(loss(y_true, np.zeros(target.shape, np.float32)))
    assert uniform == pytest.approx(np.log(Q), rel=1e-5)
    perfect = float(loss(y_true, np.log(target + 1e-12)))
    entropy = float(np.mean(-(target * np.log(target + 1e-12)).sum(-1)))
    assert perfect == pytest.approx(entropy, abs=1e-3)
    assert perfect < 0.5 * uniform
    # float16 logits and targets work (cast to float32)
    half = float(loss(y_true.astype(np.float16), np.log(target + 1e-3).astype(np.float16)))
    assert np.isfinite(half) and half < 0.5 * uniform


def test_average_and_subsample_agree_on_blocky_targets_and_differ_otherwise():
    y_true, low = _blocky_target(1)
    logits = tf.random.stateless_normal([2, 4, 4, Q], seed=[1, 1])
    avg = losses.SoftEncodedCrossEntropy(downsample="average")
    sub = losses.SoftEncodedCrossEntropy(downsample="subsample")
    assert float(avg(y_true, logits)) == pytest.approx(float(sub(y_true, logits)), rel=1e-5)
    noisy = y_true + np.random.default_rng(0).normal(0, 0.1, y_true.shape).astype(np.float32)
    assert float(avg(noisy, logits)) != pytest.approx(float(sub(noisy, logits)), rel=1e-4)
    with pytest.raises(ValueError, match="integer multiple"):
        avg(np.zeros([1, 10, 10, 2], np.float32), np.zeros([1, 4, 4, Q], np.float32))


def test_weighted_ce_scales_by_class_weights_and_masks_gray_images():
    y_true, _ = _blocky_target(2)
    y_true[1] = 0.02 / 110.0  # second image gray
    logits = tf.random.stateless_normal([2, 4, 4, Q], seed=[2, 2])
    plain = losses.SoftEncodedCrossEntropy(reduction=None)(y_true, logits).numpy()
    weighted = losses.SoftEncodedCrossEntropy(class_weights=np.full(Q, 2.0), reduction=None)(y_true, logits).numpy()
    assert weighted[0] == pytest.approx(2 * plain[0], rel=1e-5)
    assert weighted[1] == 0.0 and plain[1] > 0
    # weights depend on the target's nearest bin
    w = np.ones(Q, np.float32)
    nearest = quantize.hard_encode(y_true[0, 0, 0] * 110.0, quantize.ab_bin_centers(10)).numpy()
    w[nearest] = 100.0
    assert losses.SoftEncodedCrossEntropy(class_weights=w, reduction=None)(y_true, logits).numpy()[0] > 1.5 * plain[0]


def test_ce_config_round_trip_and_fit_one_step():
    weights = quantize.rebalancing_weights(np.full(Q, 1.0 / Q))
    loss = losses.get_loss("wce", class_weights=weights, k=3)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(clone, losses.SoftEncodedCrossEntropy)
    assert clone.k == 3 and np.allclose(clone.class_weights, weights)
    inp = keras.Input([16, 16, 1])
    model = keras.Model(inp, keras.layers.Conv2D(Q, 4, strides=4, dtype="float32")(inp))
    model.compile(optimizer="adam", loss=losses.get_loss("ce"))
    y_true, _ = _blocky_target(3)
    history = model.fit(np.ones([2, 16, 16, 1], np.float32), y_true, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_pixel_ssim_loss():
    rng = np.random.default_rng(4)
    y = rng.uniform(-0.8, 0.8, size=(2, 16, 16, 2)).astype(np.float32)
    p = y + rng.normal(0, 0.1, size=y.shape).astype(np.float32)
    loss = losses.PixelSSIMLoss(base="l1", ssim_weight=0.5, reduction=None)
    assert np.allclose(loss(y, y).numpy(), 0.0, atol=1e-5)
    ssim = tf.image.ssim(np.clip((y + 1) / 2, 0, 1), np.clip((p + 1) / 2, 0, 1), max_val=1.0).numpy()
    expected = np.abs(y - p).mean(axis=(1, 2, 3)) + 0.5 * (1 - ssim)
    np.testing.assert_allclose(loss(y, p).numpy(), expected, rtol=1e-4)
    mse = losses.get_loss("mse_ssim", reduction=None)
    np.testing.assert_allclose(mse(y, p).numpy(), ((y - p) ** 2).mean(axis=(1, 2, 3)) + 1e-3 * (1 - ssim), rtol=1e-4)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(mse))
    assert (clone.base, clone.ssim_weight, clone.ab_range) == ("mse", 1e-3, (-1.0, 1.0))
    with pytest.raises(ValueError, match="11x11"):
        loss(np.zeros([1, 8, 8, 2], np.float32), np.zeros([1, 8, 8, 2], np.float32))


def test_sum_squared_error_is_the_frobenius_norm_squared():
    rng = np.random.default_rng(5)
    y, p = rng.normal(size=(2, 2, 4, 4, 2)).astype(np.float32)
    assert float(losses.SumSquaredError()(y, p)) == pytest.approx(float(((y - p) ** 2).sum()), rel=1e-5)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(losses.get_loss("sse")))
    assert isinstance(clone, losses.SumSquaredError)


def test_get_loss_names():
    assert isinstance(losses.get_loss("l1"), keras.losses.MeanAbsoluteError)
    assert isinstance(losses.get_loss("L2"), keras.losses.MeanSquaredError)
    assert isinstance(losses.get_loss("l1_ssim"), losses.PixelSSIMLoss)
    assert isinstance(losses.get_loss("bce", from_logits=True), keras.losses.BinaryCrossentropy)
    with pytest.raises(ValueError, match="class_weights"):
        losses.get_loss("wce")
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get_loss("hinge2")
