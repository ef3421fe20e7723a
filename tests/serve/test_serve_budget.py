"""The pixel budget's accounting on every path, work dropped before the model, shutdown, path-free errors."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from colorization_tf.serve import ServeConfig, codec
from colorization_tf.serve.app import Service
from colorization_tf.serve.batching import Batcher, ServedModel
from colorization_tf.serve.budget import BudgetExceeded, PixelBudget, default_pixel_budget
from colorization_tf.serve.codec import RequestError
from colorization_tf.serve.config import BYTES_PER_PIXEL_IN_FLIGHT

WAIT_S = 10


class GatedModel:
    """A stand-in model whose calls wait for `gate`; records the batch shapes it was given."""

    def __init__(self):
        self.gate, self.entered, self.shapes = threading.Event(), threading.Event(), []

    def __call__(self, batch):
        self.shapes.append(batch.shape)
        self.entered.set()
        if not self.gate.wait(WAIT_S):
            raise TimeoutError("the test never opened the gate")
        return np.repeat(batch[..., :1], 3, axis=-1)


async def until(condition, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.005)


def test_reserve_refuses_what_does_not_fit_and_release_gives_it_back():
    budget = PixelBudget(100, retry_after_s=3)
    first = budget.reserve(60)
    assert budget.in_flight == 60
    with pytest.raises(BudgetExceeded) as refused:
        budget.reserve(41)
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "3"}
    assert "60 of 100" in refused.value.message and budget.in_flight == 60  # a refusal takes nothing
    with pytest.raises(RequestError) as never:
        budget.reserve(101)
    assert never.value.status == 413 and "budget of 100" in never.value.message
    with budget.reserve(40):
        assert budget.in_flight == 100
    assert budget.in_flight == 60
    first.release()
    assert budget.in_flight == 0
    with pytest.raises(RuntimeError, match="more times"):
        first.release()


def test_a_reservation_is_given_back_when_its_last_holder_lets_go_even_on_errors():
    budget = PixelBudget(10)
    with pytest.raises(ValueError):
        with budget.reserve(7) as reservation:
            reservation.hold()  # e.g. a pool thread still decoding
            raise ValueError("the request failed")
    assert budget.in_flight == 7 and not reservation.released
    reservation.release()  # the thread finished
    assert budget.in_flight == 0 and reservation.released
    with pytest.raises(RuntimeError, match="released"):
        reservation.hold()


def test_default_budget_is_the_stated_share_of_memory():
    assert default_pixel_budget(0.5, memory_bytes=64 * 2**30) == 32 * 2**30 // BYTES_PER_PIXEL_IN_FLIGHT
    assert default_pixel_budget(1.0, memory_bytes=10) == 1
    assert ServeConfig(max_pixels_in_flight=1234).pixel_budget() == 1234
    assert ServeConfig().pixel_budget() > 0
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="memory_fraction"):
            ServeConfig(memory_fraction=bad)


def _service(**settings) -> Service:
    return Service([], ServeConfig(**settings))


def test_guarded_releases_on_success_error_and_timeout_and_pool_work_holds_until_its_thread_ends():
    service = _service(max_pixels_in_flight=100, request_timeout_s=0.2, decode_workers=1)
    gate = threading.Event()

    async def main():
        await service.start()
        try:
            async def ok(hold):
                return await service.in_pool(lambda: "done", hold=hold)

            assert await service.guarded(50, ok) == "done"
            assert service.budget.in_flight == 0

            async def fails(hold):
                raise RequestError("bad image")

            with pytest.raises(RequestError, match="bad image"):
                await service.guarded(50, fails)
            assert service.budget.in_flight == 0

            async def slow(hold):  # one decode runs past the timeout; the next one is still queued
                return await asyncio.gather(service.in_pool(gate.wait, WAIT_S, hold=hold), service.in_pool(time.sleep, 0, hold=hold))

            with pytest.raises(RequestError) as timed_out:
                await service.guarded(60, slow)
            assert timed_out.value.status == 503 and timed_out.value.headers["Retry-After"]
            assert service.budget.in_flight == 60  # the running decode still holds its memory...
            with pytest.raises(BudgetExceeded):
                await service.guarded(50, ok)
            gate.set()
            await until(lambda: service.budget.in_flight == 0)  # ...until its thread ends
            assert await service.guarded(100, ok) == "done"
        finally:
            gate.set()
            await service.stop()

    asyncio.run(main())


def test_an_image_whose_request_gave_up_is_dropped_from_the_queue_before_the_model():
    """Before: timed-out work stayed queued and ran anyway, its memory held until then."""
    model = GatedModel()
    budget = PixelBudget(1000)

    async def main():
        batcher = Batcher(model, ServeConfig(max_batch=1, model_workers=1, max_wait_ms=0))
        batcher.start()
        try:
            with budget.reserve(16) as first, budget.reserve(36) as second:
                running = asyncio.ensure_future(batcher.submit(np.zeros((4, 4, 3), np.uint8), first))
                await until(model.entered.is_set)
                queued = asyncio.ensure_future(batcher.submit(np.zeros((6, 6, 3), np.uint8), second))
                await until(lambda: batcher.queue_depth == 1)
            assert budget.in_flight == 52  # both requests let go; the images still hold theirs
            queued.cancel()  # its request timed out, or its client left
            await until(lambda: budget.in_flight == 16)  # freed at once, while the model is still busy
            assert batcher.queue_depth == 0 and batcher.dropped == 1
            model.gate.set()
            assert (await running).shape == (4, 4, 3)
            await until(lambda: budget.in_flight == 0)
            await asyncio.sleep(0.05)
            assert model.shapes == [(1, 4, 4, 3)]  # the dropped image never reached the model
        finally:
            model.gate.set()
            await batcher.stop()

    asyncio.run(main())


def test_stopping_does_not_block_the_event_loop_while_a_model_call_finishes():
    """Before: `executor.shutdown(wait=True)` ran on the loop, which froze until the call ended."""
    model = GatedModel()

    async def main():
        batcher = Batcher(model, ServeConfig(max_batch=1, model_workers=1))
        batcher.start()
        call = asyncio.ensure_future(batcher.submit(np.zeros((4, 4, 3), np.uint8)))
        await until(model.entered.is_set)
        ticks = []

        async def tick():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        ticker = asyncio.ensure_future(tick())
        threading.Timer(0.5, model.gate.set).start()
        start = time.monotonic()
        await batcher.stop()
        ticker.cancel()
        await asyncio.gather(call, ticker, return_exceptions=True)
        during = [t for t in ticks if t >= start]
        assert time.monotonic() - start >= 0.4  # stop waited for the call...
        assert len(during) >= 10  # ...while the loop went on

    asyncio.run(main())


def test_decode_errors_and_failed_models_do_not_show_server_paths(monkeypatch, tmp_path):
    def leaky(path, max_pixels):
        raise ValueError(f"cannot read {path} (see /usr/lib/python3/site-packages/PIL/Image.py)")

    monkeypatch.setattr(codec, "load_image_rgb", leaky)
    with pytest.raises(RequestError) as caught:
        codec.decode_image_bytes(b"bytes", 100, "holiday.jpg")
    assert "/" not in caught.value.message and "holiday.jpg" in caught.value.message, caught.value.message
    empty = tmp_path / "secret_folder" / "broken"
    empty.mkdir(parents=True)
    model = ServedModel(empty)
    model.load(warmup=False)
    assert model.state == "FAILED" and model.error
    assert str(tmp_path) not in model.error and "secret_folder" not in model.error, model.error
