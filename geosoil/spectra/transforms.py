"""Steps that change values band by band or spectrum by spectrum, not the axis.

SNV and reflectance <-> absorbance work on each spectrum alone; ``standardize`` learns a
centre and scale per band from the training spectra.
"""

from __future__ import annotations

import logging
from typing import ClassVar

import numpy as np

from geosoil.spectra.step import BadRowsError, SpectralStep, StepParams

__all__ = [
    "AbsorbanceToReflectance",
    "ReflectanceToAbsorbance",
    "StandardNormalVariate",
    "Standardize",
]

log = logging.getLogger(__name__)

# A spectrum whose spread is below this fraction of its mean magnitude is flat to float
# precision: SNV of it is noise divided by noise, not a spectrum.
_FLAT_RELATIVE = 1e-12

# Reflectance as a fraction stays below 1 apart from noise and white-reference drift; a
# maximum above this is almost surely percent.
_PERCENT_REFLECTANCE_MAX = 1.5


class StandardNormalVariate(SpectralStep):
    """SNV: centre each spectrum on its mean and divide by its standard deviation.

    Removes multiplicative scatter and baseline offsets spectrum by spectrum, so it learns
    nothing from the training set. A constant spectrum (a dead or saturated scan) is an
    error rather than a row of NaN.
    """

    name = "snv"

    def transform(self, X: np.ndarray) -> np.ndarray:
        mean = X.mean(axis=1, keepdims=True)
        centred = X - mean
        std = np.sqrt(np.mean(centred * centred, axis=1, keepdims=True))
        flat = std[:, 0] <= _FLAT_RELATIVE * np.maximum(np.abs(mean[:, 0]), 1.0)
        if flat.any():
            raise BadRowsError(
                np.flatnonzero(flat),
                "spectra are constant (zero standard deviation), so SNV is undefined",
                "remove these rows (dead or saturated scans) before preprocessing",
            )
        return centred / std


class Standardize(SpectralStep):
    """Band-wise centring and scaling with the training mean and standard deviation.

    Fitted in one streaming pass (per-batch moments combined exactly), so a library of
    tens of thousands of spectra is never copied whole in float64.
    """

    name = "standardize"
    fitted_arrays: ClassVar[tuple[str, ...]] = ("mean", "scale")

    def setup(self, axis):
        out = super().setup(axis)
        self._n = 0
        self._mean = np.zeros(len(axis))
        self._m2 = np.zeros(len(axis))
        return out

    def partial_fit(self, X: np.ndarray) -> None:
        # Chan et al.'s pairwise update of count, mean and sum of squared deviations.
        n_b = X.shape[0]
        if n_b == 0:
            return
        mean_b = X.mean(axis=0)
        m2_b = ((X - mean_b) ** 2).sum(axis=0)
        n = self._n + n_b
        delta = mean_b - self._mean
        self._mean = self._mean + delta * (n_b / n)
        self._m2 = self._m2 + m2_b + delta * delta * (self._n * n_b / n)
        self._n = n

    def finish_fit(self) -> None:
        scale = np.sqrt(self._m2 / max(self._n, 1))
        constant = scale == 0
        if constant.any():
            # A band that never varies carries no information; dividing it by one keeps it
            # at zero after centring instead of producing NaN.
            log.warning(
                "standardize: %d band(s) are constant in the training spectra (first at "
                "%g %s); they are centred and left unscaled",
                int(constant.sum()),
                self.axis_in_.values[np.flatnonzero(constant)[0]],
                self.axis_in_.unit,
            )
            scale = np.where(constant, 1.0, scale)
        self.mean_ = self._mean
        self.scale_ = scale
        del self._n, self._mean, self._m2

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean_) / self.scale_


class _PercentParams(StepParams):
    percent: bool = False


class ReflectanceToAbsorbance(SpectralStep):
    """Apparent absorbance ``log10(1 / R)`` from reflectance (a fraction, or percent)."""

    name = "reflectance_to_absorbance"
    Params = _PercentParams
    example = "{'name': 'reflectance_to_absorbance', 'percent': true}"

    def transform(self, X: np.ndarray) -> np.ndarray:
        R = X / 100.0 if self.params.percent else X
        if not self.params.percent:
            high = np.flatnonzero(R.max(axis=1) > _PERCENT_REFLECTANCE_MAX)
            if high.size:
                raise BadRowsError(
                    high,
                    f"reflectance above {_PERCENT_REFLECTANCE_MAX} looks like percent",
                    "divide the reflectance by 100, or set percent: true on the "
                    "reflectance_to_absorbance step",
                )
        bad = np.flatnonzero((R <= 0).any(axis=1))
        if bad.size:
            raise BadRowsError(
                bad,
                "reflectance is zero or negative, so log10(1/R) is undefined",
                "remove these rows or bands (detector noise near the range ends), or check "
                "that the values are reflectance and not already absorbance",
            )
        return -np.log10(R)


class AbsorbanceToReflectance(SpectralStep):
    """Reflectance ``10 ** -A`` from apparent absorbance (as a fraction, or percent)."""

    name = "absorbance_to_reflectance"
    Params = _PercentParams
    example = "{'name': 'absorbance_to_reflectance', 'percent': false}"

    def transform(self, X: np.ndarray) -> np.ndarray:
        R = np.power(10.0, -X)
        return R * 100.0 if self.params.percent else R
