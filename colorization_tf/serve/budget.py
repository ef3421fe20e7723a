"""The server's budget of pixels in flight: what bounds its memory however many requests arrive.

Every image the service holds (being decoded, decoded and queued, in a model call, being encoded)
is counted against one `PixelBudget`. A request reserves its pixels, known from the image headers
before anything is decoded, and is refused at once (503 with `Retry-After`) when they do not fit:
load is shed before it costs memory, as TensorFlow Serving's batcher refuses work beyond
`max_enqueued_batches`. The reservation is given back when the last piece of work holding it ends
(the request's answer, a decode still running in a pool thread, a model call), whatever the path:
success, error, timeout or a client that went away.

The default budget is a stated fraction of the machine's memory (`memory.DEFAULT_MEMORY_FRACTION`,
half: the rest is the process itself, its models, request bodies and everything else on the
machine; or of the cgroup's limit in a container), divided by what one pixel costs at its peak.

Reference:
    TensorFlow Serving, batching guide: `max_enqueued_batches` ("the number of batches worth of
    tasks that can be enqueued ... used to bound queueing delay, by turning away requests that
    would take a long time to get to, rather than building up a large backlog"),
    https://github.com/tensorflow/serving/blob/master/tensorflow_serving/batching/README.md
"""

from __future__ import annotations

import threading

from colorization_tf.serve.codec import RequestError
from colorization_tf.serve.config import DEFAULT_RETRY_AFTER_S
from colorization_tf.serve.memory import (  # noqa: F401  (re-exported: the budget's sizing)
    BYTES_PER_PIXEL_IN_FLIGHT,
    CGROUP_MEMORY_LIMITS,
    DEFAULT_MEMORY_FRACTION,
    default_pixel_budget,
    machine_memory_bytes,
)

class BudgetExceeded(RequestError):
    """503 with `Retry-After`: the request's pixels do not fit in what is left of the budget now."""

    def __init__(self, pixels: int, in_flight: int, capacity: int, retry_after_s: int):
        super().__init__(
            f"the server is busy: {pixels} more pixels do not fit in its budget "
            f"({in_flight} of {capacity} pixels in flight); retry after {retry_after_s} s",
            503,
            headers={"Retry-After": str(retry_after_s)},
        )


class Reservation:
    """Pixels taken from a `PixelBudget`, given back once every holder has let go.

    The request holds it first; work that may outlive the request (a pool thread, a queued image)
    takes its own hold with `hold()` and lets go with `release()`. Also a context manager: leaving
    the `with` block releases the first hold, on every path.
    """

    def __init__(self, budget: PixelBudget, pixels: int):
        self.budget = budget
        self.pixels = pixels
        self._holders = 1

    @property
    def released(self) -> bool:
        """True once every hold was released and the pixels are back in the budget."""
        return self._holders == 0

    def hold(self) -> Reservation:
        """One more holder (released by its own `release()`); returns self."""
        with self.budget._lock:
            if self._holders == 0:
                raise RuntimeError("a released reservation cannot be held again")
            self._holders += 1
        return self

    def release(self) -> None:
        """Lets go of one hold; the last one gives the pixels back. Extra calls are errors."""
        with self.budget._lock:
            if self._holders == 0:
                raise RuntimeError("reservation released more times than it was held")
            self._holders -= 1
            if self._holders == 0:
                self.budget._in_flight -= self.pixels

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


class PixelBudget:
    """A thread-safe count of pixels in flight against a fixed capacity.

    Args:
        capacity: most pixels in flight at once.
        retry_after_s: the `Retry-After` seconds of a refusal.
    """

    def __init__(self, capacity: int, retry_after_s: int = DEFAULT_RETRY_AFTER_S):
        if capacity < 1:
            raise ValueError(f"a pixel budget holds at least 1 pixel, not {capacity}")
        self.capacity = int(capacity)
        self.retry_after_s = int(retry_after_s)
        self._in_flight = 0
        self._lock = threading.Lock()

    @property
    def in_flight(self) -> int:
        """Pixels reserved now."""
        return self._in_flight

    def reserve(self, pixels: int) -> Reservation:
        """Takes `pixels` from the budget, or refuses at once.

        Raises:
            RequestError: 413 when `pixels` exceed the whole budget (they never fit).
            BudgetExceeded: 503 with `Retry-After` when they do not fit now.
        """
        pixels = int(pixels)
        if pixels > self.capacity:
            raise RequestError(f"too large: {pixels} pixels exceed the server's budget of {self.capacity} pixels in flight", 413)
        with self._lock:
            if self._in_flight + pixels > self.capacity:
                raise BudgetExceeded(pixels, self._in_flight, self.capacity, self.retry_after_s)
            self._in_flight += pixels
        return Reservation(self, pixels)
