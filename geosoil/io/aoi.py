"""Areas of interest: polygons that clip a map."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from shapely.geometry.base import BaseGeometry

from geosoil.errors import InputFileNotFoundError, MissingCRSError, SampleDataError

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
    frame = gpd.read_file(path)
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
    return frame.to_crs(crs).geometry.union_all()
