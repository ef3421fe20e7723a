"""`GANModel`: a conditional GAN (pix2pix recipe) pairing a colorization generator with a
PatchGAN discriminator, with its own train step and two optimizers, on any Keras backend.

The losses are `keras.ops`. The train and test steps dispatch on `keras.backend.backend()`:
TensorFlow keeps its two gradient tapes and divides each loss per replica under `tf.distribute`;
JAX runs a stateless step (`jax.vjp` of one forward pass through both networks' `stateless_call`,
both optimizers' `stateless_apply`, the updated state returned, as Keras' JAX trainer expects).
TensorFlow is imported by the TensorFlow step only, so the model trains under JAX without it.

Reference:
    Isola et al. 2017, pix2pix (the GAN recipe Menon & Talukdar 2021 follow); Keras' guide
    "Customizing what happens in fit() with JAX" (the stateless train step).
"""

from __future__ import annotations

import keras
from keras import ops

from colorization_tf.data.elements import split_element

GAN_LEARNING_RATE = 2e-4
GAN_BETAS = (0.5, 0.999)
PIX2PIX_L1_WEIGHT = 100.0
LOG_NAMES = ("loss", "g_gan", "g_l1", "d_loss")
"""The step's logs, in the order `GANModel._gan_losses` returns them (generator loss first)."""
STEP_BACKENDS = ("tensorflow", "jax")
"""Backends with a GAN train step (the test step and the losses run on every backend)."""


def _adam() -> keras.optimizers.Optimizer:
    """pix2pix's optimizer: Adam, learning rate 2e-4, betas (0.5, 0.999)."""
    return keras.optimizers.Adam(GAN_LEARNING_RATE, beta_1=GAN_BETAS[0], beta_2=GAN_BETAS[1])


def _bce_logits(labels, logits):
    """Mean sigmoid cross-entropy of `logits` against `labels`: numerically stable, and on TensorFlow
    the kernel of `tf.nn.sigmoid_cross_entropy_with_logits` (the numbers the suite was validated on)."""
    return ops.mean(ops.binary_crossentropy(labels, logits, from_logits=True))


def _per_replica(loss):
    """(TensorFlow) Divides a per-replica mean loss so that summing gradients over replicas gives the mean."""
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / tf.cast(replicas, loss.dtype) if replicas > 1 else loss


def _scale_stateless(optimizer, values, loss):
    """(JAX) `optimizer.scale_loss(loss)` with the optimizer's variables (its loss scale) read from `values`."""
    with keras.StatelessScope(state_mapping=list(zip(optimizer.variables, values))):
        return optimizer.scale_loss(loss)


