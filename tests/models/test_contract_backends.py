"""The model contract under Keras' JAX backend, for every registered model, without TensorFlow.

`tests/_backend_contract.py` runs once, in a subprocess with ``KERAS_BACKEND=jax``: for every model
of `colorization_tf.models.MODELS` a forward pass, one training step with the paper's loss and
metrics, and a `.keras` round trip; the GAN (`GANModel`, its own two-optimizer train step) of every
model paired with a discriminator, built here on TensorFlow as Menon & Talukdar's experiment
builds its "gan" run and handed over as weights; then every loss, Keras metric class and custom
layer on fixed inputs. Here the report is checked, and the GAN's step losses and those component
values are compared with the same calls on TensorFlow in this process (the TensorFlow path is the
reference the suite was validated on).

The Python that runs it: `tests/_jax.py` (a skip, saying why, where there is none).
"""

import dataclasses
import json

import keras
import numpy as np
import pytest

from colorization_tf.experiment import assembly
from colorization_tf import quantize
from colorization_tf.models import MODELS, get_spec
from colorization_tf.models.batches import training_batch
from tests._backend_contract import BATCH, GAN_BUILD_KWARGS, GAN_SIZE, GAN_STEPS, gan_weights_file
from tests._jax import REPO, run_on_jax
from tests._scripts import load_script

SCRIPT = REPO / "tests" / "_backend_contract.py"
TIMEOUT_S = 1200
"""Every model, compiled by XLA on CPU: about 3 CPU-minutes."""
TOLERANCE = dict(rtol=2e-4, atol=2e-5)
"""JAX and TensorFlow order float32 sums differently (and oneDNN / AVX-512 more so)."""
NAMES = sorted(MODELS)
GAN_NAMES = sorted(name for name in NAMES if MODELS[name].discriminator)
GAN_TOLERANCE = dict(rtol=2e-2, atol=1e-3)
"""The GAN's step losses from the same weights. The ResNet34 U-Net at 32 px, batch 2, in training
mode (batch statistics) is ill-conditioned: TensorFlow with and without oneDNN differ by up to 3e-3
(relative) already, JAX and TensorFlow by up to 8e-3 (measured). A step that skips or misdirects
a network's update moves the second step's losses by far more: without the generator's step its
L1 term is 5% higher (0.594 vs 0.565), without the discriminator's its loss is 0.76 vs 2.41."""


def _menon_gan():
    """Menon & Talukdar's "gan" run (U-Net generator + PatchGAN, 100 x L1) as the experiment builds it, at `GAN_SIZE`
    (with `GAN_BUILD_KWARGS`)."""
    run = next(r for r in load_script("experiments/menon2021.py", "exp_menon2021").make_config().runs if r.gan is not None)
    return run.model, assembly.builder(dataclasses.replace(run, image_size=GAN_SIZE, init_from=None,
                                                          model_kwargs={**run.model_kwargs, **GAN_BUILD_KWARGS[run.model]}), 0, {})()


@pytest.fixture(scope="module")
def gan_reference(tmp_path_factory) -> tuple:
    """(folder of the GANs' starting weights for the JAX side, {name: step logs on TensorFlow})."""
    folder = tmp_path_factory.mktemp("gan_weights")
    keras.utils.set_random_seed(0)
    name, gan = _menon_gan()
    assert GAN_NAMES == [name]  # the registry's only discriminator pairing is the experiment's GAN
    np.savez(gan_weights_file(folder, name), l1_weight=gan.l1_weight, gan_weight=gan.gan_weight,
             **{f"g{i}": w for i, w in enumerate(gan.generator.get_weights())},
             **{f"d{i}": w for i, w in enumerate(gan.discriminator.get_weights())})
    gan.compile()
    x, y = training_batch(name, BATCH, GAN_SIZE, seed=1)
    steps = [{k: float(v) for k, v in gan.train_on_batch(x, y, return_dict=True).items()} for _ in range(GAN_STEPS)]
    return folder, {name: steps}


@pytest.fixture(scope="module")
def report(gan_reference) -> dict:
    done = run_on_jax([str(SCRIPT), "--gan-weights", str(gan_reference[0])], timeout=TIMEOUT_S)
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
    assert sorted(report["gans"]) == GAN_NAMES


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


@pytest.mark.parametrize("name", GAN_NAMES)
def test_gan_trains_on_jax_as_on_tensorflow(report, gan_reference, name):
    """The GAN's own train step under JAX: finite losses, both networks and both optimizers stepped,
    and the losses of TensorFlow's steps from the same weights (the first one's are a forward pass)."""
    result = report["gans"][name]
    assert "error" not in result, result.get("error")
    assert result["from_tensorflow"]
    assert result["weights_changed"] == {"generator": True, "discriminator": True}
    assert result["iterations"] == {"optimizer": GAN_STEPS, "d_optimizer": GAN_STEPS}
    expected = gan_reference[1][name]
    assert len(result["steps"]) == len(expected) == GAN_STEPS
    for step, (got, want) in enumerate(zip(result["steps"], expected)):
        assert sorted(got) == sorted(want) == ["d_loss", "g_gan", "g_l1", "loss"]
        assert all(np.isfinite(v) and v > 0 for v in got.values())
        for key in want:
            np.testing.assert_allclose(got[key], want[key], err_msg=f"step {step} {key}", **GAN_TOLERANCE)


def test_losses_metrics_and_layers_agree_with_tensorflow(report):
    from tests._backend_inputs import component_inputs, components

    assert "components_error" not in report, report.get("components_error")
    expected = {key: np.asarray(fn()) for key, fn in components(component_inputs()).items()}
    assert sorted(report["components"]) == sorted(expected)
    for key, value in expected.items():
        got = np.asarray(report["components"][key])
        assert got.shape == value.shape, key
        np.testing.assert_allclose(got, value, err_msg=key, **TOLERANCE)
