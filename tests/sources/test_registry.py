"""The source registry (colorization_tf.sources.registry) and datasets/prepare.py as its command line."""

import dataclasses
import functools

import pytest

from colorization_tf.data import files, splits
from colorization_tf.sources import registry, synthetic
from colorization_tf.sources.base import Source
from tests._scripts import load_script


@pytest.fixture(scope="module")
def prepare():
    return load_script("datasets/prepare.py", "prepare_registry")


def _recording(monkeypatch, name: str) -> list[tuple]:
    """Replaces source `name`'s build by one that records (out, options)."""
    calls = []
    source = registry.SOURCES[name]
    fake = dataclasses.replace(source, build=lambda out, **options: calls.append((out, options)))
    monkeypatch.setitem(registry.SOURCES, name, fake)
    return calls


def test_every_source_is_a_subcommand_and_names_its_licence_and_split(prepare, capsys):
    with pytest.raises(SystemExit):
        prepare.main(["--help"])
    usage = capsys.readouterr().out
    for name, source in registry.SOURCES.items():
        assert isinstance(source, Source) and source.name == name and name in usage
        assert source.licence and source.description
        assert source.split_protocol is None or isinstance(source.split_protocol, splits.SplitProtocol)
    downloaded = {n for n, s in registry.SOURCES.items() if s.needs_src}
    assert downloaded == {"landscapes", "places", "div2k", "cs520", "folder"}
    assert all(registry.SOURCES[n].split_protocol is splits.PROTOCOLS[n] for n in ("div2k", "cs520"))


def test_unknown_source_names_the_choices():
    with pytest.raises(ValueError, match=r"unknown data source 'nope'.*debian-photos"):
        registry.get_source("nope")


def test_command_line_passes_each_source_only_its_options(prepare, monkeypatch, tmp_path):
    debian = _recording(monkeypatch, "debian-photos")
    assert prepare.main(["debian-photos", "--out", str(tmp_path), "--protocol", "ziegler", "--max-side", "9"]) == 0
    assert debian == [(tmp_path, {"workers": 2})]  # no split seed given: the builder's own default
    folder = _recording(monkeypatch, "folder")
    assert prepare.main(["folder", "--src", "s", "--out", str(tmp_path), "--cache", "c", "--seed", "3"]) == 0
    (out, options), = folder
    assert out == tmp_path and options == {"src": "s", "seed": 3, "min_size": files.DEFAULT_MIN_SIZE,
                                           "gray_threshold": files.DEFAULT_GRAY_THRESHOLD, "workers": 2}
    with pytest.raises(SystemExit):  # a downloaded source without --src
        prepare.main(["cs520", "--out", str(tmp_path)])


def test_prepare_synthetic_keeps_the_scene_seed_of_the_default_dataset(prepare, monkeypatch, tmp_path):
    """The split seed's default (42) is not the scenes' (0): `prepare.py synthetic` writes the
    embedded default scenes unless --seed is given."""
    small = dataclasses.replace(registry.SOURCES["synthetic"],
                                build=functools.partial(synthetic.generate_dataset, n_per_class=1, size=16))
    monkeypatch.setitem(registry.SOURCES, "synthetic", small)
    assert prepare.main(["synthetic", "--out", str(tmp_path / "default")]) == 0
    assert synthetic.is_complete(tmp_path / "default", 1, 16, 0, "png")
    assert prepare.main(["synthetic", "--out", str(tmp_path / "seeded"), "--seed", "5"]) == 0
    assert synthetic.is_complete(tmp_path / "seeded", 1, 16, 5, "png")
