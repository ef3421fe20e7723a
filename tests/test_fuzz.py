"""Fuzzing every reader of untrusted bytes: a fixed-seed run of `tools/fuzz.py`'s targets under hypothesis
(header parsers, bounded decoder, `load_image_rgb`, the unusable-image scan, the tf.data decode map, an
export's serving signature), the seed corpus format by format, and the bugs the fuzzer found."""

import gc
import importlib.util
import random
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from colorization_tf.data import decode, files, pipeline

REPO = Path(__file__).resolve().parents[1]


def _tool(name):
    spec = importlib.util.spec_from_file_location(f"tools_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fuzz = _tool("fuzz")
corpus = sys.modules["fuzz_corpus"]  # imported by tools/fuzz.py
SEEDS = corpus.seed_corpus()
FIXED = settings(max_examples=300, derandomize=True, deadline=None, database=None, print_blob=True,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HOSTILE_SEEDS = ("claims", "magic_only", "empty", "one_byte", "text", "frame_bigger")
"""Seeds that are not meant to decode (names containing these)."""


@st.composite
def hostile_bytes(draw):
    """Random bytes, a seed as is, a seed with hypothesis's own byte edits, or the fuzzer's mutations."""
    kind = draw(st.sampled_from(["random", "seed", "edits", "mutations", "mutations"]))
    if kind == "random":
        return draw(st.binary(max_size=64))
    data = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]
    if kind == "edits" and data:
        edited = bytearray(data[: draw(st.integers(0, len(data)))] if draw(st.booleans()) else data)
        for offset, value in draw(st.lists(st.tuples(st.integers(0, 63), st.integers(0, 255)), max_size=4)):
            if offset < len(edited):
                edited[offset] = value
        return bytes(edited)
    if kind == "mutations":
        return corpus.mutate(data, random.Random(draw(st.integers(0, 2**32 - 1))), SEEDS)
    return data


@FIXED
@given(data=hostile_bytes())
def test_file_readers_survive_hostile_bytes(data, tmp_path_factory):
    results = fuzz.check_file(data, tmp_path_factory.mktemp("fuzz", numbered=True) / "input")
    assert set(results) == set(fuzz.FILE_TARGETS)
    crashes = {target: detail for target, (outcome, _, detail) in results.items() if outcome == "crash"}
    assert not crashes


@settings(FIXED, max_examples=60)
@given(spec=st.tuples(
    st.lists(st.sampled_from(fuzz.SERVING_SIDES), min_size=1, max_size=4).map(lambda s: [min(s[0], 2), *s[1:]]),
    st.sampled_from(sorted(set(fuzz.SERVING_DTYPES))),
    st.integers(0, 2**31 - 1),
).map(lambda t: (t[0] + [t[2] % 6], t[1], t[2])))
def test_serving_signature_survives_odd_shapes_and_dtypes(spec, serving_signatures):
    for signature in serving_signatures:
        outcome, _, detail = fuzz.check_serving(signature, spec)
        assert outcome != "crash", detail


@pytest.fixture(scope="module")
def serving_signatures(tmp_path_factory):
    paths = fuzz.make_exports(tmp_path_factory.mktemp("exports"))
    return [tf.saved_model.load(str(p)).signatures["serving_default"] for p in paths]


def test_serving_signature_keeps_valid_odd_sizes(serving_signatures):
    """One pixel, odd sides, gray/gray+alpha/RGBA input: uint8 [N, H, W, 3] back from both exports."""
    for signature in serving_signatures:
        for shape in ([1, 1, 1, 1], [2, 7, 129, 2], [1, 31, 3, 4], [3, 16, 16, 3]):
            assert fuzz.check_serving(signature, (shape, "uint8", 0))[0] == "ok", shape


def test_every_claimed_format_and_variant_loads(tmp_path):
    """Every real seed (JPEG gray/CMYK/progressive/EXIF-rotated, PNG 16-bit/alpha/palette/1-bit, WebP
    lossy/lossless/alpha/animated, BMP palette/RGBA/top-down/OS2, GIF static/animated, TIFF 16-bit/CMYK/LZW/multi-page)
    loads as uint8 RGB; every hostile one is refused with one line naming the file; nothing crashes."""
    for name, data in SEEDS.items():
        results = fuzz.check_file(data, tmp_path / name)
        assert all(outcome != "crash" for outcome, _, _ in results.values()), (name, results)
        expected = "refused" if any(word in name for word in HOSTILE_SEEDS) else "ok"
        assert results["load"][0] == expected, (name, results["load"])
    rotated = files.load_image_rgb(tmp_path / "jpeg_exif_rotated.jpg")
    assert rotated.shape == (56, 40, 3)  # stored 56 wide, 40 high; EXIF orientation 6 turns it upright


def test_tf_data_map_drops_exactly_what_the_decoder_refuses(tmp_path):
    """The pipeline's decode map over the seeds and 150 mutations: never raises, and yields one image per
    file that `decode_image_bounded` accepts at the same size."""
    paths, accepted = [], 0
    for i, (name, data) in enumerate(corpus.fuzz_inputs(len(SEEDS) + 150, seed=7)):
        path = tmp_path / f"{i:04d}"
        path.write_bytes(data)
        paths.append(str(path))
        try:
            decode.decode_image_bounded(tf.constant(data), min_shape=(32, 32))
            accepted += 1
        except tf.errors.InvalidArgumentError:
            pass
    images = list(pipeline.build_image_dataset(paths, 32, num_parallel_calls=2))
    assert len(images) == accepted > 0
    assert all(image.shape == (32, 32, 3) and image.dtype == tf.uint8 for image in images)


def test_fuzz_script_runs_and_counts(tmp_path, capsys):
    """`tools/fuzz.py` itself (worker process, crash/hang accounting, figures), on 60 inputs."""
    assert fuzz.main(["-n", "60", "--seed", "5", "--crashes", str(tmp_path / "crashes")]) == 0
    out = capsys.readouterr().out
    for figure in ("inputs run:   60", "crashes:      0", "hangs (> 2 s): 0", "peak memory:", "time:"):
        assert figure in out, out
    assert not (tmp_path / "crashes").exists()


# --- The bugs the fuzzer found -------------------------------------------------------------------------


@pytest.mark.parametrize("name, header_end", [("png_rgb.png", 24), ("gif_static.gif", 10), ("bmp_24.bmp", 26),
                                              ("webp_lossy.webp", 30), ("webp_lossless.webp", 25)])
def test_short_headers_are_refused_not_unicode_errors(name, header_end):
    """Every prefix of a header: an InvalidArgumentError ("image header truncated"), never the
    UnicodeDecodeError that `tf.strings.substr` past the end of a short file raised eagerly."""
    data = SEEDS[name]
    for length in range(0, 34):
        for call in (decode.image_header_shape, decode.decode_image_bounded):
            try:
                call(tf.constant(data[:length]))
            except tf.errors.InvalidArgumentError:
                pass
    with pytest.raises(tf.errors.InvalidArgumentError, match="image header truncated"):
        decode.image_header_shape(tf.constant(data[: header_end - 1]))
    assert decode.image_header_shape(tf.constant(data[:header_end])).numpy().min() > 0


def test_animated_webp_is_refused_by_the_pipeline_and_loaded_by_pil(tmp_path):
    """TF 2.21's WebP decoder corrupts the heap on an animated WebP (the process aborted): refused first."""
    data = SEEDS["webp_animated.webp"]
    with pytest.raises(tf.errors.InvalidArgumentError, match="animated WebP"):
        decode.decode_image_bounded(tf.constant(data))
    (tmp_path / "anim.webp").write_bytes(data)
    assert files.load_image_rgb(tmp_path / "anim.webp").shape == (24, 32, 3)  # first frame


def test_os2_bmp_header_size_is_read():
    """The 12-byte OS/2 BITMAPCOREHEADER has 16-bit sides (read as 32-bit, 8x4 claimed 1572865 x 262152)."""
    np.testing.assert_array_equal(decode.image_header_shape(tf.constant(SEEDS["bmp_os2_core_header.bmp"])), [4, 8])


def test_16bit_image_converts_in_bounded_memory(tmp_path):
    """A few-KB TIFF may claim ~60 Mpx of 16-bit gray: the conversion took 24 bytes per pixel (float64;
    7 s, 2.4 GB for that file), now at most 12."""
    gray16 = (np.arange(1000 * 2000, dtype=np.uint32) % 65536).astype(np.uint16).reshape(1000, 2000)
    Image.fromarray(gray16).save(tmp_path / "deep.png")
    tracemalloc.start()
    try:
        rgb = files.load_image_rgb(tmp_path / "deep.png")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak / gray16.size <= 12
    np.testing.assert_array_equal(rgb[..., 1], np.round(gray16 / 257.0).astype(np.uint8))


def _gif_frame_extent_reference(data: bytes) -> tuple[int, int]:
    """The GIF block walk in plain Python: the oracle for `decode.gif_frame_extent` (TF ops)."""
    height = width = 0
    size = len(data)
    position = 13 + (3 * 2 ** ((data[10] & 0x07) + 1) if size > 10 and data[10] & 0x80 else 0)

    def skip_sub_blocks(at: int) -> int:
        while at < size and data[at]:
            at += 1 + data[at]
        return at + 1

    while position < size:
        block = data[position]
        if block == 0x21:
            position = skip_sub_blocks(position + 2)
        elif block == 0x2C and position + 10 <= size:
            left, top, frame_width, frame_height = (int.from_bytes(data[position + 1 + 2 * i : position + 3 + 2 * i], "little")
                                                    for i in range(4))
            height, width = max(height, top + frame_height), max(width, left + frame_width)
            flags = data[position + 9]
            position += 10 + (3 * 2 ** ((flags & 0x07) + 1) if flags & 0x80 else 0)
            position = skip_sub_blocks(position + 1)
        else:
            break
    return height, width


def _extent(data: bytes) -> tuple[int, int]:
    return tuple(int(v) for v in decode.gif_frame_extent(tf.constant(data)).numpy())


def test_gif_frames_larger_than_the_screen_are_bounded(tmp_path):
    """TensorFlow sizes a GIF by its largest frame: a header claiming a 4x4 screen let a 300x200 frame (or a
    9000x9000 one, 243 MB from a 60 KB file) through the max_pixels check."""
    data = corpus.gif_screen_smaller_than_frames(300, 200)
    assert _extent(data) == _gif_frame_extent_reference(data) == (200, 300)
    np.testing.assert_array_equal(decode.image_header_shape(tf.constant(data)), [200, 300])
    with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
        decode.decode_image_bounded(tf.constant(data), max_pixels=10_000)
    assert decode.decode_image_bounded(tf.constant(data)).shape == (200, 300, 3)
    (tmp_path / "frames.gif").write_bytes(data)
    assert list(pipeline.build_image_dataset([str(tmp_path / "frames.gif")], 16, max_pixels=10_000)) == []
    for cut in range(len(data)):  # the walk stops where a truncated file ends
        assert _extent(data[:cut]) == _gif_frame_extent_reference(data[:cut]) in ((0, 0), (1, 1), (200, 300))


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(n for n in corpus.seed_corpus() if n.endswith(".gif"))), st.data())
def test_gif_walk_in_tf_ops_agrees_with_the_python_walk_on_mutated_gifs(name, data):
    """The TF-ops walk (which tf.data service workers in other processes can run) against the Python
    oracle, on the corpus GIFs with bytes flipped, cut and inserted."""
    gif = bytearray(corpus.seed_corpus()[name])
    for _ in range(data.draw(st.integers(0, 4))):
        where = data.draw(st.integers(0, len(gif) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            gif[where] ^= 1 << data.draw(st.integers(0, 7))
        elif action == "cut":
            del gif[where:]
            if not gif:
                break
        else:
            gif[where:where] = data.draw(st.binary(min_size=1, max_size=8))
    assert _extent(bytes(gif)) == _gif_frame_extent_reference(bytes(gif))


def test_gif_walk_is_bounded():
    """A GIF of a million 1-byte sub-blocks would take a million steps: refused as unbounded instead."""
    screen = b"GIF89a" + (4).to_bytes(2, "little") * 2 + b"\x00\x00\x00"
    descriptor = b"\x2c" + b"\x00" * 4 + (4).to_bytes(2, "little") * 2 + b"\x00" + b"\x02"
    data = screen + descriptor + b"\x01\x00" * (decode.GIF_WALK_MAX_STEPS + 10) + b"\x00\x3b"
    assert _extent(data) == (2**31, 2**31)
    with pytest.raises(tf.errors.InvalidArgumentError, match="image too large"):
        decode.decode_image_bounded(tf.constant(data))


@pytest.mark.parametrize("name", ["tiff_multipage.tif", "gif_animated.gif", "webp_animated.webp"])
def test_multi_frame_files_are_closed(tmp_path, name):
    """`load_image_rgb` closed the EXIF-transposed copy instead of the opened file: a multi-frame file's
    handle was left to the garbage collector (a ResourceWarning; a leak in a long-running service)."""
    (tmp_path / name).write_bytes(SEEDS[name])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        files.load_image_rgb(tmp_path / name)
        assert files.check_image(tmp_path / name, min_size=1, gray_threshold=0) is None
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
