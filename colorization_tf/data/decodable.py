"""Which image files the training pipeline's own decoder reads, and which files are known to.

PIL and TensorFlow disagree on damaged files: a BMP with bytes inserted before its pixels, or a GIF
with a broken block, is read by PIL and refused by `tf.io.decode_image`. A scan or a dataset builder
that trusted PIL alone would lay out files that the tf.data pipeline then drops. This module is the
one place that asks the pipeline's decoder (`decode.decode_image_bounded`, the same bounded header
check and decode) about a file, and remembers the answer:

- `decode_error(path)`: why the pipeline cannot decode a file, or None (a full-size decode; the
  pipeline's DCT-scaled JPEG decodes read the same entropy-coded data, so they fail alike);
  `scan_error(path)` skips files already known to decode;
- `mark_decodable(paths)` / `all_decodable(paths)`: files checked in this process (by
  `files.scan_images`), keyed by size and modification time so that a changed file is checked again;
  files of a folder that `datasets/prepare.py` completed (its `prepare.json`, written last, says
  every file was checked, and no file is newer than it) count as checked too;
- `DropReport`: the pipeline's record of files it dropped anyway; each is named once in a warning
  (`name_dropped`), or, in the portable pipelines that tf.data service workers run, by a TensorFlow
  print on the worker that drops it (`load_each_or_name_it`).

A dataset whose files are all known to decode has a known length (`pipeline.build_dataset` asserts
it), so Keras shows `13/13` with an ETA from the first epoch.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import Sequence

import tensorflow as tf

from colorization_tf import console
from colorization_tf.data.decode import decode_image_bounded
from colorization_tf.data.limits import MAX_PIXELS

log = logging.getLogger("colorization_tf.data")

PREPARED_MARKER = "prepare.json"
"""The file `datasets/prepare.py` writes last in a prepared folder (its completion marker)."""

DECODER_CHECKED_KEY = "decoder_checked"
"""Key of `PREPARED_MARKER` that is true when every laid-out file was decoded by the pipeline's decoder."""

_OP_PREFIX = re.compile(r"^(\{\{[^}]*\}\}\s*)+")
_NODE_SUFFIX = re.compile(r"\s*\[Op:[^\]]*\].*$")
_ASSERTION = re.compile(r"assertion failed: \[([^\]]*)\]")
_FRAME_LINES = ("[[", "File ", "Detected at node", "Graph execution error")
_known: dict[str, tuple[int, int]] = {}
_known_lock = threading.Lock()


def _message(err: tf.errors.OpError) -> str:
    """The op's own reason on one line: without the "Graph execution error" frame, the traceback of
    where the node was defined, the `[[{{node ...}}]]` annotations and the `{{function_node ...}}` prefix."""
    reasons = []
    for line in str(err.message or err).splitlines():
        line = _OP_PREFIX.sub("", line.strip())
        line = _NODE_SUFFIX.sub("", line).strip()
        if line and not line.startswith(_FRAME_LINES):
            reasons.append(line)
    if not reasons:
        return type(err).__name__
    assertion = _ASSERTION.match(reasons[-1])  # tf.debugging.assert_*: keep its message, not the values
    return (assertion.group(1) if assertion else reasons[-1]).rstrip(" .;:")


@functools.cache
def _decoder(max_pixels: int):
    @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
    def decode(path):
        return tf.shape(decode_image_bounded(tf.io.read_file(path), max_pixels=max_pixels))

    return decode


def decode_error(path, max_pixels: int = MAX_PIXELS) -> str | None:
    """Decodes `path` with the training pipeline's decoder (full size); returns why it failed, or None.

    Args:
        path: an image file.
        max_pixels: the pipeline's bounded-decoding limit.

    Returns:
        None if the pipeline reads the file, else TensorFlow's reason on one line (e.g. "Input size
        should match (header_size + row_size * abs_height) but they differ by 17").
    """
    error = None
    with console.captured_stderr() as libjpeg:  # its "Corrupt JPEG data: ..." lines join the reason
        try:
            _decoder(int(max_pixels))(os.fspath(path))
        except tf.errors.OpError as err:
            error = _message(err)
    said = " ".join(console.without_tf_log_lines(libjpeg.text).split())
    if error is not None and said:
        return f"{error} (libjpeg: {said})"
    if said:
        log.debug("%s decodes, though libjpeg said: %s", path, said)
    return error


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def mark_decodable(paths: Sequence) -> None:
    """Records that the pipeline's decoder read these files (as they are now: size and mtime)."""
    stamps = {os.fspath(p): _stamp(os.fspath(p)) for p in paths}
    with _known_lock:
        _known.update({p: s for p, s in stamps.items() if s is not None})


@functools.lru_cache(maxsize=256)
def _prepared_marker_mtime(folder: str, marker_stamp: tuple[int, int] | None) -> int | None:
    """mtime of a prepared folder's completion marker if it records a decoder check, else None."""
    if marker_stamp is None:
        return None
    try:
        info = json.loads(Path(folder, PREPARED_MARKER).read_text())
    except (OSError, ValueError):
        return None
    return marker_stamp[1] if isinstance(info, dict) and info.get(DECODER_CHECKED_KEY) is True else None


def _prepared_covers(path: str, stamp: tuple[int, int]) -> bool:
    """True if `path` lies in a completed prepared folder (OUT/<class>/<file>) and is not newer than its marker."""
    for folder in (os.path.dirname(path), os.path.dirname(os.path.dirname(path))):
        marker = _prepared_marker_mtime(folder, _stamp(os.path.join(folder, PREPARED_MARKER)))
        if marker is not None:
            return stamp[1] <= marker
    return False


