"""Per-field dose table: what a farm advisor hands out, from the dose maps and field polygons.

For each field polygon the pixels whose centre lies inside it are read from the written dose
layers (COG or the Zarr store, any GDAL dataset name). The table gives the field's area, the
share of its pixels that got a dose, the mean doses, the totals to order, and the share of the
field in deficit. A field outside the grid, smaller than a pixel or entirely on nodata gets a
row of NaN with a ``warning``, never an exception: one odd polygon must not lose the others.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.features import geometry_mask
from rasterio.windows import Window

from geosoil.errors import (
    ConfigError,
    InputFileNotFoundError,
    MissingCRSError,
    OutputError,
    SampleDataError,
)
from geosoil.geo.outputs import CLASS_NODATA
from geosoil.io.vector import read_vector
from geosoil.io.writers import fixed_gpkg_timestamp, replaced_atomically, write_bytes_atomic
from geosoil.products.k_fertilizer import DOSE_K2O, DOSE_KCL, DOSE_STATUS, percentile_dose_names

__all__ = ["k_dose_field_table", "read_fields", "write_field_table"]

log = logging.getLogger(__name__)

WARN_OUTSIDE = "outside the map grid"
WARN_NO_PIXEL = "no pixel centre inside the field (smaller than a pixel?)"
WARN_NODATA = "no valid pixel: every pixel of the field is nodata"


def read_fields(path: str | Path, *, id_column: str, layer: str | None = None) -> gpd.GeoDataFrame:
    """Field polygons with a CRS and a unique id per field.

    Parameters
    ----------
    path
        GeoPackage, GeoJSON, Shapefile... (anything GDAL reads), in any CRS.
    id_column
        Column naming each field.
    layer
        Layer of a multi-layer GeoPackage.

    Returns
    -------
    geopandas.GeoDataFrame
        The id column and the geometry (invalid rings repaired with ``make_valid``).

    Raises
    ------
    InputFileNotFoundError
        The file does not exist.
    MissingCRSError
        The file carries no CRS.
    SampleDataError
        Unreadable file, no polygons, non-polygon or empty geometries, a missing id column,
        or missing or repeated ids.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileNotFoundError(
            "field polygon file not found", path=path, field="fields.path", fix="check the path"
        )
    frame = read_vector(
        path,
        layer=layer,
        message="cannot read the field polygons",
        field="fields.path",
        fix="give a GeoPackage or GeoJSON of field polygons",
    )
    if frame.crs is None:
        raise MissingCRSError(
            "field polygons have no coordinate reference system",
            path=path,
            field="fields.path",
            fix="save the fields with their CRS (e.g. GeoPackage in EPSG:6677, or GeoJSON in "
            "EPSG:4326), or assign one: ogr2ogr -a_srs EPSG:XXXX out.gpkg in.gpkg",
        )
    geometry = frame.geometry
    missing = geometry.isna() | geometry.is_empty
    kinds = set(geometry[~missing].geom_type)
    if frame.empty or not kinds:
        raise SampleDataError(
            "the field file holds no polygons",
            path=path,
            field="fields.path",
            fix="draw the fields as polygons (one per field) and save them with an id column",
        )
    if not kinds <= {"Polygon", "MultiPolygon"}:
        raise SampleDataError(
            f"field geometries must be polygons, found {sorted(kinds)}",
            path=path,
            field="fields.path",
            fix="keep only the field boundary polygons (not points or lines)",
        )
    if id_column not in frame.columns or id_column == frame.geometry.name:
        columns = [c for c in frame.columns if c != frame.geometry.name]
        raise SampleDataError(
            f"id column '{id_column}' is not in the field file",
            path=path,
            field="fields.id_column",
            fix=f"set fields.id_column to one of {columns}",
        )
    ids = frame[id_column]
    if ids.isna().any():
        raise SampleDataError(
            f"{int(ids.isna().sum())} field(s) have no id in column '{id_column}'",
            path=path,
            field="fields.id_column",
            fix="give every field an id",
        )
    repeated = sorted(ids[ids.duplicated()].astype(str).unique())
    if repeated:
        raise SampleDataError(
            f"field ids repeat in column '{id_column}': {repeated[:5]}",
            path=path,
            field="fields.id_column",
            fix="give each field a unique id (merge the parts of a field into a MultiPolygon)",
        )
    if missing.any():
        raise SampleDataError(
            f"field(s) {list(ids[missing].astype(str))[:5]} have no geometry",
            path=path,
            field="fields.path",
            fix="draw their boundaries or remove those rows",
        )
    fields = gpd.GeoDataFrame({id_column: ids}, geometry=geometry, crs=frame.crs)
    invalid = ~fields.geometry.is_valid
    if invalid.any():
        log.warning("repaired %d invalid field polygon(s) (self-intersections)", invalid.sum())
        fields.loc[invalid, "geometry"] = fields.geometry[invalid].make_valid()
    log.info("read %d field polygons from %s", len(fields), path)
    return fields


