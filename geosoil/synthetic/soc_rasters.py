"""The SOC experiment over the synthetic world's rasters: covariates, CLM5 forcings and truth.

:func:`soc_world_rasters` turns the synthetic world's covariate rasters (in memory or a
written world folder) into the drivers of :mod:`geosoil.synthetic.soc_profiles`, pixel by
pixel, and writes on the world's grid (optionally ``coarsening`` times coarser):

``covariates/<column>.tif`` + ``covariates.yaml``
    The 38 ``binn_ny`` covariate columns (:data:`~geosoil.io.profiles.ENV_COLUMNS`, same
    names and units as the profile set), one single-band GeoTIFF each: float32 with nodata
    -9999, categorical columns int16 with nodata 0. The catalog is a geosoil
    ``CovariateCatalog``.
``forcings/<forcing>.tif`` + ``forcings.yaml``
    The CLM5 forcings, float32, nodata -9999, one multiband GeoTIFF per forcing with the
    fewest bands that hold it exactly (the generator keeps some fields constant along an
    axis; this is checked when writing):

    ============================== ======== ===============================================
    file                           bands    band order
    ============================== ======== ===============================================
    ``inputs_cwd.tif``,            12       month (g C m-2 per month)
    ``inputs_litter1..3.tif``
    ``altmax_m.tif``               1        active-layer depth, the same every month and
                                            for ``altmax_lastyear`` and ``altmax_current``
    ``xio.tif``, ``xin.tif``,      20       layer (the same every month)
    ``sand.tif``
    ``soil_temp_k.tif``,           240      ``(layer - 1) * 12 + month``
    ``soil_water.tif``
    ============================== ======== ===============================================

    ``nbedrock`` is ``covariates/nbedrock.tif``. ``forcings.yaml`` (same catalog format)
    lists every forcing value by name, one entry per (forcing, layer, month) in
    :func:`forcing_band_names` order, pointing at the band that holds it, so a covariate
    stack reader gets the full arrays; :func:`forcings_from_bands` reshapes such a
    (pixels, bands) matrix into the ``FORCING_SHAPES`` arrays.
``truth/<name>.tif``
    The prescribed parameters (``efolding``, ``tau4s3``, ``fs1s3``, ``w_scaling``, physical
    units) and the CLM5 steady-state SOC stocks ``soc_stock_0_30cm_kg_m2`` and
    ``soc_stock_0_100cm_kg_m2``, solved in float64 from the float32 forcings as written.
``README.md``
    This layout and how the drivers come from the world.

Pixels are nodata where the world has no soil (the lake, or a missing covariate). NDVI under
the cloud gap is filled with its land-cover class mean (it only sets the carbon input).
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
import torch
from affine import Affine
from rasterio.warp import Resampling
from rasterio.warp import transform as transform_coords

from geosoil.errors import (
    InputFileNotFoundError,
)
from geosoil.geo.grid import Grid
from geosoil.io.catalog import (
    CovariateCatalog,
    CovariateLayer,
    read_catalog,
    write_catalog,
    write_union_catalog,
)
from geosoil.io.profiles import (
    CATEGORICAL_COLUMNS,
    ENV_COLUMNS,
    forcing_band_names,
    forcing_entries,
    forcings_from_bands,
)
from geosoil.io.writers import staged_directory
from geosoil.process import CLM5_PARAMETERS, PARAMETER_NAMES, soc_stock_kg_m2
from geosoil.process.clm5_grid import N_LAYERS
from geosoil.synthetic.rasters import FLOAT_NODATA, RasterLayer, warp_layer, write_geotiff
from geosoil.synthetic.soc_parameters import DEFAULT_PRESCRIBED, PrescribedParameters
from geosoil.synthetic.soc_profiles import (
    N_MONTHS,
    SOLVE_BATCH,
    covariate_table,
    forcing_arrays,
    scale_covariates,
    simulate_soc_layers,
)
from geosoil.synthetic.streams import check_whole
from geosoil.synthetic.world import SyntheticWorld

__all__ = [
    "FORCING_STORAGE",
    "forcing_band_names",
    "forcings_from_bands",
    "soc_world_rasters",
]

log = logging.getLogger(__name__)

CLASS_NODATA = 0
CHUNK_PIXELS = 4096  # pixels whose forcings are built at once (~80 MB of float64)
STOCK_DEPTHS_M = {"soc_stock_0_30cm_kg_m2": 0.3, "soc_stock_0_100cm_kg_m2": 1.0}
# world land cover -> SOC land cover code (urban is 6 there); water (6) is not soil
_WORLD_LANDCOVER = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6}
_WORLD_LAYERS = (
    "elevation_m", "slope_deg", "twi", "mat_degc", "map_mm", "clay_pct", "sand_pct",
    "ndvi", "landcover", "parent_material",
)  # fmt: skip


@dataclass(frozen=True)
class ForcingStorage:
    """How one forcing is stored: file (relative to the output folder) and band axes."""

    path: str
    axes: str  # "month", "layer", "layer_month" or "single"
    units: str

    @property
    def n_bands(self) -> int:
        return {"month": N_MONTHS, "layer": N_LAYERS, "layer_month": N_LAYERS * N_MONTHS}.get(
            self.axes, 1
        )

    def band(self, layer: int, month: int) -> int:
        """1-based band holding (layer, month), both 1-based."""
        if self.axes == "month":
            return month
        if self.axes == "layer":
            return layer
        if self.axes == "layer_month":
            return (layer - 1) * N_MONTHS + month
        return 1


FORCING_STORAGE: dict[str, ForcingStorage] = {
    "inputs_cwd": ForcingStorage("forcings/inputs_cwd.tif", "month", "g C m-2 month-1"),
    "inputs_litter1": ForcingStorage("forcings/inputs_litter1.tif", "month", "g C m-2 month-1"),
    "inputs_litter2": ForcingStorage("forcings/inputs_litter2.tif", "month", "g C m-2 month-1"),
    "inputs_litter3": ForcingStorage("forcings/inputs_litter3.tif", "month", "g C m-2 month-1"),
    "altmax_lastyear": ForcingStorage("forcings/altmax_m.tif", "single", "m"),
    "altmax_current": ForcingStorage("forcings/altmax_m.tif", "single", "m"),
    "nbedrock": ForcingStorage("covariates/nbedrock.tif", "single", "layer index"),
    "xio": ForcingStorage("forcings/xio.tif", "layer", "1"),
    "xin": ForcingStorage("forcings/xin.tif", "layer", "1"),
    "sand": ForcingStorage("forcings/sand.tif", "layer", "%"),
    "soil_temp_k": ForcingStorage("forcings/soil_temp_k.tif", "layer_month", "K"),
    "soil_water": ForcingStorage("forcings/soil_water.tif", "layer_month", "1"),
}


# ----------------------------------------------------------------------------- reading
def _world_layers(world_or_folder: SyntheticWorld | str | Path) -> tuple[Grid, dict]:
    """The world's main grid and its layers as delivered (RasterLayer by name, pH added)."""
    if isinstance(world_or_folder, SyntheticWorld):
        world = world_or_folder
        layers = {name: world.covariates[name] for name in _WORLD_LAYERS}
        layers["ph"] = world.truth["ph"]
        return world.grid, layers
    folder = Path(world_or_folder)
    catalog_path = folder / "covariates.yaml"
    if not catalog_path.is_file():
        raise InputFileNotFoundError(
            "no covariates.yaml: not a synthetic world folder",
            path=folder,
            field="world",
            fix="write one with `geosoil synth --out DIR` or pass synthesize(size='small')",
        )
    catalog = read_catalog(catalog_path)
    paths = {layer.name: layer.path for layer in catalog.layers}
    categorical = {layer.name: layer.categorical for layer in catalog.layers}
    paths["ph"] = folder / "truth" / "ph.tif"
    layers = {}
    for name in (*_WORLD_LAYERS, "ph"):
        path = paths.get(name)
        if path is None or not Path(path).is_file():
            raise InputFileNotFoundError(
                f"the world folder lacks the {name} layer",
                path=Path(path) if path is not None else catalog_path,
                field=f"world.{name}",
                fix="point at a complete folder written by `geosoil synth`",
            )
        layers[name] = _read_layer(name, Path(path), categorical=categorical.get(name, False))
    return Grid.from_raster(paths["elevation_m"]), layers


