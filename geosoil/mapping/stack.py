"""Covariate layers of any CRS, resolution and extent, read onto a target grid.

Each read is a warped read of exactly the requested grid (block), so no reprojected copy
of any layer is ever written.
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
    def open(self) -> Iterator[StackReader]:
        """Open every raster once; the reader then serves any number of block reads."""
        with ExitStack() as stack:
            datasets = [stack.enter_context(open_layer(layer)) for layer in self.layers]
            yield StackReader(self.layers, datasets)

    def read(self, grid: Grid) -> np.ndarray:
        """All layers on ``grid`` as float32 (n_layers, height, width), NaN where invalid."""
        with self.open() as reader:
            return reader.read(grid)


class StackReader:
    """Open datasets of a stack; reads blocks by warping each layer onto the block's grid."""

    def __init__(self, layers: Sequence[CovariateLayer], datasets: Sequence) -> None:
        self.layers = tuple(layers)
        self.datasets = tuple(datasets)

    def check_overlap(self, grid: Grid) -> None:
        """Refuse layers that do not overlap the grid at all (usually a wrong CRS)."""
        left, bottom, right, top = grid.bounds
        for layer, dataset in zip(self.layers, self.datasets, strict=True):
            l2, b2, r2, t2 = transform_bounds(dataset.crs, grid.rio_crs, *dataset.bounds)
            if l2 >= right or r2 <= left or b2 >= top or t2 <= bottom:
                raise CovariateError(
                    f"covariate '{layer.name}' does not overlap the map grid",
                    path=layer.path,
                    field=f"covariates.{layer.name}",
                    fix="check the raster's CRS and extent, or the grid definition",
                )

    def read(self, grid: Grid) -> np.ndarray:
        out = np.empty((len(self.layers), grid.height, grid.width), dtype=np.float32)
        for index, (layer, dataset) in enumerate(zip(self.layers, self.datasets, strict=True)):
            out[index] = self._read_layer(layer, dataset, grid)
        return out

    @staticmethod
    def _read_layer(
        layer: CovariateLayer, dataset: rasterio.DatasetReader, grid: Grid
    ) -> np.ndarray:
        nodata = layer_nodata(layer, dataset)
        with WarpedVRT(
            dataset,
            crs=grid.rio_crs,
            transform=grid.transform,
            width=grid.width,
            height=grid.height,
            resampling=Resampling[layer.resampling_method],
            src_nodata=nodata,
            nodata=nodata,
        ) as vrt:
            band = vrt.read(layer.band, masked=True)
        values = to_float(band.filled(nodata if nodata is not None else 0), layer, nodata)
        values[np.ma.getmaskarray(band)] = np.nan
        return values
