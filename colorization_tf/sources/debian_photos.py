"""A real-photo dataset built offline from Debian packages: select photos, crop, split by photo.

`build(out)` gets the packages of `PACKAGES` (`debian_packages.fetch_and_unpack`: `apt-get download`
+ `dpkg-deb -x`, cached), looks at the images in each package's picture folders (and inside the Qt
resource bundles it names: GCompris ships its pictures in `.rcc` files, unpacked with
`qt_resources.extract_rcc` into `<bundle>.d/` beside them, cached) and keeps the photographs by a
stated rule, measured on these packages (see `classify`):

1. a JPEG file, or a lossy WebP without alpha (every drawing, diagram, frame, map, texture and most
   renders here ship as PNG, SVG or WebP with alpha; GCompris stores its photographs as lossy WebP);
2. at least `MIN_PHOTO_SIDE` px on the shorter side and in colour (mean chroma >= the suite's
   grayscale threshold, as `files.check_image` decides);
3. not flat: less than `MAX_FLAT_FRACTION` of the pixels of a 512-px copy have a luma gradient
   below `FLAT_GRADIENT` (renders and vector art have large noiseless areas; photos have grain);

then `CURATED` decides what the rule cannot (JPEG renders with grain, paintings, colour-graded
composites; photographs whose clear skies WebP compression smoothed flat). A picture shipped
several times (a Plasma wallpaper at many sizes, the same photo in two packages) counts once: the
largest size, and a difference hash (`dhash`) to catch copies.

Each photo is cut into square crops at `CROP_SCALES` of its shorter side (a grid of
non-overlapping crops per scale), stored as JPEG (quality 95, no chroma subsampling) at
`STORED_SIZE` px (never upsampled; crops under `MIN_CROP_SIDE` px are skipped), so that training can
take 64-128 px views. Photos, not crops, are split (70/15/15, exact per package, ranked by hash:
`splits.split_files` with `SPLIT_PROTOCOL`; a package of >= 5 photos on all three sides, see
`split_photos`), so no photo has crops on two sides. Written to OUT:
`<package>/<photo>_s<scale>_<n>.jpg`, `manifest.json` (package, version, file, licence and
copyright of every photo), `rejected.tsv` (every file looked at and left out, with the reason),
`prepare.json` and, last, `splits.json`. Running again reuses the cache and existing crops.

Reference:
    The issue "Real photographs, offline" (issue 12); packages and licences in datasets/README.md.
"""

from __future__ import annotations

import concurrent.futures
import fnmatch
import json
import re
import time
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from colorization_tf.data import files, splits
from colorization_tf.fileio import atomic_path, atomic_write_text
from colorization_tf.sources import debian_packages, qt_resources

_GCOMPRIS = "usr/share/gcompris-qt/rcc"
PACKAGES = {
    "tuxpaint-data": ("usr/share/tuxpaint/templates", "usr/share/tuxpaint/starters"),
    "mate-backgrounds": ("usr/share/backgrounds/mate",),
    "lomiri-wallpapers-16.04": ("usr/share/backgrounds",),
    "lomiri-wallpapers-20.04": ("usr/share/backgrounds",),
    "plasma-workspace-wallpapers": ("usr/share/wallpapers",),
    "gcompris-qt-data": tuple(f"{_GCOMPRIS}/{activity}.rcc" for activity in (
        "clickgame", "details", "erase", "explore_farm_animals", "explore_monuments", "explore_world_animals",
        "explore_world_music")),
    "palapeli-data": ("usr/share/palapeli/collection",),
    "lxqt-themes": ("usr/share/lxqt/wallpapers",),
    "python3-sklearn": ("usr/lib/python3/dist-packages/sklearn/datasets/images",),
}
"""Debian packages that ship colour photographs: name -> folders or Qt `.rcc` bundles (in the
package) searched. GCompris' other bundles hold drawings (lang, babyshapes: paintings with holes),
planets with alpha (solar_system, gravity) or pictures under `MIN_PHOTO_SIDE` (categorization)."""

