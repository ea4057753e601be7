"""Vector files (GeoPackage, GeoJSON, Shapefile) read one way by every reader of polygons
or points."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from geosoil.errors import SampleDataError

if TYPE_CHECKING:
    import geopandas as gpd

__all__ = ["read_vector"]


def read_vector(
    path: Path, *, layer: str | None = None, message: str, field: str, fix: str
) -> gpd.GeoDataFrame:
    """The features of ``path`` (its ``layer``, for a multi-layer file).

    Raises
    ------
    SampleDataError
        The reader fails for any reason (a truncated file, not a vector file, an unknown
        layer): ``"<message> (<the reader's error>)"``, naming ``field`` and ``fix``.
    """
    import geopandas as gpd  # only for vector input: a second of imports a map may not need

    try:
        return gpd.read_file(path, layer=layer)
    except Exception as err:  # pyogrio/fiona raise their own types for damaged files
        raise SampleDataError(f"{message} ({err})", path=path, field=field, fix=fix) from err
