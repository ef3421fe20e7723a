"""GPU check: every registered model trained at its paper resolution under mixed_float16 + XLA.

    python benchmarks/gpu_check.py --out results/gpu_check        # on a GPU machine: ~10 minutes
    python benchmarks/gpu_check.py --dry-run --out /tmp/gpu_check  # on CPU: tiny sizes, seconds

For each model of `colorization_tf.models.MODELS` (or `--models a,b`):

1. **mixed_float16 + XLA** (what `training.select_hardware` picks on a GPU): `--steps` training
   steps on batches of the embedded synthetic scenes (`sources.synthetic.default_dataset`, resized to
   the model's paper resolution by the project's pipeline, a few distinct batches cached and
   repeated, so that the check measures the model, not the input pipeline); the loss is logged as
   the mean of each of `--chunks` equal chunks of steps and must fall (last chunk below the first);
2. export to a SavedModel (`export.export_saved_model`), reload it with plain
   `tf.saved_model.load` and colorize an odd-sized uint8 image;
3. the same model trained `--compare-steps` steps under **float32 + XLA** and under
   **mixed_float16 without XLA**.

For every run it prints images/s (steps after the first chunk, which holds tracing and XLA
compilation), compile + first-chunk seconds and the peak GPU memory in use
(`tf.config.experimental.get_memory_info`, reset before each run). Figures are printed as they
come and rewritten to `OUT/gpu_check.json` and `OUT/gpu_check.md` after every run, so a run cut
short by a timeout still leaves what it measured. `--budget-s` bounds the whole check: each model
gets an equal share of what is left; a main run stops early (after at least two chunks) when its
share is spent, and the comparisons are skipped (and marked so) when nothing is left.

Without a GPU the script refuses to run (exit code 2) unless `--dry-run` is given: 32 px, batch 2,
a few steps of a few small models, the same code path, for the tests.

`--backend jax` (or `torch`) runs the TensorFlow-free check of `gpu_check_backend.py` instead
(mixed_float16 and float32 training steps under XLA, no tf.data, no export), for GPU machines
without TensorFlow; see benchmarks/README.md for the wheels it needs there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

JSON_FILE = "gpu_check.json"
MARKDOWN_FILE = "gpu_check.md"
MAIN = ("mixed_float16", True)
COMPARISONS = (("float32", True), ("mixed_float16", False))
DRY_RUN_MODELS = ("polychromify_v0",)
"""The smallest model (about 20 s on two busy cores); `--dry-run --models a,b` runs others the same way."""
DRY_RUN = dict(image_size=32, batch=2, steps=6, compare_steps=4, chunks=3, distinct_batches=2, budget_s=600.0)
GPU_DEFAULTS = dict(batch=32, steps=240, compare_steps=60, chunks=6, distinct_batches=8, budget_s=480.0)
GPU_SCENES_PER_CLASS = 40
"""Embedded scenes generated per class for the GPU run (280 images: more than 8 batches of 32)."""
FAMILY_FIRST = ("polychromify", "iizuka_lee128", "resnet_unet", "eccv16_regression", "alexnet_classification",
                "cs520_cnn", "compact_unet", "eccv16_classification", "alexnet_regression", "iizuka_224")
"""Default order: one model of each family first, so that a budget spent early still covers every family."""
ODD_SHAPE = (1, 37, 53, 3)
LEARNING_RATE = 1e-3
BACKENDS = ("tensorflow", "jax", "torch")


def _tf():
    import tensorflow as tf

    return tf


def gpu_memory_device() -> str | None:
    """"GPU:0" when a GPU is visible, else None (peak memory is then not measured)."""
    tf = _tf()
    return "GPU:0" if tf.config.list_logical_devices("GPU") else None


def reset_peak_memory(device: str | None) -> None:
    if device is not None:
        _tf().config.experimental.reset_memory_stats(device)


def peak_memory_mib(device: str | None) -> float | None:
    """Peak bytes in use on `device` since the last reset, in MiB (None without a device)."""
    if device is None:
        return None
    return _tf().config.experimental.get_memory_info(device)["peak"] / 2**20


def model_data(spec, collection, image_size: int, batch: int, distinct_batches: int):
    """`distinct_batches` training batches of the embedded scenes at `image_size`, cached and repeated."""
    from colorization_tf.data import pipeline

    labels = collection.labels if spec.needs_labels else None
    dataset = pipeline.build_dataset(
        collection.paths, image_size=image_size, batch_size=batch, normalization=spec.normalization,
        labels=labels, training=True, cache="memory", seed=0,
    )
    return dataset.take(distinct_batches).cache().repeat().prefetch(2)


class ChunkTimer:
    """Keras callback: wall time at every epoch end (one epoch = one chunk of steps); stops at a deadline."""

    def __init__(self, deadline: float, min_chunks: int = 2):
        import keras

        class _Callback(keras.callbacks.Callback):
            def on_train_begin(cb, logs=None):
                self.times = [time.perf_counter()]

            def on_epoch_end(cb, epoch, logs=None):
                self.times.append(time.perf_counter())
                if epoch + 1 >= min_chunks and time.perf_counter() > deadline:
                    self.stopped_early = True
                    cb.model.stop_training = True

        self.callback = _Callback()
        self.times: list[float] = []
        self.stopped_early = False


def train_run(spec, data, *, image_size: int, batch: int, precision: str, xla: bool, steps: int, chunks: int,
              deadline: float, n_classes: int, memory_device: str | None):
    """Builds `spec` under (precision, XLA), trains `steps` steps in `chunks` chunks; returns (model, figures)."""
    import keras

    from colorization_tf import training

    keras.backend.clear_session()
    hardware = training.select_hardware(precision, jit_compile=xla, strategy="default")
    keras.utils.set_random_seed(0)
    overrides = {"image_size": image_size}
    if spec.needs_labels:
        overrides["num_classes"] = n_classes
    model = spec.build(**overrides)
    loss, loss_weights = spec.default_losses()  # MSE, soft-encoded CE, or Iizuka's ab + scene losses
    config = training.TrainConfig(learning_rate=LEARNING_RATE, loss=loss, loss_weights=loss_weights, precision=precision)
    training.compile_model(model, config, jit_compile=hardware.jit_compile)
    per_chunk = max(steps // chunks, 1)
    timer = ChunkTimer(deadline)
    reset_peak_memory(memory_device)
    history = model.fit(data, epochs=chunks, steps_per_epoch=per_chunk, verbose=0, shuffle=False,
                        callbacks=[timer.callback]).history
    chunk_losses = [float(v) for v in history["loss"]]
    done = len(chunk_losses)
    timed_seconds = timer.times[-1] - timer.times[1] if done > 1 else None
    figures = {
        "precision": precision,
        "xla": xla,
        "params": int(model.count_params()),
        "steps": done * per_chunk,
        "chunk_losses": chunk_losses,
        "loss_fell": bool(done > 1 and chunk_losses[-1] < chunk_losses[0]),
        "first_chunk_s": timer.times[1] - timer.times[0],
        "images_per_s": (done - 1) * per_chunk * batch / timed_seconds if timed_seconds else None,
        "peak_memory_mib": peak_memory_mib(memory_device),
        "stopped_early": timer.stopped_early,
    }
    return model, figures


def export_and_reload(model, spec, image_size: int) -> dict:
    """Exports `model` to a temporary SavedModel, reloads it with plain TF and colorizes an odd-sized image."""
    import numpy as np
    import shutil

    from colorization_tf import export

    tf = _tf()
    folder = Path(tempfile.mkdtemp(prefix="gpu_check_export_"))
    try:
        start = time.perf_counter()
        path = export.export_saved_model(model, folder / spec.name, spec.replace(image_size=image_size), name=spec.name,
                                         save_keras=False)
        exported = time.perf_counter()
        serve = tf.saved_model.load(str(path)).signatures[export.SERVING_ENDPOINT]
        image = np.random.default_rng(0).integers(0, 256, size=ODD_SHAPE, dtype=np.uint8)
        out = serve(images=tf.constant(image))[export.OUTPUT_KEY]
        ok = out.dtype == tf.uint8 and tuple(out.shape) == ODD_SHAPE
        return {"export_s": exported - start, "reload_and_serve_s": time.perf_counter() - exported, "served_ok": bool(ok)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def render_markdown(report: dict) -> str:
    """The figures as a Markdown table (one row per model and run)."""
    lines = [
        f"# GPU check ({report['device']})",
        "",
        f"TensorFlow {report['tensorflow']}, Keras {report['keras']}; batch {report['batch']}; "
        f"{report['steps']} steps mixed_float16 + XLA, {report['compare_steps']} steps for the comparisons; "
        f"images/s exclude the first chunk (tracing and compilation).",
        "",
        "| model | px | params | run | steps | first loss | last loss | falls | img/s | first chunk (s) | peak MiB | export + reload (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, entry in report["models"].items():
        if "skipped" in entry:
            lines.append(f"| {name} | | | | {entry['skipped']} |||||||||")
        for run_name, run in entry.get("runs", {}).items():
            if "error" in run or "skipped" in run:
                lines.append(f"| {name} | {entry.get('image_size')} | | {run_name} | {run.get('error') or run.get('skipped')} |||||||||")
                continue
            export_s = ""
            if run_name == "mixed_float16+xla" and "export" in entry:
                ex = entry["export"]
                export_s = ex.get("error") or f"{ex['export_s'] + ex['reload_and_serve_s']:.1f}" + ("" if ex["served_ok"] else " (bad output)")
            losses = run["chunk_losses"]
            lines.append(
                f"| {name} | {entry['image_size']} | {run['params']:,} | {run_name} | {run['steps']} | {losses[0]:.4g} | "
                f"{losses[-1]:.4g} | {_fmt(run['loss_fell'])} | {_fmt(run['images_per_s'])} | {_fmt(run['first_chunk_s'])} | "
                f"{_fmt(run['peak_memory_mib'], 0)} | {export_s} |"
            )
    lines += ["", f"Total {report.get('total_s', 0):.0f} s. Failures: {report.get('failures', [])}", ""]
    return "\n".join(lines)


def write_report(out: Path, report: dict) -> None:
    from colorization_tf.fileio import atomic_write_text

    atomic_write_text(out / JSON_FILE, json.dumps(report, indent=1))
    atomic_write_text(out / MARKDOWN_FILE, render_markdown(report))


def _run_name(precision: str, xla: bool) -> str:
    return f"{precision}+{'xla' if xla else 'noxla'}"


def _print_run(name: str, run_name: str, run: dict) -> None:
    if "error" in run or "skipped" in run:
        print(f"  {name:24s} {run_name:20s} {run.get('error') or run.get('skipped')}", flush=True)
        return
    print(
        f"  {name:24s} {run_name:20s} steps {run['steps']:4d}  loss {run['chunk_losses'][0]:.4g} -> {run['chunk_losses'][-1]:.4g}"
        f" ({'falls' if run['loss_fell'] else 'DOES NOT FALL'})  {_fmt(run['images_per_s'])} img/s  first chunk "
        f"{_fmt(run['first_chunk_s'])} s  peak {_fmt(run['peak_memory_mib'], 0)} MiB",
        flush=True,
    )


def check_model(name: str, settings: dict, collection, deadline: float, memory_device, report: dict, out: Path) -> None:
    """Main run, export + reload and the comparisons of one model; results go into `report` as they come."""
    from colorization_tf import models

    spec = models.get_spec(name)
    image_size = settings["image_size"] or spec.image_size
    entry = report["models"][name] = {"image_size": image_size, "normalization": spec.normalization, "head": spec.head.kind, "runs": {}}
    data = model_data(spec, collection, image_size, settings["batch"], settings["distinct_batches"])
    common = dict(image_size=image_size, batch=settings["batch"], n_classes=len(collection.class_names), memory_device=memory_device)
    plans = [(MAIN, settings["steps"])] + [(c, settings["compare_steps"]) for c in COMPARISONS]
    for (precision, xla), steps in plans:
        run_name = _run_name(precision, xla)
        if (precision, xla) != MAIN and time.perf_counter() > deadline:
            entry["runs"][run_name] = {"skipped": "time budget spent"}
        else:
            try:
                model, entry["runs"][run_name] = train_run(spec, data, precision=precision, xla=xla, steps=steps,
                                                           chunks=settings["chunks"], deadline=deadline, **common)
                if (precision, xla) == MAIN:
                    try:
                        entry["export"] = export_and_reload(model, spec, image_size)
                    except Exception as err:  # report and go on with the next run
                        entry["export"] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
                    print(f"  {name:24s} export + reload      {entry['export']}", flush=True)
                del model
            except Exception as err:  # one model failing must not hide the others' figures
                entry["runs"][run_name] = {"error": f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"}
        _print_run(name, run_name, entry["runs"][run_name])
        write_report(out, report)


def failures(report: dict) -> list[str]:
    """What went wrong: runs that failed, main runs whose loss did not fall, exports that did not serve."""
    found = []
    for name, entry in report["models"].items():
        if "skipped" in entry:
            found.append(f"{name}: skipped ({entry['skipped']})")
        for run_name, run in entry["runs"].items():
            if "error" in run:
                found.append(f"{name} {run_name}: {run['error']}")
            elif run_name == _run_name(*MAIN) and not run["loss_fell"]:
                found.append(f"{name}: loss did not fall")
        export_result = entry.get("export", {})
        if "error" in export_result or export_result.get("served_ok") is False:
            found.append(f"{name}: export/reload failed")
    return found


def default_order(registry) -> list[str]:
    """Every registered model, `FAMILY_FIRST` first, the rest (PolyChromify's variants) after them."""
    first = [n for n in FAMILY_FIRST if n in registry]
    return first + [n for n in registry if n not in first]


def build_parser() -> argparse.ArgumentParser:
    title, _, details = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=title, epilog=details, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="results/gpu_check", help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--models", default=None, help="comma-separated registry names (default: all; --dry-run: polychromify_v0)")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes and a few steps; runs on CPU (for the tests)")
    parser.add_argument("--image-size", type=int, default=None, help="override every model's paper resolution")
    for key in ("batch", "steps", "compare_steps", "chunks", "distinct_batches"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None)
    parser.add_argument("--budget-s", type=float, default=None, help="time budget of the whole check in seconds")
    parser.add_argument("--data", default=None, help="image folder (default: the embedded synthetic scenes)")
    parser.add_argument("--backend", default="tensorflow", choices=BACKENDS,
                        help="Keras backend; jax/torch: the TensorFlow-free check of gpu_check_backend.py")
    return parser


