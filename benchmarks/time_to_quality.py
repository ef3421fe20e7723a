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
from colorization_tf.data import whole_photos  # noqa: E402
from colorization_tf.fileio import atomic_write_text  # noqa: E402

DATA = Path("data/debian-photos")
OUT = Path("results/time_to_quality")
FIGURE = Path("docs/time_to_quality.png")

RUNS = {
    "compact_unet": rc.Recipe("compact_unet", total_steps=7200, eval_every=400),
    "resnet_unet_l1": rc.Recipe("resnet_unet_l1", model="resnet_unet", loss="l1", image_size=128, total_steps=600,
                                eval_every=150, warmup_steps=100, learning_rate=1e-3, threads=1),
    "eccv16_classification": rc.Recipe("eccv16_classification", model="eccv16_classification", loss="rebalanced_ce",
                                       image_size=128, total_steps=600, eval_every=150, warmup_steps=100,
                                       learning_rate=1e-3, threads=1),
    "iizuka_lee128": rc.Recipe("iizuka_lee128", model="iizuka_lee128", loss="mse", image_size=128, total_steps=900,
                               eval_every=150, warmup_steps=100, learning_rate=1e-3, threads=1),
    "polychromify": rc.Recipe("polychromify", model="polychromify", loss="mse", image_size=128, total_steps=900,
                              eval_every=150, warmup_steps=100, learning_rate=1e-3, threads=1),
}
"""The runs: the compact U-Net (the recipe this study found, two CPU-hours) and one representative per
paper family with its paper's loss, for a shorter budget on one thread each (run beside it)."""


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
        for row in (rows[len(rows) // 2], rows[-1]) if len(rows) > 1 else rows:
            lines.append(f"| {run} | {row['cpu_s'] / 60:.0f} | {row['step']} | {row['test_ab_l1']:.2f} | "
                         f"{row['test_ab_l1'] / median['ab_l1']:.3f} | {row['test_ab_l1'] / mean['ab_l1']:.3f} | "
                         f"{row['test_psnr'] - refs['gray']['test']['psnr']:+.2f} dB | {row['test_psnr'] - median['psnr']:+.2f} dB | "
                         f"{row['test_colorfulness']:.1f} | {best['step']} |")
    for key, label in (("median", "median(ab | L)"), ("mean", "E[ab | L]"), ("gray", "gray")):
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=sorted(RUNS), default=list(RUNS), help="runs to train (default: all)")
    parser.add_argument("--data", default=str(DATA), help="debian-photos folder (default: %(default)s)")
    parser.add_argument("--report", action="store_true", help="only write the table and figure")
    args = parser.parse_args(argv)
    scorers = rc.load_scoring_photos(args.data)
    refs = references(args.data, scorers)
    if not args.report:
        for run in args.runs:
            rc.train_recipe(RUNS[run], args.data, OUT / run, scorers=scorers)
    print(report(refs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
