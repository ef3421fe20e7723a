"""TensorFlow, imported on first use, so the models, losses and metrics import without it.

One job: the modules whose Keras components are backend-agnostic (`keras.ops`) still hold
TensorFlow-only helpers (the tf.data colour conversions, SSIM/PSNR evaluation, the dataset prior);
they bind ``tf`` from here. Importing such a module costs nothing; the first ``tf.<name>`` imports
TensorFlow, or raises an ImportError naming what needs it, on a machine without TensorFlow (a GPU
machine running Keras on JAX or PyTorch).

Reference:
    Keras 3's own ``keras.src.utils.module_utils.LazyModule`` (the same idea, private API).
"""

from __future__ import annotations

import importlib
import importlib.util
import types


class _LazyTensorFlow(types.ModuleType):
    """A stand-in for the `tensorflow` module that imports it on first attribute access."""

    def __init__(self):
        super().__init__("tensorflow (lazy, colorization_tf._tensorflow)")
        self._module = None

    def _load(self):
        if self._module is None:
            try:
                self._module = importlib.import_module("tensorflow")
            except ImportError as error:
                raise ImportError(
                    "colorization_tf/_tensorflow.py: this function needs TensorFlow (tf.data pipelines, colour "
                    "conversion, SSIM/PSNR evaluation, export, serving); the models, losses and Keras metrics run "
                    "on any Keras backend without it. Install tensorflow to use it."
                ) from error
        return self._module

    def __getattr__(self, name: str):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        value = getattr(self._load(), name)
        setattr(self, name, value)  # later look-ups skip __getattr__
        return value


tf = _LazyTensorFlow()
"""Use as ``from colorization_tf._tensorflow import tf``."""


def available() -> bool:
    """Whether TensorFlow can be imported here."""
    return importlib.util.find_spec("tensorflow") is not None
