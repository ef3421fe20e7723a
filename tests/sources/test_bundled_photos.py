"""Real photos bundled with scikit-image / matplotlib, read offline (colorization_tf.sources.bundled_photos)."""

import socket

import numpy as np
import pytest

from colorization_tf.data import files
from colorization_tf.sources import bundled_photos


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_skimage_photos_offline(no_network):
    found = bundled_photos.skimage_photos()
    assert list(found) == ["astronaut", "coffee", "chelsea", "rocket", "motorcycle"]
    for name, rgb in found.items():
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3 and min(rgb.shape[:2]) >= 256, name
        assert files.mean_chroma(rgb[::4, ::4]) > 5, f"{name} is not a colour photo"


def test_motorcycle_is_the_left_stereo_image(no_network):
    import skimage.data

    np.testing.assert_array_equal(bundled_photos.skimage_photos()["motorcycle"], skimage.data.stereo_motorcycle()[0])


def test_bundled_and_write_photos(tmp_path, no_network):
    every = bundled_photos.bundled_photos(include_extra=True)
    assert {"hubble_deep_field", "immunohistochemistry", "retina"} <= set(every)
    written = bundled_photos.write_photos(tmp_path)
    assert [p.stem for p in written] == list(bundled_photos.bundled_photos())
    np.testing.assert_array_equal(files.load_image_rgb(written[0]), every[written[0].stem])
