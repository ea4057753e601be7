"""``geosoil map``: trained artifacts applied over covariate rasters and/or a hyperspectral
image cube -> COG and/or Zarr."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml
from shapely.geometry.base import BaseGeometry

from geosoil import __version__
from geosoil.artifacts import load_artifact
from geosoil.config import MapConfig, save_config
from geosoil.config.base import with_absolute_paths
from geosoil.errors import ConfigError, OutputError
from geosoil.geo.grid import Grid
from geosoil.geo.outputs import OutputVariable
from geosoil.io.aoi import read_aoi
from geosoil.io.catalog import CovariateCatalog, read_catalog
from geosoil.io.cog import write_cog
from geosoil.io.qml import write_classes_qml, write_continuous_qml
from geosoil.io.stac import write_map_item
from geosoil.io.writers import contained_path, resumable_directory, write_bytes_atomic
from geosoil.mapping.cube import CubeSource
from geosoil.mapping.engine import run_map
from geosoil.mapping.execution import Execution
from geosoil.mapping.job import MapJob, aoi_mask
from geosoil.mapping.predictors import ModelLayers
from geosoil.mapping.runtime import available_cores
from geosoil.mapping.statistics import BandStatistics
from geosoil.mapping.store import MARKERS, BlockStore
from geosoil.products import build_product

__all__ = [
    "MapResult",
    "build_job",
    "check_output_path",
    "map_from_config",
    "relocated",
    "resolve_grid",
    "run_fingerprint",
]

log = logging.getLogger(__name__)

STORE_NAME = "map.zarr"

# An AOI is checked for pixel centres up front only on grids this small (a rasterization).
_AOI_CHECK_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class MapResult:
    """Paths of everything ``map_from_config`` wrote, and each layer's statistics."""

    out_dir: Path
    cogs: dict[str, Path]
    zarr: Path | None
    config: Path
    statistics: dict[str, BandStatistics]
    n_pixels: int


def build_job(config: MapConfig, *, source: Path | None = None) -> MapJob:
    """Load the artifacts, products, catalog, cube and grid of a map config into a job.

    Everything is checked here, before any output exists: a spectral model needs the cube,
    and the cube's bands must reach the model's axis (see :class:`CubeSource`).
    """
    catalog = read_catalog(config.covariates.catalog) if config.covariates is not None else None
    cube = CubeSource.open(**config.cube.model_dump()) if config.cube is not None else None
    models = [
        ModelLayers.build(
            load_artifact(entry.path),
            name=entry.name,
            uncertainty=entry.uncertainty,
            aoa=entry.aoa,
            intervals=entry.intervals,
            interval_level=entry.interval_level,
        )
        for entry in config.models
    ]
    if cube is not None and not any(model.is_spectral for model in models):
        log.warning("cube %s is not read: no model of this run reads spectra", cube.path.name)
    products = [build_product(p.name, p.params, source=source) for p in config.products]
    grid, aoi = resolve_grid(config, catalog)
    check_grid_size(grid, config.max_pixels, source=source)
    return MapJob.build(
        grid,
        catalog.layers if catalog is not None else [],
        models,
        products,
        aoi=aoi,
        batch_pixels=config.batch_pixels,
        catalog_path=config.covariates.catalog if config.covariates is not None else None,
        cube=cube,
    )


def resolve_grid(
    config: MapConfig, catalog: CovariateCatalog | None
) -> tuple[Grid, BaseGeometry | None]:
    """The grid and the area of interest (in the grid's CRS, or None).

    The grid comes from a catalog layer name, a raster path, ``cube`` (the cube's own grid,
    also the default when the config has a cube and no grid section), or crs + resolution +
    bounds (or the AOI's bounds); an AOI then crops it to the AOI's bounding box on the same
    lattice.
    """
    grid_cfg = config.grid
    if grid_cfg is None or grid_cfg.reference == "cube":
        if config.cube is None:  # the config's validation refuses this; a hand-built config
            raise ConfigError(
                "the map has neither a grid nor a cube to take one from",
                field="grid",
                fix="add a grid section (grid.reference: a covariate name or raster path)",
            )
        grid = Grid.from_raster(config.cube.path)
        aoi = read_aoi(grid_cfg.aoi, grid.crs) if grid_cfg is not None and grid_cfg.aoi else None
    elif grid_cfg.reference is None:
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
    small = cropped.width * cropped.height <= _AOI_CHECK_PIXELS
    if small and not aoi_mask(aoi, cropped).any():
        raise ConfigError(
            "the area of interest covers no pixel centre of the map grid (it is smaller than "
            f"a pixel of {cropped.resolution[0]:g} x {cropped.resolution[1]:g} CRS units, or "
            "a sliver between centres)",
            path=grid_cfg.aoi,
            field="grid.aoi",
            fix="use a larger area, or a finer grid (grid.resolution_m)",
        )
    return cropped, aoi


