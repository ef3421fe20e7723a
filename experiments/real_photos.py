"""Real photographs: every model family trained and scored on the debian-photos set.

Trains PolyChromify, Iizuka et al. (Lee et al.'s 128 configuration), ECCV16 regression and
classification (rebalanced cross-entropy), the ResNet34 U-Net (L1 and MSE) and the CS520 CNN on
the real photographs of `datasets/prepare.py debian-photos`, split by source photo (the folder's
`splits.json`), and scores each on the held-out photos against two references: the gray
prediction (ab = 0) and E[ab | L], the mean chroma per lightness fitted on the training crops
(`colorization_tf.lightness_prior`). A claims table then checks the papers' qualitative claims on
these photos: L1 less sepia than MSE, rebalanced classification more colourful than regression,
the U-Net ahead of the autoencoder, and no hue collapse in Iizuka et al.'s outputs.

Budget: every run trains at 64 px for a fixed number of epochs (`EPOCHS`) chosen to take about
3-10 minutes on 2 CPU cores (all seven: under an hour), and is scored with the weights of its best
epoch on the validation photos; `--quick` shrinks it to seconds per run.

    python datasets/prepare.py debian-photos --out data/debian-photos   # once, 2-3 minutes
    python experiments/real_photos.py                                   # the full run
    python experiments/real_photos.py --quick                           # wiring check

Iizuka et al.'s scene head needs labels: here they are the photo's Debian package (5 classes),
a stand-in for scene classes that the photos do not carry.

Reference:
    Ghiotto 2021 (PolyChromify); Iizuka et al. 2016 / Lee et al. 2016; Zhang et al. 2016 (ECCV16,
    rebalancing); Menon & Talukdar 2021 (U-Net); Yang & Li (CS520).
"""

from __future__ import annotations

import os
import sys

import keras
import numpy as np

from colorization_tf import evaluation
from colorization_tf import experiment as ex
from colorization_tf import lightness_prior
from colorization_tf.color import get_normalization
from colorization_tf.data.targets import split_element
from colorization_tf.evaluation import markdown_table
from colorization_tf.models.iizuka import IIZUKA_ALPHA_ORIGINAL, iizuka_losses

DEFAULT_DATA = os.path.join("data", "debian-photos")
PREPARE_COMMAND = "python datasets/prepare.py debian-photos --out data/debian-photos"
IMAGE_SIZE = 64
BATCH_SIZE = 16
SCENE_ALPHA = IIZUKA_ALPHA_ORIGINAL
"""Weight of the scene cross-entropy: Iizuka et al.'s 1/300, the weight for their mean squared colour
error. (Lee et al.'s 5 balanced a colour error *summed* over the image; against the mean it made the
cross-entropy on these stand-in labels, the Debian package, 250x the colour loss, and the colours
stopped improving after a few epochs.)"""

SELECT_BEST = {"iizuka": "val_ab_ab_l1", "eccv16_classification": "val_loss"}
"""The validation value each run keeps its best epoch by (`RunConfig.select_best`): the ab L1 error on
the validation photos (Iizuka et al.'s model names it after its "ab" output), or the validation loss
for the classification head, whose logits the ab L1 metric cannot read. Default: "val_ab_l1"."""

EPOCHS = {
    "polychromify": 3,
    "iizuka": 4,
    "eccv16_regression": 2,
    "eccv16_classification": 2,
    "unet_l1": 5,
    "unet_mse": 5,
    "cs520_cnn": 3,
}
"""Epochs per run (219 steps of 16 crops each at 64 px over the 3,505 training crops): the CPU budget,
2-10 minutes per run on 2 cores (timed in the README's real-photo section). The deep batch-norm nets
(the U-Nets, Iizuka et al.'s) got more epochs after their validation ab L1 was still falling (U-Nets:
above gray's after 2 epochs). Each run keeps its best
epoch on the validation photos (`SELECT_BEST`). On a GPU, pass `--epochs` to train all of them longer."""

CHROMA_MIN = 5.0
"""Pixels with chroma (|ab|, Lab units) below this count as gray in the hue histogram."""

HUE_SECTORS = ("red", "yellow", "green", "cyan", "blue", "magenta")
"""Six 60-degree sectors of the Lab hue angle atan2(b, a), centred on 30, 90, ..., 330 degrees."""

COLLAPSE_EXCESS = 0.30
"""A hue collapse: one sector holds this much more of a model's coloured pixels than of the truth's."""


