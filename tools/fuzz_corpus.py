"""Seed corpus and byte mutations for `tools/fuzz.py`: real and awkward image files, made in code.

Nothing is downloaded: every seed is drawn with PIL or assembled byte by byte. The seeds cover every
format the `colorize` command claims (JPEG, PNG incl. 16-bit/alpha/palette, WebP, BMP, GIF, TIFF)
in their awkward variants (gray, CMYK, 16-bit, palette with transparency, progressive, animated,
EXIF-rotated, top-down BMP, OS/2 BMP header, multi-page TIFF), headers claiming huge or zero sizes,
a GIF frame larger than its screen, and the degenerate files (empty, one byte, bare magic, text).
`mutate` then truncates, flips bits, inserts junk, overwrites header fields with extreme integers,
swaps magics and splices seeds together.
"""

from __future__ import annotations

import io
import random
import struct
import zlib

import numpy as np
from PIL import Image

EXTREME_INTS = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)
"""Values written over header fields: the edges of 8-, 16- and 32-bit integers."""

HEADER_BYTES = 64
"""Most mutations land in the first bytes, where the headers the parsers read are."""


def _picture(height: int = 40, width: int = 56, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x / width, y / height, 1 - x / width], -1) * 200 + rng.uniform(0, 50, (height, width, 3))
    return rgb.clip(0, 255).astype(np.uint8)


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, bit_depth: int = 8, colour_type: int = 2, rows: bytes | None = None) -> bytes:
    """A PNG assembled by hand (any IHDR, e.g. a huge claimed size or 16-bit RGB, which PIL cannot write)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    if rows is None:
        row = b"\x00" + bytes(range(256)) * (width * channels * bit_depth // 8 // 256 + 1)
        rows = (row[: 1 + width * channels * bit_depth // 8]) * min(height, 64)
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b"")


def _jpeg_with_size(jpeg: bytes, height: int, width: int) -> bytes:
    """Rewrites the frame header (SOF0/SOF2) of a JPEG to claim another size."""
    data = bytearray(jpeg)
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at > 0:
            data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _gif_frame_bigger_than_screen() -> bytes:
    """A 4x4 screen holding one 300x200 frame (decoders must clip or refuse, not overflow)."""
    screen = b"GIF89a" + struct.pack("<HH", 4, 4) + b"\x80\x00\x00" + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHH", 0, 0, 300, 200) + b"\x00"
    # LZW minimum code size 2, then a clear code and stop code only: the rest of the frame is missing.
    return screen + frame + b"\x02\x02\x4c\x01\x00" + b"\x3b"


def gif_screen_smaller_than_frames(width: int = 300, height: int = 200) -> bytes:
    """A GIF whose header claims a 4x4 screen, holding a 1x1 frame and then a width x height one."""

    def parts(w, h):
        image = Image.new("P", (w, h), 0)
        image.putpalette([0, 0, 0, 255, 255, 255])
        data = _save(image, "GIF")
        at = data.index(b"\x2c", 13)  # the image descriptor, after the header and colour table
        return data[:at], data[at:-1]  # (header, frame without the trailer)

    header, first = parts(1, 1)
    second = parts(width, height)[1]
    return header[:6] + struct.pack("<HH", 4, 4) + header[10:] + first + second + b"\x3b"


def _bmp_core_header() -> bytes:
    """An OS/2 BMP (12-byte BITMAPCOREHEADER: 16-bit width and height at 18 and 20), 8x4, 24-bit."""
    width, height = 8, 4
    row = bytes(range(width * 3))
    pixels = row * height
    header = struct.pack("<IHHHH", 12, width, height, 1, 24)
    return b"BM" + struct.pack("<IHHI", 14 + 12 + len(pixels), 0, 0, 26) + header + pixels


def _bmp_top_down(bmp: bytes) -> bytes:
    data = bytearray(bmp)
    height = struct.unpack_from("<i", data, 22)[0]
    struct.pack_into("<i", data, 22, -abs(height))
    return bytes(data)


def _webp_vp8x_claim(width: int, height: int) -> bytes:
    payload = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (
        height - 1
    ).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def _exif_rotated_jpeg(image: Image.Image) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    return _save(image, "JPEG", quality=85, exif=exif.tobytes())


def seed_corpus() -> dict[str, bytes]:
    """name -> file bytes: every claimed format, its awkward variants and hostile headers."""
    rgb = Image.fromarray(_picture())
    small = Image.fromarray(_picture(12, 20, seed=1))
    frames = [Image.fromarray(_picture(24, 32, seed=s)) for s in range(3)]
    gray16 = Image.fromarray(np.arange(40 * 56, dtype=np.uint16).reshape(40, 56) * 29).convert("I;16")
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    jpeg = _save(rgb, "JPEG", quality=90)
    bmp = _save(rgb, "BMP")
    seeds = {
        "jpeg_rgb.jpg": jpeg,
        "jpeg_gray.jpg": _save(rgb.convert("L"), "JPEG"),
        "jpeg_cmyk.jpg": _save(rgb.convert("CMYK"), "JPEG"),
        "jpeg_progressive.jpg": _save(rgb, "JPEG", progressive=True, quality=75),
        "jpeg_subsampled_444.jpg": _save(small, "JPEG", subsampling=0),
        "jpeg_exif_rotated.jpg": _exif_rotated_jpeg(rgb),
        "jpeg_claims_65500x65500.jpg": _jpeg_with_size(jpeg, 65500, 65500),
        "jpeg_claims_0x0.jpg": _jpeg_with_size(jpeg, 0, 0),
        "png_rgb.png": _save(rgb, "PNG"),
        "png_rgba.png": _save(rgb.convert("RGBA"), "PNG"),
        "png_gray_alpha.png": _save(rgb.convert("LA"), "PNG"),
        "png_gray16.png": _save(gray16, "PNG"),
        "png_rgb16.png": png_bytes(20, 6, bit_depth=16, colour_type=2),
        "png_palette_transparent.png": _save(palette, "PNG", transparency=0),
        "png_1bit.png": _save(rgb.convert("1"), "PNG"),
        "png_claims_40000x40000.png": png_bytes(40000, 40000, rows=b"\x00" * 64),
        "png_claims_0x5.png": png_bytes(0, 5, rows=b"\x00" * 5),
        "webp_lossy.webp": _save(rgb, "WEBP", quality=70),
        "webp_lossless.webp": _save(small, "WEBP", lossless=True),
        "webp_alpha.webp": _save(rgb.convert("RGBA"), "WEBP", quality=70),
        "webp_animated.webp": _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=50),
        "webp_claims_16384x16384.webp": _webp_vp8x_claim(16384, 16384),
        "bmp_24.bmp": bmp,
        "bmp_palette.bmp": _save(palette, "BMP"),
        "bmp_32_rgba.bmp": _save(rgb.convert("RGBA"), "BMP"),
        "bmp_top_down.bmp": _bmp_top_down(bmp),
        "bmp_os2_core_header.bmp": _bmp_core_header(),
        "bmp_claims_huge.bmp": bmp[:18] + struct.pack("<ii", 0x7FFFFFFF, 0x7FFFFFFF) + bmp[26:],
        "gif_static.gif": _save(palette, "GIF"),
        "gif_transparent.gif": _save(palette, "GIF", transparency=0),
        "gif_animated.gif": _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0),
        "gif_claims_65535x65535.gif": b"GIF89a" + struct.pack("<HH", 65535, 65535) + _save(small, "GIF")[10:],
        "gif_frame_bigger_than_screen.gif": _gif_frame_bigger_than_screen(),
        "gif_screen_smaller_than_frames.gif": gif_screen_smaller_than_frames(),
        "tiff_rgb.tif": _save(rgb, "TIFF"),
        "tiff_gray16.tif": _save(gray16, "TIFF"),
        "tiff_cmyk.tif": _save(rgb.convert("CMYK"), "TIFF"),
        "tiff_lzw.tif": _save(rgb, "TIFF", compression="tiff_lzw"),
        "tiff_multipage.tif": _save(frames[0], "TIFF", save_all=True, append_images=frames[1:]),
        "empty.png": b"",
        "one_byte.jpg": b"\xff",
        "jpeg_magic_only.jpg": b"\xff\xd8",
        "png_magic_only.png": b"\x89PNG\r\n\x1a\n",
        "gif_magic_only.gif": b"GIF89a",
        "bmp_magic_only.bmp": b"BM",
        "webp_magic_only.webp": b"RIFF\x00\x00\x00\x00WEBP",
        "text.jpg": b"not an image at all\n" * 4,
    }
    return seeds


def _truncate(data: bytes, rng: random.Random, corpus) -> bytes:
    return data[: rng.randrange(len(data) + 1)] if data else data


def _flip_bits(data: bytes, rng: random.Random, corpus) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        limit = min(len(out), HEADER_BYTES) if rng.random() < 0.7 else len(out)
        out[rng.randrange(limit)] ^= 1 << rng.randrange(8)
    return bytes(out)


def _insert_junk(data: bytes, rng: random.Random, corpus) -> bytes:
    at = rng.randrange(len(data) + 1)
    junk = rng.choice((b"\x00" * rng.randint(1, 64), b"\xff" * rng.randint(1, 8), rng.randbytes(rng.randint(1, 256))))
    return data[:at] + junk + data[at:]


def _delete_range(data: bytes, rng: random.Random, corpus) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    return data[:start] + data[start + rng.randint(1, 64) :]


def _extreme_int(data: bytes, rng: random.Random, corpus) -> bytes:
    """Overwrites a 1-, 2- or 4-byte field in the header with an edge value, either byte order."""
    width = rng.choice((1, 2, 4))
    if len(data) < width:
        return data
    at = rng.randrange(min(len(data), HEADER_BYTES) - width + 1)
    value = rng.choice(EXTREME_INTS) & ((1 << (8 * width)) - 1)
    return data[:at] + value.to_bytes(width, rng.choice(("little", "big"))) + data[at + width :]


def _swap_magic(data: bytes, rng: random.Random, corpus) -> bytes:
    """Another format's first bytes on this body (a file named and shaped as one format, parsed as another)."""
    other = corpus[rng.choice(sorted(corpus))]
    cut = rng.choice((2, 4, 8, 12, 16))
    return other[:cut] + data[cut:]


