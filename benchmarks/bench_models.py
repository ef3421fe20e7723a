"""Speed of every registered model: images/s (training, inference; XLA off/on), parameters, FLOPs.

    python benchmarks/bench_models.py                          # every model at its paper size
    python benchmarks/bench_models.py --models polychromify,eccv16_regression --size 64
    python benchmarks/bench_models.py --models polychromify --size 64 --onednn-compare

FLOPs per image are counted by TensorFlow's graph profiler (`tf.compat.v1.profiler`, float
operations of the forward pass at batch 1, multiply-adds counted as 2) on the frozen graph of a
concrete function; resize ops are not counted. Training FLOPs are taken as 3x forward (forward +
two backward products). Achieved GFLOP/s are set against a float32 matmul measured in the same run.
`--onednn-compare` re-runs itself in two subprocesses with TF_ENABLE_ONEDNN_OPTS=0 and =1 (it must
be set before TensorFlow is imported) and prints the ratios.

Prints figures; nothing here is asserted in the tests.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def _timed(fn, *args, repeats: int, warmup: int = 1) -> float:
    """Seconds per call (median of `repeats` after `warmup` calls)."""
    for _ in range(warmup):
        _block(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _block(fn(*args))
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def _block(result):
    tf = _tf()
    for t in tf.nest.flatten(result):
        if hasattr(t, "numpy"):
            t.numpy()


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    """float32 n x n matmul throughput in GFLOP/s (2 n^3 operations per product)."""
    tf = _tf()
    a = tf.random.normal([n, n])
    b = tf.random.normal([n, n])
    fn = tf.function(lambda x, y: tf.matmul(x, y))
    return 2 * n**3 / _timed(fn, a, b, repeats=repeats) / 1e9


def forward_flops(model, image_size: int) -> int | None:
    """Float operations of one forward pass at batch 1 (TF graph profiler), or None."""
    tf = _tf()
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    from tensorflow.python.profiler import model_analyzer, option_builder

    spec = tf.TensorSpec([1, image_size, image_size, 1], tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    frozen = convert_variables_to_constants_v2(concrete)
    options = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    profile = model_analyzer.profile(frozen.graph, options=options)
    return int(profile.total_float_ops) if profile is not None else None


def _synthetic_loss(outputs):
    tf = _tf()
    return tf.add_n([tf.reduce_mean(tf.square(tf.cast(o, tf.float32))) for o in tf.nest.flatten(outputs)])


def bench_model(name: str, size: int | None, batch: int, repeats: int) -> dict:
    """Images/s for inference and training with XLA off and on, params and FLOPs of one model."""
    tf = _tf()
    import keras

    from colorization_tf.models import get_spec

    spec = get_spec(name)
    image_size = size or spec.image_size
    keras.utils.set_random_seed(0)
    model = spec.build(image_size=image_size)
    result = {"model": name, "image_size": image_size, "batch": batch, "params": int(model.count_params())}
    try:
        result["forward_gflop_per_image"] = forward_flops(model, image_size) / 1e9
    except Exception as err:
        result["forward_gflop_per_image"] = None
        result["flops_error"] = f"{type(err).__name__}: {err}"
    x = tf.random.uniform([batch, image_size, image_size, 1])
    optimizer = keras.optimizers.SGD(1e-6)
    optimizer.build(model.trainable_variables)
    for xla in (False, True):
        tag = "xla" if xla else "noxla"
        infer = tf.function(lambda images: model(images, training=False), jit_compile=xla)

        def step(images):
            with tf.GradientTape() as tape:
                loss = _synthetic_loss(model(images, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            return loss

        train = tf.function(step, jit_compile=xla)
        for kind, fn in (("inference", infer), ("training", train)):
            try:
                seconds = _timed(fn, x, repeats=repeats)
                result[f"{kind}_img_s_{tag}"] = batch / seconds
            except Exception as err:
                result[f"{kind}_img_s_{tag}"] = None
                result[f"{kind}_{tag}_error"] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
    gflop = result.get("forward_gflop_per_image")
    if gflop:
        for tag in ("noxla", "xla"):
            if result.get(f"inference_img_s_{tag}"):
                result[f"inference_gflops_{tag}"] = gflop * result[f"inference_img_s_{tag}"]
            if result.get(f"training_img_s_{tag}"):
                result[f"training_gflops_{tag}"] = 3 * gflop * result[f"training_img_s_{tag}"]
    return result


def dense_vs_conv1x1(size: int = 64, channels: int = 64, units: int = 128, batch: int = 8, repeats: int = 5) -> dict:
    """Forward+backward images/s of a per-pixel Dense layer and the equivalent 1x1 Conv2D."""
    tf = _tf()
    import keras

    x = tf.random.uniform([batch, size, size, channels])
    out = {}
    for label, layer in (("dense", keras.layers.Dense(units)), ("conv1x1", keras.layers.Conv2D(units, 1))):
        layer.build(x.shape)

        def step(inputs, layer=layer):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.square(layer(inputs)))
            return tape.gradient(loss, layer.trainable_variables)

        out[f"{label}_img_s"] = batch / _timed(tf.function(step), x, repeats=repeats)
    out["dense_over_conv"] = out["dense_img_s"] / out["conv1x1_img_s"]
    return out


def _fmt(value, spec=".2f"):
    return "-" if value is None else format(value, spec)


def print_table(results: list[dict], matmul: float) -> None:
    print(f"\nfloat32 matmul ceiling: {matmul:.1f} GFLOP/s")
    header = f"{'model':24s} {'size':>4s} {'params':>11s} {'GFLOP/img':>9s} | {'inf img/s':>9s} {'inf+XLA':>8s} | {'train img/s':>11s} {'train+XLA':>9s} | {'GFLOP/s inf':>11s} {'% matmul':>8s}"
    print(header)
    print("-" * len(header))
    for r in results:
        if "error" in r:
            print(f"{r['model']:24s} FAILED: {r['error']}")
            continue
        gf = r.get("inference_gflops_noxla")
        print(
            f"{r['model']:24s} {r['image_size']:4d} {r['params']:11,d} {_fmt(r.get('forward_gflop_per_image'), '.3f'):>9s} | "
            f"{_fmt(r.get('inference_img_s_noxla')):>9s} {_fmt(r.get('inference_img_s_xla')):>8s} | "
            f"{_fmt(r.get('training_img_s_noxla')):>11s} {_fmt(r.get('training_img_s_xla')):>9s} | "
            f"{_fmt(gf, '.1f'):>11s} {_fmt(100 * gf / matmul if gf else None, '.0f'):>8s}"
        )
        for key, value in r.items():
            if key.endswith("_error"):
                print(f"    {key}: {value}")


def run(models: list[str], size: int | None, batch: int, repeats: int) -> dict:
    from colorization_tf.models import MODELS

    names = models or list(MODELS)
    matmul = matmul_gflops()
    results = []
    for name in names:
        print(f"... {name}", file=sys.stderr, flush=True)
        try:
            results.append(bench_model(name, size, batch, repeats))
        except Exception as err:  # a model that fails to build must not stop the benchmark
            results.append({"model": name, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"})
    return {
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)"),
        "matmul_gflops": matmul,
        "models": results,
        "dense_vs_conv1x1": dense_vs_conv1x1(),
    }


def onednn_compare(argv: list[str]) -> None:
    """Runs this script with TF_ENABLE_ONEDNN_OPTS=0 and =1 in subprocesses and prints the ratios."""
    runs = {}
    for flag in ("0", "1"):
        env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=flag, TF_CPP_MIN_LOG_LEVEL="2")
        proc = subprocess.run([sys.executable, __file__, *argv, "--json", "-"], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"oneDNN={flag} run failed:\n{proc.stderr[-2000:]}")
            return
        runs[flag] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"\n=== TF_ENABLE_ONEDNN_OPTS={flag} ===")
        print_table(runs[flag]["models"], runs[flag]["matmul_gflops"])
    print("\n=== ratio oneDNN on / off ===")
    print(f"matmul GFLOP/s: {runs['1']['matmul_gflops'] / runs['0']['matmul_gflops']:.2f}x")
    for on, off in zip(runs["1"]["models"], runs["0"]["models"]):
        parts = []
        for key in ("inference_img_s_noxla", "inference_img_s_xla", "training_img_s_noxla", "training_img_s_xla"):
            if on.get(key) and off.get(key):
                parts.append(f"{key.replace('_img_s', '')} {on[key] / off[key]:.2f}x")
        print(f"{on['model']:24s} " + ", ".join(parts))
    d_on, d_off = runs["1"]["dense_vs_conv1x1"], runs["0"]["dense_vs_conv1x1"]
    print(f"dense/conv1x1 speed ratio: oneDNN off {d_off['dense_over_conv']:.2f}, on {d_on['dense_over_conv']:.2f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="comma-separated registry names (default: all)")
    parser.add_argument("--size", type=int, default=None, help="image size instead of each paper's")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", default=None, help="also write the results as JSON to this file ('-': stdout, last line)")
    parser.add_argument("--onednn-compare", action="store_true", help="compare TF_ENABLE_ONEDNN_OPTS=0 and 1 in subprocesses")
    args = parser.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    if args.onednn_compare:
        passthrough = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--onednn-compare"]
        onednn_compare(passthrough)
        return 0
    results = run(models, args.size, args.batch_size, args.repeats)
    if args.json == "-":
        print(json.dumps(results))
        return 0
    print(f"TF_ENABLE_ONEDNN_OPTS={results['onednn']}")
    print_table(results["models"], results["matmul_gflops"])
    d = results["dense_vs_conv1x1"]
    print(f"\nper-pixel Dense {d['dense_img_s']:.1f} img/s vs 1x1 Conv2D {d['conv1x1_img_s']:.1f} img/s (ratio {d['dense_over_conv']:.2f})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
