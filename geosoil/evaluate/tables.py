"""Skill metrics as the Kex paper reports them, and mean +- sd tables over repeated splits.

Albinet et al. (2022) give R2, LCCC, RPD and RPIQ on the log10 scale the model learns on,
and RMSE, MAE, MAPE and bias back-transformed to the target's units, each as the mean and
standard deviation over 20 random splits, overall and per soil-taxonomy order (their
Table 3). :func:`paper_metrics` computes one split's values; :func:`metrics_by_group` and
:func:`mean_sd_table` build the table; :func:`format_mean_sd` renders ``0.79 ± 0.02`` cells.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.errors import SampleDataError
from geosoil.evaluate.metrics import METRICS

__all__ = [
    "LOG_SCALE_METRICS",
    "PAPER_METRICS",
    "UNIT_METRICS",
    "check_group_columns",
    "format_mean_sd",
    "mean_sd_table",
    "metrics_by_group",
    "paper_metrics",
]

log = logging.getLogger(__name__)

PAPER_METRICS: tuple[str, ...] = ("r2", "lccc", "rpd", "rpiq", "rmse", "mae", "mape", "bias")
"""Metric columns of every table, in the paper's order."""

LOG_SCALE_METRICS: frozenset[str] = frozenset({"r2", "lccc", "rpd", "rpiq"})
"""Metrics computed on the transformed (log10) scale when the target is log-transformed."""

UNIT_METRICS: frozenset[str] = frozenset({"rmse", "mae", "bias"})
"""Metrics in the target's units (back-transformed); MAPE is in percent."""

MISSING_GROUP = "(missing)"
"""Label of samples without a value in a group column."""

TABLE_HEAD: tuple[str, ...] = ("by", "group", "n_seeds", "n_test", "few_samples")
"""Leading columns of :func:`mean_sd_table`."""


def paper_metrics(
    observed: ArrayLike, predicted: ArrayLike, *, target_transform: str = "log10"
) -> dict[str, float]:
    """The eight metrics of :data:`PAPER_METRICS` for one test set.

    Parameters
    ----------
    observed, predicted
        Values in the target's units, one per test sample.
    target_transform
        ``"log10"``: R2, LCCC, RPD and RPIQ compare log10 values, RMSE, MAE, MAPE and bias
        the values themselves (as the paper). ``"none"``: every metric on the values.

    Returns
    -------
    dict of str to float
        Metric -> value, NaN for all when fewer than two usable pairs remain (a tiny
        group). Non-positive predictions have no log10: they are left out of the log-scale
        metrics, with a warning, and counted in the back-transformed ones.
    """
    if target_transform not in ("none", "log10"):
        raise ValueError(f"target_transform must be 'none' or 'log10', got {target_transform!r}")
    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    pred = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if obs.shape != pred.shape:
        raise ValueError(f"{obs.size} observations but {pred.size} predictions")
    finite = np.isfinite(obs) & np.isfinite(pred)
    if np.count_nonzero(finite) < 2:
        return dict.fromkeys(PAPER_METRICS, float("nan"))
    obs, pred = obs[finite], pred[finite]
    scaled_obs, scaled_pred = obs, pred
    if target_transform == "log10":
        if np.any(obs <= 0):
            raise SampleDataError(
                f"{int(np.count_nonzero(obs <= 0))} observed value(s) are not positive, "
                "so log10-scale metrics are undefined",
                field="target_transform",
                fix="drop non-positive targets or use target_transform: none",
            )
        positive = pred > 0
        n_bad = int(np.count_nonzero(~positive))
        if n_bad:
            log.warning(
                "%d of %d predictions are not positive; left out of the log10-scale metrics",
                n_bad,
                pred.size,
            )
        scaled_obs = np.log10(obs)
        scaled_pred = np.where(positive, np.log10(np.where(positive, pred, 1.0)), np.nan)
    values = {}
    for name in PAPER_METRICS:
        on_log = target_transform == "log10" and name in LOG_SCALE_METRICS
        a, b = (scaled_obs, scaled_pred) if on_log else (obs, pred)
        usable = np.isfinite(b)
        values[name] = METRICS[name](a[usable], b[usable]) if usable.sum() >= 2 else float("nan")
    return values


def check_group_columns(
    columns: Iterable[str],
    available: Iterable[str],
    *,
    source: str | Path | None = None,
    field: str = "group_columns",
) -> list[str]:
    """Refuse group columns that the sample table does not have.

    Raises
    ------
    SampleDataError
        Naming the missing column and listing the available ones.
    """
    available = [str(column) for column in available]
    wanted = list(columns)
    for column in wanted:
        if column not in available:
            raise SampleDataError(
                f"group column '{column}' is not in the sample table",
                path=source,
                field=field,
                fix=f"use one of the available columns: {', '.join(available) or '(none)'}",
            )
    return wanted


