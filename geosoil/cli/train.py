"""``geosoil train``: fit a model from a config and write artifact + evaluation report."""

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


@click.command("train")
@config_argument
@out_option
@overwrite_option
@set_option
def command(
    config: Path, out_dir: Path | None, overwrite: bool, overrides: tuple[str, ...]
) -> None:
    """Train the model described by CONFIG (YAML) with cross-validation."""
    from geosoil.config import TrainConfig, load_config
    from geosoil.workflows import train_from_config

    cfg = load_config(config, TrainConfig, apply_output_flags(overrides, out_dir, overwrite))
    with blame_config(config):
        result = train_from_config(cfg)
    click.echo(f"artifact: {result.artifact}")
    for name, path in result.report.items():
        click.echo(f"report ({name}): {path}")
    click.echo(f"config: {result.config}")
    for scheme, summary in result.cv_summary.items():
        pooled = summary.get("pooled", {})
        figures = ", ".join(f"{k} {v:.3g}" for k, v in pooled.items())
        click.echo(f"cv {scheme} (pooled): {figures}")
