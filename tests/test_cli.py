"""The `colorize` command on good, odd and broken files."""

import importlib.util
import io
import os
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorization_tf import cli, console
from tests._tiny_models import export_tiny, tiny_rgb

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny"
    export_tiny(path)
    return path


def _png_bomb_header(width=100_000, height=100_000) -> bytes:
    """A PNG that claims width x height pixels (10 gigapixels) and holds almost nothing."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def _make_inputs(folder: Path) -> tuple[dict, dict]:
    """Writes good files (name -> expected output (H, W)) and broken files (name -> None)."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = tiny_rgb(n=1, size=32, seed=1)[0]
    good = {}
    Image.fromarray(rgb).save(folder / "photo.jpg", quality=90)
    good["photo.jpg"] = (32, 32)
    gray16 = (np.linspace(0, 65535, 24 * 40).reshape(24, 40)).astype(np.uint16)
    Image.fromarray(gray16).save(folder / "deep16.png")
    good["deep16.png"] = (24, 40)
    rgba = np.dstack([rgb[:20, :30], np.full((20, 30), 128, np.uint8)])
    Image.fromarray(rgba).save(folder / "alpha.png")
    good["alpha.png"] = (20, 30)
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16).save(folder / "palette.gif")
    good["palette.gif"] = (32, 32)
    Image.fromarray(rgb[:17, :23]).save(folder / "small.webp")
    good["small.webp"] = (17, 23)
    Image.fromarray(rgb).save(folder / "plain.bmp")
    good["plain.bmp"] = (32, 32)
    Image.fromarray(rgb[:20, :30]).save(folder / "rotated.tif", tiffinfo={274: 6})  # EXIF/TIFF orientation: 90 degrees
    good["rotated.tif"] = (30, 20)
    broken = {}
    data = (folder / "photo.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (folder / "notes.jpg").write_text("this is not an image\n")
    (folder / "bomb.png").write_bytes(_png_bomb_header())
    broken.update({"truncated.jpg": None, "notes.jpg": None, "bomb.png": None})
    return good, broken


def test_cli_colorizes_good_files_and_reports_each_broken_file_once(tmp_path, model_dir, capsys):
    good, broken = _make_inputs(tmp_path / "in")
    out = tmp_path / "out"
    code = cli.main([str(tmp_path / "in"), str(tmp_path / "missing.png"), "--model", str(model_dir), "--out", str(out), "--batch-size", "2", "-q"])
    assert code == 1
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("colorize: error:")]
    assert len(err_lines) == len(broken) + 1
    for name in [*broken, "missing.png"]:
        assert sum(name in line for line in err_lines) == 1, (name, err_lines)
    assert any("bomb.png" in line and "too large" in line for line in err_lines)
    for name, (h, w) in good.items():
        written = out / f"{Path(name).stem}_color.png"
        with Image.open(written) as image:
            assert image.mode == "RGB" and image.size == (w, h), name
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{Path(n).stem}_color.png" for n in good)


def test_cli_side_by_side_glob_recursive_and_format(tmp_path, model_dir, capsys):
    folder = tmp_path / "in" / "sub"
    folder.mkdir(parents=True)
    images = tiny_rgb(n=3, size=24, seed=2)
    for i, rgb in enumerate(images):
        Image.fromarray(rgb).save(folder / f"img{i}.png")
    Image.fromarray(images[0][:, :10]).save(tmp_path / "in" / "narrow.png")
    out = tmp_path / "out"
    code = cli.main([str(tmp_path / "in"), "-r", "--model", str(model_dir), "--out", str(out), "--side-by-side",
                     "--format", "jpg", "--suffix", "_sbs", "--batch-size", "2", "-q"])
    assert code == 0, capsys.readouterr().err
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.jpg"))
    assert written == ["narrow_sbs.jpg", "sub/img0_sbs.jpg", "sub/img1_sbs.jpg", "sub/img2_sbs.jpg"]
    with Image.open(out / "sub" / "img1_sbs.jpg") as image:
        pair = np.asarray(image)
    assert pair.shape == (24, 48, 3)
    left = pair[:, :24].astype(int)
    assert np.abs(left - left.mean(axis=-1, keepdims=True)).max() <= 6  # the left half is gray (JPEG noise aside)
    # A glob input, flat: same names, no sub-folder.
    code = cli.main([str(tmp_path / "in" / "sub" / "img*.png"), "--model", str(model_dir), "--out", str(tmp_path / "flat"), "-q"])
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "flat").iterdir()) == ["img0_color.png", "img1_color.png", "img2_color.png"]


