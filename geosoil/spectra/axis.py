"""The spectral axis: band positions and their unit, checked once where spectra enter.

A model remembers the axis it was fitted on and refuses spectra on any other; moving
spectra from one instrument's axis to another's is always an explicit ``resample`` step,
never something done quietly behind the user's back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from geosoil.errors import SpectraError

__all__ = ["AXIS_UNITS", "AxisUnit", "SpectraError", "SpectralAxis"]

AxisUnit = Literal["cm-1", "nm"]
AXIS_UNITS: tuple[str, ...] = get_args(AxisUnit)

RESAMPLE_FIX = (
    "resample explicitly: add a {'name': 'resample', 'to': [...band positions...]} "
    "preprocessing step (and retrain), or resample the table onto the model's axis "
    "(SampleSet.resample(axis) or geosoil.spectra.resample_spectra)"
)


@dataclass(frozen=True, eq=False)
class SpectralAxis:
    """Band positions (float64, finite, strictly monotonic in either direction) and unit.

    Build it with :meth:`from_values`, which validates; the array is read-only so that an
    axis shared by a model and its spectra cannot be changed under either.
    """

    values: np.ndarray
    unit: AxisUnit

    @classmethod
    def from_values(
        cls,
        values,
        unit: str,
        *,
        source: str | Path | None = None,
        field: str = "axis",
    ) -> SpectralAxis:
        """Validate band positions and build an axis.

        Parameters
        ----------
        values
            Band positions, one per spectral column, ascending or descending.
        unit
            ``"cm-1"`` (wavenumbers, mid-infrared) or ``"nm"`` (wavelengths, vis-NIR).
        source
            File the axis comes from, named in errors.
        field
            Column, key or header field the axis comes from, named in errors.

        Raises
        ------
        SpectraError
            Unknown unit, fewer than two bands, NaN/Inf, duplicated or non-monotonic positions.
        """
        if unit not in AXIS_UNITS:
            raise SpectraError(
                f"unknown spectral axis unit {unit!r}",
                path=source,
                field=f"{field}.unit",
                fix="use 'cm-1' for wavenumbers (MIR) or 'nm' for wavelengths (vis-NIR)",
            )
        try:
            array = np.array(values, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as err:
            raise SpectraError(
                f"spectral axis values are not numbers ({err})",
                path=source,
                field=field,
                fix="give band positions as numbers (e.g. parsed from the column names)",
            ) from err
        if array.size < 2:
            raise SpectraError(
                f"a spectral axis needs at least 2 bands, got {array.size}",
                path=source,
                field=field,
                fix="check the band columns of the table (or a too narrow trim range)",
            )
        bad = np.flatnonzero(~np.isfinite(array))
        if bad.size:
            raise SpectraError(
                f"spectral axis has {bad.size} non-finite position(s), first at band {bad[0]}",
                path=source,
                field=field,
                fix="band positions must be finite numbers; check the column names",
            )
        steps = np.diff(array)
        if np.any(steps == 0):
            i = int(np.flatnonzero(steps == 0)[0])
            raise SpectraError(
                f"spectral axis has a duplicated position {array[i]:g} {unit} "
                f"(bands {i} and {i + 1})",
                path=source,
                field=field,
                fix="drop or average the duplicated band columns",
            )
        if not (np.all(steps > 0) or np.all(steps < 0)):
            sign = np.sign(steps[0])
            i = int(np.flatnonzero(np.sign(steps) != sign)[0])
            raise SpectraError(
                f"spectral axis is not monotonic: it turns at band {i + 1} "
                f"({array[i]:g} -> {array[i + 1]:g} {unit})",
                path=source,
                field=field,
                fix="order the band columns by position, ascending or descending",
            )
        array.setflags(write=False)
        return cls(values=array, unit=unit)

    def __len__(self) -> int:
        return int(self.values.size)

    def __repr__(self) -> str:
        return f"SpectralAxis({self.describe()})"

    @property
    def is_descending(self) -> bool:
        """True when positions decrease along the bands (usual for MIR wavenumbers)."""
        return bool(self.values[1] < self.values[0])

    @property
    def start(self) -> float:
        return float(self.values[0])

    @property
    def stop(self) -> float:
        return float(self.values[-1])

    @property
    def lo(self) -> float:
        """Smallest position, whatever the direction."""
        return float(min(self.values[0], self.values[-1]))

    @property
    def hi(self) -> float:
        """Largest position, whatever the direction."""
        return float(max(self.values[0], self.values[-1]))

    def describe(self) -> str:
        """Short text for messages, e.g. ``'1765 bands, 7498-599.8 cm-1'``."""
        return f"{len(self)} bands, {self.start:g}-{self.stop:g} {self.unit}"

    def same_as(self, other: SpectralAxis, *, tol: float = 1e-6) -> bool:
        """Same unit, same number of bands, and positions within ``tol`` (absolute)."""
        return (
            self.unit == other.unit
            and len(self) == len(other)
            and bool(np.all(np.abs(self.values - other.values) <= tol))
        )

    def check_matches(
        self,
        other: SpectralAxis,
        *,
        source: str | Path | None = None,
        field: str = "axis",
        tol: float = 1e-6,
    ) -> None:
        """Refuse spectra on ``other`` when this (the model's) axis is expected.

        Raises
        ------
        SpectraError
            Naming both axes and what differs, with the fix: resample explicitly.
        """
        if self.same_as(other, tol=tol):
            return
        if self.unit != other.unit:
            detail = f"the units differ ({other.unit} vs {self.unit})"
        elif len(self) != len(other):
            detail = f"the band counts differ ({len(other)} vs {len(self)})"
        else:
            diff = np.abs(self.values - other.values)
            i = int(np.argmax(diff))
            detail = f"band {i} is at {other.values[i]:g} instead of {self.values[i]:g} {self.unit}"
        raise SpectraError(
            f"spectra are on another axis than the model: spectra have {other.describe()}, "
            f"the model expects {self.describe()}; {detail}",
            path=source,
            field=field,
            fix=RESAMPLE_FIX,
        )

    def to_list(self) -> list[float]:
        """Positions as plain floats (JSON headers, configs)."""
        return [float(v) for v in self.values]

    def ascending(self) -> SpectralAxis:
        """A copy with positions sorted ascending (the same axis if already ascending)."""
        values = self.values[::-1] if self.is_descending else self.values
        return SpectralAxis.from_values(values.copy(), self.unit)

    def step(self) -> float:
        """Median absolute spacing between neighbouring bands."""
        return float(np.median(np.abs(np.diff(self.values))))
