"""The Python that runs the JAX-backend tests in a subprocess, or a skip saying why there is none.

``$COLORIZATION_JAX_PYTHON`` (`.ci/run` creates a venv with the CPU jax wheel, keras and numpy,
and sets it; a broken one fails the test), else this interpreter when it can import jax.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYTHON_VARIABLE = "COLORIZATION_JAX_PYTHON"
ENV = {"KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO), "JAX_PLATFORMS": "cpu", "TF_CPP_MIN_LOG_LEVEL": "3"}
"""The subprocess's environment on top of this one's."""


def jax_python() -> str:
    configured = os.environ.get(PYTHON_VARIABLE)
    if configured:
        probe = subprocess.run([configured, "-c", "import jax, keras"], capture_output=True, text=True, env={**os.environ, **ENV})
        if probe.returncode:
            pytest.fail(f"{PYTHON_VARIABLE}={configured} cannot import jax and keras: {probe.stderr[-500:]}")
        return configured
    if importlib.util.find_spec("jax") is None:
        pytest.skip(f"jax is not importable here: install the CPU wheel (pip install jax) or set {PYTHON_VARIABLE} "
                    "to a Python with jax and keras (.ci/run does)")
    return sys.executable


def run_on_jax(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Runs `python args...` under KERAS_BACKEND=jax in the repository root."""
    return subprocess.run([jax_python(), *args], capture_output=True, text=True, env={**os.environ, **ENV}, cwd=REPO, timeout=timeout)
