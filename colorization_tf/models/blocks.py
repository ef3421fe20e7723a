"""Layers and layer-stack helpers shared by several model families.

Stable API (other model files import these; keep names and arguments backward compatible):

- `conv_bn_act(x, filters, kernel_size=3, ...)`: Conv2D [+ BatchNorm] + activation, with the
  BatchNorm either before the activation (Iizuka et al., ResNet) or after it (Zhang et al.'s
  ECCV16 blocks, PolyChromify's CNN).
- `pixel_dense(x, units, ...)`: a "Dense" layer applied to every pixel, i.e. a 1x1 convolution.
- `upsample(x, factor, ...)`: parameter-free upsampling (nearest, or bilinear via `BilinearUpsample`).
- `FusionLayer`: tiles a global feature vector over a feature map and concatenates it
  (Iizuka et al.'s fusion layer, before its 1x1 convolution).

Every helper takes a `name` prefix so layer names stay readable and stable for checkpoints, and
a `dtype` so callers can keep an output layer float32 under mixed precision.
"""

from __future__ import annotations

import keras
from keras import ops

BN_BEFORE_ACTIVATION = "before_activation"
"""Conv -> BatchNorm -> activation (Ioffe & Szegedy; Iizuka et al.; ResNet)."""
BN_AFTER_ACTIVATION = "after_activation"
"""Conv -> activation -> BatchNorm (Zhang et al. ECCV16 blocks; PolyChromify's CNN)."""
_BN_POSITIONS = (BN_BEFORE_ACTIVATION, BN_AFTER_ACTIVATION)


def _layer_name(prefix: str | None, suffix: str) -> str | None:
    return None if prefix is None else f"{prefix}_{suffix}"


def conv_bn_act(
    x,
    filters: int,
    kernel_size: int = 3,
    *,
    strides: int = 1,
    dilation_rate: int = 1,
    activation: str | None = "relu",
    batch_norm: bool = True,
    bn_position: str = BN_BEFORE_ACTIVATION,
    use_bias: bool = True,
    kernel_initializer="he_normal",
    padding: str = "same",
    dtype=None,
    name: str | None = None,
):
    """Applies Conv2D, optional BatchNormalization and an activation to `x`.

    Without batch norm (or with it after the activation) the activation is fused into the Conv2D,
    so the layer count and names stay minimal: ``{name}_conv`` [``{name}_bn``] [``{name}_act``].

    Args:
        x: 4-D tensor ``[batch, H, W, C]`` (symbolic Keras tensor).
        filters: output channels.
        kernel_size: square kernel size.
        strides: convolution stride.
        dilation_rate: dilation of the kernel.
        activation: Keras activation name, or None for a linear output.
        batch_norm: whether to add a BatchNormalization layer.
        bn_position: `BN_BEFORE_ACTIVATION` or `BN_AFTER_ACTIVATION`.
        use_bias: whether the Conv2D has a bias (zero-initialised).
        kernel_initializer: Keras initializer for the kernel.
        padding: "same" or "valid".
        dtype: layer dtype / dtype policy (e.g. "float32" for an output under mixed precision);
            None follows the global policy.
        name: layer-name prefix (None lets Keras choose).

    Returns:
        The output tensor.

    Reference:
        Iizuka, Simo-Serra & Ishikawa 2016 (conv + BN + ReLU); Zhang, Isola & Efros 2016 (conv +
        ReLU, BN at the end of a block); Ghiotto 2021, PolyChromify (conv + ReLU + BN).
    """
    if bn_position not in _BN_POSITIONS:
        raise ValueError(f"blocks.py: bn_position must be one of {_BN_POSITIONS}, got {bn_position!r}")
    fuse_activation = not batch_norm or bn_position == BN_AFTER_ACTIVATION
    x = keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        dilation_rate=dilation_rate,
        padding=padding,
        use_bias=use_bias,
        activation=activation if fuse_activation else None,
        kernel_initializer=kernel_initializer,
        bias_initializer="zeros",
        dtype=dtype,
        name=_layer_name(name, "conv"),
    )(x)
    if batch_norm:
        x = keras.layers.BatchNormalization(dtype=dtype, name=_layer_name(name, "bn"))(x)
        if not fuse_activation and activation is not None:
            x = keras.layers.Activation(activation, dtype=dtype, name=_layer_name(name, "act"))(x)
    return x


