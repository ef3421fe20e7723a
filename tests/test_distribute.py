"""Strategy selection (colorization_tf.distribute): TPU, TF_CONFIG clusters, GPUs; the TPU path's
policy and dtypes checked on CPU with the detection injected."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import distribute, training
from tests._tiny_models import build_tiny_colorizer, tiny_data

TWO_WORKERS = {"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 1}}


@pytest.mark.parametrize(
    "requested, n_gpus, tpu, cluster, expected",
    [
        ("auto", 0, None, None, distribute.DEFAULT),
        ("auto", 1, None, None, distribute.DEFAULT),
        ("auto", 4, None, None, distribute.MIRRORED),
        ("auto", 0, object(), None, distribute.TPU),
        ("auto", 8, object(), TWO_WORKERS, distribute.TPU),  # an attached TPU wins
        ("auto", 0, None, TWO_WORKERS, distribute.MULTI_WORKER),
        ("auto", 2, None, TWO_WORKERS, distribute.MULTI_WORKER),
        ("auto", 0, None, {"cluster": {"worker": ["localhost:1"]}}, distribute.DEFAULT),  # one task: no cluster
        ("default", 4, object(), TWO_WORKERS, distribute.DEFAULT),
        ("mirrored", 0, None, None, distribute.MIRRORED),
    ],
)
def test_choose_kind(requested, n_gpus, tpu, cluster, expected):
    assert distribute.choose_kind(requested, n_gpus=n_gpus, tpu=tpu, cluster=cluster) == expected


def test_choose_kind_refuses_what_is_not_there():
    with pytest.raises(ValueError, match="no TPU"):
        distribute.choose_kind("tpu", n_gpus=0)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.choose_kind("multi_worker", n_gpus=0, cluster=None)
    with pytest.raises(ValueError, match="Unknown strategy"):
        distribute.choose_kind("parameter_server", n_gpus=0)


@pytest.mark.parametrize(
    "kind, n_gpus, precision, jit",
    [("tpu", 0, "mixed_bfloat16", False), ("default", 1, "mixed_float16", True), ("default", 0, "float32", False),
     ("mirrored", 2, "mixed_float16", False), ("multi_worker", 1, "mixed_float16", False), ("multi_worker", 0, "float32", False)],
)
def test_auto_precision_and_xla(kind, n_gpus, precision, jit):
    assert distribute.auto_precision(kind, n_gpus) == precision
    replicas = 2 if kind in ("mirrored", "multi_worker") else 1
    assert distribute.auto_jit_compile(kind, n_gpus, replicas) is jit


def test_tf_config_parsing_and_chief():
    assert distribute.tf_config({}) is None
    config = distribute.tf_config({"TF_CONFIG": json.dumps(TWO_WORKERS)})
    assert distribute.names_a_cluster(config) and not distribute.is_chief(config)
    worker0 = {**TWO_WORKERS, "task": {"type": "worker", "index": 0}}
    assert distribute.is_chief(worker0)
    with_chief = {"cluster": {"chief": ["localhost:3"], "worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}
    assert not distribute.is_chief(with_chief)
    assert distribute.is_chief({**with_chief, "task": {"type": "chief", "index": 0}})
    assert distribute.is_chief({"cluster": {"worker": ["localhost:1"]}})  # a one-task cluster writes
    with pytest.raises(ValueError, match="not valid JSON"):
        distribute.tf_config({"TF_CONFIG": "{worker"})
    with pytest.raises(ValueError, match="cluster"):
        distribute.tf_config({"TF_CONFIG": json.dumps({"task": {}})})


def test_find_tpu_asks_no_resolver_without_a_hint_and_survives_a_failing_one(monkeypatch):
    calls = []

    def resolver(tpu=None):
        calls.append(1)
        raise ValueError("Please provide a TPU Name to connect to.")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", resolver)
    monkeypatch.setattr(distribute, "tpu_hint", lambda env=None: False)
    assert distribute.find_tpu() is None and calls == []
    monkeypatch.setattr(distribute, "tpu_hint", lambda env=None: True)
    assert distribute.find_tpu() is None and calls == [1]


def test_tpu_hint_and_address_read_the_environment(monkeypatch):
    assert distribute.tpu_hint({"TPU_NAME": "my-tpu"}) and distribute.tpu_hint({"COLAB_TPU_ADDR": "10.0.0.2:8470"})
    assert distribute.tpu_address({"TPU_NAME": "my-tpu"}) == "my-tpu"
    assert distribute.tpu_address({"COLAB_TPU_ADDR": "10.0.0.2:8470"}) == "grpc://10.0.0.2:8470"
    assert distribute.tpu_address({}) == "local"  # a TPU VM
    asked = []
    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", lambda tpu=None: asked.append(tpu) or "resolver")
    assert distribute.find_tpu({"COLAB_TPU_ADDR": "10.0.0.2:8470"}) == "resolver" and asked == ["grpc://10.0.0.2:8470"]


@pytest.fixture
def fake_tpu(monkeypatch):
    """A "TPU" found by the detection; its strategy is a one-device CPU strategy standing in for TPUStrategy."""
    resolver = object()
    stand_in = tf.distribute.OneDeviceStrategy("/cpu:0")
    connected = []
    monkeypatch.setattr(distribute, "find_tpu", lambda env=None: resolver)
    monkeypatch.setattr(distribute, "tpu_strategy", lambda r: connected.append(r) or stand_in)
    return resolver, stand_in, connected


def test_select_hardware_with_a_tpu_uses_tpu_strategy_and_bfloat16(fake_tpu):
    resolver, stand_in, connected = fake_tpu
    hw = training.select_hardware()
    assert connected == [resolver] and hw.strategy is stand_in
    assert hw.kind == distribute.TPU and hw.policy == "mixed_bfloat16" and hw.jit_compile is False
    assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert hw.to_dict()["kind"] == "tpu" and "TPU" in hw.description
    assert training.select_hardware(strategy="default").kind == distribute.DEFAULT  # asked for: no TPU


def test_tpu_policy_dtypes_and_a_training_step_on_cpu(fake_tpu):
    hw = training.select_hardware()
    with hw.strategy.scope():
        model = build_tiny_colorizer(16)
        training.compile_model(model, training.TrainConfig(learning_rate=1e-2, loss="mse"), jit_compile=hw.jit_compile)
    conv1 = model.get_layer("conv1")
    assert conv1.compute_dtype == "bfloat16" and conv1.kernel.dtype == "float32"
    assert not isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)  # bfloat16 needs no loss scaling
    l_enc, ab_enc = tiny_data(n=4)
    assert model(l_enc).dtype == "float32"
    before = conv1.kernel.numpy().copy()
    assert np.isfinite(model.train_on_batch(l_enc, ab_enc))
    assert not np.allclose(before, conv1.kernel.numpy())


def test_select_hardware_refuses_a_cluster_kind_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        training.select_hardware(strategy="multi_worker")


def test_only_the_chief_writes_into_the_work_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("TF_CONFIG", json.dumps(TWO_WORKERS))  # this process: worker 1
    elsewhere = distribute.output_dir(tmp_path, distribute.MULTI_WORKER)
    assert elsewhere != tmp_path and elsewhere.is_dir() and tmp_path not in elsewhere.parents
    assert distribute.output_dir(tmp_path, distribute.DEFAULT) == tmp_path  # no cluster strategy: writes there
    monkeypatch.setenv("TF_CONFIG", json.dumps({**TWO_WORKERS, "task": {"type": "worker", "index": 0}}))
    assert distribute.output_dir(tmp_path, distribute.MULTI_WORKER) == tmp_path
