"""A STAC item per map output folder: what each file is, on which grid, made by what.

The item (``item.json``) uses the projection and raster extensions (classification for class
layers), links every COG, the Zarr store, the QML styles and the config by paths relative to
itself (so the folder can move), and stores the artifacts' sha256 and the resolved config
with absolute paths.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pystac
from pystac.extensions.classification import Classification, ClassificationExtension
from pystac.extensions.projection import ProjectionExtension
from pystac.extensions.raster import DataType, RasterBand, RasterExtension, Statistics
from rasterio.warp import transform_bounds, transform_geom
from shapely.geometry import box, mapping

from geosoil.geo.grid import Grid
from geosoil.geo.outputs import OutputVariable
from geosoil.io.writers import write_bytes_atomic

__all__ = ["ITEM_NAME", "ZARR_MEDIA_TYPE", "write_map_item"]

ITEM_NAME = "item.json"
ZARR_MEDIA_TYPE = "application/vnd+zarr"
_DATA_TYPES = {"float32": DataType.FLOAT32, "uint8": DataType.UINT8}


def write_map_item(
    folder: Path,
    *,
    item_id: str,
    grid: Grid,
    variables: Sequence[OutputVariable],
    statistics: Mapping[str, Any],
    artifacts: Sequence[Mapping[str, str]],
    config: Mapping[str, Any],
    version: str,
    zarr_name: str | None,
) -> Path:
    """Write ``folder/item.json`` describing the files already in ``folder``.

    Parameters
    ----------
    statistics
        Per layer, an object with ``count``, ``minimum``, ``maximum``, ``mean``, ``std``.
    artifacts
        One mapping per model: ``path`` (absolute), ``sha256``, ``estimator``.
    config
        The resolved config (absolute paths), stored as ``geosoil:config``.
    zarr_name
        The store's folder name in ``folder``, or None when the run wrote COGs only.
    """
    footprint = box(*grid.bounds)
    geometry = transform_geom(grid.crs, "EPSG:4326", mapping(footprint))
    bbox = list(transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21))
    item = pystac.Item(
        id=item_id,
        geometry=geometry,
        bbox=bbox,
        datetime=dt.datetime.now(dt.UTC).replace(microsecond=0),
        properties={
            "geosoil:version": version,
            "geosoil:artifacts": [dict(a) for a in artifacts],
            "geosoil:config": dict(config),
        },
    )
    projection = ProjectionExtension.ext(item, add_if_missing=True)
    epsg = grid.rio_crs.to_epsg()
    projection.code = f"EPSG:{epsg}" if epsg else None
    projection.wkt2 = None if epsg else grid.rio_crs.to_wkt()
    projection.shape = list(grid.shape)
    projection.transform = list(grid.transform)[:6]
    projection.bbox = list(grid.bounds)
    RasterExtension.add_to(item)
    for var in variables:
        _add_layer(item, folder, var, statistics.get(var.name))
    if zarr_name is not None and (folder / zarr_name).exists():
        item.add_asset(
            "zarr",
            pystac.Asset(
                f"./{zarr_name}",
                media_type=ZARR_MEDIA_TYPE,
                roles=["data"],
                title="every layer as one CF Zarr store",
            ),
        )
    for name, media, role, title in (
        ("config.yaml", "application/yaml", "metadata", "the config that was run"),
        ("summary.json", pystac.MediaType.JSON, "metadata", "grid and per-layer statistics"),
    ):
        if (folder / name).exists():
            item.add_asset(
                name.split(".")[0], pystac.Asset(f"./{name}", media, title, roles=[role])
            )
    text = json.dumps(item.to_dict(include_self_link=False, transform_hrefs=False), indent=2)
    return write_bytes_atomic(folder / ITEM_NAME, (text + "\n").encode())


def _add_layer(item: pystac.Item, folder: Path, var: OutputVariable, stats: Any) -> None:
    band = RasterBand.create(
        nodata=var.nodata, data_type=_DATA_TYPES[var.dtype.name], unit=var.units or None
    )
    if stats is not None and stats.count and not var.is_classes:
        band.statistics = Statistics.create(
            minimum=stats.minimum, maximum=stats.maximum, mean=stats.mean, stddev=stats.std
        )
    cog = folder / f"{var.name}.tif"
    if cog.exists():
        asset = pystac.Asset(
            f"./{cog.name}",
            media_type=pystac.MediaType.COG,
            title=var.description or var.name,
            roles=["data"],
        )
        item.add_asset(var.name, asset)
        RasterExtension.ext(asset).bands = [band]
        if var.is_classes:
            classes = [
                Classification.create(
                    value=c.value,
                    name=re.sub(r"[^0-9A-Za-z_-]", "_", c.label),
                    title=c.label,
                    color_hint=c.color.lstrip("#").upper(),
                )
                for c in var.classes
            ]
            classes.append(Classification.create(value=var.nodata, name="nodata", nodata=True))
            ClassificationExtension.ext(asset, add_if_missing=True).classes = classes
    style = folder / f"{var.name}.qml"
    if style.exists():
        item.add_asset(
            f"{var.name}_style",
            pystac.Asset(
                f"./{style.name}",
                media_type="application/xml",
                title=f"QGIS style of {var.name}",
                roles=["style"],
            ),
        )