def pixel_dense(
    x,
    units: int,
    *,
    activation: str | None = "relu",
    batch_norm: bool = False,
    bn_position: str = BN_AFTER_ACTIVATION,
    kernel_initializer="glorot_uniform",
    dtype=None,
    name: str | None = None,
):
    """A fully-connected layer applied independently to every pixel: a 1x1 Conv2D.

    Same parameters (``C * units + units``) and same function as `keras.layers.Dense` on a 4-D
    tensor, but it runs as a convolution, which measured at least as fast as Dense's broadcast
    matmul on CPU, and makes the model fully convolutional.

    Args:
        x: 4-D tensor ``[batch, H, W, C]``.
        units: output channels ("neurons").
        activation: Keras activation name or None.
        batch_norm: add BatchNormalization.
        bn_position: `BN_BEFORE_ACTIVATION` or `BN_AFTER_ACTIVATION`.
        kernel_initializer: Keras initializer (Keras Dense's default, glorot_uniform).
        dtype: layer dtype / policy, None for the global policy.
        name: layer-name prefix.

    Returns:
        The output tensor ``[batch, H, W, units]``.

    Reference:
        Ghiotto 2021, PolyChromify ("Dense" layers on 128x128xC feature maps).
    """
    return conv_bn_act(
        x,
        units,
        kernel_size=1,
        activation=activation,
        batch_norm=batch_norm,
        bn_position=bn_position,
        kernel_initializer=kernel_initializer,
        dtype=dtype,
        name=name,
    )


def upsample(x, factor: int = 2, *, interpolation: str = "nearest", dtype=None, name: str | None = None):
    """Parameter-free spatial upsampling by an integer `factor`.

    Args:
        x: 4-D tensor.
        factor: scale factor for height and width.
        interpolation: "nearest" or "bilinear".
        dtype: layer dtype / policy ("float32" when it produces a model output).
        name: layer name.

    Returns:
        The upsampled tensor.

    Reference:
        Iizuka et al. 2016 (nearest upsampling in the colorization network).
    """
    if interpolation == "bilinear":
        return BilinearUpsample(factor, dtype=dtype, name=name)(x)
    return keras.layers.UpSampling2D(size=factor, interpolation=interpolation, dtype=dtype, name=name)(x)


