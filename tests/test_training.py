"""The training runner: hardware policy, loss scaling, distribution, checkpoints, NaN guard, resume."""

import errno
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import training
from tests._tiny_models import build_tiny_colorizer, build_tiny_discriminator, tiny_data

REPO = Path(__file__).resolve().parents[1]


def _quiet_config(**kwargs):
    defaults = dict(epochs=1, learning_rate=1e-2, sample_every=0, tensorboard=False, loss_curves=False, verbose=0, precision="float32", strategy="default")
    defaults.update(kwargs)
    return training.TrainConfig(**defaults)


def _dataset(n=8, size=16, batch=4):
    l_enc, ab_enc = tiny_data(n=n, size=size)
    return tf.data.Dataset.from_tensor_slices((l_enc, ab_enc)).batch(batch)


def test_select_hardware_on_cpu_is_float32_without_xla():
    hw = training.select_hardware()
    assert not tf.config.list_logical_devices("GPU")
    assert hw.policy == "float32" and hw.jit_compile is False and hw.n_replicas == 1
    assert keras.mixed_precision.global_policy().name == "float32"
    assert "CPU" in hw.description
    with pytest.raises(ValueError, match="precision"):
        training.select_hardware(precision="float8")


def test_select_hardware_forced_mirrored_uses_both_logical_cpus():
    hw = training.select_hardware(strategy="mirrored")
    assert isinstance(hw.strategy, tf.distribute.MirroredStrategy)
    assert hw.n_replicas == 2 and hw.jit_compile is False


def test_mixed_float16_compile_wraps_optimizer_and_a_step_moves_weights():
    hw = training.select_hardware(precision="mixed_float16")
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    model = build_tiny_colorizer(16)
    training.compile_model(model, _quiet_config(), jit_compile=hw.jit_compile)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    conv1 = model.get_layer("conv1")
    assert conv1.compute_dtype == "float16" and conv1.kernel.dtype == "float32"
    l_enc, ab_enc = tiny_data(n=4)
    assert model(l_enc).dtype == "float32"
    before = conv1.kernel.numpy().copy()
    loss = model.train_on_batch(l_enc, ab_enc)
    assert np.isfinite(loss)
    assert not np.allclose(before, conv1.kernel.numpy())


def test_float32_policy_dtypes():
    training.select_hardware(precision="float32")
    model = build_tiny_colorizer(16)
    assert all(v.dtype == "float32" for v in model.variables)
    assert model.get_layer("conv1").compute_dtype == "float32"
    training.compile_model(model, _quiet_config())
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_train_config_json_round_trip_and_optimizer_names():
    config = training.TrainConfig(epochs=3, optimizer="adam", optimizer_kwargs={"betas": [0.5, 0.999], "weight_decay": 1e-3},
                                  loss={"ab": "mse", "scene": "sparse_categorical_crossentropy"}, loss_weights={"ab": 1.0, "scene": 1 / 300})
    again = training.TrainConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    opt = training.make_optimizer(again.optimizer, 1e-3, **again.optimizer_kwargs)
    assert isinstance(opt, keras.optimizers.Adam) and opt.beta_1 == 0.5 and opt.weight_decay == pytest.approx(1e-3)
    assert isinstance(training.make_optimizer("adadelta", 1.0), keras.optimizers.Adadelta)
    with pytest.raises(ValueError, match="Unknown optimizer"):
        training.make_optimizer("nope")
    with pytest.raises(ValueError, match="Unknown TrainConfig keys"):
        training.TrainConfig.from_dict({"epochz": 1})


def test_train_under_mirrored_strategy_with_two_logical_cpus(tmp_path):
    hw = training.select_hardware(precision="float32", strategy="mirrored")
    model, history = training.train(lambda: build_tiny_colorizer(16), _dataset(), _dataset(), _quiet_config(epochs=2), tmp_path, hardware=hw)
    assert model.distribute_strategy is hw.strategy
    assert len(history["loss"]) == 2 and np.isfinite(history["val_loss"]).all()
    assert history["loss"][1] < history["loss"][0]
    assert [e for e, _ in training.list_checkpoints(tmp_path)] == [1, 2]