def _runs() -> list[ex.RunConfig]:
    losses, weights = iizuka_losses(SCENE_ALPHA)
    scene_metrics = {"ab": ["ab_l1"], "scene": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
    spec = [
        ("polychromify", "polychromify", "mse", {}, "PolyChromify (autoencoder, MSE)"),
        ("iizuka", "iizuka_lee128", losses, {"loss_weights": weights, "metrics": scene_metrics}, "Iizuka et al. (lee128, MSE + CE/300)"),
        ("cs520_cnn", "cs520_cnn", "mse", {}, "CS520 CNN (MSE)"),
        ("unet_l1", "resnet_unet", "l1", {}, "ResNet34 U-Net (L1)"),
        ("eccv16_regression", "eccv16_regression", "mse", {}, "ECCV16 regression (MSE)"),
        ("eccv16_classification", "eccv16_classification", "wce", {"metrics": None}, "ECCV16 classification (rebalanced CE)"),
        ("unet_mse", "resnet_unet", "mse", {}, "ResNet34 U-Net (MSE)"),
    ]
    return [ex.RunConfig(name, model, loss=loss, learning_rate=1e-3, epochs=EPOCHS[name], batch_size=BATCH_SIZE,
                         image_size=IMAGE_SIZE, label=label, select_best=SELECT_BEST.get(name, "val_ab_l1"),
                         **{"metrics": ["ab_l1"], **extra})
            for name, model, loss, extra, label in spec]


# --------------------------------------------------------------------------------------------
# Measurements beyond the runner's metrics


def hue_histogram(ab) -> tuple[np.ndarray, float]:
    """Share of the coloured pixels (chroma >= `CHROMA_MIN`) per `HUE_SECTORS`, and the coloured fraction.

    Args:
        ab: `[..., 2]` in Lab units.

    Returns:
        (`[6]` shares summing to 1, or zeros when no pixel is coloured; fraction of coloured pixels).
    """
    ab = np.asarray(ab, np.float64).reshape(-1, 2)
    chroma = np.hypot(ab[:, 0], ab[:, 1])
    coloured = chroma >= CHROMA_MIN
    hue = np.degrees(np.arctan2(ab[coloured, 1], ab[coloured, 0])) % 360.0
    counts = np.bincount((hue // 60.0).astype(np.int64) % 6, minlength=6).astype(np.float64)
    total = counts.sum()
    return (counts / total if total else counts), float(coloured.mean()) if len(ab) else 0.0


def hue_collapse(model_hist, truth_hist) -> str | None:
    """The sector a model collapsed onto (its share exceeds the truth's by `COLLAPSE_EXCESS`), else None."""
    excess = np.asarray(model_hist) - np.asarray(truth_hist)
    worst = int(np.argmax(excess))
    return HUE_SECTORS[worst] if excess[worst] > COLLAPSE_EXCESS else None


def _predictions(ctx: ex.ExperimentContext, name: str, size: int, priors: dict) -> tuple[np.ndarray, np.ndarray]:
    """(ab predicted, ab true) on every test image, Lab units, `[N, size, size, 2]`: a run's, or a prior's by its name."""
    norm = ctx.runs[name].normalization if name in ctx.runs else "zhang"
    preds, truths = [], []
    for batch in ctx.dataset("test", size, norm):
        l_enc, target = split_element(batch)
        ab_enc = target.ab
        if name in ctx.runs:
            ab, _ = evaluation.predict_lab(ctx.models[name], l_enc, norm)
        else:
            prior = next(p for p in priors.values() if p.name == name)
            ab = prior.predict(np.asarray(get_normalization(norm).decode_l(l_enc)))
        preds.append(np.asarray(ab))
        truths.append(np.asarray(get_normalization(norm).decode_ab(ab_enc)))
    return np.concatenate(preds), np.concatenate(truths)


def _chroma(ab) -> float:
    return float(np.mean(np.hypot(ab[..., 0], ab[..., 1])))


# --------------------------------------------------------------------------------------------
# The report


def real_photo_tables(ctx: ex.ExperimentContext) -> list[ex.Section]:
    """E[ab | L] fitted on the training crops; every model against gray and it; the claims table."""
    from colorization_tf.plots.experiments import plot_bars

    if not ctx.runs:
        return []
    size = next(iter(ctx.runs.values())).image_size
    priors = lightness_prior.fit_lightness_priors(ctx.dataset("train", size, "zhang"), "zhang")
    for prior in priors.values():
        ctx.evals[prior.name] = lightness_prior.evaluate_lightness_prior(prior, ctx.dataset("test", size, "zhang"), "zhang")
    gray = ctx.evals[evaluation.GRAY].mean
    ref = ctx.evals[priors["mean"].name].mean
    ref_l1 = ctx.evals[priors["median"].name].mean

    stats = {}
    truth_ab = None
    for name in [*ctx.runs, *(p.name for p in priors.values())]:
        pred, truth_ab = _predictions(ctx, name, size, priors)
        hist, coloured = hue_histogram(pred)
        stats[name] = {"mean_chroma": _chroma(pred), "hue_histogram": hist.tolist(), "coloured_fraction": coloured}
    truth_hist, truth_coloured = hue_histogram(truth_ab)
    truth = {"mean_chroma": _chroma(truth_ab), "hue_histogram": truth_hist.tolist(), "coloured_fraction": truth_coloured}

    keys = ("psnr", "ssim", "ab_l1", "colorfulness")
    columns = ["model", "PSNR (dB)", "SSIM", "ab L1", "colorfulness", "mean chroma", "ab L1 / gray", "ab L1 / E[ab|L]",
               "ab L1 / median(ab|L)", "PSNR - gray (dB)"]
    rows, data = [], []

    def add(label, metrics, chroma, run=None):
        row = [label, *[metrics.get(k) for k in keys], chroma, metrics["ab_l1"] / gray["ab_l1"],
               metrics["ab_l1"] / ref["ab_l1"], metrics["ab_l1"] / ref_l1["ab_l1"], metrics["psnr"] - gray["psnr"]]
        rows.append(row)
        data.append({"model": label, "run": run, **dict(zip(["psnr", "ssim", "ab_l1", "colorfulness", "mean_chroma",
                                                            "ab_l1_vs_gray", "ab_l1_vs_prior", "ab_l1_vs_median_prior",
                                                            "psnr_gain_db"], row[1:]))})

    for name, r in ctx.runs.items():
        add(r.label, r.metrics, stats[name]["mean_chroma"], name)
    for prior in priors.values():
        add(prior.name, ctx.evals[prior.name].mean, stats[prior.name]["mean_chroma"])
    add(evaluation.GRAY, gray, 0.0)
    rows.append(["ground truth", None, None, None, gray.get("colorfulness_true"), truth["mean_chroma"], None, None, None, None])
    beat_gray = [r.label for n, r in ctx.runs.items() if r.metrics["ab_l1"] < gray["ab_l1"]]
    beat_prior = [r.label for n, r in ctx.runs.items() if r.metrics["ab_l1"] < ref["ab_l1"]]
    beat_median = [r.label for n, r in ctx.runs.items() if r.metrics["ab_l1"] < ref_l1["ab_l1"]]
    beat_gray_psnr = [r.label for n, r in ctx.runs.items() if r.metrics["psnr"] > gray["psnr"]]
    grayer = [r.label for n, r in ctx.runs.items() if r.metrics["colorfulness"] < gray["colorfulness"]]
    text = markdown_table(columns, rows)
    text += (f"\nHeld-out photos: {len(ctx.splits['test'])} crops of photos no training crop comes from. "
             f"E[ab | L] and median(ab | L) are fitted on the {len(ctx.splits['train'])} training crops "
             f"({priors['mean'].bins} lightness bins); the median is the better context-free guess under the ab L1 error, "
             f"the mean under the squared error. Below gray's ab L1: {len(beat_gray)} of {len(ctx.runs)} models; "
             f"below E[ab | L]'s: {len(beat_prior)}; below median(ab | L)'s: {len(beat_median)}; above gray's PSNR: "
             f"{len(beat_gray_psnr)}; grayer than gray (colorfulness): {len(grayer)}.\n")
    sections = [ex.Section("Every model against gray and E[ab | L] (held-out photos)", text,
                           {"rows": data, "priors": {k: p.to_json() for k, p in priors.items()}, "beats_gray_ab_l1": beat_gray,
                            "beats_prior_ab_l1": beat_prior, "beats_median_prior_ab_l1": beat_median,
                            "beats_gray_psnr": beat_gray_psnr, "grayer_than_gray": grayer})]
    sections.append(claims_section(ctx, stats, truth))
    if "iizuka" in stats:
        hist = {}
        for sector, model_share, truth_share in zip(HUE_SECTORS, stats["iizuka"]["hue_histogram"], truth["hue_histogram"]):
            hist[f"{sector} (Iizuka)"], hist[f"{sector} (truth)"] = model_share, truth_share
        path = plot_bars(hist, ctx.figures_dir / "iizuka_hue_histogram.png", ylabel="share of coloured pixels",
                         title="Hue of Iizuka et al.'s outputs vs the truth (held-out photos)")
        sections.append(ex.Section("Hue histogram of Iizuka et al.'s outputs", f"![hue histogram]({path.relative_to(ctx.results_dir)})\n",
                                   {"iizuka": stats["iizuka"], "truth": truth}))
    return sections


def claims_section(ctx: ex.ExperimentContext, stats: dict, truth: dict) -> ex.Section:
    """The papers' qualitative claims on these photos: claim | reproduced | the numbers."""
    runs = ctx.runs
    rows = []

    def claim(text, needs, test):
        if not all(n in runs for n in needs):
            rows.append([text, "not run", f"needs runs {', '.join(needs)}"])
            return
        ok, numbers = test()
        rows.append([text, "yes" if ok else "no", numbers])

    def colour(n):
        return runs[n].metrics["colorfulness"], stats[n]["mean_chroma"]

    def l1_vs_mse():
        (c1, m1), (c2, m2) = colour("unet_l1"), colour("unet_mse")
        return c1 > c2 and m1 > m2, f"U-Net L1: colorfulness {c1:.2f}, mean chroma {m1:.2f}; MSE: {c2:.2f}, {m2:.2f}"

    def cls_vs_reg():
        (c1, m1), (c2, m2) = colour("eccv16_classification"), colour("eccv16_regression")
        return c1 > c2 and m1 > m2, f"classification: colorfulness {c1:.2f}, mean chroma {m1:.2f}; regression: {c2:.2f}, {m2:.2f}"

    def unet_vs_ae():
        u, a = runs["unet_l1"].metrics, runs["polychromify"].metrics
        return (u["psnr"] > a["psnr"] and u["ssim"] > a["ssim"],
                f"U-Net (L1): PSNR {u['psnr']:.2f} dB, SSIM {u['ssim']:.4f}; autoencoder: {a['psnr']:.2f} dB, {a['ssim']:.4f}")

    def no_collapse():
        hist = stats["iizuka"]["hue_histogram"]
        collapsed = hue_collapse(hist, truth["hue_histogram"])
        shares = ", ".join(f"{s} {h:.0%}/{t:.0%}" for s, h, t in zip(HUE_SECTORS, hist, truth["hue_histogram"]))
        return collapsed is None, (f"hue shares model/truth: {shares}; coloured pixels {stats['iizuka']['coloured_fraction']:.0%} "
                                   f"(truth {truth['coloured_fraction']:.0%})" + (f"; collapsed onto {collapsed}" if collapsed else ""))

    claim("L1 is less sepia than MSE (Menon & Talukdar; U-Net trained both ways)", ["unet_l1", "unet_mse"], l1_vs_mse)
    claim("Rebalanced classification is more colourful than regression (Zhang et al.)", ["eccv16_classification", "eccv16_regression"], cls_vs_reg)
    claim("The U-Net is ahead of the autoencoder in PSNR and SSIM (Menon & Talukdar vs PolyChromify)", ["unet_l1", "polychromify"], unet_vs_ae)
    claim(f"No green/red/blue collapse in Iizuka et al.'s model (no hue sector {COLLAPSE_EXCESS:.0%} over the truth's share)", ["iizuka"], no_collapse)
    text = markdown_table(["claim", "reproduced", "the numbers"], rows)
    text += f"\nMean chroma: mean |ab| over all test pixels (truth: {truth['mean_chroma']:.2f}); colorfulness: Hasler & Suesstrunk.\n"
    return ex.Section("The papers' claims on real photos", text, {"rows": rows})


def _add_arguments(parser) -> None:
    parser.set_defaults(data=DEFAULT_DATA)


def make_config(args=None) -> ex.ExperimentConfig:
    data = getattr(args, "data", None) or DEFAULT_DATA
    if not os.path.isdir(data):
        raise SystemExit(f"{data}: no such folder. Prepare the real-photo set first: {PREPARE_COMMAND}")
    return ex.ExperimentConfig(
        paper="real_photos",
        title="Real photographs (debian-photos): every model against gray and E[ab | L]",
        runs=_runs(),
        default_epochs=max(EPOCHS.values()),
        default_batch_size=BATCH_SIZE,
        notes="Split by source photo (`splits.json` of the prepared folder); Iizuka et al.'s scene labels are the Debian packages.",
        hooks=[real_photo_tables],
    )


def main(argv=None):
    return ex.main(make_config, argv, add_arguments=_add_arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
