import numpy as np
import pytest
import skimage.color
import skimage.data
import tensorflow as tf

from colorization_tf import color

PHOTOS = ["astronaut", "coffee", "chelsea", "rocket"]


def test_rgb_to_lab_matches_skimage_on_random():
    rgb = np.random.default_rng(0).random((3, 32, 40, 3))
    ours = color.rgb_to_lab(rgb).numpy()
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, skimage.color.rgb2lab(rgb), atol=1e-3)


@pytest.mark.parametrize("name", PHOTOS)
def test_rgb_to_lab_matches_skimage_on_real_photos(name):
    img = getattr(skimage.data, name)()  # uint8: both sides scale to [0, 1]
    np.testing.assert_allclose(color.rgb_to_lab(img).numpy(), skimage.color.rgb2lab(img), atol=1e-3)


def test_lab_to_rgb_matches_skimage_and_round_trips():
    rgb = np.random.default_rng(1).random((16, 16, 3))
    lab = skimage.color.rgb2lab(rgb)
    np.testing.assert_allclose(color.lab_to_rgb(lab).numpy(), skimage.color.lab2rgb(lab), atol=1e-3)
    np.testing.assert_allclose(color.lab_to_rgb(color.rgb_to_lab(rgb)).numpy(), rgb, atol=1e-3)


def test_out_of_gamut_lab_is_clipped_without_nan():
    lab = np.array([[0, 120, -120], [100, -128, 127], [50, 0, 250], [0, 0, -300], [100, 200, 200]], np.float32)
    rgb = color.lab_to_rgb(lab).numpy()
    assert np.isfinite(rgb).all() and rgb.min() >= 0 and rgb.max() <= 1


def test_gradients_are_finite_at_zero_and_black():
    x = tf.zeros((2, 4, 4, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(color.lab_to_rgb(color.rgb_to_lab(x)))
    assert np.isfinite(tape.gradient(y, x).numpy()).all()


def test_inside_dataset_map_and_xla():
    rgb = np.random.default_rng(2).random((4, 8, 8, 3)).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices(rgb).map(color.rgb_to_lab)
    mapped = np.stack(list(ds.as_numpy_iterator()))
    np.testing.assert_allclose(mapped, skimage.color.rgb2lab(rgb), atol=1e-3)
    compiled = tf.function(lambda t: color.lab_to_rgb(color.rgb_to_lab(t)), jit_compile=True)
    np.testing.assert_allclose(compiled(rgb).numpy(), rgb, atol=1e-3)


@pytest.mark.parametrize("name", sorted(color.NORMALIZATIONS))
def test_normalizations_invert(name):
    norm = color.get_normalization(name)
    lab = color.rgb_to_lab(np.random.default_rng(3).random((8, 8, 3)))
    l, ab = color.split_lab(lab)
    np.testing.assert_allclose(norm.decode_l(norm.encode_l(l)), l, atol=1e-4)
    np.testing.assert_allclose(norm.decode_ab(norm.encode_ab(ab)), ab, atol=1e-4)


def test_paper_normalization_ranges():
    ab = tf.constant([[-128.0, 127.0]])
    np.testing.assert_allclose(color.get_normalization("lee2016").encode_ab(ab), [[0.0, 255 / 255]], atol=1e-6)
    np.testing.assert_allclose(color.get_normalization("polychromify").encode_ab(ab), [[-1.0, 127 / 128]])
    np.testing.assert_allclose(color.get_normalization("zhang").encode_l(tf.constant([0.0, 100.0])), [-0.5, 0.5])
    with pytest.raises(ValueError, match="Unknown normalization"):
        color.get_normalization("nope")
