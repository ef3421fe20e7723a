"""The GPU check on Keras' JAX (or PyTorch) backend: no TensorFlow, for GPU machines without it.

    python benchmarks/gpu_check.py --backend jax --out results/gpu_check_jax        # a GPU machine, ~5 minutes
    python benchmarks/gpu_check.py --backend jax --dry-run --out /tmp/gpu_check_jax # CPU, tiny, seconds

For each model of `colorization_tf.models.MODELS` (default: one per family, `gpu_check.FAMILY_FIRST`
order, or `--models a,b`), built at its paper resolution and compiled with its paper's loss
(`ModelSpec.default_losses`) and ``jit_compile=True`` (XLA), trained `--steps` steps under
**mixed_float16** and under **float32** on `--distinct-batches` NumPy batches
(`models.batches.training_batch`, smooth random colour fields) repeated, so that the figures are
the model's, not an input pipeline's. Printed and written to ``OUT/gpu_check_<backend>.json`` /
``.md`` after every run: images/s (after the first chunk, which holds compilation), the first
chunk's seconds, the peak GPU memory of the process so far (JAX's ``peak_bytes_in_use``; PyTorch's
``max_memory_allocated``, reset per run), whether every chunk's loss is finite and the last is below
the first, the mixed run's loss scale (a `LossScaleOptimizer`, finite and >= 1) and the largest
difference between the float16 and float32 outputs of the same weights on the same batch
(encoded units, and relative to the float32 output's largest value). Exit code 1 on any failure,
2 without a GPU unless `--dry-run`.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

RUNS = ("mixed_float16", "float32")
LEARNING_RATE = 1e-3
NUM_CLASSES = 8
"""Scene classes of Iizuka's models here (random labels)."""
DRY_RUN = dict(image_size=32, batch=2, steps=6, chunks=3, distinct_batches=2, budget_s=600.0)
GPU_DEFAULTS = dict(image_size=None, batch=32, steps=120, chunks=4, distinct_batches=4, budget_s=480.0)
DRY_RUN_MODELS = ("polychromify_v0",)


def _backend() -> str:
    import keras

    return keras.backend.backend()


def gpu_name() -> str | None:
    """The GPU's name, or None when the backend sees none."""
    if _backend() == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        return gpus[0].device_kind if gpus else None
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def reset_peak_memory() -> None:
    if _backend() == "torch":
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()


def peak_memory_mib() -> float | None:
    """Peak GPU bytes in use (JAX: since the process started; PyTorch: since the last reset), MiB."""
    if _backend() == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return stats["peak_bytes_in_use"] / 2**20 if "peak_bytes_in_use" in stats else None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


def _build(spec, precision: str, image_size: int):
    import keras

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    return spec.build(image_size=image_size, **({"num_classes": NUM_CLASSES} if spec.needs_labels else {}))


def _colour(spec, model, outputs) -> np.ndarray:
    import keras

    if isinstance(outputs, dict):
        outputs = outputs[spec.head.output]
    return np.asarray(keras.ops.convert_to_numpy(outputs), np.float32)


