"""Every experiment script in a tiny configuration: it runs, its outputs exist and parse; same seed ->
same numbers; the shared runner's resolution of settings."""

import importlib.util
import json
from pathlib import Path

import pytest

from colorization_tf import experiment as ex

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
    config = json.loads((result.results_dir / ex.CONFIG_JSON).read_text())
    assert config["environment"]["packages"]["tensorflow"]
    return data, md


def test_polychromify_same_seed_same_numbers(tmp_path):
    mod = _script("polychromify")
    a = mod.main([*TINY, "--runs", "select_v0", "--out", str(tmp_path / "a")])
    b = mod.main([*TINY, "--runs", "select_v0", "--out", str(tmp_path / "b")])
    data, md = _check_outputs(a, ["select_v0"])
    assert a.runs["select_v0"].metrics == b.runs["select_v0"].metrics
    assert a.runs["select_v0"].history == b.runs["select_v0"].history
    assert "polychromify_accuracy" in md and (tmp_path / "a" / "figures" / "figure_3_model_selection.png").exists()


def test_ziegler_tiny(tmp_path):
    result = _script("ziegler2022").main([*TINY, "--runs", "alexnet_wce", "--out", str(tmp_path)])
    data, md = _check_outputs(result, ["alexnet_wce"])
    assert "Figure 2.4" in md and (tmp_path / "figures" / "figure_2_4_color_distribution.png").exists()
    assert list((tmp_path / "runs" / "alexnet_wce" / "figures").glob("samples_epoch*.png"))
    prior = next(s for s in data["sections"] if s["title"].startswith("Class prior"))["data"]
    assert (tmp_path / "figures" / "figure_3_1_prior_and_weights.png").exists()
    assert Path(prior["prior_file"]).exists() and Path(prior["prior_file"]).parent == Path(data["data"])
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
    result = _script("menon2021").main([*TINY, "--runs", "gan", "--out", str(tmp_path)])
    data, md = _check_outputs(result, ["generator_l1", "gan"])
    assert "| PCVIITM | 22.1232 | 0.9406 | 1 |" in md


def test_compare_all_tiny_with_export(tmp_path):
    result = _script("compare_all").main(
        [*TINY[:-1], "--runs", "polychromify_cnn", "--out", str(tmp_path / "r"), "--saved-models", str(tmp_path / "sm")])
    _check_outputs(result, ["polychromify_cnn"])
    assert (tmp_path / "sm" / "compare_all_polychromify_cnn" / "saved_model.pb").exists()
    assert (tmp_path / "r" / "figures" / "colorizations.png").exists()


def test_resolve_precedence():
    cfg = ex.ExperimentConfig("p", "t", runs=[], quick=True, epochs=3, default_epochs=25)
    run = ex._resolve(ex.RunConfig("r", "polychromify", quick={"batch_size": 4}, stop_after=12), cfg)
    assert (run.epochs, run.batch_size, run.image_size, run.normalization) == (3, 4, ex.QUICK_IMAGE_SIZE, "polychromify")
    assert run.stop_after == 2
    with pytest.raises(SystemExit):
        ex.apply_args(cfg, ex.build_parser("x").parse_args(["--runs", "nope"]))
