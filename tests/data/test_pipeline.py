"""tf.data pipeline: each map function eagerly and inside Dataset.map, and the built datasets."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from skimage.color import rgb2lab

from colorization_tf.color import get_normalization
from colorization_tf.data import augment, decode, pipeline, targets
from colorization_tf.sources.synthetic import render_scene

SIZE = 32


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Six small synthetic scenes in two class folders (jpg and png), and their labels."""
    root = tmp_path_factory.mktemp("scenes")
    paths, labels = [], []
    for label, cls in enumerate(("beach", "forest")):
        (root / cls).mkdir()
        for i in range(3):
            path = root / cls / f"{i}.{'jpg' if i % 2 else 'png'}"
            Image.fromarray(render_scene(cls, i, (72, 96))).save(path)
            paths.append(str(path))
            labels.append(label)
    return paths, labels


def _map_one(fn, value):
    return next(iter(tf.data.Dataset.from_tensors(value).map(fn)))


def test_header_shape_for_each_format(tmp_path, make_colourful, make_bomb_png):
    rgb = make_colourful(40, 70)
    for fmt in ("JPEG", "PNG", "GIF", "BMP"):
        Image.fromarray(rgb).save(tmp_path / f"x.{fmt}", format=fmt)
        contents = tf.io.read_file(str(tmp_path / f"x.{fmt}"))
        assert decode.image_header_shape(contents).numpy().tolist() == [40, 70], fmt
        assert _map_one(decode.image_header_shape, contents).numpy().tolist() == [40, 70], fmt
    assert decode.image_header_shape(tf.constant(make_bomb_png(123, 456))).numpy().tolist() == [456, 123]


def test_bomb_is_refused_before_decoding(make_bomb_png):
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
        decode.decode_image_bounded(tf.constant(make_bomb_png()), max_pixels=10**7)
    dataset = tf.data.Dataset.from_tensors(tf.constant(make_bomb_png())).map(decode.decode_image_bounded)
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
        next(iter(dataset))


def test_decode_and_resize_eager_equals_dataset_map(scenes):
    for path in scenes[0][:2]:
        eager = decode.decode_and_resize(tf.constant(path), SIZE)
        mapped = _map_one(lambda p: decode.decode_and_resize(p, SIZE), tf.constant(path))
        assert eager.dtype == tf.uint8 and eager.shape == (SIZE, SIZE, 3)
        np.testing.assert_array_equal(eager.numpy(), mapped.numpy())
    rect = decode.decode_and_resize(tf.constant(scenes[0][0]), (24, 40))
    assert rect.shape == (24, 40, 3)


def test_scaled_jpeg_decode_matches_full_decode(tmp_path):
    rgb = render_scene("desert", 3, (384, 512))
    Image.fromarray(rgb).save(tmp_path / "big.jpg", quality=95)
    fast = decode.decode_and_resize(tf.constant(str(tmp_path / "big.jpg")), 64).numpy().astype(float)
    full = tf.io.decode_jpeg(tf.io.read_file(str(tmp_path / "big.jpg")), channels=3)
    slow = decode.resize_uint8(full, 64).numpy().astype(float)
    assert np.abs(fast - slow).mean() < 2.0


def test_augment_is_deterministic_in_range_and_mapped(scenes):
    image = decode.decode_and_resize(tf.constant(scenes[0][0]), SIZE)
    seed = tf.constant([3, 4], tf.int64)
    a = augment.augment(image, seed)
    b = _map_one(lambda x: augment.augment(x, seed), image)
    assert a.dtype == tf.float32 and a.shape == (SIZE, SIZE, 3)
    np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert 0.0 <= float(tf.reduce_min(a)) and float(tf.reduce_max(a)) <= 1.0
    others = [augment.augment(image, tf.constant([s, 0], tf.int64)).numpy() for s in range(6)]
    assert any(not np.allclose(others[0], o) for o in others[1:])
    flips = {bool(np.allclose(augment.augment(image, tf.constant([s, 1], tf.int64), crop_scale=None).numpy(),
                              image.numpy()[:, ::-1] / 255.0, atol=1e-6)) for s in range(8)}
    assert flips == {True, False}  # crop disabled: each result is the image or its mirror


