"""The Zarr block store: CF/GDAL-readable, records finished blocks, refuses a foreign resume."""

import errno
import json

import numpy as np
import pytest
import rasterio
import rioxarray  # noqa: F401  (registers the .rio accessor; geosoil imports it lazily)
import xarray as xr
from affine import Affine

from geosoil.errors import OutputError
from geosoil.geo.grid import Grid
from geosoil.geo.outputs import FLOAT_NODATA, MapClass, OutputVariable
from geosoil.mapping.store import BlockStore

GRID = Grid("EPSG:32654", Affine(100.0, 0, 440000.0, 0, -100.0, 4190000.0), width=50, height=30)
VARIABLES = (
    OutputVariable("kex_cmol_kg", "cmol(+)/kg", "exchangeable K"),
    OutputVariable(
        "kex_class",
        kind="classes",
        classes=(MapClass(0, "low", "#ff0000"), MapClass(1, "high", "#00ff00")),
    ),
)


def filled(path, chunk=16):
    store = BlockStore.create(path, GRID, VARIABLES, chunk=chunk, fingerprint="run-1")
    for block in GRID.blocks(chunk):
        rows, cols = block.grid.shape
        value = np.float32(block.index[0] * 10 + block.index[1])
        store.write_block(
            block,
            {
                "kex_cmol_kg": np.full((rows, cols), value, np.float32),
                "kex_class": np.full((rows, cols), block.index[1] % 2, np.uint8),
            },
        )
        store.mark_done(block, {"kex_cmol_kg": {"count": rows * cols}})
    return store


def test_xarray_and_rioxarray_read_the_store(tmp_path):
    filled(tmp_path / "m.zarr")
    dataset = xr.open_zarr(tmp_path / "m.zarr")
    assert dataset.rio.crs.to_epsg() == 32654
    assert dataset.rio.transform() == GRID.transform
    kex = dataset["kex_cmol_kg"]
    assert kex.dims == ("y", "x") and kex.attrs["units"] == "cmol(+)/kg"
    assert float(kex[20, 40]) == 12.0  # block (1, 2)
    np.testing.assert_array_equal(dataset["x"].values, GRID.coords()[0])
    assert dataset.attrs["Conventions"] == "CF-1.8"
    assert dataset["kex_class"].attrs["flag_meanings"] == "low high"


def test_gdal_reads_the_store(tmp_path):
    store = filled(tmp_path / "m.zarr")
    with rasterio.open(store.gdal_path("kex_cmol_kg")) as dataset:
        assert dataset.crs.to_epsg() == 32654
        assert dataset.transform == GRID.transform
        assert dataset.nodata == FLOAT_NODATA
        assert dataset.read(1)[29, 49] == 13.0  # edge block (1, 3)
    with rasterio.open(store.gdal_path("kex_class")) as dataset:
        assert dataset.dtypes[0] == "uint8" and dataset.nodata == 255


def test_unwritten_blocks_read_as_nodata(tmp_path):
    store = BlockStore.create(tmp_path / "m.zarr", GRID, VARIABLES, chunk=16, fingerprint="x")
    first = next(iter(GRID.blocks(16)))
    store.write_block(
        first,
        {"kex_cmol_kg": np.ones((16, 16), np.float32), "kex_class": np.ones((16, 16), np.uint8)},
    )
    with rasterio.open(store.gdal_path("kex_cmol_kg")) as dataset:
        values = dataset.read(1)
    assert (values[:16, :16] == 1).all() and (values[16:, :] == FLOAT_NODATA).all()
    assert store.finished() == {}  # written but not marked: it will be redone


def test_finished_blocks_and_their_statistics(tmp_path):
    store = filled(tmp_path / "m.zarr")
    done = store.finished()
    assert sorted(done) == [(r, c) for r in range(2) for c in range(4)]
    assert done[(1, 3)] == {"kex_cmol_kg": {"count": 14 * 2}}


def test_a_marker_cut_short_counts_as_unfinished(tmp_path):
    store = filled(tmp_path / "m.zarr")
    marker = next((tmp_path / "m.zarr" / ".geosoil-blocks").glob("r0_c0.json"))
    marker.write_text(marker.read_text()[:5])
    assert (0, 0) not in store.finished() and len(store.finished()) == 7


def test_resume_accepts_the_same_run_and_refuses_another(tmp_path):
    filled(tmp_path / "m.zarr")
    resumed = BlockStore.resume(tmp_path / "m.zarr", GRID, VARIABLES, chunk=16, fingerprint="run-1")
    assert len(resumed.finished()) == 8
    with pytest.raises(OutputError, match="different model") as info:
        BlockStore.resume(tmp_path / "m.zarr", GRID, VARIABLES, chunk=16, fingerprint="run-2")
    assert "--overwrite" in str(info.value)
    with pytest.raises(OutputError, match="missing or damaged"):
        BlockStore.resume(tmp_path / "none.zarr", GRID, VARIABLES, chunk=16, fingerprint="run-1")


def test_a_full_disk_says_how_to_finish(tmp_path, monkeypatch):
    store = BlockStore.create(tmp_path / "m.zarr", GRID, VARIABLES, chunk=16, fingerprint="x")

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(store._array("kex_cmol_kg")), "__setitem__", full_disk)
    block = next(iter(GRID.blocks(16)))
    with pytest.raises(OutputError, match="disk is full") as info:
        store.write_block(
            block,
            {"kex_cmol_kg": np.ones((16, 16), np.float32), "kex_class": np.ones((16, 16), "u1")},
        )
    assert "--resume" in str(info.value) and info.value.field == "output.dir"


def test_store_attributes_carry_the_fingerprint_and_crs(tmp_path):
    filled(tmp_path / "m.zarr")
    attrs = json.loads((tmp_path / "m.zarr" / "kex_cmol_kg" / ".zattrs").read_text())
    assert attrs["grid_mapping"] == "spatial_ref" and "UTM zone 54N" in attrs["_CRS"]["wkt"]
    root = json.loads((tmp_path / "m.zarr" / ".zattrs").read_text())
    assert root["geosoil_run_fingerprint"] == "run-1"
