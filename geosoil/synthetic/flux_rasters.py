"""Rasters of the MdPL parameter generator's inputs, and of the true parameters, for mapping.

:func:`write_flux_rasters` writes a small projected grid (the synthetic world's CRS,
``EPSG:32654``, pixels of 20 km by default so that the grid spans about 9 degrees of
latitude) with, as Cloud-Optimized GeoTIFFs and a QGIS style beside each:

``inputs/<name>.tif`` + ``inputs.yaml``
    The g_z inputs: the forcing summaries ``sw_in_mean_w_m2``, ``tair_mean_c``,
    ``vpd_mean_kpa``, ``precip_mm_day``, ``wind_mean_m_s`` (climatologies of the same period
    as the towers), the attributes ``latitude_deg`` (of the pixel centre), ``elevation_m``,
    ``sand_fraction`` (float32, nodata -9999) and ``igbp`` (uint8 class codes of
    :data:`IGBP_CODES`, nodata 255, with a colour table; the catalog entry's description
    carries the code table). ``inputs.yaml`` is a geosoil covariate catalog.
``truth/<parameter>.tif`` + ``truth.yaml``
    The eight true physical parameters, by the towers' truth functions
    (:func:`~geosoil.synthetic.flux_sites.true_parameters`) applied to the input rasters as
    written (float32), so a map of g_z can be compared with the truth pixel by pixel.
``README.md``
    This layout, the class codes and the truth functions.

The climatologies come from the towers' weather generator run at every pixel: the pixel's
latitude and elevation with smooth random fields of the climate constants (clearness,
humidity, wet-day probability, storm depth, wind), under one regional weather (the same
daily draws everywhere, as weather is spatially coherent), summarised as the towers are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from rasterio.warp import transform as transform_coords
from scipy.special import ndtr

from geosoil.errors import ConfigError
from geosoil.geo.grid import Grid
from geosoil.geo.outputs import MapClass, OutputVariable
from geosoil.io.catalog import CovariateCatalog, CovariateLayer, write_catalog
from geosoil.io.cog import write_cog
from geosoil.io.flux import SUMMARY_NAMES
from geosoil.io.qml import write_classes_qml, write_continuous_qml
from geosoil.io.writers import staged_directory
from geosoil.process.lsm_forcing import FORCING_NAMES
from geosoil.process.lsm_params import IGBP_RASTER_CODES, LSM_PARAMETER_NAMES, LSM_PARAMETERS
from geosoil.synthetic.fields import gaussian_random_field
from geosoil.synthetic.flux_sites import (
    CLIMATE_RANGES,
    IGBP_CLASSES,
    SECONDS_PER_DAY,
    TRUTH_FUNCTIONS,
    SyntheticFluxSites,
    forcing_summary_arrays,
    true_parameters,
    weather_anomalies,
    weather_arrays,
)
from geosoil.synthetic.streams import component_rng, substream

__all__ = [
    "FLUX_GRID_CRS",
    "FLUX_GRID_ORIGIN_M",
    "IGBP_CODES",
    "INPUT_NAMES",
    "FluxRasterFields",
    "flux_grid",
    "flux_raster_fields",
    "write_flux_rasters",
]

log = logging.getLogger(__name__)

FLUX_GRID_CRS = "EPSG:32654"  # the synthetic world's CRS (UTM 54N)
FLUX_GRID_ORIGIN_M = (20_000.0, 4_900_000.0)  # upper-left corner, about 44.2 N
CORRELATION_LENGTH_M = 250_000.0
PIXELS_PER_CHUNK = 256  # pixels whose half-hourly weather is built at once (~25 MB)

# the MODIS land-cover legend, so that the raster reads like a real IGBP product
IGBP_CODES: dict[int, str] = {
    code: name for code, name in IGBP_RASTER_CODES.items() if name in IGBP_CLASSES
}
_IGBP_COLORS = {
    "ENF": "#05450a", "DBF": "#78d203", "MF": "#009900", "OSH": "#c6b044",
    "SAV": "#fbff13", "GRA": "#b6ff05", "WET": "#27ff87", "CRO": "#c24f44",
}  # fmt: skip
INPUT_NAMES: tuple[str, ...] = (
    *SUMMARY_NAMES,
    "latitude_deg",
    "elevation_m",
    "sand_fraction",
    "igbp",
)
_UNITS = {
    "sw_in_mean_w_m2": "W m-2",
    "tair_mean_c": "degC",
    "vpd_mean_kpa": "kPa",
    "precip_mm_day": "mm day-1",
    "wind_mean_m_s": "m s-1",
    "latitude_deg": "degrees_north",
    "elevation_m": "m",
    "sand_fraction": "1",
    "igbp": "class",
} | {p.name: p.unit for p in LSM_PARAMETERS}
_DESCRIPTIONS = {
    "sw_in_mean_w_m2": "mean incoming shortwave over the period",
    "tair_mean_c": "mean air temperature over the period",
    "vpd_mean_kpa": "mean vapour pressure deficit over the period",
    "precip_mm_day": "precipitation total per day over the period",
    "wind_mean_m_s": "mean wind speed over the period",
    "latitude_deg": "latitude of the pixel centre",
    "elevation_m": "elevation above sea level",
    "sand_fraction": "topsoil sand fraction",
} | {p.name: f"true {p.meaning}" for p in LSM_PARAMETERS}


@dataclass(frozen=True)
class FluxRasterFields:
    """The rasters in memory: grid, inputs by name, true parameters by name.

    Attributes
    ----------
    grid
        The projected grid.
    inputs
        (rows, cols) arrays of :data:`INPUT_NAMES`: float32 for the continuous layers (as
        written), uint8 codes of :data:`IGBP_CODES` for ``igbp``.
    truth
        (rows, cols) float32 true physical parameters by ``LSM_PARAMETER_NAMES``.
    period
        ``(start, n_days, time_step_s)`` of the climatologies.
    """

    grid: Grid
    inputs: dict[str, np.ndarray]
    truth: dict[str, np.ndarray]
    period: tuple[str, int, float]


def flux_grid(shape: tuple[int, int] = (48, 48), *, pixel_m: float = 20_000.0) -> Grid:
    """The rasters' grid: ``shape`` (rows, cols) pixels of ``pixel_m`` from the fixed origin."""
    rows, cols = _check_shape(shape)
    if not (isinstance(pixel_m, (int, float)) and pixel_m > 0):
        raise ConfigError(
            f"pixel_m must be a positive number, got {pixel_m!r}",
            field="pixel_m",
            fix="give the pixel size in metres, e.g. 20000",
        )
    left, top = FLUX_GRID_ORIGIN_M
    return Grid(FLUX_GRID_CRS, Affine(pixel_m, 0.0, left, 0.0, -pixel_m, top), cols, rows)


