"""The command line every script in `experiments/` shares: `build_parser`, `apply_args`, `main`."""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Callable

from colorization_tf.console import add_verbose_argument
from colorization_tf.experiment.config import (
    DEFAULT_SPLIT_SEED,
    PRECISION_CHOICES,
    QUICK_EPOCHS,
    QUICK_IMAGE_SIZE,
    QUICK_MAX_IMAGES,
    XLA_CHOICES,
    ExperimentConfig,
    RunOverrides,
    xla_jit_compile,
)
from colorization_tf.experiment.overrides import FLAGGED_FIELDS, OverrideError, apply_overrides
from colorization_tf.experiment.results import SAVED_MODELS_DIR, ExperimentResult
from colorization_tf.experiment.runner import QUICK_EXPORT_NOTE, run_experiment
from colorization_tf.training import ResumeError


def build_parser(description: str) -> argparse.ArgumentParser:
    """The arguments every experiment script takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", help="image folder in the paper's layout (default: the embedded synthetic scenes)")
    parser.add_argument("--protocol", help="split protocol of data.splits (default: the paper's)")
    parser.add_argument("--epochs", type=int, help="epochs of every run (default: the paper's)")
    parser.add_argument("--batch-size", type=int, help="batch size of every run (default: the paper's)")
    parser.add_argument("--image-size", type=int, help="square training size of every run (default: each model's paper size)")
    parser.add_argument("--quick", action="store_true", help=f"finish in minutes on a CPU: {QUICK_IMAGE_SIZE}px, {QUICK_MAX_IMAGES} images, {QUICK_EPOCHS} epoch")
    parser.add_argument("--max-images", type=int, help="use at most this many images")
    parser.add_argument("--seed", type=int, default=0, help="training seed: initialisation, data order, augmentation (same seed -> same numbers)")
    parser.add_argument("--split-seed", type=int, default=DEFAULT_SPLIT_SEED,
                        help=f"seed of the hash split when the data folder has no prepared splits.json (default {DEFAULT_SPLIT_SEED})")
    parser.add_argument("--out", "--output", "-o", dest="out", help="results folder (default results/<paper>)")
    parser.add_argument("--saved-models", default=SAVED_MODELS_DIR, help="export root (default saved_models)")
    parser.add_argument("--no-export", action="store_true", help="skip the SavedModel exports")
    parser.add_argument("--runs", help="comma-separated subset of run names to train")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="random crops + flips of the training images (default: the paper's choice)")
    parser.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                        help="TF op determinism (default: on with --quick unless --xla on; Keras runs without XLA under it)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES,
                        help="Keras dtype policy of training (default auto: mixed_float16 on a GPU, mixed_bfloat16 on a TPU, float32 on CPUs)")
    parser.add_argument("--xla", choices=XLA_CHOICES,
                        help="XLA-compile the training step (default auto: on a single GPU, unless determinism is on); "
                             "the report says what Keras ran")
    add_verbose_argument(parser, fit_verbosity=2)
    parser.add_argument("--cache", default="memory", metavar="PREFIX",
                        help="cache of the decoded images: 'memory' (default) or a file prefix, e.g. /scratch/cache/places, "
                             "for datasets larger than memory")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="set any configuration field, typed by the field (repeatable; after the options above): "
                             "epochs=5, data.protocol=ziegler, runs.NAME.train.learning_rate=3e-4 (or runs.NAME.learning_rate), "
                             "runs.*.optimizer_kwargs.weight_decay=0, runs.NAME.quick.epochs=2 (see colorization_tf.experiment.overrides)")
    return parser


def apply_args(cfg: ExperimentConfig, args: argparse.Namespace) -> ExperimentConfig:
    """The configuration with the command line's choices applied: the options, then each `--set`
    (`overrides.apply_overrides`), then `--runs` (the chosen runs and those they start from).

    Raises:
        OverrideError: a bad `--set` assignment, or options the configuration refuses together
            (`--xla on --deterministic`).
        SystemExit: `--runs` names an unknown run.
    """
    try:
        cfg = _replace_from_args(cfg, args)
    except ValueError as err:  # e.g. --xla on with --deterministic (`config.check_hardware_choices`)
        raise OverrideError(str(err)) from None
    cfg = apply_overrides(cfg, getattr(args, "set", None) or [])
    if args.runs:
        wanted = [n.strip() for n in args.runs.split(",") if n.strip()]
        known = {r.name for r in cfg.runs}
        unknown = sorted(set(wanted) - known)
        if unknown:
            raise SystemExit(f"unknown runs {unknown}; choose from {sorted(known)}")
        needed = set(wanted)
        for r in reversed(cfg.runs):  # keep the runs a wanted run starts from
            if r.name in needed and r.init_from:
                needed.add(r.init_from)
        cfg = dataclasses.replace(cfg, runs=[r for r in cfg.runs if r.name in needed])
    return cfg


def _replace_from_args(cfg: ExperimentConfig, args: argparse.Namespace) -> ExperimentConfig:
    """`cfg` with the options of `build_parser` applied (not `--set`, not `--runs`)."""
    augment = getattr(args, "augment", None)
    xla = getattr(args, "xla", None)
    return dataclasses.replace(
        cfg,
        data=dataclasses.replace(cfg.data, root=args.data, protocol=args.protocol or cfg.data.protocol, split_seed=args.split_seed,
                                 max_images=args.max_images, cache=args.cache, augment=cfg.data.augment if augment is None else augment),
        train=dataclasses.replace(cfg.train, seed=args.seed, deterministic=args.deterministic, verbose=args.verbose,
                                  precision=getattr(args, "precision", None) or cfg.train.precision,
                                  jit_compile=cfg.train.jit_compile if xla is None else xla_jit_compile(xla)),
        run_overrides=RunOverrides(epochs=args.epochs, batch_size=args.batch_size, image_size=args.image_size),
        quick=args.quick,
        out_dir=args.out,
        saved_models_dir=args.saved_models,
        export=not args.no_export,
        overridden=tuple(key for key in FLAGGED_FIELDS if getattr(args, key, None) is not None),
    )


def script_description(make_config: Callable) -> str:
    """The `--help` description of a script: the first paragraph of its module docstring."""
    doc = (getattr(make_config, "__globals__", {}).get("__doc__") or "").strip()
    return doc.split("\n\n")[0].strip() if doc else "colorization experiment"


def main(make_config: Callable, argv=None, description: str | None = None, add_arguments: Callable | None = None) -> ExperimentResult:
    """Entry point of an experiment script: parse `argv`, run, print where the results went.

    Args:
        make_config: `args -> ExperimentConfig` (the parsed command line, e.g. to know `--quick`).
        argv: command-line arguments (default `sys.argv[1:]`).
        description: `--help` text (default: the first paragraph of the script's module docstring).
        add_arguments: `parser -> None`, the script's own arguments (read them in `make_config`).
    """
    parser = build_parser(description or script_description(make_config))
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        cfg = apply_args(make_config(args), args)
    except OverrideError as err:
        parser.error(str(err))  # usage and the message, exit status 2
    start = time.perf_counter()
    try:
        result = run_experiment(cfg)
    except ResumeError as err:  # a work directory this run cannot resume: the message says how to continue
        raise SystemExit(f"{cfg.paper}: error: {err}") from None
    except OSError as err:  # disk full, read-only results folder: one line; finished runs resume
        raise SystemExit(f"{cfg.paper}: error: cannot write {err.filename or cfg.results_dir}: {err.strerror or err} "
                         "(the work done so far is kept; run again to continue)") from None
    print(f"{cfg.title}: done in {time.perf_counter() - start:.0f} s")
    print(f"  report:  {result.markdown_path}")
    print(f"  data:    {result.json_path}")
    exports = [r.export_path for r in result.runs.values() if r.export_path]
    if exports:
        print(f"  models:  {', '.join(exports)}")
    if exports and cfg.quick:
        print(f"  note:    {QUICK_EXPORT_NOTE}")
    return result
