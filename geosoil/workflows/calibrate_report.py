"""Figures of a ``geosoil calibrate`` run: RMSE change, parameter recovery, the report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geosoil.errors import InputFileNotFoundError, SampleDataError
from geosoil.io.writers import write_bytes_atomic

__all__ = ["parameter_recovery", "read_site_table", "read_truth", "rmse_changes", "write_report"]


def rmse_changes(table: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    """RMSE per run and its change from the default run, per site and flux.

    Returns
    -------
    dict
        ``{site: {flux: {"rmse_default": .., "rmse_calibrated": .., "change_pct": ..,
        ["rmse_loso": .., "change_loso_pct": ..]}}}``; ``change_pct`` < 0 is a cut.
    """
    out: dict[str, dict[str, dict[str, float]]] = {}
    for (site, flux), group in table.groupby(["site", "flux"], sort=True):
        rmse = dict(zip(group["run"], group["rmse"], strict=True))
        entry = {f"rmse_{run}": round(float(value), 3) for run, value in rmse.items()}
        base = rmse.get("default")
        for run in ("calibrated", "loso"):
            if run in rmse and base:
                key = "change_pct" if run == "calibrated" else "change_loso_pct"
                entry[key] = round(100.0 * (rmse[run] - base) / base, 2)
        out.setdefault(str(site), {})[str(flux)] = entry
    return out


def read_site_table(
    path: Path, *, what: str, field: str, fix_path: str, fix_site: str
) -> pd.DataFrame:
    """A CSV table with one row per site and a ``site`` column (``what`` names it in errors).

    Raises
    ------
    InputFileNotFoundError
        No file at ``path`` (``field`` is the config field that names it; ``fix_path``).
    SampleDataError
        The table has no ``site`` column (``fix_site``).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(f"{what} not found", path=path, field=field, fix=fix_path)
    table = pd.read_csv(path)
    if "site" not in table.columns:
        raise SampleDataError(
            f"the {what} has no 'site' column", path=path, field="site", fix=fix_site
        )
    return table


def read_truth(path: Path) -> pd.DataFrame:
    """A synthetic world's ``truth.csv``: one row per station, ``site`` then parameters."""
    return read_site_table(
        path,
        what="truth table",
        field="evaluation.truth",
        fix_path="point evaluation.truth at the truth.csv of `geosoil synth --flux`, or drop it",
        fix_site="give one row per station with its site id and true parameters",
    )


def parameter_recovery(
    parameters: pd.DataFrame, truth: pd.DataFrame, names: Sequence[str]
) -> dict[str, Any]:
    """Pearson r between recovered and true parameters over stations, per run and parameter.

    A station's recovered value is the mean over its samples (months).
    """
    out: dict[str, Any] = {"n_stations": 0}
    truth = truth.set_index(truth["site"].astype(str))
    for run in ("calibrated", "loso"):
        rows = parameters[parameters["run"] == run]
        if rows.empty:
            continue
        recovered = rows.groupby("station")[list(names)].mean()
        common = [s for s in recovered.index if s in truth.index]
        out["n_stations"] = len(common)
        scores = {}
        for name in names:
            if name not in truth.columns:
                continue
            x = recovered.loc[common, name].to_numpy(dtype=float)
            y = truth.loc[common, name].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(y)
            if ok.sum() < 3 or np.std(x[ok]) == 0 or np.std(y[ok]) == 0:
                scores[name] = None
            else:
                scores[name] = round(float(np.corrcoef(x[ok], y[ok])[0, 1]), 3)
        out[run] = scores
    return out


def write_report(path: Path, summary: dict[str, Any], table: pd.DataFrame) -> None:
    """A short Markdown report: surrogate accuracy, RMSE change, Taylor table, recovery."""
    lines = ["# MdPL calibration", ""]
    lines += [
        f"{summary['n_samples']} samples ({summary['period']}) at "
        f"{len(summary['sites'])} site records; simulator `{summary['simulator']}`.",
        "",
        "## Surrogate against the simulator (held-out parameter sets)",
        "",
        "| flux | RMSE W m-2 | R2 |",
        "|---|---|---|",
    ]
    for flux, metrics in summary["surrogate_accuracy"].get("overall", {}).items():
        lines.append(f"| {flux} | {metrics['rmse_w_m2']:.2f} | {metrics['r2']:.3f} |")
    lines += [
        "",
        "## RMSE, default -> calibrated (W m-2)",
        "",
        "| site | flux | default | calibrated | change % | leave-one-site-out | change % |",
        "|---|---|---|---|---|---|---|",
    ]
    for site, fluxes in summary["rmse_change"].items():
        for flux, e in fluxes.items():
            lines.append(
                f"| {site} | {flux} | {e.get('rmse_default', float('nan')):.1f} | "
                f"{e.get('rmse_calibrated', float('nan')):.1f} | {e.get('change_pct', '')} | "
                f"{e.get('rmse_loso', float('nan')):.1f} | {e.get('change_loso_pct', '')} |"
            )
    lines += ["", "## Taylor statistics", "", _markdown(table), ""]
    if "recovery" in summary:
        lines += ["## Parameter recovery (Pearson r over stations)", ""]
        for run in ("calibrated", "loso"):
            if run in summary["recovery"]:
                scores = ", ".join(f"{k} {v}" for k, v in summary["recovery"][run].items())
                lines.append(f"- {run}: {scores}")
        lines.append("")
    write_bytes_atomic(path, "\n".join(lines).encode())


def _markdown(table: pd.DataFrame) -> str:
    columns = ["site", "flux", "run", "n", "rmse", "correlation", "normalized_sd"]
    columns = [c for c in columns if c in table.columns]
    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns)
    body = [
        "| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in table[columns].itertuples(index=False)
    ]
    return "\n".join([head, *body])
