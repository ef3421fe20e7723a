"""Model selection on validation: the best epoch's weights are kept, survive a resume, and are the ones evaluated."""

import json

import keras
import numpy as np
import pytest

from colorization_tf import selection


def _model():
    inputs = keras.Input((2,))
    return keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="zeros")(inputs))


def _epochs(cb, model, values, start=0):
    cb.set_model(model)
    for i, value in enumerate(values):
        model.layers[-1].kernel.assign(np.full((2, 1), float(start + i + 1), np.float32))  # weights mark the epoch
        cb.on_epoch_end(start + i, {"val_ab_l1": value})


def test_best_weights_keeps_the_lowest_epoch_and_restores_it(tmp_path):
    model = _model()
    _epochs(selection.BestWeights(tmp_path, "val_ab_l1"), model, [5.0, 3.0, 4.0, float("nan"), 3.5])
    info = json.loads((tmp_path / selection.BEST_INFO).read_text())
    assert info["epoch"] == 2 and info["value"] == 3.0 and info["monitor"] == "val_ab_l1"
    assert selection.restore_best(model, tmp_path)["epoch"] == 2
    np.testing.assert_array_equal(model.layers[-1].kernel.numpy(), np.full((2, 1), 2.0))


def test_a_resumed_run_continues_from_the_best_on_disk(tmp_path):
    model = _model()
    _epochs(selection.BestWeights(tmp_path, "val_ab_l1"), model, [5.0, 3.0])
    _epochs(selection.BestWeights(tmp_path, "val_ab_l1"), model, [4.0, 3.2], start=2)  # worse than epoch 2: kept
    assert selection.read_best(tmp_path)["epoch"] == 2
    _epochs(selection.BestWeights(tmp_path, "val_ab_l1"), model, [1.0], start=4)
    assert selection.read_best(tmp_path)["epoch"] == 5


def test_max_mode_and_errors(tmp_path):
    model = _model()
    cb = selection.BestWeights(tmp_path, "val_psnr", mode="max")
    cb.set_model(model)
    for epoch, value in enumerate([10.0, 12.0, 11.0]):
        cb.on_epoch_end(epoch, {"val_psnr": value})
    assert selection.read_best(tmp_path)["epoch"] == 2
    with pytest.raises(KeyError, match="val_missing"):
        selection.BestWeights(tmp_path / "b", "val_missing").on_epoch_end(0, {"val_loss": 1.0})
    with pytest.raises(ValueError, match="mode"):
        selection.BestWeights(tmp_path, mode="lowest")
    assert selection.restore_best(model, tmp_path / "nothing") is None


def test_the_runner_evaluates_the_selected_epoch(tmp_path):
    from colorization_tf import experiment as ex
    from colorization_tf.sources.synthetic import generate_dataset

    data = generate_dataset(tmp_path / "scenes", n_per_class=4, size=32, workers=1)
    run = ex.RunConfig("poly", "polychromify_v0", loss="mse", metrics=["ab_l1"], epochs=3, batch_size=4,
                       image_size=32, select_best="val_ab_l1", export=False)
    seen = {}
    cfg = ex.ExperimentConfig(paper="sel", title="t", runs=[run], data=str(data), protocol="polychromify", max_images=24,
                              out_dir=str(tmp_path / "out"), export=False, verbose=0,
                              hooks=[lambda ctx: seen.update(model=ctx.models["poly"])])
    r = ex.run_experiment(cfg).runs["poly"]
    assert r.epochs == 3 and len(r.history["val_ab_l1"]) == 3
    assert r.selected_epoch == int(np.argmin(r.history["val_ab_l1"])) + 1
    best = _model_like(seen["model"])
    selection.restore_best(best, r.workdir)
    for evaluated, saved in zip(seen["model"].weights, best.weights):
        np.testing.assert_array_equal(evaluated.numpy(), saved.numpy())
    last = sorted((tmp_path / "out" / "runs").glob("poly-*"))[0]
    assert (last / selection.BEST_WEIGHTS).exists()


def _model_like(model):
    clone = keras.models.clone_model(model)
    clone.build(model.input_shape)
    return clone
