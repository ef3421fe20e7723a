"""Every experiment script in a tiny configuration: it runs, its outputs exist and parse; same seed ->
same numbers (memory or file cache); the shared runner's resolution of settings, work-directory
digests, validation hold-out and skipped runs."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from colorization_tf import experiment as ex
from colorization_tf.data import experiment_splits as data_splits
from colorization_tf.experiment.assembly import builder, default_data_root, loss_object
from colorization_tf.experiment.command import apply_args, build_parser
from colorization_tf.experiment.config import QUICK_IMAGE_SIZE
from colorization_tf.experiment.resolve import resolve_run
from colorization_tf.experiment.results import CONFIG_JSON, DATA_REPORT
from colorization_tf.experiment.runner import DIGEST_LENGTH, run_digest

REPO = Path(__file__).resolve().parents[1]
TINY = ["--quick", "--max-images", "28", "--image-size", "32", "--verbose", "0", "--no-export"]


def _script(name):
    spec = importlib.util.spec_from_file_location(f"exp_{name}", REPO / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_outputs(result, expected_runs):
    data = json.loads(Path(result.json_path).read_text())
    assert set(data["runs"]) == set(expected_runs)
    md = Path(result.markdown_path).read_text()
    for run in data["runs"].values():
        assert f"| {run['label']} |" in md
        assert run["metrics"]["psnr"] > 0 and run["metrics"]["ab_l1"] >= 0
        assert len(run["per_image"]) == data["splits"]["test"] or run["config"]["classes"]
    assert "| gray (zero ab) |" in md
    config = json.loads((result.results_dir / CONFIG_JSON).read_text())
    assert config["environment"]["packages"]["tensorflow"]
    return data, md


def test_polychromify_same_seed_same_numbers(tmp_path):
    mod = _script("polychromify")
    a = mod.main([*TINY, "--runs", "select_v0", "--out", str(tmp_path / "a")])
    b = mod.main([*TINY, "--runs", "select_v0", "--out", str(tmp_path / "b"), "--cache", str(tmp_path / "cache" / "c")])
    assert list((tmp_path / "cache").glob("c*.tfcache*")), "the file cache was not written"
    data, md = _check_outputs(a, ["select_v0"])
    assert a.runs["select_v0"].metrics == b.runs["select_v0"].metrics
    assert a.runs["select_v0"].history == b.runs["select_v0"].history
    assert "polychromify_accuracy" in md and (tmp_path / "a" / "figures" / "figure_3_model_selection.png").exists()
    # What Keras ran, on the CPU in quick mode: float32 without XLA, in the header and the Protocol table.
    assert data["runs"]["select_v0"]["hardware"]["policy"] == "float32" and not data["runs"]["select_v0"]["hardware"]["jit_compile"]
    assert "Hardware (as Keras ran it): CPU, _DefaultDistributionStrategy x1, policy float32, XLA off" in md
    assert "| precision | all | float32 |" in md and "| XLA | all | off |" in md


def test_ziegler_tiny(tmp_path):
    from colorization_tf import quantize

    result = _script("ziegler2022").main([*TINY, "--runs", "alexnet_wce", "--bin-width", "20", "--out", str(tmp_path)])
    data, md = _check_outputs(result, ["alexnet_wce"])
    assert "Figure 2.4" in md and (tmp_path / "figures" / "figure_2_4_color_distribution.png").exists()
    workdir = Path(result.runs["alexnet_wce"].workdir)
    assert workdir.parent == tmp_path / "runs" and workdir.name.startswith("alexnet_wce-")
    assert list((workdir / "figures").glob("samples_epoch*.png"))
    # Ziegler has no val split and selects nothing on validation: the whole training side trains (issue 19)
    assert not data["validation_from_train"] and data["splits"]["val"] == 0
    assert "hold_out_val=False" in (tmp_path / DATA_REPORT).read_text()
    assert "decoupled" in md
    prior = next(s for s in data["sections"] if s["title"].startswith("Class prior"))["data"]
    assert (tmp_path / "figures" / "figure_3_1_prior_and_weights.png").exists()
    assert Path(prior["prior_file"]).exists() and Path(prior["prior_file"]).parent == Path(data["data"])
    assert prior["bins"] == len(quantize.ab_bin_centers(20)) < 313  # --bin-width reached the prior
    assert data["runs"]["alexnet_wce"]["config"]["bin_width"] == 20
    assert prior["weights"]["zhang"]["prior_weighted_mean"] == pytest.approx(1.0, rel=1e-3)
    assert prior["weights"]["zhang"]["max"] > prior["weights"]["zhang"]["min"]


def test_lee_resume_equals_uninterrupted(tmp_path):
    result = _script("lee2016_iizuka").main([*TINY, "--runs", "alpha_5,alpha_5_resumed", "--out", str(tmp_path)])
    data, md = _check_outputs(result, ["alpha_5", "alpha_5_resumed"])
    section = next(s for s in data["sections"] if s["title"].startswith("Stopped and resumed"))
    assert section["data"]["identical"], section
    assert "scene accuracy" in md


def test_cs520_tiny(tmp_path):
    result = _script("cs520").main([*TINY, "--runs", "cnn_beach", "--out", str(tmp_path)])
    data, md = _check_outputs(result, ["cnn_beach"])
    ann = next(s for s in data["sections"] if s["title"].startswith("ANN"))["data"]
    assert 0 <= ann["coffee"]["difference"] < 4 and "sunset_to_beach" in ann


def test_menon_gan_tiny(tmp_path):
    resnet18 = ['runs.generator_l1.model_kwargs={"encoder_depth": 18}', 'runs.gan.model_kwargs={"encoder_depth": 18}']
    result = _script("menon2021").main([*TINY, "--runs", "gan", "--out", str(tmp_path),
                                        *(arg for setting in resnet18 for arg in ("--set", setting))])  # half the layers
    data, md = _check_outputs(result, ["generator_l1", "gan"])
    assert "| PCVIITM (quoted) | 22.1232 | 0.9406 | 1 |" in md and ", full resolution |" in md
    native = next(s for s in data["sections"] if s["title"].startswith("Table 1"))["data"]["full_resolution"]["gan"]
    assert native["images"] == data["splits"]["test"] and 5 < native["psnr"] < 60  # every test image at its own size


def test_compare_all_flat_folder_skips_labels_and_exports(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in sorted(Path(default_data_root()).glob("*/*.png"))[::3][:28]:
        shutil.copy(path, flat / f"{path.parent.name}_{path.name}")
    result = _script("compare_all").main(
        [*TINY[:-1], "--data", str(flat), "--runs", "iizuka_lee128,polychromify_cnn",
         "--out", str(tmp_path / "r"), "--saved-models", str(tmp_path / "sm")])
    data, md = _check_outputs(result, ["polychromify_cnn"])
    assert set(data["skipped"]) == {"iizuka_lee128"} and "## Skipped runs" in md
    assert (tmp_path / "sm" / "compare_all_polychromify_cnn" / "saved_model.pb").exists()
    assert "model.keras" in md  # quick mode says its exports lack the .keras copy
    assert (tmp_path / "r" / "figures" / "colorizations.png").exists()


def test_resolve_precedence():
    cfg = ex.ExperimentConfig("p", "t", runs=[], quick=True, epochs=3, default_epochs=25)
    run = resolve_run(ex.RunConfig("r", "polychromify", quick={"batch_size": 4}, stop_after=12), cfg)
    assert (run.train.epochs, run.train.batch_size, run.image_size, run.normalization) == (3, 4, QUICK_IMAGE_SIZE, "polychromify")
    assert run.stop_after == 2
    with pytest.raises(SystemExit):
        apply_args(cfg, build_parser("x").parse_args(["--runs", "nope"]))


@pytest.mark.parametrize("name", ["ziegler2022", "lee2016_iizuka", "cs520", "polychromify", "menon2021", "compare_all", "real_photos"])
def test_help_uses_module_docstring(name, capsys):
    mod = _script(name)
    with pytest.raises(SystemExit):
        mod.main(["--help"])
    out = "".join(capsys.readouterr().out.split())  # argparse re-wraps (also at hyphens)
    first_line = "".join(mod.__doc__.strip().splitlines()[0].split())
    assert first_line in out and "colorizationexperiment" not in out


def test_run_digest_names_training_config_not_epochs():
    cfg = ex.ExperimentConfig("p", "t", runs=[], default_epochs=5)
    paths = [f"/data/a/{i}.png" for i in range(10)]
    base = resolve_run(ex.RunConfig("r", "polychromify"), cfg)
    digest = run_digest(base, paths)
    assert len(digest) == DIGEST_LENGTH and digest == run_digest(base, list(reversed(paths)))
    assert run_digest(resolve_run(ex.RunConfig("r", "polychromify", epochs=50), cfg), paths) == digest
    for changed in (ex.RunConfig("r", "polychromify", image_size=64), ex.RunConfig("r", "polychromify", loss="l1"),
                    ex.RunConfig("r", "polychromify", learning_rate=1e-4), ex.RunConfig("r", "polychromify", seed=1)):
        assert run_digest(resolve_run(changed, cfg), paths) != digest
    assert run_digest(base, [p.replace("/data/", "/other/") for p in paths]) != digest


def test_one_list_says_what_makes_the_same_run():
    """`training.SAME_RUN_KEYS` names fields of the run (RunConfig) or of its training (TrainConfig);
    the TrainConfig fields it leaves out are exactly those a resume may change."""
    import dataclasses

    from colorization_tf import training

    run_fields = {f.name for f in dataclasses.fields(ex.RunConfig)}
    train_fields = {f.name for f in dataclasses.fields(training.TrainConfig)}
    assert set(training.SAME_RUN_KEYS) <= run_fields | train_fields
    assert training.RESUMABLE_CONFIG_KEYS == train_fields - set(training.SAME_RUN_KEYS)
    assert {"epochs", "checkpoint_every", "strategy", "verbose"} <= training.RESUMABLE_CONFIG_KEYS
    assert {"loss", "learning_rate", "seed", "precision"}.isdisjoint(training.RESUMABLE_CONFIG_KEYS)


def test_validation_carved_from_train_by_hash():
    train = [f"/d/{c}/{i}.png" for c in ("beach", "forest") for i in range(60)] + ["/d/tiny/a.png", "/d/tiny/b.png"]
    kept, val = data_splits.carve_validation(train, seed=3)
    assert set(kept) | set(val) == set(train) and not set(kept) & set(val)
    assert 4 <= len(val) <= 24  # ~10 % of 122
    assert {p.split("/")[2] for p in val} >= {"beach", "forest"}
    more = train + [f"/d/beach/new{i}.png" for i in range(30)]
    _, val_more = data_splits.carve_validation(more, seed=3)
    assert set(val) <= set(val_more)  # adding files moves none of the old ones
    few = [f"/d/s/{i}.png" for i in range(7)]
    assert len(data_splits.carve_validation(few, seed=0)[1]) >= 1  # a small folder still validates one image
    splits = data_splits.split(train, "ziegler", seed=0)
    assert splits["val"] and not set(splits["val"]) & set(splits["test"])


def test_bin_width_reaches_model_and_loss():
    from colorization_tf import quantize

    cfg = ex.ExperimentConfig("p", "t", runs=[], quick=True)
    run = resolve_run(ex.RunConfig("r", "alexnet_classification", loss="ce", bin_width=20), cfg)
    model = builder(run, 0, {})()
    bins = len(quantize.ab_bin_centers(20))
    assert bins < 313 and model.output_shape[-1] == bins
    assert loss_object(run, None, []).centers.shape[0] == bins
    with pytest.raises(ValueError, match="classification heads"):
        resolve_run(ex.RunConfig("r", "alexnet_regression", bin_width=20), cfg)


def test_a_finished_run_reports_its_training_time_when_run_again(tmp_path):
    """Re-running an experiment loads its finished runs; their training time is the one they trained for, not 0."""
    mod = _script("polychromify")
    first = mod.main([*TINY, "--runs", "select_v0", "--out", str(tmp_path)]).runs["select_v0"]
    again = mod.main([*TINY, "--runs", "select_v0", "--out", str(tmp_path)]).runs["select_v0"]
    summary = json.loads((Path(first.workdir) / "train_summary.json").read_text())
    assert again.metrics == first.metrics
    assert again.train_seconds >= summary["seconds_total"] > 0