@keras.saving.register_keras_serializable(package="colorization_tf")
class GANModel(keras.Model):
    """Conditional GAN for colorization (pix2pix recipe) with its own train_step.

    The generator maps encoded L to encoded ab; the discriminator (PatchGAN) scores (L, ab)
    pairs with one logit per patch. Discriminator loss: BCE(real, 1) + BCE(fake, 0), halved.
    Generator loss: `gan_weight` * BCE(D(L, G(L)), 1) + `l1_weight` * mean|ab - G(L)|.
    Under mixed_float16 both optimizers are `LossScaleOptimizer`s and each loss goes through
    `optimizer.scale_loss` before the gradients are taken (without it, float16 gradients
    underflow to zero).

    Trains on TensorFlow and JAX (`STEP_BACKENDS`); evaluates on every Keras backend. Under JAX
    the discriminator optimizer's variables ride in the model's non-trainable state (Keras' JAX
    trainer carries one optimizer's state), so `fit` updates both optimizers without side effects.

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
        self._trackers = {n: keras.metrics.Mean(name=n) for n in LOG_NAMES}

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

    @property
    def non_trainable_variables(self):
        """Both networks' non-trainable variables; under JAX, then the discriminator optimizer's."""
        variables = super().non_trainable_variables
        d_optimizer = getattr(self, "d_optimizer", None)
        if keras.backend.backend() == "jax" and d_optimizer is not None and d_optimizer.built:
            return variables + list(d_optimizer.variables)
        return variables

    # The losses: keras.ops, the networks called through `generate` / `discriminate`.

    def _discriminator_inputs(self, l, ab):
        ab = ops.cast(ab, l.dtype)
        if len(self.discriminator.inputs) == 2:
            return [l, ab]
        return ops.concatenate([l, ab], axis=-1)

    def _gan_losses(self, l, ab, generate, discriminate):
        """(g_loss, g_gan, g_l1, d_loss) of one forward pass; `generate` / `discriminate` call the networks."""
        fake = generate(l)
        if isinstance(fake, dict):
            fake = fake["ab"]
        fake = ops.cast(fake, "float32")
        ab = ops.cast(ab, "float32")
        real_logits = ops.cast(discriminate(self._discriminator_inputs(l, ab)), "float32")
        fake_logits = ops.cast(discriminate(self._discriminator_inputs(l, fake)), "float32")
        d_loss = 0.5 * (_bce_logits(ops.ones_like(real_logits), real_logits) + _bce_logits(ops.zeros_like(fake_logits), fake_logits))
        g_gan = _bce_logits(ops.ones_like(fake_logits), fake_logits)
        g_l1 = ops.mean(ops.abs(ab - fake))
        g_loss = self.gan_weight * g_gan + self.l1_weight * g_l1
        return g_loss, g_gan, g_l1, d_loss

    def _stateful_losses(self, l, ab, training):
        """The losses with the networks called statefully (TensorFlow, PyTorch)."""
        return self._gan_losses(l, ab, lambda x: self.generator(x, training=training),
                                lambda x: self.discriminator(x, training=training))

    def _unpack(self, data):
        l, target = split_element(data)
        return l, target.ab

    def _update(self, values):
        for name, value in zip(LOG_NAMES, values):
            self._trackers[name].update_state(value)
        return {name: t.result() for name, t in self._trackers.items()}

    # The steps: `(data)` on TensorFlow and PyTorch, `(state, data)` on JAX (Keras' trainers call them so).

    def train_step(self, *args):
        """One GAN step: both networks' losses from one forward pass, each network's optimizer applied.

        Args:
            *args: `(data)` on TensorFlow; `(state, data)` on JAX, with `state` the trainable,
                non-trainable, optimizer and metric variables' values.

        Returns:
            The logs (`LOG_NAMES`: running means); on JAX `(logs, state)` with the updated state.
        """
        backend = keras.backend.backend()
        if backend == "tensorflow":
            return self._tf_train_step(*args)
        if backend == "jax":
            return self._jax_train_step(*args)
        raise NotImplementedError(f"colorization_tf/models/gan.py: GANModel trains on {' and '.join(STEP_BACKENDS)} "
                                  f"(its two-optimizer train step), not on the {backend!r} Keras backend")

    def test_step(self, *args):
        """The losses without updates: `(data)` -> logs; on JAX `(state, data)` -> `(logs, state)`."""
        if keras.backend.backend() == "jax":
            return self._jax_test_step(*args)
        (data,) = args
        l, ab = self._unpack(data)
        return self._update(self._stateful_losses(l, ab, training=False))

    def _tf_train_step(self, data):
        import tensorflow as tf

        l, ab = self._unpack(data)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            g_loss, g_gan, g_l1, d_loss = self._stateful_losses(l, ab, training=True)
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

    # JAX: the model's state lists, split per network.

    def _jax_split(self, trainable, non_trainable):
        """JAX state -> (generator, discriminator) trainable values, their non-trainable values, and
        the discriminator optimizer's values; checks once that the model's variables are laid out so."""
        n_g, n_gs = len(self.generator.trainable_variables), len(self.generator.non_trainable_variables)
        n_ds = len(self.discriminator.non_trainable_variables)
        if not getattr(self, "_jax_layout_checked", False):
            self._check_jax_layout()
        return (list(trainable[:n_g]), list(trainable[n_g:]), list(non_trainable[:n_gs]),
                list(non_trainable[n_gs:n_gs + n_ds]), list(non_trainable[n_gs + n_ds:]))

    def _check_jax_layout(self) -> None:
        if self.d_optimizer is None or not (self.optimizer.built and self.d_optimizer.built):
            raise ValueError("colorization_tf/models/gan.py: compile the GANModel with built generator and "
                             "discriminator (or call build_optimizers()) before training it on JAX")
        expected = (self.generator.trainable_variables + self.discriminator.trainable_variables,
                    self.generator.non_trainable_variables + self.discriminator.non_trainable_variables + list(self.d_optimizer.variables))
        for got, want in zip((self.trainable_variables, self.non_trainable_variables), expected):
            if [id(v) for v in got] != [id(v) for v in want]:
                raise ValueError("colorization_tf/models/gan.py: the GANModel's variables are not the generator's then "
                                 "the discriminator's (do the two networks share layers?); its JAX step needs them so")
        self._jax_layout_checked = True

    def _stateless_losses(self, g_values, d_values, g_state, d_state, l, ab, training):
        """`_gan_losses` through the networks' `stateless_call`: (losses, (g_state, d_state) updated)."""
        states = [g_state, d_state]

        def generate(x):
            out, states[0] = self.generator.stateless_call(g_values, states[0], x, training=training)
            return out

        def discriminate(x):
            out, states[1] = self.discriminator.stateless_call(d_values, states[1], x, training=training)
            return out

        return self._gan_losses(l, ab, generate, discriminate), tuple(states)

    def _stateless_update(self, metric_values, losses):
        """The trackers' `update_state` on their variables' values: (logs, new values)."""
        logs, updated = {}, []
        for (name, tracker), value in zip(self._trackers.items(), losses):
            own = tracker.stateless_update_state(metric_values[len(updated):len(updated) + len(tracker.variables)], value)
            logs[name] = tracker.stateless_result(own)
            updated += list(own)
        return logs, updated

    def _jax_train_step(self, state, data):
        import jax

        trainable, non_trainable, g_opt_values, metric_values = state
        g_values, d_values, g_state, d_state, d_opt_values = self._jax_split(trainable, non_trainable)
        l, ab = self._unpack(data)

        def forward(g_values, d_values):
            losses, states = self._stateless_losses(g_values, d_values, g_state, d_state, l, ab, training=True)
            g_scaled, d_scaled = losses[0], losses[3]
            if self.scale_losses:
                g_scaled = _scale_stateless(self.optimizer, g_opt_values, g_scaled)
                d_scaled = _scale_stateless(self.d_optimizer, d_opt_values, d_scaled)
            return (g_scaled, d_scaled), (losses, states)

        # One forward pass pulled back once per loss: the two tapes of the TensorFlow step.
        (g_scaled, d_scaled), pullback, (losses, (g_state, d_state)) = jax.vjp(forward, g_values, d_values, has_aux=True)
        g_grads = pullback((ops.ones_like(g_scaled), ops.zeros_like(d_scaled)))[0]
        d_grads = pullback((ops.zeros_like(g_scaled), ops.ones_like(d_scaled)))[1]
        g_values, g_opt_values = self.optimizer.stateless_apply(g_opt_values, g_grads, g_values)
        d_values, d_opt_values = self.d_optimizer.stateless_apply(d_opt_values, d_grads, d_values)
        logs, metric_values = self._stateless_update(metric_values, losses)
        non_trainable = list(g_state) + list(d_state) + list(d_opt_values)
        return logs, (list(g_values) + list(d_values), non_trainable, g_opt_values, metric_values)

    def _jax_test_step(self, state, data):
        trainable, non_trainable, metric_values = state
        g_values, d_values, g_state, d_state, d_opt_values = self._jax_split(trainable, non_trainable)
        l, ab = self._unpack(data)
        losses, (g_state, d_state) = self._stateless_losses(g_values, d_values, g_state, d_state, l, ab, training=False)
        logs, metric_values = self._stateless_update(metric_values, losses)
        return logs, (trainable, list(g_state) + list(d_state) + d_opt_values, metric_values)

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
