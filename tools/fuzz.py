#!/usr/bin/env python
"""Fuzzes every function that reads untrusted bytes; prints inputs run, crashes, hangs, peak memory.

    python tools/fuzz.py                      # 10,000 inputs, seed 0 (4-10 minutes on 2 cores)
    python tools/fuzz.py -n 500 --seed 3      # a quick run
    python tools/fuzz.py --replay FILE        # one file through every target, in this process

Inputs are the seed corpus of `tools/fuzz_corpus.py` (every format `colorize` claims and their
awkward variants, made in code), then random mutations of it. Each file input goes through:

    header   `decode.image_header_shape`              may raise tf InvalidArgumentError only
    decode   `decode.decode_image_bounded`            InvalidArgumentError only; uint8 [H, W, 3] within max_pixels
    load     `files.load_image_rgb`                   `files.ImageError` only, one line naming the file
    scan     `files.check_image`                      returns None or a one-line reason, never raises
    upload   `serve.codec.decode_image_bytes`          `RequestError` only: a 4xx, one line naming the upload
    predict  a `:predict` body with the bytes as b64  the same, through `codec.parse_json_body`,
             `parse_predict_body` and `decode_instance`
    tf.data  `pipeline.build_image_dataset`, every `DATASET_BATCH` files at once: never raises (broken
             files are dropped); a hang is a batch over `DATASET_HANG_SECONDS`

and one input in `SERVING_EVERY` is instead a tensor of an odd shape and dtype (empty, one pixel,
0/2/5 channels, rank 3 or 5, float/int/bool) fed to an exported SavedModel's `serving_default`
signature (fixed-size and native-resolution exports of a tiny model): a valid uint8 batch must come
back as uint8 [N, H, W, 3]; anything else may only raise TensorFlow's argument errors.

What counts:
    crash  a target raising anything else, breaking its contract, or killing the process (segfault,
           abort, out of memory): the worker process dies, the input is saved to `--crashes`, a new
           worker carries on;
    hang   one input taking more than `HANG_SECONDS` in one target; a worker silent for
           `KILL_SECONDS` is killed and the input saved.
Peak memory is the largest resident set of the worker processes (the targets all run there).
The test suite runs the same targets on a few hundred inputs (`tests/test_fuzz.py`).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing.connection
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # fuzz_corpus, next to this file
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package, from a checkout

import fuzz_corpus  # noqa: E402

DEFAULT_INPUTS = 10_000
HANG_SECONDS = 2.0
KILL_SECONDS = 60.0
DATASET_BATCH = 50
DATASET_HANG_SECONDS = 10.0
"""A tf.data batch (50 files decoded, resized, converted) counts as a hang past this many seconds
(each of its files' decodes is timed on its own, against `HANG_SECONDS`, by the decode target)."""
SERVING_EVERY = 10
DECODE_MIN_SHAPE = (32, 32)
FILE_TARGETS = ("header", "decode", "load", "scan", "upload", "predict")
"""The pipeline's header parser and bounded decoder, `files.load_image_rgb` (colorize, the scan's
decode), `files.check_image` (the scan), and the service's upload and `:predict` b64 decoding."""
UPLOAD_NAME = "fuzz.upload"
"""The file name the service targets are told (their refusals must name it)."""
SERVING_DTYPES = ("uint8", "uint8", "uint8", "uint8", "uint8", "float32", "int32", "uint16", "float16", "bool", "int8")
SERVING_SIDES = (0, 1, 2, 3, 7, 16, 31, 64, 129)


def _tf():
    from colorization_tf.console import quiet_tensorflow

    quiet_tensorflow()
    import tensorflow as tf

    return tf


def check_file(data: bytes, path: Path) -> dict[str, tuple[str, float, str]]:
    """Runs one file's bytes through every file target.

    Args:
        data: the bytes (also written to `path`, which the file-reading targets open).
        path: where to write them.

    Returns:
        target -> (outcome, seconds, detail): outcome "ok" (accepted), "refused" (a documented
        error), or "crash" (anything else: the detail says what).
    """
    tf = _tf()
    from colorization_tf.data import decode as bounded, files
    from colorization_tf.serve import codec
    from colorization_tf.serve.codec import RequestError

    path.write_bytes(data)
    results = {}

    def run(name, call):
        start = time.perf_counter()
        try:
            detail = call()
            outcome = "crash" if detail else "ok"
        except tf.errors.InvalidArgumentError as err:
            outcome, detail = ("refused", "") if name in ("header", "decode") else ("crash", repr(err)[:300])
        except RequestError as err:  # the service's refusal: a 4xx naming the upload, on one line
            good = 400 <= err.status < 500 and "\n" not in err.message and err.message.startswith(UPLOAD_NAME)
            outcome, detail = ("refused", "") if name in ("upload", "predict") and good else ("crash", f"bad RequestError {err!r}")
        except files.ImageError as err:
            one_line = "\n" not in str(err) and str(path) in str(err) and err.reason
            outcome, detail = ("refused", "") if name == "load" and one_line else ("crash", f"bad ImageError {err!r}")
        except Exception as err:  # noqa: BLE001 -- any other exception is what the fuzzer looks for
            outcome, detail = "crash", f"{type(err).__name__}: {err}"[:300]
        results[name] = (outcome, time.perf_counter() - start, detail or "")

    def header():
        shape = bounded.image_header_shape(tf.constant(data)).numpy()
        return "" if shape.shape == (2,) else f"header shape {shape}"

    def decode():
        image = bounded.decode_image_bounded(tf.constant(data), min_shape=DECODE_MIN_SHAPE)
        height, width, channels = image.shape
        if image.dtype != tf.uint8 or channels != 3 or height * width > files.MAX_PIXELS:
            return f"decoded {image.dtype.name} {image.shape}"
        return ""

    def load():
        rgb = files.load_image_rgb(path)
        return "" if rgb.dtype.name == "uint8" and rgb.ndim == 3 and rgb.shape[2] == 3 else f"loaded {rgb.dtype} {rgb.shape}"

    def scan():
        reason = files.check_image(path)
        return "" if reason is None or (reason and "\n" not in reason) else f"reason {reason!r}"

    def upload():  # the service's `:colorize` upload
        rgb = codec.decode_image_bytes(data, files.MAX_PIXELS, UPLOAD_NAME)
        return "" if rgb.dtype.name == "uint8" and rgb.ndim == 3 and rgb.shape[2] == 3 else f"uploaded {rgb.dtype} {rgb.shape}"

    def predict():  # the service's `:predict` JSON: the bytes as one b64 instance
        raw = json.dumps({"instances": [{"b64": base64.b64encode(data).decode()}]}).encode()
        _, items = codec.parse_predict_body(codec.parse_json_body(raw), "images", max_instances=1)
        image, as_b64 = codec.decode_instance(items[0], "images", files.MAX_PIXELS, UPLOAD_NAME)
        return "" if as_b64 and image.dtype.name == "uint8" and image.ndim == 3 else f"predict {image.dtype} {image.shape}"

    for name, call in zip(FILE_TARGETS, (header, decode, load, scan, upload, predict)):
        run(name, call)
    return results


def check_dataset(paths: list[Path]) -> tuple[str, float, str]:
    """The tf.data decode map over a batch of fuzzed files: it drops broken files and never raises."""
    from colorization_tf.data import pipeline

    start = time.perf_counter()
    try:
        count = sum(1 for _ in pipeline.build_image_dataset([str(p) for p in paths], 32, num_parallel_calls=2))
        outcome, detail = ("ok", "") if count <= len(paths) else ("crash", f"{count} images from {len(paths)} files")
    except Exception as err:  # noqa: BLE001
        outcome, detail = "crash", f"{type(err).__name__}: {err}"[:300]
    return outcome, time.perf_counter() - start, detail


def serving_spec(rng: random.Random) -> tuple[list[int], str, int]:
    """A random (shape, dtype name, fill seed): mostly rank 4, sides and channels at the edges."""
    rank = rng.choice((4, 4, 4, 4, 4, 4, 3, 5, 2))
    shape = [rng.choice((0, 1, 1, 2, 3))] + [rng.choice(SERVING_SIDES) for _ in range(max(0, rank - 2))]
    shape.append(rng.choice((1, 3, 3, 4, 0, 2, 5)))
    return shape[:rank], rng.choice(SERVING_DTYPES), rng.randrange(2**31)


def make_exports(folder: Path) -> list[Path]:
    """A tiny colorizer exported twice: fixed 16 px, and at each image's resolution (multiple of 4)."""
    import keras

    from colorization_tf import export
    from colorization_tf.models import ModelSpec

    paths = [folder / "fixed", folder / "native"]
    if all((p / "saved_model.pb").is_file() for p in paths):
        return paths
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((None, None, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                              keras.layers.Conv2D(2, 3, padding="same", activation="tanh")])
    spec = ModelSpec("fuzz", None, normalization="zhang", image_size=16, size_multiple=4)
    export.export_saved_model(model, paths[0], spec, name="fuzz_fixed", save_keras=False)
    export.export_saved_model(model, paths[1], spec, native_resolution=True, name="fuzz_native", save_keras=False)
    return paths


def check_serving(signature, spec) -> tuple[str, float, str]:
    """Feeds one odd tensor to a `serving_default` signature."""
    import numpy as np

    tf = _tf()
    shape, dtype, fill = spec
    values = np.random.default_rng(fill).integers(0, 256, size=shape).astype(dtype)
    start = time.perf_counter()
    try:
        out = signature(images=tf.constant(values))["rgb"]
        valid = dtype == "uint8" and len(shape) == 4 and shape[3] in (1, 2, 3, 4)
        expected = (*shape[:3], 3)
        wrong = out.dtype != tf.uint8 or (valid and tuple(out.shape) != expected)
        outcome, detail = ("crash", f"{shape} {dtype} -> {out.dtype.name} {out.shape}") if wrong else ("ok", "")
    except (tf.errors.InvalidArgumentError, TypeError, ValueError):
        outcome, detail = "refused", ""
    except Exception as err:  # noqa: BLE001
        outcome, detail = "crash", f"{shape} {dtype}: {type(err).__name__}: {err}"[:300]
    return outcome, time.perf_counter() - start, detail


def _worker(folder: str) -> None:
    """Runs targets for the parent: receives ("file", index, data) / ("serving", index, spec) / ("stop",)
    on stdin, answers on stdout (anything else printed goes to stderr)."""
    conn = _Pipe(os.dup(0), os.dup(1))
    os.dup2(2, 1)
    tf = _tf()
    work = Path(folder)
    signatures = [tf.saved_model.load(str(p)).signatures["serving_default"] for p in make_exports(work / "exports")]
    warmup = work / "warmup.jpg"  # first calls trace and compile: not timed as inputs
    check_file(fuzz_corpus.seed_corpus()["jpeg_rgb.jpg"], warmup)
    check_dataset([warmup])
    for signature in signatures:
        check_serving(signature, ([1, 20, 24, 3], "uint8", 0))
    conn.send(("ready",))
    batch: list[Path] = []
    while True:
        message = conn.recv()
        if message[0] == "stop":
            conn.send(("rss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
            return
        kind, index, payload = message
        if kind == "serving":
            results = {"serving": check_serving(signatures[index % len(signatures)], payload)}
        else:
            path = work / f"input_{index % DATASET_BATCH}"
            results = check_file(payload, path)
            batch.append(path)
            if len(batch) == DATASET_BATCH:
                results["tf.data"] = check_dataset(batch)
                batch = []
        conn.send(("done", results))


class _Worker:
    """A worker process: this script with `--worker`, talking over its stdin and stdout."""

    def __init__(self, folder: str):
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", folder],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.conn = _Pipe(os.dup(self.process.stdout.fileno()), os.dup(self.process.stdin.fileno()))
        self.process.stdin.close()
        self.process.stdout.close()
        if not self.conn.poll(10 * KILL_SECONDS) or self.conn.recv() != ("ready",):
            raise RuntimeError("fuzz worker did not start")

    def ask(self, message, timeout: float):
        """The worker's reply, or "dead" (it died) / "silent" (no answer within timeout: killed)."""
        try:
            self.conn.send(message)
            if self.conn.poll(timeout):
                return self.conn.recv()
        except (EOFError, OSError):
            return ("dead",)
        if self.process.poll() is not None:
            return ("dead",)
        self.process.kill()
        return ("silent",)

    def stop(self) -> int:
        reply = self.ask(("stop",), KILL_SECONDS)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.conn.close()
        return reply[1] if reply[0] == "rss" else 0


class _Pipe:
    """Pickled messages over a pair of file descriptors (multiprocessing's framing)."""

    def __init__(self, read_fd: int, write_fd: int):
        self._in = multiprocessing.connection.Connection(read_fd, writable=False)
        self._out = multiprocessing.connection.Connection(write_fd, readable=False)
        self.send, self.recv, self.poll = self._out.send, self._in.recv, self._in.poll

    def close(self) -> None:
        self._in.close()
        self._out.close()


def run_fuzz(count: int = DEFAULT_INPUTS, seed: int = 0, crashes_dir: Path | None = None, progress: bool = True) -> dict:
    """Runs `count` inputs through the targets in worker processes; returns the figures."""
    rng = random.Random(seed + 1)
    stats = {"inputs": 0, "target_runs": 0, "crashes": [], "hangs": [], "peak_rss": 0, "outcomes": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fuzz") as folder:
        worker = _Worker(folder)
        for index, (name, data) in enumerate(fuzz_corpus.fuzz_inputs(count, seed), start=1):
            serving = index % SERVING_EVERY == 0
            message = ("serving", index, serving_spec(rng)) if serving else ("file", index, data)
            name = f"serving {message[2][:2]}" if serving else name
            reply = worker.ask(message, KILL_SECONDS + (60 if index % DATASET_BATCH == 0 else 0))
            stats["inputs"] += 1
            if reply[0] != "done":
                problem = "killed after no answer for %.0f s" % KILL_SECONDS if reply[0] == "silent" else "worker died"
                stats["crashes" if reply[0] == "dead" else "hangs"].append((name, "process", problem))
                if crashes_dir is not None and not serving:
                    crashes_dir.mkdir(parents=True, exist_ok=True)
                    (crashes_dir / f"{index:05d}_{name.replace('/', '_')}").write_bytes(data)
                stats["peak_rss"] = max(stats["peak_rss"], worker.stop())
                worker = _Worker(folder)
                continue
            for target, (outcome, seconds, detail) in reply[1].items():
                stats["target_runs"] += 1
                counts = stats["outcomes"].setdefault(target, {})
                counts[outcome] = counts.get(outcome, 0) + 1
                if outcome == "crash":
                    stats["crashes"].append((name, target, detail))
                    if crashes_dir is not None and not serving:
                        crashes_dir.mkdir(parents=True, exist_ok=True)
                        (crashes_dir / f"{index:05d}_{target}_{name.replace('/', '_')}").write_bytes(data)
                if seconds > (DATASET_HANG_SECONDS if target == "tf.data" else HANG_SECONDS):
                    stats["hangs"].append((name, target, f"{seconds:.1f} s"))
            if progress and index % 500 == 0:
                print(f"  {index} inputs, {len(stats['crashes'])} crashes, {len(stats['hangs'])} hangs, "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
        stats["peak_rss"] = max(stats["peak_rss"], worker.stop())
    stats["seconds"] = time.perf_counter() - start
    return stats


def report(stats: dict) -> str:
    """The figures as printed lines."""
    lines = [
        f"inputs run:   {stats['inputs']} ({stats['target_runs']} target runs)",
        f"crashes:      {len(stats['crashes'])}",
        f"hangs (> {HANG_SECONDS:g} s): {len(stats['hangs'])}",
        f"peak memory:  {stats['peak_rss'] / 2**20:.0f} MiB (worker resident set)",
        f"time:         {stats['seconds']:.0f} s",
    ]
    for target, counts in sorted(stats["outcomes"].items()):
        lines.append(f"  {target:<8} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for name, target, detail in stats["crashes"] + stats["hangs"]:
        lines.append(f"  ! {name} [{target}]: {detail}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--inputs", type=int, default=DEFAULT_INPUTS, help="inputs to run (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="mutation seed (default %(default)s)")
    parser.add_argument("--crashes", type=Path, default=Path("fuzz_crashes"), help="where crashing inputs are saved")
    parser.add_argument("--replay", type=Path, help="run this one file through every file target and print the outcomes")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: the worker process, with its folder
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker)
        return 0
    if args.replay:
        with tempfile.TemporaryDirectory(prefix="fuzz") as folder:
            for target, result in check_file(args.replay.read_bytes(), Path(folder) / "input").items():
                print(target, *result)
        return 0
    stats = run_fuzz(args.inputs, args.seed, args.crashes)
    print(report(stats))
    return 1 if stats["crashes"] or stats["hangs"] else 0


if __name__ == "__main__":
    sys.exit(main())
