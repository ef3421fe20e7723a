"""Model output -> ab in Lab units: the suite's one decoder of colour heads.

Regression heads (output ``"ab"``) are decoded by the model's normalisation; classification heads
(output ``"logits"``, ab-bin logits at 1/4 resolution) by the annealed mean over their bins
(`quantize.AnnealedMeanDecode`, T = 0.38), with the bins the model stores (`eccv16.BinLogits`)
or its spec's `Head` states. Both come from the model's `Preprocessor` (`ModelSpec.preprocessor`),
which the decoders take in place of a bare normalisation. Evaluation, the training figures and the export's serving signature
all go through `outputs_to_ab` / `predict_ab`. Extra outputs (Iizuka's ``"scene"``) are ignored.
Written in `keras.ops` (any Keras backend); only a resize to a size known at run time alone (a
TensorFlow graph traced for any image size: the export) uses `tf.image.resize`.

Reference:
    Zhang, Isola & Efros 2016, Sec. 2.2 (annealed mean, T = 0.38).
"""

from __future__ import annotations

import keras
from keras import ops

from colorization_tf import color
from colorization_tf.models.spec import colorizer_of

COLOUR_OUTPUTS = ("ab", "logits")
"""Names of the colour output of a regression and of a classification head."""
_LOGITS_NORMALIZATION = "zhang"  # annealed-mean decoding returns ab / 110, the Zhang et al. encoding


def pick_output(model, outputs, names=COLOUR_OUTPUTS):
    """(name, tensor) of the colour output among a model's outputs (tensor, list or dict)."""
    if isinstance(outputs, dict):
        for name in names:
            if name in outputs:
                return name, outputs[name]
        raise ValueError(f"Model outputs {sorted(outputs)} hold neither 'ab' nor 'logits'")
    if isinstance(outputs, (list, tuple)):
        output_names = list(getattr(model, "output_names", []) or [])
        for name in names:
            if name in output_names:
                return name, outputs[output_names.index(name)]
        return ("ab" if outputs[0].shape[-1] == 2 else "logits"), outputs[0]
    return ("ab" if outputs.shape[-1] == 2 else "logits"), outputs


def default_decode(num_bins: int | None = None, gamut: str = "zhang", bin_width: float | None = None):
    """The annealed-mean decoding layer of `colorization_tf.quantize` (T = 0.38) for `num_bins` bins.

    Args:
        num_bins: the logits' channel count Q; without `bin_width` the width is inferred from it
            (`quantize.bin_width_for_num_bins`: 313 -> 10), which is ambiguous for some wide
            grids (21 and 22 both give 65 bins): pass the stored width when there is one.
            None: Zhang's 313 bins.
        gamut: the bin set the model was trained on (see `quantize.ab_bin_centers`).
        bin_width: the grid width the model was built with (`models.eccv16.stored_bins`, `Head.bin_width`).

    Returns:
        An `AnnealedMeanDecode` layer: logits -> ab / 110.
    """
    from colorization_tf.quantize import ZHANG_BIN_WIDTH, AnnealedMeanDecode, bin_width_for_num_bins

    if bin_width is not None:
        width = float(bin_width)
    else:
        width = ZHANG_BIN_WIDTH if num_bins is None else bin_width_for_num_bins(int(num_bins), gamut)
    return AnnealedMeanDecode(bin_width=width, gamut=gamut)


def model_decode(model, num_bins: int | None = None, head=None):
    """The decoding layer of a classification model.

    Its bins, in this order: those its `BinLogits` layer stores; those `head` (its spec's `Head`)
    states; else the width inferred from `num_bins` (or its logits' channel count), for models
    built from a bare bin count.
    """
    from colorization_tf.models.eccv16 import stored_bins

    net = colorizer_of(model)
    bins = stored_bins(net)
    if bins is not None:
        return default_decode(num_bins, gamut=bins[1], bin_width=bins[0])
    if head is not None and head.bin_width is not None:
        return head.decoder()
    if num_bins is None:
        num_bins = colour_output_channels(net)
    return default_decode(num_bins, gamut=head.gamut if head is not None else "zhang")


def colour_output_channels(model) -> int | None:
    """Static channel count of a model's "logits" output (None when unknown)."""
    outputs = getattr(model, "outputs", None)
    if not outputs:
        return None
    names = list(getattr(model, "output_names", []) or [])
    tensor = outputs[names.index("logits")] if "logits" in names else outputs[0]
    channels = tensor.shape[-1]
    return None if channels is None else int(channels)


