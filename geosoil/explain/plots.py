"""Figures of wavelength attributions: one panel per group, over the group's mean spectrum.

Each panel shows the mean absolute attribution per band (with a band of +- one standard
deviation across seeds when there are several), the signed mean as a thin line, the group's
mean spectrum in grey on a secondary axis, and the known absorption bands of
:mod:`geosoil.explain.bands` that fall inside the axis range, labelled along the top.
Mid-infrared panels run from high to low wavenumber, as spectroscopists draw them.

Figures use ``matplotlib.figure.Figure`` with the Agg canvas (never pyplot) and are written
atomically.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from geosoil.evaluate.report_parts import agg_figure, png_bytes
from geosoil.explain.bands import AbsorptionBand, bands_in_range
from geosoil.io.writers import write_bytes_atomic

__all__ = [
    "attribution_figure_png",
    "comparison_figure_png",
    "write_attribution_figure",
    "write_comparison_figure",
]

_TABLE_COLUMNS = ("band", "group", "mean_abs", "signed_mean", "sd_over_seeds")
_ATTRIBUTION_COLOR = "C3"
_SIGNED_COLOR = "C0"
# Shares of the x range: a label repeated closer than the first is drawn once; different
# labels closer than the second share a tick, so that crowded regions stay readable.
_SAME_LABEL_SPACING = 0.025
_LABEL_SPACING = 0.012


def attribution_figure_png(
    table: pd.DataFrame,
    *,
    axis_unit: str,
    mean_spectra: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    value_label: str = "attribution",
    spectrum_label: str = "mean spectrum",
    title: str | None = None,
    dpi: int = 130,
) -> bytes:
    """Render the attribution panels as PNG bytes.

    Parameters
    ----------
    table
        Aggregated attributions with columns ``band``, ``group``, ``mean_abs``,
        ``signed_mean`` and ``sd_over_seeds`` (as written by ``geosoil explain``); one panel
        per group, in order of first appearance.
    axis_unit
        ``"cm-1"`` or ``"nm"``: the unit of ``band``, used for the x label, the direction
        and the known absorption bands.
    mean_spectra
        Per group, ``(positions, values)`` of the mean spectrum drawn in grey; groups
        without an entry get no spectrum.
    value_label
        Unit text of the attributions, e.g. ``"log10 EXKM3S"``.
    spectrum_label
        Label of the secondary axis (e.g. ``"mean absorbance"``).
    title
        Figure title.
    dpi
        Resolution of the PNG.
    """
    # matplotlib costs a noticeable share of import time; only figures pay for it

    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"attribution table lacks columns {missing}")
    groups = list(dict.fromkeys(table["group"].astype(str)))
    if not groups:
        raise ValueError("attribution table is empty")
    mean_spectra = dict(mean_spectra or {})

    figure = agg_figure(figsize=(11.0, 1.2 + 2.7 * len(groups)), layout="constrained")
    axes = figure.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    span = _x_span(table, mean_spectra)
    marks = bands_in_range(span, axis_unit)
    for index, (ax, group) in enumerate(zip(axes, groups, strict=True)):
        rows = table[table["group"].astype(str) == group]
        _draw_panel(
            ax,
            rows,
            title=group,
            marks=marks,
            labelled=index == 0,
            spectrum=mean_spectra.get(group),
            value_label=value_label,
            spectrum_label=spectrum_label,
        )
    return _finished_png(figure, axes[0], [axes[-1]], span, axis_unit, title=title, dpi=dpi)


def comparison_figure_png(
    tables: Mapping[str, pd.DataFrame],
    *,
    axis_unit: str,
    mean_spectra: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    value_labels: Mapping[str, str] | None = None,
    spectrum_label: str = "mean spectrum",
    title: str | None = None,
    dpi: int = 130,
) -> bytes:
    """Attributions of several model sets side by side: one column per set, a row per group.

    Parameters
    ----------
    tables
        Aggregated attribution tables by set name (e.g. ``source``, ``transferred``), all
        on the same bands and groups.
    value_labels
        Unit text of each set's attributions (the sets may predict different targets).
    axis_unit, mean_spectra, spectrum_label, title, dpi
        As :func:`attribution_figure_png`.
    """

    if not tables:
        raise ValueError("no attribution tables to compare")
    names = list(tables)
    first = tables[names[0]]
    groups = list(dict.fromkeys(first["group"].astype(str)))
    mean_spectra = dict(mean_spectra or {})
    value_labels = dict(value_labels or {})
    figure = agg_figure(
        figsize=(5.5 * len(names) + 1.0, 1.2 + 2.7 * len(groups)), layout="constrained"
    )
    axes = figure.subplots(len(groups), len(names), sharex=True, squeeze=False)
    span = _x_span(first, mean_spectra)
    marks = bands_in_range(span, axis_unit)
    for column, name in enumerate(names):
        table = tables[name]
        for row, group in enumerate(groups):
            _draw_panel(
                axes[row, column],
                table[table["group"].astype(str) == group],
                title=f"{name}: {group}",
                marks=marks,
                labelled=row == 0,
                spectrum=mean_spectra.get(group),
                value_label=value_labels.get(name, "attribution"),
                spectrum_label=spectrum_label,
            )
    return _finished_png(figure, axes[0, 0], axes[-1], span, axis_unit, title=title, dpi=dpi)


def write_comparison_figure(path: str | Path, tables: Mapping[str, pd.DataFrame], **options):
    """Write :func:`comparison_figure_png` to ``path`` atomically; options are passed on."""
    return write_bytes_atomic(path, comparison_figure_png(tables, **options))


def _finished_png(
    figure, first, bottom, span, axis_unit: str, *, title: str | None, dpi: int
) -> bytes:
    """Orient the shared x axis, label it under the ``bottom`` panels, put the legend on
    ``first`` and the title on top, and render the figure as PNG bytes."""
    # Mid-infrared runs from high to low wavenumber, as spectroscopists draw it.
    first.set_xlim(*((span[1], span[0]) if axis_unit == "cm-1" else span))
    for ax in bottom:
        ax.set_xlabel("wavenumber (cm-1)" if axis_unit == "cm-1" else "wavelength (nm)")
    first.legend(loc="upper left", fontsize=7, frameon=False)
    if title:
        figure.suptitle(title, fontsize=10)
    return png_bytes(figure, dpi=dpi)


def _draw_panel(
    ax,
    rows: pd.DataFrame,
    *,
    title: str,
    marks: list[AbsorptionBand],
    labelled: bool,
    spectrum: tuple[np.ndarray, np.ndarray] | None,
    value_label: str,
    spectrum_label: str,
) -> None:
    """One group's attributions over its mean spectrum, with the absorption bands."""
    _draw_bands(ax, marks, labelled=labelled)
    _draw_attributions(ax, rows)
    if spectrum is not None:
        twin = ax.twinx()
        twin.plot(*_with_gaps(*spectrum), color="0.55", linewidth=0.9)
        twin.set_ylabel(spectrum_label, color="0.45", fontsize=8)
        twin.tick_params(axis="y", colors="0.45", labelsize=7)
        # the spectrum is context; the attribution curve stays on top
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
    n_samples = _first(rows, "n_samples")
    n_seeds = _first(rows, "n_seeds")
    counts = ", ".join(
        text
        for text in (
            f"n = {n_samples}" if n_samples is not None else "",
            f"{n_seeds} model(s)" if n_seeds is not None else "",
        )
        if text
    )
    ax.set_title(title + (f" ({counts})" if counts else ""), fontsize=9, loc="left")
    ax.set_ylabel(f"attribution ({value_label})", fontsize=8)
    ax.tick_params(labelsize=7)


