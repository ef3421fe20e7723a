"""benchmarks/gpu_check.py: its --dry-run goes through the GPU check's whole path on CPU."""

import json

import pytest

from tests._scripts import load_script


@pytest.fixture(scope="module")
def gpu_check():
    return load_script("benchmarks/gpu_check.py", "gpu_check")


def test_dry_run_trains_exports_and_reports_every_run(gpu_check, tmp_path, capsys):
    status = gpu_check.main(["--dry-run", "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert status == 0, printed
    report = json.loads((tmp_path / gpu_check.JSON_FILE).read_text())
    assert report["dry_run"] is True and report["failures"] == []
    entry = report["models"]["polychromify_v0"]
    assert set(entry["runs"]) == {"mixed_float16+xla", "float32+xla", "mixed_float16+noxla"}
    main = entry["runs"]["mixed_float16+xla"]
    assert main["precision"] == "mixed_float16" and main["xla"] is True
    assert main["steps"] == gpu_check.DRY_RUN["steps"] and len(main["chunk_losses"]) == gpu_check.DRY_RUN["chunks"]
    assert main["loss_fell"] and main["chunk_losses"][-1] < main["chunk_losses"][0]
    assert all(run["images_per_s"] > 0 for run in entry["runs"].values())
    assert all(run["peak_memory_mib"] is None for run in entry["runs"].values())  # no GPU here
    assert entry["export"]["served_ok"] is True
    table = (tmp_path / gpu_check.MARKDOWN_FILE).read_text()
    assert table.count("| polychromify_v0 |") == 3
    assert "img/s" in printed and "export + reload" in printed


def test_without_a_gpu_it_refuses_unless_dry_run_and_names_bad_models(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--out", str(tmp_path)]) == 2
    assert "no GPU" in capsys.readouterr().err
    assert gpu_check.main(["--dry-run", "--out", str(tmp_path), "--models", "polychromify,nope"]) == 2
    assert "nope" in capsys.readouterr().err


def test_failures_name_a_loss_that_did_not_fall_and_skipped_models(gpu_check):
    report = {"models": {
        "a": {"runs": {"mixed_float16+xla": {"loss_fell": False}}, "export": {"served_ok": True}},
        "b": {"runs": {"mixed_float16+xla": {"loss_fell": True}, "float32+xla": {"error": "OOM"}}, "export": {"served_ok": False}},
        "c": {"runs": {}, "skipped": "time budget spent"},
    }}
    problems = gpu_check.failures(report)
    assert "a: loss did not fall" in problems
    assert "b float32+xla: OOM" in problems and "b: export/reload failed" in problems
    assert any(p.startswith("c: skipped") for p in problems)


def test_default_order_covers_every_model_once_with_each_family_first(gpu_check):
    from colorization_tf import models

    order = gpu_check.default_order(models.MODELS)
    assert sorted(order) == sorted(models.MODELS)
    families = {models.MODELS[n].module for n in models.MODELS}
    assert {models.MODELS[n].module for n in order[: len(families)]} == families


def test_jax_backend_dry_run_trains_both_precisions_without_tensorflow(tmp_path):
    """`--backend jax --dry-run` (issue 21): the TensorFlow-free check, tiny on CPU, in a fresh JAX process."""
    from tests._jax import run_on_jax

    done = run_on_jax(["benchmarks/gpu_check.py", "--backend", "jax", "--dry-run", "--out", str(tmp_path)], timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads((tmp_path / "gpu_check_jax.json").read_text())
    assert report["backend"] == "jax" and report["dry_run"] is True and report["failures"] == []
    entry = report["models"]["polychromify_v0"]
    assert set(entry["runs"]) == {"mixed_float16", "float32"}
    for run in entry["runs"].values():
        assert run["loss_finite"] and run["loss_fell"] and run["weights_finite"] and run["images_per_s"] > 0
        assert run["peak_memory_mib"] is None  # no GPU here
    mixed = entry["runs"]["mixed_float16"]
    assert mixed["loss_scale_ok"] and mixed["loss_scale"] >= 1
    difference = entry["float16_vs_float32"]
    assert difference["finite"] and 0 < difference["relative"] < 0.05  # float16 rounding, not a different model
    assert "| polychromify_v0 | 32 | mixed_float16 |" in (tmp_path / "gpu_check_jax.md").read_text()
    assert "float16 vs float32" in done.stdout
