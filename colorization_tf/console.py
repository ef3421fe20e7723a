"""Quiet command lines: TensorFlow's own log lines hidden unless asked for, C libraries' stderr caught.

On a CPU machine, importing TensorFlow and starting its devices prints a dozen C++ log lines
(`I0000 ... cudart_stub.cc ... Could not find cuda drivers`, `E0000 ... failed call to cuInit:
... UNKNOWN ERROR (303)`, the oneDNN and CPU-feature notices). Some are written before TensorFlow
reads `TF_CPP_MIN_LOG_LEVEL`, so the level alone does not hide them: `quiet_tensorflow` also
captures file descriptor 2 while TensorFlow is imported and its devices start, and passes on only
the lines that are not such log lines. Every console entry point (`colorize`, the demo,
`datasets/prepare.py`, the experiment scripts) calls it before importing TensorFlow; their
`--verbose` flag brings the logs back.

`captured_stderr` catches what C code writes straight to file descriptor 2 (libjpeg's
"Corrupt JPEG data: ..." warnings while TensorFlow decodes a JPEG), so that a caller can put it in
its report instead of leaving it loose on the console.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading

QUIET_TF_LOG_LEVEL = "3"
"""TF_CPP_MIN_LOG_LEVEL of quiet runs: every C++ log line hidden, errors too. TensorFlow logs harmless
notices at ERROR during ordinary runs (`oneDNN supports DT_HALF only on platforms with AVX-512`,
`NodeDef mentions attribute use_unbounded_threadpool`), and every real failure reaches the user as a
Python exception or as this package's own one-line report."""

VERBOSE_TF_LOG_LEVEL = "0"
"""TF_CPP_MIN_LOG_LEVEL with --verbose: every line."""

TF_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\] "  # absl / TensorFlow C++ log line
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    r"|To enable the following instructions: .*rebuild TensorFlow)"
)
"""A line of TensorFlow's (absl's) C++ logging, as written to stderr."""

_FD2_LOCK = threading.Lock()


def verbose_requested(argv=None) -> bool:
    """True if the command line asks for `--verbose` (read before the parser runs, since TensorFlow's
    log level must be set before TensorFlow is imported)."""
    argv = sys.argv[1:] if argv is None else argv
    return any(arg == "--verbose" or arg.startswith("--verbose=") for arg in argv)


def add_verbose_argument(parser, fit_verbosity: int | None = None) -> None:
    """Adds `--verbose` to an argparse parser: TensorFlow's logs back (pair it with `verbose_requested`).

    Args:
        parser: an `argparse.ArgumentParser`.
        fit_verbosity: for commands that train: `--verbose N` also sets Keras `fit`'s verbosity
            (0 silent, 1 progress bar, 2 one line per epoch), and this is its default; `args.verbose`
            is then that int. None: a plain flag, `args.verbose` a bool.
    """
    if fit_verbosity is None:
        parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log lines too")
    else:
        parser.add_argument(
            "--verbose", nargs="?", type=int, const=fit_verbosity, default=fit_verbosity, metavar="N",
            help=f"show TensorFlow's own log lines too; N: Keras fit verbosity (0, 1, 2; default {fit_verbosity})",
        )


class CapturedText:
    """What `captured_stderr` caught: `.text` (decoded, filled in when the block ends)."""

    text = ""


@contextlib.contextmanager
def captured_stderr():
    """Catches everything written to file descriptor 2 (Python's and C code's) inside the block.

    Process-wide: blocks in other threads wait (a lock), and their writes to stderr while one
    block runs are caught by it too.

    Yields:
        A `CapturedText`; its `.text` holds the output once the block has ended.
    """
    captured = CapturedText()
    with _FD2_LOCK, tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")


def without_tf_log_lines(text: str) -> str:
    """`text` minus TensorFlow's C++ log lines (see `TF_LOG_LINE`)."""
    return "".join(line for line in text.splitlines(keepends=True) if not TF_LOG_LINE.match(line))


def quiet_tensorflow(verbose: bool = False) -> None:
    """Sets TensorFlow's log level and imports it quietly; call before anything imports TensorFlow.

    Quiet (the default): `TF_CPP_MIN_LOG_LEVEL` 3 unless the environment sets it, the start-up log
    lines of the import and of device start-up dropped (anything else written then still reaches
    stderr), Python's `tensorflow` and `absl` loggers at ERROR, and PIL's warnings about damaged
    metadata ("Corrupt EXIF data", "Tag data larger than file") hidden: such a file still decodes,
    or fails with its own one-line error. Verbose: level 0 and nothing hidden. Once TensorFlow is
    imported, only the Python loggers can still change.

    Args:
        verbose: show TensorFlow's logs (a command's `--verbose`).
    """
    if verbose:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = VERBOSE_TF_LOG_LEVEL
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", QUIET_TF_LOG_LEVEL)
    if "tensorflow" not in sys.modules:  # (importing this module ran the package's oneDNN default first)
        try:
            with captured_stderr() as start_up:
                import tensorflow as tf

                tf.config.list_physical_devices()  # starts the platforms: the cuInit error is logged here
        finally:  # what else was written (a warning, or why the import failed) still reaches stderr
            sys.stderr.write(without_tf_log_lines(start_up.text))
    import logging
    import warnings

    import absl.logging

    absl.logging.set_verbosity(absl.logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")


__all__ = [
    "QUIET_TF_LOG_LEVEL",
    "VERBOSE_TF_LOG_LEVEL",
    "TF_LOG_LINE",
    "verbose_requested",
    "add_verbose_argument",
    "CapturedText",
    "captured_stderr",
    "without_tf_log_lines",
    "quiet_tensorflow",
]
