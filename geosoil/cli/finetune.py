"""``geosoil finetune``: adapt a pretrained spectral network to a small target set."""

from __future__ import annotations

from pathlib import Path

import click

from geosoil.cli.options import blame_config, config_options


@click.command("finetune")
@config_options
def command(config: Path, overrides: list[str]) -> None:
    """Fine-tune the parent artifact of CONFIG (YAML) on its target spectra.

    The groups in `freeze` (default: the convolutional `features`) keep the parent's
    weights; the rest trains on the target. The new artifact records its parent's SHA-256.
    """
    from geosoil.cli.train import echo_spectral_result
    from geosoil.config import load_config
    from geosoil.config.finetune import FinetuneConfig
    from geosoil.workflows.finetune import finetune_from_config

    cfg = load_config(config, FinetuneConfig, overrides)
    with blame_config(config):
        result = finetune_from_config(cfg)
    echo_spectral_result(result)
