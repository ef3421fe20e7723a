"""The model contract on one Keras backend, run as a script: ``KERAS_BACKEND=jax python tests/_backend_contract.py``.

For every registered model (or the names given as arguments): build at a tiny size, a forward pass
(declared outputs, shapes, float32, finite), one training step compiled with the paper's loss
(`ModelSpec.default_losses`) and metrics, and a `.keras` save/load round trip that predicts the
same. For every model with a GAN discriminator pairing (`ModelSpec.discriminator`: the U-Net and
its PatchGAN, Menon & Talukdar's GAN run), `GANModel` trained two steps with its own train step
(``--gan-weights FOLDER``: starting from `<name>.npz` written there by the TensorFlow side, so
that the calling test compares the steps' losses). Then the components on fixed inputs (every
loss, the Keras metric classes, the bilinear upsampling and the annealed-mean decoding), whose
values the calling test compares with TensorFlow's. Prints one JSON object on the last line of
stdout. Needs no TensorFlow. `tests/models/test_contract_backends.py` runs it in a subprocess and
asserts on its report.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

TINY_SIZE = {"iizuka_224": 64, "cs520_cnn": 8}
"""As tests/models/test_contract.py: original224's global branch needs 64, the CS520 CNN's dense layers grow with area."""
DEFAULT_TINY_SIZE = 32
NUM_CLASSES = 3
BATCH = 2


def _as_dict(model, outputs) -> dict:
    if isinstance(outputs, dict):
        return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in zip(model.output_names, outputs)}
    return {model.output_names[0]: np.asarray(keras.ops.convert_to_numpy(outputs))}


def _metrics(spec):
    """The spec's own metrics plus the suite's ab error on a regression colour output."""
    from colorization_tf.metrics import ABMeanAbsoluteError

    metrics = spec.default_metrics()
    if spec.head.classification:
        return metrics
    ab_metric = ABMeanAbsoluteError(normalization=spec.normalization)
    if spec.needs_labels:
        return {**(metrics or {}), spec.head.output: [ab_metric]}
    return [ab_metric]


def check_model(name: str, folder: Path) -> dict:
    from colorization_tf.models import get_spec
    from colorization_tf.models.batches import training_batch

    spec = get_spec(name)
    size = TINY_SIZE.get(name, DEFAULT_TINY_SIZE)
    keras.utils.set_random_seed(0)
    overrides = {"image_size": size, **({"num_classes": NUM_CLASSES} if spec.needs_labels else {})}
    model = spec.build(**overrides)
    x, y = training_batch(spec, BATCH, size, seed=1, num_classes=NUM_CLASSES)
    out = _as_dict(model, model(x, training=False))
    result = {
        "inputs": [t.name for t in model.inputs],
        "outputs": {k: list(v.shape) for k, v in out.items()},
        "dtypes": {k: str(v.dtype) for k, v in out.items()},
        "finite": bool(all(np.isfinite(v).all() for v in out.values())),
        "size": size,
    }
    loss, loss_weights = spec.default_losses()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=loss, loss_weights=loss_weights, metrics=_metrics(spec))
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    logs = model.train_on_batch(x, y, return_dict=True)
    result["train_logs"] = {k: float(v) for k, v in logs.items()}
    result["weights_changed"] = bool(any(not np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(before, model.trainable_weights)))
    trained = _as_dict(model, model(x, training=False))
    path = folder / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    reloaded = _as_dict(loaded, loaded(x, training=False))
    result["round_trip_max_diff"] = max(float(np.max(np.abs(trained[k] - reloaded[k]))) for k in trained)
    result["round_trip_outputs"] = sorted(reloaded) == sorted(trained)
    return result


GAN_SIZE = 32
"""The GAN check's image side: the U-Net's size multiple; the PatchGAN scores 2 x 2 patches."""
GAN_STEPS = 2
GAN_BUILD_KWARGS = {"resnet_unet": {"encoder_depth": 18}}
"""Builder arguments of the GAN check's generators: the ResNet-18 encoder has the ResNet-34's blocks with
half the layers to compile, on both backends."""


def gan_weights_file(folder: Path, name: str) -> Path:
    """Where the TensorFlow side leaves a GAN's starting weights and loss weights for `check_gan`."""
    return Path(folder) / f"{name}.npz"


