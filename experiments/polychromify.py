"""Ghiotto (2021), PolyChromify: model selection, the hyper-parameter grid, and the final comparison.

- Model selection (Figure 3): autoencoders v0-v3 and the CNN, validation "accuracy" per epoch.
- Table 1: the hyper-parameter grid (neurons L/M/H, filters L/H, strides+upsampling, batch norm)
  with accuracy and training time. Row v3 is the final model.
- Table 2: CNN, ECCV16 (from scratch on the same data) and PolyChromify: parameters, time,
  accuracy, with PSNR/SSIM beside them.

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
from colorization_tf.evaluation import markdown_table  # noqa: E402
from colorization_tf.models.polychromify import TABLE1_CONFIGS  # noqa: E402

EPOCHS = 25
BATCH_SIZE = 32
SELECTION_BATCH_SIZE = 16
"""Model selection used batch 16 (on 800/200 images); the final runs batch 32, 25 epochs, Adam 1e-3, MSE."""

ACCURACY = ex.POLY_ACCURACY

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
        cells = [row, knobs["neurons"], knobs["filters"], "Y" if knobs["strides"] else "N", "Y" if knobs["batch_norm"] else "N",
                 r.metrics.get(ACCURACY), TABLE1_PAPER[row][ACCURACY], r.train_seconds, TABLE1_PAPER[row]["time"], r.metrics.get("psnr"), r.metrics.get("ssim")]
        rows.append(cells)
        data.append(dict(zip(["row", "neurons", "filters", "s_u", "bn", "accuracy", "paper_accuracy", "seconds", "paper_time", "psnr", "ssim"], cells)))
    if rows:
        path = plot_histories({f"Table 1 {r[0]}": ctx.runs[f"table1_{r[0]}"].history for r in rows}, ctx.figures_dir / "figure_4_tuning.png",
                              keys=[key], title="Figure 4: validation accuracy (tuning)")
        text = markdown_table(["", "Neurons", "Filters", "S/U", "BN", "accuracy", "paper accuracy", "time (s)", "paper time", "PSNR (dB)", "SSIM"], rows)
        sections.append(ex.Section("Table 1: hyper-parameter tuning", text + f"\n![Figure 4]({path.relative_to(ctx.results_dir)})\n", data))
    rows, data = [], []
    for label, name in (("CNN", "select_cnn"), ("ECCV16", "eccv16"), ("PolyChromify", "table1_v3")):
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
    runs = [_run(f"select_{v}", f"polychromify_{v}", batch_size=SELECTION_BATCH_SIZE, label=f"selection {v}") for v in SELECTION]
    runs += [_run(f"table1_{row}", "polychromify", model_kwargs=dict(knobs), label=f"Table 1 {row}",
                  paper={ACCURACY: TABLE1_PAPER[row][ACCURACY]}) for row, knobs in TABLE1_CONFIGS.items()]
    runs.append(_run("eccv16", "eccv16_regression", label="ECCV16 (from scratch)", paper={ACCURACY: TABLE2_PAPER["eccv16"][ACCURACY]}))
    return ex.ExperimentConfig(
        paper="polychromify",
        title="PolyChromify (Ghiotto 2021): model selection, Table 1 and Table 2",
        runs=runs,
        protocol="polychromify",
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
