"""Lee, Liang & Peaks (2016), replicating Iizuka et al.'s "Let there be Color!" at 128 pixels.

The 128-pixel global/local fusion network with its scene-classification head (seed tables I-V),
trained on a folder-per-class dataset with squared error + alpha * cross-entropy: alpha = 1/300 with
Iizuka et al.'s mean squared error, and alpha = 5 with the *summed* squared error Lee et al.'s code
balanced it against (`iizuka_losses(sum_squared_error=True)`). The table puts the scene
accuracy beside the colour metrics. A third run repeats alpha = 5 stopped half-way and resumed from
its checkpoint in a second invocation (their spot-instance restarts); the report shows whether it
ends bit-identical to the uninterrupted run.

    python experiments/lee2016_iizuka.py --data data/places --epochs 25
    python experiments/lee2016_iizuka.py --quick

Reference:
    H. Lee, J. Liang, N. Peaks, "Image Colorization with Convolutional Neural Networks" (2016);
    Iizuka, Simo-Serra & Ishikawa, "Let there be Color!", SIGGRAPH 2016.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

import numpy as np  # noqa: E402

from colorization_tf import experiment as ex  # noqa: E402
from colorization_tf.evaluation import SCENE_ACCURACY, markdown_table  # noqa: E402
from colorization_tf.models.iizuka import iizuka_losses, iizuka_metrics  # noqa: E402

EPOCHS = 25
"""Lee et al. trained for 25 epochs."""

ALPHAS = {"alpha_1_300": 1.0 / 300.0, "alpha_5": 5.0}
"""Weight of the classification loss: Iizuka et al.'s 1/300 and Lee et al.'s 5."""

ADADELTA_LEARNING_RATE = 1.0
"""Adadelta as in both papers, at Zeiler's (and Torch's) rate 1.0; Lee et al.'s 1e-5 was one of their bugs."""

RESUMED = "alpha_5_resumed"

PAPER_PROTOCOL = {
    "dataset": 110_000,
    "split": "MiniPlaces' own folders: 100k train, 10k val used as test",
    "split_protocol": None,  # MiniPlaces' own train/val folders: only datasets/prepare.py's splits.json has them
    "image_size": 128, "augment": False, "optimizer": "adadelta", "learning_rate": 1e-5, "epochs": EPOCHS,
}
"""Lee et al.'s report (Sections III-IV) and network.py; their batch size is not in the report."""

PROTOCOL_NOTES = {
    "learning_rate": "their 1e-5 was one of the bugs behind their all-green/red/blue colours (reference notes); "
                     "Adadelta at Zeiler's rate 1.0 here",
    "batch_size": "not in the report; their network.py used 100",
    "split": "a hash split's test images are not MiniPlaces' val: prepare the folder with datasets/prepare.py places",
}


def _run(name: str, alpha: float, stop_after: int | None = None) -> ex.RunConfig:
    losses, weights = iizuka_losses(alpha, sum_squared_error=alpha == ALPHAS["alpha_5"])
    from colorization_tf.protocol import describe_loss

    return ex.RunConfig(
        name=name,
        model="iizuka_lee128",
        loss=losses,
        loss_weights=weights,
        metrics=iizuka_metrics(),
        optimizer="adadelta",
        learning_rate=ADADELTA_LEARNING_RATE,
        stop_after=stop_after,
        label=f"{name} (alpha = {alpha:g})" + (", stopped and resumed" if stop_after else ""),
        quick=ex.QuickSettings(epochs=2),
        paper_protocol={"loss": describe_loss(losses, weights)},  # alpha 5: Lee's; 1/300: Iizuka's
    )


def resume_check(ctx: ex.ExperimentContext):
    """Compares the stopped-and-resumed run with the uninterrupted one: weights and metrics."""
    if RESUMED not in ctx.models or "alpha_5" not in ctx.models:
        return None
    a, b = ctx.models["alpha_5"].get_weights(), ctx.models[RESUMED].get_weights()
    max_diff = max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b))
    identical = all(np.array_equal(x, y) for x, y in zip(a, b))
    keys = ["ab_l1", "psnr", SCENE_ACCURACY]
    rows = [[ctx.runs[n].label, *[ctx.runs[n].metrics.get(k) for k in keys]] for n in ("alpha_5", RESUMED)]
    text = markdown_table(["run", "ab L1", "PSNR (dB)", "scene accuracy"], rows, digits=6)
    stop = ctx.runs[RESUMED].config.get("stop_after")
    text += (
        f"\nThe resumed run trained to epoch {stop}, stopped, and a second `training.train` call rebuilt the "
        f"model and resumed from its checkpoint to epoch {ctx.runs[RESUMED].epochs}. Weights bit-identical to the "
        f"uninterrupted run: **{'yes' if identical else 'no'}** (largest weight difference {max_diff:.3g}).\n"
    )
    return ex.Section("Stopped and resumed (Lee et al.'s restarts)", text, {"identical": identical, "max_weight_diff": max_diff})


def make_config(args=None) -> ex.ExperimentConfig:
    runs = [_run(name, alpha) for name, alpha in ALPHAS.items()]
    runs.append(_run(RESUMED, ALPHAS["alpha_5"], stop_after=EPOCHS // 2))
    return ex.ExperimentConfig(
        paper="lee2016",
        title="Lee et al. 2016 / Iizuka et al.: fusion network with scene classification, alpha = 1/300 vs 5",
        runs=runs,
        protocol="lee2016",
        labels=True,
        augment=False,  # the paper trained on the images as they are (no crops, no flips)
        paper_protocol=PAPER_PROTOCOL,
        protocol_notes=PROTOCOL_NOTES,
        default_epochs=EPOCHS,
        default_batch_size=32,
        metric_columns=(*ex.DEFAULT_METRIC_COLUMNS, SCENE_ACCURACY),
        notes=(
            "Lee et al. report no numbers, only colorizations that were all green, red or blue; the "
            "reference notes trace that to bugs (BatchNorm before the sigmoid, untrained BN statistics "
            "at evaluation, wrong L de-normalisation, Adadelta at 1e-5), none of which this model has: "
            "its `colorfulness` should be near the ground truth's, not saturated. Their alpha = 5 "
            "balanced a *sum*-reduced squared error (their `network.py`: `reduce_sum` over the "
            "half-resolution prediction); the alpha = 5 runs use that loss "
            "(`SumSquaredError`, weight 1/4 on the full-resolution output), the alpha = 1/300 run "
            "Iizuka et al.'s mean squared error."
        ),
        hooks=[resume_check],
    )


def main(argv=None):
    return ex.main(make_config, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
