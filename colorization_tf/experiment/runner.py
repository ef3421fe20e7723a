"""The runner: `run_experiment` reads top to bottom, as one experiment runs.

    resolve the configuration (`resolve`) -> split the data (`data.experiment_splits`; `splits_used.json`)
    -> for every run, `train_and_evaluate`: its data and parts (`assembly`) -> `training.train`
       (resumable work directory `runs/<run>-<digest>/`) -> `evaluation.evaluate_model` on the
       test split -> `export.export_saved_model`
    -> the gray baseline -> the report: main table, "Protocol" table (`protocol`), hooks, figures
       (`report`) -> results.md, results.json.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from colorization_tf import evaluation, training
from colorization_tf.data import experiment_splits as data_splits
from colorization_tf.data.splits import write_splits
from colorization_tf.data.pipeline import dataset_cardinality_hint
from colorization_tf.experiment import assembly
from colorization_tf.experiment.config import QUICK_IMAGE_SIZE, RUN_TRAIN_KEYS, ExperimentConfig, RunConfig
from colorization_tf.experiment.protocol import protocol_data, protocol_table
from colorization_tf.experiment.report import default_figures, hardware_line, main_table, render_markdown
from colorization_tf.experiment.resolve import fresh, resolve_experiment, resolve_run, run_json
from colorization_tf.experiment.results import (
    CONFIG_JSON,
    DATA_REPORT,
    FIGURES_DIR,
    RESULTS_JSON,
    RESULTS_MD,
    RUNS_DIR,
    SPLITS_USED,
    ExperimentResult,
    RunResult,
    Section,
)
from colorization_tf.export import export_saved_model
from colorization_tf.fileio import remove_stale_temps
from colorization_tf.models import colorizer_of, get_spec
from colorization_tf.output_upsampling import with_output_upsampling
from colorization_tf.selection import BestWeights, restore_best

log = logging.getLogger(__name__)

DIGEST_LENGTH = 8
"""Hex characters of the configuration digest in a run's work-directory name."""

DIGEST_KEYS = tuple(key for key in training.SAME_RUN_KEYS if key not in ("precision", "steps_per_epoch"))
"""The `SAME_RUN_KEYS` a run's digest names by value: the run's own fields and its `train`'s
`RUN_TRAIN_KEYS`. The precision is named only when asked for by name (`run_digest`); the steps per
epoch follow from the training files and the batch size, which the digest names."""

QUICK_EXPORT_NOTE = (
    "Quick mode exports the SavedModels only, without the `model.keras` copy a full run writes beside "
    "each (the big nets' .keras files are ~130 MB each); run without `--quick` to get them."
)


@dataclasses.dataclass
class ExperimentContext:
    """Everything a hook may use once the runs are trained.

    Attributes:
        config: the `ExperimentConfig` (resolved).
        splits: split name -> image paths.
        labels: path -> class index (None without class folders).
        class_names: class folder names.
        runs: run name -> `RunResult`.
        models: run name -> trained Keras model (the generator for a GAN).
        evals: run name -> `evaluation.EvalResult` on the test split (plus `evaluation.GRAY`).
        results_dir: `results/<paper>`.
        data_root: the data folder (the embedded default's when no `--data` was given).
        skipped: run name -> why it was not trained (e.g. it needs class folders).
    """

    config: ExperimentConfig
    splits: dict[str, list[str]]
    labels: dict[str, int] | None
    class_names: list[str]
    runs: dict[str, RunResult]
    models: dict[str, Any]
    evals: dict[str, evaluation.EvalResult]
    results_dir: Path
    data_root: str = ""
    skipped: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def figures_dir(self) -> Path:
        path = self.results_dir / FIGURES_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    def paths(self, split: str, classes=None) -> list[str]:
        """A split's paths of `classes` (all when None), round-robin over the classes."""
        return assembly.interleave_classes(assembly.filter_classes(self.splits[split], self.labels, self.class_names, classes), self.labels)

    def dataset(self, split: str, image_size: int, normalization, batch_size: int = 16, classes=None):
        """An evaluation pipeline over a split (see `assembly.build_split_dataset`)."""
        return assembly.build_split_dataset(self.paths(split, classes), image_size, normalization, batch_size, training=False,
                                            resize_method=self.config.data.resize_method)


