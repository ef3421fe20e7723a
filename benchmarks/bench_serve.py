"""The colorization service under load: N concurrent clients on loopback against `colorize-serve`.

    python benchmarks/bench_serve.py                                  # export a fresh 64-px model, run
    python benchmarks/bench_serve.py --model saved_models/demo_iizuka --concurrency 1,8,16 --seconds 10

Prints, per concurrency (and with batching off for comparison): requests/s, p50/p95/p99 latency,
errors, lost requests, and served images/s as a ratio to calling the same SavedModel in-process
(one photo per call, as a script colorizing photos one by one does) measured in the same run.
The server runs in its own process (`python -m colorization_tf.serve`); clients send
`:predict` with a b64 JPEG (or `--endpoint colorize` multipart uploads) and receive PNGs, so the
served figure includes decoding and encoding, which the in-process figure does not.

The flood case (`--flood 8,64,256`): that many clients each upload one large, highly compressible
JPEG at once (`--flood-image`, default 6000x4000, 24 megapixels, to a fresh server each time, its
pixel budget `--flood-budget` or its default from memory): the server's peak RSS (VmHWM, Linux)
against its RSS when ready and its budget, the 503 rate, how fast the 503s came, the latency of
the uploads served, and any other answer or hang.

Also the serving signature's own cost beyond the model call: a `--big` photo (3000x2000) and a
64x64 one through the export (whose model runs at the same 64 px either way); the difference per
pixel is the colour conversion and resizing around the model.

Prints figures; nothing here is asserted in the tests.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import io
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from bench_eccv16_heads import _time  # median seconds per call

ROOT = Path(__file__).resolve().parent.parent


def _photo(height: int, width: int) -> np.ndarray:
    """scikit-image's bundled cat photo, resized (no download)."""
    from PIL import Image
    from skimage import data

    return np.asarray(Image.fromarray(data.chelsea()).resize((width, height), Image.BILINEAR))


