"""Finding image files, decoding them safely, and leaving out the ones colorization cannot use.

`find_images` discovers images in a flat folder or in one sub-folder per class (the class names
become the scene labels of Iizuka et al.'s classification head). `scan_images` opens every file
with bounded decoding and sorts them into usable and unusable, with a reason per file, as Ziegler's
splitter does ("Found N files ... Train size, Test size, Unusable"). `load_image_rgb` is the one
safe way this package reads a user's image into 8-bit RGB (the `colorize` command uses it too).

Bounded decoding: PIL's `Image.open` only reads the header, so the claimed size is checked against
`max_pixels` before any pixel is decoded; a small file claiming 40000x40000 pixels is reported as
"too large" without allocating anything.

Reference:
    Ziegler, "Deep Vision Colorization" (2022), section 2.2 (train/test splitter that drops
    label images and grayscale images) and Iizuka et al. (2016) for scene labels from folders.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import functools
import os
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from colorization_tf.data.limits import IMAGE_EXTENSIONS, MAX_PIXELS, PIL_FORMATS
from colorization_tf.fileio import atomic_write_text

DEFAULT_MIN_SIZE = 32
"""Images whose shorter side is below this many pixels are too small to train on."""

DEFAULT_GRAY_THRESHOLD = 3.0
"""Mean chroma sqrt(a^2 + b^2) (Lab units) below which an image counts as grayscale or nearly so.
JPEG artefacts give true gray images a mean chroma around 0.5; sepia and faded photos sit around 3-6;
ordinary colour photos above 10."""

GRAY_CHECK_SIDE = 128
"""The gray test runs on a thumbnail whose longer side is at most this many pixels."""

_BITS16_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


class ImageError(Exception):
    """An image file that cannot be used, with the reason.

    Attributes:
        path: the file.
        reason: short human-readable cause, e.g. "empty file", "truncated: image file is truncated".
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across process pools
        return (ImageError, (self.path, self.reason))


@dataclasses.dataclass(frozen=True)
class ImageRecord:
    """One discovered image: its path and its class index (None in a flat folder)."""

    path: str
    label: int | None = None


@dataclasses.dataclass
class ImageCollection:
    """The result of `find_images`.

    Attributes:
        root: the folder searched.
        records: `ImageRecord`s sorted by path.
        class_names: sorted class (sub-folder) names; empty for a flat folder. `label` indexes it.
    """

    root: str
    records: list[ImageRecord]
    class_names: list[str]

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.records]

    @property
    def labels(self) -> list[int] | None:
        """Class index per record, or None for a flat folder."""
        if not self.class_names:
            return None
        return [r.label for r in self.records]

    def __len__(self) -> int:
        return len(self.records)


def is_image_file(path) -> bool:
    """True if the file name ends with one of `IMAGE_EXTENSIONS` (any case)."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def list_image_files(folder) -> list[str]:
    """Every image file under `folder`, recursively, sorted; hidden files and folders skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found.extend(
            os.path.join(dirpath, f) for f in filenames if not f.startswith(".") and is_image_file(f)
        )
    return sorted(found)


def find_images(root) -> ImageCollection:
    """Discovers the images in a folder, flat or with one sub-folder per class.

    Layouts:
        flat: `root/*.jpg` -> labels None, `class_names` empty.
        classes: `root/<class>/**/*.jpg` -> label = index of `<class>` in the sorted class names.
            When any sub-folder holds images the folder is read this way, and images lying
            directly in `root` are left out with a warning (they have no class).
    Hidden files and folders (starting with ".") are skipped; extensions match in any case.

    Args:
        root: folder to search.

    Returns:
        An `ImageCollection` (records sorted by path, and the sorted class names).

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no image was found.

    Reference:
        Iizuka et al. (2016) / Lee et al.: scene classes from the dataset's folders.
    """
    root_path = Path(root)
    if not root_path.is_dir():
        raise FileNotFoundError(f"{root}: not a folder")
    top_files = sorted(
        str(p) for p in root_path.iterdir() if p.is_file() and not p.name.startswith(".") and is_image_file(p)
    )
    class_dirs = sorted(p for p in root_path.iterdir() if p.is_dir() and not p.name.startswith("."))
    per_class = {d.name: list_image_files(d) for d in class_dirs}
    per_class = {name: files for name, files in per_class.items() if files}
    if not per_class:
        if not top_files:
            raise ValueError(f"{root}: no image files ({', '.join(IMAGE_EXTENSIONS)}) found")
        return ImageCollection(str(root), [ImageRecord(p) for p in top_files], [])
    if top_files:
        warnings.warn(
            f"{root}: {len(top_files)} image(s) directly in the root of a class-folder layout have no "
            f"class and are left out (e.g. {top_files[0]})",
            stacklevel=2,
        )
    class_names = sorted(per_class)
    records = [ImageRecord(p, label) for label, name in enumerate(class_names) for p in per_class[name]]
    records.sort(key=lambda r: r.path)
    return ImageCollection(str(root), records, class_names)


