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
    """Explain the models in CONFIG (YAML): GradientShap attributions of spectral models per
    group, or (with `artifact:` and `training:`) permutation importance and partial
    dependence of a covariate model."""
    from geosoil.config import read_config_mapping, validate_config
    from geosoil.config.explain import CovariateExplainConfig, ExplainConfig
    from geosoil.workflows.explain import explain_from_config

    raw = read_config_mapping(config, apply_output_flags(overrides, out_dir, overwrite))
    if "artifact" in raw:
        from geosoil.workflows.explain_covariates import explain_covariates_from_config

        covariate_cfg = validate_config(raw, CovariateExplainConfig, source=config)
        with blame_config(config):
            result = explain_covariates_from_config(covariate_cfg)
        click.echo(f"importance ({result.scheme} folds): {result.out_dir / 'importance.csv'}")
        click.echo(f"partial dependence: {result.out_dir / 'partial_dependence.png'}")
        click.echo(f"report: {result.out_dir / 'report.md'}")
        return
    cfg = validate_config(raw, ExplainConfig, source=config)
    with blame_config(config):
        result = explain_from_config(cfg, source=config)
    click.echo(f"models: {len(result.models)}")
    click.echo(f"table: {result.table}")
    click.echo(f"figure: {result.figure}")
    click.echo(f"summary: {result.summary}")
    click.echo(f"config: {result.config}")
