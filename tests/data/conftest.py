"""Shared fixtures for the data tests: a folder of good and deliberately broken image files."""

import struct
import zlib

import numpy as np
import pytest
from PIL import Image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png_bytes(width: int = 40000, height: int = 40000) -> bytes:
    """A ~100-byte PNG whose header claims width x height RGB pixels (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def colourful(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, saturated RGB test image (chroma everywhere)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x / width, y / height, 1 - x / width], -1) * 200 + rng.uniform(0, 40, (height, width, 3))
    return rgb.clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory):
    """Good files (4, one per format) and one broken file per failure reason.

    Returns (folder, {name: expected reason prefix or None}).
    """
    root = tmp_path_factory.mktemp("images")
    expected = {}
    good = colourful()
    Image.fromarray(good).save(root / "good.jpg", quality=92)
    Image.fromarray(good).save(root / "good_upper.PNG")
    Image.fromarray(good).save(root / "good.bmp")
    Image.fromarray(good).convert("P").save(root / "good.gif")
    expected.update({"good.jpg": None, "good_upper.PNG": None, "good.bmp": None, "good.gif": None})

    jpeg_bytes = (root / "good.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(jpeg_bytes[: len(jpeg_bytes) // 2])
    png_bytes = (root / "good_upper.PNG").read_bytes()
    (root / "truncated.png").write_bytes(png_bytes[: len(png_bytes) // 2])
    (root / "empty.jpg").write_bytes(b"")
    (root / "not_an_image.jpg").write_bytes(b"<html>404 not found</html>" * 20)
    Image.fromarray(good[:16, :20]).save(root / "tiny.png")
    gray = (np.linspace(0, 255, 48 * 64).reshape(48, 64)).astype(np.uint8)
    Image.fromarray(np.repeat(gray[..., None], 3, -1)).save(root / "gray_rgb.jpg", quality=90)
    (root / "bomb.png").write_bytes(bomb_png_bytes())
    expected.update(
        {
            "truncated.jpg": "truncated",
            "truncated.png": "truncated",
            "empty.jpg": "empty file",
            "not_an_image.jpg": "undecodable",
            "tiny.png": "too small",
            "gray_rgb.jpg": "grayscale",
            "bomb.png": "too large",
        }
    )
    return root, expected


@pytest.fixture(scope="session")
def make_colourful():
    return colourful


@pytest.fixture(scope="session")
def make_bomb_png():
    return bomb_png_bytes