def write_attribution_figure(path: str | Path, table: pd.DataFrame, **options) -> Path:
    """Write :func:`attribution_figure_png` to ``path`` atomically; options are passed on."""
    return write_bytes_atomic(path, attribution_figure_png(table, **options))


def _draw_attributions(ax, rows: pd.DataFrame) -> None:
    bands = rows["band"].to_numpy(dtype=np.float64)
    mean_abs = rows["mean_abs"].to_numpy(dtype=np.float64)
    sd = rows["sd_over_seeds"].to_numpy(dtype=np.float64)
    x, y = _with_gaps(bands, mean_abs)
    ax.plot(x, y, color=_ATTRIBUTION_COLOR, linewidth=1.1, label="mean |attribution|")
    if np.isfinite(sd).any():
        _, low = _with_gaps(bands, np.clip(mean_abs - sd, 0.0, None))
        _, high = _with_gaps(bands, mean_abs + sd)
        ax.fill_between(
            x, low, high, color=_ATTRIBUTION_COLOR, alpha=0.2, linewidth=0, label="+- sd (seeds)"
        )
    ax.plot(
        *_with_gaps(bands, rows["signed_mean"].to_numpy(dtype=np.float64)),
        color=_SIGNED_COLOR,
        linewidth=0.7,
        alpha=0.8,
        label="signed mean",
    )
    ax.axhline(0.0, color="0.8", linewidth=0.6)


