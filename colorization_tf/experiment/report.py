"""The report writers besides the "Protocol" table (`protocol`): the main table, the default figures,
the hardware line and the Markdown page of an experiment's `results.md`."""

from __future__ import annotations

from colorization_tf import evaluation
from colorization_tf.experiment.results import RunResult, Section
from colorization_tf.plots import experiments as plots

N_FIGURE_IMAGES = 6
"""Test images shown in the comparison figure of every experiment."""


def metric_label(key: str) -> str:
    """Column label of a metric key."""
    return {
        "psnr": "PSNR (dB)",
        "ssim": "SSIM",
        "colorfulness": "colorfulness",
        "ab_l1": "ab L1",
        "ab_l2": "ab L2",
        evaluation.SCENE_ACCURACY: "scene accuracy",
    }.get(key, key)


def main_table(cfg, runs: dict[str, RunResult], gray: dict[str, float]) -> Section:
    """The paper's table: one row per run (+ the gray baseline and rows quoted from the paper).

    Args:
        cfg: the `ExperimentConfig` (its `report`: metric columns, the paper's metric and rows, notes).
        runs: run name -> `RunResult`.
        gray: the gray baseline's mean metrics.
    """
    report = cfg.report
    metric_keys = list(report.metric_columns)
    if report.paper_metric and report.paper_metric not in metric_keys:
        metric_keys.append(report.paper_metric)
    columns = ["model", "params", "train time (s)", *[metric_label(k) for k in metric_keys]]
    paper_keys = sorted({k for r in runs.values() for k in r.paper} | {k for row in report.paper_rows.values() for k in row})
    columns += [f"paper: {metric_label(k)}" for k in paper_keys]
    rows, data = [], []
    for r in runs.values():
        rows.append([r.label, r.parameters, r.train_seconds, *[r.metrics.get(k) for k in metric_keys], *[r.paper.get(k) for k in paper_keys]])
        data.append({"model": r.label, "run": r.name, "params": r.parameters, "train_seconds": r.train_seconds,
                     **{k: r.metrics.get(k) for k in metric_keys}, "paper": r.paper})
    rows.append([evaluation.GRAY, 0, None, *[gray.get(k) for k in metric_keys], *[None for _ in paper_keys]])
    data.append({"model": evaluation.GRAY, **{k: gray.get(k) for k in metric_keys}})
    if "colorfulness" in metric_keys and gray.get("colorfulness_true") is not None:
        truth = [gray["colorfulness_true"] if k == "colorfulness" else None for k in metric_keys]
        rows.append(["ground truth", None, None, *truth, *[None for _ in paper_keys]])
        data.append({"model": "ground truth", "colorfulness": gray["colorfulness_true"]})
    for label, values in report.paper_rows.items():
        rows.append([f"{label} (paper)", None, None, *[None for _ in metric_keys], *[values.get(k) for k in paper_keys]])
        data.append({"model": label, "quoted_from_paper": True, "paper": values})
    text = evaluation.markdown_table(columns, rows)
    if report.notes:
        text += "\n" + report.notes.strip() + "\n"
    return Section("Results on the test split", text, {"columns": columns, "rows": data})


def default_figures(ctx) -> list[Section]:
    """Loss curves of every run and the same test images colorized by every run (`ctx`: the
    `runner.ExperimentContext`)."""
    sections = []
    histories = {r.label: r.history for r in ctx.runs.values() if r.history}
    if histories:
        path = plots.plot_histories(histories, ctx.figures_dir / "loss_curves.png", title=f"{ctx.config.title}: loss")
        sections.append(Section("Loss curves", f"![loss curves]({path.relative_to(ctx.results_dir)})\n"))
    if ctx.runs:
        path = plots.plot_model_grid(
            {ctx.runs[n].label: e.samples for n, e in ctx.evals.items() if n in ctx.runs},
            ctx.figures_dir / "colorizations.png",
            max_images=N_FIGURE_IMAGES,
            title=f"{ctx.config.title}: test images",
        )
        sections.append(Section("Colorizations", f"![test images colorized by every model]({path.relative_to(ctx.results_dir)})\n"))
    return sections


def hardware_line(hardware: dict[str, dict]) -> str:
    """The report's hardware line: what the runs trained under as Keras ran them ("" if none trained).

    Args:
        hardware: run name -> `RunResult.hardware`.
    """
    groups: dict[str, list[str]] = {}
    for name, hw in hardware.items():
        if hw:
            groups.setdefault(hw["description"], []).append(name)
    if not groups:
        return ""
    if len(groups) == 1:
        return f"\nHardware (as Keras ran it): {next(iter(groups))}.\n"
    return "\nHardware (as Keras ran it): " + "; ".join(f"{', '.join(names)}: {text}" for text, names in groups.items()) + ".\n"


def render_markdown(cfg, sections: list[Section], header: str) -> str:
    """`results.md`: the title, the header line(s), then every section under its heading."""
    parts = [f"# {cfg.title}\n", header]
    for s in sections:
        parts.append(f"\n## {s.title}\n\n{s.markdown}")
    return "\n".join(parts)
