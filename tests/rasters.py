"""Tiny rasters written by code, for alignment tests that need exactly known values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

UTM_100M = Affine(100.0, 0.0, 440000.0, 0.0, -100.0, 4190000.0)


def write_raster(
    path: Path,
    values: np.ndarray,
    *,
    crs: str | None = "EPSG:32654",
    transform: Affine = UTM_100M,
    nodata: float | None = -9999.0,
) -> Path:
    """Write a (bands, rows, cols) or (rows, cols) array as a GeoTIFF."""
    values = values if values.ndim == 3 else values[None]
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=values.shape[2],
        height=values.shape[1],
        count=values.shape[0],
        dtype=values.dtype,
        crs=crs,
        transform=transform,
        nodata=nodata,
    ) as dataset:
        dataset.write(values)
    return path
