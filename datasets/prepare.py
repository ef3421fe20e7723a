#!/usr/bin/env python
"""Prepares a downloaded dataset for colorization-tf: scan, filter, lay out, normalise, split.

    python datasets/prepare.py landscapes --src ~/Downloads/landscape-pictures --out data/landscapes
    python datasets/prepare.py places     --src ~/Downloads/miniplaces/images   --out data/places
    python datasets/prepare.py div2k      --src ~/Downloads/DIV2K               --out data/div2k
    python datasets/prepare.py cs520      --src ~/cs520_scenes                  --out data/cs520
    python datasets/prepare.py folder     --src ANY_FOLDER --out data/mine --protocol ziegler
    python datasets/prepare.py debian-photos --out data/debian-photos   (no --src: Debian packages;
                                                  see colorization_tf/data/debian_photos.py)

Every usable image is copied (or, when TensorFlow could not read it as it is -- TIFF, WebP with
alpha, CMYK/16-bit/palette images, EXIF-rotated photos -- re-encoded as PNG in upright 8-bit RGB)
into `OUT/<class>/<name>` (flat datasets go to `OUT/images/`); `--max-side N` re-encodes every image
as a JPEG whose longer side is at most N (smaller and faster to decode). Unusable files (empty,
undecodable, truncated, too small, too large, grayscale) are left out and listed in
`OUT/unusable.tsv`; the split of the dataset's protocol goes to `OUT/splits.json` (paths relative to
OUT, read it with `colorization_tf.data.splits.read_splits`); the summary is printed as Ziegler's
splitter did ("Found N files ... Train size, Test size, Unusable"). Running it again skips files
already in OUT.

Reference:
    Ziegler (2022) section 2.2 (filtering splitter); the datasets of PolyChromify (2021),
    Lee et al. (Iizuka replication), Menon & Talukdar (2021) and CS520 (see datasets/README.md).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(REPO))

from PIL import Image  # noqa: E402

from colorization_tf.data import files, splits  # noqa: E402

DATASETS = {
    # name: (default protocol, how classes are found, description)
    "landscapes": ("ziegler", "folders", "Kaggle Landscape Pictures (arnaud58/landscape-pictures)"),
    "places": ("lee2016", "places", "MIT MiniPlaces (6.819/6.869): 100 scene classes, 128x128"),
    "div2k": ("div2k", "div2k", "DIV2K high-resolution images (NTIRE): 800 train, 100 valid"),
    "cs520": ("cs520", "folders", "CS520 scene folders (beach, forest, sunrise; ~15 images each)"),
    "folder": ("ziegler", "folders", "any folder of images, flat or one sub-folder per class"),
}
DEBIAN_PHOTOS = "debian-photos"
"""Built from Debian packages, not from a download: `colorization_tf.data.debian_photos`."""
TF_READABLE_FORMATS = ("JPEG", "PNG", "BMP", "GIF")
FLAT_CLASS = "images"


def _label_files(src: Path, how: str) -> list[tuple[str, str]]:
    """(path, class folder name in OUT) for every image under src."""
    if how == "div2k":
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
    if how == "places":
        # MiniPlaces: images/train/<letter>/<category>/NNNNNNNN.jpg, images/val/NNNNNNNN.jpg labelled by
        # data/val.txt, images/test/ unlabelled (left out). Classes are the category folders.
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
    found = files.find_images(src)
    if not found.class_names:
        return [(p, FLAT_CLASS) for p in found.paths]
    return [(r.path, found.class_names[r.label]) for r in found.records]


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


def _place(path: str, target: Path, max_side: int | None) -> Path:
    """Copies or re-encodes one usable image to target (atomic); returns the written path."""
    reencode = bool(max_side) or _needs_reencode(path)
    if reencode:
        target = target.with_suffix(".jpg" if max_side else ".png")
    if target.exists():
        return target
    tmp = target.with_name(f".{target.name}.tmp{os.getpid()}{target.suffix}")
    if reencode:
        image = Image.fromarray(files.load_image_rgb(path))
        if max_side and max(image.size) > max_side:
            scale = max_side / max(image.size)
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.LANCZOS)
        image.save(tmp, **({"quality": 95} if max_side else {}))
    else:
        shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    return target


def prepare(name: str, src, out, *, protocol: str | None = None, seed: int = 42, max_side: int | None = None,
            min_size: int = files.DEFAULT_MIN_SIZE, gray_threshold: float = files.DEFAULT_GRAY_THRESHOLD,
            workers: int = 2, progress: bool = True) -> dict:
    """Scans `src`, writes the usable images to `out`, the report and the split. Returns the splits."""
    default_protocol, how, _ = DATASETS[name]
    protocol = protocol or default_protocol
    src, out = Path(src).expanduser(), Path(out)
    if not src.is_dir():
        raise SystemExit(f"{src}: not a folder (download the dataset first: see datasets/README.md)")
    labelled = _label_files(src, how)
    if not labelled:
        raise SystemExit(f"{src}: no images found")
    report = files.scan_images([p for p, _ in labelled], min_size=min_size, gray_threshold=gray_threshold,
                               workers=workers, progress=progress, source=str(src))
    usable = set(report.usable)
    jobs, seen = [], set()
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
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        written = [str(p) for p in pool.map(lambda job: _place(job[0], job[1], max_side), jobs)]
    if how == "places" and protocol == "lee2016":  # MiniPlaces' own split: train -> train, val -> test
        is_val = ["val" in Path(source).relative_to(src).parts[:-1] for source, _ in jobs]
        result = {"train": [w for w, v in zip(written, is_val) if not v], "val": [],
                  "test": [w for w, v in zip(written, is_val) if v]}
    else:
        result = splits.split_files(written, protocol, seed=seed, root=out if how != "div2k" else None)
    out.mkdir(parents=True, exist_ok=True)
    splits.write_splits(out / "splits.json", result, out)
    report.write(out / "unusable.tsv")
    info = {"dataset": name, "source": str(src), "protocol": protocol, "seed": seed, "max_side": max_side,
            "images": len(written), "unusable": len(report.unusable),
            "splits": {k: len(v) for k, v in result.items()}}
    tmp = out / f".prepare.json.tmp{os.getpid()}"
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, out / "prepare.json")
    print(report.summary(result, source=str(src), found_line=not progress))
    print(f"Written to {out} (splits.json, unusable.tsv, prepare.json)")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Prepare a dataset for colorization-tf (see datasets/README.md).")
    parser.add_argument("dataset", choices=sorted([*DATASETS, DEBIAN_PHOTOS]), help="which dataset layout to expect")
    parser.add_argument("--src", help="the downloaded/unpacked dataset folder (not for debian-photos)")
    parser.add_argument("--cache", help=f"{DEBIAN_PHOTOS} only: where .debs and unpacked files are kept "
                        "(default OUT/.cache)")
    parser.add_argument("--out", required=True, help="where the prepared images go (e.g. data/landscapes)")
    parser.add_argument("--protocol", choices=sorted(splits.PROTOCOLS), help="split protocol (default: the paper's)")
    parser.add_argument("--seed", type=int, default=42, help="split seed (42 = PolyChromify's random_state)")
    parser.add_argument("--max-side", type=int, help="re-encode as JPEG with the longer side at most this")
    parser.add_argument("--min-size", type=int, default=files.DEFAULT_MIN_SIZE)
    parser.add_argument("--gray-threshold", type=float, default=files.DEFAULT_GRAY_THRESHOLD)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    if args.dataset == DEBIAN_PHOTOS:
        from colorization_tf.data import debian_packages, debian_photos

        try:
            debian_photos.build(args.out, cache=args.cache, seed=args.seed, workers=args.workers)
        except debian_packages.PackageError as err:
            print(f"prepare.py {DEBIAN_PHOTOS}: {err}", file=sys.stderr)
            return 2
        return 0
    if not args.src:
        parser.error(f"--src is required for {args.dataset}")
    prepare(args.dataset, args.src, args.out, protocol=args.protocol, seed=args.seed, max_side=args.max_side,
            min_size=args.min_size, gray_threshold=args.gray_threshold, workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
