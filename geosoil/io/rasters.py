"""Opening covariate rasters with checks, and reading them at sample points."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError

from geosoil.errors import CovariateError, InputFileNotFoundError, MissingCRSError
from geosoil.io.catalog import CovariateLayer

if TYPE_CHECKING:
    import geopandas as gpd  # the sample points' type; a map reads no vector data
    import pandas as pd  # the sampled table's type; a map builds none

__all__ = ["extract_at_points", "layer_nodata", "open_layer", "to_float"]

log = logging.getLogger(__name__)


@contextmanager
def open_layer(layer: CovariateLayer) -> Iterator[rasterio.DatasetReader]:
    """Open a layer's raster, checking that it exists, has a CRS and the declared band."""
    if not layer.path.exists():
        raise InputFileNotFoundError(
            f"raster of covariate '{layer.name}' not found",
            path=layer.path,
            field=f"covariates.{layer.name}.path",
            fix="fix the path in the covariate catalog or restore the file",
        )
    try:
        dataset = rasterio.open(layer.path)
    except RasterioIOError as err:
        raise CovariateError(
            f"raster of covariate '{layer.name}' cannot be read ({err})",
            path=layer.path,
            fix="check that the file is a complete GeoTIFF (or another GDAL raster)",
        ) from err
    with dataset:
        if dataset.crs is None:
            raise MissingCRSError(
                f"raster of covariate '{layer.name}' has no CRS",
                path=layer.path,
                field="crs",
                fix="assign one, e.g. `rio edit-info --crs EPSG:32654 FILE`",
            )
        if layer.band > dataset.count:
            raise CovariateError(
                f"covariate '{layer.name}' asks for band {layer.band} but the raster has "
                f"{dataset.count}",
                path=layer.path,
                field=f"covariates.{layer.name}.band",
                fix=f"use a band between 1 and {dataset.count}",
            )
        yield dataset


def layer_nodata(layer: CovariateLayer, dataset: rasterio.DatasetReader) -> float | None:
    """The nodata value: the catalog's override, else the raster's own."""
    return layer.nodata if layer.nodata is not None else dataset.nodatavals[layer.band - 1]


def to_float(values: np.ndarray, layer: CovariateLayer, nodata: float | None) -> np.ndarray:
    """Raw band values to float32 with scale/offset applied and NaN for nodata."""
    out = values.astype(np.float32)
    invalid = ~np.isfinite(out)
    if nodata is not None and not np.isnan(nodata):
        invalid |= values == nodata
    if layer.scale != 1.0 or layer.offset != 0.0:
        out = out * np.float32(layer.scale) + np.float32(layer.offset)
    out[invalid] = np.nan
    return out


def _points_in(points: gpd.GeoSeries, crs, layer: CovariateLayer) -> gpd.GeoSeries:
    """``points`` in the raster's CRS; two CRS without a transformation are an error."""
    try:
        projected = points.to_crs(crs)
    except Exception as err:  # pyproj raises its own types (CRSError, ProjError)
        raise CovariateError(
            f"sample points cannot be transformed from {points.crs.name!r} to the CRS of "
            f"covariate '{layer.name}' ({crs.to_string()[:80]}): {err}",
            path=layer.path,
            field=f"covariates.{layer.name}",
            fix="give samples and rasters the same CRS (a local engineering CRS cannot be "
            "transformed to any other), or georeference both",
        ) from err
    if not (np.isfinite(projected.x).all() and np.isfinite(projected.y).all()):
        raise CovariateError(
            f"sample points have no position in the CRS of covariate '{layer.name}'",
            path=layer.path,
            field=f"covariates.{layer.name}",
            fix="check the CRS of the samples and of the raster",
        )
    return projected


def extract_at_points(layers: Sequence[CovariateLayer], points: gpd.GeoSeries) -> pd.DataFrame:
    """Covariate values at points, each layer read in its own CRS (nearest pixel).

    Points are reprojected to every raster's CRS rather than rasters to the points, so no
    value is resampled. Points outside a raster or on nodata get NaN.

    Returns
    -------
    pandas.DataFrame
        One column per layer (float32), indexed like ``points``.
    """
    if points.crs is None:
        raise MissingCRSError("points have no CRS", field="geometry", fix="set a CRS first")
    columns = {}
    for layer in layers:
        with open_layer(layer) as dataset:
            projected = _points_in(points, dataset.crs, layer)
            coords = list(zip(projected.x, projected.y, strict=True))
            sampled = np.ma.concatenate(
                list(dataset.sample(coords, indexes=layer.band, masked=True))
            )
            nodata = layer_nodata(layer, dataset)
            filled = sampled.filled(nodata if nodata is not None else np.nan)
            values = to_float(np.asarray(filled), layer, nodata)
            values[np.ma.getmaskarray(sampled)] = np.nan
        n_missing = int(np.isnan(values).sum())
        if n_missing == len(values):
            raise CovariateError(
                f"no sample point falls on valid data of covariate '{layer.name}'",
                path=layer.path,
                field=f"covariates.{layer.name}",
                fix="check that the raster covers the samples and that both CRS are right",
            )
        if n_missing:
            log.info(
                "covariate %s: %d points outside the raster or on nodata", layer.name, n_missing
            )
        columns[layer.name] = values
    import pandas as pd

    return pd.DataFrame(columns, index=points.index)
