"""datasets/prepare.py: scan, filter, lay out, normalise and split a downloaded dataset."""

import json

import pytest
from PIL import Image

from colorization_tf.data import files, splits
from tests._scripts import load_script


@pytest.fixture(scope="module")
def prepare():
    return load_script("datasets/prepare.py", "prepare_datasets")


def test_prepare_class_folders(tmp_path, prepare, make_colourful, make_bomb_png):
    src = tmp_path / "src"
    for cls in ("beach", "forest"):
        (src / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(make_colourful(seed=i)).save(src / cls / f"{i}.jpg")
    Image.fromarray(make_colourful(seed=9)).save(src / "beach" / "scan.TIFF")
    (src / "forest" / "empty.png").write_bytes(b"")
    (src / "forest" / "bomb.png").write_bytes(make_bomb_png())
    out = tmp_path / "out"
    result = prepare.prepare("cs520", src, out, progress=False)
    assert sorted(p.name for p in (out / "beach").iterdir()) == ["0.jpg", "1.jpg", "2.jpg", "3.jpg", "scan.png"]
    assert files.load_image_rgb(out / "beach" / "scan.png").shape == (48, 64, 3)
    unusable = (out / "unusable.tsv").read_text()
    assert "empty.png\tempty file" in unusable and "bomb.png\ttoo large" in unusable
    assert splits.read_splits(out / "splits.json") == {k: [str(p) for p in v] for k, v in result.items()}
    assert len(result["train"]) + len(result["test"]) == 9 and result["val"] == []
    assert json.loads((out / "prepare.json").read_text())["unusable"] == 2
    found = files.find_images(out)
    assert found.class_names == ["beach", "forest"] and len(found) == 9
    stamp = (out / "beach" / "0.jpg").stat().st_mtime_ns
    prepare.prepare("cs520", src, out, progress=False)  # again: nothing rewritten
    assert (out / "beach" / "0.jpg").stat().st_mtime_ns == stamp


def test_prepare_places_layout_keeps_its_own_split(tmp_path, prepare, make_colourful):
    src = tmp_path / "miniplaces" / "images"
    for letter, cat in (("a", "abbey"), ("b", "beach")):
        (src / "train" / letter / cat).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(make_colourful(seed=i)).save(src / "train" / letter / cat / f"0000000{i}.jpg")
    (src / "val").mkdir()
    (src / "test").mkdir()
    for i in (1, 2):
        Image.fromarray(make_colourful(seed=5 + i)).save(src / "val" / f"0000000{i}.jpg")
    Image.fromarray(make_colourful(seed=8)).save(src / "test" / "00000001.jpg")
    (src.parent / "categories.txt").write_text("/a/abbey 0\n/b/beach 1\n")
    (src.parent / "val.txt").write_text("val/00000001.jpg 1\nval/00000002.jpg 0\n")
    out = tmp_path / "places"
    result = prepare.prepare("places", src, out, max_side=32, progress=False)
    assert (len(result["train"]), len(result["test"])) == (4, 2)
    assert files.find_images(out).class_names == ["abbey", "beach"]
    assert all(p.endswith(".jpg") and max(Image.open(p).size) <= 32 for p in result["train"] + result["test"])
    assert any("/beach/00000001" in p for p in result["test"])


def test_prepare_div2k(tmp_path, prepare, make_colourful):
    src = tmp_path / "DIV2K"
    for folder, numbers in (("DIV2K_train_HR", (1, 2, 3)), ("DIV2K_valid_HR", (801, 802))):
        (src / folder).mkdir(parents=True)
        for n in numbers:
            Image.fromarray(make_colourful(seed=n)).save(src / folder / f"{n:04d}.png")
    result = prepare.prepare("div2k", src, tmp_path / "out", progress=False)
    assert (len(result["train"]), len(result["val"]), len(result["test"])) == (3, 0, 2)
    assert all("DIV2K_valid_HR" in p for p in result["test"])


def test_prepare_cli_reports_missing_source(tmp_path, prepare):
    with pytest.raises(SystemExit, match="not a folder"):
        prepare.main(["landscapes", "--src", str(tmp_path / "nope"), "--out", str(tmp_path / "out")])
