"""The "Protocol" table of every experiment: the resolved configuration beside the paper's values.

Each experiment states its paper's training protocol (`ReportConfig.paper_protocol`, per-run
overrides in `RunConfig.paper_protocol`) and explains every deliberate difference
(`ReportConfig.protocol_notes`). `protocol_table` compares them, setting by setting, with what
the runner actually resolved -- data, split source and sizes, image size, augmentation, optimiser,
learning rate, batch size, epochs, loss with its reduction, bin width, the settings a run does
not name (validation set, model selection, weight initialisation, input resizing, test-time
upsampling, colour bins, loss target resolution, gray conversion, determinism), and the precision,
XLA and distribution Keras trained under (read from the compiled model) -- and marks each row:

- ``✓`` the same as the paper;
- ``✗`` different, with the reason: the experiment's note, or the command line that asked for it
  (`--quick`, `--epochs`, ...); an unexplained difference says so;
- ``–`` the paper does not state it.

Runs that share a value share a row; rows name their runs when the runs differ.

Every paper value is data: a `Paper` literal transcribed from the paper (or the authors' code where
the paper is silent) with its source, shown in the table's "source" column. Nothing on the paper
side is computed from the suite's objects or a run's configuration.

Reference:
    The five papers in /work/shared/seeds and the authors' code (see each `experiments/*.py`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from colorization_tf import output_upsampling, quantize, suite_facts
from colorization_tf.evaluation import markdown_table
from colorization_tf.experiment.results import Section
from colorization_tf.models import get_spec

NOT_STATED = None
"""A paper value that the paper does not give (a range is a tuple: (low, high))."""


@dataclasses.dataclass(frozen=True)
class Paper:
    """One paper value as transcribed, with where it comes from.

    Attributes:
        value: the literal (a number, a string in the table's vocabulary, a (low, high) range, or
            `NOT_STATED`).
        source: section / table / equation of the paper, or repository and file of the authors'
            code; where a fact could not be settled, say so here.
        shown: how the table shows the value when the literal needs words (None: the value).
    """

    value: Any
    source: str
    shown: str | None = None

    def __post_init__(self):
        if not str(self.source).strip():
            raise ValueError(f"colorization_tf/experiment/protocol.py: paper value {self.value!r} has no source")


def paper_literal(entry) -> Any:
    """The literal of a paper-protocol entry (a `Paper`, or a bare value of an older script)."""
    return entry.value if isinstance(entry, Paper) else entry


def paper_source(entry) -> str:
    """The source of a paper-protocol entry ("no source given" for a bare value)."""
    return entry.source if isinstance(entry, Paper) else ("" if entry is NOT_STATED else "no source given")

MATCH, MISMATCH, UNSTATED = "✓", "✗", "–"
UNEXPLAINED = "unexplained difference"

SETTINGS = (
    ("dataset", "data"),
    ("split", "split"),
    ("image_size", "image size"),
    ("augment", "augmentation"),
    ("optimizer", "optimizer"),
    ("learning_rate", "learning rate"),
    ("batch_size", "batch size"),
    ("epochs", "epochs"),
    ("loss", "loss (reduction)"),
    ("bin_width", "bin width"),
    ("num_bins", "colour bins"),
    ("validation", "validation set"),
    ("selection", "model selection / stopping point"),
    ("init", "weight initialisation"),
    ("resize", "input resizing"),
    ("upsampling", "test-time upsampling"),
    ("target", "loss target resolution"),
    ("gray", "gray conversion"),
    ("determinism", "determinism"),
    ("precision", "precision"),
    ("xla", "XLA"),
    ("strategy", "devices / distribution"),
)
"""(key, row label) of the table, in order. Keys of `paper_protocol` and `protocol_notes`."""

COMMAND_LINE = {"image_size": "image_size", "batch_size": "batch_size", "epochs": "epochs"}
"""Settings the command line can override for every run (`--image-size`, ...)."""

SET_ONLY = ("resize_method", "hold_out_val")
"""Experiment fields changed with `--set` only (no option of their own)."""

QUICK_SETTINGS = ("dataset", "split", "image_size", "batch_size", "epochs")
"""Settings `--quick` shrinks."""

HARDWARE_SETTINGS = ("precision", "xla", "strategy")
HARDWARE_NOTE = ("what this machine ran: `--precision`/`--xla`/strategy \"auto\" choose by device "
                 "(`training.select_hardware`: on one GPU mixed_float16 and XLA, on several a mirrored replica each; "
                 "on a CPU one replica, float32 or mixed_bfloat16, no XLA)")
"""Settings read from what Keras ran (`ran_under`), and why they can differ from a paper's."""

