"""Covariate layers of any CRS, resolution and extent, read onto a target grid.

A layer already on the grid's pixel lattice (same CRS and pixel size, origin a whole number of
pixels away) is read directly by window: the common case of a prepared covariate stack, and
several times faster than warping. Any other layer is opened as a virtual warp (GDAL
WarpedVRT) onto the whole target grid: no reprojected copy is ever written. GDAL's warper
approximates the coordinate transformation over the window it is asked for, so the same pixel
read through two windows can differ (by up to 0.15 m of elevation on the small world). Warped
layers are therefore always read in fixed tiles of the grid (:data:`WARP_TILE` pixels), and
blocks are cut from those tiles: a pixel's value does not depend on the chunk.

A stack may also hold the good bands of a hyperspectral cube (:mod:`geosoil.mapping.cube`),
read after the covariates as one row per band, all bands of a window in one read. The cube is
always on the grid's lattice (checked when the job is built), so it is never warped.

A reader holds open GDAL datasets, which must not be shared between threads: open one reader
per thread (the engine does).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geosoil.errors import CovariateError
from geosoil.geo.grid import Grid
from geosoil.io.catalog import CovariateLayer
from geosoil.io.cube import CubeError
from geosoil.io.rasters import layer_nodata, open_layer, to_float

if TYPE_CHECKING:
    from geosoil.mapping.cube import CubeSource

__all__ = ["CovariateStack", "StackReader", "lattice_offset"]

# Origins within this share of a pixel count as the same lattice.
_LATTICE_TOLERANCE = 1e-6

# Side of the fixed tiles in which warped layers are read (grid pixels). A multiple of it as
# the chunk (the default 1024) reads each tile once.
WARP_TILE = 512


@dataclass(frozen=True)
class CovariateStack:
    """An ordered list of covariate layers, and optionally a cube's good bands after them."""

    layers: tuple[CovariateLayer, ...]
    cube: CubeSource | None = None

    @classmethod
    def from_layers(
        cls, layers: Sequence[CovariateLayer], *, cube: CubeSource | None = None
    ) -> CovariateStack:
        return cls(tuple(layers), cube)

    @property
    def names(self) -> list[str]:
        """One name per row read: the covariates, then the cube's bands (``cube:<band>``)."""
        names = [layer.name for layer in self.layers]
        return names + (self.cube.names if self.cube is not None else [])

    @contextmanager
    def open(self, grid: Grid) -> Iterator[StackReader]:
        """Open every layer onto ``grid``; the reader serves any number of windows."""
        with ExitStack() as stack:
            datasets = [stack.enter_context(open_layer(layer)) for layer in self.layers]
            _check_overlap(self.layers, datasets, grid)
            readers = []
            for layer, dataset in zip(self.layers, datasets, strict=True):
                nodata = layer_nodata(layer, dataset)
                offset = lattice_offset(dataset, grid)
                if offset is None:
                    source = stack.enter_context(_warped(layer, dataset, grid, nodata))
                    readers.append(_TiledLayerReader(layer, source, nodata, (0, 0), grid.shape))
                else:
                    readers.append(_LayerReader(layer, dataset, nodata, offset, dataset.shape))
            cube = None
            if self.cube is not None:
                cube = _CubeReader.open(
                    self.cube, stack.enter_context(rasterio.open(self.cube.path)), grid
                )
            yield StackReader(readers, grid, cube)

    def read(self, grid: Grid) -> np.ndarray:
        """All layers on ``grid`` as float32 (n_layers, height, width), NaN where invalid."""
        with self.open(grid) as reader:
            return reader.read()


def _check_overlap(layers, datasets, grid: Grid) -> None:
    """Refuse layers that do not overlap the grid at all (usually a wrong CRS)."""
    left, bottom, right, top = grid.bounds
    for layer, dataset in zip(layers, datasets, strict=True):
        l2, b2, r2, t2 = transform_bounds(dataset.crs, grid.rio_crs, *dataset.bounds)
        if l2 >= right or r2 <= left or b2 >= top or t2 <= bottom:
            raise CovariateError(
                f"covariate '{layer.name}' does not overlap the map grid",
                path=layer.path,
                field=f"covariates.{layer.name}",
                fix="check the raster's CRS and extent, or the grid definition",
            )


