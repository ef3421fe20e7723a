"""Fixtures of the service tests: two tiny exports and a real uvicorn on a free loopback port."""

from __future__ import annotations

import io
import shutil
import socket
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the [serve] extra (fastapi, uvicorn, python-multipart) is not installed")
requests = pytest.importorskip("requests")
uvicorn = pytest.importorskip("uvicorn")

from tests._tiny_models import export_tiny  # noqa: E402
from colorization_tf.serve import ServeConfig, create_app  # noqa: E402

TEST_MAX_UPLOAD_BYTES = 2 * 2**20
TEST_MAX_PIXELS = 250_000
READY_TIMEOUT_S = 60


@pytest.fixture(autouse=True)
def _reset_keras_state():
    """Replaces the suite's per-test Keras reset (its clear_session + gc takes ~1 s per test once
    the served models are loaded): these tests build no Keras model after `tiny_exports`."""
    yield


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory):
    """Two export folders, "tiny" and "tiny_copy" (the same weights under another name)."""
    root = tmp_path_factory.mktemp("serve_models")
    export_tiny(root / "tiny", image_size=16, epochs=2)
    shutil.copytree(root / "tiny", root / "tiny_copy")
    return [root / "tiny", root / "tiny_copy"]


class RunningServer:
    """A uvicorn serving `app` in a thread, on a socket bound to a free loopback port."""

    def __init__(self, app, wait: bool = True):
        self.app = app
        self.wait = wait
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        if self.wait:
            wait_ready(self.url)
        else:
            while not self.server.started:
                time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def wait_ready(url: str, timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout} s")


@pytest.fixture(scope="session")
def server(tiny_exports):
    """Base URL of a running service with both tiny models and small test limits."""
    config = ServeConfig(max_upload_bytes=TEST_MAX_UPLOAD_BYTES, max_pixels=TEST_MAX_PIXELS, max_batch=8, max_wait_ms=5)
    with RunningServer(create_app(tiny_exports, config)) as running:
        yield running


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth colourful uint8 RGB image."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, size=(4, 4, 3)).astype(np.float32)
    rows = np.linspace(0, 3, height)[:, None]
    cols = np.linspace(0, 3, width)[None, :]
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    return coarse[r0, c0].astype(np.uint8)


def encode(rgb: np.ndarray, fmt: str = "PNG") -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=fmt)
    return buffer.getvalue()
