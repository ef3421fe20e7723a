"""Image discovery, bounded decoding and the unusable-image report (colorization_tf.data.files)."""

import time
import warnings

import numpy as np
import pytest
from PIL import Image
from skimage.color import rgb2lab

from colorization_tf.data import files


def test_find_images_flat_any_case_skips_hidden_and_non_images(tmp_path, make_colourful):
    rgb = make_colourful()
    for name in ("a.JPG", "b.jpeg", "c.Png", "d.tiff", "e.WebP"):
        Image.fromarray(rgb).save(tmp_path / name, format={"jpg": "JPEG", "jpeg": "JPEG"}.get(name.split(".")[1].lower()))
    (tmp_path / "notes.txt").write_text("not an image")
    Image.fromarray(rgb).save(tmp_path / ".hidden.jpg")
    found = files.find_images(tmp_path)
    assert [p.split("/")[-1] for p in found.paths] == ["a.JPG", "b.jpeg", "c.Png", "d.tiff", "e.WebP"]
    assert found.class_names == [] and found.labels is None


def test_find_images_class_folders_give_sorted_labels(tmp_path, make_colourful):
    rgb = make_colourful()
    for cls, n in (("sea", 2), ("beach", 3), ("mountain", 1)):
        (tmp_path / cls / "nested").mkdir(parents=True)
        for i in range(n):
            Image.fromarray(rgb).save(tmp_path / cls / ("nested" if i == 0 else "") / f"{i}.jpg")
    (tmp_path / "empty_class").mkdir()
    Image.fromarray(rgb).save(tmp_path / "stray.jpg")
    with pytest.warns(UserWarning, match="no class"):
        found = files.find_images(tmp_path)
    assert found.class_names == ["beach", "mountain", "sea"]
    by_class = {}
    for record in found.records:
        by_class.setdefault(found.class_names[record.label], []).append(record.path)
        assert f"/{found.class_names[record.label]}/" in record.path
    assert {k: len(v) for k, v in by_class.items()} == {"beach": 3, "mountain": 1, "sea": 2}


def test_find_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        files.find_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="no image files"):
        files.find_images(tmp_path)


def test_check_image_gives_the_right_reason_for_each_file(image_folder):
    root, expected = image_folder
    for name, reason in expected.items():
        got = files.check_image(root / name)
        if reason is None:
            assert got is None, f"{name}: {got}"
        else:
            assert got is not None and got.startswith(reason), f"{name}: {got!r}, expected {reason!r}"


def test_bomb_is_refused_from_its_header_quickly(tmp_path, make_bomb_png):
    # 10000 x 10000 stays under PIL's own bomb limit, so only our max_pixels check stops it.
    (tmp_path / "big.png").write_bytes(make_bomb_png(10000, 10000))
    start = time.perf_counter()
    with pytest.raises(files.ImageError) as info:
        files.load_image_rgb(tmp_path / "big.png", max_pixels=50_000_000)
    assert time.perf_counter() - start < 1.0
    assert info.value.reason.startswith("too large") and info.value.path.endswith("big.png")
    assert "big.png" in str(info.value)


def test_scan_images_report_and_summary(image_folder, capsys):
    root, expected = image_folder
    paths = sorted(str(p) for p in root.iterdir())
    report = files.scan_images(paths, workers=2, progress=True, source=str(root))
    out = capsys.readouterr()
    assert f"Found {len(paths)} files" in out.out
    assert sorted(p.split("/")[-1] for p in report.usable) == sorted(k for k, v in expected.items() if v is None)
    assert {p.split("/")[-1]: r.split(":")[0] for p, r in report.unusable.items()} == {
        k: v for k, v in expected.items() if v is not None
    }
    serial = files.scan_images(paths, workers=1, progress=False)
    assert serial.usable == report.usable and serial.unusable == report.unusable
    summary = report.summary({"train": report.usable[:3], "val": [], "test": report.usable[3:]}, source="x")
    assert "Train size:" in summary and "Test size:" in summary and "Val size" not in summary
    assert f"Unusable:        {len(report.unusable)}" in summary


def test_scan_gray_threshold_is_configurable(image_folder):
    root, _ = image_folder
    assert files.check_image(root / "gray_rgb.jpg", gray_threshold=0) is None
    assert files.check_image(root / "good.jpg", gray_threshold=1e6).startswith("grayscale")


