"""How colour quality grows with CPU time: every family trained on the debian-photos training photos.

Each run (`RUNS`) trains one family with `colorization_tf.recipe.train_recipe` on random views of
the whole training photos and scores the whole validation and test photos every `eval_every`
steps, the way `colorize` runs the model; the x-axis is the CPU time the run's process used
(wall time on a loaded machine is longer, CPU time is not). Runs resume where a kill left them.
The table and the figure put each curve against the gray prediction and the two context-free
priors, E[ab | L] and median(ab | L), fitted on training views:

    python benchmarks/time_to_quality.py                      # every run in RUNS, one after another
    python benchmarks/time_to_quality.py --runs compact_unet  # one run (resumes)
    python benchmarks/time_to_quality.py --report             # table and figure from what is there

Writes `results/time_to_quality/<run>/` (checkpoints, log.jsonl, best.weights.h5), then
`results/time_to_quality/table.md`, `curves.json` and `docs/time_to_quality.png`.

Reference:
    Issue 17 ("Colour beyond the lightness prior"); the families' papers in `colorization_tf.models`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from colorization_tf.console import quiet_tensorflow  # noqa: E402

quiet_tensorflow()

from colorization_tf import recipe as rc  # noqa: E402
from colorization_tf.sources import whole_photos  # noqa: E402
from colorization_tf.fileio import atomic_write_text  # noqa: E402

DATA = Path("data/debian-photos")
OUT = Path("results/time_to_quality")
FIGURE = Path("docs/time_to_quality.png")

RUNS = {
    "compact_unet": rc.Recipe("compact_unet", total_steps=7200, eval_every=400),
    "resnet_unet_l1": rc.Recipe("resnet_unet_l1", model="resnet_unet", loss="l1", image_size=128, total_steps=100,
                                eval_every=50, warmup_steps=25, learning_rate=1e-3, threads=1),
    "eccv16_classification": rc.Recipe("eccv16_classification", model="eccv16_classification", loss="rebalanced_ce",
                                       image_size=128, total_steps=100, eval_every=50, warmup_steps=25,
                                       learning_rate=1e-3, threads=1),
    "iizuka_lee128": rc.Recipe("iizuka_lee128", model="iizuka_lee128", loss="mse", image_size=128, total_steps=300,
                               eval_every=100, warmup_steps=50, learning_rate=1e-3, threads=1),
    "polychromify": rc.Recipe("polychromify", model="polychromify", loss="mse", image_size=128, total_steps=300,
                              eval_every=100, warmup_steps=50, learning_rate=1e-3, threads=1),
}
"""The runs: the compact U-Net (the recipe this study found, 7,200 steps: about 1.8 CPU-hours) and one
representative per paper family with its paper's loss, for 300 steps on one thread each (run beside it;
the ResNet34 U-Net and ECCV16, 24 and 32 million parameters, for 100: the CPU budget of one 3-hour session on 2 cores)."""


_LEVER = dict(total_steps=400, eval_every=200, warmup_steps=50, threads=1)
LEVERS = {
    "lever_base": rc.Recipe("lever_base", **_LEVER),
    "lever_mse": rc.Recipe("lever_mse", loss="mse", **_LEVER),
    "lever_96px": rc.Recipe("lever_96px", image_size=96, work_side=128, **_LEVER),
    "lever_whole_views": rc.Recipe("lever_whole_views", crop_scale=(1.0, 1.0), **_LEVER),
    "lever_constant_lr": rc.Recipe("lever_constant_lr", schedule="constant", **_LEVER),
    "lever_batch32_lr4e-3": rc.Recipe("lever_batch32_lr4e-3", batch_size=32, learning_rate=4e-3,
                                      **{**_LEVER, "total_steps": 200, "eval_every": 100, "warmup_steps": 25}),
}
"""Short runs of the compact U-Net, one lever changed each against `lever_base` (400 steps of 16 views,
or the same number of views for batch 32), compared on the validation photos: the recipe table."""
ALL_RUNS = {**RUNS, **LEVERS}


def machine_line() -> str:
    """The machine the curves were measured on (CPU, cores, load)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            lines = info.read().splitlines()
        cpu = next((l.split(":", 1)[1].strip() for l in lines if l.startswith("model name")), cpu)
        flags = next((l.split(":", 1)[1].split() for l in lines if l.startswith("flags")), [])
        cpu += " (" + ", ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags) + ")"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} when written"


def references(data_dir, scorers) -> dict:
    """Gray and the two priors on val and test, cached in OUT/references.json."""
    path = OUT / "references.json"
    if path.exists():
        return json.loads(path.read_text())
    train = [p.rgb for p in whole_photos.load_split(data_dir, "train", rc.TRAIN_SIDE)]
    priors = rc.fit_priors(train, RUNS["compact_unet"])
    rows = rc.reference_scores(scorers, priors)
    OUT.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(rows, indent=1))
    return rows