def _read_layer(name: str, path: Path, *, categorical: bool) -> RasterLayer:
    with rasterio.open(path) as src:
        return RasterLayer(
            name=name,
            data=src.read(1),
            crs=src.crs.to_string(),
            transform=src.transform,
            units=src.units[0] or "",
            nodata=src.nodata,
            categorical=categorical,
        )


def _aligned(layer: RasterLayer, grid: Grid, coarsening: int) -> np.ndarray:
    """``layer`` on ``grid`` as float64 with NaN for nodata."""
    if layer.categorical:
        method = Resampling.mode if coarsening > 1 else Resampling.nearest
    else:
        method = Resampling.average if coarsening > 1 else Resampling.bilinear
    warped = warp_layer(
        layer,
        dst_crs=grid.crs,
        dst_transform=grid.transform,
        width=grid.width,
        height=grid.height,
        resampling=method,
    )
    values = warped.data.astype(np.float64)
    return np.where(warped.valid(), values, np.nan)


# ----------------------------------------------------------------------------- drivers
def _soil_order(parent: np.ndarray, fields: Mapping[str, np.ndarray]) -> np.ndarray:
    """Soil order codes from parent material and terrain (see the README)."""
    granite, andesite, limestone = parent == 1, parent == 2, parent == 3
    gentle_warm = (fields["slope_deg"] < 5.0) & (fields["mat_degc"] > 12.0)
    grass = fields["landcover"] == 3
    wet_floor = fields["twi"] > 9.0
    return np.select(
        [granite & gentle_warm, granite, andesite, limestone & grass, limestone, wet_floor],
        [6, 2, 3, 5, 4, 1],
        default=2,
    ).astype(np.int64)


