"""``geosoil finetune``: adapt a pretrained spectral network to a small target set."""

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


@click.command("finetune")
@config_argument
@out_option
@overwrite_option
@set_option
def command(
    config: Path, out_dir: Path | None, overwrite: bool, overrides: tuple[str, ...]
) -> None:
    """Fine-tune the parent artifact of CONFIG (YAML) on its target spectra.

    The groups in `freeze` (default: the convolutional `features`) keep the parent's
    weights; the rest trains on the target. The new artifact records its parent's SHA-256.
    """
    from geosoil.config import load_config
    from geosoil.config.finetune import FinetuneConfig
    from geosoil.workflows.finetune import finetune_from_config

    cfg = load_config(config, FinetuneConfig, apply_output_flags(overrides, out_dir, overwrite))
    with blame_config(config):
        result = finetune_from_config(cfg)
    click.echo(f"artifact: {result.artifact}")
    click.echo(f"metrics: {result.metrics_file}")
    click.echo(f"config: {result.config}")
    for part in ("train", "valid"):
        scores = result.metrics[part]
        click.echo(
            f"{part} ({result.metrics[f'n_{part}']} spectra): "
            + ", ".join(f"{k} {v:.3g}" for k, v in scores.items() if k in ("r2", "rmse", "rpd"))
        )
