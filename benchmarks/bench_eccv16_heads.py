"""ECCV16: training and inference images/s of the classification head against the regression head.

The classification head predicts 313 ab-bin logits per pixel; the paper computes its loss at the
logits' 1/4 resolution (a 313-way softmax at full resolution would be 16x the work). This script
times, on random data of a fixed shape:

- the regression head (2 channels, bilinear x4 in the model) trained with L1 (Ziegler's L1 run),
- the classification head trained with `losses.SoftEncodedCrossEntropy` (soft-encoded targets,
  computed at the logits' 1/4 resolution),
- and, separately, that loss alone (forward + backward) at 1/4 and at full resolution.

The defaults (64 px, batch 4, median of 5 timed steps) run in about a minute on 2 CPU cores; `--full` uses
the paper's 256 px and batch 16. Numbers are printed, never asserted.

Usage:
    python benchmarks/bench_eccv16_heads.py [--size 64] [--batch 4] [--steps 5] [--jit] [--full]

Reference:
    Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016 (Sec. 2.1-2.2);
    Ziegler, "Deep Vision project: Image Colorization", 2022 (its four loss runs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from colorization_tf import quantize  # noqa: E402
from colorization_tf.losses import SoftEncodedCrossEntropy  # noqa: E402
from colorization_tf.models.eccv16 import OUTPUT_STRIDE, build_eccv16  # noqa: E402

PAPER_SIZE = 256
PAPER_BATCH = 16


def _time(fn, steps: int, warmup: int) -> float:
    """Median seconds per call after `warmup` untimed calls (the median resists a busy machine)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def bench_head(head: str, size: int, batch: int, steps: int, warmup: int, jit: bool, bin_width: float) -> dict:
    """Times train_on_batch and predict_on_batch of one head on random data."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (batch, size, size, 1)).astype(np.float32)
    y = rng.uniform(-0.8, 0.8, (batch, size, size, 2)).astype(np.float32)
    model = build_eccv16(size, head=head, bin_width=bin_width if head == "classification" else None)
    if head == "classification":
        loss = SoftEncodedCrossEntropy(bin_width=bin_width)
        loss_name = f"soft-encoded CE at the logits' 1/4 resolution ({loss.k} nearest bins, sigma {loss.sigma:g})"
    else:
        loss, loss_name = keras.losses.MeanAbsoluteError(), "L1"
    model.compile(optimizer=keras.optimizers.Adam(3e-5, beta_1=0.9, beta_2=0.99), loss=loss, jit_compile=jit)
    train_s = _time(lambda: model.train_on_batch(x, y), steps, warmup)
    infer_s = _time(lambda: model.predict_on_batch(x), steps, warmup)
    return {
        "head": head,
        "loss": loss_name,
        "params": model.count_params(),
        "output": tuple(model.output.shape[1:]),
        "train": batch / train_s,
        "infer": batch / infer_s,
    }


def bench_loss_alone(size: int, batch: int, steps: int, bin_width: float) -> tuple[float, float]:
    """Seconds per forward + backward of the classification loss at 1/4 and at full resolution."""
    loss = SoftEncodedCrossEntropy(bin_width=bin_width)
    num_bins = len(quantize.ab_bin_centers(bin_width))
    rng = np.random.default_rng(1)
    y = tf.constant(rng.uniform(-0.8, 0.8, (batch, size, size, 2)).astype(np.float32))
    times = []
    for side in (size // OUTPUT_STRIDE, size):
        logits = tf.Variable(rng.normal(size=(batch, side, side, num_bins)).astype(np.float32))

        @tf.function
        def step(logits=logits):
            with tf.GradientTape() as tape:
                value = loss(y, logits)
            return tape.gradient(value, logits)

        times.append(_time(step, steps, 1))
    return times[0], times[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64, help="square input side, multiple of 8 (default 64)")
    parser.add_argument("--batch", type=int, default=4, help="batch size (default 4)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after warm-up (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (default 1)")
    parser.add_argument(
        "--bin-width", type=float, default=quantize.ZHANG_BIN_WIDTH, help="ab grid width (default 10: 313 bins)"
    )
    parser.add_argument("--jit", action="store_true", help="compile with XLA (jit_compile=True)")
    parser.add_argument("--full", action="store_true", help=f"paper settings: {PAPER_SIZE} px, batch {PAPER_BATCH}")
    args = parser.parse_args(argv)
    if args.full:
        args.size, args.batch = PAPER_SIZE, PAPER_BATCH
    if args.size % 8 or args.size <= 0:
        parser.error(f"--size must be a positive multiple of 8, got {args.size}")

    print(f"ECCV16 heads: {args.size}x{args.size}, batch {args.batch}, {args.steps} timed steps, "
          f"XLA {'on' if args.jit else 'off'}, TF {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPU cores, GPUs: {len(tf.config.list_physical_devices('GPU'))}")
    rows = [
        bench_head(head, args.size, args.batch, args.steps, args.warmup, args.jit, args.bin_width)
        for head in ("regression", "classification")
    ]
    print(f"{'head':<15} {'params':>11} {'output':>16} {'train img/s':>12} {'infer img/s':>12}  loss")
    for r in rows:
        print(f"{r['head']:<15} {r['params']:>11,} {str(r['output']):>16} {r['train']:>12.2f} {r['infer']:>12.2f}  {r['loss']}")
    print(f"per image, classification / regression: training {rows[0]['train'] / rows[1]['train']:.2f}x the time, "
          f"inference {rows[0]['infer'] / rows[1]['infer']:.2f}x")
    num_bins = len(quantize.ab_bin_centers(args.bin_width))
    quarter, full = bench_loss_alone(args.size, args.batch, args.steps, args.bin_width)
    print(f"{num_bins}-way soft-encoded CE alone (fwd+bwd, batch {args.batch}): "
          f"{quarter * 1e3:.1f} ms at 1/4 resolution vs {full * 1e3:.1f} ms at full resolution ({full / quarter:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
