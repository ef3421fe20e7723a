"""Yang & Li (CS520 Assignment 4): the numpy ANN half-image experiment and the CNN per scene.

- ANN: a 3x3 gray window -> 9 hidden -> 4 levels {0, 64, 128, 192} per RGB channel (three nets),
  trained on the left half of a photo, colorizing its right half; the difference metric
  d = |dR + dG + dB| / 64 per image (theirs: coffee 0.67, sunset 0.83, beach 1.17). Run on the real
  photos scikit-image ships (its coffee photo may not be theirs: the paper does not say where its
  "coffee" image came from) and on a synthetic sunset and beach.
- Transfer: the ANN trained on a sunset colorizes a beach ("terrible but in a sensible way").
- CNN (TF): one model per scene (forest, beach, sunrise) at 64x64, 7:3 split per scene, with
  their accuracy: share of ab values within 10 Lab units (57 %, 64 %, 54 %). Trained as they did:
  mini-batch gradient descent (plain SGD), learning rate 1e-4, batch 3, no dropout, no
  augmentation; `--optimizer adam` and `--dropout 0.5` are the named alternatives.

    python experiments/cs520.py --data data/cs520   # folders forest/ beach/ sunrise/
    python experiments/cs520.py --quick

Reference:
    X. Yang, Z. Li, "CS 520: Assignment 4 - Colorization" (Rutgers).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

import numpy as np  # noqa: E402

from colorization_tf import experiment as ex  # noqa: E402
from colorization_tf.experiment.config import CS520_ACCURACY, RunOverrides  # noqa: E402
from colorization_tf import suite_facts  # noqa: E402
from colorization_tf.evaluation import markdown_table  # noqa: E402
from colorization_tf.experiment.protocol import NOT_STATED, VALIDATION_NONE, Paper  # noqa: E402

OPTIMIZERS = ("sgd", "adam")
"""The paper's mini-batch gradient descent, and Adam (which their report suggests as an improvement)."""
LEARNING_RATE = 1e-4
BATCH_SIZE = 3

PAPER_PROTOCOL = {
    "dataset": Paper(45, "Section 2.3 ('three scenarios ... the beach, sunrise, and forest ... each dataset contains around "
                         "15 images'), from Google Image Search", shown="~45 images (3 scenes of ~15, Google Image Search)"),
    "split": Paper("7:3 per scene (~10 train / ~5 test images)", "Section 2.3 ('around 15 images ... a ratio of 7:3')"),
    "split_protocol": "cs520",
    "image_size": Paper(64, "Section 2.3 ('resize our images to 64 * 64')"),
    "augment": Paper(False, "Section 2.3 (images resized and converted, nothing else)", shown="none (no augmentation described)"),
    "optimizer": Paper("sgd", "Section 2.5 ('Mini-Batch Gradient Descent')"),
    "learning_rate": Paper(1e-4, "Section 2.5 ('a slow learning rate 0.0001')"),
    "batch_size": Paper(3, "Section 2.5 ('3 images as a batch')"),
    "epochs": Paper((5000, 8000), "Section 2.5 ('around 5000-8000 epochs'; 'around 8000')"),
    "loss": Paper("mse (mean)", "Section 2.4 (mean of the squared a, b errors: 'basically a mean square error')"),
    "validation": Paper(VALIDATION_NONE, "Section 2.3: training and testing sets only (7:3)"),
    "selection": Paper("by hand: stopped while training and test accuracy were both high (~60%)",
                       "Section 2.5 ('We didn't set a standard to stop the training process ... when the training accuracy "
                       "and test accuracy all meet a relatively high score')"),
    "init": Paper(NOT_STATED, "not in the report"),
    "resize": Paper(NOT_STATED, "Section 2.3: resized to 64x64 with Pillow/TensorFlow, the method is not given"),
    "upsampling": Paper(suite_facts.NO_UPSAMPLING, "Section 2.3 (the output is the flattened 64x64 a and b channels)"),
    "target": Paper(suite_facts.FULL_RESOLUTION, "Sections 2.3-2.4 (every pixel's a and b, 64x64)"),
    "gray": Paper(suite_facts.LAB_L, "Sections 2.1-2.2 ('use the L channel as the grayscale input')"),
    "determinism": Paper(NOT_STATED, "not in the report"),
    "precision": Paper(NOT_STATED, "not in the report"),
    "xla": Paper(NOT_STATED, "not in the report"),
    "strategy": Paper("1 GPU", "Section 2.3 ('a GPU accelerated PC (NVIDIA Geforce GTX 1070) ... 8 GB Graphics Memory')",
                      shown="1 replica: one GTX 1070 (8 GB)"),
}
"""Their Section 2 (CNN), transcribed: ~15 images per scene, mini-batch gradient descent, lr 1e-4, batch 3, 5000-8000 epochs."""