def _draw_bands(ax, marks: list[AbsorptionBand], *, labelled: bool) -> None:
    for band in marks:
        if band.is_range:
            ax.axvspan(band.low, band.high, color="0.5", alpha=0.08, linewidth=0)
        ax.axvline(band.position, color="0.55", linewidth=0.6, linestyle=":")
    if not labelled or not marks:
        return
    positions, labels = _spaced_labels(marks)
    top = ax.secondary_xaxis("top")
    top.set_ticks(positions, labels=labels, rotation=90, fontsize=6)
    top.tick_params(length=2, pad=1)


def _spaced_labels(marks: list[AbsorptionBand]) -> tuple[list[float], list[str]]:
    """Tick positions and labels along the top, readable where bands crowd together.

    A label repeated within :data:`_SAME_LABEL_SPACING` of the x range is drawn once;
    different labels closer than :data:`_LABEL_SPACING` share one tick (``"a / b"``).
    """
    ordered = sorted(marks, key=lambda b: b.position)
    span = max(ordered[-1].position - ordered[0].position, 1e-9)
    positions: list[float] = []
    labels: list[list[str]] = []
    for band in ordered:
        repeated = any(
            band.label in names and band.position - p < _SAME_LABEL_SPACING * span
            for p, names in zip(positions, labels, strict=True)
        )
        if repeated:
            continue
        if positions and band.position - positions[-1] < _LABEL_SPACING * span:
            labels[-1].append(band.label)
            continue
        positions.append(band.position)
        labels.append([band.label])
    return positions, [" / ".join(names) for names in labels]


def _with_gaps(positions, values) -> tuple[np.ndarray, np.ndarray]:
    """Break the line where bands were dropped (e.g. the CO2 region) instead of bridging."""
    positions = np.asarray(positions, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if positions.size < 3:
        return positions, values
    steps = np.abs(np.diff(positions))
    gaps = np.flatnonzero(steps > 1.5 * np.median(steps))
    if gaps.size == 0:
        return positions, values
    cut_positions = (positions[gaps] + positions[gaps + 1]) / 2.0
    return (
        np.insert(positions, gaps + 1, cut_positions),
        np.insert(values, gaps + 1, np.nan),
    )


def _x_span(
    table: pd.DataFrame, mean_spectra: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[float, float]:
    values = [table["band"].to_numpy(dtype=np.float64)]
    values += [np.asarray(positions, dtype=np.float64) for positions, _ in mean_spectra.values()]
    everything = np.concatenate(values)
    return float(np.nanmin(everything)), float(np.nanmax(everything))


def _first(rows: pd.DataFrame, column: str):
    if column not in rows.columns or rows.empty:
        return None
    return rows[column].iloc[0]
