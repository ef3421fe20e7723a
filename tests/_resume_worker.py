"""Subprocess worker for the resume-after-kill test: trains the tiny model, writes final weights.

Usage: python tests/_resume_worker.py WORKDIR OUT.npz EPOCHS [SLEEP_PER_EPOCH]
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _tiny_models import SlowEpochs, build_tiny_colorizer, tiny_data  # noqa: E402
from colorization_tf import training  # noqa: E402


def main():
    workdir, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sleep = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    l_enc, ab_enc = tiny_data(n=24, size=16)
    base = tf.data.Dataset.from_tensor_slices((l_enc, ab_enc)).cache()
    shuffled = training.reshuffle_per_epoch(base, buffer_size=24, seed=7)
    config = training.TrainConfig(
        epochs=epochs, learning_rate=1e-2, loss="mse", seed=3, deterministic=True, checkpoint_every=1,
        keep_checkpoints=10, sample_every=0, tensorboard=False, loss_curves=False, verbose=0, precision="float32",
        strategy="default",
    )
    model, _ = training.train(
        lambda: build_tiny_colorizer(16), lambda e: shuffled(e).batch(6), None, config, workdir,
        callbacks=[SlowEpochs(sleep)] if sleep else None,
    )
    np.savez(out, *[v.numpy() for v in model.variables])


if __name__ == "__main__":
    main()
