"""Input-pipeline throughput: the papers' plain Python loop against the tf.data pipeline.

Generates N synthetic 512x384 JPEGs in a temporary folder, then measures on the same files, side
by side in one process and repeated over several rounds:
    (a) a plain loop: PIL open + resize + `skimage.color.rgb2lab` per image (what the papers' code
        did: PolyChromify resized to 128 px, then converted to Lab),
    (b) `colorization_tf.data.pipeline.build_dataset` (training mode, memory cache), first epoch,
        timed from `build_dataset` on (tracing and, in round 1 only, XLA compilation included),
    (c) the following epochs, served from the cache, with the default crop + flip augmentation
        (fixed-size crops), with scale-jitter crops (`--jitter`, bilinear), and without augmentation,
and prints, per variant, the median over rounds of: images/s (wall), the ratio to (a) measured in
the same round, CPU milliseconds per image (all threads), and the CPU-time ratio. Targets: (b) >= 1.8x
(a), (c) >= 30x (a), wall clock on an otherwise idle machine with both cores busy.

On a shared machine wall-clock ratios move with the other load; CPU time per image does not (much):
the CPU-time ratio is what the pipeline would reach on one free core, and wall ratios on two free
cores are bounded by twice it. `--cpus 0` pins the whole process to one core (both sides equally).
Each tf.data epoch also has a fixed cost (iterator start, shuffle-buffer fill: ~25 ms here), which
weighs on small N: 1000 images (the default) is still fewer than any of the papers' datasets.

Usage:
    python benchmarks/bench_pipeline.py [--n 1000] [--size 128] [--batch 32] [--rounds 3]
        [--cached-epochs 3] [--jitter] [--cpus 0,1] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

TARGET_FIRST_EPOCH = 1.8
TARGET_CACHED = 30.0
JPEG_SIZE = (384, 512)  # height, width
UNIQUE_SCENES = 21


def make_jpegs(folder: Path, n: int) -> list[str]:
    """n distinct JPEG files from 21 rendered scenes (each copy rolled sideways, so bytes differ)."""
    from colorization_tf.sources.synthetic import CLASS_NAMES, render_scene

    scenes = [render_scene(CLASS_NAMES[i % len(CLASS_NAMES)], i, JPEG_SIZE) for i in range(min(n, UNIQUE_SCENES))]
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        shifted = np.roll(scenes[i % len(scenes)], 7 * (i // len(scenes)), axis=1)
        Image.fromarray(shifted).save(path, quality=90)
        paths.append(str(path))
    return paths


class _Timer:
    """Wall and process CPU time (all threads) of a block."""

    def __enter__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def plain_loop(paths: list[str], size: int) -> tuple[int, _Timer]:
    """PIL open + resize + skimage rgb2lab + the model's ab scaling, one image at a time."""
    from skimage.color import rgb2lab

    with _Timer() as timer:
        for path in paths:
            with Image.open(path) as image:
                rgb = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
            lab = rgb2lab(rgb)
            _l, _ab = lab[..., :1], lab[..., 1:] / 128.0
    return len(paths), timer


def _epoch(dataset) -> int:
    count = 0
    for l_enc, _ab in dataset:
        count += int(l_enc.shape[0])
    return count


def _build(paths, size, batch, augment, crop_scale=None):
    from colorization_tf.data import pipeline

    kwargs = {} if crop_scale is None else {"crop_scale": crop_scale}
    return pipeline.build_dataset(paths, image_size=size, batch_size=batch, normalization="polychromify",
                                  training=True, augment=augment, cache="memory", seed=0, **kwargs)


def first_epoch(paths, size, batch) -> tuple[int, _Timer]:
    """build_dataset + its first epoch (decode, resize, Lab, cache, shuffle, augment, targets)."""
    with _Timer() as timer:
        count = _epoch(_build(paths, size, batch, augment=True))
    return count, timer


def cached_epochs(dataset, epochs: int) -> tuple[int, _Timer]:
    with _Timer() as timer:
        count = sum(_epoch(dataset) for _ in range(epochs))
    return count, timer


