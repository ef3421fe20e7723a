"""Qt resource bundles: bundles written by Qt 5.15's own `rcc --binary` (embedded), read back."""

import base64

import pytest

from colorization_tf.sources import qt_resources

# `rcc --binary [--format-version 1] demo.qrc` (Qt 5.15.8, Debian 12) of a .qrc with prefix /demo and
# pics/a.txt ("hello rcc\n", stored) and pics/sub/big.txt (3,000 "x" and a newline, zlib-compressed).
QT_RCC_V3 = base64.b64decode(
    "cXJlcwAAAAMAAACVAAAAGAAAAEkAAAABAAAACmhlbGxvIHJjYwoAAAAfAAALuXic7cEhAQAAAAKg7mLne8MAtAAAwLsM63p+lgAE"
    "AAasPwBkAGUAbQBvAAQAB2+jAHAAaQBjAHMAAwAAerIAcwB1AGIABQBkW/QAYQAuAHQAeAB0AAcI+ls0AGIAaQBnAC4AdAB4AHQA"
    "AAAAAAIAAAABAAAAAQAAAAAAAAAAAAAAAAACAAAAAQAAAAIAAAAAAAAAAAAAAA4AAgAAAAIAAAADAAAAAAAAAAAAAAAcAAIAAAAB"
    "AAAABQAAAAAAAAAAAAAAKAAAAAAAAQAAAAAAAAGiLks4zAAAADgAAQAAAAEAAAAOAAABoi5LOYU=")
QT_RCC_V1 = base64.b64decode(
    "cXJlcwAAAAEAAACRAAAAFAAAAEUAAAAKaGVsbG8gcmNjCgAAAB8AAAu5eJztwSEBAAAAAqDuYud7wwC0AADAuwzren6WAAQABqw/"
    "AGQAZQBtAG8ABAAHb6MAcABpAGMAcwADAAB6sgBzAHUAYgAFAGRb9ABhAC4AdAB4AHQABwj6WzQAYgBpAGcALgB0AHgAdAAAAAAA"
    "AgAAAAEAAAABAAAAAAACAAAAAQAAAAIAAAAOAAIAAAACAAAAAwAAABwAAgAAAAEAAAAFAAAAKAAAAAAAAQAAAAAAAAA4AAEAAAAB"
    "AAAADg==")
EXPECTED = {"demo/pics/a.txt": b"hello rcc\n", "demo/pics/sub/big.txt": b"x" * 3000 + b"\n"}


@pytest.mark.parametrize("bundle", [QT_RCC_V1, QT_RCC_V3], ids=["format-1", "format-3"])
def test_reads_bundles_written_by_qt(tmp_path, bundle):
    path = tmp_path / "demo.rcc"
    path.write_bytes(bundle)
    assert qt_resources.read_rcc(path) == EXPECTED
    assert qt_resources.read_rcc(path, lambda name: name.endswith("a.txt")) == {"demo/pics/a.txt": b"hello rcc\n"}


def test_extract_writes_once_and_keeps_a_finished_folder(tmp_path):
    bundle = tmp_path / "demo.rcc"
    bundle.write_bytes(QT_RCC_V3)
    target = qt_resources.extract_rcc(bundle, tmp_path / "demo.rcc.d", lambda name: name.endswith(".txt"))
    assert (target / "demo" / "pics" / "sub" / "big.txt").read_bytes() == EXPECTED["demo/pics/sub/big.txt"]
    stamp = (target / "demo" / "pics" / "a.txt").stat().st_mtime_ns
    bundle.write_bytes(b"not read again")
    qt_resources.extract_rcc(bundle, target)
    assert (target / "demo" / "pics" / "a.txt").stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no half-written folder


def test_bad_bundles_are_named(tmp_path):
    plain = tmp_path / "plain.rcc"
    plain.write_bytes(b"PK\x03\x04 a zip, not a bundle")
    with pytest.raises(qt_resources.ResourceError, match="plain.rcc: not a Qt resource bundle"):
        qt_resources.read_rcc(plain)
    cut = tmp_path / "cut.rcc"
    cut.write_bytes(QT_RCC_V3[:0x40])  # the data table survives in part, the tree not at all
    with pytest.raises(qt_resources.ResourceError, match="cut.rcc"):
        qt_resources.read_rcc(cut)
    escaping = tmp_path / "escaping.rcc"  # the folder name "pics" (UTF-16BE) renamed "../x"
    escaping.write_bytes(QT_RCC_V3.replace("pics".encode("utf-16-be"), "../x".encode("utf-16-be")))
    with pytest.raises(qt_resources.ResourceError, match="unsafe resource path"):
        qt_resources.extract_rcc(escaping, tmp_path / "out")
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()
