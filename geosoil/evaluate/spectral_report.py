"""Report of a spectral model comparison: metric tables, figures and a short markdown page.

Every file is rendered in memory and written under a temporary name, then renamed into
place (:func:`geosoil.io.writers.write_bytes_atomic`); the workflow writes the whole folder
through a staging folder as well. Figures use the Agg canvas, never pyplot.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.evaluate.learning_curve import LearningCurveResult, learning_curve_figure
from geosoil.evaluate.repeated import RepeatedResult
from geosoil.evaluate.report_parts import (
    agg_figure,
    check_report_folder,
    escape_cell,
    metrics_box,
    png_bytes,
)
from geosoil.evaluate.tables import (
    LOG_SCALE_METRICS,
    PAPER_METRICS,
    UNIT_METRICS,
    format_mean_sd,
)
from geosoil.io.writers import write_bytes_atomic

__all__ = [
    "REPORT_FILES",
    "comparison_table",
    "observed_vs_predicted_figure",
    "write_spectral_report",
]

log = logging.getLogger(__name__)

REPORT_FILES: dict[str, str] = {
    "metrics": "metrics.csv",
    "metrics_per_seed": "metrics_per_seed.csv",
    "predictions": "predictions.csv",
    "learning_curve": "learning_curve.png",
    "learning_curve_points": "learning_curve.csv",
    "report": "report.md",
}
"""Key of the returned mapping -> file name; figures per model are
``observed_vs_predicted_<model>.png`` under the key ``figure_<model>``."""

_LABELS = {
    "r2": "R²",
    "lccc": "LCCC",
    "rpd": "RPD",
    "rpiq": "RPIQ",
    "rmse": "RMSE",
    "mae": "MAE",
    "mape": "MAPE (%)",
    "bias": "Bias",
}
_FIGURE_METRICS = ("r2", "lccc", "rmse", "mape")


def comparison_table(
    results: Mapping[str, RepeatedResult],
    *,
    group_columns: Sequence[str] = (),
    min_test_samples: int = 10,
) -> pd.DataFrame:
    """Mean and sd of every metric per model: overall rows, then per value of each group column.

    Returns
    -------
    DataFrame
        Column ``model``, then the columns of
        :func:`~geosoil.evaluate.tables.mean_sd_table` (``by`` is ``"all"`` on overall rows).
    """
    parts = []
    for by in (None, *group_columns):
        for name, result in results.items():
            table = result.table(by, min_test_samples=min_test_samples)
            table.insert(0, "model", name)
            parts.append(table)
    return pd.concat(parts, ignore_index=True)


def write_spectral_report(
    results: Mapping[str, RepeatedResult],
    out_dir: str | Path,
    *,
    target: str,
    units: str = "",
    group_columns: Sequence[str] = (),
    min_test_samples: int = 10,
    learning_curve: LearningCurveResult | None = None,
    sample_ids: Sequence | None = None,
    data_note: str = "",
    split_note: str = "",
    title: str = "Spectral model evaluation",
) -> dict[str, Path]:
    """Write metric tables, predictions, figures and ``report.md`` for several models.

    Parameters
    ----------
    results
        Model name -> its :class:`~geosoil.evaluate.repeated.RepeatedResult`, in report order.
    out_dir
        Existing folder to write into.
    target, units
        Name and units of the target, for labels.
    group_columns
        Group columns of the results to tabulate (each result must hold them).
    min_test_samples
        Groups with fewer test samples per seed are flagged in the tables.
    learning_curve
        Optional learning curve: its figure and points are written too.
    sample_ids
        Optional id per sample (by row), added to ``predictions.csv`` as ``sample_id``.
    data_note, split_note
        One-line descriptions of the data and of the splits for the report.
    title
        Heading of the report.

    Returns
    -------
    dict of str to Path
        Keys of :data:`REPORT_FILES` that were written, plus ``figure_<model>`` per model.

    Raises
    ------
    ValueError
        ``results`` is empty.
    OutputError
        ``out_dir`` is not an existing folder, or a file cannot be written.
    """
    if not results:
        raise ValueError("results is empty; pass at least one model name -> RepeatedResult")
    out_dir = check_report_folder(out_dir)
    table = comparison_table(
        results, group_columns=group_columns, min_test_samples=min_test_samples
    )
    transform = next(iter(results.values())).target_transform
    contents: dict[str, bytes] = {
        "metrics": table.to_csv(index=False).encode(),
        "metrics_per_seed": _per_seed_table(results).to_csv(index=False).encode(),
        "predictions": _predictions_table(results, sample_ids).to_csv(index=False).encode(),
    }
    names = dict(REPORT_FILES)
    for model, result in results.items():
        key = f"figure_{model}"
        names[key] = f"observed_vs_predicted_{model}.png"
        contents[key] = observed_vs_predicted_figure(
            result, model=model, target=target, units=units
        )
    if learning_curve is not None:
        contents["learning_curve"] = learning_curve_figure(
            learning_curve, title=f"{target} learning curve"
        )
        contents["learning_curve_points"] = learning_curve.points.to_csv(index=False).encode()
    contents["report"] = _markdown(
        results,
        table,
        target=target,
        units=units,
        transform=transform,
        group_columns=group_columns,
        learning_curve=learning_curve,
        data_note=data_note,
        split_note=split_note,
        title=title,
        min_test_samples=min_test_samples,
    ).encode()
    paths = {}
    for key, data in contents.items():
        paths[key] = write_bytes_atomic(out_dir / names[key], data)
        log.debug("wrote %s", paths[key])
    return paths


def _per_seed_table(results: Mapping[str, RepeatedResult]) -> pd.DataFrame:
    parts = [result.per_seed.assign(model=name) for name, result in results.items()]
    table = pd.concat(parts, ignore_index=True)
    return table[["model", *[c for c in table.columns if c != "model"]]]


def _predictions_table(results: Mapping[str, RepeatedResult], sample_ids) -> pd.DataFrame:
    parts = []
    for name, result in results.items():
        part = result.predictions.copy()
        if sample_ids is not None:
            part.insert(2, "sample_id", np.asarray(sample_ids, dtype=object)[part["row"]])
        part.insert(0, "model", name)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def _label(name: str, units: str, transform: str) -> str:
    label = _LABELS.get(name, name)
    if name in UNIT_METRICS and units:
        label += f" ({units})"
    if transform == "log10" and name in LOG_SCALE_METRICS:
        label += " [log10]"
    return label


def observed_vs_predicted_figure(
    result: RepeatedResult, *, model: str, target: str, units: str = ""
) -> bytes:
    """PNG of every seed's test predictions against the observations, with the 1:1 line.

    Log axes when the metrics are on the log10 scale (and every value is positive). The
    box gives mean +- sd over seeds of R2, LCCC, RMSE and MAPE.

    Returns
    -------
    bytes
        The PNG file's content.
    """

    observed = result.predictions["observed"].to_numpy(dtype=float)
    predicted = result.predictions["predicted"].to_numpy(dtype=float)
    finite = np.isfinite(observed) & np.isfinite(predicted)
    observed, predicted = observed[finite], predicted[finite]
    log_axes = result.target_transform == "log10" and bool(
        np.all(observed > 0) and np.all(predicted > 0)
    )
    figure = agg_figure(figsize=(5.0, 5.0), layout="constrained")
    ax = figure.subplots()
    alpha = float(np.clip(30.0 / np.sqrt(max(observed.size, 1)), 0.1, 0.8))
    ax.scatter(observed, predicted, s=10, alpha=alpha, edgecolors="none", color="C0")
    low, high = _limits(np.concatenate([observed, predicted]), log_axes=log_axes)
    ax.plot([low, high], [low, high], color="0.3", linestyle="--", linewidth=1, label="1:1")
    if log_axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_aspect("equal", adjustable="box")
    suffix = f" ({units})" if units else ""
    ax.set_xlabel(f"Observed {target}{suffix}")
    ax.set_ylabel(f"Predicted {target}{suffix}")
    ax.set_title(f"{model}: test sets of {result.n_seeds} splits (n = {observed.size})")
    row = result.table().iloc[0]
    lines = [
        f"{_label(name, units, result.target_transform)} = "
        + format_mean_sd(result.table(), metric_names=[name]).iloc[0][name]
        for name in _FIGURE_METRICS
        if np.isfinite(row[f"{name}_mean"])
    ]
    metrics_box(ax, "mean ± sd over splits", lines)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    return png_bytes(figure, dpi=150)


def _limits(values: np.ndarray, *, log_axes: bool) -> tuple[float, float]:
    """Common range of both axes, padded, so the 1:1 line is the diagonal."""
    if values.size == 0:
        return (0.1, 1.0) if log_axes else (0.0, 1.0)
    low, high = float(values.min()), float(values.max())
    if log_axes:
        return low / 1.2, high * 1.2
    pad = 0.05 * (high - low) if high > low else max(abs(low) * 0.05, 0.5)
    return low - pad, high + pad


def _markdown(
    results: Mapping[str, RepeatedResult],
    table: pd.DataFrame,
    *,
    target: str,
    units: str,
    transform: str,
    group_columns: Sequence[str],
    learning_curve: LearningCurveResult | None,
    data_note: str,
    split_note: str,
    title: str,
    min_test_samples: int,
) -> str:
    target_label = f"**{target}**" + (f" ({units})" if units else "")
    scale = (
        "R², LCCC, RPD and RPIQ on the log10 scale the models learn on; RMSE, MAE and bias "
        "back-transformed to the target's units, MAPE in percent (as Albinet et al. 2022)"
        if transform == "log10"
        else "every metric on the target's own scale"
    )
    lines = [f"# {title}", "", f"Target: {target_label}."]
    if data_note:
        lines += ["", f"Data: {data_note}"]
    if split_note:
        lines += ["", f"Splits: {split_note}"]
    lines += [
        "",
        f"Metrics: {scale}. Mean ± sd over the splits' test sets (sd with ddof=1).",
        "",
        "## Overall",
        "",
    ]
    overall = table[table["by"] == "all"]
    lines += _markdown_table(overall, first=["model"])
    pooled = pd.DataFrame(
        [
            {"model": name, "n": len(result.predictions), **result.pooled()}
            for name, result in results.items()
        ]
    )
    lines += [
        "",
        "Pooled: every metric over all test predictions at once (with predefined folds or a "
        "holdout, each sample predicted once).",
        "",
        "| model | n | " + " | ".join(_label(m, units, transform) for m in PAPER_METRICS) + " |",
        "|" + "---|" * (len(PAPER_METRICS) + 2),
        *[
            f"| {escape_cell(row['model'])} | {row['n']} | "
            + " | ".join(f"{row[m]:.3g}" for m in PAPER_METRICS)
            + " |"
            for _, row in pooled.iterrows()
        ],
    ]
    fit_lines = [
        f"- {escape_cell(name)}: {result.per_seed['fit_seconds'].mean():.1f} s per fit "
        f"({result.n_seeds} splits)"
        for name, result in results.items()
    ]
    lines += ["", "Fit time (wall clock):", "", *fit_lines, ""]
    for by in group_columns:
        lines += [
            f"## Per {escape_cell(by)}",
            "",
            f"Groups averaging fewer than {min_test_samples} test samples per split are marked "
            "with * (their metrics rest on few points).",
            "",
        ]
        part = table[table["by"] == by].copy()
        part["group"] = [
            f"{group}*" if few else str(group)
            for group, few in zip(part["group"], part["few_samples"], strict=True)
        ]
        lines += _markdown_table(part, first=["model", "group"])
        lines.append("")
    lines += _trust_lines(results)
    lines += ["## Observed vs predicted", ""]
    for name in results:
        lines += [f"![{escape_cell(name)}](observed_vs_predicted_{name}.png)", ""]
    if learning_curve is not None:
        lines += [
            "## Learning curve",
            "",
            f"Test R² on one fixed test set of {learning_curve.n_test} samples against the "
            "number of training spectra.",
            "",
            f"![learning curve]({REPORT_FILES['learning_curve']})",
            "",
            f"Points: [{REPORT_FILES['learning_curve_points']}]"
            f"({REPORT_FILES['learning_curve_points']}).",
            "",
        ]
    lines += [
        "Tables: "
        + ", ".join(
            f"[{REPORT_FILES[key]}]({REPORT_FILES[key]})"
            for key in ("metrics", "metrics_per_seed", "predictions")
        )
        + ".",
        "",
    ]
    return "\n".join(lines)


def _trust_lines(results: Mapping[str, RepeatedResult]) -> list[str]:
    """PICP and mean width of the split-conformal 90 % interval, and the error in and out of
    the training spectra's domain (PCA T2 and Q at 0.99), per model."""
    lines = [
        "## Prediction intervals and spectral domain",
        "",
        "Split-conformal 90 % intervals calibrated on each split's validation spectra; "
        "in domain: T2 and Q of a PCA of the split's training spectra within their 0.99 "
        "limits (columns t2, q, in_domain, lo_90, hi_90 of the predictions table).",
        "",
        "| Model | PICP (90 %) | Mean width | Share in domain | RMSE in domain | RMSE out |",
        "|---|---|---|---|---|---|",
    ]
    for name, result in results.items():
        table = result.predictions
        if "lo_90" not in table:
            continue
        observed, predicted = table["observed"].to_numpy(), table["predicted"].to_numpy()
        low, high = table["lo_90"].to_numpy(), table["hi_90"].to_numpy()
        has = np.isfinite(low) & np.isfinite(high)
        picp = (
            np.mean((observed[has] >= low[has]) & (observed[has] <= high[has]))
            if has.any()
            else np.nan
        )
        inside = table["in_domain"].to_numpy() == 1

        error = observed - predicted
        rmse_in = np.sqrt(np.mean(error[inside] ** 2)) if inside.any() else np.nan
        rmse_out = np.sqrt(np.mean(error[~inside] ** 2)) if (~inside).any() else np.nan
        lines.append(
            f"| {escape_cell(name)} | {picp if has.any() else np.nan:.3f} "
            f"| {np.mean(high[has] - low[has]) if has.any() else np.nan:.4g} "
            f"| {inside.mean():.3f} | {rmse_in:.4g} | {rmse_out:.4g} |"
        )
    return [*lines, ""]


def _markdown_table(table: pd.DataFrame, *, first: list[str]) -> list[str]:
    cells = format_mean_sd(table)
    header = [*first, "n test", *(_LABELS[name] for name in PAPER_METRICS)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in cells.iterrows():
        values = [escape_cell(str(row[c])) for c in first]
        values.append(f"{row['n_test']:.0f}")
        values += [row[name] for name in PAPER_METRICS]
        lines.append("| " + " | ".join(values) + " |")
    return lines
