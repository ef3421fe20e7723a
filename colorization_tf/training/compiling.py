"""Compiling a model for training: losses, metrics and optimizers from a `TrainConfig`.

Names resolve to the project's own losses and metrics first (`colorization_tf.losses`,
`colorization_tf.metrics`), else to Keras'. A `GANModel` gets two optimizers (generator and
discriminator) with pix2pix's betas by default.
"""

from __future__ import annotations

import inspect

import keras

from colorization_tf.models.gan import GAN_BETAS, GANModel
from colorization_tf.training.config import TrainConfig


def _is_serialized_object(value) -> bool:
    return isinstance(value, dict) and "class_name" in value and "config" in value


def resolve_loss(spec):
    """Turns a loss spec (name, Keras object, serialised object, or dict per output) into losses.

    Names in `colorization_tf.losses.LOSS_NAMES` go to `losses.get_loss` (whose errors propagate,
    e.g. "wce" without class weights); any other name goes to `keras.losses.get`.
    """
    if spec is None:
        return None
    if _is_serialized_object(spec):
        return keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, dict):
        return {k: resolve_loss(v) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [resolve_loss(v) for v in spec]
    if isinstance(spec, str):
        from colorization_tf import losses as project_losses

        if spec.lower() in project_losses.LOSS_NAMES:
            # Our own names: let their errors (e.g. "wce" needs class_weights) reach the caller.
            return project_losses.get_loss(spec)
        return keras.losses.get(spec)
    return spec


def resolve_metrics(spec, normalization=None):
    """Like `resolve_loss` for metrics: names go to `colorization_tf.metrics.get_metric`, else Keras.

    Args:
        spec: a name, a Keras metric, a serialized metric, or a list/dict of them.
        normalization: the model's normalisation name, given to the metrics that report in Lab
            units (`metrics.NORMALIZED_METRICS`); without it they assume Zhang's.
    """
    if spec is None:
        return None
    if _is_serialized_object(spec):
        return keras.saving.deserialize_keras_object(spec)
    if isinstance(spec, dict):
        return {k: resolve_metrics(v, normalization) for k, v in spec.items()}
    if isinstance(spec, (list, tuple)):
        return [resolve_metrics(v, normalization) for v in spec]
    if isinstance(spec, str):
        from colorization_tf import metrics as project_metrics

        kwargs = {}
        if normalization is not None and spec.lower() in project_metrics.NORMALIZED_METRICS:
            kwargs["normalization"] = getattr(normalization, "name", normalization)
        try:
            return project_metrics.get_metric(spec, **kwargs)
        except ValueError:
            return spec
    return spec


def make_optimizer(name: str | keras.optimizers.Optimizer = "adam", learning_rate: float = 1e-3, **kwargs):
    """Builds a Keras optimizer by name; `betas=(b1, b2)` maps to beta_1/beta_2.

    Args:
        name: "adam", "adamw", "adadelta", "sgd", "rmsprop", "nadam", "adagrad", "lion", ...
            or an optimizer instance (returned as-is).
        learning_rate: learning rate (or a schedule).
        **kwargs: optimizer arguments (weight_decay, momentum, epsilon, ...).

    Returns:
        A new `keras.optimizers.Optimizer`.
    """
    if isinstance(name, keras.optimizers.Optimizer):
        return name
    kwargs = dict(kwargs)
    if "betas" in kwargs:
        kwargs["beta_1"], kwargs["beta_2"] = kwargs.pop("betas")
    classes = {
        cls.__name__.lower(): cls
        for cls in vars(keras.optimizers).values()
        if isinstance(cls, type) and issubclass(cls, keras.optimizers.Optimizer)
    }
    key = name.lower().replace("_", "")
    if key not in classes:
        raise ValueError(f"Unknown optimizer {name!r}; choose from {sorted(classes)}")
    return classes[key](learning_rate=learning_rate, **kwargs)


def _accepts_betas(name) -> bool:
    """Whether the optimizer `name` (or instance) takes beta_1/beta_2 (Adam, AdamW, Nadam, Lion, ...)."""
    try:
        opt_class = type(make_optimizer(name, 1e-3)) if isinstance(name, str) else type(name)
    except ValueError:
        return False
    return "beta_1" in inspect.signature(opt_class.__init__).parameters


def gan_optimizer_kwargs(config: TrainConfig) -> dict:
    """`config.optimizer_kwargs`, or pix2pix's betas (0.5, 0.999) when it is empty and the optimizer takes betas."""
    if config.optimizer_kwargs:
        return dict(config.optimizer_kwargs)
    return {"betas": GAN_BETAS} if _accepts_betas(config.optimizer) else {}


def compile_model(model: keras.Model, config: TrainConfig, jit_compile: bool = False, normalization=None) -> keras.Model:
    """Compiles `model` from `config` (call under the strategy scope).

    Under a mixed_float16 policy Keras wraps the optimizer in a `LossScaleOptimizer` itself.
    A `GANModel` gets two separate optimizers, generator and discriminator, both built from
    `config.optimizer`/`config.learning_rate` (and `config.optimizer_kwargs`, defaulting to
    pix2pix's betas (0.5, 0.999)); its losses are its own. `normalization` (the model's) lets
    metrics named in `config.metrics` report in Lab units.
    """
    if isinstance(model, GANModel):
        kwargs = gan_optimizer_kwargs(config)
        model.compile(
            optimizer=make_optimizer(config.optimizer, config.learning_rate, **kwargs),
            d_optimizer=make_optimizer(config.optimizer, config.learning_rate, **kwargs),
            jit_compile=jit_compile,
        )
        return model
    optimizer = make_optimizer(config.optimizer, config.learning_rate, **config.optimizer_kwargs)
    model.compile(
        optimizer=optimizer,
        loss=resolve_loss(config.loss),
        loss_weights=config.loss_weights,
        metrics=resolve_metrics(config.metrics, normalization),
        jit_compile=jit_compile,
    )
    return model
