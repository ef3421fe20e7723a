"""debian-photos: a fake .deb (built here with dpkg-deb) through the whole builder, offline."""

import importlib.util
import json
import io
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorization_tf.data import splits
from colorization_tf.sources import debian_packages, debian_photos

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "fake-photos"
FOLDER = "usr/share/backgrounds/fake"
BUNDLE = "usr/share/fake/bundle.rcc"
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb is not installed")

COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: fake

Files: *
Copyright: 2020 Someone
License: GPL-2+

Files: fake/photo_b.jpg
Copyright: 2021 Photographer B
 and a second line
License: CC-BY-4.0

Files: src/resource/photo_d.jpg
Copyright: 2022 Photographer D
License: CC0-1.0

License: GPL-2+
 This is free software.
"""


def photo_like(seed, height=400, width=480):
    """Multi-scale coloured noise with grain: no flat areas, like a photograph of a texture."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.float32)
    for cells, weight in ((4, 60.0), (16, 30.0), (64, 15.0)):
        coarse = rng.uniform(-1, 1, (cells, cells, 3)).astype(np.float32)
        img += weight * np.asarray(Image.fromarray(((coarse + 1) * 127.5).astype(np.uint8)).resize(
            (width, height), Image.BICUBIC), np.float32) / 127.5
    img += rng.normal(0, 4, img.shape) + np.array([120, 110, 90], np.float32)
    return img.clip(0, 255).astype(np.uint8)


def art_like(height=400, width=480):
    """Flat colour areas and a disc: vector-art-like."""
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = (30, 90, 200)
    img[height // 2:] = (240, 180, 40)
    y, x = np.mgrid[:height, :width]
    img[(y - 150) ** 2 + (x - 300) ** 2 < 60**2] = (220, 30, 60)
    return img


def qt_bundle(files: dict[str, bytes]) -> bytes:
    """A Qt binary resource bundle, format 1, files stored (layout in qt_resources' docstring; the
    reader is checked on bundles written by Qt itself in test_qt_resources)."""
    tree = {}
    for path, data in files.items():
        *folders, name = path.split("/")
        node = tree
        for part in folders:
            node = node.setdefault(part, {})
        node[name] = data
    names, blobs, nodes, pending, index = bytearray(), bytearray(), bytearray(), [("", tree)], 0
    while index < len(pending):  # breadth first: a folder's children get consecutive node indices
        name, value = pending[index]
        index += 1
        name_offset = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        if isinstance(value, dict):
            nodes += struct.pack(">IHII", name_offset, 2, len(value), len(pending))
            pending += sorted(value.items())
        else:
            nodes += struct.pack(">IHHHI", name_offset, 0, 0, 0, len(blobs))
            blobs += struct.pack(">I", len(value)) + value
    tree_at, data_at, names_at = 20 + len(blobs) + len(names), 20, 20 + len(blobs)
    return b"qres" + struct.pack(">4I", 1, tree_at, data_at, names_at) + bytes(blobs) + bytes(names) + bytes(nodes)


@pytest.fixture(scope="module")
def fake_deb(tmp_path_factory):
    """A .deb with 3 photos, a smaller copy of one, a render (JPEG), a drawing (PNG), a gray photo,
    and a Qt bundle with a photo (lossy WebP), a cut-out (WebP with alpha) and a lossless WebP."""
    root = tmp_path_factory.mktemp("pkg") / "tree"
    (root / "DEBIAN").mkdir(parents=True)
    (root / "DEBIAN" / "control").write_text(
        f"Package: {PACKAGE}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <t@example.org>\n"
        "Description: fake photos\n")
    folder = root / FOLDER
    folder.mkdir(parents=True)
    for i, name in enumerate(("photo_a", "photo_b", "photo_c")):
        Image.fromarray(photo_like(i)).save(folder / f"{name}.jpg", quality=92)
    Image.fromarray(photo_like(0)).resize((432, 360), Image.LANCZOS).save(folder / "photo_a_small.jpg", quality=92)
    Image.fromarray(art_like()).save(folder / "render.jpg", quality=95)
    Image.fromarray(photo_like(5)).save(folder / "drawing.png")
    gray = np.repeat(photo_like(6).mean(-1, keepdims=True), 3, -1).astype(np.uint8)
    Image.fromarray(gray).save(folder / "gray_photo.jpg", quality=92)
    webps, cutout = {}, np.dstack([photo_like(8), np.zeros((400, 480), np.uint8)])
    cutout[100:300, 140:340, 3] = 255  # opaque only in the middle: a cut-out
    for name, image, options in (("photo_d", Image.fromarray(photo_like(7)), {"quality": 90}),
                                 ("cutout", Image.fromarray(cutout), {"quality": 90}),
                                 ("lossless", Image.fromarray(photo_like(9)), {"lossless": True})):
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", **options)
        webps[f"game/src/resource/{name}.webp"] = buffer.getvalue()
    (root / BUNDLE).parent.mkdir(parents=True)
    (root / BUNDLE).write_bytes(qt_bundle({**webps, "game/src/resource/notes.txt": b"not an image"}))
    doc = root / "usr" / "share" / "doc" / PACKAGE
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT)
    deb = root.parent / f"{PACKAGE}_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(root), str(deb)], check=True,
                   capture_output=True)
    return deb


