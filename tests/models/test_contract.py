"""The model contract, checked once for every registered model (`colorization_tf.models.MODELS`).

What every `ModelSpec` promises the rest of the suite: input "L"; the outputs it declares (colour
output "ab" or "logits", extra heads such as "scene") at the shapes its head gives, float32 under
every precision policy; the parameter count its paper states; a `get_config` and `.keras` round
trip that predicts the same; a serving signature at any image size (at the input's own size,
rounded to `size_multiple`, for models that are not fixed-size); and the GAN pairing it names.
The costly checks (mixed precision, round trips, serving) run on one entry per builder
(`REPRESENTATIVES`), the others on every entry.
Each model's own test file keeps only its paper-specific checks.
"""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf import export, quantize
from colorization_tf.models import MODELS, get_spec

NAMES = sorted(MODELS)
DEFAULT_TINY_SIZE = 32
"""Training size the contract builds at: a multiple of every network's stride, small enough to be fast."""
TINY_SIZE = {"iizuka_224": 64, "cs520_cnn": 8}
"""Exceptions: original224's global branch needs 64 (two stride-2 convs after the 1/8 low level);
the CS520 CNN's dense layers grow with the image's area."""
ODD_IMAGE = (1, 45, 99, 3)
"""An image whose sides are multiples of no network's stride (and 99 / 32 rounds to 96, not a power of two)."""
MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")


def _representatives() -> list[str]:
    """One registry entry per builder module, its classification head where it has one.

    Entries of one builder differ only in its arguments (PolyChromify's widths, Iizuka's two
    configurations, a head kind), not in the layer classes that serialise or the layers that
    take a precision policy: the costly checks (three policies, round trips, serving) run on these
    to keep the suite fast; the cheap ones on every entry.
    """
    chosen: dict[str, str] = {}
    for name, spec in MODELS.items():
        if spec.module not in chosen or (spec.head.classification and not MODELS[chosen[spec.module]].head.classification):
            chosen[spec.module] = name
    return sorted(chosen.values())


REPRESENTATIVES = _representatives()


def _size(name: str) -> int:
    return TINY_SIZE.get(name, DEFAULT_TINY_SIZE)


_BUILT: dict = {}


@pytest.fixture(scope="module", autouse=True)
def _drop_built_models():
    """Frees the cached models after this module: every later test's `clear_session` would walk them."""
    yield
    _BUILT.clear()


def _tiny(name: str):
    """The registered model `name` built at its tiny size in float32, once per test session."""
    if name not in _BUILT:
        keras.mixed_precision.set_global_policy("float32")
        _BUILT[name] = get_spec(name).build(image_size=_size(name))
    return _BUILT[name]


def _l(batch: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (batch, size, size, 1)).astype("float32")


def _as_dict(model, outputs) -> dict:
    if isinstance(outputs, dict):
        return dict(outputs)
    if isinstance(outputs, (list, tuple)):
        return dict(zip(model.output_names, outputs))
    return {model.output_names[0]: outputs}


def _bins(spec) -> int:
    return len(quantize.ab_bin_centers(spec.head.bin_width, spec.head.gamut))