def read_log(run: str) -> list[dict]:
    path = OUT / run / rc.LOG_FILE
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    by_step = {r["step"]: r for r in rows}  # a resumed run may have logged an evaluation twice
    return [by_step[s] for s in sorted(by_step)]


def report(refs: dict) -> str:
    """Writes table.md, curves.json and the figure; returns the table."""
    median, mean = refs["median"]["test"], refs["mean"]["test"]
    lines = [f"Machine: {machine_line()}.", "",
             "| run | CPU-min | step | test ab L1 | ÷ median(ab\\|L) | ÷ E[ab\\|L] | PSNR − gray | PSNR − median | "
             "colourfulness | best on val (step) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    curves = {}
    for run in RUNS:
        rows = read_log(run)
        if not rows:
            continue
        curves[run] = rows
        best = min(rows, key=lambda r: r["val_ab_l1"])
        shown = {r["step"]: r for r in (rows[0], best, rows[-1])}  # first, best on validation, last
        for row in shown.values():
            lines.append(f"| {run} | {row['cpu_s'] / 60:.0f} | {row['step']} | {row['test_ab_l1']:.2f} | "
                         f"{row['test_ab_l1'] / median['ab_l1']:.3f} | {row['test_ab_l1'] / mean['ab_l1']:.3f} | "
                         f"{row['test_psnr'] - refs['gray']['test']['psnr']:+.2f} dB | {row['test_psnr'] - median['psnr']:+.2f} dB | "
                         f"{row['test_colorfulness']:.1f} | {best['step']} |")
    for key, label in (("median", "median(ab \\| L)"), ("mean", "E[ab \\| L]"), ("gray", "gray")):
        ref = refs[key]["test"]
        lines.append(f"| {label} | – | – | {ref['ab_l1']:.2f} | {ref['ab_l1'] / median['ab_l1']:.3f} | "
                     f"{ref['ab_l1'] / mean['ab_l1']:.3f} | {ref['psnr'] - refs['gray']['test']['psnr']:+.2f} dB | "
                     f"{ref['psnr'] - median['psnr']:+.2f} dB | {ref['colorfulness']:.1f} | – |")
    table = "\n".join(lines) + "\n"
    atomic_write_text(OUT / "table.md", table)
    atomic_write_text(OUT / "curves.json", json.dumps({"references": refs, "runs": curves, "machine": machine_line()}, indent=1))
    from colorization_tf.plots.training import plot_time_to_quality

    plot_time_to_quality(curves, refs, FIGURE, machine=machine_line())
    return table


LEVER_NOTES = {
    "lever_base": "the shipped recipe, short: 128 px views of 40-100% of the shorter side, flips, L1, AdamW 2e-3 warm-up + cosine, batch 16",
    "lever_mse": "squared error instead of L1",
    "lever_96px": "96 px views (whole photos seen at 128 px)",
    "lever_whole_views": "views always the whole shorter side (no zoom-in crops)",
    "lever_constant_lr": "constant learning rate after the warm-up",
    "lever_batch32_lr4e-3": "batch 32 at twice the learning rate, half the steps (the same views)",
}


def lever_table(refs: dict) -> str | None:
    """The recipe table: each lever's last evaluation on the validation photos against `lever_base`."""
    base = read_log("lever_base")
    if not base:
        return None
    median = refs["median"]["val"]
    lines = ["| run | what changed | CPU-min | val ab L1 | ÷ median(ab\\|L) | vs base | val PSNR − median | colourfulness |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for run, note in LEVER_NOTES.items():
        rows = read_log(run)
        if not rows:
            continue
        last = rows[-1]
        lines.append(f"| {run} | {note} | {last['cpu_s'] / 60:.1f} | {last['val_ab_l1']:.2f} | "
                     f"{last['val_ab_l1'] / median['ab_l1']:.3f} | {last['val_ab_l1'] - base[-1]['val_ab_l1']:+.2f} | "
                     f"{last['val_psnr'] - median['psnr']:+.2f} dB | {last['val_colorfulness']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=sorted(ALL_RUNS), default=list(RUNS), help="runs to train (default: all)")
    parser.add_argument("--data", default=str(DATA), help="debian-photos folder (default: %(default)s)")
    parser.add_argument("--report", action="store_true", help="only write the table and figure")
    args = parser.parse_args(argv)
    threads = {ALL_RUNS[run].threads for run in args.runs}
    if not args.report and len(threads) == 1:
        rc.set_threads(threads.pop())
    scorers = rc.load_scoring_photos(args.data)
    refs = references(args.data, scorers)
    if not args.report:
        for run in args.runs:
            rc.train_recipe(ALL_RUNS[run], args.data, OUT / run, scorers=scorers)
    print(report(refs))
    levers = lever_table(refs)
    if levers:
        atomic_write_text(OUT / "levers.md", levers)
        print(levers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
