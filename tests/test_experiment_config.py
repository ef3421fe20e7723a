"""The experiment configuration: typed option groups, the resolve step, `--set` overrides, import layering."""

import ast
import importlib.util
from pathlib import Path

import pytest

from colorization_tf import experiment as ex
from colorization_tf.experiment.command import apply_args, build_parser
from colorization_tf.experiment.config import QUICK_MAX_IMAGES
from colorization_tf.experiment.resolve import resolve_run
from colorization_tf.experiment.runner import run_digest
from colorization_tf.experiment.config import GanSettings, OptimizerSettings, RunOverrides
from colorization_tf.experiment.resolve import resolve_experiment, run_json
from colorization_tf.experiment.overrides import OverrideError, apply_overrides

REPO = Path(__file__).resolve().parents[1]


def _cfg(**kwargs):
    runs = [ex.RunConfig("a", "polychromify"), ex.RunConfig("g", "resnet_unet", init_from="a")]
    return ex.ExperimentConfig("p", "t", runs=runs, **kwargs)


def test_dict_groups_become_typed_settings_and_bad_keys_are_named():
    run = ex.RunConfig("g", "resnet_unet", gan={"l1_weight": 50.0}, optimizer_kwargs={"betas": (0.5, 0.9)}, quick={"epochs": 2})
    assert run.gan == GanSettings(l1_weight=50.0)
    assert run.train.optimizer_kwargs == OptimizerSettings(betas=(0.5, 0.9)) and run.quick_overrides == RunOverrides(epochs=2)
    assert run.gan.as_dict() == {"l1_weight": 50.0} and ex.RunConfig("x", "polychromify").train.optimizer_kwargs.as_dict() == {}
    with pytest.raises(ValueError, match=r"run 'g'.*GanSettings.*\['l2_weight'\]"):
        ex.RunConfig("g", "resnet_unet", gan={"l2_weight": 1.0})
    with pytest.raises(ValueError, match="RunOverrides"):
        ex.RunConfig("g", "resnet_unet", quick=3)


def test_typed_groups_keep_the_work_directory_names_of_dict_configs():
    """Digests computed by the code before the groups were typed (dict gan/optimizer_kwargs/quick):
    a results folder written then keeps resuming its runs."""
    cfg = ex.ExperimentConfig("p", "t", runs=[], default_epochs=5)
    paths = [f"/data/a/{i}.png" for i in range(10)]
    gan = resolve_run(ex.RunConfig("g", "resnet_unet", gan=GanSettings(l1_weight=100.0), learning_rate=2e-4), cfg)
    adamw = resolve_run(ex.RunConfig("z", "eccv16_classification", optimizer="adamw", optimizer_kwargs=OptimizerSettings(betas=(0.9, 0.99), weight_decay=1e-3)), cfg)
    assert run_digest(gan, paths) == "45d67371"
    assert run_digest(adamw, paths) == "67b739dd"
    assert run_json(gan)["gan"] == {"l1_weight": 100.0} and run_json(gan)["quick_overrides"] == {}
    assert run_json(adamw)["train"]["optimizer_kwargs"] == {"betas": [0.9, 0.99], "weight_decay": 0.001}


def test_resolve_experiment_fills_what_quick_decides():
    quick = resolve_experiment(_cfg(quick=True))
    assert (quick.data.max_images, quick.train.deterministic, quick.train.sample_every) == (QUICK_MAX_IMAGES, True, 1)
    given = resolve_experiment(_cfg(quick=True, max_images=10, deterministic=False))
    assert (given.data.max_images, given.train.deterministic) == (10, False)
    full = resolve_experiment(_cfg(sample_every=10))
    assert (full.data.max_images, full.train.deterministic, full.train.sample_every) == (None, False, 10)
    assert resolve_experiment(quick) == quick


