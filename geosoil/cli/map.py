"""``geosoil map``: apply a trained artifact over covariate rasters."""

from __future__ import annotations

from pathlib import Path

import click

from geosoil.cli.options import (
    apply_output_flags,
    blame_config,
    config_argument,
    out_option,
    overwrite_option,
    set_option,
)


@click.command("map")
@config_argument
@click.option(
    "--model",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Artifact to apply (overrides model in the config).",
)
@click.option(
    "--aoi",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Polygons to clip the map to (overrides grid.aoi).",
)
@out_option
@overwrite_option
@set_option
def command(
    config: Path,
    model: Path | None,
    aoi: Path | None,
    out_dir: Path | None,
    overwrite: bool,
    overrides: tuple[str, ...],
) -> None:
    """Map the model of CONFIG over its covariate rasters into a Cloud-Optimized GeoTIFF."""
    from geosoil.config import MapConfig, load_config
    from geosoil.workflows import map_from_config

    extra = apply_output_flags(overrides, out_dir, overwrite)
    if model is not None:
        extra.append(f"model={model}")
    if aoi is not None:
        extra.append(f"grid.aoi={aoi}")
    with blame_config(config):
        result = map_from_config(load_config(config, MapConfig, extra))
    s = result.summary
    click.echo(f"map: {result.cog}")
    click.echo(f"config: {result.config}")
    click.echo(
        f"valid pixels {s.n_valid}/{s.n_pixels}, min {s.minimum:.4g}, "
        f"mean {s.mean:.4g}, max {s.maximum:.4g}"
    )
