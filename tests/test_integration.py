"""The pieces together: synthetic images -> tf.data pipeline -> registered model -> runner -> export
-> SavedModel reloaded and served on odd-sized uint8 images -> `colorize` command.

Every registered model goes through the loop at a tiny size (32 px). The cheap ones are trained a
step with the loss their head needs (regression: MSE; classification: soft-encoded cross-entropy
weighted by the pipeline data's own prior; Iizuka: MSE + alpha CE on the scene labels); the others
(the PolyChromify variants, ECCV16 32M, ResNet34 U-Net 24M, Iizuka 224) are built and exported only:
their first training step costs up to 30 s on two shared cores and exercises no glue that a trained
model of the same normalisation and head does not.
"""

import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import cli, color, export, losses, models, quantize, training
from colorization_tf.data import decode, files, pipeline
from colorization_tf.sources import bundled_photos, synthetic
from colorization_tf.models import heads

SIZE = 32
SOURCE_SIZE = 40
ODD_SHAPE = (1, 37, 53, 3)
BATCH = 2
TRAINED = {"polychromify", "polychromify_v0", "iizuka_lee128", "alexnet_regression", "alexnet_classification", "cs520_cnn"}
"""One of each normalisation and head, trained a step; the others (the PolyChromify variants, which
share PolyChromify's glue, and the giants) are built and exported only, to keep the test short."""
SAMPLE_FIGURE_MODELS = {"iizuka_lee128"}
"""Also draw the runner's sample figure (dict targets with the scene label)."""


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """Seven synthetic scenes (one per class) at 40 px, as `files.find_images` sees them."""
    root = synthetic.generate_dataset(tmp_path_factory.mktemp("integration") / "scenes", n_per_class=1, size=SOURCE_SIZE)
    return files.find_images(root)


def _quiet(**kwargs) -> training.TrainConfig:
    defaults = dict(
        epochs=1, steps_per_epoch=1, sample_every=0, tensorboard=False, loss_curves=False, verbose=0,
        strategy="default", precision="float32", learning_rate=1e-3,
    )
    return training.TrainConfig(**{**defaults, **kwargs})


def _overrides(spec, scenes) -> dict:
    overrides = {"image_size": SIZE}
    if spec.needs_labels:
        overrides["num_classes"] = len(scenes.class_names)
    return overrides


def _loss_for(spec, dataset):
    """(loss, loss_weights) for a model: its spec's defaults; classification gets weights from `dataset`'s prior."""
    if spec.losses:
        return spec.default_losses()
    if spec.head.classification:
        prior = quantize.compute_prior(dataset, quantize.ab_bin_centers(), normalization=spec.normalization)
        assert prior.shape == (quantize.ZHANG_NUM_BINS,) and np.isclose(prior.sum(), 1.0)
        weights = quantize.rebalancing_weights(prior)
        assert np.all(np.isfinite(weights)) and np.isclose(np.sum(prior * weights), 1.0, rtol=1e-3)
        return losses.SoftEncodedCrossEntropy(class_weights=weights), None
    return "mse", None


def _load(path):
    """`serving_default` of a SavedModel loaded with plain `tf.saved_model.load`, as uint8 -> uint8."""
    fn = tf.saved_model.load(str(path)).signatures[export.SERVING_ENDPOINT]
    return lambda images: fn(images=tf.constant(images))[export.OUTPUT_KEY]


def _serve(path, images):
    return _load(path)(images)


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_model_trains_exports_and_serves_any_size(name, scenes, tmp_path):
    spec = models.MODELS[name]
    labels = scenes.labels if spec.needs_labels else None
    train_ds = pipeline.build_dataset(
        scenes.paths, image_size=SIZE, batch_size=BATCH, normalization=spec.normalization, labels=labels,
        training=True, seed=1,
    )
    if name not in TRAINED:
        model = spec.build(**_overrides(spec, scenes))
    else:
        loss, loss_weights = _loss_for(spec, train_ds)
        sample = next(iter(train_ds)) if name in SAMPLE_FIGURE_MODELS else None
        config = _quiet(loss=loss, loss_weights=loss_weights, sample_every=1 if sample is not None else 0, name=name)
        model, history = training.train(
            lambda: spec.build(**_overrides(spec, scenes)), train_ds, None, config, tmp_path / "run",
            sample_batch=sample, normalization=spec.normalization,
        )
        assert history["epoch"] == [1] and np.isfinite(history["loss"][0])
        assert training.list_checkpoints(tmp_path / "run")
        if sample is not None:
            assert (tmp_path / "run" / training.FIGURES_DIR / "samples_epoch0001.png").is_file()

    path = export.export_saved_model(model, tmp_path / "export", spec.replace(image_size=SIZE), name=name,
                                     save_keras=name in TRAINED)
    rng = np.random.default_rng(0)
    odd = rng.integers(0, 256, size=ODD_SHAPE, dtype=np.uint8)
    serve = _load(path)
    out = serve(odd)
    assert out.dtype == tf.uint8 and tuple(out.shape) == ODD_SHAPE

    # At the model's own size the export must agree with "L -> model -> decode -> RGB" computed here
    # on the same pixels. See `EXPORT_VS_REFERENCE_ATOL` for the bound.
    image = decode.decode_and_resize(tf.constant(scenes.paths[0]), SIZE).numpy()
    _assert_export_matches_reference(serve, model, spec.normalization, image, tmp_path / "same_pixels.png")


