"""Flux-tower CSV layouts: the REddyProc and FLUXNET half-hourly readers and :func:`read_flux`.

Layouts: :func:`read_reddyproc_csv` (REddyProc input: ``Year, DoY, Hour`` at the end of the
half-hour, ``Rg, Tair, VPD`` in hPa, ``H, LE``), :func:`read_fluxnet_halfhourly_csv`
(FLUXNET2015 half-hours as distributed with the bigleaf package: ``year, doy, hour`` at the
start, ``PPFD`` instead of shortwave, ``*_qc`` flags) and ALMA/PLUMBER2 NetCDF
(:func:`geosoil.io.alma.read_alma`); :func:`read_flux` picks the reader from the file.
Every reader returns :class:`~geosoil.io.flux.FluxRecord` objects built by
:func:`~geosoil.io.flux.record_from_columns`; all three are importable from
:mod:`geosoil.io.flux` as well.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from geosoil.errors import ConfigError, InputFileNotFoundError, SampleDataError
from geosoil.io.flux import FluxRecord, record_from_columns
from geosoil.io.flux_checks import check_max_qc, check_time_index, declared_units, drop_flagged

__all__ = ["read_flux", "read_fluxnet_halfhourly_csv", "read_reddyproc_csv"]

log = logging.getLogger(__name__)

_NA_VALUES = ["-9999", "-9999.0", "-9999.00", "-9999.000", "NA", "NaN", "nan"]


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise InputFileNotFoundError(
            "flux file not found",
            path=path,
            fix="check the path (flux files are CSV or ALMA NetCDF)",
        )


def _read_table(path: Path, required: Sequence[str]) -> pd.DataFrame:
    _require_file(path)
    try:
        table = pd.read_csv(path, na_values=_NA_VALUES, low_memory=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SampleDataError(
            f"cannot parse the flux table: {exc}",
            path=path,
            field="file",
            fix="give a comma-separated text file with one header line",
        ) from exc
    for column in required:
        if column not in table.columns:
            raise SampleDataError(
                f"the flux table has no column {column!r} (it has {', '.join(table.columns)})",
                path=path,
                field=column,
                fix=f"add the column {column!r} or rename the one that holds it",
            )
    return table


def _numeric(table: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(table[column], errors="coerce")
    text = values.isna() & table[column].notna()
    if text.any():
        row = int(np.flatnonzero(text.to_numpy())[0])
        raise SampleDataError(
            f"column {column!r} is not numeric (e.g. {table[column].iloc[row]!r} in row {row})",
            path=path,
            field=column,
            fix="clean the column to plain numbers, with empty cells or -9999 for missing",
        )
    return values.to_numpy(dtype=np.float64)


def _day_time(table: pd.DataFrame, year: str, doy: str, hour: str, path: Path) -> pd.DatetimeIndex:
    """Timestamps from year, day of year (1 = 1 January) and decimal hour columns."""
    years, days, hours = (_numeric(table, c, path) for c in (year, doy, hour))
    for name, values in ((year, years), (doy, days)):
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            raise SampleDataError(
                f"{name} holds {int(bad.sum())} empty or fractional values (first in row "
                f"{int(np.argmax(bad))})",
                path=path,
                field=name,
                fix=f"give {name} as a whole number in every row",
            )
    if not np.isfinite(hours).all():
        raise SampleDataError(
            f"{hour} is empty in row {int(np.argmax(~np.isfinite(hours)))}",
            path=path,
            field=hour,
            fix=f"give {hour} as a decimal hour in every row",
        )
    start = pd.to_datetime(pd.DataFrame({"year": years.astype(int), "month": 1, "day": 1}))
    stamps = (
        start
        + pd.to_timedelta(days - 1, unit="D")
        + pd.to_timedelta(np.round(hours * 3600.0), unit="s")
    )
    return pd.DatetimeIndex(stamps.to_numpy(), name="time")


def _sites(table: pd.DataFrame, path: Path, site: str | None) -> list[tuple[str, pd.DataFrame]]:
    """(site, rows) per site of the table, or only ``site`` when given."""
    if "site" not in table.columns:
        return [(site or path.stem, table)]
    if table["site"].isna().any():
        row = int(np.flatnonzero(table["site"].isna().to_numpy())[0])
        raise SampleDataError(
            f"the site column is empty in row {row}",
            path=path,
            field="site",
            fix="give the site code in every row",
        )
    codes = table["site"].astype(str)
    names = list(dict.fromkeys(codes))
    if site is not None:
        if site not in names:
            raise ConfigError(
                f"site {site!r} is not in the file (it has {', '.join(names)})",
                path=path,
                field="site",
                fix="choose one of the file's sites, or leave site out to read them all",
            )
        names = [site]
    return [(name, table[codes == name]) for name in names]


def _constant(part: pd.DataFrame, column: str, path: Path, site: str) -> Any:
    if column not in part.columns:
        return None
    values = part[column].dropna().unique()
    if len(values) > 1:
        raise SampleDataError(
            f"{site}: {column} takes {len(values)} different values",
            path=path,
            field=column,
            fix=f"give one {column} per site",
        )
    return values[0] if len(values) else None


def _columns(
    part: pd.DataFrame, sources: Mapping[str, tuple[str, str]], units: Mapping[str, str], path
) -> dict[str, tuple[np.ndarray, str, str]]:
    """variable -> (values, unit, source) for the source columns the table has."""
    columns = {}
    for source, (variable, default_unit) in sources.items():
        if source in part.columns and variable not in columns:
            columns[variable] = (
                _numeric(part, source, path),
                units.get(variable, default_unit),
                source,
            )
    return columns


# REddyProc: source column -> (variable, unit)
_REDDYPROC_SOURCES = {
    "Rg": ("sw_in_w_m2", "W m-2"),
    "Tair": ("tair_c", "degC"),
    "VPD": ("vpd_kpa", "hPa"),
}
# FLUXNET2015 half-hours in the bigleaf layout; SW_IN, when present, is preferred to PPFD
_FLUXNET_SOURCES = {
    "SW_IN": ("sw_in_w_m2", "W m-2"),
    "PPFD": ("sw_in_w_m2", "umol m-2 s-1"),
    "Tair": ("tair_c", "degC"),
    "VPD": ("vpd_kpa", "kPa"),
    "wind": ("wind_m_s", "m s-1"),
    "pressure": ("pressure_kpa", "kPa"),
    "precip": ("precip_mm", "mm"),
    "LW_down": ("lw_in_w_m2", "W m-2"),
}


def read_reddyproc_csv(
    path: str | Path,
    *,
    attributes: Mapping[str, Any] | None = None,
    fill: Mapping[str, object] | None = None,
    units: Mapping[str, str] | None = None,
    max_qc: int | None = None,
    max_gap_steps: int = 4,
    site: str | None = None,
) -> list[FluxRecord]:
    """Read a REddyProc-style half-hourly CSV, one record per site.

    Columns: ``Year``, ``DoY``, ``Hour`` (decimal hour at the **end** of the step; records
    are labelled by the start), ``Rg`` (incoming shortwave, W m-2), ``Tair`` (degC),
    ``VPD`` (hPa), ``H`` and ``LE`` (W m-2); optional ``site``, ``lat``, ``lon``. Empty
    cells and -9999 are missing. Wind, pressure, precipitation and longwave are not in this
    layout: the records list them in ``missing_variables`` until ``fill`` gives constants.

    Parameters
    ----------
    path
        The CSV file.
    attributes
        Site attributes the file lacks, e.g. ``{"igbp": "ENF"}``; applied to every site.
    fill
        Per forcing variable: a constant, ``"interpolate"`` or ``"mean_diurnal"``.
    units
        Declared units that differ from the defaults, e.g. ``{"VPD": "kPa"}``.
    max_qc
        Not used: this layout has no quality flags (accepted so that :func:`read_flux`
        takes one set of arguments).
    max_gap_steps
        Longest gap ``"interpolate"`` bridges.
    site
        Read only this site of a multi-site file; names the record of a file without a
        ``site`` column (by default the file name).

    Raises
    ------
    InputFileNotFoundError
        The file does not exist.
    SampleDataError
        A required column is missing or not numeric; time steps are irregular, unsorted or
        repeated; magnitudes contradict the declared units; lat/lon are missing.
    ConfigError
        A bad ``fill``, ``units``, conflicting ``attributes`` or a ``site`` not in the file.
    """
    path = Path(path)
    table = _read_table(path, ["Year", "DoY", "Hour", "H", "LE", *_REDDYPROC_SOURCES])
    declared = declared_units(units, {s: v for s, (v, _) in _REDDYPROC_SOURCES.items()})
    if max_qc is not None:
        log.info("%s has no quality flags; max_qc=%s does not apply", path.name, max_qc)
    records = []
    for code, part in _sites(table, path, site):
        end = _day_time(part, "Year", "DoY", "Hour", path)
        step = check_time_index(end, path=path, site=code)
        records.append(
            record_from_columns(
                site=code,
                time=end - pd.Timedelta(seconds=step),
                columns=_columns(part, _REDDYPROC_SOURCES, declared, path),
                observed={
                    "h_w_m2": _numeric(part, "H", path),
                    "le_w_m2": _numeric(part, "LE", path),
                },
                attributes=attributes,
                file_attributes={
                    "latitude_deg": _constant(part, "lat", path, code),
                    "longitude_deg": _constant(part, "lon", path, code),
                },
                fill=fill,
                max_gap_steps=max_gap_steps,
                path=path,
            )
        )
        log.info("read %r from %s", records[-1], path)
    return records


def read_fluxnet_halfhourly_csv(
    path: str | Path,
    *,
    max_qc: int | None = 1,
    attributes: Mapping[str, Any] | None = None,
    fill: Mapping[str, object] | None = None,
    units: Mapping[str, str] | None = None,
    max_gap_steps: int = 4,
    site: str | None = None,
) -> list[FluxRecord]:
    """Read FLUXNET2015 half-hours in the bigleaf layout, one record per site.

    Columns: ``year``, ``doy``, ``hour`` (decimal hour at the **start** of the step),
    ``Tair`` (degC), ``PPFD`` (umol m-2 s-1; shortwave = PPFD /
    :data:`~geosoil.io.flux_checks.PPFD_PER_SW_UMOL_J`)
    or ``SW_IN`` (W m-2), ``VPD`` (kPa), ``H``, ``LE`` (W m-2) with ``H_qc``, ``LE_qc``;
    optional ``pressure`` (kPa), ``precip`` (mm per step), ``wind`` (m s-1), ``LW_down``
    (W m-2), ``site``, ``lat``, ``lon``, ``igbp`` and ``month`` (checked against the
    date). Empty cells and -9999 are missing.

    Parameters
    ----------
    max_qc
        Observed H and LE are kept where their FLUXNET flag (0 measured, 1 good, 2 medium,
        3 poor gap-filling) is at most this, NaN elsewhere; None keeps every value.
    attributes, fill, units, max_gap_steps, site
        As for :func:`read_reddyproc_csv`.

    Raises
    ------
    InputFileNotFoundError, SampleDataError, ConfigError
        As for :func:`read_reddyproc_csv`.
    """
    path = Path(path)
    check_max_qc(max_qc, flags="FLUXNET flag")
    required = ["year", "doy", "hour", "Tair", "VPD", "H", "LE"]
    if max_qc is not None:
        required += ["H_qc", "LE_qc"]
    table = _read_table(path, required)
    if "SW_IN" not in table.columns and "PPFD" not in table.columns:
        raise SampleDataError(
            "the flux table has neither SW_IN nor PPFD",
            path=path,
            field="PPFD",
            fix="add incoming shortwave (SW_IN, W m-2) or PPFD (umol m-2 s-1)",
        )
    declared = declared_units(units, {s: v for s, (v, _) in _FLUXNET_SOURCES.items()})
    records = []
    for code, part in _sites(table, path, site):
        time = _day_time(part, "year", "doy", "hour", path)
        if "month" in part.columns:
            months = _numeric(part, "month", path)
            wrong = np.flatnonzero(months != time.month.to_numpy())
            if wrong.size:
                raise SampleDataError(
                    f"{code}: month {months[wrong[0]]:g} disagrees with year/doy/hour "
                    f"({time[wrong[0]]})",
                    path=path,
                    field="month",
                    fix="check that doy counts from 1 on 1 January",
                )
        observed = {}
        for name, column in (("h_w_m2", "H"), ("le_w_m2", "LE")):
            values = _numeric(part, column, path)
            if max_qc is not None:
                flags = _numeric(part, f"{column}_qc", path)
                values = drop_flagged(values, flags, max_qc, site=code, name=column, flag="qc")
            observed[name] = values
        records.append(
            record_from_columns(
                site=code,
                time=time,
                columns=_columns(part, _FLUXNET_SOURCES, declared, path),
                observed=observed,
                attributes=attributes,
                file_attributes={
                    "latitude_deg": _constant(part, "lat", path, code),
                    "longitude_deg": _constant(part, "lon", path, code),
                    "igbp": _constant(part, "igbp", path, code),
                },
                fill=fill,
                max_gap_steps=max_gap_steps,
                path=path,
            )
        )
        log.info("read %r from %s", records[-1], path)
    return records


_CSV_LAYOUTS = (
    ("REddyProc half-hourly", ("Year", "DoY", "Hour"), read_reddyproc_csv),
    ("FLUXNET half-hourly (bigleaf)", ("year", "doy", "hour"), read_fluxnet_halfhourly_csv),
)
_NETCDF_MAGIC = (b"CDF", b"\x89HDF")


def read_flux(path: str | Path, **kwargs: Any) -> list[FluxRecord]:
    """Read a flux file of any layout geosoil knows, choosing the reader from its content.

    NetCDF files go to :func:`geosoil.io.alma.read_alma` (one record); CSV files to
    :func:`read_reddyproc_csv` or :func:`read_fluxnet_halfhourly_csv` by their header.
    ``kwargs`` go to the reader.

    Raises
    ------
    InputFileNotFoundError
        The file does not exist.
    SampleDataError
        The header matches no known layout (the message lists them).
    """
    path = Path(path)
    _require_file(path)
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(_NETCDF_MAGIC):
        from geosoil.io.alma import read_alma

        return [read_alma(path, **kwargs)]
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle), [])
    except UnicodeDecodeError:
        header = []
    present = {name.strip() for name in header}
    for _, keys, reader in _CSV_LAYOUTS:
        if set(keys) <= present:
            return reader(path, **kwargs)
    known = "; ".join(f"{name} (columns {', '.join(keys)})" for name, keys, _ in _CSV_LAYOUTS)
    raise SampleDataError(
        "the file matches no flux layout geosoil knows",
        path=path,
        field="header",
        fix=f"give a file in one of these layouts: {known}; or an ALMA/PLUMBER2 NetCDF",
    )