def run_digest(run: RunConfig, train_paths, *, batch_size: int | None = None, init_digest: str | None = None,
               precision: str = "auto", resize_method: str = "auto") -> str:
    """A short digest of a resolved run's training-relevant configuration and training files.

    Names the run's work directory (`runs/<name>-<digest>`), so a re-run with another image
    size, dataset, loss, ... into the same results folder starts afresh instead of resuming a
    checkpoint trained on something else, while a run with more epochs continues the old one.

    Args:
        run: the resolved run (`resolve.resolve_run`), its loss as configured (e.g. "wce", not the object).
        train_paths: its training files (their absolute paths name the dataset and the split).
        batch_size: the effective batch size (capped at the number of training files).
        init_digest: the work-directory name of the run it starts from (`init_from`).
        precision: the experiment's `--precision`; a policy asked for by name trains in its own
            work directory ("auto" keeps the digest it always had).
        resize_method: the experiment's input resize; another than "auto" trains in its own work directory.
    """
    fields = {key: fresh(getattr(run.train if key in RUN_TRAIN_KEYS else run, key)) for key in DIGEST_KEYS}
    fields["batch_size"] = batch_size or run.train.batch_size
    fields["init_from"] = init_digest if run.init_from else None
    if precision != "auto":
        fields["precision"] = precision
    if resize_method != "auto":
        fields["resize_method"] = resize_method
    fields["train_files"] = hashlib.sha1("\n".join(sorted(os.path.abspath(os.fspath(p)) for p in train_paths)).encode()).hexdigest()
    text = json.dumps(evaluation.to_jsonable(fields), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:DIGEST_LENGTH]


def train_config(run: RunConfig, epochs: int) -> training.TrainConfig:
    """The `TrainConfig` one training stage of a resolved run hands to `training.train`: its `train`
    up to `epochs`, Keras loss/metric objects serialised (each compile gets fresh ones) and the
    optimiser's arguments as the keywords they stand for."""
    train = run.train
    return dataclasses.replace(train, epochs=epochs, loss=fresh(train.loss), metrics=fresh(train.metrics),
                               optimizer_kwargs=train.optimizer_kwargs.as_dict())


def resolve_splits(cfg: ExperimentConfig, root) -> data_splits.DataSplits:
    """The experiment's split of `root` (`data.experiment_splits.resolve_splits` with the experiment's protocol,
    split seed, image limit (`--max-images`, or `--quick`'s) and the folder's prepared split unless
    it is the embedded default)."""
    data = resolve_experiment(cfg).data
    split = data_splits.resolve_splits(root, data.protocol, data.split_seed, limit=data.max_images, use_prepared=bool(data.root))
    return split if data.hold_out_val else whole_training_side(split)


def whole_training_side(data: data_splits.DataSplits) -> data_splits.DataSplits:
    """`data` with the validation images held out of train (`carve_validation`) given back to train:
    `DataConfig.hold_out_val=False`, for papers that select nothing on validation. A split with
    its own validation side is returned as it is."""
    if not data.val_carved:
        return data
    train = sorted([*data.splits["train"], *data.splits["val"]])
    note = (f"val: none (hold_out_val=False): the {len(data.splits['val'])} images held out for validation went back to "
            f"train, which has {len(train)}; no validation curves, sample figures from training images")
    return dataclasses.replace(data, splits={**data.splits, "train": train, "val": []}, val_carved=False,
                               report=data.report + "\n" + note)


