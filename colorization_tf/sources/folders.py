"""Downloaded folders of images laid out for the pipeline: scan, filter, lay out, normalise, split.

`prepare_folder(out, src=..., dataset=..., layout=..., protocol=...)` is what the downloaded
sources of `sources.registry` (landscapes, MiniPlaces, DIV2K, CS520, any folder) run. Layouts
(`LAYOUTS`): "folders" (flat, or one sub-folder per class), "places" (MiniPlaces: train/<letter>/
<category>/, val/ labelled by its val.txt, test/ left out) and "div2k" (DIV2K_train_HR/,
DIV2K_valid_HR/, or numbered files).

Every usable image is copied (or, when TensorFlow could not read it as it is -- TIFF, WebP with
alpha, CMYK/16-bit/palette images, EXIF-rotated photos, and any file the training pipeline's own
decoder refuses though PIL reads it, such as a BMP with inserted bytes -- re-encoded as PNG in
upright 8-bit RGB) into `OUT/<class>/<name>` (flat datasets go to `OUT/images/`); `max_side=N`
re-encodes every image as a JPEG whose longer side is at most N (smaller and faster to decode).
Every laid-out file is decoded by the pipeline's decoder first (`colorization_tf.data.decodable`),
so the pipeline drops none of them and its datasets have a known length. Unusable files (empty,
undecodable, truncated, too small, too large, grayscale) are left out and listed in
`OUT/unusable.tsv`; the split of the dataset's protocol goes to `OUT/splits.json` (paths relative to
OUT, read it with `colorization_tf.data.splits.read_splits`); `OUT/prepare.json`, written last,
marks the folder complete. The summary is printed as Ziegler's splitter did ("Found N files ...
Train size, Test size, Unusable"). Each image is written atomically: a run killed at any moment
leaves whole images (and the previous run's split, if any), and running it again keeps the files
already in OUT and finishes the job.

Reference:
    Ziegler (2022) section 2.2 (filtering splitter); the datasets of PolyChromify (2021),
    Lee et al. (Iizuka replication), Menon & Talukdar (2021) and CS520 (see datasets/README.md).
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
from pathlib import Path

from PIL import Image

from colorization_tf import fileio
from colorization_tf.data import decodable, files, splits

TF_READABLE_FORMATS = ("JPEG", "PNG", "BMP", "GIF")
FLAT_CLASS = "images"
REENCODED_FOR_TF = "re-encoded: TensorFlow's decoder refuses the original"


def label_div2k(src: Path) -> list[tuple[str, str]]:
    """(path, class folder in OUT) of DIV2K's HR images: their folder (DIV2K_train_HR or
    DIV2K_valid_HR), or for loose numbered files the folder their number belongs to."""
    out = []
    for path in files.list_image_files(src):
        parts = Path(path).parts
        split_dir = next((p for p in reversed(parts[:-1]) if p in ("DIV2K_train_HR", "DIV2K_valid_HR")), None)
        if split_dir is None:
            stem = re.fullmatch(r"0*(\d+)", Path(path).stem)
            if not stem or int(stem.group(1)) > splits.DIV2K_VALID_LAST:
                continue  # low-resolution or test images: not used
            split_dir = "DIV2K_train_HR" if int(stem.group(1)) <= splits.DIV2K_TRAIN_LAST else "DIV2K_valid_HR"
        out.append((path, split_dir))
    return out


def label_miniplaces(src: Path) -> list[tuple[str, str]]:
    """(path, category) of MiniPlaces: images/train/<letter>/<category>/NNNNNNNN.jpg, images/val/
    NNNNNNNN.jpg labelled by data/val.txt, images/test/ unlabelled (left out)."""
    out = []
    labels = _miniplaces_val_labels(src)
    for path in files.list_image_files(src):
        folders = Path(path).relative_to(src).parts[:-1]
        if "test" in folders:
            continue
        if "val" in folders:
            if Path(path).name in labels:
                out.append((path, labels[Path(path).name]))
        elif folders:
            out.append((path, folders[-1]))
    return out


def label_class_folders(src: Path) -> list[tuple[str, str]]:
    """(path, class folder) of a flat folder (class `FLAT_CLASS`) or one with a sub-folder per class."""
    found = files.find_images(src)
    if not found.class_names:
        return [(p, FLAT_CLASS) for p in found.paths]
    return [(r.path, found.class_names[r.label]) for r in found.records]


LAYOUTS = {"folders": label_class_folders, "places": label_miniplaces, "div2k": label_div2k}
"""How the images of a download are found and labelled: layout -> `label(src)` giving (path, class
folder in OUT) for every image used."""


def _miniplaces_val_labels(src: Path) -> dict[str, str]:
    """val image name -> category, from MiniPlaces' data/val.txt and data/categories.txt if present."""
    for base in (src, src.parent, src.parent / "data", src / "data"):
        val, categories = base / "val.txt", base / "categories.txt"
        if val.is_file() and categories.is_file():
            names = {}
            for line in categories.read_text().split("\n"):
                if line.strip():
                    name, index = line.rsplit(" ", 1)
                    names[index] = name.strip("/").split("/")[-1]
            labels = {}
            for line in val.read_text().split("\n"):
                if line.strip():
                    rel, index = line.rsplit(" ", 1)
                    labels[Path(rel).name] = names[index]
            return labels
    return {}


