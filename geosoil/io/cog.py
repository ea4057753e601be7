"""Cloud-Optimized GeoTIFF output (DESIGN 4.5), made in one pass from any GDAL source.

The map's layers live in the run's Zarr store; a small VRT over one of them adds what the COG
must carry (band description, units, nodata, statistics, colour table, provenance tags), and
GDAL's COG driver copies it into the final layout: 512 tiles, ZSTD with the predictor,
internal overviews. The overviews are GDAL's own, or levels already computed (the map
store's, see :mod:`geosoil.mapping.overviews`), which the VRT names and GDAL copies as they
are. The file is written under a temporary name and renamed when complete.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio._err import CPLE_BaseError
from rasterio.errors import RasterioError

from geosoil.errors import OutputError
from geosoil.geo.grid import Grid
from geosoil.geo.outputs import OutputVariable

__all__ = ["COG_BLOCK_SIZE", "write_categories", "write_cog"]

COG_BLOCK_SIZE = 512
_GDAL_TYPES = {"float32": "Float32", "uint8": "Byte"}


def write_cog(
    source: str,
    target: Path,
    grid: Grid,
    variable: OutputVariable,
    *,
    band_tags: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    threads: int | str = "ALL_CPUS",
    overviews: Sequence[str] = (),
) -> Path:
    """Copy single-band ``source`` (a GDAL dataset name) into a COG at ``target``.

    Parameters
    ----------
    source
        e.g. ``ZARR:"map.zarr":/kex_cmol_kg``; must lie on ``grid``.
    variable
        Name, units, nodata and classes of the layer.
    band_tags, tags
        Band metadata (statistics) and dataset metadata (provenance).
    threads
        GDAL compression threads for this file.
    overviews
        GDAL dataset names of the overview levels to copy (finest first, each half the
        size of the one before, rounded down); GDAL computes them when empty.
    """
    target = Path(target)
    vrt = target.with_name(f".{target.stem}.source.vrt")
    tmp = target.with_name(f".{target.name}.partial")
    try:
        vrt.write_text(
            _vrt_xml(source, grid, variable, band_tags or {}, tags or {}, overviews=overviews)
        )
        rasterio.shutil.copy(
            vrt,
            tmp,
            driver="COG",
            blocksize=COG_BLOCK_SIZE,
            # ZSTD level 1: as small as GDAL's default level 9 on these floats, ~1.5x faster.
            compress="ZSTD",
            level=1,
            predictor="YES",
            overview_resampling=variable.overview_resampling.upper(),
            overviews="FORCE_USE_EXISTING" if overviews else "AUTO",
            bigtiff="IF_SAFER",
            num_threads=str(threads),
        )
        os.replace(tmp, target)
        if variable.is_classes:
            write_categories(target, variable)
    except (OSError, RasterioError, CPLE_BaseError) as err:  # GDAL's own errors too
        raise OutputError(
            f"cannot write the Cloud-Optimized GeoTIFF ({err})",
            path=target,
            field="output.dir",
            fix="check free space and permissions, then rerun with --resume",
        ) from err
    finally:
        tmp.unlink(missing_ok=True)
        vrt.unlink(missing_ok=True)
    return target


def _vrt_xml(
    source: str,
    grid: Grid,
    variable: OutputVariable,
    band_tags: Mapping[str, str],
    tags: Mapping[str, str],
    *,
    overviews: Sequence[str] = (),
) -> str:
    height, width = grid.shape
    root = ET.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = grid.rio_crs.to_wkt()
    t = grid.transform
    ET.SubElement(root, "GeoTransform").text = ", ".join(
        repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e)
    )
    _metadata(root, tags)
    band = ET.SubElement(root, "VRTRasterBand", dataType=_GDAL_TYPES[variable.dtype.name], band="1")
    ET.SubElement(band, "Description").text = variable.name
    ET.SubElement(band, "NoDataValue").text = repr(variable.nodata)
    ET.SubElement(band, "UnitType").text = variable.units
    _metadata(band, {"units": variable.units, **band_tags})
    if variable.is_classes:
        ET.SubElement(band, "ColorInterp").text = "Palette"
        table = ET.SubElement(band, "ColorTable")
        colors = {cls.value: cls.color for cls in variable.classes}
        for code in range(max(colors) + 1):
            red, green, blue = _rgb(colors.get(code, "#000000"))
            alpha = "255" if code in colors else "0"
            ET.SubElement(table, "Entry", c1=red, c2=green, c3=blue, c4=alpha)
    simple = ET.SubElement(band, "SimpleSource")
    ET.SubElement(simple, "SourceFilename", relativeToVRT="0").text = source
    ET.SubElement(simple, "SourceBand").text = "1"
    window = {"xOff": "0", "yOff": "0", "xSize": str(width), "ySize": str(height)}
    ET.SubElement(simple, "SrcRect", window)
    ET.SubElement(simple, "DstRect", window)
    for name in overviews:
        overview = ET.SubElement(band, "Overview")
        ET.SubElement(overview, "SourceFilename", relativeToVRT="0").text = name
        ET.SubElement(overview, "SourceBand").text = "1"
    return ET.tostring(root, encoding="unicode")


def write_categories(target: Path, variable: OutputVariable) -> Path:
    """Write the class names of ``target`` as GDAL categories and a raster attribute table.

    GeoTIFF keeps both in the ``<file>.aux.xml`` sidecar (GDAL's PAM), which GDAL and QGIS
    read with the file: ``gdalinfo`` lists the categories, QGIS its attribute table.
    """
    names = {cls.value: cls.label for cls in variable.classes}
    root = ET.Element("PAMDataset")
    band = ET.SubElement(root, "PAMRasterBand", band="1")
    categories = ET.SubElement(band, "CategoryNames")
    for code in range(max(names) + 1):
        ET.SubElement(categories, "Category").text = names.get(code, "")
    table = ET.SubElement(band, "GDALRasterAttributeTable", tableType="thematic")
    columns = (("Value", "0", "5"), ("Class_Name", "2", "2"))
    columns += tuple(
        (color, "0", usage) for color, usage in (("Red", "6"), ("Green", "7"), ("Blue", "8"))
    )
    for index, (name, kind, usage) in enumerate(columns):
        field = ET.SubElement(table, "FieldDefn", index=str(index))
        ET.SubElement(field, "Name").text = name
        ET.SubElement(field, "Type").text = kind
        ET.SubElement(field, "Usage").text = usage
    for row_index, cls in enumerate(variable.classes):
        row = ET.SubElement(table, "Row", index=str(row_index))
        for value in (cls.value, cls.label, *_rgb(cls.color)):
            ET.SubElement(row, "F").text = str(value)
    sidecar = target.with_name(target.name + ".aux.xml")
    tmp = sidecar.with_name(f".{sidecar.name}.partial")
    tmp.write_text(ET.tostring(root, encoding="unicode"))
    os.replace(tmp, sidecar)
    return sidecar


def _metadata(parent: ET.Element, items: Mapping[str, str]) -> None:
    if items:
        metadata = ET.SubElement(parent, "Metadata")
        for key, value in items.items():
            ET.SubElement(metadata, "MDI", key=key).text = str(value)


def _rgb(color: str) -> tuple[str, str, str]:
    return tuple(str(int(color[i : i + 2], 16)) for i in (1, 3, 5))
