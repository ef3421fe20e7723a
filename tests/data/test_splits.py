"""Deterministic, stable splits per paper protocol (colorization_tf.data.splits)."""

import pytest

from colorization_tf.data import splits


def _names(n, folder="landscapes", start=0):
    return [f"/data/{folder}/img_{i:05d}.jpg" for i in range(start, start + n)]


def _assignment(result):
    return {p: name for name, items in result.items() for p in items}


@pytest.mark.parametrize(
    "protocol, fractions",
    [("polychromify", (0.64, 0.16, 0.20)), ("ziegler", (0.8, 0.0, 0.2)), ("lee2016", (0.9, 0.0, 0.1))],
)
def test_hash_protocols_match_their_proportions(protocol, fractions):
    paths = _names(5000)
    result = splits.split_files(paths, protocol, seed=42)
    assert set(result) == {"train", "val", "test"}
    assert sorted(p for items in result.values() for p in items) == sorted(paths)  # disjoint and complete
    for name, fraction in zip(("train", "val", "test"), fractions):
        assert abs(len(result[name]) / len(paths) - fraction) < 0.025, (name, len(result[name]))
    for items in result.values():  # caller's order kept
        assert items == sorted(items)


def test_split_is_deterministic_and_seed_dependent():
    paths = _names(400)
    a = splits.split_files(paths, "polychromify", seed=42)
    b = splits.split_files(list(reversed(paths)), "polychromify", seed=42)
    assert _assignment(a) == _assignment(b)
    c = splits.split_files(paths, "polychromify", seed=7)
    assert _assignment(a) != _assignment(c)


def test_adding_files_never_moves_existing_ones():
    old = _names(300)
    new = old + _names(200, start=300) + _names(50, folder="more")
    before, after = _assignment(splits.split_files(old, "ziegler")), _assignment(splits.split_files(new, "ziegler"))
    assert all(after[p] == before[p] for p in old)


def test_default_key_survives_moving_the_dataset_and_keeps_classes_apart():
    a = splits.split_files([f"/old/place/sea/{i}.jpg" for i in range(100)], "ziegler")
    b = splits.split_files([f"/new/home/sea/{i}.jpg" for i in range(100)], "ziegler")
    assert [p.split("/")[-1] for p in a["test"]] == [p.split("/")[-1] for p in b["test"]]
    assert splits.split_key("/x/sea/1.jpg") != splits.split_key("/x/beach/1.jpg")
    assert splits.split_key("/x/y/sea/1.jpg", root="/x") == "y/sea/1.jpg"


def test_cs520_is_exact_per_scene_and_nearly_stable():
    scenes = {s: [f"/cs520/{s}/{i}.jpg" for i in range(15)] for s in ("beach", "forest", "sunrise")}
    paths = [p for items in scenes.values() for p in items]
    result = splits.split_files(paths, "cs520")
    for scene in scenes:
        train = [p for p in result["train"] if f"/{scene}/" in p]
        test = [p for p in result["test"] if f"/{scene}/" in p]
        assert (len(train), len(test)) == (round(0.7 * 15), 15 - round(0.7 * 15))
    grown = splits.split_files(paths + ["/cs520/beach/15.jpg"], "cs520")
    moved = [p for p in paths if _assignment(grown)[p] != _assignment(result)[p]]
    assert len(moved) <= 1
    assert splits.split_files(paths, "cs520", exact=False)["val"] == []


def test_div2k_uses_its_own_folders_or_numbers():
    paths = [f"/d/DIV2K_train_HR/{i:04d}.png" for i in range(1, 801)]
    paths += [f"/d/DIV2K_valid_HR/{i:04d}.png" for i in range(801, 901)]
    result = splits.split_files(paths, "div2k")
    assert (len(result["train"]), len(result["val"]), len(result["test"])) == (800, 0, 100)
    flat = splits.split_files(["/x/0001.png", "/x/0800.png", "/x/0801.png", "/x/0900x4.png"], "div2k")
    assert flat["train"] == ["/x/0001.png", "/x/0800.png"] and flat["test"] == ["/x/0801.png", "/x/0900x4.png"]
    with pytest.raises(ValueError, match="no split"):
        splits.split_files(["/x/holiday.png"], "div2k")


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="Unknown split protocol"):
        splits.split_files(_names(3), "nope")
    with pytest.raises(ValueError, match="duplicate"):
        splits.split_files(["/a/x/1.jpg", "/b/x/1.jpg"], "ziegler")


def test_write_and_read_splits_round_trip(tmp_path):
    paths = [str(tmp_path / "c" / f"{i}.jpg") for i in range(20)]
    result = splits.split_files(paths, "polychromify")
    splits.write_splits(tmp_path / "splits.json", result, tmp_path)
    assert splits.read_splits(tmp_path / "splits.json") == result
    assert "c/" in (tmp_path / "splits.json").read_text()


def test_hash_fraction_is_uniformish_and_stable():
    values = [splits.hash_fraction(f"k{i}", 0) for i in range(2000)]
    assert all(0 <= v < 1 for v in values)
    assert abs(sum(values) / len(values) - 0.5) < 0.03
    assert splits.hash_fraction("k1", 0) == splits.hash_fraction("k1", 0) != splits.hash_fraction("k1", 1)
