"""Map outputs by format; a failed run keeps its blocks and resumes to the same bytes."""

import errno
import threading

import pytest

import geosoil.mapping.store as store_module
from geosoil.errors import OutputError, OutputExistsError
from geosoil.workflows import map_from_config

from .test_map import config_for


def files_of(folder):
    """Relative path -> bytes of every file, except the config and the STAC item (they
    name their own folder; the item also its time)."""
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name not in ("config.yaml", "item.json")
    }


def differing_files(folder, reference):
    """Names of the files that are missing from one folder or differ in bytes."""
    ours, theirs = files_of(folder), files_of(reference)
    return sorted(
        name for name in ours.keys() | theirs.keys() if ours.get(name) != theirs.get(name)
    )


@pytest.mark.parametrize(
    ("fmt", "tif", "zarr"), [("cog", True, False), ("zarr", False, True), ("both", True, True)]
)
def test_output_formats(world_dir, trained_dir, tmp_path, fmt, tif, zarr):
    out = tmp_path / "m"
    result = map_from_config(config_for(world_dir, trained_dir, out, f"output.format={fmt}"))
    assert (out / "kex_cmol_kg.tif").exists() == tif == bool(result.cogs)
    assert (out / "kex_cmol_kg_class.tif").exists() == tif
    assert (out / "kex_cmol_kg.qml").exists() == tif
    assert (out / "map.zarr").is_dir() == zarr == (result.zarr is not None)
    assert (out / "config.yaml").is_file() and (out / "summary.json").is_file()
    assert not list(tmp_path.glob(".m.partial*"))


def fail_after(monkeypatch, n_blocks):
    """Make the disk 'fill up' after ``n_blocks`` blocks were written."""
    original = store_module.BlockStore.write_block
    lock = threading.Lock()
    written = []

    def write_block(self, block, arrays):
        with lock:
            if len(written) >= n_blocks:
                raise store_module.store_write_error(
                    OSError(errno.ENOSPC, "No space left on device"), self.path
                )
            written.append(block.index)
        original(self, block, arrays)

    monkeypatch.setattr(store_module.BlockStore, "write_block", write_block)


def test_failed_run_resumes_to_identical_bytes(world_dir, trained_dir, tmp_path, monkeypatch):
    settings = ["output.format=both", "chunk=48"]  # 25 blocks, edge blocks included
    reference = tmp_path / "reference"
    map_from_config(config_for(world_dir, trained_dir, reference, *settings))

    out = tmp_path / "m"
    with monkeypatch.context() as patch:
        fail_after(patch, 7)
        with pytest.raises(OutputError, match="disk is full") as info:
            map_from_config(config_for(world_dir, trained_dir, out, *settings))
    assert "--resume" in str(info.value)
    assert not out.exists()
    partial = tmp_path / ".m.partial"
    markers = list((partial / "map.zarr" / ".geosoil-blocks").glob("*.json"))
    assert 1 <= len(markers) <= 7
    # What a SIGKILL in the middle of a write leaves: zarr's and our temporaries.
    (partial / "map.zarr" / "kex_cmol_kg" / "2.0123abcd.partial").write_bytes(b"cut")
    (partial / "map.zarr" / ".geosoil-blocks" / ".r2_c2.json.1.abcd.tmp").write_bytes(b"{")

    with pytest.raises(OutputExistsError, match="interrupted run") as info:
        map_from_config(config_for(world_dir, trained_dir, out, *settings))
    assert "--resume" in str(info.value) and partial.is_dir()

    map_from_config(config_for(world_dir, trained_dir, out, *settings, "output.resume=true"))
    assert differing_files(out, reference) == []
    assert not partial.exists()


def test_resume_refuses_a_different_run(world_dir, trained_dir, tmp_path, monkeypatch):
    out = tmp_path / "m"
    with monkeypatch.context() as patch:
        fail_after(patch, 2)
        with pytest.raises(OutputError):
            map_from_config(config_for(world_dir, trained_dir, out, "chunk=64"))
    changed = config_for(
        world_dir, trained_dir, out, "chunk=64", "products=[]", "output.resume=true"
    )
    with pytest.raises(OutputError, match="cannot resume") as info:
        map_from_config(changed)
    assert "--overwrite" in str(info.value)
    assert (tmp_path / ".m.partial" / "map.zarr").is_dir()  # nothing thrown away
    # --overwrite starts over.
    map_from_config(config_for(world_dir, trained_dir, out, "chunk=64", "output.overwrite=true"))
    assert (out / "kex_cmol_kg.tif").is_file() and not (tmp_path / ".m.partial").exists()


def test_resume_of_a_finished_run(world_dir, trained_dir, tmp_path):
    out = tmp_path / "m"
    map_from_config(config_for(world_dir, trained_dir, out))
    with pytest.raises(OutputExistsError, match="not empty") as info:
        map_from_config(config_for(world_dir, trained_dir, out, "output.resume=true"))
    assert "already finished" in str(info.value)


def test_output_folder_that_cannot_be_created(world_dir, trained_dir, tmp_path):
    (tmp_path / "a_file").write_text("not a folder")
    out = tmp_path / "a_file" / "m"
    with pytest.raises(OutputError, match="cannot create the output folder") as info:
        map_from_config(config_for(world_dir, trained_dir, out))
    assert info.value.field == "output.dir"
