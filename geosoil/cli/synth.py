"""``geosoil synth``: write the synthetic world, or a synthetic spectral library."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import click

from geosoil.cli.options import overwrite_option
from geosoil.config import SynthConfig

SIZES = get_args(SynthConfig.model_fields["size"].annotation)
LIBRARIES = ("mir",)


@click.command("synth")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write the world (or the library) into.",
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
@click.option(
    "--library",
    type=click.Choice(LIBRARIES),
    default=None,
    help="Write a spectral library instead of a world: 'mir' (exchangeable K from MIR).",
)
@click.option(
    "--n",
    "n_samples",
    type=click.IntRange(min=1),
    default=None,
    help="Spectra in the library (with --library; default 40000).",
)
@overwrite_option
def command(
    out_dir: Path,
    size: str,
    seed: int,
    library: str | None,
    n_samples: int | None,
    overwrite: bool,
) -> None:
    """Write a synthetic region with known truth: covariates, samples, spectra.

    With --library mir, write instead a synthetic MIR library (library_mir.parquet) of --n
    soil horizons with exchangeable K and their known composition.
    """
    if library is not None:
        given = click.get_current_context().get_parameter_source("size")
        if given is not click.core.ParameterSource.DEFAULT:
            raise click.BadParameter(
                "a library has no --size; give its number of spectra with --n",
                param_hint="--size",
            )
        _write_library(out_dir, n_samples=n_samples or 40000, seed=seed, overwrite=overwrite)
        return
    if n_samples is not None:
        raise click.BadParameter(
            "--n is the size of a spectral library; add --library mir, or use --size for a world",
            param_hint="--n",
        )
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


def _write_library(out_dir: Path, *, n_samples: int, seed: int, overwrite: bool) -> None:
    from geosoil.io.writers import staged_directory
    from geosoil.synthetic.library import mir_library, write_library

    samples = mir_library(n_samples, seed=seed)
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        write_library(
            samples,
            staging / "library_mir.parquet",
            metadata={"library": "mir", "n_samples": n_samples, "seed": seed},
        )
    click.echo(
        f"synthetic MIR library ({n_samples} spectra, seed {seed}) written to "
        f"{out_dir / 'library_mir.parquet'}"
    )
