"""`colorize-serve` / `python -m colorization_tf.serve`: start, readiness, graceful SIGTERM, usage errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from colorization_tf.serve import cli
from tests._ports import free_ports
from tests.serve.conftest import encode, photo, wait_ready

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, monkeypatch):
    from colorization_tf import pretrained

    monkeypatch.setattr(pretrained, "DEFAULT_MODEL", tmp_path / "no_shipped_model")
    assert cli.main([]) == 2  # no --model: the shipped model, named when it is missing
    assert "no_shipped_model" in capsys.readouterr().err
    assert cli.main(["--model", str(tmp_path)]) == 2
    assert "not a SavedModel folder" in capsys.readouterr().err
    assert cli.main(["--model", "x", "--max-batch", "0"]) == 2


@pytest.mark.parametrize("flag, value", [("--max-wait-ms", "-1"), ("--max-wait-ms", "nan"), ("--timeout", "nan"),
                                         ("--max-upload-mb", "inf"), ("--max-upload-mb", "1e-9"), ("--port", "70000"),
                                         ("--memory-fraction", "1.5"), ("--memory-fraction", "0"), ("--max-pixels-in-flight", "0")])
def test_bad_numbers_are_usage_errors_not_tracebacks(tiny_exports, flag, value, capsys):
    """These used to reach ServeConfig, int() or uvicorn's bind and end in a traceback."""
    assert cli.main(["--model", str(tiny_exports[0]), flag, value]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith(("colorize-serve: error", "usage:")), err


def test_sigterm_lets_the_in_flight_request_finish_then_exits_0(tiny_exports):
    (port,) = free_ports()
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "colorization_tf.serve", "--model", str(tiny_exports[0]), "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}")
        body = encode(photo(32, 48))
        boundary = "b0undary"
        payload = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="late.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode() + body + f"\r\n--{boundary}--\r\n".encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            head = (
                f"POST /v1/models/tiny:colorize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            ).encode()
            conn.sendall(head + payload[:50])  # the request is in flight...
            time.sleep(1.0)
            process.send_signal(signal.SIGTERM)  # ...when the server is told to stop
            time.sleep(0.5)
            conn.sendall(payload[50:])
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer) < 200:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert b"image/png" in answer.split(b"\r\n\r\n")[0]
        assert process.wait(timeout=30) == 0
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate(timeout=10)
    assert "Traceback" not in stderr, stderr
