"""datasets/prepare.py: scan, filter, lay out, normalise and split a downloaded dataset."""

import json
from pathlib import Path

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


def _hostile_copies(folder: Path, count: int = 40, seed: int = 0) -> dict[str, str]:
    """Fuzzed copies of real photos (scikit-image's), as users' folders hold them: intact, truncated,
    header bit flips, inserted junk, swapped extensions, and BMPs with bytes inserted before their
    pixels (PIL reads those, TensorFlow refuses them). Returns name -> kind."""
    import io
    import random

    import numpy as np

    from colorization_tf.sources import bundled_photos

    rng = random.Random(seed)
    bases = [np.asarray(Image.fromarray(rgb).resize((64, 48))) for rgb in bundled_photos.bundled_photos().values()]
    formats = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "GIF": ".gif"}
    kinds = ("intact", "truncated", "bit flips", "inserted junk", "swapped extension", "bmp inserted bytes")
    made = {}
    for k in range(count):
        kind = kinds[k % len(kinds)]
        fmt = "BMP" if kind == "bmp inserted bytes" else list(formats)[k // len(kinds) % len(formats)]
        buffer = io.BytesIO()
        Image.fromarray(bases[k % len(bases)]).save(buffer, format=fmt)
        data = bytearray(buffer.getvalue())
        ext = formats[fmt]
        if kind == "truncated":
            data = data[: rng.randrange(1, len(data))]
        elif kind == "bit flips":
            for _ in range(3):
                i = rng.randrange(min(64, len(data)))
                data[i] ^= 1 << rng.randrange(8)
        elif kind == "inserted junk":
            i = rng.randrange(len(data))
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif kind == "swapped extension":
            ext = formats[list(formats)[(list(formats).index(fmt) + 1) % len(formats)]]
        elif kind == "bmp inserted bytes":  # after the 54-byte header: the pixel data no longer fits its size
            data[60:60] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        name = f"{k:03d}_{kind.replace(' ', '_')}{ext}"
        (folder / name).write_bytes(bytes(data))
        made[name] = kind
    return made


def test_prepared_hostile_folder_yields_every_laid_out_image_through_the_pipeline(tmp_path, prepare, caplog):
    """Issue 8: PIL-readable files that TensorFlow's decoder refuses were laid out and then dropped."""
    from colorization_tf.data import decodable, pipeline

    src = tmp_path / "src"
    src.mkdir()
    made = _hostile_copies(src)
    only_pil = [name for name in made if files.check_image(src / name) is None and decodable.decode_error(src / name)]
    assert any(made[name] == "bmp inserted bytes" for name in only_pil)  # the case that went wrong
    out = tmp_path / "out"
    result = prepare.prepare("folder", src, out, progress=False)
    laid_out = files.list_image_files(out)
    info = json.loads((out / "prepare.json").read_text())
    assert info["images"] == len(laid_out) == sum(len(v) for v in result.values())
    assert info["images"] + info["unusable"] == len(made) and info["reencoded"] >= len(only_pil)
    assert all(decodable.decode_error(p) is None for p in laid_out)
    for name in only_pil:  # re-encoded as PNG, not lost
        assert (out / "images" / name).with_suffix(".png").is_file()

    caplog.set_level("WARNING", logger="colorization_tf.data")
    dataset = pipeline.build_image_dataset(laid_out, 32)
    assert int(dataset.cardinality()) == len(laid_out)  # a prepared folder's files are known to decode
    assert sum(1 for _ in dataset) == len(laid_out)
    assert not [r for r in caplog.records if r.name == "colorization_tf.data"]


def test_prepare_rerun_replaces_a_laid_out_file_the_pipeline_cannot_decode(tmp_path, prepare, make_colourful):
    """A folder prepared by an older version (copies TensorFlow refuses) is repaired, not kept."""
    src = tmp_path / "src"
    src.mkdir()
    Image.fromarray(make_colourful(seed=1)).save(src / "a.bmp")
    Image.fromarray(make_colourful(seed=2)).save(src / "b.bmp")
    good = (src / "b.bmp").read_bytes()
    (src / "b.bmp").write_bytes(good[:60] + b"junk" + good[60:])  # PIL reads it, TensorFlow does not
    out = tmp_path / "out"
    prepare.prepare("folder", src, out, progress=False)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.bmp", "b.png"]
    fine = (out / "images" / "a.bmp").read_bytes()
    (out / "images" / "a.bmp").write_bytes(fine[:60] + b"junk" + fine[60:])  # as an older version left them
    (out / "images" / "b.bmp").write_bytes((src / "b.bmp").read_bytes())
    (out / "images" / "b.png").unlink()
    (out / "prepare.json").unlink()
    prepare.prepare("folder", src, out, progress=False)
    assert (out / "images" / "a.bmp").read_bytes() == fine
    assert sorted(p.name for p in (out / "images").iterdir()) == ["a.bmp", "b.png"]
