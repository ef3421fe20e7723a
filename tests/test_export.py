"""SavedModel export: uint8 any-size signature, reload in a process that never imports the package."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import color, export
from colorization_tf.models import Head, get_spec, heads
from tests._tiny_models import TINY_CLASSIFIER_SPEC, TINY_NORMALIZATION, TINY_SPEC, build_tiny_colorizer, tiny_data, tiny_rgb

REPO = Path(__file__).resolve().parents[1]
IMAGE_SIZE = 16


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = build_tiny_colorizer(IMAGE_SIZE)
    model.compile(optimizer="adam", loss="mse")
    l_enc, ab_enc = tiny_data(n=8, size=IMAGE_SIZE)
    model.fit(l_enc, ab_enc, epochs=2, batch_size=4, verbose=0)
    path = tmp_path_factory.mktemp("exports") / "tiny"
    export.export_saved_model(model, path, TINY_SPEC, name="tiny")
    return model, path


_CLEAN_PROCESS = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    path = sys.argv[1]
    fn = tf.saved_model.load(path).signatures["serving_default"]
    rng = np.random.default_rng(0)
    results = {}
    for shape in [(1, 37, 53, 3), (2, 64, 48, 3), (1, 40, 40, 1), (1, 9, 300, 4)]:
        x = rng.integers(0, 256, size=shape, dtype=np.uint8)
        np.save(f"{path}.in_{'x'.join(map(str, shape))}.npy", x)
        out = fn(images=tf.constant(x))["rgb"]
        np.save(f"{path}.out_{'x'.join(map(str, shape))}.npy", out.numpy())
        results["x".join(map(str, shape))] = [out.dtype.name, list(out.shape)]
    import keras
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    results["tfsm"] = list(layer(tf.zeros([1, 20, 30, 3], tf.uint8))["rgb"].shape)
    results["imported"] = sorted(m for m in sys.modules if m.startswith("colorization_tf"))
    print(json.dumps(results))
    """
)


def test_export_writes_savedmodel_keras_and_info(exported):
    model, path = exported
    assert (path / "saved_model.pb").exists() and (path / "model.keras").exists()
    info = json.loads((path / "export_info.json").read_text())
    assert info["name"] == "tiny" and info["normalization"] == TINY_NORMALIZATION and info["image_size"] == IMAGE_SIZE
    assert info["versions"]["tensorflow"] == tf.__version__
    again = keras.saving.load_model(path / "model.keras")
    l_enc, _ = tiny_data(n=2, size=IMAGE_SIZE)
    np.testing.assert_allclose(again.predict(l_enc, verbose=0), model.predict(l_enc, verbose=0), atol=1e-6)
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_savedmodel_loads_in_a_clean_process_on_odd_sizes(exported):
    _, path = exported
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    proc = subprocess.run([sys.executable, "-c", _CLEAN_PROCESS, str(path)], capture_output=True, text=True, timeout=180, env=env, cwd="/")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    assert results.pop("imported") == []
    assert results.pop("tfsm") == [1, 20, 30, 3]
    for key, (dtype, shape) in results.items():
        n, h, w, _ = map(int, key.split("x"))
        assert dtype == "uint8" and shape == [n, h, w, 3]
        x = np.load(f"{path}.in_{key}.npy")
        out = np.load(f"{path}.out_{key}.npy")
        rgb_in = np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x[..., :3]
        l_in = color.lightness(rgb_in).numpy()
        l_out = color.lightness(out).numpy()
        # Chroma can push a colour out of gamut; clipping then moves L a little.
        assert np.median(np.abs(l_in - l_out)) < 1.0 and np.mean(np.abs(l_in - l_out)) < 3.0, key
    gray_out = np.load(f"{path}.out_1x40x40x1.npy")
    assert gray_out.std(axis=-1).mean() > 0.5  # the gray input came back coloured