@pytest.mark.parametrize("name", ["polychromify", "lee2016", "zhang", "cs520", "menon"])
def test_to_model_targets_matches_skimage(name, make_colourful):
    rgb = make_colourful(16, 16)
    norm = get_normalization(name)
    l_enc, ab_enc = targets.to_model_targets(tf.constant(rgb), name)
    mapped = _map_one(lambda x: targets.to_model_targets(x, name), tf.constant(rgb))
    assert l_enc.shape == (16, 16, 1) and ab_enc.shape == (16, 16, 2)
    assert l_enc.dtype == tf.float32 and ab_enc.dtype == tf.float32
    lab = rgb2lab(rgb / 255.0)
    np.testing.assert_allclose(norm.decode_l(l_enc).numpy()[..., 0], lab[..., 0], atol=1e-2)
    np.testing.assert_allclose(norm.decode_ab(ab_enc).numpy(), lab[..., 1:], atol=1e-2)
    np.testing.assert_allclose(mapped[1].numpy(), ab_enc.numpy(), atol=1e-6)


def test_to_model_targets_with_label():
    l_enc, target = targets.to_model_targets(tf.zeros([2, 8, 8, 3], tf.uint8), "lee2016", tf.constant([1, 0]))
    assert set(target) == {"ab", "scene"} and target["scene"].dtype == tf.int32
    np.testing.assert_allclose(target["ab"].numpy(), 128.0 / 255.0, atol=1e-3)  # black: ab = 0 -> 128/255
    np.testing.assert_allclose(l_enc.numpy(), -0.5, atol=1e-4)


def test_build_dataset_shapes_ranges_and_labels(scenes):
    paths, labels = scenes
    ds = pipeline.build_dataset(paths, image_size=SIZE, batch_size=4, normalization="polychromify")
    batches = list(ds)
    assert [b[0].shape[0] for b in batches] == [4, 2]  # evaluation: no drop, file order
    l_enc, ab_enc = batches[0]
    assert l_enc.shape == (4, SIZE, SIZE, 1) and ab_enc.shape == (4, SIZE, SIZE, 2)
    assert 0.0 <= float(tf.reduce_min(l_enc)) and float(tf.reduce_max(l_enc)) <= 100.0
    assert float(tf.reduce_max(tf.abs(ab_enc))) <= 1.0 and float(tf.reduce_max(tf.abs(ab_enc))) > 0.1
    train = pipeline.build_dataset(paths, image_size=SIZE, batch_size=4, normalization="lee2016", labels=labels,
                                   training=True, seed=1)
    batches = list(train)
    assert len(batches) == 1  # drop_remainder by default in training
    l_enc, target = batches[0]
    assert target["scene"].dtype == tf.int32 and target["scene"].shape == (4,)
    assert set(target["scene"].numpy().tolist()) <= {0, 1}
    assert 0.0 <= float(tf.reduce_min(target["ab"])) and float(tf.reduce_max(target["ab"])) <= 1.0
    assert train.element_spec[0].shape.as_list() == [4, SIZE, SIZE, 1]


def test_labels_follow_their_images(scenes):
    paths, labels = scenes
    ds = pipeline.build_dataset(paths, image_size=SIZE, batch_size=6, normalization="zhang", labels=labels,
                                training=True, augment=False, seed=5)
    _, target = next(iter(ds))
    # forest (label 1) is much greener (a < 0) than beach (label 0)
    mean_a = tf.reduce_mean(target["ab"][..., 0], axis=[1, 2]).numpy()
    scene = target["scene"].numpy()
    assert mean_a[scene == 1].max() < mean_a[scene == 0].min()


def test_training_is_deterministic_per_seed_and_epochs_differ(scenes):
    paths, _ = scenes

    def epochs(seed):
        ds = pipeline.build_dataset(paths, image_size=SIZE, batch_size=3, normalization="zhang", training=True,
                                    seed=seed, cache="memory")
        return [np.concatenate([b[1].numpy() for b in ds]) for _ in range(2)]

    first, again, other = epochs(3), epochs(3), epochs(4)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], other[0])


def test_broken_files_are_dropped_not_fatal(image_folder):
    root, expected = image_folder
    paths = sorted(str(root / name) for name in expected)
    ds = pipeline.build_image_dataset(paths, 16)
    images = list(ds)
    readable = [n for n, r in expected.items() if r is None or r in ("too small", "grayscale")]
    assert len(images) == len(readable)
    assert all(im.shape == (16, 16, 3) and im.dtype == tf.uint8 for im in images)


def _drop_warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "colorization_tf.data" and r.levelname == "WARNING"]


