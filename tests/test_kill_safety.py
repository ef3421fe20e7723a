"""Nothing lost when a process dies or the disk is full.

A worker process (tests/_kill_worker.py) writes one kind of output over and over and is killed
with SIGKILL at a random moment: a checkpoint, an export, a results table, a prepared dataset,
`colorize` output. What it leaves must be the last good state, readable, never a half-written file
under a real name; the next run continues or redoes the work. Then every writer meets a full disk
and a read-only folder: a clear error, and the previous output untouched.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorization_tf import cli, export, training
from colorization_tf.data import decodable, files
from tests._kill_worker import RESULTS_ROWS, failed_write_checks, load_prepare
from tests._tiny_models import TINY_SPEC, build_tiny_colorizer, tiny_rgb

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "_kill_worker.py"
RNG = random.Random(8)  # the kill moments: random, but the same on every run of the suite
START_TIMEOUT_S = 120


def _start(mode, folder, *args):
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen([sys.executable, str(WORKER), mode, str(folder), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"{mode} worker did not start: {line!r}"
    return proc


def _wait_for(predicate, proc, what):
    deadline = time.monotonic() + START_TIMEOUT_S
    while not predicate():
        assert proc.poll() is None, f"worker exited before {what}"
        assert time.monotonic() < deadline, f"no {what} after {START_TIMEOUT_S} s"
        time.sleep(0.02)


def _kill(proc, delay):
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()


def _real(folder: Path) -> list[Path]:
    """Files under their real names (hidden temporaries excluded)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def _hidden(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(".*"))


