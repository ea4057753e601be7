"""``geosoil evaluate``: compare spectral models over repeated splits and write a report."""

from __future__ import annotations

from pathlib import Path

import click

from geosoil.cli.options import blame_config, config_options, flag_overrides


@click.command("evaluate")
@config_options
@click.option(
    "--seeds",
    "n_seeds",
    type=click.IntRange(min=1),
    default=None,
    help="Number of repeated splits (overrides splits.n_seeds; the paper uses 20).",
)
def command(config: Path, overrides: list[str], n_seeds: int | None) -> None:
    """Evaluate the spectral models of CONFIG (YAML) over repeated train/valid/test splits."""
    from geosoil.config import load_config
    from geosoil.config.evaluate import EvaluateConfig
    from geosoil.evaluate.tables import format_mean_sd
    from geosoil.workflows.evaluate import evaluate_from_config

    extra = flag_overrides(overrides, {"splits.n_seeds": n_seeds})
    cfg = load_config(config, EvaluateConfig, extra)
    with blame_config(config):
        result = evaluate_from_config(cfg)
    overall = format_mean_sd(result.table[result.table["by"] == "all"])
    for _, row in overall.iterrows():
        click.echo(
            f"{row['model']}: R2 {row['r2']}, LCCC {row['lccc']}, RMSE {row['rmse']}, "
            f"MAPE {row['mape']} ({cfg.splits.n_seeds} splits)"
        )
    click.echo(f"report: {result.report['report']}")
    for name, paths in result.models.items():
        click.echo(f"models ({name}): {len(paths)} in {result.out_dir / 'models'}")
    click.echo(f"config: {result.config}")
