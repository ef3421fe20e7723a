"""The service's REST API against a real uvicorn: every endpoint, both request formats, hostile input."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import io
import json
import time

import numpy as np
import pytest
import requests
from PIL import Image

from colorization_tf.serve import ServeConfig, create_app
from tests.serve.conftest import TEST_MAX_PIXELS, TEST_MAX_UPLOAD_BYTES, RunningServer, encode, photo

TIMEOUT = 30


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def lightness(rgb: np.ndarray) -> np.ndarray:
    from skimage.color import rgb2lab

    return rgb2lab(rgb)[..., 0]


def predict(server, body, model="tiny"):
    return requests.post(f"{server.url}/v1/models/{model}:predict", json=body, timeout=TIMEOUT)


def colorize(server, data: bytes, filename="photo.png", model="tiny", **params):
    files = {"file": (filename, data, "application/octet-stream")}
    return requests.post(f"{server.url}/v1/models/{model}:colorize", files=files, params=params, timeout=TIMEOUT)


def assert_error(response, status: int, *words: str):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    message = response.json()["error"]
    for word in words:
        assert word.lower() in message.lower(), message


def test_health_ready_and_model_list(server):
    assert requests.get(f"{server.url}/healthz", timeout=TIMEOUT).json() == {"status": "ok"}
    ready = requests.get(f"{server.url}/readyz", timeout=TIMEOUT)
    assert ready.status_code == 200 and ready.json()["models"] == ["tiny", "tiny_copy"]
    models = requests.get(f"{server.url}/v1/models", timeout=TIMEOUT).json()["models"]
    assert [(m["name"], m["state"]) for m in models] == [("tiny", "AVAILABLE"), ("tiny_copy", "AVAILABLE")]
    assert models[0]["info"]["image_size"] == 16


def test_status_and_metadata_answer_as_tensorflow_serving_does(server):
    status = requests.get(f"{server.url}/v1/models/tiny", timeout=TIMEOUT).json()
    assert status == {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    meta = requests.get(f"{server.url}/v1/models/tiny/metadata", timeout=TIMEOUT).json()
    assert meta["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    signature = meta["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["images"]["dtype"] == "DT_UINT8"
    assert [d["size"] for d in signature["inputs"]["images"]["tensor_shape"]["dim"]] == ["-1"] * 4
    assert signature["outputs"]["rgb"]["dtype"] == "DT_UINT8"
    assert signature["method_name"] == "tensorflow/serving/predict"


def test_predict_b64_rows_returns_same_size_pngs_with_the_inputs_lightness(server):
    images = [photo(48, 64, seed=1), photo(30, 20, seed=2)]
    response = predict(server, {"instances": [{"b64": b64(encode(images[0]))}, {"b64": b64(encode(images[1], "JPEG"))}]})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 2
    first = np.asarray(Image.open(io.BytesIO(base64.b64decode(predictions[0]["b64"]))))
    assert first.shape == (48, 64, 3) and first.dtype == np.uint8
    assert np.abs(lightness(first) - lightness(images[0])).mean() < 0.5  # the full-resolution L is kept
    second = Image.open(io.BytesIO(base64.b64decode(predictions[1]["b64"])))
    assert second.format == "PNG" and second.size == (20, 30)


def test_predict_agrees_with_the_savedmodel_called_in_process(server, tiny_exports):
    from colorization_tf.export import load_colorizer

    image = photo(24, 32, seed=3)
    response = predict(server, {"instances": [image.tolist()]})
    served = np.asarray(response.json()["predictions"][0], np.uint8)
    np.testing.assert_array_equal(served, load_colorizer(tiny_exports[0])(image))


def test_predict_columnar_pixel_lists_and_named_inputs(server):
    batch = np.stack([photo(8, 10, seed=4), photo(8, 10, seed=5)])
    columnar = predict(server, {"inputs": {"images": batch.tolist()}, "signature_name": "serving_default"})
    assert columnar.status_code == 200, columnar.text
    outputs = np.asarray(columnar.json()["outputs"])
    assert outputs.shape == (2, 8, 10, 3) and outputs.min() >= 0 and outputs.max() <= 255
    gray = predict(server, {"instances": [{"images": batch[0, ..., 0].tolist()}]})  # [H][W] gray
    assert np.asarray(gray.json()["predictions"][0]).shape == (8, 10, 3)
    single = predict(server, {"inputs": {"b64": b64(encode(batch[0]))}})
    assert len(single.json()["outputs"]) == 1


def test_colorize_upload_formats_and_side_by_side(server):
    image = photo(40, 50, seed=6)
    for source_format in ("PNG", "JPEG", "WEBP"):
        response = colorize(server, encode(image, source_format), f"x.{source_format.lower()}")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).size == (50, 40)
    for fmt, pil_format in (("jpeg", "JPEG"), ("webp", "WEBP")):
        response = colorize(server, encode(image), "holiday photo.png", format=fmt)
        assert response.headers["content-type"] == f"image/{fmt}"
        assert Image.open(io.BytesIO(response.content)).format == pil_format
        assert f'filename="holiday_photo-colorized.{fmt}"' in response.headers["content-disposition"]
    both = Image.open(io.BytesIO(colorize(server, encode(image), side_by_side="1").content))
    assert both.size == (100, 40)
    left = np.asarray(both)[:, :50].astype(int)
    assert np.abs(left[..., 0] - left[..., 2]).max() <= 1  # the gray half is gray


def test_the_second_model_is_served_too(server):
    response = colorize(server, encode(photo(16, 16)), model="tiny_copy")
    assert response.status_code == 200


def _bomb_png(width: int, height: int) -> bytes:
    """A valid PNG header claiming width x height pixels, with almost no data behind it."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


