"""Ships the time-to-quality study's best model as the package's default colorizer, with its model card.

Takes the compact U-Net run of `benchmarks/time_to_quality.py` (its weights of the best evaluation
on the *validation* photos), exports it into `colorization_tf/pretrained/compact_unet/` (a SavedModel
like every export: uint8 in, uint8 out, any size; float16 weights, whole photos seen at
`WORK_SIDE` px), loads that export back the way a user does (`colorization_tf.load_colorizer()`),
scores it on the whole held-out photos against gray and the two lightness priors, and writes
`MODEL_CARD.md` beside it and `docs/pretrained_examples.png` (the test photos it helps most and
least against median(ab | L)).

    python benchmarks/ship_pretrained.py

Reference:
    Issue 17 ("Ship the result"); Mitchell et al. 2019, "Model Cards for Model Reporting".
"""

from __future__ import annotations

import collections
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from colorization_tf.console import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

import numpy as np  # noqa: E402

import time_to_quality as ttq  # noqa: E402
from colorization_tf import export, recipe as rc  # noqa: E402
from colorization_tf.sources import whole_photos  # noqa: E402
from colorization_tf.fileio import atomic_write_text  # noqa: E402
from colorization_tf.plots.experiments import plot_image_rows  # noqa: E402
from colorization_tf.training import checkpoints  # noqa: E402
from colorization_tf.pretrained import DEFAULT_MODEL, MODEL_CARD  # noqa: E402

RUN = "compact_unet"
EXAMPLES = Path("docs/pretrained_examples.png")
AVERAGED = (3, 5)
"""Weight averages tried (Izmailov et al. 2018, SWA): the mean of the last k evaluations' weights, where
single evaluations swing from one to the next on 31 validation photos."""
WORK_SIDES = (None, 128, 160, 224)
"""Working resolutions compared on the validation photos (None: the square `image_size`, squashed)."""
SHOWN = 3
"""Photos shown from each end (most and least helped against median(ab | L))."""


def per_photo_l1(scorer: rc.PhotoScorer, colorize) -> np.ndarray:
    """ab L1 of each photo (the scorer's average is their mean)."""
    return np.array([rc.PhotoScorer([p]).score(colorize)["ab_l1"] for p in scorer.photos])


def load_candidate(model, kind: str, source) -> None:
    """Loads one candidate's weights: a weights file, or the mean of several checkpoints' (BN statistics too)."""
    if kind == "single":
        model.load_weights(source)
        return
    total = None
    for path in source:
        checkpoints.restore_from(model, path)
        values = [v.numpy().astype(np.float64) for v in model.weights]
        total = values if total is None else [t + v for t, v in zip(total, values)]
    for variable, value in zip(model.weights, total):
        variable.assign((value / len(source)).astype(variable.dtype))


def licences(data_dir) -> str:
    """Photo counts per package and licence, from the manifest."""
    counts = collections.Counter()
    for split in whole_photos.SPLITS:
        for entry in whole_photos.manifest_entries(data_dir, split):
            counts[(entry["package"], entry["licence"], split)] += 1
    rows = collections.defaultdict(lambda: collections.Counter())
    for (package, licence, split), n in counts.items():
        rows[(package, licence)][split] += n
    lines = ["| package | licence | train | val | test |", "| --- | --- | --- | --- | --- |"]
    for (package, licence), c in sorted(rows.items()):
        lines.append(f"| {package} | {licence} | {c['train']} | {c['val']} | {c['test']} |")
    return "\n".join(lines)


