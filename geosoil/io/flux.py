"""Flux-tower records: meteorological forcing and observed H and LE of one site.

A :class:`FluxRecord` holds one site's regular time series in the canonical units of
:data:`geosoil.process.lsm_forcing.FORCING_UNITS`, labelled by the **start** of each step.
The readers build records from the layouts geosoil knows and are honest about what a file
lacks:

- a variable the file does not have (wind, pressure, precipitation at many sites) becomes an
  all-missing column, listed by :attr:`FluxRecord.missing_variables` and refused by
  :meth:`FluxRecord.to_forcing` until the caller declares a constant (``fill=``); an absent
  incoming longwave is left out, and the land surface model estimates it;
- gaps are reported (:func:`gap_report`) and filled only where asked, per variable
  (:func:`geosoil.io.flux_checks.fill_gaps`); observed fluxes are never filled;
- units are declared per layout (or by the caller, ``units={"VPD": "hPa"}``) and converted;
  magnitudes that contradict the declared unit are refused;
- timestamps must be sorted, unique and regular.

Layouts: :func:`read_reddyproc_csv` (REddyProc input: ``Year, DoY, Hour`` at the end of the
half-hour, ``Rg, Tair, VPD`` in hPa, ``H, LE``), :func:`read_fluxnet_halfhourly_csv`
(FLUXNET2015 half-hours as distributed with the bigleaf package: ``year, doy, hour`` at the
start, ``PPFD`` instead of shortwave, ``*_qc`` flags) and ALMA/PLUMBER2 NetCDF
(:func:`geosoil.io.alma.read_alma`); :func:`read_flux` picks the reader from the file.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, InputFileNotFoundError, SampleDataError
from geosoil.io.flux_checks import (
    PPFD_PER_SW_UMOL_J,
    check_fill,
    check_magnitudes,
    check_time_index,
    convert_units,
    declared_units,
    fill_gaps,
    gap_table,
    igbp_code,
)
from geosoil.process.lsm_forcing import FLUX_NAMES, FORCING_NAMES, FORCING_UNITS, LsmForcing

__all__ = [
    "PPFD_PER_SW_UMOL_J",
    "REQUIRED_ATTRIBUTES",
    "REQUIRED_FORCING",
    "SUMMARY_NAMES",
    "FluxRecord",
    "forcing_summaries",
    "gap_report",
    "read_flux",
    "read_fluxnet_halfhourly_csv",
    "read_reddyproc_csv",
    "record_from_columns",
]

log = logging.getLogger(__name__)

SUMMARY_NAMES: tuple[str, ...] = (
    "sw_in_mean_w_m2",
    "tair_mean_c",
    "vpd_mean_kpa",
    "precip_mm_day",
    "wind_mean_m_s",
)
# the incoming longwave may be absent: the land surface model then estimates it
REQUIRED_FORCING: tuple[str, ...] = tuple(n for n in FORCING_NAMES if n != "lw_in_w_m2")
REQUIRED_ATTRIBUTES: tuple[str, ...] = ("latitude_deg", "longitude_deg", "igbp")
_NA_VALUES = ["-9999", "-9999.0", "-9999.00", "-9999.000", "NA", "NaN", "nan"]
_FILL_FIX = "declare how to fill it: fill={{{name!r}: ...}} with a constant in {unit}, "
_FILL_FIX += "'interpolate' or 'mean_diurnal' (or cut the record)"


@dataclass(frozen=True, eq=False)
class FluxRecord:
    """One site's regular time series of forcing and observed sensible and latent heat.

    Attributes
    ----------
    site
        Site code, e.g. ``"DE-Tha"``.
    attributes
        At least ``latitude_deg``, ``longitude_deg`` and ``igbp`` (an IGBP code, or None
        when unknown); optionally ``elevation_m``.
    time
        Start of each step, regular.
    forcing
        Columns named as :data:`~geosoil.process.lsm_forcing.FORCING_NAMES` in their units,
        indexed by ``time``; NaN where missing (every value of a variable the file lacks);
        ``lw_in_w_m2`` is left out when not measured.
    observed
        Columns ``h_w_m2`` and ``le_w_m2`` indexed by ``time``, NaN where missing or of
        poor quality.
    time_step_s
        Length of a step in seconds.
    source
        The file read, named in errors.
    """

    site: str
    attributes: dict[str, Any]
    time: pd.DatetimeIndex
    forcing: pd.DataFrame
    observed: pd.DataFrame
    time_step_s: float
    source: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "attributes", dict(self.attributes))
        step = check_time_index(self.time, path=self.source, site=self.site)
        if not math.isclose(step, float(self.time_step_s)):
            self._inconsistent(f"time_step_s is {self.time_step_s} but the time index steps {step}")
        missing_keys = [k for k in REQUIRED_ATTRIBUTES if k not in self.attributes]
        if missing_keys:
            self._inconsistent(f"attributes lack {missing_keys}")
        unknown = [c for c in self.forcing.columns if c not in FORCING_NAMES]
        absent = [c for c in REQUIRED_FORCING if c not in self.forcing.columns]
        if unknown or absent:
            self._inconsistent(f"forcing has unknown columns {unknown} and lacks {absent}")
        if tuple(self.observed.columns) != FLUX_NAMES:
            self._inconsistent(f"observed has columns {list(self.observed.columns)}")
        for name, frame in (("forcing", self.forcing), ("observed", self.observed)):
            if not frame.index.equals(self.time):
                self._inconsistent(f"{name} is not indexed by the record's time")

    def _inconsistent(self, message: str) -> None:
        raise SampleDataError(
            f"{self.site}: inconsistent flux record: {message}",
            path=self.source,
            field="record",
            fix="build records with the readers of geosoil.io.flux, or give every part one "
            "row per timestamp",
        )

    def __repr__(self) -> str:
        return (
            f"FluxRecord({self.site!r}, {self.n_steps} steps of {self.time_step_s:g} s from "
            f"{self.time[0]}, igbp={self.attributes.get('igbp')!r})"
        )

    @property
    def n_steps(self) -> int:
        return len(self.time)

    @property
    def missing_variables(self) -> tuple[str, ...]:
        """Required forcing variables without a single value (the file lacks them)."""
        return tuple(n for n in REQUIRED_FORCING if not self.forcing[n].notna().any())

    def require_attribute(self, name: str) -> Any:
        """A site attribute that a caller cannot do without (e.g. ``igbp`` for defaults).

        Raises
        ------
        SampleDataError
            When the attribute is absent or None.
        """
        value = self.attributes.get(name)
        if value is None:
            raise SampleDataError(
                f"{self.site}: the site attribute {name} is unknown",
                path=self.source,
                field=f"attributes.{name}",
                fix=f"pass it to the reader, e.g. attributes={{{name!r}: ...}}",
            )
        return value

    def to_forcing(self, dtype: torch.dtype = torch.float32) -> LsmForcing:
        """The forcing as a one-row :class:`~geosoil.process.lsm_forcing.LsmForcing`.

        Raises
        ------
        SampleDataError
            When variables have missing values: naming each, with the count and the first
            timestamp (or that the file lacks it), and the fill that would fix them.
        """
        problems, fixes = [], []
        for name in self.forcing.columns:
            missing = ~np.isfinite(self.forcing[name].to_numpy(dtype=np.float64))
            if not missing.any():
                continue
            if missing.all():
                problems.append(f"{name} is not in the file")
                fixes.append(f"{name!r}: <constant in {FORCING_UNITS[name]}>")
            else:
                problems.append(
                    f"{name} has {int(missing.sum())} missing values of {len(missing)}, the "
                    f"first at {self.time[int(np.argmax(missing))]}"
                )
                fixes.append(f"{name!r}: 'mean_diurnal'")
        if problems:
            raise SampleDataError(
                f"{self.site}: cannot build a forcing: {'; '.join(problems)}",
                path=self.source,
                field=problems[0].split(" ")[0],
                fix=f"declare how to fill them when reading or with record.filled(...), e.g. "
                f"fill={{{', '.join(fixes)}}}; gaps also take 'interpolate' (short gaps) or a "
                "constant; or cut the record",
            )
        tensors = {
            name: torch.tensor(self.forcing[name].to_numpy(dtype=np.float64), dtype=dtype)[None]
            for name in self.forcing.columns
        }
        tensors.setdefault("lw_in_w_m2", None)
        return LsmForcing(**tensors, time_step_s=float(self.time_step_s))

    def observed_array(self) -> np.ndarray:
        """Observed fluxes as a float64 (2, t) array in ``FLUX_NAMES`` order, NaN = missing."""
        return self.observed[list(FLUX_NAMES)].to_numpy(dtype=np.float64).T.copy()

    def summaries(self) -> dict[str, float]:
        """The forcing summaries of this record (:func:`forcing_summaries`)."""
        return forcing_summaries(self.forcing, self.time_step_s)

    def gap_report(self) -> pd.DataFrame:
        """Missing values per forcing and observed variable (:func:`gap_report`)."""
        return gap_report(self)

    def filled(self, fill: Mapping[str, object], *, max_gap_steps: int = 4) -> FluxRecord:
        """A copy with forcing gaps filled as declared (see :func:`~.flux_checks.fill_gaps`)."""
        forcing = fill_gaps(self.forcing, fill, max_gap_steps=max_gap_steps, site=self.site)
        order = [n for n in FORCING_NAMES if n in forcing.columns]
        return dataclasses.replace(self, forcing=forcing[order])

    def split(self, freq: str = "MS", *, min_steps: int = 2) -> list[FluxRecord]:
        """The record cut into calendar periods (``"MS"``: months), one record each.

        Parameters
        ----------
        freq
            A pandas offset alias; each period holds the steps that start in it.
        min_steps
            Periods with fewer steps are dropped (logged); at least 2.

        Raises
        ------
        ConfigError
            For an offset pandas does not know or ``min_steps`` below 2.
        """
        if int(min_steps) < 2:
            raise ConfigError(
                f"min_steps is {min_steps}",
                field="min_steps",
                fix="give at least 2 steps per period (a record needs a time step)",
            )
        positions = pd.Series(np.arange(self.n_steps), index=self.time)
        try:
            groups = list(positions.groupby(pd.Grouper(freq=freq)))
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"cannot cut a record into periods of {freq!r}: {exc}",
                field="freq",
                fix="use a pandas offset alias such as 'MS' (months) or 'YS' (years)",
            ) from exc
        records, dropped = [], []
        for label, part in groups:
            if len(part) < int(min_steps):
                if len(part):
                    dropped.append(f"{label} ({len(part)} steps)")
                continue
            rows = part.to_numpy()
            records.append(
                dataclasses.replace(
                    self,
                    time=self.time[rows],
                    forcing=self.forcing.iloc[rows],
                    observed=self.observed.iloc[rows],
                )
            )
        if dropped:
            log.info(
                "%s: dropped %d periods shorter than %d steps: %s",
                self.site,
                len(dropped),
                min_steps,
                ", ".join(dropped),
            )
        return records


def forcing_summaries(forcing: pd.DataFrame, time_step_s: float) -> dict[str, float]:
    """Summaries of a forcing period, the inputs of a parameter generator (``SUMMARY_NAMES``).

    Means of shortwave, air temperature, VPD and wind; ``precip_mm_day`` is the total
    precipitation divided by the length of the period in days.

    Raises
    ------
    SampleDataError
        For an empty forcing, or a needed variable absent or with missing values (gaps
        would bias the summaries).
    """
    needed = ("sw_in_w_m2", "tair_c", "vpd_kpa", "precip_mm", "wind_m_s")
    if len(forcing) == 0:
        raise SampleDataError(
            "cannot summarise an empty forcing", field="forcing", fix="give at least one step"
        )
    values = {}
    for name in needed:
        column = (
            forcing[name].to_numpy(dtype=np.float64) if name in forcing.columns else np.array([])
        )
        missing = int((~np.isfinite(column)).sum()) if column.size else len(forcing)
        if missing:
            raise SampleDataError(
                f"cannot summarise forcing {name}: {missing} of {len(forcing)} values missing",
                field=name,
                fix=_FILL_FIX.format(name=name, unit=FORCING_UNITS[name]),
            )
        values[name] = column
    days = len(forcing) * float(time_step_s) / 86400.0
    return {
        "sw_in_mean_w_m2": float(values["sw_in_w_m2"].mean()),
        "tair_mean_c": float(values["tair_c"].mean()),
        "vpd_mean_kpa": float(values["vpd_kpa"].mean()),
        "precip_mm_day": float(values["precip_mm"].sum() / days),
        "wind_mean_m_s": float(values["wind_m_s"].mean()),
    }


def gap_report(record_or_frame: FluxRecord | pd.DataFrame) -> pd.DataFrame:
    """Missing values of a record (forcing then observed) or of a time-indexed frame.

    Returns
    -------
    pandas.DataFrame
        ``variable``, ``n_missing``, ``share``, ``longest_gap_steps``, ``first_missing``.
    """
    if isinstance(record_or_frame, pd.DataFrame):
        return gap_table(record_or_frame)
    return gap_table(pd.concat([record_or_frame.forcing, record_or_frame.observed], axis=1))


def record_from_columns(
    *,
    site: str,
    time: pd.DatetimeIndex,
    columns: Mapping[str, tuple[np.ndarray, str, str]],
    observed: Mapping[str, np.ndarray],
    attributes: Mapping[str, Any] | None = None,
    file_attributes: Mapping[str, Any] | None = None,
    fill: Mapping[str, object] | None = None,
    max_gap_steps: int = 4,
    path: str | Path | None = None,
) -> FluxRecord:
    """Build a checked record from source columns: convert units, check, report, fill.

    Parameters
    ----------
    site
        Site code.
    time
        Start of each step.
    columns
        Canonical forcing name -> (values, unit they are in, source column name) for the
        variables the file has.
    observed
        ``h_w_m2`` and ``le_w_m2`` in W m-2, NaN where missing or rejected.
    attributes, file_attributes
        Site attributes from the caller and from the file; a key in both must agree.
    fill, max_gap_steps
        Gap filling (:func:`~geosoil.io.flux_checks.fill_gaps`).
    path
        The file, named in errors.
    """
    path = Path(path) if path is not None else None
    step = check_time_index(time, path=path, site=site)
    frame = pd.DataFrame(index=time)
    for name in FORCING_NAMES:
        if name in columns:
            raw, unit, source = columns[name]
            values = convert_units(raw, name, unit, step_s=step, source=source, path=path)
            check_magnitudes(values, name, unit=unit, source=source, path=path, site=site)
            if name != "lw_in_w_m2" or np.isfinite(values).any():
                frame[name] = values
                continue
        if name == "lw_in_w_m2":
            log.info("%s: no incoming longwave; the land surface model will estimate it", site)
        else:
            frame[name] = np.nan
    absent = [n for n in REQUIRED_FORCING if not frame[n].notna().any()]
    undeclared = [n for n in absent if n not in check_fill(fill)]
    if undeclared:
        log.warning(
            "%s: the file has no %s; declare constants (fill={%s}) before building a forcing",
            site,
            ", ".join(undeclared),
            ", ".join(f"{n!r}: ..." for n in undeclared),
        )
    if fill:
        frame = fill_gaps(frame, fill, max_gap_steps=max_gap_steps, site=site)
        frame = frame[[n for n in FORCING_NAMES if n in frame.columns]]
    flux = pd.DataFrame(
        {name: np.asarray(observed[name], dtype=np.float64) for name in FLUX_NAMES}, index=time
    )
    return FluxRecord(
        site=site,
        attributes=_site_attributes(file_attributes or {}, attributes or {}, path, site),
        time=time,
        forcing=frame,
        observed=flux,
        time_step_s=step,
        source=path,
    )


def _site_attributes(
    from_file: Mapping[str, Any], from_caller: Mapping[str, Any], path: Path | None, site: str
) -> dict[str, Any]:
    merged = {k: v for k, v in from_file.items() if v is not None}
    for key, value in from_caller.items():
        if key in merged and value is not None and not _agree(merged[key], value):
            raise ConfigError(
                f"{site}: attribute {key} is {value!r} in the call but {merged[key]!r} in the file",
                field=f"attributes.{key}",
                fix=f"leave {key} out of attributes= or correct the file",
            )
        merged.setdefault(key, value)
    merged["igbp"] = igbp_code(merged.get("igbp"), path=path, field="igbp")
    for key, low, high in (("latitude_deg", -90, 90), ("longitude_deg", -180, 360)):
        value = merged.get(key)
        number = _number(value)
        if not (math.isfinite(number) and low <= number <= high):
            raise SampleDataError(
                f"{site}: site {key} is {value!r}",
                path=path,
                field=key,
                fix=f"pass attributes={{{key!r}: ...}} in degrees ({low} to {high})",
            )
        merged[key] = number
    if merged.get("elevation_m") is not None:
        merged["elevation_m"] = _number(merged["elevation_m"])
    return merged


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _agree(a: Any, b: Any) -> bool:
    x, y = _number(a), _number(b)
    if math.isfinite(x) and math.isfinite(y):
        return math.isclose(x, y, rel_tol=0, abs_tol=1e-3)
    return str(a).strip().upper() == str(b).strip().upper()


# ------------------------------------------------------------------------------- CSV
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
    ``Tair`` (degC), ``PPFD`` (umol m-2 s-1; shortwave = PPFD / :data:`PPFD_PER_SW_UMOL_J`)
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
    if max_qc is not None and max_qc not in (0, 1, 2, 3):
        raise ConfigError(
            f"max_qc is {max_qc!r}",
            field="max_qc",
            fix="give the worst FLUXNET flag to keep: 0, 1, 2 or 3 (or None for all)",
        )
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
                rejected = np.isfinite(values) & ~(flags <= max_qc)
                log.info(
                    "%s: %d of %d %s values have qc above %d (or none) and are left out",
                    code,
                    int(rejected.sum()),
                    len(values),
                    column,
                    max_qc,
                )
                values = np.where(rejected, np.nan, values)
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