def _jpeg(rgb: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def export_model(name: str, size: int, folder: Path, compile_pixels: bool = True) -> Path:
    """Exports the registered model `name` (untrained: speed only) at `size` px into `folder/name`."""
    from colorization_tf.export import export_saved_model
    from colorization_tf.models import build_model, get_spec

    spec = get_spec(name)
    model = build_model(name, image_size=size)
    path = folder / (name if compile_pixels else f"{name}_plain_pixels")
    return export_saved_model(model, path, spec.replace(image_size=size), save_keras=False, compile_pixels=compile_pixels)


def in_process_rate(path: Path, image: np.ndarray, batch: int, seconds: float) -> float:
    """Images/s calling the SavedModel's signature in this process, `batch` images per call."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    images = tf.constant(np.stack([image] * batch))
    fn(images=images)["rgb"].numpy()
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(images=images)["rgb"].numpy()
        done += batch
    return done / (time.perf_counter() - start)


def signature_overhead(path: Path, big: tuple[int, int], repeats: int) -> dict:
    """ms for a big photo and a 64x64 one through the signature, and ns per extra pixel."""
    import tensorflow as tf

    fn = tf.saved_model.load(str(path)).signatures["serving_default"]
    large = tf.constant(_photo(*big)[None])
    small = tf.constant(_photo(64, 64)[None])
    t_large = _time(lambda: fn(images=large)["rgb"].numpy(), repeats, warmup=1)
    t_small = _time(lambda: fn(images=small)["rgb"].numpy(), repeats, warmup=1)
    extra_pixels = big[0] * big[1] - 64 * 64
    return {"large_ms": t_large * 1e3, "small_ms": t_small * 1e3, "ns_per_pixel": (t_large - t_small) / extra_pixels * 1e9}


class Server:
    """`python -m colorization_tf.serve` in a subprocess on a free loopback port."""

    def __init__(self, model: Path, max_batch: int, max_wait_ms: float, extra: tuple = ()):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "colorization_tf.serve", "--model", str(model), "--port", str(self.port),
                   "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms), "--log-level", "warning", *extra]
        env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self):
        import requests

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:  # not listening yet, or too busy loading to answer in 2 s
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}")
            time.sleep(0.2)
        raise TimeoutError("the server did not become ready")

    def __exit__(self, *exc):
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def load(url: str, model: str, payload: bytes, endpoint: str, concurrency: int, seconds: float, max_requests: int) -> dict:
    """`concurrency` clients sending requests back to back for `seconds` or `max_requests` in all."""
    import requests

    body = {"instances": [{"b64": base64.b64encode(payload).decode()}]}
    lock = threading.Lock()
    latencies, errors, sent = [], [], [0]
    stop_at = time.perf_counter() + seconds

    def client():
        session = requests.Session()
        while time.perf_counter() < stop_at:
            with lock:
                if sent[0] >= max_requests:
                    return
                sent[0] += 1
            start = time.perf_counter()
            try:
                if endpoint == "predict":
                    r = session.post(f"{url}/v1/models/{model}:predict", json=body, timeout=120)
                    ok = r.status_code == 200 and len(r.json()["predictions"]) == 1
                else:
                    r = session.post(f"{url}/v1/models/{model}:colorize", files={"file": ("p.jpg", payload)}, timeout=120)
                    ok = r.status_code == 200 and r.content[:4] == b"\x89PNG"
            except Exception as err:  # counted, not fatal: the figure is how many fail
                ok, r = False, err
            with lock:
                (latencies.append(time.perf_counter() - start) if ok else errors.append(str(getattr(r, "status_code", r))))

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    elapsed = time.perf_counter() - start
    ms = np.asarray(latencies) * 1e3
    pct = (lambda q: float(np.percentile(ms, q))) if len(ms) else (lambda q: float("nan"))
    return {"sent": sent[0], "ok": len(latencies), "errors": len(errors), "lost": sent[0] - len(latencies) - len(errors),
            "rps": len(latencies) / elapsed, "p50": pct(50), "p95": pct(95), "p99": pct(99)}


def _proc_status_bytes(pid: int, field: str) -> int:
    """A memory figure of process `pid` from /proc (VmRSS, VmHWM), in bytes; 0 where there is no /proc."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _flood_photo(height: int, width: int) -> bytes:
    """A smooth gradient JPEG: megapixels decoded from a few hundred KB, as cameras' skies and walls."""
    from PIL import Image

    rows = np.linspace(0, 255, height, dtype=np.float32)[:, None]
    cols = np.linspace(0, 255, width, dtype=np.float32)[None, :]
    rgb = np.stack([np.broadcast_to(rows, (height, width)), np.broadcast_to(cols, (height, width)),
                    np.broadcast_to((rows + cols) / 2, (height, width))], axis=-1).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def flood(model: Path, payload: bytes, clients: int, max_batch: int, max_wait_ms: float, budget: int | None, timeout: float) -> dict:
    """`clients` uploads of `payload` at once against a fresh server: memory, 503s, latency."""
    import requests

    extra = ("--max-pixels-in-flight", str(budget)) if budget else ()
    with Server(model, max_batch, max_wait_ms, extra) as server:
        ready_rss = _proc_status_bytes(server.process.pid, "VmRSS")
        barrier = threading.Barrier(clients)

        def upload(i):
            barrier.wait()
            start = time.perf_counter()
            try:
                r = requests.post(f"{server.url}/v1/models/{model.name}:colorize", files={"file": (f"{i}.jpg", payload)}, timeout=timeout)
                status, retry = r.status_code, r.headers.get("Retry-After")
            except Exception as err:  # a hang (timeout) or a reset: counted
                status, retry = type(err).__name__, None
            return status, retry, time.perf_counter() - start

        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            answers = list(pool.map(upload, range(clients)))
        peak_rss = _proc_status_bytes(server.process.pid, "VmHWM")
        after = requests.post(f"{server.url}/v1/models/{model.name}:colorize", files={"file": ("small.jpg", _jpeg(_photo(64, 64)))}, timeout=timeout)
        metrics = requests.get(f"{server.url}/metrics", timeout=timeout).text
    budget_line = next((line for line in metrics.splitlines() if line.startswith("colorize_pixel_budget ")), "x nan")
    served = np.asarray([s for status, _, s in answers if status == 200]) * 1e3
    refused = [(retry, s) for status, retry, s in answers if status == 503]
    pct = (lambda q: float(np.percentile(served, q))) if len(served) else (lambda q: float("nan"))
    return {"clients": clients, "ok": len(served), "refused": len(refused), "other": len(answers) - len(served) - len(refused),
            "with_retry_after": sum(retry is not None for retry, _ in refused),
            "max_503_ms": max((s for _, s in refused), default=float("nan")) * 1e3, "p50": pct(50), "p95": pct(95),
            "ready_rss": ready_rss, "peak_rss": peak_rss, "budget_pixels": float(budget_line.split()[1]), "after": after.status_code}


def throughput(args, model: Path, image: np.ndarray, payload: bytes, big: tuple, concurrencies: list, tmp: str) -> None:
    """The signature's cost per pixel, then served requests/s against the in-process rate (printed)."""
    exports = [("", model)]
    if not args.model:  # the same model with the plain-TF pixel maths, for comparison
        exports.append((" (compile_pixels=False)", export_model(args.build, args.size, Path(tmp), compile_pixels=False)))
    for label, path in exports:
        cost = signature_overhead(path, big, args.repeats)
        print(f"signature{label}: {big[1]}x{big[0]} photo {cost['large_ms']:.0f} ms, 64x64 {cost['small_ms']:.1f} ms -> "
              f"{cost['ns_per_pixel']:.1f} ns per pixel beyond the model call ({cost['ns_per_pixel']:.1f} ms per megapixel)")
    rate_8 = in_process_rate(model, image, 8, min(args.seconds, 5))
    rate_1 = in_process_rate(model, image, 1, min(args.seconds, 5))
    runs = [(args.max_batch, c) for c in concurrencies]
    if not args.no_unbatched and args.max_batch > 1:
        runs += [(1, c) for c in concurrencies if c > 1]
    results = []
    for max_batch in sorted({b for b, _ in runs}, reverse=True):
        with Server(model, max_batch, args.max_wait_ms) as server:
            for batch, clients in runs:
                if batch == max_batch:
                    load(server.url, model.name, payload, args.endpoint, clients, 1.0, 20)  # warm the connections
                    results.append((batch, clients, load(server.url, model.name, payload, args.endpoint, clients, args.seconds, args.max_requests)))
    rate_1_after = in_process_rate(model, image, 1, min(args.seconds, 5))
    baseline = (rate_1 + rate_1_after) / 2  # measured before and after the served runs: drift shows
    print(f"in-process SavedModel: {rate_1:.1f} (before) / {rate_1_after:.1f} (after) images/s one per call, "
          f"{rate_8:.1f} images/s 8 per call")
    print(f"{'batch':>5} {'clients':>7} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'errors':>6} {'lost':>4} {'vs in-process':>13}")
    for batch, clients, r in results:
        print(f"{batch:>5} {clients:>7} {r['rps']:>7.1f} {r['p50']:>7.1f} {r['p95']:>7.1f} {r['p99']:>7.1f} "
              f"{r['errors']:>6} {r['lost']:>4} {r['rps'] / baseline:>12.2f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="an export folder (default: export --build at --size into a temp folder)")
    parser.add_argument("--build", default="iizuka_lee128", help="registered model exported when --model is not given")
    parser.add_argument("--size", type=int, default=64, help="working resolution of the built export (default: %(default)s)")
    parser.add_argument("--image", default="256x256", help="request photo HxW (default: %(default)s)")
    parser.add_argument("--concurrency", default="1,8", help="client counts (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=8.0, help="time bound per run (default: %(default)s)")
    parser.add_argument("--max-requests", type=int, default=2000, help="request bound per run (default: %(default)s)")
    parser.add_argument("--max-batch", type=int, default=4, help="server --max-batch (default: %(default)s; 1 runs too, for comparison)")
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--endpoint", choices=["predict", "colorize"], default="predict")
    parser.add_argument("--no-unbatched", action="store_true", help="skip the --max-batch 1 comparison run")
    parser.add_argument("--flood-only", action="store_true", help="run only the flood case")
    parser.add_argument("--flood", default="", help="flood client counts, e.g. 8,64,256 (default: none)")
    parser.add_argument("--flood-image", default="4000x6000", help="flood photo HxW (default: %(default)s, 24 megapixels)")
    parser.add_argument("--flood-budget", type=int, default=None, help="server --max-pixels-in-flight in the flood (default: its own)")
    parser.add_argument("--flood-timeout", type=float, default=300.0, help="client timeout in the flood, s (default: %(default)s)")
    parser.add_argument("--big", default="2000x3000", help="photo HxW for the signature cost (default: %(default)s)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls for the signature cost (default: %(default)s)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    height, width = (int(v) for v in args.image.split("x"))
    big = tuple(int(v) for v in args.big.split("x"))
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="bench_serve-") as tmp:
        model = Path(args.model) if args.model else export_model(args.build, args.size, Path(tmp))
        image = _photo(height, width)
        payload = _jpeg(image)
        print(f"model {model.name} ({'given' if args.model else f'{args.build} at {args.size} px, untrained'}); "
              f"request: {width}x{height} JPEG ({len(payload) // 1024} KiB) -> PNG via :{args.endpoint}")
        if not args.flood_only:
            throughput(args, model, image, payload, big, concurrencies, tmp)
        if args.flood:
            from colorization_tf.serve.config import BYTES_PER_PIXEL_IN_FLIGHT

            flood_h, flood_w = (int(v) for v in args.flood_image.split("x"))
            upload = _flood_photo(flood_h, flood_w)
            print(f"flood: {flood_w}x{flood_h} JPEG ({len(upload) // 1024} KiB, {flood_w * flood_h / 1e6:.1f} MP) uploaded by N clients at once, "
                  f"fresh server each; RSS in MiB; budget in pixels in flight (x {BYTES_PER_PIXEL_IN_FLIGHT} B = its memory)")
            print(f"{'clients':>7} {'200':>4} {'503':>4} {'503 %':>6} {'w/ R-A':>6} {'other':>5} {'max 503 ms':>10} {'p50 ms':>8} {'p95 ms':>8} "
                  f"{'ready RSS':>9} {'peak RSS':>8} {'budget':>11} {'budget MiB':>10} {'after':>5}")
            for clients in (int(c) for c in args.flood.split(",")):
                f = flood(model, upload, clients, args.max_batch, args.max_wait_ms, args.flood_budget, args.flood_timeout)
                print(f"{clients:>7} {f['ok']:>4} {f['refused']:>4} {100 * f['refused'] / clients:>5.0f}% {f['with_retry_after']:>6} {f['other']:>5} {f['max_503_ms']:>10.0f} "
                      f"{f['p50']:>8.0f} {f['p95']:>8.0f} {f['ready_rss'] / 2**20:>9.0f} {f['peak_rss'] / 2**20:>8.0f} {f['budget_pixels']:>11.0f} "
                      f"{f['budget_pixels'] * BYTES_PER_PIXEL_IN_FLIGHT / 2**20:>10.0f} {f['after']:>5}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
