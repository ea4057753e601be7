"""The resumable intermediate of a map run: a Zarr store filled block by block (DESIGN 4.4).

One variable per output layer, chunked like the engine's blocks, so each block writes whole
chunks and never races another. A block counts as finished only once a small marker file
(holding the block's statistics) is written after its chunks: a run killed at any moment
resumes by redoing the blocks without a marker, and gives the same bytes.

The store is Zarr format 2 with CF attributes and a ``spatial_ref`` variable (xarray and
rioxarray), plus GDAL's ``_CRS`` attribute, so GDAL (and QGIS) open it too.

A store made for COG output also holds each layer's overview levels, one group per level
(``overviews/<level>/<layer>``, level 1 = half size; ``xr.open_zarr(path, group="overviews/1")``
reads one): each block writes its share of the first levels with its own chunks (see
:mod:`geosoil.mapping.overviews`), and the COG writer takes them as they are.
"""

from __future__ import annotations

import errno
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numcodecs
import numpy as np
import rasterio
import rasterio.shutil
import zarr
from affine import Affine
from rasterio.crs import CRS

from geosoil import __version__
from geosoil.errors import OutputError
from geosoil.geo.grid import Block, Grid
from geosoil.geo.outputs import OutputVariable
from geosoil.io.cog import COG_BLOCK_SIZE
from geosoil.io.writers import write_bytes_atomic
from geosoil.mapping.overviews import OverviewPlan, pyramid

__all__ = ["MARKERS", "BlockStore", "store_write_error"]

log = logging.getLogger(__name__)

MARKERS = ".geosoil-blocks"
_FINGERPRINT = "geosoil_run_fingerprint"
_OVERVIEWS = "geosoil_overviews"
OVERVIEW_GROUP = "overviews"


class BlockStore:
    """A Zarr store of output layers on a grid, with a record of finished blocks.

    Use :meth:`create` for a new run and :meth:`resume` for an interrupted one.
    """

    def __init__(
        self,
        path: Path,
        grid: Grid,
        variables: Sequence[OutputVariable],
        chunk: int,
        overviews: OverviewPlan | None = None,
    ) -> None:
        self.path = Path(path)
        self.grid = grid
        self.variables = tuple(variables)
        self.chunk = chunk
        self.overviews = overviews
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
        overviews: bool = False,
    ) -> BlockStore:
        """Create an empty store (no chunk written yet: every pixel reads as nodata).

        ``overviews``: also hold each layer's COG overview levels, filled by the blocks.
        """
        plan = OverviewPlan.build(grid.shape, chunk, tile=COG_BLOCK_SIZE) if overviews else None
        if plan is not None and not plan.from_blocks:
            log.info("the grid's sides are odd: GDAL computes the COG overviews at the end")
            plan = None
        store = cls(Path(path), grid, variables, chunk, plan)
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
        if self.overviews is not None:
            root.attrs[_OVERVIEWS] = {
                "levels": self.overviews.levels,
                "from_blocks": self.overviews.from_blocks,
            }
        _write_grid(root, self.grid, crs)
        for var in self.variables:
            _create_layer(
                root, var, self.grid.shape, (self.chunk, self.chunk), _variable_attrs(var, wkt)
            )
        if self.overviews is not None:
            self._create_overviews(root, crs)
        zarr.consolidate_metadata(self.path, zarr_format=2)
        (self.path / MARKERS).mkdir()

    def _create_overviews(self, root: zarr.Group, crs: CRS) -> None:
        plan = self.overviews
        height, width = self.grid.shape
        for level in range(1, plan.levels + 1):
            group = root.require_group(f"{OVERVIEW_GROUP}/{level}")
            group.attrs.update({"overview_level": level, "overview_factor": 2**level})
            rows, cols = plan.level_shape(level)
            # GDAL's overview pixels: the grid's extent over the level's size.
            transform = self.grid.transform @ Affine.scale(width / cols, height / rows)
            _write_grid(group, Grid(self.grid.crs, transform, cols, rows), crs)
            if level <= plan.from_blocks:
                chunks = (self.chunk >> level,) * 2  # each block writes whole chunks
            else:
                chunks = (min(rows, COG_BLOCK_SIZE), min(cols, COG_BLOCK_SIZE))
            for var in self.variables:
                attrs = {
                    **_variable_attrs(var, crs.to_wkt()),
                    "overview_resampling": var.overview_resampling,
                }
                _create_layer(group, var, (rows, cols), chunks, attrs)

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
            recorded = root.attrs.get(_OVERVIEWS)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError, KeyError):
            found = recorded = None
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
        plan = None
        if recorded is not None:
            plan = OverviewPlan(tuple(grid.shape), recorded["levels"], recorded["from_blocks"])
        _remove_interrupted_writes(path, variables, plan)
        return cls(path, grid, variables, chunk, plan)

    # ------------------------------------------------------------------ blocks
    def _array(self, name: str) -> zarr.Array:
        """A layer (``name``) or one of its overview levels (``overviews/<level>/name``)."""
        if self._arrays is None:
            root = zarr.open_group(self.path, mode="r+", zarr_format=2, use_consolidated=False)
            names = [var.name for var in self.variables]
            if self.overviews is not None:
                names += [
                    _level_name(level, name)
                    for level in range(1, self.overviews.levels + 1)
                    for name in names
                ]
            self._arrays = {name: root[name] for name in names}
        return self._arrays[name]

    def write_block(self, block: Block, arrays: Mapping[str, np.ndarray]) -> None:
        """Write one block's layers (already in storage dtype, nodata filled), and its share
        of their first overview levels."""
        rows, cols = block.window.toslices()
        try:
            for var in self.variables:
                self._array(var.name)[rows, cols] = arrays[var.name]
                if self.overviews is None:
                    continue
                levels = pyramid(
                    arrays[var.name],
                    self.overviews.from_blocks,
                    nodata=var.nodata,
                    resampling=var.overview_resampling,
                )
                for level, values in enumerate(levels, start=1):
                    row0, col0 = rows.start >> level, cols.start >> level
                    self._array(_level_name(level, var.name))[
                        row0 : row0 + values.shape[0], col0 : col0 + values.shape[1]
                    ] = values
        except OSError as err:
            raise store_write_error(err, self.path) from err

    def overview_sources(self, name: str) -> list[str]:
        """GDAL names of layer ``name``'s overview levels, finest first, once every block is
        written; empty when the store holds none (GDAL then computes them).

        The levels the blocks could not compute are made here, by GDAL's COG driver from
        the last block level, so that they are exactly GDAL's.
        """
        plan = self.overviews
        if plan is None:
            return []
        if plan.from_blocks < plan.levels:
            try:
                self._finish_levels(name)
            except OSError as err:
                raise store_write_error(err, self.path) from err
        return [self.gdal_path(_level_name(level, name)) for level in range(1, plan.levels + 1)]

    def _finish_levels(self, name: str) -> None:
        plan = self.overviews
        var = next(var for var in self.variables if var.name == name)
        last = plan.from_blocks
        tmp = self.path / f".{name}.levels.tif"
        try:
            rasterio.shutil.copy(
                self.gdal_path(_level_name(last, name)),
                tmp,
                driver="COG",
                blocksize=COG_BLOCK_SIZE,
                compress="NONE",
                overview_resampling=var.overview_resampling.upper(),
                num_threads="1",
            )
            for level in range(last + 1, plan.levels + 1):
                with rasterio.open(tmp, overview_level=level - last - 1) as overview:
                    values = overview.read(1)
                self._array(_level_name(level, name))[:, :] = values
        finally:
            tmp.unlink(missing_ok=True)

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


