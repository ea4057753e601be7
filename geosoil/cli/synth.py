"""``geosoil synth``: write the synthetic world, a synthetic spectral library, or a cube."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import click

from geosoil.cli.options import overwrite_option
from geosoil.config import SynthConfig

SIZES = get_args(SynthConfig.model_fields["size"].annotation)


@dataclass(frozen=True)
class _Library:
    """What ``--library NAME`` writes: file name, default size, what it is."""

    filename: str
    default_n: int
    label: str


LIBRARIES = {
    "mir": _Library("library_mir.parquet", 40000, "MIR library"),
    "visnir": _Library("library_visnir.parquet", 19000, "vis-NIR library"),
    "pb": _Library("pb_target.parquet", 130, "Pb target set"),
}


@click.command("synth")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder to write the world (or the library, or the cube) into.",
)
@click.option(
    "--size",
    type=click.Choice(SIZES),
    default="small",
    show_default=True,
    help="Size of a world: small (seconds), medium or large (benchmark).",
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
    type=click.Choice(tuple(LIBRARIES)),
    default=None,
    help="Write a spectral library instead of a world: 'mir' (exchangeable K from MIR), "
    "'visnir' (LUCAS-like vis-NIR library with pH) or 'pb' (local Pb target set).",
)
@click.option(
    "--n",
    "n_samples",
    type=click.IntRange(min=1),
    default=None,
    help="Spectra in the library (with --library; default 40000 for mir, 19000 for "
    "visnir, 130 for pb).",
)
@click.option(
    "--cube",
    is_flag=True,
    help="Write a bare-soil hyperspectral cube (GeoTIFF and ENVI) with truth maps instead "
    "of a world.",
)
@click.option(
    "--cube-size",
    "cube_size_px",
    type=click.IntRange(min=8, max=1000),
    default=None,
    help="Side of the cube in 10 m pixels (with --cube; default 64).",
)
@click.option(
    "--band-step",
    "band_step_nm",
    type=click.FloatRange(min=1.0, max=100.0),
    default=None,
    help="Band spacing and FWHM of the cube in nm (with --cube; default 10).",
)
@overwrite_option
def command(
    out_dir: Path,
    size: str,
    seed: int,
    library: str | None,
    n_samples: int | None,
    cube: bool,
    cube_size_px: int | None,
    band_step_nm: float | None,
    overwrite: bool,
) -> None:
    """Write a synthetic region with known truth: covariates, samples, spectra.

    \b
    Instead of a world (--size), write one of:
      --library mir     library_mir.parquet: --n MIR spectra with exchangeable K
      --library visnir  library_visnir.parquet + README.md: --n LUCAS-like vis-NIR
                        spectra with pH (pretraining source)
      --library pb      pb_target.parquet + README.md: --n local vis-NIR spectra with
                        Pb, coordinates and 10 folds (fine-tuning target)
      --cube            cube.tif, cube.img/.hdr, truth_*.tif + README.md: a bare-soil
                        hyperspectral cube (--cube-size pixels, --band-step nm)
    """
    _check_flags(library, cube, n_samples, cube_size_px, band_step_nm)
    if library is not None:
        spec = LIBRARIES[library]
        _write_library(
            out_dir,
            library,
            spec,
            n_samples=n_samples or spec.default_n,
            seed=seed,
            overwrite=overwrite,
        )
        return
    if cube:
        _write_cube(
            out_dir,
            size_px=cube_size_px or 64,
            band_step_nm=band_step_nm or 10.0,
            seed=seed,
            overwrite=overwrite,
        )
        return
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


def _check_flags(
    library: str | None,
    cube: bool,
    n_samples: int | None,
    cube_size_px: int | None,
    band_step_nm: float | None,
) -> None:
    """Refuse flags of one kind of output given with another."""
    if library is not None and cube:
        raise click.BadParameter(
            "write either a library or a cube, not both; run synth twice", param_hint="--cube"
        )
    if library is not None or cube:
        given = click.get_current_context().get_parameter_source("size")
        if given is not click.core.ParameterSource.DEFAULT:
            what = "the cube's side with --cube-size" if cube else "its number of spectra with --n"
            raise click.BadParameter(f"--size is for a world; give {what}", param_hint="--size")
    if n_samples is not None and library is None:
        raise click.BadParameter(
            "--n is the size of a spectral library; add --library "
            f"{'|'.join(LIBRARIES)}, or use --size for a world",
            param_hint="--n",
        )
    for value, hint in ((cube_size_px, "--cube-size"), (band_step_nm, "--band-step")):
        if value is not None and not cube:
            raise click.BadParameter(f"{hint} is an option of a cube; add --cube", param_hint=hint)


def _make_library(name: str, n_samples: int, seed: int):
    """The library and its README text (None for mir, whose folder holds just the table)."""
    if name == "mir":
        from geosoil.synthetic.library import mir_library

        return mir_library(n_samples, seed=seed), None
    from geosoil.synthetic.visnir_library import (
        describe_pb_target_set,
        describe_visnir_library,
        pb_target_set,
        visnir_library,
    )

    if name == "visnir":
        return visnir_library(n_samples, seed=seed), describe_visnir_library(n_samples, seed)
    return pb_target_set(n_samples, seed=seed), describe_pb_target_set(n_samples, seed)


def _write_library(
    out_dir: Path, name: str, spec: _Library, *, n_samples: int, seed: int, overwrite: bool
) -> None:
    from geosoil.io.writers import staged_directory
    from geosoil.synthetic.library import write_library

    samples, readme = _make_library(name, n_samples, seed)
    metadata = {"library": name, "n_samples": n_samples, "seed": seed}
    if name == "pb":
        from geosoil.synthetic.visnir_library import TARGET_CRS

        metadata["crs"] = TARGET_CRS
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        write_library(samples, staging / spec.filename, metadata=metadata)
        if readme is not None:
            (staging / "README.md").write_text(readme, encoding="utf-8")
    click.echo(
        f"synthetic {spec.label} ({n_samples} spectra, seed {seed}) written to "
        f"{out_dir / spec.filename}"
    )


def _write_cube(
    out_dir: Path, *, size_px: int, band_step_nm: float, seed: int, overwrite: bool
) -> None:
    from geosoil.io.writers import staged_directory
    from geosoil.synthetic.cube import bare_soil_cube

    with staged_directory(out_dir, overwrite=overwrite) as staging:
        written = bare_soil_cube(staging, size=size_px, seed=seed, band_step_nm=band_step_nm)
    click.echo(
        f"synthetic bare-soil cube ({size_px} x {size_px} px, {band_step_nm:g} nm bands, "
        f"seed {seed}) written to {out_dir}"
    )
    for name, path in written.items():
        click.echo(f"  {name}: {out_dir / Path(path).relative_to(staging)}")
