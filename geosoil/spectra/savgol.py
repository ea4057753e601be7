"""Savitzky-Golay smoothing and derivatives along the spectral axis."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from geosoil.errors import ConfigError
from geosoil.spectra.axis import SpectraError, SpectralAxis
from geosoil.spectra.step import SpectralStep, StepParams

__all__ = ["SavitzkyGolay"]

# Savitzky-Golay assumes evenly spaced bands; positions that stray from an even grid by
# more than this fraction of the step mean the axis should be resampled first.
_SPACING_TOLERANCE = 0.25


class _SavgolParams(StepParams):
    window: int = Field(11, ge=1)
    polyorder: int = Field(1, ge=0)
    deriv: int = Field(0, ge=0)


class SavitzkyGolay(SpectralStep):
    """Local polynomial smoothing, or its derivative, over ``window`` bands.

    Derivatives are taken with respect to the axis position, so a first derivative is in
    absorbance units per cm-1 (or per nm), and its sign does not depend on whether the
    columns run up or down the axis. Edges use scipy's ``interp`` mode (the polynomial fitted
    to the first and last windows), so the axis keeps every band.
    """

    name = "savgol"
    Params = _SavgolParams
    example = "{'name': 'savgol', 'window': 11, 'polyorder': 2, 'deriv': 1}"

    def check_params(self) -> None:
        p = self.params
        if p.window % 2 == 0:
            raise ConfigError(
                f"Savitzky-Golay window must be odd, got {p.window}",
                field=f"{self.field}.window",
                fix=f"use window: {p.window + 1} (or {p.window - 1})",
            )
        if p.window <= p.polyorder:
            raise ConfigError(
                f"Savitzky-Golay window ({p.window}) must be larger than polyorder ({p.polyorder})",
                field=f"{self.field}.window",
                fix=f"raise window to at least {p.polyorder + 1 + (p.polyorder % 2 == 0)} "
                "or lower polyorder",
            )
        if p.deriv > p.polyorder:
            raise ConfigError(
                f"a derivative of order {p.deriv} needs polyorder >= {p.deriv}, got {p.polyorder}",
                field=f"{self.field}.deriv",
                fix=f"set polyorder: {p.deriv} or more (e.g. polyorder {p.deriv + 1})",
            )

    def output_axis(self, axis: SpectralAxis) -> SpectralAxis:
        if self.params.window > len(axis):
            raise ConfigError(
                f"Savitzky-Golay window ({self.params.window}) is longer than the spectra "
                f"({axis.describe()})",
                field=f"{self.field}.window",
                fix=f"use an odd window of at most {len(axis) - (len(axis) % 2 == 0)} bands",
            )
        # Compare positions with the straight line through the first and last band:
        # rounding in column names (AfSIS 'wn_4001.6', 'wn_3999.7', ...) leaves them within
        # a fraction of a step of it, an irregular axis drifts much further.
        n = len(axis)
        delta = (axis.stop - axis.start) / (n - 1)
        drift = np.abs(axis.values - (axis.start + delta * np.arange(n))).max()
        if drift > _SPACING_TOLERANCE * abs(delta):
            raise SpectraError(
                f"Savitzky-Golay needs evenly spaced bands; the axis ({axis.describe()}) "
                f"strays up to {drift:g} {axis.unit} from an even spacing of "
                f"{abs(delta):g} {axis.unit}",
                field=self.field,
                fix="put savgol before drop_regions (a dropped region leaves a gap), or add "
                "a resample step to a regular axis before it, e.g. "
                "{'name': 'resample', 'to': {'start': ..., 'stop': ..., 'step': ...}}",
            )
        # Signed step: a descending axis flips the sign of odd derivatives so they are
        # derivatives with respect to the position, not to the column order.
        self._delta = delta
        return axis

    def transform(self, X: np.ndarray) -> np.ndarray:
        p = self.params
        # Here, not at the top: scipy.signal takes seconds to import, and a covariate map
        # reaches this module through the cube reader without filtering any spectrum.
        from scipy.signal import savgol_filter

        out = savgol_filter(
            X, p.window, p.polyorder, deriv=p.deriv, delta=abs(self._delta), axis=1, mode="interp"
        )
        if p.deriv % 2 == 1 and self._delta < 0:
            out = -out
        return out
