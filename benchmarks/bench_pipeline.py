"""Input-pipeline throughput: the papers' plain Python loop against the tf.data pipeline.

Generates N synthetic 512x384 JPEGs in a temporary folder, then measures on the same files, in one
run:
    (a) a plain loop: PIL open + resize + `skimage.color.rgb2lab` per image (what the papers' code did),
    (b) `colorization_tf.data.pipeline.build_dataset` (training mode, memory cache), first epoch,
    (c) the following epochs, served from the cache (with crop+flip augmentation, and without),
and prints images/s and the ratios against (a). Targets: (b) >= 1.8x (a), (c) >= 30x (a).
Figures are noisy on a shared machine: run it alone for numbers you quote.

Usage:
    python benchmarks/bench_pipeline.py [--n 400] [--size 128] [--batch 32] [--cached-epochs 3]
"""

from __future__ import annotations

import argparse
import os
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
    from colorization_tf.data.synthetic import CLASS_NAMES, render_scene

    scenes = [render_scene(CLASS_NAMES[i % len(CLASS_NAMES)], i, JPEG_SIZE) for i in range(min(n, UNIQUE_SCENES))]
    paths = []
    for i in range(n):
        path = folder / f"{i:05d}.jpg"
        shifted = np.roll(scenes[i % len(scenes)], 7 * (i // len(scenes)), axis=1)
        Image.fromarray(shifted).save(path, quality=90)
        paths.append(str(path))
    return paths


def plain_loop(paths: list[str], size: int) -> float:
    """(images/s, CPU ms per image) of PIL open + resize + skimage rgb2lab, one image at a time."""
    from skimage.color import rgb2lab

    start, cpu = time.perf_counter(), time.process_time()
    for path in paths:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB").resize((size, size), Image.BILINEAR))
        lab = rgb2lab(rgb)
        _l, _ab = lab[..., :1], lab[..., 1:] / 128.0
    return len(paths) / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / len(paths)


def tf_pipeline(paths: list[str], size: int, batch: int, cached_epochs: int, augment: bool = True):
    """(images/s, CPU ms per image) of the tf.data pipeline's first epoch and of the cached epochs."""
    from colorization_tf.data.pipeline import build_dataset

    dataset = build_dataset(paths, image_size=size, batch_size=batch, normalization="polychromify",
                            training=True, augment=augment, cache="memory", seed=0)

    def epoch() -> tuple[int, float, float]:
        start, cpu, count = time.perf_counter(), time.process_time(), 0
        for l_enc, _ab in dataset:
            count += int(l_enc.shape[0])
        return count, time.perf_counter() - start, time.process_time() - cpu

    count, seconds, cpu = epoch()
    first = (count / seconds, 1000 * cpu / count)
    total, total_s, total_cpu = 0, 0.0, 0.0
    for _ in range(cached_epochs):
        count, seconds, cpu = epoch()
        total, total_s, total_cpu = total + count, total_s + seconds, total_cpu + cpu
    return first, (total / total_s, 1000 * total_cpu / total)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=400, help="number of 512x384 JPEGs")
    parser.add_argument("--size", type=int, default=128, help="training image size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--cached-epochs", type=int, default=3)
    args = parser.parse_args(argv)

    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        start = time.perf_counter()
        paths = make_jpegs(Path(tmp), args.n)
        print(f"{args.n} JPEGs {JPEG_SIZE[1]}x{JPEG_SIZE[0]} written in {time.perf_counter() - start:.1f} s; "
              f"resize to {args.size}x{args.size}; CPU cores: {os.cpu_count()}; TF {tf.__version__}")
        plain = plain_loop(paths, args.size)
        first, cached = tf_pipeline(paths, args.size, args.batch, args.cached_epochs)
        _, cached_plain = tf_pipeline(paths[: len(paths) // 2], args.size, args.batch, args.cached_epochs, False)
    rows = [
        ("plain loop (PIL + skimage rgb2lab)", plain, None),
        ("tf.data first epoch", first, TARGET_FIRST_EPOCH),
        ("tf.data cached epochs (crop+flip)", cached, TARGET_CACHED),
        ("tf.data cached epochs (no augment)", cached_plain, TARGET_CACHED),
    ]
    print(f"{'':38}{'img/s':>9}{'ratio':>8}{'target':>8}{'CPU ms/img':>12}")
    for name, (rate, cpu_ms), target in rows:
        ratio = rate / plain[0]
        verdict = "" if target is None else ("  ok" if ratio >= target else "  below target")
        target_text = f"{target:7.1f}x" if target else " " * 8
        print(f"{name:38}{rate:9.1f}{ratio:7.1f}x{target_text}{cpu_ms:12.2f}{verdict}")
    print("CPU ms/img counts every core's work (load-independent); img/s and ratios depend on free cores.")
    return {"plain": plain, "first_epoch": first, "cached": cached, "cached_no_augment": cached_plain}


if __name__ == "__main__":
    main()
