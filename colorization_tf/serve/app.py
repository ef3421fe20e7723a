"""The FastAPI application: TensorFlow Serving's REST API, the `:colorize` upload endpoint, the page.

Endpoints (OpenAPI at `/openapi.json`):
    GET  /v1/models                     the served models (the page's model list)
    GET  /v1/models/{name}              status, as TensorFlow Serving answers it
    GET  /v1/models/{name}/metadata     the `serving_default` signature
    POST /v1/models/{name}:predict      {"instances": [...]} or {"inputs": ...}; {"b64": ...} image bytes
                                        in, {"b64": PNG} out; or uint8 pixel arrays as nested lists
    POST /v1/models/{name}:colorize     multipart upload (field `file`) -> the colorized image
    GET  /  /healthz  /readyz           the page; alive; ready once every model is loaded and warm
    GET  /metrics                       Prometheus text format (`metrics`)

Every refused request gets a 4xx JSON `{"error": "..."}` naming the problem (413 for too much, 404
for an unknown model), never a path on the server; 503 while a model is loading, and 503 with
`Retry-After` when the request outlives the timeout or when its pixels do not fit in the budget of
pixels in flight (`budget`): that one is answered at once, from the image headers, before anything
is decoded. Work whose request timed out or whose client went away is dropped before the model.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import re
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from colorization_tf.serve import codec
from colorization_tf.serve.batching import AVAILABLE, FAILED, LOADING, MODEL_VERSION, SIGNATURE, Batcher, ServedModel
from colorization_tf.serve.budget import PixelBudget
from colorization_tf.serve.codec import RequestError
from colorization_tf.serve.config import ServeConfig
from colorization_tf.serve.limits import BodyLimitMiddleware
from colorization_tf.serve.metrics import CLIENT_GONE_STATUS, CONTENT_TYPE, ServiceMetrics, StatusCountMiddleware

log = logging.getLogger("colorization_tf.serve")

STATIC_DIR = Path(__file__).parent / "static"
PAGE_CSP = "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; base-uri 'none'"
"""The page loads nothing from elsewhere (no CDN): scripts, styles and images come from this server."""
ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_ERRORS = {
    "4XX": {"description": "refused: the error names the problem", "content": {"application/json": {"schema": ERROR_SCHEMA}}},
    "503": {"description": "model still loading, the request timed out, or the server is busy (with Retry-After)",
            "content": {"application/json": {"schema": ERROR_SCHEMA}}},
}
_JSON_ANY = {"content": {"application/json": {"schema": {"type": "object"}}}}
_IMAGE_OR_PIXELS = {
    "oneOf": [
        {"type": "object", "properties": {"b64": {"type": "string"}}, "required": ["b64"]},
        {"type": "array", "description": "uint8 pixels [H][W] or [H][W][C], C = 1, 3 or 4"},
    ]
}
_PREDICT_REQUEST = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "instances": {"type": "array", "items": _IMAGE_OR_PIXELS},
                    "inputs": {"oneOf": [{"type": "array"}, {"type": "object"}]},
                    "signature_name": {"type": "string"},
                },
            }
        }
    },
}
_PREDICT_RESPONSE = {
    "description": "one result per image: {'b64': PNG} for b64 input, nested uint8 lists [H][W][3] for pixel input",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"predictions": {"type": "array"}, "outputs": {"type": "array"}},
            }
        }
    },
}
_IMAGE_RESPONSE = {
    "description": "the colorized image (gray | colorized with side_by_side)",
    "content": {media: {"schema": {"type": "string", "format": "binary"}} for _, media in codec.OUTPUT_FORMATS.values()},
}


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def _client_gone(receive) -> None:
    """Returns once the client disconnects (the ASGI `http.disconnect` message; uvicorn sends it
    once the body was read, when the connection closes before the answer)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _all_or_none(*awaitables) -> list:
    """`asyncio.gather`, but the first failure cancels the others (no work left running for nothing)."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


def _safe_stem(filename: str | None) -> str:
    stem = Path(filename or "image").stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:80] or "image"


class Service:
    """The models, their batchers, the worker pools, the pixel budget and the metrics of one app."""

    def __init__(self, model_paths, config: ServeConfig):
        self.config = config
        self.models: dict[str, ServedModel] = {}
        for path in model_paths:
            model = ServedModel(path)
            if model.name in self.models:
                raise ValueError(f"two models are named {model.name!r} ({self.models[model.name].path}, {path}): rename one folder")
            self.models[model.name] = model
        self.batchers: dict[str, Batcher] = {}
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.intake: concurrent.futures.ThreadPoolExecutor | None = None
        self.budget = PixelBudget(config.pixel_budget(), config.retry_after_s)
        self.metrics = ServiceMetrics(config.max_batch)
        self.metrics.track_budget(self.budget)

    @property
    def ready(self) -> bool:
        return all(m.state == AVAILABLE for m in self.models.values())

    async def start(self) -> None:
        self.pool = concurrent.futures.ThreadPoolExecutor(self.config.decode_workers, thread_name_prefix="decode")
        # JSON parsing and header reading: never queued behind decodes, so a refusal comes at once
        self.intake = concurrent.futures.ThreadPoolExecutor(self.config.decode_workers, thread_name_prefix="intake")
        for name, model in self.models.items():
            batcher = Batcher(model, self.config, on_batch=functools.partial(self.metrics.observe_batch, name))
            self.batchers[name] = batcher
            self.metrics.track_queue(name, lambda b=batcher: b.queue_depth)
            batcher.start()
        asyncio.get_running_loop().run_in_executor(None, self._load_all)

    def _load_all(self) -> None:
        for model in self.models.values():
            model.load(warmup=self.config.warmup)
            if model.state == AVAILABLE:
                log.info("model %s ready (%s)", model.name, model.path)

    async def stop(self) -> None:
        """Stops the batchers and pools without blocking the event loop (work not started is dropped)."""
        for batcher in self.batchers.values():
            await batcher.stop()
        for pool in (self.pool, self.intake):
            if pool is not None:
                await asyncio.get_running_loop().run_in_executor(None, functools.partial(pool.shutdown, wait=True, cancel_futures=True))

    def model(self, name: str) -> ServedModel:
        """The named model, available; RequestError 404 / 503 otherwise."""
        model = self.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise RequestError(f"unknown model {name!r} (served: {known})", 404)
        if model.state == LOADING:
            raise RequestError(f"model {name!r} is still loading", 503)
        if model.state == FAILED:
            raise RequestError(f"model {name!r} failed to load: {model.error}", 503)
        return model

    async def in_pool(self, fn, *args, hold=None, pool=None):
        """`fn(*args)` on a pool thread (the decoding pool by default).

        Args:
            hold: a `budget.Reservation` held until `fn` returns on its thread, even when the
                caller gave up meanwhile; cancelled before it starts, `fn` never runs.
        """
        if hold is not None:
            hold.hold()
        try:
            future = (pool or self.pool).submit(fn, *args)
        except BaseException:
            if hold is not None:
                hold.release()
            raise
        if hold is not None:
            future.add_done_callback(lambda _: hold.release())
        return await asyncio.wrap_future(future)

    async def answered(self, coro, receive=None):
        """Awaits `coro` unless the request times out (503 with `Retry-After`) or, with `receive`
        (the request's ASGI receive), its client disconnects first (499, which nobody reads);
        either way `coro`'s work is cancelled: what has not reached the model never will."""
        work = asyncio.ensure_future(coro)
        watch = asyncio.ensure_future(_client_gone(receive)) if receive is not None else None
        try:
            await asyncio.wait([t for t in (work, watch) if t is not None], timeout=self.config.request_timeout_s or None,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            if watch is not None:
                watch.cancel()
            if not work.done():
                work.cancel()
                await asyncio.gather(work, return_exceptions=True)
        if not work.cancelled():
            return work.result()
        if watch is not None and watch.done() and not watch.cancelled():
            self.metrics.observe_dropped("client_gone")
            raise RequestError("the client closed the connection", int(CLIENT_GONE_STATUS))
        self.metrics.observe_dropped("timeout")
        raise RequestError(f"the request took longer than {self.config.request_timeout_s:g} s", 503,
                           headers={"Retry-After": str(self.config.retry_after_s)})

    async def timed(self, coro):
        """`answered` without watching the client: `coro`, or 503 once the timeout passes."""
        return await self.answered(coro)

    async def guarded(self, pixels: int, work, receive=None):
        """Reserves `pixels` (or refuses at once: 503 + `Retry-After`, 413 beyond the whole budget),
        then `await work(reservation)` as `answered` does; the reservation is released on every path."""
        with self.budget.reserve(pixels) as reservation:
            return await self.answered(work(reservation), receive)


def create_app(model_paths, config: ServeConfig | None = None) -> FastAPI:
    """The service for the export folders `model_paths` (each folder's name is its model's name).

    Models load in the background once the app starts: `/healthz` answers at once, `/readyz` once
    every model is loaded and warm.

    Args:
        model_paths: export folders written by `colorization_tf.export.export_saved_model`.
        config: batching and limits (default `ServeConfig()`).

    Returns:
        A FastAPI app (run it with uvicorn, or `colorize-serve`).
    """
    config = config or ServeConfig()
    service = Service(model_paths, config)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="colorization-tf",
        version=MODEL_VERSION,
        summary="Colorize photos with exported SavedModels: TensorFlow Serving's REST API plus an upload endpoint.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI would load its scripts from a CDN; /openapi.json is the schema
        redoc_url=None,
    )
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.max_upload_bytes)
    app.add_middleware(StatusCountMiddleware, metrics=service.metrics)

    @app.exception_handler(RequestError)
    async def request_error(request, err: RequestError):
        return _error(err.status, err.message, err.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, err: StarletteHTTPException):
        return _error(err.status_code, str(err.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, err: RequestValidationError):
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'request'}: {e.get('msg', 'invalid')}"
            for e in err.errors()
        )
        return _error(400, f"invalid request: {problems}")

    @app.exception_handler(Exception)
    async def unexpected(request, err: Exception):  # a bug: logged in full, answered without a traceback
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, f"internal error: {type(err).__name__}")

    @app.post("/v1/models/{name}:predict", responses={200: _PREDICT_RESPONSE, **_ERRORS}, openapi_extra={"requestBody": _PREDICT_REQUEST})
    async def predict(name: str, request: Request):
        """TensorFlow Serving's predict: row (`instances`) or columnar (`inputs`) format."""
        model = service.model(name)
        raw = await request.body()

        async def read():  # the pixel count from headers and shapes: nothing decoded yet
            body = await service.in_pool(codec.parse_json_body, raw, pool=service.intake)
            key, items = codec.parse_predict_body(body, model.input_name, config.max_instances)
            return key, await service.in_pool(codec.read_instances, items, model.input_name, config.max_pixels, key, pool=service.intake)

        key, pending = await service.answered(read(), request.receive)
        del raw

        async def work(hold):
            images = await _all_or_none(*(service.in_pool(codec.decode_pending, p, config.max_pixels, hold=hold) for p in pending))
            results = await _all_or_none(*(service.batchers[name].submit(image, hold) for image in images))
            encoded = await _all_or_none(*(service.in_pool(codec.encode_prediction, rgb, p.as_b64, hold=hold) for rgb, p in zip(results, pending)))
            return {"predictions" if key == "instances" else "outputs": list(encoded)}

        return await service.guarded(sum(p.pixels for p in pending), work, request.receive)

    @app.post("/v1/models/{name}:colorize", responses={200: _IMAGE_RESPONSE, **_ERRORS}, response_class=Response)
    async def colorize(
        name: str,
        request: Request,
        file: UploadFile = File(..., description="the photo: JPEG, PNG (16-bit, alpha, palette), WebP, BMP, GIF, TIFF"),
        format: Literal["png", "jpeg", "webp"] = "png",
        side_by_side: bool = False,
    ):
        """Colorizes one uploaded photo; answers the image (same size; gray | colorized with `side_by_side`)."""
        service.model(name)
        data = await file.read()
        label = file.filename or "upload"
        pixels = codec.claimed_pixels(data, config.max_pixels, label)  # the header only: at once, on the loop

        async def work(hold):
            rgb = await service.in_pool(codec.decode_image_bytes, data, config.max_pixels, label, hold=hold)
            colorized = await service.batchers[name].submit(rgb, hold)
            if side_by_side:
                colorized = await service.in_pool(codec.side_by_side, rgb, colorized, hold=hold)
            return await service.in_pool(codec.encode_image, colorized, format, hold=hold)

        content = await service.guarded(pixels, work, request.receive)
        media = codec.OUTPUT_FORMATS[format][1]
        disposition = f'inline; filename="{_safe_stem(file.filename)}-colorized.{format}"'
        return Response(content, media_type=media, headers={"Content-Disposition": disposition})

    @app.get("/v1/models", responses={200: _JSON_ANY})
    async def list_models():
        """The served models with their state and export info."""
        return {
            "models": [
                {"name": m.name, "state": m.state, "error": m.error, "info": {k: m.info[k] for k in ("image_size", "resolution", "head", "normalization") if k in m.info}}
                for m in service.models.values()
            ]
        }

    @app.get("/v1/models/{name}", responses={200: _JSON_ANY, **_ERRORS})
    async def model_status(name: str):
        """TensorFlow Serving's model status."""
        model = service.models.get(name)
        if model is None:
            service.model(name)  # raises the 404
        return {
            "model_version_status": [
                {
                    "version": MODEL_VERSION,
                    "state": model.state,
                    "status": {"error_code": "UNKNOWN" if model.state == FAILED else "OK", "error_message": model.error},
                }
            ]
        }

    @app.get("/v1/models/{name}/metadata", responses={200: _JSON_ANY, **_ERRORS})
    async def model_metadata(name: str):
        """TensorFlow Serving's model metadata: the `serving_default` signature."""
        model = service.model(name)
        return {
            "model_spec": {"name": name, "signature_name": "", "version": MODEL_VERSION},
            "metadata": {"signature_def": {"signature_def": {SIGNATURE: model.signature_def}}},
        }

    @app.get("/healthz", responses={200: _JSON_ANY})
    async def healthz():
        """The process is up and answering."""
        return {"status": "ok"}

    @app.get("/readyz", responses={200: _JSON_ANY, **_ERRORS})
    async def readyz():
        """Ready once every model is loaded and warm (503 before, or if one failed)."""
        if not service.ready:
            waiting = {m.name: m.error or m.state.lower() for m in service.models.values() if m.state != AVAILABLE}
            return _error(503, "not ready: " + ", ".join(f"{k}: {v}" for k, v in waiting.items()))
        return {"status": "ready", "models": sorted(service.models)}

    @app.get("/metrics", include_in_schema=False)
    async def metrics():
        """Prometheus text format: requests by status, pixels in flight, queue depth, batch sizes, model latency."""
        return Response(service.metrics.exposition(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers={"Content-Security-Policy": PAGE_CSP})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            for operation in (op for path in schema["paths"].values() for op in path.values()):
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and parameter["name"] == "name":  # the served models, by name
                        parameter["schema"]["enum"] = sorted(service.models)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
    return app