def test_sigkill_while_checkpointing_leaves_readable_checkpoints_to_resume_from(tmp_path):
    workdir = tmp_path / "run"
    proc = _start("checkpoint", workdir)
    _wait_for(lambda: training.list_checkpoints(workdir), proc, "checkpoint")
    _kill(proc, RNG.uniform(0.0, 0.6))
    saved = training.list_checkpoints(workdir)
    assert saved
    for epoch, path in saved:  # every file under a checkpoint's name is whole
        assert training.load_checkpoint(path)["epoch"] == epoch
    json.loads((workdir / "history.json").read_text())
    import tensorflow as tf

    from tests._kill_worker import tiny_training_config
    from tests._tiny_models import tiny_data

    last = saved[-1][0]
    # What a write killed half-way leaves (planted too: the kill may land between writes): TensorFlow's temporaries.
    (workdir / "checkpoints" / f"ckpt-{last + 1}_temp").mkdir(exist_ok=True)
    (workdir / "checkpoints" / f"ckpt-{last + 1}_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    data = tf.data.Dataset.from_tensor_slices(tiny_data(n=8, size=16)).batch(4)
    config = tiny_training_config(epochs=last + 1)
    _, history = training.train(lambda: build_tiny_colorizer(16), data, None, config, workdir)
    assert history["epoch"][-2:] == [last, last + 1]  # the next run continued from the last checkpoint
    assert training.list_checkpoints(workdir)[-1][0] == last + 1 and not _hidden(workdir)
    assert not list((workdir / "checkpoints").glob("*_temp*"))  # the next run removed what the killed one left


def test_sigkill_while_exporting_leaves_the_previous_export_whole(tmp_path):
    path = tmp_path / "export"
    proc = _start("export", tmp_path)
    _wait_for(lambda: (path / export.INFO_FILE).is_file(), proc, "export")
    _kill(proc, RNG.uniform(0.0, 1.5))
    info = json.loads((path / export.INFO_FILE).read_text())
    import keras

    bias = keras.saving.load_model(path / export.KERAS_FILE).get_layer("conv2").bias.numpy()
    np.testing.assert_allclose(bias, [info["version"] * 1e-3, -info["version"] * 1e-3])  # one export, not two mixed
    assert export.Colorizer(path)(tiny_rgb(1, 16)).shape == (1, 16, 16, 3)
    model = build_tiny_colorizer(16)
    export.export_saved_model(model, path, TINY_SPEC, save_keras=False)
    assert export.Colorizer(path).info["keras_file"] is None  # the next run replaced it
    assert not _hidden(tmp_path)  # and removed what the killed one left


def test_sigkill_while_writing_results_leaves_whole_tables(tmp_path):
    proc = _start("results", tmp_path)
    _wait_for(lambda: (tmp_path / "results.md").is_file(), proc, "results")
    _kill(proc, RNG.uniform(0.0, 0.5))
    assert [p.name for p in _real(tmp_path)] == ["results.json", "results.md"]
    table = json.loads((tmp_path / "results.json").read_text())
    assert len(table["rows"]) == RESULTS_ROWS
    text = (tmp_path / "results.md").read_text()
    assert text.count("\n") == RESULTS_ROWS + 3 and text.endswith("\n") and text.splitlines()[-1].startswith("end ")
    assert int(text.splitlines()[-1].split()[1]) in (table["version"], table["version"] - 1)


@pytest.fixture(scope="module")
def source_images(tmp_path_factory):
    """Twenty small photos in three formats, two of which need re-encoding (TIFF, BMP TF refuses)."""
    src = tmp_path_factory.mktemp("src")
    for i, rgb in enumerate(tiny_rgb(n=20, size=48, seed=1)):
        Image.fromarray(rgb).save(src / f"{i:02d}.{('jpg', 'png', 'tif')[i % 3]}")
    good = (src / "00.jpg").read_bytes()
    Image.fromarray(tiny_rgb(n=1, size=48, seed=2)[0]).save(src / "bmp_inserted.bmp")
    data = (src / "bmp_inserted.bmp").read_bytes()
    (src / "bmp_inserted.bmp").write_bytes(data[:60] + b"junk" + data[60:])
    (src / "truncated.jpg").write_bytes(good[: len(good) // 2])
    return src


@pytest.mark.parametrize("kill", [0, 1])
def test_sigkill_while_preparing_leaves_good_images_and_the_rerun_finishes(tmp_path, source_images, kill):
    out = tmp_path / "out"
    proc = _start("prepare", out, source_images)
    _kill(proc, RNG.uniform(0.3, 2.5) if kill else RNG.uniform(0.0, 0.3))
    for path in _real(out):  # whatever is there under a real name is whole and trainable
        assert path.suffix == ".json" or path.suffix == ".tsv" or decodable.decode_error(path) is None, path
    if (out / decodable.PREPARED_MARKER).exists():  # finished before the kill: complete
        assert json.loads((out / decodable.PREPARED_MARKER).read_text())["images"] == 21
    result = load_prepare().prepare("folder", source_images, out, progress=False)
    assert sum(len(v) for v in result.values()) == 21 and len(files.list_image_files(out)) == 21
    assert not _hidden(out)
    assert json.loads((out / decodable.PREPARED_MARKER).read_text())["unusable"] == 1


def test_sigkill_while_colorizing_leaves_whole_images(tmp_path, source_images):
    export.export_saved_model(build_tiny_colorizer(16), tmp_path / "export", TINY_SPEC, save_keras=False)
    images = tmp_path / "images"
    images.mkdir()
    for path in sorted(source_images.glob("*.png")):
        shutil.copy(path, images / path.name)
    out = tmp_path / "out"
    proc = _start("colorize", out, images)
    _wait_for(lambda: len(_real(out)) >= 2, proc, "colorize output")
    _kill(proc, RNG.uniform(0.0, 0.8))
    for path in _real(out):
        with Image.open(path) as image:
            image.load()  # a truncated PNG would raise here
            assert image.size == (48, 48)
    # What a killed run left half-written (planted too, since the kill may land between files):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / f".{sorted(images.iterdir())[0].stem}_color.png.tmp{int(dead.stdout)}-x.png").write_bytes(b"\x89PNG half")
    assert cli.main([str(images), "-m", str(tmp_path / "export"), "-o", str(out), "--quiet"]) == 0
    assert len(_real(out)) == len(list(images.iterdir()))
    assert not _hidden(out)  # the next run removed what killed runs left


def _unshare() -> list[str]:
    """A private mount namespace (as a mapped root user when not root)."""
    user = [] if os.geteuid() == 0 else ["--user", "--map-root-user"]
    return ["unshare", *user, "--mount", "--propagation", "private"]


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare") or not shutil.which("mount"):
        return False
    probe = subprocess.run([*_unshare(), "sh", "-c",
                            "mount -t tmpfs -o size=64k tmpfs /mnt || mount -t tmpfs -o size=64k tmpfs /tmp"],
                           capture_output=True)
    return probe.returncode == 0


def _failed_writes(tmp_path):
    """`failed_write_checks` in two tiny tmpfs of a private mount namespace, one filled up and one
    remounted read-only (real file systems: as root, chmod would not stop a write), or, where no
    tmpfs can be mounted, in-process with ENOSPC injected at each commit."""
    if not _can_mount_tmpfs():
        (tmp_path / "inject").mkdir()
        return {"inject": failed_write_checks(tmp_path / "inject", "inject", tmp_path / "images")}
    cases = ("full", "readonly")
    mounts = " && ".join(f'mkdir "{tmp_path / c}" && mount -t tmpfs -o size=2m tmpfs "{tmp_path / c}"' for c in cases)
    script = f'{mounts} && exec "{sys.executable}" "{WORKER}" full "{tmp_path}" {" ".join(cases)}'
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([*_unshare(), "sh", "-c", script], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_full_disk_or_read_only_folder_gives_a_clear_error_and_keeps_the_previous_output(tmp_path):
    expected = {"full": "No space left on device", "readonly": "Read-only file system", "inject": "No space left on device"}
    for case, findings in _failed_writes(tmp_path).items():
        for writer, found in findings.items():
            assert expected[case] in found["error"], (case, writer, found["error"])
            assert found["previous_ok"] is True, (case, writer, found["previous_ok"])
            assert found["after"] == found["before"], (case, writer, found)  # nothing partial, no temporaries
        assert "prepare.py: error: cannot write" in findings["prepare"]["error"]
        assert "colorize: error:" in findings["colorize"]["error"]


def test_experiment_script_reports_an_unwritable_results_folder_in_one_line(tmp_path, monkeypatch):
    import errno
    import importlib.util

    from colorization_tf import experiment

    def full(cfg):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(cfg.results_dir / "results.json"))

    monkeypatch.setattr(experiment.command, "run_experiment", full)  # where `main` looks it up
    spec = importlib.util.spec_from_file_location("exp_cs520", REPO / "experiments" / "cs520.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as exit_:
        script.main(["--quick", "--out", str(tmp_path)])
    message = str(exit_.value)
    assert "error: cannot write" in message and "results.json: No space left on device" in message
    assert "\n" not in message


def test_checkpoints_the_state_names_but_whose_files_are_gone_are_not_listed(tmp_path):
    """Killed between TensorFlow's sweep of the oldest checkpoint and its second state write, the state still
    names the deleted checkpoint: listing it made resuming or reading that run fail."""
    import tensorflow as tf

    folder = tmp_path / training.CHECKPOINT_DIR
    step = tf.Variable(0)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(step=step), str(folder), max_to_keep=3,
                                         checkpoint_name=training.CHECKPOINT_NAME)
    for epoch in (1, 2, 3):
        step.assign(epoch)
        manager.save(checkpoint_number=epoch)
    for leftover in folder.glob(f"{training.CHECKPOINT_NAME}-1.*"):  # the sweep's deletion, the state not rewritten
        leftover.unlink()
    assert [epoch for epoch, _ in training.list_checkpoints(tmp_path)] == [2, 3]
