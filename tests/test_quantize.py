"""ab bins, soft encoding, priors, weights and annealed-mean decoding (colorization_tf.quantize)."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from scipy.spatial import cKDTree
from skimage.color import rgb2lab

from colorization_tf import quantize

# Zhang et al.'s released pts_in_hull.npy, written as a -> (lowest b, highest b), step 10.
ZHANG_RELEASE_ROWS = {
    -90: (50, 90), -80: (20, 90), -70: (0, 90), -60: (-20, 90), -50: (-30, 100), -40: (-40, 100),
    -30: (-50, 100), -20: (-50, 100), -10: (-60, 100), 0: (-70, 100), 10: (-80, 90), 20: (-80, 90),
    30: (-90, 90), 40: (-100, 90), 50: (-100, 80), 60: (-110, 80), 70: (-110, 80), 80: (-110, 70),
    90: (-110, 70), 100: (-90, 0),
}


def _srgb_ab_sample(levels=40, face_levels=129):
    """ab of sRGB colours (skimage): a cube grid plus a denser grid on the cube's faces."""
    g = np.linspace(0, 1, levels)
    parts = [np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)]
    f = np.linspace(0, 1, face_levels)
    u, v = (x.ravel() for x in np.meshgrid(f, f, indexing="ij"))
    for axis in range(3):
        for value in (0.0, 1.0):
            cols = [u, v]
            cols.insert(axis, np.full_like(u, value))
            parts.append(np.stack(cols, -1))
    return rgb2lab(np.concatenate(parts)[None])[0, :, 1:]


def test_313_bins_at_width_10_are_zhangs_release_in_order():
    centers = quantize.ab_bin_centers(10)
    expected = [(a, b) for a in sorted(ZHANG_RELEASE_ROWS) for b in range(ZHANG_RELEASE_ROWS[a][0], ZHANG_RELEASE_ROWS[a][1] + 1, 10)]
    assert centers.shape == (313, 2) and centers.dtype == np.float32
    assert [tuple(int(v) for v in c) for c in centers] == expected
    assert quantize.ab_bin_centers(10) is centers  # cached


def test_srgb_bins_are_in_gamut_and_every_colour_has_a_bin():
    ab = _srgb_ab_sample()
    srgb = quantize.ab_bin_centers(10, gamut="srgb")
    zhang = quantize.ab_bin_centers(10)
    # each sRGB-rule cell holds some sRGB colour (sampling tolerance 1 Lab unit)
    tree = cKDTree(ab)
    linf, _ = tree.query(srgb, p=np.inf)
    assert linf.max() <= 5.0 + 0.5
    assert {tuple(c) for c in srgb.tolist()} <= {tuple(c) for c in zhang.tolist()}
    for width in (10, 20):
        for gamut in ("zhang", "srgb"):
            c = quantize.ab_bin_centers(width, gamut)
            nearest, _ = cKDTree(c).query(ab, p=np.inf)
            assert nearest.max() <= width / 2 + 1e-3, (width, gamut)


def test_wider_bins_give_fewer_classes():
    assert len(quantize.ab_bin_centers(20)) < len(quantize.ab_bin_centers(10)) < len(quantize.ab_bin_centers(5))
    assert len(quantize.ab_bin_centers(20, "srgb")) < len(quantize.ab_bin_centers(10, "srgb"))
    with pytest.raises(ValueError, match="gamut"):
        quantize.ab_bin_centers(10, gamut="adobe")


def test_bin_width_for_num_bins_inverts_the_bin_count():
    assert quantize.bin_width_for_num_bins(313) == 10.0
    for width in (5.0, 12.0, 20.0):
        assert quantize.bin_width_for_num_bins(len(quantize.ab_bin_centers(width))) == width
    assert quantize.bin_width_for_num_bins(len(quantize.ab_bin_centers(10, "srgb")), "srgb") == 10.0
    assert quantize.bin_width_for_num_bins(len(quantize.ab_bin_centers(16, "srgb")), "srgb") == 16.0
    # Several widths can give the same count on a coarse grid: the finest of them is returned.
    count = len(quantize.ab_bin_centers(22))
    finest = quantize.bin_width_for_num_bins(count)
    assert finest <= 22.0 and len(quantize.ab_bin_centers(finest)) == count
    assert all(len(quantize.ab_bin_centers(w)) != count for w in range(1, int(finest)))
    impossible = len(quantize.ab_bin_centers(10)) + 1
    with pytest.raises(ValueError, match=f"gives {impossible} bins"):
        quantize.bin_width_for_num_bins(impossible)
    with pytest.raises(ValueError, match="gamut"):
        quantize.bin_width_for_num_bins(313, gamut="adobe")


