"""The experiment configuration: typed option groups, the resolve step, `--set` overrides, import layering."""

import ast
import importlib.util
from pathlib import Path

import pytest

from colorization_tf import experiment as ex
from colorization_tf.experiment.config import GanSettings, OptimizerSettings, QuickSettings, resolve_experiment
from colorization_tf.experiment.overrides import OverrideError, apply_overrides

REPO = Path(__file__).resolve().parents[1]


def _cfg(**kwargs):
    runs = [ex.RunConfig("a", "polychromify"), ex.RunConfig("g", "resnet_unet", init_from="a")]
    return ex.ExperimentConfig("p", "t", runs=runs, **kwargs)


def test_dict_groups_become_typed_settings_and_bad_keys_are_named():
    run = ex.RunConfig("g", "resnet_unet", gan={"l1_weight": 50.0}, optimizer_kwargs={"betas": (0.5, 0.9)}, quick={"epochs": 2})
    assert run.gan == GanSettings(l1_weight=50.0)
    assert run.optimizer_kwargs == OptimizerSettings(betas=(0.5, 0.9)) and run.quick == QuickSettings(epochs=2)
    assert run.gan.as_dict() == {"l1_weight": 50.0} and ex.RunConfig("x", "polychromify").optimizer_kwargs.as_dict() == {}
    with pytest.raises(ValueError, match=r"run 'g'.*GanSettings.*\['l2_weight'\]"):
        ex.RunConfig("g", "resnet_unet", gan={"l2_weight": 1.0})
    with pytest.raises(ValueError, match="QuickSettings"):
        ex.RunConfig("g", "resnet_unet", quick=3)


def test_typed_groups_keep_the_work_directory_names_of_dict_configs():
    """Digests computed by the code before the groups were typed (dict gan/optimizer_kwargs/quick):
    a results folder written then keeps resuming its runs."""
    cfg = ex.ExperimentConfig("p", "t", runs=[], default_epochs=5)
    paths = [f"/data/a/{i}.png" for i in range(10)]
    gan = ex._resolve(ex.RunConfig("g", "resnet_unet", gan=GanSettings(l1_weight=100.0), learning_rate=2e-4), cfg)
    adamw = ex._resolve(ex.RunConfig("z", "eccv16_classification", optimizer="adamw", optimizer_kwargs=OptimizerSettings(betas=(0.9, 0.99), weight_decay=1e-3)), cfg)
    assert ex.run_digest(gan, paths) == "45d67371"
    assert ex.run_digest(adamw, paths) == "67b739dd"
    from colorization_tf.experiment.config import _jsonable_run

    assert _jsonable_run(gan)["gan"] == {"l1_weight": 100.0} and _jsonable_run(gan)["quick"] == {}
    assert _jsonable_run(adamw)["optimizer_kwargs"] == {"betas": [0.9, 0.99], "weight_decay": 0.001}


def test_resolve_experiment_fills_what_quick_decides():
    quick = resolve_experiment(_cfg(quick=True))
    assert (quick.max_images, quick.deterministic, quick.sample_every) == (ex.QUICK_MAX_IMAGES, True, 1)
    given = resolve_experiment(_cfg(quick=True, max_images=10, deterministic=False))
    assert (given.max_images, given.deterministic) == (10, False)
    full = resolve_experiment(_cfg(sample_every=10))
    assert (full.max_images, full.deterministic, full.sample_every) == (None, False, 10)
    assert resolve_experiment(quick) == quick