def _check_shape(shape: tuple[int, int]) -> tuple[int, int]:
    try:
        rows, cols = (int(v) for v in shape)
        ok = (rows, cols) == tuple(shape) and rows >= 2 and cols >= 2
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ConfigError(
            f"shape must be two integers >= 2 (rows, cols), got {shape!r}",
            field="shape",
            fix="pass e.g. shape=(48, 48)",
        )
    return rows, cols


def _period(sites_or_seed: SyntheticFluxSites | int) -> tuple[int, str, int, float]:
    """Seed, start, days and step: those of the towers, or the tower defaults."""
    if isinstance(sites_or_seed, SyntheticFluxSites):
        s = sites_or_seed.settings
        return int(s["seed"]), str(s["start"]), int(s["n_days"]), float(s["time_step_s"])
    if (
        isinstance(sites_or_seed, bool)
        or not isinstance(sites_or_seed, (int, np.integer))
        or sites_or_seed < 0
    ):
        raise ConfigError(
            f"sites_or_seed must be synthetic flux sites or a seed >= 0, got {sites_or_seed!r}",
            field="sites_or_seed",
            fix="pass make_flux_sites(...) to match its period, or a seed such as 0",
        )
    return int(sites_or_seed), "2020-06-01", 30, 1800.0


def _unit_field(rng: np.random.Generator, name: str, shape, pixel_m: float) -> np.ndarray:
    """A smooth field in (0, 1), about uniform over the map: a standardised field's CDF."""
    values = gaussian_random_field(
        substream(rng, name), shape, pixel_m=pixel_m, corr_length_m=CORRELATION_LENGTH_M
    ).astype(np.float64)
    return ndtr((values - values.mean()) / max(values.std(), 1e-12))


