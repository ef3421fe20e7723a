"""The service's Prometheus metrics (`GET /metrics`, text exposition format), with prometheus-client.

    colorize_requests_total{endpoint, status}       answers by endpoint (predict, colorize, other) and
                                                    HTTP status; 499 counts clients that left first
    colorize_pixels_in_flight, colorize_pixel_budget the budget bounding memory, and its use
    colorize_queue_depth{model}                      images waiting for a model call
    colorize_batch_size{model}                       images per model call (histogram)
    colorize_model_latency_seconds{model}            time of one model call (histogram)
    colorize_dropped_total{reason}                   images dropped before the model: timeout, client_gone

Each app has its own registry (several apps in one process do not mix their counts).

Reference:
    Prometheus text exposition format, https://prometheus.io/docs/instrumenting/exposition_formats/;
    prometheus-client, https://prometheus.github.io/client_python/
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

CLIENT_GONE_STATUS = "499"
"""The status recorded for a request whose client disconnected before it was answered (nginx's code)."""
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = CONTENT_TYPE_LATEST


def _endpoint(path: str) -> str:
    """A bounded label for a request path (never the path itself: no label per model or typo)."""
    for verb in ("predict", "colorize"):
        if path.endswith(f":{verb}"):
            return verb
    return "other"


class ServiceMetrics:
    """The metrics of one app and the hooks that feed them.

    Args:
        max_batch: the largest batch (the batch-size histogram's last bucket).
    """

    def __init__(self, max_batch: int):
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("colorize_requests", "HTTP requests answered, by endpoint and status (499: the client left first)",
                                ["endpoint", "status"], registry=self.registry)
        self.pixels_in_flight = Gauge("colorize_pixels_in_flight", "Image pixels held now (decoding, queued, in the model, encoding)",
                                      registry=self.registry)
        self.pixel_budget = Gauge("colorize_pixel_budget", "Most image pixels in flight at once", registry=self.registry)
        self.queue_depth = Gauge("colorize_queue_depth", "Images waiting for a model call", ["model"], registry=self.registry)
        buckets = sorted({1, *(2**i for i in range(max_batch.bit_length() + 1) if 2**i <= max_batch), max_batch})
        self.batch_size = Histogram("colorize_batch_size", "Images per model call", ["model"], buckets=buckets, registry=self.registry)
        self.model_latency = Histogram("colorize_model_latency_seconds", "Seconds per model call", ["model"],
                                       buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.dropped = Counter("colorize_dropped", "Images dropped before the model ran, by reason", ["reason"], registry=self.registry)

    def track_budget(self, budget) -> None:
        """Reports `budget` (a `PixelBudget`): its capacity, and its use whenever scraped."""
        self.pixel_budget.set(budget.capacity)
        self.pixels_in_flight.set_function(lambda: budget.in_flight)

    def track_queue(self, model: str, depth) -> None:
        """Reports `depth()` (images queued for `model`) whenever scraped."""
        self.queue_depth.labels(model=model).set_function(depth)

    def observe_batch(self, model: str, size: int, seconds: float) -> None:
        """One model call of `size` images that took `seconds`."""
        self.batch_size.labels(model=model).observe(size)
        self.model_latency.labels(model=model).observe(seconds)

    def observe_dropped(self, reason: str, images: int = 1) -> None:
        self.dropped.labels(reason=reason).inc(images)

    def exposition(self) -> bytes:
        """The text exposition of every metric (the body of `GET /metrics`)."""
        return generate_latest(self.registry)


class StatusCountMiddleware:
    """An ASGI middleware counting every HTTP answer by endpoint and status into `metrics.requests`
    (outside the body limit, so that its 413s count too); a request that ends with no answer
    started (its client left) counts as 499, one that raises as 500.

    Args:
        app: the ASGI app.
        metrics: the `ServiceMetrics`.
    """

    def __init__(self, app, metrics: ServiceMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        status = CLIENT_GONE_STATUS

        async def recording_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = str(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        except Exception:  # answered 500 by the error handler outside this middleware
            if status == CLIENT_GONE_STATUS:
                status = "500"
            raise
        finally:
            self.metrics.requests.labels(endpoint=_endpoint(scope.get("path", "")), status=status).inc()
