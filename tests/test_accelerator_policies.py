"""The accelerator policies, trained on the CPU: what a single GPU runs (mixed_float16 + XLA, TF op
determinism off) and what a TPU runs (mixed_bfloat16, compiled by XLA), for one model of every family.

`tests/models/test_contract.py` already checks the forward pass of every family under both mixed
policies (layers compute in float16/bfloat16, outputs are float32); this file trains: a few XLA
steps per family with finite losses and moving weights, Keras's dynamic loss scale dropping after an
overflow and growing back, the GAN's two optimizers both under loss scaling, and the export of a
model trained in mixed precision serving what its float32 copy computes. Also what "auto" picks on
a CPU with bfloat16 arithmetic (AVX512_BF16, AMX): mixed_bfloat16, float32 under TF op determinism.

Reference:
    Micikevicius et al. (2018), Mixed Precision Training (dynamic loss scaling);
    keras.mixed_precision and keras.optimizers.LossScaleOptimizer.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import config as tf_framework_config

from colorization_tf import distribute, training
from colorization_tf.export import Colorizer, export_saved_model
from colorization_tf.models import MODELS, get_spec
from tests._tiny_models import build_tiny_colorizer, tiny_data

GPU_POLICY, TPU_POLICY = "mixed_float16", "mixed_bfloat16"
"""What `select_hardware` picks on one GPU (with XLA) and on a TPU (whose steps XLA compiles)."""

TINY_SIZE = {"cs520_cnn": 8, "resnet_unet": 32}
"""Training side per model (default 16): a multiple of its stride (the ResNet U-Net's is 32); the CS520
CNN's dense layers grow with its area."""
DEFAULT_SIZE = 16
TINY_KWARGS = {"resnet_unet": {"encoder_depth": 18}}
"""Builder arguments that make a family's representative cheaper to compile with XLA: the ResNet-18
encoder (the paper's Fig. 3 alternative) has the same block classes as ResNet-34 and half the blocks."""
BATCH = 2
MAX_STEPS = 24
"""Steps to train at most (each test stops once every network has moved): dynamic loss scaling starts
at 2**15 and skips the steps whose float16 gradients overflow, halving the scale each time, before
the weights first move (the CS520 CNN's loss in raw ab units and the GAN's 100 x L1 skip ~8-10)."""
N_SCENES = 3
OPTIMIZER = "sgd"
"""The optimizer of the per-family cases: XLA's compilation of the first step is nearly all of a
case's cost (steps at these sizes take milliseconds), and SGD's update is a fraction of Adam's
graph: it cut the Iizuka network's compilation from 29 to 16 CPU-s (mixed_float16) and 19 to 11
(mixed_bfloat16). The policy is what is tested: SGD is wrapped in the same `LossScaleOptimizer`."""

EXPORT_MEAN_BOUND, EXPORT_MAX_BOUND = 0.25, 3
"""How far (uint8 RGB levels, mean and max over pixels) the export of a model trained under
mixed_float16 may serve from the export of the same weights in float32: float16's 11-bit
significand rounds every activation (relative error ~5e-4 per op). Measured: mean 0.016, max 1
level (oneDNN on, AVX-512); the bounds leave room for other CPUs' rounding."""


def _families() -> list[str]:
    """One registry entry per builder module (family), its classification head where it has one."""
    chosen: dict[str, str] = {}
    for name, spec in MODELS.items():
        if spec.module not in chosen or (spec.head.classification and not MODELS[chosen[spec.module]].head.classification):
            chosen[spec.module] = name
    return sorted(chosen.values())


FAMILIES = _families()
CASES = [(name, policy) for name in FAMILIES for policy in (GPU_POLICY, TPU_POLICY)]
"""Every family under both policies. XLA compiles each case's train step (5-30 CPU-seconds per
family on a CPU); `OPTIMIZER`, the sizes and the ResNet-18 encoder keep the fourteen cases within
what the GPU policy's seven and the TPU policy's two cost with Adam at 32 px: 176 CPU-s against
190 (measured at nice 19 on a busy 2-core AVX-512 machine)."""


@pytest.fixture(autouse=True)
def _no_op_determinism():
    """Determinism off, as the GPU policy trains (an earlier test's `train(deterministic=True)` turns it
    on for the whole process, and Keras then compiles without XLA)."""
    was = tf_framework_config.is_op_determinism_enabled()
    tf_framework_config.disable_op_determinism()
    yield
    if was:
        tf_framework_config.enable_op_determinism()


def _batch(spec, model, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 0.5, (BATCH, size, size, 1)).astype("float32")
    ab = rng.uniform(-0.3, 0.3, (BATCH, size, size, 2)).astype("float32")
    if spec.labels:
        return x, {spec.head.output: ab, spec.labels: rng.integers(0, N_SCENES, BATCH)}
    return x, ab


def _compiled(name: str, policy: str):
    """The family's model (a `GANModel` where it has a discriminator) compiled as `train()` does under `policy` + XLA."""
    hw = training.select_hardware(precision=policy, jit_compile=True, strategy="default")
    spec, size = get_spec(name), TINY_SIZE.get(name, DEFAULT_SIZE)
    kwargs = {"num_classes": N_SCENES} if spec.labels else {}
    net = spec.build(image_size=size, **kwargs, **TINY_KWARGS.get(name, {}))
    if spec.discriminator:
        model = training.GANModel(net, spec.build_discriminator(image_size=size))
        config = training.TrainConfig(learning_rate=1e-3, optimizer=OPTIMIZER)
    else:
        model = net
        loss, weights = spec.default_losses()
        config = training.TrainConfig(loss=loss, loss_weights=weights, learning_rate=1e-3, optimizer=OPTIMIZER)
    training.compile_model(model, config, jit_compile=hw.jit_compile)
    return model, hw.in_effect(model), spec, size


@pytest.mark.parametrize("name, policy", CASES)
def test_every_family_trains_under_the_accelerator_policy(name, policy):
    model, ran, spec, size = _compiled(name, policy)
    assert (ran.policy, ran.jit_compile) == (policy, True), ran.description
    gan = isinstance(model, training.GANModel)
    optimizers = [model.optimizer, model.d_optimizer] if gan else [model.optimizer]
    # Keras scales the loss for float16 only (bfloat16 has float32's exponent range).
    assert all(isinstance(o, keras.optimizers.LossScaleOptimizer) == (policy == GPU_POLICY) for o in optimizers)
    networks = [model.generator, model.discriminator] if gan else [model]
    before = [[w.numpy().copy() for w in net.trainable_weights] for net in networks]
    x, y = _batch(spec, model, size)
    losses = []
    for _ in range(MAX_STEPS):
        losses.append(model.train_on_batch(x, y, return_dict=True))
        if all(any(not np.array_equal(b, w.numpy()) for b, w in zip(old, net.trainable_weights)) for old, net in zip(before, networks)):
            break
    assert all(np.isfinite(v) for logs in losses for v in logs.values()), losses
    for old, net in zip(before, networks):
        moved = [not np.array_equal(b, w.numpy()) for b, w in zip(old, net.trainable_weights)]
        assert any(moved), f"{name} under {policy}: {net.name}'s weights did not move in {MAX_STEPS} steps"
        assert all(np.isfinite(w.numpy()).all() for w in net.trainable_weights)


def test_loss_scale_drops_after_an_overflow_and_recovers():
    """A batch whose float16 gradients overflow is skipped and halves the scale; good steps grow it back."""
    training.select_hardware(precision=GPU_POLICY, jit_compile=True, strategy="default")
    model = build_tiny_colorizer(16)
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3), initial_scale=2.0**8, dynamic_growth_steps=2)
    model.compile(optimizer=optimizer, loss="mse", jit_compile=True)
    assert model.jit_compile
    l_enc, ab_enc = tiny_data(n=4)
    model.train_on_batch(l_enc, ab_enc)  # builds the optimizer; 2**8 does not overflow this model
    start = float(optimizer.dynamic_scale.numpy())
    kernel = model.get_layer("conv1").kernel
    before = kernel.numpy().copy()
    huge = np.full_like(ab_enc, 6e4)  # d(mse)/d(output) * scale is far beyond float16's 65504
    model.train_on_batch(l_enc, huge)
    assert float(optimizer.dynamic_scale.numpy()) == start / 2
    np.testing.assert_array_equal(kernel.numpy(), before)  # the overflowing step is skipped
    for _ in range(2):  # dynamic_growth_steps good steps double it again
        assert np.isfinite(model.train_on_batch(l_enc, ab_enc))
    assert float(optimizer.dynamic_scale.numpy()) == start
    assert not np.array_equal(kernel.numpy(), before)


