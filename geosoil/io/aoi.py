"""Areas of interest: polygons that clip a map."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from shapely.geometry.base import BaseGeometry

from geosoil.errors import InputFileNotFoundError, MissingCRSError, SampleDataError
from geosoil.io.vector import read_vector

__all__ = ["read_aoi"]


def read_aoi(path: str | Path, crs: str) -> BaseGeometry:
    """The union of the polygons in ``path``, reprojected to ``crs``.

    Raises
    ------
    MissingCRSError
        The file has no CRS.
    SampleDataError
        The file holds no polygons, or geometries that are not polygons.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(
            "area-of-interest file not found", path=path, field="grid.aoi", fix="check the path"
        )
    frame = read_vector(
        path,
        message="area of interest cannot be read",
        field="grid.aoi",
        fix="the file is truncated or not a vector file; export the polygons again",
    )
    if frame.crs is None:
        raise MissingCRSError(
            "area of interest has no coordinate reference system",
            path=path,
            field="grid.aoi",
            fix="save the polygons with a CRS (GeoPackage or GeoJSON in EPSG:4326)",
        )
    kinds = set(frame.geometry.geom_type.dropna())
    if not kinds or not kinds <= {"Polygon", "MultiPolygon"}:
        raise SampleDataError(
            f"area of interest must hold polygons, found {sorted(kinds) or 'nothing'}",
            path=path,
            field="grid.aoi",
            fix="draw the area as polygons (field boundaries, a catchment, a municipality)",
        )
    if frame.crs.is_geographic and not _within_lonlat(frame.total_bounds):
        raise MissingCRSError(
            f"area of interest has coordinates {_rounded(frame.total_bounds)} that are not "
            f"longitude/latitude, yet its CRS is {frame.crs.to_string()} (GeoJSON without "
            "'crs' is read as EPSG:4326)",
            path=path,
            field="grid.aoi",
            fix="save the polygons with their projected CRS (e.g. a GeoPackage), or "
            "reproject them to EPSG:4326",
        )
    reprojected = frame.to_crs(crs)
    if not np.isfinite(reprojected.total_bounds).all():
        raise SampleDataError(
            f"area of interest cannot be expressed in the map's CRS {crs}",
            path=path,
            field="grid.aoi",
            fix="check the polygons' CRS and location against the covariates",
        )
    return reprojected.geometry.union_all()


def _within_lonlat(bounds) -> bool:
    left, bottom, right, top = bounds
    return -180.0 <= left <= right <= 360.0 and -90.0 <= bottom <= top <= 90.0


def _rounded(bounds) -> list[float]:
    return [round(float(v), 3) for v in bounds]