def test_train_writes_logs_figures_and_resumes_without_redoing(tmp_path):
    l_enc, ab_enc = tiny_data(n=4)
    config = _quiet_config(epochs=2, sample_every=2, tensorboard=True, loss_curves=True)
    model, history = training.train(lambda: build_tiny_colorizer(16), _dataset(), None, config, tmp_path,
                                    sample_batch=(l_enc, ab_enc), normalization="zhang")
    assert (tmp_path / "figures" / "samples_epoch0002.png").stat().st_size > 0
    assert (tmp_path / "figures" / "loss_curves.png").stat().st_size > 0
    if importlib.util.find_spec("tensorboard") is not None:
        assert any((tmp_path / "tensorboard").rglob("*tfevents*"))
    rows = (tmp_path / "training_log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,loss") and len(rows) == 3
    first = json.loads((tmp_path / "train_summary.json").read_text())
    assert first["status"] == "completed" and first["seconds_total"] == first["seconds_this_session"] > 0
    # Asking for 3 epochs now continues from the checkpoint at 2: one more epoch only.
    model2, history2 = training.train(lambda: build_tiny_colorizer(16), _dataset(), None, _quiet_config(epochs=3), tmp_path)
    assert history2["epoch"] == [1, 2, 3] and history2["loss"][:2] == history["loss"]
    assert len((tmp_path / "training_log.csv").read_text().strip().splitlines()) == 4
    # The training time counts both sessions (a resumed experiment reported only its own, 0 for a finished run).
    second = json.loads((tmp_path / "train_summary.json").read_text())
    assert second["seconds_total"] == pytest.approx(first["seconds_total"] + second["seconds_this_session"])
    assert training.recorded_seconds(tmp_path) == second["seconds_total"] and training.recorded_seconds(tmp_path / "none") == 0.0


def _trained_tiny(steps=1, build=build_tiny_colorizer):
    model = build(16)
    training.compile_model(model, _quiet_config())
    l_enc, ab_enc = tiny_data(n=4)
    for _ in range(steps):
        model.train_on_batch(l_enc, ab_enc)
    return model


def _values(model) -> dict:
    return {f"{group}/{key}": v.numpy().copy() for group, variables in training.state_variables(model).items()
            for key, v in variables.items()}


def test_a_damaged_newest_checkpoint_is_skipped_and_a_write_failure_leaves_the_previous_one(tmp_path, monkeypatch):
    model = _trained_tiny()
    writer = training.CheckpointWriter(tmp_path, model, keep=3)
    good = writer.save(1, {"loss": [1.0]})
    saved = _values(model)
    model.train_on_batch(*tiny_data(n=4))

    def full_disk(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "ckpt-2_temp/part-00000: No space left on device")

    (tmp_path / "checkpoints" / "ckpt-2_temp").mkdir()  # what the failed write would leave
    monkeypatch.setattr(tf.train.CheckpointManager, "save", full_disk)
    with pytest.raises(OSError, match="No space left on device") as err:
        writer.save(2, {"loss": [1.0, 0.5]})
    assert err.value.errno == errno.ENOSPC
    monkeypatch.undo()
    assert training.list_checkpoints(tmp_path) == [(1, good)] and good == tmp_path / "checkpoints" / "ckpt-1"
    assert not (tmp_path / "checkpoints" / "ckpt-2_temp").exists()
    # A damaged newest checkpoint (e.g. copied half-way by hand) is skipped in favour of the older one.
    writer.save(2, {"loss": [1.0, 0.5]})
    data = next((tmp_path / "checkpoints").glob("ckpt-2.data-*"))
    data.write_bytes(data.read_bytes()[:100])
    fresh = build_tiny_colorizer(16)
    training.compile_model(fresh, _quiet_config())
    with pytest.warns(UserWarning, match="unreadable checkpoint"):
        epoch, history = training.restore_checkpoint(fresh, tmp_path)
    assert epoch == 1 and history == {"loss": [1.0]}
    restored = _values(fresh)
    assert restored.keys() == saved.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(restored[key], value, err_msg=key)
    assert fresh.optimizer.iterations.numpy() == 1


