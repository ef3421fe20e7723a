"""Input preprocessing on a tf.data service: decoding and colour conversion on other processes or
machines than the trainers.

A `tf.data.experimental.service` dispatcher hands out a pipeline's work to its workers; the trainer
then only reads finished batches over gRPC. `distribute` puts a dataset of this project (for example
`pipeline.build_dataset(..., portable=True)`: plain TensorFlow ops, which workers in other processes
can run; the default pipeline names dropped files through a Python callback that only an in-process
worker can call) on a service; `LocalService` starts a dispatcher and workers inside
this process on loopback (tests, benchmarks, one machine with spare cores). On a cluster, start
the servers on the data machines yourself, e.g. with `python -m colorization_tf.data.service`.

Processing modes (`tf.data.experimental.service.ShardingPolicy`):
- "distributed_epoch" (default): the files of an epoch are split between the workers dynamically;
  every image is produced once per epoch (each worker shuffles and batches its own share);
- "parallel_epochs": every worker produces the whole dataset, so an epoch holds each image once
  per worker (useful with `repeat()` and many trainers).
"""

from __future__ import annotations

import argparse
import sys
import time

import tensorflow as tf

MODES = ("distributed_epoch", "parallel_epochs")


class LocalService:
    """A tf.data service dispatcher and `n_workers` workers in this process, on loopback ports picked free.

    Args:
        n_workers: number of worker servers.

    Attributes:
        target: the dispatcher's address ("grpc://localhost:PORT") for `distribute`.
    """

    def __init__(self, n_workers: int = 1):
        if n_workers < 1:
            raise ValueError(f"LocalService: n_workers must be >= 1, got {n_workers}")
        service = tf.data.experimental.service
        self.dispatcher = service.DispatchServer(service.DispatcherConfig(port=0))
        self.target = self.dispatcher.target
        address = self.target.split("://", 1)[-1]
        self.workers = [service.WorkerServer(service.WorkerConfig(dispatcher_address=address, port=0)) for _ in range(n_workers)]

    def stop(self) -> None:
        """Stops the workers and the dispatcher (their ports are released)."""
        for server in [*self.workers, self.dispatcher]:
            stop = getattr(server, "_stop", None)  # TF exposes no public stop; servers also stop when collected
            if stop is not None:
                stop()
        self.workers = []

    def __enter__(self) -> "LocalService":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def distribute(dataset: tf.data.Dataset, service, *, mode: str = "distributed_epoch", job_name: str | None = None) -> tf.data.Dataset:
    """`dataset`, produced by the tf.data service at `service` instead of in this process.

    Args:
        dataset: any dataset (its whole pipeline, decoding included, runs on the service's workers).
        service: a `LocalService` or a dispatcher address ("grpc://host:port").
        mode: "distributed_epoch" (every element once per epoch) or "parallel_epochs" (see module docstring).
        job_name: share one job between several trainers (each gets different batches).

    Returns:
        The dataset read from the service.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown tf.data service mode {mode!r}; choose one of {MODES}")
    target = service.target if isinstance(service, LocalService) else str(service)
    return dataset.apply(tf.data.experimental.service.distribute(processing_mode=mode, service=target, job_name=job_name))


def main(argv=None) -> int:
    """Runs a dispatcher and/or a worker until interrupted (one per machine of a data-service cluster)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--dispatcher-port", type=int, default=None, help="run the dispatcher on this port")
    parser.add_argument("--dispatcher", default=None, help="dispatcher host:port for a worker on this machine")
    parser.add_argument("--worker-port", type=int, default=0, help="worker port (0: any free port)")
    args = parser.parse_args(argv)
    service = tf.data.experimental.service
    servers = []
    if args.dispatcher_port is not None:
        servers.append(service.DispatchServer(service.DispatcherConfig(port=args.dispatcher_port)))
        print(f"dispatcher at {servers[-1].target}", flush=True)
    if args.dispatcher:
        servers.append(service.WorkerServer(service.WorkerConfig(dispatcher_address=args.dispatcher, port=args.worker_port)))
        print(f"worker for {args.dispatcher}", flush=True)
    if not servers:
        parser.error("give --dispatcher-port, --dispatcher, or both")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
