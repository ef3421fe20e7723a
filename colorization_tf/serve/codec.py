"""Requests in, images out: uploads and TensorFlow Serving JSON decoded to uint8 pixels, results encoded.

Uploaded and base64 image bytes are decoded by `colorization_tf.data.files.load_image_rgb`, the
same bounded decoder the `colorize` command uses (claimed size checked from the header before any
pixel is decoded; EXIF orientation, 16-bit, palette and alpha handled). Decoding comes in two
steps so that the service can reserve memory in between: `claimed_pixels` / `read_instances` read
only headers and shapes, `decode_image_bytes` / `decode_pending` decode. Every problem raises
`RequestError`, which the app turns into a 4xx `{"error": ...}` answer naming the problem (never a
path on the server).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
import os
import re
import tempfile
import warnings

import numpy as np

from colorization_tf.data.files import PIL_FORMATS, ImageError, load_image_rgb

OUTPUT_FORMATS = {"png": ("PNG", "image/png"), "jpeg": ("JPEG", "image/jpeg"), "webp": ("WEBP", "image/webp")}
"""`:colorize?format=` values -> (PIL format, media type)."""

JPEG_QUALITY = 95
PNG_COMPRESS_LEVEL = 1
"""zlib level of the PNGs served: level 1 encodes several times faster than the default 6, for
files ~10-20% larger."""


SERVER_PATH = re.compile(r"(?<![\w.:/])/(?:[\w.+@-]+/)+[\w.+@-]*")
"""An absolute path of two or more parts ("/tmp/x/y"): what `without_paths` takes out of messages."""


class RequestError(Exception):
    """A request the service refuses, with the HTTP status, a message naming the problem and
    extra response headers (`Retry-After` on a 503)."""

    def __init__(self, message: str, status: int = 400, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or {}


def without_paths(message: str, known: dict[str, str] | None = None) -> str:
    """`message` with the server's paths taken out, so that a client learns nothing of its files.

    Args:
        message: an error message.
        known: path -> what to call it instead (a temp file -> the upload's name); longest first.

    Returns:
        The message with each known path replaced, then any other absolute path as "<path>".
    """
    for path in sorted(known or {}, key=len, reverse=True):
        if path:
            message = message.replace(path, known[path])
    return SERVER_PATH.sub("<path>", message)


def claimed_pixels(data: bytes, max_pixels: int, name: str = "upload") -> int:
    """Width * height an encoded image claims in its header, read without decoding a pixel.

    Args:
        data: the file's bytes.
        max_pixels: largest width * height (413 beyond).
        name: what the error message calls the image.

    Returns:
        The pixel count; 0 when the header is unreadable (decoding then fails at once with the
        decoder's own message, before it allocates anything).

    Raises:
        RequestError: empty file (400), or a claim over `max_pixels` (413).
    """
    from PIL import Image

    if not data:
        raise RequestError(f"{name}: empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as image:
                width, height = image.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise RequestError(f"{name}: too large: {err}", 413) from None
    except Exception:  # not an image (or a broken header): the decoder names the problem
        return 0
    if width * height > max_pixels:
        raise RequestError(f"{name}: too large: {width}x{height} pixels exceeds max_pixels={max_pixels}", 413)
    return max(0, width * height)


def decode_image_bytes(data: bytes, max_pixels: int, name: str = "upload") -> np.ndarray:
    """Encoded image bytes (any format `colorize` reads) -> uint8 RGB `[H, W, 3]`.

    Args:
        data: the file's bytes.
        max_pixels: largest width * height; larger claims are refused from the header.
        name: what the error message calls the image (the upload's file name, "instance 2").

    Raises:
        RequestError: empty, not an image, truncated, too large (413), ...
    """
    if not data:
        raise RequestError(f"{name}: empty file")
    # load_image_rgb reads a path (its size checks need one): hand it the bytes as a private temp file.
    handle, path = tempfile.mkstemp(prefix="colorize-serve-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        return load_image_rgb(path, max_pixels=max_pixels)
    except ImageError as err:
        status = 413 if err.reason.startswith("too large") else 400
        raise RequestError(f"{name}: {without_paths(err.reason, {path: name})}", status) from None
    except Exception as err:  # any other decoder failure is still this image's problem, not the server's
        raise RequestError(f"{name}: undecodable: {type(err).__name__}: {without_paths(str(err), {path: name})}") from None
    finally:
        os.unlink(path)


def decode_b64(value, max_pixels: int, name: str) -> np.ndarray:
    """`{"b64": "..."}`'s string -> uint8 RGB (standard or URL-safe base64, padding optional)."""
    return decode_image_bytes(b64_bytes(value, name), max_pixels, name)


def b64_bytes(value, name: str) -> bytes:
    """`{"b64": "..."}`'s string -> the bytes (standard or URL-safe base64, padding optional)."""
    if not isinstance(value, str):
        raise RequestError(f"{name}: 'b64' must be a base64 string, not {type(value).__name__}")
    text = value.strip().replace("-", "+").replace("_", "/")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError) as err:
        raise RequestError(f"{name}: 'b64' is not valid base64 ({err})") from None
    return data


def _nested_shape(value, name: str) -> tuple[int, ...]:
    """Shape of a rectangular nested list (checked along the first element of each level)."""
    shape = []
    while isinstance(value, list):
        if not value:
            raise RequestError(f"{name}: empty list: an image needs at least one pixel")
        shape.append(len(value))
        if len(shape) > 3:
            raise RequestError(f"{name}: a pixel array has 2 or 3 dimensions ([H][W] or [H][W][C]), found more")
        value = value[0]
    return tuple(shape)


def decode_pixel_list(value, max_pixels: int, name: str) -> np.ndarray:
    """A nested list `[H][W]` or `[H][W][C]` (C 1..4) of integers 0..255 -> uint8 array.

    Raises:
        RequestError: ragged, wrong rank or channel count, non-integers or values outside 0..255,
            more than `max_pixels` pixels.
    """
    shape = _nested_shape(value, name)
    if len(shape) < 2:
        raise RequestError(f"{name}: a pixel array has 2 or 3 dimensions ([H][W] or [H][W][C]), found {len(shape)}")
    if shape[0] * shape[1] > max_pixels:
        raise RequestError(f"{name}: too large: {shape[1]}x{shape[0]} pixels exceeds max_pixels={max_pixels}", 413)
    try:
        array = np.array(value)
    except (ValueError, TypeError, RecursionError) as err:
        raise RequestError(f"{name}: not a rectangular array of numbers ({err})") from None
    if array.shape != shape[: array.ndim] or array.ndim != len(shape) or array.dtype.kind not in "iuf":
        raise RequestError(f"{name}: not a rectangular array of integers 0..255")
    if array.ndim == 3 and not 1 <= array.shape[-1] <= 4:
        raise RequestError(f"{name}: {array.shape[-1]} channels; expected 1 (gray), 3 (RGB) or 4 (RGBA)")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array) & (array == np.round(array))):
        raise RequestError(f"{name}: pixel values must be integers 0..255")
    if array.size and (array.min() < 0 or array.max() > 255):
        raise RequestError(f"{name}: pixel values must be integers 0..255, found {array.min():g}..{array.max():g}")
    array = array.astype(np.uint8)
    return array[..., None] if array.ndim == 2 else array


