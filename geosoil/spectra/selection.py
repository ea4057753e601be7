"""Steps that keep a subset of the bands: trim to a range, drop regions (e.g. CO2).

Ranges are given as positions in the axis unit, in either order, and work whatever the
direction of the axis; the kept bands stay in their original order.
"""

from __future__ import annotations

import logging

import numpy as np
from pydantic import field_validator

from geosoil.errors import ConfigError
from geosoil.spectra.axis import SpectraError, SpectralAxis
from geosoil.spectra.step import SpectralStep, StepParams

__all__ = ["DropRegions", "Trim"]

log = logging.getLogger(__name__)


class BandSelection(SpectralStep):
    """Common part: a boolean mask of kept bands computed from the input axis."""

    def keep_mask(self, axis: SpectralAxis) -> np.ndarray:
        raise NotImplementedError

    def output_axis(self, axis: SpectralAxis) -> SpectralAxis:
        keep = self.keep_mask(axis)
        if keep.sum() < 2:
            raise SpectraError(
                f"'{self.name}' keeps {int(keep.sum())} band(s) of the spectra ({axis.describe()})",
                field=self.field,
                fix=f"choose a range that overlaps {axis.lo:g}-{axis.hi:g} {axis.unit}",
            )
        self._index = np.flatnonzero(keep)
        return SpectralAxis.from_values(axis.values[keep], axis.unit)

    def transform(self, X: np.ndarray) -> np.ndarray:
        return X[:, self._index]


class _TrimParams(StepParams):
    min: float
    max: float


class Trim(BandSelection):
    """Keep the bands with ``min <= position <= max``."""

    name = "trim"
    Params = _TrimParams
    example = "{'name': 'trim', 'min': 600, 'max': 4000}"

    def check_params(self) -> None:
        if not self.params.min < self.params.max:
            raise ConfigError(
                f"trim range is empty: min {self.params.min:g} >= max {self.params.max:g}",
                field=f"{self.field}.min",
                fix="give min < max, in the unit of the axis (cm-1 or nm)",
            )

    def keep_mask(self, axis: SpectralAxis) -> np.ndarray:
        return (axis.values >= self.params.min) & (axis.values <= self.params.max)


class _DropParams(StepParams):
    regions: list[tuple[float, float]]

    @field_validator("regions")
    @classmethod
    def _not_empty(cls, regions):
        if not regions:
            raise ValueError("give at least one [lo, hi] region")
        return regions


class DropRegions(BandSelection):
    """Remove the bands inside each ``[a, b]`` region (inclusive, either order).

    The classic use is the atmospheric CO2 band of MIR spectra, ``[[2389, 2269]]`` cm-1.
    """

    name = "drop_regions"
    Params = _DropParams
    example = "{'name': 'drop_regions', 'regions': [[2389, 2269]]}"

    def keep_mask(self, axis: SpectralAxis) -> np.ndarray:
        keep = np.ones(len(axis), dtype=bool)
        for a, b in self.params.regions:
            inside = (axis.values >= min(a, b)) & (axis.values <= max(a, b))
            if not inside.any():
                log.info(
                    "drop_regions: region %g-%g %s holds no band of %s",
                    a,
                    b,
                    axis.unit,
                    axis.describe(),
                )
            keep &= ~inside
        return keep
