"""The model contract under Keras' JAX backend, for every registered model, without TensorFlow.

`tests/_backend_contract.py` runs once, in a subprocess with ``KERAS_BACKEND=jax``: for every model
of `colorization_tf.models.MODELS` a forward pass, one training step with the paper's loss and
metrics, and a `.keras` round trip; then every loss, Keras metric class and custom layer on fixed
inputs. Here the report is checked, and those component values are compared with the same calls
on TensorFlow in this process (the TensorFlow path is the reference the suite was validated on).

The Python that runs it: `tests/_jax.py` (a skip, saying why, where there is none).
"""

import json

import numpy as np
import pytest

from colorization_tf import quantize
from colorization_tf.models import MODELS, get_spec
from tests._jax import REPO, run_on_jax

SCRIPT = REPO / "tests" / "_backend_contract.py"
TIMEOUT_S = 1200
"""Every model, compiled by XLA on CPU: about 3 CPU-minutes."""
TOLERANCE = dict(rtol=2e-4, atol=2e-5)
"""JAX and TensorFlow order float32 sums differently (and oneDNN / AVX-512 more so)."""
NAMES = sorted(MODELS)


@pytest.fixture(scope="module")
def report() -> dict:
    done = run_on_jax([str(SCRIPT)], timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _expected_shapes(spec, size: int, batch: int, classes: int) -> dict:
    if spec.head.classification:
        bins = len(quantize.ab_bin_centers(spec.head.bin_width, spec.head.gamut))
        shapes = {spec.head.output: [batch, size // 4, size // 4, bins]}
    else:
        shapes = {spec.head.output: [batch, size, size, 2]}
    if spec.labels:
        shapes[spec.labels] = [batch, classes]
    return shapes


def test_runs_on_jax_without_importing_tensorflow(report):
    assert report["backend"] == "jax"
    assert report["tensorflow_imported"] is False
    assert sorted(report["models"]) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_model_builds_trains_one_step_and_round_trips_on_jax(report, name):
    result = report["models"][name]
    assert "error" not in result, result.get("error")
    spec = get_spec(name)
    assert result["inputs"] == ["L"]
    assert result["outputs"] == _expected_shapes(spec, result["size"], 2, 3)
    assert set(result["dtypes"].values()) == {"float32"} and result["finite"]
    logs = result["train_logs"]
    assert np.isfinite(logs["loss"]) and logs["loss"] > 0
    if spec.needs_labels:  # Iizuka's scene head: its loss and accuracy are in the history
        assert {"scene_loss", "scene_accuracy"} <= set(logs)
    if not spec.head.classification:
        assert any(key.endswith("ab_l1") for key in logs)  # the suite's Keras metric ran on JAX
    assert result["weights_changed"]
    assert result["round_trip_outputs"] and result["round_trip_max_diff"] <= 1e-5


def test_losses_metrics_and_layers_agree_with_tensorflow(report):
    from tests._backend_inputs import component_inputs, components

    assert "components_error" not in report, report.get("components_error")
    expected = {key: np.asarray(fn()) for key, fn in components(component_inputs()).items()}
    assert sorted(report["components"]) == sorted(expected)
    for key, value in expected.items():
        got = np.asarray(report["components"][key])
        assert got.shape == value.shape, key
        np.testing.assert_allclose(got, value, err_msg=key, **TOLERANCE)