def test_serving_function_matches_model_at_its_own_size(exported):
    model, path = exported
    rgb = tiny_rgb(n=2, size=IMAGE_SIZE, seed=3)
    colorizer = export.load_colorizer(path)
    out = colorizer(rgb)
    assert out.dtype == np.uint8 and out.shape == rgb.shape
    norm = color.get_normalization(TINY_NORMALIZATION)
    l = color.lightness(rgb)
    l_small = tf.image.resize(l, [IMAGE_SIZE, IMAGE_SIZE], method="bilinear", antialias=True)
    ab = norm.decode_ab(model(norm.encode_l(l_small)))
    expected = np.round(color.lab_to_rgb(color.join_lab(l, ab)).numpy() * 255)
    assert np.abs(out.astype(float) - expected).max() <= 1.0
    single = colorizer(rgb[0])
    assert single.shape == rgb[0].shape


def test_export_replaces_an_existing_export_atomically(exported, tmp_path):
    model, _ = exported
    path = tmp_path / "again"
    export.export_saved_model(model, path, TINY_SPEC)
    (path / "stale.txt").write_text("from the previous export")
    export.export_saved_model(model, path, TINY_SPEC, save_keras=False)
    assert not (path / "stale.txt").exists() and (path / "saved_model.pb").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["again"]
    with pytest.raises(ValueError, match="head"):
        Head("nope")
    with pytest.raises(ValueError, match="cs520_cnn.*fixed_size"):  # a fixed-size model has no native export
        export.export_saved_model(model, tmp_path / "bad", "cs520_cnn", native_resolution=True)
    assert [p.name for p in tmp_path.iterdir()] == ["again"]


def test_classification_head_export_decodes_logits(tmp_path):
    """A logits head at 1/4 resolution, decoded in-graph by the given decode layer."""

    @keras.saving.register_keras_serializable(package="colorization_tf_tests")
    class MeanOfTwoBins(keras.layers.Layer):
        """Stand-in decode: softmax over 2 bins at ab/110 = (+0.3, -0.2) and (-0.3, 0.2)."""

        def call(self, logits):
            centres = tf.constant([[0.3, -0.2], [-0.3, 0.2]], tf.float32)
            return tf.tensordot(tf.nn.softmax(tf.cast(logits, tf.float32)), centres, axes=[[-1], [0]])

    inp = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="L")
    x = keras.layers.AveragePooling2D(4)(inp)
    logits = keras.layers.Conv2D(2, 1, name="logits", kernel_initializer="zeros", bias_initializer=keras.initializers.Constant([3.0, 0.0]))(x)
    model = keras.Model(inp, {"logits": logits})
    path = export.export_saved_model(model, tmp_path / "cls", TINY_CLASSIFIER_SPEC, decode=MeanOfTwoBins(), save_keras=False)
    gray = np.full((1, 21, 27, 1), 128, np.uint8)
    out = tf.saved_model.load(str(path)).signatures["serving_default"](images=tf.constant(gray))["rgb"].numpy()
    lab = color.rgb_to_lab(out).numpy()
    p = np.exp(3.0) / (np.exp(3.0) + 1.0)
    expected_a = 110 * (0.3 * p - 0.3 * (1 - p))
    assert out.shape == (1, 21, 27, 3)
    assert abs(np.median(lab[..., 1]) - expected_a) < 2.0