def _tiny_with_extra_layer(image_size=16):
    """The tiny colorizer with a 1x1 conv "conv0" in front: every later variable moves one layer down."""
    inp = keras.Input((image_size, image_size, 1), name="L")
    x = keras.layers.Conv2D(1, 1, name="conv0")(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.Conv2D(2, 3, padding="same", name="conv2")(x)
    return keras.Model(inp, keras.layers.Activation("tanh", dtype="float32", name="ab")(x), name="tiny_colorizer")


def test_checkpoint_variables_are_matched_by_name_not_position(tmp_path):
    """A layer added in front of the others shifts every variable's position; each still gets its own
    value (weights and optimizer slots), the new layer keeps its initial one, and a warning names it."""
    old = _trained_tiny(steps=2)
    training.save_checkpoint(tmp_path, old, 1, {"loss": [1.0]})
    new = _trained_tiny(steps=0, build=_tiny_with_extra_layer)
    assert new.variables[0].path == "conv0/kernel" and old.variables[0].path == "conv1/kernel"
    conv0 = new.get_layer("conv0").kernel.numpy().copy()
    with pytest.warns(UserWarning, match=r"not in the checkpoint \(left as initialised\): \['model/conv0/kernel'"):
        epoch, _ = training.restore_checkpoint(new, tmp_path)
    assert epoch == 1
    before, after = _values(old), _values(new)
    new_keys = {"model/conv0/kernel", "model/conv0/bias"}
    new_keys |= {f"optimizer/conv0/{v}/{slot}" for v in ("kernel", "bias") for slot in ("momentum", "velocity")}
    assert set(after) - set(before) == new_keys
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    np.testing.assert_array_equal(new.get_layer("conv0").kernel.numpy(), conv0)
    assert new.optimizer.iterations.numpy() == 2
    # A variable whose shape changed is an error naming it.
    wider = build_tiny_colorizer(16, filters=8)
    training.compile_model(wider, _quiet_config())
    with pytest.raises(ValueError, match=r"model/conv1/kernel has shape \(3, 3, 1, 4\) in the checkpoint, \(3, 3, 1, 8\)"):
        training.restore_checkpoint(wider, tmp_path)


def test_old_npz_run_directory_fails_with_how_to_continue(tmp_path, capsys):
    """A run directory of the `.npz` format (colorization-tf before TensorFlow checkpoints) does not
    resume silently from scratch: the error names the file and says what to do."""
    model = build_tiny_colorizer(16)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    meta = {"epoch": 3, "history": {"loss": [3.0, 2.0, 1.0], "epoch": [1, 2, 3]}, "optimizer_built": False}
    np.savez(folder / "ckpt-00003.npz", meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
             **{f"model_{i:05d}": v.numpy() for i, v in enumerate(model.variables)})
    with pytest.raises(training.ResumeError) as err:
        training.train(lambda: build_tiny_colorizer(16), _dataset(), None, _quiet_config(epochs=4), tmp_path)
    message = str(err.value)
    assert "ckpt-00003.npz" in message and "old .npz format" in message
    assert f"delete {str(folder)!r}" in message and "new work directory" in message
    assert sorted(p.name for p in folder.iterdir()) == ["ckpt-00003.npz"]  # nothing written or removed
    # Doing what it says continues.
    shutil.rmtree(folder)
    _, history = training.train(lambda: build_tiny_colorizer(16), _dataset(), None, _quiet_config(epochs=1), tmp_path)
    assert history["epoch"] == [1]


def test_experiment_script_reports_a_run_it_cannot_resume_in_one_line(tmp_path, monkeypatch):
    from colorization_tf.experiment import command
    from tests._scripts import load_script

    def old_run_directory(cfg):
        raise training.ResumeError("Work directory 'x' holds checkpoints in the old .npz format; delete 'x/checkpoints'")

    monkeypatch.setattr(command, "run_experiment", old_run_directory)  # where every script's `main` looks it up
    with pytest.raises(SystemExit, match=r"error: Work directory 'x' holds checkpoints in the old \.npz format[^\n]*$"):
        load_script("experiments/cs520.py", "exp_cs520").main(["--quick", "--out", str(tmp_path)])


def test_gan_checkpoint_holds_both_optimizers_and_the_loss_scale(tmp_path):
    """Under mixed_float16 a GAN's checkpoint holds both networks, both optimizers' slots and both
    loss scales; a fresh GAN restored from it has every one of them back."""
    training.select_hardware(precision="mixed_float16")
    l_enc, ab_enc = tiny_data(n=4)
    gan = _gan()
    training.compile_model(gan, _quiet_config(precision="mixed_float16"))
    for _ in range(3):
        gan.train_on_batch(l_enc, ab_enc)
    groups = training.state_variables(gan)
    assert set(groups) == {"model", "optimizer", "d_optimizer"}
    for role in ("optimizer", "d_optimizer"):
        assert {"dynamic_scale", "step_counter", "inner/iteration"} <= set(groups[role])
    assert "inner/generator/conv1/kernel/momentum" in groups["optimizer"] and "generator/conv1/kernel" in groups["model"]
    assert "inner/discriminator/conv2d_1/kernel/velocity" in groups["d_optimizer"]
    assert {"discriminator/conv2d/kernel", "discriminator/conv2d_1/bias"} <= set(groups["model"])  # counted in the model
    assert float(gan.optimizer.dynamic_scale.numpy()) < 2.0**15  # moved from its initial value
    training.save_checkpoint(tmp_path, gan, 1, {})
    saved = _values(gan)
    fresh = _gan()
    training.compile_model(fresh, _quiet_config(precision="mixed_float16"))
    assert training.restore_checkpoint(fresh, tmp_path)[0] == 1
    restored = _values(fresh)
    assert restored.keys() == saved.keys()
    for key, value in saved.items():
        np.testing.assert_array_equal(restored[key], value, err_msg=key)


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    l_enc, ab_enc = tiny_data(n=8)
    base = tf.data.Dataset.from_tensor_slices((l_enc, ab_enc))

    def poisoned_from_epoch_2(epoch):
        factor = tf.where(epoch >= 2, tf.constant(np.nan, tf.float32), 1.0)
        return base.map(lambda x, y: (x, y * factor)).batch(4)

    config = _quiet_config(epochs=4)
    with pytest.warns(UserWarning, match="Non-finite loss"):
        model, history = training.train(lambda: build_tiny_colorizer(16), poisoned_from_epoch_2, None, config, tmp_path)
    assert [e for e, _ in training.list_checkpoints(tmp_path)] == [1, 2]
    summary = json.loads((tmp_path / "train_summary.json").read_text())
    assert summary["status"] == "stopped_on_nan" and summary["nan_epoch"] == 3
    assert history["epoch"] == [1, 2]
    assert training.load_checkpoint(training.list_checkpoints(tmp_path)[-1][1])["epoch"] == 2
    checkpointed = build_tiny_colorizer(16)
    training.compile_model(checkpointed, config)
    training.restore_checkpoint(checkpointed, tmp_path)
    for var, value in zip(model.variables, checkpointed.variables):
        assert np.isfinite(value.numpy()).all()
        np.testing.assert_array_equal(var.numpy(), value.numpy())


def test_epoch_callable_with_python_ints_gets_each_epochs_data(tmp_path):
    l_enc, ab_enc = tiny_data(n=4)
    seen = []

    def per_epoch(epoch):
        assert isinstance(epoch, int)
        seen.append(epoch)
        return tf.data.Dataset.from_tensor_slices((l_enc, ab_enc * (epoch + 1))).batch(2)

    _, history = training.train(lambda: build_tiny_colorizer(16), training.python_epochs(per_epoch), None, _quiet_config(epochs=3), tmp_path)
    assert seen == [0, 1, 2] and history["epoch"] == [1, 2, 3]
    seen.clear()
    training.train(lambda: build_tiny_colorizer(16), training.python_epochs(per_epoch), None, _quiet_config(epochs=4), tmp_path)
    assert seen == [3]


def _run_worker(workdir, out, epochs, sleep=0.0):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, str(REPO / "tests" / "_resume_worker.py"), str(workdir), str(out), str(epochs), str(sleep)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_resume_after_kill_reaches_the_same_weights(tmp_path):
    epochs = 4
    reference = _run_worker(tmp_path / "uninterrupted", tmp_path / "a.npz", epochs)
    victim = _run_worker(tmp_path / "killed", tmp_path / "b.npz", epochs, sleep=0.6)
    def reached_2():
        return 2 in [e for e, _ in training.list_checkpoints(tmp_path / "killed")]

    deadline = time.time() + 120
    while not reached_2() and victim.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    assert reached_2(), victim.stderr.read().decode()[-2000:] if victim.poll() is not None else "timeout"
    victim.send_signal(signal.SIGKILL)
    assert victim.wait() == -signal.SIGKILL
    assert not (tmp_path / "b.npz").exists()
    done = [e for e, _ in training.list_checkpoints(tmp_path / "killed")]
    assert 2 in done and max(done) < epochs
    restarted = _run_worker(tmp_path / "killed", tmp_path / "b.npz", epochs)
    for proc in (restarted, reference):
        assert proc.wait(timeout=180) == 0, proc.stderr.read().decode()[-3000:]
    history = json.loads((tmp_path / "killed" / "history.json").read_text())
    assert history["epoch"] == list(range(1, epochs + 1))
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert len(a.files) == len(b.files) > 0
    for key in a.files:
        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6)