@keras.saving.register_keras_serializable(package="colorization_tf")
class BilinearUpsample(keras.layers.Layer):
    """Bilinear upsampling by an integer factor that also works on fully dynamic shapes.

    `keras.layers.UpSampling2D(interpolation="bilinear")` needs the spatial size at trace time,
    so a graph traced for `[None, None, None, C]` inputs (an any-size export) fails. This layer never
    needs the size: with an integer factor f, bilinear resizing with half-pixel centres (what
    `tf.image.resize` and `jax.image.resize` do when enlarging) gives output pixel f j + p, along each
    axis, as a fixed blend of input pixels j and j - 1 or j + 1 (the edge pixel repeated), with
    weights that depend on the phase p only. It is computed with shifts, blends and one interleaving
    reshape, in float32, in `keras.ops` (JAX, PyTorch), and matches `tf.image.resize(x, f * size,
    "bilinear")` to float32 rounding. On the TensorFlow backend it is `tf.image.resize` itself, so
    TensorFlow runs keep the exact numbers they had (the blends round differently in the last bit).

    Args:
        factor: integer scale factor for height and width.

    Reference:
        `tf.image.resize` (half_pixel_centers: source coordinate (i + 0.5) / f - 0.5, clamped).
    """

    def __init__(self, factor: int = 2, **kwargs):
        super().__init__(**kwargs)
        self.factor = int(factor)

    def _upsample_axis(self, x, axis: int):
        """Bilinear x`factor` along `axis` (1: height, 2: width) of a float32 `[B, H, W, C]` tensor."""
        if self.factor == 1:
            return x

        def along(sl):  # x[..., sl, ...] on `axis`: plain slicing works on any backend and dynamic sizes
            return x[(slice(None),) * axis + (sl,)]

        previous = ops.concatenate([along(slice(None, 1)), along(slice(None, -1))], axis=axis)  # x[j - 1], edge kept
        following = ops.concatenate([along(slice(1, None)), along(slice(-1, None))], axis=axis)  # x[j + 1], edge kept
        phases = []
        for phase in range(self.factor):
            offset = (phase + 0.5) / self.factor - 0.5  # source coordinate minus j, in (-0.5, 0.5)
            neighbour = previous if offset < 0 else following
            phases.append((1.0 - abs(offset)) * x + abs(offset) * neighbour)
        shape = list(ops.shape(x))
        shape[0] = -1
        shape[axis] = shape[axis] * self.factor
        return ops.reshape(ops.stack(phases, axis=axis + 1), tuple(shape))

    def call(self, x):
        x = ops.cast(x, "float32")
        if keras.backend.backend() == "tensorflow":  # TF's own kernel: the numbers the suite was validated on
            from colorization_tf._tensorflow import tf

            return tf.cast(tf.image.resize(x, tf.shape(x)[1:3] * self.factor, method="bilinear"), self.compute_dtype)
        return self.upsample_ops(x)

    def upsample_ops(self, x):
        """The `keras.ops` upsampling (JAX, PyTorch; also callable on TensorFlow), in this layer's dtype."""
        y = self._upsample_axis(self._upsample_axis(x, 1), 2)
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return (b, None if h is None else h * self.factor, None if w is None else w * self.factor, c)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="colorization_tf")
class FusionLayer(keras.layers.Layer):
    """Tiles a global feature vector over a feature map and concatenates the two.

    ``FusionLayer()([local, global_vector])`` with ``local`` ``[B, h, w, C]`` and
    ``global_vector`` ``[B, D]`` returns ``[B, h, w, D + C]``: at every position (u, v) the vector
    ``[y_global; y_local(u, v)]``. The learned part of Iizuka's fusion (``sigma(W [..] + b)``) is
    the 1x1 convolution that follows this layer. Works for any h, w (they may be unknown until
    run time), so the global branch can run at a fixed size while the local one runs at any size.

    Reference:
        Iizuka, Simo-Serra & Ishikawa 2016, Section 3.3 (fusion layer); Lee, Liang & Peaks 2016,
        Table IV.
    """

    def build(self, input_shape):
        local_shape, global_shape = input_shape
        if len(local_shape) != 4 or len(global_shape) != 2:
            raise ValueError(
                "blocks.py: FusionLayer expects [feature_map [B, h, w, C], vector [B, D]], got shapes "
                f"{tuple(local_shape)} and {tuple(global_shape)}"
            )

    def call(self, inputs):
        local, global_vector = inputs
        shape = ops.shape(local)
        tiled = ops.broadcast_to(
            global_vector[:, None, None, :],
            (shape[0], shape[1], shape[2], ops.shape(global_vector)[-1]),
        )
        return ops.concatenate([tiled, ops.cast(local, tiled.dtype)], axis=-1)

    def compute_output_shape(self, input_shape):
        local_shape, global_shape = input_shape
        channels = None
        if local_shape[-1] is not None and global_shape[-1] is not None:
            channels = local_shape[-1] + global_shape[-1]
        return (*local_shape[:-1], channels)
