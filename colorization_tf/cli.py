"""The `colorize` console command: colorize image files with an exported SavedModel.

    colorize photo.jpg                                   # the shipped model, into colorized/
    colorize photo.jpg old_photos/ "scans/*.tif" --model saved_models/polychromify --out colorized
    colorize old_photos/ -r --model saved_models/resnet_unet --side-by-side --format jpg

Inputs are files, folders (`-r` to descend) or glob patterns; any size and any common format
(JPEG, PNG incl. 16-bit/alpha/palette, WebP, BMP, GIF first frame, TIFF; EXIF orientation
honoured), decoded safely by `colorization_tf.data.files.load_image_rgb`. Same-size images are
batched together. A broken or hostile file (truncated, not an image, a decompression bomb) gets
one error line on stderr naming it and the others are still written.

TensorFlow's own start-up and C++ log lines are hidden (`colorization_tf.console`; `--verbose`
shows them), and no traceback reaches the user: any unexpected error is one line too. The output
folder is `--out`, `--output` or `-o`.

Exit status: 0 all written, 1 some input failed, 2 usage error (bad option, unusable model).

The model is loaded with plain `tf.saved_model.load` and its `serving_default` signature (uint8
images of any size in, uint8 RGB out), so any export of `colorization_tf.export` works.

Reference:
    Menon & Talukdar 2021 (a deployed colorizer behind a simple interface).
"""

from __future__ import annotations

import argparse
import glob
import sys
from pathlib import Path