def _known_unchanged(path: str, stamp: tuple[int, int]) -> bool:
    with _known_lock:
        return _known.get(path) == stamp


def scan_error(path, max_pixels: int = MAX_PIXELS) -> str | None:
    """`decode_error`, skipped for a file already known to decode and unchanged since (a second scan
    of the same folder in one process costs a `stat` per file)."""
    path = os.fspath(path)
    stamp = _stamp(path)
    if stamp is not None and _known_unchanged(path, stamp):
        return None
    return decode_error(path, max_pixels)


def all_decodable(paths: Sequence) -> bool:
    """True if every file is known to decode in the pipeline: checked in this process
    (`mark_decodable`, file unchanged since) or laid out by a completed `datasets/prepare.py` run."""
    for path in map(os.fspath, paths):
        stamp = _stamp(path)
        if stamp is None:
            return False
        if not _known_unchanged(path, stamp) and not _prepared_covers(path, stamp):
            return False
    return True


class DropReport:
    """Files the pipeline dropped (could not read or decode): counted, and each named once in a warning.

    Args:
        paths: the pipeline's files, in dataset order (element i is `paths[i]`).
        max_pixels: the pipeline's limit, to say why a file failed.

    Attributes:
        dropped: path -> reason, in the order they were found.
    """

    def __init__(self, paths: Sequence[str], max_pixels: int = MAX_PIXELS):
        self.paths = [os.fspath(p) for p in paths]
        self.max_pixels = int(max_pixels)
        self.dropped: dict[str, str] = {}
        self._lock = threading.Lock()

    def report(self, first: int, stop: int) -> None:
        """Elements `first` .. `stop - 1` were dropped: warns once per file (called from the pipeline)."""
        for index in range(int(first), int(stop)):
            path = self.paths[index]
            with self._lock:
                if path in self.dropped:
                    continue
                self.dropped[path] = "…"
            reason = decode_error(path, self.max_pixels) or "failed in the pipeline"
            with self._lock:
                self.dropped[path] = reason
                count = len(self.dropped)
            log.warning("Skipped %s: %s (%d of %d files dropped so far)", path, reason, count, len(self.paths))


def name_dropped(dataset, report: DropReport):
    """`(index, *element)` after `ignore_errors` -> `element`, calling `report.report(first, stop)`
    for every run of missing indices (a sentinel index `len(report.paths)` closes the stream to catch
    the tail)."""
    total = len(report.paths)
    sentinel = tuple(tf.zeros(spec.shape, spec.dtype) for spec in dataset.element_spec)
    dataset = dataset.concatenate(tf.data.Dataset.from_tensors((tf.constant(total, tf.int64), *sentinel[1:])))

    def with_previous(previous, element):
        return element[0], (previous, *element)

    def check(previous, index, *element):
        reported = tf.cond(
            index - previous > 1,
            lambda: tf.py_function(lambda a, b: report.report(a, b) or 0, [previous + 1, index], tf.int64),
            lambda: tf.constant(0, tf.int64),
        )
        with tf.control_dependencies([reported]):
            return (tf.identity(index), *element)

    dataset = dataset.scan(tf.constant(-1, tf.int64), with_previous).map(check)
    dataset = dataset.filter(lambda index, *element: index < total)
    return dataset.map(lambda index, *element: element if len(element) > 1 else element[0])


def load_each_or_name_it(dataset, load, num_parallel_calls):
    """`(index, path[, label])` -> the loaded element, in plain TensorFlow ops (the pipelines' `portable`).

    Each file is loaded in a one-element dataset of its own whose errors are ignored, followed by a
    "dropped" marker: the first element says whether it loaded, so a failed file is named (a
    TensorFlow print to the standard error of the process that loads it) by itself, wherever the
    tf.data service hands it, and no known length is asserted (each data worker sees a share).
    """

    def one(index, path, *label):
        loaded = tf.data.Dataset.from_tensors((path, *label)).map(load).ignore_errors()
        loaded = loaded.map(lambda *element: (tf.constant(True), path, element))
        blank = tf.nest.map_structure(lambda spec: tf.zeros(spec.shape, spec.dtype), loaded.element_spec[2])
        return loaded.concatenate(tf.data.Dataset.from_tensors((tf.constant(False), path, blank))).take(1)

    def name_if_dropped(ok, path, element):
        named = tf.cond(ok, lambda: tf.constant(True), lambda: _print_dropped(path))
        with tf.control_dependencies([named]):
            return tf.identity(ok), element

    dataset = dataset.interleave(one, cycle_length=4, num_parallel_calls=num_parallel_calls, deterministic=True)
    dataset = dataset.map(name_if_dropped).filter(lambda ok, element: ok)
    return dataset.map(lambda ok, element: element if len(element) > 1 else element[0])


def _print_dropped(path) -> tf.Tensor:
    with tf.control_dependencies([tf.print("colorization_tf.data: skipped (unreadable or undecodable):", path,
                                           output_stream=sys.stderr)]):
        return tf.constant(False)


__all__ = [
    "PREPARED_MARKER",
    "DECODER_CHECKED_KEY",
    "decode_error",
    "scan_error",
    "mark_decodable",
    "all_decodable",
    "DropReport",
    "name_dropped",
    "load_each_or_name_it",
]