EXPORT_VS_REFERENCE_ATOL = 1.0
"""Bound on |export uint8 - 255 * reference float| when both see the same uint8 pixels.

Derivation: the SavedModel's output is round(255 * f(x)) and the reference is 255 * f'(x) for the
same function on the same input, so the difference is at most 0.5 (rounding) + 255 * |f - f'|.
The same-size resizes in the export are identities (bilinear at scale 1), so f and f' differ only
by float32 rounding: in the Lab maths (relative error ~1e-6 on values <= 100, under 1e-4 of the
[0, 1] RGB range: 0.03 of a level) and in the model's kernels (the reference runs in a graph, as
the SavedModel does, so grappler fuses the same ops; oneDNN and Eigen still order sums by CPU).
Half a level covers both with room. Measured on the 14 models with oneDNN on and off: at most
0.5006 with the reference run eagerly, at most 0.5000 with it in a graph. (Four of the models, run
with oneDNN's ISA capped at AVX2, AVX-512 and AVX-512 VNNI through the old comparison, agreed to
within one level as well.)

The test used to feed the reference the pipeline's L, which the pipeline caches as float16 (up to
0.031 L units off, `PIPELINE_L_ATOL`): an untrained model with raw-L input (the ResNet U-Net, tanh
at 110 ab units) turned that into differences of up to 20 levels on some CPUs. The pipeline's L
is now checked separately, against the bound of its own storage format."""

PIPELINE_L_ATOL = 2.0**-5
"""Half the float16 spacing on [64, 128), the largest rounding of an L in [0, 100] that the
pipeline's float16 Lab cache makes (`targets.lab16_from_resized`)."""


def _assert_export_matches_reference(serve, model, normalization, image, png_path):
    """At the model's size, the export's uint8 output on `image` vs "L of the same pixels -> model ->
    `models.heads.outputs_to_ab` -> RGB" in float (`EXPORT_VS_REFERENCE_ATOL`); and the pipeline, reading the
    same pixels from a PNG, gives that L to within its float16 cache (`PIPELINE_L_ATOL`)."""
    from PIL import Image

    norm = color.get_normalization(normalization)
    l = color.lightness(image[None])
    Image.fromarray(image).save(png_path)  # lossless: the pipeline reads exactly these pixels
    l_pipeline, _ = next(iter(pipeline.build_dataset([str(png_path)], image_size=image.shape[0], batch_size=1,
                                                     normalization=normalization)))
    np.testing.assert_allclose(norm.decode_l(l_pipeline), l, rtol=0, atol=PIPELINE_L_ATOL + 1e-5)

    @tf.function
    def reference(l):
        ab = heads.predict_ab(model, norm.encode_l(l), norm)
        return color.lab_to_rgb(color.join_lab(l, ab)) * 255.0

    expected = reference(l).numpy()
    served = serve(image[None]).numpy().astype(np.float32)
    assert served.shape == expected.shape
    assert np.abs(served - expected).max() <= EXPORT_VS_REFERENCE_ATOL


def test_classification_export_with_wider_bins_uses_a_matching_decoder(scenes, tmp_path):
    """Ziegler's wider bins: the model's bin count, the loss and the export's decoder must agree."""
    bin_width = 20.0
    centers = quantize.ab_bin_centers(bin_width)
    model = models.build_model("alexnet_classification", image_size=SIZE, bin_width=bin_width)
    assert model.output_shape[-1] == len(centers) < quantize.ZHANG_NUM_BINS
    l_enc, ab_enc = next(iter(pipeline.build_dataset(scenes.paths, image_size=SIZE, batch_size=BATCH, normalization="zhang")))
    loss = losses.SoftEncodedCrossEntropy(bin_width=bin_width)(ab_enc, model(l_enc))
    assert np.isfinite(float(loss)) and float(loss) > 0
    # The default decoder uses the width the model stores (not its registry head's 10); an explicit one agrees.
    spec = models.get_spec("alexnet_classification").replace(image_size=SIZE)  # its head states Zhang's bins
    inferred = export.export_saved_model(model, tmp_path / "default", spec, save_keras=False)
    path = export.export_saved_model(model, tmp_path / "wide", spec, decode=quantize.AnnealedMeanDecode(bin_width=bin_width),
                                     save_keras=False)
    gray = np.full((2, 21, 35, 1), 120, np.uint8)
    out = _serve(path, gray)
    assert out.dtype == tf.uint8 and tuple(out.shape) == (2, 21, 35, 3)
    np.testing.assert_array_equal(_serve(inferred, gray).numpy(), out.numpy())
    with pytest.raises(ValueError, match="bins"):  # a width that does not match the model still fails
        export.export_saved_model(model, tmp_path / "wrong", spec, decode=quantize.AnnealedMeanDecode(), save_keras=False)