def main() -> int:
    recipe = ttq.RUNS[RUN]
    workdir = ttq.OUT / RUN
    evals = ttq.read_log(RUN)
    if not evals or not (workdir / rc.BEST_WEIGHTS).is_file():
        print(f"ship_pretrained: {workdir}: no trained run; run benchmarks/time_to_quality.py --runs {RUN} first", file=sys.stderr)
        return 2
    best = min(evals, key=lambda r: r["val_ab_l1"])
    model, spec = rc.build_recipe_model(recipe)
    scorers = rc.load_scoring_photos(ttq.DATA)
    refs = ttq.references(ttq.DATA, scorers)
    candidates = {f"best evaluation (step {best['step']})": ("single", workdir / rc.BEST_WEIGHTS)}
    snapshots = sorted((workdir / "snapshots").glob("ckpt-*.index"), key=lambda p: int(p.stem.split("-")[1]))
    for k in AVERAGED:
        if len(snapshots) >= k:
            candidates[f"mean of the last {k} evaluations' weights"] = ("mean", [p.with_suffix("") for p in snapshots[-k:]])
    chosen, selection = None, {}
    for name, (kind, source) in candidates.items():
        load_candidate(model, kind, source)
        selection[name] = scorers["val"].score(rc.model_colorizer(model, spec, recipe.work_side))["ab_l1"]
        print(f"candidate {name}: val ab L1 {selection[name]:.3f}", flush=True)
        if chosen is None or selection[name] < selection[chosen]:
            chosen = name
    load_candidate(model, *candidates[chosen])  # chosen on the validation photos

    sides, keys = {}, {}
    for side in WORK_SIDES:  # a lever that needs no training: how the whole photo is shown to the model
        keys[side] = f"{side} px, aspect kept" if side else f"{recipe.image_size}x{recipe.image_size}, squashed"
        sides[keys[side]] = scorers["val"].score(rc.model_colorizer(model, spec, side))
    work_side = min(WORK_SIDES, key=lambda side: sides[keys[side]]["ab_l1"])  # chosen on the validation photos
    lines = ["| whole photo shown to the model as | val ab L1 | ÷ median(ab\\|L) | val PSNR − median | colourfulness |",
             "| --- | --- | --- | --- | --- |"]
    for key, s in sides.items():
        lines.append(f"| {key} | {s['ab_l1']:.2f} | {s['ab_l1'] / refs['median']['val']['ab_l1']:.3f} | "
                     f"{s['psnr'] - refs['median']['val']['psnr']:+.2f} dB | {s['colorfulness']:.1f} |")
    atomic_write_text(ttq.OUT / "work_side.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    info = {"recipe": recipe.to_dict(), "selected": chosen, "candidates_val_ab_l1": selection, "best_evaluation": best, "work_side_on_validation": {keys[k]: v for k, v in zip(WORK_SIDES, sides.values())},
            "data": "debian-photos training photos (datasets/prepare.py debian-photos)"}
    export.export_saved_model(model, DEFAULT_MODEL, spec.replace(image_size=recipe.image_size), work_side=work_side,
                              weights_dtype="float16", save_keras=False, name=RUN, extra_info=info)
    colorizer = export.load_colorizer(DEFAULT_MODEL)
    shipped = {split: scorer.score(colorizer) for split, scorer in scorers.items()}
    size_mb = sum(f.stat().st_size for f in DEFAULT_MODEL.rglob("*") if f.is_file()) / 1e6

    train = [p.rgb for p in whole_photos.load_split(ttq.DATA, "train", rc.TRAIN_SIDE)]
    priors = rc.fit_priors(train, recipe)
    median = rc.prior_colorizer(priors["median"])
    test = scorers["test"]
    gain = per_photo_l1(test, median) - per_photo_l1(test, colorizer)
    order = np.argsort(-gain)
    picks = list(order[:SHOWN]) + list(order[-SHOWN:])
    rows = {}
    for k, i in enumerate(picks):
        rgb = test.photos[i]
        gray = np.repeat(np.asarray(rc.gray_colorizer(rgb)), 1, -1)
        label = f"{'helped' if k < SHOWN else 'hurt'}: {gain[i]:+.1f}"
        rows[label] = [gray, median(rgb), colorizer(rgb), rgb]
    plot_image_rows(rows, EXAMPLES, column_titles=["gray input", "median(ab | L)", "shipped model", "truth"],
                    title="Held-out photos the shipped model helps most and least (ab L1 gain over median(ab | L))")

    def row(name, scores):
        m, g = refs["median"]["test"], refs["gray"]["test"]
        return (f"| {name} | {scores['ab_l1']:.2f} | {scores['ab_l1'] / m['ab_l1']:.3f} | "
                f"{scores['psnr']:.2f} | {scores['psnr'] - m['psnr']:+.2f} dB | {scores['psnr'] - g['psnr']:+.2f} dB | {scores['colorfulness']:.1f} |")

    table = "\n".join([
        "| held-out test photos (29, whole) | ab L1 | ÷ median(ab\\|L) | PSNR | − median | − gray | colourfulness |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        row("shipped model", shipped["test"]),
        row("median(ab \\| L)", refs["median"]["test"]),
        row("E[ab \\| L]", refs["mean"]["test"]),
        row("gray", refs["gray"]["test"]),
    ])
    card = CARD.format(
        table=table, val_l1=shipped["val"]["ab_l1"], val_median=refs["median"]["val"]["ab_l1"],
        steps=best["step"], cpu_min=best["cpu_s"] / 60, total_cpu_min=evals[-1]["cpu_s"] / 60,
        total_steps=evals[-1]["step"], machine=ttq.machine_line(), size_mb=size_mb,
        recipe=json.dumps(recipe.to_dict()), licences=licences(ttq.DATA),
        chosen=chosen, sides_table="\n".join(lines), candidates="; ".join(f"{k}: {v:.2f}" for k, v in selection.items()),
        params=model.count_params(), work_side=work_side or recipe.image_size,
    )
    atomic_write_text(MODEL_CARD, card)
    print(table)
    print(f"validation ab L1 {shipped['val']['ab_l1']:.3f} (median prior {refs['median']['val']['ab_l1']:.3f}); "
          f"{size_mb:.1f} MB; written {DEFAULT_MODEL}")
    return 0