def _gan(l1_weight=100.0, gan_weight=1.0):
    return training.GANModel(build_tiny_colorizer(16), build_tiny_discriminator(16), l1_weight=l1_weight, gan_weight=gan_weight)


def test_gan_under_mixed_float16_uses_loss_scaling_and_moves_weights():
    training.select_hardware(precision="mixed_float16")
    gan = _gan()
    gan.compile()
    assert isinstance(gan.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer)
    l_enc, ab_enc = tiny_data(n=4)
    g_before = gan.generator.get_layer("conv1").kernel.numpy().copy()
    d_before = [w.numpy().copy() for w in gan.discriminator.trainable_weights]
    # Dynamic loss scaling starts at 2**15, skips the first steps whose float16 gradients overflow
    # (halving the scale each time), then trains.
    logs = gan.fit(tf.data.Dataset.from_tensor_slices((l_enc, ab_enc)).repeat(4).batch(2), epochs=1, verbose=0, shuffle=False).history
    assert float(gan.optimizer.dynamic_scale.numpy()) < 2.0**15
    assert set(logs) >= {"loss", "g_gan", "g_l1", "d_loss"} and np.isfinite(logs["loss"]).all()
    assert not np.allclose(g_before, gan.generator.get_layer("conv1").kernel.numpy())
    assert any(not np.allclose(b, w.numpy()) for b, w in zip(d_before, gan.discriminator.trainable_weights))
    assert gan.evaluate(l_enc, ab_enc, verbose=0, return_dict=True)["loss"] > 0


