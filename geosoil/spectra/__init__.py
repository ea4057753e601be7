"""Spectral axes and preprocessing: fitted, stateful steps chained by a pipeline.

The axis is checked where spectra enter (:class:`SpectralAxis`); preprocessing is a
:class:`SpectralPipeline` of steps (SNV, Savitzky-Golay, trim, drop regions, resample,
reflectance <-> absorbance, standardize) whose fitted state travels inside the artifact.
"""

from geosoil.spectra.axis import SpectraError, SpectralAxis
from geosoil.spectra.pipeline import STEP_TYPES, SpectralPipeline, check_spectra
from geosoil.spectra.resample import resample_spectra

__all__ = [
    "STEP_TYPES",
    "SpectraError",
    "SpectralAxis",
    "SpectralPipeline",
    "check_spectra",
    "resample_spectra",
]