def _igbp_codes(fields: Mapping[str, np.ndarray], woody: np.ndarray, managed: np.ndarray):
    """Land cover from humidity, elevation and two smooth fields (rules in the README)."""
    elevation, rh, latitude = fields["elevation_m"], fields["rh_mean"], fields["latitude_deg"]
    forest, shrub = woody > 0.6, woody < 0.3
    code = {name: code for code, name in IGBP_CODES.items()}
    out = np.select(
        [
            forest & ((elevation > 1200.0) | (latitude > 43.0)),
            forest & (managed > 0.5),
            forest,
            shrub & (rh < 0.5),
            shrub,
            managed > 0.6,
            (rh > 0.7) & (elevation < 500.0),
        ],
        [code["ENF"], code["DBF"], code["MF"], code["OSH"], code["SAV"], code["CRO"], code["WET"]],
        default=code["GRA"],
    )
    return out.astype(np.uint8)


def flux_raster_fields(
    sites_or_seed: SyntheticFluxSites | int = 0,
    *,
    shape: tuple[int, int] = (48, 48),
    pixel_m: float = 20_000.0,
) -> FluxRasterFields:
    """The g_z input rasters and the truth rasters, in memory.

    Parameters
    ----------
    sites_or_seed
        Towers from :func:`~geosoil.synthetic.flux_sites.make_flux_sites` (their seed,
        start, length and step set the climatologies' period) or a seed (the towers'
        default period: 30 days from 2020-06-01, half-hourly).
    shape
        (rows, cols) of the grid.
    pixel_m
        Pixel size in metres.
    """
    seed, start, n_days, time_step_s = _period(sites_or_seed)
    grid = flux_grid(shape, pixel_m=pixel_m)
    rows, cols = grid.shape
    rng = component_rng(seed, "flux_rasters")
    xs, ys = grid.coords()
    x, y = np.meshgrid(xs, ys)
    _, latitude = transform_coords(grid.crs, "EPSG:4326", x.ravel().tolist(), y.ravel().tolist())
    fields = {"latitude_deg": np.asarray(latitude).reshape(rows, cols)}
    fields["elevation_m"] = 2000.0 * _unit_field(rng, "elevation", grid.shape, pixel_m)
    fields["sand_fraction"] = 0.05 + 0.85 * _unit_field(rng, "sand", grid.shape, pixel_m)
    for name, (low, high) in CLIMATE_RANGES.items():
        fields[name] = low + (high - low) * _unit_field(rng, name, grid.shape, pixel_m)
    low, high = CLIMATE_RANGES["rh_mean"]
    humid = (fields["rh_mean"] - low) / (high - low)
    woody = 0.5 * humid + 0.5 * _unit_field(rng, "woody", grid.shape, pixel_m)
    managed = _unit_field(rng, "managed", grid.shape, pixel_m)
    igbp = _igbp_codes(fields, woody, managed)

    time_index = pd.date_range(
        start,
        periods=n_days * round(SECONDS_PER_DAY / time_step_s),
        freq=pd.Timedelta(seconds=time_step_s),
    )
    anomalies = weather_anomalies(substream(rng, "weather"), 1, n_days)
    flat = {name: values.ravel() for name, values in fields.items()}
    summaries = {name: np.empty(rows * cols) for name in SUMMARY_NAMES}
    for first in range(0, rows * cols, PIXELS_PER_CHUNK):
        part = slice(first, min(first + PIXELS_PER_CHUNK, rows * cols))
        forcing = weather_arrays(
            time_index, time_step_s, {k: v[part] for k, v in flat.items()}, anomalies
        )
        for name, values in forcing_summary_arrays(forcing, time_step_s).items():
            summaries[name][part] = values

    inputs: dict[str, np.ndarray] = {
        name: summaries[name].reshape(rows, cols).astype(np.float32) for name in SUMMARY_NAMES
    }
    for name in ("latitude_deg", "elevation_m", "sand_fraction"):
        inputs[name] = fields[name].astype(np.float32)
    inputs["igbp"] = igbp
    # the truth of what the rasters hold, so truth and inputs agree to the last bit
    classes = np.array([IGBP_CODES[int(c)] for c in igbp.ravel()], dtype=object)
    attributes = {k: inputs[k].ravel() for k in ("latitude_deg", "elevation_m", "sand_fraction")}
    physical = true_parameters(
        {**attributes, "igbp": classes}, {k: inputs[k].ravel() for k in SUMMARY_NAMES}
    )
    truth = {
        name: physical[:, j].reshape(rows, cols).astype(np.float32)
        for j, name in enumerate(LSM_PARAMETER_NAMES)
    }
    return FluxRasterFields(grid, inputs, truth, (start, n_days, time_step_s))