def train_and_evaluate(run: RunConfig, cfg: ExperimentConfig, ctx: ExperimentContext) -> RunResult:
    """Trains one (resolved) run, evaluates it on the test split and exports it."""
    # Its data: the split's files of its classes (capped), the pipelines, a batch for the sample figures.
    def split_paths(split, limit):
        paths = assembly.filter_classes(ctx.splits[split], ctx.labels, ctx.class_names, run.classes)
        return assembly.capped(paths, ctx.labels, limit, cfg.data.split_seed)

    train_paths, val_paths, test_paths = split_paths("train", run.max_train), split_paths("val", run.max_val), ctx.paths("test", run.classes)
    if not train_paths or not test_paths:
        raise ValueError(f"run {run.name!r}: empty train or test split (classes={run.classes})")
    if run.select_best and not val_paths:
        raise ValueError(f"run {run.name!r}: select_best={run.select_best!r} needs validation images")
    batch_size = min(run.train.batch_size, len(train_paths))
    wants_labels = assembly.needs_labels(run)  # the scene head trains on the class folders' labels
    if wants_labels and ctx.labels is None:
        raise ValueError(f"run {run.name!r}: {run.model} needs scene labels: give a folder with one sub-folder per class")

    def labels_of(paths):
        return [ctx.labels[p] for p in paths] if wants_labels else None

    def eval_data(paths, cache):
        return assembly.build_split_dataset(paths, run.image_size, run.normalization, batch_size, labels=labels_of(paths),
                                            cache=assembly.cache_for(cache, labels_of(paths)), resize_method=cfg.data.resize_method)

    train_fn, steps = assembly.training_data(train_paths, run.image_size, run.normalization, batch_size, labels=labels_of(train_paths),
                                             seed=run.train.seed, cache=assembly.cache_for(cfg.data.cache, labels_of(train_paths)),
                                             augment=run.augment, resize_method=cfg.data.resize_method)
    val_ds = eval_data(val_paths, cfg.data.cache) if val_paths else None
    test_ds = eval_data(test_paths, cfg.data.cache)
    # Sample figures: validation images (training ones if a class has none), never the test split.
    sample_batch = next(iter(eval_data((val_paths or train_paths)[:batch_size], None)))

    # Its work directory, named by what makes the same run; its model and loss.
    init_digest = Path(ctx.runs[run.init_from].workdir).name if run.init_from in ctx.runs else None
    digest = run_digest(run, train_paths, batch_size=batch_size, init_digest=init_digest, precision=cfg.train.precision,
                        resize_method=cfg.data.resize_method)
    workdir = ctx.results_dir / RUNS_DIR / f"{run.name}-{digest}"
    run = dataclasses.replace(run, train=dataclasses.replace(run.train, loss=assembly.loss_object(run, ctx, train_paths)))
    build = assembly.builder(run, len(ctx.class_names), ctx.models)

    # Training: two invocations for a run stopped after `stop_after` epochs and resumed.
    start = time.perf_counter()
    for epochs in ([run.stop_after, run.train.epochs] if run.stop_after else [run.train.epochs]):
        config = dataclasses.replace(train_config(run, epochs), steps_per_epoch=steps)
        if val_ds is not None:  # tf.data cannot count batches after `ignore_errors`; Keras warns without it
            config.validation_steps = dataset_cardinality_hint(len(val_paths), batch_size, drop_remainder=False)
        hardware = training.select_hardware(config.precision, config.jit_compile, config.strategy, deterministic=config.deterministic)
        model, history = training.train(
            build, train_fn, val_ds, config, workdir, sample_batch=sample_batch, normalization=run.normalization,
            callbacks=[BestWeights(workdir, run.select_best)] if run.select_best else [], hardware=hardware,
        )
    hardware = hardware.in_effect(model)  # what Keras ran: its policy and XLA after compile's checks
    seconds = max(time.perf_counter() - start, training.recorded_seconds(workdir))  # a resumed or reloaded run: every session's
    selected = restore_best(model, workdir) if run.select_best else None

    # Evaluation on the test split, then the export.
    net = colorizer_of(model)
    tested = with_output_upsampling(net, run.test_upsampling)  # the same weights; Lee et al.'s nearest x2 at test time
    ev = evaluation.evaluate_model(tested, test_ds, run.normalization, name=run.name)
    ctx.models[run.name] = net
    ctx.evals[run.name] = ev
    export_path = None
    if cfg.export and run.export:
        spec = get_spec(run.model)
        spec = spec.replace(image_size=run.image_size, normalization=run.normalization, head=spec.head.with_bins(run.bin_width))
        export_path = str(Path(cfg.saved_models_dir) / f"{cfg.paper}_{run.name}")
        export_saved_model(tested, export_path, spec, save_keras=not cfg.quick)
    return RunResult(
        name=run.name, label=run.label, model=run.model, image_size=run.image_size, epochs=run.train.epochs,
        batch_size=batch_size, normalization=run.normalization, parameters=int(net.count_params()), train_seconds=seconds,
        metrics=ev.mean, per_image=ev.per_image, history={k: list(map(float, v)) for k, v in history.items() if k != "epoch"},
        workdir=str(workdir), export_path=export_path, paper=dict(run.paper_scores), config=run_json(run),
        selected_epoch=selected["epoch"] if selected else None, hardware=hardware.to_dict(),
    )


