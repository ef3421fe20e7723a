"""The numpy CS520 ANN colorizer (colorization_tf.cs520_ann)."""

import subprocess
import sys

import numpy as np
import pytest
import skimage.data
from skimage.color import rgb2gray
from skimage.transform import rescale

from colorization_tf import cs520_ann


def test_quantize_rgb_rounds_to_the_four_levels():
    img = np.array([[[0, 31, 32], [95, 96, 159], [161, 224, 255]]], np.uint8)
    np.testing.assert_array_equal(cs520_ann.quantize_rgb(img), [[[0, 0, 64], [64, 128, 128], [192, 192, 192]]])
    np.testing.assert_array_equal(cs520_ann.level_labels(img), [[[0, 0, 1], [1, 2, 2], [3, 3, 3]]])


def test_luminance_is_skimage_rgb2gray():
    img = skimage.data.chelsea()[:20, :30]
    np.testing.assert_allclose(cs520_ann.luminance(img), rgb2gray(img), atol=1e-12)


def test_gray_windows_match_a_loop_with_edge_padding():
    gray = np.arange(12, dtype=float).reshape(3, 4)
    windows = cs520_ann.gray_windows(gray)
    padded = np.pad(gray, 1, mode="edge")
    expected = np.array([padded[i : i + 3, j : j + 3].ravel() for i in range(3) for j in range(4)])
    np.testing.assert_array_equal(windows, expected)
    with pytest.raises(ValueError, match="gray"):
        cs520_ann.gray_windows(np.zeros([2, 2, 3]))


def test_ann_beats_a_constant_colour_on_a_real_photo_and_is_deterministic(tmp_path):
    photo = (rescale(skimage.data.chelsea(), 0.5, channel_axis=-1, anti_aliasing=True) * 255).round().astype(np.uint8)
    kwargs = dict(epochs=3, lr=0.5, batch_size=256, seed=0)
    result = cs520_ann.left_right_experiment(photo, **kwargs)
    half = photo.shape[1] // 2
    assert result.predicted_right.shape == result.ideal_right.shape == (photo.shape[0], photo.shape[1] - half, 3)
    assert set(np.unique(result.predicted_right)) <= set(cs520_ann.LEVELS.tolist())
    assert result.difference < 0.5 * result.baseline_difference
    assert result.model.history[-1] < result.model.history[0]
    again = cs520_ann.left_right_experiment(photo, **kwargs)
    np.testing.assert_array_equal(again.predicted_right, result.predicted_right)
    assert again.difference == result.difference

    from colorization_tf.plots.quantize import plot_left_right

    assert plot_left_right(result, tmp_path / "ann.png").stat().st_size > 1000


def test_module_does_not_import_tensorflow():
    code = "import sys, colorization_tf.cs520_ann; assert 'tensorflow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
