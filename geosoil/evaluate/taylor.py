"""Taylor statistics and the Taylor diagram: how closely simulated series follow observations.

Taylor (2001, J. Geophys. Res. 106:7183) summarises a simulation by three numbers that are
tied by the law of cosines: the correlation R, the standard deviation of the simulation
relative to the observations (normalized SD) and the centred RMS difference relative to the
observations' SD (normalized RMSE). MdPL reports calibrated against default land-surface
parameters this way, per site and flux.

Standard deviations are population ones (divided by n, not n - 1), so that
``E'^2 = sd_sim^2 + sd_obs^2 - 2 sd_sim sd_obs R`` holds exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from geosoil.evaluate.report_parts import agg_figure, png_bytes
from geosoil.io.writers import write_bytes_atomic

__all__ = [
    "LABEL_COLUMNS",
    "TAYLOR_STATISTICS",
    "taylor_diagram",
    "taylor_statistics",
    "taylor_table",
]

TAYLOR_STATISTICS: tuple[str, ...] = (
    "n",
    "mean_observed",
    "mean_simulated",
    "sd_observed",
    "sd_simulated",
    "bias",
    "rmse",
    "centred_rmse",
    "correlation",
    "normalized_sd",
    "normalized_rmse",
    "normalized_total_rmse",
)
"""Keys of :func:`taylor_statistics`, in table order."""

LABEL_COLUMNS: tuple[str, ...] = ("site", "flux", "run")
"""Columns of a Taylor table that :func:`taylor_diagram` uses to tell markers apart."""

_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
# correlations labelled on the angular axis, as in Taylor's figures
_CORRELATION_TICKS = (0.0, 0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)
_MAX_SITE_LABELS = 40


def taylor_statistics(observed: ArrayLike, simulated: ArrayLike) -> dict[str, float]:
    """Taylor statistics of one simulated series against observations.

    Parameters
    ----------
    observed, simulated
        Arrays of the same shape (flattened); pairs in which either value is not finite are
        left out.

    Returns
    -------
    dict of str to float
        ``n`` (finite pairs), ``mean_observed``, ``mean_simulated``, ``sd_observed``,
        ``sd_simulated`` (population SDs), ``bias`` (mean of simulated - observed),
        ``rmse``, ``centred_rmse`` (E', the RMS difference after removing each mean),
        ``correlation`` (Pearson R), ``normalized_sd`` (sd_sim / sd_obs),
        ``normalized_rmse`` (E' / sd_obs: the centred RMS difference normalised by the
        observations' SD, the distance to the reference point of the Taylor diagram) and
        ``normalized_total_rmse`` (RMSE / sd_obs, which also counts the bias).
        With fewer than two pairs everything but ``n`` is NaN; with constant observations
        the normalised values and R are NaN (the diagram has no reference point then).

    Raises
    ------
    ValueError
        The arrays differ in size.
    """
    obs = np.asarray(observed, dtype=np.float64).ravel()
    sim = np.asarray(simulated, dtype=np.float64).ravel()
    if obs.shape != sim.shape:
        raise ValueError(
            f"observed has {obs.size} values but simulated has {sim.size}; "
            "pass one simulated value per observation"
        )
    finite = np.isfinite(obs) & np.isfinite(sim)
    obs, sim = obs[finite], sim[finite]
    stats = dict.fromkeys(TAYLOR_STATISTICS, math.nan)
    stats["n"] = int(obs.size)
    if obs.size < 2:
        return stats
    obs_anomaly = obs - obs.mean()
    sim_anomaly = sim - sim.mean()
    sd_obs = float(np.sqrt(np.mean(obs_anomaly**2)))
    sd_sim = float(np.sqrt(np.mean(sim_anomaly**2)))
    stats.update(
        mean_observed=float(obs.mean()),
        mean_simulated=float(sim.mean()),
        sd_observed=sd_obs,
        sd_simulated=sd_sim,
        bias=float(np.mean(sim - obs)),
        rmse=float(np.sqrt(np.mean((sim - obs) ** 2))),
        centred_rmse=float(np.sqrt(np.mean((sim_anomaly - obs_anomaly) ** 2))),
    )
    if sd_obs > 0:
        stats["normalized_sd"] = sd_sim / sd_obs
        stats["normalized_rmse"] = stats["centred_rmse"] / sd_obs
        stats["normalized_total_rmse"] = stats["rmse"] / sd_obs
        if sd_sim > 0:
            r = float(np.mean(obs_anomaly * sim_anomaly)) / (sd_obs * sd_sim)
            # rounding can push |R| a hair past 1, where arccos is undefined
            stats["correlation"] = float(np.clip(r, -1.0, 1.0))
    return stats


def taylor_table(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Taylor statistics of many series, one table row per input row.

    Parameters
    ----------
    rows
        Mappings with ``observed`` and ``simulated`` arrays and any labels, typically
        ``site``, ``flux`` (e.g. ``"h_w_m2"``) and ``run`` (e.g. ``"default"``,
        ``"calibrated"``).

    Returns
    -------
    pandas.DataFrame
        The label columns (in the order they first appear), then :data:`TAYLOR_STATISTICS`.

    Raises
    ------
    ValueError
        A row lacks ``observed`` or ``simulated``, or their sizes differ.
    """
    records = []
    labels: list[str] = []
    for i, row in enumerate(rows):
        missing = [key for key in ("observed", "simulated") if key not in row]
        if missing:
            raise ValueError(f"row {i} has no {missing[0]!r} array; give observed and simulated")
        label = {key: value for key, value in row.items() if key not in ("observed", "simulated")}
        labels += [key for key in label if key not in labels]
        records.append({**label, **taylor_statistics(row["observed"], row["simulated"])})
    table = pd.DataFrame(records, columns=[*labels, *TAYLOR_STATISTICS])
    table["n"] = table["n"].astype(np.int64)
    return table


def taylor_diagram(table: pd.DataFrame, path: str | Path, *, title: str | None = None) -> Path:
    """Draw a Taylor diagram of a :func:`taylor_table` as a PNG.

    Each row is one marker at radius ``normalized_sd`` and angle ``arccos(correlation)``;
    the observations are the reference point at radius 1 on the horizontal axis, and grey
    arcs around it are contours of the normalized centred RMSE. Colours tell the ``run``
    values apart, marker shapes the ``flux`` values; sites are written beside their markers
    (up to 40 markers). The quarter circle grows to a half circle when some R is negative.

    Parameters
    ----------
    table
        Columns ``normalized_sd`` and ``correlation``, and any of ``site``, ``flux``,
        ``run``. Rows with a NaN statistic are left out.
    path
        PNG file to write; written under a temporary name and renamed into place.
    title
        Figure title.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        The table lacks ``normalized_sd`` or ``correlation``, or no row has both finite.
    OutputError
        The file cannot be written.
    """
    missing = [c for c in ("normalized_sd", "correlation") if c not in table.columns]
    if missing:
        raise ValueError(f"the table has no {missing[0]!r} column; make it with taylor_table")
    shown = table[np.isfinite(table["normalized_sd"]) & np.isfinite(table["correlation"])]
    if shown.empty:
        raise ValueError("no row has a finite normalized SD and correlation to draw")
    return write_bytes_atomic(Path(path), _diagram_png(shown, title))


def _diagram_png(table: pd.DataFrame, title: str | None) -> bytes:
    # matplotlib costs a noticeable share of import time; only figures pay for it
    from matplotlib.lines import Line2D

    radius = table["normalized_sd"].to_numpy(dtype=np.float64)
    angle = np.arccos(table["correlation"].to_numpy(dtype=np.float64))
    half = bool((angle > np.pi / 2).any())
    max_angle = np.pi if half else np.pi / 2
    r_max = max(1.5, 1.1 * float(radius.max()))

    figure = agg_figure(figsize=(8.0 if half else 6.5, 5.0 if half else 6.0), layout="constrained")
    ax = figure.add_subplot(projection="polar")
    ax.set_thetamin(0)
    ax.set_thetamax(math.degrees(max_angle))
    ax.set_rlim(0, r_max)
    ticks = [*_CORRELATION_TICKS, *(-r for r in _CORRELATION_TICKS[1:] if half)]
    ax.set_thetagrids(np.degrees(np.arccos(ticks)), labels=[f"{r:g}" for r in ticks])
    ax.text(
        math.radians(90 if half else 45),
        1.2 * r_max,
        "correlation R",
        ha="center",
        va="center",
        rotation=0 if half else -45,
        fontsize=9,
    )
    ax.set_ylabel("normalized standard deviation", labelpad=24)

    # centred RMS contours: distance from the reference point (radius 1, angle 0)
    theta, rho = np.meshgrid(np.linspace(0, max_angle, 181), np.linspace(0, r_max, 121))
    distance = np.sqrt(rho**2 + 1.0 - 2.0 * rho * np.cos(theta))
    contours = ax.contour(
        theta, rho, distance, levels=np.arange(0.25, r_max + 1.0, 0.25), colors="0.65"
    )
    contours.clabel(fmt="%.2g", fontsize=7)
    reference = np.linspace(0, max_angle, 100)
    ax.plot(reference, np.ones_like(reference), color="0.3", linestyle="--", linewidth=0.8)
    ax.plot([0], [1], marker="*", markersize=14, color="black", linestyle="none", clip_on=False)

    runs = _levels(table, "run")
    fluxes = _levels(table, "flux")
    colors = {run: f"C{i % 10}" for i, run in enumerate(runs)}
    markers = {flux: _MARKERS[i % len(_MARKERS)] for i, flux in enumerate(fluxes)}
    label_sites = "site" in table.columns and len(table) <= _MAX_SITE_LABELS
    for (_, row), r, a in zip(table.iterrows(), radius, angle, strict=True):
        run = row.get("run", "") if "run" in table.columns else ""
        flux = row.get("flux", "") if "flux" in table.columns else ""
        ax.plot(
            [a],
            [r],
            marker=markers.get(flux, "o"),
            color=colors.get(run, "C0"),
            markersize=8,
            markeredgecolor="white",
            linestyle="none",
            clip_on=False,
        )
        if label_sites:
            ax.annotate(
                str(row["site"]),
                (a, r),
                xytext=(4, 4),
                textcoords="offset points",
                fontsize=7,
                color="0.25",
            )

    handles = [
        Line2D([], [], marker="*", color="black", markersize=12, linestyle="none", label="observed")
    ]
    for run in runs:
        for flux in fluxes:
            name = " - ".join(str(v) for v in (run, flux) if v != "") or "simulated"
            handles.append(
                Line2D(
                    [],
                    [],
                    marker=markers.get(flux, "o"),
                    color=colors.get(run, "C0"),
                    markersize=8,
                    linestyle="none",
                    label=name,
                )
            )
    ax.legend(handles=handles, loc="upper right", bbox_to_anchor=(1.3, 1.08), fontsize=8)
    if title:
        figure.suptitle(title)
    return png_bytes(figure, dpi=120)


def _levels(table: pd.DataFrame, column: str) -> list[Any]:
    """Distinct values of a label column in order of appearance; [""] when it is absent."""
    if column not in table.columns:
        return [""]
    return list(dict.fromkeys(table[column].tolist()))