from colorization_tf.console import add_verbose_argument, quiet_tensorflow
from colorization_tf.fileio import atomic_path, remove_stale_temps

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
OUTPUT_FORMATS = {"png": "PNG", "jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP", "bmp": "BMP", "tif": "TIFF", "tiff": "TIFF"}
JPEG_QUALITY = 95
PENDING_PIXEL_LIMIT = 64_000_000
"""Images waiting for a same-size batch are flushed once they hold this many pixels in total."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="colorize",
        description="Colorize grayscale (or colour) images with an exported colorization model.",
        epilog="Exit status: 0 all images written, 1 some inputs failed, 2 usage error.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    parser.add_argument("--model", "-m", default=None,
                        help="SavedModel folder written by export (default: the model shipped with the package)")
    parser.add_argument("--out", "--output", "-o", dest="out", default="colorized", help="output folder (default: %(default)s)")
    parser.add_argument("--side-by-side", action="store_true", help="write gray | colorized comparisons")
    parser.add_argument("--batch-size", type=_positive_int, default=8, help="images per model call (default: %(default)s)")
    parser.add_argument("--suffix", default="_color", help="appended to each output file name (default: %(default)s)")
    parser.add_argument("--format", default="png", choices=sorted(OUTPUT_FORMATS), help="output format (default: %(default)s)")
    parser.add_argument("--recursive", "-r", action="store_true", help="descend into sub-folders of folder inputs")
    parser.add_argument("--max-pixels", type=_positive_int, default=None, help="largest accepted width*height (default: the loader's)")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    add_verbose_argument(parser)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def expand_inputs(inputs: list[str], recursive: bool = False) -> tuple[list[tuple[Path, Path]], list[tuple[str, str]]]:
    """Resolves files, folders and globs into (file, output-relative path) pairs.

    Args:
        inputs: command-line inputs.
        recursive: descend into sub-folders of folders.

    Returns:
        (found, missing): found = [(file, relative path used for the output name)], in order,
        without duplicates; missing = [(input, reason)] for inputs that matched nothing.
    """
    from colorization_tf.data.files import IMAGE_EXTENSIONS

    found: list[tuple[Path, Path]] = []
    seen: set[Path] = set()
    missing: list[tuple[str, str]] = []

    def add(path: Path, relative: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.append((path, relative))

    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(p for p in path.glob(pattern) if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            for p in files:
                add(p, p.relative_to(path))
        elif path.is_file():
            add(path, Path(path.name))
        else:
            matches = sorted(Path(m) for m in glob.glob(item, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                missing.append((item, "no such file, folder or matching pattern"))
            for p in files:
                add(p, Path(p.name))
    return found, missing


def _output_path(out_dir: Path, relative: Path, suffix: str, fmt: str, taken: set[Path]) -> Path:
    base = out_dir / relative.parent / f"{relative.stem}{suffix}"
    candidate = base.with_name(base.name + f".{fmt}")
    n = 1
    while candidate in taken:
        candidate = base.with_name(f"{base.name}_{n}.{fmt}")
        n += 1
    taken.add(candidate)
    return candidate


def _write_image(array, path: Path, fmt: str) -> None:
    """Writes uint8 RGB atomically (temporary file in the same folder, then os.replace)."""
    from PIL import Image

    options = {"quality": JPEG_QUALITY} if OUTPUT_FORMATS[fmt] in ("JPEG", "WEBP") else {}
    with atomic_path(path, suffix=f".{fmt}") as tmp:
        Image.fromarray(array).save(tmp, format=OUTPUT_FORMATS[fmt], **options)


class _Model:
    """The `serving_default` signature of a SavedModel, called on uint8 batches."""

    def __init__(self, path: str):
        import tensorflow as tf

        self._tf = tf
        self._loaded = tf.saved_model.load(path)
        if "serving_default" not in self._loaded.signatures:
            raise ValueError(f"{path}: the SavedModel has no 'serving_default' signature")
        self._fn = self._loaded.signatures["serving_default"]
        self._input = next(iter(self._fn.structured_input_signature[1]))

    def __call__(self, batch):
        out = self._fn(**{self._input: self._tf.constant(batch)})
        out = out["rgb"] if "rgb" in out else next(iter(out.values()))
        return out.numpy()


def _gray_view(rgb):
    """The L channel shown as a gray RGB image (what the model sees)."""
    import tensorflow as tf

    from colorization_tf import color

    l = color.lightness(rgb)
    gray = color.lab_to_rgb(color.join_lab(l, tf.zeros_like(tf.concat([l, l], axis=-1))))
    return tf.cast(tf.round(gray * 255.0), tf.uint8).numpy()


def parse_args_or_status(parser: argparse.ArgumentParser, argv: list[str] | None):
    """`parser.parse_args(argv)`, or the exit status instead of argparse's SystemExit (0 for --help, 2 for a usage error)."""
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        return EXIT_USAGE if exit_.code not in (0, None) else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Runs the command; returns the exit status (0 ok, 1 some input failed, 2 usage error)."""
    args = parse_args_or_status(build_parser(), argv)
    if isinstance(args, int):
        return args
    try:
        return _colorize(args)
    except KeyboardInterrupt:
        print("colorize: interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as err:  # noqa: BLE001 -- no traceback reaches the user: one line instead
        print(f"colorize: error: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
        return EXIT_FAILED


def _colorize(args) -> int:
    """`main` after parsing: the exit status."""
    if args.model is None:
        from colorization_tf.pretrained import DEFAULT_MODEL

        args.model = str(DEFAULT_MODEL)
    model_dir = Path(args.model)
    if not (model_dir / "saved_model.pb").is_file():
        print(f"colorize: error: --model {args.model}: not a SavedModel folder (no saved_model.pb)", file=sys.stderr)
        return EXIT_USAGE

    quiet_tensorflow(args.verbose)
    import numpy as np
    from tqdm import tqdm

    from colorization_tf.data.files import ImageError, load_image_rgb

    found, missing = expand_inputs(args.inputs, args.recursive)
    failures = 0

    def fail(name, reason) -> None:
        nonlocal failures
        failures += 1
        tqdm.write(f"colorize: error: {name}: {_one_line(reason)}", file=sys.stderr)

    for item, reason in missing:
        fail(item, reason)
    if not found:
        if not missing:
            print("colorize: error: no image files found in the inputs", file=sys.stderr)
            return EXIT_USAGE
        return EXIT_FAILED

    try:
        model = _Model(str(model_dir))
    except Exception as err:
        print(f"colorize: error: --model {args.model}: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE

    out_dir = Path(args.out)
    taken: set[Path] = set()
    pending: dict[tuple[int, int], list[tuple[Path, Path, np.ndarray]]] = {}
    load_kwargs = {"max_pixels": args.max_pixels} if args.max_pixels else {}
    bar = tqdm(total=len(found), unit="img", desc="colorize", file=sys.stderr, disable=args.quiet)

    def flush(size) -> None:
        group = pending.pop(size)
        try:
            colorized = model(np.stack([item[2] for item in group]))
        except Exception as err:  # the model failed on this batch: report each file, keep going
            for src, _, _ in group:
                fail(src, f"model failed: {err}")
            bar.update(len(group))
            return
        for (src, out_path, rgb), result in zip(group, colorized):
            try:
                image = np.concatenate([_gray_view(rgb), result], axis=1) if args.side_by_side else result
                _write_image(image, out_path, args.format)
            except Exception as err:
                fail(src, f"cannot write {out_path}: {err}")
        bar.update(len(group))

    for src, relative in found:
        try:
            rgb = load_image_rgb(src, **load_kwargs)
        except ImageError as err:
            fail(src, err.reason)
            bar.update(1)
            continue
        except Exception as err:  # anything else the decoder throws is still this file's problem
            fail(src, f"{type(err).__name__}: {err}")
            bar.update(1)
            continue
        out_path = _output_path(out_dir, relative, args.suffix, args.format, taken)
        size = rgb.shape[:2]
        pending.setdefault(size, []).append((src, out_path, rgb))
        if len(pending[size]) >= args.batch_size:
            flush(size)
        elif sum(len(g) * k[0] * k[1] for k, g in pending.items()) > PENDING_PIXEL_LIMIT:
            flush(max(pending, key=lambda k: len(pending[k]) * k[0] * k[1]))
    for size in list(pending):
        flush(size)
    bar.close()
    for folder in {path.parent for path in taken}:  # half-written files of runs killed before this one
        remove_stale_temps(folder)
    return EXIT_FAILED if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