def write_flux_rasters(
    folder: str | Path,
    sites_or_seed: SyntheticFluxSites | int = 0,
    *,
    shape: tuple[int, int] = (48, 48),
    pixel_m: float = 20_000.0,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write the g_z input rasters, the truth rasters and their catalogs as COGs.

    Parameters
    ----------
    folder
        Output folder; written whole (staged, then renamed) or not at all.
    sites_or_seed, shape, pixel_m
        As :func:`flux_raster_fields`.
    overwrite
        Replace a non-empty ``folder`` (refused otherwise).

    Returns
    -------
    dict of str to Path
        ``inputs/<name>``, ``truth/<parameter>``, ``catalog`` (``inputs.yaml``),
        ``truth_catalog`` (``truth.yaml``) and ``readme`` -> file.

    Raises
    ------
    ConfigError
        A bad shape, pixel size or seed.
    OutputExistsError, OutputError
        ``folder`` is not empty (without ``overwrite``) or cannot be written.
    """
    began = time.perf_counter()
    rasters = flux_raster_fields(sites_or_seed, shape=shape, pixel_m=pixel_m)
    folder = Path(folder)
    written: dict[str, Path] = {}
    with staged_directory(folder, overwrite=overwrite) as staging:
        for group, layers, catalog_name, key in (
            ("inputs", rasters.inputs, "inputs.yaml", "catalog"),
            ("truth", rasters.truth, "truth.yaml", "truth_catalog"),
        ):
            (staging / group).mkdir()
            entries = []
            for name, values in layers.items():
                path = staging / group / f"{name}.tif"
                entries.append(_write_layer(rasters.grid, name, values, path))
                written[f"{group}/{name}"] = path
            catalog = staging / catalog_name
            write_catalog(CovariateCatalog(crs=rasters.grid.crs, layers=entries), catalog)
            written[key] = catalog
        readme = staging / "README.md"
        readme.write_text(_readme(rasters), encoding="utf-8")
        written["readme"] = readme
    log.info("wrote synthetic flux rasters in %.1f s", time.perf_counter() - began)
    return {key: folder / path.relative_to(staging) for key, path in written.items()}


def _igbp_description() -> str:
    table = ", ".join(f"{code}={name}" for code, name in IGBP_CODES.items())
    return f"IGBP land cover class; codes: {table}"


def _write_layer(grid: Grid, name: str, values: np.ndarray, path: Path) -> CovariateLayer:
    """One COG with its QGIS style; returns its catalog entry."""
    categorical = name == "igbp"
    if categorical:
        classes = tuple(
            MapClass(code, label, _IGBP_COLORS[label]) for code, label in IGBP_CODES.items()
        )
        variable = OutputVariable(
            name, "class", _igbp_description(), kind="classes", classes=classes
        )
    else:
        variable = OutputVariable(name, _UNITS[name], _DESCRIPTIONS[name])
    source = path.with_name(f".{path.stem}.source.tif")
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": variable.dtype.name,
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": variable.nodata,
    }
    with rasterio.open(source, "w", **profile) as dst:
        dst.write(variable.to_storage(values.astype(np.float64)), 1)
    minimum, maximum = float(values.min()), float(values.max())
    band_tags = {
        "STATISTICS_MINIMUM": f"{minimum:.9g}",
        "STATISTICS_MAXIMUM": f"{maximum:.9g}",
        "STATISTICS_MEAN": f"{float(values.mean(dtype=np.float64)):.9g}",
        "description": variable.description,
    }
    try:
        write_cog(str(source), path, grid, variable, band_tags=band_tags, threads=1)
    finally:
        source.unlink(missing_ok=True)
    if categorical:
        write_classes_qml(path, classes=[(c.value, c.label, c.color) for c in variable.classes])
    else:
        write_continuous_qml(path, minimum=minimum, maximum=maximum, units=variable.units)
    return CovariateLayer(
        name=name,
        path=path,
        units=variable.units,
        categorical=categorical,
        resampling="nearest" if categorical else "bilinear",
        nodata=variable.nodata,
        description=variable.description,
    )


def _readme(rasters: FluxRasterFields) -> str:
    grid = rasters.grid
    start, n_days, step = rasters.period
    left, top = grid.transform.c, grid.transform.f
    truth = "\n".join(f"- `{name}`: {text}" for name, text in TRUTH_FUNCTIONS.items())
    codes = ", ".join(f"{code} {name}" for code, name in IGBP_CODES.items())
    climate = ", ".join(f"{k} {lo:g}..{hi:g}" for k, (lo, hi) in CLIMATE_RANGES.items())
    forcing = ", ".join(FORCING_NAMES)
    return f"""# Synthetic rasters for mapping land-surface parameters (MdPL)

Grid: {grid.crs}, {grid.width} x {grid.height} pixels of {grid.resolution[0]:g} m, upper-left
corner x={left:.0f} m, y={top:.0f} m. Made by
`geosoil.synthetic.flux_rasters.write_flux_rasters`; the same seed gives the same data.

## Files
- `inputs/<name>.tif` (COG, float32 nodata -9999) and `inputs.yaml` (covariate catalog):
  forcing summaries {", ".join(f"`{n}`" for n in SUMMARY_NAMES)} over {n_days} days from
  {start} (step {step:g} s), `latitude_deg` (pixel centre), `elevation_m`, `sand_fraction`.
- `inputs/igbp.tif`: uint8 IGBP codes (nodata 255, colour table): {codes}.
- `truth/<parameter>.tif` and `truth.yaml`: the true physical parameters.
- A QGIS style `.qml` beside every raster.

## How the climatologies were made
The towers' weather generator ({forcing}) at every pixel, from the pixel's latitude and
elevation and smooth random fields (correlation length {CORRELATION_LENGTH_M / 1000:g} km,
uniform over the map) of the climate constants {climate}, under one regional weather (the
same daily draws at every pixel), summarised like the towers' records. Elevation 0..2000 m
and sand fraction 0.05..0.9 are smooth random fields too. Land cover: woody = 0.5 h + 0.5 u, with h
the humidity rh_mean rescaled to [0, 1] and u a smooth uniform field; forest where woody >
0.6 (ENF above 1200 m or north of 43 N, else DBF where a second field m > 0.5, else MF);
shrubs where woody < 0.3 (OSH where rh_mean < 0.5, else SAV); otherwise CRO where m > 0.6,
WET where rh_mean > 0.7 below 500 m, else GRA.

## Truth functions (applied to the input rasters as written)
{truth}
"""
