"""The pipeline's fast paths: XLA-compatible crops, fixed-size windows, compiled batch targets."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from colorization_tf.data import augment, decode, pipeline, targets
from colorization_tf.sources.synthetic import render_scene

SIZE = 24


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("fast_paths")
    paths = []
    for i, cls in enumerate(("beach", "forest", "desert", "sea")):
        path = root / f"{i}.jpg"
        Image.fromarray(render_scene(cls, i, (60, 80))).save(path, quality=95)
        paths.append(str(path))
    return paths


def _map_one(fn, *values):
    return next(iter(tf.data.Dataset.from_tensors(values).map(fn)))


def test_crop_resize_boxes_matches_crop_and_resize_eager_mapped_and_compiled():
    images = tf.constant(np.random.default_rng(0).uniform(0, 100, (5, 17, 23, 3)), tf.float32)
    boxes = augment.random_crop_boxes(5, tf.constant([3, 4], tf.int64), crop_scale=(0.6, 1.0))
    assert bool(tf.reduce_any(boxes[:, 1] > boxes[:, 3]))  # some boxes are mirrored
    reference = tf.image.crop_and_resize(images, boxes, tf.range(5), [17, 23]).numpy()
    eager = augment.crop_resize_boxes(images, boxes).numpy()
    mapped = _map_one(augment.crop_resize_boxes, images, boxes).numpy()
    compiled = tf.function(augment.crop_resize_boxes, jit_compile=True)(images, boxes).numpy()
    np.testing.assert_allclose(eager, reference, atol=1e-4)
    np.testing.assert_allclose(mapped, reference, atol=1e-4)
    np.testing.assert_allclose(compiled, reference, atol=1e-3)


def test_random_windows_are_exact_windows_or_their_mirrors():
    images = tf.constant(np.random.default_rng(1).integers(0, 256, (6, 13, 15, 3)), tf.uint8)
    uniform = tf.random.stateless_uniform([4, 6], tf.constant([5, 6], tf.int64))
    eager = augment.random_windows(images, uniform, (9, 10)).numpy()
    mapped = _map_one(lambda x, u: augment.random_windows(x, u, (9, 10)), images, uniform).numpy()
    compiled = tf.function(lambda x, u: augment.random_windows(x, u, (9, 10)), jit_compile=True)(images, uniform)
    assert eager.shape == (6, 9, 10, 3) and eager.dtype == np.uint8
    np.testing.assert_array_equal(eager, mapped)
    np.testing.assert_array_equal(eager, compiled.numpy())
    mirrored = uniform.numpy()[3] < 0.5
    assert mirrored.any() and not mirrored.all()
    for image, window, mirror in zip(images.numpy(), eager, mirrored):
        candidates = [image[t:t + 9, l:l + 10] for t in range(5) for l in range(6)]
        expected = window[:, ::-1] if mirror else window
        assert any(np.array_equal(expected, c) for c in candidates)


def _lab_of_stored(path, size):
    """Lab (float) of the image resized to `size`, as the cache stores it (rounded to float16)."""
    rgb = decode.decode_and_resize(tf.constant(path), size)
    return targets.rgb_to_lab_cached(rgb).numpy().astype(np.float32)


def test_default_crops_are_windows_of_a_larger_cached_image(photos):
    stored = pipeline.PipelineConfig(image_size=SIZE, batch_size=4, normalization="polychromify", training=True).stored_size
    assert stored[0] > SIZE and stored == (round(SIZE / 0.875),) * 2
    ds = pipeline.build_dataset(photos, image_size=SIZE, batch_size=4, normalization="polychromify",
                                training=True, seed=3, cache="memory")
    l_enc, _ = next(iter(ds))
    assert l_enc.shape == (4, SIZE, SIZE, 1)
    sources = [_lab_of_stored(p, stored)[..., 0] for p in photos]
    margin = stored[0] - SIZE + 1
    for crop in l_enc.numpy()[..., 0]:
        windows = [s[t:t + SIZE, l:l + SIZE] for s in sources for t in range(margin) for l in range(margin)]
        errors = [min(np.abs(crop - w).max(), np.abs(crop[:, ::-1] - w).max()) for w in windows]
        assert min(errors) < 1e-3  # polychromify keeps L raw: an exact window (or its mirror)


@pytest.mark.parametrize("crop_scale", [augment.DEFAULT_CROP_SCALE, (0.8, 1.0)])
def test_compiled_and_plain_batch_targets_agree(photos, monkeypatch, crop_scale):
    kwargs = {"image_size": SIZE, "batch_size": 2, "normalization": "zhang", "training": True, "seed": 5,
              "crop_scale": crop_scale, "labels": [0, 1, 0, 1]}
    compiled = [(x.numpy(), y["ab"].numpy(), y["scene"].numpy()) for x, y in pipeline.build_dataset(photos, **kwargs)]
    monkeypatch.setattr(pipeline, "JIT_COMPILE", False)
    plain = [(x.numpy(), y["ab"].numpy(), y["scene"].numpy()) for x, y in pipeline.build_dataset(photos, **kwargs)]
    assert len(compiled) == len(plain) == 2
    for (l1, ab1, s1), (l2, ab2, s2) in zip(compiled, plain):
        np.testing.assert_allclose(l1, l2, atol=1e-4)
        np.testing.assert_allclose(ab1, ab2, atol=1e-4)
        np.testing.assert_array_equal(s1, s2)


def test_scale_jitter_and_rgb_cache_paths(photos):
    jitter = pipeline.build_dataset(photos, image_size=SIZE, batch_size=4, normalization="polychromify",
                                    training=True, seed=2, crop_scale=(0.8, 1.0), cache="memory")
    epochs = [np.concatenate([b[1].numpy() for b in jitter]) for _ in range(2)]
    assert epochs[0].shape == (4, SIZE, SIZE, 2) and not np.array_equal(epochs[0], epochs[1])
    assert np.abs(epochs[0]).max() <= 1.0
    kwargs = {"image_size": SIZE, "batch_size": 4, "normalization": "polychromify", "training": True, "seed": 9}
    lab_l, lab_ab = next(iter(pipeline.build_dataset(photos, cache_lab=True, **kwargs)))
    rgb_l, rgb_ab = next(iter(pipeline.build_dataset(photos, cache_lab=False, **kwargs)))
    np.testing.assert_allclose(lab_l.numpy(), rgb_l.numpy(), atol=0.05)  # same windows, float16 vs exact
    np.testing.assert_allclose(lab_ab.numpy(), rgb_ab.numpy(), atol=0.05 / 128)
