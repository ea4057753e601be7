"""Evaluation: regression metrics, cross-validation folds and runs, and reports.

The usual flow builds folds (:func:`random_kfold`, :func:`grouped_kfold`,
:func:`spatial_block_kfold`), runs :func:`cross_validate` once per scheme and hands the
results to :func:`write_cv_report`.
"""

from __future__ import annotations

from geosoil.evaluate.crossval import CVResult, cross_validate
from geosoil.evaluate.metrics import (
    DEFAULT_METRICS,
    METRICS,
    bias,
    lccc,
    mae,
    mape,
    r2,
    regression_metrics,
    rmse,
    rpd,
    rpiq,
)
from geosoil.evaluate.report import write_cv_report
from geosoil.evaluate.splits import (
    Folds,
    grouped_kfold,
    random_kfold,
    spatial_block_ids,
    spatial_block_kfold,
)

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "CVResult",
    "Folds",
    "bias",
    "cross_validate",
    "grouped_kfold",
    "lccc",
    "mae",
    "mape",
    "r2",
    "random_kfold",
    "regression_metrics",
    "rmse",
    "rpd",
    "rpiq",
    "spatial_block_ids",
    "spatial_block_kfold",
    "write_cv_report",
]
