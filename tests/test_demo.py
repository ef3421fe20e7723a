"""The demo in a tiny mode: trains, scores against gray, exports, colorizes scikit-image's photos."""

import json
from pathlib import Path

import pytest

from colorization_tf import demo
from colorization_tf.sources.debian_packages import PackageError


def test_clear_margin_rule():
    assert demo.clear_margin(10.0, 20.0, 20.0, 16.0)
    assert not demo.clear_margin(0.9 * 20.0, 20.0, 20.0, 16.0)  # ab L1 barely below gray's
    assert not demo.clear_margin(10.0, 20.0, 16.0 + demo.MIN_PSNR_GAIN_DB / 2, 16.0)  # PSNR gain too small
    ratio, gain = demo.required_margin(quick=True)  # --quick: a smaller margin, still over gray
    assert demo.MAX_AB_L1_RATIO < ratio < 1.0 and 0.0 < gain < demo.MIN_PSNR_GAIN_DB
    assert demo.clear_margin(0.8 * 20.0, 20.0, 18.0, 16.0, quick=True)


def test_demo_tiny(tmp_path, capsys):
    summary = demo.main(["--data", "synthetic", "--quick", "--epochs", "1", "--max-images", "40", "--image-size", "32", "--verbose", "0",
                         "--out", str(tmp_path / "demo"), "--saved-models", str(tmp_path / "sm")])
    out = capsys.readouterr().out
    assert summary["data"] == "synthetic" and "synthetic" in out
    assert "gray (ab = 0)" in out and str(tmp_path / "sm" / f"demo_{demo.RUN}") in out
    assert Path(summary["export"], "saved_model.pb").exists()
    assert summary["photos"] and all(Path(p).exists() for p in summary["photos"])
    assert summary["gray_ab_l1"] > 0 and summary["model_ab_l1"] > 0
    assert summary["beats_gray"] == demo.clear_margin(summary["model_ab_l1"], summary["gray_ab_l1"],
                                                      summary["model_psnr"], summary["gray_psnr"], quick=True)
    assert json.loads((tmp_path / "demo" / "demo_summary.json").read_text())["beats_gray"] == summary["beats_gray"]


def test_the_demo_uses_real_photographs_by_default_where_it_can():
    assert demo.build_parser().parse_args([]).data == "auto"


def test_choose_data_real_where_it_can_be_prepared_else_synthetic(tmp_path, capsys):
    def no_apt(folder):
        raise PackageError("apt-get was not found")

    def fake_build(folder):
        Path(folder).mkdir(parents=True)
        (Path(folder) / "splits.json").write_text("{}")

    assert demo.choose_data("synthetic", tmp_path / "p", build=fake_build)[0] is None
    data, note = demo.choose_data("auto", tmp_path / "none", build=no_apt)
    assert data is None and "synthetic" in note and "apt-get was not found" in note
    with pytest.raises(SystemExit, match="cannot be prepared.*apt-get was not found"):
        demo.choose_data("real", tmp_path / "none", build=no_apt)
    data, note = demo.choose_data("auto", tmp_path / "photos", build=fake_build)
    assert data == str(tmp_path / "photos") and "real photographs" in note
    assert demo.choose_data("real", tmp_path / "photos", build=no_apt)[0] == data  # prepared: not rebuilt


def test_real_photo_margin_is_beating_gray():
    assert demo.required_margin(real=True) == (demo.REAL_MAX_AB_L1_RATIO, demo.REAL_MIN_PSNR_GAIN_DB)
    assert demo.clear_margin(19.0, 20.0, 16.1, 16.0, real=True)
    assert not demo.clear_margin(20.0, 20.0, 17.0, 16.0, real=True)  # equal ab L1 is not beating gray
    assert not demo.clear_margin(19.0, 20.0, 15.9, 16.0, real=True)
