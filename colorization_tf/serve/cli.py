"""The `colorize-serve` console command (also `python -m colorization_tf.serve`).

    colorize-serve                                   # the model shipped with the package
    colorize-serve --model saved_models/demo_iizuka [--model saved_models/other] --host 127.0.0.1 --port 8501

Loads each export once (its folder name is its model name), warms it up and serves until stopped;
SIGTERM or SIGINT (Ctrl-C) stops accepting connections, lets in-flight requests finish (up to
`--graceful-timeout` seconds) and exits 0.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import sys
from pathlib import Path

from colorization_tf.cli import EXIT_OK, EXIT_USAGE, parse_args_or_status
from colorization_tf.serve import config as defaults


def _positive(kind, minimum=None):
    """An argparse type: a finite number above 0 (or at least `minimum`)."""

    def parse(text: str):
        try:
            value = kind(text)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"not a number: {text}") from None
        if not math.isfinite(value) or (value < minimum if minimum is not None else value <= 0):
            raise argparse.ArgumentTypeError(f"must be {'at least ' + str(minimum) if minimum is not None else 'positive'} and finite, not {text}")
        return value

    return parse


def _fraction(text: str) -> float:
    value = _positive(float)(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"a fraction is in (0, 1], not {text}")
    return value


def _port(text: str) -> int:
    value = _positive(int, minimum=0)(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize-serve",
        description="Serve exported colorization SavedModels: TensorFlow Serving's REST API, an upload endpoint and a page at /.",
    )
    parser.add_argument("--model", "-m", action="append", default=None, metavar="DIR",
                        help="an export folder (repeatable; its name is the model's name; default: the model shipped with the package)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=_port, default=8501, help="port (default: %(default)s, TensorFlow Serving's REST port)")
    parser.add_argument("--max-batch", type=_positive(int), default=defaults.DEFAULT_MAX_BATCH, help="most images per model call (default: %(default)s)")
    parser.add_argument("--max-wait-ms", type=_positive(float, minimum=0.0), default=defaults.DEFAULT_MAX_WAIT_MS, help="longest wait for a batch to fill (default: %(default)s)")
    parser.add_argument("--model-workers", type=_positive(int), default=2, help="model calls in flight at once, per model (default: %(default)s)")
    parser.add_argument("--decode-workers", type=_positive(int), default=2, help="threads decoding and encoding images (default: %(default)s)")
    parser.add_argument("--max-upload-mb", type=_positive(float), default=defaults.DEFAULT_MAX_UPLOAD_BYTES / 2**20, help="largest request body, MiB (default: %(default)s)")
    parser.add_argument("--max-pixels", type=_positive(int), default=defaults.DEFAULT_MAX_PIXELS, help="largest image, width * height (default: %(default)s)")
    parser.add_argument("--timeout", type=_positive(float), default=defaults.DEFAULT_REQUEST_TIMEOUT_S, help="seconds before a request gets 503 (default: %(default)s)")
    parser.add_argument("--max-pixels-in-flight", type=_positive(int), default=None, metavar="PIXELS",
                        help="budget of image pixels held at once (decoding, queued, in the model); a request that does not fit "
                             "gets 503 + Retry-After before it is decoded (default: --memory-fraction of this machine's memory)")
    parser.add_argument("--memory-fraction", type=_fraction, default=defaults.DEFAULT_MEMORY_FRACTION,
                        help="share of memory the default pixel budget takes, at %d bytes per pixel (default: %%(default)s)" % defaults.BYTES_PER_PIXEL_IN_FLIGHT)
    parser.add_argument("--retry-after", type=_positive(int), default=defaults.DEFAULT_RETRY_AFTER_S, metavar="SECONDS",
                        help="Retry-After of a 503 for a full budget (default: %(default)s)")
    parser.add_argument("--graceful-timeout", type=_positive(float), default=30.0, help="seconds in-flight requests get at shutdown (default: %(default)s)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the server until SIGTERM/SIGINT; returns the exit status (0, or 2 for a usage error)."""
    args = parse_args_or_status(build_parser(), argv)
    if isinstance(args, int):
        return args
    if not args.model:
        from colorization_tf.pretrained import DEFAULT_MODEL

        args.model = [str(DEFAULT_MODEL)]
    for folder in args.model:
        if not (Path(folder) / "saved_model.pb").is_file():
            print(f"colorize-serve: error: --model {folder}: not a SavedModel folder (no saved_model.pb)", file=sys.stderr)
            return EXIT_USAGE
    try:
        import uvicorn

        from colorization_tf.serve.app import create_app
    except ImportError as err:
        print(f"colorize-serve: error: {err.name} is missing: pip install 'colorization-tf[serve]'", file=sys.stderr)
        return EXIT_USAGE
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        config = defaults.ServeConfig(
            max_batch=args.max_batch,
            max_wait_ms=args.max_wait_ms,
            model_workers=args.model_workers,
            decode_workers=args.decode_workers,
            max_upload_bytes=int(args.max_upload_mb * 2**20),
            max_pixels=args.max_pixels,
            request_timeout_s=args.timeout,
            max_pixels_in_flight=args.max_pixels_in_flight or 0,
            memory_fraction=args.memory_fraction,
            retry_after_s=args.retry_after,
        )
        app = create_app(args.model, config)
    except ValueError as err:
        print(f"colorize-serve: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    service = app.state.service
    print(f"colorize-serve: http://{args.host}:{args.port}/ ({', '.join(service.models)}); budget {service.budget.capacity} pixels in flight; "
          "Ctrl-C stops", file=sys.stderr, flush=True)
    server = uvicorn.Server(
        uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=args.graceful_timeout)
    )
    # uvicorn catches SIGTERM/SIGINT, drains, then re-raises the signal under the handler found at
    # start: make that one a no-op for SIGTERM (and catch SIGINT's KeyboardInterrupt) to exit 0.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    return EXIT_OK if server.started else EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