def _needs_reencode(path: str) -> bool:
    try:
        with Image.open(path) as image:
            orientation = image.getexif().get(0x0112, 1)
            return image.format not in TF_READABLE_FORMATS or image.mode not in ("RGB", "L", "P") or orientation != 1
    except Exception:  # noqa: BLE001 -- the scan already vetted it; re-encoding is the safe choice
        return True


def _laid_out(target: Path) -> bool:
    """A previous run laid out `target` and the pipeline decodes it. A file there that the pipeline
    cannot decode (laid out by a version without the check) is removed: it is laid out again."""
    if not target.exists():
        return False
    if decodable.decode_error(target) is None:
        return True
    target.unlink()
    return False


def _place(path: str, target: Path, max_side: int | None) -> tuple[Path | None, str]:
    """Copies or re-encodes one usable image to target, atomically, only once the training pipeline's
    decoder has read the bytes to be laid out (a copy TensorFlow refuses is re-encoded as PNG).

    Returns:
        (the written path, how: "copied", "kept", "re-encoded" or `REENCODED_FOR_TF`), or
        (None, why it is unusable).
    """
    reencode, reason = bool(max_side) or _needs_reencode(path), "re-encoded"
    if not reencode:
        if _laid_out(target):
            return target, "kept"
        error = decodable.decode_error(path)
        if error is None:
            with fileio.atomic_path(target) as tmp:
                shutil.copyfile(path, tmp)
            return target, "copied"
        reencode, reason = True, REENCODED_FOR_TF  # PIL reads it, TensorFlow does not (e.g. a BMP with inserted bytes)
    target = target.with_suffix(".jpg" if max_side else ".png")
    if _laid_out(target):
        return target, "kept"
    try:
        image = Image.fromarray(files.load_image_rgb(path))
    except files.ImageError as err:
        return None, err.reason
    if max_side and max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.LANCZOS)
    with fileio.atomic_path(target) as tmp:
        image.save(tmp, **({"quality": 95} if max_side else {}))
        error = decodable.decode_error(tmp)
        if error is not None:  # never expected of PIL's own PNG/JPEG: leave the file out
            raise files.ImageError(path, f"undecodable by TensorFlow after re-encoding: {error}")
    return target, reason


def _place_or_report(path: str, target: Path, max_side: int | None) -> tuple[Path | None, str]:
    """`_place`, with an image that turns out unusable while being laid out reported, not raised."""
    try:
        return _place(path, target, max_side)
    except files.ImageError as err:
        return None, err.reason


