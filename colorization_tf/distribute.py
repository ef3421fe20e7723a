"""Which `tf.distribute` strategy to train under (TPU, several machines, several GPUs) and the
multi-worker training loop.

`training.select_hardware` asks `choose_kind` what the machine offers, in this order:

- a TPU (`find_tpu`: a `TPUClusterResolver` where `TPU_NAME` / `COLAB_TPU_ADDR` is set or a TPU
  device is attached): `TPUStrategy`, policy `mixed_bfloat16` (no loss scaling), no Keras
  `jit_compile` (the TPU compiles every step with XLA anyway);
- `TF_CONFIG` naming a cluster of more than one task: `MultiWorkerMirroredStrategy`, the
  precision and XLA of the local devices (mixed_float16 on GPUs; on CPUs float32, mixed_bfloat16
  where the CPU has AVX512_BF16 or AMX; XLA off, as Keras does under tf.distribute);
- several GPUs: `MirroredStrategy`; one GPU or a CPU: the default strategy.

Multi-worker training. Keras 3 (3.15) `model.fit` fails under `MultiWorkerMirroredStrategy`
(keras-team/keras#20585: a `PerReplica` value reaches a tensor conversion), so `fit` here is a
small loop of our own: a `tf.function` that calls `strategy.run(model.train_step, ...)` on each
distributed batch. The model's own `train_step` computes its loss (scaled for the replica count),
loss scaling and metrics; the Keras optimizer all-reduces the gradients across every replica of
every worker. The loop drives ordinary Keras callbacks, so the runner's checkpoint, log and figure
callback works unchanged. Only the chief (task "chief", else worker 0) writes: the other workers
get a temporary work directory (TensorFlow's multi-worker guide), every worker reads the
checkpoint to resume from in the real one (a shared folder).

Data. A `tf.data.Dataset` of global batches is distributed with `experimental_distribute_dataset`
and the DATA auto-shard policy: every worker runs the same pipeline (same seed) and keeps its own
slice of each global batch, so each replica gets global_batch / replicas images, the workers see
different images, and the result equals one worker training on the same global batches. The
FILE policy does not apply: the project's pipeline lists files with `from_tensor_slices`, which
tf.data cannot shard by file, so every worker decodes every file once (into its cache); the
tf.data service (`colorization_tf.data.service`) moves decoding off the trainers instead.

Batch normalisation. Keras's `BatchNormalization` normalises with each replica's own batch and
keeps its moving statistics per worker (the trainable weights stay identical everywhere; the
chief's statistics go into checkpoints and exports). `BatchNormalization(synchronized=True)` uses
the global batch's statistics, as one worker would.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import keras
import tensorflow as tf

DEFAULT = "default"
MIRRORED = "mirrored"
MULTI_WORKER = "multi_worker"
TPU = "tpu"
TPU_ENV_VARS = ("TPU_NAME", "COLAB_TPU_ADDR")
"""Environment variables that name a TPU (Cloud TPU / TPU VMs; older Colab runtimes)."""
TPU_PRECISION = "mixed_bfloat16"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""/proc/cpuinfo flags that give a CPU native bfloat16 arithmetic (AVX512_BF16 dot products, AMX tiles)."""
CPU_BF16_ENV = "COLORIZATION_CPU_BF16"
"""Set to "0" to keep "auto" at float32 on every CPU (the test suite does: its margins are float32 figures)."""
COLLECTIVE_TIMEOUT_S = 60.0
"""How long a worker waits on a collective (gradient all-reduce) before failing: a dead peer then
stops the run with an error instead of a hang. `TF_COLLECTIVE_TIMEOUT_S` overrides it."""


# --------------------------------------------------------------------------- what is there


def tf_config(env: dict | None = None) -> dict | None:
    """The parsed `TF_CONFIG` of `env` (default `os.environ`), or None when unset.

    Raises:
        ValueError: `TF_CONFIG` is not JSON, or has no "cluster" mapping of task lists.
    """
    raw = (os.environ if env is None else env).get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON ({err}): {raw[:200]!r}") from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not all(isinstance(v, list) for v in cluster.values()):
        raise ValueError(f"TF_CONFIG needs a 'cluster' mapping job name -> list of 'host:port': {raw[:200]!r}")
    return config