def test_colorizer_reads_single_images_and_batches_by_shape(exported):
    _, path = exported
    colorizer = export.load_colorizer(path)
    gray = tiny_rgb(n=3, size=IMAGE_SIZE, seed=5)[..., 0]  # [3, 16, 16]
    batch = colorizer(gray[..., None])
    assert batch.shape == (3, IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_array_equal(colorizer(gray[1]), batch[1])  # [H, W]: one gray image
    np.testing.assert_array_equal(colorizer(gray[1][..., None]), batch[1])  # [H, W, 1]
    rgba = np.concatenate([tiny_rgb(n=1, size=IMAGE_SIZE)[0], np.zeros((IMAGE_SIZE, IMAGE_SIZE, 1), np.uint8)], -1)
    assert colorizer(rgba).shape == (IMAGE_SIZE, IMAGE_SIZE, 3)
    # A gray batch [N, H, W] with W > 4 used to be read as one [H, W, C] image: now an error naming it.
    with pytest.raises(ValueError, match=r"\(3, 16, 16\)"):
        colorizer(gray)
    for bad in (np.zeros((2, 8, 8, 5), np.uint8), np.zeros((1, 2, 8, 8, 3), np.uint8), np.zeros(8, np.uint8)):
        with pytest.raises(ValueError, match=str(bad.shape).replace("(", r"\(").replace(")", r"\)")):
            colorizer(bad)
    assert colorizer(np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 8, 8, 3)


def _wide_bin_classifier(num_bins):
    """Logits at 1/4 resolution for `num_bins` bins, biased towards the last bin."""
    inp = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 1), name="L")
    x = keras.layers.AveragePooling2D(4)(inp)
    bias = np.zeros(num_bins, np.float32)
    bias[-1] = 6.0
    logits = keras.layers.Conv2D(num_bins, 1, name="logits", kernel_initializer="zeros",
                                 bias_initializer=keras.initializers.Constant(bias))(x)
    return keras.Model(inp, {"logits": logits})


def test_default_decoder_infers_the_bin_width_from_the_logits():
    from colorization_tf import quantize

    width = 20.0
    centers = quantize.ab_bin_centers(width)
    model = _wide_bin_classifier(len(centers))
    l_enc, _ = tiny_data(n=2, size=IMAGE_SIZE)
    decode = heads.default_decode(len(centers))
    assert decode.bin_width == width and heads.default_decode().num_bins == quantize.ZHANG_NUM_BINS
    ab = heads.predict_ab(model, l_enc, "zhang").numpy()
    assert ab.shape == (2, IMAGE_SIZE, IMAGE_SIZE, 2)
    expected = quantize.annealed_mean(model(l_enc)["logits"], centers).numpy()  # Lab units, 1/4 resolution
    np.testing.assert_allclose(ab[:, ::4, ::4], expected, atol=1e-3)
    with pytest.raises(ValueError, match="314 bins"):
        heads.predict_ab(_wide_bin_classifier(314), l_enc, "zhang")


def test_native_resolution_export_runs_iizuka_on_the_full_image(tmp_path):
    from colorization_tf.models import build_model

    model = build_model("iizuka_lee128", image_size=32, num_classes=3)
    spec = get_spec("iizuka_lee128").replace(image_size=32)
    path = export.export_saved_model(model, tmp_path / "native", spec, native_resolution=True, save_keras=False)
    info = json.loads((path / export.INFO_FILE).read_text())
    assert info["resolution"] == "native, rounded to a multiple of 8"
    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    rgb = tiny_rgb(1, 56)[:, :40]  # 40x56, multiples of 8: the model sees exactly this image's L
    norm = color.get_normalization("lee2016")
    l_full = color.lightness(rgb)
    expected_ab = norm.decode_ab(model(norm.encode_l(l_full), training=False)["ab"])
    expected = color.lab_to_rgb(color.join_lab(l_full, expected_ab)).numpy() * 255
    out = serve(images=tf.constant(rgb))["rgb"].numpy()
    assert out.shape == (1, 40, 56, 3)
    assert np.abs(out.astype(np.float32) - expected).mean() < 1.0

    odd = serve(images=tf.constant(tiny_rgb(1, 64)[:, :37, :61]))["rgb"]  # rounded to 40x64 inside, back to 37x61
    assert odd.shape == (1, 37, 61, 3)