HOSTILE_UPLOADS = {
    "bomb": (_bomb_png(30000, 30000), 413, "too large"),
    "truncated": (encode(photo(64, 64), "JPEG")[:300], 400, "truncated"),
    "text named .jpg": (b"this is not a photo, just text\n" * 5, 400, "undecodable"),
    "empty": (b"", 400, "empty"),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE_UPLOADS))
def test_hostile_uploads_get_4xx_naming_the_problem(server, kind):
    data, status, word = HOSTILE_UPLOADS[kind]
    assert_error(colorize(server, data, "evil.jpg"), status, "evil.jpg", word)
    assert_error(predict(server, {"instances": [{"b64": b64(data)}]}), status, "instances[0]", word)


@pytest.mark.parametrize(
    "body, words",
    [
        ([], ["JSON object"]),
        ({}, ["exactly one"]),
        ({"instances": [], "inputs": []}, ["exactly one"]),
        ({"instances": []}, ["empty"]),
        ({"instances": "abc"}, ["list"]),
        ({"instances": [42]}, ["instances[0]"]),
        ({"instances": [{"b64": 42}]}, ["base64 string"]),
        ({"instances": [{"b64": "%%%"}]}, ["not valid base64"]),
        ({"instances": [{"jpg": "abc"}]}, ["keys"]),
        ({"instances": [[[1, 2], [3]]]}, ["rectangular"]),
        ({"instances": [[[[1, 2, 3, 4, 5]]]]}, ["channels"]),
        ({"instances": [[[0, 300]]]}, ["0..255"]),
        ({"instances": [[[0.5, 1]]]}, ["integers"]),
        ({"instances": [[["a", "b"]]]}, ["integers"]),
        ({"instances": [[[[[1]]]]]}, ["dimensions"]),
        ({"instances": [[1, 2, 3]]}, ["dimensions"]),
        ({"instances": [[]]}, ["empty list"]),
        ({"instances": [{"b64": b64(encode(photo(8, 8)))}], "signature_name": "other"}, ["signature_name"]),
        ({"instances": [[[0]]], "extra": 1}, ["unexpected keys"]),
    ],
)
def test_wrong_json_shapes_get_400_naming_the_problem(server, body, words):
    assert_error(predict(server, body), 400, *words)


