"""The demo in a tiny mode: trains, scores against gray, exports, colorizes scikit-image's photos."""

import json
from pathlib import Path

from colorization_tf import demo


def test_clear_margin_rule():
    assert demo.clear_margin(10.0, 20.0, 20.0, 16.0)
    assert not demo.clear_margin(0.9 * 20.0, 20.0, 20.0, 16.0)  # ab L1 barely below gray's
    assert not demo.clear_margin(10.0, 20.0, 16.0 + demo.MIN_PSNR_GAIN_DB / 2, 16.0)  # PSNR gain too small
    ratio, gain = demo.required_margin(quick=True)  # --quick: a smaller margin, still over gray
    assert demo.MAX_AB_L1_RATIO < ratio < 1.0 and 0.0 < gain < demo.MIN_PSNR_GAIN_DB
    assert demo.clear_margin(0.8 * 20.0, 20.0, 18.0, 16.0, quick=True)


def test_demo_tiny(tmp_path, capsys):
    summary = demo.main(["--quick", "--epochs", "1", "--max-images", "40", "--image-size", "32", "--verbose", "0",
                         "--out", str(tmp_path / "demo"), "--saved-models", str(tmp_path / "sm")])
    out = capsys.readouterr().out
    assert "gray (ab = 0)" in out and str(tmp_path / "sm" / f"demo_{demo.RUN}") in out
    assert Path(summary["export"], "saved_model.pb").exists()
    assert summary["photos"] and all(Path(p).exists() for p in summary["photos"])
    assert summary["gray_ab_l1"] > 0 and summary["model_ab_l1"] > 0
    assert summary["beats_gray"] == demo.clear_margin(summary["model_ab_l1"], summary["gray_ab_l1"],
                                                      summary["model_psnr"], summary["gray_psnr"], quick=True)
    assert json.loads((tmp_path / "demo" / "demo_summary.json").read_text())["beats_gray"] == summary["beats_gray"]