def names_a_cluster(config: dict | None) -> bool:
    """Whether a parsed `TF_CONFIG` describes more than one task (a cluster worth a multi-worker strategy)."""
    if not config:
        return False
    return sum(len(tasks) for tasks in config["cluster"].values()) > 1


def is_chief(config: dict | None = None) -> bool:
    """Whether this process writes files: the "chief" task, or worker 0 of a cluster without one."""
    config = tf_config() if config is None else config
    if not names_a_cluster(config):
        return True
    task = config.get("task", {})
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    return kind == "chief" or (kind == "worker" and index == 0 and "chief" not in config["cluster"])


def tpu_hint(env: dict | None = None) -> bool:
    """Cheap evidence of a TPU: a TPU variable in the environment or a `/dev/accel*` device (TPU VMs)."""
    env = os.environ if env is None else env
    return any(env.get(name) for name in TPU_ENV_VARS) or any(Path("/dev").glob("accel*"))


def tpu_address(env: dict | None = None) -> str:
    """The `tpu` argument of `TPUClusterResolver`: `TPU_NAME`, an older Colab runtime's `COLAB_TPU_ADDR`,
    else "local" (a TPU VM, as Colab's TPU runtimes now are: the TPU is attached to this host)."""
    env = os.environ if env is None else env
    if env.get("TPU_NAME"):
        return env["TPU_NAME"]
    if env.get("COLAB_TPU_ADDR"):
        return f"grpc://{env['COLAB_TPU_ADDR']}"
    return "local"


def find_tpu(env: dict | None = None):
    """A `TPUClusterResolver` for the attached TPU, or None (no hint of one, or it does not resolve)."""
    if not tpu_hint(env):
        return None
    try:
        return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address(env))
    except (ValueError, tf.errors.NotFoundError, RuntimeError):
        return None


