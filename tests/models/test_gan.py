"""`GANModel`'s backend-agnostic losses on TensorFlow: the numbers of its original `tf.nn` step.

The losses are `keras.ops` (they also run on JAX: `tests/models/test_contract_backends.py` trains
the GAN there); on TensorFlow they must stay the kernels the suite was validated on, bit for bit.
The training behaviour (loss scaling, both optimizers, checkpoints, round trip) is tested in
`tests/test_training.py`.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from colorization_tf.models.gan import LOG_NAMES, GANModel
from tests._tiny_models import build_tiny_colorizer, build_tiny_discriminator, tiny_data


def _tf_reference_losses(gan, l, ab, training):
    """The losses as the TensorFlow-only step computed them (tf.nn / tf.reduce_mean), same networks."""

    def bce(labels, logits):
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))

    fake = tf.cast(gan.generator(l, training=training), tf.float32)
    ab = tf.cast(ab, tf.float32)
    real_logits = tf.cast(gan.discriminator([l, tf.cast(ab, l.dtype)], training=training), tf.float32)
    fake_logits = tf.cast(gan.discriminator([l, tf.cast(fake, l.dtype)], training=training), tf.float32)
    d_loss = 0.5 * (bce(tf.ones_like(real_logits), real_logits) + bce(tf.zeros_like(fake_logits), fake_logits))
    g_gan = bce(tf.ones_like(fake_logits), fake_logits)
    g_l1 = tf.reduce_mean(tf.abs(ab - fake))
    return gan.gan_weight * g_gan + gan.l1_weight * g_l1, g_gan, g_l1, d_loss


@pytest.mark.parametrize("training", [False, True])
def test_keras_ops_losses_are_the_tf_nn_losses_bit_for_bit(training):
    keras.utils.set_random_seed(0)
    gan = GANModel(build_tiny_colorizer(16), build_tiny_discriminator(16), l1_weight=100.0, gan_weight=0.5)
    l_enc, ab_enc = (tf.constant(a) for a in tiny_data(n=4))
    got = gan._stateful_losses(l_enc, ab_enc, training=training)
    want = _tf_reference_losses(gan, l_enc, ab_enc, training)
    assert len(got) == len(want) == len(LOG_NAMES)
    for name, a, b in zip(LOG_NAMES, got, want):
        assert np.isfinite(b.numpy()) and b.numpy() > 0, name
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_discriminator_optimizer_stays_out_of_the_model_state_on_tensorflow():
    """Only the JAX trainer carries the discriminator optimizer in the non-trainable state; on
    TensorFlow the model's variables (and so its checkpoints' "model" group) are the networks'."""
    gan = GANModel(build_tiny_colorizer(16), build_tiny_discriminator(16))
    gan.compile()
    assert gan.d_optimizer.built and len(gan.d_optimizer.variables) > 0
    networks = gan.generator.non_trainable_variables + gan.discriminator.non_trainable_variables
    assert [id(v) for v in gan.non_trainable_variables] == [id(v) for v in networks]


def test_a_backend_without_a_train_step_is_named(monkeypatch):
    gan = GANModel(build_tiny_colorizer(16), build_tiny_discriminator(16))
    monkeypatch.setattr(keras.backend, "backend", lambda: "numpy")
    with pytest.raises(NotImplementedError, match=r"colorization_tf/models/gan\.py: .*'numpy' Keras backend"):
        gan.train_step(None)