@pytest.fixture
def fake_download(fake_deb):
    calls = []

    def download(package, folder):
        calls.append(package)
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(fake_deb, folder / fake_deb.name))

    download.calls = calls
    return download


@needs_dpkg
def test_build_from_fake_deb(tmp_path, fake_download, monkeypatch):
    monkeypatch.setitem(debian_photos.CURATED, (PACKAGE, f"{FOLDER}/photo_c.jpg"), (False, "curated out"))
    out = tmp_path / "out"
    summary = debian_photos.build(out, download=fake_download, packages={PACKAGE: (FOLDER, BUNDLE)}, verbose=False)
    assert fake_download.calls == [PACKAGE]

    manifest = json.loads((out / "manifest.json").read_text())
    photos = {Path(p["path"]).name: p for p in manifest["photos"]}
    assert sorted(photos) == ["photo_a.jpg", "photo_b.jpg", "photo_d.webp"]  # rule + curated + duplicates
    assert photos["photo_a.jpg"]["version"] == "1.0-1" and photos["photo_a.jpg"]["package"] == PACKAGE
    assert photos["photo_a.jpg"]["licence"] == "GPL-2+"
    assert photos["photo_b.jpg"]["licence"] == "CC-BY-4.0"
    assert photos["photo_b.jpg"]["copyright"] == "2021 Photographer B; and a second line"
    # from the bundle, unpacked beside it; licensed under its source name (.jpg in the copyright file)
    assert photos["photo_d.webp"]["path"] == f"{BUNDLE}.d/game/src/resource/photo_d.webp"
    assert photos["photo_d.webp"]["id"] == "bundle-photo_d"
    assert photos["photo_d.webp"]["licence"] == "CC0-1.0"
    rejected = {line.split("\t")[1].rsplit("/", 1)[1]: line.split("\t")[2]
                for line in (out / "rejected.tsv").read_text().splitlines()[1:]}
    assert rejected["drawing.png"].startswith("file type PNG")
    assert rejected["render.jpg"].startswith("flat:")
    assert rejected["gray_photo.jpg"].startswith("grayscale")
    assert rejected["photo_c.jpg"] == "curated: curated out"
    assert rejected["photo_a_small.jpg"] == f"duplicate of {PACKAGE}/{FOLDER}/photo_a.jpg"
    assert rejected["cutout.webp"].startswith("WebP with alpha or lossless")
    assert rejected["lossless.webp"].startswith("WebP with alpha or lossless")
    assert "notes.txt" not in rejected  # not an image: not looked at

    # 480x400 photos: one 400-px crop (stored at 256) + 2x2 crops of 200 px; 100-px crops are too small
    crops = sorted((out / PACKAGE).glob("*.jpg"))
    assert len(crops) == 3 * 5 == summary["crops"]
    sizes = {Image.open(c).size for c in crops}
    assert sizes == {(256, 256), (200, 200)}  # downscaled, never upscaled

    split = splits.read_splits(out / "splits.json")
    assert sorted(sum(split.values(), [])) == sorted(str(c) for c in crops)
    for photo in manifest["photos"]:  # every crop of a photo is on its photo's side, and only there
        mine = {str(c) for c in crops if c.name.startswith(photo["id"] + "_s")}
        assert mine <= set(split[photo["split"]])
        assert not mine & set(sum((v for k, v in split.items() if k != photo["split"]), []))


