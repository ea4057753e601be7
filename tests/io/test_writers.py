import pytest

from geosoil.errors import OutputError, OutputExistsError
from geosoil.io.writers import staged_directory, write_bytes_atomic


def test_success_publishes_everything(tmp_path):
    final = tmp_path / "out"
    with staged_directory(final) as staging:
        (staging / "a.txt").write_text("a")
        assert not final.exists()
    assert (final / "a.txt").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_leaves_nothing(tmp_path):
    final = tmp_path / "out"
    with pytest.raises(RuntimeError), staged_directory(final) as staging:
        (staging / "half.txt").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_needs_overwrite_and_survives_failures(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="--overwrite"), staged_directory(final):
        pass
    with pytest.raises(RuntimeError), staged_directory(final, overwrite=True):
        raise RuntimeError("boom")
    assert (final / "old.txt").read_text() == "old"
    with staged_directory(final, overwrite=True) as staging:
        (staging / "new.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_unwritable_parent(tmp_path):
    # A parent that is a file cannot hold the output (tests run as root, so modes won't do).
    (tmp_path / "file").write_text("")
    with (
        pytest.raises(OutputError, match="cannot create"),
        staged_directory(tmp_path / "file" / "out"),
    ):
        pass


def test_write_bytes_atomic(tmp_path):
    path = write_bytes_atomic(tmp_path / "f.txt", b"x")
    assert path.read_text() == "x" and len(list(tmp_path.iterdir())) == 1
    with pytest.raises(OutputError, match="cannot write"):
        write_bytes_atomic(tmp_path / "missing" / "f.txt", b"x")
