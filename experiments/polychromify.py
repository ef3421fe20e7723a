"""Ghiotto (2021), PolyChromify: model selection, the hyper-parameter grid, and the final comparison.

- Model selection (Figure 3): autoencoders v0-v3 and the CNN, validation "accuracy" per epoch.
- Table 1: the hyper-parameter grid (neurons L/M/H, filters L/H, strides+upsampling, batch norm)
  with accuracy and training time. Row v3 is the final model.
- Table 2: CNN, ECCV16 (from scratch on the same data) and PolyChromify: parameters, time,
  accuracy, with PSNR/SSIM beside them. Its CNN is trained again on all the training images at
  batch 32 (run `cnn`), as the paper's final comparison was, not taken from the 800-image,
  batch-16 model-selection run `select_cnn`.

His "accuracy" is reproduced under that name (`polychromify_accuracy`): Keras's `'accuracy'` on a
2-channel regression output resolves to categorical accuracy, i.e. the fraction of pixels where
argmax(a, b) of the prediction equals argmax(a, b) of the truth: whether a or b is the larger of the
two chroma coordinates. It says little about colour quality (a gray prediction scores by chance),
so PSNR/SSIM and the ab errors stand beside it.

    python experiments/polychromify.py --data data/landscapes --epochs 25
    python experiments/polychromify.py --quick

Reference:
    D. Ghiotto, "PolyChromify: Deep Convolutional Autoencoder for Landscape Image Colorization", 2021.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # TensorFlow's log level is set before anything imports TensorFlow
    from colorization_tf.console import quiet_tensorflow, verbose_requested

    quiet_tensorflow(verbose_requested())

from colorization_tf import experiment as ex  # noqa: E402
from colorization_tf.experiment.config import POLY_ACCURACY  # noqa: E402
from colorization_tf import suite_facts  # noqa: E402
from colorization_tf.evaluation import markdown_table  # noqa: E402
from colorization_tf.models.polychromify import TABLE1_CONFIGS  # noqa: E402
from colorization_tf.experiment.protocol import LAST_EPOCH, NOT_STATED, VALIDATION_OWN, Paper  # noqa: E402

EPOCHS = 25
BATCH_SIZE = 32
IMAGE_SIZE = 128
"""All three Table 2 models trained on the same 128 px data (also ECCV16, whose registry size is 256)."""
SELECTION_BATCH_SIZE = 16
SELECTION_TRAIN, SELECTION_VAL = 800, 200
"""Model selection used batch 16 on 800 training / 200 validation images (the author's notebook:
`X_train[:800]`, `X_valid[:200]`); the final runs batch 32, 25 epochs, Adam 1e-3, MSE, all images."""

ACCURACY = POLY_ACCURACY

TABLE1_PAPER = {
    "v1": {ACCURACY: 0.6814, "time": "35min"},
    "v2": {ACCURACY: 0.6792, "time": "52min"},
    "v3": {ACCURACY: 0.6851, "time": "1h 5min"},
    "v4": {ACCURACY: 0.6727, "time": "1h 45min"},
    "v5": {ACCURACY: 0.6527, "time": "1h 52min"},
}
TABLE2_PAPER = {
    "cnn": {"params": "98 x 10^3", "time": "2h 10min", ACCURACY: 0.6534},
    "eccv16": {"params": "32 x 10^6", "time": "6h 40min", ACCURACY: 0.6400},
    "polychromify": {"params": "293 x 10^3", "time": "1h 40min", ACCURACY: 0.6845},
}
SELECTION = ("v0", "v1", "v2", "v3", "cnn")


NOTEBOOK = "davide97g/polychromify, notebooks/data_preparation.ipynb"
"""The author's code (commit 4ea3b19), for what the paper leaves out."""