def check_grid_size(grid: Grid, max_pixels: int, *, source: Path | None = None) -> None:
    """Refuse a grid larger than ``max_pixels`` before anything is allocated."""
    n_pixels = grid.width * grid.height
    if n_pixels > max_pixels:
        raise ConfigError(
            f"the map grid is {grid.width} x {grid.height} = {n_pixels:.3g} pixels, more than "
            f"the limit of {max_pixels:.3g} (one float32 layer would take "
            f"{n_pixels * 4 / 2**30:,.0f} GiB)",
            path=source,
            field="grid",
            fix="check grid.resolution_m (metres per pixel) and the bounds; for a really "
            "huge run raise the limit with --max-pixels N",
        )


def _reference_path(config: MapConfig, catalog: CovariateCatalog | None) -> Path:
    reference = config.grid.reference
    by_name = {layer.name: layer for layer in catalog.layers} if catalog is not None else {}
    if reference in by_name:
        return by_name[reference].path
    if not Path(reference).exists():
        raise ConfigError(
            f"grid.reference '{reference}' is neither a catalog layer nor a file",
            path=config.covariates.catalog if config.covariates is not None else None,
            field="grid.reference",
            fix=f"use a layer name ({', '.join(sorted(by_name))}) or an existing raster path",
        )
    return Path(reference)


def map_from_config(
    config: MapConfig, *, source: Path | None = None, published: MapConfig | None = None
) -> MapResult:
    """Run a map config; the output folder appears only when every layer is complete.

    Blocks go to a Zarr store in ``.<out>.partial`` first. A run that fails or is killed
    leaves it there, and ``output.resume`` finishes it with the same bytes as an
    uninterrupted run. A run that fails before any block is finished leaves nothing.

    Parameters
    ----------
    published
        The config to save as ``config.yaml`` when it differs from the one run (a map
        inside another workflow's staging folder records its final paths).
    """
    check_output_path(config.output.required_dir())
    job = build_job(config, source=source)
    grid = job.grid
    with job.stack.open(grid):  # every covariate readable and overlapping, before any output
        pass
    chunk = min(config.chunk, max(grid.width, grid.height))
    fingerprint = run_fingerprint(job, chunk=chunk, output_format=config.output.format)
    execution = Execution(**config.execution.model_dump())
    out = config.output
    log.info(
        "mapping %s over a %dx%d grid (%s)",
        ", ".join(var.name for var in job.variables),
        grid.width,
        grid.height,
        grid.crs,
    )
    with resumable_directory(
        out.dir, overwrite=out.overwrite, resume=out.resume, worth_keeping=_has_finished_blocks
    ) as (staging, resumed):
        store_path = staging / STORE_NAME
        if resumed and store_path.exists():
            store = BlockStore.resume(
                store_path, grid, job.variables, chunk=chunk, fingerprint=fingerprint
            )
        else:
            shutil.rmtree(store_path, ignore_errors=True)
            store = BlockStore.create(
                store_path,
                grid,
                job.variables,
                chunk=chunk,
                fingerprint=fingerprint,
                attrs={"geosoil_config": _config_text(config)},
                overviews=out.format in ("cog", "both"),
            )
        statistics = run_map(job, store, execution=execution)
        cogs = {}
        if out.format in ("cog", "both"):
            cogs = _write_cogs(store, job, statistics, staging, _provenance_tags(config, job))
        if out.format == "cog":
            shutil.rmtree(store_path)
        save_config(published or config, staging / "config.yaml")
        _write_summary(staging / "summary.json", job, statistics)
        write_map_item(
            staging,
            item_id=Path(out.dir).absolute().name,
            grid=grid,
            variables=job.variables,
            statistics=statistics,
            artifacts=_artifact_records(job),
            config=with_absolute_paths(published or config).model_dump(mode="json"),
            version=__version__,
            zarr_name=STORE_NAME if out.format != "cog" else None,
        )
    out_dir = Path(out.dir)
    for var, stats in statistics.items():
        if stats.count == 0:
            log.warning(
                "layer %s has no valid pixel: the covariates were nodata, the area of "
                "interest covered no pixel, or the model gave no finite value there",
                var,
            )
    return MapResult(
        out_dir=out_dir,
        cogs={name: out_dir / path.name for name, path in cogs.items()},
        zarr=out_dir / STORE_NAME if out.format != "cog" else None,
        config=out_dir / "config.yaml",
        statistics=statistics,
        n_pixels=grid.width * grid.height,
    )