def _write_grid(group: zarr.Group, grid: Grid, crs: CRS) -> None:
    """The CRS variable and the x/y pixel-centre coordinates of ``grid`` in ``group``."""
    wkt = crs.to_wkt()
    x, y = grid.coords()
    t = grid.transform
    geotransform = " ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
    ref = group.create_array("spatial_ref", shape=(), dtype="int32", fill_value=None)
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
        coord = group.create_array(
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


def _level_name(level: int, name: str) -> str:
    return f"{OVERVIEW_GROUP}/{level}/{name}"


def _remove_interrupted_writes(
    path: Path, variables: Sequence[OutputVariable], overviews: OverviewPlan | None
) -> None:
    """Delete the temporary files of writes that a kill cut short.

    Markers and Zarr chunks are both written to a temporary name and renamed; a killed run
    leaves those temporaries behind, and the finished store must not carry them.
    """
    leftovers = list((path / MARKERS).glob(".*.tmp"))
    names = [var.name for var in variables]
    if overviews is not None:
        levels = range(1, overviews.levels + 1)
        names += [_level_name(level, name) for level in levels for name in names]
    for name in names:
        leftovers += (path / name).glob("*.partial")  # zarr's LocalStore temporaries
    leftovers += path.glob(".*.levels.tif")
    for leftover in leftovers:
        leftover.unlink()


def _create_layer(
    group: zarr.Group,
    var: OutputVariable,
    shape: tuple[int, int],
    chunks: tuple[int, int],
    attrs: Mapping[str, object],
) -> None:
    """An empty array for ``var`` in ``group`` (a layer or one of its overview levels)."""
    array = group.create_array(
        var.name,
        shape=shape,
        dtype=var.dtype,
        chunks=chunks,
        compressors=numcodecs.Zstd(level=1),
        fill_value=var.nodata,
    )
    array.attrs.update(attrs)


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