def test_a_dropped_file_is_counted_and_named_once(image_folder, caplog):
    caplog.set_level("WARNING", logger="colorization_tf.data")
    root, expected = image_folder
    paths = sorted(str(root / name) for name in expected)
    broken = [p for p in paths if expected[p.rsplit("/", 1)[1]] not in (None, "too small", "grayscale")]
    dataset = pipeline.build_image_dataset(paths, 16)  # not cached: every pass decodes again
    assert int(dataset.cardinality()) == tf.data.UNKNOWN_CARDINALITY  # files not known to decode
    assert sum(1 for _ in dataset) == sum(1 for _ in dataset) == len(paths) - len(broken)
    messages = _drop_warnings(caplog)
    assert len(messages) == len(broken)  # once each, though read twice
    for path, message in zip(broken, messages):
        assert message.startswith(f"Skipped {path}: ")
    assert messages[-1].endswith(f"({len(broken)} of {len(paths)} files dropped so far)")
    assert "empty.jpg: " in "".join(messages)  # and why


def test_verified_files_have_a_known_length_and_one_failing_anyway_is_named(image_folder, caplog):
    caplog.set_level("WARNING", logger="colorization_tf.data")
    root, _ = image_folder
    paths = [str(root / "good.jpg"), str(root / "truncated.png"), str(root / "good.bmp")]
    dataset = pipeline.build_dataset(paths, image_size=16, batch_size=2, normalization="zhang", verified=True)
    assert int(dataset.cardinality()) == 2
    with pytest.raises(tf.errors.FailedPreconditionError, match="expected to contain 3 elements"):
        list(dataset)
    assert [m.split(": ")[0] for m in _drop_warnings(caplog)] == [f"Skipped {paths[1]}"]


def test_fit_on_scanned_files_shows_the_step_count_and_no_ran_out_of_data_warning(scenes, capsys):
    """Issue 8: every fit showed `1/Unknown ... 3/Unknown` and ended with Keras's "ran out of data"."""
    import warnings

    from colorization_tf.data import files
    from tests._tiny_models import build_tiny_colorizer

    paths, _ = scenes
    usable = files.scan_images(paths, progress=False).usable  # the scan decodes each with the pipeline's decoder
    assert usable == paths
    dataset = pipeline.build_dataset(usable, image_size=16, batch_size=2, normalization="zhang", training=True)
    assert int(dataset.cardinality()) == 3
    model = build_tiny_colorizer(16)
    model.compile("adam", "mse")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(dataset, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Unknown" not in out and out.count("1/3") == 2, out  # the first step of each epoch knows the total
    assert not [w for w in caught if "ran out of data" in str(w.message)]


def test_file_cache_is_written_and_reused(scenes, tmp_path):
    paths, _ = scenes
    prefix = tmp_path / "cache" / "scenes"
    first = [b[0].numpy() for b in pipeline.build_dataset(paths, image_size=SIZE, batch_size=6,
                                                           normalization="zhang", cache=prefix)]
    files = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert files and all(".tfcache" in name for name in files)
    assert pipeline.cache_filename(prefix, paths, SIZE) != pipeline.cache_filename(prefix, paths, 64)
    again = [b[0].numpy() for b in pipeline.build_dataset(paths, image_size=SIZE, batch_size=6,
                                                           normalization="zhang", cache=prefix)]
    np.testing.assert_array_equal(first[0], again[0])


def test_shuffle_buffer_default_and_errors():
    assert pipeline.default_shuffle_buffer(100, 128) == 100
    assert pipeline.default_shuffle_buffer(10**6, 256) == pipeline.SHUFFLE_BUFFER_BYTES // (256 * 256 * 3)
    with pytest.raises(ValueError, match="labels"):
        pipeline.build_dataset(["a.jpg"], image_size=8, batch_size=1, normalization="zhang", labels=[0, 1])
    with pytest.raises(ValueError, match="no image paths"):
        pipeline.build_dataset([], image_size=8, batch_size=1, normalization="zhang")


def test_augment_batch_eager_equals_dataset_map_and_identity_box(scenes):
    images = tf.stack([decode.decode_and_resize(tf.constant(p), SIZE) for p in scenes[0][:3]])
    seed = tf.constant([9, 9], tf.int64)
    eager = augment.augment_batch(images, seed)
    mapped = _map_one(lambda x: augment.augment_batch(x, seed), images)
    assert eager.shape == (3, SIZE, SIZE, 3) and eager.dtype == tf.float32
    np.testing.assert_allclose(eager.numpy(), mapped.numpy(), atol=1e-6)
    same = augment.augment_batch(images, seed, flip=False, crop_scale=None)
    np.testing.assert_allclose(same.numpy(), images.numpy() / 255.0, atol=1e-6)


def test_lab_cache_and_rgb_cache_give_the_same_targets(scenes):
    paths, _ = scenes
    kwargs = dict(image_size=SIZE, batch_size=6, normalization="polychromify", cache="memory")
    lab_l, lab_ab = next(iter(pipeline.build_dataset(paths, cache_lab=True, **kwargs)))
    rgb_l, rgb_ab = next(iter(pipeline.build_dataset(paths, cache_lab=False, **kwargs)))
    np.testing.assert_allclose(lab_l.numpy(), rgb_l.numpy(), atol=0.05)  # float16 cache: < 0.05 L
    np.testing.assert_allclose(lab_ab.numpy(), rgb_ab.numpy(), atol=0.05 / 128)
    train = pipeline.build_dataset(paths, cache_lab=False, training=True, seed=2, batch_size=3,
                                   image_size=SIZE, normalization="zhang")
    l_enc, ab_enc = next(iter(train))
    assert l_enc.shape == (3, SIZE, SIZE, 1) and float(tf.reduce_max(tf.abs(ab_enc))) <= 1.0


def _webp_bytes(rgb, **save_kwargs) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="WEBP", **save_kwargs)
    return buffer.getvalue()


