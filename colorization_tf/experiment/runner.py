"""The runner: trains, evaluates and exports every run of an experiment, runs its hooks, writes its report.

For every run: split -> pipelines -> `training.train` (resumable work directory
`runs/<run>-<digest>/`) -> `evaluation.evaluate_model` on the test split -> `export.export_saved_model`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path

from colorization_tf import evaluation
from colorization_tf.data import splits as data_splits
from colorization_tf.experiment.assembly import _builder, _loss_object, needs_labels
from colorization_tf.experiment.config import (
    CONFIG_JSON,
    DATA_REPORT,
    QUICK_IMAGE_SIZE,
    RESULTS_JSON,
    RESULTS_MD,
    RUNS_DIR,
    SPLITS_USED,
    XLA_JIT_COMPILE,
    ExperimentConfig,
    RunConfig,
    _fresh,
    _jsonable_run,
    _resolve,
    resolve_experiment,
)
from colorization_tf.experiment.context import ExperimentContext, ExperimentResult, RunResult
from colorization_tf.experiment.datasets import (
    _cache_for,
    _capped,
    _filter_classes,
    build_split_dataset,
    default_data_root,
    interleave_classes,
    training_data,
)
from colorization_tf.experiment.report import Section, _default_figures, main_table, render_markdown
from colorization_tf.fileio import remove_stale_temps
from colorization_tf.models import colorizer_of, get_spec
from colorization_tf.selection import BestWeights, restore_best
from colorization_tf.output_upsampling import with_output_upsampling

log = logging.getLogger(__name__)

DIGEST_LENGTH = 8
"""Hex characters of the configuration digest in a run's work-directory name."""


def run_digest(run: RunConfig, train_paths, *, batch_size: int | None = None, init_digest: str | None = None,
               precision: str = "auto", resize_method: str = "auto") -> str:
    """A short digest of a resolved run's training-relevant configuration and training files.

    Names the run's work directory (`runs/<name>-<digest>`), so a re-run with another image
    size, dataset, loss, ... into the same results folder starts afresh instead of resuming a
    checkpoint trained on something else, while a run with more epochs continues the old one.

    Args:
        run: the resolved run (`_resolve`), with its loss as configured (e.g. "wce", not the object).
        train_paths: its training files (their absolute paths name the dataset and the split).
        batch_size: the effective batch size (capped at the number of training files).
        init_digest: the work-directory name of the run it starts from (`init_from`).
        precision: the experiment's `--precision`; a policy asked for by name trains in its own
            work directory ("auto" keeps the digest it always had).
        resize_method: the experiment's input resize; another than "auto" trains in its own work directory.
    """
    import hashlib
    import json

    from colorization_tf.training import SAME_RUN_KEYS  # the one list of what makes the same run

    fields = {key: _fresh(getattr(run, key)) for key in SAME_RUN_KEYS if hasattr(run, key)}
    fields["batch_size"] = batch_size or run.batch_size
    fields["init_from"] = init_digest if run.init_from else None
    if precision != "auto":
        fields["precision"] = precision
    if resize_method != "auto":
        fields["resize_method"] = resize_method
    fields["train_files"] = hashlib.sha1("\n".join(sorted(os.path.abspath(os.fspath(p)) for p in train_paths)).encode()).hexdigest()
    text = json.dumps(evaluation.to_jsonable(fields), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:DIGEST_LENGTH]


def _train_config(run: RunConfig, cfg: ExperimentConfig, epochs: int):
    from colorization_tf.training import TrainConfig

    return TrainConfig(
        epochs=epochs,
        batch_size=run.batch_size,
        learning_rate=run.learning_rate,
        optimizer=run.optimizer,
        optimizer_kwargs=run.optimizer_kwargs.as_dict(),
        loss=_fresh(run.loss),
        loss_weights=run.loss_weights,
        metrics=_fresh(run.metrics),
        seed=run.seed,
        precision=cfg.precision,
        jit_compile=XLA_JIT_COMPILE[cfg.xla],
        deterministic=bool(cfg.deterministic),
        sample_every=cfg.sample_every,
        tensorboard=not cfg.quick,
        verbose=cfg.verbose,
        name=f"{cfg.paper}/{run.name}",
    )


