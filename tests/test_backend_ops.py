"""The `keras.ops` replacements of TensorFlow ops match them on TensorFlow (issue 21).

`colorization_tf.ssim.ssim_ops` computes `tf.image.ssim`; `models.blocks.BilinearUpsample.upsample_ops`
computes `tf.image.resize` bilinear by an integer factor, also in a graph traced for any size (the
export). On the TensorFlow backend `ssim` and the layer are those TensorFlow ops themselves, bit for
bit, so TensorFlow runs keep their numbers (the `keras.ops` versions round differently in the last
bit, which moved the `--quick` results of Lee et al. and Menon & Talukdar). The lazy
TensorFlow import of `colorization_tf._tensorflow` names what needs TensorFlow when it is missing.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import _tensorflow
from colorization_tf import ssim as ssim_module
from colorization_tf.models.blocks import BilinearUpsample


@pytest.mark.parametrize("shape", [(2, 11, 11, 1), (2, 16, 23, 3), (1, 32, 17, 2)])
def test_ssim_is_tf_image_ssim(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.uniform(0, 1, shape).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.2, shape), 0, 1).astype(np.float32)
    for x, y in ((a, b), (a, a), (a, 1 - a)):
        expected = tf.image.ssim(x, y, max_val=1.0).numpy()
        np.testing.assert_allclose(np.asarray(ssim_module.ssim_ops(x, y)), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(ssim_module.ssim(x, y)), expected)
    assert np.asarray(ssim_module.ssim_ops(a, a)) == pytest.approx(1.0, abs=1e-5)
    for function in (ssim_module.ssim, ssim_module.ssim_ops):
        with pytest.raises(ValueError, match="ssim.py: SSIM needs images of at least 11x11"):
            function(a[:, :10], b[:, :10])


def test_gaussian_window_is_tf_image_s_and_sums_to_one():
    window = ssim_module.gaussian_window()
    assert window.shape == (11, 11) and window.sum() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(window, window.T)
    assert window[5, 5] == window.max() and window[0, 0] == window.min()


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_bilinear_upsample_is_tf_image_resize(factor):
    x = np.random.default_rng(factor).normal(size=(2, 5, 7, 3)).astype(np.float32)
    expected = tf.image.resize(x, (5 * factor, 7 * factor), method="bilinear").numpy()
    layer = BilinearUpsample(factor)
    np.testing.assert_allclose(np.asarray(layer.upsample_ops(x)), expected, atol=2e-6)
    np.testing.assert_array_equal(np.asarray(layer(x)), expected)


def test_bilinear_upsample_traces_for_any_size_and_keeps_its_policy():
    layer = BilinearUpsample(2)
    signature = [tf.TensorSpec([None, None, None, 3])]
    any_size = tf.function(layer, input_signature=signature)
    any_size_ops = tf.function(layer.upsample_ops, input_signature=signature)
    for shape in [(1, 3, 4, 3), (2, 9, 6, 3)]:
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        expected = tf.image.resize(x, (2 * shape[1], 2 * shape[2]), method="bilinear").numpy()
        np.testing.assert_array_equal(any_size(x).numpy(), expected)
        np.testing.assert_allclose(any_size_ops(x).numpy(), expected, atol=2e-6)
    assert layer.compute_output_shape((None, None, 5, 3)) == (None, None, 10, 3)
    half = BilinearUpsample(2, dtype="mixed_float16")
    assert keras.backend.standardize_dtype(half(np.ones((1, 2, 2, 1), np.float32)).dtype) == "float16"


def test_lazy_tensorflow_names_what_needs_it_when_missing(monkeypatch):
    lazy = _tensorflow._LazyTensorFlow()

    def no_tensorflow(name):
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(_tensorflow.importlib, "import_module", no_tensorflow)
    with pytest.raises(ImportError, match="_tensorflow.py: this function needs TensorFlow"):
        lazy.constant  # noqa: B018 -- the attribute access is the import
    monkeypatch.undo()
    assert lazy.constant is tf.constant and _tensorflow.available()
