"""Menon & Talukdar's ResNet U-Net: a full ResNet34 encoder on L and an upsample + conv decoder.

Encoder (He et al. 2016, built here because `keras.applications` has no ResNet34 and its ResNets
take 3 channels): stem 7x7/2 conv 64 + BN + ReLU + 3x3/2 max-pool, then basic blocks 3-4-6-3
(ResNet34; 2-2-2-2 for ResNet18) of 64/128/256/512 filters, the first block of stages 2-4 with
stride 2 and a 1x1 projection shortcut. Padding is explicit where torchvision pads symmetrically
(stem, max-pool and stride-2 3x3 convs) so converted torchvision weights see the same pixels.
Layer names follow torchvision's state-dict keys with "." replaced by "_" ("layer3_2_conv1",
"layer2_0_downsample_0", ...), which is how `load_resnet_weights` finds them.

Decoder: at each of the five scales back to full resolution, nearest-neighbour x2 upsampling then
3x3 convolutions (+ BN + ReLU), never transposed convolutions (Odena et al. 2016: resize + conv
avoids checkerboard artifacts); the encoder feature map of the same scale (stem output at 1/2,
stages 1-3 at 1/4-1/16, the L input itself at full resolution) is concatenated before the convs.
A 1x1 convolution with tanh gives the 2 ab channels (menon normalisation: ab / 110), float32.

Reference:
    Menon & Talukdar, "Analysis of Colourization of Monochrome Images using CNNs", NYU 2021
    (Sec. 3.5, Fig. 1, Fig. 3: encoder depth); He, Zhang, Ren & Sun, "Deep Residual Learning for
    Image Recognition", CVPR 2016 (Table 1); Ronneberger et al., "U-Net", MICCAI 2015; Odena,
    Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016.
"""

from __future__ import annotations

import os
import re
import warnings

import keras
import numpy as np

from colorization_tf.models.eccv16 import check_image_size
from colorization_tf.models.patchgan import build_patchgan
from colorization_tf.models.spec import ModelSpec

RESNET_STAGES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
"""Basic blocks per stage for each encoder depth (He et al. 2016, Table 1)."""
STAGE_FILTERS = (64, 128, 256, 512)
STEM_FILTERS = 64
STEM_KERNEL = 7
SIZE_MULTIPLE = 32
"""The encoder halves the resolution five times."""
# Decoder filters at 1/16, 1/8, 1/4, 1/2 and full resolution.
DECODER_FILTERS = (256, 128, 64, 64, 32)
# torchvision's BatchNorm: eps 1e-5, running-stat momentum 0.1 (Keras' momentum is 1 - that).
TORCH_BN_EPSILON = 1e-5
TORCH_BN_MOMENTUM = 0.9
# The variance of torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu"); uniform
# because it initialises several times faster on CPU.
CONV_INIT = dict(scale=2.0, mode="fan_out", distribution="uniform")
"""He uniform over fan_out (torchvision's ResNet init), as `keras.initializers.VarianceScaling` arguments."""


def conv_init() -> keras.initializers.Initializer:
    """A fresh `CONV_INIT` initializer, one per layer, drawing its seed when the model is built.

    One instance shared by every layer, created when this module is imported, gave every kernel of
    the same shape the same values (Keras seeds an instance once) from a seed drawn before the run
    was seeded, so same-shaped convolutions started identical and runs were not reproducible.
    """
    return keras.initializers.VarianceScaling(**CONV_INIT)

_ENCODER_LAYER = re.compile(r"^(conv1|bn1|layer\d+_\d+_(conv\d|bn\d|downsample_[01]))$")
_IGNORED_KEYS = re.compile(r"(^fc\.|num_batches_tracked$)")


def _error(message: str) -> ValueError:
    return ValueError(f"colorization_tf/models/resnet_unet.py: {message}")


def _bn(name: str):
    return keras.layers.BatchNormalization(epsilon=TORCH_BN_EPSILON, momentum=TORCH_BN_MOMENTUM, name=name)


def _conv(x, filters: int, kernel: int, stride: int, name: str):
    """Bias-free convolution padded as torchvision pads it (kernel // 2 on every side)."""
    if stride > 1 and kernel > 1:
        x = keras.layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, use_bias=False, kernel_initializer=conv_init(), name=name
    )(x)


