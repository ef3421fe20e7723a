"""The embedded default dataset (colorization_tf.sources.synthetic): determinism, layout, learnability."""

import os

import numpy as np
import pytest
from skimage.color import rgb2lab

from colorization_tf.data import files
from colorization_tf.sources import synthetic


def test_render_is_deterministic_and_varied():
    for name in synthetic.CLASS_NAMES:
        a = synthetic.render_scene(name, 11, 40)
        assert a.dtype == np.uint8 and a.shape == (40, 40, 3)
        np.testing.assert_array_equal(a, synthetic.render_scene(name, 11, 40))
        assert not np.array_equal(a, synthetic.render_scene(name, 12, 40))
    assert synthetic.render_scene("sea", 0, (24, 56)).shape == (24, 56, 3)
    with pytest.raises(ValueError, match="Unknown scene class"):
        synthetic.render_scene("city", 0, 32)


def test_generate_dataset_layout_idempotent_and_atomic(tmp_path):
    out = synthetic.generate_dataset(tmp_path / "syn", n_per_class=2, size=24, seed=3, fmt="jpg")
    found = files.find_images(out)
    assert found.class_names == sorted(synthetic.CLASS_NAMES) == list(synthetic.CLASS_NAMES)
    assert len(found) == 2 * len(synthetic.CLASS_NAMES)
    assert all(p.endswith(".jpg") for p in found.paths)
    stamp = os.stat(found.paths[0]).st_mtime_ns
    synthetic.generate_dataset(tmp_path / "syn", n_per_class=2, size=24, seed=3, fmt="jpg")
    assert os.stat(found.paths[0]).st_mtime_ns == stamp  # complete: nothing rewritten
    assert synthetic.is_complete(out, 2, 24, 3, "jpg") and not synthetic.is_complete(out, 3, 24, 3, "jpg")
    synthetic.generate_dataset(tmp_path / "syn", n_per_class=3, size=24, seed=3, fmt="png")
    assert len(files.find_images(out)) == 3 * len(synthetic.CLASS_NAMES)
    assert [p.name for p in tmp_path.iterdir()] == ["syn"]  # no temporary folders left
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError):
        synthetic.generate_dataset(tmp_path / "mine", n_per_class=1, size=16)


def test_default_dataset_location(tmp_path, monkeypatch):
    monkeypatch.setenv(synthetic.DATA_ENV, str(tmp_path))
    assert synthetic.default_root() == tmp_path
    out = synthetic.default_dataset(n_per_class=1, size=16)
    assert out.parent == tmp_path and len(files.find_images(out)) == len(synthetic.CLASS_NAMES)


def test_scenes_are_colourful_and_pass_the_scan(tmp_path):
    out = synthetic.generate_dataset(tmp_path / "s", n_per_class=2, size=48)
    report = files.scan_images(files.find_images(out).paths, progress=False)
    assert not report.unusable


def _lab_stack(n_per_class, size):
    labs, classes = [], []
    for c, name in enumerate(synthetic.CLASS_NAMES):
        for i in range(n_per_class):
            labs.append(rgb2lab(synthetic.render_scene(name, 100 + i, size) / 255.0))
            classes.append(c)
    return np.stack(labs), np.array(classes)


def _lookup_mse(train_keys, train_ab, test_keys, test_ab, n_keys):
    """MSE of predicting ab by the mean ab of training pixels with the same key (fallback: 0)."""
    sums = np.zeros((n_keys, 2))
    counts = np.zeros(n_keys)
    np.add.at(sums, train_keys, train_ab)
    np.add.at(counts, train_keys, 1)
    means = sums / np.maximum(counts, 1)[:, None]
    return float(np.mean((means[test_keys] - test_ab) ** 2))


def test_learnable_from_context_but_not_from_lightness_alone():
    size = 32
    labs, classes = _lab_stack(8, size)
    l_bin = np.clip(labs[..., 0] // 5, 0, 19).astype(int)
    row = np.broadcast_to((np.arange(size) * 8 // size)[None, :, None], l_bin.shape)
    scene = np.broadcast_to(classes[:, None, None], l_bin.shape)
    ab = labs[..., 1:]
    order = np.random.default_rng(0).permutation(labs.shape[0])
    tr, te = order[: len(order) // 2], order[len(order) // 2 :]

    def lookup(keys, n_keys):
        return _lookup_mse(keys[tr].ravel(), ab[tr].reshape(-1, 2), keys[te].ravel(), ab[te].reshape(-1, 2), n_keys)

    gray = float(np.mean(ab[te] ** 2))
    by_l = lookup(l_bin, 20)
    by_context = lookup((l_bin * 8 + row) * 7 + scene, 20 * 8 * 7)
    assert gray > 300  # mean |ab|^2: a gray prediction is far off
    assert by_l > 0.8 * gray  # lightness alone says little (sky and sand share L) ...
    assert by_context < 0.6 * gray  # ... lightness + position + scene (what a CNN sees) says a lot
    assert by_context > 0.05 * gray  # and the task is not trivial


def test_same_lightness_means_different_colours_by_region():
    labs, classes = _lab_stack(4, 48)
    pale = (labs[..., 0] > 65) & (labs[..., 0] < 80)
    top = np.zeros(labs.shape[:3], bool)
    top[:, :12] = True
    sky_pale = labs[pale & top & (classes != synthetic.CLASS_NAMES.index("forest"))[:, None, None]]
    desert = classes == synthetic.CLASS_NAMES.index("desert")
    bottom = ~top
    bottom[:, :30] = False
    sand_pale = labs[pale & bottom & desert[:, None, None]]
    assert len(sky_pale) > 100 and len(sand_pale) > 100
    assert sky_pale[:, 2].mean() < -5 and sand_pale[:, 2].mean() > 25  # blue above, yellow-orange below