def train_run(spec, batches, *, precision: str, image_size: int, batch: int, steps: int, chunks: int):
    """Builds `spec` under `precision`, trains `steps` XLA steps in `chunks` chunks; returns (model, figures)."""
    import keras

    model = _build(spec, precision, image_size)
    loss, loss_weights = spec.default_losses()
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss=loss, loss_weights=loss_weights, jit_compile=True)
    per_chunk = max(steps // chunks, 1)
    reset_peak_memory()
    times, chunk_losses, step = [time.perf_counter()], [], 0
    for _ in range(chunks):
        values = []
        for _ in range(per_chunk):
            x, y = batches[step % len(batches)]
            values.append(float(model.train_on_batch(x, y)))  # float(): waits for the step
            step += 1
        chunk_losses.append(float(np.mean(values)))
        times.append(time.perf_counter())
    timed = times[-1] - times[1]
    figures = {
        "precision": precision, "params": int(model.count_params()), "steps": step, "chunk_losses": chunk_losses,
        "loss_finite": bool(all(math.isfinite(v) for v in chunk_losses)),
        "loss_fell": bool(len(chunk_losses) > 1 and chunk_losses[-1] < chunk_losses[0]),
        "first_chunk_s": times[1] - times[0],
        "images_per_s": (chunks - 1) * per_chunk * batch / timed if chunks > 1 and timed > 0 else None,
        "peak_memory_mib": peak_memory_mib(),
        "weights_finite": bool(all(np.isfinite(keras.ops.convert_to_numpy(w)).all() for w in model.trainable_weights)),
    }
    if precision == "mixed_float16":
        optimizer = model.optimizer
        scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
        scale = float(keras.ops.convert_to_numpy(optimizer.dynamic_scale)) if scaled else None
        figures["loss_scale"] = scale
        figures["loss_scale_ok"] = bool(scaled and math.isfinite(scale) and scale >= 1.0)
    return model, figures


def float16_difference(spec, x, image_size: int) -> dict:
    """The same weights under float32 and mixed_float16 on batch `x`: largest output difference."""
    reference = _build(spec, "float32", image_size)
    weights = reference.get_weights()
    expected = _colour(spec, reference, reference(x, training=False))
    mixed = _build(spec, "mixed_float16", image_size)
    mixed.set_weights(weights)
    got = _colour(spec, mixed, mixed(x, training=False))
    diff = float(np.max(np.abs(got - expected)))
    return {"max_abs": diff, "relative": diff / max(float(np.max(np.abs(expected))), 1e-12), "finite": bool(np.isfinite(got).all())}


def failures(report: dict) -> list[str]:
    found = []
    for name, entry in report["models"].items():
        if "error" in entry:
            found.append(f"{name}: {entry['error']}")
        for precision, run in entry.get("runs", {}).items():
            if "error" in run:
                found.append(f"{name} {precision}: {run['error']}")
                continue
            for check in ("loss_finite", "loss_fell", "weights_finite", "loss_scale_ok"):
                if run.get(check) is False:
                    found.append(f"{name} {precision}: {check} failed")
        difference = entry.get("float16_vs_float32", {})
        if "error" in difference or difference.get("finite") is False:
            found.append(f"{name}: float16 vs float32: {difference.get('error', 'float16 outputs not finite')}")
    return found


def render_markdown(report: dict) -> str:
    lines = [f"# GPU check on Keras {report['keras']} / {report['backend']} ({report['device']})", "",
             f"batch {report['batch']}, {report['steps']} XLA steps per run; img/s exclude the first chunk (compilation).", "",
             "| model | px | run | first loss | last loss | falls | img/s | first chunk (s) | peak MiB | loss scale | fp16-fp32 max (rel.) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, entry in report["models"].items():
        diff = entry.get("float16_vs_float32", {})
        for precision, run in entry.get("runs", {}).items():
            if "error" in run:
                lines.append(f"| {name} | {entry['image_size']} | {precision} | {run['error']} |||||||")
                continue
            fmt = lambda v, d=1: "–" if v is None else f"{v:.{d}f}"  # noqa: E731
            rel = f"{diff['max_abs']:.3g} ({diff['relative']:.2%})" if precision == "mixed_float16" and diff else ""
            lines.append(f"| {name} | {entry['image_size']} | {precision} | {run['chunk_losses'][0]:.4g} | {run['chunk_losses'][-1]:.4g} | "
                         f"{'yes' if run['loss_fell'] else 'NO'} | {fmt(run['images_per_s'])} | {fmt(run['first_chunk_s'])} | "
                         f"{fmt(run['peak_memory_mib'], 0)} | {fmt(run.get('loss_scale'), 0)} | {rel} |")
    lines += ["", f"Total {report.get('total_s', 0):.0f} s. Failures: {report.get('failures', [])}", ""]
    return "\n".join(lines)


def run(args, names_default) -> int:
    """`gpu_check.py --backend jax|torch`: the check above; `args` are gpu_check's parsed arguments."""
    import sys

    import keras

    from colorization_tf import models
    from colorization_tf.fileio import atomic_write_text
    from colorization_tf.models.batches import training_batch

    start = time.perf_counter()
    device = gpu_name()
    if device is None and not args.dry_run:
        print(f"gpu_check: no GPU visible to {_backend()}; use --dry-run for a CPU smoke run.", file=sys.stderr)
        return 2
    settings = dict(DRY_RUN if args.dry_run else GPU_DEFAULTS)
    for key in ("image_size", "batch", "steps", "chunks", "distinct_batches", "budget_s"):
        if getattr(args, key, None) is not None:
            settings[key] = getattr(args, key)
    names = [n.strip() for n in args.models.split(",") if n.strip()] if args.models else list(DRY_RUN_MODELS if args.dry_run else names_default)
    unknown = [n for n in names if n not in models.MODELS]
    if unknown:
        print(f"gpu_check: unknown model(s) {unknown}; choose from {sorted(models.MODELS)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"gpu_check_{_backend()}"
    report = {"backend": _backend(), "keras": keras.__version__, "device": device or "CPU (dry run)", "dry_run": bool(args.dry_run),
              "batch": settings["batch"], "steps": settings["steps"], "models": {}}
    print(f"gpu_check ({_backend()}) on {report['device']}: {len(names)} model(s), batch {settings['batch']}, {settings['steps']} steps per run",
          flush=True)
    for name in names:
        if time.perf_counter() - start > settings["budget_s"]:
            report["models"][name] = {"image_size": None, "error": "skipped: time budget spent"}
            continue
        spec = models.get_spec(name)
        size = settings["image_size"] or spec.image_size
        entry = report["models"][name] = {"image_size": size, "runs": {}}
        batches = [training_batch(spec, settings["batch"], size, seed=i, num_classes=NUM_CLASSES) for i in range(settings["distinct_batches"])]
        for precision in RUNS:
            try:
                model, entry["runs"][precision] = train_run(spec, batches, precision=precision, image_size=size, batch=settings["batch"],
                                                            steps=settings["steps"], chunks=settings["chunks"])
                del model
            except Exception as err:  # one failure must not hide the other figures
                entry["runs"][precision] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}"}
            print(f"  {name:24s} {precision:14s} {entry['runs'][precision]}", flush=True)
        try:
            entry["float16_vs_float32"] = float16_difference(spec, batches[0][0], size)
        except Exception as err:
            entry["float16_vs_float32"] = {"error": f"{type(err).__name__}: {err}"[:300]}
        print(f"  {name:24s} float16 vs float32 {entry['float16_vs_float32']}", flush=True)
        report["total_s"] = time.perf_counter() - start
        report["failures"] = failures(report)
        atomic_write_text(out / f"{stem}.json", json.dumps(report, indent=1))
        atomic_write_text(out / f"{stem}.md", render_markdown(report))
    keras.mixed_precision.set_global_policy("float32")
    for problem in report.get("failures", []):
        print(f"gpu_check: FAILED {problem}", flush=True)
    print(f"gpu_check: {time.perf_counter() - start:.0f} s; figures in {out / (stem + '.md')}", flush=True)
    return 1 if report.get("failures") else 0