def run_experiment(cfg: ExperimentConfig) -> ExperimentResult:
    """Runs every configured run, the hooks, and writes the report (see the module docstring).

    Runs that need scene labels (Iizuka's head) on a flat folder are skipped with a note in the
    report (as are runs starting from a skipped one), unless the experiment requires labels
    (`data.labels`), which is an error.

    Args:
        cfg: the experiment.

    Returns:
        An `ExperimentResult`; files: `<results_dir>/results.md`, `results.json`, `config.json`,
        `data_report.txt`, `splits_used.json`, `figures/`, `runs/<run>-<digest>/` (training work directories).
    """
    # 1. The configuration, resolved: what --quick decides, every run's settings.
    cfg = resolve_experiment(cfg)
    resolved = [resolve_run(r, cfg) for r in cfg.runs]
    out = cfg.results_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # what a killed run left (every table under its own name is whole)

    # 2. The data: scan and split (the folder's prepared split, else a hash split), written down.
    root = cfg.data.root or assembly.default_data_root()
    data = resolve_splits(cfg, root)
    splits, labels = data.splits, data.labels
    if cfg.data.labels and labels is None:
        raise ValueError(f"{root}: {cfg.paper} needs one sub-folder per scene class (labels), found a flat folder")
    evaluation.write_text(out / DATA_REPORT, data.report + "\n")
    write_splits(out / SPLITS_USED, splits, root)
    evaluation.write_json(out / CONFIG_JSON, {
        "experiment": dataclasses.replace(cfg, runs=[run_json(r) for r in cfg.runs]),
        "resolved_runs": [run_json(r) for r in resolved],
        "data": str(root),
        "environment": evaluation.environment_info(),
    })

    # 3. The runs, in order (a run may start from an earlier one's weights).
    ctx = ExperimentContext(cfg, splits, labels, data.class_names, {}, {}, {}, out, str(root))
    for run in resolved:
        if assembly.needs_labels(run) and labels is None:
            ctx.skipped[run.name] = f"{run.model} trains a scene-classification head: it needs one sub-folder per class, `{root}` is flat"
        elif run.init_from in ctx.skipped:
            ctx.skipped[run.name] = f"it starts from `{run.init_from}`, which was skipped"
        if run.name in ctx.skipped:
            log.warning("%s: skipping %s: %s", cfg.paper, run.name, ctx.skipped[run.name])
            continue
        log.info("%s: training %s", cfg.paper, run.name)
        ctx.runs[run.name] = train_and_evaluate(run, cfg, ctx)

    # 4. The gray baseline (ab = 0) on the test split.
    gray_size = next((r.image_size for r in resolved if r.name in ctx.runs), QUICK_IMAGE_SIZE)
    gray = evaluation.evaluate_gray(ctx.dataset("test", gray_size, "zhang"), "zhang")
    ctx.evals[evaluation.GRAY] = gray

    # 5. The report: main table, protocol, skipped runs, hooks, figures, exports.
    sections = [main_table(cfg, ctx.runs, gray.mean)] if ctx.runs else []
    hardware = {name: r.hardware for name, r in ctx.runs.items()}
    sections.append(protocol_table(cfg, resolved, {**protocol_data(cfg, root, data), "hardware": hardware}))
    if ctx.skipped:
        text = "\n".join(f"- `{name}`: {why}." for name, why in ctx.skipped.items()) + "\n"
        sections.append(Section("Skipped runs", text, dict(ctx.skipped)))
    for hook in cfg.report.hooks:
        produced = hook(ctx)
        if produced is not None:
            sections.extend(produced if isinstance(produced, list) else [produced])
    sections.extend(default_figures(ctx))
    exported = {n: r.export_path for n, r in ctx.runs.items() if r.export_path}
    if exported:
        text = "\n".join(f"- `{n}`: `{p}`" for n, p in exported.items()) + "\n"
        if cfg.quick:
            text += "\n" + QUICK_EXPORT_NOTE + "\n"
        sections.append(Section("Exported models", text, {"paths": exported, "keras_file": not cfg.quick}))

    # 6. results.md and results.json.
    val_note = " (val held out of train: the protocol has none)" if data.val_carved else ""
    header = (
        f"Data: `{root}`{' (embedded synthetic default)' if cfg.data.root is None else ''}; "
        + ("split from the folder's prepared `splits.json`: " if data.source == "prepared"
           else f"split protocol `{cfg.data.protocol}` (split seed {cfg.data.split_seed}): ")
        + ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + val_note
        + f"; training seed {cfg.train.seed}{'; **quick mode** (tiny sizes: not the paper-scale result)' if cfg.quick else ''}.\n"
        + hardware_line(hardware)
    )
    md_path = evaluation.write_text(out / RESULTS_MD, render_markdown(cfg, sections, header))
    json_path = evaluation.write_json(out / RESULTS_JSON, {
        "paper": cfg.paper,
        "title": cfg.title,
        "quick": cfg.quick,
        "data": str(root),
        "splits": {k: len(v) for k, v in splits.items()},
        "split_source": data.source,
        "split_seed": None if data.source == "prepared" else cfg.data.split_seed,
        "validation_from_train": data.val_carved,
        "runs": ctx.runs,
        "skipped": ctx.skipped,
        "gray": gray.to_json(),
        "sections": [{"title": s.title, "data": s.data} for s in sections],
        "environment": evaluation.environment_info(),
    })
    return ExperimentResult(cfg, ctx.runs, gray.mean, sections, out, md_path, json_path)