def lattice_offset(dataset: rasterio.DatasetReader, grid: Grid) -> tuple[int, int] | None:
    """(row, col) of the grid's origin in the dataset's pixels, if both share a lattice.

    Returns None when the dataset would have to be warped (another CRS, pixel size, or an
    origin off the lattice).
    """
    source, target = dataset.transform, grid.transform
    if dataset.crs != grid.rio_crs or source.b or source.d or target.b or target.d:
        return None
    if not (
        np.isclose(source.a, target.a, rtol=1e-9) and np.isclose(source.e, target.e, rtol=1e-9)
    ):
        return None
    col, row = ~source @ (target.c, target.f)
    if abs(col - round(col)) > _LATTICE_TOLERANCE or abs(row - round(row)) > _LATTICE_TOLERANCE:
        return None
    return round(row), round(col)


def _warped(
    layer: CovariateLayer, dataset: rasterio.DatasetReader, grid: Grid, nodata: float | None
) -> WarpedVRT:
    # One virtual warp of the whole grid per layer: GDAL warps it in its own fixed chunks, so
    # a pixel's value never depends on the window it is read through.
    return WarpedVRT(
        dataset,
        crs=grid.rio_crs,
        transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=Resampling[layer.resampling_method],
        src_nodata=nodata,
        nodata=nodata,
    )


@dataclass(frozen=True)
class _LayerReader:
    """One layer's source (dataset or warp), where the grid sits in it, and its size."""

    layer: CovariateLayer
    source: rasterio.DatasetReader | WarpedVRT
    nodata: float | None
    offset: tuple[int, int]
    shape: tuple[int, int]

    def read_into(self, out: np.ndarray, window: Window) -> None:
        """Fill float32 ``out`` (rows, cols) with the layer over ``window`` of the grid."""
        # Only the part of the window that the source covers is read; the rest stays NaN.
        out.fill(np.nan)
        part = _overlap(window, self.offset, self.shape)
        if part is None:
            return
        source_window, (rows, cols) = part
        target = out[rows, cols]
        if self.plain_float32 and target.flags.c_contiguous:
            # The common case, read in place: no masked array, no copies.
            self.source.read(self.layer.band, window=source_window, out=target)
            invalid = ~np.isfinite(target)
            if self.nodata is not None and not np.isnan(self.nodata):
                invalid |= target == self.nodata
            target[invalid] = np.nan
            return
        band = self.source.read(self.layer.band, window=source_window, masked=True)
        values = to_float(
            band.filled(self.nodata if self.nodata is not None else 0), self.layer, self.nodata
        )
        values[np.ma.getmaskarray(band)] = np.nan
        target[...] = values

    @cached_property
    def plain_float32(self) -> bool:
        """float32 values used as they are, valid unless NaN or nodata (no mask band)."""
        band = self.layer.band - 1
        return (
            self.source.dtypes[band] == "float32"
            and self.layer.scale == 1.0
            and self.layer.offset == 0.0
            and set(self.source.mask_flag_enums[band]) <= {MaskFlags.nodata, MaskFlags.all_valid}
        )


