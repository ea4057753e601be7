"""The resumable intermediate of a map run: a Zarr store filled block by block (DESIGN 4.4).

One variable per output layer, chunked like the engine's blocks, so each block writes whole
chunks and never races another. A block counts as finished only once a small marker file
(holding the block's statistics) is written after its chunks: a run killed at any moment
resumes by redoing the blocks without a marker, and gives the same bytes.

The store is Zarr format 2 with CF attributes and a ``spatial_ref`` variable (xarray and
rioxarray), plus GDAL's ``_CRS`` attribute, so GDAL (and QGIS) open it too.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numcodecs
import numpy as np
import zarr
from rasterio.crs import CRS

from geosoil import __version__
from geosoil.errors import OutputError
from geosoil.geo.grid import Block, Grid
from geosoil.geo.outputs import OutputVariable
from geosoil.io.writers import write_bytes_atomic

__all__ = ["MARKERS", "BlockStore", "store_write_error"]

log = logging.getLogger(__name__)

MARKERS = ".geosoil-blocks"
_FINGERPRINT = "geosoil_run_fingerprint"


class BlockStore:
    """A Zarr store of output layers on a grid, with a record of finished blocks.

    Use :meth:`create` for a new run and :meth:`resume` for an interrupted one.
    """

    def __init__(
        self, path: Path, grid: Grid, variables: Sequence[OutputVariable], chunk: int
    ) -> None:
        self.path = Path(path)
        self.grid = grid
        self.variables = tuple(variables)
        self.chunk = chunk
        self._arrays: dict[str, zarr.Array] | None = None

    def __getstate__(self) -> dict:
        # Open arrays stay where they were opened; a worker reopens the store itself.
        return {**self.__dict__, "_arrays": None}

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(
        cls,
        path: str | Path,
        grid: Grid,
        variables: Sequence[OutputVariable],
        *,
        chunk: int,
        fingerprint: str,
        attrs: Mapping[str, str] | None = None,
    ) -> BlockStore:
        """Create an empty store (no chunk written yet: every pixel reads as nodata)."""
        store = cls(Path(path), grid, variables, chunk)
        try:
            store._create(fingerprint, dict(attrs or {}))
        except OSError as err:
            raise store_write_error(err, store.path) from err
        return store

    def _create(self, fingerprint: str, attrs: dict[str, str]) -> None:
        crs = CRS.from_user_input(self.grid.crs)
        wkt = crs.to_wkt()
        root = zarr.open_group(self.path, mode="w-", zarr_format=2)
        root.attrs.update(
            {
                "Conventions": "CF-1.8",
                "source": f"geosoil {__version__}",
                _FINGERPRINT: fingerprint,
                **attrs,
            }
        )
        x, y = self.grid.coords()
        t = self.grid.transform
        geotransform = " ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
        ref = root.create_array("spatial_ref", shape=(), dtype="int32", fill_value=None)
        ref[()] = 0
        ref.attrs.update(
            {
                "_ARRAY_DIMENSIONS": [],
                "crs_wkt": wkt,
                "spatial_ref": wkt,
                "GeoTransform": geotransform,
            }
        )
        x_units = "degrees_east" if crs.is_geographic else "m"
        y_units = "degrees_north" if crs.is_geographic else "m"
        for name, values, units, standard in (
            ("x", x, x_units, "longitude" if crs.is_geographic else "projection_x_coordinate"),
            ("y", y, y_units, "latitude" if crs.is_geographic else "projection_y_coordinate"),
        ):
            coord = root.create_array(
                name, shape=values.shape, dtype="float64", chunks=values.shape, compressors=None
            )
            coord[:] = values
            coord.attrs.update(
                {
                    "_ARRAY_DIMENSIONS": [name],
                    "units": units,
                    "standard_name": standard,
                    "axis": name.upper(),
                }
            )
        for var in self.variables:
            array = root.create_array(
                var.name,
                shape=self.grid.shape,
                dtype=var.dtype,
                chunks=(self.chunk, self.chunk),
                compressors=numcodecs.Zstd(level=1),
                fill_value=var.nodata,
            )
            array.attrs.update(_variable_attrs(var, wkt))
        zarr.consolidate_metadata(self.path, zarr_format=2)
        (self.path / MARKERS).mkdir()

    @classmethod
    def resume(
        cls,
        path: str | Path,
        grid: Grid,
        variables: Sequence[OutputVariable],
        *,
        chunk: int,
        fingerprint: str,
    ) -> BlockStore:
        """Reopen an interrupted run's store, refusing one written for a different run."""
        path = Path(path)
        try:
            root = zarr.open_group(path, mode="r", zarr_format=2)
            found = root.attrs.get(_FINGERPRINT)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError):
            found = None
        if found is None or not (path / MARKERS).is_dir():
            raise OutputError(
                "the interrupted run's Zarr store is missing or damaged",
                path=path,
                field="output.resume",
                fix="run again with --overwrite to start over",
            )
        if found != fingerprint:
            raise OutputError(
                "cannot resume: the interrupted run used a different model, covariates, grid, "
                "area of interest, products, chunk size, output format or geosoil version",
                path=path,
                field="output.resume",
                fix="resume with the same config and artifacts, or pass --overwrite to start over",
            )
        _remove_interrupted_writes(path, variables)
        return cls(path, grid, variables, chunk)

    # ------------------------------------------------------------------ blocks
    def _array(self, name: str) -> zarr.Array:
        if self._arrays is None:
            root = zarr.open_group(self.path, mode="r+", zarr_format=2, use_consolidated=False)
            self._arrays = {var.name: root[var.name] for var in self.variables}
        return self._arrays[name]

    def write_block(self, block: Block, arrays: Mapping[str, np.ndarray]) -> None:
        """Write one block's layers (already in storage dtype, nodata filled)."""
        rows, cols = block.window.toslices()
        try:
            for var in self.variables:
                self._array(var.name)[rows, cols] = arrays[var.name]
        except OSError as err:
            raise store_write_error(err, self.path) from err

    def mark_done(self, block: Block, stats: Mapping[str, object]) -> None:
        """Record ``block`` as finished, with its statistics; call after :meth:`write_block`."""
        payload = json.dumps({"index": list(block.index), "stats": stats}, sort_keys=True)
        write_bytes_atomic(self._marker(block.index), payload.encode())

    def finished(self) -> dict[tuple[int, int], dict]:
        """Statistics of every finished block, by block index."""
        done = {}
        for marker in (self.path / MARKERS).glob("*.json"):
            try:
                record = json.loads(marker.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # a marker cut short by a kill: the block is simply redone
            done[tuple(record["index"])] = record["stats"]
        return done

    def _marker(self, index: tuple[int, int]) -> Path:
        return self.path / MARKERS / f"r{index[0]}_c{index[1]}.json"

    def gdal_path(self, name: str) -> str:
        """The GDAL dataset name of one variable (``ZARR:"<store>":/<name>``)."""
        return f'ZARR:"{self.path}":/{name}'


def _remove_interrupted_writes(path: Path, variables: Sequence[OutputVariable]) -> None:
    """Delete the temporary files of writes that a kill cut short.

    Markers and Zarr chunks are both written to a temporary name and renamed; a killed run
    leaves those temporaries behind, and the finished store must not carry them.
    """
    leftovers = list((path / MARKERS).glob(".*.tmp"))
    for var in variables:
        leftovers += (path / var.name).glob("*.partial")  # zarr's LocalStore temporaries
    for leftover in leftovers:
        leftover.unlink()


def _variable_attrs(var: OutputVariable, wkt: str) -> dict[str, object]:
    attrs: dict[str, object] = {
        "_ARRAY_DIMENSIONS": ["y", "x"],
        "long_name": var.description or var.name,
        "units": var.units,
        "grid_mapping": "spatial_ref",
        "coordinates": "spatial_ref",
        "_CRS": {"wkt": wkt},
    }
    if var.is_classes:
        attrs["flag_values"] = [c.value for c in var.classes]
        attrs["flag_meanings"] = " ".join(c.label.replace(" ", "_") for c in var.classes)
        attrs["flag_colors"] = [c.color for c in var.classes]
    return attrs


def store_write_error(err: OSError, path: Path) -> OutputError:
    """A write failure as an error that says how to finish the run."""
    if err.errno == errno.ENOSPC:
        return OutputError(
            "the disk is full",
            path=path,
            field="output.dir",
            fix="free space (or choose another output folder), then rerun with --resume: "
            "finished blocks are kept",
        )
    return OutputError(
        f"cannot write the map store ({err.strerror or err})",
        path=path,
        field="output.dir",
        fix="check permissions and free space, then rerun with --resume",
    )
