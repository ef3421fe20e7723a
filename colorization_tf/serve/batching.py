"""Loaded exports and server-side batching: concurrent requests share model calls.

A `ServedModel` is one export folder loaded with plain `tf.saved_model.load` (its folder name is
its model name). Its `Batcher` collects the images of concurrent requests into batches of the
same size (at most `max_batch` images and `max_batch_pixels` pixels, waiting at most `max_wait_ms`
for company) and runs each batch on its own threads (`model_workers` calls at once), so the event
loop never blocks on the model; while batches run, the next one gathers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
from pathlib import Path

import numpy as np

from colorization_tf.serve.config import WARMUP_SIDE, ServeConfig

log = logging.getLogger("colorization_tf.serve")

LOADING, AVAILABLE, FAILED = "LOADING", "AVAILABLE", "FAILED"
"""Model states, as TensorFlow Serving names them (`GET /v1/models/{name}`)."""

SIGNATURE = "serving_default"
MODEL_VERSION = "1"


def _tensor_info(spec) -> dict:
    """TensorFlow Serving's JSON for a `TensorSpec`: dtype, shape (-1 for unknown), name."""
    dims = [{"size": str(-1 if d is None else d), "name": ""} for d in spec.shape.as_list()]
    return {"dtype": f"DT_{spec.dtype.name.upper()}", "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": spec.name or ""}


class ServedModel:
    """One export folder: loaded lazily by `load()`, then called on uint8 batches `[N, H, W, C]`.

    Args:
        path: an export folder (`saved_model.pb` inside); its name is the model's name.

    Attributes:
        name, path, state (LOADING/AVAILABLE/FAILED), error (why it failed), info (export_info.json).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.name = self.path.resolve().name
        self.state = LOADING
        self.error = ""
        info_file = self.path / "export_info.json"
        try:
            self.info = json.loads(info_file.read_text()) if info_file.is_file() else {}
        except (OSError, ValueError):
            self.info = {}
        self._fn = None
        self.input_name = "images"
        self.output_name = "rgb"
        self.signature_def: dict = {}

    def load(self, warmup: bool = True) -> None:
        """Loads the SavedModel (and runs it once on a small image when `warmup`); sets `state`."""
        import tensorflow as tf

        try:
            loaded = tf.saved_model.load(str(self.path))
            if SIGNATURE not in loaded.signatures:
                raise ValueError(f"the SavedModel has no {SIGNATURE!r} signature")
            fn = loaded.signatures[SIGNATURE]
            inputs = fn.structured_input_signature[1]
            if len(inputs) != 1:
                raise ValueError(f"expected one input in {SIGNATURE!r}, found {sorted(inputs)}")
            self.input_name, spec = next(iter(inputs.items()))
            outputs = fn.structured_outputs
            self.output_name = "rgb" if "rgb" in outputs else next(iter(outputs))
            self.signature_def = {
                "inputs": {self.input_name: _tensor_info(spec)},
                "outputs": {k: _tensor_info(v) for k, v in outputs.items()},
                "method_name": "tensorflow/serving/predict",
            }
            self._loaded, self._fn = loaded, fn
            if warmup:
                self(np.full((1, WARMUP_SIDE, WARMUP_SIDE, 3), 128, np.uint8))
            self.state = AVAILABLE
        except Exception as err:  # a broken export is reported by /readyz and the status endpoint
            self.state, self.error = FAILED, f"{type(err).__name__}: {err}"
            log.error("model %s (%s) failed to load: %s", self.name, self.path, self.error)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """uint8 `[N, H, W, C]` -> uint8 `[N, H, W, 3]` through the `serving_default` signature."""
        import tensorflow as tf

        return self._fn(**{self.input_name: tf.constant(batch)})[self.output_name].numpy()


class Batcher:
    """Groups concurrent single-image requests to one model into shared model calls.

    Args:
        model: the `ServedModel` (any callable uint8 `[N, H, W, C]` -> `[N, H, W, 3]`).
        config: `max_batch`, `max_wait_ms`, `max_batch_pixels`.

    Use `start()` inside the event loop, `await submit(image)` per image, `await stop()` at the end.
    """

    def __init__(self, model, config: ServeConfig):
        self.model = model
        self.config = config
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(config.model_workers, thread_name_prefix=f"model-{getattr(model, 'name', '')}")
        self.calls = 0
        self.images = 0

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def submit(self, image: np.ndarray) -> np.ndarray:
        """Colorizes one uint8 image `[H, W, C]` in whatever batch it lands in; returns `[H, W, 3]`."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((image, future))
        return await future

    async def _gather(self) -> list:
        items = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.max_wait_ms / 1000.0
        pixels = items[0][0].shape[0] * items[0][0].shape[1]
        while len(items) < self.config.max_batch and pixels < self.config.max_batch_pixels:
            if not self._queue.empty():
                item = self._queue.get_nowait()
            else:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                try:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
            items.append(item)
            pixels += item[0].shape[0] * item[0].shape[1]
        return items

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.config.model_workers)
        running = set()
        while True:
            items = [item for item in await self._gather() if not item[1].done()]  # drop timed-out requests
            groups: dict[tuple, list] = {}
            for image, future in items:
                groups.setdefault(image.shape, []).append((image, future))
            for group in groups.values():
                await slots.acquire()  # at most `model_workers` calls at once; the next batch gathers meanwhile
                task = asyncio.get_running_loop().create_task(self._call(group))
                running.add(task)
                task.add_done_callback(lambda t: (running.discard(t), slots.release()))

    async def _call(self, group: list) -> None:
        batch = np.stack([image for image, _ in group])
        try:
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self.model, batch)
        except Exception as err:  # the model failed on this batch: every request in it hears why
            for _, future in group:
                if not future.done():
                    future.set_exception(err)
            return
        self.calls += 1
        self.images += len(group)
        for (_, future), result in zip(group, results):
            if not future.done():
                future.set_result(result)
