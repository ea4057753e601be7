"""``geosoil explain``: wavelength attributions of spectral models, per group, over seeds."""

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


@click.command("explain")
@config_argument
@out_option
@overwrite_option
@set_option
def command(
    config: Path, out_dir: Path | None, overwrite: bool, overrides: tuple[str, ...]
) -> None:
    """GradientShap attributions of the spectral models in CONFIG (YAML), per group."""
    from geosoil.config import load_config
    from geosoil.config.explain import ExplainConfig
    from geosoil.workflows.explain import explain_from_config

    cfg = load_config(config, ExplainConfig, apply_output_flags(overrides, out_dir, overwrite))
    with blame_config(config):
        result = explain_from_config(cfg, source=config)
    click.echo(f"models: {len(result.models)}")
    click.echo(f"table: {result.table}")
    click.echo(f"figure: {result.figure}")
    click.echo(f"summary: {result.summary}")
    click.echo(f"config: {result.config}")