def test_mixed_precision_export_serves_what_its_float32_copy_does(tmp_path):
    """A compact U-Net trained a few steps under mixed_float16, exported, against the same weights in float32."""
    name, size = "compact_unet", DEFAULT_SIZE
    spec = get_spec(name).replace(image_size=size)
    training.select_hardware(precision=GPU_POLICY, jit_compile=False, strategy="default")
    mixed = spec.build(image_size=size)
    training.compile_model(mixed, training.TrainConfig(learning_rate=1e-3))
    x, ab = _batch(spec, mixed, size)
    for _ in range(MAX_STEPS):
        mixed.train_on_batch(x, ab)
    keras.mixed_precision.set_global_policy("float32")
    full = spec.build(image_size=size)
    full.set_weights(mixed.get_weights())
    gray = np.random.default_rng(1).integers(0, 256, (3, size, size, 1), dtype=np.uint8)
    served = {}
    for label, model in (("mixed", mixed), ("float32", full)):
        served[label] = Colorizer(export_saved_model(model, tmp_path / label, spec, save_keras=False, compile_pixels=False))(gray).astype(int)
    assert served["mixed"].shape == (3, size, size, 3)
    diff = np.abs(served["mixed"] - served["float32"])
    assert diff.mean() <= EXPORT_MEAN_BOUND and diff.max() <= EXPORT_MAX_BOUND, (diff.mean(), diff.max())