def _drivers(grid: Grid, fields: Mapping[str, np.ndarray], valid: np.ndarray) -> dict:
    """Drivers of the valid pixels (row-major), in the form ``sample_drivers`` returns."""
    xs, ys = grid.coords()
    x, y = np.meshgrid(xs, ys)
    lon, lat = transform_coords(grid.crs, "EPSG:4326", x[valid].tolist(), y[valid].tolist())
    pick = {name: values[valid] for name, values in fields.items()}
    cover = np.zeros(len(pick["landcover"]), dtype=np.int64)
    for world_code, code in _WORLD_LANDCOVER.items():
        cover[pick["landcover"] == world_code] = code
    order = _soil_order(pick["parent_material"].astype(np.int64), pick)
    nbedrock = 20.0 - 0.45 * pick["slope_deg"] - 2.0 * (order == 1)
    return {
        "lon": np.asarray(lon),
        "lat": np.asarray(lat),
        "elevation_m": pick["elevation_m"],
        "mat_degc": pick["mat_degc"],
        "map_mm": pick["map_mm"],
        "clay_pct": pick["clay_pct"],
        "silt_pct": np.clip(100.0 - pick["clay_pct"] - pick["sand_pct"], 0.0, None),
        "ph": pick["ph"],
        "ndvi": np.clip(pick["ndvi"], 0.05, 0.92),
        "landcover": cover,
        "soil_order": order,
        "nbedrock": np.clip(np.rint(nbedrock), 8, 20).astype(np.int64),
    }


def _fill_ndvi(ndvi: np.ndarray, landcover: np.ndarray, land: np.ndarray) -> np.ndarray:
    """NDVI with gaps on land filled by the mean of its land-cover class."""
    filled = ndvi.copy()
    gap = land & np.isnan(ndvi)
    for code in np.unique(landcover[gap]):
        same = land & (landcover == code) & ~np.isnan(ndvi)
        filled[gap & (landcover == code)] = np.mean(ndvi[same]) if same.any() else 0.5
    return filled


