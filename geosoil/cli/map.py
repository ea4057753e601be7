"""``geosoil map``: apply trained artifacts over covariate rasters."""

from __future__ import annotations

import json
from pathlib import Path

import click

from geosoil.cli.options import (
    apply_output_flags,
    blame_config,
    config_argument,
    flag_overrides,
    out_option,
    overwrite_option,
    resume_option,
    set_option,
)
from geosoil.geo.grid import DEFAULT_CHUNK_PX


@click.command("map")
@config_argument
@click.option(
    "--model",
    "models",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Artifact to apply (repeatable; replaces models in the config).",
)
@click.option(
    "--covariates",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Covariate catalog YAML (overrides covariates.catalog).",
)
@click.option(
    "--aoi",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Polygons to clip the map to (overrides grid.aoi).",
)
@out_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["cog", "zarr", "both"]),
    default=None,
    help="Cloud-Optimized GeoTIFFs, the Zarr store, or both (default: cog).",
)
@click.option(
    "--chunk", type=int, default=None, help=f"Block side in pixels (default {DEFAULT_CHUNK_PX})."
)
@click.option(
    "--max-pixels",
    type=int,
    default=None,
    help="Largest grid accepted, width x height (default 1e10); raise it for a huge run.",
)
@click.option("--workers", type=int, default=None, help="Run on a local dask cluster of N workers.")
@click.option("--scheduler", default=None, help="Join a running dask scheduler at ADDRESS.")
@resume_option
@overwrite_option
@set_option
def command(
    config: Path,
    models: tuple[Path, ...],
    covariates: Path | None,
    aoi: Path | None,
    out_dir: Path | None,
    output_format: str | None,
    chunk: int | None,
    max_pixels: int | None,
    workers: int | None,
    scheduler: str | None,
    resume: bool,
    overwrite: bool,
    overrides: tuple[str, ...],
) -> None:
    """Map the models of CONFIG over its covariate rasters (COG and/or Zarr)."""
    from geosoil.config import MapConfig, load_config
    from geosoil.workflows import map_from_config

    flags = {
        "models": json.dumps([str(path) for path in models]) if models else None,
        "covariates.catalog": covariates,
        "grid.aoi": aoi,
        "output.format": output_format,
        "output.resume": "true" if resume else None,
        "chunk": chunk,
        "max_pixels": max_pixels,
        "execution.workers": workers,
        "execution.scheduler": scheduler,
    }
    extra = flag_overrides(apply_output_flags(overrides, out_dir, overwrite), flags)
    with blame_config(config):
        parsed = load_config(config, MapConfig, extra)
        result = map_from_config(parsed, source=config)
    echo_layers(result)
    click.echo(f"config: {result.config}")
    for name, stats in result.statistics.items():
        if stats.count:
            click.echo(
                f"{name}: valid pixels {stats.count}/{result.n_pixels}, min {stats.minimum:.4g}, "
                f"mean {stats.mean:.4g}, max {stats.maximum:.4g}"
            )
        else:
            click.echo(f"{name}: no valid pixel of {result.n_pixels}")


def echo_layers(result) -> None:
    """Where a mapping run wrote its layers: one line per COG, and the Zarr store."""
    for name, path in result.cogs.items():
        click.echo(f"{name}: {path}")
    if result.zarr is not None:
        click.echo(f"zarr: {result.zarr}")