def _load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="number of 512x384 JPEGs (default 1000)")
    parser.add_argument("--size", type=int, default=128, help="training image size (default 128)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of every measurement (default 3)")
    parser.add_argument("--cached-epochs", type=int, default=3, help="cached epochs timed per round (default 3)")
    parser.add_argument("--jitter", action="store_true", help="also time scale-jitter crops, crop_scale=(0.8, 1.0)")
    parser.add_argument("--cpus", default=None, help="pin the process to these CPUs, e.g. '0' (Linux only)")
    parser.add_argument("--json", default=None, help="also write the medians as JSON to this file")
    args = parser.parse_args(argv)
    if args.cpus:
        os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})

    import tensorflow as tf

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    variants = ["plain loop (PIL + skimage rgb2lab)", "tf.data first epoch (incl. build)",
                "tf.data cached, crop+flip (default)", "tf.data cached, no augmentation"]
    if args.jitter:
        variants.insert(3, "tf.data cached, scale-jitter crops")
    samples = {name: [] for name in variants}  # (images/s, cpu ms/img, wall ratio, cpu ratio)
    load_start = _load_average()
    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        start = time.perf_counter()
        paths = make_jpegs(Path(tmp), args.n)
        print(f"{args.n} JPEGs {JPEG_SIZE[1]}x{JPEG_SIZE[0]} written in {time.perf_counter() - start:.1f} s; "
              f"resize to {args.size}x{args.size}; batch {args.batch}; CPUs used: {cpus}; TF {tf.__version__}; "
              f"load average {load_start}", flush=True)
        cached = {variants[2]: _build(paths, args.size, args.batch, augment=True),
                  variants[-1]: _build(paths, args.size, args.batch, augment=False)}
        if args.jitter:
            cached[variants[3]] = _build(paths, args.size, args.batch, augment=True, crop_scale=(0.8, 1.0))
        for round_ in range(args.rounds):
            results = {variants[0]: plain_loop(paths, args.size)}
            if round_ == 0:
                count, timer = first_epoch(paths, args.size, args.batch)
                print(f"round 1 first epoch, with one-time tracing and XLA compilation: {count / timer.wall:.0f} img/s, "
                      f"{1000 * timer.cpu / count:.2f} CPU ms/img ({timer.wall:.2f} s)", flush=True)
                for dataset in cached.values():
                    _epoch(dataset)  # fills each cache (and compiles) outside the timed epochs
            results[variants[1]] = first_epoch(paths, args.size, args.batch)
            for name, dataset in cached.items():
                results[name] = cached_epochs(dataset, args.cached_epochs)
            plain_count, plain = results[variants[0]]
            for name, (count, timer) in results.items():
                rate, cpu_ms = count / timer.wall, 1000 * timer.cpu / count
                samples[name].append((rate, cpu_ms, rate / (plain_count / plain.wall),
                                      (1000 * plain.cpu / plain_count) / cpu_ms))
            print(f"round {round_ + 1}/{args.rounds}: " + ", ".join(
                f"{name.split(' (')[0].replace('tf.data ', '')} {samples[name][-1][2]:.1f}x" for name in variants[1:]),
                flush=True)
    print(f"\nmedians over {args.rounds} rounds (load average at start {load_start}, at end {_load_average()}):")
    print(f"{'':38}{'img/s':>9}{'ratio':>8}{'target':>8}{'CPU ms/img':>12}{'CPU ratio':>11}")
    medians = {}
    for name in variants:
        rate, cpu_ms, ratio, cpu_ratio = (statistics.median(column) for column in zip(*samples[name]))
        target = None if name == variants[0] else (TARGET_FIRST_EPOCH if name == variants[1] else TARGET_CACHED)
        verdict = "" if target is None else ("  ok" if ratio >= target else "  below target")
        target_text = f"{target:7.1f}x" if target else " " * 8
        print(f"{name:38}{rate:9.0f}{ratio:7.1f}x{target_text}{cpu_ms:12.3f}{cpu_ratio:10.1f}x{verdict}")
        medians[name] = {"images_per_s": rate, "ratio": ratio, "cpu_ms_per_image": cpu_ms, "cpu_ratio": cpu_ratio}
    print("ratio: wall-clock speed-up over the plain loop in the same round; CPU ratio: the same in CPU time "
          "(load-independent; about the speed-up on one free core).")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "cpus": cpus, "medians": medians}, indent=2))
    return medians


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