@dataclass(frozen=True)
class _TiledLayerReader(_LayerReader):
    """A warped layer, read in fixed tiles of the grid so values are window-independent."""

    _last: dict = field(default_factory=dict, compare=False, repr=False)

    def read_into(self, out: np.ndarray, window: Window) -> None:
        row0, col0 = int(window.row_off), int(window.col_off)
        rows, cols = int(window.height), int(window.width)
        for tile_row in range(row0 // WARP_TILE, (row0 + rows - 1) // WARP_TILE + 1):
            for tile_col in range(col0 // WARP_TILE, (col0 + cols - 1) // WARP_TILE + 1):
                tile = self._tile(tile_row, tile_col)
                top, left = tile_row * WARP_TILE, tile_col * WARP_TILE
                r_start, r_stop = max(row0, top), min(row0 + rows, top + tile.shape[0])
                c_start, c_stop = max(col0, left), min(col0 + cols, left + tile.shape[1])
                out[r_start - row0 : r_stop - row0, c_start - col0 : c_stop - col0] = tile[
                    r_start - top : r_stop - top, c_start - left : c_stop - left
                ]

    def _tile(self, tile_row: int, tile_col: int) -> np.ndarray:
        # The last tile is kept: neighbouring blocks of one thread usually share it.
        key = (tile_row, tile_col)
        if key not in self._last:
            top, left = tile_row * WARP_TILE, tile_col * WARP_TILE
            window = Window(
                left,
                top,
                min(WARP_TILE, self.shape[1] - left),
                min(WARP_TILE, self.shape[0] - top),
            )
            tile = np.empty((int(window.height), int(window.width)), np.float32)
            super().read_into(tile, window)
            self._last.clear()
            self._last[key] = tile
        return self._last[key]


def _overlap(
    window: Window, offset: tuple[int, int], shape: tuple[int, int]
) -> tuple[Window, tuple[slice, slice]] | None:
    """The part of a grid ``window`` that a source covers: its window in the source, and
    where it lands in an array of the window's shape. None when they do not overlap."""
    row0 = int(window.row_off) + offset[0]
    col0 = int(window.col_off) + offset[1]
    rows, cols = int(window.height), int(window.width)
    r_start, c_start = max(row0, 0), max(col0, 0)
    r_stop, c_stop = min(row0 + rows, shape[0]), min(col0 + cols, shape[1])
    if r_stop <= r_start or c_stop <= c_start:
        return None
    source_window = Window(c_start, r_start, c_stop - c_start, r_stop - r_start)
    return source_window, (
        slice(r_start - row0, r_stop - row0),
        slice(c_start - col0, c_stop - col0),
    )


@dataclass(frozen=True)
class _CubeReader:
    """The good bands of a cube on the grid's lattice; all of them in one read per window."""

    cube: CubeSource
    source: rasterio.DatasetReader
    offset: tuple[int, int]
    per_dataset_mask: bool

    @classmethod
    def open(cls, cube: CubeSource, dataset: rasterio.DatasetReader, grid: Grid) -> _CubeReader:
        offset = lattice_offset(dataset, grid)
        if offset is None:  # checked when the job is built; a file swapped since then
            raise CubeError(
                "the image cube is not on the map grid's pixel lattice",
                path=cube.path,
                field="grid",
                fix="map on the cube's grid, or warp the cube onto the grid once with gdalwarp",
            )
        flags = set(dataset.mask_flag_enums[cube.band_indexes[0] - 1])
        per_dataset = bool(flags & {MaskFlags.per_dataset, MaskFlags.alpha})
        return cls(cube, dataset, offset, per_dataset)

    def read_into(self, out: np.ndarray, window: Window) -> None:
        """Fill float32 ``out`` (good bands, rows, cols); NaN where not finite or nodata."""
        out.fill(np.nan)
        part = _overlap(window, self.offset, self.source.shape)
        if part is None:
            return
        source_window, (rows, cols) = part
        target = out[:, rows, cols]
        indexes = list(self.cube.band_indexes)
        if self.source.dtypes[indexes[0] - 1] == "float32" and target.flags.c_contiguous:
            self.source.read(indexes, window=source_window, out=target)
            raw = target
        else:
            raw = self.source.read(indexes, window=source_window)
            target[...] = raw
        invalid = ~np.isfinite(target)
        nodata = self.cube.nodata
        if nodata is not None and not np.isnan(nodata):
            invalid |= raw == nodata
        if self.cube.scale != 1.0:
            target *= np.float32(self.cube.scale)
        target[invalid] = np.nan
        if self.per_dataset_mask:
            mask = self.source.read_masks(indexes[0], window=source_window)
            target[:, mask == 0] = np.nan


class StackReader:
    """A stack opened onto one grid; reads any window of it."""

    def __init__(
        self, readers: Sequence[_LayerReader], grid: Grid, cube: _CubeReader | None = None
    ) -> None:
        self._readers = tuple(readers)
        self._cube = cube
        self.grid = grid

    @property
    def names(self) -> list[str]:
        names = [reader.layer.name for reader in self._readers]
        return names + (self._cube.cube.names if self._cube is not None else [])

    @property
    def direct(self) -> list[bool]:
        """Per covariate layer: read directly (True) or through a warp (False)."""
        return [not isinstance(reader.source, WarpedVRT) for reader in self._readers]

    def read(self, window: Window | None = None) -> np.ndarray:
        """float32 (n_rows, rows, cols) of ``window`` (the whole grid by default).

        One row per covariate layer, then one per good band of the cube.
        """
        if window is None:
            window = Window(0, 0, self.grid.width, self.grid.height)
        n_cube = len(self._cube.cube.band_indexes) if self._cube is not None else 0
        shape = (len(self._readers) + n_cube, int(window.height), int(window.width))
        out = np.empty(shape, np.float32)
        for index, reader in enumerate(self._readers):
            reader.read_into(out[index], window)
        if self._cube is not None:
            self._cube.read_into(out[len(self._readers) :], window)
        return out