VALIDATION_NONE = "none"
VALIDATION_OWN = "the split's own validation side"
VALIDATION_CARVED = "~10% of the training side held out"
"""The validation set of a run (`run_settings`): none, the split's own, or carved out of train."""

LAST_EPOCH = "last epoch"
"""Model selection: the weights after the last epoch (no selection)."""

DETERMINISM_ON, DETERMINISM_OFF = "on (TF op determinism)", "off"


def describe_augment(augment: bool) -> str:
    return "random crop 0.875 + flip" if augment else "none"


def describe_strategy(ran: dict) -> str:
    """The "devices / distribution" value of a run: "1 replica: CPU, no distribution strategy", ...

    Args:
        ran: {"n_replicas", "kind", "devices"} of the run's `RunResult.hardware`.
    """
    n = ran["n_replicas"]
    kind = "no distribution strategy" if ran["kind"] == "default" else f"{ran['kind']} strategy"
    return f"{n} replica{'s' if n != 1 else ''}: {ran.get('devices') or 'devices not recorded'}, {kind}"


def device_kind(devices: str | None) -> str:
    """"GPU", "TPU" or "CPU" of a run's recorded devices ("1 GPU(s)", "TPU", "CPU"; None: not recorded)."""
    text = str(devices or "")
    return "GPU" if "GPU" in text else "TPU" if "TPU" in text else "CPU" if "CPU" in text else "unknown"


def describe_loss(loss, loss_weights=None) -> str:
    """A short canonical name of a run's loss with its reduction: "mse (mean)", "ce_hard (mean)",
    "ab: sse (sum per image) x 0.25 + scene: ce (mean) x 5", ..."""
    if isinstance(loss, dict):
        weights = loss_weights or {}
        parts = []
        for key, value in loss.items():
            weight = weights.get(key, 1.0)
            parts.append(f"{key}: {describe_loss(value)}" + ("" if weight == 1.0 else f" x {weight:g}"))
        return " + ".join(parts)
    if isinstance(loss, str):
        name = loss.lower()
        return f"{'mse' if name == 'l2' else name} ({'sum per image' if name == 'sse' else 'mean'})"
    if hasattr(loss, "get_config"):
        kind = type(loss).__name__
        short = {"MeanSquaredError": "mse", "MeanAbsoluteError": "l1", "SumSquaredError": "sse",
                 "SparseCategoricalCrossentropy": "ce", "CategoricalCrossentropy": "ce",
                 "BinaryCrossentropy": "bce"}.get(kind, kind)
        if kind == "SoftEncodedCrossEntropy":
            short = ("wce" if loss.class_weights is not None else "ce") + ("_hard" if loss.encoding == "hard" else "")
        reduction = "sum per image" if kind == "SumSquaredError" else "mean"
        return f"{short} ({reduction})"
    return str(loss)


def _paper_value(key: str, entry: Any) -> str:
    if isinstance(entry, Paper) and entry.shown:
        return entry.shown
    value = paper_literal(entry)
    if value is NOT_STATED:
        return "not stated"
    if key == "augment" and isinstance(value, bool):
        return describe_augment(value)
    if key == "dataset" and isinstance(value, int):
        return f"{value} images"
    if isinstance(value, tuple):
        return "-".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _same(key: str, ours: Any, paper: Any) -> bool:
    if key == "strategy":  # the paper states how many of which device trained it: "1 GPU", "1 CPU"
        return isinstance(ours, dict) and f"{ours['n_replicas']} {device_kind(ours.get('devices'))}" == paper
    if isinstance(paper, tuple):  # a range the paper gives (CS520's 5000-8000 epochs)
        return isinstance(ours, (int, float)) and paper[0] <= ours <= paper[1]
    if isinstance(paper, (int, float)) and not isinstance(paper, bool) and isinstance(ours, (int, float)):
        return abs(float(ours) - float(paper)) <= 1e-12 * max(1.0, abs(float(paper)))
    if key == "optimizer":
        return str(ours).lower() == str(paper).lower()
    if key == "xla":  # "off (why)" is off
        return str(ours).split(" ")[0] == paper
    return ours == paper


