"""Training-step time under mixed_bfloat16 against float32, one model of every family, side by side.

    python benchmarks/bench_precision.py                                  # every family, 128 px, batch 16, oneDNN on
    python benchmarks/bench_precision.py --onednn both                    # also TF_ENABLE_ONEDNN_OPTS=0 (a subprocess each)
    python benchmarks/bench_precision.py --models compact_unet --jit      # XLA off and on
    python benchmarks/bench_precision.py --size 32 --batch 2 --steps 2    # a quick check that it runs
    python benchmarks/bench_precision.py --quality 150                    # held-out quality after equal steps

Each model trains at its own side capped at `--size` (the CS520 CNN's 64 px: its dense layers grow
with the area). Both policies' models are built and compiled (Adam, the family's default loss) in the
same process and their steps interleave, the order swapping every round, so the machine's other
load touches both alike; the figure is images/s of the median step after `--warmup` steps
(tracing, XLA compilation). bfloat16 needs the CPU's AVX512_BF16 or AMX to be faster than float32;
the CPU flags found are printed with the figures, and a Markdown table (img/s each, ratio) at the end.
TF_ENABLE_ONEDNN_OPTS is read when TensorFlow loads, so `--onednn off|both` runs a subprocess per setting.
`distribute.auto_precision` picks the CPU's policy from what this measured (see there).

`--quality STEPS` instead trains the compact U-Net recipe (`colorization_tf.recipe`, 64 px views,
batch 16) for STEPS steps under each policy with two seeds each, on the debian-photos training
photos, and prints the held-out (validation and test photos) ab L1 and PSNR: bfloat16 is only worth
its speed at equal quality, and the two float32 seeds show the noise to judge the gap by.

Prints figures (and `--json` writes them); nothing here is asserted in the tests.

Reference:
    Kalamkar et al. (2019), A Study of BFLOAT16 for Deep Learning Training.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POLICIES = ("float32", "mixed_bfloat16")


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
    """images/s per (model, XLA, policy): the median of `steps` timed steps, the policies interleaved."""
    from colorization_tf.models import get_spec

    rows = []
    for name in names:
        side = min(size, get_spec(name).image_size)
        for jit in jit_modes:
            fns = {p: _step_fn(name, p, side, batch, jit) for p in POLICIES}
            for fn, _ in fns.values():
                for _ in range(warmup):
                    fn()
            times = {p: [] for p in POLICIES}
            for i in range(steps):
                for p in POLICIES if i % 2 == 0 else POLICIES[::-1]:
                    start = time.perf_counter()
                    fns[p][0]()
                    times[p].append(time.perf_counter() - start)
            row = {"model": name, "size": side, "batch": batch, "xla": jit,
                   "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)")}
            for p in POLICIES:
                median = sorted(times[p])[len(times[p]) // 2]
                row[p] = batch / median
                row[f"{p}_xla_ran"] = fns[p][1]
            row["bf16_vs_f32"] = row["mixed_bfloat16"] / row["float32"]
            rows.append(row)
            print(f"{name:24s} {side:4d} px  XLA {'on ' if jit else 'off'}  float32 {row['float32']:7.1f} img/s   "
                  f"mixed_bfloat16 {row['mixed_bfloat16']:7.1f} img/s   ratio {row['bf16_vs_f32']:.2f}", flush=True)
            del fns
    return rows


def quality(steps: int, data_dir: str, workdir: Path, seeds=(0, 1)) -> list[dict]:
    """Held-out scores of the compact U-Net recipe after `steps` steps, per (policy, seed)."""
    import keras

    from colorization_tf import recipe as rc
    from colorization_tf.data import whole_photos

    train_photos = [p.rgb for p in whole_photos.load_split(data_dir, "train", rc.TRAIN_SIDE)]
    scorers = rc.load_scoring_photos(data_dir)
    rows = []
    for seed in seeds:
        for policy in POLICIES:
            keras.mixed_precision.set_global_policy(policy)
            recipe = rc.Recipe(name=f"{policy}-seed{seed}", image_size=64, batch_size=16, total_steps=steps,
                               eval_every=steps, warmup_steps=min(50, steps // 4), seed=seed)
            start = time.process_time()
            last = rc.train_recipe(recipe, data_dir, workdir / recipe.name, train_photos=train_photos, scorers=scorers,
                                   progress=lambda row: None)["evals"][-1]
            keras.mixed_precision.set_global_policy("float32")
            row = {"policy": policy, "seed": seed, "steps": steps, "cpu_s": time.process_time() - start,
                   **{k: last[k] for k in ("loss", "val_ab_l1", "test_ab_l1", "val_psnr", "test_psnr")}}
            rows.append(row)
            print(f"{policy:15s} seed {seed}  {steps} steps  train loss {row['loss']:.4f}  val ab L1 {row['val_ab_l1']:.3f}  "
                  f"test ab L1 {row['test_ab_l1']:.3f}  val PSNR {row['val_psnr']:.2f}  test PSNR {row['test_psnr']:.2f}  "
                  f"CPU {row['cpu_s']:.0f} s", flush=True)
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The figures as a Markdown table: model, side, oneDNN, XLA, img/s per policy, bf16/f32 ratio."""
    lines = ["| model | side | oneDNN | XLA | float32 img/s | mixed_bfloat16 img/s | bf16 / f32 |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        onednn = {"0": "off", "1": "on"}.get(r["onednn"], r["onednn"])
        lines.append(f"| {r['model']} | {r['size']} | {onednn} | {'on' if r['xla'] else 'off'} | {r['float32']:.1f} "
                     f"| {r['mixed_bfloat16']:.1f} | {r['bf16_vs_f32']:.2f} |")
    return "\n".join(lines)


def _in_subprocess(onednn: str, argv: list[str]) -> list[dict]:
    """This script's rows run with TF_ENABLE_ONEDNN_OPTS=`onednn` in a fresh process (TF reads it at load)."""
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="2")
    with subprocess.Popen([sys.executable, __file__, *argv, "--onednn", "inherit", "--json", "-"], env=env,
                          stdout=subprocess.PIPE, text=True) as proc:
        last = ""
        for line in proc.stdout:  # each model's line as it comes; the JSON is the last one
            if last:
                print(last, end="", flush=True)
            last = line
    if proc.returncode != 0:
        raise SystemExit(f"bench_precision.py: the TF_ENABLE_ONEDNN_OPTS={onednn} run failed (exit {proc.returncode})")
    return json.loads(last)["rows"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", help="comma-separated registry names (default: one per family)")
    parser.add_argument("--size", type=int, default=128, help="training side in pixels, at most each model's own (default 128)")
    parser.add_argument("--batch", type=int, default=16, help="batch size (default 16)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps per policy (default 5)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2: tracing, compilation)")
    parser.add_argument("--jit", action="store_true", help="also with XLA (jit_compile=True)")
    parser.add_argument("--onednn", choices=("on", "off", "both", "inherit"), default="on",
                        help="TF_ENABLE_ONEDNN_OPTS=1, =0, each in turn (subprocesses), or as the environment has it")
    parser.add_argument("--json", help="write the figures here ('-': stdout, last line)")
    parser.add_argument("--quality", type=int, metavar="STEPS", help="instead: held-out quality after STEPS training steps per policy")
    parser.add_argument("--data", default="data/debian-photos", help="debian-photos folder for --quality (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.quality:
        import tempfile

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with tempfile.TemporaryDirectory() as tmp:
            rows = quality(args.quality, args.data, Path(tmp))
        if args.json:
            Path(args.json).write_text(json.dumps({"quality": rows}, indent=1))
        return 0
    if args.onednn != "inherit":
        child = ["--size", str(args.size), "--batch", str(args.batch), "--steps", str(args.steps), "--warmup", str(args.warmup)]
        child += (["--models", args.models] if args.models else []) + (["--jit"] if args.jit else [])
        rows = []
        for flag in {"on": ("1",), "off": ("0",), "both": ("1", "0")}[args.onednn]:
            rows += _in_subprocess(flag, child)
        print("\n" + markdown_table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows}, indent=1))
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    from colorization_tf.distribute import cpu_bf16_flags

    names = [n.strip() for n in args.models.split(",")] if args.models else families()
    flags = cpu_bf16_flags()
    print(f"CPU: {platform.processor() or platform.machine()}, bfloat16 flags: {', '.join(flags) or 'none'}; "
          f"TensorFlow {tf.__version__}; TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(unset)')}; "
          f"GPUs: {len(tf.config.list_physical_devices('GPU'))}; load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = measure(names, args.size, args.batch, args.steps, args.warmup, (False, True) if args.jit else (False,))
    result = {"cpu_bf16_flags": flags, "tensorflow": tf.__version__, "rows": rows}
    if args.json == "-":
        print(json.dumps(result))
    elif args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    else:
        print("\n" + markdown_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
