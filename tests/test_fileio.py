"""Atomic writes, stale temporaries, folder swaps, write errors, file modes."""

import os
import stat

import pytest

from colorization_tf import fileio


def test_atomic_write_replaces_whole_file(tmp_path):
    path = tmp_path / "sub" / "a.txt"
    fileio.atomic_write_text(path, "first")
    fileio.atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.txt"]


def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "fig.png"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(path) as tmp:
            assert tmp.parent == tmp_path and tmp.suffix == ".png"
            tmp.write_bytes(b"half")
            raise RuntimeError("writer crashed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]


@pytest.mark.parametrize("exchange", [True, False])
def test_replace_dir_swaps_a_whole_folder_in(tmp_path, monkeypatch, exchange):
    if not exchange:  # file systems without renameat2's exchange: the two-step fallback
        monkeypatch.setattr(fileio, "_exchange", lambda a, b: False)
    path = tmp_path / "export"
    first = fileio.make_temp_dir(path)
    (first / "v").write_text("1")
    fileio.replace_dir(first, path)
    second = fileio.make_temp_dir(path)
    (second / "v").write_text("2")
    fileio.replace_dir(second, path)
    assert (path / "v").read_text() == "2"
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


def test_remove_stale_temps_removes_only_dead_processes_temporaries(tmp_path):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    with fileio.atomic_path(tmp_path / "a.json") as live:
        (tmp_path / f".a.json.tmp{dead_pid}-x1.json").write_text("half")
        (tmp_path / f".export.tmp{dead_pid}-x2").mkdir()
        (tmp_path / ".hidden_but_not_ours").write_text("keep")
        removed = fileio.remove_stale_temps(tmp_path)
        assert sorted(p.name for p in removed) == [f".a.json.tmp{dead_pid}-x1.json", f".export.tmp{dead_pid}-x2"]
        assert live.exists()  # this process's own temporary is alive
        live.write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden_but_not_ours", "a.json"]


def test_os_error_from_message_recognises_full_and_read_only_file_systems():
    import errno

    err = fileio.os_error_from_message("/x/variables.data; No space left on device [Op:SaveV2]", "/x")
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC and err.filename == "/x"
    assert fileio.os_error_from_message("Read-only file system", "/y").errno == errno.EROFS
    assert fileio.os_error_from_message("Invalid JPEG data", "/z") is None


def test_written_files_and_folders_get_the_mode_of_a_plain_write(tmp_path):
    """mkstemp/mkdtemp make temporaries private (0600/0700): exports and prepared datasets swapped in
    from them were unreadable to other users (a serving container running as another user)."""
    old = os.umask(0o022)
    try:
        fileio.atomic_write_text(tmp_path / "table.md", "x\n")
        folder = fileio.make_temp_dir(tmp_path / "export")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "table.md").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o755