def k_dose_field_table(
    fields: gpd.GeoDataFrame,
    rasters: Mapping[str, str | Path],
    *,
    id_column: str,
    percentile: float | None = None,
    kex_estimate: str = "",
) -> gpd.GeoDataFrame:
    """Per-field areas, mean doses, totals to order and share in deficit.

    Parameters
    ----------
    fields
        Polygons with a CRS (see :func:`read_fields`), in any CRS.
    rasters
        Layer name -> GDAL dataset name (a COG path or ``ZARR:"store":/name``) of
        ``dose_k2o_kg_ha``, ``dose_kcl_kg_ha`` and, with ``percentile``, the two percentile
        doses; all on one grid in a projected CRS.
    id_column
        Column of ``fields`` naming each field.
    percentile
        The percentile of the dose layers ``dose_k2o_p<P>_kg_ha``, or None.
    kex_estimate
        Which Kex estimate the doses (and so the totals) rest on, from the model's
        back-transform (e.g. ``median (10**prediction ...)``): the ``kex_estimate`` column.
        With a ``dose_status`` layer in ``rasters``, ``aoa_pct`` gives the share of each
        field's pixels inside the Kex model's area of applicability.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per field, in the fields' CRS, with columns: the id; ``area_ha`` (of the
        polygon, measured in the grid's CRS); ``n_pixels`` (pixel centres inside it);
        ``mapped_pct`` (share of those with a dose); ``mean_<layer>`` per dose layer (kg/ha
        over the mapped pixels); ``total_k2o_kg``, ``total_kcl_kg`` (and ``total_k2o_p<P>_kg``
        ...): the sum of dose x pixel area over the mapped pixels, the amount to order for
        the mapped part; ``deficit_pct`` (share of mapped pixels with a K2O dose > 0); and
        ``warning`` (empty when all went well).

    Raises
    ------
    ConfigError
        A dose layer is missing, the layers are not on one grid, or the grid's CRS is not
        projected (pixel areas in degrees are not areas).
    """
    names = [DOSE_K2O, DOSE_KCL]
    if percentile is not None:
        names += list(percentile_dose_names(percentile))
    absent = [name for name in names if name not in rasters]
    if absent:
        raise ConfigError(
            f"dose layer(s) {absent} missing for the field table",
            field="fields",
            fix=f"map the k_fertilizer product with the same percentile ({percentile})",
        )
    status = DOSE_STATUS if DOSE_STATUS in rasters else None
    with ExitStack() as stack:
        opened = names + ([status] if status else [])
        datasets = {name: stack.enter_context(rasterio.open(rasters[name])) for name in opened}
        reference = datasets[DOSE_K2O]
        _check_same_grid(datasets, reference)
        metres = _metres_per_unit(reference.crs, source=rasters[DOSE_K2O])
        local = fields.to_crs(reference.crs)
        t = reference.transform
        pixel_ha = abs(t.a * t.e - t.b * t.d) * metres**2 / 1e4
        rows = []
        for geometry in local.geometry:
            row = {"area_ha": geometry.area * metres**2 / 1e4}
            row.update(_field_summary(geometry, datasets, names, pixel_ha, status=status))
            rows.append(row)
    table = pd.DataFrame(rows)
    table.insert(0, id_column, fields[id_column].to_numpy())
    if kex_estimate:
        table["kex_estimate"] = kex_estimate
    n_warned = int((table["warning"] != "").sum())
    if n_warned:
        log.warning("%d of %d fields have a warning in the field table", n_warned, len(table))
    return gpd.GeoDataFrame(table, geometry=fields.geometry.to_numpy(), crs=fields.crs)


def _field_summary(
    geometry,
    datasets: Mapping[str, rasterio.DatasetReader],
    names: Sequence[str],
    pixel_ha,
    *,
    status: str | None = None,
) -> dict[str, object]:
    summary: dict[str, object] = {"n_pixels": 0, "mapped_pct": math.nan}
    if status is not None:
        summary["aoa_pct"] = math.nan
    for name in names:
        summary[f"mean_{name}"] = math.nan
    for name in names:
        summary[_total_column(name)] = math.nan
    summary["deficit_pct"] = math.nan
    reference = datasets[names[0]]
    window = _window_of(geometry.bounds, reference.transform)
    if _clip(window, reference) is None:
        return {**summary, "warning": WARN_OUTSIDE}
    # The unclipped window: pixel centres of the field beyond the grid count as unmapped.
    inside = geometry_mask(
        [geometry],
        out_shape=(int(window.height), int(window.width)),
        transform=reference.transform @ Affine.translation(window.col_off, window.row_off),
        invert=True,
    )
    n_inside = int(inside.sum())
    summary["n_pixels"] = n_inside
    if n_inside == 0:
        return {**summary, "warning": WARN_NO_PIXEL}
    values = {name: _read_padded(datasets[name], window)[inside] for name in names}
    outside_aoa = 0
    if status is not None:
        codes = _read_padded(datasets[status], window)[inside]
        classified = codes[np.isfinite(codes) & (codes != CLASS_NODATA)]
        outside_aoa = int((classified == 2).sum())
        if classified.size:
            summary["aoa_pct"] = 100.0 * float((classified != 2).mean())
    mapped = np.isfinite(values[names[0]])
    n_mapped = int(mapped.sum())
    summary["mapped_pct"] = 100.0 * n_mapped / n_inside
    if n_mapped == 0:
        return {**summary, "warning": WARN_NODATA}
    for name in names:
        layer = values[name][mapped]
        finite = layer[np.isfinite(layer)]
        if finite.size:
            summary[f"mean_{name}"] = float(finite.mean())
            summary[_total_column(name)] = float(finite.sum() * pixel_ha)
    summary["deficit_pct"] = 100.0 * float((values[names[0]][mapped] > 0).mean())
    warning = ""
    if n_mapped < n_inside:
        warning = (
            f"partly mapped: {n_mapped} of {n_inside} pixels have a dose; totals cover the "
            "mapped part"
        )
        if outside_aoa:
            warning += (
                f" ({outside_aoa} pixels lie outside the Kex model's area of applicability: "
                "sample there)"
            )
    return {**summary, "warning": warning}


