"""Report writing: the sections of an experiment's `results.md`, the main table and the default figures."""

from __future__ import annotations

from colorization_tf import evaluation
from colorization_tf.experiment.config import ExperimentConfig
from colorization_tf.experiment.context import ExperimentContext
from colorization_tf.experiment.results import RunResult, Section  # noqa: F401  (Section re-exported)

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


def main_table(cfg: ExperimentConfig, runs: dict[str, RunResult], gray: dict[str, float]) -> Section:
    """The paper's table: one row per run (+ the gray baseline and rows quoted from the paper)."""
    metric_keys = list(cfg.metric_columns)
    if cfg.paper_metric and cfg.paper_metric not in metric_keys:
        metric_keys.append(cfg.paper_metric)
    columns = ["model", "params", "train time (s)", *[metric_label(k) for k in metric_keys]]
    paper_keys = sorted({k for r in runs.values() for k in r.paper} | {k for row in cfg.paper_rows.values() for k in row})
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
    for label, values in cfg.paper_rows.items():
        rows.append([f"{label} (paper)", None, None, *[None for _ in metric_keys], *[values.get(k) for k in paper_keys]])
        data.append({"model": label, "quoted_from_paper": True, "paper": values})
    text = evaluation.markdown_table(columns, rows)
    if cfg.notes:
        text += "\n" + cfg.notes.strip() + "\n"
    return Section("Results on the test split", text, {"columns": columns, "rows": data})


def _default_figures(ctx: ExperimentContext) -> list[Section]:
    """Loss curves of every run and the same test images colorized by every run."""
    from colorization_tf.plots import experiments as plots

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


def render_markdown(cfg: ExperimentConfig, sections: list[Section], header: str) -> str:
    parts = [f"# {cfg.title}\n", header]
    for s in sections:
        parts.append(f"\n## {s.title}\n\n{s.markdown}")
    return "\n".join(parts)