CARD = """# Model card: the shipped colorizer (`compact_unet`)

What `colorize photo.jpg`, `colorize-serve` and `colorization_tf.load_colorizer()` use when no model is
named. A SavedModel (uint8 images of any size in, uint8 RGB out; loads with plain
`tf.saved_model.load`), {size_mb:.1f} MB with float16 weights.

## Model
The compact U-Net of `colorization_tf/models/compact_unet.py` ({params:,} parameters): four stride-2
encoder stages, a global-context branch fused into the bottleneck (Iizuka et al. 2016), a decoder with
skip connections, ab at half resolution upsampled bilinearly. L in, ab out. The export scales the whole
photo so that its longer side is {work_side} px (aspect kept), predicts ab there, upsamples it onto the
photo's full-resolution L.

## Data and licences
The debian-photos set (`python datasets/prepare.py debian-photos`): photographs shipped in Debian
packages, split by photo (70/15/15 per package). Trained on the training photos only, selected on the
validation photos, scored once on the test photos.

{licences}

Each photo's licence and copyright are in `data/debian-photos/manifest.json` after preparation.

## Recipe and training
Random square views of the whole training photos (a side of 40-100% of the shorter side, random
position, horizontal flip) at 128 px, batch 16, L1 loss on ab, AdamW (weight decay 1e-4), learning rate
warmed up over 300 steps to 2e-3 then cosine to 2% of it; float32 (mixed_bfloat16 was no faster on this
machine's AVX512_BF16 CPU). Shipped: {chosen}, the candidate with the lowest ab L1 on the whole validation
photos ({candidates}); the best single evaluation was step {steps} of {total_steps}, after {cpu_min:.0f}
CPU-minutes (the run: {total_cpu_min:.0f} CPU-minutes). Recipe: `{recipe}`.

The working resolution was chosen the same way, on the validation photos (the export shows the model
the whole photo at {work_side} px on the longer side; the recipe trained at 128 px views):

{sides_table}

Machine: {machine}.

## Scores on the held-out photos
Whole photos at 256 px on the longer side, scored through this export exactly as `colorize` runs it.
The priors are fitted on training views: median(ab | L) is the best context-free guess under ab L1.

{table}

On the validation photos: ab L1 {val_l1:.2f} against median(ab | L)'s {val_median:.2f}.

![successes and failures](../../../docs/pretrained_examples.png)

## What it cannot do
- It has seen 133 photographs (animals, monuments, landscapes, plants, musicians, underwater scenes
  from Debian's packages): people, indoor scenes, vehicles and man-made objects are mostly absent, and
  their colours are guesses from lightness and texture.
- Colours are muted (an L1 model predicts the median of what it has seen): vivid objects come out
  desaturated; it does not know what colour a given car or shirt was.
- One colour per region, predicted at {work_side} px: fine colour detail (small objects, thin stripes)
  takes the surrounding colour.
- It is not a restoration model: scratches, noise and faded tints of old photos are left as they are.
"""


if __name__ == "__main__":
    raise SystemExit(main())
