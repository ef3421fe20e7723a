"""Hardware policy: which precision, XLA setting and `tf.distribute` strategy training runs under.

The one place that decides numeric precision, XLA compilation and distribution for training; the
model builders never do (`colorization_tf.distribute` supplies the per-kind rules).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import tensorflow as tf

from colorization_tf import distribute


@dataclasses.dataclass(frozen=True)
class Hardware:
    """What `select_hardware` decided.

    Attributes:
        policy: Keras dtype policy name set globally ("float32", "mixed_float16", ...).
        jit_compile: whether `compile(jit_compile=...)` asks for XLA.
        strategy: the `tf.distribute.Strategy` to build and fit under.
        n_replicas: `strategy.num_replicas_in_sync`.
        description: human-readable summary (devices, policy, XLA).
        kind: "default", "mirrored", "multi_worker" or "tpu" (`colorization_tf.distribute`).
    """

    policy: str
    jit_compile: bool
    strategy: Any
    n_replicas: int
    description: str
    kind: str = "default"

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "jit_compile": self.jit_compile,
            "strategy": type(self.strategy).__name__,
            "n_replicas": self.n_replicas,
            "description": self.description,
            "kind": self.kind,
        }


_PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16", "bfloat16", "float16")


def select_hardware(
    precision: str = "auto",
    jit_compile: bool | str = "auto",
    strategy: Any = "auto",
    devices: list[str] | None = None,
    set_policy: bool = True,
) -> Hardware:
    """Chooses precision, XLA and distribution for the machine this runs on.

    With a GPU: mixed_float16 and XLA; with several GPUs, `MirroredStrategy` over them (XLA is
    then off on "auto", as Keras does under tf.distribute). On CPU only: float32 without XLA
    (mixed_float16 is about 4x slower on CPU). With a TPU attached: `TPUStrategy` and
    mixed_bfloat16; with `TF_CONFIG` naming a cluster: `MultiWorkerMirroredStrategy` (see
    `colorization_tf.distribute`, which makes these decisions).

    Args:
        precision: "auto" or a Keras policy name ("float32", "mixed_float16", "mixed_bfloat16").
        jit_compile: "auto", True or False.
        strategy: "auto", "default" (no distribution), "mirrored", "multi_worker", "tpu", or a
            `tf.distribute.Strategy`.
        devices: devices for "mirrored" (default: every GPU, else every logical CPU).
        set_policy: set the chosen policy globally (must happen before the model is built).

    Returns:
        A frozen `Hardware`.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        kind, chosen = distribute.kind_of(strategy), strategy
    else:
        tpu = distribute.find_tpu() if strategy in ("auto", distribute.TPU) else None
        cluster = distribute.tf_config()
        # MultiWorkerMirroredStrategy must be made before TF's runtime starts (listing logical devices starts it).
        list_devices = tf.config.list_physical_devices if distribute.names_a_cluster(cluster) else tf.config.list_logical_devices
        kind = distribute.choose_kind(strategy, n_gpus=len(list_devices("GPU")), tpu=tpu, cluster=cluster)
        chosen = distribute.make_strategy(kind, devices=devices, tpu=tpu)
    gpus = tf.config.list_logical_devices("GPU")
    if precision == "auto":
        precision = distribute.auto_precision(kind, len(gpus))
    if precision not in _PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose 'auto' or one of {_PRECISIONS}")
    n_replicas = int(chosen.num_replicas_in_sync)

    if jit_compile == "auto":
        jit_compile = distribute.auto_jit_compile(kind, len(gpus), n_replicas)
    elif not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be 'auto', True or False, not {jit_compile!r}")

    if set_policy:
        keras.mixed_precision.set_global_policy(precision)
    where = "TPU" if kind == distribute.TPU else f"{len(gpus)} GPU(s)" if gpus else "CPU"
    description = f"{where}, {type(chosen).__name__} x{n_replicas}, policy {precision}, XLA {'on' if jit_compile else 'off'}"
    return Hardware(precision, jit_compile, chosen, n_replicas, description, kind)