EXAMINED_WITHOUT_PHOTOS = {
    "ukui-wallpapers": "12 wallpapers, all digital art (20.04.3-1.1)",
    "gnome-backgrounds": "14 WebP wallpapers, all digital art (43.1-1)",
    "desktop-base": "Debian themes: renders, logos, screenshots",
    "lomiri-wallpapers": "2 PNG renders",
    "sway-backgrounds": "one logo wallpaper at 8 sizes",
    "mypaint-data-extras": "paper and canvas textures",
    "jigzo-data": "12 puzzles whose photos are stored cut into packed pieces (whole only as 232-px thumbnails)",
    "hugin-data": "help images: screenshots, one photo in many projections, thumbnails under 360 px",
    "python3-matplotlib": "no photographs (Debian's build ships no grace_hopper.jpg; PNG plots only)",
    "krita-data": "brushes, patterns and textures (PNG)",
    "digikam-data": "one photo (about/images) among frames and strips: 11 MB for one photo",
    "xfdesktop4-data": "Xfce wallpapers: digital art",
    "kdegames-mahjongg-data-kf5": "tile sets and backgrounds, none 360 px or more",
    "khangman": "screenshots; themes are drawings",
    "kanagram": "screenshots; a chalkboard and a render as backgrounds",
    "opencv-doc": "~25 small test photos (baboon, fruits, ...; most <= 640 px) for 96 MB: over the ~250 MB budget",
}
"""Packages looked at (Debian 12) and left out: no photographs, or too few for their download."""

MIN_PHOTO_SIDE = 360
MAX_FLAT_FRACTION = 0.40
FLAT_GRADIENT = 0.5
"""A pixel is flat when |grad luma| < this (8-bit units) on the `FLAT_CHECK_SIDE` copy."""
FLAT_CHECK_SIDE = 512
HASH_SIDE = 16
DUPLICATE_HAMMING = 16
"""Two pictures whose 256-bit difference hashes differ in at most this many bits are one photo
(measured here: one picture at other sizes differs by 0 bits, two distinct photos by >= 47)."""
RULE_VERSION = 3
"""Bump when the rule changes: cached decisions of an older rule are recomputed."""

_PLASMA = "usr/share/wallpapers/{}/contents/images/{}"
CURATED = {
    # (package, path in the package): (is a photograph, why the rule alone is wrong)
    ("mate-backgrounds", "usr/share/backgrounds/mate/abstract/Elephants*.jpg"): (False, "a painting (3 sizes)"),
    ("lomiri-wallpapers-16.04", "usr/share/backgrounds/analogpattern_by_Peter_Nerlich.jpg"):
        (False, "a texture under an artificial colour gradient"),
    ("lomiri-wallpapers-20.04", "usr/share/backgrounds/Infinite-Sea_by_Aury88.jpg"):
        (False, "a colour-graded composite (Milky Way over a sea)"),
    ("plasma-workspace-wallpapers", _PLASMA.format("Autumn", "1280x1024.jpg")): (False, "a digital painting"),
    ("plasma-workspace-wallpapers", _PLASMA.format("Honeywave", "5120x2880.jpg")): (False, "a render with grain"),
    ("plasma-workspace-wallpapers", _PLASMA.format("SafeLanding", "5120x2880.jpg")): (False, "an illustration"),
    ("plasma-workspace-wallpapers", _PLASMA.format("Shell", "5120x2880.jpg")): (False, "a render with grain"),
    ("plasma-workspace-wallpapers", _PLASMA.format("Volna", "5120x2880.jpg")): (False, "a render (low-poly)"),
    **{("gcompris-qt-data", f"{_GCOMPRIS}/details.rcc.d/*/{name}_background.webp"): (False, "a painting (Van Gogh)")
       for name in ("*Gogh*", "Eglise_dAuvers-sur-Oise", "PortraitOfPereTanguy")},
    **{("gcompris-qt-data", f"{_GCOMPRIS}/{bundle}.rcc.d/*/{name}.webp"):
       (True, "a photograph whose clear sky, dark backdrop or water WebP has smoothed flat")
       for bundle, name in (("clickgame", "sea5"), ("erase", "kingfisher"), ("explore_farm_animals", "duck"),
                            ("explore_monuments", "bentPyramid"), ("explore_monuments", "redPyramid"),
                            ("explore_monuments", "eiffelTower"), ("explore_monuments", "goldenTemple"),
                            ("explore_monuments", "statueofLiberty"), ("explore_world_music", "ireland"))},
    **{("lxqt-themes", f"usr/share/lxqt/wallpapers/{name}.png"): (True, "a photograph stored as PNG")
       for name in ("appleflower", "butterfly", "cloud", "drop", "flowers", "Valendas")},
    ("lxqt-themes", "usr/share/lxqt/wallpapers/waves-purple-logo.jpg"): (False, "a render with a logo"),
}
"""Decisions the rule cannot make, checked by eye on contact sheets of every candidate (paths may be
`fnmatch` patterns)."""