@needs_dpkg
def test_rerun_is_cached_and_idempotent(tmp_path, fake_download):
    out = tmp_path / "out"
    kwargs = {"download": fake_download, "packages": {PACKAGE: (FOLDER, BUNDLE)}, "verbose": False}
    first = debian_photos.build(out, **kwargs)
    stamps = {p: p.stat().st_mtime_ns for p in (out / PACKAGE).glob("*.jpg")}
    split_text = (out / "splits.json").read_text()
    second = debian_photos.build(out, **kwargs)
    assert fake_download.calls == [PACKAGE]  # the .deb came from the cache the second time
    assert {p: p.stat().st_mtime_ns for p in (out / PACKAGE).glob("*.jpg")} == stamps
    assert (out / "splits.json").read_text() == split_text
    assert {k: v for k, v in first.items() if k != "seconds"} == {k: v for k, v in second.items() if k != "seconds"}
    assert len(list((out / ".cache" / "unpacked").iterdir())) == 1


def _prepare_module():
    spec = importlib.util.spec_from_file_location("prepare_datasets_debian", REPO / "datasets" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_clear_error_without_apt(tmp_path, monkeypatch, capsys):
    real_which = shutil.which
    monkeypatch.setattr(debian_packages.shutil, "which", lambda name: None if name == "apt-get" else real_which(name))
    with pytest.raises(debian_packages.PackageError, match="apt-get was not found") as err:
        debian_photos.build(tmp_path / "out", verbose=False)
    assert "prepare.py folder" in str(err.value) and str(tmp_path / "out" / ".cache" / "debs") in str(err.value)
    assert _prepare_module().main(["debian-photos", "--out", str(tmp_path / "out")]) == 2
    assert "apt-get was not found" in capsys.readouterr().err


@needs_dpkg
def test_cached_debs_need_no_apt(tmp_path, fake_deb, monkeypatch):
    debs = tmp_path / "cache" / "debs"
    debs.mkdir(parents=True)
    shutil.copy(fake_deb, debs)
    monkeypatch.setattr(debian_packages.shutil, "which", lambda name: None if name == "apt-get" else "/usr/bin/x")
    summary = debian_photos.build(tmp_path / "out", cache=tmp_path / "cache",
                                  packages={PACKAGE: (FOLDER, BUNDLE)}, verbose=False)
    assert summary["photos"] == 4


def test_crop_boxes_fit_and_skip_small_crops():
    boxes = debian_photos.crop_boxes(1296, 864)
    assert [sum(k == s for k, _ in boxes) for s in range(3)] == [1, 6, 24]
    assert all(0 <= l < r <= 1296 and 0 <= t < b <= 864 and r - l == b - t for _, (l, t, r, b) in boxes)
    assert {k for k, _ in debian_photos.crop_boxes(448, 376)} == {0, 1}  # 94-px crops are left out


def test_licence_matching_prefers_the_specific_pattern(tmp_path):
    doc = tmp_path / "usr" / "share" / "doc" / "p"
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(COPYRIGHT.replace("fake/photo_b.jpg", "16.04/photo_b.jpg\n       other/*.png"))
    assert debian_packages.file_licence(tmp_path, "p", "usr/share/x/photo_b.jpg").licence == "CC-BY-4.0"  # by name
    assert debian_packages.file_licence(tmp_path, "p", "usr/share/other/a.png").licence == "CC-BY-4.0"  # tail glob
    assert debian_packages.file_licence(tmp_path, "p", "usr/share/x/photo_a.jpg").licence == "GPL-2+"
    # a source listed as .jpg and shipped converted (.webp) keeps its licence; a glob does not stretch so
    assert debian_packages.file_licence(tmp_path, "p", "usr/x.rcc.d/src/resource/photo_d.webp").licence == "CC0-1.0"
    assert debian_packages.file_licence(tmp_path, "p", "usr/share/other/a.webp").licence == "GPL-2+"
    assert debian_packages.file_licence(tmp_path, "p", "usr/share/resource/photo_d.webp").licence == "GPL-2+"
    assert debian_packages.file_licence(tmp_path, "q", "a.jpg").licence == "unknown"


def test_apt_failure_says_to_update_the_lists(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_apt = bin_dir / "apt-get"
    fake_apt.write_text("#!/bin/sh\necho 'E: Unable to locate package '$2 >&2\nexit 100\n")
    fake_apt.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(debian_packages.PackageError, match=r"apt-get update.*Unable to locate package nope"):
        debian_packages.apt_download("nope", tmp_path / "debs")
    assert list((tmp_path / "debs").iterdir()) == []  # nothing half-written left in the cache


def test_licence_note_reads_desktop_files_and_folder_notices(tmp_path):
    folder = tmp_path / "usr" / "share" / "palapeli" / "collection"
    folder.mkdir(parents=True)
    (folder / "castle.desktop").write_text(
        "[Desktop Entry]\nName=Castle\nX-KDE-PluginInfo-Author=Eric P\nX-KDE-PluginInfo-Email=\n"
        "X-KDE-PluginInfo-Website=http://commons.wikimedia.org/wiki/Image:Castle.jpg\nX-KDE-PluginInfo-License=FDL\n")
    note = debian_packages.licence_note(tmp_path, "usr/share/palapeli/collection/castle.jpg")
    assert note == "castle.desktop: License FDL, by Eric P, http://commons.wikimedia.org/wiki/Image:Castle.jpg"
    assert debian_packages.licence_note(tmp_path, "usr/share/palapeli/collection/other.jpg") == ""
    (folder / "License").write_text("Copyright 2022: LXQt Project Team\nLicensed under CC-BY-SA-3.0\n\nCredits: ...\n")
    assert debian_packages.licence_note(tmp_path, "usr/share/palapeli/collection/other.jpg") == (
        "License: Copyright 2022: LXQt Project Team Licensed under CC-BY-SA-3.0 Credits: ...")


def test_split_puts_a_package_of_five_photos_on_every_side():
    keys = [f"five/photo{i}" for i in range(5)] + [f"four/photo{i}" for i in range(4)] + [
        f"many/photo{i}" for i in range(40)]
    by_photo = debian_photos.split_photos(keys, seed=42)
    assert sorted(sum(by_photo.values(), [])) == sorted(keys)  # each photo on exactly one side
    counts = {p: [sum(k.startswith(p + "/") for k in by_photo[s]) for s in splits.SPLIT_NAMES]
              for p in ("five", "four", "many")}
    assert counts["five"] == [3, 1, 1]  # plain 70/15/15 rounding gives 4/0/1
    assert counts["four"] == [3, 0, 1]  # too few: left as the protocol rounds
    assert counts["many"] == [28, 6, 6]
    plain = splits.split_files(keys, debian_photos.SPLIT_PROTOCOL, seed=42)  # others exactly as the protocol
    for side in splits.SPLIT_NAMES:
        assert [k for k in by_photo[side] if k[:5] != "five/"] == [k for k in plain[side] if k[:5] != "five/"]


def test_a_damaged_bundle_is_a_package_error_naming_it(tmp_path):
    (tmp_path / "usr" / "share" / "fake").mkdir(parents=True)
    (tmp_path / BUNDLE).write_bytes(b"qres" + bytes(12))  # a header whose tables point nowhere
    package = debian_packages.UnpackedPackage(PACKAGE, "1.0-1", tmp_path / "fake.deb", tmp_path)
    with pytest.raises(debian_packages.PackageError, match=r"bundle.rcc.*delete .*fake.deb"):
        debian_photos.candidates(package, (BUNDLE,))
