"""``geosoil train``: fit a model from a config and write its artifact.

A config with a top-level ``spectra:`` section trains a spectral model
(:class:`~geosoil.config.evaluate.SpectralTrainConfig`); one with ``profiles:`` trains BINN or
ScIReN on SOC profiles (:class:`~geosoil.config.soc_cells.SocTrainConfig`); any other is a covariate
model (:class:`~geosoil.config.TrainConfig`) with its cross-validation report.
"""

from __future__ import annotations

from pathlib import Path

import click

from geosoil.cli.options import blame_config, config_options


@click.command("train")
@config_options
def command(config: Path, overrides: list[str]) -> None:
    """Train the model described by CONFIG (YAML): covariates with CV, spectra, or SOC
    profiles (BINN/ScIReN)."""
    from geosoil.config import TrainConfig, read_config_mapping, validate_config
    from geosoil.config.evaluate import SpectralTrainConfig
    from geosoil.config.soc_cells import SocTrainConfig

    raw = read_config_mapping(config, overrides)
    if "profiles" in raw:
        cfg = validate_config(raw, SocTrainConfig, source=config)
        with blame_config(config):
            _train_soc(cfg)
        return
    if "spectra" in raw:
        cfg = validate_config(raw, SpectralTrainConfig, source=config)
        with blame_config(config):
            _train_spectra(cfg)
        return
    cfg = validate_config(raw, TrainConfig, source=config)
    with blame_config(config):
        _train_covariates(cfg)


def _train_spectra(cfg) -> None:
    from geosoil.workflows.train_spectra import train_spectra_from_config

    echo_spectral_result(train_spectra_from_config(cfg))


def echo_spectral_result(result) -> None:
    """Where a spectral artifact went, and its fit on the training and validation parts."""
    click.echo(f"artifact: {result.artifact}")
    click.echo(f"metrics: {result.metrics_file}")
    click.echo(f"config: {result.config}")
    for part in ("train", "valid"):
        scores = result.metrics[part]
        click.echo(
            f"{part} ({result.metrics[f'n_{part}']} spectra): "
            + ", ".join(f"{k} {v:.3g}" for k, v in scores.items() if k in ("r2", "rmse", "rpd"))
        )


def _train_covariates(cfg) -> None:
    from geosoil.workflows import train_from_config

    result = train_from_config(cfg)
    click.echo(f"artifact: {result.artifact}")
    for name, path in result.report.items():
        click.echo(f"report ({name}): {path}")
    click.echo(f"config: {result.config}")
    for scheme, summary in result.cv_summary.items():
        pooled = summary.get("pooled", {})
        figures = ", ".join(f"{k} {v:.3g}" for k, v in pooled.items())
        click.echo(f"cv {scheme} (pooled): {figures}")


def _train_soc(cfg) -> None:
    from geosoil.workflows.train_soc import train_soc_from_config

    result = train_soc_from_config(cfg)
    click.echo(f"artifact: {result.artifact}")
    click.echo(f"metrics: {result.metrics_file}")
    if result.report is not None:
        click.echo(f"report: {result.report}")
    click.echo(f"config: {result.config}")
    fit = result.metrics["fit"]
    click.echo(f"fit ({result.metrics['n_profiles']} profiles): NSE {fit['nse']:.3g}")
    if "cv" in result.metrics:
        cv = result.metrics["cv"]
        click.echo(
            f"cv ({cv['n_folds']} folds): NSE {cv['mean']['nse']:.3g} +- {cv['sd']['nse']:.3g}"
            f" (pooled {cv['pooled']['nse']:.3g})"
        )
        if "intervals" in cv:
            iv = cv["intervals"]
            click.echo(
                f"intervals ({iv['level']:.0%}, conformal, other folds): PICP {iv['picp']:.3f}, "
                f"mean width {iv['mean_width']:.4g} g C m-3"
            )
