"""Covariate layers of any CRS, resolution and extent, read onto a target grid.

Every layer is opened as a virtual warp (GDAL WarpedVRT) onto the whole target grid, and
blocks are windows of it: no reprojected copy is ever written, and because GDAL warps in its
own fixed chunks, a pixel's value does not depend on the block it is read through.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.warp import transform_bounds
from rasterio.windows import Window

from geosoil.errors import CovariateError
from geosoil.io.catalog import CovariateLayer
from geosoil.io.rasters import layer_nodata, open_layer, to_float
from geosoil.mapping.grid import Grid

__all__ = ["CovariateStack", "StackReader"]


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
        """Open every layer warped onto ``grid``; the reader serves any number of windows."""
        with ExitStack() as stack:
            datasets = [stack.enter_context(open_layer(layer)) for layer in self.layers]
            _check_overlap(self.layers, datasets, grid)
            nodatas = [
                layer_nodata(layer, dataset)
                for layer, dataset in zip(self.layers, datasets, strict=True)
            ]
            vrts = [
                stack.enter_context(_warped(layer, dataset, grid, nodata))
                for layer, dataset, nodata in zip(self.layers, datasets, nodatas, strict=True)
            ]
            yield StackReader(self.layers, vrts, nodatas, grid)

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


class StackReader:
    """A stack warped onto one grid; reads any window of it."""

    def __init__(self, layers, vrts, nodatas, grid: Grid) -> None:
        self.layers = tuple(layers)
        self.vrts = tuple(vrts)
        self.nodatas = tuple(nodatas)
        self.grid = grid

    def read(self, window: Window | None = None) -> np.ndarray:
        """float32 (n_layers, rows, cols) of ``window`` (the whole grid by default)."""
        rows, cols = (window.height, window.width) if window is not None else self.grid.shape
        out = np.empty((len(self.layers), int(rows), int(cols)), dtype=np.float32)
        for index, (layer, vrt, nodata) in enumerate(
            zip(self.layers, self.vrts, self.nodatas, strict=True)
        ):
            band = vrt.read(layer.band, window=window, masked=True)
            values = to_float(band.filled(nodata if nodata is not None else 0), layer, nodata)
            values[np.ma.getmaskarray(band)] = np.nan
            out[index] = values
        return out
