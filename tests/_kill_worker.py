"""Subprocess worker for the kill and disk-full tests: writes one kind of output over and over.

Usage:
    python tests/_kill_worker.py MODE FOLDER [ARG]

MODE is what it writes into FOLDER until it is killed: `checkpoint` (a training run that saves
every epoch), `export` (SavedModel exports of the tiny colorizer), `results` (the experiment's
results.json and results.md), `prepare` (datasets/prepare.py on the images in ARG, once), or
`colorize` (the `colorize` command on the images in ARG with the export in ARG/../export, in a
loop). It prints "ready" once its imports are done, just before the first write.

`python tests/_kill_worker.py full FOLDER CASE...` instead runs `failed_write_checks(FOLDER/CASE, CASE)`
for each CASE ("full", "readonly"; each FOLDER/CASE a small tmpfs) and prints the findings as JSON.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

RESULTS_ROWS = 2000
"""Rows of the fake results table: big enough (~100 KB) that a kill often lands inside a write."""


def load_prepare():
    """datasets/prepare.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("prepare_datasets", REPO / "datasets" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def results_table(i: int) -> tuple[dict, str]:
    """Version `i` of a results table: JSON and markdown (which ends with an "end" line)."""
    rows = [{"run": f"run{r}", "psnr": i + r / RESULTS_ROWS} for r in range(RESULTS_ROWS)]
    text = "| run | psnr |\n| --- | --- |\n" + "".join(f"| {r['run']} | {r['psnr']} |\n" for r in rows) + f"end {i}\n"
    return {"version": i, "rows": rows}, text


def _train_forever(folder: Path) -> None:
    import tensorflow as tf

    from colorization_tf import training
    from tests._tiny_models import build_tiny_colorizer, tiny_data

    data = tf.data.Dataset.from_tensor_slices(tiny_data(n=8, size=16)).batch(4)
    print("ready", flush=True)
    training.train(lambda: build_tiny_colorizer(16), data, None, tiny_training_config(100_000), folder)


def tiny_training_config(epochs: int):
    """The training configuration of the checkpoint worker (and of the run that continues it)."""
    from colorization_tf import training

    return training.TrainConfig(epochs=epochs, learning_rate=1e-2, loss="mse", seed=3, checkpoint_every=1,
                                keep_checkpoints=3, sample_every=0, tensorboard=False, loss_curves=False,
                                verbose=0, precision="float32", strategy="default")


def _export_forever(folder: Path) -> None:
    import keras

    from colorization_tf import export
    from tests._tiny_models import TINY_SPEC, build_tiny_colorizer

    model = build_tiny_colorizer(16)
    print("ready", flush=True)
    for i in range(1_000_000):
        model.get_layer("conv2").bias.assign([i * 1e-3, -i * 1e-3])
        export.export_saved_model(model, folder / "export", TINY_SPEC,
                                  name=f"tiny{i}", extra_info={"version": i})
        keras.backend.clear_session(free_memory=False)


def _results_forever(folder: Path) -> None:
    from colorization_tf import evaluation

    print("ready", flush=True)
    for i in range(1_000_000):
        table, text = results_table(i)
        evaluation.write_json(folder / "results.json", table)
        evaluation.write_text(folder / "results.md", text)


def _colorize_forever(folder: Path, images: Path) -> None:
    from colorization_tf import cli

    print("ready", flush=True)
    while True:
        cli.main([str(images), "-m", str(images.parent / "export"), "-o", str(folder), "--quiet"])


def main(argv: list[str]) -> None:
    mode, folder = argv[0], Path(argv[1])
    if mode == "full":  # FOLDER/full and FOLDER/readonly are two small tmpfs mounts
        findings = {case: failed_write_checks(folder / case, case, folder / f"{case}-images") for case in argv[2:]}
        print(json.dumps(findings), flush=True)
    elif mode == "checkpoint":
        _train_forever(folder)
    elif mode == "export":
        _export_forever(folder)
    elif mode == "results":
        _results_forever(folder)
    elif mode == "prepare":
        prepare = load_prepare()
        print("ready", flush=True)
        prepare.prepare("folder", argv[2], folder, progress=False, workers=1)
        print("done", flush=True)
    elif mode == "colorize":
        _colorize_forever(folder, Path(argv[2]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")


def _visible(folder: Path) -> list[str]:
    """Every path under `folder`, relative, sorted (hidden temporaries included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _fill(folder: Path) -> None:
    """Writes a filler file until the file system is full."""
    with contextlib.suppress(OSError), open(folder / "filler", "wb", buffering=0) as f:
        while True:
            f.write(b"\0" * 4096)


def failed_write_checks(folder, mode: str, images=None) -> dict:
    """Writes each output once, makes `folder` full ("full"), read-only ("readonly") or injects
    ENOSPC at each commit ("inject"), then writes each again; returns what happened.

    Returns:
        {writer: {"error": the error or message, "before": files before, "after": files after,
        "previous_ok": the earlier output still reads}}.
    """
    import errno

    import numpy as np
    from PIL import Image

    from colorization_tf import cli, evaluation, export, fileio, training
    from tests._tiny_models import TINY_SPEC, build_tiny_colorizer, tiny_rgb

    folder = Path(folder)
    images = Path(images) if images else folder.parent / f"{folder.name}-images"
    images.mkdir(parents=True, exist_ok=True)
    for i, rgb in enumerate(tiny_rgb(n=3, size=32)):
        Image.fromarray(rgb).save(images / f"{i}.png")
    model = build_tiny_colorizer(16)
    model.compile("adam", "mse")
    writers = {
        "checkpoint": lambda: training.save_checkpoint(folder / "ckpt", model, 1, {}),
        "export": lambda: export.export_saved_model(model, folder / "export", TINY_SPEC, save_keras=False),
        "results": lambda: evaluation.write_json(folder / "results" / "results.json", results_table(0)[0]),
        "prepare": lambda: load_prepare().main(["folder", "--src", str(images), "--out", str(folder / "prepared")]),
        "colorize": lambda: cli.main([str(images), "-m", str(folder / "export"), "-o", str(folder / "colorized"),
                                      "--quiet"]),
    }
    readers = {
        "checkpoint": lambda: training.load_checkpoint(training.list_checkpoints(folder / "ckpt")[-1][1])["epoch"] == 1,
        "export": lambda: export.Colorizer(folder / "export")(np.zeros((1, 8, 8, 3), np.uint8)).shape == (1, 8, 8, 3),
        "results": lambda: json.loads((folder / "results" / "results.json").read_text())["version"] == 0,
        "prepare": lambda: json.loads((folder / "prepared" / "prepare.json").read_text())["images"] == 3,
        "colorize": lambda: all(Image.open(folder / "colorized" / f"{i}_color.png").size == (32, 32) for i in range(3)),
    }
    findings = {}
    for name, write in writers.items():
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            write()
        findings[name] = {"before": _visible(folder / _output_folder(name))}
    if mode == "full":
        _fill(folder)
    elif mode == "readonly":
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
    real_replace = os.replace

    def failing_replace(src, dst):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))

    import tensorflow as tf

    def failing_checkpoint(*args, **kwargs):  # TensorFlow writes checkpoints in C++, past os.replace
        raise tf.errors.ResourceExhaustedError(None, None, f"{folder}/ckpt/checkpoints: {os.strerror(errno.ENOSPC)}")

    real_exchange, real_checkpoint = fileio._exchange, tf.train.CheckpointManager.save
    for name, write in writers.items():
        stderr = io.StringIO()
        if mode == "inject":  # every commit (file rename, folder swap, checkpoint) fails as on a full disk
            os.replace = failing_replace
            fileio._exchange = failing_replace
            tf.train.CheckpointManager.save = failing_checkpoint
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
                status = write()
            error = f"returned {status}: {stderr.getvalue().strip()}"
        except OSError as err:
            error = f"{type(err).__name__}: {err}"
        finally:
            os.replace, fileio._exchange, tf.train.CheckpointManager.save = real_replace, real_exchange, real_checkpoint
        try:
            previous_ok = bool(readers[name]())
        except Exception as err:  # noqa: BLE001 -- reported to the test
            previous_ok = f"{type(err).__name__}: {err}"
        findings[name].update(error=error, after=_visible(folder / _output_folder(name)), previous_ok=previous_ok)
    fileio.remove_stale_temps(folder)  # nothing for it to do: the failed writers cleaned up themselves
    return findings


def _output_folder(writer: str) -> str:
    return {"checkpoint": "ckpt", "export": "export", "results": "results", "prepare": "prepared",
            "colorize": "colorized"}[writer]


if __name__ == "__main__":
    main(sys.argv[1:])
