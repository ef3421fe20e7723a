"""Quiet command lines: TensorFlow's log lines recognised and hidden, C libraries' stderr caught, --verbose/--output."""

import argparse
import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from colorization_tf import console, experiment
from colorization_tf.data import decode

REPO = Path(__file__).resolve().parents[1]
START_UP_LINES = """WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796062536.495212    4568 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1796062536.495482    4568 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796062536.541051    4568 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796062538.581929    4568 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
W1130 18:02:11.123456   12345 local_rendezvous.cc:412] Local rendezvous is aborting with status: OUT_OF_RANGE
"""


def _corrupt_jpeg() -> bytes:
    """A JPEG with junk bytes before its end marker: libjpeg decodes it and warns "Corrupt JPEG data"."""
    rgb = np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    return data[:-2] + b"junkjunk" + data[-2:]


def test_tf_log_lines_are_recognised_and_other_lines_kept():
    text = START_UP_LINES + "a Python warning: keep me\nCorrupt JPEG data: 8 extraneous bytes before marker 0xd9\n"
    assert console.without_tf_log_lines(text) == "a Python warning: keep me\nCorrupt JPEG data: 8 extraneous bytes before marker 0xd9\n"


def test_libjpeg_warnings_are_captured_not_loose_on_stderr(capfd):
    """libjpeg writes "Corrupt JPEG data: ..." from C straight to file descriptor 2; the capture takes it."""
    capfd.readouterr()
    with console.captured_stderr() as captured:
        image = decode.decode_image_bounded(tf.constant(_corrupt_jpeg()))
    assert image.shape == (40, 48, 3)
    assert "Corrupt JPEG data:" in captured.text and "extraneous bytes before marker 0xd9" in captured.text
    assert "Corrupt JPEG" not in capfd.readouterr().err
    # Without the capture the same decode writes the line to the process's stderr (what a user saw).
    decode.decode_image_bounded(tf.constant(_corrupt_jpeg()))
    assert "Corrupt JPEG data" in capfd.readouterr().err


def test_verbose_flag_read_before_parsing():
    assert console.verbose_requested(["x", "--verbose"]) and console.verbose_requested(["--verbose=1"])
    assert not console.verbose_requested(["--verbose-ish", "-v"])


def test_quiet_and_verbose_set_the_log_level(monkeypatch):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    console.quiet_tensorflow()  # TensorFlow is imported already here: the level and Python loggers only
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == console.QUIET_TF_LOG_LEVEL
    console.quiet_tensorflow(verbose=True)
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == console.VERBOSE_TF_LOG_LEVEL


def test_training_commands_take_verbose_with_an_optional_fit_level_and_output():
    parser = argparse.ArgumentParser()
    console.add_verbose_argument(parser, fit_verbosity=2)
    assert parser.parse_args([]).verbose == 2
    assert parser.parse_args(["--verbose"]).verbose == 2
    assert parser.parse_args(["--verbose", "0"]).verbose == 0
    experiment_parser = experiment.command.build_parser("test")
    for flag in ("--out", "--output", "-o"):
        assert experiment_parser.parse_args([flag, "results/x"]).out == "results/x"


def test_prepare_and_demo_accept_output_and_verbose():
    spec = importlib.util.spec_from_file_location("prepare_console", REPO / "datasets" / "prepare.py")
    prepare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(prepare)
    calls = []
    prepare.prepare = lambda *args, **kwargs: calls.append(args)
    for flag in ("--out", "--output", "-o"):
        assert prepare.main(["folder", "--src", "s", flag, "d", "--verbose"]) == 0
    assert [args[2] for args in calls] == ["d", "d", "d"]
    from colorization_tf import demo

    args = demo.build_parser().parse_args(["--output", "o", "--verbose", "1"])
    assert (args.out, args.verbose) == ("o", 1)


def test_prepare_command_is_quiet(tmp_path):
    """`datasets/prepare.py` in a fresh process (no TensorFlow log level set, as in a user's shell): no C++
    log line and no traceback on stderr, with a JPEG whose data is corrupt among the files."""
    src = tmp_path / "src"
    src.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(src / f"{i}.jpg")
    (src / "corrupt.jpg").write_bytes(_corrupt_jpeg())
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    proc = subprocess.run([sys.executable, str(REPO / "datasets" / "prepare.py"), "folder", "--src", str(src),
                           "--output", str(tmp_path / "out"), "--gray-threshold", "0"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert not [line for line in proc.stderr.splitlines() if console.TF_LOG_LINE.match(line)], proc.stderr
    assert "Traceback" not in proc.stderr and "Corrupt JPEG" not in proc.stderr
    assert (tmp_path / "out" / "prepare.json").is_file()
