"""The service under a flood of large, compressible uploads: bounded memory, fast 503s, nothing hangs.

A real uvicorn on loopback with a small pixel budget and the tiny model. The memory bound is
derived from the budget: its pixels at `BYTES_PER_PIXEL_IN_FLIGHT` plus a fixed slack for the
request bodies, threads and allocator. Without the budget the same flood holds every upload
decoded at once (and several in model calls): several times the bound.
"""

from __future__ import annotations

import concurrent.futures
import socket
import threading
import time

import pytest
import requests

from colorization_tf.serve import ServeConfig, create_app
from colorization_tf.serve.config import BYTES_PER_PIXEL_IN_FLIGHT
from tests.serve.conftest import RunningServer, encode, photo

FLOOD_SIDE = 1200
"""Each upload: a 1200x1200 smooth JPEG, ~1.4 megapixels decoded from a few tens of KB."""
FLOOD_UPLOADS = 32
FLOOD_BUDGET = int(2.2 * FLOOD_SIDE**2)
"""Two uploads in flight at a time."""
RSS_SLACK_BYTES = 128 * 2**20
"""What the server may grow beyond its budget: bodies, thread stacks, allocator pages, one-off buffers."""
FAST_503_S = 3.0
"""A refusal comes from the header, without waiting for any decode or model call (generous: the
suite's CPUs are shared)."""
CLIENT_TIMEOUT_S = 60
PROC_STATUS = "/proc/self/status"
CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int:
    with open(PROC_STATUS) as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class PeakRss:
    """Peak resident memory of this process (which runs the server) from `start()`: the kernel's
    high-water mark reset through /proc/self/clear_refs, else sampled every millisecond."""

    def __enter__(self):
        self.base = _status_kib("VmRSS") * 1024
        try:
            with open(CLEAR_REFS, "w") as refs:
                refs.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
            self.sampled = None
        except OSError:
            self.sampled, self.stop = [self.base], threading.Event()
            self.thread = threading.Thread(target=self._sample, daemon=True)
            self.thread.start()
        return self

    def _sample(self):
        while not self.stop.wait(0.001):
            self.sampled.append(_status_kib("VmRSS") * 1024)

    def __exit__(self, *exc):
        if self.sampled is None:
            self.peak = _status_kib("VmHWM") * 1024
        else:
            self.stop.set()
            self.thread.join()
            self.peak = max(self.sampled)
        self.growth = self.peak - self.base


def _metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}} " if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _upload(url: str, data: bytes, name: str):
    start = time.perf_counter()
    try:
        response = requests.post(f"{url}/v1/models/tiny:colorize", files={"file": (name, data)}, timeout=CLIENT_TIMEOUT_S)
    except requests.RequestException as err:  # a hang or a reset: the test reports it
        return None, repr(err), time.perf_counter() - start
    return response.status_code, response.headers.get("Retry-After"), time.perf_counter() - start


