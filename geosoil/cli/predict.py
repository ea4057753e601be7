"""``geosoil predict``: predict points or table rows with a trained artifact."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("predict")
@click.argument("artifact", type=click.Path(path_type=Path, dir_okay=False))
@click.argument("table", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Output file: .csv, .parquet or .gpkg.",
)
@click.option(
    "--catalog",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Covariate catalog to extract missing covariates at the points from.",
)
@click.option("--layer", default=None, help="Layer of a multi-layer GeoPackage input.")
@click.option("--crs", default=None, help="CRS of x/y columns (e.g. EPSG:28992).")
@click.option("--x-column", default="x", show_default=True)
@click.option("--y-column", default="y", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def command(artifact, table, out, catalog, layer, crs, x_column, y_column, overwrite) -> None:
    """Predict the rows of TABLE (covariate columns, points + --catalog, or spectra) with
    ARTIFACT and write them with prediction columns to --out."""
    from geosoil.workflows.predict import predict_points

    frame = predict_points(
        artifact,
        table,
        out,
        catalog=catalog,
        layer=layer,
        crs=crs,
        x_column=x_column,
        y_column=y_column,
        overwrite=overwrite,
    )
    click.echo(f"predicted {len(frame)} rows: {out}")
