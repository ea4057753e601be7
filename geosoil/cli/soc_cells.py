"""``geosoil soc-cells``: SOC, parameter and bulk-process maps of binn_ny prediction cells."""

from __future__ import annotations

from pathlib import Path

import click

from geosoil.cli.options import blame_config, config_options


@click.command("soc-cells")
@config_options
def command(config: Path, overrides: list[str]) -> None:
    """Map a BINN/ScIReN artifact over the prediction cells of CONFIG (lon/lat COGs)."""
    from geosoil.config import SocCellsConfig, load_config
    from geosoil.workflows import soc_cells_from_config

    with blame_config(config):
        cfg = load_config(config, SocCellsConfig, overrides)
        result = soc_cells_from_config(cfg)
    grid = result.grid
    click.echo(
        f"grid: {grid.width} x {grid.height} cells of {grid.transform.a:g} x "
        f"{-grid.transform.e:g} deg; {result.n_mapped} of {result.n_cells} cells mapped"
    )
    click.echo(f"layers: {len(result.cogs)} COGs in {result.out_dir}")
    click.echo(f"table: {result.table}")
    click.echo(f"summary: {result.summary}")
    click.echo(f"config: {result.config}")