def _total_column(layer: str) -> str:
    """``dose_k2o_kg_ha`` -> ``total_k2o_kg``; ``dose_kcl_p90_kg_ha`` -> ``total_kcl_p90_kg``."""
    return f"total_{layer.removeprefix('dose_').removesuffix('_kg_ha')}_kg"


def _window_of(bounds, transform) -> Window:
    """The whole pixels covering ``bounds``, on the raster's lattice, possibly beyond it."""
    left, bottom, right, top = bounds
    inverse = ~transform
    corners = [inverse @ (x, y) for x in (left, right) for y in (bottom, top)]
    cols = [c for c, _ in corners]
    rows = [r for _, r in corners]
    col0, row0 = math.floor(min(cols)), math.floor(min(rows))
    col1, row1 = math.ceil(max(cols)), math.ceil(max(rows))
    return Window(col0, row0, max(col1 - col0, 1), max(row1 - row0, 1))


def _clip(window: Window, dataset: rasterio.DatasetReader) -> Window | None:
    """The part of ``window`` inside the raster, or None."""
    col0, row0 = max(window.col_off, 0), max(window.row_off, 0)
    col1 = min(window.col_off + window.width, dataset.width)
    row1 = min(window.row_off + window.height, dataset.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _read_padded(dataset: rasterio.DatasetReader, window: Window) -> np.ndarray:
    """float64 values of ``window``, NaN for nodata and for pixels beyond the raster."""
    out = np.full((int(window.height), int(window.width)), np.nan)
    part = _clip(window, dataset)
    band = dataset.read(1, window=part, masked=True).astype(np.float64).filled(np.nan)
    row = int(part.row_off - window.row_off)
    col = int(part.col_off - window.col_off)
    out[row : row + band.shape[0], col : col + band.shape[1]] = band
    return out


def _check_same_grid(datasets: Mapping[str, rasterio.DatasetReader], reference) -> None:
    for name, dataset in datasets.items():
        if (dataset.crs, dataset.transform, dataset.shape) != (
            reference.crs,
            reference.transform,
            reference.shape,
        ):
            raise ConfigError(
                f"dose layer '{name}' is not on the grid of '{DOSE_K2O}'",
                path=dataset.name,
                field="fields",
                fix="use the dose layers of one map run",
            )


def _metres_per_unit(crs, *, source) -> float:
    if crs is None or not crs.is_projected:
        raise ConfigError(
            "field areas and totals need a map grid in a projected CRS (metres), not "
            f"{crs.to_string() if crs else 'no CRS'}",
            path=source,
            field="grid.crs",
            fix="map on a projected grid: a projected reference layer or grid.crs such as a UTM "
            "zone (EPSG:326xx)",
        )
    _, factor = crs.linear_units_factor
    return float(factor)


# GeoPackages record a last_change time; a fixed one makes identical runs give identical bytes.
GPKG_TIMESTAMP = "2000-01-01T00:00:00Z"


def write_field_table(
    table: gpd.GeoDataFrame, directory: str | Path, *, stem: str = "fields"
) -> tuple[Path, Path]:
    """Write ``<stem>.gpkg`` (layer ``<stem>``) and ``<stem>.csv`` (no geometry), atomically.

    Returns
    -------
    (Path, Path)
        The GeoPackage and the CSV; each appears only once complete.
    """
    directory = Path(directory)
    gpkg = directory / f"{stem}.gpkg"
    try:
        with (
            fixed_gpkg_timestamp(GPKG_TIMESTAMP),
            replaced_atomically(gpkg, suffix=".gpkg") as temporary,
        ):
            table.to_file(temporary, driver="GPKG", layer=stem)
    except Exception as err:
        raise OutputError(
            f"cannot write the field table ({err})",
            path=gpkg,
            fix="check permissions and free space, or choose another output folder",
        ) from err
    csv = write_bytes_atomic(
        directory / f"{stem}.csv",
        # Six significant digits: kg and hectares, not float noise, in what people read.
        pd.DataFrame(table.drop(columns=table.geometry.name))
        .to_csv(index=False, float_format="%.6g")
        .encode(),
    )
    return gpkg, csv
