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
from colorization_tf.experiment.config import DEFAULT_METRIC_COLUMNS, RunOverrides  # noqa: E402
from colorization_tf.evaluation import SCENE_ACCURACY, markdown_table  # noqa: E402
from colorization_tf import suite_facts  # noqa: E402
from colorization_tf.models.iizuka import iizuka_losses, iizuka_metrics  # noqa: E402
from colorization_tf.experiment.protocol import LAST_EPOCH, NOT_STATED, VALIDATION_OWN, Paper  # noqa: E402

EPOCHS = 25
"""Lee et al. trained for 25 epochs."""

ALPHAS = {"alpha_1_300": 1.0 / 300.0, "alpha_5": 5.0}
"""Weight of the classification loss: Iizuka et al.'s 1/300 and Lee et al.'s 5."""

ADADELTA_LEARNING_RATE = 1.0
"""Adadelta as in both papers, at Zeiler's (and Torch's) rate 1.0; Lee et al.'s 1e-5 was one of their bugs."""

RESUMED = "alpha_5_resumed"

LEE_CODE = "hlee95/image-colorization, class_project/network.py"
"""The authors' code (commit f81e6e6), for what the report leaves out."""

PAPER_PROTOCOL = {
    "dataset": Paper(110_000, "Section III (100,000 images) + Section IV (10,000 test images)"),
    "split": Paper("MiniPlaces' own folders: 100k train, 10k val used as test", "Sections III-IV; network.py reads its test files from `val/`"),
    "split_protocol": None,  # MiniPlaces' own train/val folders: only datasets/prepare.py's splits.json has them
    "image_size": Paper(128, "Section III: 128x128 images; Table I"),
    "augment": Paper(False, f"{LEE_CODE}: images read as they are (no crop, no flip); the report names none"),
    "optimizer": Paper("adadelta", "Section III ('we use the Adadelta optimizer')"),
    "learning_rate": Paper(1e-5, "Section IV ('a learning rate of .00001'; network.py: 1e-6)"),
    "batch_size": Paper(100, f"{LEE_CODE} `BATCH_SIZE = 100` (not in the report)"),
    "epochs": Paper(25, "Section IV ('25 epochs on the training set'; network.py: 10)"),
    "validation": Paper(VALIDATION_OWN, f"{LEE_CODE}: MiniPlaces' `val/` folder, evaluated every 100 batches and reused as the test set",
                        shown="MiniPlaces' val folder (also the test set)"),
    "selection": Paper(LAST_EPOCH, f"Section IV (25 epochs, then predictions); {LEE_CODE}: a checkpoint every epoch, none selected"),
    "init": Paper(suite_facts.LECUN_TRUNCATED, f"Section III ('standard deviation ... proportional to the square root of "
                  f"the number of input nodes'); {LEE_CODE} `get_stddev` = 1 / sqrt(k^2 x depth_in), tf.truncated_normal"),
    "resize": Paper(NOT_STATED, "none needed: MiniPlaces images are 128x128 (Section III); network.py reads them as they are",
                    shown="none (the images are 128x128)"),
    "upsampling": Paper(suite_facts.NEAREST_X2, f"Table IV (output 64x64x2, half resolution); {LEE_CODE}: "
                        "`tf.image.resize_nearest_neighbor` x2 'only during testing'"),
    "target": Paper(suite_facts.HALF_RESOLUTION_NEAREST, f"{LEE_CODE}: `y_downsample = tf.image.resize_nearest_neighbor(color_features, "
                    "[IMAGE_SIZE/2, IMAGE_SIZE/2])`, the loss on the 64x64 output"),
    "gray": Paper(suite_facts.LAB_L, f"Section III ('We read the images in Lab format ... The L channel is used as the input'); "
                  f"{LEE_CODE}: skimage `color.rgb2lab`"),
    "determinism": Paper(NOT_STATED, f"not in the report; {LEE_CODE} sets `SEED = 66478` (no op determinism)"),
    "precision": Paper("float32", f"not in the report; {LEE_CODE}: `tf.float32` placeholders and variables throughout"),
    "xla": Paper("off", f"not in the report; {LEE_CODE}: a plain TensorFlow 1 `tf.Session`, no XLA JIT"),
    "strategy": Paper("1 GPU", f"Section III (GPUs on AWS instances); {LEE_CODE}: one `tf.Session`, no device placement or "
                         "replication", shown="1 replica: one device (a GPU on AWS)"),
}
"""Lee et al.'s report (Sections III-IV) and their code where the report is silent."""

PAPER_LOSS = {
    "alpha_1_300": Paper("ab: mse (mean) + scene: ce (mean) x 0.00333333",
                         "Iizuka et al. 2016 (MSE + alpha CE, alpha = 1/300), as Lee et al. Section III quotes it"),
    "alpha_5": Paper("ab: sse (sum per image) x 0.25 + scene: ce (mean) x 5",
                     f"Section III (squared Frobenius norm + alpha CE, alpha = 5); {LEE_CODE}: `reduce_sum` of the squared error "
                     "over the 64x64x2 half-resolution output = 1/4 of the sum at 128x128, and of the CE, per image"),
}
"""Each run's paper loss, transcribed (in `protocol.describe_loss`'s vocabulary), not computed from the run's losses."""

PROTOCOL_NOTES = {
    "learning_rate": "their 1e-5 was one of the bugs behind their all-green/red/blue colours (reference notes); "
                     "Adadelta at Zeiler's rate 1.0 here",
    "batch_size": "32 here (the report gives none; their network.py used 100)",
    "split": "a hash split's test images are not MiniPlaces' val: prepare the folder with datasets/prepare.py places",
    "validation": "their validation images were the test images, monitored and never selected on: the suite trains on "
                  "the whole training side (as they did) and monitors no test image",
    "init": "He normal (std sqrt(2 / fan_in), sqrt(2) wider than theirs): the suite's models/iizuka.py",
    "upsampling": "the script evaluates and exports with Lee's nearest x2 (`test_upsampling`); the model's own layer "
                  "(models/iizuka.py) is bilinear x2, and training always uses it",
    "target": "the loss compares the bilinearly upsampled output with the 128x128 target (weight 1/4 keeps Lee's scale)",
}


def _run(name: str, alpha: float, stop_after: int | None = None) -> ex.RunConfig:
    losses, weights = iizuka_losses(alpha, sum_squared_error=alpha == ALPHAS["alpha_5"])
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
        quick_overrides=RunOverrides(epochs=2),
        test_upsampling="nearest",  # Lee et al.'s code upsamples x2 by nearest neighbour at test time
        paper_protocol={"loss": PAPER_LOSS["alpha_5" if alpha == ALPHAS["alpha_5"] else "alpha_1_300"]},
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
        hold_out_val=False,  # their only "validation" images were the test images, and nothing was selected on them
        paper_protocol=PAPER_PROTOCOL,
        protocol_notes=PROTOCOL_NOTES,
        default_epochs=EPOCHS,
        default_batch_size=32,
        metric_columns=(*DEFAULT_METRIC_COLUMNS, SCENE_ACCURACY),
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