def test_gan_without_loss_scaling_float16_gradients_underflow():
    """A loss whose gradients fall below float16's range: only the scaled step moves the first layer."""
    training.select_hardware(precision="mixed_float16")
    l_enc, ab_enc = tiny_data(n=4)
    moved = {}
    for scale in (True, False):
        keras.utils.set_random_seed(0)
        gan = _gan(l1_weight=1e-5, gan_weight=0.0)
        gan.compile()
        gan.scale_losses = scale
        before = gan.generator.get_layer("conv1").kernel.numpy().copy()
        gan.train_on_batch(l_enc, ab_enc)
        moved[scale] = float(np.abs(gan.generator.get_layer("conv1").kernel.numpy() - before).max())
    assert moved[True] > 0.0
    assert moved[False] == 0.0


def test_gan_keras_round_trip(tmp_path):
    gan = _gan(l1_weight=50.0)
    gan.compile()
    l_enc, _ = tiny_data(n=2)
    gan.save(tmp_path / "gan.keras")
    again = keras.saving.load_model(tmp_path / "gan.keras", compile=False)
    assert isinstance(again, training.GANModel) and again.l1_weight == 50.0
    np.testing.assert_allclose(again.predict(l_enc, verbose=0), gan.predict(l_enc, verbose=0), atol=1e-6)


def test_named_lab_metrics_use_the_models_normalisation():
    metric = training.resolve_metrics(["ab_l1", "cs520_accuracy", "mae"], normalization="polychromify")
    assert [getattr(m, "normalization", m) for m in metric] == ["polychromify", "polychromify", "mae"]
    ab_true = np.zeros((1, 2, 2, 2), np.float32)
    metric[0].update_state(ab_true, ab_true + 0.5)  # 0.5 in ab/128 units is 64 Lab units
    assert float(metric[0].result()) == pytest.approx(64.0)