# ------------------------------------------------------------------------------ exact resume


def _weights(model):
    return [v.numpy() for v in model.weights]


def test_epoch_datasets_share_one_cache_and_depend_only_on_seed_and_epoch(scenes, tmp_path):
    # Copies of the images, deleted after the first epoch: later epochs must come from the cache.
    folder = tmp_path / "copies"
    folder.mkdir()
    paths = []
    for p in scenes.paths:
        target = folder / Path(p).name
        target.write_bytes(Path(p).read_bytes())
        paths.append(str(target))
    kwargs = dict(image_size=SIZE, batch_size=BATCH, normalization="polychromify", seed=4)
    for_epoch = pipeline.build_epoch_datasets(paths, **kwargs)
    assert getattr(for_epoch, "python_epochs", False)
    first = [x.numpy() for x, _ in for_epoch(0)]
    for p in paths:
        os.remove(p)
    second = [x.numpy() for x, _ in for_epoch(1)]
    assert len(first) == len(second) == len(paths) // BATCH
    assert not all(np.array_equal(a, b) for a, b in zip(first, second))  # epochs differ
    again = [x.numpy() for x, _ in for_epoch(1)]  # the same epoch again: the same batches
    assert all(np.array_equal(a, b) for a, b in zip(second, again))
    with pytest.raises(TypeError, match="Python int"):
        for_epoch(tf.constant(1, tf.int64))


