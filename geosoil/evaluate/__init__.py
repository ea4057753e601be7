"""Evaluation: regression metrics, cross-validation folds and runs, and reports.

The usual flow builds folds (:func:`random_kfold`, :func:`grouped_kfold`,
:func:`spatial_block_kfold`), runs :func:`cross_validate` once per scheme and hands the
results to :func:`write_cv_report`.
"""

from __future__ import annotations

from geosoil.evaluate.crossval import CVResult, cross_validate, on_common_rows
from geosoil.evaluate.learning_curve import LearningCurveResult, learning_curve
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
from geosoil.evaluate.profiles import (
    PROFILE_METRICS,
    ProfileCVResult,
    cross_validate_profiles,
    profile_metrics,
)
from geosoil.evaluate.repeated import RepeatedResult, run_repeated
from geosoil.evaluate.repeated_splits import Split, train_valid_test_splits
from geosoil.evaluate.report import write_cv_report
from geosoil.evaluate.spectral_report import write_spectral_report
from geosoil.evaluate.splits import (
    Folds,
    grouped_kfold,
    random_kfold,
    spatial_block_ids,
    spatial_block_kfold,
)
from geosoil.evaluate.tables import PAPER_METRICS, paper_metrics
from geosoil.evaluate.taylor import taylor_diagram, taylor_statistics, taylor_table

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "PAPER_METRICS",
    "PROFILE_METRICS",
    "CVResult",
    "Folds",
    "LearningCurveResult",
    "ProfileCVResult",
    "RepeatedResult",
    "Split",
    "bias",
    "cross_validate",
    "cross_validate_profiles",
    "grouped_kfold",
    "lccc",
    "learning_curve",
    "mae",
    "mape",
    "on_common_rows",
    "paper_metrics",
    "profile_metrics",
    "r2",
    "random_kfold",
    "regression_metrics",
    "rmse",
    "rpd",
    "rpiq",
    "run_repeated",
    "spatial_block_ids",
    "spatial_block_kfold",
    "taylor_diagram",
    "taylor_statistics",
    "taylor_table",
    "train_valid_test_splits",
    "write_cv_report",
    "write_spectral_report",
]
