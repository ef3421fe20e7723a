"""Ziegler section 2.4 colour distribution: one-pass tf.data ab histogram and its figure."""

import numpy as np
import tensorflow as tf
from PIL import Image
from skimage.color import rgb2lab

from colorization_tf.sources.synthetic import render_scene
from colorization_tf.plots import color_distribution as cd


def test_histogram_puts_each_colour_in_its_cell_and_l_range():
    colours = np.array([[200, 40, 40], [30, 60, 160], [250, 250, 250]], np.uint8)
    images = np.broadcast_to(colours[:, None, None, :], (3, 4, 5, 3)).copy()
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(2)
    hist = cd.ab_histogram(dataset, ab_bin=10.0, l_edges=(0, 50, 100))
    counts = hist["counts"]
    assert counts.shape == (2, 22, 22) and hist["pixels"] == 3 * 20 == counts.sum()
    for colour in colours:
        l, a, b = rgb2lab(colour[None, None] / 255.0)[0, 0]
        cell = counts[int(l >= 50), int((a + 110) // 10), int((b + 110) // 10)]
        assert cell >= 20, (colour, l, a, b)


def test_figure_from_files(tmp_path):
    paths = []
    for i, name in enumerate(("beach", "forest", "sky")):
        paths.append(str(tmp_path / f"{name}.png"))
        Image.fromarray(render_scene(name, i, 40)).save(paths[-1])
    hist = cd.color_distribution_figure(paths, tmp_path / "fig" / "ab.png", image_size=24, batch_size=2, l_edges=(0, 50, 100))
    assert hist["pixels"] == 3 * 24 * 24
    assert hist["path"].is_file() and hist["path"].read_bytes()[:4] == b"\x89PNG"
    assert not list((tmp_path / "fig").glob(".*tmp*"))
