"""data.decodable: the pipeline's decoder as a file check, and which files are known to decode."""

import json
import os

from PIL import Image

from colorization_tf.data import decodable, files


def _bmp_with_inserted_bytes(path, rgb):
    """A BMP with bytes inserted before its pixels: PIL reads it, TensorFlow's decoder refuses it."""
    Image.fromarray(rgb).save(path)
    data = path.read_bytes()
    path.write_bytes(data[:60] + b"junk" + data[60:])


def test_scan_refuses_what_only_pil_reads_and_names_tensorflows_reason(tmp_path, make_colourful):
    good, odd = tmp_path / "good.bmp", tmp_path / "odd.bmp"
    Image.fromarray(make_colourful()).save(good)
    _bmp_with_inserted_bytes(odd, make_colourful(seed=1))
    tiff = tmp_path / "scan.tiff"
    Image.fromarray(make_colourful(seed=2)).save(tiff)
    assert files.scan_images([good, odd, tiff], progress=False, pipeline_check=False).unusable == {}
    report = files.scan_images([good, odd, tiff], progress=False)
    assert report.usable == [str(good)]
    assert report.unusable[str(odd)].startswith("undecodable by TensorFlow: Input size should match")
    assert report.unusable[str(tiff)] == "undecodable by TensorFlow: image size unreadable from the header (format not JPEG/PNG/GIF/BMP/WebP)"
    assert report.reason_counts() == {"undecodable by TensorFlow": 2}


def test_known_files_stop_being_known_when_they_change(tmp_path, make_colourful):
    path = tmp_path / "a.png"
    Image.fromarray(make_colourful()).save(path)
    assert not decodable.all_decodable([path])
    files.scan_images([path], progress=False)
    assert decodable.all_decodable([path])
    Image.fromarray(make_colourful(seed=3)[:40]).save(path)
    assert not decodable.all_decodable([path])
    assert not decodable.all_decodable([path, tmp_path / "missing.png"])


def test_a_completed_prepared_folder_vouches_for_files_not_newer_than_its_marker(tmp_path, make_colourful):
    (tmp_path / "beach").mkdir()
    path = tmp_path / "beach" / "a.png"
    Image.fromarray(make_colourful()).save(path)
    marker = tmp_path / decodable.PREPARED_MARKER
    marker.write_text(json.dumps({"images": 1}))  # an older prepare.json: no decoder check recorded
    assert not decodable.all_decodable([path])
    marker.write_text(json.dumps({"images": 1, decodable.DECODER_CHECKED_KEY: True}))
    assert decodable.all_decodable([path])
    later = marker.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))  # changed after the folder was completed
    assert not decodable.all_decodable([path])
