"""The colorization service: TensorFlow Serving's REST API, an upload endpoint and a browser page.

    colorize-serve --model saved_models/demo_iizuka --port 8501     # or python -m colorization_tf.serve

Modules: `batching` (loaded exports and server-side batching of concurrent requests), `codec`
(decoding uploads and TF-Serving JSON, encoding results), `budget` (the pixels in flight that
bound the server's memory: load shed with 503 + Retry-After), `metrics` (Prometheus `/metrics`),
`limits` (the body size limit), `app` (the FastAPI application), `cli` (the console command),
`static/` (the page, served from the package: no CDN).
FastAPI, uvicorn, python-multipart and prometheus-client come with the `[serve]` extra.

Reference:
    Menon & Talukdar 2021 (their U-Net deployed behind a REST API with a browser front end);
    TensorFlow Serving's RESTful API (https://www.tensorflow.org/tfx/serving/api_rest).
"""

from __future__ import annotations

from colorization_tf.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]


def create_app(model_paths, config: ServeConfig | None = None):
    """The FastAPI application serving `model_paths` (see `colorization_tf.serve.app.create_app`)."""
    from colorization_tf.serve.app import create_app as _create_app

    return _create_app(model_paths, config)