def test_mean_chroma_separates_gray_from_sepia(make_colourful):
    gray = np.repeat(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), 3, -1)
    sepia = (gray * np.array([1.0, 0.9, 0.7])).astype(np.uint8)
    assert files.mean_chroma(gray) < 0.5
    assert files.mean_chroma(sepia) > files.DEFAULT_GRAY_THRESHOLD
    lab = rgb2lab(make_colourful() / 255.0)
    assert files.mean_chroma(make_colourful()) == pytest.approx(np.hypot(lab[..., 1], lab[..., 2]).mean(), rel=1e-4)


def test_load_image_rgb_converts_every_mode(tmp_path, make_colourful):
    rgb = make_colourful()
    gray16 = (np.arange(48 * 64).reshape(48, 64) * 20).astype(np.uint16)
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    out = files.load_image_rgb(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.shape == (48, 64, 3)
    np.testing.assert_allclose(out[..., 0], np.round(gray16 / 257.0), atol=1)

    rgba = np.dstack([rgb, np.zeros(rgb.shape[:2], np.uint8)])
    rgba[:, :10, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    out = files.load_image_rgb(tmp_path / "alpha.png")
    assert (out[:, 10:] == 255).all() and np.array_equal(out[:, :10], rgb[:, :10])

    Image.fromarray(rgb).convert("P").save(tmp_path / "pal.gif")
    assert files.load_image_rgb(tmp_path / "pal.gif").shape == (48, 64, 3)
    Image.fromarray(rgb[..., 0]).save(tmp_path / "l.png")
    out = files.load_image_rgb(tmp_path / "l.png")
    assert np.array_equal(out[..., 1], rgb[..., 0]) and np.array_equal(out[..., 2], rgb[..., 0])


def test_load_image_rgb_honours_exif_orientation(tmp_path, make_colourful):
    rgb = make_colourful(40, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    Image.fromarray(rgb).save(tmp_path / "rot.jpg", exif=exif, quality=95)
    out = files.load_image_rgb(tmp_path / "rot.jpg")
    assert out.shape == (60, 40, 3)
    right = np.abs(out.astype(int) - np.rot90(rgb, k=-1)).mean()
    wrong = np.abs(out.astype(int) - np.rot90(rgb, k=1)).mean()
    assert right < 12 and wrong > 3 * right


def test_load_image_rgb_raises_clear_errors(image_folder):
    root, _ = image_folder
    for name, reason in (("empty.jpg", "empty file"), ("truncated.jpg", "truncated"), ("not_an_image.jpg", "undecodable")):
        with pytest.raises(files.ImageError) as info:
            files.load_image_rgb(root / name)
        assert info.value.reason.startswith(reason) and name in str(info.value)
    with pytest.raises(files.ImageError, match="unreadable"):
        files.load_image_rgb(root / "does_not_exist.jpg")


@pytest.mark.parametrize("fmt", ["EPS", "PCX", "SGI", "TGA", "PPM", "ICO"])
def test_only_the_claimed_formats_reach_a_decoder(tmp_path, make_colourful, fmt):
    """PIL opened any format it knows (EPS runs Ghostscript) from any upload or folder, whatever the
    file's name: now only JPEG, PNG, GIF, BMP, TIFF and WebP are decoded."""
    path = tmp_path / "photo.jpg"  # the name claims a JPEG
    if fmt == "EPS":
        path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 64\nshowpage\n")
    else:
        Image.fromarray(make_colourful(64, 64)).convert("RGB").save(path, format=fmt)
    with pytest.raises(files.ImageError, match="not an image of a supported format") as info:
        files.load_image_rgb(path)
    assert "photo.jpg" in str(info.value)
    assert files.check_image(path).startswith("undecodable")


def test_scan_report_write_is_atomic_text(tmp_path):
    report = files.ScanReport(["a.jpg"], {"b.jpg": "empty file", "c.jpg": "too small: 3x3"})
    report.write(tmp_path / "unusable.tsv")
    assert (tmp_path / "unusable.tsv").read_text().splitlines() == ["b.jpg\tempty file", "c.jpg\ttoo small: 3x3"]
    assert report.reason_counts() == {"empty file": 1, "too small": 1}
    assert not list(tmp_path.glob("*.tmp*"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "Usable:" in report.summary()
