"""The table a covariate model learns from, and the folds it is scored on.

Covariates come either from a catalog of rasters, extracted at the sample points, or from
columns the sample table already carries (CSV or plain Parquet with x/y columns and a CRS,
GeoParquet, GeoPackage). Duplicated rows and duplicated coordinates are reported and kept
together on one side of every split, so a test point never has its twin in training.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.artifacts import InputLayer
from geosoil.config import TrainConfig
from geosoil.errors import ConfigError, CovariateError, SampleDataError
from geosoil.evaluate.splits import (
    Folds,
    grouped_kfold,
    random_kfold,
    spatial_block_ids,
)
from geosoil.io.catalog import read_catalog
from geosoil.io.rasters import extract_at_points
from geosoil.io.samples import read_samples, target_values

__all__ = ["TrainingTable", "build_folds", "fold_groups", "read_training_table", "selection_scheme"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingTable:
    """Samples ready for learning.

    Attributes
    ----------
    X
        Numeric covariates, one column per input layer (text classes given integer codes).
    y
        Target values.
    xy
        (n, 2) coordinates in the samples' CRS.
    ids
        Sample ids (the id column, else the row number in the file).
    layers
        The model's input layers (names, units, categorical).
    class_codes
        Text categorical column -> {class label: integer code}.
    fold_labels
        Predefined fold id per sample, when ``evaluation.fold_column`` is set.
    duplicates
        Duplicate group per sample (equal for samples sharing coordinates or a whole row),
        and counts for the report.
    crs
        The samples' CRS.
    """

    X: pd.DataFrame
    y: np.ndarray
    xy: np.ndarray
    ids: np.ndarray
    layers: list[InputLayer]
    class_codes: dict[str, dict[str, int]] = field(default_factory=dict)
    fold_labels: np.ndarray | None = None
    duplicates: dict = field(default_factory=dict)
    crs: str = ""

    @property
    def duplicate_groups(self) -> np.ndarray:
        return self.duplicates["groups"]


def read_training_table(config: TrainConfig) -> TrainingTable:
    """Read samples and covariates as the config says; drop rows without a target or with a
    missing covariate (logged).

    Raises
    ------
    CovariateError
        A covariate column is missing from the table, or holds text but is not declared
        categorical.
    SampleDataError
        Fewer than 10 usable samples, or a missing fold id.
    """
    samples_cfg, cov_cfg = config.samples, config.covariates
    source = samples_cfg.path
    points = read_samples(
        source,
        layer=samples_cfg.layer,
        crs=samples_cfg.crs,
        x_column=samples_cfg.x_column,
        y_column=samples_cfg.y_column,
    )
    y = target_values(points, samples_cfg.target, source=source)
    class_codes: dict[str, dict[str, int]] = {}
    if cov_cfg.columns is not None:
        X, class_codes = _table_covariates(points, cov_cfg.columns, cov_cfg.categorical, source)
        layers = [
            InputLayer(name=name, categorical=name in cov_cfg.categorical)
            for name in cov_cfg.columns
        ]
    else:
        catalog = read_catalog(cov_cfg.catalog)
        catalog_layers = catalog.select(
            cov_cfg.names, source=cov_cfg.catalog, field="covariates.names"
        )
        X = extract_at_points(catalog_layers, points.geometry)
        layers = [
            InputLayer(name=layer.name, units=layer.units, categorical=layer.categorical)
            for layer in catalog_layers
        ]
    ids = _column_or_rows(points, samples_cfg.id_column, source, "samples.id_column")
    fold_labels = None
    if config.evaluation.fold_column is not None:
        fold_labels = _column_or_rows(
            points, config.evaluation.fold_column, source, "evaluation.fold_column"
        )
    keep = np.isfinite(y) & X.notna().all(axis=1).to_numpy()
    n_dropped = int((~keep).sum())
    if n_dropped:
        log.warning(
            "dropped %d of %d samples without a target value or with a missing covariate",
            n_dropped,
            len(keep),
        )
    if keep.sum() < 10:
        raise SampleDataError(
            f"only {int(keep.sum())} samples have a target and valid covariates",
            path=source,
            field="samples",
            fix="check the target column, and that the samples lie inside the covariate rasters",
        )
    xy = np.column_stack([points.geometry.x, points.geometry.y])[keep]
    X = X[keep].reset_index(drop=True)
    y = y[keep]
    return TrainingTable(
        X=X,
        y=y,
        xy=xy,
        ids=ids[keep],
        layers=layers,
        class_codes=class_codes,
        fold_labels=None if fold_labels is None else fold_labels[keep],
        duplicates=find_duplicates(X, y, xy),
        crs=points.crs.to_string(),
    )


def _table_covariates(
    points: pd.DataFrame, columns: list[str], categorical: list[str], source: Path
) -> tuple[pd.DataFrame, dict[str, dict[str, int]]]:
    missing = [c for c in columns if c not in points.columns]
    if missing:
        available = [c for c in points.columns if c != "geometry"]
        raise CovariateError(
            f"covariate column(s) {missing} are not in the sample table",
            path=source,
            field="covariates.columns",
            fix=f"name columns of the table: {available}",
        )
    X = pd.DataFrame(index=points.index)
    codes: dict[str, dict[str, int]] = {}
    for name in columns:
        column = points[name]
        if pd.api.types.is_numeric_dtype(column):
            X[name] = column.astype(np.float64)
            continue
        if name not in categorical:
            example = column.dropna().iloc[0] if column.notna().any() else None
            raise CovariateError(
                f"covariate column '{name}' holds text (e.g. {example!r}) but is not declared "
                "categorical",
                path=source,
                field="covariates.categorical",
                fix=f"add '{name}' to covariates.categorical, or convert it to numbers",
            )
        labels = sorted(str(v) for v in column.dropna().unique())
        codes[name] = {label: code for code, label in enumerate(labels, start=1)}
        X[name] = column.map(lambda v, table=codes[name]: table.get(str(v), np.nan))
        X[name] = X[name].where(column.notna()).astype(np.float64)
    return X.reset_index(drop=True), codes


def _column_or_rows(points: pd.DataFrame, column: str | None, source: Path, field: str):
    if column is None:
        return np.arange(len(points))
    if column not in points.columns:
        available = [c for c in points.columns if c != "geometry"]
        raise SampleDataError(
            f"column '{column}' is not in the sample table",
            path=source,
            field=field,
            fix=f"name one of {available}",
        )
    values = points[column].to_numpy()
    if pd.isna(values).any():
        raise SampleDataError(
            f"column '{column}' has {int(pd.isna(values).sum())} empty value(s)",
            path=source,
            field=field,
            fix="give every sample a value, or drop those samples",
        )
    return values


def find_duplicates(X: pd.DataFrame, y: np.ndarray, xy: np.ndarray) -> dict:
    """Groups of samples that share coordinates or a whole row (covariates and target).

    Returns
    -------
    dict
        ``groups`` (int64 group per sample), ``n_duplicate_coordinates`` and
        ``n_duplicate_rows`` (samples beyond the first of each set).
    """
    coordinates = pd.DataFrame(xy, columns=["x", "y"])
    rows = X.assign(__target=y)
    by_coordinates = coordinates.groupby(["x", "y"], sort=False).ngroup().to_numpy()
    by_row = rows.groupby(list(rows.columns), sort=False).ngroup().to_numpy()
    groups = _merge_groupings(by_coordinates, by_row)
    found = {
        "groups": groups,
        "n_duplicate_coordinates": int(coordinates.duplicated().sum()),
        "n_duplicate_rows": int(rows.duplicated().sum()),
    }
    if found["n_duplicate_coordinates"] or found["n_duplicate_rows"]:
        log.warning(
            "%d sample(s) repeat the coordinates and %d repeat a whole row of another; "
            "duplicates are kept on one side of every split",
            found["n_duplicate_coordinates"],
            found["n_duplicate_rows"],
        )
    return found


def _merge_groupings(*groupings: np.ndarray) -> np.ndarray:
    """Connected components of samples linked by sharing a label in any grouping."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(groupings[0])
    rows, cols = [], []
    for labels in groupings:
        first = pd.Series(np.arange(n)).groupby(labels).transform("min").to_numpy()
        rows.append(np.arange(n))
        cols.append(first)
    edges = coo_matrix(
        (np.ones(n * len(groupings)), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    return connected_components(edges, directed=False)[1].astype(np.int64)


def build_folds(config: TrainConfig, table: TrainingTable) -> dict[str, Folds]:
    """The folds of every evaluation scheme, duplicates kept together.

    Raises
    ------
    ConfigError
        A fold column with a single fold, or predefined folds that split a duplicate group.
    """
    evaluation = config.evaluation
    folds: dict[str, Folds] = {}
    for scheme, groups in fold_groups(config, table).items():
        if scheme == "predefined":
            folds[scheme] = _predefined_folds(config, table)
        elif groups is None:
            folds[scheme] = random_kfold(
                len(table.y), n_splits=evaluation.n_splits, seed=evaluation.seed
            )
        else:
            folds[scheme] = grouped_kfold(
                groups, n_splits=evaluation.n_splits, seed=evaluation.seed
            )
    return folds


def fold_groups(config: TrainConfig, table: TrainingTable) -> dict[str, np.ndarray | None]:
    """The groups each evaluation scheme keeps whole, as int64 codes per sample.

    Spatial blocks (merged with duplicate sets), the predefined fold ids, or the duplicate
    sets under random folds; None for random folds of samples without duplicates. ``auto``
    cuts its inner folds along the same groups.

    Raises
    ------
    ConfigError
        Fewer spatial blocks than folds.
    """
    evaluation = config.evaluation
    duplicates = table.duplicate_groups
    has_duplicates = len(np.unique(duplicates)) < len(duplicates)
    groups: dict[str, np.ndarray | None] = {}
    for scheme in evaluation.schemes:
        if scheme == "predefined":
            groups[scheme] = pd.factorize(pd.Series(table.fold_labels, dtype=object))[0]
        elif scheme == "random":
            groups[scheme] = duplicates if has_duplicates else None
        else:
            blocks = spatial_block_ids(
                table.xy[:, 0], table.xy[:, 1], block_size_m=evaluation.spatial_block_size_m
            )
            merged = _merge_groupings(blocks, duplicates) if has_duplicates else blocks
            n_blocks = len(np.unique(merged))
            if n_blocks < evaluation.n_splits:
                raise ConfigError(
                    f"spatial_block_size_m={evaluation.spatial_block_size_m:g} gives "
                    f"{n_blocks} blocks for {evaluation.n_splits} folds",
                    field="evaluation.spatial_block_size_m",
                    fix="use a smaller block size or fewer folds",
                )
            groups[scheme] = merged
    return groups


def selection_scheme(schemes) -> str:
    """The scheme a final choice is made under: spatial blocks, else predefined folds, else
    the first (the most demanding of those that ran)."""
    schemes = list(schemes)
    return next((s for s in ("spatial_block", "predefined", "random") if s in schemes), schemes[0])


def _predefined_folds(config: TrainConfig, table: TrainingTable) -> Folds:
    labels = table.fold_labels
    column = config.evaluation.fold_column
    unique = pd.unique(labels)
    if len(unique) < 2:
        raise ConfigError(
            f"fold column '{column}' holds a single fold ({unique[0]!r}); cross-validation "
            "needs at least two",
            path=config.samples.path,
            field="evaluation.fold_column",
            fix="name a column with two or more fold ids, or use schemes: [random]",
        )
    split = pd.Series(labels).groupby(table.duplicate_groups).nunique()
    if (split > 1).any():
        raise ConfigError(
            f"{int((split > 1).sum())} group(s) of duplicated samples (same coordinates or "
            f"row) lie in different folds of '{column}', so a test sample has its twin in "
            "training",
            path=config.samples.path,
            field="evaluation.fold_column",
            fix="give duplicated samples the same fold id, or drop the duplicates",
        )
    ordered = sorted(unique, key=lambda v: (str(type(v)), v))
    return [(np.flatnonzero(labels != label), np.flatnonzero(labels == label)) for label in ordered]
