"""``geosoil map``: a trained artifact applied over covariate rasters -> COG."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

import yaml
from shapely.geometry.base import BaseGeometry

from geosoil import __version__
from geosoil.artifacts import Artifact, load_artifact
from geosoil.config import MapConfig, save_config
from geosoil.errors import ConfigError, CovariateError
from geosoil.io.aoi import read_aoi
from geosoil.io.catalog import CovariateCatalog, read_catalog
from geosoil.io.writers import staged_directory
from geosoil.mapping.engine import MapSummary, predict_to_cog
from geosoil.mapping.grid import Grid
from geosoil.mapping.stack import CovariateStack

__all__ = ["MapResult", "map_from_config", "resolve_grid", "stack_for_artifact"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MapResult:
    """Paths of everything ``map_from_config`` wrote."""

    out_dir: Path
    cog: Path
    config: Path
    summary: MapSummary


def stack_for_artifact(
    artifact: Artifact, catalog: CovariateCatalog, *, catalog_path: Path
) -> CovariateStack:
    """The catalog's layers that the artifact reads, in the artifact's order."""
    by_name = {layer.name: layer for layer in catalog.layers}
    needed = artifact.header.input_spec.names
    missing = [name for name in needed if name not in by_name]
    if missing:
        raise CovariateError(
            f"the model needs covariate(s) {missing} that the catalog does not have",
            path=catalog_path,
            field="covariates.catalog",
            fix=f"add them to the catalog (the model was trained on {needed}) or use a model "
            "trained on the layers you have",
        )
    return CovariateStack.from_layers([by_name[name] for name in needed])


def resolve_grid(config: MapConfig, catalog: CovariateCatalog) -> tuple[Grid, BaseGeometry | None]:
    """The grid and the area of interest (in the grid's CRS, or None).

    The grid comes from a catalog layer name, a raster path, or crs + resolution + bounds (or
    the AOI's bounds); an AOI then crops it to the AOI's bounding box on the same lattice.
    """
    grid_cfg = config.grid
    if grid_cfg.reference is None:
        aoi = read_aoi(grid_cfg.aoi, grid_cfg.crs) if grid_cfg.aoi else None
        bounds = grid_cfg.bounds or aoi.bounds
        grid = Grid.from_bounds(grid_cfg.crs, bounds, grid_cfg.resolution_m)
    else:
        grid = Grid.from_raster(_reference_path(config, catalog))
        aoi = read_aoi(grid_cfg.aoi, grid.crs) if grid_cfg.aoi else None
    if aoi is None:
        return grid, None
    cropped = grid.crop(aoi.bounds)
    if cropped is None:
        raise ConfigError(
            "the area of interest does not overlap the map grid",
            path=grid_cfg.aoi,
            field="grid.aoi",
            fix="check the AOI's CRS and location against the covariates",
        )
    return cropped, aoi


def _reference_path(config: MapConfig, catalog: CovariateCatalog) -> Path:
    reference = config.grid.reference
    by_name = {layer.name: layer for layer in catalog.layers}
    if reference in by_name:
        return by_name[reference].path
    if not Path(reference).exists():
        raise ConfigError(
            f"grid.reference '{reference}' is neither a catalog layer nor a file",
            path=config.covariates.catalog,
            field="grid.reference",
            fix=f"use a layer name ({', '.join(sorted(by_name))}) or an existing raster path",
        )
    return Path(reference)


def map_from_config(config: MapConfig) -> MapResult:
    """Map the artifact's output over the grid; the output folder appears only when complete."""
    if config.output.dir is None:
        raise ConfigError(
            "no output folder", field="output.dir", fix="pass --out DIR or set output.dir"
        )
    artifact = load_artifact(config.model)
    catalog = read_catalog(config.covariates.catalog)
    stack = stack_for_artifact(artifact, catalog, catalog_path=config.covariates.catalog)
    grid, aoi = resolve_grid(config, catalog)
    output_name = artifact.header.output_spec.names[0]
    tags = {
        "geosoil_version": __version__,
        "artifact_sha256": artifact.sha256,
        "artifact_estimator": artifact.header.estimator,
        "geosoil_config": yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False),
    }
    log.info("mapping %s over a %dx%d grid (%s)", output_name, grid.width, grid.height, grid.crs)
    with staged_directory(config.output.dir, overwrite=config.output.overwrite) as staging:
        summary = predict_to_cog(
            stack,
            artifact,
            grid,
            staging / f"{output_name}.tif",
            block_size=config.block_size,
            batch_pixels=config.batch_pixels,
            aoi=aoi,
            tags=tags,
        )
        save_config(config, staging / "config.yaml")
    out_dir = Path(config.output.dir)
    cog = out_dir / f"{output_name}.tif"
    return MapResult(
        out_dir=out_dir,
        cog=cog,
        config=out_dir / "config.yaml",
        summary=replace(summary, path=cog),
    )