def test_set_parses_values_by_field_type():
    cfg = apply_overrides(_cfg(), [
        "epochs=5", "augment=false", "metric_columns=psnr,ssim", "sample_every=2",
        "runs.a.learning_rate=3e-4", "runs.*.seed=3", "runs.a.classes=beach,forest", "runs.a.loss=l1",
        "runs.a.model_kwargs={\"dropout\": 0.5}", "runs.a.image_size=64", "runs.a.image_size=none",
        "runs.g.gan.l1_weight=50", "runs.a.optimizer_kwargs.betas=0.9, 0.99", "runs.a.quick.epochs=2",
    ])
    a, g = cfg.runs
    assert (cfg.epochs, cfg.augment, cfg.metric_columns, cfg.sample_every) == (5, False, ("psnr", "ssim"), 2)
    assert set(cfg.overridden) == {"epochs", "augment"}
    assert a.learning_rate == 3e-4 and isinstance(a.learning_rate, float) and (a.seed, g.seed) == (3, 3)
    assert a.classes == ["beach", "forest"] and a.loss == "l1" and a.model_kwargs == {"dropout": 0.5}
    assert a.image_size is None
    assert g.gan == GanSettings(l1_weight=50.0) and a.optimizer_kwargs.betas == (0.9, 0.99)
    assert ex._resolve(a, cfg).optimizer_kwargs == OptimizerSettings(betas=(0.9, 0.99))
    assert ex._resolve(a, dataclass_replace(cfg, quick=True, epochs=None)).epochs == 2


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
    ("runs.a.learning_rate.x=1", "RunConfig.learning_rate has no fields"),
    ("quick=true", "use --quick"),
    ("hooks=x", "cannot be set"),
])
def test_set_errors_name_the_key_and_value(assignment, message):
    with pytest.raises(OverrideError, match=message.replace("(", r"\(").replace("[", r"\[")):
        apply_overrides(_cfg(), [assignment])


def test_command_line_set_wins_over_options_and_bad_values_are_usage_errors(capsys):
    args = ex.build_parser("x").parse_args(["--epochs", "3", "--runs", "g", "--set", "epochs=5", "--set", "runs.a.seed=9"])
    cfg = ex.apply_args(_cfg(), args)
    assert cfg.epochs == 5 and [r.name for r in cfg.runs] == ["a", "g"] and cfg.runs[0].seed == 9

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
    args = ex.build_parser("x").parse_args(["--precision", "mixed_bfloat16", "--xla", "off"])
    cfg = ex.apply_args(_cfg(), args)
    assert (cfg.precision, cfg.xla) == ("mixed_bfloat16", "off") and {"precision", "xla"} <= set(cfg.overridden)
    from colorization_tf.experiment.runner import _train_config

    run = ex._resolve(cfg.runs[0], cfg)
    train = _train_config(run, resolve_experiment(cfg), 1)
    assert (train.precision, train.jit_compile) == ("mixed_bfloat16", False)
    assert _train_config(run, resolve_experiment(_cfg()), 1).jit_compile == "auto"
    cfg = apply_overrides(_cfg(), ["precision=float32", "xla=on"])
    assert (cfg.precision, cfg.xla) == ("float32", "on") and {"precision", "xla"} <= set(cfg.overridden)
    assert _train_config(run, resolve_experiment(cfg), 1).jit_compile is True
    # A policy named explicitly trains in a work directory of its own; "auto" keeps the old names.
    paths = [f"/data/a/{i}.png" for i in range(4)]
    assert ex.run_digest(run, paths, precision="auto") == ex.run_digest(run, paths)
    assert ex.run_digest(run, paths, precision="mixed_bfloat16") != ex.run_digest(run, paths)


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
    assert resolve_experiment(_cfg(quick=True, xla="on")).deterministic is False
    assert resolve_experiment(_cfg(quick=True)).deterministic is True
    with pytest.raises(OverrideError, match="Keras compiles without XLA under TF op determinism"):
        ex.apply_args(_cfg(), ex.build_parser("x").parse_args(["--xla", "on", "--deterministic"]))
    with pytest.raises(OverrideError, match="--set deterministic=true"):
        apply_overrides(_cfg(xla="on"), ["deterministic=true"])
    spec = importlib.util.spec_from_file_location("exp_polychromify", REPO / "experiments" / "polychromify.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exit_:
        script.main(["--quick", "--xla", "on", "--deterministic"])
    assert exit_.value.code == 2 and "determinism" in capsys.readouterr().err
