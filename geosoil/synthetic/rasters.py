"""Raster layers of the synthetic world: the in-memory form, GeoTIFF writing, reprojection.

A :class:`RasterLayer` carries everything its GeoTIFF will say about itself (CRS, transform,
nodata, units, description), so writing and sampling read from one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.transform import rowcol
from rasterio.warp import Resampling, reproject, transform_bounds
from rasterio.warp import transform as transform_coords

__all__ = [
    "FLOAT_NODATA",
    "RasterLayer",
    "geographic_grid",
    "sample_points",
    "warp_layer",
    "write_geotiff",
]

FLOAT_NODATA = -9999.0
_TILE_PX = 256


@dataclass
class RasterLayer:
    """One single-band raster as it will be written.

    Parameters
    ----------
    name
        Layer name, used as file stem and band description.
    data
        2D array (rows, cols) in the dtype written; nodata cells hold ``nodata``.
    crs
        CRS string, e.g. ``EPSG:32654``.
    transform
        Affine of the upper-left pixel corner.
    units
        Units of the values (``m``, ``degC``, ``%``, ``class`` for categories).
    nodata
        Value marking cells without data.
    categorical
        True for class codes (resample with nearest or mode, never interpolate).
    description
        One line on what the layer holds.
    """

    name: str
    data: np.ndarray
    crs: str
    transform: Affine
    units: str
    nodata: float
    categorical: bool = False
    description: str = ""

    @property
    def height(self) -> int:
        """Rows."""
        return int(self.data.shape[0])

    @property
    def width(self) -> int:
        """Columns."""
        return int(self.data.shape[1])

    @property
    def resolution(self) -> tuple[float, float]:
        """Pixel size (x, y) in CRS units, both positive."""
        return abs(self.transform.a), abs(self.transform.e)

    def valid(self) -> np.ndarray:
        """Boolean mask of cells holding data."""
        return self.data != self.data.dtype.type(self.nodata)


def write_geotiff(layer: RasterLayer, path: Path) -> None:
    """Write ``layer`` as a tiled, compressed single-band GeoTIFF with its metadata.

    Deflate with the floating-point predictor (3) for floats and the horizontal one (2) for
    integers; the band description is the layer name and the units are set both as a band
    tag and as GDAL's band unit. GeoTIFF holds no timestamp, so equal layers give equal bytes.
    """
    is_float = layer.data.dtype.kind == "f"
    profile = {
        "driver": "GTiff",
        "width": layer.width,
        "height": layer.height,
        "count": 1,
        "dtype": layer.data.dtype.name,
        "crs": layer.crs,
        "transform": layer.transform,
        "nodata": layer.nodata,
        "tiled": True,
        "blockxsize": _TILE_PX,
        "blockysize": _TILE_PX,
        "compress": "deflate",
        "predictor": 3 if is_float else 2,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(layer.data, 1)
        dst.set_band_description(1, layer.name)
        dst.units = (layer.units,)
        dst.update_tags(1, units=layer.units)
        if layer.description:
            dst.update_tags(1, description=layer.description)


def geographic_grid(
    crs: str,
    transform: Affine,
    width: int,
    height: int,
    *,
    coarsening: float,
    dst_crs: str = "EPSG:4326",
) -> tuple[Affine, int, int]:
    """A north-up grid in ``dst_crs`` covering the source grid at a coarser pixel.

    The pixel is square in degrees, ``coarsening`` times the source pixel measured north-south
    (1 degree of latitude is about 111.32 km); the bounds are snapped outwards to whole pixels.
    """
    left, top = transform @ (0, 0)
    right, bottom = transform @ (width, height)
    west, south, east, north = transform_bounds(
        crs, dst_crs, left, bottom, right, top, densify_pts=21
    )
    res_deg = round(coarsening * abs(transform.e) / 111_320.0, 7)
    west = math.floor(west / res_deg) * res_deg
    north = math.ceil(north / res_deg) * res_deg
    cols = math.ceil((east - west) / res_deg)
    rows = math.ceil((north - south) / res_deg)
    return Affine(res_deg, 0.0, west, 0.0, -res_deg, north), cols, rows


def warp_layer(
    layer: RasterLayer,
    *,
    dst_crs: str,
    dst_transform: Affine,
    width: int,
    height: int,
    resampling: Resampling,
) -> RasterLayer:
    """``layer`` reprojected onto another grid; cells the source does not reach are nodata."""
    out = np.full((height, width), layer.nodata, dtype=layer.data.dtype)
    reproject(
        source=layer.data,
        destination=out,
        src_transform=layer.transform,
        src_crs=layer.crs,
        src_nodata=layer.nodata,
        dst_transform=dst_transform,
        dst_crs=dst_crs,
        dst_nodata=layer.nodata,
        resampling=resampling,
    )
    return RasterLayer(
        name=layer.name,
        data=out,
        crs=dst_crs,
        transform=dst_transform,
        units=layer.units,
        nodata=layer.nodata,
        categorical=layer.categorical,
        description=layer.description,
    )


def sample_points(layer: RasterLayer, xs: np.ndarray, ys: np.ndarray, *, crs: str) -> np.ndarray:
    """Values of the pixels containing points ``(xs, ys)`` given in ``crs``.

    Points are moved into the layer's CRS first and looked up with rasterio's own ``rowcol``
    (floor of the inverse affine), the same lookup as ``DatasetReader.sample``. Points
    outside the layer get the layer's nodata.
    """
    xs = np.asarray(xs, dtype=np.float64)
    ys = np.asarray(ys, dtype=np.float64)
    if layer.crs != crs:
        moved_x, moved_y = transform_coords(crs, layer.crs, xs.tolist(), ys.tolist())
        xs, ys = np.asarray(moved_x), np.asarray(moved_y)
    rows, cols = rowcol(layer.transform, xs, ys)
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    inside = (rows >= 0) & (rows < layer.height) & (cols >= 0) & (cols < layer.width)
    values = np.full(xs.shape, layer.nodata, dtype=layer.data.dtype)
    values[inside] = layer.data[rows[inside], cols[inside]]
    return values