def _to_rgb8(image: Image.Image) -> np.ndarray:
    """Converts any PIL mode (16-bit, float, alpha, palette, CMYK, gray) to uint8 RGB [H, W, 3]."""
    if image.mode in _BITS16_MODES or image.mode == "F":
        # 4 bytes per pixel at most: a small file may claim (and PIL allocate) tens of megapixels.
        values = np.asarray(image)
        if image.mode == "F":
            values = values.astype(np.float32, copy=False)
            scale = 255.0 if values.max(initial=0.0) <= 1.0 else 1.0
            gray = np.clip(np.rint(values * np.float32(scale)), 0, 255).astype(np.uint8)
        elif values.max(initial=0) > 255:  # 16-bit range: round v / 257 (never a tie) in integers
            gray = ((np.clip(values, 0, 65535).astype(np.uint32) + 128) // 257).astype(np.uint8)
        else:
            gray = np.clip(values, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8)


def _open_checked(path: str, max_pixels: int) -> Image.Image:
    """Opens lazily and checks emptiness, format and claimed size before any pixel is decoded."""
    try:
        size = os.path.getsize(path)
    except OSError as err:
        raise ImageError(path, f"unreadable: {err.strerror or err}") from None
    if size == 0:
        raise ImageError(path, "empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path, formats=PIL_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageError(path, f"too large: {err}") from None
    except UnidentifiedImageError:
        raise ImageError(path, f"undecodable: not an image of a supported format ({', '.join(PIL_FORMATS)})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(path, f"undecodable: {err}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise ImageError(path, f"too large: {width}x{height} pixels exceeds max_pixels={max_pixels}")
    if width <= 0 or height <= 0:
        image.close()
        raise ImageError(path, f"undecodable: claims size {width}x{height}")
    return image


def _decode(path: str, image: Image.Image, draft_side: int | None = None) -> np.ndarray:
    try:
        if draft_side and image.format == "JPEG":
            image.draft("RGB", (draft_side, draft_side))  # DCT-domain downscale: decodes less
        image.load()
        return _to_rgb8(ImageOps.exif_transpose(image))  # a copy: `image` (a multi-frame file's open handle) closed below
    except OSError as err:
        message = str(err)
        if "truncated" in message.lower() or "broken data stream" in message.lower():
            raise ImageError(path, f"truncated: {message}") from None
        raise ImageError(path, f"undecodable: {message}") from None
    except (SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as err:
        raise ImageError(path, f"undecodable: {err}") from None
    finally:
        image.close()


def load_image_rgb(path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Reads an image file into 8-bit RGB, safely.

    EXIF orientation is honoured (`ImageOps.exif_transpose`); 16-bit and float images are scaled
    to 8 bits; grayscale is repeated to three channels; palette images are expanded; transparent
    pixels (alpha, palette transparency) are composited over white; animated files give their first
    frame. The claimed size is checked before decoding (bounded memory).

    Args:
        path: image file.
        max_pixels: largest width * height accepted.

    Returns:
        uint8 array `[H, W, 3]`.

    Raises:
        ImageError: with `.path` and `.reason` ("empty file", "undecodable: ...", "truncated: ...",
            "too large: ...", "unreadable: ...").
    """
    path = str(path)
    return _decode(path, _open_checked(path, max_pixels))


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean sqrt(a^2 + b^2) of an 8-bit RGB image in CIE Lab units (0 for a perfectly gray image)."""
    from skimage.color import rgb2lab  # imported here: keeps `import files` light for worker start-up

    lab = rgb2lab(np.asarray(rgb, dtype=np.float32) / 255.0)
    return float(np.mean(np.hypot(lab[..., 1], lab[..., 2])))


def check_image(
    path,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    gray_threshold: float = DEFAULT_GRAY_THRESHOLD,
    max_pixels: int = MAX_PIXELS,
) -> str | None:
    """Checks one file; returns None if usable, else the reason it is not.

    Reasons start with one of: "empty file", "unreadable", "undecodable", "truncated",
    "too large", "too small", "grayscale".
    """
    path = str(path)
    try:
        image = _open_checked(path, max_pixels)
        width, height = image.size
        if min(width, height) < min_size:
            image.close()
            return f"too small: {width}x{height} (shorter side < min_size={min_size})"
        rgb = _decode(path, image, draft_side=GRAY_CHECK_SIDE)
    except ImageError as err:
        return err.reason
    if gray_threshold > 0:
        step = max(1, int(np.ceil(max(rgb.shape[:2]) / GRAY_CHECK_SIDE)))
        chroma = mean_chroma(rgb[::step, ::step])
        if chroma < gray_threshold:
            return f"grayscale: mean chroma {chroma:.2f} < {gray_threshold:g} (gray or nearly so)"
    return None


@dataclasses.dataclass
class ScanReport:
    """The result of `scan_images`.

    Attributes:
        usable: paths that passed every check, in input order.
        unusable: path -> reason, in input order.
    """

    usable: list[str]
    unusable: dict[str, str]

    @property
    def total(self) -> int:
        return len(self.usable) + len(self.unusable)

    def reason_counts(self) -> dict[str, int]:
        """Number of unusable files per reason category (the text before the first colon)."""
        return dict(collections.Counter(r.split(":")[0] for r in self.unusable.values()))

    def summary(
        self, splits: dict[str, Sequence] | None = None, source: str | None = None, found_line: bool = True
    ) -> str:
        """Ziegler's report: "Found N files in SRC", the split sizes, "Unusable: K" and why.

        `found_line=False` leaves out the first line (`scan_images(progress=True)` printed it already).
        """
        lines = [f"Found {self.total} files" + (f" in {source}" if source else "")] if found_line else []
        if splits is not None:
            for name, items in splits.items():
                if len(items) or name != "val":
                    lines.append(f"{name.capitalize() + ' size:':<17}{len(items)}")
        else:
            lines.append(f"{'Usable:':<17}{len(self.usable)}")
        lines.append(f"{'Unusable:':<17}{len(self.unusable)}")
        for reason, count in sorted(self.reason_counts().items()):
            lines.append(f"  {reason}: {count}")
        return "\n".join(lines)

    def write(self, path) -> None:
        """Writes "path<TAB>reason" per unusable file (atomically)."""
        atomic_write_text(path, "".join(f"{p}\t{r}\n" for p, r in self.unusable.items()))


def scan_images(
    paths: Iterable,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    gray_threshold: float = DEFAULT_GRAY_THRESHOLD,
    max_pixels: int = MAX_PIXELS,
    workers: int = 2,
    progress: bool = True,
    source: str | None = None,
    pipeline_check: bool = True,
) -> ScanReport:
    """Opens every file with bounded decoding and separates usable from unusable images.

    Unusable: empty, unreadable, undecodable, truncated, too large (claimed width * height above
    `max_pixels`, refused from the header alone), too small (shorter side below `min_size`),
    grayscale or nearly so (mean chroma of a thumbnail below `gray_threshold`), and, with
    `pipeline_check`, not decodable by the training pipeline's own decoder ("undecodable by
    TensorFlow": e.g. TIFF, or a BMP with inserted bytes that PIL reads; `datasets/prepare.py`
    re-encodes such files instead). Files that pass are then known to decode in the pipeline
    (`decodable.mark_decodable`), so its datasets have a known length.
    Work is spread over `workers` threads (PIL and numpy release the GIL while decoding and
    converting, so both cores are busy); a tqdm progress bar shows long scans.

    Args:
        paths: image files (e.g. `find_images(root).paths`).
        min_size: smallest accepted shorter side, pixels.
        gray_threshold: smallest accepted mean chroma (Lab units); 0 disables the gray test.
        max_pixels: largest accepted width * height.
        workers: threads; 1 scans in the calling thread.
        progress: print "Found N files" and show a progress bar.
        source: folder name for the printed summary.
        pipeline_check: also decode each otherwise usable file with the tf.data pipeline's decoder
            (imports TensorFlow).

    Returns:
        A `ScanReport`; `report.summary(splits)` prints Ziegler's "Found N files; Train size ...".

    Reference:
        Ziegler (2022), section 2.2: the multiprocess splitter that drops unusable images.
    """
    paths = [str(p) for p in paths]
    if progress:
        print(f"Found {len(paths)} files" + (f" in {source}" if source else ""), flush=True)
    check = lambda p: check_image(  # noqa: E731
        p, min_size=min_size, gray_threshold=gray_threshold, max_pixels=max_pixels
    )
    if pipeline_check:
        from colorization_tf.data import decodable  # imports TensorFlow: only when asked

        check = functools.partial(_check_in_pipeline, check, decodable.scan_error, max_pixels=max_pixels)
    if workers <= 1 or len(paths) < 2:
        results = map(check, paths)
        executor = None
    else:
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers)
        results = executor.map(check, paths)
    if progress:
        from tqdm.auto import tqdm

        results = tqdm(results, total=len(paths), unit="img", mininterval=0.5)
    try:
        reasons = list(results)
    finally:
        if executor is not None:
            executor.shutdown()
    usable = [p for p, r in zip(paths, reasons) if r is None]
    unusable = {p: r for p, r in zip(paths, reasons) if r is not None}
    if pipeline_check:
        decodable.mark_decodable(usable)
    return ScanReport(usable, unusable)


def _check_in_pipeline(check, decode_error, path: str, max_pixels: int) -> str | None:
    """`check(path)`, then, for a file it accepts, the pipeline decoder's reason to refuse it."""
    reason = check(path)
    if reason is None:
        error = decode_error(path, max_pixels)
        if error is not None:
            return f"undecodable by TensorFlow: {error}"
    return reason


__all__ = [
    "IMAGE_EXTENSIONS",
    "PIL_FORMATS",
    "MAX_PIXELS",
    "DEFAULT_MIN_SIZE",
    "DEFAULT_GRAY_THRESHOLD",
    "ImageError",
    "ImageRecord",
    "ImageCollection",
    "is_image_file",
    "list_image_files",
    "find_images",
    "load_image_rgb",
    "mean_chroma",
    "check_image",
    "ScanReport",
    "scan_images",
]