def _run_other_backend(args) -> int:
    """`--backend jax|torch`: sets KERAS_BACKEND before Keras is imported, then runs gpu_check_backend.py."""
    if "keras" in sys.modules and sys.modules["keras"].backend.backend() != args.backend:
        print(f"gpu_check: Keras is already imported with the {sys.modules['keras'].backend.backend()} backend; "
              f"run `python benchmarks/gpu_check.py --backend {args.backend}` as a fresh process.", file=sys.stderr)
        return 2
    os.environ["KERAS_BACKEND"] = args.backend
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import gpu_check_backend

    from colorization_tf import models

    families: dict[str, str] = {}  # one model per builder module, FAMILY_FIRST's first
    for name in default_order(models.MODELS):
        families.setdefault(models.MODELS[name].module, name)
    return gpu_check_backend.run(args, list(families.values()))


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.backend != "tensorflow":
        return _run_other_backend(args)
    start = time.perf_counter()
    tf = _tf()
    import keras

    from colorization_tf import models
    from colorization_tf.data import files
    from colorization_tf.sources import synthetic

    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    memory_device = gpu_memory_device()
    if memory_device is None and not args.dry_run:
        print("gpu_check: no GPU visible to TensorFlow; use --dry-run for a CPU smoke run.", file=sys.stderr)
        return 2
    settings = dict(DRY_RUN if args.dry_run else {**GPU_DEFAULTS, "image_size": None})
    for key in ("image_size", "batch", "steps", "compare_steps", "chunks", "distinct_batches", "budget_s"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
    else:
        names = list(DRY_RUN_MODELS) if args.dry_run else default_order(models.MODELS)
    unknown = [n for n in names if n not in models.MODELS]
    if unknown:
        print(f"gpu_check: unknown model(s) {unknown}; choose from {sorted(models.MODELS)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.data:
        root = Path(args.data)
    elif args.dry_run:
        root = synthetic.generate_dataset(out / "dry_run_scenes", n_per_class=1, size=40)
    else:
        root = synthetic.default_dataset(n_per_class=GPU_SCENES_PER_CLASS)
    collection = files.find_images(root)

    gpus = tf.config.list_logical_devices("GPU")
    device = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get("device_name", "GPU") if gpus else "CPU (dry run)"
    report = {
        "device": device, "tensorflow": tf.__version__, "keras": keras.__version__, "dry_run": args.dry_run,
        "batch": settings["batch"], "steps": settings["steps"], "compare_steps": settings["compare_steps"],
        "images": len(collection.paths), "models": {},
    }
    print(f"gpu_check on {device}: {len(names)} model(s), batch {settings['batch']}, {settings['steps']} steps "
          f"(+{settings['compare_steps']} per comparison), budget {settings['budget_s']:.0f} s", flush=True)
    for i, name in enumerate(names):
        remaining = settings["budget_s"] - (time.perf_counter() - start)
        if remaining <= 0:
            report["models"][name] = {"image_size": None, "runs": {}, "skipped": "time budget spent"}
            print(f"  {name:24s} skipped: time budget spent", flush=True)
            continue
        deadline = time.perf_counter() + remaining / (len(names) - i)
        check_model(name, settings, collection, deadline, memory_device, report, out)
        report["total_s"] = time.perf_counter() - start
        report["failures"] = failures(report)
        write_report(out, report)
    print(f"gpu_check: {time.perf_counter() - start:.0f} s; figures in {out / MARKDOWN_FILE}", flush=True)
    for problem in report["failures"]:
        print(f"gpu_check: FAILED {problem}", flush=True)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