def test_soft_encoding_sums_to_one_on_the_k_nearest_and_decodes_within_a_bin():
    centers = quantize.ab_bin_centers(10)
    rng = np.random.default_rng(0)
    sample = _srgb_ab_sample(16, 17)
    ab = sample[rng.choice(len(sample), 300, replace=False)].astype(np.float32)
    enc = quantize.soft_encode(ab, centers, k=5, sigma=5.0).numpy()
    assert enc.shape == (300, 313)
    np.testing.assert_allclose(enc.sum(-1), 1.0, atol=1e-5)
    d2 = ((ab[:, None, :] - centers[None]) ** 2).sum(-1)
    nearest5 = np.sort(np.argsort(d2, axis=1)[:, :5], axis=1)
    support = np.sort(np.argsort(-enc, axis=1)[:, :5], axis=1)
    assert np.all((enc > 0).sum(-1) == 5)
    np.testing.assert_array_equal(support, nearest5)
    decoded = quantize.expectation(enc, centers).numpy()
    assert np.abs(decoded - ab).max() < 10.0
    np.testing.assert_array_equal(quantize.hard_encode(ab, centers).numpy(), d2.argmin(1))


def test_soft_encoding_inside_dataset_map_matches_eager():
    centers = quantize.ab_bin_centers(10)
    ab = tf.random.stateless_uniform([2, 4, 4, 2], seed=[1, 2], minval=-60, maxval=60)
    ds = tf.data.Dataset.from_tensor_slices(ab).map(lambda x: quantize.soft_encode(x, centers))
    mapped = np.stack(list(ds.as_numpy_iterator()))
    np.testing.assert_allclose(mapped, quantize.soft_encode(ab, centers).numpy(), atol=1e-6)


def _two_colour_dataset(ab1, ab2, normalization_scale=110.0):
    """Batches of images: top half colour 1, bottom half colour 2 (encoded ab / 110)."""
    img = np.zeros([3, 8, 8, 2], np.float32)
    img[:, :4] = ab1
    img[:, 4:] = ab2
    l_enc = np.zeros([3, 8, 8, 1], np.float32)
    return tf.data.Dataset.from_tensor_slices((l_enc, img / normalization_scale)).batch(2)


def test_prior_of_a_two_colour_set_puts_the_mass_in_their_bins(tmp_path):
    centers = quantize.ab_bin_centers(10)
    ds = _two_colour_dataset((20.0, 30.0), (-40.0, 10.0))
    raw = quantize.compute_prior(ds, centers, normalization="zhang", sigma=None)
    idx = [int(np.flatnonzero((centers == c).all(1))[0]) for c in ([20, 30], [-40, 10])]
    np.testing.assert_allclose(raw[idx], [0.5, 0.5])
    assert raw.sum() == pytest.approx(1.0)
    smooth = quantize.compute_prior(ds, centers, ab_scale=110.0, sigma=5.0)
    assert smooth.sum() == pytest.approx(1.0) and set(np.argsort(smooth)[-2:]) == set(idx)
    assert np.count_nonzero(smooth) > 2  # smoothing spreads mass to neighbours
    # a plain iterable of numpy batches gives the same prior as the dataset
    from_list = quantize.compute_prior(list(ds.as_numpy_iterator()), centers, normalization="zhang", sigma=5.0)
    np.testing.assert_allclose(from_list, smooth)
    path = quantize.save_prior(tmp_path / "prior", smooth, centers, bin_width=10, sigma=5.0)
    prior, c, meta = quantize.load_prior(path)
    np.testing.assert_allclose(prior, smooth)
    np.testing.assert_array_equal(c, centers)
    assert meta == {"bin_width": 10, "sigma": 5.0}
    assert sorted(os.listdir(tmp_path)) == ["prior.npz"]
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="bad.npz"):
        quantize.load_prior(tmp_path / "bad.npz")