def decode_instance(value, input_name: str, max_pixels: int, name: str) -> tuple[np.ndarray, bool]:
    """One TF-Serving instance -> (uint8 image, whether it came as b64 bytes): `read_instance`, decoded."""
    pending = read_instance(value, input_name, max_pixels, name)
    return decode_pending(pending, max_pixels), pending.as_b64


def parse_json_body(raw: bytes):
    """A request body's bytes -> the parsed JSON value.

    Raises:
        RequestError: empty, not UTF-8 JSON, or nested too deeply for Python's parser.
    """
    if not raw:
        raise RequestError("empty request body: send a JSON object with 'instances' or 'inputs'")
    try:
        return json.loads(raw)
    except RecursionError:
        raise RequestError("the JSON is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(f"the request body is not valid JSON: {err}") from None


@dataclasses.dataclass
class Pending:
    """One `:predict` instance read but not decoded: its pixel count is known, its pixels are not.

    Attributes:
        name: what errors call it ("instances[2]").
        pixels: width * height (from the header for image bytes, the list's shape for pixels).
        as_b64: it came as `{"b64": ...}` (and its answer goes back as a b64 PNG).
        data: the image bytes, or the nested pixel list.
    """

    name: str
    pixels: int
    as_b64: bool
    data: object


def read_instance(value, input_name: str, max_pixels: int, name: str) -> Pending:
    """One TF-Serving instance -> `Pending` (base64 decoded, header or shape read; no pixel decoded).

    Accepted: `{"b64": ...}`, a nested pixel list, or either wrapped as `{input_name: ...}`.
    """
    if isinstance(value, dict) and set(value) == {input_name}:
        value = value[input_name]
    if isinstance(value, dict):
        if set(value) != {"b64"}:
            raise RequestError(f"{name}: expected {{'b64': ...}}, a pixel list or {{{input_name!r}: ...}}, got keys {sorted(value)}")
        data = b64_bytes(value["b64"], name)
        return Pending(name, claimed_pixels(data, max_pixels, name), True, data)
    if isinstance(value, list):
        shape = _nested_shape(value, name)
        if len(shape) < 2:
            raise RequestError(f"{name}: a pixel array has 2 or 3 dimensions ([H][W] or [H][W][C]), found {len(shape)}")
        if shape[0] * shape[1] > max_pixels:
            raise RequestError(f"{name}: too large: {shape[1]}x{shape[0]} pixels exceeds max_pixels={max_pixels}", 413)
        return Pending(name, shape[0] * shape[1], False, value)
    raise RequestError(f"{name}: expected {{'b64': ...}} or a nested list of pixels, got {type(value).__name__}")


def read_instances(items: list, input_name: str, max_pixels: int, key: str) -> list[Pending]:
    """A request's instances -> `Pending`s, with `max_pixels` bounding their total.

    One by one, each refused from its header when it would take the request past `max_pixels` in
    all: a request of many small-file, huge-canvas images (PNGs of one colour compress ~1000x) must
    not hold gigabytes of pixels before the first reaches the model.

    Raises:
        RequestError: as `read_instance`; 413 when the images exceed `max_pixels` together.
    """
    pending, used = [], 0
    for i, item in enumerate(items):
        name, remaining = f"{key}[{i}]", max_pixels - used
        try:
            one = read_instance(item, input_name, remaining, name)
        except RequestError as err:
            if err.status == 413 and remaining < max_pixels:
                raise RequestError(f"{name}: the request's images exceed max_pixels={max_pixels} in total", 413) from None
            raise
        used += one.pixels
        pending.append(one)
    return pending


def decode_pending(pending: Pending, max_pixels: int) -> np.ndarray:
    """A `Pending` instance -> uint8 image (RGB for image bytes; `[H, W, C]` for pixel lists)."""
    if pending.as_b64:
        return decode_image_bytes(pending.data, max_pixels, pending.name)
    return decode_pixel_list(pending.data, max_pixels, pending.name)


def decode_instances(items: list, input_name: str, max_pixels: int, key: str) -> list[tuple[np.ndarray, bool]]:
    """A request's instances -> [(uint8 image, came as b64)]: `read_instances`, then each decoded."""
    return [(decode_pending(p, max_pixels), p.as_b64) for p in read_instances(items, input_name, max_pixels, key)]


def parse_predict_body(body, input_name: str, max_instances: int) -> tuple[str, list]:
    """A `:predict` JSON body -> ("instances" | "inputs", the list of instances, undecoded).

    Row format `{"instances": [...]}`, or columnar `{"inputs": [...]}` / `{"inputs": {input_name: [...]}}`
    (a single `{"b64": ...}` as `inputs` counts as one image); `signature_name` may name `serving_default`.
    """
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object with 'instances' or 'inputs', not {type(body).__name__}")
    signature = body.get("signature_name", "serving_default")
    if signature not in ("serving_default", ""):
        raise RequestError(f"unknown signature_name {signature!r}: this model serves 'serving_default'")
    extra = set(body) - {"instances", "inputs", "signature_name"}
    if extra:
        raise RequestError(f"unexpected keys {sorted(extra)}: send 'instances' or 'inputs'")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("send exactly one of 'instances' (row format) or 'inputs' (columnar format)")
    key = "instances" if "instances" in body else "inputs"
    items = body[key]
    if key == "inputs" and isinstance(items, dict) and set(items) == {input_name}:
        items = items[input_name]
    if key == "inputs" and isinstance(items, dict) and set(items) == {"b64"}:
        items = [items]
    if not isinstance(items, list):
        raise RequestError(f"'{key}' must be a list of images, not {type(items).__name__}")
    if not items:
        raise RequestError(f"'{key}' is empty: send at least one image")
    if len(items) > max_instances:
        raise RequestError(f"'{key}' holds {len(items)} images; at most {max_instances} per request", 413)
    return key, items


def encode_image(rgb: np.ndarray, fmt: str = "png") -> bytes:
    """uint8 RGB -> PNG / JPEG / WebP bytes."""
    from PIL import Image

    pil_format = OUTPUT_FORMATS[fmt][0]
    options = {"compress_level": PNG_COMPRESS_LEVEL} if pil_format == "PNG" else {"quality": JPEG_QUALITY}
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format=pil_format, **options)
    return buffer.getvalue()


def encode_prediction(rgb: np.ndarray, as_b64: bool):
    """One result for a `:predict` answer: `{"b64": PNG}` for b64 requests, else nested uint8 lists."""
    if as_b64:
        return {"b64": base64.b64encode(encode_image(rgb, "png")).decode("ascii")}
    return rgb.tolist()


def side_by_side(rgb_in: np.ndarray, colorized: np.ndarray) -> np.ndarray:
    """gray (the L the model saw) | colorized, as the `colorize --side-by-side` command writes."""
    from colorization_tf.cli import _gray_view

    gray = _gray_view(rgb_in[..., :3] if rgb_in.shape[-1] >= 3 else np.repeat(rgb_in[..., :1], 3, axis=-1))
    return np.concatenate([gray, colorized], axis=1)