def test_set_parses_values_by_field_type():
    cfg = apply_overrides(_cfg(), [
        "epochs=5", "augment=false", "metric_columns=psnr,ssim", "sample_every=2",
        "runs.a.learning_rate=3e-4", "runs.*.seed=3", "runs.a.classes=beach,forest", "runs.a.loss=l1",
        "runs.a.model_kwargs={\"dropout\": 0.5}", "runs.a.image_size=64", "runs.a.image_size=none",
        "runs.g.gan.l1_weight=50", "runs.a.optimizer_kwargs.betas=0.9, 0.99", "runs.a.quick.epochs=2",
    ])
    a, g = cfg.runs
    assert (cfg.run_overrides.epochs, cfg.data.augment, cfg.report.metric_columns, cfg.train.sample_every) == (5, False, ("psnr", "ssim"), 2)
    assert set(cfg.overridden) == {"epochs", "augment"}
    assert a.train.learning_rate == 3e-4 and isinstance(a.train.learning_rate, float) and (a.train.seed, g.train.seed) == (3, 3)
    assert a.classes == ["beach", "forest"] and a.train.loss == "l1" and a.model_kwargs == {"dropout": 0.5}
    assert a.image_size is None
    assert g.gan == GanSettings(l1_weight=50.0) and a.train.optimizer_kwargs.betas == (0.9, 0.99)
    assert resolve_run(a, cfg).train.optimizer_kwargs == OptimizerSettings(betas=(0.9, 0.99))
    assert resolve_run(a, dataclass_replace(cfg, quick=True, run_overrides=RunOverrides())).train.epochs == 2


def dataclass_replace(obj, **kwargs):
    import dataclasses

    return dataclasses.replace(obj, **kwargs)


@pytest.mark.parametrize("assignment, message", [
    ("epochs", "expected KEY=VALUE"),
    ("epoch=5", "ExperimentConfig has no field 'epoch'"),
    ("epochs=five", "epochs=five: expected an integer"),
    ("augment=maybe", "augment=maybe: expected a boolean"),
    ("runs.nope.epochs=1", "no run 'nope'; runs: a, g"),
    ("runs.a.lr=1", "RunConfig has no field 'lr'"),
    ("runs.a.learning_rate=fast", "learning_rate=fast: expected a number"),
    ("runs.a.optimizer_kwargs.betas=0.9", "expected 2 comma-separated values"),
    ("runs.a.model_kwargs={bad", "not valid JSON"),
    ("runs.a.learning_rate.x=1", "TrainConfig.learning_rate has no fields"),
    ("quick=true", "use --quick"),
    ("hooks=x", "cannot be set"),
])
def test_set_errors_name_the_key_and_value(assignment, message):
    with pytest.raises(OverrideError, match=message.replace("(", r"\(").replace("[", r"\[")):
        apply_overrides(_cfg(), [assignment])


