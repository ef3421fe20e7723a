"""Ziegler (2022), "Deep Vision Colorization": ECCV16 and AlexNet x {L1, L2, CE, weighted CE}.

Reproduces his loss curves (Figures 4.1-4.3), the sample colorizations every 10 epochs
(Figures 4.4/4.5, in `runs/<run>-<digest>/figures/`), the colour distribution of the data (Figure 2.4) and
his rating, the L1 distance in ab to the ground truth (section 3.4). His data: Kaggle's Landscape
Pictures (`--data` a folder of the 7 landscape folders), split ~80/20 (3497 / 818, 4 unusable).

    python experiments/ziegler2022.py --data data/landscapes --epochs 50
    python experiments/ziegler2022.py --data data/landscapes --bin-width 20   # wider bins, less memory
    python experiments/ziegler2022.py --quick

Optimiser: Zhang et al.'s Adam (3e-5, betas 0.9/0.99) with weight decay 1e-3, as Keras's `adamw`.
That decay is *decoupled* (Loshchilov & Hutter): every step shrinks each weight by
lr * wd * w = 3e-8 w, independently of the gradient. Zhang's Caffe solver used *coupled* L2
(1e-3 * w added to the gradient, then normalised by Adam's moments), a much stronger and
differently shaped regulariser; the two are not equivalent and this suite does not claim they are.

Reference:
    A. Ziegler, "Deep Vision project: Image Colorization", OTH Amberg-Weiden, 2022;
    Zhang, Isola & Efros, "Colorful Image Colorization", ECCV 2016 (model, losses, training).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

from pathlib import Path  # noqa: E402

from colorization_tf import experiment as ex  # noqa: E402
from colorization_tf.experiment.assembly import class_weights_for, training_prior  # noqa: E402
from colorization_tf.experiment.config import OptimizerSettings, QUICK_IMAGE_SIZE, RunOverrides  # noqa: E402
from colorization_tf import suite_facts  # noqa: E402
from colorization_tf.experiment.protocol import LAST_EPOCH, NOT_STATED, VALIDATION_NONE, Paper  # noqa: E402

EPOCHS = 50
"""Ziegler trained for 50 epochs."""

ZHANG_ADAM = {"optimizer": "adamw", "learning_rate": 3e-5, "optimizer_kwargs": OptimizerSettings(betas=(0.9, 0.99), weight_decay=1e-3)}
"""Zhang et al.'s Adam settings (Ziegler does not state his): 3e-5, betas 0.9/0.99, weight decay 1e-3,
here *decoupled* (Keras AdamW), not the coupled Caffe L2 Zhang used (see the module docstring)."""

OPTIMIZER_NOTE = (
    "Optimiser: Adam 3e-5, betas 0.9/0.99 with weight decay 1e-3 as Keras `adamw`, i.e. *decoupled* decay "
    "(each step shrinks the weights by lr x wd = 3e-8 of their value). Zhang et al.'s Caffe solver applied the "
    "1e-3 as *coupled* L2 (added to the gradient before Adam's normalisation), a far stronger regulariser: "
    "the two are not equivalent. Ziegler does not state his optimiser."
)

LOSSES = {"l1": ("regression", "l1"), "l2": ("regression", "mse"), "ce": ("classification", "ce_hard"), "wce": ("classification", "wce_hard")}
"""Ziegler's four losses: loss key -> (head, loss name in `colorization_tf.losses`). His cross-entropy
is "the negative logarithm of the probability of the correct label": hard labels (`--soft-labels`
switches to Zhang et al.'s soft encoding)."""

ZHANG_CAFFE = "richzhang/colorization (Caffe release), models/colorization_train_val_v2.prototxt"
"""Zhang et al.'s training net, the recipe Ziegler reproduces, for what his report leaves out."""

PAPER_PROTOCOL = {
    "dataset": Paper(4315, "Section 2.2 (Figure 2.2: 4319 files, train 3497 + test 818, 4 unusable)"),
    "split": Paper("~80/20 (3497 / 818; 4 of 4319 unusable)", "Section 2.2, Figure 2.2"),
    "split_protocol": "ziegler",
    "image_size": Paper(NOT_STATED, "not in the report"),
    "augment": Paper(True, "Section 3.5 ('All image augmentations are done on the GPU'); which ones is not said",
                     shown="yes (kind not stated)"),
    "optimizer": Paper(NOT_STATED, "not in the report"),
    "learning_rate": Paper(NOT_STATED, "not in the report"),
    "batch_size": Paper(NOT_STATED, "not in the report"),
    "epochs": Paper(50, "Section 4.3.2 ('the training was only run for 50 epochs')"),
    "bin_width": Paper(NOT_STATED, "Section 4.3.2 ('the bucket size for classification has had to be reduced'); the width is not given"),
    "num_bins": Paper((2, 312), "Section 4.3.2: 'the bucket size ... reduced due to GPU memory limitations', i.e. fewer than Zhang's 313 "
                      "(REFERENCE.md: bigger bins); the number is not given", shown="fewer than 313 (not given)"),
    "validation": Paper(VALIDATION_NONE, "Section 2.2: a train / test split only (Section 3.5 mentions outputs 'during validation', "
                        "on which images is not said)"),
    "selection": Paper(LAST_EPOCH, "Section 4.3.2 (50 epochs); Section 4.3 shows the output every 10 epochs, no selection described"),
    "init": Paper(NOT_STATED, "not in the report (from scratch, Section 4.3.2)"),
    "resize": Paper(NOT_STATED, "not in the report"),
    "upsampling": Paper(NOT_STATED, "Section 3.3 ('requires an up sampling layer at the output'; AlexNet 'a higher up sampling rate'), "
                        "the method is not given"),
    "target": Paper(suite_facts.SUBSAMPLE, f"not in Ziegler's report; {ZHANG_CAFFE}: `data_ab_ss`, a 1x1 convolution of stride 4 "
                    "(regression runs: not stated)"),
    "gray": Paper(suite_facts.LAB_L, "Sections 1 and 2.3 ('It uses the grayscale image as lightness values')"),
    "determinism": Paper(NOT_STATED, "not in the report"),
    "precision": Paper("mixed_float16", "Section 3.5 ('cuda automatic mixed precision is used')",
                       shown="mixed_float16 (CUDA automatic mixed precision)"),
    "xla": Paper(NOT_STATED, "not in the report (PyTorch, Section 3.5)"),
    "strategy": Paper(NOT_STATED, "Section 3.5 speaks of 'the GPU'; how many is not said"),
}
"""Ziegler's report: 50 epochs, augmentation on the GPU; optimiser, batch size, image size and bucket
size not stated (the losses are per run); Zhang et al.'s code where the report is silent on the recipe."""

ZIEGLER_LOSSES = {
    "l1": Paper("l1 (mean)", "Section 3.1 ('the L1 loss calculates the distance to the correct prediction')"),
    "l2": Paper("mse (mean)", "Section 3.1 ('the L2 loss calculates the distance ... squared')"),
    "ce": Paper("ce_hard (mean)", "Section 3.2 ('the negative logarithm of the probability of the correct label')"),
    "wce": Paper("wce_hard (mean)", "Section 3.2 (the same, weighted by a normal distribution fitted to the colour distribution)"),
}
"""His four losses, transcribed in `protocol.describe_loss`'s vocabulary."""

REGRESSION_TARGET = Paper(NOT_STATED, "not in the report (Zhang et al.'s regression baseline: full resolution)")
"""The regression runs' loss target: Ziegler does not say."""

PROTOCOL_NOTES = {
    "image_size": "not stated by Ziegler: ECCV16's 256",
    "optimizer": "not stated by Ziegler: Zhang et al.'s Adam (betas 0.9/0.99, weight decay 1e-3, decoupled)",
    "num_bins": "Zhang's 10-wide grid (313 bins) unless `--bin-width` widens it: Ziegler's width is not given",
}

CLASSIFICATION_NOTES = {
    "target": "the suite's cross-entropy averages each 4x4 block of ab (losses.py, `downsample='average'`); Zhang's net "
              "takes every 4th pixel (`downsample='subsample'`)",
}

QUICK_LEARNING_RATE = 1e-3
"""In --quick mode one epoch at 3e-5 would leave the nets untrained; a larger step shows something."""


def color_distribution(ctx: ex.ExperimentContext):
    """Figure 2.4: the ab distribution of the training images, overall and per lightness range."""
    from colorization_tf.plots.color_distribution import color_distribution_figure

    size = QUICK_IMAGE_SIZE if ctx.config.quick else 64
    histogram = color_distribution_figure(ctx.splits["train"], ctx.figures_dir / "figure_2_4_color_distribution.png", image_size=size)
    rel = histogram["path"].relative_to(ctx.results_dir)
    text = f"![ab distribution of the training images]({rel})\n\n{histogram['pixels']} pixels counted.\n"
    return ex.Section("Colour distribution (Figure 2.4)", text, {"pixels": int(histogram["pixels"]), "l_edges": histogram["l_edges"]})


def prior_and_weights(ctx: ex.ExperimentContext):
    """Figure 3.1: the training split's ab prior and the weights of the weighted cross-entropy.

    Both weightings are drawn: Ziegler's (a normal distribution fitted to the colour
    distribution, his runs) and Zhang's rebalancing ((1 - λ) p + λ / Q)^-1, λ = 0.5.
    """
    from colorization_tf.plots.quantize import plot_prior_and_weights

    bin_width = next((r.bin_width for r in ctx.config.runs if r.bin_width is not None), None)
    prior, centers, prior_path = training_prior(ctx, ctx.splits["train"], bin_width)
    weights = {kind: class_weights_for(kind, prior, centers) for kind in ("ziegler", "zhang")}
    path = plot_prior_and_weights(prior, weights, centers, ctx.figures_dir / "figure_3_1_prior_and_weights.png",
                                  title="Figure 3.1: ab prior and class weights")
    text = (f"![ab prior and class weights]({path.relative_to(ctx.results_dir)})\n\n"
            f"Prior of the training split ({len(centers)} bins"
            f"{'' if bin_width is None else f', bin width {bin_width:g}'}) saved to `{prior_path}`.\n")
    data = {kind: {"min": float(w.min()), "max": float(w.max()), "prior_weighted_mean": float((prior * w).sum())}
            for kind, w in weights.items()}
    return ex.Section("Class prior and weights (Figure 3.1)", text,
                      {"prior_file": prior_path, "bins": len(centers), "weights": data})


def loss_figures(ctx: ex.ExperimentContext):
    """Figures 4.1-4.3: every loss, the L1/L2 losses, the CE/wCE losses; then the sample grids 4.4/4.5."""
    from colorization_tf.plots.experiments import plot_histories

    lines = []
    groups = {
        "4.1 all losses": list(ctx.runs),
        "4.2 L1/L2 losses": [n for n in ctx.runs if n.endswith(("_l1", "_l2"))],
        "4.3 CE/wCE losses": [n for n in ctx.runs if n.endswith(("_ce", "_wce"))],
    }
    for i, (title, names) in enumerate(groups.items(), start=1):
        histories = {n: ctx.runs[n].history for n in names if ctx.runs[n].history}
        if histories:
            path = plot_histories(histories, ctx.figures_dir / f"figure_4_{i}_losses.png", title=f"Figure {title}", log_scale=True)
            lines.append(f"![Figure {title}]({path.relative_to(ctx.results_dir)})")
    for fig, head in (("4.4 regression", ("_l1", "_l2")), ("4.5 classification", ("_ce", "_wce"))):
        for n in (n for n in ctx.runs if n.endswith(head)):
            for sample in sorted((Path(ctx.runs[n].workdir) / "figures").glob("samples_epoch*.png")):
                lines.append(f"- Figure {fig}, {n}: [{sample.stem}]({sample.relative_to(ctx.results_dir)})")
    return ex.Section("Losses and improvements over epochs (Figures 4.1-4.5)", "\n".join(lines) + "\n")


def add_arguments(parser) -> None:
    """Ziegler's own option: the ab bin width of the classification runs."""
    parser.add_argument("--soft-labels", action="store_true",
                        help="CE/wCE runs with Zhang et al.'s soft-encoded targets instead of Ziegler's hard labels")
    parser.add_argument("--bin-width", type=float, default=None,
                        help="ab grid width of the CE/wCE runs in Lab units (default 10: Zhang's 313 bins; "
                             "Ziegler used wider bins to save memory)")


def make_config(args=None) -> ex.ExperimentConfig:
    quick = bool(args and args.quick)
    bin_width = getattr(args, "bin_width", None)
    soft = bool(getattr(args, "soft_labels", False))
    runs = []
    for net in ("eccv16", "alexnet"):
        for key, (head, loss) in LOSSES.items():
            runs.append(
                ex.RunConfig(
                    name=f"{net}_{key}",
                    model=f"{net}_{head}",
                    loss=loss.removesuffix("_hard") if soft else loss,
                    class_weights="ziegler",
                    bin_width=bin_width if head == "classification" else None,
                    **ZHANG_ADAM,
                    quick_overrides=RunOverrides(learning_rate=QUICK_LEARNING_RATE),
                    paper_protocol={"loss": ZIEGLER_LOSSES[key], **({"target": REGRESSION_TARGET} if head == "regression" else {})},
                    protocol_notes=dict(CLASSIFICATION_NOTES) if head == "classification" else {},
                )
            )
    return ex.ExperimentConfig(
        paper="ziegler2022",
        title="Ziegler 2022: ECCV16 and AlexNet with L1, L2, CE and weighted CE",
        runs=runs,
        protocol="ziegler",
        augment=True,  # Zhang et al.'s random crops + flips (Ziegler augments on the GPU)
        hold_out_val=False,  # a train / test split only (Section 2.2): train on the whole training side
        paper_protocol=PAPER_PROTOCOL,
        protocol_notes={
            **PROTOCOL_NOTES,
            **({"loss": "`--soft-labels`: Zhang et al.'s soft encoding"} if soft else {}),
        },
        default_epochs=EPOCHS,
        default_batch_size=32,
        sample_every=10,
        paper_metric="ab_l1",
        notes=(
            "Ziegler's rating (section 3.4) is the L1 distance in ab to the ground truth: the `ab L1` "
            "column (lower is better). He reports no number for it, only that regression beat "
            "classification and ECCV16 was slightly better than AlexNet."
            + (" Quick mode uses Adam 1e-3 instead of Zhang's 3e-5." if quick else "")
            + "\n\n" + OPTIMIZER_NOTE
            + (f"\n\nThe CE/wCE runs use ab bins {bin_width:g} Lab units wide (Zhang: 10, 313 bins)." if bin_width else "")
            + ("\n\nCE/wCE targets: " + ("Zhang et al.'s soft encoding (5 nearest bins, Gaussian sigma 5), not Ziegler's hard labels."
                                           if soft else "hard labels (the nearest bin), Ziegler's \"negative logarithm of the probability of the correct label\"."))
        ),
        hooks=[color_distribution, prior_and_weights, loss_figures],
    )


def main(argv=None):
    return ex.main(make_config, argv, add_arguments=add_arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
