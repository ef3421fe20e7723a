"""Runs every benchmark script in this folder (`bench_*.py`) with small settings and prints its figures.

`make bench` calls this. Each script runs in its own process (one TensorFlow runtime each), in
name order; its output is streamed as it comes, then a summary lists the time and exit status of
each. The small settings keep the whole run to a few minutes on 2 CPU cores; `--full` runs every
script with its own defaults instead (the paper sizes: much longer). A new `bench_*.py` without an
entry in `QUICK_ARGS` runs with its defaults.

Usage:
    python benchmarks/run_all.py [--full] [--only pipeline,models] [--list]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

QUICK_ARGS: dict[str, list[str]] = {
    "bench_data_service.py": ["--n", "96", "--epochs", "1"],
    "bench_eccv16_heads.py": ["--size", "64", "--batch", "4", "--steps", "3"],
    "bench_models.py": ["--models", "polychromify,iizuka_lee128,eccv16_regression,cs520_cnn", "--size", "64",
                        "--batch-size", "2", "--repeats", "2"],
    "bench_precision.py": ["--models", "polychromify,cs520_cnn", "--size", "32", "--batch", "4", "--steps", "2", "--warmup", "1"],
    "bench_pipeline.py": ["--n", "600", "--rounds", "2", "--cached-epochs", "2"],
    "bench_serve.py": ["--seconds", "4", "--big", "1000x1500", "--repeats", "3"],
}
"""Small settings per script (see each script's --help for what they mean)."""


def scripts() -> list[Path]:
    return sorted(p for p in HERE.glob("bench_*.py") if p.is_file())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="each script's own defaults instead of the small settings")
    parser.add_argument("--only", default="", help="comma-separated names, e.g. 'pipeline,models' (bench_ prefix optional)")
    parser.add_argument("--list", action="store_true", help="print the scripts and their arguments, run nothing")
    args = parser.parse_args(argv)

    wanted = {name if name.startswith("bench_") else f"bench_{name}" for name in args.only.split(",") if name}
    chosen = [p for p in scripts() if not wanted or p.stem in wanted]
    unknown = wanted - {p.stem for p in chosen}
    if unknown:
        parser.error(f"no such benchmark: {', '.join(sorted(unknown))} (have: {', '.join(p.stem for p in scripts())})")
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    root = str(HERE.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")

    summary = []
    for script in chosen:
        script_args = [] if args.full else QUICK_ARGS.get(script.name, [])
        command = [sys.executable, str(script), *script_args]
        print(f"\n=== {script.name} {' '.join(script_args)}".rstrip() + " ===", flush=True)
        if args.list:
            continue
        start = time.perf_counter()
        status = subprocess.call(command, cwd=root, env=env)
        summary.append((script.name, time.perf_counter() - start, status))
    if args.list:
        return 0
    print("\n=== summary ===")
    for name, seconds, status in summary:
        print(f"{name:28} {seconds:7.1f} s  {'ok' if status == 0 else f'FAILED (exit {status})'}")
    return 0 if all(status == 0 for _, _, status in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
