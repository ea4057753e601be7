"""Moving spectra onto another axis by linear interpolation, never by extrapolation.

Used explicitly, as a ``resample`` preprocessing step or through :func:`resample_spectra`
on a table, when spectra come from another instrument than the model's training set.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from geosoil.errors import ConfigError
from geosoil.spectra.axis import SpectraError, SpectralAxis
from geosoil.spectra.step import SpectralStep, StepParams

__all__ = [
    "Resample",
    "axis_from_range",
    "interpolation_matrix",
    "interpolation_weights",
    "resample_spectra",
]

# Positions closer than this (relative to the axis span) to the source range end count as
# inside it, so a target axis copied from printed values does not fail on rounding.
_EDGE_TOLERANCE = 1e-9

# 10^7 nm per cm-1: wavelength (nm) = 1e7 / wavenumber (cm-1).
_NM_CM1 = 1.0e7


class _RangeSpec(StepParams):
    start: float
    stop: float
    step: float = Field(gt=0)


class _ResampleParams(StepParams):
    to: list[float] | _RangeSpec
    unit: Literal["cm-1", "nm"] | None = None

    @model_validator(mode="after")
    def _to_not_empty(self):
        if isinstance(self.to, list) and len(self.to) < 2:
            raise ValueError("'to' needs at least 2 band positions")
        return self


def axis_from_range(
    start: float, stop: float, step: float, unit: str, *, field: str = "to"
) -> SpectralAxis:
    """An evenly spaced axis from ``start`` towards ``stop`` (included when on the grid).

    ``step`` is a positive spacing; the direction follows ``start`` -> ``stop``.
    """
    if step <= 0 or start == stop:
        raise ConfigError(
            f"resample range start={start:g}, stop={stop:g}, step={step:g} is empty",
            field=field,
            fix="give start != stop and a positive step",
        )
    n = int(np.floor(abs(stop - start) / step * (1 + 1e-12))) + 1
    values = start + np.sign(stop - start) * step * np.arange(n)
    return SpectralAxis.from_values(values, unit, field=field)


def interpolation_weights(
    source: SpectralAxis, target: SpectralAxis, *, field: str = "to"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Left index, right index and right weight of each target position on ``source``.

    ``source`` may be in the other unit than ``target`` (cm-1 <-> nm are converted by
    1e7 / x). Target positions outside the source range are refused.

    Raises
    ------
    SpectraError
        The target axis reaches outside the source range (names both ranges and the fix).
    """
    positions = source.values
    if source.unit != target.unit:
        positions = _NM_CM1 / positions
    order = np.argsort(positions)
    xp = positions[order]
    lo, hi = float(xp[0]), float(xp[-1])
    slack = _EDGE_TOLERANCE * (hi - lo)
    outside = (target.values < lo - slack) | (target.values > hi + slack)
    if outside.any():
        raise SpectraError(
            f"resampling would extrapolate: the target axis ({target.describe()}) reaches "
            f"outside the spectra's range {lo:g}-{hi:g} {target.unit} "
            f"({int(outside.sum())} target band(s), first at {target.values[outside][0]:g})",
            field=field,
            fix=f"limit the target axis to {lo:g}-{hi:g} {target.unit}, or trim the model's "
            "axis to the range both instruments cover",
        )
    x = np.clip(target.values, lo, hi)
    right = np.clip(np.searchsorted(xp, x, side="right"), 1, len(xp) - 1)
    left = right - 1
    weight = (x - xp[left]) / (xp[right] - xp[left])
    return order[left], order[right], weight


def interpolation_matrix(
    source: SpectralAxis, target: SpectralAxis, *, field: str = "to"
) -> np.ndarray:
    """The linear interpolation from ``source`` onto ``target`` as a matrix.

    Row ``i`` holds the weights of target band ``i`` over the source bands (at most two
    non-zero, summing to one), so ``spectra @ matrix.T`` resamples spectra (rows). Built
    from :func:`interpolation_weights`, with the same refusal to extrapolate.

    Returns
    -------
    numpy.ndarray
        float64 of shape (len(target), len(source)).
    """
    left, right, weight = interpolation_weights(source, target, field=field)
    matrix = np.zeros((len(target), len(source)))
    rows = np.arange(len(target))
    np.add.at(matrix, (rows, left), 1.0 - weight)
    np.add.at(matrix, (rows, right), weight)
    return matrix


def resample_spectra(
    spectra: np.ndarray, axis: SpectralAxis, to: SpectralAxis, *, field: str = "to"
) -> np.ndarray:
    """Linearly interpolate spectra (rows) from ``axis`` onto ``to``; float64 out.

    Raises
    ------
    SpectraError
        ``to`` reaches outside ``axis`` or the spectra do not have ``len(axis)`` columns.
    """
    X = np.asarray(spectra, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(axis):
        raise SpectraError(
            f"spectra of shape {X.shape} do not match the axis ({axis.describe()})",
            field=field,
            fix="pass a 2-D array with one column per band of the axis",
        )
    left, right, weight = interpolation_weights(axis, to, field=field)
    return X[:, left] * (1.0 - weight) + X[:, right] * weight


class Resample(SpectralStep):
    """Interpolate onto a fixed axis: ``to`` is a list of positions or
    ``{start, stop, step}``; ``unit`` (default: the input's) may convert cm-1 <-> nm.
    """

    name = "resample"
    Params = _ResampleParams
    example = "{'name': 'resample', 'to': {'start': 4000, 'stop': 600, 'step': 2}}"

    def target_axis(self, unit: str) -> SpectralAxis:
        to: Any = self.params.to
        if isinstance(to, list):
            return SpectralAxis.from_values(to, unit, field=f"{self.field}.to")
        return axis_from_range(to.start, to.stop, to.step, unit, field=f"{self.field}.to")

    def output_axis(self, axis: SpectralAxis) -> SpectralAxis:
        target = self.target_axis(self.params.unit or axis.unit)
        self._left, self._right, self._weight = interpolation_weights(
            axis, target, field=f"{self.field}.to"
        )
        return target

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X[:, self._left] * (1.0 - self._weight) + X[:, self._right] * self._weight
