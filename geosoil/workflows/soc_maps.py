"""SOC maps of prediction cells (``geosoil soc-cells``) and the catalog for engine maps.

**Cells.** The ``Prediction_Data/`` cells of a ``binn_ny`` folder are centres of a regular
lon/lat lattice (binn_ny's 132 cells lie every 0.5 degrees, although its README names the
CESM2 0.47 x 0.63 degree grid: the lattice is inferred from the centres, not assumed).
:func:`cell_lattice` infers and checks it; :func:`soc_cells_from_config` predicts every
complete cell with a trained BINN/ScIReN artifact and writes one Cloud-Optimized GeoTIFF
(EPSG:4326) + QGIS style per layer, nodata where a cell was dropped as incomplete or lies
outside the cells:

- ``soc_density_<top>_<bottom>cm_kg_m3``: mean SOC density over each depth interval
  (``depths_cm``, GlobalSoilMap's 0-5-15-30-60-100 cm by default), kg C m-3, integrated
  from the 20 CLM5 layers (uniform within each layer), one single-band COG per interval;
- ``soc_stock_0_30cm_kg_m2``, ``soc_stock_0_100cm_kg_m2``;
- ``<name>_lo`` / ``<name>_hi`` beside each density and stock (``interval_level``, 90 % by
  default), when the artifact holds a conformal calibration (``geosoil train`` on profiles
  with ``cv.enabled``; :mod:`geosoil.trust.profiles`). The calibration is of SOC density at
  a point depth: each CLM5 layer's density gets its bound at the layer's node depth, and the
  interval densities and stocks are integrated from those layer bounds. That is the
  depth-integral of pointwise bounds, *not* a calibrated interval of the interval mean or
  the stock: the errors of one profile's layers are neither independent nor identical, and
  no observed interval means or stocks were there to calibrate or score it (``summary.json``
  says so). Layers the model puts below bedrock (no carbon) keep 0 as both bounds;
- the 21 CLM5 parameters (physical units) and the five bulk processes;

with ``cells.csv`` (the same values per cell, with lon/lat), ``summary.json`` and
``config.yaml``.

**Engine maps.** ``geosoil map`` reads one covariate catalog; a BINN artifact reads the 38
covariates and the 1,273 forcing values of each pixel (:meth:`BINN.map_inputs`), which
:func:`~geosoil.synthetic.soc_rasters.soc_world_rasters` lists in ``inputs.yaml`` (the union
of its covariate and forcing catalogs, :func:`geosoil.io.catalog.write_union_catalog`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
import torch
import yaml
from affine import Affine

from geosoil import __version__
from geosoil.artifacts import load_artifact
from geosoil.config import save_config
from geosoil.config.soc_cells import SocCellsConfig
from geosoil.errors import (
    ArtifactError,
    CovariateError,
    InputFileNotFoundError,
    SampleDataError,
)
from geosoil.geo.grid import Grid
from geosoil.geo.outputs import FLOAT_NODATA, OutputVariable
from geosoil.io.cog import write_cog
from geosoil.io.profiles import ENV_COLUMNS, ProfileSet
from geosoil.io.qml import write_continuous_qml
from geosoil.io.writers import staged_directory, write_bytes_atomic
from geosoil.mapping.statistics import BandStatistics
from geosoil.models.soc.binn import BINN, layer_stocks
from geosoil.process import CLM5_PARAMETERS, soc_stock_kg_m2
from geosoil.process.clm5_grid import ZSOI_M
from geosoil.trust.conformal import ConformalCalibration
from geosoil.trust.profiles import BOUNDS_PROPAGATION, layer_bounds
from geosoil.workflows.train_soc import read_profile_folder

__all__ = [
    "CellLattice",
    "SocCellsResult",
    "cell_lattice",
    "density_name",
    "read_cell_centres",
    "soc_cell_table",
    "soc_cells_from_config",
]

log = logging.getLogger(__name__)

CELLS_CRS = "EPSG:4326"
# Centres within this share of a cell of a lattice node count as on it (text round-off).
_LATTICE_TOLERANCE = 1e-3
# The binn_ny prediction files: all cell ids and covariates (Lon, Lat first), complete or not.
_CELL_IDS = Path("Prediction_Data", "grid_env_info_ID.txt")
_CELL_COVARIATES = Path("Prediction_Data", "grid_env_info_NY.txt")


@dataclass(frozen=True)
class CellLattice:
    """The lon/lat grid of a set of cell centres, and where each cell lies on it.

    Attributes
    ----------
    grid
        EPSG:4326 grid whose pixel centres are the lattice nodes.
    rows, cols
        (n,) pixel of each cell.
    """

    grid: Grid
    rows: np.ndarray
    cols: np.ndarray

    def plane(self, values: np.ndarray, cells: np.ndarray | None = None) -> np.ndarray:
        """float32 (height, width): ``values`` at the cells (positions ``cells`` if given),
        NaN elsewhere."""
        chosen = slice(None) if cells is None else cells
        rows, cols = self.rows[chosen], self.cols[chosen]
        out = np.full(self.grid.shape, np.nan, dtype=np.float32)
        out[rows, cols] = values
        return out


@dataclass(frozen=True)
class SocCellsResult:
    """Paths of everything ``soc_cells_from_config`` wrote."""

    out_dir: Path
    cogs: dict[str, Path]
    table: Path
    summary: Path
    config: Path
    grid: Grid
    n_cells: int
    n_mapped: int


def cell_lattice(
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    resolution_deg: tuple[float, float] | None = None,
    field: str = "cells",
) -> CellLattice:
    """Infer the regular lon/lat lattice of cell centres and check every cell lies on it.

    Parameters
    ----------
    lon, lat
        (n,) cell centres, degrees.
    resolution_deg
        (lon, lat) cell size; the smallest gap between distinct centres along each axis
        when None.
    field
        Config section named in errors.

    Returns
    -------
    CellLattice

    Raises
    ------
    SampleDataError
        No cells, non-finite centres, a single column or row without ``resolution_deg``,
        centres off the lattice (irregular input), or two cells on one node.
    """
    lon = np.asarray(lon, dtype=np.float64)
    lat = np.asarray(lat, dtype=np.float64)
    if lon.size == 0 or lon.shape != lat.shape or lon.ndim != 1:
        raise SampleDataError(
            "no cell centres to place on a grid",
            field=f"{field}.path",
            fix="give a folder with at least one prediction cell",
        )
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise SampleDataError(
            f"{int((~np.isfinite(lon) | ~np.isfinite(lat)).sum())} cells have no Lon/Lat",
            field=f"{field}.path",
            fix="give every cell its centre in the Lon and Lat covariates",
        )
    step_lon, step_lat = resolution_deg if resolution_deg is not None else (None, None)
    left, step_lon, cols = _axis(lon, step_lon, "longitude", field)
    bottom, step_lat, from_bottom = _axis(lat, step_lat, "latitude", field)
    width, height = int(cols.max()) + 1, int(from_bottom.max()) + 1
    rows = height - 1 - from_bottom
    nodes = rows * width + cols
    if len(np.unique(nodes)) != len(nodes):
        _, first, counts = np.unique(nodes, return_index=True, return_counts=True)
        raise SampleDataError(
            f"{int((counts > 1).sum())} lattice node(s) hold more than one cell, e.g. at "
            f"lon {lon[first[counts > 1][0]]:g}, lat {lat[first[counts > 1][0]]:g}",
            field=f"{field}.path",
            fix="give each cell once; duplicated rows cannot be mapped",
        )
    transform = Affine(
        step_lon, 0.0, left - step_lon / 2, 0.0, -step_lat, bottom + (height - 0.5) * step_lat
    )
    return CellLattice(Grid(CELLS_CRS, transform, width, height), rows, cols)


def _axis(
    values: np.ndarray, step: float | None, name: str, field: str
) -> tuple[float, float, np.ndarray]:
    """(first node, step, node index of each value) along one axis."""
    distinct = np.unique(values)
    if step is None:
        if len(distinct) < 2:
            raise SampleDataError(
                f"every cell has the same {name}: the cell size cannot be inferred",
                field=f"{field}.resolution_deg",
                fix="set cells.resolution_deg: [lon_deg, lat_deg]",
            )
        step = float(np.min(np.diff(distinct)))
    position = (values - distinct[0]) / step
    off = np.abs(position - np.round(position))
    if off.max() > _LATTICE_TOLERANCE:
        worst = int(np.argmax(off))
        raise SampleDataError(
            f"cell {name}s are not on a regular lattice of {step:g} degrees: "
            f"{values[worst]:g} lies {off[worst]:.2f} of a cell off it",
            field=f"{field}.resolution_deg",
            fix="map cells whose centres lie on a regular lon/lat grid, or set "
            "cells.resolution_deg to their true cell size",
        )
    return float(distinct[0]), float(step), np.round(position).astype(np.int64)


def read_cell_centres(folder: str | Path) -> pd.DataFrame:
    """Ids and centres of every prediction cell of a binn_ny folder, complete or not.

    Returns
    -------
    pandas.DataFrame
        Columns ``lon``, ``lat`` (degrees), index ``cell_id``.
    """
    folder = Path(folder)
    ids = _read_text(folder / _CELL_IDS)
    covariates = _read_text(folder / _CELL_COVARIATES)
    if ids.ndim != 2 or covariates.ndim != 2 or covariates.shape != (len(ids), len(ENV_COLUMNS)):
        raise SampleDataError(
            f"{_CELL_COVARIATES.name} has shape {covariates.shape}, expected "
            f"({len(ids)}, {len(ENV_COLUMNS)}), one row per id",
            path=folder / _CELL_COVARIATES,
            field="cells.path",
            fix="point cells.path at a complete binn_ny folder",
        )
    lon = covariates[:, ENV_COLUMNS.index("Lon")]
    lat = covariates[:, ENV_COLUMNS.index("Lat")]
    index = pd.Index(ids[:, 0].astype(np.int64), name="cell_id")
    return pd.DataFrame({"lon": lon, "lat": lat}, index=index)


def _read_text(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputFileNotFoundError(
            f"missing {path.name}",
            path=path,
            field="cells.path",
            fix="point cells.path at the binn_ny folder that holds Prediction_Data/",
        )
    return np.loadtxt(path, delimiter=",", ndmin=2, dtype=np.float64)


def density_name(top_cm: float, bottom_cm: float) -> str:
    """``soc_density_<top>_<bottom>cm_kg_m3`` (``2.5`` cm written ``2p5``)."""

    def text(value: float) -> str:
        return f"{value:g}".replace(".", "p")

    return f"soc_density_{text(top_cm)}_{text(bottom_cm)}cm_kg_m3"


def soc_cell_table(
    model: BINN,
    cells: ProfileSet,
    depths_cm: Sequence[float],
    *,
    intervals: ConformalCalibration | None = None,
    level: float = 0.9,
) -> tuple[pd.DataFrame, dict[str, str]]:
    """Every mapped quantity of each cell, and its units.

    Returns
    -------
    table, units
        One row per cell (index ``cell_id``): the SOC density of each depth interval
        (kg C m-3), the stocks to 0.3 and 1 m (kg C m-2), with ``intervals`` their
        ``_lo``/``_hi`` bounds at ``level`` (integrated layer bounds, see the module notes),
        the five bulk processes and the 21 CLM5 parameters; and column -> units.
    """
    layers = model.predict_layers(cells)
    bounds = {"": layers}
    if intervals is not None:
        low, high = layer_bounds(intervals, layers, np.asarray(ZSOI_M), level=level)
        bounds |= {"_lo": low, "_hi": high}
    integrated = {suffix: _integrate(values, depths_cm) for suffix, values in bounds.items()}
    columns: dict[str, np.ndarray] = {}
    units: dict[str, str] = {}
    for name in integrated[""]:
        for suffix in bounds:
            columns[name + suffix] = integrated[suffix][name]
            units[name + suffix] = "kg C m-3"
    stocks = model.predict_stocks(cells)
    outputs = model.map_outputs()
    output_units = dict(zip(outputs.names, outputs.units, strict=True))
    bound_stocks = {suffix: layer_stocks(values) for suffix, values in bounds.items() if suffix}
    for name in stocks.columns:
        columns[name] = stocks[name].to_numpy()
        units[name] = output_units.get(name, "kg C m-2")
        for suffix, bound in bound_stocks.items():
            if name in bound:
                columns[name + suffix] = bound[name]
                units[name + suffix] = units[name]
    parameters = model.predict_parameters(cells)
    for spec in CLM5_PARAMETERS:
        columns[spec.name] = parameters[spec.name].to_numpy()
        units[spec.name] = spec.unit
    index = pd.Index(cells.profile_id, name="cell_id")
    return pd.DataFrame(columns, index=index), units


def _integrate(layers: np.ndarray, depths_cm: Sequence[float]) -> dict[str, np.ndarray]:
    """Mean density (kg C m-3) of each depth interval from (n, 20) layer densities."""
    layers = torch.as_tensor(layers)
    depths_m = [float(d) / 100.0 for d in depths_cm]
    stock = {d: soc_stock_kg_m2(layers, d).numpy() if d > 0 else 0.0 for d in depths_m}
    # kg C m-2 over a thickness in m: the interval's mean density, kg C m-3
    return {
        density_name(top_cm, bottom_cm): (stock[bottom] - stock[top]) / (bottom - top)
        for (top, top_cm), (bottom, bottom_cm) in pairwise(zip(depths_m, depths_cm, strict=True))
    }


def soc_cells_from_config(config: SocCellsConfig) -> SocCellsResult:
    """Map a trained BINN/ScIReN artifact over the prediction cells of a binn_ny folder.

    The output folder appears only when every file is complete.

    Raises
    ------
    ConfigError
        No output folder.
    ArtifactError
        The artifact is not a BINN or ScIReN model.
    InputFileNotFoundError, SampleDataError
        The cells are missing or unusable, or their centres are not on a regular lattice.
    CovariateError
        A cell holds a categorical code the model never saw (and the model refuses them).
    """
    config.output.required_dir()
    artifact = load_artifact(config.model)
    model = artifact.estimator
    if not isinstance(model, BINN):
        raise ArtifactError(
            f"artifact holds a '{artifact.header.estimator}' model, not BINN or ScIReN",
            path=config.model,
            field="model",
            fix="train one with `geosoil train configs/soc/binn_ny_train.yaml`",
        )
    cfg = config.cells
    centres = read_cell_centres(cfg.path)
    lattice = cell_lattice(
        centres["lon"].to_numpy(), centres["lat"].to_numpy(), resolution_deg=cfg.resolution_deg
    )
    cells = read_profile_folder(
        cfg.path, part="prediction", drop_incomplete=cfg.drop_incomplete, section="cells"
    )
    position = pd.Series(np.arange(len(centres)), index=centres.index)
    unknown = ~np.isin(cells.profile_id, centres.index)
    if unknown.any() or not centres.index.is_unique:
        raise SampleDataError(
            "cell ids repeat, or do not match the id file",
            path=Path(cfg.path) / _CELL_IDS,
            field="cells.path",
            fix="give every cell one unique id in grid_env_info_ID.txt",
        )
    intervals = _intervals(artifact, config.interval_level)
    try:
        table, units = soc_cell_table(
            model, cells, config.depths_cm, intervals=intervals, level=config.interval_level or 0.9
        )
    except CovariateError as err:
        raise CovariateError(err.message, path=config.model, field=err.field, fix=err.fix) from err
    mapped = position[cells.profile_id].to_numpy()
    dropped = centres.index[~np.isin(centres.index, cells.profile_id)]
    if len(dropped):
        log.info("%d incomplete cells stay nodata: ids %s", len(dropped), dropped.tolist())

    tags = {
        "geosoil_version": __version__,
        "artifact_sha256": artifact.sha256,
        "artifact_estimator": artifact.header.estimator,
        "geosoil_config": yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
    }
    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        cogs, statistics = {}, {}
        for name in table.columns:
            plane = lattice.plane(table[name].to_numpy(), mapped)
            variable = OutputVariable(name, units[name], f"{name} of {artifact.header.estimator}")
            statistics[name] = BandStatistics.of(plane)
            cogs[name] = _write_plane_cog(
                plane, lattice.grid, variable, statistics[name], staging, tags
            )
        cell_table = centres.join(table, how="left")
        write_bytes_atomic(staging / "cells.csv", cell_table.to_csv().encode())
        summary = _summary(lattice.grid, centres, dropped, units, statistics)
        summary["intervals"] = _describe_bounds(artifact, intervals, config.interval_level)
        text = json.dumps(summary, indent=2) + "\n"
        write_bytes_atomic(staging / "summary.json", text.encode())
        save_config(config, staging / "config.yaml")

    out_dir = Path(config.output.dir)
    return SocCellsResult(
        out_dir=out_dir,
        cogs={name: out_dir / path.name for name, path in cogs.items()},
        table=out_dir / "cells.csv",
        summary=out_dir / "summary.json",
        config=out_dir / "config.yaml",
        grid=lattice.grid,
        n_cells=len(centres),
        n_mapped=cells.n_profiles,
    )


def _intervals(artifact, level: float | None) -> ConformalCalibration | None:
    """The artifact's calibration when bounds are asked for; None (and a warning naming the
    fix) when it has none."""
    if level is None:
        return None
    if artifact.trust.intervals is None:
        why = "; ".join(artifact.trust.notes) or "no calibration"
        log.warning(
            "no _lo/_hi layers: the artifact has no prediction intervals (%s); retrain it "
            "with cv.enabled: true, or set interval_level: null",
            why,
        )
    return artifact.trust.intervals


def _describe_bounds(artifact, intervals: ConformalCalibration | None, level: float | None):
    if intervals is None:
        reason = "interval_level is null" if level is None else "; ".join(artifact.trust.notes)
        return {"bounds": None, "why": reason or "the artifact has no prediction intervals"}
    cv = (artifact.header.provenance.metrics or {}).get("cv", {}).get("intervals", {})
    return {
        "bounds": "_lo/_hi beside each density and stock",
        "level": level,
        "calibration": f"conformal, {intervals.n} out-of-fold SOC observations of the "
        f"profile CV, scale {intervals.scale}, normaliser {intervals.normalisation}",
        "cv_picp": cv.get("picp"),
        "cv_mean_width_g_c_m3": cv.get("mean_width"),
        "propagation": BOUNDS_PROPAGATION,
    }


def _write_plane_cog(
    plane: np.ndarray,
    grid: Grid,
    variable: OutputVariable,
    stats: BandStatistics,
    staging: Path,
    tags: dict[str, str],
) -> Path:
    """One layer as a COG + .qml, through a plain GeoTIFF that the COG copy reads."""
    source = staging / f".{variable.name}.source.tif"
    target = staging / f"{variable.name}.tif"
    profile = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "float32",
        "crs": grid.crs,
        "transform": grid.transform,
        "nodata": FLOAT_NODATA,
    }
    try:
        with rasterio.open(source, "w", **profile) as dst:
            dst.write(variable.to_storage(plane), 1)
        write_cog(
            str(source),
            target,
            grid,
            variable,
            band_tags=stats.as_gdal_tags(grid.width * grid.height),
            tags=tags,
            threads=1,
        )
    finally:
        source.unlink(missing_ok=True)
    if stats.count:
        low, high = stats.display_range()
        write_continuous_qml(target, minimum=low, maximum=high, units=variable.units)
    return target


def _summary(
    grid: Grid,
    centres: pd.DataFrame,
    dropped: pd.Index,
    units: dict[str, str],
    statistics: dict[str, BandStatistics],
) -> dict:
    left, bottom, right, top = grid.bounds
    return {
        "grid": {
            "crs": grid.crs,
            "width": grid.width,
            "height": grid.height,
            "resolution_deg": [grid.transform.a, -grid.transform.e],
            "bounds": [left, bottom, right, top],
        },
        "n_cells": len(centres),
        "n_mapped": len(centres) - len(dropped),
        "dropped_incomplete": [int(i) for i in dropped],
        "layers": {
            name: {
                "units": units[name],
                "valid_pixels": stats.count,
                **{
                    key: getattr(stats, key) if stats.count else None
                    for key in ("minimum", "maximum", "mean", "std")
                },
            }
            for name, stats in statistics.items()
        },
    }
