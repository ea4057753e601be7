"""Cross-validation report: metric and prediction tables, a figure and a markdown summary.

Files are rendered in memory and each is written under a temporary name in the output folder
and renamed into place, so a reader never sees a half-written file. Figures use
``matplotlib.figure.Figure`` with the Agg canvas, never pyplot, so reports can be made from
several threads and without a display.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.evaluate.crossval import CVResult
from geosoil.evaluate.report_parts import (
    agg_figure,
    check_report_folder,
    escape_cell,
    metrics_box,
    png_bytes,
)
from geosoil.evaluate.trust_report import trust_markdown
from geosoil.io.writers import write_bytes_atomic

__all__ = ["REPORT_FILES", "write_cv_report"]

log = logging.getLogger(__name__)

REPORT_FILES: dict[str, str] = {
    "metrics": "cv_metrics.csv",
    "predictions": "cv_predictions.csv",
    "figure": "observed_vs_predicted.png",
    "report": "report.md",
    "residual_map": "cv_residuals.png",
    "trust": "trust.json",
}
"""Key of the returned mapping -> file name in the output folder."""

# label, and whether the value is in the target's units (the rest are unitless)
_METRIC_LABELS: dict[str, tuple[str, bool]] = {
    "r2": ("R²", False),
    "rmse": ("RMSE", True),
    "mae": ("MAE", True),
    "bias": ("Bias", True),
    "lccc": ("LCCC", False),
    "mape": ("MAPE (%)", False),
    "rpd": ("RPD", False),
    "rpiq": ("RPIQ", False),
}
_FIGURE_METRICS: tuple[str, ...] = ("r2", "rmse", "lccc", "bias")
_SUMMARY_ROWS: tuple[str, ...] = ("mean", "sd", "pooled")


def write_cv_report(
    results: Mapping[str, CVResult],
    out_dir: Path,
    *,
    target: str,
    units: str,
    title: str = "Cross-validation report",
    samples: pd.DataFrame | None = None,
    extra_sections: str = "",
    trust: Mapping[str, Mapping] | None = None,
) -> dict[str, Path]:
    """Write tables, a figure and a markdown report for one or more CV schemes.

    Parameters
    ----------
    results
        Scheme name (e.g. ``"random"``, ``"spatial_block"``) -> its :class:`CVResult`, in the
        order wanted in the report.
    out_dir
        Existing folder to write into; files of the same names are replaced.
    target
        Name of the predicted property, for axis labels and headings (e.g. ``"SOC"``).
    units
        Units of the target (e.g. ``"g/kg"``); RMSE, MAE and bias carry them.
    title
        Heading of the markdown report and of the figure.
    samples
        Optional ``sample_id``, ``x``, ``y`` per row of the data (in row order): copied into
        ``cv_predictions.csv`` and used for a map of the out-of-fold residuals
        (``cv_residuals.png``).
    extra_sections
        Markdown appended to the report (e.g. a table of candidate models).
    trust
        Scheme -> :func:`geosoil.trust.fitting.interval_report`: adds a section on interval
        coverage, the area of applicability and the back-transform, and ``trust.json``.

    Returns
    -------
    dict of str to Path
        ``"metrics"``, ``"predictions"``, ``"figure"`` and ``"report"`` -> the written files
        (see :data:`REPORT_FILES`).

    Raises
    ------
    ValueError
        If ``results`` is empty.
    OutputError
        If ``out_dir`` is not an existing folder or a file cannot be written.

    Notes
    -----
    ``cv_metrics.csv`` has columns ``scheme, fold, n_train, n_test`` and one per metric;
    after the fold rows of each scheme come rows with ``fold`` = ``mean``, ``sd`` (over
    folds, ddof=1) and ``pooled`` (all out-of-fold predictions at once; its ``n_test`` is
    the number of predictions). ``cv_predictions.csv`` has columns
    ``scheme, row, fold, observed, predicted``.
    """
    if not results:
        raise ValueError("results is empty; pass at least one scheme name -> CVResult")
    out_dir = check_report_folder(out_dir)
    summaries = {scheme: result.summary() for scheme, result in results.items()}
    contents = {
        "metrics": _metrics_table(results, summaries).to_csv(index=False).encode(),
        "predictions": _predictions_table(results, samples).to_csv(index=False).encode(),
        "figure": _figure_png(results, summaries, target=target, units=units, title=title),
    }
    if samples is not None:
        contents["residual_map"] = _residual_map_png(results, samples, units=units, title=title)
    markdown = _markdown(
        results, summaries, target=target, units=units, title=title, residuals=samples is not None
    )
    contents["report"] = (markdown + extra_sections).encode()
    if trust:
        contents["report"] += ("\n" + trust_markdown(trust, units=units)).encode()
        contents["trust"] = (json.dumps(trust, indent=2) + "\n").encode()
    paths = {}
    for key, data in contents.items():
        paths[key] = write_bytes_atomic(out_dir / REPORT_FILES[key], data)
        log.debug("wrote %s", paths[key])
    return paths


def _metric_columns(results: Mapping[str, CVResult]) -> list[str]:
    """Union of the metrics of every scheme, in order of first appearance."""
    return list(dict.fromkeys(name for r in results.values() for name in r.metric_names))


def _metrics_table(
    results: Mapping[str, CVResult], summaries: Mapping[str, dict[str, dict[str, float]]]
) -> pd.DataFrame:
    metric_columns = _metric_columns(results)
    parts = []
    for scheme, result in results.items():
        per_fold = result.per_fold.copy()
        per_fold["fold"] = per_fold["fold"].astype(str)
        summary_rows = pd.DataFrame(
            [{"fold": stat, **summaries[scheme][stat]} for stat in _SUMMARY_ROWS]
        )
        # counts of a mean or sd row would read as sample sizes; only pooled has one
        summary_rows["n_test"] = [np.nan, np.nan, len(result.predictions)]
        table = pd.concat([per_fold, summary_rows], ignore_index=True)
        table.insert(0, "scheme", scheme)
        parts.append(table)
    columns = ["scheme", "fold", "n_train", "n_test", *metric_columns]
    table = pd.concat(parts, ignore_index=True).reindex(columns=columns)
    return table.astype({"n_train": "Int64", "n_test": "Int64"})


def _predictions_table(
    results: Mapping[str, CVResult], samples: pd.DataFrame | None = None
) -> pd.DataFrame:
    parts = []
    for scheme, result in results.items():
        columns = ["row", "fold", "observed", "predicted"]
        columns += [c for c in ("lower_90", "upper_90") if c in result.predictions.columns]
        part = result.predictions[columns].copy()
        if samples is not None:
            located = samples.iloc[part["row"].to_numpy()].reset_index(drop=True)
            part = pd.concat([located, part.reset_index(drop=True)], axis=1)
        part.insert(0, "scheme", scheme)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _residual_map_png(
    results: Mapping[str, CVResult], samples: pd.DataFrame, *, units: str, title: str
) -> bytes:
    """Out-of-fold residuals (observed - predicted) at the sample locations, per scheme."""

    n_panels = len(results)
    figure = agg_figure(figsize=(4.4 * n_panels, 4.4), layout="constrained")
    axes = figure.subplots(1, n_panels, squeeze=False)[0]
    residuals = {
        scheme: (r.predictions["observed"] - r.predictions["predicted"]).to_numpy(dtype=float)
        for scheme, r in results.items()
    }
    finite = np.concatenate([v[np.isfinite(v)] for v in residuals.values()])
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    for ax, (scheme, result) in zip(axes, results.items(), strict=True):
        rows = result.predictions["row"].to_numpy()
        points = ax.scatter(
            samples["x"].to_numpy()[rows],
            samples["y"].to_numpy()[rows],
            c=residuals[scheme],
            cmap="RdBu",
            vmin=-limit,
            vmax=limit,
            s=16,
            edgecolors="0.4",
            linewidths=0.3,
        )
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"{scheme}: observed - predicted")
        ax.tick_params(labelsize=7)
    figure.colorbar(points, ax=list(axes), label=f"residual ({units})" if units else "residual")
    figure.suptitle(title)
    return png_bytes(figure, dpi=120)


def _per_fold_lines(result: CVResult, units: str) -> list[str]:
    """A markdown table with one row per fold: its size and its metrics."""
    names = list(result.metric_names)
    header = ["Fold", "n test", *(escape_cell(_metric_label(n, units)) for n in names)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in result.per_fold.itertuples(index=False):
        values = [str(row.fold), str(row.n_test), *(_format(getattr(row, n)) for n in names)]
        lines.append("| " + " | ".join(values) + " |")
    return lines


def _metric_label(name: str, units: str) -> str:
    label, has_units = _METRIC_LABELS.get(name, (name, False))
    return f"{label} ({units})" if has_units and units else label


def _format(value: float) -> str:
    return "n/a" if not np.isfinite(value) else f"{value:.3g}"


def _figure_png(
    results: Mapping[str, CVResult],
    summaries: Mapping[str, dict[str, dict[str, float]]],
    *,
    target: str,
    units: str,
    title: str,
) -> bytes:
    # matplotlib costs a noticeable share of import time; only reports pay for it

    n_panels = len(results)
    figure = agg_figure(figsize=(4.2 * n_panels, 4.6), layout="constrained")
    axes = figure.subplots(1, n_panels, squeeze=False)[0]
    unit_suffix = f" ({units})" if units else ""
    for ax, (scheme, result) in zip(axes, results.items(), strict=True):
        observed = result.predictions["observed"].to_numpy(dtype=float)
        predicted = result.predictions["predicted"].to_numpy(dtype=float)
        finite = np.isfinite(observed) & np.isfinite(predicted)
        observed, predicted = observed[finite], predicted[finite]
        # fainter points for large samples so that dense clouds still show their shape
        alpha = float(np.clip(30.0 / np.sqrt(max(observed.size, 1)), 0.15, 0.8))
        ax.scatter(observed, predicted, s=12, alpha=alpha, edgecolors="none", color="C0")
        low, high = _limits(observed, predicted)
        ax.plot([low, high], [low, high], color="0.3", linestyle="--", linewidth=1, label="1:1")
        ax.set_xlim(low, high)
        ax.set_ylim(low, high)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlabel(f"Observed {target}{unit_suffix}")
        ax.set_ylabel(f"Predicted {target}{unit_suffix}")
        ax.set_title(f"{scheme} ({result.n_splits} folds, n = {observed.size})")
        pooled = summaries[scheme]["pooled"]
        lines = [
            f"{_metric_label(name, units)} = {_format(pooled[name])}"
            for name in _FIGURE_METRICS
            if name in pooled
        ]
        metrics_box(ax, "pooled", lines)
        ax.legend(loc="lower right", fontsize=8, frameon=False)
    figure.suptitle(title)
    return png_bytes(figure, dpi=150)


def _limits(observed: np.ndarray, predicted: np.ndarray) -> tuple[float, float]:
    """Common axis range for both axes, padded by 5 %, so the 1:1 line is the diagonal."""
    values = np.concatenate([observed, predicted])
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    pad = 0.05 * (high - low) if high > low else max(abs(low) * 0.05, 0.5)
    return low - pad, high + pad


def _markdown(
    results: Mapping[str, CVResult],
    summaries: Mapping[str, dict[str, dict[str, float]]],
    *,
    target: str,
    units: str,
    title: str,
    residuals: bool = False,
) -> str:
    lines = [f"# {title}", ""]
    lines.append(
        f"Target: **{target}**" + (f" ({units})" if units else "") + ". "
        "Mean ± sd are over folds (sd with ddof=1); pooled metrics use all out-of-fold "
        "predictions at once."
    )
    lines.append("")
    for scheme, result in results.items():
        summary = summaries[scheme]
        lines += [
            f"## {escape_cell(scheme)}",
            "",
            f"{result.n_splits} folds, {len(result.predictions)} out-of-fold predictions.",
            "",
            "| Metric | Mean ± sd over folds | Pooled |",
            "|---|---|---|",
        ]
        for name in result.metric_names:
            mean = _format(summary["mean"][name])
            sd = _format(summary["sd"][name])
            lines.append(
                f"| {escape_cell(_metric_label(name, units))} | {mean} ± {sd} "
                f"| {_format(summary['pooled'][name])} |"
            )
        lines += ["", *_per_fold_lines(result, units), ""]
    lines += [
        "## Observed vs predicted",
        "",
        f"![Observed vs predicted {target}]({REPORT_FILES['figure']})",
        "",
    ]
    if residuals:
        lines += [
            "## Where the out-of-fold residuals lie",
            "",
            f"![CV residuals]({REPORT_FILES['residual_map']})",
            "",
        ]
    lines += [
        f"Tables: [{REPORT_FILES['metrics']}]({REPORT_FILES['metrics']}), "
        f"[{REPORT_FILES['predictions']}]({REPORT_FILES['predictions']}).",
        "",
    ]
    return "\n".join(lines)