PROTOCOL_NOTES = {
    "selection": "the suite trains the full epochs and takes the last: stopping where the test accuracy looks best "
                 "would select on the test set",
}

EPOCHS = 5000
"""They trained ~5000-8000 epochs on ~10 training images per scene (batch 3)."""

PAPER_SCENES = ("forest", "beach", "sunrise")
SYNTHETIC_SCENES = {"forest": "forest", "beach": "beach", "sunrise": "sky"}
"""Paper scene -> class of the embedded synthetic data standing in for it (its skies carry sunrises/sunsets)."""

PAPER_CNN_ACCURACY = {"forest": 0.57, "beach": 0.64, "sunrise": 0.54}
PAPER_ANN_DIFFERENCE = {"coffee": 0.67, "sunset": 0.83, "beach": 1.17}
ANN_PHOTOS = ("coffee", "chelsea", "astronaut", "rocket")


def _resize(rgb: np.ndarray, width: int) -> np.ndarray:
    from PIL import Image

    h, w = rgb.shape[:2]
    return np.asarray(Image.fromarray(rgb).resize((width, max(8, round(h * width / w))), Image.BILINEAR))


def _synthetic_sunset_and_beach(size: int):
    """A synthetic sunset (the sea scene whose sky is reddest among the first 30 seeds) and beach."""
    from colorization_tf import color
    from colorization_tf.sources.synthetic import render_scene

    def redness(rgb):
        return float(np.mean(np.asarray(color.rgb_to_lab(rgb[: size // 3]))[..., 1]))

    sunset = max((render_scene("sea", s, size) for s in range(30)), key=redness)
    return sunset, render_scene("beach", 0, size)


def ann_experiments(ctx: ex.ExperimentContext):
    """The left/right half experiment on real and synthetic photos, and the sunset -> beach transfer."""
    from colorization_tf import cs520_ann
    from colorization_tf.sources.bundled_photos import skimage_photos
    from colorization_tf.plots.experiments import plot_image_rows

    quick = ctx.config.quick
    width = 48 if quick else 256
    ann = {"epochs": 2 if quick else 10, "seed": ctx.config.train.seed}
    photos = {k: _resize(v, width) for k, v in skimage_photos().items() if k in ANN_PHOTOS}
    sunset, beach = _synthetic_sunset_and_beach(width)
    photos["sunset (synthetic)"], photos["beach (synthetic)"] = sunset, beach
    rows, figure, data = [], {}, {}
    for name, rgb in photos.items():
        res = cs520_ann.left_right_experiment(rgb, **ann)
        paper = PAPER_ANN_DIFFERENCE.get(name.split(" ")[0])
        rows.append([name, f"{rgb.shape[1]}x{rgb.shape[0]}", res.difference, res.baseline_difference, paper])
        figure[name] = [res.original, res.ideal_right, res.predicted_right]
        data[name] = {"difference": res.difference, "constant_baseline": res.baseline_difference, "paper": paper}
    # Transfer: train on the whole sunset, colorize the whole beach.
    model = cs520_ann.ColorANN(**ann).fit(cs520_ann.luminance(sunset), sunset)
    predicted = model.predict(cs520_ann.luminance(beach))
    transfer = float(cs520_ann.difference(cs520_ann.quantize_rgb(beach), predicted))
    figure["sunset -> beach"] = [cs520_ann.quantize_rgb(sunset), cs520_ann.quantize_rgb(beach), predicted]
    data["sunset_to_beach"] = {"difference": transfer}
    path = plot_image_rows(figure, ctx.figures_dir / "ann_left_right.png",
                           column_titles=["original (quantised)", "ideal right half / target", "ANN prediction"], title="CS520 ANN")
    text = markdown_table(["image", "size", "difference d", "constant-colour d", "paper d"], rows)
    text += (f"\nTransfer (ANN trained on the synthetic sunset, colorizing the synthetic beach): d = {transfer:.4f}. "
             "The sunset and beach are synthetic stand-ins for their photos; coffee is scikit-image's "
             "`data.coffee()` (resized here): the paper names a 'coffee' image and reads files with skimage, but does "
             "not say it is this photo. Lower d is better; the constant colour is each channel's most "
             f"common level on the left half.\n\n![ANN results]({path.relative_to(ctx.results_dir)})\n")
    return ex.Section("ANN: left half -> right half, and sunset -> beach", text, data)


def cnn_table(ctx: ex.ExperimentContext):
    rows = [[r.label, r.metrics.get(CS520_ACCURACY), r.paper.get(CS520_ACCURACY), r.metrics.get("ab_l1"), r.metrics.get("psnr")]
            for r in ctx.runs.values()]
    text = markdown_table(["scene", "accuracy (abs. error < 10)", "paper", "ab L1", "PSNR (dB)"], rows)
    return ex.Section("CNN per scene", text, {"rows": rows})


def make_config(args=None) -> ex.ExperimentConfig:
    synthetic = not (args and args.data)
    optimizer = getattr(args, "optimizer", None) or "sgd"
    dropout = float(getattr(args, "dropout", None) or 0.0)
    runs = []
    for scene in PAPER_SCENES:
        cls = SYNTHETIC_SCENES[scene] if synthetic else scene
        runs.append(ex.RunConfig(
            name=f"cnn_{scene}", model="cs520_cnn", loss="mse", optimizer=optimizer, learning_rate=LEARNING_RATE,
            batch_size=BATCH_SIZE, model_kwargs={"dropout": dropout},
            classes=[cls], label=scene + (f" (synthetic '{cls}')" if synthetic else ""),
            paper_scores={CS520_ACCURACY: PAPER_CNN_ACCURACY[scene]}, quick_overrides=RunOverrides(epochs=2, batch_size=3),
        ))
    return ex.ExperimentConfig(
        paper="cs520",
        title="CS520 (Yang & Li): ANN half-image colorization and a CNN per scene",
        runs=runs,
        protocol="cs520",
        augment=False,  # the paper trained on the images as they are (no crops, no flips)
        hold_out_val=False,  # training and testing sets only (Section 2.3): train on the whole training side
        paper_protocol=PAPER_PROTOCOL,
        protocol_notes={**PROTOCOL_NOTES, **({"optimizer": "`--optimizer adam` on the command line"} if optimizer != "sgd" else {})},
        default_epochs=EPOCHS,
        default_batch_size=BATCH_SIZE,
        paper_metric=CS520_ACCURACY,
        notes="`cs520_accuracy`: share of a and b values within 10 Lab units of the truth (their CNN accuracy).",
        hooks=[ann_experiments, cnn_table],
    )


def add_arguments(parser) -> None:
    """The CNN's named alternatives to the paper's training."""
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default="sgd",
                        help="CNN optimiser: sgd (the paper's mini-batch gradient descent, default) or adam")
    parser.add_argument("--dropout", type=float, default=0.0,
                        help="dropout before the CNN's output layer (default 0: the paper mostly used none; its diagram has 0.5)")


def main(argv=None):
    return ex.main(make_config, argv, add_arguments=add_arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