def relocated(config: MapConfig, staging: Path, final: Path) -> MapConfig:
    """A copy of ``config`` whose paths inside ``staging`` name where they will be published.

    A workflow that runs a map inside its own staging folder saves this copy, so the
    recorded config never points at a staging folder that no longer exists.
    """
    old, new = str(staging), str(final)

    def move(value):
        if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
            return new + value[len(old) :]
        if isinstance(value, dict):
            return {key: move(item) for key, item in value.items()}
        if isinstance(value, list):
            return [move(item) for item in value]
        return value

    return MapConfig.model_validate(move(config.model_dump(mode="json")))


def run_fingerprint(job: MapJob, *, chunk: int, output_format: str) -> str:
    """SHA-256 of everything that decides a run's bytes: the job (models, covariates, grid,
    AOI, products, geosoil version), the chunk and the output format."""
    record = {"job": job.fingerprint, "chunk": chunk, "format": output_format}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()


def _has_finished_blocks(staging: Path) -> bool:
    return any((staging / STORE_NAME / MARKERS).glob("*.json"))


def check_output_path(out_dir: Path) -> None:
    """Refuse an output path GDAL cannot name, before any work.

    GDAL names the store's layers ``ZARR:"<path>":/<layer>``; a quote cannot be escaped there.
    """
    if '"' in str(out_dir.absolute()):
        raise OutputError(
            "the output path contains a double quote, which GDAL cannot read back",
            path=out_dir,
            field="output.dir",
            fix="choose an output folder whose path has no '\"'",
        )


def _config_text(config: MapConfig) -> str:
    # Absolute paths: provenance read later, from another folder, still names the files.
    return yaml.safe_dump(with_absolute_paths(config).result_defining(), sort_keys=False)


def _artifact_records(job: MapJob) -> list[dict[str, str]]:
    return [
        {
            "path": str(model.artifact.path.absolute()),
            "sha256": model.sha256,
            "estimator": model.artifact.header.estimator,
        }
        for model in job.models
    ]


def _provenance_tags(config: MapConfig, job: MapJob) -> dict[str, str]:
    # Only what decides the values: a resumed or distributed run gets the same bytes.
    return {
        "geosoil_version": __version__,
        "artifact_sha256": " ".join(model.sha256 for model in job.models),
        "artifact_estimator": " ".join(model.artifact.header.estimator for model in job.models),
        "geosoil_config": _config_text(config),
    }


