"""The demo in a tiny mode: trains, scores against gray, exports, colorizes scikit-image's photos."""

import json
from pathlib import Path

from colorization_tf import demo


def test_demo_tiny(tmp_path, capsys):
    summary = demo.main(["--quick", "--epochs", "1", "--max-images", "40", "--image-size", "32", "--verbose", "0",
                         "--out", str(tmp_path / "demo"), "--saved-models", str(tmp_path / "sm")])
    out = capsys.readouterr().out
    assert "gray (ab = 0)" in out and str(tmp_path / "sm" / "demo_polychromify") in out
    assert Path(summary["export"], "saved_model.pb").exists()
    assert summary["photos"] and all(Path(p).exists() for p in summary["photos"])
    assert summary["gray_ab_l1"] > 0 and summary["model_ab_l1"] > 0
    assert json.loads((tmp_path / "demo" / "demo_summary.json").read_text())["beats_gray"] == summary["beats_gray"]