PAPER_PROTOCOL = {
    "dataset": Paper(4300, "Section III (4300 landscape images, 7 folders)"),
    "split": Paper("64/16/20 (2752 / 688 / 860): scikit-learn train_test_split(test_size=0.2, random_state=42) twice",
                   "Section III (64/16/20, 2752/688/860); train_test_split per the reference notes (REFERENCE.md)"),
    "split_protocol": "polychromify",
    "image_size": Paper(128, "Section III ('resize all the images to a fixed size of 128 x 128')"),
    "augment": Paper(False, f"Section III (resize, Lab, scale ab: nothing else); {NOTEBOOK}: no augmentation",
                     shown="none"),
    "optimizer": Paper("adam", "Section IV ('with Adam optimizer')"),
    "learning_rate": Paper(1e-3, "Section IV ('fixed learning rate'; the value, Keras' Adam default 1e-3, per REFERENCE.md)"),
    "batch_size": Paper(32, "Section IV ('a batch size of 32')"),
    "epochs": Paper(25, "Section IV ('trained PolyChromify for 25 epochs')"),
    "loss": Paper("mse (mean)", "Section IV ('I used the mean squared error loss')"),
    "validation": Paper(VALIDATION_OWN, "Section III (validation set, 16%: 688 images)"),
    "selection": Paper(LAST_EPOCH, "Section IV ('25 epochs ... kept track of the validation loss and accuracy'); no selection described"),
    "init": Paper(suite_facts.GLOROT_UNIFORM, "not in the paper; davide97g/polychromify, notebooks/models.ipynb: Keras layers "
                  "with no `kernel_initializer` (Keras' default, Glorot uniform)"),
    "resize": Paper("nearest", f"Section III (128x128, method not given); {NOTEBOOK}: Keras `flow_from_directory(target_size=...)`, "
                    "whose default interpolation is nearest"),
    "upsampling": Paper(suite_facts.NO_UPSAMPLING, "Section IV (the output layer maps to 128 x 128 x 2)"),
    "target": Paper(suite_facts.FULL_RESOLUTION, "Section IV (MSE on the 128 x 128 x 2 output)"),
    "gray": Paper(suite_facts.LAB_L, f"Section III-IV ('the L channel of the image'); {NOTEBOOK}: skimage `rgb2lab`"),
    "determinism": Paper(NOT_STATED, "not in the paper"),
    "precision": Paper("float32", "davide97g/polychromify, notebooks/models.ipynb: no dtype policy set (Keras' default "
                       "float32); the paper does not say"),
    "xla": Paper(NOT_STATED, "not in the paper"),
    "strategy": Paper("1 CPU", "Section V-B, footnote 3 ('Computation done on Leonovo Thinkpad T590 using CPU only'); "
                      "Section VI-B ('my personal machine could not perform neural network training exploiting GPUs')",
                      shown="1 replica: a laptop CPU (Thinkpad T590)"),
}
"""The paper's training (Sections III-V) and the author's notebook where the paper is silent."""

SELECTION_PROTOCOL = {
    "batch_size": Paper(16, "model selection: the author's notebook (batch 16; REFERENCE.md)"),
    "validation": Paper(f"{VALIDATION_OWN} (at most {SELECTION_VAL} images)", "model selection: `X_valid[:200]` in the author's notebook "
                        "(REFERENCE.md); the paper does not say"),
}
"""The model-selection runs (Figure 3): 800 training / 200 validation images at batch 16."""

ECCV16_PROTOCOL = {
    "init": Paper(suite_facts.GLOROT_UNIFORM, "Table 2's ECCV16 trained from scratch (Section V); davide97g/polychromify, "
                  "notebooks/models.ipynb (commit 8722789), the ECCV16 cell: Keras `Conv2D` layers with no "
                  "`kernel_initializer` (Keras' default, Glorot uniform)"),
    "upsampling": Paper(suite_facts.NEAREST_X4, "davide97g/polychromify, notebooks/models.ipynb (commit 8722789), the ECCV16 "
                        "cell: `Conv2D(313, 1, relu)`, `Conv2D(2, 1, tanh)`, `UpSampling2D((4, 4))` (Keras' default "
                        "interpolation, nearest)"),
}
"""Table 2's ECCV16, as the author built it."""

PROTOCOL_NOTES = {
    "resize": "the script's default is the paper's nearest (`resize_method`); the suite's \"auto\" averages (area) when shrinking",
}

ECCV16_NOTES = {"init": "the suite's ECCV16 starts He uniform (models/eccv16.py `RELU_INIT`)"}


def _run(name, model, *, batch_size=BATCH_SIZE, **kwargs) -> ex.RunConfig:
    return ex.RunConfig(name=name, model=model, loss="mse", optimizer="adam", learning_rate=1e-3, batch_size=batch_size, metrics=[ACCURACY], **kwargs)


