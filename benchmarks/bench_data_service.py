"""Images/s of the input pipeline read directly and through a tf.data service with 1 and 2 local workers.

    python benchmarks/bench_data_service.py                      # 256 scenes of 128 px -> 128 px, batch 32
    python benchmarks/bench_data_service.py --n 96 --epochs 1    # quicker

The pipeline is `data.pipeline.build_dataset(..., training=True, cache=None)`: every epoch decodes
every PNG, resizes it, converts it to Lab and augments it, which is the CPU work a tf.data service
moves off the trainers. The service's dispatcher and workers run in this process on loopback
(`data.service.LocalService`), so on one machine they share its cores with the reader: the figures
show the service's overhead and scaling on this machine's cores, not what separate data machines
give. Each configuration runs `--epochs` epochs after one warm-up epoch; images/s is the median.
Prints figures; nothing here is asserted in the tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def images_per_second(dataset, epochs: int) -> float:
    """Median images/s over `epochs` full passes, after one warm-up pass."""
    rates = []
    for epoch in range(epochs + 1):
        start, count = time.perf_counter(), 0
        for x, _ in dataset:
            count += int(x.shape[0])
        if epoch:
            rates.append(count / (time.perf_counter() - start))
    rates.sort()
    return rates[len(rates) // 2]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=256, help="synthetic images (generated once into a temp folder)")
    parser.add_argument("--size", type=int, default=128, help="pipeline image size")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    args = parser.parse_args(argv)

    from colorization_tf.data import files, pipeline, service
    from colorization_tf.sources import synthetic

    with tempfile.TemporaryDirectory() as tmp:
        per_class = max(args.n // len(synthetic.CLASS_NAMES), 1)
        paths = files.find_images(synthetic.generate_dataset(Path(tmp) / "scenes", n_per_class=per_class, size=128)).paths
        dataset = pipeline.build_dataset(paths, image_size=args.size, batch_size=args.batch, normalization="zhang",
                                         training=True, cache=None, seed=0)
        print(f"{len(paths)} PNGs of 128 px -> {args.size} px, batch {args.batch}, {os.cpu_count()} CPUs", flush=True)
        results = {"plain pipeline": images_per_second(dataset, args.epochs)}
        for workers in (1, 2):
            with service.LocalService(workers) as local:
                results[f"tf.data service, {workers} local worker(s)"] = images_per_second(service.distribute(dataset, local), args.epochs)
        base = results["plain pipeline"]
        print("\n| input | img/s | vs plain |\n| --- | ---: | ---: |")
        for name, rate in results.items():
            print(f"| {name} | {rate:.0f} | {rate / base:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