def test_epoch_datasets_resume_exactly_through_the_runner(scenes, tmp_path):
    """A run stopped after epoch 2 and resumed reaches the weights of an uninterrupted 3-epoch run."""
    data = pipeline.build_epoch_datasets(
        scenes.paths, image_size=SIZE, batch_size=BATCH, normalization="polychromify", seed=7
    )
    build = lambda: models.build_model("polychromify_v0", image_size=SIZE)  # noqa: E731
    # tf.data cannot know the length after dropping broken files: the runner is told it.
    steps = pipeline.dataset_cardinality_hint(len(scenes.paths), BATCH, drop_remainder=True)
    straight, _ = training.train(build, data, None, _quiet(epochs=3, steps_per_epoch=steps, seed=0), tmp_path / "straight")
    training.train(build, data, None, _quiet(epochs=2, steps_per_epoch=steps, seed=0), tmp_path / "resumed")
    resumed, history = training.train(build, data, None, _quiet(epochs=3, steps_per_epoch=steps, seed=0), tmp_path / "resumed")
    assert history["epoch"] == [1, 2, 3]
    for a, b in zip(_weights(straight), _weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    # and training moved the weights (the comparison above is not between two untouched models)
    fresh = build()
    assert any(not np.allclose(a, b) for a, b in zip(_weights(fresh), _weights(straight)))


def test_python_epochs_around_build_dataset_also_resumes_exactly(scenes, tmp_path):
    """The demo's form: `python_epochs(lambda e: build_dataset(..., training=True, seed=base + e))`."""
    data = training.python_epochs(
        lambda e: pipeline.build_dataset(
            scenes.paths, image_size=SIZE, batch_size=BATCH, normalization="polychromify", training=True, seed=100 + e
        )
    )
    build = lambda: models.build_model("polychromify_v0", image_size=SIZE)  # noqa: E731
    config = dict(steps_per_epoch=len(scenes.paths) // BATCH, seed=0)
    straight, _ = training.train(build, data, None, _quiet(epochs=2, **config), tmp_path / "straight")
    training.train(build, data, None, _quiet(epochs=1, **config), tmp_path / "resumed")
    resumed, _ = training.train(build, data, None, _quiet(epochs=2, **config), tmp_path / "resumed")
    for a, b in zip(_weights(straight), _weights(resumed)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def test_reshuffle_per_epoch_works_with_seed_zero_both_as_ints_and_as_tensors(tmp_path):
    """TrainConfig.seed=0 makes the global seed 0; a tensor shuffle seed used to crash tf.random's get_seed."""
    base = tf.data.Dataset.range(6).map(lambda i: (tf.fill([SIZE // 4, SIZE // 4, 1], tf.cast(i, tf.float32)),
                                                  tf.zeros([SIZE // 4, SIZE // 4, 2]))).cache()
    shuffled = training.reshuffle_per_epoch(base, buffer_size=6, seed=0)
    as_ints = lambda e: shuffled(e).batch(3)  # noqa: E731  (a plain lambda: train() passes tensors)
    as_ints_marked = training.python_epochs(as_ints)
    build = lambda: keras.Sequential([keras.Input((SIZE // 4, SIZE // 4, 1)), keras.layers.Conv2D(2, 1)])  # noqa: E731
    for fn, where in ((as_ints, "tensor"), (as_ints_marked, "ints")):
        _, history = training.train(build, fn, None, _quiet(epochs=2, steps_per_epoch=None, seed=0), tmp_path / where)
        assert history["epoch"] == [1, 2]
    keras.utils.set_random_seed(0)
    orders = [[int(x[0, 0, 0]) for x, _ in shuffled(e)] for e in (0, 1, 0)]
    assert sorted(orders[0]) == list(range(6)) and orders[0] == orders[2] and orders[0] != orders[1]


# ------------------------------------------------------------------------------ mixed precision + CLI


@pytest.fixture(scope="module")
def mixed_export(scenes, tmp_path_factory):
    """PolyChromify trained a step and exported under the mixed_float16 policy (policy reset after)."""
    tmp = tmp_path_factory.mktemp("mixed")
    try:
        hardware = training.select_hardware(precision="mixed_float16", strategy="default")
        built = {}

        def build():
            built["model"] = models.build_model("polychromify", image_size=SIZE)
            built["initial"] = _weights(built["model"])
            return built["model"]

        data = pipeline.build_dataset(scenes.paths, image_size=SIZE, batch_size=BATCH, normalization="polychromify", training=True)
        model, history = training.train(build, data, None, _quiet(precision="mixed_float16"), tmp / "run", hardware=hardware)
        path = export.export_saved_model(model, tmp / "export", models.get_spec("polychromify").replace(image_size=SIZE),
                                         name="mixed")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    return model, built["initial"], history, path


def test_mixed_precision_end_to_end(mixed_export, scenes):
    model, initial, history, path = mixed_export
    assert model.dtype_policy.name == "mixed_float16"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert np.isfinite(history["loss"][0])
    assert any(not np.array_equal(a, b) for a, b in zip(initial, _weights(model)))
    l_enc, _ = next(iter(pipeline.build_dataset(scenes.paths[:2], image_size=SIZE, batch_size=2, normalization="polychromify")))
    assert model(l_enc).dtype == "float32"
    hidden = [layer for layer in model.layers if layer.weights]
    assert hidden[0].compute_dtype == "float16"
    out = _serve(path, np.random.default_rng(1).integers(0, 256, size=(2, 45, 29, 3), dtype=np.uint8))
    assert out.dtype == tf.uint8 and tuple(out.shape) == (2, 45, 29, 3)
    # Further training from the .keras file: load it under the policy it was trained with, or Keras
    # rebuilds a plain optimizer and drops the loss-scale state (with a warning).
    keras.mixed_precision.set_global_policy("mixed_float16")
    reloaded = keras.saving.load_model(path / export.KERAS_FILE)
    assert isinstance(reloaded.optimizer, keras.optimizers.LossScaleOptimizer)
    np.testing.assert_allclose(reloaded(l_enc).numpy(), model(l_enc).numpy(), atol=1e-3)


def test_colorize_command_on_a_real_export_and_skimage_photos(mixed_export, tmp_path, capsys):
    _, _, _, model_path = mixed_export
    inputs = tmp_path / "in"
    written = bundled_photos.write_photos(inputs)
    gray = tmp_path / "in" / "gray.png"
    from PIL import Image

    Image.fromarray(np.asarray(Image.open(written[0]).convert("L"))[:77, :91]).save(gray)
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out_dir = tmp_path / "out"
    status = cli.main([str(inputs), "--model", str(model_path), "--out", str(out_dir), "--quiet", "--batch-size", "2"])
    assert status == cli.EXIT_FAILED  # the broken file
    errors = capsys.readouterr().err
    assert "broken.jpg" in errors and errors.count("colorize: error") == 1
    for source in [*written, gray]:
        result = out_dir / f"{source.stem}_color.png"
        assert result.is_file(), result
        with Image.open(source) as a, Image.open(result) as b:
            assert b.size == a.size and b.mode == "RGB"