def test_rebalancing_weights_normalised_and_rare_bins_weigh_more():
    rng = np.random.default_rng(1)
    p = rng.random(313) ** 4
    p[:10] = 0.0
    p /= p.sum()
    w = quantize.rebalancing_weights(p, lam=0.5)
    assert np.sum(p * w) == pytest.approx(1.0, rel=1e-5)
    order = np.argsort(p)
    assert np.all(np.diff(w[order]) <= 1e-6)  # weight decreases as the prior grows
    np.testing.assert_allclose(w[:10], w.max())
    w0 = quantize.rebalancing_weights(p, lam=0.0, eps=1e-6)
    assert np.all(np.isfinite(w0)) and np.sum(p * w0) == pytest.approx(1.0, rel=1e-5)


def test_ziegler_weights_grow_away_from_the_mean_colour():
    centers = quantize.ab_bin_centers(10)
    p = np.exp(-((centers - [10, 20]) ** 2).sum(1) / (2 * 15.0**2))
    p /= p.sum()
    mean, cov = quantize.fit_normal(p, centers)
    np.testing.assert_allclose(mean, [10, 20], atol=1.0)
    w = quantize.ziegler_weights(p, centers)
    assert np.sum(p * w) == pytest.approx(1.0, rel=1e-5)
    dist = np.linalg.norm(centers - mean, axis=1)
    assert w[np.argmin(dist)] < w[np.argmax(dist)]


def test_gray_mask():
    ab = np.zeros([3, 4, 4, 2], np.float32)
    ab[1, 0, 0, 0] = 4.9  # still gray
    ab[2, 1, 1, 1] = -6.0  # colour
    np.testing.assert_array_equal(quantize.gray_image_mask(ab).numpy(), [0.0, 0.0, 1.0])


def test_annealed_mean_matches_numpy_reference():
    centers = quantize.ab_bin_centers(10)
    logits = np.random.default_rng(2).normal(0, 3, size=(2, 3, 313)).astype(np.float32)
    for t in (0.38, 1.0):
        z = logits / t
        p = np.exp(z - z.max(-1, keepdims=True))
        p /= p.sum(-1, keepdims=True)
        expected = p @ centers
        np.testing.assert_allclose(quantize.annealed_mean(logits, centers, t).numpy(), expected, atol=1e-3)
    # a lower temperature moves the estimate towards the mode
    mode = centers[logits.argmax(-1)]
    far_hot = np.abs(quantize.annealed_mean(logits, centers, 1.0).numpy() - mode).mean()
    far_cold = np.abs(quantize.annealed_mean(logits, centers, 0.1).numpy() - mode).mean()
    assert far_cold < far_hot


def test_annealed_mean_decode_layer_config_round_trip_and_float32_output():
    layer = quantize.AnnealedMeanDecode(bin_width=20, temperature=0.5)
    q = len(quantize.ab_bin_centers(20))
    logits = tf.random.stateless_normal([1, 2, 2, q], seed=[3, 4])
    out = layer(logits)
    assert out.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(out.numpy(), quantize.annealed_mean(logits, quantize.ab_bin_centers(20), 0.5).numpy() / 110.0, atol=1e-6)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, quantize.AnnealedMeanDecode)
    assert (clone.bin_width, clone.temperature, clone.num_bins) == (20.0, 0.5, q)
    np.testing.assert_allclose(clone(logits).numpy(), out.numpy())
    assert quantize.AnnealedMeanDecode(decode_mode="expectation").temperature == 1.0
    keras.mixed_precision.set_global_policy("mixed_float16")
    inp = keras.Input([4, 4, 313])
    model = keras.Model(inp, quantize.AnnealedMeanDecode()(keras.layers.Conv2D(313, 1)(inp)))
    assert model.output.dtype == "float32"
    with pytest.raises(ValueError, match="313"):
        quantize.AnnealedMeanDecode(bin_width=20)(tf.zeros([1, 2, 2, 313]))


def test_prior_figure(tmp_path):
    from colorization_tf.plots.quantize import plot_prior_and_weights

    centers = quantize.ab_bin_centers(10)
    p = np.exp(-(centers**2).sum(1) / 800.0)
    p /= p.sum()
    path = plot_prior_and_weights(p, {"Zhang": quantize.rebalancing_weights(p), "Ziegler": quantize.ziegler_weights(p, centers)},
                                  centers, tmp_path / "fig.png")
    assert path.exists() and path.stat().st_size > 1000