CROP_SCALES = (1.0, 0.5, 0.25)
"""Crop sides as fractions of the photo's shorter side."""
STORED_SIZE = 256
MIN_CROP_SIDE = 128
CROP_NAME = re.compile(r".+_s\d_\d+\.jpg")
JPEG_OPTIONS = {"quality": 95, "subsampling": 0}
SPLIT_PROTOCOL = splits.SplitProtocol("debian-photos", (0.70, 0.15, 0.15), exact=True,
                                      description="70/15/15 of the photos, exact per package; "
                                                  "a package of >= 5 photos on all three sides")
MIN_PHOTOS_ON_ALL_SIDES = 5


def _luma_small(path: str) -> np.ndarray:
    """RGB copy of the image at most `FLAT_CHECK_SIDE` px on its longer side."""
    image = files._open_checked(path, files.MAX_PIXELS)
    rgb = Image.fromarray(files._decode(path, image, draft_side=FLAT_CHECK_SIDE))
    rgb.thumbnail((FLAT_CHECK_SIDE, FLAT_CHECK_SIDE), Image.LANCZOS)
    return np.asarray(rgb)


def flat_fraction(rgb: np.ndarray) -> float:
    """Fraction of pixels whose luma gradient magnitude is below `FLAT_GRADIENT`."""
    luma = np.asarray(rgb, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    gx, gy = np.diff(luma, axis=1)[:-1], np.diff(luma, axis=0)[:, :-1]
    return float((np.hypot(gx, gy) < FLAT_GRADIENT).mean())


def dhash(rgb: np.ndarray) -> str:
    """Difference hash of an RGB image: HASH_SIDE^2 bits (left > right on a gray thumbnail), as hex."""
    small = Image.fromarray(rgb).convert("L").resize((HASH_SIDE + 1, HASH_SIDE), Image.LANCZOS)
    gray = np.asarray(small, np.int16)
    bits = "".join("1" if b else "0" for b in (gray[:, :-1] > gray[:, 1:]).flatten())
    return f"{int(bits, 2):0{HASH_SIDE * HASH_SIDE // 4}x}"


def hash_distance(a: str, b: str) -> int:
    """Number of differing bits between two `dhash` values."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def _is_lossy_webp(path: str) -> bool:
    """True if the WebP file holds a lossy (VP8) bitstream, not a lossless (VP8L) one."""
    with open(path, "rb") as f:
        head = f.read(4096)
    return b"VP8 " in head and b"VP8L" not in head


def classify(path) -> tuple[bool, str, str | None]:
    """The stated rule (module docstring) on one file.

    Returns:
        (is a photograph, reason or measurement, difference hash of a photograph else None).
    """
    path = str(path)
    try:
        with Image.open(path) as image:
            kind, has_alpha = image.format, "A" in image.getbands() or "transparency" in image.info
    except Exception:  # noqa: BLE001 -- anything PIL cannot open is not a photo for us
        return False, "not an image PIL can open", None
    if kind == "WEBP" and (has_alpha or not _is_lossy_webp(path)):
        return False, "WebP with alpha or lossless (photographs here are JPEG or lossy WebP)", None
    if kind not in ("JPEG", "WEBP"):
        return False, f"file type {kind} (photographs here are JPEG or lossy WebP)", None
    problem = files.check_image(path, min_size=MIN_PHOTO_SIDE)
    if problem:
        return False, problem, None
    rgb = _luma_small(path)
    flat = flat_fraction(rgb)
    if flat >= MAX_FLAT_FRACTION:
        return False, f"flat: {flat:.2f} of pixels without gradient (>= {MAX_FLAT_FRACTION}; a render)", None
    return True, f"photo by rule: flat fraction {flat:.2f}", dhash(rgb)


def candidates(package: debian_packages.UnpackedPackage, folders) -> list[str]:
    """Image files (posix, relative to the package root) in `folders`, one per Plasma wallpaper.

    A `.rcc` entry is a Qt resource bundle: its images are unpacked into `<bundle>.d/` (once) and
    listed from there.
    """
    found = []
    for folder in folders:
        base = package.root / folder
        if folder.endswith(".rcc") and base.is_file():
            try:
                base = qt_resources.extract_rcc(base, base.with_name(base.name + ".d"), files.is_image_file)
            except qt_resources.ResourceError as err:
                raise debian_packages.PackageError(f"{err}; delete {package.deb} to download it again") from err
        if base.is_dir():
            found += [Path(p).relative_to(package.root).as_posix() for p in files.list_image_files(base)]
    largest = {}
    for rel in sorted(set(found)):
        parts = PurePosixPath(rel).parts
        if "contents" in parts:  # Plasma: <Name>/contents/images{,_dark}/<W>x<H>.ext = one picture
            name = parts[parts.index("contents") - 1]
            if parts[parts.index("contents") + 1] != "images":
                continue
            with Image.open(package.root / rel) as image:
                area = image.size[0] * image.size[1]
            if name not in largest or area > largest[name][0]:
                largest[name] = (area, rel)
        else:
            largest[rel] = (0, rel)
    return sorted(rel for _, rel in largest.values())


def photo_id(rel: str) -> str:
    """A file-name-safe id: the Plasma wallpaper's name, else the file's stem (after its bundle's name)."""
    parts = PurePosixPath(rel).parts
    stem = parts[parts.index("contents") - 1] if "contents" in parts else PurePosixPath(rel).stem
    bundle = next((p for p in parts if p.endswith(".rcc.d")), None)
    stem = f"{bundle.removesuffix('.rcc.d')}-{stem}" if bundle else stem
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)


def crop_boxes(width: int, height: int) -> list[tuple[int, tuple[int, int, int, int]]]:
    """(scale index, (left, top, right, bottom)) of every crop of a width x height photo.

    At each scale the crop side is that fraction of the shorter side; as many crops as fit without
    overlap are spread evenly over the photo. Crops smaller than `MIN_CROP_SIDE` are left out.
    """
    boxes = []
    for k, scale in enumerate(CROP_SCALES):
        side = int(round(scale * min(width, height)))
        if side < MIN_CROP_SIDE:
            continue
        nx, ny = width // side, height // side
        for j in range(ny):
            top = (height - side) // 2 if ny == 1 else round(j * (height - side) / (ny - 1))
            for i in range(nx):
                left = (width - side) // 2 if nx == 1 else round(i * (width - side) / (nx - 1))
                boxes.append((k, (left, top, left + side, top + side)))
    return boxes


def split_photos(keys: list[str], seed: int) -> dict[str, list[str]]:
    """Photos (`<package>/<id>`) to train/val/test: `SPLIT_PROTOCOL` (70/15/15 exact per package,
    ranked by hash), then a package of at least `MIN_PHOTOS_ON_ALL_SIDES` photos left without a val or
    test photo by the rounding (5 photos: 4/0/1) gives that side its last-ranked train photo."""
    by_photo = splits.split_files(keys, SPLIT_PROTOCOL, seed=seed)
    side = {key: name for name, chosen in by_photo.items() for key in chosen}
    for package in sorted({key.split("/")[0] for key in keys}):
        mine = [key for key in keys if key.split("/")[0] == package]
        if len(mine) < MIN_PHOTOS_ON_ALL_SIDES:
            continue
        for empty in [name for name in ("val", "test") if not any(side[k] == name for k in mine)]:
            train = sorted((k for k in mine if side[k] == "train"), key=lambda k: splits.hash_fraction(k, seed))
            side[train[-1]] = empty
    return {name: [key for key in keys if side[key] == name] for name in splits.SPLIT_NAMES}


def _write_crops(source: Path, targets: list[tuple[Path, tuple]]) -> None:
    if all(t.exists() for t, _ in targets):
        return
    image = Image.fromarray(files.load_image_rgb(source))
    for target, box in targets:
        if target.exists():
            continue
        crop = image.crop(box)
        if crop.width > STORED_SIZE:
            crop = crop.resize((STORED_SIZE, STORED_SIZE), Image.LANCZOS)
        with atomic_path(target) as tmp:
            crop.save(tmp, format="JPEG", **JPEG_OPTIONS)


def curated_decision(package: str, rel: str) -> tuple[bool, str] | None:
    """`CURATED`'s (is a photograph, why) for a file, or None when the rule decides."""
    return next((v for (p, pattern), v in CURATED.items() if p == package and fnmatch.fnmatchcase(rel, pattern)),
                None)


def _remove_stale_crops(out: Path, names, keep: set[Path]) -> None:
    """Deletes crops an earlier run wrote for photos no longer selected (our file names only)."""
    for name in names:
        for path in (out / name).glob("*_s[0-9]_*.jpg") if (out / name).is_dir() else []:
            if path not in keep and CROP_NAME.fullmatch(path.name):
                path.unlink()


def _decide(packages, folders: dict, cache: Path) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Applies rule, curated list and duplicate check; caches the rule's decisions in the cache."""
    decisions_file = cache / "decisions.json"
    decisions = json.loads(decisions_file.read_text()) if decisions_file.is_file() else {}
    photos, rejected, hashes = [], [], []
    for package in packages:
        ids = set()
        for rel in candidates(package, folders[package.name]):
            key = f"v{RULE_VERSION}/{package.name}_{package.version}/{rel}"
            if key not in decisions:
                decisions[key] = classify(package.root / rel)
            is_photo, reason, digest = decisions[key]
            curated = curated_decision(package.name, rel)
            if curated:
                is_photo, why = curated
                reason = f"curated: {why}"
                if is_photo and digest is None:
                    digest = dhash(_luma_small(str(package.root / rel)))
            if not is_photo:
                rejected.append((package.name, rel, reason))
                continue
            twin = next((p for p, h in hashes if hash_distance(h, digest) <= DUPLICATE_HAMMING), None)
            if twin:
                rejected.append((package.name, rel, f"duplicate of {twin}"))
                continue
            hashes.append((f"{package.name}/{rel}", digest))
            pid, n = photo_id(rel), 1
            while pid in ids:
                pid, n = f"{photo_id(rel)}_{n}", n + 1
            ids.add(pid)
            licence = debian_packages.file_licence(package.root, package.name, rel)
            with Image.open(package.root / rel) as image:
                width, height = image.size
            photos.append({"id": pid, "package": package.name, "version": package.version,
                           "deb": package.deb.name, "path": rel, "width": width, "height": height,
                           "licence": licence.licence, "copyright": licence.copyright,
                           "licence_note": debian_packages.licence_note(package.root, rel), "selected_by": reason})
    atomic_write_text(decisions_file, json.dumps(decisions, indent=0))
    return photos, rejected


def build(out, *, cache=None, download=None, packages: dict | None = None, seed: int = 42, workers: int = 2,
          verbose: bool = True) -> dict:
    """Builds (or completes) the dataset in `out`; see the module docstring.

    Args:
        out: output folder (e.g. data/debian-photos).
        cache: where .debs, unpacked trees and decisions are kept (default `out/.cache`, which
            `files.find_images` skips as a hidden folder).
        download: `debian_packages.Downloader` for a missing .deb (default: `apt-get download`).
        packages: {package: folders searched} (default `PACKAGES`).
        seed: split seed.
        workers: threads that write crops.
        verbose: print a summary.

    Returns:
        The summary written to `out/prepare.json`.

    Raises:
        debian_packages.PackageError: apt-get/dpkg-deb missing or a package unavailable (the
            message says what to do instead).
    """
    start = time.perf_counter()
    out = Path(out)
    cache = Path(cache) if cache is not None else out / ".cache"
    folders = dict(packages or PACKAGES)
    packages = debian_packages.fetch_and_unpack(list(folders), cache, download=download)
    photos, rejected = _decide(packages, folders, cache)
    if not photos:
        raise debian_packages.PackageError(f"no photographs found in {', '.join(folders)}")
    roots = {p.name: p.root for p in packages}
    jobs, crops_of = [], {}
    for photo in photos:
        targets = [(out / photo["package"] / f"{photo['id']}_s{k}_{n}.jpg", box)
                   for n, (k, box) in enumerate(crop_boxes(photo["width"], photo["height"]))]
        crops_of[photo["package"], photo["id"]] = [t for t, _ in targets]
        jobs.append((roots[photo["package"]] / photo["path"], targets))
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(lambda job: _write_crops(*job), jobs))
    _remove_stale_crops(out, folders, {t for targets in crops_of.values() for t in targets})
    keys = [f"{p['package']}/{p['id']}" for p in photos]
    by_photo = split_photos(keys, seed)
    side = {key: name for name, chosen in by_photo.items() for key in chosen}
    result = {name: [] for name in splits.SPLIT_NAMES}
    for photo, key in zip(photos, keys):
        photo["split"] = side[key]
        photo["crops"] = len(crops_of[photo["package"], photo["id"]])
        result[side[key]] += crops_of[photo["package"], photo["id"]]
    versions = {p.name: {"version": p.version, "deb": p.deb.name} for p in packages}
    manifest = {"packages": versions, "rule": _rule_description(), "photos": photos}
    atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1, ensure_ascii=False))
    atomic_write_text(out / "rejected.tsv", "package\tpath\treason\n"
                      + "".join(f"{p}\t{r}\t{why}\n" for p, r, why in rejected))
    summary = {"dataset": "debian-photos", "protocol": SPLIT_PROTOCOL.description, "seed": seed,
               "packages": versions, "photos": len(photos), "rejected": len(rejected),
               "photos_per_package": {n: sum(p["package"] == n for p in photos) for n in folders},
               "photo_splits": {k: len(v) for k, v in by_photo.items()},
               "crops": sum(len(v) for v in result.values()), "splits": {k: len(v) for k, v in result.items()},
               "stored_size": STORED_SIZE, "crop_scales": list(CROP_SCALES),
               "seconds": round(time.perf_counter() - start, 1)}
    atomic_write_text(out / "prepare.json", json.dumps(summary, indent=1))
    splits.write_splits(out / "splits.json", result, out)  # last: its presence means complete
    if verbose:
        print(_summary_text(summary, out))
    return summary