def run_settings(run, data: dict) -> dict[str, Any]:
    """The compared value of every setting for one resolved run (`resolve.resolve_run`).

    Args:
        run: the resolved `RunConfig`.
        data: {"dataset", "dataset_images", "split", "split_matches", "split_note", "val_carved",
            "deterministic"} from the runner (`protocol_data`), and "hardware": run name ->
            what it trained under (`RunResult.hardware`).

    Returns:
        setting key -> this run's value (None: the setting does not apply to the run).
    """
    classification = get_spec(run.model).head.classification
    if data.get("val_empty"):
        validation = VALIDATION_NONE
    else:
        validation = VALIDATION_CARVED if data.get("val_carved") else VALIDATION_OWN
    if run.max_val and validation != VALIDATION_NONE:
        validation += f" (at most {run.max_val} images)"
    train = run.train
    colour_loss = train.loss.get("ab") if isinstance(train.loss, dict) else train.loss
    return {
        "dataset": data["dataset"],
        "split": data["split"],
        "image_size": run.image_size,
        "augment": bool(run.augment),
        "optimizer": train.optimizer,
        "learning_rate": train.learning_rate,
        "batch_size": train.batch_size,
        "epochs": train.epochs,
        "loss": describe_loss(train.loss, train.loss_weights) if run.gan is None else f"gan (bce) + {run.gan.as_dict().get('l1_weight', 100):g} x l1",
        "bin_width": float(run.bin_width or 10.0) if classification else None,
        "num_bins": _num_bins(run.bin_width) if classification else None,
        "validation": validation,
        "selection": f"best epoch on validation by {run.select_best}" if run.select_best else LAST_EPOCH,
        "init": suite_facts.initialization(run.model, run.model_kwargs),
        "resize": suite_facts.input_resize(data.get("resize_method", "auto")),
        "upsampling": output_upsampling.describe(suite_facts.output_upsampling(run.model, run.model_kwargs), run.test_upsampling),
        "target": suite_facts.loss_target(colour_loss, classification and run.gan is None),
        "gray": suite_facts.LAB_L,
        "determinism": DETERMINISM_ON if data.get("deterministic") else DETERMINISM_OFF,
        **ran_under(data.get("hardware", {}).get(run.name)),
    }


def _num_bins(bin_width) -> int:
    """The number of in-gamut ab bins of a classification head of this width (None: Zhang's 10)."""
    return len(quantize.ab_bin_centers(float(bin_width or 10.0)))


def ran_under(hardware: dict | None) -> dict[str, Any]:
    """The "precision", "xla" and "strategy" settings of a run as Keras ran them (None for a run not
    trained).

    Args:
        hardware: the run's `RunResult.hardware` (`training.Hardware.in_effect(model).to_dict()`).
    """
    if not hardware:
        return {"precision": None, "xla": None, "strategy": None}
    xla = "on" if hardware["jit_compile"] else "off" + (f" ({hardware['xla_note']})" if hardware.get("xla_note") else "")
    strategy = None if "n_replicas" not in hardware else {
        "n_replicas": hardware["n_replicas"], "kind": hardware.get("kind", "default"), "devices": hardware.get("devices")}
    return {"precision": hardware["policy"], "xla": xla, "strategy": strategy}


def protocol_data(cfg, root, data) -> dict:
    """The data rows of the table (`run_settings`): dataset, split, and whether the split is the
    paper's (a prepared `splits.json`, or a hash split of the paper's protocol).

    Args:
        cfg: the `experiment.ExperimentConfig`.
        root: the data folder.
        data: its `data.experiment_splits.DataSplits`.
    """
    n = sum(len(v) for v in data.splits.values())
    sizes = " / ".join(f"{k} {len(v)}" for k, v in data.splits.items())
    carved = "; val held out of train (the protocol has none)" if data.val_carved else ""
    if data.source == "prepared":
        split = f"prepared `splits.json`: {sizes}"
        matches, note = True, "the folder's own split, written by datasets/prepare.py" + carved
    else:
        split = f"hash split `{cfg.data.protocol}`, split seed {cfg.data.split_seed}: {sizes}"
        wanted = cfg.report.paper_protocol.get("split_protocol", cfg.data.protocol)  # None: only a prepared split is the paper's
        matches = cfg.data.protocol == wanted and "protocol" not in cfg.overridden
        if matches:
            note = "the paper's proportions by a hash of each file, not its exact files"
        else:
            note = f"protocol `{cfg.data.protocol}` instead of `{wanted}`" if wanted else "not the dataset's own split"
        note += carved
    dataset = f"embedded synthetic scenes ({n} images)" if cfg.data.root is None else f"`{root}` ({n} images)"
    deterministic = bool(cfg.quick) if cfg.train.deterministic is None else bool(cfg.train.deterministic)  # `resolve_experiment`
    return {"dataset": dataset, "dataset_images": n, "split": split, "split_matches": matches, "split_note": note,
            "val_carved": bool(data.val_carved), "val_empty": not data.splits.get("val"), "deterministic": deterministic,
            "resize_method": cfg.data.resize_method}