def prepare_folder(out, *, src, dataset: str = "folder", layout: str = "folders", protocol: str | None = None,
                   default_protocol: str = "ziegler", seed: int = 42, max_side: int | None = None,
                   min_size: int = files.DEFAULT_MIN_SIZE, gray_threshold: float = files.DEFAULT_GRAY_THRESHOLD,
                   workers: int = 2, progress: bool = True) -> dict:
    """Scans `src`, writes the usable images to `out`, the report and the split. Returns the splits.

    Every laid-out file has been decoded by the training pipeline's decoder. Each file is written
    atomically; `unusable.tsv`, `splits.json` and last `prepare.json` (the completion marker, which
    records the decoder check) are written only once every image is in place. A run killed at
    any point therefore leaves whole images and, if any, the previous run's complete split;
    running again keeps what is there and finishes the job.

    Args:
        out: the folder to write.
        src: the downloaded folder.
        dataset: the source's name (recorded in `prepare.json`).
        layout: a key of `LAYOUTS`.
        protocol: the split protocol (None: `default_protocol`, the paper's).
        default_protocol: the source's own protocol.
        seed: the split seed (42 = PolyChromify's random_state).
        max_side: re-encode every image as a JPEG with the longer side at most this.
        min_size, gray_threshold: what `files.scan_images` leaves out as too small or gray.
        workers: threads scanning and laying out.
        progress: show a progress bar.

    Returns:
        "train", "val", "test" -> the laid-out paths.

    Raises:
        SystemExit: no source folder or no images in it.
        OSError: the output cannot be written (disk full, read-only); nothing partial is left.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"prepare_folder: layout must be one of {sorted(LAYOUTS)}, got {layout!r}")
    protocol = protocol or default_protocol
    src, out = Path(src).expanduser(), Path(out)
    if not src.is_dir():
        raise SystemExit(f"{src}: not a folder (download the dataset first: see datasets/README.md)")
    labelled = LAYOUTS[layout](src)
    if not labelled:
        raise SystemExit(f"{src}: no images found")
    report = files.scan_images([p for p, _ in labelled], min_size=min_size, gray_threshold=gray_threshold,
                               workers=workers, progress=progress, source=str(src), pipeline_check=False)
    usable = set(report.usable)
    jobs, seen = [], set()
    reencoded = 0
    for path, cls in labelled:
        if path not in usable:
            continue
        target = out / cls / Path(path).name
        stem, n = target.stem, 1
        while str(target.with_suffix("")).lower() in seen:  # same name from different source folders
            target = target.with_name(f"{stem}_{n}{target.suffix}")
            n += 1
        seen.add(str(target.with_suffix("")).lower())
        jobs.append((path, target))
    for cls in {t.parent for _, t in jobs}:
        cls.mkdir(parents=True, exist_ok=True)
        fileio.remove_stale_temps(cls)  # what a killed run left behind
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        placed = list(pool.map(lambda job: _place_or_report(job[0], job[1], max_side), jobs))
    kept_jobs, written = [], []
    for job, (target, outcome) in zip(jobs, placed):
        if target is None:
            report.unusable[job[0]] = outcome
            continue
        kept_jobs.append(job)
        written.append(str(target))
        reencoded += outcome == REENCODED_FOR_TF
    jobs = kept_jobs
    if layout == "places" and protocol == "lee2016":  # MiniPlaces' own split: train -> train, val -> test
        is_val = ["val" in Path(source).relative_to(src).parts[:-1] for source, _ in jobs]
        result = {"train": [w for w, v in zip(written, is_val) if not v], "val": [],
                  "test": [w for w, v in zip(written, is_val) if v]}
    else:
        result = splits.split_files(written, protocol, seed=seed, root=out if layout != "div2k" else None)
    out.mkdir(parents=True, exist_ok=True)
    report.usable = [source for source, _ in jobs]
    report.write(out / "unusable.tsv")
    splits.write_splits(out / "splits.json", result, out)
    info = {"dataset": dataset, "source": str(src), "protocol": protocol, "seed": seed, "max_side": max_side,
            "images": len(written), "reencoded": reencoded, "unusable": len(report.unusable),
            "splits": {k: len(v) for k, v in result.items()}, decodable.DECODER_CHECKED_KEY: True}
    fileio.atomic_write_text(out / decodable.PREPARED_MARKER, json.dumps(info, indent=1))  # last: complete
    print(report.summary(result, source=str(src), found_line=not progress))
    if reencoded:
        print(f"Re-encoded:      {reencoded} (as PNG: PIL reads them, TensorFlow's decoder does not)")
    print(f"Written to {out} (splits.json, unusable.tsv, prepare.json)")
    return result


__all__ = ["LAYOUTS", "FLAT_CLASS", "REENCODED_FOR_TF", "label_class_folders", "label_div2k", "label_miniplaces",
           "prepare_folder"]