def _basic_block(x, filters: int, stride: int, name: str):
    """ResNet basic block: two 3x3 convs with BN, identity or 1x1 projection shortcut."""
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = _conv(x, filters, 1, stride, f"{name}_downsample_0")
        shortcut = _bn(f"{name}_downsample_1")(shortcut)
    y = _conv(x, filters, 3, stride, f"{name}_conv1")
    y = _bn(f"{name}_bn1")(y)
    y = keras.layers.ReLU(name=f"{name}_relu1")(y)
    y = _conv(y, filters, 3, 1, f"{name}_conv2")
    y = _bn(f"{name}_bn2")(y)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet_encoder(inputs, encoder_depth: int = 34):
    """The ResNet encoder (no pooling head, no fc) on a 1-channel input.

    Args:
        inputs: a Keras tensor [B, H, W, 1] with H, W multiples of 32.
        encoder_depth: 18 or 34.

    Returns:
        The feature maps at 1/2 (stem, 64), 1/4, 1/8, 1/16 and 1/32 (stages 1-4), in that order.

    Reference:
        He et al. 2016, Table 1 (18- and 34-layer columns).
    """
    if encoder_depth not in RESNET_STAGES:
        raise _error(f"encoder_depth must be one of {sorted(RESNET_STAGES)}, got {encoder_depth!r}")
    x = _conv(inputs, STEM_FILTERS, STEM_KERNEL, 2, "conv1")
    x = _bn("bn1")(x)
    stem = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.ZeroPadding2D(1, name="maxpool_pad")(stem)  # zeros are safe after ReLU
    x = keras.layers.MaxPooling2D(3, strides=2, name="maxpool")(x)
    features = [stem]
    for stage, (blocks, filters) in enumerate(zip(RESNET_STAGES[encoder_depth], STAGE_FILTERS), start=1):
        for b in range(blocks):
            x = _basic_block(x, filters, 2 if (b == 0 and stage > 1) else 1, f"layer{stage}_{b}")
        features.append(x)
    return features


def build_resnet_unet(
    image_size=256,
    encoder_depth: int = 34,
    pretrained_weights: str | os.PathLike | None = None,
    name: str | None = None,
) -> keras.Model:
    """Builds the ResNet U-Net colorizer of Menon & Talukdar.

    Args:
        image_size: input side (multiple of 32), an (H, W) pair, or None for any size.
        encoder_depth: 34 (the paper's, default) or 18 (their Fig. 3 compares depths).
        pretrained_weights: optional path to ImageNet ResNet weights the user has (never
            downloaded): an .npz or .h5 holding torchvision state-dict arrays, or a Keras
            `.weights.h5` / `.keras` encoder, see `load_resnet_weights`. Random initialisation without it.
        name: model name (default "resnet<depth>_unet").

    Returns:
        A `keras.Model` with input "L" (menon normalisation: raw L, [B, H, W, 1]) and float32
        output "ab" ([B, H, W, 2], tanh, ab / 110).

    Reference:
        Menon & Talukdar 2021, Sec. 3.5; He et al. 2016; Ronneberger et al. 2015.
    """
    inputs = keras.Input(check_image_size(image_size, SIZE_MULTIPLE, "resnet_unet.py"), name="L")
    stem, s1, s2, s3, s4 = resnet_encoder(inputs, encoder_depth)
    x = s4
    for k, (skip, filters) in enumerate(zip((s3, s2, s1, stem, inputs), DECODER_FILTERS), start=1):
        x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"decoder{k}_up")(x)
        x = keras.layers.Concatenate(name=f"decoder{k}_concat")([x, skip])
        for c in (1, 2):
            x = keras.layers.Conv2D(
                filters, 3, padding="same", use_bias=False, kernel_initializer=conv_init(), name=f"decoder{k}_conv{c}"
            )(x)
            x = keras.layers.BatchNormalization(name=f"decoder{k}_bn{c}")(x)
            x = keras.layers.ReLU(name=f"decoder{k}_relu{c}")(x)
    outputs = keras.layers.Conv2D(2, 1, activation="tanh", dtype="float32", name="ab")(x)
    model = keras.Model(inputs, outputs, name=name or f"resnet{encoder_depth}_unet")
    if pretrained_weights is not None:
        load_resnet_weights(model, pretrained_weights)
    return model


def resnet_encoder_model(encoder_depth: int = 34, channels: int = 1, name: str | None = None) -> keras.Model:
    """The encoder alone as a Keras model (input "L", outputs the five feature maps of `resnet_encoder`):
    the layout of a `.weights.h5` / `.keras` encoder file that `load_resnet_weights` reads.

    Args:
        encoder_depth: 18 or 34.
        channels: input channels (3 for an ImageNet RGB encoder; `load_resnet_weights` sums conv1 over them).
        name: model name (default "resnet<depth>_encoder").
    """
    inputs = keras.Input((None, None, channels), name="L")
    return keras.Model(inputs, resnet_encoder(inputs, encoder_depth), name=name or f"resnet{encoder_depth}_encoder")


