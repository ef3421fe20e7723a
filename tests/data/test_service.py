"""The tf.data service option: dispatcher and workers in-process on loopback."""

import numpy as np
import pytest

from colorization_tf.data import files, pipeline, service, synthetic


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