@pytest.mark.parametrize(
    "name, kwargs",
    [("polychromify", {}), ("iizuka_lee128", {"num_classes": 3}), ("eccv16_regression", {}),
     ("alexnet_classification", {}), ("resnet_unet", {"encoder_depth": 18})],
)
def test_fully_convolutional_models_trace_on_fully_dynamic_shapes(name, kwargs):
    """What a native-resolution export (`ModelSpec.size_multiple`) needs: one graph for every image size."""
    from colorization_tf.models import build_model

    model = build_model(name, image_size=None if name != "iizuka_lee128" else 32, **kwargs)
    spec = tf.TensorSpec([None, None, None, 1], tf.float32)
    concrete = tf.function(lambda l: model(l, training=False)).get_concrete_function(spec)
    out = concrete(tf.zeros([1, 64, 96, 1]))
    colour = out["ab"] if isinstance(out, dict) and "ab" in out else out
    assert colour.shape[1] in (64, 16) and colour.shape[2] in (96, 24)  # full res, or 1/4 for logits


def _tiny_compact_unet():
    from colorization_tf.models.compact_unet import build_compact_unet

    keras.utils.set_random_seed(3)
    return build_compact_unet(None, widths=(4, 4, 8, 8), global_units=8)


def test_work_side_runs_the_model_on_the_whole_image_with_its_aspect_kept():
    from colorization_tf import color
    from colorization_tf.models.heads import predict_ab

    model = _tiny_compact_unet()
    spec = get_spec("compact_unet")
    serve = export.make_serving_function(model, spec, work_side=32, compile_pixels=False)
    rgb = np.random.default_rng(0).integers(0, 256, (1, 40, 80, 3), dtype=np.uint8)
    out = serve(tf.constant(rgb))["rgb"].numpy()
    assert out.shape == rgb.shape
    l = color.lightness(tf.constant(rgb))
    small = tf.image.resize(l, (16, 32), method="bilinear", antialias=True)  # 80 -> 32 wide, 40 -> 16 high
    ab = tf.image.resize(predict_ab(model, color.get_normalization("zhang").encode_l(small), "zhang"), (40, 80))
    expected = tf.cast(tf.round(color.lab_to_rgb(tf.concat([l, ab], -1)) * 255), tf.uint8).numpy()
    assert np.abs(out.astype(int) - expected.astype(int)).max() <= 1
    squashed = export.make_serving_function(model, spec, compile_pixels=False)(tf.constant(rgb))["rgb"].numpy()
    assert np.abs(squashed.astype(int) - out.astype(int)).max() > 1  # the check can tell the two apart
    with pytest.raises(ValueError, match="work_side"):
        export.make_serving_function(model, spec, work_side=8)


def test_float16_weights_halve_the_export_and_keep_its_colours(tmp_path):
    model = _tiny_compact_unet()
    model.build((None, None, None, 1))
    # weights of a trained size, not the initial ones: float16 must keep what training wrote
    model.set_weights([w + np.random.default_rng(1).normal(0, 0.05, w.shape).astype(w.dtype) for w in model.get_weights()])
    spec = get_spec("compact_unet")
    full = export.export_saved_model(model, tmp_path / "f32", spec, work_side=32, save_keras=False)
    half = export.export_saved_model(model, tmp_path / "f16", spec, work_side=32, save_keras=False, weights_dtype="float16")
    size = {p: sum(f.stat().st_size for f in (p / "variables").iterdir()) for p in (full, half)}
    assert size[half] < 0.6 * size[full]
    rgb = np.random.default_rng(2).integers(0, 256, (2, 48, 40, 3), dtype=np.uint8)
    a, b = export.load_colorizer(full)(rgb), export.load_colorizer(half)(rgb)
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 0.5
    assert json.loads((half / export.INFO_FILE).read_text())["weights_dtype"] == "float16"
    with pytest.raises(ValueError, match="weights_dtype"):
        export.export_saved_model(model, tmp_path / "bad", spec, weights_dtype="int8")