def encoder_depth_of(model: keras.Model) -> int:
    """18 or 34: the depth of `model`'s ResNet encoder, from its number of stage-3 blocks."""
    blocks = sum(1 for layer in model._flatten_layers(include_self=False) if re.fullmatch(r"layer3_\d+_conv1", layer.name))
    return next((depth for depth, stages in RESNET_STAGES.items() if stages[2] == blocks), 0)


def encoder_layers(model: keras.Model) -> list:
    """The encoder's Conv2D and BatchNormalization layers (those named after torchvision keys)."""
    return [layer for layer in model.layers if _ENCODER_LAYER.match(layer.name)]


def _read_arrays(path) -> dict[str, np.ndarray]:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise _error(f"pretrained weights file {path!r} does not exist")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {k: np.asarray(data[k]) for k in data.files}
        if ext in (".h5", ".hdf5"):
            import h5py

            arrays = {}

            def collect(key, obj):  # nested groups "layer1/0/conv1/weight" read as "layer1.0.conv1.weight"
                if isinstance(obj, h5py.Dataset):
                    arrays[key.replace("/", ".")] = np.asarray(obj)

            with h5py.File(path, "r") as f:
                f.visititems(collect)
            return arrays
    except (OSError, ValueError) as e:
        raise _error(f"cannot read pretrained weights {path!r}: {e}") from e
    raise _error(f"pretrained weights {path!r}: expected a .npz or .h5 file of torchvision state-dict arrays")


KERAS_WEIGHTS, KERAS_MODEL = ".weights.h5", ".keras"
"""Keras files of an encoder (`resnet_encoder_model`'s layer names): `save_weights` and `save`."""


def _is_keras_file(path: str) -> bool:
    low = path.lower()
    if low.endswith((KERAS_WEIGHTS, KERAS_MODEL)):
        return True
    if not low.endswith((".h5", ".hdf5")) or not os.path.isfile(path):
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:  # a legacy Keras model file (`model.save("x.h5")`), not torchvision arrays
            return "model_weights" in f or "keras_version" in f.attrs
    except OSError:
        return False


def _keras_source(model: keras.Model, path: str) -> keras.Model:
    """The Keras model a Keras encoder file holds: the file's own (`.keras`, legacy `.h5`), or for
    `.weights.h5` an encoder of `model`'s depth with the file's weights (RGB or L input)."""
    if not os.path.isfile(path):
        raise _error(f"encoder weights file {path!r} does not exist")
    if not path.lower().endswith(KERAS_WEIGHTS):
        try:
            return keras.saving.load_model(path, compile=False)
        except Exception as e:  # noqa: BLE001 -- Keras raises many kinds for a file that is no model
            raise _error(f"encoder weights {path!r}: cannot load it as a Keras model ({type(e).__name__}: {e})") from e
    depth, errors = encoder_depth_of(model), []
    for channels in (3, 1):
        source = resnet_encoder_model(depth, channels)
        try:
            with warnings.catch_warnings():  # Keras warns per layer before it raises on a wrong layout
                warnings.simplefilter("ignore")
                source.load_weights(path)
            return source
        except Exception as e:  # noqa: BLE001 -- a wrong layout raises ValueError, KeyError, ...
            errors.append(f"{channels}-channel input: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    raise _error(f"encoder weights {path!r} are not the weights of a Keras ResNet{depth} encoder "
                 f"(`resnet_unet.resnet_encoder_model({depth})`): {'; '.join(errors)}")


def _load_keras_encoder(model: keras.Model, path) -> int:
    path = os.fspath(path)
    source = _keras_source(model, path)
    layers = {layer.name: layer for layer in source._flatten_layers(include_self=False)}
    wanted = encoder_layers(model)
    missing = [layer.name for layer in wanted if layer.name not in layers]
    if missing:
        raise _error(f"encoder weights {path!r} ({source.name!r}) lack {len(missing)} of the encoder's {len(wanted)} layers "
                     f"(e.g. {missing[:3]}): not a Keras ResNet{encoder_depth_of(model)} encoder with this suite's layer names")
    depth, theirs_depth = encoder_depth_of(model), encoder_depth_of(source)
    if theirs_depth != depth:
        raise _error(f"encoder weights {path!r} hold a ResNet{theirs_depth or '?'} encoder ({source.name!r}); "
                     f"the model's is a ResNet{depth}")
    assignments = []
    for layer in wanted:
        theirs = layers[layer.name].weights
        if len(theirs) != len(layer.weights):
            raise _error(f"encoder weights {path!r}: layer {layer.name!r} has {len(theirs)} arrays, the encoder's {len(layer.weights)}")
        for variable, value in zip(layer.weights, theirs):
            value = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
            if layer.name == "conv1" and value.ndim == 4 and value.shape[2] != variable.shape[2]:
                value = value.sum(axis=2, keepdims=True)  # RGB -> L
            if tuple(value.shape) != tuple(variable.shape):
                raise _error(f"encoder weights {path!r}: {variable.path!r} has shape {value.shape}, "
                             f"layer {layer.name!r} needs {tuple(variable.shape)}")
            assignments.append((variable, value.astype(np.float32)))
    for variable, value in assignments:  # only once everything checked: a bad file changes nothing
        variable.assign(value)
    return len(assignments)