def _export(model, run: RunConfig, cfg: ExperimentConfig) -> str:
    from colorization_tf.export import export_saved_model

    path = Path(cfg.saved_models_dir) / f"{cfg.paper}_{run.name}"
    spec = get_spec(run.model)
    spec = spec.replace(image_size=run.image_size, normalization=run.normalization, head=spec.head.with_bins(run.bin_width))
    export_saved_model(model, str(path), spec, save_keras=not cfg.quick)
    return str(path)


QUICK_EXPORT_NOTE = (
    "Quick mode exports the SavedModels only, without the `model.keras` copy a full run writes beside "
    "each (the big nets' .keras files are ~130 MB each); run without `--quick` to get them."
)


def resolve_splits(cfg: ExperimentConfig, root) -> data_splits.DataSplits:
    """The experiment's split of `root` (`data.splits.resolve_splits` with the experiment's protocol,
    split seed, image limit (`--max-images`, or `--quick`'s) and the folder's prepared split unless
    it is the embedded default)."""
    cfg = resolve_experiment(cfg)
    data = data_splits.resolve_splits(root, cfg.protocol, cfg.split_seed, limit=cfg.max_images, use_prepared=bool(cfg.data))
    return data if cfg.hold_out_val else whole_training_side(data)


def whole_training_side(data: data_splits.DataSplits) -> data_splits.DataSplits:
    """`data` with the validation images held out of train (`carve_validation`) given back to train:
    `ExperimentConfig.hold_out_val=False`, for papers that select nothing on validation. A split with
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
    from colorization_tf import training
    from colorization_tf.data.pipeline import dataset_cardinality_hint

    train_paths = _capped(_filter_classes(ctx.splits["train"], ctx.labels, ctx.class_names, run.classes), ctx.labels, run.max_train, cfg.split_seed)
    val_paths = _capped(_filter_classes(ctx.splits["val"], ctx.labels, ctx.class_names, run.classes), ctx.labels, run.max_val, cfg.split_seed)
    test_paths = interleave_classes(_filter_classes(ctx.splits["test"], ctx.labels, ctx.class_names, run.classes), ctx.labels)
    if not train_paths or not test_paths:
        raise ValueError(f"run {run.name!r}: empty train or test split (classes={run.classes})")
    batch_size = min(run.batch_size, len(train_paths))
    wants_labels = needs_labels(run)  # the scene head trains on the class folders' labels
    if wants_labels and ctx.labels is None:
        raise ValueError(f"run {run.name!r}: {run.model} needs scene labels: give a folder with one sub-folder per class")
    label_list = (lambda ps: [ctx.labels[p] for p in ps]) if wants_labels else (lambda ps: None)

    def eval_data(paths, cache):
        labels = label_list(paths)
        return build_split_dataset(paths, run.image_size, run.normalization, batch_size, labels=labels,
                                   cache=_cache_for(cache, labels), resize_method=cfg.resize_method)

    train_labels = label_list(train_paths)
    train_fn, steps = training_data(train_paths, run.image_size, run.normalization, batch_size, labels=train_labels,
                                    seed=run.seed, cache=_cache_for(cfg.cache, train_labels), augment=run.augment,
                                    resize_method=cfg.resize_method)
    val_ds = eval_data(val_paths, cfg.cache) if val_paths else None
    test_ds = eval_data(test_paths, cfg.cache)
    # Sample figures: validation images (training ones if a class has none), never the test split.
    sample_batch = next(iter(eval_data((val_paths or train_paths)[:batch_size], None)))
    init_digest = Path(ctx.runs[run.init_from].workdir).name if run.init_from in ctx.runs else None
    workdir = ctx.results_dir / RUNS_DIR / f"{run.name}-{run_digest(run, train_paths, batch_size=batch_size, init_digest=init_digest, precision=cfg.precision, resize_method=cfg.resize_method)}"
    run = dataclasses.replace(run, loss=_loss_object(run, ctx, train_paths))
    build = _builder(run, len(ctx.class_names), ctx.models)

    start = time.perf_counter()
    stages = [run.stop_after, run.epochs] if run.stop_after else [run.epochs]
    if run.select_best and val_ds is None:
        raise ValueError(f"run {run.name!r}: select_best={run.select_best!r} needs validation images")
    best_cb = (lambda: [BestWeights(workdir, run.select_best)]) if run.select_best else (lambda: [])
    for epochs in stages:  # two invocations = a run stopped after `stop_after` epochs and resumed
        config = _train_config(run, cfg, epochs)
        config.steps_per_epoch = steps
        if val_ds is not None:  # tf.data cannot count batches after `ignore_errors`; Keras warns without it
            config.validation_steps = dataset_cardinality_hint(len(val_paths), batch_size, drop_remainder=False)
        hardware = training.select_hardware(config.precision, config.jit_compile, config.strategy, deterministic=config.deterministic)
        model, history = training.train(
            build, train_fn, val_ds, config, workdir, sample_batch=sample_batch, normalization=run.normalization,
            callbacks=best_cb(), hardware=hardware,
        )
    hardware = hardware.in_effect(model)  # what Keras ran: its policy and XLA after compile's checks
    seconds = time.perf_counter() - start
    selected = restore_best(model, workdir) if run.select_best else None

    net = colorizer_of(model)
    tested = with_output_upsampling(net, run.test_upsampling)  # the same weights; Lee et al.'s nearest x2 at test time
    ev = evaluation.evaluate_model(tested, test_ds, run.normalization, name=run.name)
    ctx.models[run.name] = net
    ctx.evals[run.name] = ev
    export_path = _export(tested, run, cfg) if (cfg.export and run.export) else None
    return RunResult(
        name=run.name,
        label=run.label,
        model=run.model,
        image_size=run.image_size,
        epochs=run.epochs,
        batch_size=batch_size,
        normalization=run.normalization,
        parameters=int(net.count_params()),
        train_seconds=seconds,
        metrics=ev.mean,
        per_image=ev.per_image,
        history={k: list(map(float, v)) for k, v in history.items() if k != "epoch"},
        workdir=str(workdir),
        export_path=export_path,
        paper=dict(run.paper),
        config=_jsonable_run(run),
        selected_epoch=selected["epoch"] if selected else None,
        hardware=hardware.to_dict(),
    )


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


def run_experiment(cfg: ExperimentConfig) -> ExperimentResult:
    """Runs every configured run, the hooks, and writes the report (see the module docstring).

    Runs that need scene labels (Iizuka's head) on a flat folder are skipped with a note in the
    report (as are runs starting from a skipped one), unless the experiment requires labels
    (`cfg.labels`), which is an error.

    Args:
        cfg: the experiment.

    Returns:
        An `ExperimentResult`; files: `<results_dir>/results.md`, `results.json`, `config.json`,
        `data_report.txt`, `figures/`, `runs/<run>-<digest>/` (training work directories).
    """
    cfg = resolve_experiment(cfg)
    out = cfg.results_dir
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)  # what a killed run left (every table under its own name is whole)
    root = cfg.data or default_data_root()
    data = resolve_splits(cfg, root)
    splits, labels, class_names, val_carved = data.splits, data.labels, data.class_names, data.val_carved
    if cfg.labels and labels is None:
        raise ValueError(f"{root}: {cfg.paper} needs one sub-folder per scene class (labels), found a flat folder")
    evaluation.write_text(out / DATA_REPORT, data.report + "\n")
    from colorization_tf.data.splits import write_splits

    write_splits(out / SPLITS_USED, splits, root)
    resolved = [_resolve(r, cfg) for r in cfg.runs]
    evaluation.write_json(out / CONFIG_JSON, {
        "experiment": dataclasses.replace(cfg, runs=[_jsonable_run(r) for r in cfg.runs]),
        "resolved_runs": [_jsonable_run(r) for r in resolved],
        "data": str(root),
        "environment": evaluation.environment_info(),
    })
    ctx = ExperimentContext(cfg, splits, labels, class_names, {}, {}, {}, out, str(root))

    for run in resolved:
        if needs_labels(run) and labels is None:
            ctx.skipped[run.name] = f"{run.model} trains a scene-classification head: it needs one sub-folder per class, `{root}` is flat"
        elif run.init_from in ctx.skipped:
            ctx.skipped[run.name] = f"it starts from `{run.init_from}`, which was skipped"
        if run.name in ctx.skipped:
            log.warning("%s: skipping %s: %s", cfg.paper, run.name, ctx.skipped[run.name])
            continue
        log.info("%s: training %s", cfg.paper, run.name)
        ctx.runs[run.name] = train_and_evaluate(run, cfg, ctx)
    trained = [r for r in resolved if r.name in ctx.runs]

    gray_size = trained[0].image_size if trained else QUICK_IMAGE_SIZE
    gray_ds = ctx.dataset("test", gray_size, "zhang")
    gray = evaluation.evaluate_gray(gray_ds, "zhang")
    ctx.evals[evaluation.GRAY] = gray

    from colorization_tf.protocol import protocol_data, protocol_table

    sections = [main_table(cfg, ctx.runs, gray.mean)] if trained else []
    hardware = {name: r.hardware for name, r in ctx.runs.items()}
    sections.append(protocol_table(cfg, resolved, {**protocol_data(cfg, root, data), "hardware": hardware}))
    if ctx.skipped:
        text = "\n".join(f"- `{name}`: {why}." for name, why in ctx.skipped.items()) + "\n"
        sections.append(Section("Skipped runs", text, dict(ctx.skipped)))
    for hook in cfg.hooks:
        produced = hook(ctx)
        if produced is None:
            continue
        sections.extend(produced if isinstance(produced, list) else [produced])
    sections.extend(_default_figures(ctx))
    exported = {n: r.export_path for n, r in ctx.runs.items() if r.export_path}
    if exported:
        text = "\n".join(f"- `{n}`: `{p}`" for n, p in exported.items()) + "\n"
        if cfg.quick:
            text += "\n" + QUICK_EXPORT_NOTE + "\n"
        sections.append(Section("Exported models", text, {"paths": exported, "keras_file": not cfg.quick}))

    val_note = " (val held out of train: the protocol has none)" if val_carved else ""
    header = (
        f"Data: `{root}`{' (embedded synthetic default)' if cfg.data is None else ''}; "
        + ("split from the folder's prepared `splits.json`: " if data.source == "prepared" else f"split protocol `{cfg.protocol}` (split seed {cfg.split_seed}): ")
        + ", ".join(f"{k} {len(v)}" for k, v in splits.items()) + val_note
        + f"; training seed {cfg.seed}{'; **quick mode** (tiny sizes: not the paper-scale result)' if cfg.quick else ''}.\n"
        + hardware_line(hardware)
    )
    md_path = evaluation.write_text(out / RESULTS_MD, render_markdown(cfg, sections, header))
    json_path = evaluation.write_json(
        out / RESULTS_JSON,
        {
            "paper": cfg.paper,
            "title": cfg.title,
            "quick": cfg.quick,
            "data": str(root),
            "splits": {k: len(v) for k, v in splits.items()},
            "split_source": data.source,
            "split_seed": None if data.source == "prepared" else cfg.split_seed,
            "validation_from_train": val_carved,
            "runs": ctx.runs,
            "skipped": ctx.skipped,
            "gray": gray.to_json(),
            "sections": [{"title": s.title, "data": s.data} for s in sections],
            "environment": evaluation.environment_info(),
        },
    )
    return ExperimentResult(cfg, ctx.runs, gray.mean, sections, out, md_path, json_path)