def logits_to_ab(logits, size=None, decode=None):
    """Bin logits `[N, h, w, Q]` -> ab in Lab units, resized bilinearly to `size` when given.

    Args:
        logits: classification-head output.
        size: target (height, width), or None to stay at the logits' resolution.
        decode: layer logits -> ab / 110 (default: annealed mean over the Q bins, whose width is
            inferred from Q; see `default_decode`).

    Returns:
        float32 `[N, H, W, 2]` ab.
    """
    logits = ops.cast(logits, "float32")
    decode = decode or default_decode(logits.shape[-1])
    ab = color.get_normalization(_LOGITS_NORMALIZATION).decode_ab_ops(decode(logits))
    return ab if size is None else _resize_to(ab, size)


def _static_size(size):
    """(height, width) as Python ints, or None when the size is known only at run time (a TF graph)."""
    if not ops.is_tensor(size) and not any(ops.is_tensor(d) for d in size):
        return int(size[0]), int(size[1])
    if keras.backend.backend() != "tensorflow":  # JAX and PyTorch sizes are concrete
        return tuple(int(d) for d in ops.convert_to_numpy(ops.stack([ops.convert_to_tensor(d) for d in size])))
    from colorization_tf._tensorflow import tf

    static = tf.get_static_value(size if tf.is_tensor(size) else tf.stack([tf.convert_to_tensor(d, tf.int32) for d in size]))
    return None if static is None else (int(static[0]), int(static[1]))


def _resize_to(ab, size):
    """Bilinear resize of `ab` to `size` unless its static shape already matches."""
    static = _static_size(size)
    if static is None:  # an any-size TensorFlow graph (the export): keras.ops.image.resize needs the size
        from colorization_tf._tensorflow import tf

        if isinstance(size, (tuple, list)):
            size = tf.stack([tf.convert_to_tensor(d, tf.int32) for d in size])
        return tf.image.resize(ab, size, method="bilinear")
    if ab.shape[1] == static[0] and ab.shape[2] == static[1]:
        return ab
    return ops.image.resize(ab, static, interpolation="bilinear")


def outputs_to_ab(model, outputs, preprocessor, size=None, decode=None):
    """A model call's outputs -> ab in Lab units: the one "model output -> colour" decoder.

    Regression heads ("ab") are decoded with the model's normalisation; classification heads
    ("logits") with `decode` (default: `model_decode`, with the bins of the preprocessor's head
    when the model stores none); the result is resized bilinearly to `size` when given.

    Args:
        model: the model that produced `outputs` (for its output names and stored bins).
        outputs: its outputs (tensor, list or dict; "scene" and other extra heads are ignored).
        preprocessor: the model's `Preprocessor`, or its normalisation (`Normalization` or name).
        size: target (height, width), or None.
        decode: layer logits -> ab / 110 for classification heads.

    Returns:
        float32 `[N, H, W, 2]` ab.
    """
    name, out = pick_output(model, outputs)
    if name == "logits":
        return logits_to_ab(out, size, decode or model_decode(model, out.shape[-1], head=getattr(preprocessor, "head", None)))
    ab = color.get_normalization(preprocessor).decode_ab_ops(out)
    return ab if size is None else _resize_to(ab, size)


def predict_ab(model, l_encoded, preprocessor, decode=None, training: bool = False):
    """Runs `model` on encoded L and returns real ab (Lab units) at the L's resolution.

    Args:
        model: a colorization model (output "ab", or "logits" for classification heads);
            a `GANModel` runs its generator.
        l_encoded: `[N, H, W, 1]` encoded L.
        preprocessor: the model's `Preprocessor`, or its normalisation (`Normalization` or name).
        decode: layer logits -> ab / 110 for classification heads (default: `model_decode`).
        training: passed to the model.

    Returns:
        float32 `[N, H, W, 2]` ab.
    """
    net = colorizer_of(model)
    l_encoded = ops.convert_to_tensor(l_encoded, "float32")
    return outputs_to_ab(net, net(l_encoded, training=training), preprocessor, spatial_size(l_encoded), decode)


def spatial_size(images):
    """(height, width) of `[N, H, W, C]` images: Python ints when static, else scalar tensors (a TF graph)."""
    static = tuple(images.shape[1:3])
    return static if None not in static else tuple(ops.shape(images)[1:3])