@pytest.mark.skipif(not __import__("os").path.exists(PROC_STATUS), reason="reads the server's memory from /proc")
def test_a_flood_of_large_uploads_keeps_memory_under_the_budget_and_everyone_gets_an_answer(tiny_exports):
    config = ServeConfig(max_pixels_in_flight=FLOOD_BUDGET, max_batch=4, max_wait_ms=5, request_timeout_s=30)
    upload = encode(photo(FLOOD_SIDE, FLOOD_SIDE, seed=7), "JPEG")
    assert len(upload) < FLOOD_SIDE**2 * 3 // 20  # compressible: decoding multiplies it 20x at least
    with RunningServer(create_app([tiny_exports[0]], config)) as server:
        assert _upload(server.url, encode(photo(32, 32)), "warm.png")[0] == 200
        with PeakRss() as rss, concurrent.futures.ThreadPoolExecutor(FLOOD_UPLOADS) as clients:
            answers = list(clients.map(lambda i: _upload(server.url, upload, f"{i}.jpg"), range(FLOOD_UPLOADS)))
        statuses = [status for status, _, _ in answers]
        assert set(statuses) <= {200, 503}, answers  # none hangs, none fails otherwise
        assert 200 in statuses and 503 in statuses, statuses
        refusals = [(retry, seconds) for status, retry, seconds in answers if status == 503]
        assert all(retry is not None and int(retry) >= 1 for retry, _ in refusals), refusals
        assert max(seconds for _, seconds in refusals) < FAST_503_S, refusals
        bound = FLOOD_BUDGET * BYTES_PER_PIXEL_IN_FLIGHT + RSS_SLACK_BYTES
        assert rss.growth < bound, f"peak RSS grew {rss.growth / 2**20:.0f} MiB, bound {bound / 2**20:.0f} MiB"
        small = requests.post(f"{server.url}/v1/models/tiny:colorize", files={"file": ("after.png", encode(photo(24, 24)))}, timeout=CLIENT_TIMEOUT_S)
        assert small.status_code == 200  # served right after the flood
        service = server.app.state.service
        assert service.budget.in_flight == 0  # every reservation given back
        metrics = requests.get(f"{server.url}/metrics", timeout=CLIENT_TIMEOUT_S)
        assert metrics.headers["content-type"].startswith("text/plain")
        text = metrics.text
        assert _metric(text, "colorize_requests_total", endpoint="colorize", status="503") == statuses.count(503)
        assert _metric(text, "colorize_requests_total", endpoint="colorize", status="200") == statuses.count(200) + 2
        assert _metric(text, "colorize_pixels_in_flight") == 0
        assert _metric(text, "colorize_pixel_budget") == FLOOD_BUDGET
        assert _metric(text, "colorize_queue_depth", model="tiny") == 0
        assert _metric(text, "colorize_batch_size_count", model="tiny") == service.batchers["tiny"].calls
        assert _metric(text, "colorize_model_latency_seconds_count", model="tiny") == service.batchers["tiny"].calls


class GatedModel:
    """Wraps the served model: calls wait for `gate`; records the shapes that reached the model."""

    def __init__(self, model):
        self.model, self.gate, self.entered, self.shapes = model, threading.Event(), threading.Event(), []

    def __call__(self, batch):
        self.shapes.append(batch.shape)
        self.entered.set()
        self.gate.wait(CLIENT_TIMEOUT_S)
        return self.model(batch)


def _raw_upload(port: int, data: bytes) -> socket.socket:
    """Sends a whole `:colorize` upload on a raw socket and returns the socket (unread)."""
    boundary = "fl00d"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="gone.png"\r\n'
            "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /v1/models/tiny:colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    conn = socket.create_connection(("127.0.0.1", port), timeout=CLIENT_TIMEOUT_S)
    conn.sendall(head + body)
    return conn


def _wait(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.mark.parametrize("gives_up", ["client_gone", "timeout"])
def test_work_of_a_request_that_gave_up_never_reaches_the_model_and_frees_its_budget(tiny_exports, gives_up):
    """Before: a timed-out request's image stayed queued and ran anyway; a client that left was not noticed."""
    timeout_s = 1.0 if gives_up == "timeout" else 30.0
    config = ServeConfig(max_pixels_in_flight=10_000, max_batch=1, model_workers=1, max_wait_ms=0, request_timeout_s=timeout_s)
    with RunningServer(create_app([tiny_exports[0]], config)) as server:
        service = server.app.state.service
        batcher = service.batchers["tiny"]
        gated = batcher.model = GatedModel(batcher.model)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            first = pool.submit(_upload, server.url, encode(photo(20, 20)), "first.png")  # holds the model
            _wait(gated.entered.is_set)
            conn = _raw_upload(server.port, encode(photo(30, 30)))  # queued behind it
            _wait(lambda: service.budget.in_flight == 400 + 900)
            if gives_up == "client_gone":
                conn.close()
                _wait(lambda: service.budget.in_flight == 400)  # freed while the model is still busy
            else:
                answer = conn.recv(4096)
                conn.close()
                assert answer.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in answer.lower(), answer[:300]
                assert service.budget.in_flight == 400
            assert batcher.dropped == 1 and batcher.queue_depth == 0
            gated.gate.set()
            status = first.result()[0]
        assert status == (200 if gives_up == "client_gone" else 503)  # the first one also outlived a 1 s timeout
        _wait(lambda: service.budget.in_flight == 0)
        assert [shape[1:3] for shape in gated.shapes] == [(20, 20)]  # the 30x30 image never reached the model
        text = requests.get(f"{server.url}/metrics", timeout=CLIENT_TIMEOUT_S).text
        assert _metric(text, "colorize_dropped_total", reason=gives_up) >= 1
        if gives_up == "client_gone":
            assert _metric(text, "colorize_requests_total", endpoint="colorize", status="499") == 1
