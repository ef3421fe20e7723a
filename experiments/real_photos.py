"""Real photographs: every model family trained and scored on the debian-photos set.

Trains PolyChromify, Iizuka et al. (Lee et al.'s 128 configuration), ECCV16 regression and
classification (rebalanced cross-entropy), the ResNet34 U-Net (L1 and MSE) and the CS520 CNN on
the real photographs of `datasets/prepare.py debian-photos`, split by source photo (the folder's
`splits.json`), and scores each on the held-out photos against two references: the gray
prediction (ab = 0) and E[ab | L], the mean chroma per lightness fitted on the training crops
(`colorization_tf.lightness_prior`). A claims table then checks qualitative claims on these photos,
each with its paper and section (`CLAIMS`): rebalanced classification more colourful than regression
(Zhang et al. 2016), L1 less sepia-tinted than MSE (Menon & Talukdar's Section 1, after a tutorial),
no green/red/blue collapse in Iizuka et al.'s outputs (against Lee et al.'s Section IV), and one
comparison that is the suite's own, not a paper's (the U-Net against the autoencoder in PSNR). A
difference within two standard errors of the per-photo paired difference reads "no difference"
(`colorization_tf.claims`).

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

from colorization_tf import claims, evaluation
from colorization_tf import experiment as ex
from colorization_tf import lightness_prior
from colorization_tf.color import get_normalization
from colorization_tf.data.targets import split_element
from colorization_tf.evaluation import markdown_table
from colorization_tf.claims import CHROMA_MIN, COLLAPSE_POINTS, HUE_SECTORS, hue_collapse, hue_histogram  # noqa: F401
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
"""Epochs per run (213 steps of 16 crops each at 64 px over the 3,416 training crops): the CPU budget,
2-10 minutes per run on 2 cores (timed in the README's real-photo section). The deep batch-norm nets
(the U-Nets, Iizuka et al.'s) got more epochs after their validation ab L1 was still falling (U-Nets:
above gray's after 2 epochs). Each run keeps its best
epoch on the validation photos (`SELECT_BEST`). On a GPU, pass `--epochs` to train all of them longer."""

CLAIM_SEEDS = 2
"""Training seeds of the models the claims compare (`CLAIMS`), so that a claim's difference is checked
against the run-to-run spread: a difference that another seed does not repeat is "no difference"
(`claims.across_seeds`). `--quick` trains one."""


def seed_run_name(name: str, k: int) -> str:
    """The run of `name` trained with the k-th seed (k = 0: the run itself)."""
    return name if k == 0 else f"{name}_seed{k + 1}"


def _runs(seed: int = 0, seeds: int = 1) -> list[ex.RunConfig]:
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
    claimed = {n for *_, needs in CLAIMS if len(needs) > 1 for n in needs}  # a one-model claim compares with a threshold
    return [ex.RunConfig(seed_run_name(name, k), model, loss=loss, learning_rate=1e-3, epochs=EPOCHS[name],
                         batch_size=BATCH_SIZE, image_size=IMAGE_SIZE, label=label + (f", seed run {k + 1} (seed {seed + k})" if k else ""),
                         select_best=SELECT_BEST.get(name, "val_ab_l1"), seed=seed + k if k else None,
                         **{"metrics": ["ab_l1"], **extra})
            for k in range(seeds) for name, model, loss, extra, label in spec if k == 0 or name in claimed]


# --------------------------------------------------------------------------------------------
# Measurements beyond the runner's metrics


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
    return float(np.mean(claims.mean_chroma(ab)))


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

    stats, per_image, iizuka_ab = {}, {}, None
    truth_ab = None
    for name in [*ctx.runs, *(p.name for p in priors.values())]:
        pred, truth_ab = _predictions(ctx, name, size, priors)
        hist, coloured = hue_histogram(pred)
        stats[name] = {"mean_chroma": _chroma(pred), "hue_histogram": hist.tolist(), "coloured_fraction": coloured}
        per_image[name] = image_measures(pred, ctx.evals[name].per_image if name in ctx.runs else None)
        iizuka_ab = pred if name == "iizuka" else iizuka_ab
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
             f"the mean under the squared error. Below gray's ab L1: {len(beat_gray)} of {len(ctx.runs)} runs (second seeds included); "
             f"below E[ab | L]'s: {len(beat_prior)}; below median(ab | L)'s: {len(beat_median)}; above gray's PSNR: "
             f"{len(beat_gray_psnr)}; grayer than gray (colorfulness): {len(grayer)}.\n")
    sections = [ex.Section("Every model against gray and E[ab | L] (held-out photos)", text,
                           {"rows": data, "priors": {k: p.to_json() for k, p in priors.items()}, "beats_gray_ab_l1": beat_gray,
                            "beats_prior_ab_l1": beat_prior, "beats_median_prior_ab_l1": beat_median,
                            "beats_gray_psnr": beat_gray_psnr, "grayer_than_gray": grayer})]
    per_image["ground truth"] = image_measures(truth_ab)
    sections.append(claims_section(ctx.runs, per_image, (iizuka_ab, truth_ab)))
    if "iizuka" in stats:
        hist = {}
        for sector, model_share, truth_share in zip(HUE_SECTORS, stats["iizuka"]["hue_histogram"], truth["hue_histogram"]):
            hist[f"{sector} (Iizuka)"], hist[f"{sector} (truth)"] = model_share, truth_share
        path = plot_bars(hist, ctx.figures_dir / "iizuka_hue_histogram.png", ylabel="share of coloured pixels",
                         title="Hue of Iizuka et al.'s outputs vs the truth (held-out photos)")
        sections.append(ex.Section("Hue histogram of Iizuka et al.'s outputs", f"![hue histogram]({path.relative_to(ctx.results_dir)})\n",
                                   {"iizuka": stats["iizuka"], "truth": truth}))
    return sections


def image_measures(ab, evaluated: list[dict] | None = None) -> dict[str, np.ndarray]:
    """The per-image numbers the claims compare: mean chroma and sepia share of the predicted ab, and
    the colourfulness and PSNR the evaluation scored (`EvalResult.per_image`), in test-set order."""
    out = {"chroma": claims.mean_chroma(ab), "sepia": claims.sepia_share(ab)}
    for key in ("colorfulness", "psnr"):
        if evaluated:
            out[key] = np.asarray([row[key] for row in evaluated], np.float64)
    return out


CLAIMS = (
    # (claim, its source, the measure, runs it needs)
    ("Rebalanced classification is more colourful than regression",
     "Zhang, Isola & Efros 2016 (ECCV), Sections 2.1-2.2: the Euclidean loss gives desaturated results; "
     "classification with class rebalancing more vibrant ones",
     "colourfulness (Hasler & Süsstrunk) per photo, classification - regression (ECCV16 heads, same encoder)",
     ("eccv16_classification", "eccv16_regression")),
    ("L1 gives less of a sepia tint than MSE",
     "Menon & Talukdar 2021, Section 1 (quoting the U-Net / cGAN tutorial they cite as [7]; the tutorial's "
     "claim, not a result of theirs)",
     f"sepia share: the share of a photo's coloured pixels (|ab| >= {CHROMA_MIN:g}) with hue "
     f"{claims.SEPIA_HUES[0]:g}-{claims.SEPIA_HUES[1]:g} degrees (orange-yellow), MSE - L1 (ResNet34 U-Net trained both ways)",
     ("unet_l1", "unet_mse")),
    ("No green/red/blue collapse in Iizuka et al.'s model",
     "Lee et al. 2016, Section IV (their outputs contained 'only green, red, or blue'); the reference notes "
     "trace that to bugs this model does not have",
     f"no hue sector holds {COLLAPSE_POINTS:.0%} points (absolute) more of the model's coloured pixels than of the "
     "truth's: the threshold - the worst sector's excess, per photo",
     ("iizuka",)),
    ("The suite's own comparison, claimed by no paper: the U-Net above the autoencoder in PSNR",
     "none: Menon & Talukdar's U-Net (Section 3.5) and Ghiotto's PolyChromify autoencoder, compared by this suite",
     "PSNR (dB) per photo, U-Net (L1) - PolyChromify",
     ("unet_l1", "polychromify")),
)
"""The claims table's rows."""


def claim_rows(available, per_image: dict, hue: tuple | None = None) -> list[list]:
    """The claims table: one row per `CLAIMS` entry, `[claim, source, measure, verdict, numbers]`.

    Args:
        available: the names of the runs that were trained.
        per_image: name -> `image_measures` (also "ground truth").
        hue: (Iizuka et al.'s predicted ab, the true ab), `[N, H, W, 2]`, for the collapse row.

    Returns:
        Rows whose verdict is `claims.YES`, `NO`, `NO_DIFFERENCE` (within the spread), or `NOT_RUN`.
    """
    rows = []
    for (text, source, measure, needs), check in zip(CLAIMS, (_more_colourful, _less_sepia, _no_collapse, _unet_psnr)):
        if not all(n in available for n in needs):
            rows.append([text, source, measure, claims.NOT_RUN, f"needs runs {', '.join(needs)}"])
            continue
        comparison, numbers = check(per_image, hue)
        repeats = []  # the same comparison between the runs of another seed
        for k in range(1, CLAIM_SEEDS):
            names = {n: seed_run_name(n, k) for n in needs}
            if len(needs) > 1 and all(v in available for v in names.values()):
                again, _ = check({**per_image, **{n: per_image[v] for n, v in names.items()}}, hue)
                repeats.append((k, again))
        verdict = claims.across_seeds([comparison, *(c for _, c in repeats)])
        shown = "; ".join([f"{numbers}; {comparison.shown()}",
                           *(f"seed run {k + 1}: {c.shown()} ({c.verdict})" for k, c in repeats)]
                          + (["one seed only"] if len(needs) > 1 and not repeats else []))
        rows.append([text, source, measure, verdict, shown])
    return rows


def _more_colourful(m, _):
    c = claims.compare(m["eccv16_classification"]["colorfulness"], m["eccv16_regression"]["colorfulness"])
    chroma = (float(np.mean(m["eccv16_classification"]["chroma"])), float(np.mean(m["eccv16_regression"]["chroma"])))
    return c, f"colourfulness {c.a:.2f} vs {c.b:.2f} (mean chroma {chroma[0]:.2f} vs {chroma[1]:.2f})"


def _less_sepia(m, _):
    c = claims.compare(m["unet_mse"]["sepia"], m["unet_l1"]["sepia"])
    truth = m.get("ground truth", {}).get("sepia")
    return c, f"sepia share MSE {c.a:.1%}, L1 {c.b:.1%}" + ("" if truth is None else f" (truth {float(np.mean(truth)):.1%})")


def _no_collapse(_, hue):
    c, sector = claims.collapse_margin(*hue)
    return c, f"worst sector {sector}: excess over the truth {c.b:+.1%} against the {c.a:.0%} threshold"


def _unet_psnr(m, _):
    c = claims.compare(m["unet_l1"]["psnr"], m["polychromify"]["psnr"])
    return c, f"PSNR {c.a:.2f} vs {c.b:.2f} dB"


def claims_section(runs, per_image: dict, hue: tuple | None) -> ex.Section:
    """The claims table (`claim_rows`) with what its spread is."""
    rows = claim_rows(runs, per_image, hue)
    n = len(next(iter(per_image.values()))["chroma"]) if per_image else 0
    text = markdown_table(["claim", "source", "measured as", "reproduced", "the numbers"], rows)
    seeded = sorted({n for n in runs if "_seed" in n})
    text += (f"\nA difference within {claims.SPREAD:g} standard errors of the per-photo paired difference over the {n} "
             f"held-out test images reads \"{claims.NO_DIFFERENCE}\" (test images are crops, several per source photo, so "
             "the standard error understates the spread between photos); "
             + (f"the compared models were trained again with another seed ({', '.join(seeded)}), and a claim counts as "
                "reproduced (or refuted) only when every seed's comparison says so: a difference another seed does not "
                "repeat is within the run-to-run spread. " if seeded else
                "the compared models trained once here (one seed), so the run-to-run spread is not measured. ")
             + "Colourfulness: Hasler & Süsstrunk; mean chroma: mean |ab| (saturation, not tint).\n")
    return ex.Section("The papers' claims on real photos", text, {"rows": rows, "spread": f"{claims.SPREAD:g} standard errors over {n} test images"})


def _add_arguments(parser) -> None:
    parser.set_defaults(data=DEFAULT_DATA)


def make_config(args=None) -> ex.ExperimentConfig:
    data = getattr(args, "data", None) or DEFAULT_DATA
    if not os.path.isdir(data):
        raise SystemExit(f"{data}: no such folder. Prepare the real-photo set first: {PREPARE_COMMAND}")
    return ex.ExperimentConfig(
        paper="real_photos",
        title="Real photographs (debian-photos): every model against gray and E[ab | L]",
        runs=_runs(seed=getattr(args, "seed", None) or 0, seeds=1 if getattr(args, "quick", False) else CLAIM_SEEDS),
        default_epochs=max(EPOCHS.values()),
        default_batch_size=BATCH_SIZE,
        notes="Split by source photo (`splits.json` of the prepared folder); Iizuka et al.'s scene labels are the Debian packages.",
        hooks=[real_photo_tables],
    )


def main(argv=None):
    return ex.main(make_config, argv, add_arguments=_add_arguments)


if __name__ == "__main__":
    main(sys.argv[1:])
