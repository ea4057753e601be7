"""``geosoil synth``: write the synthetic world."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import click

from geosoil.cli.options import overwrite_option
from geosoil.config import SynthConfig

SIZES = get_args(SynthConfig.model_fields["size"].annotation)


@click.command("synth")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write the world into.",
)
@click.option(
    "--size",
    type=click.Choice(SIZES),
    default="small",
    show_default=True,
    help="small (seconds), medium or large (benchmark).",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Same seed, same bytes.",
)
@overwrite_option
def command(out_dir: Path, size: str, seed: int, overwrite: bool) -> None:
    """Write a synthetic region with known truth: covariates, samples, spectra."""
    from geosoil.config import save_config
    from geosoil.io.writers import staged_directory
    from geosoil.synthetic import synthesize, write_world

    config = SynthConfig(size=size, seed=seed)
    world = synthesize(size=config.size, seed=config.seed)
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        written = write_world(world, staging)
        save_config(config, staging / "config.yaml")
        written["config"] = staging / "config.yaml"
    click.echo(f"synthetic world ({size}, seed {seed}) written to {out_dir}")
    for name, path in written.items():
        click.echo(f"  {name}: {out_dir / Path(path).relative_to(staging)}")
