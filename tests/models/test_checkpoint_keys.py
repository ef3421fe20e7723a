"""Every registered model keeps the checkpoint keys its runs were saved with, so they still resume (issue 18).

`tests/fixtures/checkpoint_keys.json` holds, for each model of `colorization_tf.models.MODELS` (and
the GAN discriminator it pairs with), the keys and shapes a run's checkpoint stores
(`training.checkpoints.state_variables`), recorded from the main branch's model files by
`tests/fixtures/record_checkpoint_keys.py` (its docstring says how to regenerate it). A checkpoint
restores by key: a renamed layer or a changed shape would leave its runs unable to resume.
"""

from __future__ import annotations

import json

import keras
import pytest

from colorization_tf.models import MODELS
from tests.fixtures.record_checkpoint_keys import OUT, keys_and_shapes, size_of

RECORDED = json.loads(OUT.read_text(encoding="utf-8"))


def test_every_registered_model_was_recorded():
    assert sorted(RECORDED) == sorted(MODELS)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_checkpoint_keys_and_shapes_are_the_recorded_ones(name):
    keras.mixed_precision.set_global_policy("float32")
    spec = MODELS[name]
    assert keys_and_shapes(spec.build(image_size=size_of(name))) == RECORDED[name]["model"]
    if "discriminator" in RECORDED[name] or spec.discriminator:
        assert keys_and_shapes(spec.build_discriminator(image_size=size_of(name))) == RECORDED[name]["discriminator"]
