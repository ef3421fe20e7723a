"""Fixed inputs and the component calls that the backend tests evaluate on two Keras backends.

`tests/_backend_contract.py` evaluates `components(component_inputs())` on JAX (or another
backend) and `tests/models/test_contract_backends.py` on TensorFlow; the values must agree. Keys
name what is computed; every value is a NumPy-convertible array.
"""

from __future__ import annotations

import numpy as np

SEED = 7


def component_inputs() -> dict:
    rng = np.random.default_rng(SEED)
    ab_true = rng.uniform(-0.8, 0.8, (2, 16, 16, 2)).astype("float32")
    ab_true[1] *= 0.02  # a gray image: the weighted loss masks it
    return {
        "ab_true": ab_true,
        "ab_pred": rng.uniform(-0.8, 0.8, (2, 16, 16, 2)).astype("float32"),
        "logits": rng.normal(size=(2, 4, 4, 313)).astype("float32"),
        "class_weights": rng.uniform(0.5, 2.0, 313).astype("float32"),
        "features": rng.normal(size=(2, 5, 7, 3)).astype("float32"),
    }


def _metric(metric, pairs):
    for y_true, y_pred in pairs:
        metric.update_state(y_true, y_pred)
    return metric.result()


def components(inputs: dict) -> dict:
    """name -> zero-argument callable computing one component's value on `inputs`."""
    from colorization_tf import losses, metrics, quantize
    from colorization_tf.models import blocks, heads

    t, p, logits, cw, x = (inputs[k] for k in ("ab_true", "ab_pred", "logits", "class_weights", "features"))
    pairs = [(t, p), (p, t * 0.5)]
    table = {}
    for encoding in losses.ENCODINGS:
        for mode in losses.DOWNSAMPLING:
            table[f"ce_{encoding}_{mode}"] = lambda e=encoding, m=mode: losses.SoftEncodedCrossEntropy(encoding=e, downsample=m)(t, logits)
            table[f"wce_{encoding}_{mode}"] = lambda e=encoding, m=mode: losses.SoftEncodedCrossEntropy(
                encoding=e, downsample=m, class_weights=cw)(t, logits)
    table.update({
        "l1_ssim": lambda: losses.PixelSSIMLoss("l1")(t, p),
        "mse_ssim": lambda: losses.PixelSSIMLoss("mse")(t, p),
        "ssim_01": lambda: losses.ssim_01(t, p),
        "sse": lambda: losses.SumSquaredError()(t, p),
        "ab_l1_metric": lambda: _metric(metrics.ABMeanAbsoluteError("zhang"), pairs),
        "polychromify_accuracy_metric": lambda: _metric(metrics.PolyChromifyAccuracy(), pairs),
        "cs520_accuracy_metric": lambda: _metric(metrics.CS520Accuracy("zhang"), pairs),
        "bilinear_x2": lambda: blocks.BilinearUpsample(2)(x),
        "bilinear_x4": lambda: blocks.BilinearUpsample(4)(x),
        "annealed_mean_decode": lambda: quantize.AnnealedMeanDecode()(logits),
        "logits_to_ab_resized": lambda: heads.logits_to_ab(logits, size=(16, 16)),
        "soft_encode": lambda: quantize.soft_encode(t * 110.0, quantize.ab_bin_centers()),
        "hard_encode": lambda: quantize.hard_encode(t * 110.0, quantize.ab_bin_centers()),
    })
    return table
