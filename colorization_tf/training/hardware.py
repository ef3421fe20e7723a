"""Hardware policy: which precision, XLA setting and `tf.distribute` strategy training runs under.

The one place that decides numeric precision, XLA compilation and distribution for training; the
model builders never do (`colorization_tf.distribute` supplies the per-kind rules). What is asked
(`select_hardware`) and what Keras then runs can differ: Keras compiles without XLA when TF op
determinism is on or a layer does not support it. `Hardware.in_effect` reads the compiled model
back, so the hardware line reports what ran.
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
        devices: where it runs: "CPU", "1 GPU(s)", "TPU".
        xla_note: why XLA is off although it was asked for or is the device's default ("" if not).
    """

    policy: str
    jit_compile: bool
    strategy: Any
    n_replicas: int
    description: str
    kind: str = "default"
    devices: str = "CPU"
    xla_note: str = ""

    def to_dict(self) -> dict:
        return {
            "policy": self.policy,
            "jit_compile": self.jit_compile,
            "strategy": type(self.strategy).__name__,
            "n_replicas": self.n_replicas,
            "description": self.description,
            "kind": self.kind,
            "devices": self.devices,
            "xla_note": self.xla_note,
        }

    def in_effect(self, model: keras.Model) -> "Hardware":
        """What Keras actually runs `model` under, read from the compiled model.

        The policy is the model's own (`model.dtype_policy`), XLA is `model.jit_compile` after
        Keras's checks in `compile` (it turns XLA off when TF op determinism is on, or when a layer
        does not support it, with only a warning); `xla_note` then says why.

        Args:
            model: the model after `compile` (a `GANModel` or any Keras model).

        Returns:
            A new `Hardware` whose `policy`, `jit_compile`, `xla_note` and `description` are what ran.
        """
        policy = getattr(model.dtype_policy, "name", str(model.dtype_policy))
        jit = bool(model.jit_compile) if getattr(model, "compiled", False) else self.jit_compile
        note = self.xla_note
        if self.jit_compile and not jit:
            note = DETERMINISM_DROPS_XLA if op_determinism_enabled() else "Keras compiled this model without XLA (a layer does not support it)"
        return dataclasses.replace(self, policy=policy, jit_compile=jit, xla_note=note,
                                   description=describe(self.devices, self.strategy, self.n_replicas, policy, jit, note))


PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
"""Policies the command line offers (`--precision`; "auto" picks one, `distribute.auto_precision`)."""
_PRECISIONS = (*PRECISIONS, "bfloat16", "float16")

DETERMINISM_DROPS_XLA = "TF op determinism is on, and Keras compiles without XLA then"
"""Why XLA is off on a device that would use it: Keras's `model_supports_jit` refuses it under determinism."""


def op_determinism_enabled() -> bool:
    """Whether TF op determinism is on (what Keras's `model_supports_jit` reads; TF has no public getter)."""
    from tensorflow.python.framework import config as tf_framework_config

    return bool(tf_framework_config.is_op_determinism_enabled())


def describe(devices: str, strategy, n_replicas: int, policy: str, jit_compile: bool, xla_note: str = "") -> str:
    """The hardware line: "CPU, _DefaultDistributionStrategy x1, policy float32, XLA off (why)"."""
    xla = "on" if jit_compile else "off" + (f" ({xla_note})" if xla_note else "")
    return f"{devices}, {type(strategy).__name__} x{n_replicas}, policy {policy}, XLA {xla}"


def select_hardware(
    precision: str = "auto",
    jit_compile: bool | str = "auto",
    strategy: Any = "auto",
    devices: list[str] | None = None,
    set_policy: bool = True,
    deterministic: bool = False,
) -> Hardware:
    """Chooses precision, XLA and distribution for the machine this runs on.

    With a GPU: mixed_float16 and XLA; with several GPUs, `MirroredStrategy` over them (XLA is
    then off on "auto", as Keras does under tf.distribute). On CPU only: no XLA, mixed_bfloat16
    where the CPU has AVX512_BF16 or AMX (measured 1.3-2.0x faster; float32 under TF op
    determinism), else float32 (mixed_float16 is about 4x slower on CPU). With a TPU attached: `TPUStrategy` and
    mixed_bfloat16; with `TF_CONFIG` naming a cluster: `MultiWorkerMirroredStrategy` (see
    `colorization_tf.distribute`, which makes these decisions). With TF op determinism on, "auto"
    XLA is off (Keras would drop it anyway) and `xla_note` says so; XLA asked for explicitly
    then is an error.

    Args:
        precision: "auto" or a Keras policy name ("float32", "mixed_float16", "mixed_bfloat16").
        jit_compile: "auto", True or False.
        strategy: "auto", "default" (no distribution), "mirrored", "multi_worker", "tpu", or a
            `tf.distribute.Strategy`.
        devices: devices for "mirrored" (default: every GPU, else every logical CPU).
        set_policy: set the chosen policy globally (must happen before the model is built).
        deterministic: whether training runs with TF op determinism (`TrainConfig.deterministic`).

    Returns:
        A frozen `Hardware` (what is asked; `Hardware.in_effect` after compile: what ran).

    Raises:
        ValueError: an unknown precision or jit_compile value, or jit_compile=True with determinism.
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
        precision = distribute.auto_precision(kind, len(gpus), cpu_bf16=not deterministic and distribute.cpu_has_fast_bf16())
    if precision not in _PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose 'auto' or one of {_PRECISIONS}")
    n_replicas = int(chosen.num_replicas_in_sync)

    xla_note = ""
    if jit_compile == "auto":
        jit_compile = distribute.auto_jit_compile(kind, len(gpus), n_replicas)
        if jit_compile and deterministic:
            jit_compile, xla_note = False, DETERMINISM_DROPS_XLA
    elif not isinstance(jit_compile, bool):
        raise ValueError(f"jit_compile must be 'auto', True or False, not {jit_compile!r}")
    elif jit_compile and deterministic:
        raise ValueError("XLA (jit_compile=True) cannot run with TF op determinism: Keras compiles without XLA then; "
                         "turn determinism off (--no-deterministic) or XLA off (--xla off)")

    if set_policy:
        keras.mixed_precision.set_global_policy(precision)
    where = "TPU" if kind == distribute.TPU else f"{len(gpus)} GPU(s)" if gpus else "CPU"
    description = describe(where, chosen, n_replicas, precision, jit_compile, xla_note)
    return Hardware(precision, jit_compile, chosen, n_replicas, description, kind, where, xla_note)
