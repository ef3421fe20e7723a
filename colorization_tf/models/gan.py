"""`GANModel`: a conditional GAN (pix2pix recipe) pairing a colorization generator with a
PatchGAN discriminator, with its own train step and two optimizers.

Reference:
    Isola et al. 2017, pix2pix (the GAN recipe Menon & Talukdar 2021 follow).
"""

from __future__ import annotations

import keras
import tensorflow as tf

GAN_LEARNING_RATE = 2e-4
GAN_BETAS = (0.5, 0.999)
PIX2PIX_L1_WEIGHT = 100.0


def _adam() -> keras.optimizers.Optimizer:
    """pix2pix's optimizer: Adam, learning rate 2e-4, betas (0.5, 0.999)."""
    return keras.optimizers.Adam(GAN_LEARNING_RATE, beta_1=GAN_BETAS[0], beta_2=GAN_BETAS[1])


def _bce_logits(labels, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


def _per_replica(loss):
    """Divides a per-replica mean loss so that summing gradients over replicas gives the mean."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss


@keras.saving.register_keras_serializable(package="colorization_tf")
class GANModel(keras.Model):
    """Conditional GAN for colorization (pix2pix recipe) with its own train_step.

    The generator maps encoded L to encoded ab; the discriminator (PatchGAN) scores (L, ab)
    pairs with one logit per patch. Discriminator loss: BCE(real, 1) + BCE(fake, 0), halved.
    Generator loss: `gan_weight` * BCE(D(L, G(L)), 1) + `l1_weight` * mean|ab - G(L)|.
    Under mixed_float16 both optimizers are `LossScaleOptimizer`s and each loss goes through
    `optimizer.scale_loss` before the gradients are taken (without it, float16 gradients
    underflow to zero).

    Calling the model runs the generator, so `predict`, `export_saved_model` and the sample
    figures work on it directly.

    Args:
        generator: `keras.Model` L -> ab (input "L", output "ab").
        discriminator: `keras.Model` taking [L, ab] (two inputs) or their channel concat
            (one input) and returning patch logits (float32).
        l1_weight: weight of the L1 term (pix2pix: 100).
        gan_weight: weight of the adversarial term.

    Reference:
        Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial Networks";
        Menon & Talukdar 2021 (GAN variant of their U-Net).
    """

    def __init__(self, generator, discriminator, l1_weight: float = PIX2PIX_L1_WEIGHT, gan_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.l1_weight = float(l1_weight)
        self.gan_weight = float(gan_weight)
        self.d_optimizer = None
        self.scale_losses = True
        self._trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "g_gan", "g_l1", "d_loss")}

    def call(self, inputs, training=False):
        return self.generator(inputs, training=training)

    def build(self, input_shape=None):
        self.built = True

    def compile(self, optimizer=None, d_optimizer=None, **kwargs):
        """Compiles with pix2pix defaults: Adam 2e-4, betas (0.5, 0.999) for both networks.

        Extra kwargs (e.g. jit_compile) go to `keras.Model.compile`. Under mixed_float16 both
        optimizers end up wrapped in `LossScaleOptimizer`.
        """
        optimizer = optimizer or _adam()
        d_optimizer = d_optimizer or _adam()
        kwargs.pop("loss", None)
        super().compile(optimizer=optimizer, **kwargs)
        if self.dtype_policy.name == "mixed_float16" and not isinstance(d_optimizer, keras.optimizers.LossScaleOptimizer):
            d_optimizer = keras.optimizers.LossScaleOptimizer(d_optimizer)
        self.d_optimizer = d_optimizer
        if self.generator.built and self.discriminator.built:
            self.build_optimizers()

    def build_optimizers(self) -> None:
        """Creates both optimizers' slots for their own network's variables."""
        if not self.optimizer.built:
            self.optimizer.build(self.generator.trainable_variables)
        if not self.d_optimizer.built:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self):
        return list(self._trackers.values())

    def _discriminate(self, l, ab, training):
        ab = tf.cast(ab, l.dtype)
        if len(self.discriminator.inputs) == 2:
            return self.discriminator([l, ab], training=training)
        return self.discriminator(tf.concat([l, ab], axis=-1), training=training)

    def _gan_losses(self, l, ab, training):
        fake = self.generator(l, training=training)
        if isinstance(fake, dict):
            fake = fake["ab"]
        fake = tf.cast(fake, tf.float32)
        ab = tf.cast(ab, tf.float32)
        real_logits = tf.cast(self._discriminate(l, ab, training), tf.float32)
        fake_logits = tf.cast(self._discriminate(l, fake, training), tf.float32)
        d_loss = 0.5 * (_bce_logits(tf.ones_like(real_logits), real_logits) + _bce_logits(tf.zeros_like(fake_logits), fake_logits))
        g_gan = _bce_logits(tf.ones_like(fake_logits), fake_logits)
        g_l1 = tf.reduce_mean(tf.abs(ab - fake))
        g_loss = self.gan_weight * g_gan + self.l1_weight * g_l1
        return g_loss, g_gan, g_l1, d_loss

    def _unpack(self, data):
        from colorization_tf.data.targets import split_element

        l, target = split_element(data)
        return l, target.ab

    def _update(self, values):
        for name, value in zip(("loss", "g_gan", "g_l1", "d_loss"), values):
            self._trackers[name].update_state(value)
        return {name: t.result() for name, t in self._trackers.items()}

    def train_step(self, data):
        l, ab = self._unpack(data)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            g_loss, g_gan, g_l1, d_loss = self._gan_losses(l, ab, training=True)
            g_scaled = _per_replica(g_loss)
            d_scaled = _per_replica(d_loss)
            if self.scale_losses:
                g_scaled = self.optimizer.scale_loss(g_scaled)
                d_scaled = self.d_optimizer.scale_loss(d_scaled)
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        self.optimizer.apply(g_tape.gradient(g_scaled, g_vars), g_vars)
        self.d_optimizer.apply(d_tape.gradient(d_scaled, d_vars), d_vars)
        return self._update((g_loss, g_gan, g_l1, d_loss))

    def test_step(self, data):
        l, ab = self._unpack(data)
        return self._update(self._gan_losses(l, ab, training=False))

    def get_config(self):
        return {
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "l1_weight": self.l1_weight,
            "gan_weight": self.gan_weight,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        generator = keras.saving.deserialize_keras_object(config.pop("generator"))
        discriminator = keras.saving.deserialize_keras_object(config.pop("discriminator"))
        return cls(generator, discriminator, **config)