def test_resume_with_a_different_training_config_is_refused(tmp_path):
    """A workdir's checkpoint only resumes a run with the same loss/optimizer/lr/...; run-length and
    logging settings may change."""
    training.train(lambda: build_tiny_colorizer(16), _dataset(), None, _quiet_config(loss="mse"), tmp_path)
    before = {path.name: path.read_bytes() for path in (tmp_path / "checkpoints").iterdir()}
    changed = _quiet_config(epochs=2, loss="l1", learning_rate=1e-3, optimizer="sgd")
    with pytest.raises(ValueError) as err:
        training.train(lambda: build_tiny_colorizer(16), _dataset(), None, changed, tmp_path)
    message = str(err.value)
    assert str(tmp_path) in message
    for key, old, new in (("loss", "'mse'", "'l1'"), ("learning_rate", "0.01", "0.001"), ("optimizer", "'adam'", "'sgd'")):
        assert f"{key}: checkpoint {old} vs now {new}" in message
    assert "epochs" not in message  # a longer run is a legitimate resume
    assert {path.name: path.read_bytes() for path in (tmp_path / "checkpoints").iterdir()} == before
    # Only resumable keys changed: it continues from the checkpoint.
    same = _quiet_config(epochs=2, loss="mse", name="renamed", verbose=0, checkpoint_every=2, keep_checkpoints=3,
                         validation_steps=1, jit_compile=False)
    _, history = training.train(lambda: build_tiny_colorizer(16), _dataset(), None, same, tmp_path)
    assert history["epoch"] == [1, 2]
    assert training.config_differences(training.load_checkpoint(training.list_checkpoints(tmp_path)[-1][1])["config"], same) == {}


def test_resolve_loss_keeps_our_errors_and_falls_back_to_keras_for_other_names():
    with pytest.raises(ValueError, match="class_weights"):
        training.resolve_loss("wce")
    with pytest.raises(ValueError, match="class_weights"):
        training.resolve_loss({"logits": "WCE"})
    assert type(training.resolve_loss("ce")).__name__ == "SoftEncodedCrossEntropy"
    assert training.resolve_loss("huber") is keras.losses.huber
    assert isinstance(training.resolve_loss("l1"), keras.losses.MeanAbsoluteError)
    with pytest.raises(ValueError, match="nonsense"):
        training.resolve_loss("nonsense")


def test_compile_model_gives_a_gan_optimizers_from_the_config():
    gan = _gan()
    training.compile_model(gan, _quiet_config(optimizer="adam", learning_rate=3e-4))
    assert gan.optimizer is not gan.d_optimizer
    for opt in (gan.optimizer, gan.d_optimizer):
        assert isinstance(opt, keras.optimizers.Adam)
        assert float(opt.learning_rate) == pytest.approx(3e-4)
        assert (opt.beta_1, opt.beta_2) == training.GAN_BETAS  # pix2pix betas by default
    gan = _gan()
    training.compile_model(gan, _quiet_config(optimizer="adam", learning_rate=1e-4, optimizer_kwargs={"betas": [0.9, 0.99]}))
    assert all((o.beta_1, o.beta_2) == (0.9, 0.99) for o in (gan.optimizer, gan.d_optimizer))
    gan = _gan()
    training.compile_model(gan, _quiet_config(optimizer="sgd", learning_rate=0.05))  # no betas for SGD
    for opt in (gan.optimizer, gan.d_optimizer):
        assert isinstance(opt, keras.optimizers.SGD) and float(opt.learning_rate) == pytest.approx(0.05)
    l_enc, ab_enc = tiny_data(n=2)
    assert np.isfinite(gan.train_on_batch(l_enc, ab_enc)).all()


def test_a_relative_work_directory_resumes(tmp_path, monkeypatch):
    """TensorFlow's checkpoint state already joins a relative folder to the names it lists: joined again,
    'run/checkpoints/run/checkpoints/ckpt-1' was never found and a resumed run silently started afresh."""
    monkeypatch.chdir(tmp_path)
    old = _trained_tiny(steps=2)
    training.save_checkpoint("run", old, 3, {"loss": [1.0]})
    assert training.list_checkpoints("run") == [(3, Path("run") / "checkpoints" / "ckpt-3")]
    fresh = _trained_tiny(steps=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Skipping unreadable checkpoint"
        epoch, history = training.restore_checkpoint(fresh, "run")
    assert epoch == 3 and history == {"loss": [1.0]}
    for key, value in _values(old).items():
        np.testing.assert_array_equal(_values(fresh)[key], value, err_msg=key)
