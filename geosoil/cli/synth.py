"""``geosoil synth``: write the synthetic world, a spectral library, a cube or SOC profiles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import click

from geosoil.cli.options import overwrite_option
from geosoil.config import SynthConfig

SIZES = get_args(SynthConfig.model_fields["size"].annotation)
SOC_DEFAULT_N = 1000
FLUX_DEFAULT_N = 40


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
    "--profiles",
    type=click.Choice(("soc", "flux")),
    default=None,
    help="Write simulated profiles instead of a world: 'soc' (CLM5 SOC profiles with known "
    "parameters, binn_ny layout) or 'flux' (flux towers simulated by the land surface model "
    "with known parameters, PLUMBER2 NetCDF layout).",
)
@click.option(
    "--n",
    "n_samples",
    type=click.IntRange(min=1),
    default=None,
    help="Spectra in the library (with --library; default 40000 for mir, 19000 for "
    f"visnir, 130 for pb) or profiles (with --profiles; default {SOC_DEFAULT_N} SOC "
    f"profiles or {FLUX_DEFAULT_N} flux towers).",
)
@click.option(
    "--with-rasters",
    is_flag=True,
    help="With --profiles soc: also write the covariates, CLM5 forcings and truth maps "
    "over the small world into rasters/; with --profiles flux: the forcing climatologies, "
    "site attributes and true parameters as rasters/.",
)
@click.option(
    "--raster-coarsening",
    type=click.IntRange(min=1),
    default=None,
    help="With --with-rasters: write on a grid this many times coarser than the small "
    "world's 100 m (default 1).",
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
    profiles: str | None,
    n_samples: int | None,
    with_rasters: bool,
    raster_coarsening: int | None,
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
      --profiles soc    Training_Data/ (binn_ny layout), truth_parameters.csv +
                        README.md: --n SOC profiles simulated by CLM5 from known
                        parameters; --with-rasters adds rasters/ over the small world
      --profiles flux   towers/ (<site>_Met.nc, <site>_Flux.nc, sites.csv, truth.csv) +
                        README.md: --n flux towers simulated by the land surface model
                        from known parameters; --with-rasters adds g_z input rasters/
    """
    _check_flags(library, cube, n_samples, cube_size_px, band_step_nm)
    _check_profile_flags(library, cube, profiles, with_rasters, raster_coarsening)
    if profiles == "flux":
        _write_flux_towers(
            out_dir,
            n_sites=n_samples or FLUX_DEFAULT_N,
            seed=seed,
            with_rasters=with_rasters,
            overwrite=overwrite,
        )
        return
    if profiles is not None:
        _write_soc_profiles(
            out_dir,
            n_sites=n_samples or SOC_DEFAULT_N,
            seed=seed,
            with_rasters=with_rasters,
            coarsening=raster_coarsening or 1,
            overwrite=overwrite,
        )
        return
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
    profiles = click.get_current_context().params.get("profiles")
    if n_samples is not None and library is None and profiles is None:
        raise click.BadParameter(
            "--n is the size of a spectral library or profile set; add --library "
            f"{'|'.join(LIBRARIES)} or --profiles soc, or use --size for a world",
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


def _check_profile_flags(
    library: str | None,
    cube: bool,
    profiles: str | None,
    with_rasters: bool,
    raster_coarsening: int | None,
) -> None:
    """Refuse profile options without --profiles, and --profiles with another output."""
    if profiles is not None and (library is not None or cube):
        other = "--library" if library is not None else "--cube"
        raise click.BadParameter(
            f"write either profiles or a {other[2:]}, not both; run synth twice",
            param_hint=other,
        )
    if profiles is not None:
        given = click.get_current_context().get_parameter_source("size")
        if given is not click.core.ParameterSource.DEFAULT:
            raise click.BadParameter(
                "--size is for a world; give the number of profiles with --n (rasters "
                "come from the small world)",
                param_hint="--size",
            )
    if with_rasters and profiles is None:
        raise click.BadParameter(
            "--with-rasters adds maps to a profile set; add --profiles soc or --profiles flux",
            param_hint="--with-rasters",
        )
    if raster_coarsening is not None and profiles == "flux":
        raise click.BadParameter(
            "--raster-coarsening is for SOC rasters; flux rasters have their own grid",
            param_hint="--raster-coarsening",
        )
    if raster_coarsening is not None and not with_rasters:
        raise click.BadParameter(
            "--raster-coarsening is an option of the rasters; add --with-rasters",
            param_hint="--raster-coarsening",
        )


def _write_soc_profiles(
    out_dir: Path,
    *,
    n_sites: int,
    seed: int,
    with_rasters: bool,
    coarsening: int,
    overwrite: bool,
) -> None:
    from geosoil.io.profiles import write_profile_folder
    from geosoil.io.writers import staged_directory
    from geosoil.synthetic.soc_profiles import describe_soc_profiles, soc_profile_set

    profiles, truth = soc_profile_set(n_sites, seed=seed)
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        write_profile_folder(profiles, staging)
        truth.to_csv(staging / "truth_parameters.csv", float_format="%.17g")
        readme = describe_soc_profiles(n_sites, seed)
        if with_rasters:
            from geosoil.synthetic import synthesize
            from geosoil.synthetic.soc_rasters import soc_world_rasters

            world = synthesize(size="small", seed=seed)
            soc_world_rasters(world, staging / "rasters", coarsening=coarsening)
            readme += (
                f"\n## rasters/\nCovariates, CLM5 forcings and truth maps over the small "
                f"world (seed {seed}, coarsening {coarsening}); see rasters/README.md.\n"
            )
        (staging / "README.md").write_text(readme, encoding="utf-8")
    click.echo(f"synthetic SOC profiles ({n_sites} sites, seed {seed}) written to {out_dir}")


def _write_flux_towers(
    out_dir: Path, *, n_sites: int, seed: int, with_rasters: bool, overwrite: bool
) -> None:
    from geosoil.io.writers import staged_directory
    from geosoil.synthetic.flux_rasters import write_flux_rasters
    from geosoil.synthetic.flux_sites import make_flux_sites

    sites = make_flux_sites(n_sites, seed=seed)
    with staged_directory(out_dir, overwrite=overwrite) as staging:
        sites.write(staging / "towers")
        readme = (
            f"# Synthetic flux towers (seed {seed})\n\n{n_sites} towers simulated by geosoil's "
            "land surface model from known parameters: see towers/README.md.\n"
        )
        if with_rasters:
            write_flux_rasters(staging / "rasters", sites)
            readme += "\nrasters/: the parameter generator's inputs and the true parameters "
            readme += "as maps; see rasters/README.md.\n"
        (staging / "README.md").write_text(readme, encoding="utf-8")
    click.echo(f"synthetic flux towers ({n_sites} sites, seed {seed}) written to {out_dir}")
