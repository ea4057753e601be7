"""``geosoil predict``: a trained model applied to points or rows of a table.

The input is a table (CSV, Parquet, GeoParquet, GeoPackage) holding the model's covariate
columns; or points plus a covariate catalog to extract them from; or, for a spectral model, a
spectra table. The output is the same rows with prediction columns added, written as CSV,
Parquet or GeoPackage by the output's suffix, atomically: the file appears only complete.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.artifacts import Artifact, artifact_from_estimator, load_artifact
from geosoil.errors import CovariateError, InputFileNotFoundError, OutputError, OutputExistsError
from geosoil.io.writers import replaced_atomically
from geosoil.models.base import GeoSoilEstimator

__all__ = ["OUTPUT_SUFFIXES", "predict_points"]

log = logging.getLogger(__name__)

OUTPUT_SUFFIXES = (".csv", ".parquet", ".gpkg")


def predict_points(
    artifact: str | Path | Artifact | GeoSoilEstimator,
    table: str | Path,
    out: str | Path,
    *,
    catalog: str | Path | None = None,
    layer: str | None = None,
    crs: str | None = None,
    x_column: str = "x",
    y_column: str = "y",
    overwrite: bool = False,
) -> pd.DataFrame:
    """Predict every row of ``table`` with a model and write the rows with the predictions.

    Parameters
    ----------
    artifact
        A model artifact (path or loaded), or a fitted covariate estimator in memory (its
        output is named ``prediction``; use
        :func:`~geosoil.artifacts.artifact_from_estimator` to give names and units).
    table
        Rows to predict: covariate columns named as the model's inputs; or points (with a
        CRS, or x/y columns and ``crs``) when ``catalog`` is given; or spectra for a spectral
        model.
    out
        Output file; ``.csv``, ``.parquet`` or ``.gpkg`` (points only).
    catalog
        Covariate catalog to extract the model's inputs at the points from.
    layer, crs, x_column, y_column
        As for the samples of ``geosoil train``.
    overwrite
        Replace an existing ``out``.

    Returns
    -------
    pandas.DataFrame
        The rows written: the input's columns, then ``<target>_pred`` and, where the artifact
        has a trust layer, ``<target>_lo``/``_hi`` (conformal 90 % bounds), ``<target>_di``
        and ``<target>_aoa`` (1 inside the area of applicability), as the map layers; where
        the model offers them, ``<target>_std``, ``<target>_p05``, ``<target>_p95``; with
        categorical inputs also ``unseen_class`` (a class training never saw: no prediction).

    Raises
    ------
    CovariateError
        A covariate the model needs is neither a column nor (with a catalog) a layer.
    OutputExistsError, OutputError
        ``out`` exists (without ``overwrite``), or has an unsupported suffix.
    """
    out = Path(out)
    _check_output(out, overwrite)
    if isinstance(artifact, Artifact):
        model = artifact
    elif isinstance(artifact, (str, Path)):
        model = load_artifact(artifact)
    else:  # a fitted covariate estimator in memory, its inputs named as when it was fitted
        model = artifact_from_estimator(artifact, output="prediction")
    table = Path(table)
    if not table.is_file():
        raise InputFileNotFoundError("input table not found", path=table, fix="check the path")
    header = model.header
    target = header.output_spec.names[0]
    options = {"crs": crs, "x_column": x_column, "y_column": y_column}
    if header.input_spec.kind == "spectra":
        frame, predictions = _predict_spectra(model, table, options)
    else:
        frame, predictions = _predict_covariates(model, table, catalog, layer, options)
    for suffix, values in predictions.items():
        frame[f"{target}_{suffix}"] = values
    _write(frame, out)
    log.info("wrote %d predicted rows to %s", len(frame), out)
    return frame


def _predict_covariates(model: Artifact, path: Path, catalog, layer, options):
    from geosoil.io.samples import read_samples

    names = model.header.input_spec.names
    frame = _read_rows(path, layer, options)
    coordinates = tuple(getattr(model.estimator, "map_coordinates", ()))
    if "geometry" in frame.columns and any(n not in frame.columns for n in coordinates):
        # A kriging model reads the point's coordinates, in its training samples' CRS.
        crs = model.header.input_spec.crs
        points = frame.geometry if crs is None or frame.crs is None else frame.geometry.to_crs(crs)
        for name, axis in zip(coordinates, ("x", "y"), strict=True):
            if name not in frame.columns:
                frame[name] = getattr(points, axis).to_numpy()
    missing = [n for n in names if n not in frame.columns]
    if missing and catalog is None:
        raise CovariateError(
            f"covariate column(s) {missing} the model needs are not in the table",
            path=path,
            field="covariates",
            fix=f"add columns {missing}, or pass --catalog with layers of those names to "
            "extract them at the points",
        )
    if missing:
        from geosoil.io.catalog import read_catalog
        from geosoil.io.rasters import extract_at_points

        points = read_samples(path, layer=layer, **options)
        layers = read_catalog(catalog).select(missing, source=catalog, field="covariates")
        extracted = extract_at_points(layers, points.geometry)
        frame = points
        for name in missing:
            frame[name] = extracted[name].to_numpy()
    X = _coded(frame[names].copy(), model)
    unseen = _unseen_rows(model, X)
    estimator = model.estimator
    predictions = {}
    if getattr(estimator, "supports_dist", False):
        mean, std, quantiles = estimator.predict_dist(X, levels=(0.05, 0.95))
        predictions = {"pred": mean, "std": std, "p05": quantiles[0], "p95": quantiles[1]}
    else:
        predictions = {"pred": estimator.predict(X)}
    predictions.update(_trust_columns(model, X))
    if unseen is not None:
        for name, values in predictions.items():
            if name == "aoa":
                values[unseen] = 0  # a class training never saw is outside the AOA
            else:
                values[unseen] = np.nan
        frame["unseen_class"] = unseen
        if unseen.any():
            log.warning("%d row(s) hold a class training never saw: no prediction", unseen.sum())
    return frame, predictions


def _trust_columns(model: Artifact, X: pd.DataFrame) -> dict[str, np.ndarray]:
    """The map's trust layers at the rows: ``lo``/``hi`` (90 %), ``di`` and ``aoa`` (1/0).

    Empty for an artifact trained before the trust layer. With a mean back-transform, ``pred``
    is replaced by the artifact's chosen estimate, as on the map.
    """
    trust = model.trust
    if trust is None or (trust.applicability is None and trust.intervals is None):
        return {}
    rows = X.to_numpy(dtype=np.float64)
    finite = np.isfinite(rows).all(axis=1)
    result = trust.predict(model.estimator, rows[finite], level=0.9)
    parts = {"lo": result.low, "hi": result.high, "di": result.di}
    if trust.back_transform.factor != 1:
        parts["pred"] = result.point
    columns = {}
    for name, values in parts.items():
        if values is not None:
            columns[name] = np.full(len(rows), np.nan)
            columns[name][finite] = values
    if result.inside_aoa is not None:
        columns["aoa"] = np.zeros(len(rows), dtype=np.uint8)
        columns["aoa"][finite] = result.inside_aoa
    return columns


def _coded(X: pd.DataFrame, model: Artifact) -> pd.DataFrame:
    """Text classes as the integer codes recorded at training; unknown labels become -1."""
    for step in model.header.preprocessing:
        if step.get("step") == "class_codes" and step["column"] in X.columns:
            codes = step["codes"]
            column = X[step["column"]]
            X[step["column"]] = column.map(lambda v, c=codes: c.get(str(v), -1)).where(
                column.notna()
            )
    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    if text:
        raise CovariateError(
            f"covariate(s) {text} hold text but the model was trained on numbers",
            field="covariates",
            fix="give the columns as numbers, or as the class codes used in training",
        )
    return X.astype(np.float64)


def _unseen_rows(model: Artifact, X: pd.DataFrame) -> np.ndarray | None:
    """Rows with a categorical class training never saw (None without categorical inputs)."""
    estimator = model.estimator
    encoding = getattr(estimator, "encoding_", None)
    categories = (
        encoding.categories if encoding is not None else getattr(estimator, "categories_", {})
    )
    categorical = [layer.name for layer in model.header.input_spec.layers if layer.categorical]
    if not categorical:
        return None
    unseen = np.zeros(len(X), dtype=bool)
    for name in categorical:
        known = categories.get(name)
        if known is None:
            continue
        values = X[name].to_numpy()
        unseen |= np.isfinite(values) & ~np.isin(values, np.asarray(known, dtype=np.float64))
    return unseen


def _predict_spectra(model: Artifact, path: Path, options):
    from geosoil.io.spectra import read_spectra

    samples = read_spectra(
        path,
        average_replicates=False,
        axis_unit=model.header.input_spec.axis_unit,
        **{k: v for k, v in options.items() if v is not None and k == "crs"},
    )
    frame = samples.frame.copy()
    return frame, {"pred": model.estimator.predict(samples.spectra, axis=samples.axis)}


def _read_rows(path: Path, layer, options) -> pd.DataFrame:
    """The input rows, as points when the file has coordinates, else as a plain table."""
    from geosoil.errors import SampleDataError
    from geosoil.io.samples import read_samples

    try:
        return read_samples(path, layer=layer, **options)
    except SampleDataError:
        # A table without coordinates (or CRS) can still be predicted from its columns.
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        if path.suffix.lower() in (".parquet", ".geoparquet"):
            return pd.read_parquet(path)
        raise


def _check_output(out: Path, overwrite: bool) -> None:
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise OutputError(
            f"unsupported output format '{out.suffix}'",
            path=out,
            field="--out",
            fix=f"end the output name with one of {', '.join(OUTPUT_SUFFIXES)}",
        )
    if out.exists() and not overwrite:
        raise OutputExistsError(
            "output file exists", path=out, fix="choose another name or pass --overwrite"
        )
    if not out.parent.is_dir():
        raise OutputError("output folder does not exist", path=out.parent, fix="create it first")


def _write(frame: pd.DataFrame, out: Path) -> None:
    import geopandas as gpd

    suffix = out.suffix.lower()
    is_points = isinstance(frame, gpd.GeoDataFrame) and frame.crs is not None
    if suffix not in (".csv", ".parquet") and not is_points:
        raise OutputError(
            "a GeoPackage needs points, but the input has no coordinates and CRS",
            path=out,
            field="--out",
            fix="write .csv or .parquet, or give x/y columns and --crs",
        )
    try:
        with replaced_atomically(out, suffix=f".tmp{suffix}") as temporary:
            if suffix == ".csv":
                table = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
                table.to_csv(temporary, index=False)
            elif suffix == ".parquet":
                (frame if is_points else pd.DataFrame(frame)).to_parquet(temporary)
            else:
                frame.to_file(temporary, driver="GPKG", layer=out.stem)
    except OSError as err:
        raise OutputError(
            f"cannot write the output ({err})", path=out, fix="check permissions and free space"
        ) from err
