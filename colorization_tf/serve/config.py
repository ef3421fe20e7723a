"""The service's settings: batching, worker pools and the limits that keep hostile input out."""

from __future__ import annotations

import dataclasses

from colorization_tf.serve.memory import BYTES_PER_PIXEL_IN_FLIGHT, DEFAULT_MEMORY_FRACTION, default_pixel_budget  # noqa: F401

DEFAULT_MAX_UPLOAD_BYTES = 32 * 2**20
DEFAULT_MAX_PIXELS = 25_000_000
"""A 6000x4000 camera photo fits; the signature's float tensors for one such image take ~1.5 GB."""
DEFAULT_MAX_BATCH = 4
DEFAULT_MAX_WAIT_MS = 2.0
DEFAULT_MAX_BATCH_PIXELS = 16_000_000
DEFAULT_REQUEST_TIMEOUT_S = 60.0
DEFAULT_MAX_INSTANCES = 64
DEFAULT_RETRY_AFTER_S = 1
WARMUP_SIDE = 64


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Settings of one server.

    Attributes:
        max_batch: most images in one model call (requests arriving together share one).
        max_wait_ms: how long the first image of a batch waits for company (0: never waits; requests
            queued while the model is busy are batched anyway).
        max_batch_pixels: a batch stops growing once its images hold this many pixels.
        model_workers: model calls in flight at once per model (2 overlaps one batch's model call
            with the decoding and encoding around the other).
        decode_workers: threads decoding uploads and encoding results.
        max_upload_bytes: largest request body (413 beyond).
        max_pixels: largest width * height of one image, checked from the header before decoding.
        max_instances: most images in one `:predict` request.
        request_timeout_s: a request not answered by then gets 503 (0: no limit); its work not yet
            in a model call is dropped.
        max_pixels_in_flight: the budget of image pixels held at once (decoding, queued, in the model,
            encoding); a request that does not fit gets 503 with `Retry-After` before it is decoded.
            0: `memory_fraction` of the machine's memory (`memory.default_pixel_budget`).
        memory_fraction: the share of memory the default budget takes, in (0, 1].
        retry_after_s: the `Retry-After` seconds of a 503 for a full budget.
        warmup: run each model once on a small image before reporting ready.
    """

    max_batch: int = DEFAULT_MAX_BATCH
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_batch_pixels: int = DEFAULT_MAX_BATCH_PIXELS
    model_workers: int = 2
    decode_workers: int = 2
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_instances: int = DEFAULT_MAX_INSTANCES
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S
    max_pixels_in_flight: int = 0
    memory_fraction: float = DEFAULT_MEMORY_FRACTION
    retry_after_s: int = DEFAULT_RETRY_AFTER_S
    warmup: bool = True

    def __post_init__(self):
        for field in ("max_batch", "max_batch_pixels", "model_workers", "decode_workers", "max_upload_bytes", "max_pixels", "max_instances"):
            if getattr(self, field) < 1:
                raise ValueError(f"ServeConfig.{field} must be at least 1, not {getattr(self, field)}")
        for field in ("max_wait_ms", "request_timeout_s", "max_pixels_in_flight", "retry_after_s"):
            if not getattr(self, field) >= 0:
                raise ValueError(f"ServeConfig.{field} must be >= 0, not {getattr(self, field)}")
        if not 0 < self.memory_fraction <= 1:
            raise ValueError(f"ServeConfig.memory_fraction must be in (0, 1], not {self.memory_fraction}")

    def pixel_budget(self) -> int:
        """`max_pixels_in_flight`, or when 0 the default sized from this machine's memory."""
        return self.max_pixels_in_flight or default_pixel_budget(self.memory_fraction)
