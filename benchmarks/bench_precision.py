"""Training-step time under mixed_bfloat16 against float32, one model of every family, side by side.

    python benchmarks/bench_precision.py                                  # every family, 128 px, batch 16
    python benchmarks/bench_precision.py --models compact_unet --jit      # XLA off and on
    python benchmarks/bench_precision.py --size 32 --batch 2 --steps 2    # a quick check that it runs

Each model is built, compiled (Adam, its default loss) and trained under each policy in the same
process, alternating, so the machine's other load touches both alike; the figure is images/s of the
median step after `--warmup` steps (tracing, XLA compilation). bfloat16 needs the CPU's AVX512_BF16
or AMX to be faster than float32; the CPU flags found are printed with the figures.
`distribute.auto_precision` keeps float32 on CPUs because of what this measured (see there).

Prints figures (and `--json` writes them); nothing here is asserted in the tests.

Reference:
    Kalamkar et al. (2019), A Study of BFLOAT16 for Deep Learning Training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POLICIES = ("float32", "mixed_bfloat16")
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "amx_tile")
"""/proc/cpuinfo flags that give a CPU native bfloat16 arithmetic."""


def cpu_bf16_flags() -> list[str]:
    """The `BF16_CPU_FLAGS` this CPU has (Linux /proc/cpuinfo; [] elsewhere)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return [f for f in BF16_CPU_FLAGS if f in flags]


def families() -> list[str]:
    """One registry entry per builder module (its regression head where it has two: the same trunk)."""
    from colorization_tf.models import MODELS

    chosen: dict[str, str] = {}
    for name, spec in MODELS.items():
        if spec.module not in chosen or (not spec.head.classification and MODELS[chosen[spec.module]].head.classification):
            chosen[spec.module] = name
    return sorted(chosen.values())


def _step_fn(name: str, policy: str, size: int, batch: int, jit: bool):
    """A `() -> None` running one training step of `name` under `policy` (built and compiled here)."""
    import keras
    import numpy as np

    from colorization_tf.models import get_spec

    keras.mixed_precision.set_global_policy(policy)
    spec = get_spec(name)
    kwargs = {"num_classes": 3} if spec.labels else {}
    model = spec.build(image_size=size, **kwargs)
    loss, weights = spec.default_losses()
    model.compile(keras.optimizers.Adam(1e-4), loss=loss, loss_weights=weights, jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (batch, size, size, 1)).astype("float32")
    y = rng.uniform(-0.3, 0.3, (batch, size, size, 2)).astype("float32")
    if spec.labels:
        y = {spec.head.output: y, spec.labels: rng.integers(0, 3, batch)}
    keras.mixed_precision.set_global_policy("float32")
    return lambda: model.train_on_batch(x, y), bool(model.jit_compile)


def measure(names, size: int, batch: int, steps: int, warmup: int, jit_modes) -> list[dict]:
    """images/s per (model, XLA, policy): the median of `steps` timed steps, the policies alternating."""
    rows = []
    for name in names:
        side = size
        for jit in jit_modes:
            fns = {p: _step_fn(name, p, side, batch, jit) for p in POLICIES}
            for fn, _ in fns.values():
                for _ in range(warmup):
                    fn()
            times = {p: [] for p in POLICIES}
            for _ in range(steps):
                for p, (fn, _) in fns.items():
                    start = time.perf_counter()
                    fn()
                    times[p].append(time.perf_counter() - start)
            row = {"model": name, "size": side, "batch": batch, "xla": jit}
            for p in POLICIES:
                median = sorted(times[p])[len(times[p]) // 2]
                row[p] = batch / median
                row[f"{p}_xla_ran"] = fns[p][1]
            row["bf16_vs_f32"] = row["mixed_bfloat16"] / row["float32"]
            rows.append(row)
            print(f"{name:24s} XLA {'on ' if jit else 'off'}  float32 {row['float32']:8.1f} img/s   "
                  f"mixed_bfloat16 {row['mixed_bfloat16']:8.1f} img/s   ratio {row['bf16_vs_f32']:.2f}", flush=True)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated registry names (default: one per family)")
    parser.add_argument("--size", type=int, default=128, help="training side in pixels (default 128)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per policy (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2: tracing, compilation)")
    parser.add_argument("--jit", action="store_true", help="also with XLA (jit_compile=True)")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    names = [n.strip() for n in args.models.split(",")] if args.models else families()
    flags = cpu_bf16_flags()
    print(f"CPU: {platform.processor() or platform.machine()}, bfloat16 flags: {', '.join(flags) or 'none'}; "
          f"TensorFlow {tf.__version__}; GPUs: {len(tf.config.list_physical_devices('GPU'))}", flush=True)
    rows = measure(names, args.size, args.batch, args.steps, args.warmup, (False, True) if args.jit else (False,))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu_bf16_flags": flags, "tensorflow": tf.__version__, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
