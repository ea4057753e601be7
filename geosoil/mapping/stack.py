"""Covariate layers of any CRS, resolution and extent, read onto a target grid.

A layer already on the grid's pixel lattice (same CRS and pixel size, origin a whole number of
pixels away) is read directly by window: the common case of a prepared covariate stack, and
several times faster than warping. Any other layer is opened as a virtual warp (GDAL
WarpedVRT) onto the whole target grid, and blocks are windows of it: no reprojected copy is
ever written, and because GDAL warps in its own fixed chunks, a pixel's value does not depend
on the block it is read through.

A reader holds open GDAL datasets, which must not be shared between threads: open one reader
per thread (the engine does).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import rasterio
from rasterio.enums import MaskFlags, Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geosoil.errors import CovariateError
from geosoil.io.catalog import CovariateLayer
from geosoil.io.rasters import layer_nodata, open_layer, to_float
from geosoil.mapping.grid import Grid

__all__ = ["CovariateStack", "StackReader"]

# Origins within this share of a pixel count as the same lattice.
_LATTICE_TOLERANCE = 1e-6


@dataclass(frozen=True)
class CovariateStack:
    """An ordered list of covariate layers, read together onto a grid."""

    layers: tuple[CovariateLayer, ...]

    @classmethod
    def from_layers(cls, layers: Sequence[CovariateLayer]) -> CovariateStack:
        return cls(tuple(layers))

    @property
    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @contextmanager
    def open(self, grid: Grid) -> Iterator[StackReader]:
        """Open every layer onto ``grid``; the reader serves any number of windows."""
        with ExitStack() as stack:
            datasets = [stack.enter_context(open_layer(layer)) for layer in self.layers]
            _check_overlap(self.layers, datasets, grid)
            readers = []
            for layer, dataset in zip(self.layers, datasets, strict=True):
                nodata = layer_nodata(layer, dataset)
                offset = _lattice_offset(dataset, grid)
                if offset is None:
                    source = stack.enter_context(_warped(layer, dataset, grid, nodata))
                    readers.append(_LayerReader(layer, source, nodata, (0, 0), grid.shape))
                else:
                    readers.append(_LayerReader(layer, dataset, nodata, offset, dataset.shape))
            yield StackReader(readers, grid)

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


def _lattice_offset(dataset: rasterio.DatasetReader, grid: Grid) -> tuple[int, int] | None:
    """(row, col) of the grid's origin in the dataset's pixels, if both share a lattice."""
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
        row0 = int(window.row_off) + self.offset[0]
        col0 = int(window.col_off) + self.offset[1]
        rows, cols = out.shape
        # The part of the window that the source covers; the rest stays NaN.
        r_start, c_start = max(row0, 0), max(col0, 0)
        r_stop, c_stop = min(row0 + rows, self.shape[0]), min(col0 + cols, self.shape[1])
        out.fill(np.nan)
        if r_stop <= r_start or c_stop <= c_start:
            return
        source_window = Window(c_start, r_start, c_stop - c_start, r_stop - r_start)
        target = out[r_start - row0 : r_stop - row0, c_start - col0 : c_stop - col0]
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


class StackReader:
    """A stack opened onto one grid; reads any window of it."""

    def __init__(self, readers: Sequence[_LayerReader], grid: Grid) -> None:
        self._readers = tuple(readers)
        self.grid = grid

    @property
    def names(self) -> list[str]:
        return [reader.layer.name for reader in self._readers]

    @property
    def direct(self) -> list[bool]:
        """Per layer: read directly (True) or through a warp (False)."""
        return [not isinstance(reader.source, WarpedVRT) for reader in self._readers]

    def read(self, window: Window | None = None) -> np.ndarray:
        """float32 (n_layers, rows, cols) of ``window`` (the whole grid by default)."""
        if window is None:
            window = Window(0, 0, self.grid.width, self.grid.height)
        out = np.empty((len(self._readers), int(window.height), int(window.width)), np.float32)
        for index, reader in enumerate(self._readers):
            reader.read_into(out[index], window)
        return out