def _write_cogs(
    store: BlockStore,
    job: MapJob,
    statistics: dict[str, BandStatistics],
    staging: Path,
    tags: dict[str, str],
) -> dict[str, Path]:
    """One COG per layer, several at a time: one COG copy alone keeps only ~1.3 cores busy."""
    cores = available_cores()
    parallel = max(1, min(cores, len(job.variables)))
    threads = max(1, cores // parallel)
    stretches = shared_stretches(job.variables, statistics)
    with ThreadPoolExecutor(parallel, thread_name_prefix="geosoil-cog") as pool:
        futures = {
            var.name: pool.submit(
                _write_layer_cog,
                store,
                var,
                statistics[var.name],
                stretches.get(var.name),
                staging,
                tags,
                threads,
            )
            for var in job.variables
        }
        return {name: future.result() for name, future in futures.items()}


def _write_layer_cog(
    store: BlockStore,
    var: OutputVariable,
    stats: BandStatistics,
    stretch: tuple[float, float] | None,
    staging: Path,
    tags: dict[str, str],
    threads: int,
) -> Path:
    target = contained_path(staging, f"{var.name}.tif")
    n_pixels = store.grid.width * store.grid.height
    write_cog(
        store.gdal_path(var.name),
        target,
        store.grid,
        var,
        band_tags=stats.as_gdal_tags(n_pixels),
        tags=tags,
        threads=threads,
        overviews=store.overview_sources(var.name),
    )
    if var.is_classes:
        write_classes_qml(target, classes=[(c.value, c.label, c.color) for c in var.classes])
    elif stretch is not None:
        write_continuous_qml(target, minimum=stretch[0], maximum=stretch[1], units=var.units)
    return target


#: Layers drawn on their model's colour stretch: the interval bounds of ``<name>``.
INTERVAL_SUFFIXES = ("_spread_lo", "_spread_hi", "_lo", "_hi")


def shared_stretches(
    variables: list[OutputVariable] | tuple[OutputVariable, ...],
    statistics: dict[str, BandStatistics],
) -> dict[str, tuple[float, float]]:
    """The colour stretch of each continuous layer with valid pixels.

    A model's mean and its interval bounds (``_spread_lo``/``_spread_hi``, calibrated
    ``_lo``/``_hi``) share one stretch, the union of their display ranges, so they can be
    compared by eye; other layers (``_spread_sd``, trust layers, products) keep their own.
    """
    names = {var.name for var in variables}
    groups: dict[str, list[str]] = {}
    for var in variables:
        if var.is_classes or not statistics[var.name].count:
            continue
        base = next(
            (
                var.name.removesuffix(suffix)
                for suffix in INTERVAL_SUFFIXES
                if var.name.endswith(suffix) and var.name.removesuffix(suffix) in names
            ),
            var.name,
        )
        groups.setdefault(base, []).append(var.name)
    stretches = {}
    for members in groups.values():
        ranges = [statistics[name].display_range() for name in members]
        shared = (min(low for low, _ in ranges), max(high for _, high in ranges))
        stretches.update(dict.fromkeys(members, shared))
    return stretches


def _write_summary(path: Path, job: MapJob, statistics: dict[str, BandStatistics]) -> None:
    n_pixels = job.grid.width * job.grid.height
    summary = {
        "grid": {"crs": job.grid.crs, "width": job.grid.width, "height": job.grid.height},
        "layers": {
            var.name: {
                "units": var.units,
                "kind": var.kind,
                "valid_pixels": statistics[var.name].count,
                "total_pixels": n_pixels,
                **_moments(statistics[var.name]),
            }
            for var in job.variables
        },
    }
    trust = _trust_summary(job, statistics)
    if trust:
        summary["trust"] = trust
    write_bytes_atomic(path, (json.dumps(summary, indent=2) + "\n").encode())


def _trust_summary(job: MapJob, statistics: dict[str, BandStatistics]) -> dict:
    """Per model: the share of mapped pixels inside the AOA (or the spectral domain), the
    interval level and calibration, and which estimate the main layer is."""
    out = {}
    for model in job.models:
        entry: dict = {"estimate": model.trust.back_transform.describe()}
        for suffix in ("aoa", "in_domain"):
            stats = statistics.get(f"{model.name}_{suffix}")
            if stats is not None and stats.count:
                key = "share_inside_aoa" if suffix == "aoa" else "share_in_domain"
                entry[key] = stats.mean
                if key == "share_in_domain" and stats.mean < 0.5:
                    log.warning(
                        "%s: only %.1f %% of the mapped spectra lie in the training domain",
                        model.name,
                        100 * stats.mean,
                    )
        if model.interval_level is not None:
            entry["interval"] = {
                "level": model.interval_level,
                "layers": model.interval_layers(),
                "description": model.trust.describe_intervals(model.interval_level),
            }
            propagation = set(model.bounded_outputs.values())
            if propagation:
                entry["interval"]["propagation"] = "; ".join(sorted(propagation))
        out[model.name] = entry
    return out


def _moments(stats: BandStatistics) -> dict[str, float | None]:
    names = ("minimum", "maximum", "mean", "std")
    return {name: getattr(stats, name) if stats.count else None for name in names}