def cpu_bf16_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> list[str]:
    """The `BF16_CPU_FLAGS` this CPU has, read from Linux's `cpuinfo` ([] where it cannot be read)."""
    try:
        flags = next(line for line in Path(cpuinfo).read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return [f for f in BF16_CPU_FLAGS if f in flags]


def onednn_enabled() -> bool:
    """Whether TensorFlow's oneDNN CPU kernels are on (TF_ENABLE_ONEDNN_OPTS, else TensorFlow's
    default for this CPU: on where it has AVX512_BF16, AVX512_VNNI or AMX)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # TF's own answer; no public API says it
    except ImportError:
        return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
    return bool(_pywrap_util_port.IsMklEnabled())


def cpu_has_fast_bf16(env: dict | None = None) -> bool:
    """Whether "auto" trains in mixed_bfloat16 on this CPU: it has a `BF16_CPU_FLAGS` flag, TensorFlow
    runs its oneDNN kernels (without them bfloat16 steps measured slower than float32), and
    `CPU_BF16_ENV` is not "0" in `env` (default `os.environ`)."""
    env = os.environ if env is None else env
    return env.get(CPU_BF16_ENV, "1") != "0" and bool(cpu_bf16_flags()) and onednn_enabled()


def choose_kind(requested: Any, *, n_gpus: int, tpu: Any = None, cluster: dict | None = None) -> str:
    """The strategy kind for `requested` given what is attached (pure: no device is touched).

    Args:
        requested: "auto", "default", "mirrored", "multi_worker" or "tpu".
        n_gpus: GPUs visible to TensorFlow.
        tpu: a TPU cluster resolver (or anything not None) when a TPU is attached.
        cluster: the parsed `TF_CONFIG`, if any.

    Returns:
        One of `DEFAULT`, `MIRRORED`, `MULTI_WORKER`, `TPU`.
    """
    if requested == "auto":
        if tpu is not None:
            return TPU
        if names_a_cluster(cluster):
            return MULTI_WORKER
        return MIRRORED if n_gpus > 1 else DEFAULT
    if requested == TPU and tpu is None:
        raise ValueError("strategy='tpu' but no TPU was found (set TPU_NAME, or attach a TPU runtime in Colab)")
    if requested == MULTI_WORKER and not names_a_cluster(cluster):
        raise ValueError("strategy='multi_worker' needs TF_CONFIG naming a cluster of two or more tasks")
    if requested in (DEFAULT, MIRRORED, MULTI_WORKER, TPU):
        return requested
    raise ValueError(f"Unknown strategy {requested!r}; choose 'auto', 'default', 'mirrored', 'multi_worker', 'tpu' "
                     "or pass a tf.distribute.Strategy")


def auto_precision(kind: str, n_gpus: int, cpu_bf16: bool = False) -> str:
    """The Keras policy for "auto": bfloat16 on TPUs, mixed_float16 on GPUs; on CPUs, mixed_bfloat16
    where `cpu_bf16` (the CPU has AVX512_BF16 or AMX: `cpu_has_fast_bf16`), else float32.

    A training step in mixed_bfloat16 measured 1.3-2.0x the float32 images/s on a 2-core
    AVX512_BF16 CPU for one model of every family (128 px, the CS520 CNN at its 64, batch 16,
    TensorFlow 2.21, oneDNN on, no XLA; `benchmarks/bench_precision.py`, figures in
    docs/training.md), with held-out quality no worse after equal steps; without oneDNN it
    measured 9-16x slower, hence `cpu_has_fast_bf16`'s oneDNN condition. An earlier single-model
    measurement (compact U-Net: 30.8 vs 30.7 img/s) did not reproduce.
    `select_hardware` passes `cpu_bf16=False` under TF op determinism (`--quick`), whose results
    are float32 ones; `--precision float32` still asks for float32.
    """
    if kind == TPU:
        return TPU_PRECISION
    if n_gpus:
        return "mixed_float16"
    return "mixed_bfloat16" if cpu_bf16 else "float32"


def auto_jit_compile(kind: str, n_gpus: int, n_replicas: int) -> bool:
    """XLA for "auto": on one GPU only (TPUs compile by themselves; Keras turns it off under tf.distribute)."""
    return kind in (DEFAULT, MIRRORED) and n_gpus > 0 and n_replicas == 1


def tpu_strategy(resolver) -> tf.distribute.Strategy:
    """Connects to and initialises the TPU system of `resolver`; returns a `TPUStrategy` over it."""
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def multi_worker_strategy(timeout_s: float | None = None) -> tf.distribute.Strategy:
    """`MultiWorkerMirroredStrategy` from `TF_CONFIG`, its collectives bounded by `timeout_s`."""
    timeout_s = float(os.environ.get("TF_COLLECTIVE_TIMEOUT_S", COLLECTIVE_TIMEOUT_S)) if timeout_s is None else timeout_s
    options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_s)
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)


def make_strategy(kind: str, *, devices: Sequence[str] | None = None, tpu=None) -> tf.distribute.Strategy:
    """The strategy object for `kind` (see `choose_kind`); `devices` for MIRRORED (default: every GPU, else every CPU)."""
    if kind == TPU:
        return tpu_strategy(tpu)
    if kind == MULTI_WORKER:
        return multi_worker_strategy()
    if kind == MIRRORED:
        gpus = tf.config.list_logical_devices("GPU")
        if devices is None:
            devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(list(devices), cross_device_ops=None if gpus else tf.distribute.ReductionToOneDevice())
    return tf.distribute.get_strategy()


def kind_of(strategy) -> str:
    """The kind of a given strategy object."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return TPU
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return MULTI_WORKER
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return MIRRORED
    return DEFAULT


# --------------------------------------------------------------------------- multi-worker training


def needs_custom_loop(strategy) -> bool:
    """Whether `fit` must go through `custom_fit` (Keras 3's `fit` fails under this strategy)."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def output_dir(workdir, kind: str | None = None) -> Path:
    """Where this process writes: `workdir` on the chief (or without a cluster), else a fresh temporary
    folder, removed when the process exits."""
    if kind not in (None, MULTI_WORKER) or is_chief():
        return Path(workdir)
    folder = tempfile.mkdtemp(prefix="colorization_tf_worker_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return Path(folder)


def distribute_dataset(strategy, dataset):
    """A dataset of global batches, distributed with the DATA shard policy (each replica gets its slice of every batch)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


def _reduced(strategy, logs: dict) -> dict:
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in logs.items()}


