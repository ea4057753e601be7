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

This module holds the record, its summaries and gap report,
:func:`record_from_columns`, which every reader ends with, and the readers' quality-flag
filter of the observed fluxes (:func:`check_max_qc`, :func:`drop_flagged`). The readers
live beside it: :func:`read_reddyproc_csv`, :func:`read_fluxnet_halfhourly_csv` and
:func:`read_flux` (which picks the reader from the file) in :mod:`geosoil.io.flux_csv`,
ALMA/PLUMBER2 NetCDF in :func:`geosoil.io.alma.read_alma`.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.io.flux_checks import (
    PPFD_PER_SW_UMOL_J,
    check_fill,
    check_magnitudes,
    check_time_index,
    convert_units,
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
    "check_max_qc",
    "drop_flagged",
    "forcing_summaries",
    "gap_report",
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


def check_max_qc(max_qc: int | None, *, flags: str = "quality flag") -> None:
    """Refuse a ``max_qc`` that is neither None nor a quality flag 0-3 (``flags`` names them)."""
    if max_qc is not None and max_qc not in (0, 1, 2, 3):
        raise ConfigError(
            f"max_qc is {max_qc!r}",
            field="max_qc",
            fix=f"give the worst {flags} to keep: 0, 1, 2 or 3 (or None for all)",
        )


def drop_flagged(
    values: np.ndarray, flags: np.ndarray, max_qc: int, *, site: str, name: str, flag: str
) -> np.ndarray:
    """``values`` with NaN where their quality ``flags`` are above ``max_qc`` or missing.

    Logs how many of ``name``'s values were left out (``flag`` names the flag column).
    """
    rejected = np.isfinite(values) & ~(flags <= max_qc)
    log.info(
        "%s: %d of %d %s values have %s above %d (or none) and are left out",
        site,
        int(rejected.sum()),
        len(values),
        name,
        flag,
        max_qc,
    )
    return np.where(rejected, np.nan, values)