def metrics_by_group(
    predictions: pd.DataFrame, by: str, *, target_transform: str = "log10"
) -> pd.DataFrame:
    """Metrics per split seed and per value of a group column.

    Parameters
    ----------
    predictions
        Test predictions with columns ``seed``, ``observed``, ``predicted`` and ``by``.
    by
        The group column (soil order, country, site, ...). Samples without a value form
        the group :data:`MISSING_GROUP`.
    target_transform
        Scale of the metrics, see :func:`paper_metrics`.

    Returns
    -------
    DataFrame
        Columns ``seed``, ``group``, ``n_test`` and one per metric; a group with fewer than
        two test samples in a seed has NaN metrics for that seed.
    """
    labels = predictions[by].astype(object).where(predictions[by].notna(), MISSING_GROUP)
    rows = []
    for (seed, group), part in predictions.groupby([predictions["seed"], labels], sort=True):
        rows.append(
            {
                "seed": seed,
                "group": group,
                "n_test": len(part),
                **paper_metrics(
                    part["observed"], part["predicted"], target_transform=target_transform
                ),
            }
        )
    return pd.DataFrame(rows, columns=["seed", "group", "n_test", *PAPER_METRICS])


def mean_sd_table(
    per_seed: pd.DataFrame,
    *,
    by: str = "all",
    min_test_samples: int = 10,
    metric_names: Sequence[str] = PAPER_METRICS,
) -> pd.DataFrame:
    """Mean and sd over seeds of each metric, one row per group.

    Parameters
    ----------
    per_seed
        One row per seed (and per group, with a ``group`` column): ``seed``, ``n_test`` and
        the metric columns, as from :func:`metrics_by_group`. Without a ``group`` column
        every row belongs to the group ``"all"``.
    by
        Name written in the ``by`` column (the group column, or ``"all"``).
    min_test_samples
        Groups averaging fewer test samples per seed are flagged ``few_samples``: their
        metrics rest on a handful of points.
    metric_names
        Metric columns to summarize.

    Returns
    -------
    DataFrame
        Columns :data:`TABLE_HEAD` (``n_seeds``: seeds in which the group was tested;
        ``n_test``: mean test samples per such seed), then ``<metric>_mean`` and
        ``<metric>_sd`` (sample sd, ddof=1, over seeds with a value) per metric. Rows are
        sorted by group label.
    """
    table = per_seed if "group" in per_seed else per_seed.assign(group="all")
    rows = []
    for group, part in table.groupby("group", sort=False):
        row: dict[str, object] = {
            "by": by,
            "group": group,
            "n_seeds": int(part["seed"].nunique()),
            "n_test": float(part["n_test"].mean()),
        }
        row["few_samples"] = bool(row["n_test"] < min_test_samples)
        for name in metric_names:
            values = part[name].astype(float)
            row[f"{name}_mean"] = float(values.mean()) if values.notna().any() else float("nan")
            row[f"{name}_sd"] = float(values.std(ddof=1)) if values.notna().sum() > 1 else np.nan
        rows.append(row)
    columns = [*TABLE_HEAD, *(f"{name}_{stat}" for name in metric_names for stat in ("mean", "sd"))]
    out = pd.DataFrame(rows, columns=columns)
    order = np.argsort(out["group"].astype(str).to_numpy(), kind="stable")
    return out.iloc[order].reset_index(drop=True)


def format_mean_sd(
    table: pd.DataFrame, *, metric_names: Sequence[str] = PAPER_METRICS, digits: int = 3
) -> pd.DataFrame:
    """Cells ``mean ± sd`` for display (markdown, the terminal), like the paper's Table 3.

    Parameters
    ----------
    table
        A :func:`mean_sd_table` result (any extra leading columns are kept).
    metric_names
        Metrics to render, each from its ``_mean`` and ``_sd`` columns.
    digits
        Significant digits of each number.

    Returns
    -------
    DataFrame
        The non-metric columns unchanged, then one text column per metric. A missing value
        reads ``n/a``; a missing sd (one seed) is left out.
    """

    def cell(mean: float, sd: float) -> str:
        if not np.isfinite(mean):
            return "n/a"
        text = f"{mean:.{digits}g}"
        return f"{text} ± {sd:.{digits}g}" if np.isfinite(sd) else text

    keep = [c for c in table.columns if not c.endswith(("_mean", "_sd"))]
    out = table[keep].copy()
    for name in metric_names:
        out[name] = [
            cell(float(m), float(s))
            for m, s in zip(table[f"{name}_mean"], table[f"{name}_sd"], strict=True)
        ]
    return out