def test_malformed_bodies_limits_and_unknown_models(server):
    url = f"{server.url}/v1/models/tiny:predict"
    assert_error(requests.post(url, data=b"{not json", timeout=TIMEOUT), 400, "not valid JSON")
    assert_error(requests.post(url, data=b"", timeout=TIMEOUT), 400, "empty request body")
    assert_error(requests.post(url, data=b"[" * 200_000, timeout=TIMEOUT), 400, "nested too deeply")
    assert_error(requests.post(url, data=b"\xff\xfe\x00garbage", timeout=TIMEOUT), 400, "JSON")
    big = json.dumps({"instances": [{"b64": "A" * TEST_MAX_UPLOAD_BYTES}]})
    assert_error(requests.post(url, data=big, timeout=TIMEOUT), 413, "too large")
    chunked = requests.post(url, data=iter([b"x" * 2**20] * 3), timeout=TIMEOUT)  # no Content-Length
    assert_error(chunked, 413, "too large")
    assert_error(colorize(server, b"x" * (TEST_MAX_UPLOAD_BYTES + 10)), 413, "too large")
    side = int(TEST_MAX_PIXELS**0.5) + 10
    assert_error(predict(server, {"instances": [[[0] * side] * side]}), 413, "max_pixels")
    # each image within max_pixels, together past it: refused before they all sit decoded in memory
    flat = encode(np.full((int(TEST_MAX_PIXELS**0.5) - 1,) * 2 + (3,), 128, np.uint8))
    assert_error(predict(server, {"instances": [{"b64": base64.b64encode(flat).decode()}] * 3}), 413,
                 "instances[1]", "in total")
    assert_error(predict(server, {"instances": [[[0]]] * 65}), 413, "at most 64")
    assert_error(predict(server, {"instances": [[[0]]]}, model="nope"), 404, "unknown model 'nope'", "tiny")
    assert_error(requests.get(f"{server.url}/v1/models/nope", timeout=TIMEOUT), 404, "unknown model")
    assert_error(requests.get(f"{server.url}/v1/models/nope/metadata", timeout=TIMEOUT), 404, "unknown model")
    assert_error(colorize(server, encode(photo()), model="nope"), 404, "unknown model")
    assert_error(colorize(server, encode(photo()), format="gif"), 400, "format")
    assert_error(colorize(server, encode(photo()), side_by_side="maybe"), 400, "side_by_side")
    no_file = requests.post(f"{server.url}/v1/models/tiny:colorize", data={"file": "text"}, timeout=TIMEOUT)
    assert_error(no_file, 400, "file")
    assert_error(requests.get(f"{server.url}/no/such/page", timeout=TIMEOUT), 404, "Not Found")
    assert requests.get(f"{server.url}/readyz", timeout=TIMEOUT).status_code == 200  # still serving


def test_many_concurrent_clients_are_all_answered_in_shared_batches(server):
    app_service = server.app.state.service
    batcher = app_service.batchers["tiny"]
    calls_before, images_before = batcher.calls, batcher.images
    images = [photo(32, 32, seed=i) for i in range(48)]

    def one(i):
        if i % 2:
            return colorize(server, encode(images[i]), f"{i}.png")
        return predict(server, {"instances": [{"b64": b64(encode(images[i]))}]})

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(one, range(len(images))))
    assert [r.status_code for r in responses] == [200] * len(images)
    for i, response in enumerate(responses):
        data = response.content if i % 2 else base64.b64decode(response.json()["predictions"][0]["b64"])
        result = np.asarray(Image.open(io.BytesIO(data)))
        assert np.abs(lightness(result) - lightness(images[i])).mean() < 0.5  # each answer is its own image
    assert batcher.images - images_before == len(images)
    assert batcher.calls - calls_before < len(images)  # some requests shared a model call


def test_page_and_its_assets_come_from_the_package(server):
    page = requests.get(server.url + "/", timeout=TIMEOUT)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert 'src="/static/app.js"' in page.text and "http" not in page.text.split("<body>")[0].replace("http-equiv", "")
    for asset in ("app.js", "style.css"):
        assert requests.get(f"{server.url}/static/{asset}", timeout=TIMEOUT).status_code == 200
    assert "://" not in requests.get(f"{server.url}/static/app.js", timeout=TIMEOUT).text


def test_a_broken_export_is_reported_not_ready_and_the_others_still_serve(tiny_exports, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "saved_model.pb").write_bytes(b"not a protobuf")
    with RunningServer(create_app([tiny_exports[0], broken]), wait=False) as running:
        deadline = time.monotonic() + 60
        while running.app.state.service.models["broken"].state == "LOADING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert_error(requests.get(f"{running.url}/readyz", timeout=TIMEOUT), 503, "broken")
        status = requests.get(f"{running.url}/v1/models/broken", timeout=TIMEOUT).json()["model_version_status"][0]
        assert status["state"] == "FAILED" and status["status"]["error_code"] == "UNKNOWN" and status["status"]["error_message"]
        assert_error(colorize(running, encode(photo()), model="broken"), 503, "failed to load")
        while running.app.state.service.models["tiny"].state == "LOADING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert colorize(running, encode(photo())).status_code == 200


def test_a_request_outliving_the_timeout_gets_503():
    from colorization_tf.serve.app import Service
    from colorization_tf.serve.codec import RequestError

    service = Service([], ServeConfig(request_timeout_s=0.05))
    with pytest.raises(RequestError) as caught:
        asyncio.run(service.timed(asyncio.sleep(5)))
    assert caught.value.status == 503 and "longer than 0.05 s" in caught.value.message
