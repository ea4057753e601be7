"""``geosoil calibrate``: MdPL land-surface parameters learned at flux towers."""

from __future__ import annotations

from pathlib import Path

import click

from geosoil.cli.options import blame_config, config_options


@click.command("calibrate")
@config_options
def command(config: Path, overrides: list[str]) -> None:
    """Surrogate, parameter generator and calibrated-vs-default evaluation for CONFIG."""
    from geosoil.config import CalibrateConfig, load_config
    from geosoil.workflows import calibrate_from_config

    with blame_config(config):
        cfg = load_config(config, CalibrateConfig, overrides)
        result = calibrate_from_config(cfg, source=config)
    summary = result.summary_data
    for flux, metrics in summary["surrogate_accuracy"]["overall"].items():
        click.echo(
            f"surrogate {flux}: R2 {metrics['r2']:.3f}, RMSE {metrics['rmse_w_m2']:.1f} W m-2 "
            "on held-out parameter sets"
        )
    for site, fluxes in summary["rmse_change"].items():
        parts = []
        for flux, entry in fluxes.items():
            change = entry.get("change_pct")
            text = f"{flux} RMSE {entry['rmse_default']:.1f} -> {entry['rmse_calibrated']:.1f}"
            parts.append(text + (f" ({change:+.1f} %)" if change is not None else ""))
        click.echo(f"{site}: " + "; ".join(parts))
    if "recovery" in summary:
        scores = summary["recovery"].get("calibrated", {})
        click.echo("recovery r: " + ", ".join(f"{k} {v}" for k, v in scores.items()))
    click.echo(f"model: {result.model}")
    click.echo(
        f"report: {result.out_dir / 'report.md'}; Taylor diagram: {result.out_dir / 'taylor.png'}"
    )