def tables(ctx: ex.ExperimentContext):
    """Figure 3 (validation accuracy per model), Table 1 and Table 2 beside the paper's numbers."""
    from colorization_tf.plots.experiments import plot_histories

    sections = []
    selection = {f"AE {v}" if v != "cnn" else "CNN": ctx.runs[f"select_{v}"].history for v in SELECTION if f"select_{v}" in ctx.runs}
    key = f"val_{ACCURACY}"
    if selection and any(key in h for h in selection.values()):
        path = plot_histories(selection, ctx.figures_dir / "figure_3_model_selection.png", keys=[key], title="Figure 3: model selection")
        rows = [[label, h[key][-1] if h.get(key) else None] for label, h in selection.items()]
        sections.append(ex.Section("Model selection (Figure 3)", f"![validation accuracy]({path.relative_to(ctx.results_dir)})\n\n"
                                   + markdown_table(["model", "final val accuracy"], rows), {"rows": rows}))
    rows, data = [], []
    for row, knobs in TABLE1_CONFIGS.items():
        r = ctx.runs.get(f"table1_{row}")
        if r is None:
            continue
        val_accuracy = r.history.get(key, [None])[-1] if r.history.get(key) else None
        cells = [row, knobs["neurons"], knobs["filters"], "Y" if knobs["strides"] else "N", "Y" if knobs["batch_norm"] else "N",
                 val_accuracy, TABLE1_PAPER[row][ACCURACY], r.metrics.get(ACCURACY), r.train_seconds, TABLE1_PAPER[row]["time"],
                 r.metrics.get("psnr"), r.metrics.get("ssim")]
        rows.append(cells)
        data.append(dict(zip(["row", "neurons", "filters", "s_u", "bn", "val_accuracy", "paper_accuracy", "test_accuracy", "seconds",
                              "paper_time", "psnr", "ssim"], cells)))
    if rows:
        path = plot_histories({f"Table 1 {r[0]}": ctx.runs[f"table1_{r[0]}"].history for r in rows}, ctx.figures_dir / "figure_4_tuning.png",
                              keys=[key], title="Figure 4: validation accuracy (tuning)")
        text = markdown_table(["", "Neurons", "Filters", "S/U", "BN", "val accuracy", "paper (val)", "test accuracy", "time (s)",
                               "paper time", "PSNR (dB)", "SSIM"], rows)
        text += ("\nTable 1 of the paper reports *validation* accuracy (the author's tuning notebook evaluates "
                 "on the validation split after 25 epochs): `val accuracy` is the last epoch's, beside it. "
                 "Test accuracy and PSNR/SSIM are on the test split.\n")
        sections.append(ex.Section("Table 1: hyper-parameter tuning", text + f"\n![Figure 4]({path.relative_to(ctx.results_dir)})\n", data))
    rows, data = [], []
    for label, name in (("CNN", "cnn"), ("ECCV16", "eccv16"), ("PolyChromify", "table1_v3")):
        r = ctx.runs.get(name)
        if r is None:
            continue
        paper = TABLE2_PAPER[label.lower()]
        cells = [label, r.parameters, paper["params"], r.train_seconds, paper["time"], r.metrics.get(ACCURACY), paper[ACCURACY], r.metrics.get("psnr"), r.metrics.get("ssim")]
        rows.append(cells)
        data.append(dict(zip(["model", "params", "paper_params", "seconds", "paper_time", "accuracy", "paper_accuracy", "psnr", "ssim"], cells)))
    if rows:
        text = markdown_table(["Model", "# Parameters", "paper", "time (s)", "paper time", "accuracy", "paper accuracy", "PSNR (dB)", "SSIM"], rows)
        gray = ctx.evals["gray (zero ab)"].mean.get(ACCURACY) if "gray (zero ab)" in ctx.evals else None
        text += (f"\nThe paper's times are CPU hours on a laptop for 25 epochs on 2752 images; ours are for this run. "
                 f"For scale: the gray prediction (ab = 0) scores accuracy {gray if gray is None else f'{gray:.4f}'} (ties count as argmax 0, a).\n")
        sections.append(ex.Section("Table 2: accuracy on the test set", text, data))
    return sections


def make_config(args=None) -> ex.ExperimentConfig:
    runs = [_run(f"select_{v}", f"polychromify_{v}", batch_size=SELECTION_BATCH_SIZE, label=f"selection {v}",
                 max_train=SELECTION_TRAIN, max_val=SELECTION_VAL, paper_protocol=dict(SELECTION_PROTOCOL))
            for v in SELECTION]
    runs += [_run(f"table1_{row}", "polychromify", model_kwargs=dict(knobs), label=f"Table 1 {row}",
                  paper_scores={ACCURACY: TABLE1_PAPER[row][ACCURACY]}) for row, knobs in TABLE1_CONFIGS.items()]
    runs.append(_run("cnn", "polychromify_cnn", label="CNN (Table 2: all training images, batch 32)",
                     paper_scores={ACCURACY: TABLE2_PAPER["cnn"][ACCURACY]}))  # not the 800-image selection run
    runs.append(_run("eccv16", "eccv16_regression", label="ECCV16 (from scratch)", paper_scores={ACCURACY: TABLE2_PAPER["eccv16"][ACCURACY]},
                     image_size=IMAGE_SIZE, normalization="polychromify", model_kwargs={"regression_head": "polychromify"},
                     paper_protocol=dict(ECCV16_PROTOCOL), protocol_notes=dict(ECCV16_NOTES)))
    return ex.ExperimentConfig(
        paper="polychromify",
        title="PolyChromify (Ghiotto 2021): model selection, Table 1 and Table 2",
        runs=runs,
        protocol="polychromify",
        augment=False,  # the paper trained on the images as they are (no crops, no flips)
        resize_method="nearest",  # the author's Keras `flow_from_directory` (nearest by default)
        paper_protocol=PAPER_PROTOCOL,
        protocol_notes=PROTOCOL_NOTES,
        default_epochs=EPOCHS,
        default_batch_size=BATCH_SIZE,
        paper_metric=ACCURACY,
        notes=(
            "`polychromify_accuracy` is the paper's \"accuracy\": Keras's `'accuracy'` on the 2-channel "
            "output, i.e. the fraction of pixels where argmax(a, b) of prediction and truth agree. It "
            "is not a colour-quality measure (gray scores well too); read PSNR/SSIM and ab L1/L2 beside it."
        ),
        hooks=[tables],
    )


def main(argv=None):
    return ex.main(make_config, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
