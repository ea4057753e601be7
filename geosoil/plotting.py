"""Maps with coordinates and spatial diagnostics, for notebooks and reports.

Every map is drawn on its grid's coordinates (rioxarray and ``xarray.plot``), with the CRS
in the title and the axis units read from the CRS; sample points or field polygons
(GeoDataFrames, reprojected to the raster's CRS) go on top::

    from geosoil.plotting import experimental_variogram, plot_map, plot_points

    ax = plot_map("map/kex_cmol_kg.tif", points=samples, title="mapped Kex")
    plot_points(residuals, "residual", background="map/kex_cmol_kg.tif")
    experimental_variogram(residuals["x"], residuals["y"], residuals["residual"])

A class raster (a colour table, as geosoil writes its class COGs) is drawn with its own
colours and a legend of its category names, read from GDAL's ``<file>.aux.xml``.
Matplotlib, rioxarray and geopandas are imported when a function is called.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import geopandas as gpd
    import xarray as xr
    from matplotlib.axes import Axes
    from pyproj import CRS

__all__ = [
    "category_names",
    "crs_title",
    "experimental_variogram",
    "plot_map",
    "plot_points",
    "read_layer",
]


def read_layer(layer: str | Path | xr.DataArray) -> xr.DataArray:
    """A single-band raster as a masked DataArray with its CRS (``rio.crs``) and attributes.

    ``layer`` is a raster file (its first band) or a DataArray with spatial coordinates and a
    CRS, returned as it is (a ``band`` dimension of length 1 is dropped).
    """
    import rioxarray
    import xarray as xr

    if isinstance(layer, xr.DataArray):
        data = layer
    else:
        path = Path(layer)
        data = rioxarray.open_rasterio(path, masked=True).sel(band=1, drop=True)
        data.name = data.attrs.get("long_name") or path.stem
        if isinstance(data.name, tuple):
            data.name = data.name[0]
    if "band" in data.dims and data.sizes["band"] == 1:
        data = data.squeeze("band", drop=True)
    if data.rio.crs is None:
        raise ValueError(f"layer {data.name!r} has no CRS; set one with .rio.write_crs(...)")
    return data


def crs_title(crs: Any) -> str:
    """A CRS as a short title line, e.g. ``WGS 84 / UTM zone 33N (EPSG:32633)``."""
    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    epsg = crs.to_epsg()
    return f"{crs.name} (EPSG:{epsg})" if epsg else crs.name


def plot_map(
    layer: str | Path | xr.DataArray,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    label: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
    points: gpd.GeoDataFrame | None = None,
    points_column: str | None = None,
    fields: gpd.GeoDataFrame | None = None,
    classes: Mapping[int, str] | None = None,
) -> Axes:
    """Draw one raster layer on its coordinates, with points or polygons on top.

    Parameters
    ----------
    layer
        Raster file (first band) or DataArray with a CRS.
    ax
        Axes to draw on; a new figure when None.
    title
        First title line (the layer's name when None); the CRS is the second.
    label
        Colour bar label; the layer's ``units`` attribute when None.
    cmap, vmin, vmax
        Colour stretch of a continuous layer (matplotlib's defaults when None).
    points
        Sample points, drawn as small markers; reprojected to the layer's CRS.
    points_column
        Colour the points by this column on the layer's stretch (observed against mapped
        values), instead of plain markers.
    fields
        Polygons (e.g. farm fields), drawn as outlines.
    classes
        Class code -> name for a class raster. When None and ``layer`` is a file with a
        colour table, the names come from its GDAL categories; a class raster is drawn with
        its colour table and a legend instead of a colour bar.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    data = read_layer(layer)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    palette = _palette(layer) if isinstance(layer, str | Path) else None
    if classes is None and palette is not None:
        classes = category_names(Path(layer)) or {code: str(code) for code in palette}
    units = data.attrs.get("units", "")
    if classes:
        _plot_classes(ax, data, classes, palette)
    else:
        colorbar = {"label": label if label is not None else units, "shrink": 0.85}
        data.plot.imshow(ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, cbar_kwargs=colorbar)
        if points is not None and points_column is not None:
            image = ax.images[-1]
            located = points.to_crs(data.rio.crs)
            ax.scatter(
                located.geometry.x,
                located.geometry.y,
                c=located[points_column],
                cmap=image.get_cmap(),
                norm=image.norm,
                s=18,
                edgecolors="white",
                linewidths=0.6,
            )
            points = None
    if points is not None:
        points.to_crs(data.rio.crs).plot(
            ax=ax, markersize=8, color="white", edgecolor="black", linewidth=0.5
        )
    if fields is not None:
        fields.to_crs(data.rio.crs).boundary.plot(ax=ax, color="black", linewidth=0.6)
    left, bottom, right, top = data.rio.bounds()
    ax.set_xlim(left, right)  # points or fields beyond the raster do not widen the map
    ax.set_ylim(bottom, top)
    _decorate(ax, data.rio.crs, title if title is not None else str(data.name))
    return ax


def plot_points(
    points: gpd.GeoDataFrame,
    column: str,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    label: str | None = None,
    cmap: str = "RdBu",
    centre: float | None = 0.0,
    background: str | Path | xr.DataArray | None = None,
) -> Axes:
    """Draw points coloured by ``column`` (e.g. cross-validation residuals) on a map.

    ``centre``: the colour scale is symmetric about it (a diverging scale for residuals);
    None for the data's range. ``background``: a raster drawn in grey beneath, whose CRS the
    points are reprojected to.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    crs = points.crs
    if background is not None:
        data = read_layer(background)
        crs = data.rio.crs
        data.plot.imshow(ax=ax, cmap="Greys", alpha=0.45, add_colorbar=False)
        points = points.to_crs(crs)
    values = points[column].to_numpy(dtype=float)
    limits = {}
    if centre is not None and np.isfinite(values).any():
        spread = float(np.nanmax(np.abs(values - centre)))
        limits = {"vmin": centre - spread, "vmax": centre + spread}
    drawn = ax.scatter(
        points.geometry.x,
        points.geometry.y,
        c=values,
        cmap=cmap,
        s=22,
        edgecolors="0.3",
        linewidths=0.4,
        **limits,
    )
    ax.figure.colorbar(drawn, ax=ax, label=label if label is not None else column, shrink=0.85)
    _decorate(ax, crs, title if title is not None else column)
    return ax


def experimental_variogram(
    x: np.ndarray | pd.Series,
    y: np.ndarray | pd.Series,
    values: np.ndarray | pd.Series,
    *,
    n_lags: int = 12,
    max_lag: float | None = None,
) -> pd.DataFrame:
    """The isotropic experimental (Matheron) semivariogram of ``values`` at points.

    gamma(h) = 1 / (2 N(h)) * sum over the N(h) pairs with distance in lag class h of
    (z_i - z_j)^2. Distances are in the units of ``x`` and ``y`` (metres on a projected
    CRS). Pairs with a non-finite value are left out.

    Parameters
    ----------
    n_lags
        Number of equal-width lag classes from 0 to ``max_lag``.
    max_lag
        Largest distance; half the largest pair distance when None (the usual rule).

    Returns
    -------
    pandas.DataFrame
        One row per lag class with pairs: ``lag`` (mean pair distance), ``semivariance``,
        ``n_pairs``.
    """
    xy = np.column_stack([np.asarray(x, float), np.asarray(y, float)])
    z = np.asarray(values, float)
    keep = np.isfinite(z) & np.isfinite(xy).all(axis=1)
    xy, z = xy[keep], z[keep]
    if len(z) < 2:
        raise ValueError("an experimental variogram needs at least two finite values")
    first, second = np.triu_indices(len(z), k=1)
    distance = np.hypot(*(xy[first] - xy[second]).T)
    half_squared = 0.5 * (z[first] - z[second]) ** 2
    max_lag = float(distance.max() / 2) if max_lag is None else float(max_lag)
    edges = np.linspace(0.0, max_lag, int(n_lags) + 1)
    lag_class = np.digitize(distance, edges[1:], right=True)
    inside = distance <= max_lag
    counts = np.bincount(lag_class[inside], minlength=n_lags)[:n_lags]
    gamma = np.bincount(lag_class[inside], half_squared[inside], minlength=n_lags)[:n_lags]
    lags = np.bincount(lag_class[inside], distance[inside], minlength=n_lags)[:n_lags]
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame(
            {"lag": lags / counts, "semivariance": gamma / counts, "n_pairs": counts}
        )
    return table[table["n_pairs"] > 0].reset_index(drop=True)


def _decorate(ax: Axes, crs: Any, title: str) -> None:
    """The CRS under the title, axis names with the CRS's units, equal aspect."""
    from matplotlib.ticker import MaxNLocator
    from pyproj import CRS

    crs = CRS.from_user_input(crs)
    ax.set_title(f"{title}\n{crs_title(crs)}", fontsize=9)
    x_label, y_label = _axis_labels(crs)
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(style="plain", useOffset=False)
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.set_aspect("equal")


def _axis_labels(crs: CRS) -> tuple[str, str]:
    if crs.is_geographic:
        return "longitude (°)", "latitude (°)"
    unit = crs.axis_info[0].unit_name if crs.axis_info else ""
    short = {"metre": "m", "meter": "m", "foot": "ft", "US survey foot": "ftUS"}.get(unit, unit)
    return f"easting ({short})", f"northing ({short})"


def _palette(path: str | Path) -> dict[int, tuple[float, float, float]] | None:
    """Class code -> RGB in [0, 1] from the raster's colour table; None without one."""
    import rasterio

    with rasterio.open(path) as src:
        try:
            table = src.colormap(1)
        except ValueError:
            return None
    return {code: tuple(c / 255 for c in rgba[:3]) for code, rgba in table.items() if rgba[3]}


def category_names(path: str | Path) -> dict[int, str]:
    """Class code -> name of a class raster, from the GDAL category names of its first band.

    GeoTIFFs keep them in the ``<file>.aux.xml`` sidecar (as geosoil writes its class COGs);
    empty names are left out, and a raster without any gives an empty dict.
    """
    path = Path(path)
    sidecar = path.with_name(path.name + ".aux.xml")
    if not sidecar.is_file():
        return {}
    for band in ET.parse(sidecar).getroot().iter("PAMRasterBand"):
        if band.get("band") == "1" and band.find("CategoryNames") is not None:
            names = [c.text or "" for c in band.find("CategoryNames")]
            return {code: name for code, name in enumerate(names) if name}
    return {}


def _plot_classes(
    ax: Axes,
    data: xr.DataArray,
    classes: Mapping[int, str],
    palette: Mapping[int, tuple[float, float, float]] | None,
) -> None:
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Patch

    codes = sorted(classes)
    default = dict(zip(codes, _tab_colours(len(codes)), strict=True))
    colours = [(palette or {}).get(code, default[code]) for code in codes]
    bounds = [code - 0.5 for code in codes] + [codes[-1] + 0.5]
    data.plot.imshow(
        ax=ax,
        cmap=ListedColormap(colours),
        norm=BoundaryNorm(bounds, len(codes)),
        add_colorbar=False,
    )
    handles = [
        Patch(color=colour, label=f"{code}: {classes[code]}")
        for code, colour in zip(codes, colours, strict=True)
    ]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)


def _tab_colours(n: int) -> list[tuple[float, float, float]]:
    import matplotlib

    table = matplotlib.colormaps["tab10"]
    return [tuple(table(i % 10)[:3]) for i in range(n)]