def check_gan(name: str, weights_folder: Path | None) -> dict:
    """`GANModel(generator, paired discriminator)` compiled as `training` does, `GAN_STEPS` train steps.

    With `weights_folder`, both networks and the loss weights start from the TensorFlow side's file;
    otherwise from this backend's initialisation with `GANModel`'s defaults (pix2pix's, Menon's).
    """
    from colorization_tf.models import get_spec
    from colorization_tf.models.batches import training_batch
    from colorization_tf.models.gan import GANModel

    spec = get_spec(name)
    keras.utils.set_random_seed(0)
    generator = spec.build(image_size=GAN_SIZE, **GAN_BUILD_KWARGS.get(name, {}))
    discriminator = spec.build_discriminator(image_size=GAN_SIZE)
    settings = {}
    path = gan_weights_file(weights_folder, name) if weights_folder else None
    if path is not None and path.exists():
        with np.load(path) as saved:
            generator.set_weights([saved[f"g{i}"] for i in range(len(generator.weights))])
            discriminator.set_weights([saved[f"d{i}"] for i in range(len(discriminator.weights))])
            settings = {"l1_weight": float(saved["l1_weight"]), "gan_weight": float(saved["gan_weight"])}
    gan = GANModel(generator, discriminator, **settings)
    gan.compile()
    x, y = training_batch(spec, BATCH, GAN_SIZE, seed=1)
    before = {net: [keras.ops.convert_to_numpy(w) for w in getattr(gan, net).trainable_weights] for net in ("generator", "discriminator")}
    steps = [{k: float(v) for k, v in gan.train_on_batch(x, y, return_dict=True).items()} for _ in range(GAN_STEPS)]
    moved = {net: bool(any(not np.array_equal(a, keras.ops.convert_to_numpy(b)) for a, b in zip(old, getattr(gan, net).trainable_weights)))
             for net, old in before.items()}
    iterations = {opt: int(keras.ops.convert_to_numpy(getattr(gan, opt).iterations)) for opt in ("optimizer", "d_optimizer")}
    return {"from_tensorflow": bool(settings), "steps": steps, "weights_changed": moved, "iterations": iterations}


def component_values() -> dict:
    """Every loss, metric class and custom layer on fixed inputs (the calling test recomputes them on TensorFlow)."""
    from tests._backend_inputs import component_inputs, components

    return {key: np.asarray(keras.ops.convert_to_numpy(fn())).tolist() for key, fn in components(component_inputs()).items()}


def _timed(check, *args) -> dict:
    start = time.perf_counter()
    try:
        result = check(*args)
    except Exception:  # report every model, not only the first failure
        result = {"error": traceback.format_exc(limit=6)}
    result["seconds"] = time.perf_counter() - start
    keras.backend.clear_session()
    return result


def main(argv: list[str]) -> int:
    """Args: model names (default: every registered model), and ``--gan-weights FOLDER``."""
    from colorization_tf.models import MODELS

    weights_folder = None
    if "--gan-weights" in argv:
        at = argv.index("--gan-weights")
        weights_folder, argv = Path(argv[at + 1]), argv[:at] + argv[at + 2:]
    names = argv or sorted(MODELS)
    report = {"backend": keras.backend.backend(), "tensorflow_imported": None, "models": {}, "gans": {}}
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            report["models"][name] = _timed(check_model, name, Path(folder))
    for name in names:
        if MODELS[name].discriminator:
            report["gans"][name] = _timed(check_gan, name, weights_folder)
    try:
        report["components"] = component_values()
    except Exception:
        report["components_error"] = traceback.format_exc(limit=6)
    report["tensorflow_imported"] = "tensorflow" in sys.modules
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main(sys.argv[1:]))