def compare(key: str, ours: Any, paper: Any, *, run, data: dict, note: str | None, cfg) -> tuple[str, str]:
    """(mark, note) of one setting of one run: see the module docstring.

    Args:
        paper: the paper's entry (a `Paper`, or a bare literal).
    """
    paper = paper_literal(paper)
    if key == "dataset":
        same = cfg.data.root is not None and data.get("dataset_images") == paper
    elif key == "split":
        same = bool(data.get("split_matches"))
    else:
        same = paper is not NOT_STATED and _same(key, ours, paper)
    if paper is NOT_STATED and key != "split" and not (key == "dataset" and cfg.data.root is None):
        return UNSTATED, note or ""
    if same:
        return MATCH, data.get("split_note", "") if key == "split" else ""
    overridden = set(getattr(cfg, "overridden", ()) or ())
    reasons = []
    if cfg.quick and (key in QUICK_SETTINGS or key in run.quick_overrides.as_dict()):
        reasons.append("`--quick` (tiny sizes, not the paper-scale run)")
    flag = {"augment": "augment", "split": "protocol", "determinism": "deterministic", "resize": "resize_method",
            "validation": "hold_out_val", "precision": "precision", "xla": "xla"}.get(key, COMMAND_LINE.get(key))
    if flag in overridden:
        reasons.append(f"`--{flag.replace('_', '-')}` on the command line" if flag not in SET_ONLY else f"`--set {flag}=...` on the command line")
    if key == "dataset" and cfg.data.root is None:
        reasons.append("the embedded synthetic scenes stand in for the paper's data: pass `--data` (datasets/prepare.py)")
    elif key == "dataset":
        reasons.append(f"this folder has {data.get('dataset_images')} usable images")
    if key == "split" and data.get("split_note"):
        reasons.append(data["split_note"])
    if key in HARDWARE_SETTINGS and not (flag and flag in overridden):
        reasons.append(HARDWARE_NOTE)
    if key == "validation" and data.get("val_carved"):
        reasons.append("the split has no validation side: the suite holds ~10% of the training side out "
                       "(`data.experiment_splits.carve_validation`), so the model trains on ~90% of it")
    if note:
        reasons.append(note)
    return MISMATCH, "; ".join(reasons) or UNEXPLAINED


def protocol_rows(cfg, runs, data: dict) -> list[dict]:
    """One dict per table row: setting, runs, ours, paper, source, mark, note (see `protocol_table`)."""
    rows = []
    notes = dict(cfg.report.protocol_notes or {})
    settings = {run.name: run_settings(run, data) for run in runs}
    for key, label in SETTINGS:
        groups: dict[tuple, list[str]] = {}
        for run in runs:
            paper = {**cfg.report.paper_protocol, **run.paper_protocol}.get(key, NOT_STATED)
            ours = settings[run.name][key]
            if ours is None:  # the setting does not apply to this run (bins of a regression head)
                continue
            run_note = {**notes, **(run.protocol_notes or {})}.get(key)
            mark, note = compare(key, ours, paper, run=run, data=data, note=run_note, cfg=cfg)
            shown = (describe_augment(ours) if key == "augment" else describe_strategy(ours) if key == "strategy"
                     else f"{ours:g}" if isinstance(ours, float) else str(ours))
            groups.setdefault((shown, _paper_value(key, paper), paper_source(paper), mark, note), []).append(run.name)
        for (ours, paper, source, mark, note), names in groups.items():
            rows.append({"setting": label, "key": key, "runs": names if len(groups) > 1 or len(names) < len(runs) else ["all"],
                         "ours": ours, "paper": paper, "source": source, "mark": mark, "note": note})
    return rows


def protocol_table(cfg, runs, data: dict):
    """The "Protocol" report section: Markdown table + its rows as JSON.

    Args:
        cfg: the `ExperimentConfig` (its `report.paper_protocol`, `report.protocol_notes`, `quick`, ...).
        runs: the resolved runs (`resolve.resolve_run`).
        data: see `run_settings`.

    Returns:
        `Section("Protocol", ...)`.
    """
    rows = protocol_rows(cfg, runs, data)
    table = markdown_table(
        ["setting", "runs", "this experiment", "paper", "paper's source", "", "why they differ"],
        [[r["setting"], ", ".join(r["runs"]), r["ours"], r["paper"], r["source"], r["mark"], r["note"]] for r in rows],
    )
    text = (f"The resolved configuration of every run beside the paper's ({MATCH} same, {MISMATCH} different, "
            f"{UNSTATED} not stated by the paper). Every paper value is transcribed from the paper, or from the "
            "authors' code where the paper is silent, with its source.\n\n" + table)
    return Section("Protocol", text, {"rows": rows})


__all__ = ["NOT_STATED", "Paper", "paper_literal", "paper_source", "protocol_data", "SETTINGS", "describe_loss", "describe_augment", "describe_strategy", "run_settings", "protocol_rows", "protocol_table"]