def _rule_description() -> dict:
    return {"file_type": "JPEG or lossy WebP without alpha", "min_side": MIN_PHOTO_SIDE,
            "gray_threshold": files.DEFAULT_GRAY_THRESHOLD,
            "max_flat_fraction": MAX_FLAT_FRACTION, "flat_gradient": FLAT_GRADIENT,
            "flat_check_side": FLAT_CHECK_SIDE, "duplicate_hamming": DUPLICATE_HAMMING,
            "curated": [{"package": p, "path": r, "photo": v, "why": w} for (p, r), (v, w) in CURATED.items()]}


def _summary_text(summary: dict, out: Path) -> str:
    lines = [f"{n:<28} {c:>3} photos  ({summary['packages'][n]['version']})"
             for n, c in summary["photos_per_package"].items()]
    s, ps = summary["splits"], summary["photo_splits"]
    lines += [f"Photos: {summary['photos']} (left out: {summary['rejected']} files, see rejected.tsv)",
              f"Crops:  {summary['crops']} at {summary['stored_size']} px",
              f"Train size:      {s['train']} crops of {ps['train']} photos",
              f"Validation size: {s['val']} crops of {ps['val']} photos",
              f"Test size:       {s['test']} crops of {ps['test']} photos",
              f"Written to {out} (splits.json, manifest.json, rejected.tsv, prepare.json) "
              f"in {summary['seconds']:.1f} s"]
    return "\n".join(lines)


__all__ = ["PACKAGES", "EXAMINED_WITHOUT_PHOTOS", "CURATED", "classify", "flat_fraction", "dhash",
           "candidates", "crop_boxes", "split_photos", "build"]