def test_command_line_set_wins_over_options_and_bad_values_are_usage_errors(capsys):
    args = build_parser("x").parse_args(["--epochs", "3", "--runs", "g", "--set", "epochs=5", "--set", "runs.a.seed=9"])
    cfg = apply_args(_cfg(), args)
    assert cfg.run_overrides.epochs == 5 and [r.name for r in cfg.runs] == ["a", "g"] and cfg.runs[0].train.seed == 9

    spec = importlib.util.spec_from_file_location("exp_polychromify", REPO / "experiments" / "polychromify.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exit_:
        script.main(["--quick", "--set", "runs.select_v0.learning_rate=fast"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "runs.select_v0.learning_rate=fast: expected a number" in err and "Traceback" not in err


def _imports(path: Path, *, top_level: bool = False) -> set[str]:
    """Modules `path` imports (with `top_level`: only those its module body imports when loaded)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in (tree.body if top_level else ast.walk(tree)):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_import_layering_data_never_imports_experiment_and_no_cycles():
    package = REPO / "colorization_tf"
    for path in (package / "data").glob("*.py"):
        assert not any(m.startswith("colorization_tf.experiment") for m in _imports(path)), path
    modules = {p.stem: p for p in (package / "experiment").glob("*.py") if p.stem != "__init__"}
    graph = {name: {m.rsplit(".", 1)[-1] for m in _imports(path, top_level=True) if m.startswith("colorization_tf.experiment.")} & set(modules)
             for name, path in modules.items()}
    done: set[str] = set()

    def visit(name, stack):
        assert name not in stack, f"import cycle: {' -> '.join([*stack, name])}"
        if name not in done:
            for dep in graph[name]:
                visit(dep, [*stack, name])
            done.add(name)

    for name in graph:
        visit(name, [])
    for name, path in modules.items():
        assert len(path.read_text().splitlines()) <= 450, f"{path} is over 450 lines"


def test_precision_and_xla_from_options_and_set_reach_the_training_config():
    args = build_parser("x").parse_args(["--precision", "mixed_bfloat16", "--xla", "off"])
    cfg = apply_args(_cfg(), args)
    assert (cfg.train.precision, cfg.train.jit_compile) == ("mixed_bfloat16", False) and {"precision", "xla"} <= set(cfg.overridden)
    from colorization_tf.experiment.runner import train_config

    run = resolve_run(cfg.runs[0], resolve_experiment(cfg))
    train = train_config(run, 1)
    assert (train.precision, train.jit_compile, train.epochs) == ("mixed_bfloat16", False, 1)
    assert train_config(resolve_run(cfg.runs[0], resolve_experiment(_cfg())), 1).jit_compile == "auto"
    cfg = apply_overrides(_cfg(), ["precision=float32", "xla=on"])
    assert (cfg.train.precision, cfg.train.jit_compile) == ("float32", True) and {"precision", "xla"} <= set(cfg.overridden)
    assert train_config(resolve_run(cfg.runs[0], resolve_experiment(cfg)), 1).jit_compile is True
    # A policy named explicitly trains in a work directory of its own; "auto" keeps the old names.
    paths = [f"/data/a/{i}.png" for i in range(4)]
    assert run_digest(run, paths, precision="auto") == run_digest(run, paths)
    assert run_digest(run, paths, precision="mixed_bfloat16") != run_digest(run, paths)


@pytest.mark.parametrize("assignment, message", [
    ("precision=float64", "precision 'float64': choose one of auto, float32, mixed_float16, mixed_bfloat16"),
    ("xla=maybe", "xla 'maybe': choose one of auto, on, off"),
])
def test_set_refuses_unknown_precision_and_xla(assignment, message):
    with pytest.raises(OverrideError, match=f"--set {assignment}: {message}"):
        apply_overrides(_cfg(), [assignment])


def test_quick_mode_and_xla_on_leave_determinism_off_and_asking_for_both_is_a_usage_error(capsys):
    """Keras compiles without XLA under op determinism: `--quick --xla on` runs XLA without it, and
    `--xla on --deterministic` is refused rather than silently run without XLA."""
    assert resolve_experiment(_cfg(quick=True, xla="on")).train.deterministic is False
    assert resolve_experiment(_cfg(quick=True)).train.deterministic is True
    with pytest.raises(OverrideError, match="Keras compiles without XLA under TF op determinism"):
        apply_args(_cfg(), build_parser("x").parse_args(["--xla", "on", "--deterministic"]))
    with pytest.raises(OverrideError, match="--set deterministic=true"):
        apply_overrides(_cfg(xla="on"), ["deterministic=true"])
    spec = importlib.util.spec_from_file_location("exp_polychromify", REPO / "experiments" / "polychromify.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exit_:
        script.main(["--quick", "--xla", "on", "--deterministic"])
    assert exit_.value.code == 2 and "determinism" in capsys.readouterr().err


OLD_STORED = {  # `TrainConfig.to_dict()` of run "a" as the flat configuration (before issue 18's tree) stored it
    "batch_size": 8, "checkpoint_every": 1, "deterministic": True, "epochs": 1, "jit_compile": "auto", "keep_checkpoints": 2,
    "learning_rate": 0.001, "loss": "l1", "loss_curves": True, "loss_weights": None, "metrics": ["ab_l1"], "name": "p/a",
    "optimizer": "adamw", "optimizer_kwargs": {"betas": [0.9, 0.99], "weight_decay": 0.001}, "precision": "float32",
    "sample_every": 1, "seed": 4, "steps_per_epoch": None, "strategy": "auto", "tensorboard": False, "validation_steps": None,
    "verbose": 0,
}


def _old_style_runs():
    cfg = resolve_experiment(ex.ExperimentConfig("p", "t", runs=[], default_epochs=5, quick=True, precision="float32", sample_every=3, verbose=0))
    runs = [ex.RunConfig("g", "resnet_unet", gan={"l1_weight": 100.0}, learning_rate=2e-4, quick={"epochs": 2}),
            ex.RunConfig("a", "polychromify_v0", loss="l1", optimizer="adamw", optimizer_kwargs={"betas": (0.9, 0.99), "weight_decay": 1e-3},
                         metrics=["ab_l1"], seed=4, quick={"learning_rate": 1e-3, "image_size": 16})]
    return cfg, {r.name: resolve_run(r, cfg) for r in runs}


def test_a_run_directory_written_before_the_config_tree_still_resumes(tmp_path):
    """A work directory resumes when its name (the digest) and the `TrainConfig` its checkpoint stored
    both match: both pinned from the flat configuration, and a checkpoint stored with that old
    config resumes under `training.train` (a changed run is refused, so the check can fail)."""
    import numpy as np
    import tensorflow as tf

    from colorization_tf import training
    from colorization_tf.experiment.runner import train_config
    from colorization_tf.models import build_model

    cfg, runs = _old_style_runs()
    paths = [f"/data/a/{i}.png" for i in range(10)]
    assert {n: run_digest(r, paths, batch_size=8, precision="float32") for n, r in runs.items()} == {"g": "527a1e9f", "a": "9d16ae5a"}
    run = runs["a"]
    assert training.config_differences(OLD_STORED, train_config(run, run.train.epochs)) == {}

    rng = np.random.default_rng(0)
    batch = (rng.uniform(0, 100, (8, 16, 16, 1)).astype("float32"), rng.uniform(-1, 1, (8, 16, 16, 2)).astype("float32"))
    data = lambda epoch: tf.data.Dataset.from_tensors(batch)  # noqa: E731
    workdir = tmp_path / "runs" / "a-9d16ae5a"
    build = lambda: build_model("polychromify_v0", image_size=16)  # noqa: E731
    old = training.TrainConfig.from_dict({**OLD_STORED, "optimizer_kwargs": {"betas": (0.9, 0.99), "weight_decay": 0.001}})
    _, written = training.train(build, data, None, old, workdir, normalization="polychromify")
    _, resumed = training.train(build, data, None, train_config(run, run.train.epochs), workdir, normalization="polychromify")
    assert resumed["loss"] == written["loss"] and len(resumed["loss"]) == 1  # restored, nothing trained again
    changed = resolve_run(dataclass_replace(ex.RunConfig("a", "polychromify_v0", loss="l1", learning_rate=0.5), seed=4), cfg)
    with pytest.raises(training.ResumeError):
        training.train(build, data, None, dataclass_replace(train_config(changed, 1), name="p/a"), workdir, normalization="polychromify")


def test_the_tree_and_the_flat_keywords_build_the_same_configuration():
    """`RunConfig(train=TrainConfig(...))` and the flat keywords are one configuration; `--set` reaches
    a field by its path in the tree or by its flat key, and both flag the "Protocol" table."""
    from colorization_tf.experiment.config import experiment_train, run_train

    flat = ex.RunConfig("a", "polychromify", loss="l1", learning_rate=1e-4, epochs=3, quick={"epochs": 1}, paper={"psnr": 20.0})
    tree = ex.RunConfig("a", "polychromify", train=run_train(loss="l1", learning_rate=1e-4, epochs=3),
                        quick_overrides=RunOverrides(epochs=1), paper_scores={"psnr": 20.0})
    assert flat == tree and flat.train.loss == "l1" and flat.train.batch_size is None
    runs = [ex.RunConfig("a", "polychromify")]
    flat = ex.ExperimentConfig("p", "t", runs=runs, data="/x", protocol="ziegler", default_epochs=7, seed=2, xla="off", notes="n")
    tree = ex.ExperimentConfig("p", "t", runs=runs, data=ex.DataConfig(root="/x", protocol="ziegler"), report=ex.ReportConfig(notes="n"),
                               train=experiment_train(epochs=7, seed=2, jit_compile=False))
    assert flat == tree
    by_path = apply_overrides(_cfg(), ["data.protocol=ziegler", "run_overrides.epochs=4", "train.precision=float32",
                                       "runs.a.train.learning_rate=0.1", "runs.a.quick_overrides.epochs=2", "data=/y"])
    by_key = apply_overrides(_cfg(), ["protocol=ziegler", "epochs=4", "precision=float32", "runs.a.learning_rate=0.1",
                                      "runs.a.quick.epochs=2", "data=/y"])
    assert by_path == by_key and by_key.data == ex.DataConfig(root="/y", protocol="ziegler")
    assert set(by_path.overridden) == {"protocol", "epochs", "precision"}
    assert by_key.runs[0].train.learning_rate == 0.1 and by_key.runs[0].quick_overrides == RunOverrides(epochs=2)