def load_resnet_weights(model: keras.Model, path) -> int:
    """Loads ImageNet ResNet weights (torchvision layout, or a Keras encoder) into the encoder of `model`, by name.

    A Keras file (`.weights.h5` of `resnet_encoder_model(depth)` or `(depth, channels=3)`, a `.keras`
    model, or a legacy Keras `.h5` model) is read by layer name: every encoder layer ("conv1",
    "bn1", "layer2_0_downsample_0", ...) must be in it with the same shapes (conv1 summed over
    RGB). Otherwise:

    The file maps torchvision state-dict keys ("conv1.weight", "bn1.running_mean",
    "layer2.0.downsample.0.weight", ...) to arrays in torchvision's layout (conv kernels
    [out, in, kh, kw]), e.g. written by
    ``np.savez(path, **{k: v.numpy() for k, v in torchvision_resnet34.state_dict().items()})``.
    The first convolution's RGB kernel is summed over its 3 input channels, so a gray image with
    R = G = B gives the same response; "fc.*" and "num_batches_tracked" entries are ignored.
    The decoder keeps its random initialisation. Note the pretrained statistics assume ImageNet
    RGB normalisation while the model sees raw L: fine-tuning adapts them.

    Args:
        model: a model from `build_resnet_unet`.
        path: .npz or .h5 file of torchvision arrays, or a Keras `.weights.h5` / `.keras` / `.h5` encoder.

    Returns:
        Number of arrays loaded.

    Raises:
        ValueError: unreadable file, missing keys, keys for blocks the encoder lacks (e.g. a
            ResNet34 file for an 18-layer encoder), or shape mismatches; the message names the
            file and the key. Nothing is assigned unless the whole file checks out.

    Reference:
        He et al. 2016; torchvision's `resnet34` state-dict naming.
    """
    if _is_keras_file(os.fspath(path)):
        return _load_keras_encoder(model, path)
    arrays = _read_arrays(path)
    used = set()
    assignments = []
    for layer in encoder_layers(model):
        prefix = layer.name.replace("_", ".")
        if isinstance(layer, keras.layers.BatchNormalization):
            names = ("weight", "bias", "running_mean", "running_var")
            targets = (layer.gamma, layer.beta, layer.moving_mean, layer.moving_variance)
        else:
            names, targets = ("weight",), (layer.kernel,)
        for suffix, variable in zip(names, targets):
            key = f"{prefix}.{suffix}"
            if key not in arrays:
                raise _error(f"pretrained weights {os.fspath(path)!r} lack {key!r} (for layer {layer.name!r})")
            value = arrays[key]
            if suffix == "weight" and value.ndim == 4:
                if layer.name == "conv1" and value.shape[1] != 1:
                    value = value.sum(axis=1, keepdims=True)  # RGB -> L
                value = value.transpose(2, 3, 1, 0)  # [out, in, kh, kw] -> [kh, kw, in, out]
            if tuple(value.shape) != tuple(variable.shape):
                raise _error(
                    f"pretrained weights {os.fspath(path)!r}: {key!r} has shape {arrays[key].shape}, "
                    f"layer {layer.name!r} needs {tuple(variable.shape)} (after OIHW -> HWIO)"
                )
            assignments.append((variable, value.astype(np.float32)))
            used.add(key)
    unexpected = sorted(k for k in arrays if k not in used and not _IGNORED_KEYS.search(k))
    if unexpected:
        raise _error(
            f"pretrained weights {os.fspath(path)!r} hold {len(unexpected)} arrays this encoder has no layer for "
            f"(e.g. {unexpected[:3]}): wrong encoder_depth?"
        )
    for variable, value in assignments:  # only once everything checked: a bad file changes nothing
        variable.assign(value)
    return len(assignments)


SPECS = (ModelSpec("resnet_unet", build_resnet_unet, "menon", 256, paper="Menon & Talukdar 2021, ResNet34 U-Net",
                   size_multiple=SIZE_MULTIPLE, discriminator=build_patchgan),)
"""Menon & Talukdar's generator, paired with their PatchGAN discriminator."""