def _expected_shapes(spec, model, batch: int, size: int) -> dict:
    colour = (batch, size // 4, size // 4, _bins(spec)) if spec.head.classification else (batch, size, size, 2)
    shapes = {spec.head.output: colour}
    if spec.labels:
        shapes[spec.labels] = (batch, model.output[spec.labels].shape[-1])
    return shapes


def _mixed_layers(model, compute_dtype: str) -> list[str]:
    """Names of the layers (nested models included) that compute in `compute_dtype`."""
    return [layer.name for layer in model._flatten_layers(include_self=False, recursive=True)
            if getattr(layer, "compute_dtype", None) == compute_dtype]


def _check_outputs(name: str, policy: str) -> None:
    spec = get_spec(name)
    keras.mixed_precision.set_global_policy(policy)
    size = _size(name)
    model = _tiny(name) if policy == "float32" else spec.build(image_size=size)
    assert [t.name for t in model.inputs] == ["L"]
    outputs = _as_dict(model, model(_l(2, size), training=False))
    assert sorted(outputs) == sorted(spec.outputs)
    assert {k: tuple(v.shape) for k, v in outputs.items()} == _expected_shapes(spec, model, 2, size)
    assert all(v.dtype == tf.float32 for v in outputs.values()), {k: v.dtype for k, v in outputs.items()}
    assert all(np.isfinite(v.numpy()).all() for v in outputs.values())
    if policy != "float32":
        compute = keras.mixed_precision.Policy(policy).compute_dtype
        assert _mixed_layers(model, compute), f"no layer of {name} computes in {compute}"


@pytest.mark.parametrize("name", NAMES)
def test_outputs_are_the_declared_ones_at_their_shapes_in_float32(name):
    _check_outputs(name, "float32")


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_mixed_precision_computes_inside_and_outputs_float32(name):
    for policy in MIXED_POLICIES:
        _check_outputs(name, policy)


PAPER_COUNTED = [name for name in NAMES if MODELS[name].paper_params is not None]


@pytest.mark.parametrize("name", PAPER_COUNTED)
def test_parameter_count_is_the_papers(name):
    """`count_params` at the paper's size (fully convolutional nets: any size) within the paper's rounding."""
    spec = get_spec(name)
    model = spec.build(image_size=spec.image_size) if spec.fixed_size else _tiny(name)
    assert abs(model.count_params() - spec.paper_params) <= spec.paper_params_tolerance, model.count_params()


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_config_and_keras_file_round_trip_predicts_the_same(name, tmp_path):
    size = _size(name)
    model = _tiny(name)
    x = _l(2, size, seed=1)
    expected = _as_dict(model, model(x, training=False))
    path = os.fspath(tmp_path / f"{name}.keras")
    model.save(path)  # the model's get_config() and weights
    loaded = keras.models.load_model(path)  # rebuilt from that config (safe_mode: no Lambda layers)
    got = _as_dict(loaded, loaded(x, training=False))
    assert sorted(got) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_serves_any_image_size(name):
    """The export's signature on an odd-sized image: at the model's own size rounded to `size_multiple`
    (built for any size), or, for fixed-size models, at its training size."""
    spec = get_spec(name).replace(image_size=_size(name))
    model = _tiny(name)
    native = not spec.fixed_size
    if native and model.inputs[0].shape[1] is not None:  # a static input: the any-size build
        model = spec.build(image_size=None)
    serve = export.make_serving_function(model, spec, native_resolution=native, compile_pixels=False)
    image = np.random.default_rng(2).integers(0, 256, ODD_IMAGE, dtype=np.uint8)
    out = serve(tf.constant(image))[export.OUTPUT_KEY]
    assert out.dtype == tf.uint8 and tuple(out.shape) == ODD_IMAGE
    if not native:
        with pytest.raises(ValueError, match="fixed_size"):
            export.make_serving_function(model, spec, native_resolution=True)


@pytest.mark.parametrize("name", [name for name in NAMES if MODELS[name].discriminator])
def test_gan_pairing_judges_the_generators_output(name):
    """The discriminator a spec pairs its model with takes (L, the model's ab) and gives float32 logits."""
    spec = get_spec(name)
    size = _size(name)
    generator = _tiny(name)
    discriminator = spec.build_discriminator(image_size=size)
    l_enc = tf.constant(_l(2, size))
    logits = discriminator([l_enc, generator(l_enc, training=False)], training=False)
    assert logits.shape[0] == 2 and logits.dtype == tf.float32


def test_specs_state_their_contract():
    """Labels come with an extra output, classification heads with stored bins, fixed size without a multiple."""
    for spec in MODELS.values():
        assert spec.outputs[0] == spec.head.output
        assert (spec.head.bin_width is not None) == spec.head.classification
        assert spec.fixed_size == (spec.size_multiple is None)
        assert spec.needs_labels == (len(spec.outputs) == 2)
        decoder = spec.head.decoder()
        assert (decoder is None) != spec.head.classification
        assert decoder is None or (decoder.bin_width, decoder.num_bins) == (spec.head.bin_width, _bins(spec))
    assert {MODELS[name].module for name in REPRESENTATIVES} == {spec.module for spec in MODELS.values()}
    assert [MODELS[name].head.kind for name in ("eccv16_classification", "alexnet_classification")] == ["classification"] * 2
    assert {"eccv16_classification", "alexnet_classification", "iizuka_lee128"} <= set(REPRESENTATIVES)
    with pytest.raises(ValueError, match="no GAN discriminator"):
        get_spec("eccv16_regression").build_discriminator(image_size=32)
    with pytest.raises(ValueError, match="Unknown model"):
        get_spec("eccv17")
