"""The tf.data service option: dispatcher and workers in-process on loopback."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from colorization_tf.data import files, pipeline, service
from colorization_tf.sources import synthetic
from tests._ports import free_ports


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    root = synthetic.generate_dataset(tmp_path_factory.mktemp("service") / "scenes", n_per_class=2, size=40)
    return files.find_images(root).paths


def _images(dataset):
    """Each image's L as bytes, sorted: the multiset of images regardless of order and batching."""
    return sorted(l.tobytes() for x, _ in dataset for l in x.numpy())


@pytest.mark.parametrize("n_workers", [1, 2])
def test_service_produces_every_image_of_the_plain_pipeline_once(paths, n_workers):
    plain = pipeline.build_dataset(paths, image_size=32, batch_size=3, normalization="zhang")
    with service.LocalService(n_workers) as local:
        assert len(local.workers) == n_workers and local.target.startswith("grpc://localhost:")
        served = _images(service.distribute(plain, local))
        assert served == _images(plain) and len(served) == len(paths)
        # parallel_epochs: every worker produces the whole dataset
        parallel = _images(service.distribute(plain, local.target, mode="parallel_epochs"))
        assert len(parallel) == n_workers * len(paths) and set(parallel) == set(served)


def test_training_batches_come_through_the_service(paths):
    train = pipeline.build_dataset(paths, image_size=32, batch_size=2, normalization="lee2016", training=True, seed=3)
    with service.LocalService(2) as local:
        batches = list(service.distribute(train, local))
    assert batches and all(x.shape[1:] == (32, 32, 1) and y.shape[1:] == (32, 32, 2) for x, y in batches)
    assert all(np.isfinite(x.numpy()).all() for x, _ in batches)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="n_workers"):
        service.LocalService(0)
    with pytest.raises(ValueError, match="mode"):
        service.distribute(None, "grpc://localhost:1", mode="sometimes")


def test_portable_pipeline_runs_on_a_service_in_another_process(paths, tmp_path):
    """A dispatcher and worker in another process (as on a data machine) run a pipeline holding a GIF
    and a broken file: Python callbacks (`tf.py_function`) cannot run there, so the GIF frame walk is
    TF ops and `portable=True` names dropped files with a TensorFlow print on the worker."""
    gif = tmp_path / "scene.gif"
    Image.open(paths[0]).convert("P").save(gif)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    files_in = [*paths, str(gif), str(broken)]
    (port,) = free_ports()
    worker = subprocess.Popen(
        [sys.executable, "-m", "colorization_tf.data.service", "--dispatcher-port", str(port), "--dispatcher", f"localhost:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    try:
        assert "dispatcher at" in worker.stdout.readline() and "worker for" in worker.stdout.readline()
        portable = pipeline.build_dataset(files_in, image_size=32, batch_size=3, normalization="zhang", portable=True)
        served = _images(service.distribute(portable, f"grpc://localhost:{port}"))
        plain = pipeline.build_dataset(files_in, image_size=32, batch_size=3, normalization="zhang")
        assert served == _images(plain) and len(served) == len(paths) + 1  # every image, the GIF too
    finally:
        worker.terminate()
        _, errors = worker.communicate(timeout=60)
    assert f'skipped (unreadable or undecodable): "{broken}"' in errors  # named where it was dropped


def test_portable_pipeline_on_two_workers_names_only_what_it_dropped(paths, tmp_path, capfd):
    """With two data workers each gets a share of the files: the default pipeline's drop report (gaps
    in its file indices) and known length (all files) would be wrong there; the portable one names
    each file it failed to load, once, and asserts no length."""
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    files_in = [*paths, str(broken)]
    portable = pipeline.build_dataset(files_in, image_size=32, batch_size=2, normalization="zhang", portable=True,
                                      verified=True)
    plain = pipeline.build_dataset(paths, image_size=32, batch_size=2, normalization="zhang")
    with service.LocalService(2) as local:
        served = _images(service.distribute(portable, local))
    assert served == _images(plain)
    printed = [line for line in capfd.readouterr().err.splitlines() if "colorization_tf.data: skipped" in line]
    assert len(printed) == 1 and str(broken) in printed[0]
    image_only = pipeline.build_image_dataset(paths[:2], 16, portable=True)
    assert image_only.element_spec == pipeline.build_image_dataset(paths[:2], 16).element_spec
