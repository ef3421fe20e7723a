"""Server-side batching with a stand-in model: shared calls, same-size groups, limits, failures."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from colorization_tf.serve import ServeConfig
from colorization_tf.serve.batching import Batcher


class RecordingModel:
    """Returns each image's first channel tripled; records the batch shapes and the calling thread."""

    def __init__(self, delay: float = 0.0, fail: bool = False):
        self.shapes, self.threads, self.delay, self.fail = [], set(), delay, fail

    def __call__(self, batch):
        self.shapes.append(batch.shape)
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("the model broke")
        return np.repeat(batch[..., :1], 3, axis=-1)


def run(model, config, images):
    async def main():
        batcher = Batcher(model, config)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.submit(image) for image in images), return_exceptions=True)
        finally:
            await batcher.stop()

    return asyncio.run(main())


def image(value: int, height: int = 4, width: int = 4) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def test_concurrent_images_share_calls_up_to_max_batch_off_the_event_loop():
    model = RecordingModel(delay=0.01)
    results = run(model, ServeConfig(max_batch=4, max_wait_ms=50), [image(i) for i in range(10)])
    assert [int(r[0, 0, 0]) for r in results] == list(range(10))  # each caller gets its own image back
    assert [s[0] for s in model.shapes] == [4, 4, 2]
    assert model.threads and not any(name == threading.main_thread().name for name in model.threads)


def test_batches_hold_one_size_and_respect_the_pixel_budget():
    model = RecordingModel()
    images = [image(1, 4, 4), image(2, 8, 8), image(3, 4, 4), image(4, 8, 8)]
    results = run(model, ServeConfig(max_batch=8, max_wait_ms=20), images)
    assert [r.shape for r in results] == [(4, 4, 3), (8, 8, 3), (4, 4, 3), (8, 8, 3)]
    assert sorted(model.shapes) == [(2, 4, 4, 3), (2, 8, 8, 3)]
    budget = RecordingModel()
    run(budget, ServeConfig(max_batch=8, max_wait_ms=20, max_batch_pixels=40), [image(i) for i in range(6)])
    assert [s[0] for s in budget.shapes] == [3, 3]  # 16 pixels each: the third passes 40, the batch closes


def test_a_failing_model_call_fails_only_its_own_requests_and_the_batcher_keeps_going():
    results = run(RecordingModel(fail=True), ServeConfig(max_batch=2, max_wait_ms=5), [image(1), image(2), image(3)])
    assert all(isinstance(r, RuntimeError) for r in results)
    model = RecordingModel()

    async def main():
        batcher = Batcher(model, ServeConfig(max_batch=2, max_wait_ms=0))
        batcher.start()
        broken, batcher.model = batcher.model, RecordingModel(fail=True)
        with pytest.raises(RuntimeError):
            await batcher.submit(image(1))
        batcher.model = broken
        result = await batcher.submit(image(7))
        await batcher.stop()
        return result

    assert int(asyncio.run(main())[0, 0, 0]) == 7


def test_no_wait_still_batches_what_queued_while_the_model_was_busy():
    model = RecordingModel(delay=0.05)
    run(model, ServeConfig(max_batch=8, max_wait_ms=0), [image(i) for i in range(5)])
    assert sum(s[0] for s in model.shapes) == 5 and len(model.shapes) <= 2


def test_config_refuses_nonsense():
    with pytest.raises(ValueError, match="max_batch"):
        ServeConfig(max_batch=0)
    with pytest.raises(ValueError, match="max_wait_ms"):
        ServeConfig(max_wait_ms=-1)