def _splice(data: bytes, rng: random.Random, corpus) -> bytes:
    other = corpus[rng.choice(sorted(corpus))]
    return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]


def _repeat_chunk(data: bytes, rng: random.Random, corpus) -> bytes:
    if not data:
        return data
    start = rng.randrange(len(data))
    chunk = data[start : start + rng.randint(1, 512)]
    return data[:start] + chunk * rng.randint(2, 8) + data[start:]


MUTATIONS = (_truncate, _flip_bits, _insert_junk, _delete_range, _extreme_int, _swap_magic, _splice, _repeat_chunk)


def mutate(data: bytes, rng: random.Random, corpus: dict[str, bytes]) -> bytes:
    """One to three random mutations of `data` (deterministic for a seeded `rng`)."""
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        data = rng.choice(MUTATIONS)(data, rng, corpus)
    return data


def fuzz_inputs(count: int, seed: int = 0):
    """Yields `count` (name, bytes): every seed once, unmodified, then mutations of random seeds."""
    corpus = seed_corpus()
    rng = random.Random(seed)
    names = sorted(corpus)
    for i in range(count):
        if i < len(names):
            yield names[i], corpus[names[i]]
        else:
            name = rng.choice(names)
            yield f"{name}~{i}", mutate(corpus[name], rng, corpus)