def test_cli_usage_errors_exit_2(tmp_path, model_dir, monkeypatch, capsys):
    image = tmp_path / "a.png"
    Image.fromarray(tiny_rgb(n=1, size=16)[0]).save(image)
    from colorization_tf import pretrained

    monkeypatch.setattr(pretrained, "DEFAULT_MODEL", tmp_path / "no_shipped_model")
    assert cli.main([str(image)]) == 2  # no --model and no shipped model: named in the error
    assert "no_shipped_model" in capsys.readouterr().err
    assert cli.main([str(image), "--model", str(tmp_path)]) == 2  # not a SavedModel
    assert cli.main([str(image), "--model", str(model_dir), "--batch-size", "0"]) == 2
    assert cli.main([str(tmp_path / "nothing*.png"), "--model", str(model_dir)]) == 1
    proc = subprocess.run([sys.executable, "-m", "colorization_tf.cli", str(image), "--format", "xyz", "--model", str(model_dir)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def _run_colorize(args, tmp_path):
    """`colorize` in a fresh process whose environment, like a user's shell, sets no TensorFlow log level."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])  # this checkout's package
    return subprocess.run([sys.executable, "-m", "colorization_tf.cli", *args], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=180)


def _tiff_with_metadata_warning() -> bytes:
    """The first fuzzed TIFF that PIL decodes with a UserWarning ("Tag data larger than file ...")."""
    spec = importlib.util.spec_from_file_location("fuzz_corpus_cli", REPO / "tools" / "fuzz_corpus.py")
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    for name, data in corpus.fuzz_inputs(3000, seed=0):
        if name.startswith("tiff_rgb"):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    Image.open(io.BytesIO(data)).load()
                except Exception:  # noqa: BLE001 -- a broken one: look further
                    continue
            if any(issubclass(w.category, UserWarning) for w in caught):
                return data
    raise AssertionError("no TIFF with a metadata warning in the fuzz corpus")


def test_cli_quiet_by_default_logs_with_verbose_and_output_alias(tmp_path, model_dir):
    """No TensorFlow C++ log line (`I0000 ... cudart_stub.cc`, `E0000 ... failed call to cuInit`) reaches a
    user's stderr, no PIL metadata warning, no traceback: only the one error line of the broken file;
    `--verbose` brings the logs back."""
    Image.fromarray(tiny_rgb(n=1, size=16)[0]).save(tmp_path / "good.png")
    (tmp_path / "warns.tif").write_bytes(_tiff_with_metadata_warning())
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    quiet = _run_colorize(["good.png", "warns.tif", "broken.jpg", "--model", str(model_dir), "--output", "out", "-q"],
                          tmp_path)
    assert quiet.returncode == 1
    assert quiet.stderr.splitlines() == [line for line in quiet.stderr.splitlines() if line.startswith("colorize: error: broken.jpg: ")]
    assert len(quiet.stderr.splitlines()) == 1, quiet.stderr
    assert (tmp_path / "out" / "good_color.png").is_file()
    verbose = _run_colorize(["good.png", "--model", str(model_dir), "-o", "out2", "-q", "--verbose"], tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    assert any(console.TF_LOG_LINE.match(line) for line in verbose.stderr.splitlines()), verbose.stderr
    assert (tmp_path / "out2" / "good_color.png").is_file()


def test_cli_unexpected_error_is_one_line(tmp_path, model_dir, capsys, monkeypatch):
    image = tmp_path / "a.png"
    Image.fromarray(tiny_rgb(n=1, size=16)[0]).save(image)

    def broken_expand(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(cli, "expand_inputs", broken_expand)
    assert cli.main([str(image), "--model", str(model_dir), "--output", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.splitlines() == [f"colorize: error: PermissionError: [Errno 13] Permission denied: '{tmp_path}'"]


def test_colorize_without_model_uses_the_shipped_one(tmp_path):
    from colorization_tf import pretrained

    if not (pretrained.DEFAULT_MODEL / "saved_model.pb").is_file():
        pytest.fail(f"the shipped model is missing from {pretrained.DEFAULT_MODEL}")
    image = tmp_path / "a.png"
    rgb = tiny_rgb(n=1, size=48)[0]
    Image.fromarray(rgb).save(image)
    assert cli.main([str(image), "--out", str(tmp_path / "out"), "-q"]) == 0
    out = np.asarray(Image.open(tmp_path / "out" / "a_color.png"))
    assert out.shape == rgb.shape
    from colorization_tf import color

    lightness_in, lightness_out = (np.asarray(color.lightness(x)) for x in (rgb, out))
    assert np.abs(lightness_out - lightness_in).mean() < 1.0  # Lab L kept, colour replaced
    assert np.abs(out.astype(int) - rgb.astype(int)).mean() > 1.0