def test_the_hardware_line_reports_xla_as_keras_ran_it(tmp_path):
    """Keras compiles without XLA under TF op determinism: the summary says XLA off and why, not "on"."""
    asked = training.select_hardware(precision="float32", jit_compile=True, strategy="default")
    assert asked.jit_compile and "XLA on" in asked.description
    config = training.TrainConfig(epochs=1, sample_every=0, tensorboard=False, loss_curves=False, verbose=0,
                                  precision="float32", strategy="default", deterministic=True)
    l_enc, ab_enc = tiny_data(n=4)
    model, _ = training.train(lambda: build_tiny_colorizer(16), tf.data.Dataset.from_tensor_slices((l_enc, ab_enc)).batch(2),
                              None, config, tmp_path, hardware=asked)
    assert model.jit_compile is False
    ran = json.loads((tmp_path / training.SUMMARY_FILE).read_text())["hardware"]
    assert ran["jit_compile"] is False and "determinism" in ran["xla_note"]
    assert "XLA off (TF op determinism is on" in ran["description"] and ran["policy"] == "float32"


def test_select_hardware_resolves_xla_against_determinism(monkeypatch):
    with pytest.raises(ValueError, match="determinism"):
        training.select_hardware(precision="float32", jit_compile=True, strategy="default", deterministic=True)
    monkeypatch.setattr(distribute, "auto_jit_compile", lambda *args: True)  # what "auto" gives on one GPU
    gpu_like = training.select_hardware(precision="float32", strategy="default", set_policy=False)
    assert gpu_like.jit_compile and gpu_like.xla_note == ""
    quick = training.select_hardware(precision="float32", strategy="default", set_policy=False, deterministic=True)
    assert not quick.jit_compile and "determinism" in quick.xla_note and "XLA off (TF op determinism" in quick.description


def test_onednn_enabled_is_what_tensorflow_runs():
    assert distribute.onednn_enabled() == (os.environ["TF_ENABLE_ONEDNN_OPTS"] != "0")  # conftest sets it


def test_cpu_bf16_flags_reads_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n")
    assert distribute.cpu_bf16_flags(cpuinfo) == ["avx512_bf16"]
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 amx_tile amx_bf16\n")
    assert distribute.cpu_bf16_flags(cpuinfo) == ["amx_bf16"]
    cpuinfo.write_text("flags\t\t: fpu sse2 avx2 avx512f\n")
    assert distribute.cpu_bf16_flags(cpuinfo) == []
    assert distribute.cpu_bf16_flags(tmp_path / "missing") == []


@pytest.mark.parametrize("flags, onednn, env, deterministic, policy", [
    (["avx512_bf16"], True, None, False, "mixed_bfloat16"),  # what bench_precision.py measured faster
    (["amx_bf16"], True, None, False, "mixed_bfloat16"),
    (["avx512_bf16"], False, None, False, "float32"),  # TF_ENABLE_ONEDNN_OPTS=0: bfloat16 measured slower
    (["avx512_bf16"], True, None, True, "float32"),  # --quick (TF op determinism): its results are float32 ones
    (["avx512_bf16"], True, "0", False, "float32"),  # the test session's pin
    ([], True, None, False, "float32"),
])
def test_auto_precision_on_a_cpu_follows_its_bf16_flags(monkeypatch, flags, onednn, env, deterministic, policy):
    monkeypatch.setattr(distribute, "cpu_bf16_flags", lambda *args: flags)
    monkeypatch.setattr(distribute, "onednn_enabled", lambda: onednn)
    if env is None:
        monkeypatch.delenv(distribute.CPU_BF16_ENV, raising=False)
    else:
        monkeypatch.setenv(distribute.CPU_BF16_ENV, env)
    hw = training.select_hardware(strategy="default", set_policy=False, deterministic=deterministic)
    assert (hw.policy, hw.jit_compile) == (policy, False) and f"policy {policy}" in hw.description
    assert training.select_hardware("float32", strategy="default", set_policy=False).policy == "float32"  # asked for


def test_auto_precision_keeps_the_accelerators_policies_whatever_the_cpu():
    for kind, n_gpus in ((distribute.TPU, 0), (distribute.DEFAULT, 1), (distribute.MIRRORED, 2)):
        for cpu_bf16 in (False, True):
            assert distribute.auto_precision(kind, n_gpus, cpu_bf16) == (TPU_POLICY if kind == distribute.TPU else GPU_POLICY)