def _forged_vp8x(width: int, height: int) -> bytes:
    """A 30-byte extended-WebP header claiming a width x height canvas, with no image data."""
    import struct

    chunk = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def test_webp_header_shape_lossy_lossless_and_extended(make_colourful):
    rgb = make_colourful(40, 70)
    rgba = np.concatenate([rgb, np.full((40, 70, 1), 200, np.uint8)], axis=-1)
    files = {
        b"VP8 ": _webp_bytes(rgb, lossless=False),
        b"VP8L": _webp_bytes(rgb, lossless=True),
        b"VP8X": _webp_bytes(rgba, lossless=True, exif=b"Exif\x00\x00test"),
    }
    for chunk, data in files.items():
        assert data[12:16] == chunk  # PIL wrote the kind of WebP this case is about
        contents = tf.constant(data)
        assert decode.image_header_shape(contents).numpy().tolist() == [40, 70], chunk
        assert _map_one(decode.image_header_shape, contents).numpy().tolist() == [40, 70], chunk
        image = decode.decode_image_bounded(contents, max_pixels=40 * 70)
        assert image.shape == (40, 70, 3), chunk
        if chunk != b"VP8 ":  # lossless (with alpha for VP8X): the exact RGB comes back
            np.testing.assert_array_equal(image.numpy(), rgb)
        with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
            decode.decode_image_bounded(contents, max_pixels=40 * 70 - 1)
    assert decode.image_header_shape(tf.constant(_forged_vp8x(40000, 30000))).numpy().tolist() == [30000, 40000]


def test_forged_webp_and_unreadable_headers_are_refused_and_dropped(tmp_path, make_colourful):
    forged = _forged_vp8x(40000, 40000)
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
        decode.decode_image_bounded(tf.constant(forged))
    with pytest.raises(tf.errors.InvalidArgumentError, match="too large"):
        _map_one(decode.decode_image_bounded, tf.constant(forged))
    # A format whose size the header parser cannot read fails closed (it used to pass as (-1) * (-1) = 1).
    tiff = tmp_path / "x.tiff"
    Image.fromarray(make_colourful(8, 8)).save(tiff)
    assert decode.image_header_shape(tf.io.read_file(str(tiff))).numpy().tolist() == [-1, -1]
    with pytest.raises(tf.errors.InvalidArgumentError, match="unreadable"):
        decode.decode_image_bounded(tf.io.read_file(str(tiff)))
    # In a dataset the forged file is dropped and the good WebP kept.
    (tmp_path / "bomb.webp").write_bytes(forged)
    (tmp_path / "good.webp").write_bytes(_webp_bytes(make_colourful(40, 70), lossless=True))
    paths = [str(tmp_path / "bomb.webp"), str(tiff), str(tmp_path / "good.webp")]
    batches = list(pipeline.build_dataset(paths, image_size=16, batch_size=4, normalization="zhang"))
    assert len(batches) == 1 and batches[0][0].shape[0] == 1
