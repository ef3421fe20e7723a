"""Iizuka et al.'s global/local fusion network with scene classification, two configurations.

One builder, `build_iizuka`, makes both:

- ``"original224"``: Iizuka, Simo-Serra & Ishikawa 2016 at 224x224 (205 Places scene classes).
- ``"lee128"``: Lee, Liang & Peaks 2016's replication at 128x128 (their tables I-V; 100 classes,
  as in their code — their write-up says 205).

Architecture (every convolution 3x3 + BatchNorm + ReLU, He-normal weights, zero biases):

- low-level: original224 64 s2, 128, 128 s2, 256, 256 s2, 512 (1/8 resolution);
  lee128 64 s2, 128, 128 s2, 256 (1/4).
- mid-level: original224 512, 256; lee128 256, 128.
- global: original224 512 s2, 512, 512 s2, 512 -> FC 1024-512-256;
  lee128 256 s2, 256, 256 s2, 256 -> FC 512-256-128.
- fusion: [global vector; mid-level features] at every position; original224 then a 1x1 conv
  512 -> 256; lee128 none: the concatenation (128 + 128) goes straight into the first 3x3
  colorization conv, which is the fusion weight in Lee et al.'s code (``c1``).
- colorization: original224 128, up x2, 64, 64, up x2, 32 -> 2 sigmoid;
  lee128 128, 64, up x2, 32 -> 2 sigmoid (both at 1/2 resolution).
- classification: FC 256 -> classes, from the second-to-last global FC layer (512 wide in
  original224, 256 in lee128).
- Parameters: original224 42,380,847 (205 classes); lee128 12,808,838 (100 classes). Neither
  paper states a count.

The colour output is predicted at half the input resolution (as in both papers) and brought to
the input's resolution by a parameter-free bilinear x2 upsampling (output ``"ab"``, sigmoid
values in [0, 1] = (ab + 128) / 255, float32). ``"scene"`` gives class logits (float32). Fully
connected layers of the global and classification networks also get BatchNorm + ReLU; only the
two outputs have none. In particular there is **no BatchNorm right before the sigmoid**: Lee et
al.'s only-red/green/blue results came from that saturation bug.

Choices where Lee et al.'s tables are inconsistent:

- Table IV lists "upsample 32x32x64 -> 64x64x64" right after a conv producing 32x32x128, then a
  conv 64x64x64 -> 64x64x32. The reading that keeps every listed shape true is a missing conv
  128 -> 64 at 32x32 before the upsampling (the original likewise has 64-wide convs around its
  first upsampling): colorization = conv 128, conv 64, up x2, conv 32, output 2.
- Table IV gives the fusion output as 32x32x256, which is the concatenation itself (128 + 128).
  Lee et al.'s code (``network.py``) concatenates and applies its 3x3 conv ``c1`` (256 -> 128)
  to it, with no 1x1 layer between: lee128 does the same (the original's 1x1 fusion layer maps
  512 -> 256 and is kept in original224).
- Table V's classification input is 256 wide, which is the global network's second-to-last FC
  layer (FC 512-256-128) as its text says; in the original the second-to-last is the 512 layer.
  Both configurations therefore branch from the second-to-last global FC layer.

Any image size at inference: the low-level network is shared by both branches. The global branch
sees a bilinear rescale of the input to ``image_size`` x ``image_size`` (so its fully connected
layers keep their size) while the mid-level branch runs on the full image, whose height and width
must be multiples of `SIZE_MULTIPLE` (8; the lee128 network needs only 4). When the input already
is ``image_size`` (training), the low-level features are computed once and shared, as Iizuka
et al. point out; the rescale compiles under XLA (plain bilinear, no antialiasing).

Loss: MSE on ``"ab"`` + alpha x cross-entropy on ``"scene"``, see `iizuka_losses`; alpha is
`IIZUKA_ALPHA_ORIGINAL` (1/300) in the original, `IIZUKA_ALPHA_LEE` (5) in Lee et al., who found 5
balanced *their* losses — a sum of squared errors over the image, far larger than Keras's mean.

Reference:
    S. Iizuka, E. Simo-Serra, H. Ishikawa, "Let there be Color!: Joint End-to-end Learning of
    Global and Local Image Priors for Automatic Image Colorization with Simultaneous
    Classification", SIGGRAPH 2016. H. Lee, J. Liang, N. Peaks, "Image Colorization with
    Convolutional Neural Networks" (replication at 128x128), 2016.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from colorization_tf.models.blocks import BN_BEFORE_ACTIVATION, FusionLayer, conv_bn_act, upsample
from colorization_tf.models.spec import ModelSpec

IIZUKA_ALPHA_ORIGINAL = 1.0 / 300.0
"""Weight of the classification loss in Iizuka et al. 2016."""
IIZUKA_ALPHA_LEE = 5.0
"""Weight Lee et al. 2016 found to balance their (sum-reduced) colour loss and the cross-entropy."""

SIZE_MULTIPLE = 8
"""Input height and width must be multiples of this (the original's low-level stride)."""

UPSAMPLE = "up"
"""Marker for a x2 nearest-neighbour upsampling in `IizukaConfig.colorization`."""

KERNEL_INITIALIZER = "he_normal"
"""Lee et al.: weight std proportional to 1 / sqrt(fan-in); biases zero."""


@dataclasses.dataclass(frozen=True)
class IizukaConfig:
    """Layer widths of one configuration.

    Attributes:
        image_size: training resolution; the global branch always sees this size.
        num_classes: scene classes of the classification head.
        low_level: (filters, stride) of the shared low-level convolutions.
        mid_level: filters of the mid-level convolutions (stride 1).
        global_convs: (filters, stride) of the global network's convolutions.
        global_fc: widths of the global network's fully connected layers (the last one is fused).
        classifier_from: index into `global_fc` of the layer the classification head reads.
        classifier_units: hidden width of the classification head.
        fusion_units: output channels of the fusion layer's 1x1 convolution; None: no such layer
            (the concatenation feeds the first colorization convolution, Lee et al.'s code).
        colorization: filters of the colorization convolutions, `UPSAMPLE` for a x2 upsampling.
    """

    image_size: int
    num_classes: int
    low_level: tuple[tuple[int, int], ...]
    mid_level: tuple[int, ...]
    global_convs: tuple[tuple[int, int], ...]
    global_fc: tuple[int, ...]
    classifier_from: int
    classifier_units: int
    fusion_units: int | None
    colorization: tuple

    @property
    def low_level_stride(self) -> int:
        stride = 1
        for _, s in self.low_level:
            stride *= s
        return stride


IIZUKA_CONFIGS = {
    "original224": IizukaConfig(
        image_size=224,
        num_classes=205,
        low_level=((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1)),
        mid_level=(512, 256),
        global_convs=((512, 2), (512, 1), (512, 2), (512, 1)),
        global_fc=(1024, 512, 256),
        classifier_from=1,
        classifier_units=256,
        fusion_units=256,
        colorization=(128, UPSAMPLE, 64, 64, UPSAMPLE, 32),
    ),
    "lee128": IizukaConfig(
        image_size=128,
        num_classes=100,
        low_level=((64, 2), (128, 1), (128, 2), (256, 1)),
        mid_level=(256, 128),
        global_convs=((256, 2), (256, 1), (256, 2), (256, 1)),
        global_fc=(512, 256, 128),
        classifier_from=1,
        classifier_units=256,
        fusion_units=None,
        colorization=(128, 64, UPSAMPLE, 32),
    ),
}
"""The two configurations `build_iizuka` accepts."""


@keras.saving.register_keras_serializable(package="colorization_tf")
class SharedLowLevelFeatures(keras.layers.Layer):
    """Runs the shared low-level network for the local and the global branch.

    ``call(L)`` returns ``(local, global)``: the low-level features of the full image, and those
    of the image rescaled (bilinear) to ``global_size`` x ``global_size``. When the input's
    height and width are statically known to be ``global_size`` (training at the paper's
    resolution) the rescale is the identity and the features are computed once for both.

    Args:
        network: a Keras model/layer, ``[B, H, W, 1] -> [B, H / s, W / s, C]`` (the low-level
            features network), shared by both branches.
        global_size: side of the global branch's fixed-size input.
        size_multiple: H and W must be multiples of this; checked when they are static.

    Reference:
        Iizuka et al. 2016, Section 3.2 (low-level features network shared by both branches;
        the global branch always sees a 224x224 rescale).
    """

    def __init__(self, network, global_size: int, size_multiple: int = SIZE_MULTIPLE, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.global_size = int(global_size)
        self.size_multiple = int(size_multiple)

    def build(self, input_shape):
        if not self.network.built:
            self.network.build(input_shape)

    def _check_size(self, shape):
        for dim in shape[1:3]:
            if dim is not None and dim % self.size_multiple:
                raise ValueError(
                    f"iizuka.py: input height and width must be multiples of {self.size_multiple}, "
                    f"got {tuple(shape[1:3])}; pad or resize the image first"
                )

    def call(self, inputs, training=None):
        self._check_size(inputs.shape)
        local = self.network(inputs, training=training)
        if tuple(inputs.shape[1:3]) == (self.global_size, self.global_size):
            return local, local
        rescaled = ops.image.resize(
            inputs, (self.global_size, self.global_size), interpolation="bilinear", antialias=False
        )
        return local, self.network(ops.cast(rescaled, inputs.dtype), training=training)

    def compute_output_spec(self, inputs, training=None):
        self._check_size(inputs.shape)
        local = self.network.compute_output_spec(inputs)
        size = (self.global_size, self.global_size)
        glob = self.network.compute_output_spec(
            keras.KerasTensor((inputs.shape[0], *size, inputs.shape[-1]), dtype=inputs.dtype)
        )
        return local, glob

    def get_config(self):
        config = super().get_config()
        config.update(
            network=keras.saving.serialize_keras_object(self.network),
            global_size=self.global_size,
            size_multiple=self.size_multiple,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"))
        return cls(network=network, **config)


def _conv(x, filters, strides, name):
    return conv_bn_act(
        x,
        filters,
        3,
        strides=strides,
        batch_norm=True,
        bn_position=BN_BEFORE_ACTIVATION,
        kernel_initializer=KERNEL_INITIALIZER,
        name=name,
    )


def _fc(x, units, name):
    x = keras.layers.Dense(units, kernel_initializer=KERNEL_INITIALIZER, name=f"{name}_dense")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.Activation("relu", name=f"{name}_act")(x)


def _low_level_network(cfg: IizukaConfig) -> keras.Model:
    inputs = keras.Input(shape=(None, None, 1), name="low_level_input")
    x = inputs
    for i, (filters, stride) in enumerate(cfg.low_level):
        x = _conv(x, filters, stride, f"low{i + 1}")
    return keras.Model(inputs, x, name="low_level")


def build_iizuka(
    config: str = "lee128",
    image_size: int | None = None,
    num_classes: int | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds Iizuka et al.'s network in the original 224 or Lee et al.'s 128 configuration.

    Args:
        config: "lee128" or "original224" (`IIZUKA_CONFIGS`).
        image_size: side of the global branch's input (the training resolution); defaults to the
            configuration's (128 or 224). Must be a multiple of the total stride of the low-level
            and global networks (16 for lee128, 32 for original224).
        num_classes: scene classes; defaults to 100 (lee128, Lee et al.'s code) or 205
            (original224, Places).
        name: model name; defaults to ``"iizuka_<config>"``.

    Returns:
        A `keras.Model` with input ``"L"`` ``[B, H, W, 1]`` (any H, W that are multiples of
        `SIZE_MULTIPLE`) and outputs ``{"ab": [B, H, W, 2] sigmoid, "scene": [B, classes]
        logits}``, both float32.

    Raises:
        ValueError: unknown config, or an image_size / num_classes the network cannot take.

    Reference:
        Iizuka et al. 2016, Section 3 and Fig. 2; Lee, Liang & Peaks 2016, Tables I-V.
    """
    if config not in IIZUKA_CONFIGS:
        raise ValueError(f"iizuka.py: unknown config {config!r}; choose from {sorted(IIZUKA_CONFIGS)}")
    cfg = IIZUKA_CONFIGS[config]
    overrides = {}
    if image_size is not None:
        overrides["image_size"] = image_size
    if num_classes is not None:
        overrides["num_classes"] = num_classes
    cfg = dataclasses.replace(cfg, **overrides)
    global_stride = cfg.low_level_stride
    for _, s in cfg.global_convs:
        global_stride *= s
    if not isinstance(cfg.image_size, int) or cfg.image_size <= 0 or cfg.image_size % global_stride:
        raise ValueError(
            f"iizuka.py: image_size must be a positive multiple of {global_stride} for {config!r}, "
            f"got {cfg.image_size!r}"
        )
    if not isinstance(cfg.num_classes, int) or cfg.num_classes < 1:
        raise ValueError(f"iizuka.py: num_classes must be a positive int, got {cfg.num_classes!r}")

    inputs = keras.Input(shape=(None, None, 1), name="L")
    local, glob = SharedLowLevelFeatures(
        _low_level_network(cfg), cfg.image_size, SIZE_MULTIPLE, name="low_level_features"
    )(inputs)

    x = local
    for i, filters in enumerate(cfg.mid_level):
        x = _conv(x, filters, 1, f"mid{i + 1}")
    mid = x

    g = glob
    for i, (filters, stride) in enumerate(cfg.global_convs):
        g = _conv(g, filters, stride, f"global{i + 1}")
    g = keras.layers.Flatten(name="global_flatten")(g)
    global_fc = []
    for i, units in enumerate(cfg.global_fc):
        g = _fc(g, units, f"global_fc{i + 1}")
        global_fc.append(g)

    s = _fc(global_fc[cfg.classifier_from], cfg.classifier_units, "class_fc1")
    scene = keras.layers.Dense(
        cfg.num_classes, kernel_initializer=KERNEL_INITIALIZER, dtype="float32", name="scene"
    )(s)

    x = FusionLayer(name="fusion_concat")([mid, global_fc[-1]])
    if cfg.fusion_units is not None:
        x = conv_bn_act(x, cfg.fusion_units, 1, kernel_initializer=KERNEL_INITIALIZER, name="fusion")
    n_up = n_conv = 0
    for item in cfg.colorization:
        if item == UPSAMPLE:
            n_up += 1
            x = upsample(x, 2, interpolation="nearest", name=f"color_up{n_up}")
        else:
            n_conv += 1
            x = _conv(x, item, 1, f"color{n_conv}")
    half_res = keras.layers.Conv2D(
        2,
        3,
        padding="same",
        activation="sigmoid",
        kernel_initializer=KERNEL_INITIALIZER,
        dtype="float32",
        name="ab_half_resolution",
    )(x)
    ab = upsample(half_res, 2, interpolation="bilinear", dtype="float32", name="ab")
    return keras.Model(inputs, {"ab": ab, "scene": scene}, name=name or f"iizuka_{config}")


LEE_HALF_RESOLUTION_WEIGHT = 0.25
"""Weight of the summed squared error on the full-resolution ``"ab"`` output that gives Lee et al.'s
sum over their half-resolution prediction: each half-resolution value is counted 4 times after
the x2 upsampling."""


def iizuka_losses(alpha: float = IIZUKA_ALPHA_ORIGINAL, *, sum_squared_error: bool = False):
    """Losses and loss weights for ``model.compile`` of an Iizuka model.

    Args:
        alpha: weight of the classification loss (`IIZUKA_ALPHA_ORIGINAL` or `IIZUKA_ALPHA_LEE`).
        sum_squared_error: Lee et al.'s colour loss, the squared error *summed* over each image
            (their ``tf.reduce_sum``; their alpha = 5 balanced that), weighted
            `LEE_HALF_RESOLUTION_WEIGHT` so it sums over their half-resolution prediction; False:
            Iizuka et al.'s mean squared error, weight 1.

    Returns:
        ``(losses, loss_weights)``: the squared error on ``"ab"`` and sparse categorical
        cross-entropy from logits on ``"scene"`` (integer labels), both averaged over the batch
        (Lee et al. summed both over the batch: the same balance).

    Reference:
        Iizuka et al. 2016, Eq. 3 (alpha = 1/300); Lee, Liang & Peaks 2016, Section III (alpha = 5)
        and their ``network.py`` (reduce_sum of the squared error and of the cross-entropy).
    """
    from colorization_tf.losses import SumSquaredError

    colour = SumSquaredError(reduction="sum_over_batch_size") if sum_squared_error else keras.losses.MeanSquaredError()
    losses = {"ab": colour, "scene": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
    return losses, {"ab": LEE_HALF_RESOLUTION_WEIGHT if sum_squared_error else 1.0, "scene": float(alpha)}


def iizuka_metrics():
    """Training metrics of an Iizuka model: the scene head's accuracy (``"scene_accuracy"`` in the history)."""
    return {"scene": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}


_CONTRACT = dict(normalization="lee2016", size_multiple=SIZE_MULTIPLE, labels="scene", losses=iizuka_losses, metrics=iizuka_metrics)
SPECS = (
    ModelSpec("iizuka_lee128", build_iizuka, image_size=128, kwargs={"config": "lee128"},
              paper="Lee, Liang & Peaks 2016 (replicating Iizuka et al. 2016)", **_CONTRACT),
    ModelSpec("iizuka_224", build_iizuka, image_size=224, kwargs={"config": "original224"},
              paper="Iizuka, Simo-Serra & Ishikawa 2016, Let there be Color!", **_CONTRACT),
)
"""Lee et al.'s 128-px replication and Iizuka et al.'s 224-px original: the scene head trained on labels."""
