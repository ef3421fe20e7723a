"""What an image file may be before this package decodes it: its name, its format and its size.

The one place the file scan (`files`), TensorFlow's bounded decoding (`decode`), the decodable
check (`decodable`) and the pipeline (`pipeline`) take their bounds from; it imports nothing of
the package, so every one of them can depend on it without a circle.

Reference:
    Pillow's decompression-bomb guard (`Image.MAX_IMAGE_PIXELS`), which this bound replaces with
    a refusal before decoding: https://pillow.readthedocs.io/en/stable/reference/Image.html
"""

from __future__ import annotations

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
"""File name endings recognised as images (compared case-insensitively)."""

PIL_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "TIFF", "WEBP")
"""The only PIL decoders any file reaches (PIL's JPEG opener also reads cameras' multi-picture
MPO files). PIL knows dozens more
(EPS runs Ghostscript; PSD, FITS, SGI, ...): bytes from strangers, by upload or in a folder, must not
reach them whatever their name says."""

MAX_PIXELS = 64_000_000
"""Largest width * height decoded (8000 x 8000); bigger claims are refused before decoding."""