# ----------------------------------------------------------------------------- writing
def soc_world_rasters(
    world_or_folder: SyntheticWorld | str | Path,
    out_dir: str | Path,
    *,
    coarsening: int = 1,
    prescribed: PrescribedParameters = DEFAULT_PRESCRIBED,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Write the SOC experiment's covariates, forcings and truth over the synthetic world.

    Parameters
    ----------
    world_or_folder
        A world from :func:`~geosoil.synthetic.synthesize` or a folder written by
        :func:`~geosoil.synthetic.write_world` (both give the same rasters).
    out_dir
        Folder to write into, created if missing; written whole or not at all.
    coarsening
        Write on a grid this many times coarser than the world's (same CRS, origin and
        extent; block averages, class modes); 1 keeps the world's grid.
    prescribed
        The covariate -> parameter functions (the profile set's by default).
    overwrite
        Replace a non-empty ``out_dir`` (refused otherwise).

    Returns
    -------
    dict of str to Path
        Logical name (``covariates/BIO1``, ``forcings/soil_temp_k``, ``truth/tau4s3``,
        ``catalog``, ``forcing_catalog``, ``readme``) -> written file.

    Raises
    ------
    ConfigError
        ``coarsening`` is not a positive integer.
    InputFileNotFoundError
        The folder is not a complete synthetic world.
    OutputExistsError, OutputError
        ``out_dir`` is not empty (without ``overwrite``) or cannot be created.
    """
    check_whole(
        coarsening,
        name="coarsening",
        minimum=1,
        fix="pass 1 for the world's grid, or e.g. 4 for a 4x coarser one",
    )
    start = time.perf_counter()
    out_dir = Path(out_dir)
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        grid, covariates, valid, forcing_bands, truth = _solve_world(
            world_or_folder, coarsening, prescribed
        )
        n = int(valid.sum())
        written = _write_covariates(staging, grid, covariates, valid)
        written.update(_write_forcings(staging, grid, forcing_bands, valid))
        written.update(_write_truth(staging, grid, truth, valid))
        # BINN reads covariates and forcings per pixel: one catalog of both for `geosoil map`
        written["input_catalog"] = write_union_catalog(
            [written["catalog"], written["forcing_catalog"]], staging / "inputs.yaml"
        )
        readme = staging / "README.md"
        readme.write_text(_readme(grid, coarsening, n, prescribed), encoding="utf-8")
        written["readme"] = readme
    written = {key: out_dir / path.relative_to(staging) for key, path in written.items()}
    log.info("wrote SOC rasters (%d soil pixels) in %.1f s", n, time.perf_counter() - start)
    return written


def _solve_world(
    world_or_folder: SyntheticWorld | str | Path, coarsening: int, prescribed: PrescribedParameters
) -> tuple[Grid, pd.DataFrame, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Grid, covariates, soil mask, forcing bands (bands, n) and truth (n,) of the pixels."""
    world_grid, layers = _world_layers(world_or_folder)
    grid = Grid(
        world_grid.crs,
        world_grid.transform @ Affine.scale(coarsening),
        -(-world_grid.width // coarsening),
        -(-world_grid.height // coarsening),
    )
    fields = {name: _aligned(layer, grid, coarsening) for name, layer in layers.items()}
    land = np.isin(fields["landcover"], list(_WORLD_LANDCOVER))
    fields["ndvi"] = _fill_ndvi(fields["ndvi"], fields["landcover"], land)
    valid = land & np.logical_and.reduce([np.isfinite(v) for v in fields.values()])
    drivers = _drivers(grid, fields, valid)
    covariates = covariate_table(drivers)
    n = int(valid.sum())

    forcing_bands = {
        name: np.full((spec.n_bands, n), np.nan, dtype=np.float32)
        for name, spec in FORCING_STORAGE.items()
        if spec.path.startswith("forcings/")
    }
    truth = {name: np.empty(n) for name in (*prescribed.parameters, *STOCK_DEPTHS_M)}
    physical = prescribed.physical(scale_covariates(covariates))
    index = {name: i for i, name in enumerate(PARAMETER_NAMES)}
    for first in range(0, n, CHUNK_PIXELS):
        rows = slice(first, min(first + CHUNK_PIXELS, n))
        forcings = forcing_arrays({k: v[rows] for k, v in drivers.items()})
        stored = {}
        for name, values in forcings.items():
            # solve from what the rasters hold, so truth and written forcings agree
            stored[name] = values if name == "nbedrock" else values.astype(np.float32)
            if name in forcing_bands:
                forcing_bands[name][:, rows] = _to_bands(name, stored[name])
        soc = simulate_soc_layers(physical[rows], stored, batch_size=SOLVE_BATCH)
        for name, depth in STOCK_DEPTHS_M.items():
            truth[name][rows] = _stock(soc, depth)
    for name in prescribed.parameters:
        truth[name] = physical[:, index[name]]
    return grid, covariates, valid, forcing_bands, truth


def _stock(soc_layers: np.ndarray, depth_m: float) -> np.ndarray:
    return soc_stock_kg_m2(torch.from_numpy(soc_layers), depth_m).numpy()


def _to_bands(name: str, values: np.ndarray) -> np.ndarray:
    """(bands, n) stored values of one forcing, refusing a collapse that would lose data."""
    axes = FORCING_STORAGE[name].axes
    n = len(values)
    if axes == "month":
        return values.T
    if axes == "layer_month":
        return values.reshape(n, -1).T
    collapse = values.reshape(n, N_LAYERS, N_MONTHS)[:, :, 0] if axes == "layer" else values[:, :1]
    full = (
        np.repeat(collapse[:, :, None], N_MONTHS, axis=2)
        if axes == "layer"
        else np.repeat(collapse, values.shape[1], axis=1)
    )
    if not np.array_equal(full, values):
        raise ValueError(f"forcing {name} varies along an axis its storage drops ({axes})")
    return collapse.T


def _plane(values: np.ndarray, valid: np.ndarray, nodata: float, dtype: str) -> np.ndarray:
    out = np.full(valid.shape, nodata, dtype=dtype)
    out[valid] = values
    return out


def _layer(grid: Grid, name: str, data: np.ndarray, units: str, **kw) -> RasterLayer:
    return RasterLayer(
        name=name, data=data, crs=grid.crs, transform=grid.transform, units=units, **kw
    )


def _write_covariates(out_dir: Path, grid: Grid, table, valid: np.ndarray) -> dict[str, Path]:
    folder = out_dir / "covariates"
    folder.mkdir()
    written, entries = {}, []
    for name in ENV_COLUMNS:
        categorical = name in CATEGORICAL_COLUMNS
        nodata = CLASS_NODATA if categorical else FLOAT_NODATA
        dtype = "int16" if categorical else "float32"
        data = _plane(table[name].to_numpy(), valid, nodata, dtype)
        path = folder / f"{name}.tif"
        write_geotiff(
            _layer(grid, name, data, "class" if categorical else "", nodata=nodata,
                   categorical=categorical, description=f"binn_ny covariate {name}"),
            path,
        )  # fmt: skip
        written[f"covariates/{name}"] = path
        entries.append(
            CovariateLayer(
                name=name,
                path=path,
                categorical=categorical,
                resampling="nearest" if categorical else "bilinear",
                nodata=nodata,
                description=f"binn_ny covariate {name}",
            )
        )
    catalog = out_dir / "covariates.yaml"
    write_catalog(CovariateCatalog(crs=grid.crs, layers=entries), catalog)
    written["catalog"] = catalog
    return written


def _write_forcings(
    out_dir: Path, grid: Grid, bands: Mapping[str, np.ndarray], valid: np.ndarray
) -> dict[str, Path]:
    (out_dir / "forcings").mkdir()
    written: dict[str, Path] = {}
    for name, values in bands.items():
        spec = FORCING_STORAGE[name]
        path = out_dir / spec.path
        if path.exists():  # altmax_lastyear and altmax_current share a file
            continue
        planes = np.full((len(values), *valid.shape), FLOAT_NODATA, dtype=np.float32)
        planes[:, valid] = values
        _write_multiband(grid, planes, path, spec.units, _band_labels(spec))
        written[f"forcings/{path.stem}"] = path
    entries = []
    for band_name, forcing, layer, month in forcing_entries():
        spec = FORCING_STORAGE[forcing]
        entries.append(
            CovariateLayer(
                name=band_name,
                path=out_dir / spec.path,
                band=spec.band(layer, month),
                units=spec.units,
                categorical=forcing == "nbedrock",
                resampling="nearest",
                nodata=CLASS_NODATA if forcing == "nbedrock" else FLOAT_NODATA,
            )
        )
    catalog = out_dir / "forcings.yaml"
    write_catalog(CovariateCatalog(crs=grid.crs, layers=entries), catalog)
    written["forcing_catalog"] = catalog
    return written


def _band_labels(spec: ForcingStorage) -> list[str]:
    if spec.axes == "month":
        return [f"m{m:02d}" for m in range(1, N_MONTHS + 1)]
    if spec.axes == "layer":
        return [f"l{layer:02d}" for layer in range(1, N_LAYERS + 1)]
    if spec.axes == "layer_month":
        return [
            f"l{layer:02d}_m{m:02d}"
            for layer in range(1, N_LAYERS + 1)
            for m in range(1, N_MONTHS + 1)
        ]
    return ["all"]


def _write_multiband(
    grid: Grid, planes: np.ndarray, path: Path, units: str, labels: list[str]
) -> None:
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": len(planes),
        "dtype": "float32",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": FLOAT_NODATA,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
        "compress": "deflate",
        "predictor": 3,
        "interleave": "band",
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(planes)
        for band, label in enumerate(labels, start=1):
            dst.set_band_description(band, label)
        dst.units = (units,) * len(planes)


def _write_truth(
    out_dir: Path, grid: Grid, truth: Mapping[str, np.ndarray], valid: np.ndarray
) -> dict[str, Path]:
    units = {p.name: p.unit for p in CLM5_PARAMETERS} | dict.fromkeys(STOCK_DEPTHS_M, "kg C m-2")
    folder = out_dir / "truth"
    folder.mkdir()
    written = {}
    for name, values in truth.items():
        data = _plane(values, valid, FLOAT_NODATA, "float32")
        path = folder / f"{name}.tif"
        write_geotiff(_layer(grid, name, data, units[name], nodata=FLOAT_NODATA), path)
        written[f"truth/{name}"] = path
    return written


def _readme(grid: Grid, coarsening: int, n_pixels: int, prescribed: PrescribedParameters) -> str:
    res_x, _ = grid.resolution
    lines = [
        "# The SOC experiment over the synthetic world",
        "",
        f"Grid: {grid.crs}, {grid.width} x {grid.height} pixels of {res_x:g} m (the world's",
        f"grid coarsened {coarsening}x); {n_pixels} soil pixels, others nodata.",
        "Made by `geosoil.synthetic.soc_world_rasters`, with the drivers, forcings and",
        "prescribed parameters of `geosoil.synthetic.soc_profile_set` (the profile set's",
        "covariate names, units and scaling ranges).",
        "",
        "## Files",
        "- `covariates/<column>.tif`, `covariates.yaml`: the 38 binn_ny covariate columns;",
        "  float32 nodata -9999, categorical int16 nodata 0.",
        "- `forcings/<forcing>.tif`, `forcings.yaml`: CLM5 forcings, float32 nodata -9999.",
        "  Monthly inputs: 12 bands (month); `altmax_m.tif`: 1 band (constant over months,",
        "  both altmax forcings); `xio`, `xin`, `sand`: 20 bands (layer, constant over",
        "  months); `soil_temp_k`, `soil_water`: 240 bands, band = (layer - 1) x 12 + month;",
        "  `nbedrock` is `covariates/nbedrock.tif`. `forcings.yaml` names every value",
        "  `<forcing>_m01`, `nbedrock`, `<forcing>_l01_m01` (1,273 entries, pointing at the",
        "  band that holds it); `geosoil.synthetic.soc_rasters.forcings_from_bands` turns",
        "  a (pixels, 1273) matrix read in that order into the profile-set arrays.",
        "- `truth/<parameter>.tif` (physical units) and `truth/soc_stock_0_30cm_kg_m2.tif`,",
        "  `truth/soc_stock_0_100cm_kg_m2.tif`: CLM5 steady state in float64 from the",
        "  float32 forcings as written.",
        "",
        "## Drivers from the world",
        "MAT, MAP, elevation, topsoil clay, sand (silt = 100 - clay - sand), NDVI (cloud gap",
        "filled by its land-cover mean) and land cover (urban -> 6, water -> nodata) are the",
        "world's delivered covariates aligned to the grid; pH is the world's true pH map.",
        "Soil order from parent material: granite -> Ultisols on gentle warm ground",
        "(slope < 5 deg, MAT > 12 degC) else Inceptisols; andesite -> Andisols; limestone",
        "-> Mollisols under grassland else Alfisols; alluvium -> Entisols where TWI > 9",
        "else Inceptisols. nbedrock = round(20 - 0.45 slope_deg - 2 [Entisols]), 8..20.",
        "",
        "## Prescribed parameters (x = covariate min-max scaled by the declared ranges)",
        prescribed.describe(),
        "",
    ]
    return "\n".join(lines)