class WorkerLost(RuntimeError):
    """A peer of a multi-worker run stopped (killed, crashed or unreachable)."""


def custom_fit(model, dataset, *, strategy, epochs: int, initial_epoch: int = 0, steps_per_epoch: int | None = None,
               validation_data=None, validation_steps: int | None = None, callbacks: list | None = None,
               verbose: Any = 0, **_ignored) -> None:
    """`model.fit` for `MultiWorkerMirroredStrategy`: `strategy.run(model.train_step)` per global batch.

    Each step runs the model's own `train_step` on every replica (its loss is scaled for the
    replica count and the optimizer all-reduces the gradients), then averages the replicas'
    logs. Keras callbacks get the usual calls (`on_epoch_end` with the epoch's logs, validation
    logs prefixed with `val_`), so checkpointing and logging callbacks work as under `fit`.

    Args:
        model: a compiled Keras model built under `strategy.scope()`.
        dataset: a `tf.data.Dataset` of global batches (see `distribute_dataset`).
        strategy: the `MultiWorkerMirroredStrategy`.
        epochs, initial_epoch, steps_per_epoch, validation_data, validation_steps, callbacks: as in `fit`
            (`steps_per_epoch` None: each epoch runs a fresh iterator to its end).
        verbose: > 0 prints one line per epoch on the chief.

    Raises:
        WorkerLost: a collective failed or timed out because a peer stopped; restart every
            worker to resume from the last checkpoint.
    """

    @tf.function
    def train_step(batch):
        return _reduced(strategy, strategy.run(model.train_step, args=(batch,)))

    @tf.function
    def test_step(batch):
        return _reduced(strategy, strategy.run(model.test_step, args=(batch,)))

    def run_epoch(step_fn, iterator, steps, on_batch=None):
        logs, done = {}, 0
        while steps is None or done < steps:
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            logs = step_fn(optional.get_value())
            done += 1
            if on_batch is not None:
                on_batch(done - 1, {k: float(v) for k, v in logs.items()})
                if model.stop_training:
                    break
        return {k: float(v) for k, v in logs.items()}

    cbs = keras.callbacks.CallbackList(callbacks or [], model=model, add_history=False, add_progbar=False)
    distributed = distribute_dataset(strategy, dataset)
    val_distributed = None if validation_data is None else distribute_dataset(strategy, validation_data)
    shared_iterator = iter(distributed) if steps_per_epoch is not None else None
    model.stop_training = False
    try:
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            model.reset_metrics()
            cbs.on_epoch_begin(epoch)
            start = time.perf_counter()
            iterator = shared_iterator if shared_iterator is not None else iter(distributed)
            logs = run_epoch(train_step, iterator, steps_per_epoch, cbs.on_train_batch_end)
            if val_distributed is not None and not model.stop_training:
                model.reset_metrics()
                val_logs = run_epoch(test_step, iter(val_distributed), validation_steps)
                logs.update({f"val_{k}": v for k, v in val_logs.items()})
            if verbose and is_chief():
                shown = " - ".join(f"{k}: {v:.4g}" for k, v in logs.items())
                print(f"Epoch {epoch + 1}/{epochs} - {time.perf_counter() - start:.1f}s - {shown}", flush=True)
            cbs.on_epoch_end(epoch, logs)
            if model.stop_training:
                break
        cbs.on_train_end()
    except (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.CancelledError,
            tf.errors.AbortedError, tf.errors.InternalError) as err:
        first = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise WorkerLost(
            f"Multi-worker training stopped: a worker is gone or unreachable ({type(err).__name__}: {first}). "
            "Restart every worker with the same TF_CONFIG to resume from the last checkpoint."
        ) from err  # the cause stays attached: an InternalError can also be a kernel's own failure
