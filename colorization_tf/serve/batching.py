"""Loaded exports and server-side batching: concurrent requests share model calls.

A `ServedModel` is one export folder loaded with plain `tf.saved_model.load` (its folder name is
its model name). Its `Batcher` collects the images of concurrent requests into batches of the
same size (at most `max_batch` images and `max_batch_pixels` pixels, waiting at most `max_wait_ms`
for company) and runs each batch on its own threads (`model_workers` calls at once), so the event
loop never blocks on the model; while batches run, the next one gathers.

An image whose request gave up (timed out, client gone: its `submit` was cancelled) is dropped from
the queue at once, never reaching the model, and lets go of its share of the pixel budget; an
image in a model call holds its share until the call ends (the batch is in memory until then).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import time
from pathlib import Path

import numpy as np

from colorization_tf.serve.codec import without_paths
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
            message = f"{type(err).__name__}: {err}"
            log.error("model %s (%s) failed to load: %s", self.name, self.path, message)
            # the answers name the model, not where it lives on the server
            self.state, self.error = FAILED, without_paths(message, {str(self.path.resolve()): self.name, str(self.path): self.name})

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """uint8 `[N, H, W, C]` -> uint8 `[N, H, W, 3]` through the `serving_default` signature."""
        import tensorflow as tf

        return self._fn(**{self.input_name: tf.constant(batch)})[self.output_name].numpy()


class _Item:
    """One queued image: its future, its hold on the pixel budget, whether a model call took it."""

    __slots__ = ("image", "future", "hold", "taken")

    def __init__(self, image: np.ndarray, future: asyncio.Future, hold):
        self.image, self.future, self.hold, self.taken = image, future, hold, False

    @property
    def pixels(self) -> int:
        return self.image.shape[0] * self.image.shape[1]

    def let_go(self) -> None:
        """Drops the image and releases the hold (once)."""
        self.image = None
        hold, self.hold = self.hold, None
        if hold is not None:
            hold.release()


class Batcher:
    """Groups concurrent single-image requests to one model into shared model calls.

    Args:
        model: the `ServedModel` (any callable uint8 `[N, H, W, C]` -> `[N, H, W, 3]`).
        config: `max_batch`, `max_wait_ms`, `max_batch_pixels`.
        on_batch: called as `on_batch(images, seconds)` after each model call (the metrics).

    Use `start()` inside the event loop, `await submit(image)` per image, `await stop()` at the end.

    Attributes:
        calls, images: model calls made and images colorized; dropped: images dropped before the
        model because their request gave up; queue_depth: images waiting now.
    """

    def __init__(self, model, config: ServeConfig, on_batch=None):
        self.model = model
        self.config = config
        self.on_batch = on_batch
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(config.model_workers, thread_name_prefix=f"model-{getattr(model, 'name', '')}")
        self.calls = 0
        self.images = 0
        self.dropped = 0
        self.queue_depth = 0

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stops batching: queued images are dropped (their requests cancelled), model calls in
        progress finish on their threads while the event loop keeps running."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self._queue is not None and not self._queue.empty():
            self._queue.get_nowait().future.cancel()
        shutdown = functools.partial(self._executor.shutdown, wait=True, cancel_futures=True)
        await asyncio.get_running_loop().run_in_executor(None, shutdown)  # never on the loop itself

    async def submit(self, image: np.ndarray, hold=None) -> np.ndarray:
        """Colorizes one uint8 image `[H, W, C]` in whatever batch it lands in; returns `[H, W, 3]`.

        Args:
            image: the image.
            hold: a `budget.Reservation`; held while the image is queued or in a model call.
        """
        future = asyncio.get_running_loop().create_future()
        item = _Item(image, future, hold.hold() if hold is not None else None)
        future.add_done_callback(functools.partial(self._settled, item))
        self.queue_depth += 1
        self._queue.put_nowait(item)
        return await future

    def _settled(self, item: _Item, future: asyncio.Future) -> None:
        """The request stopped waiting: if it gave up before a model call took its image, drop it."""
        if not item.taken:
            self.queue_depth -= 1
            if future.cancelled():
                self.dropped += 1
            item.let_go()

    async def _get(self, timeout: float | None = None) -> _Item | None:
        """The next live queued item (dropped ones skipped), or None once `timeout` passes."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            if not self._queue.empty():
                item = self._queue.get_nowait()
            elif deadline is not None and deadline - loop.time() <= 0:
                return None
            else:
                try:
                    item = await asyncio.wait_for(self._queue.get(), None if deadline is None else deadline - loop.time())
                except asyncio.TimeoutError:
                    return None
            if item.image is not None and not item.future.done():  # else it gave up: `_settled` lets go
                return item

    async def _gather(self) -> list[_Item]:
        items = [await self._get()]
        pixels = items[0].pixels
        deadline = asyncio.get_running_loop().time() + self.config.max_wait_ms / 1000.0
        while len(items) < self.config.max_batch and pixels < self.config.max_batch_pixels:
            item = await self._get(max(0.0, deadline - asyncio.get_running_loop().time()))
            if item is None:
                break
            items.append(item)
            pixels += item.pixels
        return items

    async def _run(self) -> None:
        slots = asyncio.Semaphore(self.config.model_workers)
        running = set()
        while True:
            groups: dict[tuple, list[_Item]] = {}
            for item in await self._gather():
                groups.setdefault(item.image.shape, []).append(item)
            for group in groups.values():
                await slots.acquire()  # at most `model_workers` calls at once; the next batch gathers meanwhile
                group = [item for item in group if item.image is not None and not item.future.done()]  # gave up meanwhile
                if not group:
                    slots.release()
                    continue
                task = asyncio.get_running_loop().create_task(self._call(group))
                running.add(task)
                task.add_done_callback(lambda t: (running.discard(t), slots.release()))

    async def _call(self, group: list[_Item]) -> None:
        for item in group:
            item.taken = True
        self.queue_depth -= len(group)
        batch = np.stack([item.image for item in group])
        for item in group:
            item.image = None  # the batch is the copy now
        try:
            start = time.perf_counter()
            results = await asyncio.get_running_loop().run_in_executor(self._executor, self.model, batch)
        except Exception as err:  # the model failed on this batch: every request in it hears why
            for item in group:
                if not item.future.done():
                    item.future.set_exception(err)
            return
        finally:
            del batch
            for item in group:
                item.let_go()
        self.calls += 1
        self.images += len(group)
        if self.on_batch is not None:
            self.on_batch(len(group), time.perf_counter() - start)
        for item, result in zip(group, results):
            if not item.future.done():
                item.future.set_result(result)
