"""Subprocess worker for the multi-worker tests: trains the tiny colorizer through the runner under
the strategy `TF_CONFIG` (set by the test) selects, then saves its weights and the data it saw.

Usage: python tests/_multiworker_worker.py WORKDIR OUT.npz EPOCHS [SLEEP_PER_EPOCH]
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from _tiny_models import SlowEpochs, build_tiny_colorizer, tiny_data  # noqa: E402
from colorization_tf import distribute, training  # noqa: E402

GLOBAL_BATCH = 8
IMAGES = 24
SIZE = 16


def epoch_data():
    """`epoch -> Dataset` of global batches, the same on every worker (order from (seed, epoch) only)."""
    l_enc, ab_enc = tiny_data(n=IMAGES, size=SIZE)
    base = tf.data.Dataset.from_tensor_slices((l_enc, ab_enc)).cache()
    shuffled = training.reshuffle_per_epoch(base, buffer_size=IMAGES, seed=7)
    return training.python_epochs(lambda e: shuffled(e).batch(GLOBAL_BATCH, drop_remainder=True))


def validation_data() -> tf.data.Dataset:
    l_enc, ab_enc = tiny_data(n=GLOBAL_BATCH, size=SIZE, seed=1)
    return tf.data.Dataset.from_tensor_slices((l_enc, ab_enc)).batch(GLOBAL_BATCH)


def build() -> keras.Model:
    """The tiny colorizer with synchronized batch norm: statistics of the global batch, as on one worker."""
    return build_tiny_colorizer(SIZE, synchronized_bn=True)


def config(epochs: int, strategy: str = "auto") -> training.TrainConfig:
    return training.TrainConfig(
        epochs=epochs, learning_rate=1e-2, loss="mse", seed=3, checkpoint_every=1, keep_checkpoints=10,
        sample_every=0, tensorboard=False, loss_curves=False, verbose=0, precision="float32", strategy=strategy,
    )



def main():
    workdir, out, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sleep = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
    hardware = training.select_hardware(precision="float32")
    data = epoch_data()
    # The L images this worker's replica receives from the first epoch's global batches. Taken before
    # training: each step is a collective, and after `train` the chief may still be busy with what only
    # it does (writing the work directory, tearing down) for longer than the test's collective timeout.
    keras.utils.set_random_seed(config(epochs).seed)  # the global seed `train` sets: the same shuffle
    seen = [tf.concat(hardware.strategy.experimental_local_results(x), 0).numpy()
            for x, _ in distribute.distribute_dataset(hardware.strategy, data(0))]
    try:
        model, history = training.train(build, data, validation_data(), config(epochs), workdir,
                                         hardware=hardware, callbacks=[SlowEpochs(sleep)] if sleep else None)
    except distribute.WorkerLost as err:
        print(f"worker error: {err}", file=sys.stderr, flush=True)
        sys.exit(3)
    np.savez(out, *[v.numpy() for v in model.variables], seen=np.stack(seen),
             epochs=np.asarray(history["epoch"]), val_loss=np.asarray(history["val_loss"]), chief=np.asarray(distribute.is_chief()))


if __name__ == "__main__":
    main()
