"""MultiWorkerMirroredStrategy for real: two worker processes on loopback, each with its TF_CONFIG.

One scenario, two launches (TensorFlow start-up dominates the time):
1. both workers start a 4-epoch run; once the chief has written the epoch-2 checkpoint, worker 1 is
   killed: the chief must fail with a clear message within the collective timeout;
2. both are restarted: they resume from the epoch-2 checkpoint and finish. Then the workers' weights
   are identical, each saw a different half of every global batch, and the result equals one worker
   (this process, default strategy) trained 4 epochs on the same global batches.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np

from colorization_tf import training
from tests._ports import free_ports

REPO = Path(__file__).resolve().parents[1]
WORKER = REPO / "tests" / "_multiworker_worker.py"
EPOCHS = 4
KILL_AFTER_EPOCH = 2
COLLECTIVE_TIMEOUT_S = 5
FAIL_WITHIN_S = 60
"""Bound on how long the chief may take to fail once its peer is dead: the collective timeout plus
one epoch and process shutdown, with room for a loaded machine."""
ONE_WORKER_ATOL = 1e-5
"""Two workers x 4 images vs one worker x 8 images: the same gradients summed in another order
(float32; measured 2.4e-7 after 2 epochs)."""


def _launch(workdir, out_dir, sleep, tag):
    ports = free_ports(2)
    procs = []
    for index in range(2):
        env = dict(os.environ, PYTHONPATH=str(REPO), TF_COLLECTIVE_TIMEOUT_S=str(COLLECTIVE_TIMEOUT_S), TF_CPP_MIN_LOG_LEVEL="3")
        env["TF_CONFIG"] = json.dumps({"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                                       "task": {"type": "worker", "index": index}})
        log = open(out_dir / f"{tag}-{index}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER), str(workdir), str(out_dir / f"{tag}-{index}.npz"), str(EPOCHS), str(sleep)],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO,
        ))
    return procs


def _stop(procs):
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_two_workers_fail_clearly_when_one_dies_resume_and_match_one_worker(tmp_path):
    sys.path.insert(0, str(REPO / "tests"))
    import _multiworker_worker as worker

    workdir = tmp_path / "run"
    procs = _launch(workdir, tmp_path, sleep=0.5, tag="first")
    try:
        deadline = time.monotonic() + 120
        while KILL_AFTER_EPOCH not in [e for e, _ in training.list_checkpoints(workdir)]:
            assert all(p.poll() is None for p in procs), (tmp_path / "first-0.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.1)
        os.kill(procs[1].pid, signal.SIGKILL)
        killed_at = time.monotonic()
        status = procs[0].wait(timeout=FAIL_WITHIN_S)
        waited = time.monotonic() - killed_at
    finally:
        _stop(procs)
    chief_log = (tmp_path / "first-0.log").read_text()
    assert status == 3, chief_log[-3000:]
    assert "worker is gone or unreachable" in chief_log and "resume from the last checkpoint" in chief_log
    assert waited < FAIL_WITHIN_S
    assert [e for e, _ in training.list_checkpoints(workdir)] == [1, 2]

    procs = _launch(workdir, tmp_path, sleep=0.0, tag="second")
    try:
        statuses = [p.wait(timeout=120) for p in procs]
    finally:
        _stop(procs)
    assert statuses == [0, 0], (tmp_path / "second-0.log").read_text()[-3000:]
    chief, other = (np.load(tmp_path / f"second-{i}.npz") for i in range(2))
    assert bool(chief["chief"]) and not bool(other["chief"])
    summary = json.loads((workdir / training.SUMMARY_FILE).read_text())
    assert summary["initial_epoch"] == KILL_AFTER_EPOCH and summary["hardware"]["kind"] == "multi_worker"
    assert list(chief["epochs"]) == list(range(1, EPOCHS + 1))
    assert [e for e, _ in training.list_checkpoints(workdir)] == [1, 2, 3, 4]  # only the chief wrote here

    weights = sorted(k for k in chief.files if k.startswith("arr_"))
    for key in weights:  # synchronous training: every worker holds the same variables
        np.testing.assert_array_equal(chief[key], other[key])
    # Each worker's replica got its own half of every global batch, and together they got all of it.
    keras.utils.set_random_seed(worker.config(EPOCHS).seed)  # the global seed the workers ran under
    full = np.stack([x.numpy() for x, _ in worker.epoch_data()(0)])
    assert chief["seen"].shape[1] == other["seen"].shape[1] == worker.GLOBAL_BATCH // 2
    assert not np.array_equal(chief["seen"], other["seen"])
    together = np.concatenate([chief["seen"], other["seen"]], axis=1).reshape(len(full), -1)
    np.testing.assert_array_equal(np.sort(together, axis=1), np.sort(full.reshape(len(full), -1), axis=1))

    # One worker, the same global batches, uninterrupted.
    model, history = training.train(worker.build, worker.epoch_data(), worker.validation_data(), worker.config(EPOCHS, "default"),
                                    tmp_path / "one")
    np.testing.assert_allclose(chief["val_loss"], history["val_loss"], rtol=1e-4)  # validation across workers too
    reference = [v.numpy() for v in model.variables]
    assert len(reference) == len(weights)
    for key, expected in zip(weights, reference):
        np.testing.assert_allclose(chief[key], expected, rtol=0, atol=ONE_WORKER_ATOL)
    fresh = worker.build()
    assert not np.allclose(fresh.variables[0].numpy(), reference[0])  # training moved the weights
