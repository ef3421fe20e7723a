"""The shipped model: present, loaded by default, installed with the package (its wheel holds it)."""

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

import colorization_tf
from colorization_tf import pretrained

REPO = Path(__file__).resolve().parents[1]


def test_the_shipped_model_is_a_small_export_with_its_card():
    folder = pretrained.default_model_path()
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    assert size <= 10 * 1024**2
    info = json.loads((folder / "export_info.json").read_text())
    assert info["weights_dtype"] == "float16" and info["head"] == "regression"
    card = pretrained.MODEL_CARD.read_text()
    for heading in ("## Data and licences", "## Recipe and training", "## Scores on the held-out photos", "## What it cannot do"):
        assert heading in card


def test_load_colorizer_without_a_path_colorizes_any_size():
    colorize = colorization_tf.load_colorizer()
    gray = np.tile(np.linspace(0, 255, 70, dtype=np.float32), (45, 1)).round().astype(np.uint8)
    rgb = colorize(gray)
    assert rgb.shape == (45, 70, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(int) - rgb[..., :1].astype(int)).max() > 0  # not gray: it added colour


def test_missing_shipped_model_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "DEFAULT_MODEL", tmp_path / "gone")
    try:
        pretrained.default_model_path()
    except FileNotFoundError as err:
        assert "gone" in str(err)
    else:
        raise AssertionError("no error for a missing shipped model")


def test_the_wheel_carries_the_shipped_model(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("colorization_tf-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f.relative_to(REPO).as_posix() for f in pretrained.DEFAULT_MODEL.rglob("*") if f.is_file()}
    assert shipped and shipped <= names, sorted(shipped - names)
