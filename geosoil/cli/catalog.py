"""``geosoil catalog build``: an editable covariate catalog from a raster, a VRT or a folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("catalog")
def command() -> None:
    """Covariate catalogs (covariates.yaml)."""


@command.command("build")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Catalog file to write (paths in it are relative to its folder).",
)
@click.option("--pattern", default="*", help="File pattern inside a folder.")
@click.option(
    "--names", default=None, help="Comma-separated layer names, in band (and file) order."
)
@click.option(
    "--categorical", default="", help="Comma-separated names of class layers (after naming)."
)
@click.option("--overwrite", is_flag=True, help="Replace an existing catalog file.")
def build(
    source: Path,
    out: Path,
    pattern: str,
    names: str | None,
    categorical: str,
    overwrite: bool,
) -> None:
    """Write one catalog entry per band of SOURCE (multi-band raster, VRT or folder).

    Bands are named by their descriptions (single-band files in a folder by their file
    stem) unless --names is given. Integer layers are listed as possible classes: confirm
    them with --categorical or by editing the file.
    """
    import rasterio

    from geosoil.errors import OutputExistsError
    from geosoil.io.catalog import (
        CovariateCatalog,
        CovariateSource,
        has_category_names,
        source_layers,
        write_catalog,
    )

    if out.exists() and not overwrite:
        raise OutputExistsError(
            "the catalog file exists", path=out, fix="pass --overwrite or choose another --out"
        )
    spec = CovariateSource(
        path=source.absolute(),
        pattern=pattern,
        names=[n.strip() for n in names.split(",")] if names else None,
        categorical=[n.strip() for n in categorical.split(",") if n.strip()],
    )
    layers = source_layers(spec, catalog=out, field="SOURCE")
    integer = []
    crs = set()
    for layer in layers:
        with rasterio.open(layer.path) as dataset:
            crs.add(dataset.crs.to_string() if dataset.crs else None)
            if dataset.dtypes[layer.band - 1].startswith(("int", "uint")):
                integer.append(layer.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_catalog(CovariateCatalog(crs=crs.pop() if len(crs) == 1 else None, layers=layers), out)
    click.echo(f"catalog: {out} ({len(layers)} layers)")
    named = {layer.name for layer in layers if has_category_names(layer.path, layer.band)}
    unconfirmed = [name for name in integer if name not in spec.categorical]
    for name in unconfirmed:
        why = "has category names (GDAL categories or RAT)" if name in named else "is integer"
        click.echo(
            f"layer {name} {why}: if it holds classes, confirm with --categorical {name} or "
            "set `categorical: true` in the catalog"
        )
